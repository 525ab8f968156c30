"""imagePullSecrets on the docker runtime against a real Podman: the
credentials a pull secret holds for a registry reach that registry (and no
other), candidates are tried in turn, and every failure surfaces as
ErrImagePull with the engine's own message.

There is no registry here: a small HTTP server plays one on 127.0.0.1 —
Basic auth required, every manifest unknown — and records the
Authorization headers it is sent. Podman talks plain HTTP to it because a
dedicated ``podman system service`` reads a registries.conf marking it
insecure. Another registry address nothing listens on stands for an
unreachable one.

The last test runs the whole way: a Secret and a Pod in the apiserver,
`pyb kubelet --runtime docker` reading the secret, the pod's status and
events."""

from __future__ import annotations

import base64
import http.server
import json
import shutil
import socket
import tempfile
import threading
import uuid
from pathlib import Path

import pytest

from pybernetes.client import Client
from pybernetes.kubelet.runtime.docker import DockerRuntime, ImagePullError
from pybernetes.kubelet.runtime.interface import ContainerConfig, SandboxConfig
from tests.integration.kubelet.test_kubelet_pods import cstatus, events_for, get

from .conftest import (
    DockerKubeletProcess,
    podman_service,
    remove_containers_of,
    require_podman,
    wait_for,
)

pytestmark = pytest.mark.timeout(120)

USER, PASSWORD = "alice", "s3cret"


class FakeRegistry(http.server.ThreadingHTTPServer):
    """Registry API v2 that wants Basic ``alice:s3cret`` and has no images."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[tuple[str, str | None]] = []  # (path, decoded "user:password" or None)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    def credentials_sent(self) -> list[str | None]:
        return [c for path, c in self.seen if "/manifests/" in path]


class _Handler(http.server.BaseHTTPRequestHandler):
    def _reply(self, code: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        for k, v in {"Content-Type": "application/json", "Content-Length": str(len(data)), **(headers or {})}.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self):  # noqa: N802 - http.server's naming
        header = self.headers.get("Authorization") or ""
        creds = base64.b64decode(header[6:]).decode() if header.startswith("Basic ") else None
        self.server.seen.append((self.path, creds))
        if creds != f"{USER}:{PASSWORD}":
            self._reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]},
                        {"WWW-Authenticate": 'Basic realm="fake"'})
        elif self.path == "/v2/":
            self._reply(200, {})
        else:
            self._reply(404, {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]})

    do_HEAD = do_GET

    def log_message(self, *args):
        pass


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def registry():
    reg = FakeRegistry()
    reg.thread.start()
    try:
        yield reg
    finally:
        reg.shutdown()
        reg.server_close()


@pytest.fixture(scope="module")
def unreachable() -> str:
    return f"127.0.0.1:{_closed_port()}"


@pytest.fixture(scope="module")
def endpoint(registry, unreachable):
    """A podman service that may speak plain HTTP to the two registries."""
    require_podman()
    tmp = Path(tempfile.mkdtemp(prefix="pyb-podman-reg-"))
    conf = tmp / "registries.conf"
    conf.write_text("".join(f'[[registry]]\nlocation = "{h}"\ninsecure = true\n\n'
                            for h in (registry.host, unreachable)))
    try:
        with podman_service(tmp, env={"CONTAINERS_REGISTRIES_CONF": str(conf)}) as ep:
            yield ep
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def pull_secret(name: str, auths: dict, *, kind: str = "kubernetes.io/dockerconfigjson") -> dict:
    key = ".dockerconfigjson" if kind.endswith("dockerconfigjson") else ".dockercfg"
    doc = {"auths": auths} if key == ".dockerconfigjson" else auths
    return {"metadata": {"name": name, "namespace": "default"}, "type": kind, "data": {key: _b64(json.dumps(doc))}}


@pytest.fixture
async def runtime(tmp_path, endpoint, registry):
    objects: dict[tuple[str, str, str], dict] = {}
    pods: dict[str, dict] = {}

    async def get_object(kind: str, namespace: str, name: str):
        return objects.get((kind, namespace, name))

    rt = DockerRuntime(str(tmp_path / "root"), endpoint=endpoint, pod_source=pods.get, get_object=get_object)
    rt.test_objects, rt.test_pods = objects, pods
    registry.seen.clear()
    try:
        yield rt
    finally:
        await rt.close()
        remove_containers_of(tmp_path / "root", endpoint)


async def _pull(rt, image: str, **spec) -> ImagePullError:
    """Start a container of ``image`` in a new pod with ``spec``; the pull error."""
    uid = str(uuid.uuid4())
    rt.test_pods[uid] = {"metadata": {"uid": uid, "name": "p", "namespace": "default"},
                         "spec": {"containers": [{"name": "c", "image": image}], **spec}}
    await rt.create_sandbox(SandboxConfig(uid=uid, namespace="default", name="p"))
    with pytest.raises(ImagePullError) as e:
        await rt.start_container(ContainerConfig(pod_uid=uid, pod_namespace="default", pod_name="p", name="c",
                                                 attempt=0, image=image, argv=("true",)))
    assert e.value.reason == "ErrImagePull"
    return e.value


async def test_the_secret_for_the_registry_reaches_it(runtime, registry):
    runtime.test_objects["secrets", "default", "regcred"] = pull_secret(
        "regcred", {f"http://{registry.host}/v2/": {"auth": _b64(f"{USER}:{PASSWORD}")},
                    "other.example.com": {"username": "mallory", "password": "x"}})
    image = f"{registry.host}/private/app:1"
    err = await _pull(runtime, image, imagePullSecrets=[{"name": "regcred"}])
    # Authenticated: the registry itself answered "no such manifest", and the engine said so.
    assert registry.credentials_sent() == [f"{USER}:{PASSWORD}"]
    assert f"{registry.host}/private/app" in err.message and "manifest unknown" in err.message


async def test_without_a_secret_the_registry_refuses(runtime, registry):
    err = await _pull(runtime, f"{registry.host}/private/app:1")
    assert f"{USER}:{PASSWORD}" not in registry.credentials_sent()
    assert "manifest unknown" not in err.message
    assert "authentication required" in err.message or "unauthorized" in err.message.lower()


async def test_the_service_accounts_secrets_when_the_pod_names_none(runtime, registry):
    runtime.test_objects["secrets", "default", "sa-cred"] = pull_secret(
        "sa-cred", {registry.host: {"username": USER, "password": PASSWORD}}, kind="kubernetes.io/dockercfg")
    runtime.test_objects["serviceaccounts", "default", "builder"] = {
        "metadata": {"name": "builder", "namespace": "default"}, "imagePullSecrets": [{"name": "sa-cred"}]}
    err = await _pull(runtime, f"{registry.host}/private/app:2", serviceAccountName="builder")
    assert registry.credentials_sent() == [f"{USER}:{PASSWORD}"]
    assert "manifest unknown" in err.message


async def test_candidates_are_tried_in_turn_and_every_failure_reported(runtime, registry):
    # The more specific key (the repository's path) first: wrong password; then the host's: right.
    runtime.test_objects["secrets", "default", "a"] = pull_secret(
        "a", {f"{registry.host}/private": {"username": USER, "password": "wrong"}})
    runtime.test_objects["secrets", "default", "b"] = pull_secret(
        "b", {registry.host: {"username": USER, "password": PASSWORD}})
    err = await _pull(runtime, f"{registry.host}/private/app:3", imagePullSecrets=[{"name": "b"}, {"name": "a"}])
    assert registry.credentials_sent()[-2:] == [f"{USER}:wrong", f"{USER}:{PASSWORD}"]
    assert err.message.startswith("[") and err.message.endswith("]") and "manifest unknown" in err.message


async def test_a_secret_for_an_unreachable_registry_surfaces_the_engines_message(runtime, unreachable):
    runtime.test_objects["secrets", "default", "regcred"] = pull_secret(
        "regcred", {unreachable: {"username": USER, "password": PASSWORD}})
    err = await _pull(runtime, f"{unreachable}/private/app:1", imagePullSecrets=[{"name": "regcred"}])
    assert unreachable in err.message and "connection refused" in err.message


async def test_a_malformed_pull_secret_fails_the_pull(runtime, registry):
    runtime.test_objects["secrets", "default", "bad"] = pull_secret("bad", {registry.host: {"auth": _b64("nocolon")}})
    err = await _pull(runtime, f"{registry.host}/private/app:1", imagePullSecrets=[{"name": "bad"}])
    assert "must be formatted as base64(username:password)" in err.message
    assert registry.credentials_sent() == []  # nothing pulled with a secret that does not parse


async def test_through_the_kubelet_the_pods_secret_reaches_the_registry(tmp_path, logs_apiserver, endpoint,
                                                                         registry):
    client = Client.from_kubeconfig(str(logs_apiserver.kubeconfig))
    root = tmp_path / "kubelet"
    kubelet = DockerKubeletProcess(endpoint=endpoint, kubeconfig=logs_apiserver.kubeconfig, node_name="node-1",
                                   root_dir=root).start()
    registry.seen.clear()
    try:
        await client.secrets("default").create(
            pull_secret("regcred", {registry.host: {"auth": _b64(f"{USER}:{PASSWORD}")}}))
        image = f"{registry.host}/private/app:7"
        await client.pods("default").create({
            "metadata": {"name": "private", "namespace": "default"},
            "spec": {"nodeName": "node-1", "imagePullSecrets": [{"name": "regcred"}],
                     "containers": [{"name": "app", "image": image}]}})

        async def pull_failed():
            s = cstatus(await get(client, "private")) or {}
            waiting = (s.get("state") or {}).get("waiting") or {}
            return waiting.get("reason") in ("ErrImagePull", "ImagePullBackOff") and waiting

        await wait_for(pull_failed, timeout=60, what="the pull to fail")
        assert f"{USER}:{PASSWORD}" in registry.credentials_sent()
        events = await wait_for(lambda: _failed_pull_events(client, "private"), timeout=30, what="events")
        assert any(m.startswith(f'Failed to pull image "{image}": ') and "manifest unknown" in m for m in events)
    finally:
        kubelet.stop()
        remove_containers_of(root, endpoint)
        kubelet.unmount_volumes()
        await client.close()


async def _failed_pull_events(client, name: str) -> list[str]:
    return [m for reason, m in await events_for(client, name) if reason == "Failed" and "pull image" in m]
