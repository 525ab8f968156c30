"""Small pure helpers about pods, owner references and timestamps that
several controllers share (Kubernetes' `pkg/api/v1/pod` and `controller_utils`)."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = [
    "now", "format_time", "parse_time", "is_pod_active", "is_pod_ready", "pod_ready_since",
    "is_pod_available", "pod_condition", "controller_ref", "owner_uids", "object_key", "split_key",
]


def now() -> datetime:
    return datetime.now(UTC)


def format_time(t: datetime) -> str:
    """RFC 3339 at second precision, as Kubernetes writes metav1.Time."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(s: str | None) -> datetime | None:
    if not s:
        return None
    try:
        return datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return None


def object_key(obj: dict) -> str:
    """The work-queue key of an object: ``namespace/name`` or ``name``."""
    meta = obj["metadata"]
    ns = meta.get("namespace")
    return f"{ns}/{meta['name']}" if ns else meta["name"]


def split_key(key: str) -> tuple[str | None, str]:
    ns, sep, name = key.partition("/")
    return (ns, name) if sep else (None, ns)


def is_pod_active(pod: dict) -> bool:
    """Counts toward a controller's replicas: not finished and not being deleted."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not pod["metadata"].get("deletionTimestamp")


def pod_condition(pod: dict, ctype: str) -> dict | None:
    for c in (pod.get("status") or {}).get("conditions") or ():
        if c.get("type") == ctype:
            return c
    return None


def is_pod_ready(pod: dict) -> bool:
    c = pod_condition(pod, "Ready")
    return bool(c) and c.get("status") == "True"


def pod_ready_since(pod: dict) -> datetime | None:
    """When the pod last became ready (its Ready condition's transition), or None."""
    c = pod_condition(pod, "Ready")
    if not c or c.get("status") != "True":
        return None
    return parse_time(c.get("lastTransitionTime"))


def is_pod_available(pod: dict, min_ready_seconds: int, at: datetime) -> bool:
    """Ready for at least ``min_ready_seconds`` (Kubernetes' IsPodAvailable)."""
    if not is_pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = pod_ready_since(pod)
    return since is not None and (at - since).total_seconds() >= min_ready_seconds


def controller_ref(obj: dict) -> dict | None:
    """The ownerReference with ``controller: true``, if any."""
    for ref in obj["metadata"].get("ownerReferences") or ():
        if ref.get("controller"):
            return ref
    return None


def owner_uids(obj: dict) -> list[str]:
    return [ref["uid"] for ref in obj["metadata"].get("ownerReferences") or () if ref.get("uid")]
