"""The generic store: create/get/list/update/delete/watch for every resource.

One store per resource (Kubernetes' generic registry store). It runs fixed
steps and defers what differs per kind to the resource's Strategy:

    create: decode → fill system metadata → prepare → default → validate →
            before_create (allocations) → storage.create
    update: read → precondition (resourceVersion) → prepare → default →
            validate → storage compare-and-swap (retried when unconditional)
    delete: read → preconditions → graceful or finalizer marking, else
            storage delete with a revision precondition

Objects are stored as JSON without `metadata.resourceVersion`; the storage
revision becomes the resourceVersion on every read.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from ..api.field_errors import causes as field_causes
from ..api.field_errors import invalid_message
from ..api.names import generate_name
from ..api.resources import ResourceInfo
from ..storage import interface as st
from . import errors
from .strategy import StatusStrategy, Strategy
from .uids import new_uid

__all__ = ["GenericStore", "ListOptions", "DeleteOptions", "now_rfc3339", "encode", "decode", "with_rv"]

_MAX_CAS_RETRIES = 20
# Objects this store wrote last (stored bytes and revision, per key): a read-modify-write
# starts from one of these instead of reading storage (see guaranteed_update).
_RECENT_WRITES = 8192


_last_second: tuple[int, str] = (0, "")


def now_rfc3339(delta_seconds: int = 0) -> str:
    """The time in seconds as Kubernetes writes timestamps (formatted once a second)."""
    global _last_second
    t = int(time.time()) + delta_seconds
    if t != _last_second[0]:
        text = datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if not delta_seconds:
            _last_second = (t, text)
        return text
    return _last_second[1]


def encode(obj: dict) -> bytes:
    """Stored form: kind, apiVersion, metadata first (Kubernetes' order), no
    resourceVersion. Because metadata is the first object-valued key, the
    first ``"metadata":{`` in the bytes is the top-level one (see with_rv)."""
    meta = {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}
    ordered = {"kind": obj.get("kind"), "apiVersion": obj.get("apiVersion"), "metadata": meta}
    for k, v in obj.items():
        if k not in ordered:
            ordered[k] = v
    return orjson.dumps(ordered)


_META = b'"metadata":{'


def with_rv(raw: bytes, revision: int) -> bytes:
    """The stored bytes with metadata.resourceVersion set, without decoding."""
    i = raw.find(_META)
    if i < 0:
        return raw
    j = i + len(_META)
    sep = b"" if raw[j:j + 1] == b"}" else b","
    return b"%s\"resourceVersion\":\"%d\"%s%s" % (raw[:j], revision, sep, raw[j:])


def decode(kv_value: bytes, revision: int) -> dict:
    obj = orjson.loads(kv_value)
    obj["metadata"]["resourceVersion"] = str(revision)
    return obj


@dataclass(frozen=True, slots=True)
class ListOptions:
    label_selector: object | None = None  # parsed label selector with .matches(labels)
    field_selector: object | None = None  # parsed field selector with .matches(obj)
    limit: int = 0
    continue_key: str | None = None
    revision: int = 0  # 0 = latest


@dataclass(frozen=True, slots=True)
class DeleteOptions:
    grace_period_seconds: int | None = None
    propagation_policy: str | None = None  # Orphan | Background | Foreground
    orphan_dependents: bool | None = None
    precondition_uid: str | None = None
    precondition_rv: str | None = None
    dry_run: bool = False


class GenericStore:
    """Storage-backed REST operations for one resource."""

    def __init__(self, resource: ResourceInfo, strategy: Strategy, storage: st.Storage, *,
                 namespaces=None):
        self.resource = resource
        self.strategy = strategy
        self.status_strategy = StatusStrategy(strategy)
        self.storage = storage
        # NamespaceLifecycle: an object that checks a namespace exists and is not terminating.
        self.namespaces = namespaces
        # key -> (stored bytes, mod revision, written defaulted) of this store's latest writes,
        # oldest first: guesses of the current object, which compare-and-swap confirms or refutes.
        self._recent: OrderedDict[str, tuple[bytes, int, bool]] = OrderedDict()
        # Guesses are only safe where nothing but the object decides the update (no I/O hooks).
        self._guess_ok = type(strategy).before_update is Strategy.before_update

    # ------------------------------------------------------------------ helpers
    @property
    def plural(self) -> str:
        return self.resource.plural

    @property
    def group(self) -> str:
        return self.resource.group

    def not_found(self, name: str) -> errors.APIError:
        return errors.not_found(self.plural, name, self.group)

    def _invalid(self, name: str, errs) -> errors.APIError:
        return errors.invalid(self.resource.kind, name, invalid_message(self.resource.kind, name, errs),
                              field_causes(errs), self.group)

    def _remember(self, key: str, value: bytes, revision: int, *, defaulted: bool = True) -> None:
        """Note this store's write of ``key``; ``defaulted``: the object went
        through the strategy's defaults just before (not so for deletion marks,
        which write the object as read)."""
        recent = self._recent
        recent[key] = (value, revision, defaulted)
        recent.move_to_end(key)
        if len(recent) > _RECENT_WRITES:
            recent.popitem(last=False)

    async def _read(self, namespace: str | None, name: str) -> tuple[dict, int]:
        raw, revision = await self._read_raw(namespace, name)
        return decode(raw, revision), revision

    async def _read_raw(self, namespace: str | None, name: str) -> tuple[bytes, int]:
        """The stored bytes and mod revision (404 when missing)."""
        try:
            kv = await self.storage.get(self.resource.key(namespace, name))
        except st.NotFound:
            raise self.not_found(name) from None
        return kv.value, kv.mod_revision

    # ------------------------------------------------------------------ reads
    async def get(self, namespace: str | None, name: str) -> dict:
        obj, _ = await self._read(namespace, name)
        return obj

    async def list(self, namespace: str | None, opts: ListOptions) -> tuple[list[bytes], int, str | None]:
        """Returns (encoded items with resourceVersion, list revision, next start key or None).

        With selectors and a limit, storage pages are read until ``limit``
        matching items are found, as Kubernetes does.
        """
        prefix = self.resource.prefix(namespace)
        start = opts.continue_key
        revision = opts.revision
        items: list[bytes] = []
        want = opts.limit
        filtering = opts.label_selector is not None or opts.field_selector is not None
        while True:
            page = 0 if not want else (max(want, 500) if filtering else want - len(items))
            try:
                res = await self.storage.list(prefix, revision=revision, limit=page, start_key=start)
            except st.Compacted as e:
                if opts.continue_key:
                    raise errors.expired(
                        "The provided continue parameter is too old to display a consistent list "
                        "result. You can start a new list without the continue parameter, or use "
                        "the continue token in this response to retrieve the remainder of the "
                        "results. Continuing with the provided token results in an inconsistent "
                        "list - objects that were created, modified, or deleted between the time "
                        "the first chunk was returned and now may show up in the list.") from None
                raise errors.expired(f"too old resource version: {revision} ({e.revision})") from None
            except st.FutureRevision as e:
                raise errors.too_large_resource_version(revision, e.revision) from None
            revision = res.revision
            for i, kv in enumerate(res.items):
                if filtering and not self._matches(decode(kv.value, kv.mod_revision), opts):
                    continue
                items.append(with_rv(kv.value, kv.mod_revision))
                if want and len(items) >= want:
                    more = res.more or i + 1 < len(res.items)
                    return items, revision, (kv.key + "\x00") if more else None
            if not res.more or not res.items:
                return items, revision, None
            start = res.items[-1].key + "\x00"

    @staticmethod
    def _matches(obj: dict, opts: ListOptions) -> bool:
        if opts.label_selector is not None and not opts.label_selector.matches(
                obj["metadata"].get("labels") or {}):
            return False
        return opts.field_selector is None or opts.field_selector.matches(obj)

    # ------------------------------------------------------------------ create
    def _fill_system_metadata(self, obj: dict, namespace: str | None) -> None:
        meta = obj.setdefault("metadata", {})
        if meta is None:
            meta = obj["metadata"] = {}
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = generate_name(meta["generateName"])
        if self.resource.namespaced:
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        meta["uid"] = new_uid()
        meta["creationTimestamp"] = now_rfc3339()
        for k in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
            meta.pop(k, None)
        obj["apiVersion"] = self.resource.api_version
        obj["kind"] = self.resource.kind

    async def create(self, namespace: str | None, obj: dict, *, dry_run: bool = False,
                     after_prepare=None) -> dict:
        created, _ = await self.create_encoded(namespace, obj, dry_run=dry_run, after_prepare=after_prepare)
        return created

    async def create_encoded(self, namespace: str | None, obj: dict, *, dry_run: bool = False,
                             after_prepare=None) -> tuple[dict, bytes | None]:
        """:meth:`create`, also returning the created object's JSON as served
        (the stored bytes with its resourceVersion; None on a dry run)."""
        self._fill_system_metadata(obj, namespace)
        name = obj["metadata"].get("name") or ""
        if self.namespaces is not None and self.resource.namespaced:
            await self.namespaces.check_can_create(namespace, self.resource, name)
        self.strategy.prepare_for_create(obj)
        self.strategy.default(obj)
        if after_prepare is not None:
            after_prepare(obj, None)
        errs = self.strategy.validate(obj)
        if errs:
            raise self._invalid(name, errs)
        if dry_run:
            return obj, None
        await self.strategy.before_create(self, obj)
        key = self.resource.key(namespace, name)
        value = encode(obj)
        try:
            kv = await self.storage.create(key, value)
        except st.AlreadyExists:
            await self.strategy.after_create_failed(self, obj)
            raise errors.already_exists(self.plural, name, self.group) from None
        except BaseException:
            await self.strategy.after_create_failed(self, obj)
            raise
        self._remember(key, value, kv.mod_revision)
        obj["metadata"]["resourceVersion"] = str(kv.mod_revision)
        return obj, with_rv(value, kv.mod_revision)

    # ------------------------------------------------------------------ update
    async def update(self, namespace: str | None, name: str, new: dict, *, subresource: str = "",
                     allow_create: bool = True, dry_run: bool = False,
                     after_prepare=None) -> tuple[dict, bool]:
        """PUT: replace the object (compare-and-swap). Returns (object, created).

        A missing object is created (201) when ``allow_create``. A
        ``resourceVersion`` in the body is a precondition (409 when stale);
        without one the update is unconditional and retried on races.
        """
        meta = new.get("metadata") or {}
        new["metadata"] = meta
        if meta.get("name") and meta["name"] != name:
            raise errors.bad_request(f"the name of the object ({meta['name']}) does not match the name on the URL ({name})")
        if self.resource.namespaced and meta.get("namespace") and meta["namespace"] != namespace:
            raise errors.bad_request("the namespace of the provided object does not match the namespace sent on the request")
        meta["name"] = name
        want_rv = meta.get("resourceVersion") or ""
        strategy = self.status_strategy if subresource == "status" else self.strategy
        # As in guaranteed_update, the first attempt may start from this store's last
        # write; whatever a stale guess could decide wrongly is decided again on a read.
        key = self.resource.key(namespace, name)
        guess = self._recent.get(key) if self._guess_ok and not dry_run else None
        for _ in range(_MAX_CAS_RETRIES):
            from_guess = guess is not None
            if guess is not None:
                raw, revision, _defaulted = guess
                old, guess = decode(raw, revision), None
            else:
                try:
                    old, revision = await self._read(namespace, name)
                except errors.APIError:
                    if not allow_create or subresource:
                        raise
                    if want_rv:
                        raise self.not_found(name) from None
                    try:
                        return await self.create(namespace, new, dry_run=dry_run,
                                                 after_prepare=after_prepare), True
                    except errors.APIError as e:
                        if e.reason == "AlreadyExists":
                            continue  # raced with another create: update instead
                        raise
            if want_rv and want_rv != str(revision):
                if from_guess:
                    continue
                raise errors.modified_conflict(self.plural, name, self.group)
            try:
                obj = _copy(new)
                self._carry_system_metadata(obj, old, namespace)
                strategy.prepare_for_update(obj, old)
                strategy.default(obj)
                if after_prepare is not None:
                    after_prepare(obj, old)
                errs = strategy.validate_update(obj, old)
                if errs:
                    raise self._invalid(name, errs)
            except Exception:
                if from_guess:
                    continue  # decided again on the stored object
                raise
            if from_guess and _unchanged(obj, old):
                continue  # a no-op answers with the stored object: read it
            if dry_run:
                obj["metadata"]["resourceVersion"] = str(revision)  # nothing written: still the stored one
                return obj, False
            await self.strategy.before_update(self, obj, old)
            try:
                result = await self._write_update(obj, old, revision, namespace, name)
            except errors.APIError as e:
                if from_guess and e.code == 404:
                    continue  # deleted meanwhile: a PUT may create it again
                raise
            if result is None:
                # From a guess too: its revision equals want_rv, so storage is elsewhere.
                if want_rv:
                    raise errors.modified_conflict(self.plural, name, self.group)
                continue
            return result, False
        raise errors.conflict(self.plural, name, "too many concurrent updates", self.group)

    def _carry_system_metadata(self, obj: dict, old: dict, namespace: str | None) -> None:
        meta, old_meta = obj["metadata"], old["metadata"]
        for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
            if k in old_meta:
                meta[k] = old_meta[k]
            else:
                meta.pop(k, None)
        if self.resource.namespaced:
            meta["namespace"] = namespace
        meta.pop("resourceVersion", None)
        obj["apiVersion"] = self.resource.api_version
        obj["kind"] = self.resource.kind

    async def _write_update(self, obj: dict, old: dict, revision: int, namespace, name) -> dict | None:
        """CAS write; None when the object moved meanwhile. Finishes deletions
        whose last finalizer was just removed."""
        key = self.resource.key(namespace, name)
        meta = obj["metadata"]
        if _finished_terminating(meta) and not self.strategy.blocks_deletion(obj):
            try:
                rev, _ = await self.storage.delete(key, expected_revision=revision)
            except st.Conflict:
                return None
            except st.NotFound:
                raise self.not_found(name) from None
            self._recent.pop(key, None)
            meta["resourceVersion"] = str(rev)
            await self.strategy.after_delete(self, obj)
            return obj
        if _unchanged(obj, old):
            # Nothing changed: Kubernetes answers with the current object, no write.
            old["metadata"]["resourceVersion"] = str(revision)
            return old
        value = encode(obj)
        try:
            kv = await self.storage.update(key, value, expected_revision=revision)
        except st.Conflict:
            self._recent.pop(key, None)
            return None
        except st.NotFound:
            self._recent.pop(key, None)
            raise self.not_found(name) from None
        self._remember(key, value, kv.mod_revision)
        meta["resourceVersion"] = str(kv.mod_revision)
        return obj

    async def guaranteed_update(self, namespace: str | None, name: str, mutate, *,
                                subresource: str = "", dry_run: bool = False,
                                validate: bool = True, after_prepare=None) -> dict:
        """Read-modify-write with retries: ``mutate(obj)`` edits a fresh copy
        (and may raise APIError). Used by patch, binding, scale. ``validate=False``
        is for subresources whose own rules replace the update rules: no
        prepare (binding writes spec.nodeName and the PodScheduled condition,
        which a pod update may not). A resourceVersion the mutation puts in
        the object (a patch carrying one) is a precondition, as in Kubernetes. ``after_prepare(obj, old)``
        sees the defaulted object before validation (managedFields tracking),
        as in create and update, where ``old`` is None on create.

        The first attempt may start from the object as this store last wrote
        it instead of reading storage (Kubernetes' GuaranteedUpdate starts from
        the watch cache's copy the same way): the compare-and-swap refutes a
        stale guess, and any refusal, error or no-op decided on a guess is
        decided again on the stored object, so answers are the same as with a
        read."""
        key = self.resource.key(namespace, name)
        guess = self._recent.get(key) if self._guess_ok and not dry_run else None
        for _ in range(_MAX_CAS_RETRIES):
            if guess is not None:
                raw, revision, defaulted = guess
                old, guess = decode(raw, revision), None
                try:
                    obj = self._prepare_guaranteed(old, decode(raw, revision), revision, namespace, name, mutate,
                                                   subresource=subresource, validate=validate,
                                                   after_prepare=after_prepare, defaulted=defaulted)
                except Exception:  # noqa: BLE001 - decided again on the stored object
                    continue
                if _unchanged(obj, old):
                    continue  # a no-op answers with the stored object: read it
            else:
                raw, revision = await self._read_raw(namespace, name)
                old = decode(raw, revision)
                obj = self._prepare_guaranteed(old, decode(raw, revision), revision, namespace, name, mutate,
                                               subresource=subresource, validate=validate,
                                               after_prepare=after_prepare)
            if dry_run:
                obj["metadata"]["resourceVersion"] = str(revision)  # nothing written: still the stored one
                return obj
            await self.strategy.before_update(self, obj, old)
            result = await self._write_update(obj, old, revision, namespace, name)
            if result is not None:
                return result
        raise errors.conflict(self.plural, name, "too many concurrent updates", self.group)

    def _prepare_guaranteed(self, old: dict, copy: dict, revision: int, namespace: str | None, name: str,
                            mutate, *, subresource: str, validate: bool, after_prepare,
                            defaulted: bool = False) -> dict:
        """One attempt's new object: mutate ``copy`` (a second decoding of
        ``old``), check preconditions, prepare, default, track fields,
        validate (raising APIError).

        Defaults: a mutation of the JSON (patch, apply) is defaulted after it,
        as Kubernetes decodes the patched object; a subresource's own typed
        write (``validate=False``: binding) is made on the object as read,
        which Kubernetes defaults when decoding it from storage — so here
        before the mutation, and not at all when ``copy`` is this store's own
        write (``defaulted``: defaults already applied, and they are idempotent)."""
        strategy = self.status_strategy if subresource == "status" else self.strategy
        if not validate and not defaulted:
            strategy.default(copy)
        obj = mutate(copy)
        obj.setdefault("metadata", {})
        obj["metadata"]["name"] = name
        want_rv = obj["metadata"].get("resourceVersion")
        if want_rv and want_rv != str(revision):
            raise errors.modified_conflict(self.plural, name, self.group)
        want_uid, have_uid = obj["metadata"].get("uid"), old["metadata"].get("uid")
        if want_uid and want_uid != have_uid:
            raise errors.conflict(self.plural, name, f"Precondition failed: UID in precondition: "
                                  f"{want_uid}, UID in object meta: {have_uid}", self.group)
        self._carry_system_metadata(obj, old, namespace)
        if validate:
            strategy.prepare_for_update(obj, old)
            strategy.default(obj)
        if after_prepare is not None:
            after_prepare(obj, old)
        errs = strategy.validate_update(obj, old) if validate else []
        if errs:
            raise self._invalid(name, errs)
        return obj

    # ------------------------------------------------------------------ delete
    async def delete(self, namespace: str | None, name: str, opts: DeleteOptions) -> tuple[dict, bool]:
        """Returns (object, deleted_now). ``deleted_now`` is False when the
        object was only marked (graceful deletion or finalizers)."""
        key = self.resource.key(namespace, name)
        for _ in range(_MAX_CAS_RETRIES):
            obj, revision = await self._read(namespace, name)
            meta = obj["metadata"]
            if opts.precondition_uid and opts.precondition_uid != meta.get("uid"):
                raise errors.conflict(self.plural, name,
                                      f"Precondition failed: UID in precondition: {opts.precondition_uid}, "
                                      f"UID in object meta: {meta.get('uid')}", self.group)
            if opts.precondition_rv and opts.precondition_rv != meta.get("resourceVersion"):
                raise errors.conflict(self.plural, name,
                                      f"Precondition failed: ResourceVersion in precondition: "
                                      f"{opts.precondition_rv}, ResourceVersion in object meta: "
                                      f"{meta.get('resourceVersion')}", self.group)
            action = self._mark_for_deletion(obj, opts)
            if action == "noop":
                return obj, False
            if action == "mark":
                if opts.dry_run:
                    return obj, False
                value = encode(obj)
                try:
                    kv = await self.storage.update(key, value, expected_revision=revision)
                except st.Conflict:
                    continue
                except st.NotFound:
                    raise self.not_found(name) from None
                self._remember(key, value, kv.mod_revision, defaulted=False)
                meta["resourceVersion"] = str(kv.mod_revision)
                return obj, False
            if opts.dry_run:
                return obj, True
            self._recent.pop(key, None)
            try:
                rev, _ = await self.storage.delete(key, expected_revision=revision)
            except st.Conflict:
                continue
            except st.NotFound:
                raise self.not_found(name) from None
            meta["resourceVersion"] = str(rev)
            await self.strategy.after_delete(self, obj)
            return obj, True
        raise errors.conflict(self.plural, name, "too many concurrent updates", self.group)

    def _mark_for_deletion(self, obj: dict, opts: DeleteOptions) -> str:
        """Decide a delete: "delete" now, "mark" (write ``obj``, edited in
        place with deletionTimestamp/finalizers), or "noop" (already marked).

        As Kubernetes: finalizers or a positive grace period (pods on a node)
        only mark the object; the propagation policy adds the `orphan` or
        `foregroundDeletion` finalizer the garbage collector acts on.
        """
        meta = obj["metadata"]
        old_finalizers = list(meta.get("finalizers") or [])
        finalizers = list(old_finalizers)
        policy = opts.propagation_policy
        if policy is None and opts.orphan_dependents is not None:
            policy = "Orphan" if opts.orphan_dependents else "Background"
        if policy == "Orphan" and "orphan" not in finalizers:
            finalizers.append("orphan")
        elif policy == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        grace = self.strategy.graceful_delete_seconds(obj, opts.grace_period_seconds)
        blocked = self.strategy.blocks_deletion(obj)
        if meta.get("deletionTimestamp"):
            if not finalizers and grace == 0 and not blocked:
                return "delete"
            action = "noop"
            if finalizers != old_finalizers:
                meta["finalizers"] = finalizers
                action = "mark"
            if grace < (meta.get("deletionGracePeriodSeconds") or 0):
                meta["deletionGracePeriodSeconds"] = grace
                meta["deletionTimestamp"] = now_rfc3339(grace)
                action = "mark"
            return action
        if not finalizers and grace == 0 and not blocked:
            return "delete"
        if finalizers:
            meta["finalizers"] = finalizers
        self.strategy.on_terminating(obj)
        meta["deletionTimestamp"] = now_rfc3339(grace)
        meta["deletionGracePeriodSeconds"] = grace
        if self.strategy.tracks_generation and meta.get("generation") is not None:
            meta["generation"] += 1
        return "mark"

    # ------------------------------------------------------------------ watch
    def watch(self, namespace: str | None, start_revision: int) -> st.Watch:
        return self.storage.watch(self.resource.prefix(namespace), start_revision=start_revision)


def _copy(obj: dict) -> dict:
    return orjson.loads(orjson.dumps(obj))


def _unchanged(new: dict, old: dict) -> bool:
    """Whether an update changes nothing (resourceVersion aside)."""
    old_meta = old["metadata"]
    rv = old_meta.pop("resourceVersion", None)
    try:
        return new == old
    finally:
        if rv is not None:
            old_meta["resourceVersion"] = rv


def _finished_terminating(meta: dict) -> bool:
    """An update that leaves a terminating object with no finalizers and a
    zero grace period deletes it (Kubernetes' ShouldDeleteDuringUpdate)."""
    return bool(meta.get("deletionTimestamp")) and not meta.get("finalizers") \
        and meta.get("deletionGracePeriodSeconds") == 0
