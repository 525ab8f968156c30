"""OpenAPI v3 documents: the ``/openapi/v3`` index and one document per group-version.

Schemas come from Kubernetes' own v1.32 definitions (the JSON Schema copy
shipped in ``kubernetes_validate``), converted back to the OpenAPI 3.0 form
the Kubernetes apiserver publishes: nullable ``["string", "null"]`` types
become plain types, ``#/$defs/X`` refs become ``#/components/schemas/X``,
IntOrString and Quantity get their ``oneOf`` forms, and the ``enum`` the JSON
Schema copy adds to ``apiVersion``/``kind`` is dropped. ``x-kubernetes-*``
extensions (patch strategies, list types, group-version-kind) are kept.

Paths list every operation of every served resource and subresource, with the
parameters and ``x-kubernetes-action``/``x-kubernetes-group-version-kind``
extensions Kubernetes gives them. kubectl relies on two things here:
``kubectl explain`` finds a kind's schema by its group-version-kind, and
``--validate=strict`` sends ``fieldValidation=Strict`` only when every PATCH
operation for the kind lists a ``fieldValidation`` query parameter.

Documents are built lazily, once, and kept serialized (orjson) with their
hash, because kubectl fetches them often.

``/openapi/v2`` is only ever asked for as protobuf (never serve JSON there).
kubectl 1.32 manages without it, but kubectl 1.27 fetches it before
``explain`` and before any ``--validate=strict`` create/apply and gives up on
a 404, so ``openapi_v2_protobuf()`` encodes the definitions (no paths: kubectl
reads only ``definitions`` from v2) as gnostic's ``openapi.v2.Document``.
"""

from __future__ import annotations

import hashlib
import re
import struct
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import orjson

from pybernetes.api.resources import RESOURCES, ResourceInfo, group_versions
from pybernetes.apiserver.discovery import subresource_info

__all__ = [
    "KUBERNETES_VERSION",
    "OpenAPIDocument",
    "load_definitions",
    "openapi_schemas",
    "openapi_v3_paths",
    "openapi_v3_index",
    "openapi_v3_index_document",
    "openapi_v3_document",
    "openapi_v3_serialized",
    "OPENAPI_V2_PROTOBUF",
    "openapi_v2_protobuf",
    "invalidate",
]

KUBERNETES_VERSION = "v1.32.0"
_DEFS_FILE = Path("kubernetes-json-schema") / f"{KUBERNETES_VERSION}-local" / "_definitions.json"
_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"


# --------------------------------------------------------------------------- loading


@cache
def load_definitions() -> dict[str, dict]:
    """Kubernetes' v1.32 definitions as shipped (JSON Schema form), keyed by name.

    Reuses ``pybernetes.api.schema``'s loader when that module provides one,
    so the 1.3 MB file is parsed once per process.
    """
    try:
        from pybernetes.api import schema  # type: ignore[attr-defined]

        for name in ("load_definitions", "definitions", "raw_definitions"):
            loader = getattr(schema, name, None)
            if callable(loader):
                defs = loader()
                if isinstance(defs, dict) and "io.k8s.api.core.v1.Pod" in defs:
                    return defs
    except ImportError:
        pass
    import kubernetes_validate

    path = Path(kubernetes_validate.__file__).parent / _DEFS_FILE
    return orjson.loads(path.read_bytes())["$defs"]


# --------------------------------------------------------------------------- schema conversion

_REF_PREFIX = "#/$defs/"
_COMPONENT_PREFIX = "#/components/schemas/"
_SCHEMA_LISTS = ("oneOf", "anyOf", "allOf")


def _convert(node: dict) -> dict:
    """One JSON Schema (draft-2020 with nullable type lists) -> OpenAPI 3.0 schema."""
    out: dict = {}
    for key, value in node.items():
        if key == "type" and isinstance(value, list):
            types = [t for t in value if t != "null"]
            if len(types) == 1:
                out["type"] = types[0]
            elif types:
                out["type"] = types
        elif key == "$ref" and isinstance(value, str) and value.startswith(_REF_PREFIX):
            ref = _COMPONENT_PREFIX + value[len(_REF_PREFIX):]
            # A $ref with siblings (a field's own description) is wrapped in
            # allOf, as Kubernetes publishes it: OpenAPI 3.0 readers, kubectl
            # explain among them, ignore everything beside a bare $ref.
            if len(node) > 1:
                out["allOf"] = [{"$ref": ref}]
            else:
                out["$ref"] = ref
        elif key == "properties" and isinstance(value, dict):
            out["properties"] = {name: _convert(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = _convert(value)
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [_convert(s) if isinstance(s, dict) else s for s in value]
        else:
            out[key] = value
    return out


def _convert_definition(name: str, node: dict) -> dict:
    if name == _INT_OR_STRING:
        return {
            "description": "IntOrString is a type that can hold an int32 or a string.  When used in "
            "JSON or YAML marshalling and unmarshalling, it produces or consumes the inner type.  "
            "This allows you to have, for example, a JSON field that can accept a name or number.",
            "format": "int-or-string",
            "oneOf": [{"type": "integer"}, {"type": "string"}],
        }
    if name == _QUANTITY:
        return {
            "description": "Quantity is a fixed-point representation of a number. It provides "
            "convenient marshaling/unmarshaling in JSON and YAML, in addition to String() and "
            "AsInt64() accessors.",
            "oneOf": [{"type": "string"}, {"type": "number"}],
        }
    out = _convert(node)
    props = out.get("properties")
    if props:
        # The JSON Schema copy pins apiVersion/kind with an enum; Kubernetes does not.
        for field_name in ("apiVersion", "kind"):
            if isinstance(props.get(field_name), dict):
                props[field_name].pop("enum", None)
    return out


@cache
def openapi_schemas() -> dict[str, dict]:
    """Every definition converted to OpenAPI 3.0 form (``components.schemas`` entries)."""
    return {name: _convert_definition(name, node) for name, node in load_definitions().items()}


@cache
def _definition_by_gvk() -> dict[tuple[str, str, str], str]:
    """(group, version, kind) -> definition name, from x-kubernetes-group-version-kind.

    A kind published in several groups (DeleteOptions, WatchEvent...) maps each
    of them; a definition that names exactly one GVK wins over a shared one.
    """
    out: dict[tuple[str, str, str], str] = {}
    for name, node in load_definitions().items():
        gvks = node.get("x-kubernetes-group-version-kind") or ()
        for gvk in gvks:
            key = (gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", ""))
            if key not in out or len(gvks) == 1:
                out[key] = name
    return out


def _definition(group: str, version: str, kind: str, fallback: str = "") -> str:
    return _definition_by_gvk().get((group, version, kind)) or fallback


def _referenced(roots: list[str]) -> list[str]:
    """Definition names reachable from ``roots`` through $ref, roots first."""
    schemas = openapi_schemas()
    seen: dict[str, None] = {}
    stack = [r for r in reversed(roots) if r in schemas]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen[name] = None
        for ref in re.findall(r'"\$ref":"#/components/schemas/([^"]+)"',
                              orjson.dumps(schemas[name]).decode()):
            if ref not in seen:
                stack.append(ref)
    return list(seen)


# --------------------------------------------------------------------------- parameters


def _param(name: str, where: str, typ: str, description: str = "", *, required: bool = False) -> dict:
    p: dict = {}
    if description:
        p["description"] = description
    p["in"] = where
    p["name"] = name
    if required:
        p["required"] = True
    p["schema"] = {"type": typ, "uniqueItems": True}
    return p


_P = {
    "pretty": _param("pretty", "query", "string", "If 'true', then the output is pretty printed."),
    "namespace": _param("namespace", "path", "string",
                        "object name and auth scope, such as for teams and projects", required=True),
    "dryRun": _param("dryRun", "query", "string",
                     "When present, indicates that modifications should not be persisted. An invalid or "
                     "unrecognized dryRun directive will result in an error response and no further "
                     "processing of the request. Valid values are: - All: all dry run stages will be processed"),
    "fieldManager": _param("fieldManager", "query", "string",
                           "fieldManager is a name associated with the actor or entity that is making these "
                           "changes. The value must be less than or 128 characters long, and only contain "
                           "printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint."),
    "fieldManagerPatch": _param("fieldManager", "query", "string",
                                "fieldManager is a name associated with the actor or entity that is making "
                                "these changes. The value must be less than or 128 characters long, and only "
                                "contain printable characters, as defined by "
                                "https://golang.org/pkg/unicode/#IsPrint. This field is required for apply "
                                "requests (application/apply-patch) but optional for non-apply patch types "
                                "(JsonPatch, MergePatch, StrategicMergePatch)."),
    "fieldValidation": _param("fieldValidation", "query", "string",
                              "fieldValidation instructs the server on how to handle objects in the request "
                              "(POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - "
                              "Ignore: This will ignore any unknown fields that are silently dropped from the "
                              "object, and will ignore all but the last duplicate field that the decoder "
                              "encounters. - Warn: This will send a warning via the standard warning response "
                              "header for each unknown field that is dropped from the object, and for each "
                              "duplicate field that is encountered. The request will still succeed if there "
                              "are no other errors, and will only persist the last of any duplicate fields. - "
                              "Strict: This will fail the request with a BadRequest error if any unknown "
                              "fields would be dropped from the object, or if any duplicate fields are "
                              "present. The error returned from the server will contain all unknown and "
                              "duplicate fields encountered."),
    "force": _param("force", "query", "boolean",
                    "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting "
                    "fields owned by other people. Force flag must be unset for non-apply patch requests."),
    "labelSelector": _param("labelSelector", "query", "string",
                            "A selector to restrict the list of returned objects by their labels. Defaults to "
                            "everything."),
    "fieldSelector": _param("fieldSelector", "query", "string",
                            "A selector to restrict the list of returned objects by their fields. Defaults to "
                            "everything."),
    "watch": _param("watch", "query", "boolean",
                    "Watch for changes to the described resources and return them as a stream of add, "
                    "update, and remove notifications. Specify resourceVersion."),
    "allowWatchBookmarks": _param("allowWatchBookmarks", "query", "boolean",
                                  "allowWatchBookmarks requests watch events with type \"BOOKMARK\". Servers "
                                  "that do not implement bookmarks may ignore this flag and bookmarks are sent "
                                  "at the server's discretion."),
    "resourceVersion": _param("resourceVersion", "query", "string",
                              "resourceVersion sets a constraint on what resource versions a request may be "
                              "served from. See https://kubernetes.io/docs/reference/using-api/api-concepts/"
                              "#resource-versions for details.\n\nDefaults to unset"),
    "resourceVersionMatch": _param("resourceVersionMatch", "query", "string",
                                   "resourceVersionMatch determines how resourceVersion is applied to list "
                                   "calls.\n\nDefaults to unset"),
    "sendInitialEvents": _param("sendInitialEvents", "query", "boolean",
                                "`sendInitialEvents=true` may be set together with `watch=true`. In that case, "
                                "the watch stream will begin with synthetic events to produce the current "
                                "state of objects in the collection."),
    "timeoutSeconds": _param("timeoutSeconds", "query", "integer",
                             "Timeout for the list/watch call. This limits the duration of the call, "
                             "regardless of any activity or inactivity."),
    "limit": _param("limit", "query", "integer",
                    "limit is a maximum number of responses to return for a list call. If more items exist, "
                    "the server will set the `continue` field on the list metadata to a value that can be "
                    "used with the same initial query to retrieve the next set of results."),
    "continue": _param("continue", "query", "string",
                       "The continue option should be set when retrieving more results from the server. Since "
                       "this value is server defined, clients may only use the continue value from a previous "
                       "query result with identical query parameters (except for the value of continue)."),
    "gracePeriodSeconds": _param("gracePeriodSeconds", "query", "integer",
                                 "The duration in seconds before the object should be deleted. Value must be "
                                 "non-negative integer. The value zero indicates delete immediately."),
    "orphanDependents": _param("orphanDependents", "query", "boolean",
                               "Deprecated: please use the PropagationPolicy, this field will be deprecated in "
                               "1.7. Should the dependent objects be orphaned."),
    "propagationPolicy": _param("propagationPolicy", "query", "string",
                                "Whether and how garbage collection will be performed. Acceptable values are: "
                                "'Orphan' - orphan the dependents; 'Background' - allow the garbage collector "
                                "to delete the dependents in the background; 'Foreground' - a cascading policy "
                                "that deletes all dependents in the foreground."),
}

_LIST_PARAMS = ("allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit",
                "resourceVersion", "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds", "watch")
_WRITE_PARAMS = ("dryRun", "fieldManager", "fieldValidation")
_PATCH_PARAMS = ("dryRun", "fieldManagerPatch", "fieldValidation", "force")
_DELETE_PARAMS = ("dryRun", "gracePeriodSeconds", "orphanDependents", "propagationPolicy")
_DELETECOLLECTION_PARAMS = ("continue", "dryRun", "fieldSelector", "gracePeriodSeconds", "labelSelector",
                            "limit", "orphanDependents", "propagationPolicy", "resourceVersion",
                            "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds")

_LOG_PARAMS = (
    _param("container", "query", "string",
           "The container for which to stream logs. Defaults to only container if there is one container "
           "in the pod."),
    _param("follow", "query", "boolean", "Follow the log stream of the pod. Defaults to false."),
    _param("insecureSkipTLSVerifyBackend", "query", "boolean",
           "insecureSkipTLSVerifyBackend indicates that the apiserver should not confirm the validity of "
           "the serving certificate of the backend it is connecting to."),
    _param("limitBytes", "query", "integer",
           "If set, the number of bytes to read from the server before terminating the log output."),
    _param("previous", "query", "boolean",
           "Return previous terminated container logs. Defaults to false."),
    _param("sinceSeconds", "query", "integer",
           "A relative time in seconds before the current time from which to show logs."),
    _param("sinceTime", "query", "string",
           "An RFC3339 timestamp from which to show logs."),
    _param("tailLines", "query", "integer",
           "If set, the number of lines from the end of the logs to show."),
    _param("timestamps", "query", "boolean",
           "If true, add an RFC3339 or RFC3339Nano timestamp at the beginning of every line of log "
           "output. Defaults to false."),
)

_PATCH_TYPES = (
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)


def _params(names: tuple[str, ...]) -> list[dict]:
    return [_P[n] for n in names]


# --------------------------------------------------------------------------- operations


def _ref(name: str) -> dict:
    return {"$ref": _COMPONENT_PREFIX + name}


def _content(schema_name: str, *, watch: bool = False) -> dict:
    content = {"application/json": {"schema": _ref(schema_name)}}
    if watch:
        content["application/json;stream=watch"] = {"schema": _ref(schema_name)}
    return content


def _responses(schema_name: str, codes: tuple[str, ...] = ("200",), *, watch: bool = False) -> dict:
    texts = {"200": "OK", "201": "Created", "202": "Accepted"}
    return {c: {"content": _content(schema_name, watch=watch), "description": texts[c]} for c in codes}


def _group_title(group: str) -> str:
    """Kubernetes' operationId group word: "" -> Core, "coordination.k8s.io" -> Coordination."""
    if not group:
        return "Core"
    g = group.removesuffix(".k8s.io")
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[.\-]", g) if part)


def _tag(group: str, version: str) -> str:
    g = group.removesuffix(".k8s.io").replace(".", "_") if group else "core"
    return f"{g}_{version}"


def _op(*, action: str, gvk: tuple[str, str, str], op_id: str, description: str, tag: str,
        params: list[dict] | None = None, body: dict | None = None, responses: dict) -> dict:
    op: dict = {"description": description, "operationId": op_id}
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = body
    op["responses"] = responses
    op["tags"] = [tag]
    op["x-kubernetes-action"] = action
    op["x-kubernetes-group-version-kind"] = {"group": gvk[0], "version": gvk[1], "kind": gvk[2]}
    return op


def _json_body(schema_name: str) -> dict:
    return {"content": {"application/json": {"schema": _ref(schema_name)}}, "required": True}


def _patch_body() -> dict:
    patch = _META + "Patch"
    return {"content": {t: {"schema": _ref(patch)} for t in _PATCH_TYPES}, "required": True}


def _resource_paths(r: ResourceInfo) -> tuple[dict[str, dict], list[str]]:
    """Path items for one resource and its subresources, plus the schemas they name."""
    kind_def = r.definition or _definition(r.group, r.version, r.kind)
    list_def = _definition(r.group, r.version, r.list_kind, kind_def + "List")
    gvk = (r.group, r.version, r.kind)
    word = _group_title(r.group) + r.version[:1].upper() + r.version[1:]
    ns_word = "Namespaced" if r.namespaced else ""
    tag = _tag(r.group, r.version)
    root = f"/apis/{r.group}/{r.version}" if r.group else f"/api/{r.version}"
    collection = f"{root}/namespaces/{{namespace}}/{r.plural}" if r.namespaced else f"{root}/{r.plural}"
    item = collection + "/{name}"
    scope_params = [_P["namespace"]] if r.namespaced else []
    name_param = _param("name", "path", "string", f"name of the {r.kind}", required=True)
    verbs = set(r.verbs)
    status_def = _META + "Status"
    used = [kind_def, list_def, status_def, _META + "DeleteOptions", _META + "Patch",
            _META + "WatchEvent", _META + "APIResourceList"]
    paths: dict[str, dict] = {}

    coll: dict = {}
    if "list" in verbs:
        coll["get"] = _op(action="list", gvk=gvk, op_id=f"list{word}{ns_word}{r.kind}",
                          description=f"list or watch objects of kind {r.kind}", tag=tag,
                          params=_params(_LIST_PARAMS), responses=_responses(list_def, watch=True))
    if "create" in verbs:
        coll["post"] = _op(action="post", gvk=gvk, op_id=f"create{word}{ns_word}{r.kind}",
                           description=f"create a {r.kind}", tag=tag, params=_params(_WRITE_PARAMS),
                           body=_json_body(kind_def),
                           responses=_responses(kind_def, ("200", "201", "202")))
    if "deletecollection" in verbs:
        coll["delete"] = _op(action="deletecollection", gvk=gvk,
                             op_id=f"delete{word}Collection{ns_word}{r.kind}",
                             description=f"delete collection of {r.kind}", tag=tag,
                             params=_params(_DELETECOLLECTION_PARAMS),
                             body={"content": {"application/json": {"schema": _ref(_META + "DeleteOptions")}}},
                             responses=_responses(status_def))
    if coll:
        coll["parameters"] = [*scope_params, _P["pretty"]]
        paths[collection] = coll

    if r.namespaced and "list" in verbs:
        paths[f"{root}/{r.plural}"] = {
            "get": _op(action="list", gvk=gvk, op_id=f"list{word}{r.kind}ForAllNamespaces",
                       description=f"list or watch objects of kind {r.kind}", tag=tag,
                       responses=_responses(list_def, watch=True)),
            "parameters": [*_params(_LIST_PARAMS), _P["pretty"]],
        }

    single: dict = {}
    if "get" in verbs:
        single["get"] = _op(action="get", gvk=gvk, op_id=f"read{word}{ns_word}{r.kind}",
                            description=f"read the specified {r.kind}", tag=tag,
                            responses=_responses(kind_def))
    if "update" in verbs:
        single["put"] = _op(action="put", gvk=gvk, op_id=f"replace{word}{ns_word}{r.kind}",
                            description=f"replace the specified {r.kind}", tag=tag,
                            params=_params(_WRITE_PARAMS), body=_json_body(kind_def),
                            responses=_responses(kind_def, ("200", "201")))
    if "patch" in verbs:
        single["patch"] = _op(action="patch", gvk=gvk, op_id=f"patch{word}{ns_word}{r.kind}",
                              description=f"partially update the specified {r.kind}", tag=tag,
                              params=_params(_PATCH_PARAMS), body=_patch_body(),
                              responses=_responses(kind_def, ("200", "201")))
    if "delete" in verbs:
        single["delete"] = _op(action="delete", gvk=gvk, op_id=f"delete{word}{ns_word}{r.kind}",
                               description=f"delete a {r.kind}", tag=tag, params=_params(_DELETE_PARAMS),
                               body={"content": {"application/json": {"schema": _ref(_META + "DeleteOptions")}}},
                               responses=_responses(status_def, ("200", "202")))
    if single:
        single["parameters"] = [name_param, *scope_params, _P["pretty"]]
        paths[item] = single

    for sub in r.subresources:
        info = subresource_info(r, sub)
        sub_gvk = (info.group, info.version, info.kind)
        sub_def = _definition(*sub_gvk, kind_def if info.kind == r.kind else "")
        if sub_def:
            used.append(sub_def)
        sub_word = sub[:1].upper() + sub[1:]
        suffix = f"{ns_word}{r.kind}{sub_word}"
        sverbs = set(info.verbs)
        path_item: dict = {}
        if sub == "log":
            path_item["get"] = _op(
                action="get", gvk=sub_gvk, op_id=f"read{word}{suffix}",
                description=f"read log of the specified {r.kind}", tag=tag, params=list(_LOG_PARAMS),
                responses={"200": {"content": {"text/plain": {"schema": {"type": "string"}}},
                                   "description": "OK"}})
        else:
            if "get" in sverbs and sub_def:
                path_item["get"] = _op(action="get", gvk=sub_gvk, op_id=f"read{word}{suffix}",
                                       description=f"read {sub} of the specified {r.kind}", tag=tag,
                                       responses=_responses(sub_def))
            if "update" in sverbs and sub_def:
                path_item["put"] = _op(action="put", gvk=sub_gvk, op_id=f"replace{word}{suffix}",
                                       description=f"replace {sub} of the specified {r.kind}", tag=tag,
                                       params=_params(_WRITE_PARAMS), body=_json_body(sub_def),
                                       responses=_responses(sub_def, ("200", "201")))
            if "patch" in sverbs and sub_def:
                path_item["patch"] = _op(action="patch", gvk=sub_gvk, op_id=f"patch{word}{suffix}",
                                         description=f"partially update {sub} of the specified {r.kind}",
                                         tag=tag, params=_params(_PATCH_PARAMS), body=_patch_body(),
                                         responses=_responses(sub_def, ("200", "201")))
            if "create" in sverbs and sub_def:
                path_item["post"] = _op(action="post", gvk=sub_gvk, op_id=f"create{word}{suffix}",
                                        description=f"create {sub} of a {r.kind}", tag=tag,
                                        params=_params(_WRITE_PARAMS), body=_json_body(sub_def),
                                        responses=_responses(sub_def, ("200", "201", "202")))
        if path_item:
            path_item["parameters"] = [
                _param("name", "path", "string", f"name of the {info.kind}", required=True),
                *scope_params, _P["pretty"],
            ]
            paths[f"{item}/{sub}"] = path_item
    return paths, used


# --------------------------------------------------------------------------- documents


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def openapi_v3_paths() -> list[str]:
    """The group-version paths of the index: "api/v1", "apis/coordination.k8s.io/v1", ..."""
    return [_gv_path(g, v) for g, v in group_versions()]


def _build_document(group: str, version: str) -> dict | None:
    served = [r for r in RESOURCES if r.group == group and r.version == version]
    if not served:
        return None
    paths: dict[str, dict] = {}
    roots: list[str] = []
    for r in served:
        p, used = _resource_paths(r)
        paths.update(p)
        roots.extend(used)
    schemas = openapi_schemas()
    components = {name: schemas[name] for name in sorted(_referenced(roots))}
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": components,
            "securitySchemes": {
                "BearerToken": {"description": "Bearer Token authentication", "in": "header",
                                "name": "authorization", "type": "apiKey"},
            },
        },
        "security": [{"BearerToken": []}],
    }


@dataclass(frozen=True, slots=True)
class OpenAPIDocument:
    """A serialized document: ``body``, ``hash`` (uppercase hex SHA-512 of the
    body, as in the index's ``?hash=``), ``etag`` (the quoted hash, for
    ETag/If-None-Match) and the ``content_type`` to answer with."""

    body: bytes
    hash: str
    content_type: str = "application/json"

    @property
    def etag(self) -> str:
        return f'"{self.hash}"'


_lock = threading.Lock()
_serialized: dict[str, OpenAPIDocument | None] = {}


def _serialize(doc: dict) -> OpenAPIDocument:
    body = orjson.dumps(doc)
    return OpenAPIDocument(body, hashlib.sha512(body).hexdigest().upper())


def openapi_v3_document(group: str, version: str) -> dict | None:
    """The OpenAPI v3 document for ``group``/``version`` ("" for core), or None (404).

    A fresh dict each call (the cached form is the serialized one).
    """
    cached = openapi_v3_serialized(_gv_path(group, version))
    return orjson.loads(cached.body) if cached else None


def openapi_v3_serialized(path: str) -> OpenAPIDocument | None:
    """Serialized document for an index path ("api/v1", "apis/g/v"), or None (404).

    Built on first use and cached for the life of the process; CPU-bound on the
    first call (a few hundred ms for core/v1), so call it off the event loop or
    warm it at startup.
    """
    path = path.strip("/")
    with _lock:
        if path in _serialized:
            return _serialized[path]
    parts = path.split("/")
    if len(parts) == 2 and parts[0] == "api":
        group, version = "", parts[1]
    elif len(parts) == 3 and parts[0] == "apis":
        group, version = parts[1], parts[2]
    else:
        return None
    doc = _build_document(group, version)
    result = _serialize(doc) if doc is not None else None
    with _lock:
        _serialized.setdefault(path, result)
        return _serialized[path]


def openapi_v3_index() -> dict:
    """``GET /openapi/v3``: ``{"paths": {gv_path: {"serverRelativeURL": ...?hash=H}}}``."""
    paths = {}
    for p in openapi_v3_paths():
        doc = openapi_v3_serialized(p)
        if doc is not None:
            paths[p] = {"serverRelativeURL": f"/openapi/v3/{p}?hash={doc.hash}"}
    return {"paths": paths}


@cache
def openapi_v3_index_document() -> OpenAPIDocument:
    """The index, serialized with its hash (for ETag handling)."""
    return _serialize(openapi_v3_index())


# --------------------------------------------------------------------------- v2 (protobuf)

# Clients ask for "...spec.v2@v1.0+protobuf"; the answer's Content-Type must be
# the dotted form, since "@" is not a valid media-type character and client-go
# rejects the response otherwise.
OPENAPI_V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int64 as two's complement, like protobuf
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field_bytes(num: int, data: bytes) -> bytes:
    return _varint(num << 3 | 2) + _varint(len(data)) + data


def _field_str(num: int, value: str) -> bytes:
    return _field_bytes(num, value.encode())


def _field_varint(num: int, value: int) -> bytes:
    return _varint(num << 3) + _varint(int(value))


def _field_double(num: int, value: float) -> bytes:
    return _varint(num << 3 | 1) + struct.pack("<d", float(value))


def _yaml_any(value: object) -> bytes:
    """gnostic ``Any`` holding ``value`` as YAML text (JSON is valid YAML)."""
    return _field_str(2, orjson.dumps(value).decode())


# gnostic openapi.v2.Schema field numbers for scalar keywords.
_V2_STRINGS = {"format": 2, "title": 3, "description": 4, "pattern": 13}
_V2_DOUBLES = {"multipleOf": 6, "maximum": 7, "minimum": 9}
_V2_BOOLS = {"exclusiveMaximum": 8, "exclusiveMinimum": 10, "uniqueItems": 16, "readOnly": 27}
_V2_INTS = {"maxLength": 11, "minLength": 12, "maxItems": 14, "minItems": 15,
            "maxProperties": 17, "minProperties": 18}


def _v2_schema(node: dict, *, drop_enum: bool = False) -> bytes:
    """Encode one JSON Schema node (source form) as an openapi.v2.Schema message."""
    parts: list[tuple[int, bytes]] = []
    ref = node.get("$ref")
    if isinstance(ref, str):
        parts.append((1, _field_str(1, "#/definitions/" + ref.removeprefix(_REF_PREFIX))))
    for key, value in node.items():
        if key in _V2_STRINGS and isinstance(value, str):
            parts.append((_V2_STRINGS[key], _field_str(_V2_STRINGS[key], value)))
        elif key in _V2_DOUBLES and isinstance(value, int | float):
            parts.append((_V2_DOUBLES[key], _field_double(_V2_DOUBLES[key], value)))
        elif key in _V2_BOOLS and isinstance(value, bool):
            if value:
                parts.append((_V2_BOOLS[key], _field_varint(_V2_BOOLS[key], 1)))
        elif key in _V2_INTS and isinstance(value, int):
            parts.append((_V2_INTS[key], _field_varint(_V2_INTS[key], value)))
        elif key == "default":
            parts.append((5, _field_bytes(5, _yaml_any(value))))
        elif key == "required" and isinstance(value, list):
            parts.extend((19, _field_str(19, str(v))) for v in value)
        elif key == "enum" and isinstance(value, list) and not drop_enum:
            parts.extend((20, _field_bytes(20, _yaml_any(v))) for v in value)
        elif key == "additionalProperties":
            inner = _field_bytes(1, _v2_schema(value)) if isinstance(value, dict) else \
                _field_varint(2, bool(value))
            parts.append((21, _field_bytes(21, inner)))
        elif key == "type":
            types = [t for t in (value if isinstance(value, list) else [value]) if t != "null"]
            if types:
                parts.append((22, _field_bytes(22, b"".join(_field_str(1, t) for t in types[:1]))))
        elif key == "items" and isinstance(value, dict):
            parts.append((23, _field_bytes(23, _field_bytes(1, _v2_schema(value)))))
        elif key == "allOf" and isinstance(value, list):
            parts.extend((24, _field_bytes(24, _v2_schema(s))) for s in value if isinstance(s, dict))
        elif key == "properties" and isinstance(value, dict):
            named = b"".join(
                _field_bytes(1, _field_str(1, name) + _field_bytes(
                    2, _v2_schema(sub, drop_enum=name in ("apiVersion", "kind"))))
                for name, sub in value.items() if isinstance(sub, dict)
            )
            parts.append((25, _field_bytes(25, named)))
        elif key.startswith("x-"):
            parts.append((31, _field_bytes(31, _field_str(1, key) + _field_bytes(2, _yaml_any(value)))))
    parts.sort(key=lambda p: p[0])  # canonical field order; stable within repeated fields
    return b"".join(data for _, data in parts)


def _v2_definition(name: str, node: dict) -> dict:
    """The v2 shape Kubernetes publishes for the two oneOf types."""
    if name == _INT_OR_STRING:
        return {"description": _convert_definition(name, node)["description"],
                "format": "int-or-string", "type": "string"}
    if name == _QUANTITY:
        return {"description": _convert_definition(name, node)["description"], "type": "string"}
    return node


@cache
def openapi_v2_protobuf() -> OpenAPIDocument:
    """``GET /openapi/v2`` as gnostic ``openapi.v2.Document`` protobuf (all definitions).

    Answer with ``content_type`` (``OPENAPI_V2_PROTOBUF``) when the client's
    Accept names ``application/com.github.proto-openapi.spec.v2@v1.0+protobuf``,
    and 404 to a JSON request.
    """
    defs = b"".join(
        _field_bytes(1, _field_str(1, name) + _field_bytes(2, _v2_schema(_v2_definition(name, node))))
        for name, node in sorted(load_definitions().items())
    )
    info = _field_str(1, "Kubernetes") + _field_str(2, KUBERNETES_VERSION)
    body = (_field_str(1, "2.0") + _field_bytes(2, info) + _field_bytes(8, b"")
            + _field_bytes(9, defs))
    return OpenAPIDocument(body, hashlib.sha512(body).hexdigest().upper(), OPENAPI_V2_PROTOBUF)


def invalidate() -> None:
    """Forget the built documents (not the loaded definitions).

    For when the served resource table changes at run time (custom resources,
    later): the next request rebuilds them, with new hashes, so clients that
    cache by ``?hash=`` refetch.
    """
    with _lock:
        _serialized.clear()
    openapi_v3_index_document.cache_clear()
    openapi_v2_protobuf.cache_clear()
