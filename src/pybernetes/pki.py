"""The cluster's PKI: a CA, certificates it issues, bearer tokens, private files.

Built on the ``cryptography`` library. Everything here blocks (key generation,
file writes): call it from a worker thread when an event loop is running.

Contracts:
- :func:`ensure_ca` creates ``ca.crt``/``ca.key`` once and then always returns
  the same CA, so every certificate and kubeconfig issued before stays valid.
- :func:`ensure_serving_cert` reuses an existing certificate only while it was
  issued by that CA, is valid for at least another day, and covers every host
  asked for; otherwise it issues a new one (hosts change when the machine's
  addresses do).
- Keys and tokens are written with mode 0600 through a temporary file and an
  atomic rename, so a crash never leaves a half-written secret.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import secrets
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CertPair",
    "ensure_ca",
    "ensure_serving_cert",
    "host_names_and_addresses",
    "new_token",
    "write_private",
    "server_ssl_context",
]

CA_DAYS = 3650
CERT_DAYS = 365
RENEW_BEFORE = dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class CertPair:
    """Paths of a PEM certificate and its PEM private key."""

    cert: Path
    key: Path


def write_private(path: str | os.PathLike, data: bytes | str, *, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` atomically, readable only by its owner."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)  # O_CREAT's mode is filtered by the umask
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def new_token() -> str:
    """A fresh bearer token (256 random bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def ensure_ca(directory: str | os.PathLike, *, common_name: str = "pybernetes-ca") -> CertPair:
    """The cluster CA under ``directory`` (``ca.crt``, ``ca.key``), created if absent."""
    d = Path(directory)
    pair = CertPair(d / "ca.crt", d / "ca.key")
    if pair.cert.exists() and pair.key.exists():
        return pair
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{common_name}@{int(_now().timestamp())}")])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(minutes=5))
            .not_valid_after(_now() + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256()))
    write_private(pair.key, _key_pem(key))
    write_private(pair.cert, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return pair


def _load_ca(ca: CertPair) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert = x509.load_pem_x509_certificate(ca.cert.read_bytes())
    key = serialization.load_pem_private_key(ca.key.read_bytes(), password=None)
    return cert, key  # type: ignore[return-value]


def _split_hosts(hosts: list[str]) -> tuple[list[str], list[ipaddress._BaseAddress]]:
    names, ips = [], []
    for h in hosts:
        try:
            ips.append(ipaddress.ip_address(h))
        except ValueError:
            if h:
                names.append(h)
    return sorted(set(names)), sorted(set(ips), key=lambda a: (a.version, int(a)))


def _still_good(pair: CertPair, ca_cert: x509.Certificate, names: list[str], ips: list) -> bool:
    if not (pair.cert.exists() and pair.key.exists()):
        return False
    try:
        cert = x509.load_pem_x509_certificate(pair.cert.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    if cert.issuer != ca_cert.subject or cert.not_valid_after_utc - _now() < RENEW_BEFORE:
        return False
    have_names = set(san.get_values_for_type(x509.DNSName))
    have_ips = set(san.get_values_for_type(x509.IPAddress))
    return set(names) <= have_names and set(ips) <= have_ips


def ensure_serving_cert(ca: CertPair, directory: str | os.PathLike, name: str, *, common_name: str,
                        hosts: list[str], client_auth: bool = False) -> CertPair:
    """``<name>.crt``/``<name>.key`` under ``directory``: a TLS server certificate
    signed by ``ca`` for every DNS name and IP address in ``hosts``."""
    d = Path(directory)
    pair = CertPair(d / f"{name}.crt", d / f"{name}.key")
    ca_cert, ca_key = _load_ca(ca)
    names, ips = _split_hosts(hosts)
    if _still_good(pair, ca_cert, names, ips):
        return pair
    key = _new_key()
    usages = [ExtendedKeyUsageOID.SERVER_AUTH] + ([ExtendedKeyUsageOID.CLIENT_AUTH] if client_auth else [])
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(minutes=5))
            .not_valid_after(_now() + dt.timedelta(days=CERT_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, key_cert_sign=False,
                                         crl_sign=False, content_commitment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False),
                           critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName(n) for n in names] + [x509.IPAddress(ip) for ip in ips]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_private(pair.key, _key_pem(key))
    write_private(pair.cert, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return pair


def host_names_and_addresses(extra: list[str] | tuple[str, ...] = ()) -> list[str]:
    """127.0.0.1, ::1, localhost, this host's name(s) and its addresses, plus ``extra``."""
    hosts = {"127.0.0.1", "::1", "localhost"}
    hostname = socket.gethostname()
    hosts.add(hostname)
    hosts.add(hostname.lower())
    with contextlib.suppress(OSError):
        fqdn = socket.getfqdn()
        if fqdn and fqdn != "localhost":
            hosts.add(fqdn)
    with contextlib.suppress(OSError):
        for info in socket.getaddrinfo(hostname, None):
            hosts.add(str(info[4][0]).split("%", 1)[0])
    # The address used for the default route (no packet is sent).
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("10.255.255.255", 1))
        hosts.add(s.getsockname()[0])
    for h in extra:
        if h and h not in ("0.0.0.0", "::"):
            hosts.add(h)
    return sorted(hosts)


def server_ssl_context(pair: CertPair) -> ssl.SSLContext:
    """A TLS 1.2+ server context serving ``pair``."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(pair.cert), str(pair.key))
    return ctx
