"""Node selection terms: ``nodeSelector`` and ``nodeAffinity`` as matchers.

``NodeSelectorMatcher`` is ``nodeaffinity.NodeSelector``: terms are ORed, the
expressions (over labels) and fields (``metadata.name`` only) inside a term
are ANDed, an empty term matches nothing and so does an empty term list. A
term that does not parse (bad operator, Gt with a non-integer) never matches,
as in Kubernetes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..api import labels as _labels

__all__ = ["NodeSelectorMatcher", "PreferredTerm", "parse_node_selector", "parse_preferred"]

_OPS = {
    "In": _labels.IN, "NotIn": _labels.NOT_IN, "Exists": _labels.EXISTS,
    "DoesNotExist": _labels.DOES_NOT_EXIST, "Gt": _labels.GT, "Lt": _labels.LT,
}
_FIELD_OPS = {"In": _labels.IN, "NotIn": _labels.NOT_IN}
_NODE_NAME_FIELD = "metadata.name"


@dataclass(frozen=True, slots=True)
class _Term:
    expressions: tuple[_labels.Requirement, ...]
    fields: tuple[_labels.Requirement, ...]

    def matches(self, node_labels: Mapping[str, str], node_name: str) -> bool:
        for r in self.expressions:
            if not r.matches(node_labels):
                return False
        if self.fields:
            f = {_NODE_NAME_FIELD: node_name}
            for r in self.fields:
                if not r.matches(f):
                    return False
        return True


def _parse_term(term: Mapping | None) -> _Term | None:
    """A NodeSelectorTerm, or None when it is empty or invalid (matches nothing)."""
    if not term:
        return None
    exprs, fields = [], []
    try:
        for e in term.get("matchExpressions") or ():
            op = _OPS[e.get("operator")]
            exprs.append(_labels.new_requirement(e.get("key", ""), op, list(e.get("values") or ())))
        for f in term.get("matchFields") or ():
            op = _FIELD_OPS[f.get("operator")]
            if f.get("key") != _NODE_NAME_FIELD:
                return None
            fields.append(_labels.Requirement(_NODE_NAME_FIELD, op, tuple(f.get("values") or ())))
    except (KeyError, _labels.SelectorError, TypeError, AttributeError):
        return None
    if not exprs and not fields:
        return None
    return _Term(tuple(exprs), tuple(fields))


@dataclass(frozen=True, slots=True)
class NodeSelectorMatcher:
    """ORed terms; ``matches(labels, name)``."""

    terms: tuple[_Term, ...]

    def matches(self, node_labels: Mapping[str, str], node_name: str) -> bool:
        return any(t.matches(node_labels, node_name) for t in self.terms)


def parse_node_selector(ns: Mapping | None) -> NodeSelectorMatcher:
    """A ``NodeSelector`` object (``nodeSelectorTerms``) as a matcher."""
    terms = [_parse_term(t) for t in (ns or {}).get("nodeSelectorTerms") or ()]
    return NodeSelectorMatcher(tuple(t for t in terms if t is not None))


@dataclass(frozen=True, slots=True)
class PreferredTerm:
    weight: int
    term: _Term

    def matches(self, node_labels: Mapping[str, str], node_name: str) -> bool:
        return self.term.matches(node_labels, node_name)


def parse_preferred(items: list | None) -> tuple[PreferredTerm, ...]:
    """``preferredDuringSchedulingIgnoredDuringExecution``; zero-weight and empty terms dropped."""
    out = []
    for p in items or ():
        w = p.get("weight") or 0
        t = _parse_term(p.get("preference"))
        if w and t is not None:
            out.append(PreferredTerm(int(w), t))
    return tuple(out)
