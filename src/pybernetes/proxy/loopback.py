"""Service IPs on the loopback interface, so ``clusterIP:port`` is a local
address the proxy can listen on (``ip addr add IP/32 dev lo``; dummy
interfaces are not available on every kernel, loopback always is).

Contract: the proxy adds an IP only if it is inside the service range and
not already on ``lo``; it removes only addresses it added (IPv4 ones carry
the label ``lo:pyb`` so a restarted proxy can find leftovers of an unclean
stop and remove those no service uses any more). Needs CAP_NET_ADMIN (root);
without it, :meth:`add` raises :class:`PermissionError`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os

__all__ = ["LoopbackAddresses", "can_manage_loopback"]

log = logging.getLogger(__name__)


def can_manage_loopback() -> bool:
    """Root (so ``ip addr add`` may succeed) and the ``ip`` tool on PATH."""
    import shutil
    return os.geteuid() == 0 and shutil.which("ip") is not None


async def _ip(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "ip", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace").strip()


def _prefix(ip: str) -> str:
    return f"{ip}/128" if ":" in ip else f"{ip}/32"


class LoopbackAddresses:
    def __init__(self, *, label: str = "lo:pyb", networks=()):
        self.label = label
        self.networks = tuple(networks)
        self.owned: set[str] = set()  # addresses this proxy added
        self._lock = asyncio.Lock()

    def _in_range(self, ip: str) -> bool:
        addr = ipaddress.ip_address(ip)
        return any(addr in net for net in self.networks)

    async def present(self) -> dict[str, str]:
        """Addresses on ``lo`` → their label ("" for IPv6, which has none)."""
        rc, out = await _ip("-o", "addr", "show", "dev", "lo")
        if rc != 0:
            raise OSError(f"ip addr show dev lo: {out}")
        found: dict[str, str] = {}
        for line in out.splitlines():
            parts = line.split()
            for fam in ("inet", "inet6"):
                if fam in parts:
                    i = parts.index(fam)
                    ip = parts[i + 1].split("/")[0]
                    # `ip -o` ends the IPv4 line's label with a backslash: "lo:pyb\\".
                    label = ""
                    if fam == "inet":
                        label = next((p[:-1] for p in parts[i + 2:] if p.endswith("\\")), "")
                    found[ip] = label
        return found

    async def add(self, ip: str) -> bool:
        """Make ``ip`` local; True if this call added it. Raises OSError if
        ``ip`` cannot be added (PermissionError when not permitted)."""
        if not self._in_range(ip):
            raise ValueError(f"{ip} is outside the service range {', '.join(map(str, self.networks))}")
        async with self._lock:
            if ip in self.owned:
                return False
            v6 = ":" in ip
            args = ["-6" if v6 else "-4", "addr", "add", _prefix(ip), "dev", "lo"]
            args += ["nodad"] if v6 else ["label", self.label]
            rc, out = await _ip(*args)
            if rc == 0:
                self.owned.add(ip)
                log.info("added service IP %s to lo", ip)
                return True
            if "File exists" in out or "already assigned" in out:
                # Already there. Ours if it carries our label (an earlier run's).
                labels = await self.present()
                if labels.get(ip) == self.label:
                    self.owned.add(ip)
                return False
            if "Operation not permitted" in out:
                raise PermissionError(f"ip addr add {_prefix(ip)} dev lo: {out}")
            raise OSError(f"ip addr add {_prefix(ip)} dev lo: {out}")

    async def remove(self, ip: str) -> None:
        """Remove ``ip`` if this proxy added it (idempotent)."""
        async with self._lock:
            if ip not in self.owned:
                return
            self.owned.discard(ip)
            rc, out = await _ip("-6" if ":" in ip else "-4", "addr", "del", _prefix(ip), "dev", "lo")
            if rc != 0 and "Cannot assign" not in out:
                log.warning("ip addr del %s dev lo: %s", _prefix(ip), out)
            else:
                log.info("removed service IP %s from lo", ip)

    async def remove_stale(self, keep: set[str]) -> list[str]:
        """Remove addresses an earlier run left: labelled ours, in the service
        range, not in ``keep``. Returns them."""
        stale = [ip for ip, label in (await self.present()).items()
                 if label == self.label and ip not in keep and self._in_range(ip)]
        for ip in stale:
            self.owned.add(ip)
            await self.remove(ip)
        return stale

    async def remove_all(self) -> None:
        for ip in sorted(self.owned):
            await self.remove(ip)
