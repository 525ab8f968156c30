"""Authentication and authorization hook points.

An Authenticator turns a request into a user (or None: no valid credentials);
an Authorizer decides whether that user may do what the request asks. With an
authenticator configured the apiserver answers 401 to requests it cannot
authenticate, and asks the authorizer about everything else (403 when denied).

Anonymous access follows Kubernetes' structured authentication configuration
with anonymous requests limited to the health checks (KEP-4633, the setting
hardened clusters use): ``/healthz``, ``/livez`` and ``/readyz`` answer without
credentials; every other path, ``/version`` included, needs them.

`pyb up` configures static bearer tokens (:class:`TokenAuthenticator`, loaded
from a Kubernetes ``--token-auth-file`` CSV by :func:`load_token_file`); RBAC
will be an Authorizer.
"""

from __future__ import annotations

import csv
import hmac
import io
import os
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import web

__all__ = [
    "User",
    "Authenticator",
    "Authorizer",
    "TokenAuthenticator",
    "AllowAll",
    "ANONYMOUS_PATHS",
    "load_token_file",
    "format_token_file",
    "TokenFileError",
]

# Paths served to requests without credentials (exact paths, as the anonymous
# authenticator's path conditions match them).
ANONYMOUS_PATHS = frozenset({"/healthz", "/livez", "/readyz"})


@dataclass(frozen=True, slots=True)
class User:
    name: str
    groups: tuple[str, ...] = field(default=())
    uid: str = ""


class Authenticator(Protocol):
    def authenticate(self, request: web.Request) -> User | None: ...


class Authorizer(Protocol):
    def authorize(self, user: User, request: web.Request) -> bool: ...


class TokenAuthenticator:
    """Static bearer tokens (Kubernetes' --token-auth-file): token → User.

    Every known token is compared in constant time, so the answer's timing
    says nothing about how much of a guess was right."""

    def __init__(self, tokens: dict[str, User]):
        self.tokens = dict(tokens)

    def authenticate(self, request: web.Request) -> User | None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        token = token.strip().encode()
        if not token:
            return None
        found = None
        for known, user in self.tokens.items():
            if hmac.compare_digest(known.encode(), token):
                found = user
        return found


class AllowAll:
    """Every authenticated user may do everything (until RBAC)."""

    def authorize(self, user: User, request: web.Request) -> bool:
        return True


class TokenFileError(ValueError):
    """A token file line that is not ``token,user,uid[,"group1,group2"]``."""


def load_token_file(path: str | os.PathLike) -> TokenAuthenticator:
    """Read a Kubernetes static token file: CSV lines ``token,user,uid`` with an
    optional fourth column of comma-separated groups (quoted)."""
    with open(path, newline="") as f:
        text = f.read()
    tokens: dict[str, User] = {}
    for lineno, row in enumerate(csv.reader(io.StringIO(text)), 1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if len(row) < 3 or not row[0].strip() or not row[1].strip():
            raise TokenFileError(f"{path}:{lineno}: want token,user,uid[,\"group1,group2\"]")
        groups = tuple(g.strip() for g in row[3].split(",") if g.strip()) if len(row) > 3 else ()
        token = row[0].strip()
        if token in tokens:
            raise TokenFileError(f"{path}:{lineno}: duplicate token")
        tokens[token] = User(row[1].strip(), groups, row[2].strip())
    return TokenAuthenticator(tokens)


def format_token_file(entries: list[tuple[str, User]]) -> str:
    """The token file text for ``(token, user)`` pairs (see :func:`load_token_file`)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for token, user in entries:
        writer.writerow([token, user.name, user.uid or user.name, ",".join(user.groups)])
    return out.getvalue()
