"""Kubernetes' own OpenAPI definitions: the single source of type truth.

The definitions come from the ``kubernetes_validate`` package (Kubernetes
v1.32, ``_definitions.json``). They are loaded once, lazily, and compiled on
first use into small ``_Node`` trees that one walker uses to find, in a single
pass over an object:

* unknown fields (what ``fieldValidation=Strict`` rejects and ``Warn`` reports),
  as Kubernetes' strict decoder names them: ``spec.containers[0].foo``;
* values of the wrong JSON type, worded as Go's ``encoding/json`` words them
  (Kubernetes answers such a body with 400 ``BadRequest``), e.g.
  ``json: cannot unmarshal string into Go struct field ContainerPort.spec.containers.ports.containerPort of type int32``.

Limits, documented rather than hidden: Go named string types (``v1.RestartPolicy``)
are reported as ``string``; only the first type error matters to Kubernetes
(Go's decoder keeps the first), but all are returned in document order.
"""

from __future__ import annotations

import base64
import binascii
import importlib.resources
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import orjson

from .quantity import QUANTITY_FORMAT_ERROR, QuantityError, parse_quantity

__all__ = [
    "SCHEMA_VERSION",
    "definitions",
    "definition",
    "resolve",
    "definition_for_kind",
    "SchemaFindings",
    "check",
    "find_unknown_fields",
    "drop_unknown_fields",
    "type_errors",
    "strict_decoding_message",
    "cannot_handle_message",
    "MergeInfo",
    "merge_info",
]

SCHEMA_VERSION = "v1.32.0"
_DEFS_PATH = ("kubernetes-json-schema", "v1.32.0-local", "_definitions.json")
_REF_PREFIX = "#/$defs/"


@cache
def definitions() -> dict[str, dict]:
    """All OpenAPI definitions by name (``io.k8s.api.core.v1.Pod`` ...). Cached; do not mutate."""
    res = importlib.resources.files("kubernetes_validate")
    for part in _DEFS_PATH:
        res = res / part
    return orjson.loads(res.read_bytes())["$defs"]


def definition(name: str) -> dict:
    """One definition by its full name; KeyError if unknown."""
    return definitions()[name]


def resolve(schema: dict) -> dict:
    """Follow ``$ref`` (repeatedly) to the referenced definition; other schemas are returned as is."""
    while "$ref" in schema:
        schema = definitions()[schema["$ref"][len(_REF_PREFIX):]]
    return schema


@cache
def _gvk_index() -> dict[tuple[str, str, str], str]:
    out: dict[tuple[str, str, str], str] = {}
    for name, d in definitions().items():
        for gvk in d.get("x-kubernetes-group-version-kind", ()):
            out.setdefault((gvk["group"], gvk["version"], gvk["kind"]), name)
    return out


def definition_for_kind(group: str, version: str, kind: str) -> str | None:
    """Definition name for a group/version/kind (``("", "v1", "Pod")`` -> ``io.k8s.api.core.v1.Pod``)."""
    return _gvk_index().get((group, version, kind))


# --- compiled nodes ---------------------------------------------------------

_STRUCT, _MAP, _ARRAY, _STRING, _INT, _NUMBER, _BOOL, _INTSTR, _QUANTITY, _ANY, _BYTES = range(11)

_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


class _Node:
    """A compiled schema node. ``props`` for structs, ``item`` for arrays and maps."""

    __slots__ = ("kind", "props", "item", "go_type", "struct", "ext")

    def __init__(self) -> None:
        self.kind = _ANY
        self.props: dict[str, _Node] = {}
        self.item: _Node | None = None
        self.go_type = ""
        self.struct = ""  # Go struct name for structs (PodSpec)
        self.ext: dict[str, Any] = {}  # x-kubernetes-* extensions of the field


def _go_name(def_name: str) -> str:
    parts = def_name.split(".")
    return f"{parts[-2]}.{parts[-1]}"


_by_def: dict[str, _Node] = {}


def _compile_def(name: str) -> _Node:
    node = _by_def.get(name)
    if node is not None:
        return node
    node = _Node()
    _by_def[name] = node  # before filling: definitions are recursive
    d = definitions()[name]
    if name == "io.k8s.apimachinery.pkg.util.intstr.IntOrString":
        node.kind, node.go_type = _INTSTR, "intstr.IntOrString"
    elif name == "io.k8s.apimachinery.pkg.api.resource.Quantity":
        node.kind, node.go_type = _QUANTITY, "resource.Quantity"
    elif "properties" in d:
        node.kind, node.struct = _STRUCT, name.rsplit(".", 1)[-1]
        node.go_type = _go_name(name)
        node.props = {k: _compile(v) for k, v in d["properties"].items()}
    else:
        _fill(node, d)
        if node.kind in (_STRING,) and d.get("format") == "date-time":
            node.go_type = _go_name(name)
    return node


def _compile(s: dict) -> _Node:
    ref = s.get("$ref")
    if ref is not None:
        target = _compile_def(ref[len(_REF_PREFIX):])
        ext = {k: v for k, v in s.items() if k.startswith("x-kubernetes-")}
        if not ext:
            return target
        node = _Node()  # a field-level wrapper carrying the field's own extensions
        for attr in _Node.__slots__:
            setattr(node, attr, getattr(target, attr))
        node.ext = ext
        return node
    node = _Node()
    _fill(node, s)
    return node


def _fill(node: _Node, s: dict) -> None:
    node.ext = {k: v for k, v in s.items() if k.startswith("x-kubernetes-")}
    t = s.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), None)
    if t == "object":
        if "properties" in s:
            node.kind = _STRUCT
            node.props = {k: _compile(v) for k, v in s["properties"].items()}
        elif "additionalProperties" in s and isinstance(s["additionalProperties"], dict):
            node.kind = _MAP
            node.item = _compile(s["additionalProperties"])
            node.go_type = "map[string]" + (node.item.go_type or "interface {}")
        else:
            node.kind = _ANY
    elif t == "array":
        node.kind = _ARRAY
        node.item = _compile(s.get("items", {}))
        node.go_type = "[]" + (node.item.go_type or "interface {}")
    elif t == "string":
        if s.get("format") == "byte":
            node.kind, node.go_type = _BYTES, "[]uint8"
        else:
            node.kind, node.go_type = _STRING, "string"
    elif t == "integer":
        node.kind, node.go_type = _INT, s.get("format") or "int64"
    elif t == "number":
        node.kind, node.go_type = _NUMBER, "float64"
    elif t == "boolean":
        node.kind, node.go_type = _BOOL, "bool"
    else:
        node.kind = _ANY


@cache
def _root(definition_name: str) -> _Node:
    return _compile_def(definition_name)


# --- the walker -------------------------------------------------------------


@dataclass(slots=True)
class SchemaFindings:
    """What one pass found: unknown field paths and Go-style type error messages."""

    unknown_fields: list[str]
    type_errors: list[str]


def _json_kind(v: Any) -> str:
    if isinstance(v, str):
        return "string"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, dict):
        return "object"
    if isinstance(v, list):
        return "array"
    return "value"


def _k8s_path(stack: list) -> str:
    out: list[str] = []
    for seg in stack:
        if isinstance(seg, int):
            out.append(f"[{seg}]")
        elif isinstance(seg, tuple):  # map key
            out.append(f"[{seg[0]}]")
        else:
            out.append("." + seg if out else seg)
    return "".join(out)


class _Walker:
    __slots__ = ("unknown", "types", "drop", "stack", "structs")

    def __init__(self, drop: bool) -> None:
        self.unknown: list[str] = []
        self.types: list[str] = []
        self.drop = drop
        self.stack: list = []  # path segments: str field, int index, (key,) map key
        self.structs: list[str] = []  # enclosing Go struct names

    def type_error(self, value_desc: str, go_type: str) -> None:
        fields = ".".join(s for s in self.stack if isinstance(s, str))
        if self.structs:
            self.types.append(
                f"json: cannot unmarshal {value_desc} into Go struct field "
                f"{self.structs[-1]}.{fields} of type {go_type}"
            )
        else:
            self.types.append(f"json: cannot unmarshal {value_desc} into Go value of type {go_type}")

    def member(self, sub: Any, child: _Node) -> None:
        """A struct field's (non-null) value: the common scalar leaves checked here, the rest walked."""
        ck = child.kind
        if ck == _STRING:
            if type(sub) is not str:
                self.type_error(_json_kind(sub), "string")
        elif ck == _BOOL:
            if type(sub) is not bool:
                self.type_error(_json_kind(sub), "bool")
        elif ck != _ANY:
            self.walk(sub, child)

    def walk(self, v: Any, node: _Node) -> None:
        if v is None:
            return  # Go decodes null into anything as the zero value
        kind = node.kind
        if kind == _STRUCT:
            if type(v) is not dict:
                self.type_error(_json_kind(v), node.go_type or "struct")
                return
            props = node.props
            stack = self.stack
            self.structs.append(node.struct)
            bad: list[str] | None = None
            for k, sub in v.items():
                child = props.get(k)
                stack.append(k)
                if child is None:
                    self.unknown.append(_k8s_path(stack))
                    if self.drop:
                        if bad is None:
                            bad = []
                        bad.append(k)
                elif sub is not None:
                    self.member(sub, child)
                stack.pop()
            self.structs.pop()
            if bad:
                for k in bad:
                    del v[k]
        elif kind == _ARRAY:
            if type(v) is not list:
                self.type_error(_json_kind(v), node.go_type)
                return
            item = node.item
            if item.kind == _STRING:
                for x in v:
                    if x is not None and type(x) is not str:
                        self.type_error(_json_kind(x), "string")
                return
            stack = self.stack
            for i, x in enumerate(v):
                stack.append(i)
                self.walk(x, item)
                stack.pop()
        elif kind == _MAP:
            if type(v) is not dict:
                self.type_error(_json_kind(v), node.go_type)
                return
            item = node.item
            if item.kind == _STRING:
                for x in v.values():
                    if x is not None and type(x) is not str:
                        self.type_error(_json_kind(x), "string")
                return
            stack = self.stack
            for k, x in v.items():
                stack.append((k,))
                self.walk(x, item)
                stack.pop()
        elif kind == _STRING:
            if type(v) is not str:
                self.type_error(_json_kind(v), node.go_type)
        elif kind == _INT:
            if type(v) is int:
                lo, hi = _INT_RANGES.get(node.go_type, _INT_RANGES["int64"])
                if not lo <= v <= hi:
                    self.type_error(f"number {v}", node.go_type)
            elif type(v) is float:
                if v.is_integer():
                    return  # 1.0 reaches us for "1.0"/"1e3"; sigs.k8s.io/json accepts integral floats
                self.type_error(f"number {v!r}", node.go_type)
            else:
                self.type_error(_json_kind(v), node.go_type)
        elif kind == _BOOL:
            if type(v) is not bool:
                self.type_error(_json_kind(v), "bool")
        elif kind == _NUMBER:
            if type(v) not in (int, float):
                self.type_error(_json_kind(v), "float64")
        elif kind == _INTSTR:
            t = type(v)
            if t is str:
                return
            if t is int:
                if not -(2**31) <= v < 2**31:
                    self.type_error(f"number {v}", "int32")
            elif t is float and not v.is_integer():
                self.type_error(f"number {v!r}", "int32")
            elif t is not float:
                self.type_error(_json_kind(v), "int32")
        elif kind == _QUANTITY:
            # Quantity decodes itself: its parse error is the whole message
            if type(v) not in (str, int, float):
                self.types.append(QUANTITY_FORMAT_ERROR)
            elif type(v) is str:
                err = _quantity_error(v)
                if err:
                    self.types.append(err)
        elif kind == _BYTES:
            if type(v) is not str:
                self.type_error(_json_kind(v), "[]uint8")
                return
            try:
                base64.b64decode(v, validate=True)
            except (binascii.Error, ValueError):
                self.types.append(f"illegal base64 data at input byte {_bad_b64_offset(v)}")


@lru_cache(maxsize=4096)
def _quantity_error(s: str) -> str:
    try:
        parse_quantity(s)
    except QuantityError as e:
        return str(e)
    return ""


def _bad_b64_offset(s: str) -> int:
    """Byte offset Go's base64 decoder names for malformed input (first bad char, or the tail)."""
    alphabet = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    b = s.encode()
    for i, c in enumerate(b):
        if c == ord("="):
            return i if (len(b) % 4 != 0 or i < len(b) - 2) else len(b)
        if c not in alphabet:
            return i
    # length not a multiple of 4: Go reports the start of the incomplete quantum
    return len(b) - len(b) % 4


def check(obj: Any, definition_name: str, *, drop_unknown: bool = False) -> SchemaFindings:
    """One pass over ``obj`` against ``definition_name``.

    Returns unknown field paths (Kubernetes strict-decoding form, no leading dot)
    and Go-decoder type error messages, both in document order. With
    ``drop_unknown`` the unknown fields are also deleted from ``obj`` in place.
    """
    w = _Walker(drop_unknown)
    root = _root(definition_name)
    if type(obj) is dict and root.kind == _STRUCT:
        _check_sections(w, obj, root, definition_name)
    else:
        w.walk(obj, root)
    return SchemaFindings(w.unknown, w.types)


# (definition, top-level field, its exact JSON) of sections found clean lately (no
# unknown field, no type error); oldest dropped first. Objects made from one template
# (pods of a controller, a benchmark's pods) repeat their spec byte for byte.
_CLEAN_SECTIONS: dict[tuple[str, str, bytes], None] = {}
_CLEAN_SECTIONS_SIZE = 256
_CLEAN_SECTION_MAX_BYTES = 16384


def _check_sections(w: _Walker, obj: dict, root: _Node, definition_name: str) -> None:
    """The walk of a top-level object, one field at a time, skipping object-valued
    fields (spec, status...) whose exact JSON was clean before: findings come out
    as from :meth:`_Walker.walk`, in the same order."""
    props = root.props
    w.structs.append(root.struct)
    bad: list[str] = []
    for k, sub in obj.items():
        child = props.get(k)
        if child is None or type(sub) is not dict or child.kind != _STRUCT:
            w.stack.append(k)
            if child is None:
                w.unknown.append(_k8s_path(w.stack))
                if w.drop:
                    bad.append(k)
            elif sub is not None:
                w.member(sub, child)
            w.stack.pop()
            continue
        try:
            raw = orjson.dumps(sub, option=orjson.OPT_PASSTHROUGH_DATETIME)
        except TypeError:  # not plain JSON (a YAML timestamp): walked, not remembered
            raw = b""
        key = (definition_name, k, raw)
        if raw and key in _CLEAN_SECTIONS:
            continue
        found = len(w.unknown) + len(w.types)
        w.stack.append(k)
        w.walk(sub, child)
        w.stack.pop()
        if raw and len(raw) <= _CLEAN_SECTION_MAX_BYTES and len(w.unknown) + len(w.types) == found:
            if len(_CLEAN_SECTIONS) >= _CLEAN_SECTIONS_SIZE:
                del _CLEAN_SECTIONS[next(iter(_CLEAN_SECTIONS))]
            _CLEAN_SECTIONS[key] = None
    w.structs.pop()
    for k in bad:
        del obj[k]


def find_unknown_fields(obj: Any, definition_name: str) -> list[str]:
    """Paths of fields the schema does not know, e.g. ``spec.containers[0].foo``."""
    return check(obj, definition_name).unknown_fields


def drop_unknown_fields(obj: Any, definition_name: str) -> list[str]:
    """Delete unknown fields from ``obj`` in place (non-strict decoding); returns their paths."""
    return check(obj, definition_name, drop_unknown=True).unknown_fields


def type_errors(obj: Any, definition_name: str) -> list[str]:
    """Go-decoder messages for values of the wrong JSON type; Kubernetes reports the first."""
    return check(obj, definition_name).type_errors


def strict_decoding_message(unknown_fields: list[str]) -> str:
    """``strict decoding error: unknown field "spec.foo", unknown field "spec.bar"``."""
    return "strict decoding error: " + ", ".join(f'unknown field "{p}"' for p in unknown_fields)


def cannot_handle_message(kind: str, version: str, detail: str) -> str:
    """The 400 message for an undecodable body: ``Pod in version "v1" cannot be handled as a Pod: ...``."""
    return f'{kind} in version "{version}" cannot be handled as a {kind}: {detail}'


# --- strategic merge patch metadata -----------------------------------------


@dataclass(frozen=True, slots=True)
class MergeInfo:
    """How a field merges under strategic merge patch.

    ``strategy`` is ``x-kubernetes-patch-strategy`` (``"merge"``, ``"replace"``,
    ``"retainKeys"``, ``"merge,retainKeys"`` or ``""`` when unset: lists are
    then replaced wholesale, maps merged). ``merge_key`` is
    ``x-kubernetes-patch-merge-key`` for lists of objects merged by key.
    ``list_type``/``list_map_keys`` are the server-side-apply annotations.
    ``kind`` is one of ``"struct"``, ``"map"``, ``"array"``, ``"scalar"``, ``"any"``.
    """

    kind: str
    strategy: str = ""
    merge_key: str | None = None
    list_type: str | None = None
    list_map_keys: tuple[str, ...] = ()


_KIND_NAMES = {_STRUCT: "struct", _MAP: "map", _ARRAY: "array", _ANY: "any"}


def _node_at(definition_name: str, path: tuple[str, ...]) -> _Node | None:
    node = _root(definition_name)
    for name in path:
        while node.kind in (_ARRAY, _MAP):  # step through list items and map values
            node = node.item
        if node.kind != _STRUCT:
            return None
        node = node.props.get(name)
        if node is None:
            return None
    return node


@cache
def _merge_info(definition_name: str, path: tuple[str, ...]) -> MergeInfo | None:
    node = _node_at(definition_name, path)
    if node is None:
        return None
    ext = node.ext
    return MergeInfo(
        kind=_KIND_NAMES.get(node.kind, "scalar"),
        strategy=ext.get("x-kubernetes-patch-strategy", ""),
        merge_key=ext.get("x-kubernetes-patch-merge-key"),
        list_type=ext.get("x-kubernetes-list-type"),
        list_map_keys=tuple(ext.get("x-kubernetes-list-map-keys", ())),
    )


def merge_info(definition_name: str, path: str | tuple[str, ...] | list[str]) -> MergeInfo | None:
    """Patch metadata of the field at ``path`` under ``definition_name``.

    ``path`` is field names only, dotted or as a sequence; list items and map
    values are stepped through implicitly, so the ports of any container are
    ``"spec.containers.ports"``. ``None`` if the path is not in the schema.

    >>> merge_info("io.k8s.api.core.v1.Pod", "spec.containers").merge_key
    'name'
    """
    if isinstance(path, str):
        path = tuple(p for p in path.split(".") if p)
    return _merge_info(definition_name, tuple(path))
