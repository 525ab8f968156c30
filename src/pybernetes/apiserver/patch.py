"""PATCH bodies applied to a stored object: JSON patch, JSON merge patch and
strategic merge patch, with Kubernetes' semantics and errors.

Pure functions, no I/O. ``apply_patch`` is the entry point the HTTP layer
calls; it never mutates its arguments and returns the patched object (a new
dict). Failures raise ``PatchError`` (an ``APIError``) carrying the Status
Kubernetes answers with:

* a body that is not JSON, or not the JSON shape the patch type needs
  -> 400 ``BadRequest`` (``error decoding patch: ...`` for JSON and merge
  patches, the bare decoder message for strategic merge patches);
* a JSON patch operation that cannot be applied (failed ``test``, missing
  path, bad index, unknown op) -> 422 ``Invalid`` with the fixed message
  ``the server rejected our request due to an error in our request`` and
  empty details: Kubernetes drops the detail (it is kept here in ``detail``);
* malformed strategic-merge directives (``$retainKeys``,
  ``$setElementOrder/``, ``$deleteFromPrimitiveList/``) -> 400 with
  apimachinery's messages; lists of lists -> 422 as above; any other merge
  failure (missing merge key, unknown ``$patch`` value, ...) -> 500 with no
  reason and the bare error text, which is what the apiserver does with a
  plain Go error;
* strategic merge patch on a kind without a built-in schema (custom
  resources) -> 415, as Kubernetes answers for CRDs.

Strategic merge patch follows apimachinery's ``strategicpatch`` package (read
as a specification): merge keys and strategies come from the
``x-kubernetes-patch-merge-key`` / ``x-kubernetes-patch-strategy`` extensions
of Kubernetes' OpenAPI definitions (``pybernetes.api.schema``). Lists of maps
with strategy ``merge`` merge by key, lists of scalars with ``merge`` form a
set, every other list is replaced; maps merge recursively unless their
strategy is ``replace``; ``null`` deletes; ``$patch: replace|delete`` on maps,
``$patch: replace|delete`` items in merging lists, ``$retainKeys``,
``$setElementOrder/<list>`` and ``$deleteFromPrimitiveList/<list>`` are
honoured. Order of merged lists is Kubernetes': ``$setElementOrder`` first,
then the patch's order, then the live order; patch items new to the server
come before server-only items when no order says otherwise.
"""

from __future__ import annotations

import copy
import functools
import json
from typing import Any

import jsonpatch
import jsonpointer
import orjson

from ..api import schema as api_schema
from .errors import APIError

__all__ = [
    "PatchError",
    "SchemaNode",
    "JSON_PATCH",
    "MERGE_PATCH",
    "STRATEGIC_MERGE_PATCH",
    "APPLY_PATCH",
    "PATCH_CONTENT_TYPES",
    "apply_patch",
    "json_patch",
    "merge_patch",
    "strategic_merge_patch",
]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_CONTENT_TYPES = (JSON_PATCH, MERGE_PATCH, APPLY_PATCH, STRATEGIC_MERGE_PATCH)

# Kubernetes refuses JSON patches with more operations than this (413).
MAX_JSON_PATCH_OPERATIONS = 10000

_INVALID_MESSAGE = "the server rejected our request due to an error in our request"


class PatchError(APIError):
    """A patch that cannot be applied, with the Status Kubernetes answers.

    ``code``/``reason``/``message`` are what goes on the wire (``str(e)`` is
    the message); ``detail`` is the underlying cause when the wire message is
    generic. The 422 answers keep Kubernetes' empty ``"details":{}``.
    """

    def __init__(self, code: int, reason: str, message: str, *, detail: str = "",
                 empty_details: bool = False):
        super().__init__(code, reason, message)
        self.detail = detail or message
        self._empty_details = empty_details

    def status(self) -> dict:
        body = super().status()
        if self._empty_details and "details" not in body:
            code = body.pop("code")
            body["details"] = {}
            body["code"] = code
        return body


def _bad_request(message: str) -> PatchError:
    return PatchError(400, "BadRequest", message)


def _unprocessable(detail: str) -> PatchError:
    # apiserver: NewGenericServerResponse(422, ...) keeps only a fixed message.
    return PatchError(422, "Invalid", _INVALID_MESSAGE, detail=detail, empty_details=True)


def _plain_error(message: str) -> PatchError:
    # A plain Go error reaching the apiserver's error writer: 500, no reason.
    return PatchError(500, "", message)


def _unsupported_media_type() -> PatchError:
    return PatchError(415, "UnsupportedMediaType",
                      "the body of the request was in an unknown format - accepted media types include: "
                      "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")


# ---------------------------------------------------------------- entry point
def apply_patch(content_type: str, original: dict, patch_body: bytes | str, *, definition: str) -> dict:
    """Apply a PATCH body of ``content_type`` to ``original``; return the new object.

    ``definition`` is the OpenAPI definition name of the object's kind (e.g.
    ``io.k8s.api.core.v1.Pod``); only strategic merge patch needs it.
    ``original`` is not modified. Server-side apply (``application/apply-patch+yaml``)
    is not a patch here: see ``apiserver.apply``.
    """
    ct = content_type.split(";", 1)[0].strip().lower()
    if ct == JSON_PATCH:
        return json_patch(original, patch_body)
    if ct == MERGE_PATCH:
        return merge_patch(original, patch_body)
    if ct == STRATEGIC_MERGE_PATCH:
        return strategic_merge_patch(original, patch_body, definition=definition)
    raise PatchError(415, "UnsupportedMediaType",
                     "the body of the request was in an unknown format - accepted media types include: "
                     "application/json-patch+json, application/merge-patch+json, "
                     "application/apply-patch+yaml, application/strategic-merge-patch+json")


# ------------------------------------------------------------- JSON decoding
def _go_type_name(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if value is None:
        return "null"
    return "number"


def _go_syntax_error(text: str) -> str:
    """Go's encoding/json wording for a body that is not JSON (best effort)."""
    if not text.strip():
        return "unexpected end of JSON input"
    try:
        json.loads(text)
    except json.JSONDecodeError as e:
        if e.pos >= len(text.rstrip()):
            return "unexpected end of JSON input"
        ch = text[e.pos]
        context = {
            "Expecting value": "looking for beginning of value",
            "Expecting ':' delimiter": "after object key",
            "Expecting property name enclosed in double quotes": "looking for beginning of object key string",
            "Extra data": "after top-level value",
        }.get(e.msg)
        if context is None and e.msg == "Expecting ',' delimiter":
            context = "after object key:value pair" if _innermost_open(text, e.pos) == "{" else "after array element"
        if context is None:
            context = "looking for beginning of value"
        return f"invalid character {_go_quote_char(ch)} {context}"
    except ValueError as e:  # pragma: no cover - json.loads raises JSONDecodeError
        return str(e)
    return "invalid JSON"  # pragma: no cover - orjson and json disagreed


def _innermost_open(text: str, pos: int) -> str:
    stack: list[str] = []
    in_str = esc = False
    for ch in text[:pos]:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "{[":
            stack.append(ch)
        elif ch in "}]" and stack:
            stack.pop()
    return stack[-1] if stack else ""


def _go_quote_char(ch: str) -> str:
    if ch == "'":
        return "'\\''"
    if ch.isprintable():
        return f"'{ch}'"
    return "'" + ch.encode("unicode_escape").decode() + "'"


def _decode(body: bytes | str) -> Any:
    """Decode a JSON body, raising ``ValueError`` with Go's wording."""
    raw = body.encode() if isinstance(body, str) else bytes(body)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ValueError(_go_syntax_error(raw.decode("utf-8", "replace"))) from None


# ---------------------------------------------------------------- JSON patch
def json_patch(original: dict, patch_body: bytes | str) -> dict:
    """RFC 6902 JSON patch, as Kubernetes applies it.

    Like Kubernetes' json-patch library, ``replace`` of a missing object key
    sets it. Every failing operation yields 422 (the message is fixed; the
    failure is in ``PatchError.detail``).
    """
    try:
        ops = _decode(patch_body)
    except ValueError as e:
        raise _bad_request(f"error decoding patch: {e}") from None
    if not isinstance(ops, list):
        raise _bad_request(f"error decoding patch: json: cannot unmarshal {_go_type_name(ops)} "
                           "into Go value of type []handlers.jsonPatchOp")
    for op in ops:
        if not isinstance(op, dict):
            raise _bad_request(f"error decoding patch: json: cannot unmarshal {_go_type_name(op)} "
                               "into Go value of type handlers.jsonPatchOp")
    if len(ops) > MAX_JSON_PATCH_OPERATIONS:
        raise PatchError(413, "RequestEntityTooLarge",
                         f"Request entity too large: The allowed maximum operations in a JSON patch is "
                         f"{MAX_JSON_PATCH_OPERATIONS}, got {len(ops)}")
    doc: Any = copy.deepcopy(original)
    for op in ops:
        try:
            op = _go_replace_semantics(doc, op)
            doc = jsonpatch.JsonPatch([op]).apply(doc, in_place=True)
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException,
                KeyError, IndexError, TypeError, ValueError) as e:
            raise _unprocessable(_json_patch_detail(op, e)) from None
    if not isinstance(doc, dict):
        raise _unprocessable("patched document is not an object")
    return doc


def _go_replace_semantics(doc: Any, op: dict) -> dict:
    """``replace`` of a missing key in an object behaves as ``add`` in Kubernetes."""
    if op.get("op") != "replace" or not isinstance(op.get("path"), str) or not op["path"]:
        return op
    try:
        parts = jsonpointer.JsonPointer(op["path"]).parts
        parent = jsonpointer.JsonPointer.from_parts(parts[:-1]).resolve(doc)
    except jsonpointer.JsonPointerException:
        return op
    if isinstance(parent, dict) and parts[-1] not in parent:
        return {**op, "op": "add"}
    return op


def _json_patch_detail(op: dict, e: Exception) -> str:
    kind, path = op.get("op"), op.get("path")
    if isinstance(e, jsonpatch.JsonPatchTestFailed):
        return f"testing value {path} failed: test failed"
    if kind not in ("add", "remove", "replace", "move", "copy", "test"):
        return f"Unexpected kind: {kind if kind is not None else 'unknown'}"
    if path is None:
        return "operation missing path field: missing value"
    if kind == "remove":
        return f"error in remove for path: '{path}': missing value"
    return f"{kind} operation does not apply: doc is missing path: {path}: missing value ({e})"


# --------------------------------------------------------- JSON merge patch
def merge_patch(original: dict, patch_body: bytes | str) -> dict:
    """RFC 7386 JSON merge patch: objects merge recursively, ``null`` deletes,
    everything else (lists included) replaces."""
    try:
        patch = _decode(patch_body)
    except ValueError as e:
        raise _bad_request(f"error decoding patch: {e}") from None
    if not isinstance(patch, dict):
        raise _bad_request(f"error decoding patch: json: cannot unmarshal {_go_type_name(patch)} "
                           "into Go value of type map[string]interface {}")
    return _merge_docs(copy.deepcopy(original), patch)


def _merge_docs(doc: dict, patch: dict) -> dict:
    for k, v in patch.items():
        if v is None:
            doc.pop(k, None)
        elif isinstance(v, dict) and isinstance(doc.get(k), dict):
            doc[k] = _merge_docs(doc[k], v)
        else:
            doc[k] = _prune_nulls(copy.deepcopy(v))
    return doc


def _prune_nulls(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _prune_nulls(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [_prune_nulls(x) for x in v]
    return v


# ----------------------------------------------------------- schema lookups
class SchemaNode:
    """One node of Kubernetes' OpenAPI schema, as the merge logic sees it.

    ``kind`` is ``struct`` (has properties), ``map`` (additionalProperties),
    ``array``, ``scalar`` or ``any`` (no usable type). Field-level
    ``x-kubernetes-*`` extensions win over the referenced definition's.
    """

    __slots__ = ("schema", "ext", "name", "_children", "_kind")

    def __init__(self, schema: dict, ext: dict, name: str):
        self.schema = schema
        self.ext = ext
        self.name = name
        # Nodes are shared (for_definition is cached), so a child or the kind
        # is resolved once: the managedFields walk asks for them per value.
        self._children: dict[str | None, SchemaNode | None] = {}
        self._kind: str | None = None

    @classmethod
    def of(cls, raw: dict, name: str = "") -> SchemaNode:
        ext = {k: v for k, v in raw.items() if k.startswith("x-kubernetes-")}
        ref = raw.get("$ref")
        if ref:
            name = ref.rsplit("/", 1)[-1]
        resolved = api_schema.resolve(raw)
        for k, v in resolved.items():
            if k.startswith("x-kubernetes-"):
                ext.setdefault(k, v)
        return cls(resolved, ext, name)

    @classmethod
    def for_definition(cls, definition: str) -> SchemaNode | None:
        return _definition_node(definition)

    @property
    def kind(self) -> str:
        if self._kind is None:
            self._kind = self._compute_kind()
        return self._kind

    def _compute_kind(self) -> str:
        s = self.schema
        t = s.get("type")
        if isinstance(t, list):
            t = next((x for x in t if x != "null"), None)
        if t == "object" or (t is None and "properties" in s):
            if "properties" in s:
                return "struct"
            if isinstance(s.get("additionalProperties"), dict):
                return "map"
            return "any"
        if t == "array":
            return "array"
        if t is None and "oneOf" not in s:
            return "any"
        return "scalar"

    def field(self, key: str) -> SchemaNode | None:
        """Schema of field ``key`` of a struct, or of any value of a map."""
        try:
            return self._children[key]
        except KeyError:
            child = self._children[key] = self._field(key)
            return child

    def _field(self, key: str) -> SchemaNode | None:
        props = self.schema.get("properties")
        if props is not None:
            sub = props.get(key)
            return SchemaNode.of(sub, f"{self.name}.{key}") if sub is not None else None
        extra = self.schema.get("additionalProperties")
        if isinstance(extra, dict):
            return SchemaNode.of(extra, self.name)
        return None

    def item(self) -> SchemaNode | None:
        try:
            return self._children[None]
        except KeyError:
            items = self.schema.get("items")
            child = self._children[None] = SchemaNode.of(items, self.name) if isinstance(items, dict) else None
            return child

    @property
    def patch_strategies(self) -> tuple[str, ...]:
        raw = self.ext.get("x-kubernetes-patch-strategy", "")
        return tuple(s for s in raw.split(",") if s)

    @property
    def patch_strategy(self) -> str:
        """The strategy without ``retainKeys``: ``merge``, ``replace`` or ``""``."""
        rest = [s for s in self.patch_strategies if s != "retainKeys"]
        return rest[0] if rest else ""

    @property
    def merge_key(self) -> str:
        return self.ext.get("x-kubernetes-patch-merge-key", "")

    @property
    def list_type(self) -> str:
        return self.ext.get("x-kubernetes-list-type", "")

    @property
    def list_map_keys(self) -> tuple[str, ...]:
        return tuple(self.ext.get("x-kubernetes-list-map-keys", ()))

    @property
    def map_type(self) -> str:
        return self.ext.get("x-kubernetes-map-type", "")


@functools.cache
def _definition_node(definition: str) -> SchemaNode | None:
    """The shared root node of a definition (its children fill in as used)."""
    if not definition or definition not in api_schema.definitions():
        return None
    return SchemaNode.of({"$ref": f"#/$defs/{definition}"})


def _field(node: SchemaNode | None, key: str) -> SchemaNode | None:
    return node.field(key) if node is not None else None


# ---------------------------------------------------- strategic merge patch
_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_SET_ORDER = "$setElementOrder"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList"

_ERR_PRIMITIVE_LIST = "invalid patch format of primitive list"
_ERR_RETAIN_KEYS = "invalid patch format of retainKeys"
_ERR_SET_ORDER = "invalid patch format of setElementOrder list"
_ERR_LIST_OF_LISTS = "lists of lists are not supported"


def strategic_merge_patch(original: dict, patch_body: bytes | str | dict, *, definition: str) -> dict:
    """Kubernetes' strategic merge patch of ``original`` (not modified) by a
    JSON body (or an already decoded dict) for objects of ``definition``."""
    node = SchemaNode.for_definition(definition)
    if node is None:
        raise _unsupported_media_type()
    if isinstance(patch_body, dict):
        patch = copy.deepcopy(patch_body)
    else:
        try:
            patch = _decode(patch_body)
        except ValueError as e:
            raise _bad_request(str(e)) from None
    if not isinstance(patch, dict):
        raise _bad_request(f"json: cannot unmarshal {_go_type_name(patch)} into Go value of type "
                           "map[string]interface {}")
    return _merge_map(copy.deepcopy(original), patch, node)


def _merge_map(original: dict, patch: dict, node: SchemaNode | None) -> dict:
    if _DIRECTIVE in patch:
        directive = patch[_DIRECTIVE]
        if directive == "replace":
            del patch[_DIRECTIVE]
            return _clean(patch)
        if directive == "delete":
            return {}
        raise _plain_error(f"unknown patch type: {_gofmt(directive)} in map: {_gofmt(patch)}")

    _apply_retain_keys(original, patch)
    _merge_set_element_order(original, patch, node)

    for key, pv in list(patch.items()):
        is_delete_list = False
        if key.startswith(_DELETE_PRIMITIVE):
            key = _extract_key(key, _DELETE_PRIMITIVE, _ERR_PRIMITIVE_LIST)
            is_delete_list = True
        if pv is None:
            original.pop(key, None)
            continue
        ov = original.get(key, _MISSING)
        if ov is _MISSING or _shape(ov) != _shape(pv):
            if not is_delete_list:
                value, keep = _remove_directives(_discard_nulls(pv))
                if keep:
                    original[key] = value
                else:
                    original.pop(key, None)
            continue
        sub = _field(node, key)
        strategy = sub.patch_strategy if sub is not None else ""
        if isinstance(ov, dict):
            original[key] = pv if strategy == "replace" else _merge_map(ov, pv, sub)
        elif isinstance(ov, list):
            if strategy == "merge" or is_delete_list:  # deletion lists apply whatever the strategy
                original[key] = _merge_slice(ov, pv, sub.item() if sub else None, sub.merge_key if sub else "",
                                             is_delete_list=is_delete_list, name=sub.name if sub else key)
            else:
                original[key] = pv
        else:
            original[key] = pv
    return original


_MISSING = object()


def _shape(v: Any) -> str:
    if isinstance(v, dict):
        return "map"
    if isinstance(v, list):
        return "list"
    return "scalar"


def _extract_key(key: str, prefix: str, error: str) -> str:
    head, sep, rest = key.partition("/")
    if not sep or head != prefix:
        raise _bad_request(error)
    return rest


def _apply_retain_keys(original: dict, patch: dict) -> None:
    if _RETAIN_KEYS not in patch:
        return
    retain = patch.pop(_RETAIN_KEYS)
    if not isinstance(retain, list):
        raise _bad_request(_ERR_RETAIN_KEYS)
    keep = {k for k in retain if isinstance(k, str)}
    for k, v in patch.items():
        if v is None or k.startswith(_DELETE_PRIMITIVE) or k.startswith(_SET_ORDER):
            continue
        if k not in keep:
            raise _bad_request(_ERR_RETAIN_KEYS)
    for k in list(original):
        if k not in keep:
            del original[k]


def _merge_set_element_order(original: dict, patch: dict, node: SchemaNode | None) -> None:
    for key in [k for k in patch if k.startswith(_SET_ORDER)]:
        order = patch.pop(key)
        if not isinstance(order, list):
            raise _plain_error(f"expected a []interface {{}}, but received a {_go_typeof(order)}")
        list_key = _extract_key(key, _SET_ORDER, _ERR_SET_ORDER)
        has_orig, has_patch = list_key in original, list_key in patch
        orig_list, patch_list = original.get(list_key), patch.get(list_key)
        if has_orig and not isinstance(orig_list, list):
            raise _plain_error(f"expected a []interface {{}}, but received a {_go_typeof(orig_list)}")
        if has_patch and not isinstance(patch_list, list):
            raise _plain_error(f"expected a []interface {{}}, but received a {_go_typeof(patch_list)}")
        sub = _field(node, list_key)
        merge_key = sub.merge_key if sub is not None else ""
        strategy = sub.patch_strategy if sub is not None else ""
        _validate_patch_with_set_order(patch_list or [], order, merge_key)
        if has_orig and not has_patch:
            merged = orig_list
        elif has_patch and not has_orig:
            merged = _clean(patch_list)
        elif has_orig and has_patch:
            if strategy == "merge":
                merged = _merge_slice(orig_list, patch_list, sub.item() if sub else None, merge_key,
                                      is_delete_list=False, name=sub.name if sub else list_key)
            else:
                merged = patch_list
        else:
            continue
        kind = _elem_kind(orig_list or [], patch_list or [], allow_empty=True)
        if kind is None:
            original[list_key] = merged
            patch.pop(list_key, None)
            continue
        is_map = kind == "map"
        if merge_key:
            patch_items, server_only = _partition_maps(merged, order, merge_key)
        else:
            patch_items, server_only = _partition_primitives(merged, order)
        original[list_key] = _normalize_element_order(patch_items, server_only, order, orig_list or [],
                                                       merge_key, is_map)
        patch.pop(list_key, None)


def _validate_patch_with_set_order(patch_list: list, order: list, merge_key: str) -> None:
    if not order or not patch_list:
        return
    if merge_key:
        non_delete, _ = _extract_to_delete(patch_list)
    else:
        non_delete = patch_list
    pi = si = 0
    while pi < len(non_delete) and si < len(order):
        item = non_delete[pi]
        if isinstance(item, dict) and _DIRECTIVE in item:
            pi += 1
            continue
        if _merge_key_value_equal(item, order[si], merge_key):
            pi += 1
        si += 1
    if pi < len(non_delete) and si >= len(order):
        raise _plain_error(f"The order in patch list:\n{_gofmt(patch_list)}\n doesn't match "
                           f"{_SET_ORDER} list:\n{_gofmt(order)}\n")


def _merge_key_value_equal(left: Any, right: Any, merge_key: str) -> bool:
    if not merge_key:
        return _eq(left, right)
    if not isinstance(left, dict):
        raise _plain_error(f"expected a map[string]interface {{}}, but received a {_go_typeof(left)}")
    if not isinstance(right, dict):
        raise _plain_error(f"expected a map[string]interface {{}}, but received a {_go_typeof(right)}")
    for m in (left, right):
        if merge_key not in m:
            raise _no_merge_key(m, merge_key)
    return _eq(left[merge_key], right[merge_key])


def _merge_slice(original: list, patch: list, item: SchemaNode | None, merge_key: str, *,
                 is_delete_list: bool, name: str) -> list:
    if not original and not patch:
        return original
    kind = _elem_kind(original, patch)
    if kind != "map":
        if is_delete_list:
            return [x for x in original if not any(_eq(x, d) for d in patch)]
        merged = _dedup(original + patch)
    else:
        if not merge_key:
            raise _plain_error(f"cannot merge lists without merge key for {name}")
        original, patch = _merge_special_elements(original, patch, merge_key)
        merged = _merge_plain_elements(list(original), patch, merge_key, item)
    if merge_key:
        patch_items, server_only = _partition_maps(merged, patch, merge_key)
    else:
        patch_items, server_only = _partition_primitives(merged, patch)
    return _normalize_element_order(patch_items, server_only, patch, original, merge_key, kind == "map")


def _merge_special_elements(original: list, patch: list, merge_key: str) -> tuple[list, list]:
    plain: list = []
    replace = False
    for v in patch:
        directive = v.get(_DIRECTIVE, _MISSING)
        if directive is _MISSING:
            plain.append(v)
        elif directive == "delete":
            if merge_key not in v:
                raise _no_merge_key(v, merge_key)
            original = [o for o in original
                        if not (isinstance(o, dict) and merge_key in o and _eq(o[merge_key], v[merge_key]))]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise _plain_error("merging lists cannot yet be specified in the patch")
        else:
            raise _plain_error(f"unknown patch type: {_gofmt(directive)} in map: {_gofmt(v)}")
    if replace:
        return [_clean(v) for v in plain], []
    return original, plain


def _merge_plain_elements(original: list, patch: list, merge_key: str, item: SchemaNode | None) -> list:
    for v in patch:
        if merge_key not in v:
            raise _no_merge_key(v, merge_key)
        for i, o in enumerate(original):
            if not isinstance(o, dict):
                raise _plain_error(f"value for key {i} is not a map.")
            if merge_key in o and _eq(o[merge_key], v[merge_key]):
                original[i] = _merge_map(o, v, item)
                break
        else:
            original.append(_clean(v))
    return original


def _partition_primitives(items: list, by: list) -> tuple[list, list]:
    inside, outside = [], []
    for v in items:
        (inside if any(_eq(v, b) for b in by) else outside).append(v)
    return inside, outside


def _partition_maps(items: list, by: list, merge_key: str) -> tuple[list, list]:
    inside, outside = [], []
    for v in items:
        if not isinstance(v, dict):
            raise _plain_error(f"expected a map[string]interface {{}}, but received a {_go_typeof(v)}")
        if merge_key not in v:
            raise _no_merge_key(v, merge_key)
        found = any(isinstance(b, dict) and merge_key in b and _eq(b[merge_key], v[merge_key]) for b in by)
        (inside if found else outside).append(v)
    return inside, outside


def _normalize_element_order(patch_items: list, server_only: list, patch_order: list, server_order: list,
                             merge_key: str, is_map: bool) -> list:
    patch_items = _normalize_slice_order(patch_items, patch_order, merge_key, is_map)
    server_only = _normalize_slice_order(server_only, server_order, merge_key, is_map)
    return _merge_sorted(server_only, patch_items, server_order, merge_key, is_map)


def _normalize_slice_order(to_sort: list, order: list, merge_key: str, is_map: bool) -> list:
    to_delete: list = []
    if is_map:
        for lst in (to_sort, order):
            for m in lst:
                if not isinstance(m, dict):
                    raise _plain_error(f"expected a map[string]interface {{}}, but received a {_go_typeof(m)}")
                if merge_key not in m:
                    raise _no_merge_key(m, merge_key)
        to_sort, to_delete = _extract_to_delete(to_sort)
    big = len(order)

    def position(v: Any) -> int:
        i = _index(order, v, merge_key, is_map)
        return i if i >= 0 else big

    return sorted(to_sort, key=position) + to_delete


def _merge_sorted(left: list, right: list, server_order: list, merge_key: str, is_map: bool) -> list:
    """Interleave server-only items (``left``) and patch items (``right``),
    keeping each side's order; a patch item unknown to the server goes first."""
    out: list = []
    i = j = 0
    while i < len(left) or j < len(right):
        if i >= len(left):
            out.append(right[j])
            j += 1
        elif j >= len(right):
            out.append(left[i])
            i += 1
        else:
            li = _index(server_order, left[i], merge_key, is_map)
            ri = _index(server_order, right[j], merge_key, is_map)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out


def _index(items: list, value: Any, merge_key: str, is_map: bool) -> int:
    if is_map:
        want = value.get(merge_key) if isinstance(value, dict) else None
        for i, v in enumerate(items):
            if _eq(v.get(merge_key) if isinstance(v, dict) else None, want):
                return i
        return -1
    for i, v in enumerate(items):
        if _eq(v, value):
            return i
    return -1


def _extract_to_delete(items: list) -> tuple[list, list]:
    keep, delete = [], []
    for v in items:
        if not isinstance(v, dict):
            raise _plain_error(f"expected a map[string]interface {{}}, but received a {_go_typeof(v)}")
        (delete if v.get(_DIRECTIVE) == "delete" else keep).append(v)
    return keep, delete


def _elem_kind(*lists: list, allow_empty: bool = False) -> str | None:
    """The common element type of lists: ``map``, or a Go-ish scalar type name."""
    kind: str | None = None
    for lst in lists:
        for v in lst:
            k = _go_typeof(v)
            if kind is None:
                if isinstance(v, list):
                    raise _unprocessable(_ERR_LIST_OF_LISTS)
                kind = k
            elif k != kind:
                raise _plain_error(f"list element types are not identical: {_gofmt(list(lists))}")
    if kind is None and not allow_empty:
        raise _plain_error("no elements in any of the given slices")
    if kind == "map[string]interface {}":
        return "map"
    return kind


def _dedup(items: list) -> list:
    out: list = []
    for v in items:
        if not any(_eq(v, o) for o in out):
            out.append(v)
    return out


def _eq(a: Any, b: Any) -> bool:
    # Go compares interface values by dynamic type: true != 1, "1" != 1.
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def _discard_nulls(v: Any) -> Any:
    if isinstance(v, dict):
        for k in [k for k, x in v.items() if x is None]:
            del v[k]
        for x in v.values():
            _discard_nulls(x)
    elif isinstance(v, list):
        for x in v:
            _discard_nulls(x)
    return v


def _remove_directives(v: Any) -> tuple[Any, bool]:
    """Strip patch directives from a value that is taken as is (a new field or
    item); a map that is itself a directive (``{"$patch": ...}``) is dropped."""
    if isinstance(v, dict):
        if _DIRECTIVE in v:
            return None, False
        out = {}
        for k, x in v.items():
            if k == _RETAIN_KEYS or k.startswith(_SET_ORDER) or k.startswith(_DELETE_PRIMITIVE):
                continue
            x, keep = _remove_directives(x)
            if keep:
                out[k] = x
        return out, True
    if isinstance(v, list):
        out_list = []
        for x in v:
            x, keep = _remove_directives(x)
            if keep:
                out_list.append(x)
        return out_list, True
    return v, True


def _clean(v: Any) -> Any:
    value, _ = _remove_directives(_discard_nulls(v))
    return value


def _no_merge_key(m: Any, key: str) -> PatchError:
    return _plain_error(f"map: {_gofmt(m)} does not contain declared merge key: {key}")


def _go_typeof(v: Any) -> str:
    if isinstance(v, dict):
        return "map[string]interface {}"
    if isinstance(v, list):
        return "[]interface {}"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int64"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    return "<nil>"


def _gofmt(v: Any) -> str:
    """Go's ``%v`` of a decoded JSON value (maps print with sorted keys)."""
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{_gofmt(v[k])}" for k in sorted(v)) + "]"
    if isinstance(v, list):
        return "[" + " ".join(_gofmt(x) for x in v) + "]"
    return str(v)
