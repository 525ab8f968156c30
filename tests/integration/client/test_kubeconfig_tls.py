"""kubeconfig variants against a TLS apiserver: each file is read by our client
*and* by kubectl in the same test, so both prove they mean the same thing."""

from __future__ import annotations

import asyncio
import base64
import os
import ssl
import subprocess
from pathlib import Path

import pytest

from pybernetes.apiserver.app import APIServerConfig
from pybernetes.apiserver.auth import TokenAuthenticator, User
from pybernetes.apiserver.server import APIServer, ServeOptions
from pybernetes.client import Client, errors, load_kubeconfig

TOKEN = "s3cr3t-admin-token"
EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", *EC, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=pyb-test-ca",
             cwd=d)
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for who, subj in (("server", "/CN=127.0.0.1"), ("client", "/O=system:masters/CN=cert-admin")):
        _openssl("req", *EC, "-keyout", f"{who}.key", "-out", f"{who}.csr", "-subj", subj, cwd=d)
        _openssl("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{who}.crt", "-days", "2", "-extfile", f"{who}.ext", cwd=d)
    return d


class TokenOrClientCert:
    """Bearer tokens, or a client certificate the TLS layer verified against our CA."""

    def __init__(self):
        self.tokens = TokenAuthenticator({TOKEN: User("admin", ("system:masters",))})

    def authenticate(self, request):
        user = self.tokens.authenticate(request)
        if user is not None:
            return user
        if request.headers.get("Authorization"):
            return None  # a wrong token is refused, not overridden by a certificate
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        if peer:
            subject = dict(x[0] for x in peer.get("subject", ()))
            return User(subject.get("commonName", ""), ())
        return None


@pytest.fixture
async def tls_server(pki, tmp_path):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(pki / "server.crt", pki / "server.key")
    ctx.load_verify_locations(pki / "ca.crt")
    ctx.verify_mode = ssl.CERT_OPTIONAL
    server = APIServer(ServeOptions(data_dir=str(tmp_path / "data"), port=0, ssl_context=ctx,
                                    config=APIServerConfig(authenticator=TokenOrClientCert())))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def _b64(p: Path) -> str:
    return base64.b64encode(p.read_bytes()).decode()


def _kubeconfig(path: Path, server: str, cluster: dict, user: dict) -> Path:
    import yaml
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "t",
        "clusters": [{"name": "c", "cluster": {"server": server, **cluster}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "t", "context": {"cluster": "c", "user": "u"}}]}))
    return path


def _variants(pki: Path, tmp: Path) -> dict[str, tuple[dict, dict]]:
    # Relative file references resolve against the kubeconfig's own directory.
    for name in ("ca.crt", "client.crt", "client.key"):
        (tmp / name).write_bytes((pki / name).read_bytes())
    return {
        "token+ca-file": ({"certificate-authority": "ca.crt"}, {"token": TOKEN}),
        "token+ca-data": ({"certificate-authority-data": _b64(pki / "ca.crt")}, {"token": TOKEN}),
        "token-file+ca-data": ({"certificate-authority-data": _b64(pki / "ca.crt")}, {"tokenFile": "token"}),
        "client-cert-data": ({"certificate-authority-data": _b64(pki / "ca.crt")},
                             {"client-certificate-data": _b64(pki / "client.crt"),
                              "client-key-data": _b64(pki / "client.key")}),
        "client-cert-files": ({"certificate-authority": str(tmp / "ca.crt")},
                              {"client-certificate": "client.crt", "client-key": "client.key"}),
        "insecure-skip-verify": ({"insecure-skip-tls-verify": True}, {"token": TOKEN}),
        # The certificate is checked against this name instead of the URL's host.
        "tls-server-name": ({"certificate-authority-data": _b64(pki / "ca.crt"), "tls-server-name": "localhost"},
                            {"token": TOKEN}),
    }


async def _kubectl(kubeconfig: Path, tmp: Path, *args: str) -> tuple[int, str]:
    env = {**os.environ, "KUBECACHEDIR": str(tmp / "kubecache")}
    env.pop("KUBECONFIG", None)
    proc = await asyncio.create_subprocess_exec(
        "kubectl", "--kubeconfig", str(kubeconfig), "--request-timeout", "20s", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env)
    out, _ = await proc.communicate()
    return proc.returncode, out.decode()


@pytest.mark.parametrize("variant", ["token+ca-file", "token+ca-data", "token-file+ca-data", "client-cert-data",
                                     "client-cert-files", "insecure-skip-verify", "tls-server-name"])
async def test_kubeconfig_variant_works_for_us_and_kubectl(tls_server, pki, tmp_path, variant):
    (tmp_path / "token").write_text(TOKEN + "\n")
    cluster, user = _variants(pki, tmp_path)[variant]
    path = _kubeconfig(tmp_path / "config", tls_server.url, cluster, user)
    async with Client(load_kubeconfig(path)) as client:
        names = [n["metadata"]["name"] for n in (await client.namespaces().list())["items"]]
        assert "default" in names
        await client.config_maps("default").create({"metadata": {"name": f"from-{variant.replace('+', '-')}"}})
    code, out = await _kubectl(path, tmp_path, "get", "configmaps", "-n", "default", "-o", "name")
    assert code == 0, out
    assert f"configmap/from-{variant.replace('+', '-')}" in out


async def test_wrong_credentials_are_refused_by_both(tls_server, pki, tmp_path):
    path = _kubeconfig(tmp_path / "config", tls_server.url,
                       {"certificate-authority-data": _b64(pki / "ca.crt")}, {"token": "wrong"})
    async with Client(load_kubeconfig(path)) as client:
        with pytest.raises(errors.Unauthorized):
            await client.namespaces().list()
    code, out = await _kubectl(path, tmp_path, "get", "namespaces")
    assert code != 0 and ("Unauthorized" in out or "must be logged in" in out), out


async def test_tls_server_name_is_checked_by_both(tls_server, pki, tmp_path):
    path = _kubeconfig(tmp_path / "config", tls_server.url,
                       {"certificate-authority-data": _b64(pki / "ca.crt"), "tls-server-name": "not-in-the-cert"},
                       {"token": TOKEN})
    async with Client(load_kubeconfig(path)) as client:
        with pytest.raises(errors.ConnectionFailed):
            await client.namespaces().list()
    code, out = await _kubectl(path, tmp_path, "get", "namespaces")
    assert code != 0 and "not-in-the-cert" in out, out


async def test_unknown_ca_is_refused_by_both(tls_server, pki, tmp_path):
    # A CA that did not sign the server's certificate.
    _openssl("req", "-x509", *EC, "-keyout", "other.key", "-out", "other.crt", "-days", "1", "-subj", "/CN=other",
             cwd=tmp_path)
    path = _kubeconfig(tmp_path / "config", tls_server.url,
                       {"certificate-authority": "other.crt"}, {"token": TOKEN})
    async with Client(load_kubeconfig(path)) as client:
        with pytest.raises(errors.ConnectionFailed, match="certificate"):
            await client.namespaces().list()
    code, out = await _kubectl(path, tmp_path, "get", "namespaces")
    assert code != 0 and "certificate" in out
