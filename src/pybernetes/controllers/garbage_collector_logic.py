"""Pure decisions of the garbage collector (no I/O), after Kubernetes'
`attemptToDeleteItem` / `processDeletingDependentsItem` / `orphanDependents`.

An owner reference resolves to one of three states:
- ``solid``: the owner exists (same uid) and is not waiting for its dependents;
- ``dangling``: the owner is gone (404, or a new object with another uid);
- ``waiting``: the owner is being deleted in the foreground (it carries the
  ``foregroundDeletion`` finalizer) and waits for its dependents.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ORPHAN", "FOREGROUND", "SOLID", "DANGLING", "WAITING", "Action", "owner_state", "decide",
    "blocking_dependents", "without_owner", "without_finalizer", "is_deleting_dependents",
]

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"
SOLID, DANGLING, WAITING = "solid", "dangling", "waiting"


@dataclass(frozen=True, slots=True)
class Action:
    """What to do with one object.

    kind: ``none``; ``remove_refs`` (drop the ownerReferences with ``uids``);
    ``delete`` (with ``policy``, after setting blockOwnerDeletion=false on the
    refs in ``unblock`` so a waiting owner and this item cannot deadlock).
    """
    kind: str
    uids: tuple[str, ...] = ()
    policy: str | None = None
    unblock: tuple[str, ...] = ()


NOTHING = Action("none")


def _finalizers(obj: dict) -> list[str]:
    return list(obj["metadata"].get("finalizers") or ())


def is_deleting_dependents(obj: dict) -> bool:
    return bool(obj["metadata"].get("deletionTimestamp")) and FOREGROUND in _finalizers(obj)


def owner_state(ref: dict, owner: dict | None) -> str:
    """The state of ``ref`` given the live owner object (None when absent)."""
    if owner is None or owner["metadata"].get("uid") != ref.get("uid"):
        return DANGLING
    if is_deleting_dependents(owner):
        return WAITING
    return SOLID


def decide(obj: dict, states: dict[str, str], *, has_dependents: bool) -> Action:
    """What to do with a live (or normally terminating) dependent ``obj``
    whose owner references resolved to ``states`` (uid → state)."""
    meta = obj["metadata"]
    refs = meta.get("ownerReferences") or []
    if not refs or (meta.get("deletionTimestamp") and not is_deleting_dependents(obj)):
        return NOTHING
    solid = [r["uid"] for r in refs if states.get(r["uid"]) == SOLID]
    dangling = [r["uid"] for r in refs if states.get(r["uid"]) == DANGLING]
    waiting = [r["uid"] for r in refs if states.get(r["uid"]) == WAITING]
    if len(solid) + len(dangling) + len(waiting) < len(refs):
        return NOTHING  # some owner could not be resolved: decide later
    if solid:
        if not dangling and not waiting:
            return NOTHING
        return Action("remove_refs", uids=tuple(dangling + waiting))
    if meta.get("deletionTimestamp"):
        return NOTHING  # already going away (its own foreground deletion runs)
    if waiting and has_dependents:
        unblock = tuple(r["uid"] for r in refs if r["uid"] in waiting and r.get("blockOwnerDeletion"))
        return Action("delete", policy="Foreground", unblock=unblock)
    finalizers = _finalizers(obj)
    if ORPHAN in finalizers:
        policy = "Orphan"
    elif FOREGROUND in finalizers:
        policy = "Foreground"
    else:
        policy = "Background"
    return Action("delete", policy=policy)


def blocking_dependents(owner: dict, dependents: list[dict]) -> list[dict]:
    """Dependents whose reference to ``owner`` has blockOwnerDeletion: a
    foreground deletion of the owner waits for them to be gone."""
    uid = owner["metadata"].get("uid")
    return [d for d in dependents
            if any(r.get("uid") == uid and r.get("blockOwnerDeletion")
                   for r in d["metadata"].get("ownerReferences") or ())]


def without_owner(obj: dict, uids: set[str]) -> list[dict]:
    return [r for r in obj["metadata"].get("ownerReferences") or () if r.get("uid") not in uids]


def without_finalizer(obj: dict, name: str) -> list[str]:
    return [f for f in _finalizers(obj) if f != name]
