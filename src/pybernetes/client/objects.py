"""Light helpers over plain-dict objects (no copying, no wrappers)."""

from __future__ import annotations

from typing import Any

__all__ = ["meta", "name_of", "namespace_of", "uid_of", "resource_version_of", "labels_of",
           "object_key", "split_key"]


def meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def name_of(obj: dict[str, Any]) -> str:
    return meta(obj).get("name") or ""


def namespace_of(obj: dict[str, Any]) -> str:
    return meta(obj).get("namespace") or ""


def uid_of(obj: dict[str, Any]) -> str:
    return meta(obj).get("uid") or ""


def resource_version_of(obj: dict[str, Any]) -> str:
    return meta(obj).get("resourceVersion") or ""


def labels_of(obj: dict[str, Any]) -> dict[str, str]:
    return meta(obj).get("labels") or {}


def object_key(obj: dict[str, Any]) -> str:
    """client-go's MetaNamespaceKeyFunc: ``namespace/name``, or ``name`` for cluster objects."""
    m = meta(obj)
    ns = m.get("namespace")
    return f"{ns}/{m.get('name', '')}" if ns else m.get("name", "")


def split_key(key: str) -> tuple[str, str]:
    """(namespace, name) from an object key; namespace "" for cluster objects."""
    ns, sep, name = key.partition("/")
    return (ns, name) if sep else ("", ns)
