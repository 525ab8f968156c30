"""Service IPs on lo with the real `ip` tool (root only): add, adopt,
remove, and clean up only labelled leftovers inside the service range."""

from __future__ import annotations

import ipaddress
import os
import random
import subprocess

import pytest

from pybernetes.proxy.loopback import LoopbackAddresses

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (ip addr add)")


def on_lo() -> str:
    return subprocess.run(["ip", "-o", "addr", "show", "dev", "lo"], capture_output=True, text=True).stdout


@pytest.fixture
def net():
    n = ipaddress.ip_network(f"10.{random.randint(200, 249)}.{random.randint(0, 255)}.0/24")
    yield n
    for host in list(n.hosts())[:5]:  # whatever a failed test left
        subprocess.run(["ip", "addr", "del", f"{host}/32", "dev", "lo"], capture_output=True)


async def test_add_remove_and_outside_range(net):
    lo = LoopbackAddresses(networks=[net])
    ip = str(net[5])
    assert await lo.add(ip) is True
    assert await lo.add(ip) is False
    assert (await lo.present())[ip] == "lo:pyb"
    await lo.remove(ip)
    assert f"{ip}/32" not in on_lo()
    with pytest.raises(ValueError):
        await lo.add("192.0.2.77")


@pytest.fixture
def leftovers(net):
    """Two labelled addresses (an earlier run's) and an unlabelled one (an admin's)."""
    stale, foreign, kept = str(net[1]), str(net[2]), str(net[3])
    subprocess.run(["ip", "addr", "add", f"{stale}/32", "dev", "lo", "label", "lo:pyb"], check=True)
    subprocess.run(["ip", "addr", "add", f"{kept}/32", "dev", "lo", "label", "lo:pyb"], check=True)
    subprocess.run(["ip", "addr", "add", f"{foreign}/32", "dev", "lo"], check=True)
    return stale, foreign, kept


async def test_stale_cleanup_touches_only_labelled_addresses_in_range(net, leftovers):
    stale, foreign, kept = leftovers
    lo = LoopbackAddresses(networks=[net])
    assert await lo.remove_stale({kept}) == [stale]
    text = on_lo()
    assert f"{stale}/32" not in text and f"{foreign}/32" in text and f"{kept}/32" in text
    # An address already there without our label is used but never removed by us.
    assert await lo.add(foreign) is False
    await lo.remove_all()
    assert f"{foreign}/32" in on_lo()
