"""Field-level validation errors worded exactly as Kubernetes words them.

``FieldError`` mirrors apimachinery's ``field.Error``: ``message()`` is
``Error()`` (``spec.containers[0].name: Required value``) and ``body()`` is
``ErrorBody()`` (the message without the field, used in Status causes).
``invalid_message`` and ``causes`` build the 422 ``Invalid`` Status parts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FieldError",
    "OMIT",
    "REQUIRED",
    "INVALID",
    "NOT_SUPPORTED",
    "DUPLICATE",
    "FORBIDDEN",
    "TOO_LONG",
    "TOO_MANY",
    "NOT_FOUND",
    "TYPE_INVALID",
    "INTERNAL",
    "required",
    "invalid",
    "not_supported",
    "duplicate",
    "forbidden",
    "too_long",
    "too_many",
    "not_found",
    "type_invalid",
    "internal_error",
    "go_quote",
    "invalid_message",
    "causes",
    "aggregate",
    "qualified_kind",
]

REQUIRED = "FieldValueRequired"
INVALID = "FieldValueInvalid"
NOT_SUPPORTED = "FieldValueNotSupported"
DUPLICATE = "FieldValueDuplicate"
FORBIDDEN = "FieldValueForbidden"
TOO_LONG = "FieldValueTooLong"
TOO_MANY = "FieldValueTooMany"
NOT_FOUND = "FieldValueNotFound"
TYPE_INVALID = "FieldValueTypeInvalid"
INTERNAL = "InternalError"

_TYPE_TEXT = {
    NOT_FOUND: "Not found",
    REQUIRED: "Required value",
    DUPLICATE: "Duplicate value",
    INVALID: "Invalid value",
    NOT_SUPPORTED: "Unsupported value",
    FORBIDDEN: "Forbidden",
    TOO_LONG: "Too long",
    TOO_MANY: "Too many",
    INTERNAL: "Internal error",
    TYPE_INVALID: "Invalid value",
}
_NO_VALUE = frozenset({REQUIRED, FORBIDDEN, TOO_LONG, INTERNAL})


class _Omit:
    """Sentinel: the bad value is not shown (``field.OmitValueType``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "OMIT"


OMIT: Any = _Omit()


def go_quote(s: str) -> str:
    """Go's ``%q`` / ``strconv.Quote`` for a string."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\a":
            out.append("\\a")
        elif ch == "\b":
            out.append("\\b")
        elif ch == "\f":
            out.append("\\f")
        elif ch == "\v":
            out.append("\\v")
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif not ch.isprintable() and o > 0x7F:
            out.append(f"\\u{o:04x}" if o <= 0xFFFF else f"\\U{o:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _go_float(v: float) -> str:
    """Go's ``%v`` for a float64 (``strconv.FormatFloat(v, 'g', -1, 64)`` with Go's exponent style)."""
    if v != v:
        return "NaN"
    if v in (float("inf"), float("-inf")):
        return "+Inf" if v > 0 else "-Inf"
    r = repr(v)
    if r.endswith(".0"):
        r = r[:-2]
    exp = abs(v) >= 1e21 or (v != 0 and abs(v) < 1e-4)
    if exp:
        mant, _, e = f"{v:e}".partition("e")
        mant = repr(float(mant)).removesuffix(".0")
        # shortest mantissa that round-trips
        for digits in range(1, 18):
            m = f"{v:.{digits - 1}e}"
            if float(m) == v:
                mant, _, e = m.partition("e")
                if "." in mant:
                    mant = mant.rstrip("0").rstrip(".")
                break
        sign = e[0]
        num = e[1:].lstrip("0").rjust(2, "0")
        return f"{mant}e{sign}{num}"
    return r


def _format_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _go_float(v)
    if isinstance(v, str):
        return go_quote(v)
    if v is None:
        return "null"
    try:  # complex values: Go marshals them to compact JSON (maps with sorted keys)
        return json.dumps(v, separators=(",", ":"), sort_keys=isinstance(v, dict), ensure_ascii=False)
    except (TypeError, ValueError):
        return str(v)


@dataclass(frozen=True, slots=True)
class FieldError:
    """One field error. ``type`` is a Kubernetes ErrorType (``FieldValueRequired`` ...)."""

    type: str
    field: str
    bad_value: Any = ""
    detail: str = ""

    def body(self) -> str:
        """``ErrorBody()``: the message without the field path."""
        t = self.type
        text = _TYPE_TEXT.get(t)
        if text is None:
            s = f"Internal error: unhandled error code: {t}: please report this"
        elif t in _NO_VALUE or self.bad_value is OMIT:
            s = text
        else:
            s = f"{text}: {_format_value(self.bad_value)}"
        if self.detail:
            s += f": {self.detail}"
        return s

    def message(self) -> str:
        """``Error()``: ``<field>: <body>``."""
        return f"{self.field}: {self.body()}"

    def __str__(self) -> str:
        return self.message()

    def cause(self) -> dict:
        """The Status ``details.causes`` entry for this error."""
        return {"reason": self.type, "message": self.body(), "field": self.field}


def required(field: str, detail: str = "") -> FieldError:
    return FieldError(REQUIRED, field, "", detail)


def invalid(field: str, value: Any, detail: str = "") -> FieldError:
    return FieldError(INVALID, field, value, detail)


def not_supported(field: str, value: Any, valid: Iterable[Any] = ()) -> FieldError:
    valid = list(valid)
    detail = "supported values: " + ", ".join(go_quote(str(v)) for v in valid) if valid else ""
    return FieldError(NOT_SUPPORTED, field, value, detail)


def duplicate(field: str, value: Any) -> FieldError:
    return FieldError(DUPLICATE, field, value, "")


def forbidden(field: str, detail: str) -> FieldError:
    return FieldError(FORBIDDEN, field, "", detail)


def too_long(field: str, max_length: int) -> FieldError:
    if max_length >= 0:
        detail = f"may not be more than {max_length} {'byte' if max_length == 1 else 'bytes'}"
    else:
        detail = "value is too long"
    return FieldError(TOO_LONG, field, "<value omitted>", detail)


def too_many(field: str, actual: int, max_quantity: int) -> FieldError:
    if max_quantity >= 0:
        detail = f"must have at most {max_quantity} {'item' if max_quantity == 1 else 'items'}"
    else:
        detail = "has too many items"
    return FieldError(TOO_MANY, field, actual if actual >= 0 else OMIT, detail)


def not_found(field: str, value: Any) -> FieldError:
    return FieldError(NOT_FOUND, field, value, "")


def type_invalid(field: str, value: Any, detail: str) -> FieldError:
    return FieldError(TYPE_INVALID, field, value, detail)


def internal_error(field: str, err: str) -> FieldError:
    return FieldError(INTERNAL, field, err, err)


def aggregate(messages: Sequence[str]) -> str:
    """utilerrors' Aggregate text: one message as is, several deduplicated in ``[a, b]``."""
    seen: list[str] = []
    for m in messages:
        if m not in seen:
            seen.append(m)
    if not seen:
        return ""
    if len(seen) == 1:
        return seen[0]
    return "[" + ", ".join(seen) + "]"


def qualified_kind(kind: str, group: str = "") -> str:
    """GroupKind.String(): ``Pod`` or ``Lease.coordination.k8s.io``."""
    return f"{kind}.{group}" if group else kind


def invalid_message(kind: str, name: str, errors: Sequence[FieldError], group: str = "") -> str:
    """The 422 Status message: ``Pod "web" is invalid: spec.containers: Required value``."""
    head = f"{qualified_kind(kind, group)} {go_quote(name)} is invalid"
    if not errors:
        return head
    return f"{head}: {aggregate([e.message() for e in errors])}"


def causes(errors: Sequence[FieldError]) -> list[dict]:
    """Status ``details.causes``: one ``{"reason", "message", "field"}`` per error (not deduplicated)."""
    return [e.cause() for e in errors]
