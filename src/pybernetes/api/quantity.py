"""Kubernetes resource quantities (``100m``, ``1.5Gi``, ``2e3``), exact.

A ``Quantity`` holds its exact value as a ``Fraction`` and the format its
suffix implied (``DecimalSI``, ``BinarySI``, ``DecimalExponent``). Parsing
follows ``resource.ParseQuantity``: values are rounded away from zero to whole
nano-units, and the canonical string is what the apiserver echoes back
(``1.5`` -> ``1500m``, ``1024Mi`` -> ``1Gi``, ``1.5Gi`` -> ``1536Mi``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache, total_ordering

__all__ = [
    "Quantity",
    "QuantityError",
    "parse_quantity",
    "QUANTITY_FORMAT_ERROR",
    "QUANTITY_NUMERIC_ERROR",
    "QUANTITY_SUFFIX_ERROR",
    "DECIMAL_SI",
    "BINARY_SI",
    "DECIMAL_EXPONENT",
]

QUANTITY_REGEX = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
QUANTITY_FORMAT_ERROR = f"quantities must match the regular expression '{QUANTITY_REGEX}'"
QUANTITY_NUMERIC_ERROR = "unable to parse numeric part of quantity"
QUANTITY_SUFFIX_ERROR = "unable to parse quantity's suffix"

DECIMAL_SI = "DecimalSI"
BINARY_SI = "BinarySI"
DECIMAL_EXPONENT = "DecimalExponent"

_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_BY_EXP = {v: k for k, v in _DECIMAL.items()}
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_BINARY_BY_EXP = {v: k for k, v in _BINARY.items()}
_SUFFIX_CHARS = frozenset("eEinumkKMGTP")
_NANO = Fraction(1, 10**9)
_MAX_BINARY = Fraction(2**63 - 1)


class QuantityError(ValueError):
    """A string that is not a quantity; ``str()`` is Kubernetes' message."""


def _split(s: str) -> tuple[str, str]:
    """(numeric value, suffix) as parseQuantityString splits them."""
    end = len(s)
    pos = 0
    if pos < end and s[0] in "+-":
        pos += 1
    while pos < end and s[pos] == "0":
        pos += 1
    if pos >= end:
        return s, ""
    while pos < end and s[pos].isdigit() and s[pos].isascii():
        pos += 1
    if pos < end and s[pos] == ".":
        pos += 1
        while pos < end and s[pos].isdigit() and s[pos].isascii():
            pos += 1
    value = s[:pos]
    start = pos
    while pos < end and s[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and s[pos] in "+-":
        pos += 1
    while pos < end and s[pos].isdigit() and s[pos].isascii():
        pos += 1
    if pos < end:
        raise QuantityError(QUANTITY_FORMAT_ERROR)
    return value, s[start:]


def _interpret(suffix: str) -> tuple[int, int, str] | None:
    """(base, exponent, format) for a suffix, or None."""
    if suffix in _DECIMAL:
        return 10, _DECIMAL[suffix], DECIMAL_SI
    if suffix in _BINARY:
        return 2, _BINARY[suffix], BINARY_SI
    if len(suffix) > 1 and suffix[0] in "eE":
        rest = suffix[1:]
        digits = rest[1:] if rest[0] in "+-" else rest
        if digits.isdigit() and digits.isascii():
            return 10, int(rest), DECIMAL_EXPONENT
    return None


def _to_fraction(value: str) -> Fraction:
    sign = -1 if value.startswith("-") else 1
    body = value.lstrip("+-")
    if not body or body == "." or body.count(".") > 1:
        raise QuantityError(QUANTITY_NUMERIC_ERROR)
    whole, _, frac = body.partition(".")
    n = int(whole or "0") * 10 ** len(frac) + int(frac or "0")
    return sign * Fraction(n, 10 ** len(frac))


@total_ordering
@dataclass(frozen=True, slots=True)
class Quantity:
    """An exact quantity. Compare with ``<``/``==``; ``str()`` is canonical."""

    value: Fraction
    format: str = DECIMAL_SI

    @classmethod
    def parse(cls, s: str | int | float) -> Quantity:
        return parse_quantity(s)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Quantity):
            return self.value == other.value
        return NotImplemented

    def __lt__(self, other: Quantity) -> bool:
        return self.value < other.value

    def __hash__(self) -> int:
        return hash(self.value)

    def __add__(self, other: Quantity) -> Quantity:
        return Quantity(self.value + other.value, self.format)

    def __sub__(self, other: Quantity) -> Quantity:
        return Quantity(self.value - other.value, self.format)

    @property
    def milli_value(self) -> int:
        """Value in thousandths, rounded up (``MilliValue()``)."""
        return math.ceil(self.value * 1000)

    def int_value(self) -> int:
        """Value rounded up to an integer (``Value()``)."""
        return math.ceil(self.value)

    def is_zero(self) -> bool:
        return self.value == 0

    def __str__(self) -> str:
        return self.canonical()

    def canonical(self) -> str:
        """The canonical form Kubernetes serializes."""
        return _canonical(self.value, self.format)


@lru_cache(maxsize=8192)
def _canonical(v: Fraction, fmt: str) -> str:
    if v == 0:
        return "0"
    if fmt == BINARY_SI:
        if -1024 < v < 1024 or v.denominator != 1:
            fmt = DECIMAL_SI
        else:
            n = v.numerator
            sign = "-" if n < 0 else ""
            m, exp = abs(n), 0
            while exp < 60 and m % 1024 == 0:
                m //= 1024
                exp += 10
            return f"{sign}{m}{_BINARY_BY_EXP.get(exp, '')}"
    sign = "-" if v < 0 else ""
    a = abs(v)
    # smallest multiple-of-3 exponent making the mantissa whole, then strip groups of 000
    exp = 0
    while a.denominator != 1:
        a *= 1000
        exp -= 3
    m = a.numerator
    while m % 1000 == 0 and m:
        m //= 1000
        exp += 3
    if fmt == DECIMAL_EXPONENT:
        return f"{sign}{m}" + (f"e{exp}" if exp else "")
    if exp > 18:  # beyond "E": Kubernetes falls back to an exponent
        return f"{sign}{m}e{exp}"
    return f"{sign}{m}{_DECIMAL_BY_EXP[exp]}"


def parse_quantity(s: str | int | float) -> Quantity:
    """Parse like ``resource.ParseQuantity``; raises ``QuantityError`` with Kubernetes' message.

    Results are cached (quantities are immutable and the same few strings recur).
    """
    if isinstance(s, bool):
        raise QuantityError(QUANTITY_FORMAT_ERROR)
    if isinstance(s, int):
        return Quantity(Fraction(s), DECIMAL_SI)
    if isinstance(s, float):
        s = repr(s)
    return _parse_str(s)


@lru_cache(maxsize=8192)
def _parse_str(s: str) -> Quantity:
    s = s.strip()
    if not s:
        raise QuantityError(QUANTITY_FORMAT_ERROR)
    value, suffix = _split(s)
    interp = _interpret(suffix)
    if interp is None:
        raise QuantityError(QUANTITY_SUFFIX_ERROR)
    base, exponent, fmt = interp
    if value in ("", "+", "-") and not s.lstrip("+-").startswith("0"):
        raise QuantityError(QUANTITY_NUMERIC_ERROR)
    amount = _to_fraction(value) if value.strip("+-0") else Fraction(0)
    amount *= Fraction(base) ** exponent
    neg = amount < 0
    a = abs(amount)
    if a and (a / _NANO).denominator != 1:
        a = math.ceil(a / _NANO) * _NANO
    if fmt == BINARY_SI:
        if a > _MAX_BINARY:
            a = _MAX_BINARY
        if 0 < a < 1:
            fmt = DECIMAL_SI
    return Quantity(-a if neg else a, fmt)
