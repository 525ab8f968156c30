"""Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`).

kubectl's generator commands (`create namespace|configmap|secret|
serviceaccount|service`) send their object as protobuf, whatever the server
prefers; everything else arrives as JSON. ``decode(body, kind)`` turns such a
body into the object's JSON form, so the usual decoding, defaulting and
validation apply unchanged.

The wire form is the ``k8s\\x00`` magic, then a ``runtime.Unknown`` envelope
(typeMeta, raw, contentEncoding, contentType) whose ``raw`` is the object's
message. Field numbers are Kubernetes' (``generated.proto``), listed below for
the kinds that arrive this way; other kinds answer 415 as before.

Go writes non-pointer fields even when zero; JSON omits those
(``omitempty``), so zero scalars, empty messages and zero timestamps are
dropped, except for the fields marked as pointers, whose presence is meaningful.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime

from . import errors

__all__ = ["PROTOBUF", "decode", "decodable"]

PROTOBUF = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"


@dataclass(frozen=True, slots=True)
class _F:
    name: str  # the JSON field name
    kind: str  # string | bool | int | bytes | time | intstr | message type name
    repeated: bool = False
    map_value: str = ""  # map<string, map_value>
    pointer: bool = False  # Go pointer: present means set, even when zero


def _msg(*fields: tuple[int, _F]) -> dict[int, _F]:
    return dict(fields)


_S, _B, _I = "string", "bool", "int"

# Field numbers from Kubernetes' generated.proto (meta/v1, core/v1).
_MESSAGES: dict[str, dict[int, _F]] = {
    "Unknown": _msg((1, _F("typeMeta", "TypeMeta")), (2, _F("raw", "bytes")),
                    (3, _F("contentEncoding", _S)), (4, _F("contentType", _S))),
    "TypeMeta": _msg((1, _F("apiVersion", _S)), (2, _F("kind", _S))),
    "ObjectMeta": _msg(
        (1, _F("name", _S)), (2, _F("generateName", _S)), (3, _F("namespace", _S)), (4, _F("selfLink", _S)),
        (5, _F("uid", _S)), (6, _F("resourceVersion", _S)), (7, _F("generation", _I)),
        (8, _F("creationTimestamp", "time")), (9, _F("deletionTimestamp", "time", pointer=True)),
        (10, _F("deletionGracePeriodSeconds", _I, pointer=True)),
        (11, _F("labels", "", map_value=_S)), (12, _F("annotations", "", map_value=_S)),
        (13, _F("ownerReferences", "OwnerReference", repeated=True)), (14, _F("finalizers", _S, repeated=True)),
        (17, _F("managedFields", "ManagedFieldsEntry", repeated=True))),
    "OwnerReference": _msg(
        (5, _F("apiVersion", _S)), (1, _F("kind", _S)), (3, _F("name", _S)), (4, _F("uid", _S)),
        (6, _F("controller", _B, pointer=True)), (7, _F("blockOwnerDeletion", _B, pointer=True))),
    "ManagedFieldsEntry": _msg(
        (1, _F("manager", _S)), (2, _F("operation", _S)), (3, _F("apiVersion", _S)),
        (4, _F("time", "time", pointer=True)), (6, _F("fieldsType", _S)), (7, _F("fieldsV1", "FieldsV1")),
        (8, _F("subresource", _S))),
    "ObjectReference": _msg(
        (1, _F("kind", _S)), (2, _F("namespace", _S)), (3, _F("name", _S)), (4, _F("uid", _S)),
        (5, _F("apiVersion", _S)), (6, _F("resourceVersion", _S)), (7, _F("fieldPath", _S))),
    "LocalObjectReference": _msg((1, _F("name", _S))),
    "Namespace": _msg((1, _F("metadata", "ObjectMeta")), (2, _F("spec", "NamespaceSpec"))),
    "NamespaceSpec": _msg((1, _F("finalizers", _S, repeated=True))),
    "ConfigMap": _msg(
        (1, _F("metadata", "ObjectMeta")), (4, _F("immutable", _B, pointer=True)),
        (2, _F("data", "", map_value=_S)), (3, _F("binaryData", "", map_value="bytes"))),
    "Secret": _msg(
        (1, _F("metadata", "ObjectMeta")), (5, _F("immutable", _B, pointer=True)),
        (2, _F("data", "", map_value="bytes")), (4, _F("stringData", "", map_value=_S)), (3, _F("type", _S))),
    "ServiceAccount": _msg(
        (1, _F("metadata", "ObjectMeta")), (2, _F("secrets", "ObjectReference", repeated=True)),
        (3, _F("imagePullSecrets", "LocalObjectReference", repeated=True)),
        (4, _F("automountServiceAccountToken", _B, pointer=True))),
    "Service": _msg((1, _F("metadata", "ObjectMeta")), (2, _F("spec", "ServiceSpec"))),
    "ServiceSpec": _msg(
        (1, _F("ports", "ServicePort", repeated=True)), (2, _F("selector", "", map_value=_S)),
        (3, _F("clusterIP", _S)), (18, _F("clusterIPs", _S, repeated=True)), (4, _F("type", _S)),
        (5, _F("externalIPs", _S, repeated=True)), (7, _F("sessionAffinity", _S)),
        (8, _F("loadBalancerIP", _S)), (9, _F("loadBalancerSourceRanges", _S, repeated=True)),
        (10, _F("externalName", _S)), (11, _F("externalTrafficPolicy", _S)),
        (12, _F("healthCheckNodePort", _I)), (13, _F("publishNotReadyAddresses", _B)),
        (14, _F("sessionAffinityConfig", "SessionAffinityConfig", pointer=True)),
        (19, _F("ipFamilies", _S, repeated=True)), (17, _F("ipFamilyPolicy", _S, pointer=True)),
        (20, _F("allocateLoadBalancerNodePorts", _B, pointer=True)),
        (21, _F("loadBalancerClass", _S, pointer=True)), (22, _F("internalTrafficPolicy", _S, pointer=True)),
        (23, _F("trafficDistribution", _S, pointer=True))),
    "ServicePort": _msg(
        (1, _F("name", _S)), (2, _F("protocol", _S)), (6, _F("appProtocol", _S, pointer=True)),
        (3, _F("port", _I)), (4, _F("targetPort", "intstr")), (5, _F("nodePort", _I))),
    "SessionAffinityConfig": _msg((1, _F("clientIP", "ClientIPConfig", pointer=True))),
    "ClientIPConfig": _msg((1, _F("timeoutSeconds", _I, pointer=True))),
    "FieldsV1": _msg((1, _F("Raw", "bytes"))),
}

# Kinds whose bodies may arrive as protobuf.
_TOP_LEVEL = {"Namespace", "ConfigMap", "Secret", "ServiceAccount", "Service"}

_GO_ZERO_TIME = -62135596800  # time.Time{}.Unix()


def decodable(kind: str) -> bool:
    return kind in _TOP_LEVEL


class _Malformed(ValueError):
    pass


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise _Malformed("truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def _fields(buf: bytes):
    """(field number, wire type, value) for each field: ints for varints and
    fixed widths, bytes for length-delimited."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            n, i = _varint(buf, i)
            if i + n > len(buf):
                raise _Malformed("truncated field")
            value, i = buf[i:i + n], i + n
        elif wire == 1:
            value, i = int.from_bytes(buf[i:i + 8], "little"), i + 8
        elif wire == 5:
            value, i = int.from_bytes(buf[i:i + 4], "little"), i + 4
        else:
            raise _Malformed(f"unsupported wire type {wire}")
        if i > len(buf):
            raise _Malformed("truncated field")
        yield num, wire, value


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _scalar(kind: str, wire: int, raw):
    if kind == _S:
        return raw.decode()
    if kind == _B:
        return bool(raw)
    if kind == _I:
        return _signed(raw)
    if kind == "bytes":
        return base64.b64encode(raw).decode()
    if kind == "time":
        t = _message(raw, {1: _F("seconds", _I), 2: _F("nanos", _I)}, keep_zero=True)
        seconds = t.get("seconds", 0)
        if seconds == _GO_ZERO_TIME or not t:
            return None
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if kind == "intstr":
        v = _message(raw, {1: _F("type", _I), 2: _F("intVal", _I), 3: _F("strVal", _S)}, keep_zero=True)
        value = v.get("strVal", "") if v.get("type") == 1 else v.get("intVal", 0)
        return value or None
    if kind == "FieldsV1":
        import orjson
        raw_json = _message(raw, {1: _F("Raw", _S)}, keep_zero=True).get("Raw")
        return orjson.loads(raw_json) if raw_json else {}
    return _message(raw, _MESSAGES[kind])


def _message(buf: bytes, spec: dict[int, _F], *, keep_zero: bool = False) -> dict:
    out: dict = {}
    for num, wire, raw in _fields(buf):
        f = spec.get(num)
        if f is None:
            continue  # a field this table does not know: newer than it, dropped
        if f.map_value:
            entry = {n: v for n, _, v in _fields(raw)}
            key = entry.get(1, b"").decode()
            value = _scalar(f.map_value, 2, entry.get(2, b""))
            out.setdefault(f.name, {})[key] = value
            continue
        value = _scalar(f.kind, wire, raw)
        if f.repeated:
            out.setdefault(f.name, []).append(value)
            continue
        if value is None:
            continue
        if not (keep_zero or f.pointer) and value in ("", 0, {}):  # 0 == False
            continue
        out[f.name] = value
    return out


def decode(body: bytes, kind: str) -> dict:
    """The JSON form of a protobuf-encoded ``kind`` (400 when malformed or of another kind)."""
    if not body.startswith(MAGIC):
        raise errors.bad_request("provided data does not appear to be a protobuf message, expected prefix "
                                 "[107 56 115 0]")
    try:
        envelope = _message(body[len(MAGIC):], _MESSAGES["Unknown"], keep_zero=True)
        type_meta = envelope.get("typeMeta") or {}
        if type_meta.get("kind") and type_meta["kind"] != kind:
            raise errors.bad_request(f'{kind} in version "v1" cannot be handled as a {kind}: no kind '
                                     f'"{type_meta["kind"]}" is registered for version "{type_meta.get("apiVersion", "")}"')
        raw = base64.b64decode(envelope.get("raw") or "")
        obj = {"kind": type_meta.get("kind") or kind, "apiVersion": type_meta.get("apiVersion") or "v1"}
        obj.update(_message(raw, _MESSAGES[kind]))
    except (_Malformed, UnicodeDecodeError) as e:
        raise errors.bad_request(f"unable to decode protobuf {kind}: {e}") from None
    obj.setdefault("metadata", {})
    return obj
