"""Request bodies: JSON or YAML in, unknown fields per `fieldValidation`.

Kubernetes' rules: malformed input is 400 BadRequest; with
`fieldValidation=Strict` an unknown field is 400 too; with `Warn` (the default)
or `Ignore` unknown fields are dropped, `Warn` adding a `Warning` header.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson
import yaml

from ..api import schema
from ..api.resources import ResourceInfo
from . import errors

__all__ = ["Decoded", "parse_body", "decode_object", "MAX_BODY_BYTES"]

MAX_BODY_BYTES = 3 * 1024 * 1024

try:  # libyaml when present: much faster on big manifests
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader


@dataclass(slots=True)
class Decoded:
    obj: dict
    warnings: list[str] = field(default_factory=list)


def parse_body(body: bytes, content_type: str) -> object:
    """Bytes → Python value; 400 on malformed JSON/YAML, 415 on unknown media types."""
    ct = (content_type or "application/json").split(";")[0].strip().lower()
    if ct in ("application/json", "", "*/*", "application/merge-patch+json",
              "application/strategic-merge-patch+json", "application/json-patch+json"):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as e:
            raise errors.bad_request(f"couldn't get version/kind; json parse error: {e}") from None
    if ct in ("application/yaml", "application/apply-patch+yaml", "text/yaml"):
        try:
            return yaml.load(body, Loader=_Loader)
        except yaml.YAMLError as e:
            raise errors.bad_request(f"error converting YAML to JSON: {_yaml_msg(e)}") from None
    if ct == "application/vnd.kubernetes.protobuf":
        raise errors.unsupported_media_type(ct)
    raise errors.unsupported_media_type(ct)


def _yaml_msg(e: yaml.YAMLError) -> str:
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e)
    if mark is not None:
        return f"yaml: line {mark.line + 1}: {problem}"
    return f"yaml: {problem}"


def decode_object(body: bytes, content_type: str, resource: ResourceInfo, *,
                  field_validation: str = "Warn", definition: str | None = None,
                  kind: str | None = None, api_version: str | None = None) -> Decoded:
    """Decode a full object for create/update, checking kind, apiVersion and fields."""
    value = parse_body(body, content_type)
    kind = kind or resource.kind
    api_version = api_version or resource.api_version
    if not isinstance(value, dict):
        raise errors.bad_request(f"couldn't get version/kind; json parse error: expected an object, got {type(value).__name__}")
    got_version = value.get("apiVersion")
    if got_version and got_version != api_version:
        raise errors.bad_request(f"the API version in the data ({got_version}) does not match the "
                                 f"expected API version ({api_version})")
    got_kind = value.get("kind")
    if got_kind and got_kind != kind:
        raise errors.bad_request(f"{kind} in version \"{api_version.split('/')[-1]}\" cannot be handled "
                                 f"as a {kind}: no kind \"{got_kind}\" is registered for version "
                                 f"\"{api_version}\"")
    if value.get("metadata") is None:
        value["metadata"] = {}
    definition = definition or resource.definition
    mode = (field_validation or "Warn").capitalize()
    if mode not in ("Strict", "Warn", "Ignore"):
        raise errors.bad_request(f'fieldValidation: Unsupported value: "{field_validation}": supported '
                                 'values: "Ignore", "Strict", "Warn"')
    # One pass finds type errors and unknown fields (dropping them unless Strict).
    found = schema.check(value, definition, drop_unknown=mode != "Strict")
    if found.type_errors:
        raise errors.bad_request(schema.cannot_handle_message(kind, api_version.split("/")[-1],
                                                              found.type_errors[0]))
    warnings: list[str] = []
    if found.unknown_fields:
        if mode == "Strict":
            # Wrapped like every decode error (Kubernetes' transformDecodeError).
            raise errors.bad_request(schema.cannot_handle_message(
                kind, api_version.split("/")[-1], schema.strict_decoding_message(found.unknown_fields)))
        if mode == "Warn":
            warnings = [f'unknown field "{f}"' for f in found.unknown_fields]
    return Decoded(value, warnings)
