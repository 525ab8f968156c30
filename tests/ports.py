"""Ports for test servers: chosen at run time, never fixed."""

from __future__ import annotations

import socket

__all__ = ["free_port", "port_free", "demo_port"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_free(port: int) -> bool:
    """Whether ``port`` can be bound on every address right now."""
    with socket.socket() as s:
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def demo_port(port: int) -> int:
    """The README's ``port`` when it is free here, else any free one."""
    return port if port_free(port) else free_port()
