"""`pyb up` / `pyb down`: a whole local cluster in one process, one event loop.

:class:`LocalCluster` composes the components that exist — apiserver (HTTPS,
bearer tokens), controller manager, scheduler, N kubelets, and the service
proxy once it is built — each with its own credentials, all on the running
loop. Start order: certificates and tokens, apiserver (then the kubeconfigs,
which need its port), controller manager and scheduler, kubelets, proxy.
Stop order is the reverse; the kubelets' containers are stopped last so that
Ctrl-C leaves no process behind. State lives in the data dir (see
cluster_dir.py), so ``pyb up`` again resumes: objects from SQLite, pods
restarted by their kubelet, credentials and kubeconfigs unchanged.

One ``pyb up`` per data dir: it holds an exclusive lock on ``DIR/pyb.lock``
and writes ``DIR/pyb.pid`` once everything has started (removed on exit);
``pyb down`` signals that pid and waits for it to go.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..pki import server_ssl_context
from .cluster_dir import ClusterDir
from .output import Style
from .progress import Progress
from .storage_flags import add_storage_args, etcd_options

__all__ = ["UpOptions", "LocalCluster", "ClusterRunning", "add_up_args", "add_down_args", "cmd_up", "cmd_down",
           "choose_runtime"]

log = logging.getLogger("pyb.up")


class ClusterRunning(RuntimeError):
    """Another `pyb up` holds this data dir."""


@dataclass(frozen=True, slots=True)
class UpOptions:
    data_dir: str
    address: str = "127.0.0.1"
    port: int = 6443
    node_name: str = field(default_factory=lambda: socket.gethostname().lower())
    runtime: str = "auto"  # auto | process | docker
    nodes: int = 1
    storage: str = "sqlite"
    service_cluster_ip_range: str = "10.0.0.0/24"
    etcd: Any = None  # apiserver.server.EtcdOptions with storage "etcd"

    @property
    def node_names(self) -> tuple[str, ...]:
        if self.nodes <= 1:
            return (self.node_name,)
        return tuple(f"{self.node_name}-{i}" for i in range(1, self.nodes + 1))


def choose_runtime(requested: str) -> tuple[str, str]:
    """(runtime, why): the Docker-API runtime when an engine answers (for
    ``auto``), else the process runtime. Blocking (pings the engine)."""
    if requested == "process":
        return "process", "asked for"
    try:
        from ..kubelet.runtime.docker import find_endpoint

        endpoint = find_endpoint(timeout=1.0)
    except ImportError as e:  # the runtime, or the docker SDK it needs, is not installed
        if requested == "docker":
            raise SystemExit(f"pyb up: the docker runtime is unavailable: {e}") from e
        return "process", f"docker runtime unavailable ({e})"
    if endpoint is None:
        if requested == "docker":
            raise SystemExit("pyb up: --runtime docker, but no Docker-compatible engine answers "
                             "($DOCKER_HOST, /var/run/docker.sock, /run/podman/podman.sock)")
        return "process", "no Docker-compatible engine answered"
    return "docker", f"engine at {endpoint}"


# -- the cluster ------------------------------------------------------------------
@dataclass(slots=True)
class _Component:
    name: str
    status: str  # "running", or why not
    stop: Any = None  # async () -> None
    task: asyncio.Task | None = None
    client: Any = None


class LocalCluster:
    """All components on the running loop: ``await start()``, ``await stop()``."""

    def __init__(self, opts: UpOptions, *, progress: Progress | None = None):
        self.opts = opts
        self.dir = ClusterDir.at(opts.data_dir)
        self.progress = progress
        self.apiserver = None
        self.url = ""
        self.runtime = "process"
        self.runtime_why = ""
        self.components: list[_Component] = []
        self.kubelets: list[Any] = []
        self.failed = asyncio.Event()
        self.apiserver_ready_at = 0.0
        self.demo_image: str | None = None  # docker runtime: the local busybox image, for "Try this"

    def _step(self, message: str) -> None:
        if self.progress is not None:
            self.progress.update(message)

    # -- start ---------------------------------------------------------------
    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        from ..apiserver.app import APIServerConfig
        from ..apiserver.registry import RegistryConfig
        from ..apiserver.server import APIServer, ServeOptions

        opts, d = self.opts, self.dir
        self._step("certificates and tokens")
        extra = (opts.address,) if opts.address not in ("127.0.0.1", "0.0.0.0", "::") else ()
        await asyncio.to_thread(d.prepare, extra_hosts=extra, nodes=opts.node_names)
        self._step("apiserver")
        ssl_ctx = await asyncio.to_thread(server_ssl_context, self._apiserver_pair())
        config = APIServerConfig(registry=RegistryConfig(service_cluster_ip_range=opts.service_cluster_ip_range),
                                 authenticator=d.authenticator())
        self.apiserver = APIServer(ServeOptions(
            data_dir=str(d.root), address=opts.address, port=opts.port, storage=opts.storage, config=config,
            ssl_context=ssl_ctx, kubelet_token=d.kubelet_client_token(), kubelet_ca_file=str(d.ca.cert),
            etcd=opts.etcd))
        await self.apiserver.start()
        self.apiserver_ready_at = time.monotonic()
        self.url = self.apiserver.url
        self.components.append(_Component("apiserver", "running", stop=self.apiserver.stop))
        await asyncio.to_thread(d.write_kubeconfigs, server=self.url, nodes=opts.node_names)
        self._step("controller manager and scheduler")
        self._start_controller_manager()
        self._start_scheduler()
        self._step("kubelets")
        self.runtime, self.runtime_why = await asyncio.to_thread(choose_runtime, opts.runtime)
        if self.runtime == "docker":
            self.demo_image = await asyncio.to_thread(local_demo_image)
        await asyncio.gather(*(self._start_kubelet(n) for n in opts.node_names))
        self._step("proxy")
        await self._start_proxy()

    def _apiserver_pair(self):
        from ..pki import CertPair

        return CertPair(self.dir.pki_dir / "apiserver.crt", self.dir.pki_dir / "apiserver.key")

    def _client(self, kubeconfig_name: str):
        from ..client import Client

        return Client.from_kubeconfig(self.dir.component_kubeconfig(kubeconfig_name))

    def _run_task(self, comp: _Component, coro) -> None:
        comp.task = asyncio.get_running_loop().create_task(coro, name=f"pyb-{comp.name}")

        def finished(task: asyncio.Task) -> None:
            if task.cancelled():
                return
            exc = task.exception()
            comp.status = f"stopped: {exc!r}" if exc else "stopped"
            log.error("%s stopped unexpectedly: %r", comp.name, exc)
            self.failed.set()
        comp.task.add_done_callback(finished)
        self.components.append(comp)

    def _start_controller_manager(self) -> None:
        try:
            from ..controllers.manager import ControllerManager, ControllerManagerConfig
        except ImportError as e:
            self.components.append(_Component("controller-manager", f"missing ({e})"))
            return
        client = self._client("controller-manager")
        # One process, one manager: no leader election to wait for after a restart.
        manager = ControllerManager(client, ControllerManagerConfig(leader_elect=False))
        self._run_task(_Component("controller-manager", "running", client=client), manager.run())

    def _start_scheduler(self) -> None:
        try:
            from ..scheduler.scheduler import Scheduler, SchedulerConfig
        except ImportError as e:
            self.components.append(_Component("scheduler", f"missing ({e})"))
            return
        client = self._client("scheduler")
        scheduler = Scheduler(client, SchedulerConfig(leader_elect=False))
        self._run_task(_Component("scheduler", "running", client=client), scheduler.run())

    async def _start_kubelet(self, node: str) -> None:
        try:
            from ..kubelet.config import KubeletConfig
            from ..kubelet.kubelet import Kubelet
        except ImportError as e:
            self.components.append(_Component(f"kubelet {node}", f"missing ({e})"))
            return
        address = self.opts.address if self.opts.address not in ("", "::") else "0.0.0.0"
        fields = {f.name for f in dataclasses.fields(KubeletConfig)}
        kw: dict[str, Any] = dict(node_name=node, root_dir=str(self.dir.kubelet_root(node)),
                                  runtime=self.runtime, address=address, port=0,
                                  token=self.dir.kubelet_client_token())
        kw = {k: v for k, v in kw.items() if k in fields}
        client = self._client(f"kubelet-{node}")
        try:
            kubelet = Kubelet(client, KubeletConfig(**kw))
        except ValueError as e:
            if self.runtime == "process":
                await client.close()
                raise
            # This kubelet build cannot drive the engine yet: say so, use processes.
            self.runtime, self.runtime_why = "process", f"{self.runtime} runtime refused: {e}"
            kubelet = Kubelet(client, KubeletConfig(**{**kw, "runtime": "process"}))
        comp = _Component(f"kubelet {node}", "starting", client=client)
        self.components.append(comp)
        await kubelet.start()
        comp.status = "running"
        comp.stop = kubelet.stop
        self.kubelets.append(kubelet)

    async def _start_proxy(self) -> None:
        # The service proxy's contract for `pyb up`: pybernetes.proxy exposes
        # ServiceProxy(client, ProxyConfig(...)) with async start()/stop().
        try:
            from ..proxy import ServiceProxy  # type: ignore[attr-defined]
            from ..proxy.config import ProxyConfig
        except ImportError:
            self.components.append(_Component("proxy", "not built yet (services have endpoints, no proxy)"))
            return
        client = self._client("proxy")
        exposed = self.opts.address in ("", "0.0.0.0", "::")
        proxy = ServiceProxy(client, ProxyConfig(
            service_cluster_ip_range=self.opts.service_cluster_ip_range,
            nodeport_addresses=("0.0.0.0",) if exposed else ("127.0.0.1",)))
        await proxy.start()
        self.components.append(_Component("proxy", "running", stop=proxy.stop, client=client))

    # -- stop ----------------------------------------------------------------
    async def stop(self) -> None:
        """Stop everything, newest first; then the kubelets' containers.
        Safe to call after a failed or partial start, and twice."""
        comps, self.components = self.components, []
        for comp in reversed(comps):
            if comp.name == "apiserver":
                continue  # last: the others may still write on their way out
            self._step(f"stopping {comp.name}")
            try:
                if comp.task is not None:
                    comp.task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await comp.task
                if comp.stop is not None:
                    await comp.stop()
            except Exception as e:  # noqa: BLE001 - stop the rest whatever happens
                log.warning("stopping %s: %r", comp.name, e)
            if comp.client is not None:
                with contextlib.suppress(Exception):
                    await comp.client.close()
        self._step("stopping containers")
        for node in self.opts.node_names:
            with contextlib.suppress(Exception):
                await stop_containers(str(self.dir.kubelet_root(node)), self.runtime)
        self.kubelets.clear()
        if self.apiserver is not None:
            self._step("stopping apiserver")
            await self.apiserver.stop()
            self.apiserver = None

    def summary(self) -> list[tuple[str, str]]:
        out = []
        for c in self.components:
            status = c.status
            if c.name.startswith("kubelet") and status == "running":
                status = f"running ({self.runtime} runtime: {self.runtime_why})"
            out.append((c.name, status))
        return out


def local_demo_image() -> str | None:
    """For the docker runtime: the local busybox image under its version tag
    (pull policy IfNotPresent: no registry needed), built from busybox-static
    if missing; None when that cannot be done. Blocking."""
    try:
        import docker

        from ..kubelet.runtime.docker import API_VERSION, default_endpoint
        from ..kubelet.runtime.docker_images import busybox_versioned_image, ensure_local_images

        ref = busybox_versioned_image()
        if ref is None:
            return None
        client = docker.DockerClient(base_url=default_endpoint(), version=API_VERSION, timeout=60)
        try:
            ensure_local_images(client)
        finally:
            client.close()
        return ref
    except Exception as e:  # noqa: BLE001 - only the banner's suggestion depends on it
        log.warning("building the local busybox image: %s", e)
        return None


async def stop_containers(root: str, runtime: str, *, grace: float = 5.0) -> int:
    """Stop every running container a kubelet left under ``root`` (the kubelet
    itself leaves them running for its successor). Returns how many. With the
    docker runtime the pods' containers (infra ones too) are also removed from
    the engine: nothing of the cluster stays in ``docker ps -a``."""
    if runtime == "process":
        from ..kubelet.runtime import ProcessRuntime

        rt = ProcessRuntime(root)
    else:
        from ..kubelet.runtime.docker import DockerRuntime

        rt = DockerRuntime(root, node_ip="127.0.0.1")  # no address lookup: nothing is started
        try:
            return await rt.teardown(grace_period=grace)
        finally:
            await rt.close()
    try:
        running = [c for c in await rt.recover() if c.state == "running"]
        await asyncio.gather(*(rt.stop_container(c.id, grace_period=grace) for c in running),
                             return_exceptions=True)
        return len(running)
    finally:
        await rt.close()


# -- the command ---------------------------------------------------------------------
def add_up_args(p) -> None:
    env = os.environ.get
    p.add_argument("--data-dir", default=os.path.expanduser(env("PYB_DATA_DIR") or "~/.pybernetes"),
                   help="where state, certificates and the kubeconfig live ($PYB_DATA_DIR, else ~/.pybernetes)")
    p.add_argument("--address", default=env("PYB_ADDRESS") or "127.0.0.1",
                   help="address to listen on ($PYB_ADDRESS, else 127.0.0.1)")
    p.add_argument("--port", type=int, default=int(env("PYB_PORT") or 6443),
                   help="apiserver port ($PYB_PORT, else 6443); 0 picks a free one")
    p.add_argument("--node-name", default=socket.gethostname().lower())
    p.add_argument("--runtime", default=env("PYB_RUNTIME") or "auto", choices=["auto", "process", "docker"],
                   help="container runtime ($PYB_RUNTIME, else auto: docker when an engine answers, else process)")
    p.add_argument("--nodes", type=int, default=1, help="kubelets to run on this machine, one node each")
    add_storage_args(p)
    p.add_argument("--service-cluster-ip-range", default="10.0.0.0/24")
    p.add_argument("--detach", "-d", action="store_true", help="run in the background; `pyb down` stops it")


def add_down_args(p) -> None:
    p.add_argument("--data-dir", default=os.path.expanduser(os.environ.get("PYB_DATA_DIR") or "~/.pybernetes"))
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait before giving up")


def _options(args) -> UpOptions:
    if args.nodes < 1:
        raise SystemExit("pyb up: --nodes must be at least 1")
    return UpOptions(data_dir=args.data_dir, address=args.address, port=args.port, node_name=args.node_name,
                     runtime=args.runtime, nodes=args.nodes, storage=args.storage,
                     service_cluster_ip_range=args.service_cluster_ip_range,
                     etcd=etcd_options(args, command="pyb up"))


def _lock(d: ClusterDir):
    """The data dir's lock, held for the life of this `pyb up` (or ClusterRunning)."""
    d.root.mkdir(parents=True, exist_ok=True)
    f = open(d.root / "pyb.lock", "a+")  # noqa: SIM115 - held until exit
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        pid = _read_pid(d)
        raise ClusterRunning(f"a cluster is already running from {d.root}"
                             + (f" (pid {pid})" if pid else "")
                             + f"; stop it with: pyb down --data-dir {d.root}") from None
    return f


def _read_pid(d: ClusterDir) -> int | None:
    try:
        return int(d.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _warn_exposed(opts: UpOptions, style: Style) -> None:
    if opts.address in ("0.0.0.0", "::", ""):
        bar = "!" * 72
        print(style.red(f"{bar}\n"
                        f"WARNING: --address {opts.address} serves the API (and the kubelets, which run\n"
                        "processes as this user) on EVERY network interface of this machine. Anyone\n"
                        "who can reach it and obtains a token controls this host. Use 127.0.0.1\n"
                        f"unless you mean to build a multi-machine cluster.\n{bar}"),
              file=sys.stderr, flush=True)


def banner(cluster: LocalCluster, *, elapsed: float, ready_in: float, style: Style) -> str:
    kc = cluster.dir.kubeconfig
    default_kc = Path(os.path.expanduser("~/.pybernetes/kubeconfig"))
    kc_flag = "" if kc == default_kc else f" --kubeconfig {kc}"  # verbs take it after their name
    lines = [style.bold(style.green("pybernetes is up")) + f" (apiserver ready in {ready_in:.1f}s, "
             f"everything in {elapsed:.1f}s)",
             f"  API         {cluster.url}",
             f"  kubeconfig  {kc}"]
    summary = cluster.summary()
    width = max(len("kubeconfig"), *(len(n) for n, _ in summary))
    lines[1:] = [f"  {'API':<{width}}  {cluster.url}", f"  {'kubeconfig':<{width}}  {kc}"]
    for name, status in summary:
        lines.append(f"  {name:<{width}}  {status if status == 'running' else style.dim(status)}")
    if cluster.runtime == "docker" and cluster.demo_image:
        demo = f"{cluster.demo_image} 1 web -p 8181:80 -- httpd -f -p 80 -h /www"
    elif cluster.runtime == "docker":  # no local busybox built: the registry's, which has no /www
        demo = "busybox 1 web -p 8181:80 -- sh -c 'echo hello > /tmp/index.html; exec httpd -f -p 80 -h /tmp'"
    else:
        demo = "python 1 web -p 8181:80 -- python3 -m http.server 80"
    lines += ["",
              "Try this:",
              f"  pyb run{kc_flag} {demo}; sleep 3; curl 127.0.0.1:8181",
              f"  KUBECONFIG={kc} kubectl get pods -o wide",
              ""]
    return "\n".join(lines)


def cmd_up(args) -> int:
    t0 = getattr(args, "started_at", None) or time.monotonic()
    opts = _options(args)
    d = ClusterDir.at(opts.data_dir)
    style = Style(stream=sys.stdout)
    _warn_exposed(opts, style)
    if args.detach:
        return _detach(args, d, opts)
    try:
        lock = _lock(d)
    except ClusterRunning as e:
        print(f"pyb up: {e}", file=sys.stderr)
        return 1
    try:
        return asyncio.run(_run_foreground(opts, d, t0=t0, style=style))
    finally:
        with contextlib.suppress(OSError):
            if _read_pid(d) == os.getpid():
                d.pid_file.unlink()
        lock.close()


async def _run_foreground(opts: UpOptions, d: ClusterDir, *, t0: float, style: Style) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = 0

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        if signals > 1:
            print("\npyb up: second interrupt, exiting now", file=sys.stderr, flush=True)
            os._exit(130)
        stop.set()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # HUP: the terminal went away
        loop.add_signal_handler(sig, on_signal)

    progress = Progress("starting pybernetes", stream=sys.stderr)
    cluster = LocalCluster(opts, progress=progress)
    with progress:
        start = loop.create_task(cluster.start())
        waiter = loop.create_task(stop.wait())
        await asyncio.wait({start, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if not start.done():  # interrupted while starting
            start.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await start
            await cluster.stop()
            progress.fail("interrupted")
            return 130
        waiter.cancel()
        try:
            start.result()
        except Exception as e:
            progress.fail(str(e) or type(e).__name__)
            print(f"pyb up: {_explain_start_error(e, opts)}", file=sys.stderr)
            return 1
        ready_in = cluster.apiserver_ready_at - t0
        progress.done()
    d.pid_file.write_text(f"{os.getpid()}\n")
    print(banner(cluster, elapsed=time.monotonic() - t0, ready_in=ready_in, style=style), flush=True)
    print(style.dim("Ctrl-C stops the cluster; `pyb up` again resumes it."), flush=True)
    failed = loop.create_task(cluster.failed.wait())
    waiter = loop.create_task(stop.wait())
    await asyncio.wait({failed, waiter}, return_when=asyncio.FIRST_COMPLETED)
    failed.cancel()
    waiter.cancel()
    with Progress("stopping pybernetes", stream=sys.stderr) as p:
        cluster.progress = p
        await cluster.stop()
        p.done("stopped")
    return 1 if cluster.failed.is_set() and not stop.is_set() else 0


def _explain_start_error(e: BaseException, opts: UpOptions) -> str:
    from ..apiserver.server import StorageUnreachable

    if isinstance(e, StorageUnreachable):
        return str(e)
    if isinstance(e, OSError) and e.errno in (98, 13):  # EADDRINUSE, EACCES
        return (f"cannot listen on {opts.address}:{opts.port}: {e.strerror}. "
                "Pick another port with --port (0 picks a free one).")
    return f"{type(e).__name__}: {e}"


def _detach(args, d: ClusterDir, opts: UpOptions) -> int:
    """Start `pyb up` in a new session, logging to DIR/pyb.log; return once it is up."""
    d.root.mkdir(parents=True, exist_ok=True)
    pid = _running_pid(d)
    if pid is not None:
        print(f"pyb up: a cluster is already running from {d.root}" + (f" (pid {pid})" if pid > 0 else "") + "; "
              f"stop it with: pyb down --data-dir {d.root}", file=sys.stderr)
        return 1
    argv = [sys.executable, "-m", "pybernetes.cli.main", "up", "--data-dir", str(d.root),
            "--address", opts.address, "--port", str(opts.port), "--node-name", opts.node_name,
            "--runtime", opts.runtime, "--nodes", str(opts.nodes), "--storage", opts.storage,
            "--service-cluster-ip-range", opts.service_cluster_ip_range, *_etcd_argv(opts.etcd)]
    with open(d.log_file, "ab") as logf:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    with Progress("starting pybernetes in the background", stream=sys.stderr) as p:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                p.fail(f"exited with code {proc.returncode}")
                print(_tail(d.log_file), file=sys.stderr)
                return 1
            if _read_pid(d) == proc.pid:
                p.done(f"pid {proc.pid}")
                break
            p.update(f"waiting for pid {proc.pid}")
            time.sleep(0.1)
        else:
            p.fail("timed out")
            return 1
    print(f"pybernetes is running in the background (pid {proc.pid}, log {d.log_file})")
    print(f"  kubeconfig  {d.kubeconfig}")
    print(f"  stop it     pyb down --data-dir {d.root}")
    return 0


def _etcd_argv(etcd) -> list[str]:
    """The etcd flags again, for the detached `pyb up`."""
    if etcd is None:
        return []
    argv = ["--etcd-servers", ",".join(etcd.servers), "--etcd-prefix", etcd.prefix]
    if not etcd.watch_cache_size:
        argv.append("--no-watch-cache")
    for flag, value in (("--etcd-cafile", etcd.ca_file), ("--etcd-certfile", etcd.cert_file),
                        ("--etcd-keyfile", etcd.key_file)):
        if value:
            argv += [flag, value]
    return argv


def _tail(path: Path, n: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def _is_pyb(pid: int) -> bool:
    """Is ``pid`` alive and a pybernetes process (not a recycled pid)?"""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return any(arg == b"pyb" or arg.endswith(b"/pyb") or b"pybernetes" in arg for arg in cmdline.split(b"\0"))


def _running_pid(d: ClusterDir) -> int | None:
    """The pid of the `pyb up` holding ``d`` (-1 if one does but its pid is
    unknown), None when nothing runs there."""
    try:
        f = open(d.root / "pyb.lock", "a+")  # noqa: SIM115
    except OSError:
        return None
    with f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(d)
            return pid if pid and _is_pyb(pid) else -1
        fcntl.flock(f, fcntl.LOCK_UN)
    return None


def cmd_down(args) -> int:
    d = ClusterDir.at(args.data_dir)
    pid = _running_pid(d)
    if pid is None:
        print(f"pyb down: no cluster is running from {d.root}", file=sys.stderr)
        return 1
    if pid == -1:
        print(f"pyb down: a cluster holds {d.root} but is still starting or left no pid file; "
              "try again in a moment", file=sys.stderr)
        return 1
    os.kill(pid, signal.SIGTERM)
    with Progress(f"stopping pybernetes (pid {pid})", stream=sys.stderr) as p:
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            if not _is_pyb(pid):
                p.done("stopped")
                return 0
            p.update("waiting for the components to stop")
            time.sleep(0.1)
        p.fail(f"still running after {args.timeout:.0f}s")
    print(f"pyb down: pid {pid} did not stop; see {d.log_file} (kill -9 {pid} forces it)", file=sys.stderr)
    return 1
