"""Kubernetes `Status` errors: one exception type, builders per reason.

Bodies are encoded with Kubernetes' key order and compact separators and with
empty fields omitted, because clients (the official Python client's tests among
them) compare error bodies byte for byte.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = [
    "APIError",
    "already_exists",
    "bad_request",
    "conflict",
    "expired",
    "forbidden",
    "internal_error",
    "invalid",
    "method_not_allowed",
    "not_acceptable",
    "not_found",
    "too_large_resource_version",
    "no_such_path",
    "modified_conflict",
    "request_too_large",
    "service_unavailable",
    "status_success",
    "timeout",
    "unauthorized",
    "unsupported_media_type",
]


class APIError(Exception):
    """An error answered to the client as a Kubernetes Status object."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        name: str = "",
        group: str = "",
        kind: str = "",
        causes: list[dict] | None = None,
        retry_after: int = 0,
    ):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details: dict[str, Any] = {}
        # Kubernetes' field order in StatusDetails: name, group, kind, uid, causes, retryAfterSeconds.
        if name:
            self.details["name"] = name
        if group:
            self.details["group"] = group
        if kind:
            self.details["kind"] = kind
        if causes:
            self.details["causes"] = causes
        if retry_after:
            self.details["retryAfterSeconds"] = retry_after

    def status(self) -> dict:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
        }
        if self.reason:
            body["reason"] = self.reason
        if self.details:
            body["details"] = self.details
        body["code"] = self.code
        return body

    def body(self) -> bytes:
        return orjson.dumps(self.status())


def _qualified(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def not_found(resource: str, name: str, group: str = "") -> APIError:
    return APIError(404, "NotFound", f'{_qualified(resource, group)} "{name}" not found',
                    name=name, group=group, kind=resource)


def already_exists(resource: str, name: str, group: str = "") -> APIError:
    return APIError(409, "AlreadyExists", f'{_qualified(resource, group)} "{name}" already exists',
                    name=name, group=group, kind=resource)


def conflict(resource: str, name: str, detail: str, group: str = "") -> APIError:
    return APIError(409, "Conflict",
                    f'Operation cannot be fulfilled on {_qualified(resource, group)} "{name}": {detail}',
                    name=name, group=group, kind=resource)


def modified_conflict(resource: str, name: str, group: str = "") -> APIError:
    return conflict(resource, name, "the object has been modified; please apply your changes "
                    "to the latest version and try again", group)


def invalid(kind: str, name: str, message: str, causes: list[dict], group: str = "") -> APIError:
    return APIError(422, "Invalid", message, name=name, group=group, kind=kind, causes=causes)


def no_such_path() -> APIError:
    return APIError(404, "NotFound", "the server could not find the requested resource")


def bad_request(message: str) -> APIError:
    return APIError(400, "BadRequest", message)


def expired(message: str) -> APIError:
    return APIError(410, "Expired", message)


def method_not_allowed(message: str = "the server does not allow this method on the requested resource") -> APIError:
    return APIError(405, "MethodNotAllowed", message)


def not_acceptable(message: str) -> APIError:
    return APIError(406, "NotAcceptable", message)


def unsupported_media_type(content_type: str) -> APIError:
    return APIError(415, "UnsupportedMediaType", f'the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got "{content_type}")')


def request_too_large(limit: int) -> APIError:
    return APIError(413, "RequestEntityTooLarge", f"Request entity too large: limit is {limit}")


def forbidden(resource: str, name: str, detail: str, group: str = "") -> APIError:
    target = f'{_qualified(resource, group)} "{name}"' if name else _qualified(resource, group)
    return APIError(403, "Forbidden", f"{target} is forbidden: {detail}", name=name, group=group, kind=resource)


def unauthorized(message: str = "Unauthorized") -> APIError:
    return APIError(401, "Unauthorized", message)


def timeout(message: str, retry_after: int = 1) -> APIError:
    return APIError(504, "Timeout", message, retry_after=retry_after)


def too_large_resource_version(requested: int, current: int) -> APIError:
    """504 for a read "not older than" a revision storage has not reached
    (Kubernetes' NewTooLargeResourceVersionError as its watch cache answers it)."""
    return APIError(504, "Timeout", f"Timeout: Too large resource version: {requested}, current: {current}",
                    causes=[{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                    retry_after=1)


def service_unavailable(message: str) -> APIError:
    return APIError(503, "ServiceUnavailable", message)


def internal_error(message: str) -> APIError:
    return APIError(500, "InternalError", f"Internal error occurred: {message}")


def status_success(*, name: str = "", group: str = "", kind: str = "", uid: str = "", code: int = 200) -> dict:
    details: dict[str, Any] = {}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    if kind:
        details["kind"] = kind
    if uid:
        details["uid"] = uid
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    if details:
        body["details"] = details
    if code != 200:
        body["code"] = code
    return body
