"""Field selectors (``metadata.name=web,status.phase!=Running``).

``parse`` follows apimachinery's ``fields.ParseSelector`` (``=``, ``==``,
``!=``, comma = AND, backslash escapes) and its messages. ``check_supported``
applies a kind's field-label conversion (``field label not supported: foo``).
``matches`` compares against the object's selectable field set, where a
missing field reads as Go's zero value (``""``, ``false``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FieldSelectorError",
    "FieldRequirement",
    "FieldSelector",
    "EVERYTHING",
    "parse",
    "supported_fields",
    "check_supported",
    "selectable_fields",
    "field_value",
    "matches",
]


class FieldSelectorError(ValueError):
    """A bad field selector; ``str()`` is Kubernetes' message."""


@dataclass(frozen=True, slots=True)
class FieldRequirement:
    field: str
    operator: str  # "=" or "!=" ("==" is stored as "=")
    value: str

    def __str__(self) -> str:
        return f"{self.field}{self.operator}{_escape(self.value)}"


@dataclass(frozen=True, slots=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = ()

    def empty(self) -> bool:
        return not self.requirements

    def matches(self, fields: Mapping[str, str]) -> bool:
        """Match against a selectable field set (missing fields read as ``""``)."""
        for r in self.requirements:
            eq = fields.get(r.field, "") == r.value
            if eq != (r.operator == "="):
                return False
        return True

    def requires_exact_match(self, field: str) -> str | None:
        for r in self.requirements:
            if r.field == field and r.operator == "=":
                return r.value
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


EVERYTHING = FieldSelector()


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _split_terms(s: str) -> list[str]:
    terms: list[str] = []
    start = 0
    in_slash = False
    for i, c in enumerate(s):
        if in_slash:
            in_slash = False
        elif c == "\\":
            in_slash = True
        elif c == ",":
            terms.append(s[start:i])
            start = i + 1
    terms.append(s[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    for i in range(len(term)):
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op):]
    return None


def _unescape(s: str) -> str:
    if not any(c in s for c in "\\,="):
        return s
    out: list[str] = []
    in_slash = False
    for c in s:
        if in_slash:
            if c in "\\,=":
                out.append(c)
            else:
                raise FieldSelectorError(f"invalid field selector: invalid escape sequence: \\{c}")
            in_slash = False
            continue
        if c == "\\":
            in_slash = True
        elif c in ",=":
            # Go formats the rune with %v: its code point
            raise FieldSelectorError(f"invalid field selector: unescaped character in value: {ord(c)}")
        else:
            out.append(c)
    if in_slash:
        raise FieldSelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def parse(selector: str) -> FieldSelector:
    """Parse a field selector; ``""`` selects everything. Raises ``FieldSelectorError``."""
    if not selector:
        return EVERYTHING
    reqs: list[FieldRequirement] = []
    for part in sorted(_split_terms(selector)):
        if not part:
            continue
        split = _split_term(part)
        if split is None:
            raise FieldSelectorError(f"invalid selector: '{selector}'; can't understand '{part}'")
        lhs, op, rhs = split
        reqs.append(FieldRequirement(lhs, "!=" if op == "!=" else "=", _unescape(rhs)))
    return FieldSelector(tuple(reqs))


# --- selectable fields per kind ---------------------------------------------


def _get(obj: Mapping, *path: str) -> Any:
    cur: Any = obj
    for p in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(p)
    return cur


def _s(obj: Mapping, *path: str) -> str:
    v = _get(obj, *path)
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _b(obj: Mapping, *path: str) -> str:
    return "true" if _get(obj, *path) else "false"


def _pod_ip(obj: Mapping) -> str:
    ips = _get(obj, "status", "podIPs") or []
    if ips and isinstance(ips[0], Mapping) and ips[0].get("ip"):
        return ips[0]["ip"]
    return _s(obj, "status", "podIP")


def _event_source(obj: Mapping) -> str:
    return _s(obj, "source", "component") or _s(obj, "reportingComponent")


Extractor = Callable[[Mapping], str]


def _involved(name: str) -> Extractor:
    return lambda o: _s(o, "involvedObject", name)


_META: dict[str, Extractor] = {
    "metadata.name": lambda o: _s(o, "metadata", "name"),
    "metadata.namespace": lambda o: _s(o, "metadata", "namespace"),
}

# Kinds whose field-label conversion Kubernetes customises. Node and Namespace
# (cluster-scoped) accept metadata.name but not metadata.namespace.
_KIND_FIELDS: dict[str, dict[str, Extractor]] = {
    "Pod": {
        **_META,
        "spec.nodeName": lambda o: _s(o, "spec", "nodeName"),
        "spec.restartPolicy": lambda o: _s(o, "spec", "restartPolicy"),
        "spec.schedulerName": lambda o: _s(o, "spec", "schedulerName"),
        "spec.serviceAccountName": lambda o: _s(o, "spec", "serviceAccountName"),
        "spec.hostNetwork": lambda o: _b(o, "spec", "hostNetwork"),
        "status.phase": lambda o: _s(o, "status", "phase"),
        "status.podIP": _pod_ip,
        "status.nominatedNodeName": lambda o: _s(o, "status", "nominatedNodeName"),
    },
    "Event": {
        **_META,
        **{
            f"involvedObject.{f}": _involved(f)
            for f in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
        },
        "reason": lambda o: _s(o, "reason"),
        "reportingComponent": lambda o: _s(o, "reportingComponent"),
        "source": _event_source,
        "type": lambda o: _s(o, "type"),
    },
    "Node": {
        "metadata.name": _META["metadata.name"],
        "spec.unschedulable": lambda o: _b(o, "spec", "unschedulable"),
    },
    "Namespace": {
        "metadata.name": _META["metadata.name"],
        "status.phase": lambda o: _s(o, "status", "phase"),
    },
    "Secret": {**_META, "type": lambda o: _s(o, "type")},
    "ReplicationController": {**_META, "status.replicas": lambda o: _s(o, "status", "replicas") or "0"},
}


def _fields_for(kind: str) -> dict[str, Extractor]:
    return _KIND_FIELDS.get(kind, _META)


def supported_fields(kind: str) -> list[str]:
    """Field labels a kind supports in field selectors."""
    return list(_fields_for(kind))


def check_supported(selector: FieldSelector, kind: str) -> None:
    """Raise ``FieldSelectorError("field label not supported: X")`` for a field the kind lacks."""
    known = _fields_for(kind)
    for r in selector.requirements:
        if r.field not in known:
            raise FieldSelectorError(f"field label not supported: {r.field}")


def selectable_fields(kind: str, obj: Mapping) -> dict[str, str]:
    """The object's selectable field set (``ToSelectableFields``)."""
    return {name: fn(obj) for name, fn in _fields_for(kind).items()}


def field_value(kind: str, obj: Mapping, field: str) -> str:
    """One selectable field's value (``""`` when absent)."""
    fn = _fields_for(kind).get(field)
    return fn(obj) if fn is not None else ""


def matches(selector: FieldSelector | str, kind: str, obj: Mapping) -> bool:
    """Does the object match? Only the fields the selector names are computed."""
    if isinstance(selector, str):
        selector = parse(selector)
    known = _fields_for(kind)
    for r in selector.requirements:
        fn = known.get(r.field)
        value = fn(obj) if fn is not None else ""
        if (value == r.value) != (r.operator == "="):
            return False
    return True
