"""Resource arithmetic as the scheduler counts it: a pod's effective request.

A pod's request is what Kubernetes' ``resource.PodRequests`` computes:
per resource, the larger of (sum of app containers + restartable init
containers, i.e. sidecars) and (each regular init container's request plus the
sidecars started before it), plus ``spec.overhead``. For scoring, containers
that request no cpu/memory count as 100m / 200Mi (``GetNonzeroRequests``), so
best-effort pods still spread out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from ..api.quantity import QuantityError, parse_quantity

__all__ = [
    "Resource",
    "CPU",
    "MEMORY",
    "PODS",
    "EPHEMERAL_STORAGE",
    "DEFAULT_MILLI_CPU_REQUEST",
    "DEFAULT_MEMORY_REQUEST",
    "pod_requests",
    "nonzero_requests",
    "node_allocatable",
]

CPU, MEMORY, PODS, EPHEMERAL_STORAGE = "cpu", "memory", "pods", "ephemeral-storage"
DEFAULT_MILLI_CPU_REQUEST = 100  # 0.1 core, as kube-scheduler's util.DefaultMilliCPURequest
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024  # 200Mi, as util.DefaultMemoryRequest


@dataclass(slots=True)
class Resource:
    """Mutable resource sums: cpu in millicores, memory/storage in bytes, extended by name."""

    milli_cpu: int = 0
    memory: int = 0
    ephemeral_storage: int = 0
    allowed_pods: int = 0
    scalar: dict[str, int] = field(default_factory=dict)

    def add(self, other: Resource, sign: int = 1) -> None:
        self.milli_cpu += sign * other.milli_cpu
        self.memory += sign * other.memory
        self.ephemeral_storage += sign * other.ephemeral_storage
        for k, v in other.scalar.items():
            self.scalar[k] = self.scalar.get(k, 0) + sign * v

    def set_max(self, other: Resource) -> None:
        self.milli_cpu = max(self.milli_cpu, other.milli_cpu)
        self.memory = max(self.memory, other.memory)
        self.ephemeral_storage = max(self.ephemeral_storage, other.ephemeral_storage)
        for k, v in other.scalar.items():
            self.scalar[k] = max(self.scalar.get(k, 0), v)

    def copy(self) -> Resource:
        return Resource(self.milli_cpu, self.memory, self.ephemeral_storage, self.allowed_pods,
                        dict(self.scalar))

    @classmethod
    def from_list(cls, rl: Mapping | None) -> Resource:
        """A ResourceList (``{"cpu": "500m", ...}``) as sums; unparsable values count as 0."""
        r = cls()
        if not rl:
            return r
        for name, q in rl.items():
            try:
                amount = _units(name, q)
            except (QuantityError, TypeError):
                continue
            if name == CPU:
                r.milli_cpu = amount
            elif name == MEMORY:
                r.memory = amount
            elif name == EPHEMERAL_STORAGE:
                r.ephemeral_storage = amount
            elif name == PODS:
                r.allowed_pods = amount
            elif _is_scalar(name):
                r.scalar[name] = amount
        return r


@lru_cache(maxsize=4096)
def _units(name: str, q: str | int | float) -> int:
    """Millicores for cpu, whole units (rounded up) for everything else; the same strings recur."""
    qty = parse_quantity(q)
    return qty.milli_value if name == CPU else qty.int_value()


def _is_scalar(name: str) -> bool:
    # extended resources (example.com/gpu) and hugepages; native others are ignored
    return "/" in name or name.startswith("hugepages-")


def _requests(c: Mapping) -> Mapping | None:
    res = c.get("resources")
    return res.get("requests") if isinstance(res, dict) else None


def pod_requests(spec: Mapping) -> Resource:
    """The pod's effective request (containers, init containers, sidecars, overhead)."""
    total = Resource()
    for c in spec.get("containers") or ():
        total.add(Resource.from_list(_requests(c)))
    sidecars = Resource()
    init_max = Resource()
    for c in spec.get("initContainers") or ():
        req = Resource.from_list(_requests(c))
        if c.get("restartPolicy") == "Always":
            # a sidecar keeps running: it adds to the app containers and to later init containers
            sidecars.add(req)
            req = sidecars.copy()
        else:
            req.add(sidecars)
        init_max.set_max(req)
    total.add(sidecars)
    total.set_max(init_max)
    overhead = spec.get("overhead")
    if overhead:
        total.add(Resource.from_list(overhead))
    return total


def _nonzero(rl: Mapping | None) -> tuple[int, int]:
    r = Resource.from_list(rl)
    cpu = r.milli_cpu if rl and CPU in rl else DEFAULT_MILLI_CPU_REQUEST
    mem = r.memory if rl and MEMORY in rl else DEFAULT_MEMORY_REQUEST
    return cpu, mem


def nonzero_requests(spec: Mapping) -> tuple[int, int]:
    """(milli cpu, memory) for scoring: unset requests count as the defaults."""
    cpu = mem = 0
    for c in spec.get("containers") or ():
        a, b = _nonzero(_requests(c))
        cpu += a
        mem += b
    icpu = imem = 0
    side_cpu = side_mem = 0
    for c in spec.get("initContainers") or ():
        a, b = _nonzero(_requests(c))
        if c.get("restartPolicy") == "Always":
            side_cpu += a
            side_mem += b
            a, b = side_cpu, side_mem
        else:
            a, b = a + side_cpu, b + side_mem
        icpu, imem = max(icpu, a), max(imem, b)
    cpu, mem = max(cpu + side_cpu, icpu), max(mem + side_mem, imem)
    overhead = spec.get("overhead")
    if overhead:
        o = Resource.from_list(overhead)
        cpu += o.milli_cpu
        mem += o.memory
    return cpu, mem


def node_allocatable(node: Mapping) -> Resource:
    """``status.allocatable`` (the apiserver defaults it from capacity)."""
    status = node.get("status") or {}
    return Resource.from_list(status.get("allocatable") or status.get("capacity"))
