"""`pyb apiserver` alone: HTTPS with the data dir's CA and tokens by default,
your own certificate and token file when given, plain HTTP only when asked."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from pybernetes import pki
from pybernetes.apiserver.auth import User, format_token_file
from pybernetes.client import KubeConfig, SyncClient, errors

from .conftest import PYB, ROOT


def _start(*args: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([*PYB, "apiserver", "--address", "127.0.0.1", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    line = proc.stdout.readline().decode()
    if "listening on" not in line:
        proc.kill()
        raise AssertionError(f"apiserver did not start: {line!r} {proc.stderr.read()[-2000:]!r}")
    return proc, line.split("listening on", 1)[1].strip()


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    proc.stdout.close()
    proc.stderr.close()


def test_secure_by_default(tmp_path):
    proc, url = _start("--data-dir", str(tmp_path))
    try:
        assert url.startswith("https://127.0.0.1:")
        with SyncClient.from_kubeconfig(tmp_path / "kubeconfig") as c:
            assert c.namespaces().get("default")["metadata"]["name"] == "default"
        with SyncClient.from_kubeconfig(tmp_path / "components" / "scheduler.kubeconfig") as c:
            c.nodes().list()
        anonymous = KubeConfig(server=url, ca_data=(tmp_path / "pki" / "ca.crt").read_bytes())
        with SyncClient(anonymous) as c, pytest.raises(errors.Unauthorized):
            c.pods("default").list()
    finally:
        _stop(proc)


def test_own_certificate_and_token_file(tmp_path):
    ca = pki.ensure_ca(tmp_path / "ca")
    pair = pki.ensure_serving_cert(ca, tmp_path, "srv", common_name="x", hosts=["127.0.0.1"])
    tokens = tmp_path / "tokens.csv"
    tokens.write_text(format_token_file([("tok-1", User("alice", ("system:masters",)))]))
    proc, url = _start("--data-dir", str(tmp_path / "data"), "--tls-cert-file", str(pair.cert),
                       "--tls-private-key-file", str(pair.key), "--token-auth-file", str(tokens))
    try:
        assert not (tmp_path / "data" / "kubeconfig").exists()  # nothing generated
        code = ("import ssl, urllib.request, sys\n"
                f"ctx = ssl.create_default_context(cafile={str(ca.cert)!r})\n"
                f"req = urllib.request.Request({url!r} + '/api/v1/nodes', headers={{'Authorization': 'Bearer tok-1'}})\n"
                "print(urllib.request.urlopen(req, context=ctx).read().decode())\n")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
        assert json.loads(r.stdout)["kind"] == "NodeList", r.stderr
    finally:
        _stop(proc)


def test_plain_http_only_when_asked(tmp_path):
    proc, url = _start("--data-dir", str(tmp_path), "--insecure-http")
    try:
        assert url.startswith("http://")
        assert b"--insecure-http" in proc.stderr.readline()  # the warning
    finally:
        _stop(proc)
    r = subprocess.run([*PYB, "apiserver", "--insecure-http", "--tls-cert-file", "a", "--tls-private-key-file", "b"],
                       capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert r.returncode != 0 and "contradicts" in r.stderr
