"""Real etcd members for tests: one member or a 3-member cluster on loopback.

Each member is an ``etcd`` process (Debian's ``etcd-server``, 3.4.x) listening
on 127.0.0.1 ports the OS picked at run time, with its data under a directory
the caller owns (a pytest temp dir). Members are stopped by pid: SIGTERM, then
SIGKILL if they linger; :meth:`EtcdCluster.kill` SIGKILLs one member
mid-flight (no chance to flush anything).

    cluster = EtcdCluster.start(tmp_path, size=3)
    try:
        ...cluster.client_urls...
    finally:
        cluster.stop()

:func:`etcd_missing_reason` says why etcd tests cannot run here (or None).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tests.ports import free_port

__all__ = ["EtcdCluster", "EtcdMember", "EtcdTLS", "etcd_missing_reason", "free_port"]

ETCD = shutil.which("etcd") or "/usr/bin/etcd"
START_TIMEOUT = 30.0


def etcd_missing_reason() -> str | None:
    """Why etcd tests must skip (the binary or the client library is absent), or None."""
    if not os.access(ETCD, os.X_OK):
        return (
            "etcd is not installed: run scripts/install-system-deps as root "
            "(Debian packages etcd-server and etcd-client)"
        )
    try:
        import aetcd  # noqa: F401
    except ImportError as exc:
        return f"the aetcd client library is not installed ({exc}): pip install aetcd"
    return None




@dataclass(frozen=True)
class EtcdTLS:
    """A throwaway CA, a server certificate for 127.0.0.1 and a client certificate."""

    ca_file: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str

    @classmethod
    def generate(cls, directory: Path) -> EtcdTLS:
        """Made with the ``openssl`` CLI (P-256 keys, valid one day)."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)

        def run(*args: str) -> None:
            subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

        ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
        run(
            "req",
            "-x509",
            *ec,
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "1",
            "-subj",
            "/CN=pybernetes-test-etcd-ca",
        )
        exts = {
            "server": "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
            "extendedKeyUsage=serverAuth,clientAuth\n",
            "client": "extendedKeyUsage=clientAuth\n",
        }
        for name, ext in exts.items():
            (d / f"{name}.ext").write_text(ext)
            run(
                "req",
                *ec,
                "-keyout",
                f"{name}.key",
                "-out",
                f"{name}.csr",
                "-subj",
                f"/CN=pybernetes-{name}",
            )
            run(
                "x509",
                "-req",
                "-in",
                f"{name}.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                f"{name}.crt",
                "-days",
                "1",
                "-extfile",
                f"{name}.ext",
            )
        return cls(
            ca_file=str(d / "ca.crt"),
            server_cert=str(d / "server.crt"),
            server_key=str(d / "server.key"),
            client_cert=str(d / "client.crt"),
            client_key=str(d / "client.key"),
        )

    def client_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.ca_file)
        ctx.load_cert_chain(self.client_cert, self.client_key)
        return ctx


@dataclass
class EtcdMember:
    name: str
    client_port: int
    peer_port: int
    data_dir: Path
    args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    tls: EtcdTLS | None = None

    @property
    def client_url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc else 0

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"{self.name}.log"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def spawn(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        try:
            self.proc = subprocess.Popen(
                [ETCD, *self.args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # a Ctrl-C of the test run is not its business
            )
        finally:
            log.close()

    def _open(self, path: str, timeout: float) -> object:
        ctx = self.tls.client_context() if self.tls else None
        return urllib.request.urlopen(self.client_url + path, timeout=timeout, context=ctx)

    def healthy(self) -> bool:
        try:
            with self._open("/health", 1) as resp:
                return json.loads(resp.read()).get("health") == "true"
        except (OSError, ValueError):
            return False

    def is_leader(self) -> bool:
        """Whether this member leads, from its ``etcd_server_is_leader`` metric."""
        with self._open("/metrics", 2) as resp:
            for line in resp.read().decode().splitlines():
                if line.startswith("etcd_server_is_leader "):
                    return float(line.split()[1]) == 1.0
        return False

    def kill(self) -> None:
        """SIGKILL by pid and reap."""
        if self.running:
            assert self.proc is not None
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        """SIGTERM by pid, SIGKILL after 10 s, reap."""
        if self.running:
            assert self.proc is not None
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def log_tail(self, n: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-n:]
        return ""


class EtcdCluster:
    """``size`` etcd members forming one cluster (size 1: a single member)."""

    def __init__(
        self,
        base_dir: Path,
        *,
        size: int = 1,
        extra_args: tuple[str, ...] = (),
        tls: EtcdTLS | None = None,
    ):
        self.base_dir = Path(base_dir)
        self.tls = tls
        self.token = f"pyb-test-{uuid.uuid4().hex[:8]}"
        self.members = [
            EtcdMember(
                name=f"m{i}",
                client_port=free_port(),
                peer_port=free_port(),
                data_dir=self.base_dir / f"m{i}.etcd",
                tls=tls,
            )
            for i in range(size)
        ]
        initial = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        for m in self.members:
            m.args = [
                f"--name={m.name}",
                f"--data-dir={m.data_dir}",
                f"--listen-client-urls={m.client_url}",
                f"--advertise-client-urls={m.client_url}",
                f"--listen-peer-urls={m.peer_url}",
                f"--initial-advertise-peer-urls={m.peer_url}",
                f"--initial-cluster={initial}",
                f"--initial-cluster-token={self.token}",
                "--initial-cluster-state=new",
                "--logger=zap",
                "--log-outputs=stderr",
                *extra_args,
            ]
            if tls:  # clients must present a certificate signed by the test CA
                m.args += [
                    f"--cert-file={tls.server_cert}",
                    f"--key-file={tls.server_key}",
                    f"--trusted-ca-file={tls.ca_file}",
                    "--client-cert-auth",
                ]

    @classmethod
    def start(
        cls,
        base_dir: Path,
        *,
        size: int = 1,
        extra_args: tuple[str, ...] = (),
        tls: EtcdTLS | None = None,
    ) -> EtcdCluster:
        """Start every member and wait until each reports healthy (a leader exists).

        With ``tls`` the client URLs are https and require a client certificate."""
        for attempt in range(3):
            cluster = cls(base_dir, size=size, extra_args=extra_args, tls=tls)
            cluster.base_dir.mkdir(parents=True, exist_ok=True)
            try:
                for m in cluster.members:
                    m.spawn()
                cluster.wait_healthy()
                return cluster
            except RuntimeError as e:
                cluster.stop()
                # a port free a moment ago was taken before etcd bound it: new ports, clean dirs
                if "address already in use" not in str(e) or attempt == 2:
                    raise
                for m in cluster.members:
                    shutil.rmtree(m.data_dir, ignore_errors=True)
                    m.log_path.unlink(missing_ok=True)
            except BaseException:
                cluster.stop()
                raise
        raise AssertionError("unreachable")

    @property
    def client_urls(self) -> list[str]:
        return [m.client_url for m in self.members]

    @property
    def running(self) -> list[EtcdMember]:
        return [m for m in self.members if m.running]

    def wait_healthy(self, timeout: float = START_TIMEOUT) -> None:
        """Until every running member answers /health (it needs a leader)."""
        deadline = time.monotonic() + timeout
        pending = list(self.running)
        while pending:
            for m in list(pending):
                if not m.running:
                    raise RuntimeError(f"etcd {m.name} exited:\n{m.log_tail()}")
                if m.healthy():
                    pending.remove(m)
            if pending and time.monotonic() > deadline:
                tails = "\n".join(f"--- {m.name}\n{m.log_tail()}" for m in pending)
                raise RuntimeError(f"etcd members never became healthy:\n{tails}")
            if pending:
                time.sleep(0.05)

    def leader(self) -> EtcdMember:
        """The member that currently leads (asked of every running member)."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            for m in self.running:
                with contextlib.suppress(OSError, ValueError):
                    if m.is_leader():
                        return m
            if time.monotonic() > deadline:
                raise RuntimeError("no etcd leader")
            time.sleep(0.05)

    def kill(self, member: EtcdMember) -> None:
        member.kill()

    def stop(self) -> None:
        for m in self.members:
            m.stop()
