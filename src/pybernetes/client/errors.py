"""Errors the client raises: one exception type per Kubernetes ``Status`` reason.

Every failure answered by the apiserver becomes an :class:`APIError` subclass
chosen by the Status ``reason`` (falling back on the HTTP code), carrying the
server's Status dict unchanged in ``.status``. Failures to reach the server at
all are :class:`ConnectionFailed`; a bad kubeconfig is :class:`ConfigError`.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ClientError",
    "ConfigError",
    "ConnectionFailed",
    "APIError",
    "BadRequest",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "MethodNotAllowed",
    "NotAcceptable",
    "AlreadyExists",
    "Conflict",
    "Expired",
    "Gone",
    "RequestEntityTooLarge",
    "UnsupportedMediaType",
    "Invalid",
    "TooManyRequests",
    "InternalError",
    "ServiceUnavailable",
    "ServerTimeout",
    "Timeout",
    "from_status",
    "status_for",
]


class ClientError(Exception):
    """Base of everything this package raises on purpose."""


class ConfigError(ClientError):
    """The kubeconfig is missing, malformed, or asks for something unsupported."""


class ConnectionFailed(ClientError):
    """The server could not be reached, or the connection dropped mid-response."""


class APIError(ClientError):
    """The apiserver answered with a failure ``Status``.

    ``status`` is the server's Status object as received (or one synthesised
    from the HTTP response when the body was not a Status).
    """

    code: int = 0
    reason: str = ""

    def __init__(self, status: dict[str, Any], code: int | None = None):
        self.status = status
        self.code = int(status.get("code") or code or type(self).code or 0)
        self.reason = status.get("reason") or type(self).reason
        self.message = status.get("message") or ""
        super().__init__(self.message or f"{self.code} {self.reason}")

    @property
    def details(self) -> dict[str, Any]:
        return self.status.get("details") or {}

    @property
    def causes(self) -> list[dict[str, Any]]:
        """``details.causes`` (``reason``, ``message``, ``field``) — set on Invalid."""
        return list(self.details.get("causes") or ())

    @property
    def retry_after(self) -> int:
        """``details.retryAfterSeconds``, 0 when the server gave none."""
        return int(self.details.get("retryAfterSeconds") or 0)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code}, {self.reason!r}, {self.message!r})"


class BadRequest(APIError):
    code, reason = 400, "BadRequest"


class Unauthorized(APIError):
    code, reason = 401, "Unauthorized"


class Forbidden(APIError):
    code, reason = 403, "Forbidden"


class NotFound(APIError):
    code, reason = 404, "NotFound"


class MethodNotAllowed(APIError):
    code, reason = 405, "MethodNotAllowed"


class NotAcceptable(APIError):
    code, reason = 406, "NotAcceptable"


class Conflict(APIError):
    """409 Conflict: a stale resourceVersion or a failed precondition."""

    code, reason = 409, "Conflict"


class AlreadyExists(APIError):
    """409 AlreadyExists. Not a Conflict: Kubernetes tells the two reasons apart."""

    code, reason = 409, "AlreadyExists"


class Expired(APIError):
    """410: the resourceVersion asked for is compacted away; relist."""

    code, reason = 410, "Expired"


class Gone(Expired):
    code, reason = 410, "Gone"


class RequestEntityTooLarge(APIError):
    code, reason = 413, "RequestEntityTooLarge"


class UnsupportedMediaType(APIError):
    code, reason = 415, "UnsupportedMediaType"


class Invalid(APIError):
    """422 Invalid; ``causes`` lists the field errors."""

    code, reason = 422, "Invalid"


class TooManyRequests(APIError):
    code, reason = 429, "TooManyRequests"


class InternalError(APIError):
    code, reason = 500, "InternalError"


class ServiceUnavailable(APIError):
    code, reason = 503, "ServiceUnavailable"


class ServerTimeout(APIError):
    """500 ServerTimeout: the server could not finish in time; retry."""

    code, reason = 500, "ServerTimeout"


class Timeout(ServerTimeout):
    """504 Timeout (also the apiserver's answer to a too-large resourceVersion)."""

    code, reason = 504, "Timeout"


_BY_REASON: dict[str, type[APIError]] = {
    cls.reason: cls
    for cls in (BadRequest, Unauthorized, Forbidden, NotFound, MethodNotAllowed, NotAcceptable,
                Conflict, AlreadyExists, Expired, Gone, RequestEntityTooLarge, UnsupportedMediaType,
                Invalid, TooManyRequests, InternalError, ServiceUnavailable, ServerTimeout, Timeout)
}
_BY_CODE: dict[int, type[APIError]] = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 405: MethodNotAllowed,
    406: NotAcceptable, 409: Conflict, 410: Expired, 413: RequestEntityTooLarge,
    415: UnsupportedMediaType, 422: Invalid, 429: TooManyRequests, 500: InternalError,
    503: ServiceUnavailable, 504: Timeout,
}


def from_status(status: dict[str, Any] | None, code: int = 0, *, text: str = "") -> APIError:
    """The exception for a failure Status (or a bare HTTP code and body text)."""
    if not isinstance(status, dict) or status.get("kind") != "Status":
        status = status_for(code, text)
    code = int(status.get("code") or code or 0)
    cls = _BY_REASON.get(status.get("reason") or "") or _BY_CODE.get(code) or APIError
    return cls(status, code)


def status_for(code: int, message: str, reason: str = "", **details: Any) -> dict[str, Any]:
    """A failure Status dict shaped like the apiserver's (Kubernetes' key order)."""
    if not reason:
        cls = _BY_CODE.get(code)
        reason = cls.reason if cls else ""
    status: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                              "status": "Failure", "message": message}
    if reason:
        status["reason"] = reason
    details = {k: v for k, v in details.items() if v}
    if details:
        status["details"] = details
    status["code"] = code
    return status
