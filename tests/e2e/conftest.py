"""End-to-end fixtures: stock kubectl binaries and the official Python client
against one real `pyb apiserver` per test module.

Every test works in its own namespace, and every kubectl run gets a private
discovery cache (kubectl caches discovery for hours; a shared cache hides bugs).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.conftest import APIServerProcess


def _find_kubectls() -> list[tuple[str, str]]:
    """(id, path) of kubectl v1.32 (the default `kubectl`) and v1.27 (same Debian package)."""
    found: list[tuple[str, str]] = []
    default = shutil.which("kubectl")
    if default:
        found.append(("kubectl-1.32", default))
    old = shutil.which("kubectl.1.27")
    if old is None and default:
        for d in {os.path.dirname(os.path.realpath(default)), "/usr/lib/google-cloud-sdk/bin"}:
            cand = os.path.join(d, "kubectl.1.27")
            if os.access(cand, os.X_OK):
                old = cand
                break
    if old:
        found.append(("kubectl-1.27", old))
    return found


KUBECTLS = _find_kubectls()


class Kubectl:
    """One kubectl binary bound to an apiserver, a private cache dir and a namespace."""

    def __init__(self, binary: str, server: APIServerProcess, cache_dir: Path, namespace: str):
        self.binary = binary
        self.server = server
        self.cache_dir = cache_dir
        self.namespace = namespace

    def run(self, *args: str, input_text: str | None = None, check: bool = True, namespaced: bool = True,
            env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        cmd = [self.binary, "--kubeconfig", str(self.server.kubeconfig), "--cache-dir", str(self.cache_dir)]
        if namespaced:
            cmd += ["-n", self.namespace]
        full_env = dict(os.environ)
        full_env.pop("KUBECONFIG", None)
        full_env["KUBECACHEDIR"] = str(self.cache_dir)
        full_env.update(env or {})
        r = subprocess.run([*cmd, *args], input=input_text, capture_output=True, text=True, env=full_env,
                           timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"{os.path.basename(self.binary)} {' '.join(args)} failed "
                                 f"({r.returncode}):\n{r.stderr}{r.stdout}")
        return r

    def out(self, *args: str, **kw) -> str:
        return self.run(*args, **kw).stdout

    def json(self, *args: str, **kw):
        return json.loads(self.run(*args, "-o", "json", **kw).stdout)

    def fails(self, *args: str, **kw) -> str:
        """Run a command that must fail; its stderr."""
        r = self.run(*args, check=False, **kw)
        assert r.returncode != 0, f"expected failure, got: {r.stdout}"
        return r.stderr


class API:
    """Raw HTTP to the apiserver, for asserting what is stored."""

    def __init__(self, server: APIServerProcess):
        self.url = server.url

    def request(self, method: str, path: str, body=None, content_type: str = "application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": content_type} if data else {})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def get(self, path: str):
        status, body = self.request("GET", path)
        return body if status == 200 else None

    def names(self, path: str) -> list[str]:
        return sorted(i["metadata"]["name"] for i in self.request("GET", path)[1]["items"])

    def create_namespace(self, name: str) -> None:
        status, body = self.request("POST", "/api/v1/namespaces", {"metadata": {"name": name}})
        assert status == 201, body


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = APIServerProcess(tmp_path_factory.mktemp("e2e-apiserver")).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def api(server) -> API:
    return API(server)


def unique_namespace(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@pytest.fixture(params=KUBECTLS or [pytest.param(None, marks=pytest.mark.skip("kubectl is not installed"))],
                ids=[k[0] for k in KUBECTLS] or None)
def kubectl(request, server, api, tmp_path) -> Kubectl:
    """A kubectl (each version in turn) working in a fresh namespace."""
    _, binary = request.param
    ns = unique_namespace("e2e")
    api.create_namespace(ns)
    return Kubectl(binary, server, tmp_path / "kubecache", ns)
