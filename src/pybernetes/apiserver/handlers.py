"""The REST verbs over the generic stores: Kubernetes' request handling.

`APIHandlers.handle` takes any resource path (see request_info.py), picks the
resource's store, and runs list/watch/get/create/update/patch/delete/
deletecollection and the subresources (status, scale, binding, eviction,
finalize, log).

Around the store it does what Kubernetes' REST handlers do: decode the body
(JSON, YAML, or kubectl's protobuf via protobuf.py; no Content-Type means
JSON), record ``metadata.managedFields`` for every create/update/patch under
the request's field manager (``fieldManager``, else the user agent's product
name), hand ``application/apply-patch+yaml`` to server-side apply (apply.py),
and answer Tables when the client asks for them (tables.py).
"""

from __future__ import annotations

import base64
import binascii
import logging
from datetime import UTC, datetime

import orjson
from aiohttp import web

from ..api import field_errors
from ..api import fields as field_selectors
from ..api import labels as label_selectors
from ..api.resources import ResourceInfo
from . import apply, errors, protobuf, tables
from .decoding import MAX_BODY_BYTES, decode_object, parse_body
from .freshness import parse_resource_version, wait_for_revision
from .kubelet_proxy import log_container
from .registry.pods import bind
from .request_info import RequestInfo, parse_path
from .store import DeleteOptions, GenericStore, ListOptions, encode, now_rfc3339, with_rv
from .watch import WatchParams, serve_watch

__all__ = ["APIHandlers"]

log = logging.getLogger(__name__)

JSON = "application/json"
_PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
                "application/strategic-merge-patch+json")


# The answer to a binding or an eviction (always the same bytes).
_CREATED_STATUS = orjson.dumps(errors.status_success(code=201))


def _json(obj, status: int = 200, warnings: list[str] | None = None) -> web.Response:
    """A JSON response; API objects keep Kubernetes' key order (kind, apiVersion, metadata, ...)."""
    if isinstance(obj, bytes):
        body = obj
    elif isinstance(obj.get("metadata"), dict) and obj["metadata"].get("name") and \
            obj["metadata"].get("resourceVersion"):
        body = with_rv(encode(obj), int(obj["metadata"]["resourceVersion"]))
    else:
        body = orjson.dumps(obj)
    resp = web.Response(body=body, status=status, content_type=JSON)
    for w in warnings or ():
        resp.headers.add("Warning", '299 - "' + w.replace('"', '\\"') + '"')
    return resp


def _content_type(request: web.Request) -> str:
    """The request body's media type; JSON when the client names none, as
    Kubernetes picks its first serializer (the Python client sends no
    Content-Type on create and update)."""
    if not request.headers.get("Content-Type"):
        return JSON
    return request.content_type


def _field_manager(request: web.Request, options_kind: str) -> str:
    """`fieldManager`, else Kubernetes' default: the user agent's product name.
    An over-long or unprintable name is a 422 on the verb's options
    (``CreateOptions.meta.k8s.io "" is invalid: fieldManager: ...``)."""
    manager = request.query.get("fieldManager")
    if not manager:
        return apply.manager_from_user_agent(request.headers.get("User-Agent", ""))
    errs = []
    if len(manager.encode()) > 128:
        errs.append(field_errors.too_long("fieldManager", 128))
    errs += [field_errors.invalid("fieldManager", manager, f"invalid character {_go_unicode(ch)} (at position {i})")
             for i, ch in enumerate(manager) if not ch.isprintable()]
    if errs:
        raise errors.invalid(options_kind, "", field_errors.invalid_message(options_kind, "", errs, "meta.k8s.io"),
                             field_errors.causes(errs), "meta.k8s.io")
    return manager


def _go_unicode(ch: str) -> str:
    """Go's %#U: U+0007 (without the quoted glyph for unprintable runes)."""
    return f"U+{ord(ch):04X}"


def _tracker(request: web.Request, res: ResourceInfo, subresource: str = "", *, options_kind: str):
    """An ``after_prepare(obj, old)`` hook recording managedFields for this request's manager."""
    manager = _field_manager(request, options_kind)

    def track(obj: dict, old: dict | None) -> None:
        tracked = apply.track_update(old, obj, manager=manager, now=now_rfc3339(), subresource=subresource,
                                     definition=res.definition, api_version=res.api_version)
        managed = tracked.get("metadata", {}).get("managedFields")
        if managed:
            obj["metadata"]["managedFields"] = managed
        else:
            obj["metadata"].pop("managedFields", None)
    return track


def _truthy(v: str | None) -> bool:
    return (v or "").lower() in ("1", "true", "t", "yes")


def _int_param(q, name: str) -> int | None:
    v = q.get(name)
    if v in (None, ""):
        return None
    try:
        return int(v)
    except ValueError:
        raise errors.bad_request(f'invalid value "{v}" for {name}: must be an integer') from None


def _encode_continue(revision: int, key: str, prefix: str) -> str:
    token = orjson.dumps({"v": "meta.k8s.io/v1", "rv": revision, "start": key[len(prefix):]})
    return base64.urlsafe_b64encode(token).decode().rstrip("=")


def _decode_continue(token: str, prefix: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = orjson.loads(raw)
        if data.get("v") != "meta.k8s.io/v1":
            raise ValueError("unsupported version")
        return int(data["rv"]), prefix + data["start"]
    except (ValueError, KeyError, TypeError, binascii.Error, orjson.JSONDecodeError) as e:
        raise errors.bad_request(f"continue key is not valid: {e}") from None


class _FieldFilter:
    """A parsed field selector bound to a kind (only supported fields accepted)."""

    __slots__ = ("kind", "selector")

    def __init__(self, kind: str, selector):
        field_selectors.check_supported(selector, kind)
        self.kind = kind
        self.selector = selector

    def matches(self, obj: dict) -> bool:
        return field_selectors.matches(self.selector, self.kind, obj)


class APIHandlers:
    def __init__(self, stores: dict[tuple[str, str], GenericStore], *, log_proxy=None):
        self.stores = stores
        # ``pods/log``: async callable (pod, request) -> StreamResponse (kubelet_proxy.KubeletLogProxy).
        self.log_proxy = log_proxy

    # ----------------------------------------------------------------- dispatch
    async def handle(self, request: web.Request) -> web.StreamResponse:
        info = parse_path(request.path)
        if info is None or info.resource is None:
            raise errors.no_such_path()
        res = info.resource
        if (info.namespace is not None and not res.namespaced) or \
                (res.namespaced and info.namespace is None and info.name) or \
                (info.subresource and info.subresource not in res.subresources):
            raise errors.no_such_path()
        store = self.stores[(res.group, res.plural)]
        m = request.method
        if not info.name:
            if m == "GET":
                return await self.list_or_watch(request, info, store)
            if m == "POST":
                return await self.create(request, info, store)
            if m == "DELETE":
                return await self.delete_collection(request, info, store)
            raise errors.method_not_allowed()
        sub = info.subresource
        if sub == "scale":
            return await self.scale(request, info, store)
        if sub == "binding":
            if m != "POST":
                raise errors.method_not_allowed()
            return await self.binding(request, info, store)
        if sub == "log":
            return await self.pod_log(request, info, store)
        if sub == "eviction":
            return await self.eviction(request, info, store)
        if m == "GET":
            await self._not_older_than(request, store)
            return _json(await store.get(info.namespace, info.name)) if not self._wants_table(request) \
                else _json(self._table(request, res, [await store.get(info.namespace, info.name)], {}))
        if m == "PUT":
            return await self.update(request, info, store)
        if m == "PATCH":
            return await self.patch(request, info, store)
        if m == "DELETE" and not sub:
            return await self.delete(request, info, store)
        raise errors.method_not_allowed()

    # ----------------------------------------------------------------- helpers
    async def _body(self, request: web.Request) -> bytes:
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            raise errors.request_too_large(MAX_BODY_BYTES)
        body = await request.read()
        if len(body) > MAX_BODY_BYTES:
            raise errors.request_too_large(MAX_BODY_BYTES)
        return body

    async def _object_body(self, request: web.Request, res: ResourceInfo) -> tuple[bytes, str]:
        """A create/update body and its media type; protobuf (kubectl's generator
        commands) is turned into JSON here."""
        body, ct = await self._body(request), _content_type(request)
        if ct == protobuf.PROTOBUF:
            if not protobuf.decodable(res.kind):
                raise errors.unsupported_media_type(ct)
            return orjson.dumps(protobuf.decode(body, res.kind)), JSON
        return body, ct

    def _list_options(self, request: web.Request, res: ResourceInfo, *, paging: bool = True) -> ListOptions:
        q = request.query
        ls = q.get("labelSelector") or ""
        fs = q.get("fieldSelector") or ""
        try:
            label_sel = label_selectors.parse(ls) if ls else None
        except ValueError as e:
            raise errors.bad_request(f"unable to parse requirement: {e}"
                                     if "unable to parse" not in str(e) else str(e)) from None
        try:
            field_sel = _FieldFilter(res.kind, field_selectors.parse(fs)) if fs else None
        except ValueError as e:
            raise errors.bad_request(str(e)) from None
        limit = (_int_param(q, "limit") or 0) if paging else 0
        cont = q.get("continue") if paging else None
        revision = 0
        start = None
        if cont:
            revision, start = _decode_continue(cont, res.prefix(self._ns(request, res)))
        else:
            rv = q.get("resourceVersion") or ""
            if rv and rv != "0" and q.get("resourceVersionMatch") == "Exact":
                try:
                    revision = int(rv)
                except ValueError:
                    raise errors.bad_request(f'invalid resource version "{rv}"') from None
        return ListOptions(label_selector=label_sel, field_selector=field_sel, limit=max(limit, 0),
                           continue_key=start, revision=revision)

    @staticmethod
    async def _not_older_than(request: web.Request, store: GenericStore) -> None:
        """A GET/LIST ``resourceVersion`` other than 0 is a lower bound on what
        the read reflects (504 ResourceVersionTooLarge if storage never gets there)."""
        rv = request.query.get("resourceVersion") or ""
        if rv and rv != "0" and not request.query.get("continue"):
            await wait_for_revision(store.storage, parse_resource_version(rv))

    @staticmethod
    def _ns(request: web.Request, res: ResourceInfo) -> str | None:
        info = parse_path(request.path)
        return info.namespace if info else None

    @staticmethod
    def _wants_table(request: web.Request) -> bool:
        return tables.negotiate_table(request.headers.get("Accept", ""))

    def _table(self, request: web.Request, res: ResourceInfo, objs: list[dict], list_meta: dict) -> dict:
        include = request.query.get("includeObject") or "Metadata"
        try:
            return tables.to_table(res, objs, include_object=include, list_meta=list_meta,
                                   now=datetime.now(UTC))
        except ValueError as e:
            raise errors.bad_request(str(e)) from None

    @staticmethod
    def _dry_run(request: web.Request) -> bool:
        vals = request.query.getall("dryRun", [])
        for v in vals:
            if v != "All":
                raise errors.bad_request(f'dryRun: Unsupported value: "{v}": supported values: "All"')
        return bool(vals)

    # ----------------------------------------------------------------- list / watch
    async def list_or_watch(self, request: web.Request, info: RequestInfo, store: GenericStore):
        q = request.query
        res = info.resource
        if _truthy(q.get("watch")):
            opts = self._list_options(request, res, paging=False)
            params = WatchParams(
                namespace=info.namespace, resource_version=q.get("resourceVersion") or "",
                timeout_seconds=_int_param(q, "timeoutSeconds"),
                bookmarks=_truthy(q.get("allowWatchBookmarks")),
                send_initial_events=_truthy(q.get("sendInitialEvents")), options=opts)
            transform = None
            if self._wants_table(request):
                def transform(kind: bytes, obj: bytes) -> bytes:
                    if kind in (b"BOOKMARK", b"ERROR"):
                        return obj
                    return orjson.dumps(self._table(request, res, [orjson.loads(obj)], {}))
            return await serve_watch(request, store, params, transform=transform)
        opts = self._list_options(request, res)
        await self._not_older_than(request, store)
        items, revision, next_key = await store.list(info.namespace, opts)
        meta: dict = {"resourceVersion": str(revision)}
        if next_key is not None:
            meta["continue"] = _encode_continue(revision, next_key, res.prefix(info.namespace))
        if self._wants_table(request):
            return _json(self._table(request, res, [orjson.loads(i) for i in items], meta))
        head = orjson.dumps({"kind": res.list_kind, "apiVersion": res.api_version, "metadata": meta})
        return _json(head[:-1] + b',"items":[' + b",".join(items) + b"]}")

    # ----------------------------------------------------------------- create / update
    async def create(self, request: web.Request, info: RequestInfo, store: GenericStore):
        res = info.resource
        if res.namespaced and info.namespace is None:
            raise errors.no_such_path()
        decoded = decode_object(*await self._object_body(request, res), res,
                                field_validation=request.query.get("fieldValidation", "Warn"))
        obj = decoded.obj
        meta = obj["metadata"]
        if res.namespaced and meta.get("namespace") and meta["namespace"] != info.namespace:
            raise errors.bad_request("the namespace of the provided object does not match the "
                                     "namespace sent on the request")
        if not meta.get("name") and not meta.get("generateName"):
            from ..api.field_errors import causes, invalid_message, required
            err = required("metadata.name", "name or generateName is required")
            raise errors.invalid(res.kind, "", invalid_message(res.kind, "", [err]), causes([err]), res.group)
        created, body = await store.create_encoded(
            info.namespace, obj, dry_run=self._dry_run(request),
            after_prepare=_tracker(request, res, options_kind="CreateOptions"))
        return _json(created if body is None else body, 201, decoded.warnings)

    async def update(self, request: web.Request, info: RequestInfo, store: GenericStore):
        res = info.resource
        decoded = decode_object(*await self._object_body(request, res), res,
                                field_validation=request.query.get("fieldValidation", "Warn"))
        sub = info.subresource
        if sub == "finalize":
            return await self.finalize(info, store, decoded.obj)
        if sub not in ("", "status"):
            raise errors.method_not_allowed()
        obj, created = await store.update(info.namespace, info.name, decoded.obj, subresource=sub,
                                          dry_run=self._dry_run(request),
                                          after_prepare=_tracker(request, res, sub, options_kind="UpdateOptions"))
        return _json(obj, 201 if created else 200, decoded.warnings)

    async def finalize(self, info: RequestInfo, store: GenericStore, body: dict):
        finalizers = (body.get("spec") or {}).get("finalizers") or []

        def mutate(ns: dict) -> dict:
            ns.setdefault("spec", {})["finalizers"] = finalizers
            return ns
        return _json(await store.guaranteed_update(None, info.name, mutate))

    # ----------------------------------------------------------------- patch
    async def patch(self, request: web.Request, info: RequestInfo, store: GenericStore):
        from . import patch as patching
        res = info.resource
        body = await self._body(request)
        ct = request.content_type
        sub = info.subresource
        if sub not in ("", "status"):
            raise errors.method_not_allowed()
        dry_run = self._dry_run(request)
        q = request.query
        if ct == "application/apply-patch+yaml":
            from . import apply as ssa
            if not q.get("fieldManager"):
                raise errors.bad_request("PATCH, application/apply-patch+yaml requires fieldManager to be set")
            manager = _field_manager(request, "PatchOptions")
            return await ssa.handle_apply(store, info, body, manager=manager, force=_truthy(q.get("force")),
                                          field_validation=q.get("fieldValidation", "Strict"),
                                          dry_run=dry_run)
        if q.get("force") is not None and ct in _PATCH_TYPES:
            err = field_errors.forbidden("force", "may not be specified for non-apply patch")
            raise errors.invalid("PatchOptions", "", field_errors.invalid_message(
                "PatchOptions", "", [err], "meta.k8s.io"), field_errors.causes([err]), "meta.k8s.io")
        if ct not in _PATCH_TYPES:
            raise errors.APIError(415, "UnsupportedMediaType",
                                  "the body of the request was in an unknown format - accepted media types "
                                  "include: application/json-patch+json, application/merge-patch+json, "
                                  "application/apply-patch+yaml, application/strategic-merge-patch+json")

        def mutate(obj: dict) -> dict:
            return patching.apply_patch(ct, obj, body, definition=res.definition)
        obj = await store.guaranteed_update(info.namespace, info.name, mutate, subresource=sub,
                                            dry_run=dry_run,
                                            after_prepare=_tracker(request, res, sub, options_kind="PatchOptions"))
        return _json(obj)

    # ----------------------------------------------------------------- delete
    async def _delete_options(self, request: web.Request) -> DeleteOptions:
        q = request.query
        body = await self._body(request) if request.can_read_body else b""
        opts: dict = {}
        if body.strip():
            value = parse_body(body, _content_type(request))
            if not isinstance(value, dict):
                raise errors.bad_request("DeleteOptions must be an object")
            opts = value
        grace = opts.get("gracePeriodSeconds")
        if _int_param(q, "gracePeriodSeconds") is not None:
            grace = _int_param(q, "gracePeriodSeconds")
        policy = q.get("propagationPolicy") or opts.get("propagationPolicy")
        if policy and policy not in ("Orphan", "Background", "Foreground"):
            raise errors.APIError(422, "Invalid", f'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: '
                                  f'Unsupported value: "{policy}": supported values: "Foreground", '
                                  f'"Background", "Orphan", "nil"')
        orphan = opts.get("orphanDependents")
        if q.get("orphanDependents") is not None:
            orphan = _truthy(q.get("orphanDependents"))
        pre = opts.get("preconditions") or {}
        dry = bool(opts.get("dryRun")) or self._dry_run(request)
        return DeleteOptions(grace_period_seconds=grace, propagation_policy=policy,
                             orphan_dependents=orphan, precondition_uid=pre.get("uid"),
                             precondition_rv=pre.get("resourceVersion"), dry_run=dry)

    async def delete(self, request: web.Request, info: RequestInfo, store: GenericStore):
        opts = await self._delete_options(request)
        obj, deleted = await store.delete(info.namespace, info.name, opts)
        if not deleted or store.strategy.return_deleted_object:
            return _json(obj)
        return _json(errors.status_success(name=info.name, group=store.group, kind=store.plural,
                                           uid=obj["metadata"].get("uid", "")))

    async def delete_collection(self, request: web.Request, info: RequestInfo, store: GenericStore):
        res = info.resource
        if "deletecollection" not in res.verbs:
            raise errors.method_not_allowed()
        opts = await self._delete_options(request)
        list_opts = self._list_options(request, res, paging=False)
        items, revision, _ = await store.list(info.namespace, list_opts)
        out = []
        for raw in items:
            meta = orjson.loads(raw)["metadata"]
            try:
                obj, _ = await store.delete(meta.get("namespace"), meta["name"], opts)
                out.append(obj)
            except errors.APIError as e:
                if e.code != 404:
                    raise
        return _json({"kind": res.list_kind, "apiVersion": res.api_version,
                      "metadata": {"resourceVersion": str(revision)}, "items": out})

    # ----------------------------------------------------------------- subresources
    async def binding(self, request: web.Request, info: RequestInfo, store: GenericStore):
        value = parse_body(await self._body(request), _content_type(request))
        target = ((value or {}).get("target") or {}) if isinstance(value, dict) else {}
        node = target.get("name")
        if not node:
            from ..api.field_errors import causes, invalid_message, required
            err = required("target.name", "")
            raise errors.invalid("Binding", info.name, invalid_message("Binding", info.name, [err]),
                                 causes([err]))
        meta = value.get("metadata") if isinstance(value.get("metadata"), dict) else {}
        uid, rv = str(meta.get("uid") or ""), str(meta.get("resourceVersion") or "")
        await store.guaranteed_update(info.namespace, info.name,
                                      lambda pod: bind(pod, node, uid=uid, resource_version=rv), validate=False)
        return _json(_CREATED_STATUS, 201)

    async def eviction(self, request: web.Request, info: RequestInfo, store: GenericStore):
        if request.method != "POST":
            raise errors.method_not_allowed()
        value = parse_body(await self._body(request), _content_type(request)) or {}
        delete_opts = (value.get("deleteOptions") or {}) if isinstance(value, dict) else {}
        pre = delete_opts.get("preconditions") or {}
        await store.delete(info.namespace, info.name, DeleteOptions(
            grace_period_seconds=delete_opts.get("gracePeriodSeconds"),
            precondition_uid=pre.get("uid"), precondition_rv=pre.get("resourceVersion")))
        return _json(_CREATED_STATUS, 201)

    async def scale(self, request: web.Request, info: RequestInfo, store: GenericStore):
        m = request.method
        if m == "GET":
            return _json(_to_scale(await store.get(info.namespace, info.name)))
        if m not in ("PUT", "PATCH"):
            raise errors.method_not_allowed()
        body = await self._body(request)
        if m == "PUT":
            value = parse_body(body, _content_type(request))
            if not isinstance(value, dict):
                raise errors.bad_request("Scale must be an object")
            want_rv = (value.get("metadata") or {}).get("resourceVersion")
        else:
            want_rv = None

        def mutate(obj: dict) -> dict:
            if want_rv and want_rv != obj["metadata"]["resourceVersion"]:
                raise errors.modified_conflict(store.plural, info.name)
            scale = _to_scale(obj)
            if m == "PATCH":
                from . import patch as patching
                new_scale = patching.apply_patch(request.content_type, scale, body,
                                                 definition="io.k8s.api.autoscaling.v1.Scale")
            else:
                new_scale = value
            replicas = (new_scale.get("spec") or {}).get("replicas", 0)
            if not isinstance(replicas, int) or replicas < 0:
                from ..api.field_errors import causes, invalid, invalid_message
                err = invalid("spec.replicas", replicas, "must be greater than or equal to 0")
                raise errors.invalid("Scale", info.name, invalid_message("Scale", info.name, [err]),
                                     causes([err]), "autoscaling")
            obj.setdefault("spec", {})["replicas"] = replicas
            return obj
        options = "PatchOptions" if m == "PATCH" else "UpdateOptions"
        return _json(_to_scale(await store.guaranteed_update(
            info.namespace, info.name, mutate, dry_run=self._dry_run(request),
            after_prepare=_tracker(request, info.resource, "scale", options_kind=options))))

    async def pod_log(self, request: web.Request, info: RequestInfo, store: GenericStore):
        """``pods/log``: checked here as Kubernetes' LogLocation does (the pod
        exists, the container is one of its own, integer options parse), then
        streamed by ``log_proxy`` from the pod's kubelet; 503 while none is set."""
        if request.method != "GET":
            raise errors.method_not_allowed()
        pod = await store.get(info.namespace, info.name)
        for name in ("tailLines", "limitBytes", "sinceSeconds"):
            _int_param(request.query, name)
        log_container(pod, request.query.get("container"))
        if self.log_proxy is None:
            raise errors.service_unavailable("no kubelet serves logs yet: pods/log is not available")
        return await self.log_proxy(pod, request)


def _to_scale(obj: dict) -> dict:
    meta = obj["metadata"]
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    selector = spec.get("selector") or {}
    return {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                     if k in meta},
        "spec": {"replicas": spec.get("replicas", 0)},
        "status": {"replicas": status.get("replicas", 0),
                   "selector": ",".join(f"{k}={v}" for k, v in sorted(selector.items()))},
    }

