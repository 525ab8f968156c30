"""Label selectors: parse once, match fast, fail with Kubernetes' messages.

``parse("app=web,tier in (fe,be),!canary")`` follows apimachinery's
``labels.Parse`` (same grammar, same error strings); ``from_label_selector``
converts a ``LabelSelector`` object (``matchLabels``/``matchExpressions``) like
``metav1.LabelSelectorAsSelector``. Both give a ``Selector`` whose
``matches(labels)`` is a tight loop over pre-built requirements.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .field_errors import FieldError, aggregate, invalid, not_supported
from .names import is_qualified_name, is_valid_label_value

__all__ = [
    "SelectorError",
    "Requirement",
    "Selector",
    "EVERYTHING",
    "NOTHING",
    "parse",
    "from_set",
    "from_label_selector",
    "matches",
    "new_requirement",
]

IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS = "in", "notin", "=", "==", "!="
EXISTS, DOES_NOT_EXIST, GT, LT = "exists", "!", "gt", "lt"
_BINARY_OPS = (IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, GT, LT)
_VALID_OPS = (*_BINARY_OPS, EXISTS, DOES_NOT_EXIST)


class SelectorError(ValueError):
    """A selector that does not parse; ``str()`` is Kubernetes' message."""


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        if op in (IN, EQUALS, DOUBLE_EQUALS):
            v = labels.get(self.key)
            return v is not None and v in self.values
        if op in (NOT_IN, NOT_EQUALS):
            v = labels.get(self.key)
            return v is None or v not in self.values
        if op == EXISTS:
            return self.key in labels
        if op == DOES_NOT_EXIST:
            return self.key not in labels
        if op in (GT, LT):
            v = labels.get(self.key)
            if v is None or len(self.values) != 1:
                return False
            try:
                lv, rv = _parse_int64(v), _parse_int64(self.values[0])
            except ValueError:
                return False
            return lv > rv if op == GT else lv < rv
        return False

    def __str__(self) -> str:
        op = self.operator
        if op == EXISTS:
            return self.key
        if op == DOES_NOT_EXIST:
            return "!" + self.key
        vals = self.values[0] if len(self.values) == 1 else ",".join(sorted(self.values))
        if op in (IN, NOT_IN):
            return f"{self.key} {op} ({vals})"
        sym = {GT: ">", LT: "<"}.get(op, op)
        return f"{self.key}{sym}{vals}"


def _parse_int64(s: str) -> int:
    s2 = s[1:] if s[:1] in "+-" else s
    if not s2.isdigit() or not s2.isascii():
        raise ValueError(s)
    n = int(s)
    if not -(2**63) <= n < 2**63:
        raise ValueError(s)
    return n


@dataclass(frozen=True, slots=True)
class Selector:
    """AND of requirements, sorted by key. ``nothing`` selects no object at all."""

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.nothing:
            return False
        if labels is None:
            labels = {}
        return all(r.matches(labels) for r in self.requirements)

    def empty(self) -> bool:
        """True when the selector does not restrict anything (``Everything()``)."""
        return not self.nothing and not self.requirements

    def requires_exact_match(self, key: str) -> str | None:
        """The single value ``key`` must have, if the selector pins it (for indexes)."""
        for r in self.requirements:
            if r.key == key:
                if r.operator in (EQUALS, DOUBLE_EQUALS, IN) and len(r.values) == 1:
                    return r.values[0]
                return None
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


EVERYTHING = Selector()
NOTHING = Selector(nothing=True)


def _path_str(path: str | None) -> str:
    return "<nil>" if path is None else path


def _child(path: str | None, name: str) -> str:
    return name if path is None else f"{path}.{name}"


def _validate_key(key: str, path: str | None) -> FieldError | None:
    errs = is_qualified_name(key)
    if errs:
        return invalid(_path_str(path), key, "; ".join(errs))
    return None


def new_requirement(key: str, op: str, values: Iterable[str], *, path: str | None = None) -> Requirement:
    """``labels.NewRequirement``: validate and build; raises SelectorError (aggregated field errors)."""
    vals = list(values)
    errs: list[FieldError] = []
    e = _validate_key(key, _child(path, "key"))
    if e:
        errs.append(e)
    vpath = _child(path, "values")
    if op in (IN, NOT_IN):
        if not vals:
            # Go shows the nil slice it was handed as null
            errs.append(invalid(vpath, None, "for 'in', 'notin' operators, values set can't be empty"))
    elif op in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS):
        if len(vals) != 1:
            errs.append(invalid(vpath, vals, "exact-match compatibility requires one single value"))
    elif op in (EXISTS, DOES_NOT_EXIST):
        if vals:
            errs.append(invalid(vpath, vals, "values set must be empty for exists and does not exist"))
    elif op in (GT, LT):
        if len(vals) != 1:
            errs.append(invalid(vpath, vals, "for 'Gt', 'Lt' operators, exactly one value is required"))
        for i, v in enumerate(vals):
            try:
                _parse_int64(v)
            except ValueError:
                errs.append(invalid(f"{vpath}[{i}]", v, "for 'Gt', 'Lt' operators, the value must be an integer"))
    else:
        errs.append(not_supported(_child(path, "operator"), op, _VALID_OPS))
    for i, v in enumerate(vals):
        problems = is_valid_label_value(v)
        if problems:
            errs.append(invalid(f"{vpath}[{i}][{key}]", v, "; ".join(problems)))
    if errs:
        raise SelectorError(aggregate([x.message() for x in errs]))
    return Requirement(key, op, tuple(vals))


# --- the lexer and parser ---------------------------------------------------

_ERROR, _EOS, _CLOSE, _COMMA, _NOT, _DEQ, _EQ, _GT, _IDENT, _IN, _LT, _NEQ, _NOTIN, _OPEN = range(14)
_TOKENS = {
    ")": _CLOSE, ",": _COMMA, "!": _NOT, "==": _DEQ, "=": _EQ, ">": _GT, "in": _IN,
    "<": _LT, "!=": _NEQ, "notin": _NOTIN, "(": _OPEN,
}
_SPECIAL = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")


def _lex(s: str) -> list[tuple[int, str]]:
    items: list[tuple[int, str]] = []
    pos, end = 0, len(s)
    while True:
        while pos < end and s[pos] in _WHITESPACE:
            pos += 1
        if pos >= end:
            items.append((_EOS, ""))
            return items
        ch = s[pos]
        if ch in _SPECIAL:
            buf = ""
            last: tuple[int, str] | None = None
            while pos < end and s[pos] in _SPECIAL:
                cand = buf + s[pos]
                if cand in _TOKENS:
                    buf = cand
                    last = (_TOKENS[cand], cand)
                    pos += 1
                elif last is not None:
                    break
                else:
                    buf = cand
                    pos += 1
            items.append(last if last is not None else (_ERROR, f"error expected: keyword found '{buf}'"))
        else:
            start = pos
            while pos < end and s[pos] not in _SPECIAL and s[pos] not in _WHITESPACE:
                pos += 1
            lit = s[start:pos]
            items.append((_TOKENS.get(lit, _IDENT), lit))


class _Parser:
    def __init__(self, s: str) -> None:
        self.items = _lex(s)
        self.pos = 0

    def _tok(self, i: int, values: bool) -> tuple[int, str]:
        tok, lit = self.items[i]
        if values and tok in (_IN, _NOTIN):
            tok = _IDENT
        return tok, lit

    def look(self, values: bool = True) -> tuple[int, str]:
        return self._tok(self.pos, values)

    def consume(self, values: bool = True) -> tuple[int, str]:
        self.pos += 1
        return self._tok(self.pos - 1, values)

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            tok, lit = self.look()
            if tok in (_IDENT, _NOT):
                try:
                    reqs.append(self.requirement())
                except SelectorError as e:
                    raise SelectorError(f"unable to parse requirement: {e}") from None
                t, lit2 = self.consume()
                if t == _EOS:
                    return reqs
                if t == _COMMA:
                    t2, l2 = self.look()
                    if t2 not in (_IDENT, _NOT):
                        raise SelectorError(f"found '{l2}', expected: identifier after ','")
                else:
                    raise SelectorError(f"found '{lit2}', expected: ',' or 'end of string'")
            elif tok == _EOS:
                return reqs
            else:
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def requirement(self) -> Requirement:
        op = None
        tok, lit = self.consume()
        if tok == _NOT:
            op = DOES_NOT_EXIST
            tok, lit = self.consume()
        if tok != _IDENT:
            raise SelectorError(f"found '{lit}', expected: identifier")
        key = lit
        e = _validate_key(key, None)
        if e:
            raise SelectorError(e.message())
        if self.look()[0] in (_EOS, _COMMA) and op != DOES_NOT_EXIST:
            op = EXISTS
        if op in (EXISTS, DOES_NOT_EXIST):
            return new_requirement(key, op, ())
        tok, lit = self.consume(values=False)
        ops = {_IN: IN, _EQ: EQUALS, _DEQ: DOUBLE_EQUALS, _GT: GT, _LT: LT, _NOTIN: NOT_IN, _NEQ: NOT_EQUALS}
        op = ops.get(tok)
        if op is None:
            raise SelectorError(f"found '{lit}', expected: {', '.join(_BINARY_OPS)}")
        values = self.values() if op in (IN, NOT_IN) else self.exact_value()
        return new_requirement(key, op, sorted(values))

    def values(self) -> set[str]:
        tok, lit = self.consume()
        if tok != _OPEN:
            raise SelectorError(f"found '{lit}' expected: '('")
        tok, lit = self.look()
        if tok in (_IDENT, _COMMA):
            s = self.identifiers()
            if self.consume()[0] != _CLOSE:
                raise SelectorError(f"found '{lit}', expected: ')'")
            return s
        if tok == _CLOSE:
            self.consume()
            return {""}
        raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")

    def identifiers(self) -> set[str]:
        s: set[str] = set()
        while True:
            tok, lit = self.consume()
            if tok == _IDENT:
                s.add(lit)
                t2, l2 = self.look()
                if t2 == _COMMA:
                    continue
                if t2 == _CLOSE:
                    return s
                raise SelectorError(f"found '{l2}', expected: ',' or ')'")
            if tok == _COMMA:
                if not s:
                    s.add("")
                t2, _ = self.look()
                if t2 == _CLOSE:
                    s.add("")
                    return s
                if t2 == _COMMA:
                    self.consume()
                    s.add("")
            else:
                raise SelectorError(f"found '{lit}', expected: ',', or identifier")

    def exact_value(self) -> set[str]:
        tok, _ = self.look()
        if tok in (_EOS, _COMMA):
            return {""}
        tok, lit = self.consume()
        if tok == _IDENT:
            return {lit}
        raise SelectorError(f"found '{lit}', expected: identifier")


def parse(selector: str) -> Selector:
    """Parse a label selector string; ``""`` selects everything. Raises ``SelectorError``."""
    if not selector:
        return EVERYTHING
    reqs = _Parser(selector).parse()
    reqs.sort(key=lambda r: r.key)
    return Selector(tuple(reqs))


def from_set(labels: Mapping[str, str] | None) -> Selector:
    """Selector matching exactly these labels (``SelectorFromSet``); empty selects everything."""
    if not labels:
        return EVERYTHING
    return Selector(tuple(Requirement(k, EQUALS, (v,)) for k, v in sorted(labels.items())))


_EXPR_OPS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}


def from_label_selector(ls: Mapping | None) -> Selector:
    """A ``LabelSelector`` object as a Selector: None selects nothing, ``{}`` everything."""
    if ls is None:
        return NOTHING
    match_labels = ls.get("matchLabels") or {}
    exprs = ls.get("matchExpressions") or []
    if not match_labels and not exprs:
        return EVERYTHING
    reqs = [new_requirement(k, EQUALS, [v]) for k, v in match_labels.items()]
    for e in exprs:
        op = _EXPR_OPS.get(e.get("operator"))
        if op is None:
            raise SelectorError(f'"{e.get("operator")}" is not a valid label selector operator')
        reqs.append(new_requirement(e.get("key", ""), op, list(e.get("values") or ())))
    reqs.sort(key=lambda r: r.key)
    return Selector(tuple(reqs))


def matches(selector: Selector | str, labels: Mapping[str, str] | None) -> bool:
    """Convenience: does ``selector`` (parsed or a string) match ``labels``?"""
    if isinstance(selector, str):
        selector = parse(selector)
    return selector.matches(labels)
