"""The kubelet's serving certificate: self-signed, generated once under the
root dir with the `openssl` binary (until `pyb up` issues certificates from
the cluster CA)."""

from __future__ import annotations

import os
import ssl
import subprocess

__all__ = ["ensure_serving_cert", "server_ssl_context"]


def ensure_serving_cert(pki_dir: str, *, node_name: str, ips: list[str]) -> tuple[str, str]:
    """(cert path, key path); created if absent. Blocking: run in a thread."""
    os.makedirs(pki_dir, mode=0o700, exist_ok=True)
    cert, key = os.path.join(pki_dir, "kubelet.crt"), os.path.join(pki_dir, "kubelet.key")
    if os.path.exists(cert) and os.path.exists(key):
        return cert, key
    san = ",".join([f"DNS:{node_name}", "DNS:localhost", *(f"IP:{ip}" for ip in sorted(set(ips)))])
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", key + ".tmp", "-out", cert + ".tmp", "-days", "365",
         "-subj", f"/CN={node_name}@kubelet", "-addext", f"subjectAltName={san}"],
        check=True, capture_output=True)
    os.chmod(key + ".tmp", 0o600)
    os.replace(key + ".tmp", key)
    os.replace(cert + ".tmp", cert)
    return cert, key


def server_ssl_context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx
