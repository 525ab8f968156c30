"""kubeconfig: the files kubectl reads, turned into a connection config.

``load_kubeconfig(path=None, context=None)`` reads ``path`` (a file or a list of
files), else ``$KUBECONFIG`` (several files joined by ``os.pathsep``), else
``~/.kube/config``. Several files merge as kubectl merges them: the first file
to define a cluster, user or context by name wins, and so does the first
non-empty ``current-context``. Relative file references (certificate-authority,
client-certificate, client-key, tokenFile) are relative to the file that holds
them. Supported: ``server`` (http or https), ``certificate-authority(-data)``,
``insecure-skip-tls-verify``, ``tls-server-name``, ``client-certificate(-data)``
+ ``client-key(-data)``, ``token`` / ``tokenFile``, ``username``/``password``.
``exec`` and ``auth-provider`` plugins are refused with :class:`ConfigError`.

Several apiservers: a kubeconfig's cluster names one ``server`` (kubectl
talks to that one). Failover URLs come after it (duplicates dropped), for
every pybernetes client that loads a kubeconfig (components included), from
the cluster's extension ``pybernetes.io/failover-servers`` (kubectl ignores
extensions it does not know)::

    clusters:
    - name: c
      cluster:
        server: https://10.0.0.1:6443
        extensions:
        - name: pybernetes.io/failover-servers
          extension: {servers: [https://10.0.0.2:6443, https://10.0.0.3:6443]}

and then from ``$PYB_APISERVERS`` (URLs separated by commas). A
:class:`KubeConfig` built in code takes them as ``failover_servers``. All URLs share the cluster's scheme,
credentials and CA; the client moves to the next one when a server cannot be
reached (see :class:`~pybernetes.client.transport.HTTPBackend`).
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from .errors import ConfigError

__all__ = ["KubeConfig", "load_kubeconfig", "default_kubeconfig_paths", "load_incluster_config",
           "APISERVERS_ENV", "FAILOVER_EXTENSION", "split_servers"]

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
APISERVERS_ENV = "PYB_APISERVERS"
FAILOVER_EXTENSION = "pybernetes.io/failover-servers"


def split_servers(text: str) -> tuple[str, ...]:
    """``"URL[,URL...]"`` → the URLs (blanks dropped, trailing slashes trimmed)."""
    return tuple(u.strip().rstrip("/") for u in text.split(",") if u.strip())


@dataclass(frozen=True, slots=True)
class KubeConfig:
    """Where the apiserver is and how to authenticate to it.

    Certificate material is held as PEM bytes, whether it came inline
    (``*-data``) or from a file, so a config stays valid if files move.
    """

    server: str
    namespace: str = "default"
    token: str | None = None
    username: str | None = None
    password: str | None = None
    ca_data: bytes | None = None
    client_cert_data: bytes | None = None
    client_key_data: bytes | None = None
    insecure_skip_tls_verify: bool = False
    tls_server_name: str | None = None
    context: str = ""
    failover_servers: tuple[str, ...] = ()  # tried after ``server`` when it cannot be reached

    def __post_init__(self) -> None:
        scheme = urlsplit(self.server).scheme
        if scheme not in ("http", "https"):
            raise ConfigError(f"server {self.server!r}: only http and https URLs are supported")
        for url in self.failover_servers:
            # One TLS context serves every URL: a mix of http and https would
            # silently send https requests unverified.
            if urlsplit(url).scheme != scheme:
                raise ConfigError(f"server {url!r}: every apiserver URL must use {scheme}, as {self.server!r}")
        if bool(self.client_cert_data) != bool(self.client_key_data):
            raise ConfigError("client certificate and client key must be given together")

    @property
    def servers(self) -> tuple[str, ...]:
        """Every apiserver URL, ``server`` first, each once."""
        return tuple(dict.fromkeys((self.server, *self.failover_servers)))

    @property
    def is_https(self) -> bool:
        return urlsplit(self.server).scheme == "https"

    def auth_headers(self) -> dict[str, str]:
        if self.token:
            return {"Authorization": f"Bearer {self.token}"}
        if self.username is not None:
            raw = f"{self.username}:{self.password or ''}".encode()
            return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        return {}

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for an https server (None for http)."""
        if not self.is_https:
            return None
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        if self.insecure_skip_tls_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif self.ca_data:
            # Only the cluster's CA, as kubectl does when one is configured.
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.load_verify_locations(cadata=self.ca_data.decode())
        if self.client_cert_data and self.client_key_data:
            _load_cert_chain(ctx, self.client_cert_data, self.client_key_data)
        return ctx


def _load_cert_chain(ctx: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    # The ssl module loads client certificates from files only: write them to a
    # private temporary directory for the duration of the call.
    with tempfile.TemporaryDirectory(prefix="pyb-kubeconfig-") as d:
        cert_path, key_path = Path(d, "client.crt"), Path(d, "client.key")
        for p, data in ((cert_path, cert), (key_path, key)):
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        try:
            ctx.load_cert_chain(cert_path, key_path)
        except ssl.SSLError as e:
            raise ConfigError(f"client certificate/key: {e}") from e


def _extension_servers(cluster: dict, origin: Path) -> tuple[str, ...]:
    for ext in cluster.get("extensions") or ():
        if isinstance(ext, dict) and ext.get("name") == FAILOVER_EXTENSION:
            servers = (ext.get("extension") or {}).get("servers")
            if not isinstance(servers, list) or not all(isinstance(u, str) for u in servers):
                raise ConfigError(f"{origin}: extension {FAILOVER_EXTENSION} wants servers: [URL, ...]")
            return tuple(u.strip().rstrip("/") for u in servers if u.strip())
    return ()


def default_kubeconfig_paths() -> list[Path]:
    env = os.environ.get("KUBECONFIG")
    if env:
        return [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    return [Path("~/.kube/config").expanduser()]


def _named(items: Any, what: str, origin: Path, into: dict[str, tuple[dict, Path]]) -> None:
    for entry in items or ():
        if not isinstance(entry, dict) or not entry.get("name"):
            raise ConfigError(f"{origin}: every {what} needs a name")
        into.setdefault(entry["name"], (entry.get(what) or {}, origin))


def _read_bytes(section: dict, key: str, origin: Path) -> bytes | None:
    """``key-data`` (base64) or the file named by ``key``, relative to ``origin``."""
    data = section.get(f"{key}-data")
    if data:
        try:
            return base64.b64decode(data, validate=False)
        except ValueError as e:
            raise ConfigError(f"{origin}: {key}-data is not base64: {e}") from e
    path = section.get(key)
    if path:
        full = (origin.parent / Path(path).expanduser()) if not os.path.isabs(os.path.expanduser(path)) else Path(path).expanduser()
        try:
            return full.read_bytes()
        except OSError as e:
            raise ConfigError(f"{origin}: cannot read {key} {full}: {e}") from e
    return None


def load_kubeconfig(path: str | os.PathLike | Iterable[str | os.PathLike] | None = None,
                    context: str | None = None) -> KubeConfig:
    """The connection config for ``context`` (default: current-context)."""
    if path is None:
        paths = default_kubeconfig_paths()
    elif isinstance(path, str | os.PathLike):
        paths = [Path(path).expanduser()]
    else:
        paths = [Path(p).expanduser() for p in path]
    clusters: dict[str, tuple[dict, Path]] = {}
    users: dict[str, tuple[dict, Path]] = {}
    contexts: dict[str, tuple[dict, Path]] = {}
    current = ""
    found = False
    for p in paths:
        try:
            text = p.read_text()
        except FileNotFoundError:
            continue
        except OSError as e:
            raise ConfigError(f"cannot read kubeconfig {p}: {e}") from e
        found = True
        try:
            doc = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: not valid YAML: {e}") from e
        if not isinstance(doc, dict):
            raise ConfigError(f"{p}: a kubeconfig is a mapping")
        _named(doc.get("clusters"), "cluster", p, clusters)
        _named(doc.get("users"), "user", p, users)
        _named(doc.get("contexts"), "context", p, contexts)
        current = current or doc.get("current-context") or ""
    if not found:
        raise ConfigError(f"no kubeconfig found (looked in {', '.join(map(str, paths))})")
    name = context or current
    if not name:
        raise ConfigError("no context given and the kubeconfig has no current-context")
    if name not in contexts:
        raise ConfigError(f'context "{name}" does not exist')
    ctx, _ = contexts[name]
    cluster_name = ctx.get("cluster") or ""
    if cluster_name not in clusters:
        raise ConfigError(f'context "{name}": cluster "{cluster_name}" does not exist')
    cluster, cluster_origin = clusters[cluster_name]
    user, user_origin = users.get(ctx.get("user") or "", ({}, cluster_origin))
    if not cluster.get("server"):
        raise ConfigError(f'cluster "{cluster_name}" has no server')
    if (user.get("exec") or user.get("auth-provider")) and not (user.get("token") or user.get("tokenFile")):
        raise ConfigError(f'user "{ctx.get("user")}": exec and auth-provider plugins are not supported')
    token = user.get("token")
    if not token and user.get("tokenFile"):
        raw = _read_bytes({"tokenFile": user["tokenFile"]}, "tokenFile", user_origin)
        token = (raw or b"").decode().strip()
    return KubeConfig(
        server=str(cluster["server"]).rstrip("/"),
        namespace=ctx.get("namespace") or "default",
        token=token or None,
        username=user.get("username"),
        password=user.get("password"),
        ca_data=_read_bytes(cluster, "certificate-authority", cluster_origin),
        client_cert_data=_read_bytes(user, "client-certificate", user_origin),
        client_key_data=_read_bytes(user, "client-key", user_origin),
        insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify")),
        tls_server_name=cluster.get("tls-server-name"),
        context=name,
        failover_servers=(*_extension_servers(cluster, cluster_origin),
                          *split_servers(os.environ.get(APISERVERS_ENV, ""))),
    )


def load_incluster_config(base: Path = SERVICE_ACCOUNT_DIR) -> KubeConfig:
    """Config from a pod's service account (KUBERNETES_SERVICE_HOST/PORT + token)."""
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        raise ConfigError("not running in a cluster: KUBERNETES_SERVICE_HOST/PORT unset")
    try:
        token = (base / "token").read_text().strip()
        ca = (base / "ca.crt").read_bytes() if (base / "ca.crt").exists() else None
        ns_file = base / "namespace"
        namespace = ns_file.read_text().strip() if ns_file.exists() else "default"
    except OSError as e:
        raise ConfigError(f"service account files: {e}") from e
    if ":" in host:
        host = f"[{host}]"
    return KubeConfig(server=f"https://{host}:{port}", namespace=namespace, token=token, ca_data=ca,
                      context="in-cluster")
