"""The `docker` runtime: pods as containers of a Docker Engine API server
(Docker, or Podman's ``podman system service``), as Kubernetes' dockershim ran
them.

- One infra ("pause") container per pod owns the network (and IPC)
  namespace and publishes the pod's hostPorts; app and init containers join
  it with ``network_mode="container:<id>"``, so a pod has one IP
  (``sandbox_ip``, read from the infra container's ``NetworkSettings``) and
  its containers reach each other on localhost.
- Containers carry ``io.kubernetes.*`` labels (pod uid, namespace, name,
  container name, restart count) and dockershim's names; ``recover()`` lists
  them by label and adopts them, so a restarted kubelet starts nothing twice
  and leaves nothing behind.
- Logs are followed through the engine's log API into CRI log files (see
  docker_logs.py); the end of a container's log stream is also how its exit
  is noticed (then confirmed by ``inspect``) and announced via ``on_exit``.
- The docker SDK blocks: every engine call runs on a dedicated thread pool,
  never on the event loop. Status reads (``container_status``,
  ``list_containers``, ``sandbox_ip``) answer from an in-memory cache that
  ``start``/``stop``/exit handling and ``recover()`` keep current.

Fields the kubelet's :class:`ContainerConfig` does not carry (resources,
securityContext, imagePullPolicy, terminationMessagePath, ports) are read
from the pod itself through ``pod_source(uid)``, as dockershim's
DockerManager received the whole pod. Registry credentials for a pull come
from the pod's imagePullSecrets (or its service account's), read through
``get_object(kind, namespace, name)`` when a pull actually happens (see
docker_auth.py for the matching rules).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import math
import os
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from .docker_auth import (
    PullSecretError,
    RegistryAuth,
    aggregate_errors,
    keyring_from_secrets,
    pull_secret_names,
)
from .docker_config import (
    LABEL_CONTAINER_NAME,
    LABEL_POD_NAME,
    LABEL_POD_NAMESPACE,
    LABEL_POD_UID,
    LABEL_RESTART_COUNT,
    LABEL_ROOT,
    LABEL_TERMINATION_POLICY,
    LABEL_TYPE,
    TYPE_SANDBOX,
    create_kwargs,
    port_bindings,
    pull_policy,
    root_label,
    sandbox_labels,
    sandbox_name,
)
from .docker_images import PAUSE_IMAGE, ensure_local_images
from .docker_logs import EngineLogPump
from .interface import (
    ContainerConfig,
    ContainerStats,
    ContainerStatus,
    ExecResult,
    ExitCallback,
    SandboxConfig,
)
from .process import host_ip

__all__ = ["DockerRuntime", "ImagePullError", "default_endpoint", "find_endpoint", "stats_from_engine", "API_VERSION"]

log = logging.getLogger(__name__)

API_VERSION = "1.41"  # Podman 4's compat API; every current Docker Engine serves it
_DEFAULT_SOCKETS = ("/var/run/docker.sock", "/run/podman/podman.sock")
_PULL_BACKOFF_INITIAL = 10.0
_PULL_BACKOFF_CAP = 300.0
_PULL_RECHECK = 1.0  # seconds after a failed pull until the pod shows ImagePullBackOff
_TERMINATION_MESSAGE_MAX = 4096
_FALLBACK_LOG_LINES = 80
_FAST_EXIT_LOG_WAIT = 10.0  # seconds a container that exited before start returned waits for its logs


def default_endpoint() -> str:
    """``$DOCKER_HOST``, else the first Docker/Podman socket that exists."""
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    for path in _DEFAULT_SOCKETS:
        if os.path.exists(path):
            return f"unix://{path}"
    return f"unix://{_DEFAULT_SOCKETS[0]}"


def find_endpoint(timeout: float = 2.0) -> str | None:
    """An engine endpoint that answers ``/_ping`` (``$DOCKER_HOST`` or a
    default socket), or None — how ``pyb up`` may pick this runtime. Blocking."""
    import docker

    candidates = [os.environ["DOCKER_HOST"]] if os.environ.get("DOCKER_HOST") else \
        [f"unix://{p}" for p in _DEFAULT_SOCKETS if os.path.exists(p)]
    for endpoint in candidates:
        try:
            client = docker.DockerClient(base_url=endpoint, version=API_VERSION, timeout=timeout)
            try:
                if client.ping():
                    return endpoint
            finally:
                client.close()
        except Exception:  # noqa: BLE001, S112 - not answering is the answer
            continue
    return None


class ImagePullError(OSError):
    """The image could not be made present. ``reason`` is the container's
    waiting reason (ErrImagePull, ImagePullBackOff, ErrImageNeverPull),
    ``retry_after`` seconds until the pod should be synced again."""

    def __init__(self, reason: str, message: str, *, image: str, retry_after: float = 0.0):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.image = image
        self.retry_after = retry_after


def _parse_time(s: str | None) -> float | None:
    if not s or s.startswith("0001-01-01"):
        return None
    s = s.rstrip("Z")
    base, _, frac = s.partition(".")
    frac = "".join(ch for ch in frac if ch.isdigit())
    t = datetime.fromisoformat(base + "+00:00").timestamp()
    return t + (float("0." + frac) if frac else 0.0)


@dataclass(slots=True)
class _Container:
    id: str
    pod_uid: str
    pod_namespace: str
    pod_name: str
    name: str
    attempt: int
    image: str  # the image reference reported as imageID (repo digest, else image id)
    state: str = "created"
    pid: int | None = None
    created_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    exit_code: int | None = None
    reason: str = ""
    message: str = ""
    log_path: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    memory_limited: bool = False
    killed: bool = False
    tty: bool = False
    pump: EngineLogPump | None = None
    exited: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(slots=True)
class _Sandbox:
    id: str
    uid: str
    namespace: str
    name: str
    ip: str = ""
    running: bool = False
    host_network: bool = False


class _StartGate:
    """At most ``limit`` container creations in the engine at once, starts of
    app containers before new sandboxes. The engine (Podman here) serializes
    creations anyway; letting 50 pods' sandboxes all queue first would make
    every pod wait for all of them, while this way the pods that have a
    sandbox finish first (lower median, same total)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.busy = 0
        self._waiters: list[tuple[int, int, asyncio.Future]] = []
        self._seq = 0

    @contextlib.asynccontextmanager
    async def slot(self, *, priority: int):
        if self.busy >= self.limit or self._waiters:
            fut = asyncio.get_running_loop().create_future()
            self._seq += 1
            heapq.heappush(self._waiters, (priority, self._seq, fut))
            try:
                await fut  # the releaser counted us in
            except asyncio.CancelledError:
                if fut.done() and not fut.cancelled():
                    self._release()
                raise
        else:
            self.busy += 1
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        while self._waiters:
            _, _, fut = heapq.heappop(self._waiters)
            if not fut.done():
                fut.set_result(None)  # the slot passes on: busy stays
                return
        self.busy -= 1


class DockerRuntime:
    """Runtime (see interface.py) over the Docker Engine API."""

    name = "docker"
    publishes_host_ports = True  # the infra container publishes hostPorts: no kubelet-side relay
    needs_command = False  # an image's own entrypoint/cmd run when the pod gives none

    def __init__(self, root: str, *, on_exit: ExitCallback | None = None, endpoint: str | None = None,
                 node_ip: str | None = None, pod_infra_image: str = PAUSE_IMAGE,
                 pod_source: Callable[[str], Mapping | None] | None = None, log_max_size: int = 10 * 1024 * 1024,
                 log_max_files: int = 5, as_root: bool | None = None, max_workers: int = 64,
                 build_missing_images: bool = True, start_concurrency: int = 8,
                 get_object: Callable[[str, str, str], Awaitable[Mapping | None]] | None = None):
        import docker

        self.root = os.path.abspath(root)
        self.on_exit = on_exit
        self.endpoint = endpoint or default_endpoint()
        self.node_ip = node_ip or host_ip()
        self.pod_infra_image = pod_infra_image
        self.pod_source = pod_source
        self.get_object = get_object  # async (kind, namespace, name) -> object | None: pull secrets
        self.log_max_size = log_max_size
        self.log_max_files = log_max_files
        self.as_root = (os.geteuid() == 0) if as_root is None else as_root
        self.build_missing_images = build_missing_images
        # version pinned: no blocking /version call here; the pool holds one connection per worker
        # plus the log followers' (two long-lived requests per running container).
        self.client = docker.DockerClient(base_url=self.endpoint, version=API_VERSION, timeout=120,
                                          max_pool_size=max_workers * 4)
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="docker-runtime")
        self._gate = _StartGate(start_concurrency)
        self._containers: dict[str, _Container] = {}
        self._sandboxes: dict[str, _Sandbox] = {}
        self._image_refs: dict[str, str] = {}  # image id -> reported reference
        # Image reference -> id once seen present: IfNotPresent/Never need no inspect per container
        # (one engine round trip less each; a create that finds it gone drops the entry and retries).
        self._present: dict[str, str] = {}
        self._pull_backoff: dict[tuple[str, str], tuple[float, float]] = {}  # (uid, image) -> (until, delay)
        self._label = root_label(self.root)
        self._containers_root = os.path.join(self.root, "containers")
        self._logs_root = os.path.join(self.root, "logs")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._reconciler: asyncio.Task | None = None
        self.reconcile_interval = 10.0
        os.makedirs(self._containers_root, exist_ok=True)
        os.makedirs(self._logs_root, exist_ok=True)

    async def _run(self, fn, *args, **kwargs):
        """Run a blocking engine call on the runtime's thread pool."""
        self._loop = asyncio.get_running_loop()
        return await self._loop.run_in_executor(self._pool, lambda: fn(*args, **kwargs))

    async def version(self) -> str:
        v = await self._run(self.client.version)
        return str(v.get("Version", ""))

    # -- pod specs -----------------------------------------------------------
    def _pod(self, uid: str) -> Mapping | None:
        if self.pod_source is None:
            return None
        with contextlib.suppress(Exception):
            return self.pod_source(uid)
        return None

    @staticmethod
    def _spec(pod: Mapping | None, name: str) -> Mapping | None:
        spec = (pod or {}).get("spec") or {}
        for c in list(spec.get("initContainers") or ()) + list(spec.get("containers") or ()):
            if c.get("name") == name:
                return c
        return None

    # -- sandboxes -----------------------------------------------------------
    def _sandbox_dir(self, uid: str) -> str:
        return os.path.join(self._containers_root, uid)

    async def create_sandbox(self, config: SandboxConfig) -> str:
        sb = self._sandboxes.get(config.uid)
        if sb is not None and sb.running:
            return self._sandbox_dir(config.uid)
        pod = self._pod(config.uid)
        t0 = time.monotonic()
        async with self._gate.slot(priority=1):
            self._sandboxes[config.uid] = await self._run(self._create_sandbox, config, pod, sb)
        log.debug("sandbox of %s/%s ready in %.3fs", config.namespace, config.name, time.monotonic() - t0)
        if sb is not None:
            # The infra container had stopped: its network namespace is new, so containers still
            # running in the old one are stopped and restarted by the kubelet into the new one
            # (Kubernetes: "Pod sandbox changed, it will be killed and re-created").
            log.info("pod %s: sandbox restarted; stopping its containers", config.uid)
            stale = [c for c in self._containers.values() if c.pod_uid == config.uid and c.state == "running"]
            await asyncio.gather(*(self.stop_container(c.id, grace_period=2) for c in stale))
        return self._sandbox_dir(config.uid)

    def _create_sandbox(self, config: SandboxConfig, pod: Mapping | None, old: _Sandbox | None) -> _Sandbox:
        import docker.errors

        os.makedirs(self._sandbox_dir(config.uid), exist_ok=True)
        if old is not None:
            # The infra container stopped (the engine restarted, someone stopped it): start it again.
            with contextlib.suppress(docker.errors.NotFound):
                self.client.api.start(old.id)
                return self._inspect_sandbox(old.id)
        self._ensure_image(self.pod_infra_image, "IfNotPresent", pod_uid=config.uid, pod=pod)
        spec = (pod or {}).get("spec") or {}
        host_network = bool(spec.get("hostNetwork"))
        host: dict = {"ipc_mode": "shareable"}
        kwargs: dict = {"image": self.pod_infra_image,
                        "name": sandbox_name(uid=config.uid, namespace=config.namespace, name=config.name),
                        "labels": sandbox_labels(uid=config.uid, namespace=config.namespace, name=config.name,
                                                 root=self.root)}
        if host_network:
            host["network_mode"] = "host"
        else:
            kwargs["hostname"] = (spec.get("hostname") or config.name)[:63]
            ports = port_bindings(pod)
            if ports:
                host["port_bindings"] = ports
                kwargs["ports"] = [tuple(k.split("/")) for k in ports]
        kwargs["host_config"] = self.client.api.create_host_config(**host)
        cid = self._create_with_image(kwargs, lambda: self._ensure_image(self.pod_infra_image, "IfNotPresent",
                                                                         pod_uid=config.uid, pod=pod))
        self.client.api.start(cid)
        return self._inspect_sandbox(cid)

    def _create_with_image(self, kwargs: dict, ensure: Callable[[], str]) -> str:
        """Create; when the engine no longer has the image (removed since it
        was seen), make it present again by ``ensure`` and create once more."""
        import docker.errors

        try:
            return self._create_named(kwargs)
        except docker.errors.ImageNotFound:
            self._present.pop(kwargs["image"], None)
            ensure()
            return self._create_named(kwargs)

    def _create_named(self, kwargs: dict) -> str:
        """Create a container; a leftover of the same name (a crash between
        create and record) is removed first."""
        import docker.errors

        try:
            return self.client.api.create_container(**kwargs)["Id"]
        except docker.errors.APIError as e:
            if "conflicting options" in str(e) and "hostname" in kwargs:
                return self._create_named({k: v for k, v in kwargs.items() if k != "hostname"})
            if e.status_code not in (409, 500) or "already in use" not in str(e):
                raise
        with contextlib.suppress(docker.errors.NotFound):
            self.client.api.remove_container(kwargs["name"], force=True)
        return self.client.api.create_container(**kwargs)["Id"]

    def _inspect_sandbox(self, cid: str) -> _Sandbox:
        info = self.client.api.inspect_container(cid)
        labels = info["Config"].get("Labels") or {}
        host_network = (info.get("HostConfig") or {}).get("NetworkMode") == "host"
        return _Sandbox(id=info["Id"], uid=labels.get(LABEL_POD_UID, ""), namespace=labels.get(LABEL_POD_NAMESPACE, ""),
                        name=labels.get(LABEL_POD_NAME, ""), ip=self.node_ip if host_network else _ip_of(info),
                        running=bool(info["State"].get("Running")), host_network=host_network)

    async def remove_sandbox(self, uid: str) -> None:
        for c in [c for c in self._containers.values() if c.pod_uid == uid]:
            await self.remove_container(c.id)
        sb = self._sandboxes.pop(uid, None)
        await self._run(self._remove_pod_containers, uid, sb.id if sb else None)
        await self._run(shutil.rmtree, self._sandbox_dir(uid), True)
        await self._run(_remove_pod_logs, self._logs_root, uid)

    def _remove_pod_containers(self, uid: str, infra_id: str | None) -> None:
        """Everything of the pod in the engine, app containers before the
        infra container (Podman refuses to remove a container others join)."""
        import docker.errors

        found = self.client.api.containers(all=True, filters={"label": [f"{LABEL_ROOT}={self._label}",
                                                                         f"{LABEL_POD_UID}={uid}"]})
        infra = [c["Id"] for c in found if (c.get("Labels") or {}).get(LABEL_TYPE) == TYPE_SANDBOX]
        if infra_id and infra_id not in infra:
            infra.append(infra_id)
        for cid in [c["Id"] for c in found if c["Id"] not in infra] + infra:
            with contextlib.suppress(docker.errors.NotFound):
                self.client.api.remove_container(cid, force=True)

    def list_sandboxes(self) -> list[str]:
        return sorted(self._sandboxes)

    def sandbox_ip(self, uid: str) -> str:
        sb = self._sandboxes.get(uid)
        return sb.ip if sb is not None else ""

    # -- images --------------------------------------------------------------
    def _ensure_image(self, image: str, policy: str, *, pod_uid: str, pod: Mapping | None = None) -> str:
        """Make the image present per ``policy``; returns its id. Raises
        :class:`ImagePullError`. Blocking."""
        import docker.errors

        present = self._present.get(image) if policy != "Always" else None
        if present is not None:
            return present
        try:
            present = self.client.api.inspect_image(image)["Id"]
        except docker.errors.ImageNotFound:
            pass
        except docker.errors.APIError as e:
            if e.status_code != 404:
                raise
        if present is None and image == self.pod_infra_image == PAUSE_IMAGE and self.build_missing_images:
            ensure_local_images(self.client)  # the default infra image is built here, never pulled
            present = self.client.api.inspect_image(image)["Id"]
        if present is not None:
            self._present[image] = present
        if policy == "Never":
            if present is None:
                raise ImagePullError("ErrImageNeverPull",
                                     f'Container image "{image}" is not present with pull policy of Never',
                                     image=image)
            return present
        if policy == "IfNotPresent" and present is not None:
            return present
        key = (pod_uid, image)
        until, delay = self._pull_backoff.get(key, (0.0, 0.0))
        now = time.monotonic()
        if now < until:
            raise ImagePullError("ImagePullBackOff", f'Back-off pulling image "{image}"', image=image,
                                 retry_after=until - now)
        try:
            error = self._pull(image, self._credentials(pod, image))
        except PullSecretError as e:
            error = str(e)
        if error is None:
            self._pull_backoff.pop(key, None)
            self._present[image] = self.client.api.inspect_image(image)["Id"]
            return self._present[image]
        delay = min(max(delay * 2, _PULL_BACKOFF_INITIAL), _PULL_BACKOFF_CAP)
        self._pull_backoff[key] = (time.monotonic() + delay, delay)
        # Sync again shortly, inside the back-off: the container then shows
        # ImagePullBackOff until the next pull, as in Kubernetes (where the
        # echo of the kubelet's own status write brings that sync).
        raise ImagePullError("ErrImagePull", error, image=image, retry_after=min(delay, _PULL_RECHECK))

    def _pull(self, image: str, auths: Sequence[RegistryAuth] = ()) -> str | None:
        """Pull through the engine, with each candidate credential in turn
        until one succeeds (none: one pull without); None, or the engine's
        error messages as Kubernetes aggregates them."""
        errors = []
        for auth in auths or (None,):
            error = self._pull_once(image, auth)
            if error is None:
                return None
            errors.append(error)
        return aggregate_errors(errors)

    def _pull_once(self, image: str, auth: RegistryAuth | None) -> str | None:
        import docker.errors

        repo, tag = _split_image(image)
        kwargs = {"auth_config": auth.auth_config()} if auth is not None else {}
        try:
            for line in self.client.api.pull(repo, tag=tag, stream=True, decode=True, **kwargs):
                if isinstance(line, dict) and line.get("error"):
                    return str(line["error"])
        except docker.errors.APIError as e:
            return str(e.explanation or e)
        return None

    def _credentials(self, pod: Mapping | None, image: str) -> list[RegistryAuth]:
        """Candidate credentials for pulling ``image`` for ``pod`` (blocking:
        called from the pool while the event loop reads the secrets)."""
        if self.get_object is None or pod is None or self._loop is None:
            return []
        ring = asyncio.run_coroutine_threadsafe(self._pull_keyring(pod), self._loop).result(timeout=60)
        return ring.lookup(image) if ring is not None else []

    async def _pull_keyring(self, pod: Mapping):
        """The pod's pull secrets as a keyring (None without any). A secret
        that cannot be read is skipped, as the kubelet does ("the image pull
        may not succeed"); one that does not parse raises PullSecretError."""
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        namespace = meta.get("namespace") or "default"
        account = None
        if not spec.get("imagePullSecrets"):
            account = await self._get_quietly("serviceaccounts", namespace,
                                              spec.get("serviceAccountName") or spec.get("serviceAccount") or "default")
        names = pull_secret_names(pod, account)
        if not names:
            return None
        secrets = []
        for name in names:
            secret = await self._get_quietly("secrets", namespace, name)
            if secret is None:
                log.warning("pod %s/%s: unable to retrieve pull secret %s/%s, the image pull may not succeed",
                            namespace, meta.get("name", ""), namespace, name)
                continue
            secrets.append(secret)
        return keyring_from_secrets(secrets)

    async def _get_quietly(self, kind: str, namespace: str, name: str) -> Mapping | None:
        try:
            return await self.get_object(kind, namespace, name)
        except Exception as e:  # noqa: BLE001 - unknown kind, API down: pull without it
            log.debug("reading %s %s/%s for a pull: %r", kind, namespace, name, e)
            return None

    def _image_ref(self, image_id: str) -> str:
        ref = self._image_refs.get(image_id)
        if ref is None:
            ref = image_id
            with contextlib.suppress(Exception):
                digests = self.client.api.inspect_image(image_id).get("RepoDigests") or []
                if digests:
                    ref = digests[0]
            self._image_refs[image_id] = ref
        return ref

    # -- containers ----------------------------------------------------------
    def _log_path(self, namespace: str, pod_name: str, uid: str, name: str, attempt: int) -> str:
        return os.path.join(self._logs_root, f"{namespace}_{pod_name}_{uid}", name, f"{attempt}.log")

    def log_path(self, container_id: str) -> str:
        c = self._containers.get(container_id)
        return c.log_path if c else ""

    async def start_container(self, config: ContainerConfig) -> ContainerStatus:
        sb = self._sandboxes.get(config.pod_uid)
        if sb is None:
            raise OSError(f"pod {config.pod_uid} has no sandbox")
        for old in [c for c in self._containers.values()
                    if c.pod_uid == config.pod_uid and c.name == config.name and c.attempt == config.attempt]:
            await self.remove_container(old.id)
        pod = self._pod(config.pod_uid)
        spec = self._spec(pod, config.name)
        t0 = time.monotonic()
        async with self._gate.slot(priority=0):
            record = await self._run(self._start_blocking, config, spec, pod, sb.id)
        log.debug("started %s/%s (%s) in %.3fs", config.pod_name, config.name, record.id[:12],
                  time.monotonic() - t0)
        self._containers[record.id] = record
        # Also when it already exited (a fast one): its output is still to be fetched, and the
        # end of that stream publishes the exit — so that its logs are complete by the time
        # anyone sees it terminated (as with a running container's exit).
        self._follow(record)
        if record.state != "running":
            try:
                await asyncio.wait_for(asyncio.shield(record.exited.wait()), timeout=_FAST_EXIT_LOG_WAIT)
            except TimeoutError:
                log.warning("container %s: its logs did not end; exit published anyway", record.id[:12])
                record.exited.set()
                self._announce(record)
        return self._status(record)

    def _start_blocking(self, config: ContainerConfig, spec: Mapping | None, pod: Mapping | None,
                        sandbox_id: str) -> _Container:
        import docker.errors

        image_id = self._ensure_image(config.image, pull_policy(spec, config.image), pod_uid=config.pod_uid, pod=pod)
        cdir = os.path.join(self._sandbox_dir(config.pod_uid), f"{config.name}_{config.attempt}")
        os.makedirs(cdir, exist_ok=True)
        term_file = os.path.join(cdir, "termination-log")
        with open(term_file, "wb"):
            pass
        os.chmod(term_file, 0o666)
        kwargs = create_kwargs(config, spec=spec, pod=pod, sandbox_id=sandbox_id, root=self.root,
                               termination_file=term_file)
        kwargs["host_config"] = self.client.api.create_host_config(**kwargs["host_config"])
        if not ((pod or {}).get("spec") or {}).get("hostNetwork"):
            # The pod's hostname in every container: Podman takes it with a joined network
            # namespace; Docker refuses the pair but then shares the infra container's.
            kwargs["hostname"] = ((((pod or {}).get("spec") or {}).get("hostname")) or config.pod_name)[:63]
        try:
            cid = self._create_with_image(kwargs, lambda: self._ensure_image(
                config.image, pull_policy(spec, config.image), pod_uid=config.pod_uid, pod=pod))
        except docker.errors.APIError as e:
            raise OSError(f"creating container: {e.explanation or e}") from e
        log_path = self._log_path(config.pod_namespace, config.pod_name, config.pod_uid, config.name,
                                  config.attempt)
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        start_error = ""
        try:
            self.client.api.start(cid)
        except docker.errors.APIError as e:
            start_error = str(e.explanation or e)
        record = self._record_from(self.client.api.inspect_container(cid), log_path=log_path,
                                   image_ref=self._image_ref(image_id))
        if start_error and record.state != "running":
            # As Kubernetes reports a container the runtime could not start.
            record.state, record.reason, record.message = "exited", "StartError", start_error
            record.exit_code = record.exit_code or 128
            record.finished_at = record.finished_at or time.time()
            record.started_at = record.started_at or record.finished_at
        return record

    def _record_from(self, info: dict, *, log_path: str | None = None, image_ref: str | None = None) -> _Container:
        labels = info["Config"].get("Labels") or {}
        uid = labels.get(LABEL_POD_UID, "")
        ns, pod_name = labels.get(LABEL_POD_NAMESPACE, ""), labels.get(LABEL_POD_NAME, "")
        name, attempt = labels.get(LABEL_CONTAINER_NAME, ""), int(labels.get(LABEL_RESTART_COUNT, "0") or 0)
        st = info["State"]
        running = bool(st.get("Running"))
        status = str(st.get("Status", "")).lower()
        state = "running" if running else ("created" if status in ("created", "configured") else "exited")
        rec = _Container(
            id=info["Id"], pod_uid=uid, pod_namespace=ns, pod_name=pod_name, name=name, attempt=attempt,
            image=image_ref or self._image_ref(info.get("Image", "")), state=state, pid=st.get("Pid") or None,
            created_at=_parse_time(info.get("Created")), started_at=_parse_time(st.get("StartedAt")),
            log_path=log_path or self._log_path(ns, pod_name, uid, name, attempt), labels=dict(labels),
            memory_limited=bool((info.get("HostConfig") or {}).get("Memory")),
            tty=bool(info["Config"].get("Tty")))
        if state == "exited":
            self._fill_exit(rec, info)
        return rec

    def _fill_exit(self, rec: _Container, info: dict) -> None:
        """Exit code, times and reason (OOMKilled / Completed / Error) from an
        inspect of the exited container, plus its termination message."""
        st = info["State"]
        rec.state = "exited"
        rec.pid = None
        rec.exit_code = int(st.get("ExitCode") or 0)
        rec.finished_at = _parse_time(st.get("FinishedAt")) or time.time()
        rec.started_at = rec.started_at or _parse_time(st.get("StartedAt")) or rec.finished_at
        oom = bool(st.get("OOMKilled"))
        if not oom and rec.exit_code == 137 and rec.memory_limited and not rec.killed:
            oom = _kernel_logged_oom(rec.id)
        rec.reason = "OOMKilled" if oom else ("Completed" if rec.exit_code == 0 else "Error")
        if st.get("Error") and not rec.message:
            rec.message = str(st["Error"])
        msg = self._termination_message(rec)
        if msg:
            rec.message = msg

    def _termination_message(self, rec: _Container) -> str:
        path = os.path.join(self._sandbox_dir(rec.pod_uid), f"{rec.name}_{rec.attempt}", "termination-log")
        data = b""
        with contextlib.suppress(OSError), open(path, "rb") as f:
            data = f.read(_TERMINATION_MESSAGE_MAX)
        if not data and rec.exit_code and rec.labels.get(LABEL_TERMINATION_POLICY) == "FallbackToLogsOnError":
            data = _log_tail(rec.log_path, lines=_FALLBACK_LOG_LINES, max_bytes=_TERMINATION_MESSAGE_MAX)
        return data.decode(errors="replace")

    def _follow(self, rec: _Container) -> None:
        loop = asyncio.get_running_loop()
        pump = EngineLogPump(self.client, rec.id, log_path=rec.log_path, max_size=self.log_max_size,
                             max_files=self.log_max_files, tty=rec.tty,
                             on_end=lambda p: loop.call_soon_threadsafe(self._pump_ended, p))
        rec.pump = pump
        pump.start()

    def _pump_ended(self, pump: EngineLogPump) -> None:
        rec = self._containers.get(pump.container_id)
        if rec is None or rec.pump is not pump or self._closed:
            return
        asyncio.get_running_loop().create_task(self._check_exit(rec))

    async def _check_exit(self, rec: _Container) -> None:
        """The log stream ended: the container exited — or the connection
        broke, and then the stream is followed again."""
        import docker.errors

        try:
            info = await self._run(self.client.api.inspect_container, rec.id)
        except docker.errors.NotFound:
            info = None
        except Exception as e:  # noqa: BLE001 - the engine is unreachable: try again shortly
            log.warning("container %s: inspect after log end: %s", rec.id[:12], e)
            await asyncio.sleep(2)
            if self._containers.get(rec.id) is rec and not self._closed:
                self._follow(rec)
            return
        if info is not None and info["State"].get("Running"):
            await asyncio.sleep(0.5)
            if self._containers.get(rec.id) is rec and not self._closed:
                self._follow(rec)
            return
        if rec.exit_code is None:
            if info is None:
                rec.state, rec.exit_code, rec.reason = "exited", 137, "Error"
                rec.finished_at = time.time()
                rec.message = "the container disappeared from the engine"
            else:
                await self._run(self._fill_exit, rec, info)
        rec.pump = None
        rec.exited.set()
        self._announce(rec)

    def _announce(self, rec: _Container) -> None:
        if self.on_exit is not None:
            self.on_exit(rec.pod_uid)

    def _status(self, rec: _Container) -> ContainerStatus:
        if rec.state == "exited" and not rec.exited.is_set():
            # Exited, but its output is still being fetched: the exit is published with the logs.
            return ContainerStatus(id=rec.id, pod_uid=rec.pod_uid, name=rec.name, attempt=rec.attempt,
                                   image=rec.image, state="running", created_at=rec.created_at,
                                   started_at=rec.started_at, log_path=rec.log_path, labels=dict(rec.labels))
        return ContainerStatus(
            id=rec.id, pod_uid=rec.pod_uid, name=rec.name, attempt=rec.attempt, image=rec.image,
            state=rec.state, pid=rec.pid, created_at=rec.created_at, started_at=rec.started_at,
            finished_at=rec.finished_at, exit_code=rec.exit_code, reason=rec.reason, message=rec.message,
            log_path=rec.log_path, labels=dict(rec.labels))

    def container_status(self, container_id: str) -> ContainerStatus | None:
        rec = self._containers.get(container_id)
        return self._status(rec) if rec else None

    def list_containers(self, pod_uid: str | None = None) -> list[ContainerStatus]:
        return [self._status(c) for c in self._containers.values() if pod_uid is None or c.pod_uid == pod_uid]

    async def stop_container(self, container_id: str, *, grace_period: float) -> None:
        """SIGTERM (the image's stop signal), SIGKILL after ``grace_period``
        — the engine's own stop; returns once the exit is recorded."""
        import docker.errors

        rec = self._containers.get(container_id)
        if rec is None or rec.state != "running" or rec.exited.is_set():
            return
        try:
            if grace_period <= 0:
                rec.killed = True
                await self._run(self.client.api.kill, container_id)
            else:
                # The engine counts whole seconds; its SIGKILL is ours too.
                rec.killed = True
                await self._run(self.client.api.stop, container_id, timeout=max(1, math.ceil(grace_period)))
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as e:
            if e.status_code not in (304, 409):  # already stopped / not running
                log.warning("stopping %s: %s", container_id[:12], e)
        try:
            await asyncio.wait_for(rec.exited.wait(), timeout=10)
        except TimeoutError:
            await self._check_exit(rec)

    async def remove_container(self, container_id: str) -> None:
        import docker.errors

        rec = self._containers.get(container_id)
        if rec is None:
            return
        if rec.state == "running" and not rec.exited.is_set():
            await self.stop_container(container_id, grace_period=0)
        self._containers.pop(container_id, None)
        if rec.pump is not None:
            rec.pump.close()
            rec.pump = None
        with contextlib.suppress(docker.errors.NotFound):
            await self._run(self.client.api.remove_container, container_id, force=True)
        cdir = os.path.join(self._sandbox_dir(rec.pod_uid), f"{rec.name}_{rec.attempt}")
        await self._run(shutil.rmtree, cdir, True)
        with contextlib.suppress(OSError):
            os.unlink(rec.log_path)

    async def exec_sync(self, container_id: str, argv: Sequence[str], *, timeout: float) -> ExecResult:
        """Run ``argv`` in the container through the engine's exec API. On
        timeout the result says so; the engine has no way to cancel an exec,
        so the command itself runs on until it ends."""
        rec = self._containers.get(container_id)
        if rec is None or rec.state != "running":
            return ExecResult(exit_code=126, output=b"container is not running")
        fut = self._run(self._exec_blocking, container_id, list(argv))
        try:
            code, out = await asyncio.wait_for(asyncio.shield(fut), timeout=timeout)
        except TimeoutError:
            return ExecResult(exit_code=-1, output=b"", timed_out=True)
        return ExecResult(exit_code=code, output=out)

    def _exec_blocking(self, container_id: str, argv: list[str]) -> tuple[int, bytes]:
        import docker.errors

        try:
            ex = self.client.api.exec_create(container_id, argv, stdout=True, stderr=True)
            out = self.client.api.exec_start(ex["Id"])
            code = self.client.api.exec_inspect(ex["Id"]).get("ExitCode")
        except docker.errors.APIError as e:
            return 126, str(e.explanation or e).encode()
        return (126 if code is None else int(code)), out or b""

    # -- stats ---------------------------------------------------------------
    def container_stats(self, container_id: str) -> ContainerStats | None:
        """CPU time and memory of a running container from the engine's stats
        API (one sample, ``one-shot``), in the process runtime's shape; None
        when it is not running or the engine has no figures. Blocking (one
        engine round trip): off the event loop call :meth:`stats`."""
        import docker.errors

        rec = self._containers.get(container_id)
        if rec is None or rec.state != "running" or rec.exited.is_set():
            return None
        try:
            sample = self.client.api.stats(container_id, stream=False, one_shot=True)
        except (docker.errors.APIError, OSError, ValueError) as e:
            log.debug("stats of %s: %s", container_id[:12], e)
            return None
        return stats_from_engine(sample)

    async def stats(self, container_id: str) -> ContainerStats | None:
        """:meth:`container_stats` on the runtime's thread pool."""
        return await self._run(self.container_stats, container_id)

    # -- recovery ------------------------------------------------------------
    async def recover(self) -> list[ContainerStatus]:
        """Adopt this kubelet's containers left in the engine (found by the
        root label): sandboxes and containers are cached again, running
        containers' logs followed again from where the file ends, exits that
        happened meanwhile recorded."""
        sandboxes, records = await self._run(self._scan)
        for sb in sandboxes:
            self._sandboxes.setdefault(sb.uid, sb)
        for rec in records:
            if rec.id in self._containers:
                continue
            self._containers[rec.id] = rec
            if rec.state == "exited":
                rec.exited.set()
            # Exited ones too: lines written while nobody followed reach the file.
            self._follow(rec)
            log.info("adopted container %s/%s (%s) %s", rec.pod_name, rec.name, rec.id[:12], rec.state)
        if self._reconciler is None:
            self._reconciler = asyncio.get_running_loop().create_task(self._reconcile_loop(),
                                                                      name="docker-runtime-reconcile")
        return self.list_containers()

    async def _reconcile_loop(self) -> None:
        """Every ``reconcile_interval``: one list call to catch what no log
        stream told (an infra container that stopped, a container removed
        behind the kubelet's back); the pod's worker is woken for it."""
        while not self._closed:
            await asyncio.sleep(self.reconcile_interval)
            try:
                found = await self._run(self.client.api.containers, all=True,
                                        filters={"label": f"{LABEL_ROOT}={self._label}"})
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - the engine may be restarting; try next round
                log.warning("docker runtime: listing containers: %s", e)
                continue
            state = {c["Id"]: str(c.get("State", "")).lower() for c in found}
            for sb in list(self._sandboxes.values()):
                running = state.get(sb.id) == "running"
                if sb.running and not running:
                    log.warning("pod %s: infra container %s is %s", sb.uid, sb.id[:12], state.get(sb.id, "gone"))
                    sb.running = False
                    if self.on_exit is not None:
                        self.on_exit(sb.uid)
            for rec in list(self._containers.values()):
                if rec.state != "running" or self._containers.get(rec.id) is not rec:
                    continue
                # A live log stream reports its container's exit itself (after the last line).
                if rec.id not in state or (state[rec.id] != "running" and rec.pump is None):
                    await self._check_exit(rec)

    def _scan(self) -> tuple[list[_Sandbox], list[_Container]]:
        import docker.errors

        found = self.client.api.containers(all=True, filters={"label": f"{LABEL_ROOT}={self._label}"})
        infos = []
        for info in self._pool_map(found):
            if info is not None:
                infos.append(info)
        sandboxes = [self._inspect_sandbox_info(i) for i in infos
                     if (i["Config"].get("Labels") or {}).get(LABEL_TYPE) == TYPE_SANDBOX]
        records = []
        for i in infos:
            if (i["Config"].get("Labels") or {}).get(LABEL_TYPE) == TYPE_SANDBOX:
                continue
            with contextlib.suppress(docker.errors.APIError, KeyError, ValueError):
                records.append(self._record_from(i))
        return sandboxes, records

    def _pool_map(self, found: list[dict]) -> list[dict | None]:
        import docker.errors

        def inspect(c: dict) -> dict | None:
            try:
                return self.client.api.inspect_container(c["Id"])
            except docker.errors.NotFound:
                return None
        with ThreadPoolExecutor(max_workers=16) as ex:
            return list(ex.map(inspect, found))

    def _inspect_sandbox_info(self, info: dict) -> _Sandbox:
        labels = info["Config"].get("Labels") or {}
        host_network = (info.get("HostConfig") or {}).get("NetworkMode") == "host"
        return _Sandbox(id=info["Id"], uid=labels.get(LABEL_POD_UID, ""), namespace=labels.get(LABEL_POD_NAMESPACE, ""),
                        name=labels.get(LABEL_POD_NAME, ""), ip=self.node_ip if host_network else _ip_of(info),
                        running=bool(info["State"].get("Running")), host_network=host_network)

    async def teardown(self, *, grace_period: float) -> int:
        """End every pod this kubelet root has in the engine: running app
        containers stopped with ``grace_period`` (all at once), then every
        container of the root removed — apps before the infra containers
        they join — with the pods' container dirs and logs. Returns how many
        app containers were running. What ``pyb up`` does on Ctrl-C, so that
        nothing is left in ``docker ps -a``; a later kubelet over the same
        root starts the pods afresh."""
        await self.recover()
        running = [c for c in self._containers.values() if c.state == "running"]
        await asyncio.gather(*(self.stop_container(c.id, grace_period=grace_period) for c in running),
                             return_exceptions=True)
        uids = sorted(set(self._sandboxes) | {c.pod_uid for c in self._containers.values()})
        t0 = time.monotonic()
        for uid, result in zip(uids, await asyncio.gather(*(self.remove_sandbox(uid) for uid in uids),
                                                          return_exceptions=True), strict=True):
            if isinstance(result, Exception):  # the others are removed whatever happens
                log.warning("pod %s: removing its containers: %s", uid, result)
        log.debug("removed %d pods in %.2fs", len(uids), time.monotonic() - t0)
        # Anything else labelled with this root (a half-created container of a pod never recorded).
        await self._run(self._remove_labelled)
        return len(running)

    def _remove_labelled(self) -> None:
        import docker.errors

        found = self.client.api.containers(all=True, filters={"label": f"{LABEL_ROOT}={self._label}"})
        found.sort(key=lambda c: (c.get("Labels") or {}).get(LABEL_TYPE) == TYPE_SANDBOX)
        for c in found:
            with contextlib.suppress(docker.errors.NotFound):
                self.client.api.remove_container(c["Id"], force=True)

    async def close(self) -> None:
        """Stop following logs (containers keep running) and release the pool."""
        self._closed = True
        if self._reconciler is not None:
            self._reconciler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconciler
        for rec in self._containers.values():
            if rec.pump is not None:
                rec.pump.close()
                rec.pump = None
        self._pool.shutdown(wait=False, cancel_futures=True)
        with contextlib.suppress(Exception):
            self.client.close()


def stats_from_engine(sample: Mapping) -> ContainerStats | None:
    """A Docker Engine API stats sample → :class:`ContainerStats`: cumulative
    CPU time (``cpu_stats.cpu_usage.total_usage``, ns) and resident memory —
    the cgroup's ``rss`` (cgroup v1) or ``anon`` (v2) when the engine gives
    its breakdown (Docker does), else usage less page cache, else usage
    (Podman's compat API reports usage alone)."""
    cpu = ((sample.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage")
    mem = sample.get("memory_stats") or {}
    usage = mem.get("usage")
    if cpu is None and usage is None:
        return None
    detail = mem.get("stats") or {}
    if "rss" in detail:
        rss = detail["rss"]
    elif "anon" in detail:
        rss = detail["anon"]
    elif usage is not None:
        cache = detail.get("total_inactive_file", detail.get("inactive_file", detail.get("cache", 0)))
        rss = max(int(usage) - int(cache or 0), 0)
    else:
        rss = 0
    return ContainerStats(cpu_seconds=int(cpu or 0) / 1e9, memory_rss_bytes=int(rss))


def _ip_of(info: dict) -> str:
    ns = info.get("NetworkSettings") or {}
    if ns.get("IPAddress"):
        return ns["IPAddress"]
    for net in (ns.get("Networks") or {}).values():
        if (net or {}).get("IPAddress"):
            return net["IPAddress"]
    return ""


def _split_image(image: str) -> tuple[str, str | None]:
    if "@" in image:
        return image, None
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:
        return image, "latest"
    return name, tag


def _kernel_logged_oom(container_id: str) -> bool:
    """Whether the kernel log records an OOM kill in the container's memory
    cgroup (its path names the container id). The engine's own OOMKilled flag
    stays false where conmon cannot watch the cgroup (seen with Podman on a
    cgroup v1 host); the kernel's log is the fact it would have reported."""
    try:
        out = subprocess.run(["dmesg"], capture_output=True, timeout=5, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    needle = container_id.encode()
    return any(needle in line and b"oom" in line.lower() for line in out.splitlines())


def _log_tail(path: str, *, lines: int, max_bytes: int) -> bytes:
    from .logs import LogOptions, read_log
    return read_log(path, LogOptions(tail_lines=lines))[-max_bytes:]


def _remove_pod_logs(logs_root: str, uid: str) -> None:
    with contextlib.suppress(OSError):
        for entry in os.listdir(logs_root):
            if entry.endswith("_" + uid):
                shutil.rmtree(os.path.join(logs_root, entry), ignore_errors=True)



