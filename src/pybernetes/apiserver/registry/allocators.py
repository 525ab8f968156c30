"""Cluster IP and node port allocation, atomic across apiservers.

Each allocated IP or port is a key in storage created with create-if-absent
(`/registry/ranges/serviceips/10.0.0.7`), so two concurrent creates — even on
two apiservers sharing etcd — can never take the same one. Deleting the
service deletes the key.
"""

from __future__ import annotations

import ipaddress
import random

from ...storage import interface as st

__all__ = ["Allocator", "ip_allocator", "port_allocator", "AllocationError"]


class AllocationError(Exception):
    pass


class Allocator:
    """Allocates members of a finite range by claiming storage keys."""

    def __init__(self, storage: st.Storage, prefix: str, members: list[str], what: str):
        self.storage = storage
        self.prefix = prefix
        self.members = members
        self.index = {m: i for i, m in enumerate(members)}
        self.what = what

    def contains(self, member: str) -> bool:
        return member in self.index

    async def allocate(self, owner: str, member: str | None = None) -> str:
        """Claim ``member`` (or any free one); AllocationError when taken or exhausted."""
        if member is not None:
            if member not in self.index:
                raise AllocationError(f"provided {self.what} is not in the valid range")
            try:
                await self.storage.create(self.prefix + member, owner.encode())
            except st.AlreadyExists:
                raise AllocationError(f"provided {self.what} is already allocated") from None
            return member
        n = len(self.members)
        start = random.randrange(n)
        # Random start, then linear probe: few collisions, bounded work.
        for i in range(n):
            cand = self.members[(start + i) % n]
            try:
                await self.storage.create(self.prefix + cand, owner.encode())
                return cand
            except st.AlreadyExists:
                continue
        raise AllocationError(f"range is full: no {self.what}s left")

    async def release(self, member: str) -> None:
        try:
            await self.storage.delete(self.prefix + member)
        except st.NotFound:
            pass

    async def owner_of(self, member: str) -> str | None:
        try:
            return (await self.storage.get(self.prefix + member)).value.decode()
        except st.NotFound:
            return None


def ip_allocator(storage: st.Storage, cidr: str) -> Allocator:
    net = ipaddress.ip_network(cidr, strict=False)
    # The network and broadcast addresses are never handed out; the first
    # host address is reserved for the `kubernetes` service, as in Kubernetes.
    hosts = [str(h) for h in net.hosts()]
    return Allocator(storage, "/registry/ranges/serviceips/", hosts, "IP")


def port_allocator(storage: st.Storage, first: int, last: int) -> Allocator:
    return Allocator(storage, "/registry/ranges/servicenodeports/",
                     [str(p) for p in range(first, last + 1)], "port")
