"""Server-side apply and field ownership (``metadata.managedFields``).

Pure functions, no I/O, after Kubernetes' field manager (structured-merge-diff
read as a specification):

* ``server_side_apply(live, applied, ...)`` merges an apply configuration
  (``application/apply-patch+yaml``, YAML or JSON) into the live object, makes
  the applier the owner of exactly the fields it applied, removes fields it
  applied before and omits now (unless another manager owns them), and raises
  ``ApplyConflict`` (409) when it would change a field another manager owns,
  unless ``force``; forcing takes the fields over.
* ``track_update(old, new, ...)`` records ownership for ordinary
  create/update/patch: the manager gains what it changed, every other manager
  loses what was changed or removed.

Field sets are sets of paths; a path is a tuple of FieldsV1 elements:
``f:<field>``, ``k:{"name":"c"}`` (associative-list item, key fields sorted),
``v:<json>`` (set-list item) and ``i:<n>`` (index). The FieldsV1 encoding is
the usual trie where ``.`` marks a node that is itself owned. Lists are
associative (``x-kubernetes-list-type: map`` with ``list-map-keys``, or a
merge key), sets (``set``, or merge strategy on scalars) or atomic; maps are
granular unless ``x-kubernetes-map-type: atomic``. ``apiVersion``, ``kind``
and the system metadata fields are never owned. ``status`` is not owned or
applied through the main resource of kinds that have it, and ``spec`` not
through ``/status``, as Kubernetes' reset fields do.

Manager ``kubectl`` gets Kubernetes' client-side-apply upgrade treatment:
conflicts on fields recorded in ``kubectl.kubernetes.io/last-applied-configuration``
(and still matching the live object) are taken over, and that annotation is
kept in sync with what is applied.
"""

from __future__ import annotations

import copy
import json
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import orjson

from ..api import schema as api_schema
from .errors import APIError
from .patch import PatchError, SchemaNode

__all__ = [
    "ApplyConflict",
    "LAST_APPLIED_ANNOTATION",
    "server_side_apply",
    "track_update",
    "manager_from_user_agent",
    "decode_fields_v1",
    "encode_fields_v1",
    "path_string",
    "handle_apply",
]

LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"

Path = tuple[str, ...]

# Never owned by anyone (Kubernetes' stripMeta set).
_STRIPPED: frozenset[Path] = frozenset({
    ("f:apiVersion",), ("f:kind",), ("f:metadata",),
    ("f:metadata", "f:name"), ("f:metadata", "f:namespace"), ("f:metadata", "f:creationTimestamp"),
    ("f:metadata", "f:selfLink"), ("f:metadata", "f:uid"), ("f:metadata", "f:clusterName"),
    ("f:metadata", "f:generation"), ("f:metadata", "f:managedFields"), ("f:metadata", "f:resourceVersion"),
})

# Defaults of associative-list key fields (ContainerPort/ServicePort protocol).
_KEY_DEFAULTS = {"protocol": "TCP"}

_MISSING: Any = object()


# ------------------------------------------------------------------- errors
class ApplyConflict(APIError):
    """409 Conflict: the apply would change fields other managers own.

    ``conflicts`` is a list of ``(manager, path)``: ``manager`` as Kubernetes
    prints it (``"kubectl-client-side-apply" using v1``), ``path`` like
    ``.spec.replicas``.
    """

    def __init__(self, conflicts: list[tuple[str, str]], message: str):
        causes = [{"reason": "FieldManagerConflict", "message": f"conflict with {m}", "field": p}
                  for m, p in conflicts]
        super().__init__(409, "Conflict", message, causes=causes)
        self.conflicts = conflicts


# ------------------------------------------------------ managed field sets
@dataclass
class _Managed:
    paths: set[Path]
    api_version: str
    time: str | None = None


# (manager, operation, apiVersion for Update entries, subresource)
_Key = tuple[str, str, str, str]


@dataclass
class _ManagedFields:
    entries: dict[_Key, _Managed] = field(default_factory=dict)

    def copy(self) -> _ManagedFields:
        return _ManagedFields({k: _Managed(set(v.paths), v.api_version, v.time) for k, v in self.entries.items()})


def _key(manager: str, operation: str, api_version: str, subresource: str) -> _Key:
    return (manager, operation, api_version if operation == "Update" else "", subresource)


def _decode_managed(entries: Any) -> _ManagedFields:
    """Decode ``metadata.managedFields``; raises ValueError if malformed."""
    out = _ManagedFields()
    if not entries:
        return out
    if not isinstance(entries, list):
        raise ValueError("managedFields must be a list")
    for e in entries:
        if not isinstance(e, dict):
            raise ValueError("managedFields entries must be objects")
        if e.get("fieldsType", "FieldsV1") != "FieldsV1":
            raise ValueError(f"unsupported fieldsType {e.get('fieldsType')!r}")
        key = _key(e.get("manager", ""), e.get("operation", ""), e.get("apiVersion", ""),
                   e.get("subresource", ""))
        paths = decode_fields_v1(e.get("fieldsV1") or {})
        if key in out.entries:  # duplicate identities: Kubernetes merges them
            out.entries[key].paths |= paths
        else:
            out.entries[key] = _Managed(paths, e.get("apiVersion", ""), e.get("time"))
    return out


def _encode_managed(managed: _ManagedFields) -> list[dict]:
    rows = []
    for (manager, operation, _, subresource), m in managed.entries.items():
        if not m.paths:
            continue
        entry: dict[str, Any] = {"manager": manager, "operation": operation, "apiVersion": m.api_version}
        if m.time:
            entry["time"] = m.time
        entry["fieldsType"] = "FieldsV1"
        entry["fieldsV1"] = encode_fields_v1(m.paths)
        if subresource:
            entry["subresource"] = subresource
        rows.append(entry)
    # Kubernetes' order: Apply before Update, then by time, manager, apiVersion, subresource.
    rows.sort(key=lambda r: (r["operation"], r.get("time") or "", r["manager"], r["apiVersion"],
                             r.get("subresource", "")))
    return rows


def decode_fields_v1(fields: dict) -> set[Path]:
    """FieldsV1 trie -> set of paths."""
    out: set[Path] = set()

    def walk(node: dict, prefix: Path) -> None:
        for k, child in node.items():
            if k == ".":
                out.add(prefix)
            elif not child:
                out.add(prefix + (k,))
            elif isinstance(child, dict):
                walk(child, prefix + (k,))
    if isinstance(fields, dict):
        walk(fields, ())
    out.discard(())
    return out


def _element_rank(pe: str) -> tuple[int, str]:
    return ({"f": 0, "k": 1, "v": 2, "i": 3}.get(pe[:1], 4), pe)


def encode_fields_v1(paths: set[Path]) -> dict:
    """Set of paths -> FieldsV1 trie (children sorted, ``.`` first)."""
    trie: dict = {}
    members: set[Path] = set()
    for p in paths:
        node = trie
        for pe in p:
            node = node.setdefault(pe, {})
        members.add(p)

    def render(node: dict, prefix: Path) -> dict:
        out: dict = {}
        if node and prefix in members:
            out["."] = {}
        for pe in sorted(node, key=_element_rank):
            out[pe] = render(node[pe], prefix + (pe,))
        return out
    return render(trie, ())


def path_string(path: Path) -> str:
    """Kubernetes' printed form of a field path: ``.spec.containers[name="c"].image``."""
    out = []
    for pe in path:
        kind, _, rest = pe.partition(":")
        if kind == "f":
            out.append("." + rest)
        elif kind == "k":
            try:
                keys = json.loads(rest)
                out.append("[" + ",".join(f"{k}={_json(v)}" for k, v in keys.items()) + "]")
            except ValueError:
                out.append("[" + rest + "]")
        elif kind == "v":
            out.append(f"[={rest}]")
        elif kind == "i":
            out.append(f"[{rest}]")
        else:
            out.append("{{invalid path element}}")
    return "".join(out)


def _json(v: Any) -> str:
    """Compact JSON as Go writes it (HTML characters escaped)."""
    s = json.dumps(v, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# --------------------------------------------------------- schema typing
def _kind(node: SchemaNode | None, value: Any) -> str:
    """How SSA treats a value: leaf, struct, map, assoc, set."""
    if isinstance(value, dict):
        if node is None:
            return "map"
        if node.kind in ("struct", "map", "any"):
            if node.map_type == "atomic":
                return "leaf"
            return "struct" if node.kind == "struct" else "map"
        return "leaf"
    if isinstance(value, list):
        if node is None or node.kind != "array":
            return "leaf"
        lt = node.list_type
        if lt == "map":
            return "assoc"
        if lt == "set":
            return "set"
        if lt == "atomic":
            return "leaf"
        if node.patch_strategy == "merge":
            return "assoc" if node.merge_key else "set"
        return "leaf"
    return "leaf"


def _child(node: SchemaNode | None, key: str) -> SchemaNode | None:
    return node.field(key) if node is not None else None


def _item(node: SchemaNode | None) -> SchemaNode | None:
    return node.item() if node is not None else None


def _list_keys(node: SchemaNode) -> tuple[str, ...]:
    return node.list_map_keys or ((node.merge_key,) if node.merge_key else ())


def _item_element(node: SchemaNode, kind: str, item: Any, index: int, *, strict: bool = False) -> str:
    if kind == "set":
        return "v:" + _json(item)
    if isinstance(item, dict):
        keys = {}
        for k in _list_keys(node):
            if k in item and item[k] is not None:
                keys[k] = item[k]
            elif k in _KEY_DEFAULTS:
                keys[k] = _KEY_DEFAULTS[k]
            elif strict:
                raise _plain(f'associative list with keys has an element that omits key field "{k}" '
                             "(and doesn't have default value)")
        if keys:
            return "k:" + _json(keys)
    return f"i:{index}"


def _plain(message: str) -> PatchError:
    return PatchError(500, "", message)


# ------------------------------------------------------------- field sets
def _field_set(value: Any, node: SchemaNode | None, path: Path, out: set[Path], *, strict: bool = False) -> None:
    """The paths an apply configuration sets (structured-merge-diff's ToFieldSet)."""
    kind = _kind(node, value)
    if kind == "leaf":
        out.add(path)
    elif kind in ("struct", "map"):
        props = node.schema.get("properties") if node is not None and kind == "struct" else None
        for k, v in value.items():
            p = path + ("f:" + k,)
            _field_set(v, _child(node, k), p, out, strict=strict)
            if v is None or (isinstance(v, dict) and not v) or (props is not None and k not in props):
                out.add(p)
    else:
        item = _item(node)
        for i, v in enumerate(value):
            p = path + (_item_element(node, kind, v, i, strict=strict),)
            if kind == "assoc":
                _field_set(v, item, p, out, strict=strict)
            out.add(p)


def _all_paths(value: Any, node: SchemaNode | None, path: Path, out: set[Path]) -> None:
    """Every node of a (sub)tree: what a newly added value contributes."""
    if path:
        out.add(path)
    kind = _kind(node, value)
    if kind in ("struct", "map"):
        for k, v in value.items():
            _all_paths(v, _child(node, k), path + ("f:" + k,), out)
    elif kind in ("assoc", "set"):
        item = _item(node)
        for i, v in enumerate(value):
            p = path + (_item_element(node, kind, v, i),)
            if kind == "assoc":
                _all_paths(v, item, p, out)
            else:
                out.add(p)


@dataclass
class _Comparison:
    added: set[Path] = field(default_factory=set)
    modified: set[Path] = field(default_factory=set)
    removed: set[Path] = field(default_factory=set)


def _compare(old: Any, new: Any, node: SchemaNode | None, path: Path, acc: _Comparison) -> None:
    if old is _MISSING and new is _MISSING:
        return
    if old is _MISSING:
        _all_paths(new, node, path, acc.added)
        return
    if new is _MISSING:
        _all_paths(old, node, path, acc.removed)
        return
    ko, kn = _kind(node, old), _kind(node, new)
    if ko != kn or kn == "leaf":
        if old != new or type(old) is not type(new):
            acc.modified.add(path)
        return
    if kn in ("struct", "map"):
        for k in list(old) + [k for k in new if k not in old]:
            _compare(old.get(k, _MISSING), new.get(k, _MISSING), _child(node, k), path + ("f:" + k,), acc)
        return
    item = _item(node)
    olds = _index_items(node, kn, old)
    news = _index_items(node, kn, new)
    for pe in list(olds) + [pe for pe in news if pe not in olds]:
        o, n = olds.get(pe, _MISSING), news.get(pe, _MISSING)
        if kn == "set":
            if o is _MISSING:
                acc.added.add(path + (pe,))
            elif n is _MISSING:
                acc.removed.add(path + (pe,))
        else:
            _compare(o, n, item, path + (pe,), acc)


def _index_items(node: SchemaNode, kind: str, items: list) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, v in enumerate(items):
        out.setdefault(_item_element(node, kind, v, i), v)
    return out


_MANAGED_FIELDS_PATH: Path = ("f:metadata", "f:managedFields")


def _filtered(paths: set[Path], ignored: tuple[Path, ...]) -> set[Path]:
    """``paths`` less those never owned and those under an ``ignored`` prefix
    (top-level fields, see ``_ignored_prefixes``)."""
    tops = {ig[0] for ig in ignored}
    return {p for p in paths
            if p[:1] and p[0] not in tops and p not in _STRIPPED and p[:2] != _MANAGED_FIELDS_PATH}


def _ignored_prefixes(node: SchemaNode | None, subresource: str) -> tuple[Path, ...]:
    """Top-level fields a subresource never owns (``_filtered`` relies on length 1)."""
    props = node.schema.get("properties", {}) if node is not None else {}
    if subresource == "status":
        return (("f:spec",),) if "spec" in props else ()
    if subresource == "" and "status" in props and "spec" in props:
        return (("f:status",),)
    return ()


# ------------------------------------------------------------------- merge
def _merge(live: Any, config: Any, node: SchemaNode | None) -> Any:
    """Structured merge of an apply configuration into the live value."""
    if live is _MISSING or live is None:
        return _without_nulls(copy.deepcopy(config))
    kl, kc = _kind(node, live), _kind(node, config)
    if kl != kc or kc == "leaf":
        return _without_nulls(copy.deepcopy(config))
    if kc in ("struct", "map"):
        out = dict(live)
        for k, v in config.items():
            if v is None:
                out.pop(k, None)
            else:
                out[k] = _merge(live.get(k, _MISSING), v, _child(node, k))
        return out
    item = _item(node)
    lives = [(_item_element(node, kc, v, i), v) for i, v in enumerate(live)]
    confs = [(_item_element(node, kc, v, i), v) for i, v in enumerate(config)]
    conf_map = dict(confs)
    live_map = dict(lives)
    out: list = []
    emitted: set[str] = set()
    ci = 0

    def emit_config(pe: str, v: Any) -> None:
        emitted.add(pe)
        if kc == "assoc":
            out.append(_merge(live_map.get(pe, _MISSING), v, item))
        else:
            out.append(copy.deepcopy(v))

    for pe, lv in lives:
        if pe in emitted:
            continue
        if pe not in conf_map:
            out.append(lv)
            emitted.add(pe)
            continue
        # A shared item: config items before it (in config order) come first.
        while ci < len(confs):
            cpe, cv = confs[ci]
            ci += 1
            if cpe not in emitted:
                emit_config(cpe, cv)
            if cpe == pe:
                break
    for cpe, cv in confs[ci:]:
        if cpe not in emitted:
            emit_config(cpe, cv)
    return out


def _without_nulls(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _without_nulls(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [_without_nulls(x) for x in v]
    return v


def _remove_path(obj: dict, path: Path, node: SchemaNode | None) -> None:
    """Remove the field or list item at ``path``; maps and lists emptied by it go too."""
    trail: list[tuple[Any, Any, str]] = []  # (container, key/index, kind of container)
    cur: Any = obj
    cur_node = node
    for pe in path:
        kind, _, rest = pe.partition(":")
        if kind == "f":
            if not isinstance(cur, dict) or rest not in cur:
                return
            trail.append((cur, rest, _kind(cur_node, cur)))
            cur, cur_node = cur[rest], _child(cur_node, rest)
        else:
            if not isinstance(cur, list):
                return
            lkind = _kind(cur_node, cur)
            idx = next((i for i, v in enumerate(cur)
                        if (kind == "i" and str(i) == rest) or
                        (kind != "i" and cur_node is not None and _item_element(cur_node, lkind, v, i) == pe)),
                       None)
            if idx is None:
                return
            trail.append((cur, idx, lkind))
            cur, cur_node = cur[idx], _item(cur_node)
    while trail:
        container, key, ckind = trail.pop()
        del container[key]
        if container or ckind == "struct" or not trail:
            break


def _prune(merged: dict, managed: _ManagedFields, applier: _Key, last: set[Path],
           node: SchemaNode | None) -> dict:
    """Drop what the applier applied last time, omits now, and nobody else owns."""
    owned: set[Path] = set()
    for m in managed.entries.values():
        owned |= m.paths
    owned_prefixes = {p[:i] for p in owned for i in range(1, len(p))}
    for p in sorted(last - owned, key=len):
        if p in owned_prefixes:  # something below is still owned: keep the node
            continue
        _remove_path(merged, p, node)
    return merged


# ------------------------------------------------------------ entry points
def _definition_for(obj: dict, definition: str) -> str:
    if definition:
        return definition
    api_version = obj.get("apiVersion") or ""
    group, _, version = api_version.rpartition("/")
    return api_schema.definition_for_kind(group, version, obj.get("kind") or "") or ""


def _strip_managed(obj: dict | None, *, deep: bool = True) -> tuple[dict, Any]:
    """``obj`` without ``metadata.managedFields``, and those. ``deep=False``
    copies only the top level and metadata: for readers that never mutate."""
    if obj is None:
        return {}, None
    obj = copy.deepcopy(obj) if deep else dict(obj)
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return obj, None
    if not deep:
        meta = obj["metadata"] = dict(meta)
    return obj, meta.pop("managedFields", None)


def _with_managed(obj: dict, managed: _ManagedFields) -> dict:
    rows = _encode_managed(managed)
    meta = obj.setdefault("metadata", {})
    if rows:
        meta["managedFields"] = rows
    else:
        meta.pop("managedFields", None)
    return obj


def _update_managers(managed: _ManagedFields, comparison: _Comparison, *, skip: _Key,
                     take: set[Path]) -> None:
    """Every manager but ``skip`` loses what was removed and what ``take`` covers."""
    for key, m in managed.entries.items():
        if key == skip:
            continue
        m.paths -= comparison.removed
        m.paths -= take


def _finish(managed: _ManagedFields, ignored: tuple[Path, ...]) -> None:
    for key in list(managed.entries):
        m = managed.entries[key]
        m.paths = _filtered(m.paths, ignored)
        if not m.paths:
            del managed.entries[key]


def _zero_object(obj: dict, node: SchemaNode | None) -> dict:
    """What Kubernetes compares a created object against: its kind's empty Go
    struct, where ``metadata``, ``spec`` and ``status`` and the required lists
    of ``spec`` (``containers``) exist already, so they are not owned as such."""
    zero: dict = {}
    for k in ("metadata", "spec", "status"):
        if not isinstance(obj.get(k), dict):
            continue
        zero[k] = {}
        sub = _child(node, k)
        if sub is not None and sub.kind == "struct":
            for req in sub.schema.get("required", ()):
                f = sub.field(req)
                if f is not None and f.kind == "array" and isinstance(obj[k].get(req), list):
                    zero[k][req] = []
    return zero


# ------------------------------------------------- creates, built directly
def _sorted_fields(children: dict) -> dict:
    """Children in FieldsV1 order: ``.`` first, then as ``encode_fields_v1``
    (which is byte order unless ``i:`` elements mix with others)."""
    if any(k[0] == "i" for k in children):
        out = {".": {}} if "." in children else {}
        out.update(sorted(((k, v) for k, v in children.items() if k != "."), key=lambda kv: _element_rank(kv[0])))
        return out
    return {k: children[k] for k in sorted(children)}


def _new_children(value: Any, node: SchemaNode | None) -> dict:
    """FieldsV1 children of a value that is new as a whole: every node below
    it is owned (what ``_all_paths`` then ``encode_fields_v1`` produce)."""
    kind = _kind(node, value)
    out: dict = {}
    if kind in ("struct", "map"):
        for k, v in value.items():
            out["f:" + k] = _new_member(v, _child(node, k))
    elif kind == "set":
        for i, v in enumerate(value):
            out[_item_element(node, kind, v, i)] = {}
    elif kind == "assoc":
        item = _item(node)
        for i, v in enumerate(value):
            pe = _item_element(node, kind, v, i)
            member = _new_member(v, item)
            out[pe] = _merge_fields(out[pe], member) if pe in out else member
    return out


def _new_member(value: Any, node: SchemaNode | None) -> dict:
    children = _new_children(value, node)
    return {".": {}, **_sorted_fields(children)} if children else {}


def _merge_fields(a: dict, b: dict) -> dict:
    """Union of two FieldsV1 tries (an associative list repeating a key)."""
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge_fields(out[k], v) if k in out else v
    return _sorted_fields(out)


def _created_fields_v1(obj: dict, node: SchemaNode | None, ignored: tuple[Path, ...],
                       definition: str = "") -> dict:
    """The creator's FieldsV1 for a created object, in one walk: what the
    general path (compare with ``_zero_object``, ``_filtered``,
    ``encode_fields_v1``) gives, which tests check. Creates are the hot path:
    the fields of ``spec`` and ``status`` are remembered per value (pods of one
    template share them), see :func:`_section_fields`."""
    zero = _zero_object(obj, node)
    tops = {ig[0] for ig in ignored}
    out: dict = {}
    for k, v in obj.items():
        pe = "f:" + k
        if pe in tops:
            continue
        if k not in zero:  # new as a whole, unless never owned (apiVersion, kind)
            if (pe,) not in _STRIPPED:
                out[pe] = _new_member(v, _child(node, k))
            continue
        children = _section_fields(definition, k, v, zero[k], node) if definition and k != "metadata" \
            else _section_children(k, v, zero[k], node)
        if children:
            out[pe] = children
    return _sorted_fields(out)


def _section_children(k: str, v: dict, zero: dict, node: SchemaNode | None) -> dict:
    """FieldsV1 of ``metadata``, ``spec`` or ``status`` of a created object:
    these exist in the zero object, so their fields are new, and so are the
    items of their required lists (which exist, empty)."""
    pe = "f:" + k
    sub, children = _child(node, k), {}
    for ck, cv in v.items():
        cpe = "f:" + ck
        if (pe, cpe) in _STRIPPED:
            continue
        if ck in zero:
            items = _new_children(cv, _child(sub, ck))
            if items:
                children[cpe] = _sorted_fields(items)
        else:
            children[cpe] = _new_member(cv, _child(sub, ck))
    return _sorted_fields(children) if children else {}


# (definition, section, the section's JSON) -> its FieldsV1 as JSON; oldest dropped first.
_SECTION_MEMO: dict[tuple[str, str, bytes], bytes] = {}
_SECTION_MEMO_SIZE = 256
_SECTION_MEMO_MAX_BYTES = 16384


def _section_fields(definition: str, k: str, v: dict, zero: dict, node: SchemaNode | None) -> dict:
    """:func:`_section_children`, remembered by the section's exact JSON (the
    fields depend on nothing else: the zero object follows from the same
    value). Handed out as a fresh copy, so callers may edit it."""
    try:
        raw = orjson.dumps(v, option=orjson.OPT_PASSTHROUGH_DATETIME)
    except TypeError:  # not plain JSON (e.g. a YAML timestamp): no memo
        return _section_children(k, v, zero, node)
    if len(raw) > _SECTION_MEMO_MAX_BYTES:
        return _section_children(k, v, zero, node)
    key = (definition, k, raw)
    hit = _SECTION_MEMO.get(key)
    if hit is not None:
        return orjson.loads(hit)
    children = _section_children(k, v, zero, node)
    if len(_SECTION_MEMO) >= _SECTION_MEMO_SIZE:
        del _SECTION_MEMO[next(iter(_SECTION_MEMO))]
    _SECTION_MEMO[key] = orjson.dumps(children)
    return children


def track_update(old: dict | None, new: dict, *, manager: str, api_version: str | None = None,
                 now: str, operation: str = "Update", subresource: str = "", definition: str = "",
                 fast_create: bool = True) -> dict:
    """Return ``new`` with ``metadata.managedFields`` updated for a create
    (``old`` None), update or patch made by ``manager``. (``fast_create=False``
    takes the general path for creates too, for tests comparing the two.)

    The manager's ``Update`` entry gains every field that changed (with
    ``time=now``); other managers lose changed and removed fields. Fields
    listed in ``new``'s own managedFields replace the stored ones (clients may
    rewrite them, as kubectl does when upgrading client-side apply); a single
    empty entry (``[{}]``) clears them. Call it with the object as it will be
    stored (after defaulting) so defaults are owned by their creator, as in
    Kubernetes. Neither argument is modified; the result shares all but its
    metadata with ``new``.
    """
    definition = _definition_for(new, definition)
    node = SchemaNode.for_definition(definition)
    api_version = api_version or new.get("apiVersion", "")
    # Only compared and read here; the caller takes managedFields from the result.
    new_obj, provided = _strip_managed(new, deep=False)
    old_obj, stored = _strip_managed(old, deep=False)
    if provided == [{}]:
        return new_obj
    if old is None and not provided and fast_create:
        fields = _created_fields_v1(new_obj, node, _ignored_prefixes(node, subresource), definition)
        if fields:
            entry = {"manager": manager, "operation": operation, "apiVersion": api_version, "time": now,
                     "fieldsType": "FieldsV1", "fieldsV1": fields}
            if subresource:
                entry["subresource"] = subresource
            new_obj["metadata"] = {**new_obj.get("metadata", {}), "managedFields": [entry]}
        return new_obj
    managed = None
    if provided and not subresource:
        try:
            managed = _decode_managed(provided)
        except ValueError:
            managed = None
    if managed is None:
        try:
            managed = _decode_managed(stored)
        except ValueError:
            managed = _ManagedFields()
    ignored = _ignored_prefixes(node, subresource)
    baseline = old_obj if old is not None else _zero_object(new_obj, node)
    comparison = _Comparison()
    _compare(baseline, new_obj, node, (), comparison)
    comparison.added = _filtered(comparison.added, ignored)
    comparison.modified = _filtered(comparison.modified, ignored)
    comparison.removed = _filtered(comparison.removed, ignored)
    changed = comparison.added | comparison.modified
    key = _key(manager, operation, api_version, subresource)
    _update_managers(managed, comparison, skip=("", "", "", "\0"), take=changed)
    if changed:
        entry = managed.entries.get(key)
        if entry is None:
            entry = managed.entries[key] = _Managed(set(), api_version)
        entry.paths |= changed
        entry.api_version = api_version
        entry.time = now
    _finish(managed, ignored)
    _cap_update_managers(managed)
    return _with_managed(new_obj, managed)


# Kubernetes keeps at most this many Update entries; older ones are folded
# into one "ancient-changes" entry per API version.
MAX_UPDATE_MANAGERS = 10
ANCIENT_CHANGES = "ancient-changes"


def _cap_update_managers(managed: _ManagedFields) -> None:
    updaters = sorted((k for k in managed.entries if k[1] == "Update"),
                      key=lambda k: (managed.entries[k].time or "", k[0]))
    excess = len(updaters) - MAX_UPDATE_MANAGERS
    for k in updaters:
        if excess <= 0:
            break
        if k[0] == ANCIENT_CHANGES:
            continue
        entry = managed.entries.pop(k)
        bucket_key = _key(ANCIENT_CHANGES, "Update", entry.api_version, "")
        bucket = managed.entries.get(bucket_key)
        if bucket is None:
            managed.entries[bucket_key] = _Managed(set(entry.paths), entry.api_version, entry.time)
        else:
            bucket.paths |= entry.paths
            bucket.time = max(bucket.time or "", entry.time or "") or None
            excess -= 1


def server_side_apply(live: dict | None, applied: dict, *, manager: str, force: bool, now: str,
                      definition: str = "", api_version: str | None = None, subresource: str = "") -> dict:
    """Apply ``applied`` (a decoded apply configuration) over ``live`` (None
    to create) for field manager ``manager``; return the new object with
    ``metadata.managedFields`` updated. Arguments are not modified.

    Raises ``ApplyConflict`` (409) when another manager owns a field the
    configuration changes and ``force`` is false; ``PatchError`` for a
    configuration Kubernetes refuses (400 wrong apiVersion/kind, 500
    managedFields set or a field not declared in the schema).
    """
    if not isinstance(applied, dict):
        raise PatchError(400, "BadRequest", "error decoding YAML: the apply configuration is not an object")
    if not manager:
        raise PatchError(400, "BadRequest", "PATCH, application/apply-patch+yaml requires fieldManager to be set")
    expected_version = api_version or (live or {}).get("apiVersion") or applied.get("apiVersion", "")
    if applied.get("apiVersion") != expected_version:
        raise PatchError(400, "BadRequest",
                         f"Incorrect version specified in apply patch. Specified patch version: "
                         f"{_gv(applied.get('apiVersion'))}, expected: {_gv(expected_version)}")
    if live is not None and live.get("kind") and applied.get("kind") != live.get("kind"):
        raise PatchError(400, "BadRequest",
                         f"Incorrect kind specified in apply patch. Specified patch kind: "
                         f"{applied.get('kind')}, expected: {live.get('kind')}")
    meta = applied.get("metadata")
    if isinstance(meta, dict) and meta.get("managedFields") is not None:
        raise _plain(f"managed fields must be nil but was {meta.get('managedFields')}")

    definition = _definition_for(applied, definition)
    node = SchemaNode.for_definition(definition)
    undeclared = _undeclared(applied, node, ())
    if undeclared:
        name = f"{(meta or {}).get('namespace', '')}/{(meta or {}).get('name', '')}"
        raise _plain(f"failed to create typed patch object ({name}; {_gv(applied.get('apiVersion'))}, "
                     f"Kind={applied.get('kind', '')}): {path_string(undeclared)}: field not declared in schema")

    ignored = _ignored_prefixes(node, subresource)
    config = copy.deepcopy(applied)
    for prefix in ignored:  # reset fields: status through the main resource, spec through /status
        config.pop(prefix[0][2:], None)

    live_obj, stored = _strip_managed(live)
    try:
        managed = _decode_managed(stored)
    except ValueError as e:
        raise _plain(f"failed to decode managed fields: {e}") from None

    applied_set: set[Path] = set()
    try:
        _field_set(config, node, (), applied_set, strict=True)
    except PatchError as e:
        name = f"{(meta or {}).get('namespace', '')}/{(meta or {}).get('name', '')}"
        raise _plain(f"failed to create typed patch object ({name}; {_gv(applied.get('apiVersion'))}, "
                     f"Kind={applied.get('kind', '')}): {e}") from None
    applied_set = _filtered(applied_set, ignored)

    key = _key(manager, "Apply", "", subresource)
    version = str(applied.get("apiVersion", ""))
    result = _apply_once(live_obj, config, managed.copy(), key=key, applied_set=applied_set, node=node,
                         ignored=ignored, force=force, version=version, now=now, is_create=live is None)
    if isinstance(result, list):
        conflicts = result
        if manager == "kubectl":
            allowed = _allowed_by_last_applied(live_obj, node, ignored)
            remaining = [(k, p) for k, p in conflicts if p not in allowed]
            if not remaining:
                result = _apply_once(live_obj, config, managed.copy(), key=key, applied_set=applied_set,
                                     node=node, ignored=ignored, force=True, version=version, now=now,
                                     is_create=live is None)
            else:
                conflicts = remaining
        if isinstance(result, list):
            raise _conflict_error(conflicts)
    obj, new_managed = result
    if manager == "kubectl" and LAST_APPLIED_ANNOTATION in ((obj.get("metadata") or {}).get("annotations") or {}):
        obj["metadata"]["annotations"][LAST_APPLIED_ANNOTATION] = _last_applied(applied)
    return _with_managed(obj, new_managed)


def _apply_once(live_obj: dict, config: dict, managed: _ManagedFields, *, key: _Key, applied_set: set[Path],
                node: SchemaNode | None, ignored: tuple[Path, ...], force: bool, version: str, now: str,
                is_create: bool):
    """One apply attempt: ``(object, managed)`` or the conflicts as ``[(key, path)]``."""
    previous = managed.entries.get(key)
    last = previous.paths if previous is not None else set()
    merged = _merge(live_obj, config, node)
    managed.entries[key] = _Managed(set(applied_set), version, previous.time if previous else None)
    merged = _prune(merged, managed, key, last, node)

    comparison = _Comparison()
    _compare(live_obj if not is_create else {}, merged, node, (), comparison)
    comparison.added = _filtered(comparison.added, ignored)
    comparison.modified = _filtered(comparison.modified, ignored)
    comparison.removed = _filtered(comparison.removed, ignored)
    changed = comparison.added | comparison.modified
    conflicts: list[tuple[_Key, Path]] = []
    for other, m in managed.entries.items():
        if other != key:
            conflicts.extend((other, p) for p in m.paths & changed)
    if conflicts and not force:
        return sorted(conflicts, key=lambda c: (c[0], [_element_rank(pe) for pe in c[1]]))
    _update_managers(managed, comparison, skip=key, take=changed)
    entry = managed.entries[key]
    if merged != live_obj or previous is None or previous.paths != applied_set:
        entry.time = now
    _finish(managed, ())
    return merged, managed


def _allowed_by_last_applied(live_obj: dict, node: SchemaNode | None, ignored: tuple[Path, ...]) -> set[Path]:
    """Fields kubectl's client-side apply recorded and that still match the live object."""
    raw = ((live_obj.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED_ANNOTATION)
    if not raw:
        return set()
    try:
        last = json.loads(raw)
    except ValueError:
        return set()
    if not isinstance(last, dict):
        return set()
    fields: set[Path] = set()
    _field_set(last, node, (), fields)
    diff = _Comparison()
    _compare(last, live_obj, node, (), diff)
    differing = diff.modified | diff.removed
    return {p for p in _filtered(fields, ignored)
            if p not in differing and not any(p[:len(d)] == d for d in differing)}


def _last_applied(applied: dict) -> str:
    obj = copy.deepcopy(applied)
    annotations = (obj.get("metadata") or {}).get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(LAST_APPLIED_ANNOTATION, None)
    return _json(obj) + "\n"


def _undeclared(value: Any, node: SchemaNode | None, path: Path) -> Path | None:
    """Path of the first field the schema does not declare, or None."""
    if node is None:
        return None
    kind = _kind(node, value)
    if isinstance(value, dict) and node.kind == "struct":
        props = node.schema.get("properties", {})
        for k, v in value.items():
            if k not in props:
                return path + ("f:" + k,)
            found = _undeclared(v, node.field(k), path + ("f:" + k,))
            if found:
                return found
    elif isinstance(value, dict) and node.kind == "map":
        for k, v in value.items():
            found = _undeclared(v, node.field(k), path + ("f:" + k,))
            if found:
                return found
    elif isinstance(value, list) and node.kind == "array":
        item = node.item()
        for i, v in enumerate(value):
            pe = _item_element(node, kind, v, i) if kind in ("assoc", "set") else f"i:{i}"
            found = _undeclared(v, item, path + (pe,))
            if found:
                return found
    return None


def _gv(api_version: Any) -> str:
    group, _, version = str(api_version or "").rpartition("/")
    return f"{group}/{version}"


def _print_manager(key: _Key) -> str:
    manager, operation, api_version, subresource = key
    out = json.dumps(manager)
    if subresource:
        out += f" with subresource {json.dumps(subresource)}"
    if operation == "Update":
        out += f" using {api_version}"
    return out


def _conflict_error(conflicts: list[tuple[_Key, Path]]) -> ApplyConflict:
    printed = [(_print_manager(k), path_string(p)) for k, p in conflicts]
    if len(printed) == 1:
        m, p = printed[0]
        message = f"Apply failed with 1 conflict: conflict with {m}: {p}"
    else:
        lines: list[str] = []
        seen: list[str] = []
        for m, _ in printed:
            if m not in seen:
                seen.append(m)
        for m in seen:
            lines.append(f"conflicts with {m}:")
            lines.extend(f"- {p}" for mm, p in printed if mm == m)
        message = f"Apply failed with {len(printed)} conflicts: " + "\n".join(lines)
    return ApplyConflict(printed, message)


@lru_cache(maxsize=256)
def manager_from_user_agent(user_agent: str) -> str:
    """Kubernetes' default field manager: the user agent up to the first ``/``,
    printable characters only, at most 128 of them."""
    head = user_agent.split("/", 1)[0]
    out = []
    for ch in head:
        if unicodedata.category(ch)[0] == "C":
            continue
        if len(out) >= 128:
            break
        out.append(ch)
    return "".join(out)


# ----------------------------------------------------------------- HTTP glue
async def handle_apply(store, info, body: bytes, *, manager: str, force: bool,
                       field_validation: str = "Strict", dry_run: bool = False):
    """PATCH with ``application/apply-patch+yaml``: apply over the stored
    object (200) or create it (201). ``store`` is the resource's GenericStore,
    ``info`` the parsed request path. Unknown fields are refused whatever
    ``field_validation`` says, as Kubernetes' typed apply does."""
    from .decoding import parse_body
    from .handlers import _json
    from .store import now_rfc3339

    config = parse_body(body, APPLY_CONTENT_TYPE)
    if not isinstance(config, dict):
        raise PatchError(400, "BadRequest", "error decoding YAML: the apply configuration is not an object")
    res = info.resource
    meta = config.get("metadata") if isinstance(config.get("metadata"), dict) else {}
    if res.namespaced and meta.get("namespace") and meta["namespace"] != info.namespace:
        raise PatchError(400, "BadRequest", "the namespace of the provided object does not match the "
                         "namespace sent on the request")
    if meta.get("name") and meta["name"] != info.name:
        raise PatchError(400, "BadRequest", f"the name of the object ({meta['name']}) does not match the "
                         f"name on the URL ({info.name})")
    kwargs = dict(manager=manager, force=force, definition=res.definition, api_version=res.api_version,
                  subresource=info.subresource)
    for _ in range(3):
        try:
            await store.get(info.namespace, info.name)
        except APIError as e:
            if e.code != 404 or info.subresource:
                raise
            obj = server_side_apply(None, config, now=now_rfc3339(), **kwargs)
            obj.setdefault("metadata", {})["name"] = info.name
            try:
                return _json(await store.create(info.namespace, obj, dry_run=dry_run), 201)
            except APIError as e2:
                if e2.reason != "AlreadyExists":
                    raise
                continue  # raced with a create: apply over it

        def mutate(current: dict) -> dict:
            return server_side_apply(current, config, now=now_rfc3339(), **kwargs)
        return _json(await store.guaranteed_update(info.namespace, info.name, mutate,
                                                   subresource=info.subresource, dry_run=dry_run))
    raise APIError(409, "Conflict", f'Operation cannot be fulfilled on {res.plural} "{info.name}": '
                   "too many concurrent creates")


APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
