"""Server-side printing: turn objects into ``meta.k8s.io/v1`` Tables.

``kubectl get`` asks for ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io``
and prints whatever columns the server returns; without a Table it shows only
NAME and AGE. The columns and cell logic here follow Kubernetes' printers
(``pkg/printers/internalversion/printers.go``) as of v1.32. Like the real
apiserver, every row carries all columns including the ``-o wide`` ones
(``priority: 1``); kubectl hides those unless asked.

Pure functions, no I/O. A printer is picked by (group, kind); a kind without
one gets NAME and AGE.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from pybernetes.api.resources import ResourceInfo

__all__ = [
    "TABLE_API_VERSION",
    "INCLUDE_OBJECT_VALUES",
    "negotiate_table",
    "table_version",
    "human_duration",
    "column_definitions",
    "to_table",
    "to_table_row_event",
]

TABLE_API_VERSION = "meta.k8s.io/v1"
INCLUDE_OBJECT_VALUES = ("None", "Metadata", "Object")

_TABLE_VERSIONS = ("v1", "v1beta1")


# --------------------------------------------------------------------------- negotiation


def _media_ranges(accept: str) -> list[tuple[str, dict[str, str], float]]:
    """Split an Accept header into (type, params, q), in header order."""
    out = []
    for part in accept.split(","):
        part = part.strip()
        if not part:
            continue
        pieces = [p.strip() for p in part.split(";")]
        params: dict[str, str] = {}
        q = 1.0
        for p in pieces[1:]:
            if "=" not in p:
                continue
            k, v = p.split("=", 1)
            k, v = k.strip().lower(), v.strip().strip('"')
            if k == "q":
                try:
                    q = float(v)
                except ValueError:
                    q = 0.0
            else:
                params[k] = v
        out.append((pieces[0].lower(), params, q))
    return out


def table_version(accept_header: str | None) -> str | None:
    """The Table version ("v1" or "v1beta1") the client asked for, or None.

    The first acceptable JSON media range with ``as=Table;g=meta.k8s.io`` and a
    served version wins (highest q first, header order breaking ties).
    """
    if not accept_header:
        return None
    ranges = sorted(
        enumerate(_media_ranges(accept_header)), key=lambda t: (-t[1][2], t[0])
    )
    for _, (mtype, params, q) in ranges:
        if q <= 0 or mtype not in ("application/json", "application/*", "*/*"):
            continue
        if params.get("as") != "Table" or params.get("g") != "meta.k8s.io":
            continue
        v = params.get("v", "v1")
        if v in _TABLE_VERSIONS:
            return v
    return None


def negotiate_table(accept_header: str | None) -> bool:
    """True when the Accept header asks for a ``meta.k8s.io`` Table we can serve."""
    return table_version(accept_header) is not None


# --------------------------------------------------------------------------- time


def _parse_time(value: object) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    s = value.strip()
    if s.endswith("Z") or s.endswith("z"):
        s = s[:-1] + "+00:00"
    try:
        t = datetime.fromisoformat(s)
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t


def human_duration(seconds: float) -> str:
    """Kubernetes' ``duration.HumanDuration``: ~2-3 significant figures.

    ``5s``, ``119s``, ``2m``, ``3m20s``, ``10m``, ``3h``, ``7h59m``, ``2d3h``,
    ``30d``, ``2y5d``... Slightly negative values (clock skew up to 2s) read
    ``0s``; anything earlier is ``<invalid>``.
    """
    total = int(seconds)  # truncates toward zero, like Go's int(d.Seconds())
    if total < -1:
        return "<invalid>"
    if total < 0:
        return "0s"
    if total < 60 * 2:
        return f"{total}s"
    minutes = total // 60
    if minutes < 10:
        s = total % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = total // 3600
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if dy == 0 else f"{years}y{dy}d"
    return f"{hours // 24 // 365}y"


def _since(value: object, now: datetime) -> str:
    """translateTimestampSince: ``<unknown>`` for a missing timestamp."""
    t = _parse_time(value)
    if t is None:
        return "<unknown>"
    return human_duration((now - t).total_seconds())


# --------------------------------------------------------------------------- columns

# Column descriptions come from the same OpenAPI definitions the schemas are
# served from (Kubernetes uses the types' SwaggerDoc, generated from the same
# comments), so they are looked up lazily by (definition, property).
_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_CORE = "io.k8s.api.core.v1."


@dataclass(frozen=True, slots=True)
class _Col:
    name: str
    type: str = "string"
    format: str = ""
    priority: int = 0
    description: str = ""
    doc: tuple[str, str] | None = None  # (definition, property) to read the description from


_NAME = _Col("Name", format="name", doc=(_META, "name"))
_AGE = _Col("Age", doc=(_META, "creationTimestamp"))
_CONTAINERS = _Col("Containers", priority=1, description="Names of each container in the template.")
_IMAGES = _Col("Images", priority=1, description="Images referenced by each container in the template.")


def _doc(definition: str, prop: str) -> str:
    try:
        from pybernetes.apiserver.openapi import load_definitions

        return load_definitions()[definition]["properties"][prop].get("description", "")
    except Exception:  # descriptions are cosmetic; never fail a GET over them
        return ""


def _column_dict(col: _Col) -> dict:
    desc = col.description or (_doc(*col.doc) if col.doc else "")
    return {
        "name": col.name,
        "type": col.type,
        "format": col.format,
        "description": desc,
        "priority": col.priority,
    }


# --------------------------------------------------------------------------- cell helpers


def _format_labels(labels: Mapping[str, str] | None) -> str:
    """labels.FormatLabels: sorted k=v joined by commas, ``<none>`` when empty."""
    if not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def _layout_containers(containers: Iterable[Mapping] | None) -> tuple[str, str]:
    containers = list(containers or ())
    return (
        ",".join(c.get("name", "") for c in containers),
        ",".join(c.get("image", "") for c in containers),
    )


def _join_host_port(host: str, port: int) -> str:
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]:{port}"
    except ValueError:
        if ":" in host:
            return f"[{host}]:{port}"
    return f"{host}:{port}"


def _list_with_more(items: list[str], more: bool, count: int, limit: int) -> str:
    ret = ",".join(items)
    if more:
        return f"{ret} + {count - limit} more..."
    return ret or "<unset>"


# --------------------------------------------------------------------------- printers
# Each printer returns (cells, row conditions or None). All take ``now``.

_Printer = Callable[[dict, datetime], tuple[list, list | None]]


def _meta(obj: Mapping) -> Mapping:
    return obj.get("metadata") or {}


def _name_age(obj: Mapping, now: datetime) -> tuple[str, str]:
    m = _meta(obj)
    return m.get("name", ""), _since(m.get("creationTimestamp"), now)


def _is_restartable_init(container: Mapping | None) -> bool:
    return bool(container) and container.get("restartPolicy") == "Always"


def _condition_true(conditions: Iterable[Mapping] | None, ctype: str) -> bool:
    return any(c.get("type") == ctype and c.get("status") == "True" for c in conditions or ())


def _print_pod(pod: dict, now: datetime) -> tuple[list, list | None]:
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    meta = _meta(pod)
    restarts = 0
    restartable_restarts = 0
    total = len(spec.get("containers") or ())
    ready = 0
    last_restart: datetime | None = None
    last_restartable_restart: datetime | None = None

    phase = status.get("phase", "")
    reason = status.get("reason") or phase
    for cond in status.get("conditions") or ():
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    conditions = None
    if phase == "Succeeded":
        conditions = [{"type": "Completed", "status": "True", "reason": "Succeeded",
                       "message": "The pod has completed successfully."}]
    elif phase == "Failed":
        conditions = [{"type": "Completed", "status": "True", "reason": "Failed",
                       "message": "The pod failed."}]

    init_specs = {c.get("name"): c for c in spec.get("initContainers") or ()}
    total += sum(1 for c in init_specs.values() if _is_restartable_init(c))
    n_init = len(spec.get("initContainers") or ())

    def later(a: datetime | None, b: object) -> datetime | None:
        t = _parse_time(b)
        if t is None:
            return a
        return t if a is None or a < t else a

    initializing = False
    for i, cs in enumerate(status.get("initContainerStatuses") or ()):
        count = int(cs.get("restartCount") or 0)
        restarts += count
        last_term = (cs.get("lastState") or {}).get("terminated")
        if last_term:
            last_restart = later(last_restart, last_term.get("finishedAt"))
        restartable = _is_restartable_init(init_specs.get(cs.get("name")))
        if restartable:
            restartable_restarts += count
            if last_term:
                last_restartable_restart = later(last_restartable_restart, last_term.get("finishedAt"))
        state = cs.get("state") or {}
        term, waiting = state.get("terminated"), state.get("waiting")
        if term and int(term.get("exitCode") or 0) == 0:
            continue
        if restartable and cs.get("started"):
            if cs.get("ready"):
                ready += 1
            continue
        if term:
            if not term.get("reason"):
                if term.get("signal"):
                    reason = f"Init:Signal:{term['signal']}"
                else:
                    reason = f"Init:ExitCode:{int(term.get('exitCode') or 0)}"
            else:
                reason = "Init:" + term["reason"]
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{n_init}"
        initializing = True
        break

    if not initializing or _condition_true(status.get("conditions"), "Initialized"):
        restarts = restartable_restarts
        last_restart = last_restartable_restart
        has_running = False
        for cs in reversed(status.get("containerStatuses") or ()):
            restarts += int(cs.get("restartCount") or 0)
            last_term = (cs.get("lastState") or {}).get("terminated")
            if last_term:
                last_restart = later(last_restart, last_term.get("finishedAt"))
            state = cs.get("state") or {}
            waiting, term = state.get("waiting"), state.get("terminated")
            if waiting and waiting.get("reason"):
                reason = waiting["reason"]
            elif term and term.get("reason"):
                reason = term["reason"]
            elif term:
                if term.get("signal"):
                    reason = f"Signal:{term['signal']}"
                else:
                    reason = f"ExitCode:{int(term.get('exitCode') or 0)}"
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(status.get("conditions"), "Ready") else "NotReady"

    if meta.get("deletionTimestamp") and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif meta.get("deletionTimestamp") and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"

    restarts_cell = str(restarts)
    if restarts and last_restart is not None:
        restarts_cell = f"{restarts} ({human_duration((now - last_restart).total_seconds())} ago)"

    pod_ips = status.get("podIPs") or ()
    pod_ip = (pod_ips[0].get("ip") if pod_ips else status.get("podIP")) or "<none>"
    node = spec.get("nodeName") or "<none>"
    nominated = status.get("nominatedNodeName") or "<none>"
    gates = spec.get("readinessGates") or ()
    readiness = "<none>"
    if gates:
        true_count = 0
        for gate in gates:
            for cond in status.get("conditions") or ():
                if cond.get("type") == gate.get("conditionType"):
                    if cond.get("status") == "True":
                        true_count += 1
                    break
        readiness = f"{true_count}/{len(gates)}"

    cells = [meta.get("name", ""), f"{ready}/{total}", reason, restarts_cell,
             _since(meta.get("creationTimestamp"), now), pod_ip, node, nominated, readiness]
    return cells, conditions


def _lb_ingress(status: Mapping) -> str:
    found = set()
    for ing in ((status.get("loadBalancer") or {}).get("ingress")) or ():
        if ing.get("ip"):
            found.add(ing["ip"])
        elif ing.get("hostname"):
            found.add(ing["hostname"])
    return ",".join(sorted(found))


def _service_external_ip(svc: Mapping) -> str:
    spec = svc.get("spec") or {}
    stype = spec.get("type", "")
    external = spec.get("externalIPs") or []
    if stype in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else "<none>"
    if stype == "LoadBalancer":
        lb = _lb_ingress(svc.get("status") or {})
        if external:
            return ",".join(([*lb.split(",")] if lb else []) + list(external))
        return lb or "<pending>"
    if stype == "ExternalName":
        return spec.get("externalName", "")
    return "<unknown>"


def _print_service(svc: dict, now: datetime) -> tuple[list, None]:
    spec = svc.get("spec") or {}
    name, age = _name_age(svc, now)
    cluster_ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    internal = cluster_ips[0] if cluster_ips else "<none>"
    pieces = []
    for p in spec.get("ports") or ():
        proto = p.get("protocol", "TCP")
        if int(p.get("nodePort") or 0) > 0:
            pieces.append(f"{p.get('port', 0)}:{p['nodePort']}/{proto}")
        else:
            pieces.append(f"{p.get('port', 0)}/{proto}")
    ports = ",".join(pieces) or "<none>"
    return [name, spec.get("type", ""), internal, _service_external_ip(svc), ports, age,
            _format_labels(spec.get("selector"))], None


def _node_address(node: Mapping, kind: str) -> str:
    for a in ((node.get("status") or {}).get("addresses")) or ():
        if a.get("type") == kind:
            return a.get("address", "")
    return "<none>"


def _print_node(node: dict, now: datetime) -> tuple[list, None]:
    status = node.get("status") or {}
    spec = node.get("spec") or {}
    name, age = _name_age(node, now)
    states = []
    for cond in status.get("conditions") or ():
        if cond.get("type") == "Ready":
            states = ["Ready" if cond.get("status") == "True" else "NotReady"]
    if not states:
        states = ["Unknown"]
    if spec.get("unschedulable"):
        states.append("SchedulingDisabled")
    roles = set()
    for k, v in (_meta(node).get("labels") or {}).items():
        if k.startswith("node-role.kubernetes.io/"):
            role = k[len("node-role.kubernetes.io/"):]
            if role:
                roles.add(role)
        elif k == "kubernetes.io/role" and v:
            roles.add(v)
    info = status.get("nodeInfo") or {}
    return [
        name, ",".join(states), ",".join(sorted(roles)) or "<none>", age,
        info.get("kubeletVersion", ""),
        _node_address(node, "InternalIP"), _node_address(node, "ExternalIP"),
        info.get("osImage") or "<unknown>", info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ], None


def _print_rc(rc: dict, now: datetime) -> tuple[list, None]:
    spec = rc.get("spec") or {}
    status = rc.get("status") or {}
    name, age = _name_age(rc, now)
    template = spec.get("template") or {}
    names, images = _layout_containers((template.get("spec") or {}).get("containers"))
    return [name, int(spec.get("replicas") or 0), int(status.get("replicas") or 0),
            int(status.get("readyReplicas") or 0), age, names, images,
            _format_labels(spec.get("selector"))], None


def _print_namespace(ns: dict, now: datetime) -> tuple[list, None]:
    name, age = _name_age(ns, now)
    return [name, (ns.get("status") or {}).get("phase", ""), age], None


def _print_configmap(cm: dict, now: datetime) -> tuple[list, None]:
    name, age = _name_age(cm, now)
    return [name, len(cm.get("data") or {}) + len(cm.get("binaryData") or {}), age], None


def _print_secret(secret: dict, now: datetime) -> tuple[list, None]:
    name, age = _name_age(secret, now)
    return [name, secret.get("type", ""), len(secret.get("data") or {}), age], None


def _print_service_account(sa: dict, now: datetime) -> tuple[list, None]:
    name, age = _name_age(sa, now)
    return [name, len(sa.get("secrets") or ()), age], None


def _format_endpoints(ep: Mapping) -> str:
    subsets = ep.get("subsets") or ()
    if not subsets:
        return "<none>"
    items: list[str] = []
    limit, more, count = 3, False, 0
    for ss in subsets:
        addresses = ss.get("addresses") or ()
        ports = ss.get("ports") or ()
        if not ports:
            count += len(addresses)
            for a in addresses:
                if len(items) == limit:
                    more = True
                    break
                items.append(a.get("ip", ""))
            continue
        for port in ports:
            count += len(addresses)
            for a in addresses:
                if len(items) == limit:
                    more = True
                    break
                items.append(_join_host_port(a.get("ip", ""), int(port.get("port") or 0)))
    ret = ",".join(items)
    return f"{ret} + {count - limit} more..." if more else ret


def _print_endpoints(ep: dict, now: datetime) -> tuple[list, None]:
    name, age = _name_age(ep, now)
    return [name, _format_endpoints(ep), age], None


def _print_event(ev: dict, now: datetime) -> tuple[list, None]:
    first = _since(ev.get("firstTimestamp"), now)
    if not ev.get("firstTimestamp"):
        first = _since(ev.get("eventTime"), now)
    last = _since(ev.get("lastTimestamp"), now) if ev.get("lastTimestamp") else first
    count = int(ev.get("count") or 0)
    series = ev.get("series")
    if series:
        last = _since(series.get("lastObservedTime"), now)
        count = int(series.get("count") or 0)
    elif count == 0:
        count = 1  # singleton events carry no count in the events.k8s.io API
    involved = ev.get("involvedObject") or {}
    kind = (involved.get("kind") or "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    source = ev.get("source") or {}
    component = source.get("component") or ev.get("reportingComponent") or ""
    host = source.get("host") or ev.get("reportingInstance") or ""
    src = f"{component}, {host}" if host else component
    return [last, ev.get("type", ""), ev.get("reason", ""), target, involved.get("fieldPath", ""),
            src, (ev.get("message") or "").strip(), first, count, _meta(ev).get("name", "")], None


def _print_lease(lease: dict, now: datetime) -> tuple[list, None]:
    name, age = _name_age(lease, now)
    return [name, (lease.get("spec") or {}).get("holderIdentity") or "", age], None


def _print_endpoint_slice(es: dict, now: datetime) -> tuple[list, None]:
    name, age = _name_age(es, now)
    limit = 3
    ports: list[str] = []
    more, count = False, 0
    for p in es.get("ports") or ():
        if len(ports) < limit:
            if p.get("port") is not None:
                ports.append(str(p["port"]))
            elif p.get("name") is not None:
                ports.append(p["name"])
            else:
                ports.append("*")
        elif len(ports) == limit:
            more = True
        count += 1
    addrs: list[str] = []
    amore, acount = False, 0
    for ep in es.get("endpoints") or ():
        for a in ep.get("addresses") or ():
            if len(addrs) < limit:
                addrs.append(a)
            elif len(addrs) == limit:
                amore = True
            acount += 1
    return [name, es.get("addressType", ""), _list_with_more(ports, more, count, limit),
            _list_with_more(addrs, amore, acount, limit), age], None


def _print_default(obj: dict, now: datetime) -> tuple[list, None]:
    name, age = _name_age(obj, now)
    return [name, age], None


@dataclass(frozen=True, slots=True)
class _TablePrinter:
    columns: tuple[_Col, ...]
    row: _Printer


_PRINTERS: dict[tuple[str, str], _TablePrinter] = {
    ("", "Pod"): _TablePrinter((
        _NAME,
        _Col("Ready", description="The aggregate readiness state of this pod for accepting traffic."),
        _Col("Status", description="The aggregate status of the containers in this pod."),
        _Col("Restarts", description="The number of times the containers in this pod have been "
             "restarted and when the last container in this pod has restarted."),
        _AGE,
        _Col("IP", priority=1, doc=(_CORE + "PodStatus", "podIP")),
        _Col("Node", priority=1, doc=(_CORE + "PodSpec", "nodeName")),
        _Col("Nominated Node", priority=1, doc=(_CORE + "PodStatus", "nominatedNodeName")),
        _Col("Readiness Gates", priority=1, doc=(_CORE + "PodSpec", "readinessGates")),
    ), _print_pod),
    ("", "Service"): _TablePrinter((
        _NAME,
        _Col("Type", doc=(_CORE + "ServiceSpec", "type")),
        _Col("Cluster-IP", doc=(_CORE + "ServiceSpec", "clusterIP")),
        _Col("External-IP", doc=(_CORE + "ServiceSpec", "externalIPs")),
        _Col("Port(s)", doc=(_CORE + "ServiceSpec", "ports")),
        _AGE,
        _Col("Selector", priority=1, doc=(_CORE + "ServiceSpec", "selector")),
    ), _print_service),
    ("", "Node"): _TablePrinter((
        _NAME,
        _Col("Status", description="The status of the node"),
        _Col("Roles", description="The roles of the node"),
        _AGE,
        _Col("Version", doc=(_CORE + "NodeSystemInfo", "kubeletVersion")),
        _Col("Internal-IP", priority=1, doc=(_CORE + "NodeStatus", "addresses")),
        _Col("External-IP", priority=1, doc=(_CORE + "NodeStatus", "addresses")),
        _Col("OS-Image", priority=1, doc=(_CORE + "NodeSystemInfo", "osImage")),
        _Col("Kernel-Version", priority=1, doc=(_CORE + "NodeSystemInfo", "kernelVersion")),
        _Col("Container-Runtime", priority=1, doc=(_CORE + "NodeSystemInfo", "containerRuntimeVersion")),
    ), _print_node),
    ("", "ReplicationController"): _TablePrinter((
        _NAME,
        _Col("Desired", type="integer", doc=(_CORE + "ReplicationControllerSpec", "replicas")),
        _Col("Current", type="integer", doc=(_CORE + "ReplicationControllerStatus", "replicas")),
        _Col("Ready", type="integer", doc=(_CORE + "ReplicationControllerStatus", "readyReplicas")),
        _AGE,
        _CONTAINERS,
        _IMAGES,
        _Col("Selector", priority=1, doc=(_CORE + "ReplicationControllerSpec", "selector")),
    ), _print_rc),
    ("", "Namespace"): _TablePrinter((
        _NAME, _Col("Status", description="The status of the namespace"), _AGE,
    ), _print_namespace),
    ("", "ConfigMap"): _TablePrinter((
        _NAME, _Col("Data", doc=(_CORE + "ConfigMap", "data")), _AGE,
    ), _print_configmap),
    ("", "Secret"): _TablePrinter((
        _NAME, _Col("Type", doc=(_CORE + "Secret", "type")), _Col("Data", doc=(_CORE + "Secret", "data")),
        _AGE,
    ), _print_secret),
    ("", "ServiceAccount"): _TablePrinter((
        _NAME, _Col("Secrets", doc=(_CORE + "ServiceAccount", "secrets")), _AGE,
    ), _print_service_account),
    ("", "Endpoints"): _TablePrinter((
        _NAME, _Col("Endpoints", doc=(_CORE + "Endpoints", "subsets")), _AGE,
    ), _print_endpoints),
    ("", "Event"): _TablePrinter((
        _Col("Last Seen", doc=(_CORE + "Event", "lastTimestamp")),
        _Col("Type", doc=(_CORE + "Event", "type")),
        _Col("Reason", doc=(_CORE + "Event", "reason")),
        _Col("Object", doc=(_CORE + "Event", "involvedObject")),
        _Col("Subobject", priority=1, doc=(_CORE + "ObjectReference", "fieldPath")),
        _Col("Source", priority=1, doc=(_CORE + "Event", "source")),
        _Col("Message", doc=(_CORE + "Event", "message")),
        _Col("First Seen", priority=1, doc=(_CORE + "Event", "firstTimestamp")),
        _Col("Count", priority=1, doc=(_CORE + "Event", "count")),
        _Col("Name", format="name", priority=1, doc=(_META, "name")),
    ), _print_event),
    ("coordination.k8s.io", "Lease"): _TablePrinter((
        _NAME, _Col("Holder", doc=("io.k8s.api.coordination.v1.LeaseSpec", "holderIdentity")), _AGE,
    ), _print_lease),
    ("discovery.k8s.io", "EndpointSlice"): _TablePrinter((
        _NAME,
        _Col("AddressType", doc=("io.k8s.api.discovery.v1.EndpointSlice", "addressType")),
        _Col("Ports", doc=("io.k8s.api.discovery.v1.EndpointSlice", "ports")),
        _Col("Endpoints", doc=("io.k8s.api.discovery.v1.EndpointSlice", "endpoints")),
        _AGE,
    ), _print_endpoint_slice),
}

_DEFAULT_PRINTER = _TablePrinter((_NAME, _AGE), _print_default)


def _printer(resource: ResourceInfo) -> _TablePrinter:
    return _PRINTERS.get((resource.group, resource.kind), _DEFAULT_PRINTER)


def column_definitions(resource: ResourceInfo) -> list[dict]:
    """The Table ``columnDefinitions`` for a resource (wide columns have priority 1)."""
    return [_column_dict(c) for c in _printer(resource).columns]


# --------------------------------------------------------------------------- tables


def _row_object(obj: dict, include_object: str) -> dict | None:
    if include_object == "None":
        return None
    if include_object == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": dict(_meta(obj))}


def _rows(resource: ResourceInfo, objects: Iterable[dict], include_object: str,
          now: datetime) -> list[dict]:
    printer = _printer(resource)
    rows = []
    for obj in objects:
        cells, conditions = printer.row(obj, now)
        row: dict = {"cells": cells}
        if conditions:
            row["conditions"] = conditions
        embedded = _row_object(obj, include_object)
        if embedded is not None:
            row["object"] = embedded
        rows.append(row)
    return rows


def to_table(
    resource: ResourceInfo,
    objects: list[dict],
    *,
    include_object: str = "Metadata",
    list_meta: Mapping | None = None,
    now: datetime | None = None,
    api_version: str = TABLE_API_VERSION,
    include_headers: bool = True,
) -> dict:
    """Render ``objects`` (full API objects of ``resource``) as a Table.

    ``include_object`` is the request's ``includeObject`` (``Metadata`` when
    empty): each row carries a PartialObjectMetadata, the full object, or
    nothing. ``list_meta`` (resourceVersion, continue, remainingItemCount) is
    copied to the Table's metadata. ``now`` fixes the clock for AGE columns
    (defaults to the current UTC time). ``include_headers=False`` leaves out the
    column definitions (Kubernetes' ``TableOptions.NoHeaders``). Raises
    ValueError for an unknown ``include_object``.
    """
    include_object = include_object or "Metadata"
    if include_object not in INCLUDE_OBJECT_VALUES:
        raise ValueError(
            f"unsupported includeObject {include_object!r}; supported values: "
            + ", ".join(INCLUDE_OBJECT_VALUES)
        )
    now = now or datetime.now(UTC)
    return {
        "kind": "Table",
        "apiVersion": api_version,
        "metadata": dict(list_meta or {}),
        "columnDefinitions": column_definitions(resource) if include_headers else [],
        "rows": _rows(resource, objects, include_object, now),
    }


def to_table_row_event(
    resource: ResourceInfo,
    obj: dict,
    *,
    include_object: str = "Metadata",
    now: datetime | None = None,
    api_version: str = TABLE_API_VERSION,
    include_headers: bool = True,
) -> dict:
    """A one-row Table for one watch event's object (``kubectl get -w``).

    The watch layer wraps it as ``{"type": ..., "object": <this>}``. The
    Table's ``metadata.resourceVersion`` is the object's, so a client can
    resume the watch from it.
    """
    rv = _meta(obj).get("resourceVersion")
    return to_table(
        resource, [obj], include_object=include_object,
        list_meta={"resourceVersion": rv} if rv else {}, now=now,
        api_version=api_version, include_headers=include_headers,
    )
