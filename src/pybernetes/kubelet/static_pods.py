"""Static pods: pods the kubelet runs from files in ``--pod-manifest-path``,
shown in the apiserver as read-only mirror pods (Kubernetes' file config
source and mirror client).

A static pod is named ``<name>-<node>``, lives in its manifest's namespace
(``default`` if none), and has a uid derived from its content and node, so an
edited file is a new pod and an unchanged one survives kubelet restarts. Its
mirror carries ``kubernetes.io/config.mirror`` = that uid and an owner
reference to the Node.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os

import yaml

from ..api.defaults import default_pod_spec

__all__ = ["StaticPodSource", "mirror_pod", "MIRROR_ANNOTATION", "HASH_ANNOTATION", "SOURCE_ANNOTATION"]

log = logging.getLogger(__name__)

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
HASH_ANNOTATION = "kubernetes.io/config.hash"
SOURCE_ANNOTATION = "kubernetes.io/config.source"


class StaticPodSource:
    interval = 5.0  # seconds between scans of the manifest directory

    def __init__(self, path: str, *, node_name: str):
        self.path = path
        self.node_name = node_name

    def scan(self) -> dict[str, dict]:
        """uid -> pod for every valid manifest (blocking: run in a thread)."""
        pods: dict[str, dict] = {}
        try:
            names = sorted(os.listdir(self.path))
        except FileNotFoundError:
            return pods
        for fname in names:
            if fname.startswith(".") or not fname.endswith((".yaml", ".yml", ".json")):
                continue
            full = os.path.join(self.path, fname)
            try:
                with open(full, "rb") as f:
                    raw = f.read()
                doc = yaml.safe_load(raw)
                pod = self.to_pod(doc, source_file=full)
            except (OSError, yaml.YAMLError, ValueError, KeyError, TypeError) as e:
                log.warning("static pod manifest %s ignored: %s", full, e)
                continue
            pods[pod["metadata"]["uid"]] = pod
        return pods

    def to_pod(self, doc: dict, *, source_file: str) -> dict:
        if not isinstance(doc, dict) or doc.get("kind") != "Pod":
            raise ValueError("not a Pod manifest")
        pod = copy.deepcopy(doc)
        meta = pod.setdefault("metadata", {})
        meta["name"] = f"{meta['name']}-{self.node_name}"
        meta["namespace"] = meta.get("namespace") or "default"
        digest = hashlib.md5(json.dumps(doc, sort_keys=True).encode() + self.node_name.encode(),
                             usedforsecurity=False).hexdigest()
        meta["uid"] = digest
        annotations = meta.setdefault("annotations", {})
        annotations[HASH_ANNOTATION] = digest
        annotations[SOURCE_ANNOTATION] = "file"
        spec = pod.setdefault("spec", {})
        spec["nodeName"] = self.node_name
        default_pod_spec(spec)
        pod.setdefault("status", {"phase": "Pending"})
        return pod


def mirror_pod(pod: dict, *, node_name: str, node_uid: str) -> dict:
    """The apiserver object that mirrors a static pod."""
    mirror = copy.deepcopy(pod)
    meta = mirror["metadata"]
    meta.pop("uid", None)
    meta["annotations"][MIRROR_ANNOTATION] = pod["metadata"]["uid"]
    if node_uid:
        meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": node_name, "uid": node_uid,
                                    "controller": True}]
    mirror.pop("status", None)
    mirror.setdefault("apiVersion", "v1")
    mirror.setdefault("kind", "Pod")
    return mirror
