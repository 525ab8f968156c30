"""`pyb up` is secure by default: HTTPS with its own CA, bearer tokens, 401
for everything but the health checks, separate component credentials, private
kubeconfigs — and that kubeconfig works unmodified with kubectl and the
official Python client."""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import stat
import subprocess
import urllib.error
import urllib.request

import pytest
import yaml

from .conftest import PYB, ROOT, wait_for


def _kubeconfig(path) -> dict:
    return yaml.safe_load(path.read_text())


def _ssl_for(path) -> ssl.SSLContext:
    ca = base64.b64decode(_kubeconfig(path)["clusters"][0]["cluster"]["certificate-authority-data"])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cadata=ca.decode())
    return ctx


def _token(path) -> str:
    return _kubeconfig(path)["users"][0]["user"]["token"]


def _get(url: str, ctx: ssl.SSLContext, token: str | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_kubeconfigs_and_keys_are_private(up):
    files = [up.kubeconfig, *(up.data_dir / "components").glob("*.kubeconfig"),
             up.data_dir / "pki" / "ca.key", up.data_dir / "pki" / "apiserver.key", up.data_dir / "pki" / "tokens.csv"]
    assert len(files) >= 8  # admin + scheduler, controller-manager, proxy, kubelet + 3 secrets
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    assert stat.S_IMODE(up.data_dir.stat().st_mode) == 0o700
    server = _kubeconfig(up.kubeconfig)["clusters"][0]["cluster"]["server"]
    assert server == up.url and server.startswith("https://127.0.0.1:")


def test_requests_without_valid_credentials_get_401(up):
    ctx = _ssl_for(up.kubeconfig)
    for token in (None, "not-a-token", _token(up.kubeconfig) + "x"):
        code, body = _get(up.url + "/api/v1/namespaces/default/pods", ctx, token)
        assert code == 401, token
        status = json.loads(body)
        assert (status["kind"], status["reason"], status["code"]) == ("Status", "Unauthorized", 401)
    # Only the health checks answer anonymously (Kubernetes' anonymous auth limited to them).
    for path in ("/healthz", "/livez", "/readyz"):
        assert _get(up.url + path, ctx) == (200, b"ok")
        assert _get(up.url + path, ctx, "not-a-token")[0] == 401  # sent credentials must be valid
    assert _get(up.url + "/version", ctx)[0] == 401
    assert _get(up.url + "/api", ctx)[0] == 401
    assert _get(up.url + "/api/v1/namespaces/default/pods", ctx, _token(up.kubeconfig))[0] == 200


def test_https_only_and_the_certificate_names_this_host(up):
    ctx = _ssl_for(up.kubeconfig)
    for host in ("127.0.0.1", "localhost"):
        assert _get(f"https://{host}:{up.port}/readyz", ctx) == (200, b"ok")
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(f"http://127.0.0.1:{up.port}/readyz", timeout=5)
    with pytest.raises(urllib.error.URLError):  # not trusted without the cluster's CA
        urllib.request.urlopen(up.url + "/readyz", context=ssl.create_default_context(), timeout=5)


def test_components_have_their_own_credentials(up):
    tokens = {p.stem: _token(p) for p in (up.data_dir / "components").glob("*.kubeconfig")}
    assert set(tokens) == {"scheduler", "controller-manager", "proxy", "kubelet-cli-node"}
    admin = _token(up.kubeconfig)
    assert len({admin, *tokens.values()}) == len(tokens) + 1
    users = {_kubeconfig(p)["users"][0]["name"] for p in (up.data_dir / "components").glob("*.kubeconfig")}
    assert "system:node:cli-node" in users and "system:kube-scheduler" in users
    ctx = _ssl_for(up.kubeconfig)
    for token in tokens.values():
        assert _get(up.url + "/api/v1/nodes", ctx, token)[0] == 200


def test_the_kubelet_api_needs_authentication_too(up):
    r = up.pyb("get", "nodes/cli-node", "-o", "json")
    assert r.code == 0, r.err
    node = json.loads(r.out)
    port = node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
    ctx = _ssl_for(up.kubeconfig)  # the kubelet's serving certificate comes from the cluster CA
    assert _get(f"https://127.0.0.1:{port}/pods", ctx)[0] == 401
    assert _get(f"https://127.0.0.1:{port}/pods", ctx, _token(up.kubeconfig))[0] == 401  # admin ≠ apiserver


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_kubectl_uses_the_kubeconfig_unmodified(up, tmp_path):
    env = {**os.environ, "KUBECONFIG": str(up.kubeconfig), "KUBECACHEDIR": str(tmp_path / "kc")}

    def node_ready():
        r = subprocess.run(["kubectl", "get", "nodes", "--no-headers"], env=env, capture_output=True, text=True)
        return r.returncode == 0 and "cli-node" in r.stdout and " Ready " in r.stdout
    wait_for(node_ready, what="kubectl to see the node Ready")
    r = subprocess.run(["kubectl", "get", "pods", "--token", "wrong"], env=env, capture_output=True, text=True)
    assert r.returncode != 0 and "Unauthorized" in r.stderr


def test_official_python_client_uses_the_kubeconfig_unmodified(up):
    code = ("from kubernetes import client, config\n"
            f"config.load_kube_config({str(up.kubeconfig)!r})\n"
            "print(','.join(n.metadata.name for n in client.CoreV1Api().list_node().items))\n")
    r = subprocess.run([*PYB[:1], "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "cli-node"


def test_a_second_up_on_the_same_data_dir_is_refused(up):
    r = subprocess.run([*PYB, "up", "--data-dir", str(up.data_dir), "--port", "0"], capture_output=True,
                       text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 1
    assert "already running" in r.stderr and f"pid {up.pid}" in r.stderr and "pyb down" in r.stderr


def test_address_all_interfaces_warns_loudly(capsys):
    from pybernetes.cli.output import Style
    from pybernetes.cli.up import UpOptions, _warn_exposed

    _warn_exposed(UpOptions(data_dir="/nonexistent", address="0.0.0.0"), Style(False))
    err = capsys.readouterr().err
    assert "WARNING" in err and "EVERY network interface" in err
    _warn_exposed(UpOptions(data_dir="/nonexistent"), Style(False))
    assert capsys.readouterr().err == ""
