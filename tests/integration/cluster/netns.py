"""Network namespaces joined to the host by veth pairs: "other hosts" for tests.

Each :class:`NodeNetwork` is one namespace ``NAME`` holding one end of a veth
pair; the other end stays on the host. The pair gets a /30 of a private /24
(``10.231.X.0/24``, X picked so that no address or route here uses it): the
host side is ``.4i+1``, the namespace side ``.4i+2``, and the namespace's
default route goes through the host side, so a process in it reaches every
host address (the apiserver) and the host reaches it. Deleting the namespace
deletes its veth pair. Everything is made and removed by the names made here;
nothing else on the machine is touched. Needs root and iproute2.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass

__all__ = ["NodeNetwork", "netns_missing_reason", "free_subnet", "new_tag"]

IP = shutil.which("ip") or "/usr/sbin/ip"


def netns_missing_reason() -> str | None:
    """Why network-namespace tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add, veth pairs)"
    if not os.access(IP, os.X_OK):
        return "iproute2's `ip` is not installed"
    return None


def _ip(*args: str, check: bool = True) -> str:
    done = subprocess.run([IP, *args], capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def free_subnet() -> str:
    """``10.231.X`` (the first three octets of a /24) that no address or route here uses."""
    used = _ip("-4", "addr") + _ip("-4", "route") + _ip("-4", "route", "show", "table", "all", check=False)
    candidates = list(range(100, 250))
    random.shuffle(candidates)
    for x in candidates:
        if f"10.231.{x}." not in used:
            return f"10.231.{x}"
    raise RuntimeError("no free 10.231.X.0/24 here")


def new_tag() -> str:
    return uuid.uuid4().hex[:5]


@dataclass
class NodeNetwork:
    """Namespace ``name`` with veth ``ns_if`` (``ns_ip``) paired to the host's ``host_if`` (``host_ip``)."""

    name: str
    host_if: str
    ns_if: str
    host_ip: str
    ns_ip: str
    created: bool = False

    @classmethod
    def make(cls, *, tag: str, index: int, subnet: str) -> NodeNetwork:
        net = cls(name=f"pyb-h2-{tag}-{index}", host_if=f"pbh{tag}{index}", ns_if=f"pbn{tag}{index}",
                  host_ip=f"{subnet}.{4 * index + 1}", ns_ip=f"{subnet}.{4 * index + 2}")
        net.create()
        return net

    def create(self) -> None:
        _ip("netns", "add", self.name)
        self.created = True
        _ip("link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if, "netns", self.name)
        _ip("addr", "add", f"{self.host_ip}/30", "dev", self.host_if)
        _ip("link", "set", self.host_if, "up")
        _ip("-n", self.name, "addr", "add", f"{self.ns_ip}/30", "dev", self.ns_if)
        _ip("-n", self.name, "link", "set", self.ns_if, "up")
        _ip("-n", self.name, "link", "set", "lo", "up")
        _ip("-n", self.name, "route", "add", "default", "via", self.host_ip)

    @property
    def exec_prefix(self) -> tuple[str, ...]:
        """Prefix a command with this to run it inside the namespace."""
        return (IP, "netns", "exec", self.name)

    def pids(self) -> list[int]:
        """Every process whose network namespace is this one."""
        if not self.created:
            return []
        out = _ip("netns", "pids", self.name, check=False)
        return [int(p) for p in out.split() if p.isdigit()]

    def kill_all(self, timeout: float = 10.0) -> list[int]:
        """SIGKILL every process in the namespace (all of them started by the test,
        inside a namespace it made), again for any that appear meanwhile (a fork
        racing the first round); returns every pid killed."""
        killed: list[int] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                if pid not in killed:
                    killed.append(pid)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)
        return killed

    def delete(self) -> None:
        """Kill what is left inside, then delete the namespace (its veth pair goes with it)."""
        if not self.created:
            return
        self.kill_all()
        _ip("netns", "del", self.name, check=False)
        self.created = False
        # The host end normally vanishes with its peer; remove it if it lingers.
        if self.host_if in _ip("-o", "link", "show", check=False):
            _ip("link", "del", self.host_if, check=False)
