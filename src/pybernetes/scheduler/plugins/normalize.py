"""``DefaultNormalizeScore``: scale to [0, 100] by the maximum, optionally reversed."""

from __future__ import annotations

from typing import Any

from ..framework import MAX_NODE_SCORE
from ..node_table import np

__all__ = ["default_normalize", "default_normalize_batch"]


def default_normalize(scores: list[int], *, reverse: bool) -> None:
    top = max(scores, default=0)
    if top == 0:
        if reverse:
            scores[:] = [MAX_NODE_SCORE] * len(scores)
        return
    for i, s in enumerate(scores):
        s = MAX_NODE_SCORE * s // top
        scores[i] = MAX_NODE_SCORE - s if reverse else s


def default_normalize_batch(raw: Any, *, reverse: bool) -> Any:
    top = int(raw.max()) if len(raw) else 0
    if top == 0:
        return np.full(len(raw), MAX_NODE_SCORE if reverse else 0, dtype=np.int64)
    s = MAX_NODE_SCORE * raw // top
    return MAX_NODE_SCORE - s if reverse else s
