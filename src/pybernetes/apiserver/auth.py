"""Authentication and authorization hook points.

An Authenticator turns a request into a user (or None: anonymous); an
Authorizer decides whether that user may do what the request asks. The
apiserver refuses anonymous requests whenever an authenticator is configured
(401), and asks the authorizer for everything else (403). `pyb up` configures
bearer tokens; RBAC will be an Authorizer.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import web

__all__ = ["User", "Authenticator", "Authorizer", "TokenAuthenticator", "AllowAll", "ANONYMOUS_PATHS"]

# Health and version endpoints stay reachable without credentials, as in Kubernetes.
ANONYMOUS_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/version"})


@dataclass(frozen=True, slots=True)
class User:
    name: str
    groups: tuple[str, ...] = field(default=())


class Authenticator(Protocol):
    def authenticate(self, request: web.Request) -> User | None: ...


class Authorizer(Protocol):
    def authorize(self, user: User, request: web.Request) -> bool: ...


class TokenAuthenticator:
    """Static bearer tokens (Kubernetes' --token-auth-file): token → User."""

    def __init__(self, tokens: dict[str, User]):
        self.tokens = tokens

    def authenticate(self, request: web.Request) -> User | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None
        token = header[7:].strip()
        for known, user in self.tokens.items():
            if hmac.compare_digest(known, token):
                return user
        return None


class AllowAll:
    def authorize(self, user: User, request: web.Request) -> bool:
        return True
