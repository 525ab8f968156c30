"""hostPort → containerPort forwarding for the process runtime, whose
containers share the host's network: when a port's hostPort differs from its
containerPort the kubelet listens on the hostPort and relays each TCP
connection to the container's port on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import logging

__all__ = ["HostPortForwarder", "forwarded_ports"]

log = logging.getLogger(__name__)


def forwarded_ports(pod: dict) -> list[tuple[str, int, int]]:
    """(host ip, host port, container port) for TCP ports that need a relay."""
    out = []
    for c in (pod.get("spec") or {}).get("containers") or ():
        for p in c.get("ports") or ():
            hp, cp = p.get("hostPort"), p.get("containerPort")
            if hp and cp and hp != cp and (p.get("protocol") or "TCP") == "TCP":
                out.append((p.get("hostIP") or "0.0.0.0", int(hp), int(cp)))
    return out


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


class HostPortForwarder:
    def __init__(self) -> None:
        self._servers: dict[str, list[asyncio.base_events.Server]] = {}

    async def ensure(self, uid: str, pod: dict) -> list[str]:
        """Start the pod's relays (idempotent); returns error messages."""
        if uid in self._servers:
            return []
        servers, errors = [], []
        for host_ip, host_port, container_port in forwarded_ports(pod):
            async def relay(reader, writer, _cp=container_port):
                try:
                    up_r, up_w = await asyncio.open_connection("127.0.0.1", _cp)
                except OSError:
                    writer.close()
                    return
                await asyncio.gather(_pipe(reader, up_w), _pipe(up_r, writer))
            try:
                servers.append(await asyncio.start_server(relay, host_ip, host_port, reuse_address=True))
            except OSError as e:
                errors.append(f"hostPort {host_port}: {e}")
        self._servers[uid] = servers
        return errors

    async def stop(self, uid: str) -> None:
        for s in self._servers.pop(uid, []):
            s.close()
            with contextlib.suppress(Exception):
                await s.wait_closed()

    async def close(self) -> None:
        for uid in list(self._servers):
            await self.stop(uid)
