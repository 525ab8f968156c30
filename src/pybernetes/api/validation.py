"""Validation of v1 objects with Kubernetes' rules and messages.

``validate(kind, obj, old=None)`` dispatches by kind name to one pure function
per kind (``VALIDATORS`` for creates, ``UPDATE_VALIDATORS`` for updates), so a
new kind adds one entry. Every function returns ``list[FieldError]`` in the
order Kubernetes reports them; objects are the JSON dicts of the wire API,
already defaulted (as in Kubernetes, validation runs after defaulting).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from . import names
from .field_errors import (
    FieldError,
    duplicate,
    forbidden,
    invalid,
    not_found,
    not_supported,
    required,
    too_long,
    too_many,
)
from .quantity import QuantityError, parse_quantity
from .resources import RESOURCES

__all__ = [
    "validate",
    "VALIDATORS",
    "UPDATE_VALIDATORS",
    "validate_object_meta",
    "validate_object_meta_update",
    "validate_labels",
    "validate_annotations",
    "validate_pod",
    "validate_pod_spec",
    "validate_pod_template_spec",
    "validate_pod_update",
    "validate_service",
    "validate_service_update",
    "validate_replication_controller",
    "validate_replication_controller_update",
    "validate_namespace",
    "validate_node",
    "validate_config_map",
    "validate_config_map_update",
    "validate_secret",
    "validate_secret_update",
    "validate_endpoints",
    "validate_event",
    "validate_service_account",
    "validate_lease",
    "validate_endpoint_slice",
    "FIELD_IMMUTABLE",
]

Obj = Mapping[str, Any]
Errors = list[FieldError]

FIELD_IMMUTABLE = "field is immutable"
_NEGATIVE = "must be greater than or equal to 0"
_TOTAL_ANNOTATION_SIZE = 256 * 1024
_MAX_SECRET_SIZE = 1024 * 1024
_PROTOCOLS = ("SCTP", "TCP", "UDP")  # sets.List order
_VALID_IP = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"


def _p(path: str, *children: str | int) -> str:
    for c in children:
        path = f"{path}[{c}]" if isinstance(c, int) else (f"{path}.{c}" if path else c)
    return path


def _key(path: str, key: str) -> str:
    return f"{path}[{key}]"


def _d(v: Any) -> dict:
    return v if isinstance(v, dict) else {}


def _l(v: Any) -> list:
    return v if isinstance(v, list) else []


def _nonneg(value: Any, path: str) -> Errors:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
        return [invalid(path, value, _NEGATIVE)]
    return []


def _is_ip(s: str) -> bool:
    try:
        ipaddress.ip_address(s)
    except ValueError:
        return False
    return True


# --- metadata ---------------------------------------------------------------


def validate_labels(labels: Any, path: str) -> Errors:
    errs: Errors = []
    for k, v in _d(labels).items():
        errs += [invalid(path, k, m) for m in names.is_qualified_name(k)]
        errs += [invalid(path, v, m) for m in names.is_valid_label_value(v if isinstance(v, str) else "")]
    return errs


def validate_annotations(annotations: Any, path: str) -> Errors:
    errs: Errors = []
    total = 0
    for k, v in _d(annotations).items():
        errs += [invalid(path, k, m) for m in names.is_qualified_name(k.lower())]
        total += len(k) + len(v if isinstance(v, str) else "")
    if total > _TOTAL_ANNOTATION_SIZE:
        errs.append(too_long(path, _TOTAL_ANNOTATION_SIZE))
    return errs


def _validate_owner_references(refs: Any, path: str) -> Errors:
    errs: Errors = []
    controllers: list[str] = []
    for ref in _l(refs):
        ref = _d(ref)
        if not ref.get("apiVersion"):
            errs.append(invalid(_p(path, "apiVersion"), ref.get("apiVersion", ""), "version must not be empty"))
        if not ref.get("kind"):
            errs.append(invalid(_p(path, "kind"), ref.get("kind", ""), "kind must not be empty"))
        if not ref.get("name"):
            errs.append(invalid(_p(path, "name"), ref.get("name", ""), "name must not be empty"))
        if not ref.get("uid"):
            errs.append(invalid(_p(path, "uid"), ref.get("uid", ""), "uid must not be empty"))
        if ref.get("controller"):
            controllers.append(f"{ref.get('kind')}/{ref.get('name')}")
    if len(controllers) > 1:
        errs.append(invalid(path, refs, "Only one reference can have Controller set to true. Found \"true\" in "
                            f"references for {' and '.join(controllers)}"))
    return errs


def validate_object_meta(meta: Any, *, kind: str, namespaced: bool | None = None, path: str = "metadata",
                         name_fn: names.NameValidator | None = None) -> Errors:
    """ValidateObjectMeta: name (or generateName), namespace presence, labels, annotations, owners, finalizers."""
    meta = _d(meta)
    if namespaced is None:
        info = next((r for r in RESOURCES if r.kind == kind), None)
        namespaced = info.namespaced if info else True
    name_fn = name_fn or names.name_validator_for(kind)
    errs: Errors = []
    gen = meta.get("generateName")
    if gen:
        errs += [invalid(_p(path, "generateName"), gen, m) for m in name_fn(gen, True)]
    name = meta.get("name")
    if not name:
        errs.append(required(_p(path, "name"), "name or generateName is required"))
    else:
        errs += [invalid(_p(path, "name"), name, m) for m in name_fn(name, False)]
    ns = meta.get("namespace")
    if namespaced:
        if not ns:
            errs.append(required(_p(path, "namespace"), ""))
        else:
            errs += [invalid(_p(path, "namespace"), ns, m) for m in names.is_dns1123_label(ns)]
    elif ns:
        errs.append(forbidden(_p(path, "namespace"), "not allowed on this type"))
    errs += _nonneg(meta.get("generation"), _p(path, "generation"))
    errs += validate_labels(meta.get("labels"), _p(path, "labels"))
    errs += validate_annotations(meta.get("annotations"), _p(path, "annotations"))
    errs += _validate_owner_references(meta.get("ownerReferences"), _p(path, "ownerReferences"))
    for i, f in enumerate(_l(meta.get("finalizers"))):
        errs += [invalid(_p(path, "finalizers", i), f, m) for m in names.is_qualified_name(f)]
    return errs


def _immutable(new: Any, old: Any, path: str) -> Errors:
    if new != old:
        return [invalid(path, new, FIELD_IMMUTABLE)]
    return []


def validate_object_meta_update(meta: Any, old_meta: Any, path: str = "metadata") -> Errors:
    """ValidateObjectMetaUpdate: name, namespace, uid and creationTimestamp may not change."""
    meta, old_meta = _d(meta), _d(old_meta)
    errs: Errors = []
    errs += _immutable(meta.get("name", ""), old_meta.get("name", ""), _p(path, "name"))
    errs += _immutable(meta.get("namespace", ""), old_meta.get("namespace", ""), _p(path, "namespace"))
    errs += _immutable(meta.get("uid", ""), old_meta.get("uid", ""), _p(path, "uid"))
    if old_meta.get("creationTimestamp") and meta.get("creationTimestamp"):
        errs += _immutable(meta["creationTimestamp"], old_meta["creationTimestamp"], _p(path, "creationTimestamp"))
    errs += _nonneg(meta.get("generation"), _p(path, "generation"))
    errs += validate_labels(meta.get("labels"), _p(path, "labels"))
    errs += validate_annotations(meta.get("annotations"), _p(path, "annotations"))
    errs += _validate_owner_references(meta.get("ownerReferences"), _p(path, "ownerReferences"))
    return errs


# --- pods -------------------------------------------------------------------

_RESTART_POLICIES = ("Always", "OnFailure", "Never")
_DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
_PULL_POLICIES = ("Always", "IfNotPresent", "Never")
_TERMINATION_MESSAGE_POLICIES = ("File", "FallbackToLogsOnError")
_TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
_VOLUME_SOURCES = (
    "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret", "nfs", "iscsi",
    "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "downwardAPI", "fc",
    "azureFile", "configMap", "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk", "projected",
    "portworxVolume", "scaleIO", "storageos", "csi", "ephemeral", "image",
)
_STANDARD_CONTAINER_RESOURCES = ("cpu", "memory", "ephemeral-storage")


def _validate_restart_policy(policy: Any, path: str) -> Errors:
    if policy in _RESTART_POLICIES:
        return []
    if not policy:
        return [required(path, "")]
    return [not_supported(path, policy, _RESTART_POLICIES)]


def _enum(value: Any, valid: tuple[str, ...], path: str) -> Errors:
    if not value:
        return [required(path, "")]
    if value not in valid:
        return [not_supported(path, value, valid)]
    return []


def _local_path(path_value: str, path: str) -> Errors:
    errs: Errors = []
    if path_value.startswith("/"):
        errs.append(invalid(path, path_value, "must be a relative path"))
    if ".." in path_value.replace("\\", "/").split("/"):
        errs.append(invalid(path, path_value, "must not contain '..'"))
    return errs


def _validate_volume_source(vol: dict, path: str) -> Errors:
    errs: Errors = []
    present = [s for s in _VOLUME_SOURCES if vol.get(s) is not None]
    if not present:
        return [required(path, "must specify a volume type")]
    for extra in present[1:]:
        errs.append(forbidden(_p(path, extra), "may not specify more than 1 volume type"))
    src, body = present[0], _d(vol.get(present[0]))
    sp = _p(path, src)
    if src == "hostPath":
        if not body.get("path"):
            errs.append(required(_p(sp, "path"), ""))
        t = body.get("type")
        valid = ("", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice", "BlockDevice")
        if t not in (None, *valid):
            errs.append(not_supported(_p(sp, "type"), t, valid))
    elif src == "gitRepo":
        if not body.get("repository"):
            errs.append(required(_p(sp, "repository"), ""))
        directory = body.get("directory") or ""
        if directory:
            errs += _local_path(directory, _p(sp, "directory"))
    elif src == "secret":
        if not body.get("secretName"):
            errs.append(required(_p(sp, "secretName"), ""))
        errs += _validate_mode(body.get("defaultMode"), _p(sp, "defaultMode"))
    elif src == "configMap":
        if not body.get("name"):
            errs.append(required(_p(sp, "name"), ""))
        errs += _validate_mode(body.get("defaultMode"), _p(sp, "defaultMode"))
    elif src == "persistentVolumeClaim":
        if not body.get("claimName"):
            errs.append(required(_p(sp, "claimName"), ""))
    elif src == "emptyDir":
        size = body.get("sizeLimit")
        if size is not None:
            try:
                if parse_quantity(size).value < 0:
                    errs.append(forbidden(_p(sp, "sizeLimit"), "SizeLimit field must be a valid resource quantity"))
            except QuantityError:
                pass
    elif src == "nfs":
        if not body.get("server"):
            errs.append(required(_p(sp, "server"), ""))
        if not body.get("path"):
            errs.append(required(_p(sp, "path"), ""))
    return errs


def _validate_mode(mode: Any, path: str) -> Errors:
    if isinstance(mode, int) and not isinstance(mode, bool) and not 0 <= mode <= 0o777:
        return [invalid(path, mode, "must be a number between 0 and 0777 (octal), both inclusive")]
    return []


def _validate_volumes(volumes: Any, path: str) -> tuple[Errors, set[str]]:
    errs: Errors = []
    seen: set[str] = set()
    for i, vol in enumerate(_l(volumes)):
        vol = _d(vol)
        ip = _p(path, i)
        name = vol.get("name") or ""
        if not name:
            errs.append(required(_p(ip, "name"), ""))
        else:
            errs += [invalid(_p(ip, "name"), name, m) for m in names.is_dns1123_label(name)]
            if name in seen:
                errs.append(duplicate(_p(ip, "name"), name))
            seen.add(name)
        errs += _validate_volume_source(vol, ip)
    return errs, seen


def _validate_ports(ports: Any, path: str) -> Errors:
    errs: Errors = []
    seen: set[str] = set()
    for i, port in enumerate(_l(ports)):
        port = _d(port)
        ip = _p(path, i)
        pname = port.get("name") or ""
        if pname:
            msgs = names.is_valid_port_name(pname)
            if msgs:
                errs += [invalid(_p(ip, "name"), pname, m) for m in msgs]
            elif pname in seen:
                errs.append(duplicate(_p(ip, "name"), pname))
            else:
                seen.add(pname)
        cp = port.get("containerPort") or 0
        if cp == 0:
            errs.append(required(_p(ip, "containerPort"), ""))
        else:
            errs += [invalid(_p(ip, "containerPort"), cp, m) for m in names.is_valid_port_num(cp)]
        hp = port.get("hostPort") or 0
        if hp:
            errs += [invalid(_p(ip, "hostPort"), hp, m) for m in names.is_valid_port_num(hp)]
        errs += _enum(port.get("protocol"), _PROTOCOLS, _p(ip, "protocol"))
    return errs


def _validate_env(env: Any, path: str) -> Errors:
    errs: Errors = []
    for i, ev in enumerate(_l(env)):
        ev = _d(ev)
        ip = _p(path, i)
        name = ev.get("name") or ""
        if not name:
            errs.append(required(_p(ip, "name"), ""))
        else:
            errs += [invalid(_p(ip, "name"), name, m) for m in names.is_env_var_name(name)]
        vf = ev.get("valueFrom")
        if vf is not None:
            vfp = _p(ip, "valueFrom")
            sources = [k for k in ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef") if _d(vf).get(k)]
            if not sources:
                errs.append(invalid(vfp, "", "must specify one of: `fieldRef`, `resourceFieldRef`, "
                                    "`configMapKeyRef` or `secretKeyRef`"))
            elif len(sources) > 1:
                errs.append(invalid(vfp, "", "may not have more than one field specified at a time"))
            if ev.get("value") and sources:
                errs.append(invalid(vfp, "", "may not be specified when `value` is not empty"))
            for ref in ("configMapKeyRef", "secretKeyRef"):
                r = _d(vf).get(ref)
                if isinstance(r, dict):
                    if not r.get("key"):
                        errs.append(required(_p(vfp, ref, "key"), ""))
                    if not r.get("name"):
                        errs.append(required(_p(vfp, ref, "name"), ""))
            fr = _d(vf).get("fieldRef")
            if isinstance(fr, dict) and not fr.get("fieldPath"):
                errs.append(required(_p(vfp, "fieldRef", "fieldPath"), ""))
    return errs


def _validate_volume_mounts(mounts: Any, volumes: set[str], path: str) -> Errors:
    errs: Errors = []
    seen_paths: set[str] = set()
    for i, m in enumerate(_l(mounts)):
        m = _d(m)
        ip = _p(path, i)
        name = m.get("name") or ""
        if not name:
            errs.append(required(_p(ip, "name"), ""))
        elif name not in volumes:
            errs.append(not_found(_p(ip, "name"), name))
        mp = m.get("mountPath") or ""
        if not mp:
            errs.append(required(_p(ip, "mountPath"), ""))
        elif mp in seen_paths:
            errs.append(invalid(_p(ip, "mountPath"), mp, "must be unique"))
        seen_paths.add(mp)
        sub = m.get("subPath") or ""
        if sub:
            errs += _local_path(sub, _p(ip, "subPath"))
    return errs


def _port_num_or_name(port: Any, path: str) -> Errors:
    if isinstance(port, bool):
        return [invalid(path, port, "must contain an int or string")]
    if isinstance(port, int):
        return [invalid(path, port, m) for m in names.is_valid_port_num(port)]
    if isinstance(port, str):
        if not port:
            return [required(path, "")]
        return [invalid(path, port, m) for m in names.is_valid_port_name(port)]
    return [required(path, "")]


def _validate_handler(h: dict, path: str) -> Errors:
    kinds = [k for k in ("exec", "httpGet", "tcpSocket", "grpc", "sleep") if h.get(k) is not None]
    if not kinds:
        return [required(path, "must specify a handler type")]
    errs = [forbidden(_p(path, k), "may not specify more than 1 handler type") for k in kinds[1:]]
    k = kinds[0]
    body = _d(h.get(k))
    if k == "exec" and not body.get("command"):
        errs.append(required(_p(path, "exec", "command"), ""))
    elif k == "httpGet":
        errs += _port_num_or_name(body.get("port"), _p(path, "httpGet", "port"))
        scheme = body.get("scheme")
        if scheme and scheme not in ("HTTP", "HTTPS"):
            errs.append(not_supported(_p(path, "httpGet", "scheme"), scheme, ("HTTP", "HTTPS")))
        for j, hdr in enumerate(_l(body.get("httpHeaders"))):
            hname = _d(hdr).get("name", "")
            errs += [invalid(_p(path, "httpGet", "httpHeaders", j, "name"), hname, m)
                     for m in names.is_http_header_name(hname)]
    elif k == "tcpSocket":
        errs += _port_num_or_name(body.get("port"), _p(path, "tcpSocket", "port"))
    elif k == "grpc":
        gp = body.get("port")
        errs += [invalid(_p(path, "grpc", "port"), gp, m) for m in names.is_valid_port_num(gp if isinstance(gp, int) else 0)]
    return errs


def _validate_probe(probe: Any, path: str, *, liveness_like: bool) -> Errors:
    if not isinstance(probe, dict):
        return []
    errs = _validate_handler(probe, path)
    for f in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"):
        errs += _nonneg(probe.get(f), _p(path, f))
    if liveness_like and probe.get("successThreshold", 1) != 1:
        errs.append(invalid(_p(path, "successThreshold"), probe.get("successThreshold"), "must be 1"))
    return errs


def _validate_resources(res: Any, path: str) -> Errors:
    res = _d(res)
    errs: Errors = []
    limits: dict[str, Any] = {}
    for section in ("limits", "requests"):
        sp = _p(path, section)
        for rname, q in _d(res.get(section)).items():
            kp = _key(sp, rname)
            if "/" not in rname:
                if rname not in _STANDARD_CONTAINER_RESOURCES and not rname.startswith("hugepages-"):
                    errs.append(invalid(kp, rname, "must be a standard resource for containers"))
            else:
                errs += [invalid(kp, rname, m) for m in names.is_qualified_name(rname)]
            try:
                qv = parse_quantity(q)
            except QuantityError:
                continue  # already a 400 at decode time
            if qv.value < 0:
                errs.append(invalid(kp, str(qv), _NEGATIVE))
            if section == "limits":
                limits[rname] = qv
            elif rname in limits:
                lim = limits[rname]
                if rname.startswith("hugepages-") and qv != lim:
                    errs.append(invalid(sp, str(qv), f"must be equal to {rname} limit of {lim}"))
                elif qv > lim:
                    errs.append(invalid(sp, str(qv), f"must be less than or equal to {rname} limit of {lim}"))
    return errs


def _validate_containers(containers: Any, path: str, volumes: set[str], all_names: set[str], *,
                         init: bool = False) -> Errors:
    errs: Errors = []
    for i, c in enumerate(_l(containers)):
        c = _d(c)
        ip = _p(path, i)
        name = c.get("name") or ""
        if not name:
            errs.append(required(_p(ip, "name"), ""))
        else:
            errs += [invalid(_p(ip, "name"), name, m) for m in names.is_dns1123_label(name)]
            if name in all_names:
                errs.append(duplicate(_p(ip, "name"), name))
            else:
                all_names.add(name)
        image = c.get("image") or ""
        if not image:
            errs.append(required(_p(ip, "image"), ""))
        elif image != image.strip():
            errs.append(invalid(_p(ip, "image"), image, "must not have leading or trailing whitespace"))
        errs += _validate_ports(c.get("ports"), _p(ip, "ports"))
        errs += _validate_env(c.get("env"), _p(ip, "env"))
        errs += _validate_volume_mounts(c.get("volumeMounts"), volumes, _p(ip, "volumeMounts"))
        errs += _validate_resources(c.get("resources"), _p(ip, "resources"))
        if init and c.get("restartPolicy") != "Always":
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                if c.get(probe) is not None:
                    errs.append(forbidden(_p(ip, probe), "may not be set for init containers without restartPolicy=Always"))
        else:
            errs += _validate_probe(c.get("livenessProbe"), _p(ip, "livenessProbe"), liveness_like=True)
            errs += _validate_probe(c.get("readinessProbe"), _p(ip, "readinessProbe"), liveness_like=False)
            errs += _validate_probe(c.get("startupProbe"), _p(ip, "startupProbe"), liveness_like=True)
        lifecycle = _d(c.get("lifecycle"))
        for hook in ("postStart", "preStop"):
            if isinstance(lifecycle.get(hook), dict):
                errs += _validate_handler(lifecycle[hook], _p(ip, "lifecycle", hook))
        errs += _enum(c.get("imagePullPolicy"), _PULL_POLICIES, _p(ip, "imagePullPolicy"))
        errs += _enum(c.get("terminationMessagePolicy"), _TERMINATION_MESSAGE_POLICIES,
                      _p(ip, "terminationMessagePolicy"))
    return errs


def _validate_tolerations(tolerations: Any, path: str) -> Errors:
    errs: Errors = []
    for i, t in enumerate(_l(tolerations)):
        t = _d(t)
        ip = _p(path, i)
        key = t.get("key") or ""
        if key:
            errs += [invalid(_p(ip, "key"), key, m) for m in names.is_qualified_name(key)]
        op = t.get("operator") or "Equal"
        if not key and op != "Exists":
            errs.append(invalid(_p(ip, "operator"), op, "operator must be Exists when `key` is empty, which means "
                                "\"match all values and all keys\""))
        if t.get("tolerationSeconds") is not None and t.get("effect") != "NoExecute":
            errs.append(invalid(_p(ip, "effect"), t.get("effect", ""),
                                "effect must be 'NoExecute' when `tolerationSeconds` is set"))
        if op == "Equal":
            errs += [invalid(_p(ip, "value"), t.get("value", ""), m)
                     for m in names.is_valid_label_value(t.get("value") or "")]
        elif op == "Exists":
            if t.get("value"):
                errs.append(invalid(_p(ip, "operator"), t.get("value"), "value must be empty when `operator` is 'Exists'"))
        else:
            errs.append(not_supported(_p(ip, "operator"), op, ("Equal", "Exists")))
        effect = t.get("effect")
        if effect and effect not in _TAINT_EFFECTS:
            errs.append(not_supported(_p(ip, "effect"), effect, _TAINT_EFFECTS))
    return errs


def validate_pod_spec(spec: Any, path: str = "spec") -> Errors:
    """ValidatePodSpec: volumes, containers (init first), policies, selectors, names."""
    spec = _d(spec)
    errs, volumes = _validate_volumes(spec.get("volumes"), _p(path, "volumes"))
    all_names: set[str] = set()
    containers = _l(spec.get("containers"))
    if not containers:
        errs.append(required(_p(path, "containers"), ""))
    errs += _validate_containers(containers, _p(path, "containers"), volumes, all_names)
    # init container names must be unique against the app containers too
    errs += _validate_containers(spec.get("initContainers"), _p(path, "initContainers"), volumes, all_names, init=True)
    errs += _validate_restart_policy(spec.get("restartPolicy"), _p(path, "restartPolicy"))
    errs += _enum(spec.get("dnsPolicy"), _DNS_POLICIES, _p(path, "dnsPolicy"))
    errs += validate_labels(spec.get("nodeSelector"), _p(path, "nodeSelector"))
    sa = spec.get("serviceAccountName")
    if sa:
        errs += [invalid(_p(path, "serviceAccountName"), sa, m) for m in names.is_dns1123_subdomain(sa)]
    node = spec.get("nodeName")
    if node:
        errs += [invalid(_p(path, "nodeName"), node, m) for m in names.is_dns1123_subdomain(node)]
    ads = spec.get("activeDeadlineSeconds")
    if ads is not None and not 1 <= ads <= 2**32 - 1:
        errs.append(invalid(_p(path, "activeDeadlineSeconds"), ads, "must be between 1 and 4294967295, inclusive"))
    for f in ("hostname", "subdomain"):
        v = spec.get(f)
        if v:
            errs += [invalid(_p(path, f), v, m) for m in names.is_dns1123_label(v)]
    errs += _validate_tolerations(spec.get("tolerations"), _p(path, "tolerations"))
    for i, s in enumerate(_l(spec.get("imagePullSecrets"))):
        if not _d(s).get("name"):
            errs.append(required(_p(path, "imagePullSecrets", i, "name"), ""))
    return errs


# Pod specs (exact JSON) found valid lately; oldest dropped first. Pods of one
# template repeat the same spec, and validity depends on the spec alone.
_VALID_SPECS: dict[bytes, None] = {}
_VALID_SPECS_SIZE = 256
_VALID_SPEC_MAX_BYTES = 16384


def _validate_pod_spec_remembered(spec: Any) -> Errors:
    """:func:`validate_pod_spec` at ``spec``, answering a spec seen valid before from memory."""
    try:
        raw = orjson.dumps(spec, option=orjson.OPT_PASSTHROUGH_DATETIME)
    except TypeError:  # not plain JSON (e.g. a YAML timestamp): validate it
        return validate_pod_spec(spec)
    if raw in _VALID_SPECS:
        return []
    errs = validate_pod_spec(spec)
    if not errs and len(raw) <= _VALID_SPEC_MAX_BYTES:
        if len(_VALID_SPECS) >= _VALID_SPECS_SIZE:
            del _VALID_SPECS[next(iter(_VALID_SPECS))]
        _VALID_SPECS[raw] = None
    return errs


def validate_pod(pod: Obj) -> Errors:
    errs = validate_object_meta(pod.get("metadata"), kind="Pod", namespaced=True)
    errs += _validate_pod_spec_remembered(pod.get("spec"))
    return errs


_UPDATABLE_POD_FIELDS = (
    "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
    "`spec.tolerations` (only additions to existing tolerations),"
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
)


def _diff(old: Any, new: Any, path: str = "") -> list[str]:
    """Changed leaves as ``-``/``+`` lines, shaped like the Go ``cmp.Diff`` Kubernetes appends
    (it names Go struct fields; this names JSON paths below ``spec``)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for k in list(old) + [k for k in new if k not in old]:
            out += _diff(old.get(k), new.get(k), _p(path, k))
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out = []
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            out += _diff(a, b, _p(path, i))
        return out
    if old == new:
        return []
    lines = []
    if old is not None:
        lines.append(f"- \t{path}: {json.dumps(old, separators=(',', ':'))},")
    if new is not None:
        lines.append(f"+ \t{path}: {json.dumps(new, separators=(',', ':'))},")
    return lines


def validate_pod_update(pod: Obj, old: Obj) -> Errors:
    """ValidatePodUpdate: metadata rules, then only the updatable spec fields may differ."""
    errs = validate_object_meta_update(pod.get("metadata"), old.get("metadata"))
    spec, old_spec = _d(pod.get("spec")), _d(old.get("spec"))
    errs += _validate_pod_spec_remembered(spec)
    ads, old_ads = spec.get("activeDeadlineSeconds"), old_spec.get("activeDeadlineSeconds")
    if ads is not None:
        if not 0 <= ads <= 2**31 - 1:
            return errs + [invalid("spec.activeDeadlineSeconds", ads, "must be between 0 and 2147483647, inclusive")]
        if old_ads is not None and old_ads < ads:
            return errs + [invalid("spec.activeDeadlineSeconds", ads, "must be less than or equal to previous value")]
    elif old_ads is not None:
        errs.append(invalid("spec.activeDeadlineSeconds", None, "must not update from a positive integer to nil value"))
    # munge the allowed changes back to the old values, then compare
    munged = dict(spec)
    for key in ("containers", "initContainers"):
        new_cs, old_cs = _l(spec.get(key)), _l(old_spec.get(key))
        if key in spec and len(new_cs) == len(old_cs):
            munged[key] = [
                {**_d(c), "image": _d(o).get("image")} if _d(c).get("image") else c
                for c, o in zip(new_cs, old_cs, strict=True)
            ]
    munged["activeDeadlineSeconds"] = old_spec.get("activeDeadlineSeconds")
    old_tol = _l(old_spec.get("tolerations"))
    new_tol = _l(spec.get("tolerations"))
    strip = lambda t: {k: v for k, v in _d(t).items() if k != "tolerationSeconds"}  # noqa: E731
    if all(any(strip(o) == strip(n) for n in new_tol) for o in old_tol):
        munged["tolerations"] = old_spec.get("tolerations")
    else:
        errs.append(forbidden("spec.tolerations", "existing toleration can not be modified except its tolerationSeconds"))
        munged["tolerations"] = old_spec.get("tolerations")
    tgp, old_tgp = spec.get("terminationGracePeriodSeconds"), old_spec.get("terminationGracePeriodSeconds")
    if old_tgp is not None and old_tgp < 0 and tgp == 1:
        munged["terminationGracePeriodSeconds"] = old_tgp
    munged = {k: v for k, v in munged.items() if v is not None}
    old_cmp = {k: v for k, v in old_spec.items() if v is not None}
    if munged != old_cmp:
        diff = "\n".join(["  core.PodSpec{", *_diff(old_cmp, munged), "  }", ""])
        errs.append(forbidden("spec", f"pod updates may not change fields other than {_UPDATABLE_POD_FIELDS}\n{diff}"))
    return errs


def validate_pod_template_spec(template: Any, path: str) -> Errors:
    template = _d(template)
    meta = _d(template.get("metadata"))
    errs = validate_labels(meta.get("labels"), _p(path, "metadata", "labels"))
    errs += validate_annotations(meta.get("annotations"), _p(path, "metadata", "annotations"))
    errs += validate_pod_spec(template.get("spec"), _p(path, "spec"))
    return errs


# --- services ---------------------------------------------------------------

_SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
_NODE_PORT_RANGE = (30000, 32767)


def _service_cluster_ips(spec: dict) -> list[str]:
    ips = _l(spec.get("clusterIPs"))
    if not ips and spec.get("clusterIP"):
        ips = [spec["clusterIP"]]
    return ips


def validate_service(svc: Obj) -> Errors:
    errs = validate_object_meta(svc.get("metadata"), kind="Service", namespaced=True)
    spec = _d(svc.get("spec"))
    stype = spec.get("type") or ""
    headless = spec.get("clusterIP") == "None"
    ports = _l(spec.get("ports"))
    if stype not in _SERVICE_TYPES:
        errs.append(not_supported("spec.type", stype, _SERVICE_TYPES) if stype else required("spec.type", ""))
    if stype == "ExternalName":
        ext = spec.get("externalName") or ""
        if not ext:
            errs.append(required("spec.externalName", ""))
        else:
            errs += [invalid("spec.externalName", ext, m) for m in names.is_dns1123_subdomain(ext.rstrip("."))]
        if _service_cluster_ips(spec):
            errs.append(forbidden("spec.clusterIPs", "may not be set for ExternalName services"))
    elif not ports and not headless:
        errs.append(required("spec.ports", ""))
    require_name = len(ports) > 1
    seen_names: set[str] = set()
    seen_node_ports: set[tuple[int, str]] = set()
    for i, port in enumerate(ports):
        port = _d(port)
        ip = _p("spec.ports", i)
        pname = port.get("name") or ""
        if require_name and not pname:
            errs.append(required(_p(ip, "name"), ""))
        elif pname:
            errs += [invalid(_p(ip, "name"), pname, m) for m in names.is_dns1123_label(pname)]
            if pname in seen_names:
                errs.append(duplicate(_p(ip, "name"), pname))
            seen_names.add(pname)
        pnum = port.get("port") or 0
        errs += [invalid(_p(ip, "port"), pnum, m) for m in names.is_valid_port_num(pnum)]
        errs += _enum(port.get("protocol"), _PROTOCOLS, _p(ip, "protocol"))
        if "targetPort" in port:
            errs += _port_num_or_name(port.get("targetPort"), _p(ip, "targetPort"))
        np = port.get("nodePort") or 0
        if np:
            if stype not in ("NodePort", "LoadBalancer"):
                errs.append(forbidden(_p(ip, "nodePort"), f"may not be used when `type` is '{stype}'"))
            elif not _NODE_PORT_RANGE[0] <= np <= _NODE_PORT_RANGE[1]:
                errs.append(invalid(_p(ip, "nodePort"), np, "provided port is not in the valid range. "
                                    f"The range of valid ports is {_NODE_PORT_RANGE[0]}-{_NODE_PORT_RANGE[1]}"))
            key = (np, port.get("protocol") or "TCP")
            if key in seen_node_ports:
                errs.append(duplicate(_p(ip, "nodePort"), np))
            seen_node_ports.add(key)
    affinity = spec.get("sessionAffinity")
    if affinity:
        if affinity not in ("ClientIP", "None"):
            errs.append(not_supported("spec.sessionAffinity", affinity, ("ClientIP", "None")))
    elif stype != "ExternalName":
        errs.append(required("spec.sessionAffinity", ""))
    if stype != "ExternalName":
        for i, cip in enumerate(_service_cluster_ips(spec)):
            if cip != "None" and cip and not _is_ip(cip):
                errs.append(invalid(_p("spec.clusterIPs", i), cip, _VALID_IP))
    errs += validate_labels(spec.get("selector"), "spec.selector")
    for i, eip in enumerate(_l(spec.get("externalIPs"))):
        if not _is_ip(str(eip)):
            errs.append(invalid(_p("spec.externalIPs", i), eip, _VALID_IP))
    return errs


def validate_service_update(svc: Obj, old: Obj) -> Errors:
    errs = validate_object_meta_update(svc.get("metadata"), old.get("metadata"))
    errs += [e for e in validate_service(svc) if not e.field.startswith("metadata")]
    spec, old_spec = _d(svc.get("spec")), _d(old.get("spec"))
    if "ExternalName" not in (spec.get("type"), old_spec.get("type")):
        new_ips, old_ips = _service_cluster_ips(spec), _service_cluster_ips(old_spec)
        if not (spec.get("clusterIP") == "None" and old_spec.get("clusterIP") == "None"):
            for i, oip in enumerate(old_ips[: len(new_ips)]):
                if oip != new_ips[i]:
                    errs.append(invalid(_p("spec.clusterIPs", i), new_ips, "may not change once set"))
    return errs


# --- replication controllers ------------------------------------------------


def validate_replication_controller(rc: Obj) -> Errors:
    errs = validate_object_meta(rc.get("metadata"), kind="ReplicationController", namespaced=True)
    errs += _validate_rc_spec(_d(rc.get("spec")))
    return errs


def _validate_rc_spec(spec: dict) -> Errors:
    errs = _nonneg(spec.get("minReadySeconds"), "spec.minReadySeconds")
    selector = _d(spec.get("selector"))
    if not selector:
        errs.append(required("spec.selector", ""))
    errs += _nonneg(spec.get("replicas"), "spec.replicas")
    template = spec.get("template")
    if template is None:
        errs.append(required("spec.template", ""))
        return errs
    template = _d(template)
    tlabels = _d(_d(template.get("metadata")).get("labels"))
    if selector and any(tlabels.get(k) != v for k, v in selector.items()):
        errs.append(invalid("spec.template.metadata.labels", tlabels, "`selector` does not match template `labels`"))
    errs += validate_pod_template_spec(template, "spec.template")
    tspec = _d(template.get("spec"))
    if tspec.get("restartPolicy") != "Always":
        errs.append(not_supported("spec.template.spec.restartPolicy", tspec.get("restartPolicy", ""), ("Always",)))
    if tspec.get("activeDeadlineSeconds") is not None:
        errs.append(forbidden("spec.template.spec.activeDeadlineSeconds",
                              "activeDeadlineSeconds in ReplicationController is not Supported"))
    return errs


def validate_replication_controller_update(rc: Obj, old: Obj) -> Errors:
    errs = validate_object_meta_update(rc.get("metadata"), old.get("metadata"))
    errs += _validate_rc_spec(_d(rc.get("spec")))
    return errs


# --- namespaces, nodes ------------------------------------------------------


def validate_namespace(ns: Obj) -> Errors:
    errs = validate_object_meta(ns.get("metadata"), kind="Namespace", namespaced=False)
    for i, f in enumerate(_l(_d(ns.get("spec")).get("finalizers"))):
        p = _p("spec.finalizers", i)
        errs += [invalid(p, f, m) for m in names.is_qualified_name(f)]
        if "/" not in f and f != "kubernetes":
            errs.append(invalid(p, f, "name is neither a standard finalizer name nor is it fully qualified"))
    return errs


def _validate_namespace_update(ns: Obj, old: Obj) -> Errors:
    return validate_object_meta_update(ns.get("metadata"), old.get("metadata"))


def validate_node(node: Obj) -> Errors:
    errs = validate_object_meta(node.get("metadata"), kind="Node", namespaced=False)
    spec = _d(node.get("spec"))
    seen: set[tuple[str, str]] = set()
    for i, t in enumerate(_l(spec.get("taints"))):
        t = _d(t)
        ip = _p("spec.taints", i)
        key = t.get("key") or ""
        errs += [invalid(_p(ip, "key"), key, m) for m in names.is_qualified_name(key)]
        if t.get("value"):
            errs += [invalid(_p(ip, "value"), t["value"], m) for m in names.is_valid_label_value(t["value"])]
        effect = t.get("effect") or ""
        errs += _enum(effect, _TAINT_EFFECTS, _p(ip, "effect"))
        if (key, effect) in seen:
            errs.append(duplicate(ip, {"key": key, "effect": effect}))
        seen.add((key, effect))
    for i, cidr in enumerate(_l(spec.get("podCIDRs"))):
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            errs.append(invalid(_p("spec.podCIDRs", i), cidr, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"))
    return errs


def _validate_node_update(node: Obj, old: Obj) -> Errors:
    errs = validate_object_meta_update(node.get("metadata"), old.get("metadata"))
    errs += [e for e in validate_node(node) if not e.field.startswith("metadata")]
    old_cidrs = _l(_d(old.get("spec")).get("podCIDRs"))
    new_cidrs = _l(_d(node.get("spec")).get("podCIDRs"))
    if old_cidrs and new_cidrs != old_cidrs:
        errs.append(forbidden("spec.podCIDRs", "node updates may not change podCIDR except from \"\" to valid"))
    return errs


# --- config maps, secrets ---------------------------------------------------


def _b64_len(v: Any) -> int:
    try:
        return len(base64.b64decode(v or "", validate=True))
    except (binascii.Error, ValueError):
        return len(v or "")


def validate_config_map(cm: Obj) -> Errors:
    errs = validate_object_meta(cm.get("metadata"), kind="ConfigMap", namespaced=True)
    data, binary = _d(cm.get("data")), _d(cm.get("binaryData"))
    total = 0
    for k, v in data.items():
        errs += [invalid(_key("data", k), k, m) for m in names.is_config_map_key(k)]
        if k in binary:
            errs.append(invalid(_key("data", k), k, "duplicate of key present in binaryData"))
        total += len((v or "").encode())
    for k, v in binary.items():
        errs += [invalid(_key("binaryData", k), k, m) for m in names.is_config_map_key(k)]
        total += _b64_len(v)
    if total > _MAX_SECRET_SIZE:
        errs.append(too_long("", _MAX_SECRET_SIZE))
    return errs


def _immutable_data_update(new: Obj, old: Obj, fields: tuple[str, ...]) -> Errors:
    errs: Errors = []
    if old.get("immutable"):
        if not new.get("immutable"):
            errs.append(forbidden("immutable", "field is immutable when `immutable` is set"))
        for f in fields:
            if (new.get(f) or {}) != (old.get(f) or {}):
                errs.append(forbidden(f, "field is immutable when `immutable` is set"))
    return errs


def validate_config_map_update(cm: Obj, old: Obj) -> Errors:
    errs = validate_object_meta_update(cm.get("metadata"), old.get("metadata"))
    errs += _immutable_data_update(cm, old, ("data", "binaryData"))
    errs += [e for e in validate_config_map(cm) if not e.field.startswith("metadata")]
    return errs


_SECRET_REQUIRED_KEYS = {
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
    "kubernetes.io/tls": ("tls.key", "tls.crt"),
}


def validate_secret(secret: Obj) -> Errors:
    errs = validate_object_meta(secret.get("metadata"), kind="Secret", namespaced=True)
    data = dict(_d(secret.get("data")))
    # stringData is merged into data by the registry; count it here too
    for k, v in _d(secret.get("stringData")).items():
        data[k] = base64.b64encode((v or "").encode()).decode()
    total = 0
    for k, v in data.items():
        errs += [invalid(_key("data", k), k, m) for m in names.is_config_map_key(k)]
        total += _b64_len(v)
    if total > _MAX_SECRET_SIZE:
        errs.append(too_long("data", _MAX_SECRET_SIZE))
    stype = secret.get("type") or "Opaque"
    if stype == "kubernetes.io/service-account-token":
        ann = _d(_d(secret.get("metadata")).get("annotations"))
        if not ann.get("kubernetes.io/service-account.name"):
            errs.append(required(_key("metadata.annotations", "kubernetes.io/service-account.name"), ""))
    elif stype == "kubernetes.io/basic-auth" and "username" not in data and "password" not in data:
        errs.append(required(_key("data", "username"), ""))
        errs.append(required(_key("data", "password"), ""))
    for k in _SECRET_REQUIRED_KEYS.get(stype, ()):
        if k not in data:
            errs.append(required(_key("data", k), ""))
    return errs


def validate_secret_update(secret: Obj, old: Obj) -> Errors:
    errs = validate_object_meta_update(secret.get("metadata"), old.get("metadata"))
    errs += _immutable(secret.get("type") or "Opaque", old.get("type") or "Opaque", "type")
    errs += _immutable_data_update(secret, old, ("data",))
    errs += [e for e in validate_secret(secret) if not e.field.startswith("metadata")]
    return errs


# --- endpoints, endpoint slices ---------------------------------------------


def validate_endpoints(ep: Obj) -> Errors:
    """ValidateEndpoints. Loopback addresses are allowed here (Kubernetes forbids them):
    a local pybernetes cluster may run pods on the host's loopback."""
    errs = validate_object_meta(ep.get("metadata"), kind="Endpoints", namespaced=True)
    for i, subset in enumerate(_l(ep.get("subsets"))):
        subset = _d(subset)
        sp = _p("subsets", i)
        addrs, not_ready = _l(subset.get("addresses")), _l(subset.get("notReadyAddresses"))
        if not addrs and not not_ready:
            errs.append(required(sp, "must specify `addresses` or `notReadyAddresses`"))
        for key, lst in (("addresses", addrs), ("notReadyAddresses", not_ready)):
            for j, a in enumerate(lst):
                a = _d(a)
                ip = a.get("ip") or ""
                if not _is_ip(ip):
                    errs.append(invalid(_p(sp, key, j, "ip"), ip, _VALID_IP))
                elif ip in ("0.0.0.0", "::"):
                    errs.append(invalid(_p(sp, key, j, "ip"), ip, "may not be unspecified (0.0.0.0)"))
                if a.get("hostname"):
                    errs += [invalid(_p(sp, key, j, "hostname"), a["hostname"], m)
                             for m in names.is_dns1123_label(a["hostname"])]
        ports = _l(subset.get("ports"))
        require_name = len(ports) > 1
        for j, port in enumerate(ports):
            port = _d(port)
            pp = _p(sp, "ports", j)
            pname = port.get("name") or ""
            if require_name and not pname:
                errs.append(required(_p(pp, "name"), ""))
            elif pname:
                errs += [invalid(_p(pp, "name"), pname, m) for m in names.is_dns1123_label(pname)]
            pnum = port.get("port") or 0
            errs += [invalid(_p(pp, "port"), pnum, m) for m in names.is_valid_port_num(pnum)]
            errs += _enum(port.get("protocol"), _PROTOCOLS, _p(pp, "protocol"))
    return errs


_ADDRESS_TYPES = ("FQDN", "IPv4", "IPv6")


def validate_endpoint_slice(es: Obj) -> Errors:
    errs = validate_object_meta(es.get("metadata"), kind="EndpointSlice", namespaced=True)
    at = es.get("addressType") or ""
    errs += _enum(at, _ADDRESS_TYPES, "addressType")
    endpoints = _l(es.get("endpoints"))
    if len(endpoints) > 1000:
        errs.append(too_many("endpoints", len(endpoints), 1000))
    for i, ep in enumerate(endpoints):
        ep = _d(ep)
        ip = _p("endpoints", i)
        addrs = _l(ep.get("addresses"))
        if not addrs:
            errs.append(required(_p(ip, "addresses"), "must contain at least 1 address"))
        elif len(addrs) > 100:
            errs.append(too_many(_p(ip, "addresses"), len(addrs), 100))
        for j, a in enumerate(addrs):
            ap = _p(ip, "addresses", j)
            if at == "IPv4" and not (_is_ip(a) and ":" not in a):
                errs.append(invalid(ap, a, "must be a valid IPv4 address"))
            elif at == "IPv6" and not (_is_ip(a) and ":" in a):
                errs.append(invalid(ap, a, "must be a valid IPv6 address"))
            elif at == "FQDN":
                errs += [invalid(ap, a, m) for m in names.is_dns1123_subdomain(a)]
        hostname = ep.get("hostname")
        if hostname:
            errs += [invalid(_p(ip, "hostname"), hostname, m) for m in names.is_dns1123_label(hostname)]
    ports = _l(es.get("ports"))
    if len(ports) > 20000:
        errs.append(too_many("ports", len(ports), 20000))
    seen: set[str] = set()
    for i, port in enumerate(ports):
        port = _d(port)
        pp = _p("ports", i)
        pname = port.get("name") or ""
        if pname:
            errs += [invalid(_p(pp, "name"), pname, m) for m in names.is_dns1123_label(pname)]
        if pname in seen:
            errs.append(duplicate(_p(pp, "name"), pname))
        seen.add(pname)
        errs += _enum(port.get("protocol"), _PROTOCOLS, _p(pp, "protocol"))
        if port.get("port") is not None:
            errs += [invalid(_p(pp, "port"), port["port"], m) for m in names.is_valid_port_num(port["port"])]
    return errs


# --- events, service accounts, leases ---------------------------------------


def validate_event(ev: Obj) -> Errors:
    """legacyValidateEvent (core/v1 Events)."""
    meta = _d(ev.get("metadata"))
    errs = validate_object_meta(meta, kind="Event", namespaced=True)
    ns = meta.get("namespace") or ""
    inv_ns = _d(ev.get("involvedObject")).get("namespace") or ""
    mismatch = invalid("involvedObject.namespace", inv_ns, "does not match event.namespace")
    if not ev.get("eventTime"):
        if not inv_ns:
            if ns not in ("", "default"):
                errs.append(mismatch)
        elif ns != inv_ns:
            errs.append(mismatch)
    else:
        if not inv_ns and ns not in ("default", "kube-system"):
            errs.append(mismatch)
        rc = ev.get("reportingComponent") or ""
        if not rc:
            errs.append(required("reportingComponent", ""))
        errs += [invalid("reportingComponent", rc, m) for m in names.is_qualified_name(rc)]
        for f, limit in (("reportingInstance", 128), ("action", 128), ("reason", 128)):
            v = ev.get(f) or ""
            if not v:
                errs.append(required(f, ""))
            if len(v) > limit:
                errs.append(invalid(f, "", f"can have at most {limit} characters"))
        if len(ev.get("message") or "") > 1024:
            errs.append(invalid("message", "", "can have at most 1024 characters"))
    errs += [invalid("namespace", ns, m) for m in names.is_dns1123_subdomain(ns)]
    return errs


def validate_service_account(sa: Obj) -> Errors:
    return validate_object_meta(sa.get("metadata"), kind="ServiceAccount", namespaced=True)


def validate_lease(lease: Obj) -> Errors:
    errs = validate_object_meta(lease.get("metadata"), kind="Lease", namespaced=True)
    spec = _d(lease.get("spec"))
    d = spec.get("leaseDurationSeconds")
    if d is not None and d <= 0:
        errs.append(invalid("spec.leaseDurationSeconds", d, "must be greater than 0"))
    t = spec.get("leaseTransitions")
    if t is not None and t < 0:
        errs.append(invalid("spec.leaseTransitions", t, _NEGATIVE))
    strategy = spec.get("strategy")
    if strategy and strategy not in ("OldestEmulationVersion",) and "/" not in strategy:
        errs.append(invalid("spec.strategy", strategy, "must be a qualified name or a known strategy"))
    return errs


# --- dispatch ---------------------------------------------------------------


def _generic_update(create_fn: Callable[[Obj], Errors]) -> Callable[[Obj, Obj], Errors]:
    def update(obj: Obj, old: Obj) -> Errors:
        errs = validate_object_meta_update(obj.get("metadata"), old.get("metadata"))
        errs += [e for e in create_fn(obj) if not e.field.startswith("metadata")]
        return errs

    return update


VALIDATORS: dict[str, Callable[[Obj], Errors]] = {
    "Pod": validate_pod,
    "Service": validate_service,
    "ReplicationController": validate_replication_controller,
    "Namespace": validate_namespace,
    "Node": validate_node,
    "ConfigMap": validate_config_map,
    "Secret": validate_secret,
    "Endpoints": validate_endpoints,
    "Event": validate_event,
    "ServiceAccount": validate_service_account,
    "Lease": validate_lease,
    "EndpointSlice": validate_endpoint_slice,
}

UPDATE_VALIDATORS: dict[str, Callable[[Obj, Obj], Errors]] = {
    "Pod": validate_pod_update,
    "Service": validate_service_update,
    "ReplicationController": validate_replication_controller_update,
    "Namespace": _validate_namespace_update,
    "Node": _validate_node_update,
    "ConfigMap": validate_config_map_update,
    "Secret": validate_secret_update,
    "Endpoints": _generic_update(validate_endpoints),
    "Event": _generic_update(validate_event),
    "ServiceAccount": _generic_update(validate_service_account),
    "Lease": _generic_update(validate_lease),
    "EndpointSlice": _generic_update(validate_endpoint_slice),
}


def validate(kind: str, obj: Obj, old: Obj | None = None) -> Errors:
    """Validate a create (``old`` is None) or an update of ``kind``; unknown kinds get metadata checks only."""
    if old is None:
        fn = VALIDATORS.get(kind)
        if fn is None:
            return validate_object_meta(obj.get("metadata"), kind=kind)
        return fn(obj)
    ufn = UPDATE_VALIDATORS.get(kind)
    if ufn is None:
        return validate_object_meta_update(obj.get("metadata"), old.get("metadata"))
    return ufn(obj, old)

