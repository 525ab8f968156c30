"""Ports for test servers: chosen at run time, never fixed."""

from __future__ import annotations

import random
import socket

__all__ = ["free_port", "port_free", "demo_port"]

# free_port draws from here: above well-known services, below Kubernetes' NodePort range (30000-32767)
_RANGE = (20000, 30000)


def _ephemeral_low() -> int:
    """The first port the kernel hands to outgoing connections (and to bind(0))."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago.

    Taken below the kernel's ephemeral range when there is room: a port that
    bind(0) picked and released can be handed to the next outgoing connection
    before the server meant for it binds (seen with etcd members in CI)."""
    high = min(_RANGE[1], _ephemeral_low())
    if high > _RANGE[0] + 1000:
        for _ in range(100):
            port = random.randrange(_RANGE[0], high)
            if _bindable("127.0.0.1", port):
                return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bindable(address: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((address, port))
        except OSError:
            return False
    return True


def port_free(port: int) -> bool:
    """Whether ``port`` can be bound on every address right now."""
    return _bindable("0.0.0.0", port)


def demo_port(port: int) -> int:
    """The README's ``port`` when it is free here, else any free one."""
    return port if port_free(port) else free_port()
