"""Liveness, readiness and startup probes (Kubernetes' prober and its
per-container probe workers).

:func:`run_probe` executes one probe (httpGet, tcpSocket, exec). A
:class:`ProbeWorker` runs one probe of one container attempt on its period,
applies initialDelaySeconds / successThreshold / failureThreshold, and keeps
the current result in the :class:`ProbeManager`, which wakes the pod worker
when a result flips. Startup probes gate the other two, as in Kubernetes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp

__all__ = ["ProbeResult", "run_probe", "ProbeManager", "resolve_port"]

log = logging.getLogger(__name__)

ExecFn = Callable[[list[str], float], Awaitable[tuple[int, bytes, bool]]]


@dataclass(frozen=True, slots=True)
class ProbeResult:
    success: bool
    output: str = ""


def resolve_port(port, container: dict) -> int:
    if isinstance(port, int):
        return port
    if isinstance(port, str) and port.isdigit():
        return int(port)
    for p in container.get("ports") or ():
        if p.get("name") == port:
            return int(p["containerPort"])
    raise ValueError(f"couldn't find port {port!r} in container {container.get('name')}")


_INSECURE = ssl.create_default_context()
_INSECURE.check_hostname = False
_INSECURE.verify_mode = ssl.CERT_NONE


async def run_probe(probe: dict, *, container: dict, pod_ip: str, exec_fn: ExecFn,
                    session: aiohttp.ClientSession) -> ProbeResult:
    timeout = float(probe.get("timeoutSeconds") or 1)
    try:
        if "exec" in probe:
            code, out, timed_out = await exec_fn(list(probe["exec"].get("command") or ()), timeout)
            if timed_out:
                return ProbeResult(False, f"command timed out after {timeout:g}s")
            text = out.decode(errors="replace").strip()
            return ProbeResult(code == 0, text if code == 0 else f"{text}\nexit status {code}".strip())
        if "httpGet" in probe:
            spec = probe["httpGet"]
            scheme = (spec.get("scheme") or "HTTP").lower()
            host = spec.get("host") or pod_ip
            port = resolve_port(spec.get("port"), container)
            path = spec.get("path") or "/"
            if not path.startswith("/"):
                path = "/" + path
            headers = {h["name"]: h.get("value", "") for h in spec.get("httpHeaders") or ()}
            headers.setdefault("User-Agent", "kube-probe/1.32")
            url = f"{scheme}://{host}:{port}{path}"
            async with session.get(url, headers=headers, allow_redirects=True,
                                   ssl=_INSECURE if scheme == "https" else None,
                                   timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
                await resp.read()
                if 200 <= resp.status < 400:
                    return ProbeResult(True, f"HTTP probe succeeded with statuscode: {resp.status}")
                return ProbeResult(False, f"HTTP probe failed with statuscode: {resp.status}")
        if "tcpSocket" in probe:
            spec = probe["tcpSocket"]
            host = spec.get("host") or pod_ip
            port = resolve_port(spec.get("port"), container)
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            return ProbeResult(True)
        return ProbeResult(False, "unsupported probe handler")
    except TimeoutError:
        return ProbeResult(False, f"probe timed out after {timeout:g}s")
    except (OSError, aiohttp.ClientError, ValueError) as e:
        return ProbeResult(False, str(e) or type(e).__name__)


class ProbeManager:
    """Owns the probe workers of every container; results by (container id, kind).

    ``on_change(pod_uid)`` is called when a result flips; ``on_failure(pod,
    container_name, kind, output)`` for each failed probe (the Unhealthy event).
    """

    def __init__(self, *, on_change: Callable[[str], None],
                 on_failure: Callable[[dict, str, str, str], None]):
        self.on_change = on_change
        self.on_failure = on_failure
        self._results: dict[tuple[str, str], bool] = {}
        self._workers: dict[tuple[str, str], asyncio.Task] = {}
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))
        return self._session

    def result(self, container_id: str, kind: str) -> bool | None:
        return self._results.get((container_id, kind))

    def ensure(self, *, pod: dict, container: dict, container_id: str, started_at: float, pod_ip: str,
               exec_fn: ExecFn) -> None:
        """Start the probe workers of a running container attempt (idempotent)."""
        for kind in ("startup", "readiness", "liveness"):
            probe = container.get(f"{kind}Probe")
            if not probe or (container_id, kind) in self._workers:
                continue
            # Before any probe ran: not ready, live, not started.
            self._results[(container_id, kind)] = kind == "liveness"
            self._workers[(container_id, kind)] = asyncio.get_running_loop().create_task(
                self._run(pod, container, container_id, kind, probe, started_at, pod_ip, exec_fn),
                name=f"probe-{kind}-{container_id[:8]}")

    async def _run(self, pod, container, cid, kind, probe, started_at, pod_ip, exec_fn) -> None:
        uid = pod["metadata"]["uid"]
        period = float(probe.get("periodSeconds") or 10)
        success_threshold = int(probe.get("successThreshold") or 1)
        failure_threshold = int(probe.get("failureThreshold") or 3)
        delay = started_at + float(probe.get("initialDelaySeconds") or 0) - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        successes = failures = 0
        while True:
            if kind != "startup" and "startupProbe" in container and not self._results.get((cid, "startup")):
                await asyncio.sleep(min(period, 1.0))
                continue
            result = await run_probe(probe, container=container, pod_ip=pod_ip, exec_fn=exec_fn,
                                     session=self._http())
            if result.success:
                successes, failures = successes + 1, 0
            else:
                failures, successes = failures + 1, 0
                self.on_failure(pod, container["name"], kind, result.output)
            current = self._results.get((cid, kind))
            new = current
            if result.success and successes >= (1 if kind != "readiness" else success_threshold):
                new = True
            elif not result.success and failures >= failure_threshold:
                new = False
            if new != current:
                self._results[(cid, kind)] = new
                self.on_change(uid)
            if kind == "startup" and new:
                return  # a startup probe stops once it succeeded
            if kind == "liveness" and new is False:
                return  # the container is restarted; a new attempt gets a new worker
            await asyncio.sleep(period)

    def stop_container(self, container_id: str) -> None:
        for key in [k for k in self._workers if k[0] == container_id]:
            self._workers.pop(key).cancel()
        for key in [k for k in self._results if k[0] == container_id]:
            del self._results[key]

    async def close(self) -> None:
        for task in self._workers.values():
            task.cancel()
        self._workers.clear()
        if self._session is not None:
            await self._session.close()
