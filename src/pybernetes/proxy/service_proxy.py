"""The service proxy component: informers on Services, EndpointSlices and
Endpoints; one reconcile per service key turns them into listeners,
balancers and loopback addresses.

Contract:

- ``await proxy.start()`` returns once the informers have synced and stale
  loopback addresses of an earlier unclean run are gone; ``await
  proxy.stop()`` closes every listener, resets connections still open and
  removes the service IPs it added to ``lo``. ``run()`` = start, wait until
  cancelled, stop (for ``pyb proxy``).
- ``reconcile(key)`` is level-triggered and idempotent: it reads the
  service and its endpoints from the caches and makes the listeners match.
  A listener is identified by (protocol, address, port); one whose identity
  is still wanted is **never reopened** — at most retargeted to another
  balancer — so endpoint changes never disturb a listening socket, and
  removed endpoints simply stop being chosen while their established
  connections finish.
- Endpoints come from the service's EndpointSlices (label
  ``kubernetes.io/service-name``) when it has any, else from its Endpoints
  object (selectorless services whose Endpoints are written by hand).
- A listener that fails to bind is logged once and retried (5 s; 30 s for a
  cluster IP that is not a local address).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
from collections.abc import Iterable

from ..client import Controller, InformerFactory
from .balancer import RoundRobin
from .config import ProxyConfig
from .endpoints import (
    SERVICE_NAME_LABEL,
    ServicePort,
    endpoints_from_endpoints,
    endpoints_from_slices,
    service_ports,
)
from .loopback import LoopbackAddresses, can_manage_loopback
from .tcp import ConnectionSet, Target, TCPListener, default_data_path
from .udp import UDPListener

__all__ = ["ServiceProxy", "ListenerKey", "NOT_ROOT_MESSAGE"]

log = logging.getLogger(__name__)

ListenerKey = tuple[str, str, int]  # (protocol, address, port)
SLICES_BY_SERVICE = "proxy-by-service"
BIND_RETRY = 5.0
NOT_LOCAL_RETRY = 30.0

NOT_ROOT_MESSAGE = (
    "not running as root (or without CAP_NET_ADMIN): service cluster IPs are not added to lo, so "
    "clusterIP:port answers on this node only where that address is already local (for example "
    "after an administrator ran `ip route add local {cidr} dev lo` once); NodePorts on {nodes} "
    "work either way")


def _slice_service(sl: dict) -> list[str]:
    meta = sl.get("metadata") or {}
    svc = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
    return [f"{meta.get('namespace')}/{svc}"] if svc else []


Listener = TCPListener | UDPListener


class ServiceProxy(Controller):
    name = "service-proxy"

    def __init__(self, client, config: ProxyConfig | None = None, *,
                 informers: InformerFactory | None = None):
        super().__init__(workers=1)
        self.client = client
        self.config = config or ProxyConfig()
        self._own_informers = informers is None
        self.informers = informers or InformerFactory(client, namespace=self.config.namespace)
        self.services = self.informers.services()
        self.endpoints = self.informers.endpoints()
        self.slices = self.informers.for_resource("discovery.k8s.io", "v1", "endpointslices",
                                                  indexers={SLICES_BY_SERVICE: _slice_service})
        self.services.add_event_handler(on_add=self._enqueue_obj, on_update=lambda o, n: self._enqueue_obj(n),
                                        on_delete=self._enqueue_obj)
        self.endpoints.add_event_handler(on_add=self._enqueue_obj, on_update=lambda o, n: self._enqueue_obj(n),
                                         on_delete=self._enqueue_obj)
        self.slices.add_event_handler(on_add=self._enqueue_slice, on_update=self._slice_updated,
                                      on_delete=self._enqueue_slice)
        manage = self.config.manage_loopback
        self.manage_loopback = can_manage_loopback() if manage is None else manage
        self.loopback = LoopbackAddresses(label=self.config.loopback_label,
                                          networks=self.config.service_networks)
        self.conns = ConnectionSet()
        self.tcp_data_path = self.config.tcp_data_path or default_data_path()
        self.listeners: dict[ListenerKey, Listener] = {}
        self._owner: dict[ListenerKey, str] = {}  # listener -> service key
        self._targets: dict[tuple[str, str, str], Target] = {}  # (svc key, port name, proto)
        self._service_ips: dict[str, set[str]] = {}  # service key -> cluster IPs it put on lo
        self._bind_errors: dict[ListenerKey, str] = {}
        self._run_task: asyncio.Task | None = None
        self._warned_not_root = False

    # -- informer handlers -----------------------------------------------------------
    def _enqueue_obj(self, obj: dict) -> None:
        meta = obj.get("metadata") or {}
        self.queue.add(f"{meta.get('namespace')}/{meta.get('name')}")

    def _enqueue_slice(self, sl: dict) -> None:
        for key in _slice_service(sl):
            self.queue.add(key)

    def _slice_updated(self, old: dict, new: dict) -> None:
        for key in set(_slice_service(old)) | set(_slice_service(new)):
            self.queue.add(key)

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self, *, sync_timeout: float | None = 60.0) -> None:
        """Start the informers, wait for their caches, clean up, start reconciling."""
        if self._run_task is not None:
            return
        await self.informers.start()
        if not await self.informers.wait_for_sync(sync_timeout):
            raise TimeoutError("service proxy: informers did not sync")
        if self.config.bind_cluster_ips and not self.manage_loopback:
            self._warn_not_root()
        if self.manage_loopback:
            keep = {ip for svc in self.services.list() for sp in service_ports(svc) for ip in sp.cluster_ips}
            try:
                stale = await self.loopback.remove_stale(keep)
                if stale:
                    log.info("removed service IPs left on lo by an earlier run: %s", ", ".join(stale))
            except OSError as e:
                log.warning("could not inspect lo: %s", e)
        self._run_task = asyncio.get_running_loop().create_task(self.run(), name="service-proxy")
        log.info("service proxy started: %d services, nodePorts on %s, cluster IPs %s, TCP data path %s",
                 len(self.services), ", ".join(self.config.nodeport_addresses),
                 "on lo" if self.manage_loopback else "not managed (not root)", self.tcp_data_path)

    async def stop(self) -> None:
        """Close listeners and connections, remove the IPs this proxy added to lo."""
        super().stop()
        if self._run_task is not None:
            self._run_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._run_task
            self._run_task = None
        if self._own_informers:
            await self.informers.stop()
        for key in list(self.listeners):
            await self._close_listener(key)
        self.conns.abort_all()
        if self.manage_loopback:
            await self.loopback.remove_all()
        self._service_ips.clear()

    async def serve_forever(self) -> None:
        """start(), then wait until cancelled; stop() on the way out."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    def _warn_not_root(self) -> None:
        if not self._warned_not_root:
            self._warned_not_root = True
            log.warning(NOT_ROOT_MESSAGE.format(cidr=self.config.service_cluster_ip_range,
                                                nodes=", ".join(self.config.nodeport_addresses)))

    # -- reconcile ------------------------------------------------------------------------
    def _endpoints_for(self, key: str, sp: ServicePort) -> list[tuple[str, int]]:
        slices = self.slices.by_index(SLICES_BY_SERVICE, key)
        if slices:
            return endpoints_from_slices(slices, port_name=sp.port_name, protocol=sp.protocol)
        return endpoints_from_endpoints(self.endpoints.get(key), port_name=sp.port_name, protocol=sp.protocol)

    def _desired_listeners(self, ports: Iterable[ServicePort],
                           targets: dict[tuple[str, str, str], Target]) -> dict[ListenerKey, Target]:
        out: dict[ListenerKey, Target] = {}
        for sp in ports:
            target = targets[(sp.service_key, sp.port_name, sp.protocol)]
            if self.config.bind_cluster_ips:
                for ip in sp.cluster_ips:
                    out[(sp.protocol, ip, sp.port)] = target
            if sp.node_port:
                for addr in self.config.nodeport_addresses:
                    out[(sp.protocol, addr, sp.node_port)] = target
        return out

    async def reconcile(self, key: str) -> float | None:
        svc = self.services.get(key)
        ports = service_ports(svc) if svc is not None and not svc["metadata"].get("deletionTimestamp") else []
        # Balancers: update endpoints in place (listeners hold the Target, not a copy).
        wanted_targets: dict[tuple[str, str, str], Target] = {}
        for sp in ports:
            tkey = (key, sp.port_name, sp.protocol)
            target = self._targets.get(tkey)
            if target is None:
                target = Target(sp.name, RoundRobin(affinity_timeout=sp.affinity_timeout))
            target.balancer.set_affinity(sp.affinity_timeout)
            eps = self._endpoints_for(key, sp)
            if target.balancer.update(eps):
                log.info("%s: endpoints %s", sp.name,
                         ", ".join(f"{h}:{p}" for h, p in sorted(eps)) or "(none: connections refused)")
            wanted_targets[tkey] = target
        for tkey in [k for k in self._targets if k[0] == key and k not in wanted_targets]:
            del self._targets[tkey]
        self._targets.update(wanted_targets)

        desired = self._desired_listeners(ports, wanted_targets)
        # Close what this service no longer wants (before dropping its IPs).
        for lkey in [k for k, owner in self._owner.items() if owner == key and k not in desired]:
            await self._close_listener(lkey)
        await self._sync_ips(key, {ip for sp in ports for ip in sp.cluster_ips}
                             if self.config.bind_cluster_ips else set())
        retry: float | None = None
        for lkey, target in desired.items():
            existing = self.listeners.get(lkey)
            if existing is not None:
                existing.target = target  # same socket, maybe a new balancer
                self._owner[lkey] = key
                continue
            delay = await self._open_listener(lkey, target, key)
            if delay is not None:
                retry = delay if retry is None else min(retry, delay)
        return retry

    async def _sync_ips(self, key: str, wanted: set[str]) -> None:
        if not self.manage_loopback:
            return
        had = self._service_ips.get(key, set())
        for ip in had - wanted:
            if not any(ip in ips for k, ips in self._service_ips.items() if k != key):
                await self.loopback.remove(ip)
        have: set[str] = set()
        for ip in wanted:
            if not self.config.in_service_range(ip):
                log.warning("%s: cluster IP %s is outside --service-cluster-ip-range %s; not adding it to lo "
                            "(configure the proxy with the apiserver's range)", key, ip,
                            self.config.service_cluster_ip_range)
                continue
            try:
                await self.loopback.add(ip)
                have.add(ip)
            except PermissionError as e:
                log.warning("%s", e)
                self.manage_loopback = False
                self._warn_not_root()
                return
            except OSError as e:
                log.warning("%s: %s", key, e)
        if have:
            self._service_ips[key] = have
        else:
            self._service_ips.pop(key, None)

    async def _open_listener(self, lkey: ListenerKey, target: Target, owner: str) -> float | None:
        proto, host, port = lkey
        listener: Listener
        if proto == "TCP":
            listener = TCPListener(host=host, port=port, target=target, conns=self.conns,
                                   dial_timeouts=self.config.dial_timeouts, data_path=self.tcp_data_path)
        else:
            listener = UDPListener(host=host, port=port, target=target, idle_timeout=self.config.udp_idle_timeout)
        try:
            await listener.start()
        except OSError as e:
            msg = f"{e.strerror or e}"
            if self._bind_errors.get(lkey) != msg:
                self._bind_errors[lkey] = msg
                hint = ""
                if e.errno == errno.EADDRNOTAVAIL and not self.manage_loopback:
                    hint = " (the address is not local and the proxy does not manage lo: not root)"
                elif e.errno == errno.EADDRINUSE:
                    hint = f" (another socket holds port {port}, perhaps on 0.0.0.0)"
                log.warning("%s: cannot listen on %s %s:%d: %s%s; retrying", target.name, proto, host, port,
                            msg, hint)
            return NOT_LOCAL_RETRY if e.errno == errno.EADDRNOTAVAIL else BIND_RETRY
        self._bind_errors.pop(lkey, None)
        self.listeners[lkey] = listener
        self._owner[lkey] = owner
        log.info("%s: listening on %s %s:%d", target.name, proto, host, port)
        return None

    async def _close_listener(self, lkey: ListenerKey) -> None:
        listener = self.listeners.pop(lkey, None)
        self._owner.pop(lkey, None)
        if listener is not None:
            await listener.close()
            log.info("%s: closed %s %s:%d", listener.target.name, *lkey)
