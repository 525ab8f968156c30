"""The data directory of a local cluster and the credentials in it.

Layout (``DIR`` defaults to ``~/.pybernetes``)::

    DIR/pybernetes.db               SQLite storage (the apiserver's)
    DIR/kubeconfig                  the admin's kubeconfig (0600): kubectl, pyb, Python clients
    DIR/pki/ca.crt, ca.key          the cluster CA (generated once)
    DIR/pki/apiserver.crt, .key     the apiserver's serving certificate
    DIR/pki/tokens.csv              bearer tokens the apiserver accepts (--token-auth-file format)
    DIR/pki/kubelet-client.token    the token the apiserver presents to kubelets
    DIR/components/*.kubeconfig     one credential per component (scheduler, controller
                                    manager, proxy, each kubelet as system:node:NAME)
    DIR/kubelet/NODE/               each kubelet's root dir (its serving cert under pki/)
    DIR/pyb.pid, DIR/pyb.log        the running `pyb up` (pid file; log when --detach)

Everything is created on first use and reused afterwards, so a restarted
cluster keeps its CA, tokens and every kubeconfig handed out before. Blocking:
call from a worker thread when a loop is running.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from .. import pki
from ..apiserver.auth import TokenAuthenticator, User, format_token_file, load_token_file

__all__ = ["ClusterDir", "DEFAULT_DATA_DIR", "ADMIN", "SCHEDULER", "CONTROLLER_MANAGER", "PROXY", "COMPONENTS", "node_user",
           "kubeconfig_text"]

DEFAULT_DATA_DIR = "~/.pybernetes"
CLUSTER_NAME = "pybernetes"

ADMIN = User("admin", ("system:masters",), "admin")
SCHEDULER = User("system:kube-scheduler", (), "system:kube-scheduler")
CONTROLLER_MANAGER = User("system:kube-controller-manager", (), "system:kube-controller-manager")
PROXY = User("system:kube-proxy", (), "system:kube-proxy")
COMPONENTS = (("scheduler", SCHEDULER), ("controller-manager", CONTROLLER_MANAGER), ("proxy", PROXY))


def node_user(node: str) -> User:
    return User(f"system:node:{node}", ("system:nodes",), f"system:node:{node}")


def kubeconfig_text(*, server: str, ca_pem: bytes, user: str, token: str, namespace: str = "default") -> str:
    """A kubeconfig that kubectl, pyb and the official Python client read unmodified."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CLUSTER_NAME, "cluster": {
            "server": server, "certificate-authority-data": base64.b64encode(ca_pem).decode()}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": CLUSTER_NAME, "context": {
            "cluster": CLUSTER_NAME, "user": user, "namespace": namespace}}],
        "current-context": CLUSTER_NAME,
        "preferences": {},
    }
    return yaml.safe_dump(doc, sort_keys=False)


@dataclass(frozen=True, slots=True)
class ClusterDir:
    root: Path

    @classmethod
    def at(cls, path: str | os.PathLike | None) -> ClusterDir:
        return cls(Path(os.path.expanduser(str(path or DEFAULT_DATA_DIR))).absolute())

    # -- paths ---------------------------------------------------------------
    @property
    def pki_dir(self) -> Path:
        return self.root / "pki"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def token_file(self) -> Path:
        return self.pki_dir / "tokens.csv"

    @property
    def kubelet_client_token_file(self) -> Path:
        return self.pki_dir / "kubelet-client.token"

    @property
    def pid_file(self) -> Path:
        return self.root / "pyb.pid"

    @property
    def log_file(self) -> Path:
        return self.root / "pyb.log"

    @property
    def ca(self) -> pki.CertPair:
        return pki.CertPair(self.pki_dir / "ca.crt", self.pki_dir / "ca.key")

    def component_kubeconfig(self, name: str) -> Path:
        return self.root / "components" / f"{name}.kubeconfig"

    def kubelet_root(self, node: str) -> Path:
        return self.root / "kubelet" / node

    # -- creating ------------------------------------------------------------
    def prepare(self, *, extra_hosts: tuple[str, ...] = (), nodes: tuple[str, ...] = ()) -> None:
        """CA, apiserver certificate, tokens for the admin, the components and
        ``nodes``, and kubelet serving certificates: whatever is missing."""
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        ca = pki.ensure_ca(self.pki_dir)
        pki.ensure_serving_cert(ca, self.pki_dir, "apiserver", common_name="pybernetes-apiserver",
                                hosts=pki.host_names_and_addresses(extra_hosts))
        self.ensure_tokens([ADMIN, *(u for _, u in COMPONENTS), *(node_user(n) for n in nodes)])
        if not self.kubelet_client_token_file.exists():
            pki.write_private(self.kubelet_client_token_file, pki.new_token() + "\n")
        for node in nodes:
            # Kubelets reuse a certificate found in their pki dir: issue it from the
            # cluster CA so the apiserver verifies the kubelet it talks to.
            pki.ensure_serving_cert(ca, self.kubelet_root(node) / "pki", "kubelet",
                                    common_name=f"{node}@kubelet",
                                    hosts=[node, *pki.host_names_and_addresses(extra_hosts)])

    def ensure_tokens(self, users: list[User]) -> dict[str, str]:
        """user name → token, adding a fresh token for every user without one."""
        entries: list[tuple[str, User]] = []
        if self.token_file.exists():
            entries = list(load_token_file(self.token_file).tokens.items())
        have = {u.name for _, u in entries}
        missing = [u for u in users if u.name not in have]
        if missing:
            entries += [(pki.new_token(), u) for u in missing]
            pki.write_private(self.token_file, format_token_file(entries))
        return {u.name: t for t, u in entries}

    def authenticator(self) -> TokenAuthenticator:
        return load_token_file(self.token_file)

    def kubelet_client_token(self) -> str:
        return self.kubelet_client_token_file.read_text().strip()

    def write_kubeconfigs(self, *, server: str, nodes: tuple[str, ...] = ()) -> None:
        """The admin's kubeconfig and one per component, all mode 0600."""
        tokens = self.ensure_tokens([ADMIN, *(u for _, u in COMPONENTS), *(node_user(n) for n in nodes)])
        ca_pem = self.ca.cert.read_bytes()
        pki.write_private(self.kubeconfig, kubeconfig_text(server=server, ca_pem=ca_pem, user=ADMIN.name,
                                                           token=tokens[ADMIN.name]))
        for name, user in (*COMPONENTS, *((f"kubelet-{n}", node_user(n)) for n in nodes)):
            pki.write_private(self.component_kubeconfig(name), kubeconfig_text(
                server=server, ca_pem=ca_pem, user=user.name, token=tokens[user.name]))
