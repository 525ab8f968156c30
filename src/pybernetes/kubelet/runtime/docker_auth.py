"""Registry credentials for image pulls from a pod's imagePullSecrets, with
Kubernetes' rules (pkg/credentialprovider) — pure functions, no I/O.

- Which secrets: the pod's ``spec.imagePullSecrets``; a pod naming none
  gets its service account's (what Kubernetes' ServiceAccount admission
  copies into the pod).
- Which secrets count: type ``kubernetes.io/dockerconfigjson`` with a
  ``.dockerconfigjson`` key (``{"auths": {REGISTRY: ENTRY}}``) and type
  ``kubernetes.io/dockercfg`` with a ``.dockercfg`` key (``{REGISTRY:
  ENTRY}``); an ENTRY's ``auth`` (base64 ``user:password``) wins over its
  ``username``/``password``. A secret that does not parse fails the pull.
- Which entries match an image: the image is normalized as Docker does
  (``busybox`` → ``docker.io/library/busybox``, tag and digest dropped).
  A registry key (scheme and a ``/v1/``/``/v2/`` prefix stripped) matches
  when its port equals the image's, its host has as many dot-separated
  parts, each a glob (``*.example.com``) that matches, and its path is a
  prefix of the image's path. Keys are tried most specific first (reverse
  lexical order), every match is a candidate in that order; with none, a
  Docker Hub image takes ``index.docker.io``'s entry.
- The kubelet tries the candidates in turn until a pull succeeds (none:
  one pull without credentials); every failure is reported.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = [
    "SECRET_TYPE_DOCKER_CONFIG_JSON", "SECRET_TYPE_DOCKERCFG", "PullSecretError", "RegistryAuth", "Keyring",
    "keyring_from_secrets", "normalize_image_name", "pull_secret_names", "aggregate_errors",
]

SECRET_TYPE_DOCKER_CONFIG_JSON = "kubernetes.io/dockerconfigjson"
SECRET_TYPE_DOCKERCFG = "kubernetes.io/dockercfg"
_KEY_DOCKER_CONFIG_JSON = ".dockerconfigjson"
_KEY_DOCKERCFG = ".dockercfg"
_DEFAULT_REGISTRY_HOST = "index.docker.io"
_DOCKER_HUB = "docker.io"


class PullSecretError(ValueError):
    """A pull secret's registry configuration does not parse."""


@dataclass(frozen=True, slots=True)
class RegistryAuth:
    """One candidate credential; ``auth_config()`` is the docker SDK's form."""

    username: str = ""
    password: str = ""
    email: str = ""
    source: str = ""  # "namespace/secret" it came from (for logs, never the password)

    def auth_config(self) -> dict[str, str]:
        out = {"username": self.username, "password": self.password}
        if self.email:
            out["email"] = self.email
        return out


def pull_secret_names(pod: Mapping | None, service_account: Mapping | None = None) -> list[str]:
    """Names of the secrets to read for ``pod``'s pulls: its own
    imagePullSecrets, else its service account's."""
    refs = ((pod or {}).get("spec") or {}).get("imagePullSecrets") or ()
    if not refs and service_account is not None:
        refs = service_account.get("imagePullSecrets") or ()
    names: list[str] = []
    for ref in refs:
        name = (ref or {}).get("name") or ""
        if name and name not in names:
            names.append(name)
    return names


def _decode_auth(field: str) -> tuple[str, str]:
    field = field.strip()
    try:
        raw = base64.b64decode(field + "=" * (-len(field) % 4), validate=True)
    except (binascii.Error, ValueError) as e:
        raise PullSecretError(f"illegal base64 data in auth field: {e}") from None
    user, sep, password = raw.decode(errors="replace").partition(":")
    if not sep:
        raise PullSecretError("unable to parse auth field, must be formatted as base64(username:password)")
    return user, password


def _entries(secret: Mapping) -> dict[str, Mapping] | None:
    """The secret's ``{registry: entry}``, or None when it is no pull secret."""
    kind = secret.get("type") or ""
    data = secret.get("data") or {}
    key = {SECRET_TYPE_DOCKER_CONFIG_JSON: _KEY_DOCKER_CONFIG_JSON, SECRET_TYPE_DOCKERCFG: _KEY_DOCKERCFG}.get(kind)
    if key is None or not data.get(key):
        return None
    try:
        doc = json.loads(base64.b64decode(data[key]))
    except (binascii.Error, ValueError) as e:
        raise PullSecretError(f"secret {secret.get('metadata', {}).get('name', '')!r}: {key}: {e}") from None
    if kind == SECRET_TYPE_DOCKER_CONFIG_JSON:
        doc = doc.get("auths") if isinstance(doc, dict) else None
    if not isinstance(doc, dict):
        raise PullSecretError(f"secret {secret.get('metadata', {}).get('name', '')!r}: {key} is not an object")
    return doc


def _registry_key(location: str) -> str | None:
    """A config's registry location as the keyring indexes it: no scheme,
    ``/v1/`` or ``/v2/`` path prefixes count as the bare host."""
    value = location if location.startswith(("https://", "http://")) else "https://" + location
    try:
        parsed = urlsplit(value)
        host = parsed.netloc
    except ValueError:
        return None
    path = parsed.path
    if path.startswith(("/v1/", "/v2/")):
        path = path[3:]
    return host + path if path and path != "/" else host


class Keyring:
    """Registry key → credentials, looked up most specific key first."""

    def __init__(self) -> None:
        self._creds: dict[str, list[RegistryAuth]] = {}

    def add(self, location: str, auth: RegistryAuth) -> None:
        key = _registry_key(location)
        if key is not None:
            self._creds.setdefault(key, []).append(auth)

    @property
    def keys(self) -> list[str]:
        return sorted(self._creds, reverse=True)

    def lookup(self, image: str) -> list[RegistryAuth]:
        """Candidate credentials for pulling ``image``, in the order to try."""
        repo = normalize_image_name(image)
        out = [auth for key in self.keys if _urls_match(key, repo) for auth in self._creds[key]]
        if not out and _is_default_registry(repo):
            out = list(self._creds.get(_DEFAULT_REGISTRY_HOST, ()))
        return out


def keyring_from_secrets(secrets: Sequence[Mapping]) -> Keyring:
    """One keyring of every pull secret in ``secrets`` (others ignored).
    Raises :class:`PullSecretError` for one that does not parse."""
    ring = Keyring()
    for secret in secrets:
        entries = _entries(secret)
        if entries is None:
            continue
        meta = secret.get("metadata") or {}
        source = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
        for location, entry in entries.items():
            entry = entry if isinstance(entry, Mapping) else {}
            user, password = str(entry.get("username") or ""), str(entry.get("password") or "")
            if entry.get("auth"):
                user, password = _decode_auth(str(entry["auth"]))
            ring.add(location, RegistryAuth(username=user, password=password, email=str(entry.get("email") or ""),
                                            source=source))
    return ring


def normalize_image_name(image: str) -> str:
    """The repository an image reference pulls from, as Docker names it:
    registry host first (``docker.io`` when none), ``library/`` for
    official Hub images, no tag or digest."""
    name = image.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name = name[:colon]
    first, sep, rest = name.partition("/")
    if not sep or ("." not in first and ":" not in first and first != "localhost"):
        domain, remainder = _DOCKER_HUB, name
    else:
        domain, remainder = first, rest
    if domain == _DEFAULT_REGISTRY_HOST:
        domain = _DOCKER_HUB
    if domain == _DOCKER_HUB and "/" not in remainder:
        remainder = "library/" + remainder
    return f"{domain}/{remainder}"


def _split_host(netloc: str) -> tuple[list[str], str]:
    host, port = netloc, ""
    if netloc.startswith("["):  # [v6]:port
        end = netloc.find("]")
        host, rest = netloc[1:end], netloc[end + 1:]
        port = rest[1:] if rest.startswith(":") else ""
    elif netloc.count(":") == 1:
        host, port = netloc.split(":")
    return host.split("."), port


def _urls_match(glob: str, target: str) -> bool:
    g, t = urlsplit("https://" + glob), urlsplit("https://" + target)
    g_parts, g_port = _split_host(g.netloc)
    t_parts, t_port = _split_host(t.netloc)
    if g_port != t_port or len(g_parts) != len(t_parts) or not t.path.startswith(g.path):
        return False
    return all(fnmatch.fnmatchcase(tp, gp) for gp, tp in zip(g_parts, t_parts, strict=True))


def _is_default_registry(repo: str) -> bool:
    first, sep, _ = repo.partition("/")
    if not first:
        return False
    if not sep or first in (_DOCKER_HUB, _DEFAULT_REGISTRY_HOST):
        return True
    return not any(c in first for c in ".:")


def aggregate_errors(errors: Sequence[str]) -> str:
    """Several pull failures as Kubernetes' aggregate error prints them
    (duplicates once)."""
    unique = list(dict.fromkeys(errors))
    if len(unique) == 1:
        return unique[0]
    return "[" + ", ".join(unique) + "]"
