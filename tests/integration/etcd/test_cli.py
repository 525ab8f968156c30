"""`pyb apiserver --storage etcd` and `pyb up --storage etcd` from the command
line: flags, TLS to etcd, where keys land, and one clear line when etcd is down."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import urllib.request

import pytest

from pybernetes.storage.etcd import EtcdStorage
from tests.conftest import ROOT, APIServerProcess
from tests.etcd_cluster import EtcdCluster, EtcdTLS, free_port
from tests.integration.cli.conftest import UpProcess

PYB = [sys.executable, "-m", "pybernetes.cli.main"]


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*PYB, *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout,
                          env={**os.environ, "NO_COLOR": "1"})


async def etcd_keys(urls: list[str], prefix: str, **tls: str) -> list[str]:
    store = EtcdStorage(urls, **tls)
    try:
        return [kv.key for kv in (await store.list(prefix)).items]
    finally:
        await store.close()


@pytest.mark.parametrize("command", ["apiserver", "up"])
def test_unreachable_etcd_is_one_clear_line(tmp_path, command):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    extra = ["--insecure-http"] if command == "apiserver" else ["--runtime", "process"]
    r = run(command, *extra, "--data-dir", str(tmp_path / "d"), "--port", "0",
            "--storage", "etcd", "--etcd-servers", url, timeout=90)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert f"pyb {command}: cannot reach etcd at {url}" in r.stderr
    assert "listening on" not in r.stdout and "pybernetes is up" not in r.stdout


@pytest.mark.parametrize(("args", "message"), [
    (("--storage", "etcd"), "--storage etcd needs --etcd-servers"),
    (("--etcd-servers", "http://127.0.0.1:2379"), "--etcd-* flags need --storage etcd"),
    (("--storage", "etcd", "--etcd-servers", "ftp://h:1"), "expected http://HOST:PORT"),
    (("--storage", "etcd", "--etcd-servers", "http://h:1", "--etcd-certfile", "/nonexistent"),
     "--etcd-certfile and --etcd-keyfile go together"),
    (("--storage", "etcd", "--etcd-servers", "http://h:1", "--etcd-cafile", "/nonexistent"),
     "--etcd-cafile /nonexistent: no such file"),
])
@pytest.mark.parametrize("command", ["apiserver", "up"])
def test_flag_mistakes_are_refused_before_anything_starts(tmp_path, command, args, message):
    r = run(command, "--data-dir", str(tmp_path / "d"), "--port", "0", *args)
    assert r.returncode != 0
    assert message in r.stderr and "Traceback" not in r.stderr


def test_keys_land_under_the_etcd_prefix_as_in_kubernetes(tmp_path, etcd1):
    server = APIServerProcess(tmp_path / "a", extra_args=(
        "--storage", "etcd", "--etcd-servers", etcd1.client_urls[0], "--etcd-prefix", "/kube-a/registry"))
    server.start()
    try:
        keys = asyncio.run(etcd_keys(etcd1.client_urls, "/kube-a/"))
    finally:
        server.stop()
    assert "/kube-a/registry/core/namespaces/default" in keys
    assert all(k.startswith("/kube-a/registry/") for k in keys)


def test_apiserver_talks_tls_to_etcd_with_client_certificates(tmp_path):
    tls = EtcdTLS.generate(tmp_path / "pki")
    cluster = EtcdCluster.start(tmp_path / "etcd", size=1, tls=tls)
    try:
        plain = APIServerProcess(tmp_path / "no-cert", extra_args=(
            "--storage", "etcd", "--etcd-servers", cluster.client_urls[0], "--etcd-cafile", tls.ca_file))
        with pytest.raises(RuntimeError, match="apiserver did not start"):
            plain.start()  # etcd demands a client certificate
        assert plain.proc.wait(30) == 1
        assert "cannot reach etcd" in plain.log_path.read_text()
        server = APIServerProcess(tmp_path / "a", extra_args=(
            "--storage", "etcd", "--etcd-servers", cluster.client_urls[0], "--etcd-cafile", tls.ca_file,
            "--etcd-certfile", tls.client_cert, "--etcd-keyfile", tls.client_key))
        server.start()
        try:
            with urllib.request.urlopen(server.url + "/api/v1/namespaces/default") as r:
                assert json.loads(r.read())["metadata"]["name"] == "default"
        finally:
            server.stop()
    finally:
        cluster.stop()


def test_up_on_etcd_keeps_the_cluster_in_etcd_across_restarts(tmp_path, etcd1):
    extra = ("--storage", "etcd", "--etcd-servers", ",".join(etcd1.client_urls), "--etcd-prefix", "/up/registry")
    up = UpProcess(tmp_path / "pyb", node_name="etcd-node", extra=extra).start()
    try:
        made = up.pyb("list", "nodes", "-o", "template={{.metadata.name}} {{.metadata.uid}}")
        assert made.code == 0 and made.out.startswith("etcd-node "), made.err
        keys = asyncio.run(etcd_keys(etcd1.client_urls, "/up/registry/"))
        assert "/up/registry/core/nodes/etcd-node" in keys
        assert up.interrupt() == 0
        again = UpProcess(tmp_path / "pyb", node_name="etcd-node", extra=extra).start()
        try:
            listed = again.pyb("list", "nodes", "-o", "template={{.metadata.name}} {{.metadata.uid}}")
            assert listed.code == 0, listed.err
            assert listed.out == made.out  # the same node object, read back from etcd
        finally:
            assert again.interrupt() == 0
    finally:
        up.kill()


def test_up_detached_passes_the_etcd_flags_on(tmp_path, etcd1):
    data = tmp_path / "bg"
    r = run("up", "--detach", "--data-dir", str(data), "--port", "0", "--node-name", "bg-etcd",
            "--runtime", "process", "--storage", "etcd", "--etcd-servers", ",".join(etcd1.client_urls),
            "--etcd-prefix", "/bg/registry", timeout=120)
    try:
        assert r.returncode == 0, r.stderr + (data / "pyb.log").read_text(errors="replace")
        keys = asyncio.run(etcd_keys(etcd1.client_urls, "/bg/registry/"))
        assert "/bg/registry/core/namespaces/default" in keys
    finally:
        down = run("down", "--data-dir", str(data), timeout=120)
    assert down.returncode == 0, down.stderr
