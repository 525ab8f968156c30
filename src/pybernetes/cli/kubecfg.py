"""The kubecfg verbs of `pyb`, spoken through the client library.

``list``, ``get``, ``create -c``, ``update -c``, ``delete``, ``run``,
``resize``, ``stop``, ``rm``, ``rollingupdate``, ``logs``. Each reads the
kubeconfig given by ``--kubeconfig``, else ``$KUBECONFIG``, else the one
``pyb up`` writes (``~/.pybernetes/kubeconfig``), and turns every failure
into one clear sentence (see :func:`explain`).

``run IMAGE REPLICAS NAME`` creates a ReplicationController ``NAME`` whose
pods carry the label ``name=NAME`` (and with ``-s PORT`` a Service of the same
name selecting them), as kubecfg did. With the process runtime the image is
only recorded: the command after ``--`` is what runs.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..api.resources import ResourceInfo, by_kind, lookup
from ..client import Client, errors
from .output import OutputError, Style, pod_status, render
from .progress import Progress

__all__ = ["add_kubecfg_commands", "resolve_kubeconfig", "explain", "parse_duration", "parse_ports",
           "run_objects", "UsageError"]

DEFAULT_KUBECONFIG = "~/.pybernetes/kubeconfig"
_ALIASES = {"minions": "nodes", "minion": "nodes", "replicationcontroller": "replicationcontrollers"}


class UsageError(Exception):
    """The command line asks for something that cannot be done (exit code 2)."""


# -- kubeconfig and errors ------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class KubeconfigSource:
    path: str | None  # None: let the loader read $KUBECONFIG
    described: str


def resolve_kubeconfig(flag: str | None) -> KubeconfigSource:
    if flag:
        return KubeconfigSource(os.path.expanduser(flag), flag)
    if os.environ.get("KUBECONFIG"):
        return KubeconfigSource(None, f"$KUBECONFIG ({os.environ['KUBECONFIG']})")
    path = os.path.expanduser(DEFAULT_KUBECONFIG)
    return KubeconfigSource(path, path)


def explain(e: BaseException, *, source: KubeconfigSource, server: str = "") -> str:
    """One clear message for a failure of a verb."""
    if isinstance(e, errors.ConfigError):
        if "no kubeconfig found" in str(e) and source.path == os.path.expanduser(DEFAULT_KUBECONFIG):
            return (f"no kubeconfig at {source.described}: start a local cluster with `pyb up` "
                    "(or pass --kubeconfig / set $KUBECONFIG)")
        return f"kubeconfig {source.described}: {e}"
    if isinstance(e, errors.ConnectionFailed):
        return (f"cannot reach the apiserver at {server or '?'} (from {source.described}): {e}\n"
                "  start a local cluster with `pyb up` (or `pyb up --detach` to run it in the background)")
    if isinstance(e, errors.Unauthorized):
        return (f"the apiserver at {server} refused the credentials in {source.described} (401 Unauthorized): "
                "the token is not one this cluster issued — use the kubeconfig `pyb up` wrote for it")
    if isinstance(e, errors.Forbidden):
        return f"forbidden (credentials from {source.described}): {e.message}"
    if isinstance(e, errors.Invalid):
        lines = [e.message.split(":", 1)[0] if e.causes else e.message]
        for c in e.causes:
            lines.append(f"  - {c.get('field') or '<object>'}: {c.get('message') or c.get('reason')}")
        return "\n".join(lines)
    if isinstance(e, errors.APIError):
        return e.message or f"{e.code} {e.reason}"
    if isinstance(e, UsageError | OutputError | ValueError):
        return str(e)
    return f"{type(e).__name__}: {e}"


# -- parsing helpers -------------------------------------------------------------------------
def parse_duration(s: str) -> float:
    """Seconds in "90", "60s", "1m30s", "500ms", "2h"."""
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return float(s)
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", s)
    if not parts or "".join(n + u for n, u in parts) != s:
        raise argparse.ArgumentTypeError(f"invalid duration {s!r} (e.g. 60s, 1m30s, 500ms)")
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * scale[u] for n, u in parts)


def parse_ports(spec: str | None) -> list[dict]:
    """"8181:80,8443:443" (hostPort:containerPort) or "80" → container ports."""
    ports = []
    for item in (spec or "").split(","):
        item = item.strip()
        if not item:
            continue
        host, _, container = item.rpartition(":")
        try:
            port: dict[str, Any] = {"containerPort": int(container), "protocol": "TCP"}
            if host:
                port["hostPort"] = int(host)
        except ValueError:
            raise UsageError(f"invalid port {item!r}: want HOST:CONTAINER or CONTAINER") from None
        ports.append(port)
    return ports


def resource_of(kind_word: str) -> ResourceInfo:
    info = lookup(_ALIASES.get(kind_word.lower(), kind_word))
    if info is None:
        raise UsageError(f'unknown resource type "{kind_word}" (try pods, services, replicationcontrollers, nodes)')
    return info


def split_ref(ref: str, name: str | None) -> tuple[ResourceInfo, str]:
    if "/" in ref:
        kind, _, n = ref.partition("/")
        if name:
            raise UsageError("give KIND/NAME or KIND NAME, not both")
        return resource_of(kind), n
    if not name:
        raise UsageError(f"which one? give {ref}/NAME")
    return resource_of(ref), name


def read_objects(path: str) -> list[dict]:
    """Objects in a YAML/JSON file (several documents, or a List) or stdin (``-``)."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from e
    try:
        docs = [d for d in yaml.safe_load_all(text) if d]
    except yaml.YAMLError as e:
        raise UsageError(f"{path}: not valid YAML or JSON: {e}") from e
    out: list[dict] = []
    for d in docs:
        if not isinstance(d, dict):
            raise UsageError(f"{path}: every document must be an object")
        if d.get("kind", "").endswith("List") and isinstance(d.get("items"), list):
            out.extend(d["items"])
        else:
            out.append(d)
    if not out:
        raise UsageError(f"{path}: no objects")
    return out


def info_for_object(obj: dict) -> ResourceInfo:
    api_version, kind = obj.get("apiVersion") or "", obj.get("kind") or ""
    if not api_version or not kind:
        raise UsageError("every object needs apiVersion and kind")
    group = api_version.rpartition("/")[0]
    info = by_kind(group, kind)
    if info is None:
        raise UsageError(f'no kind "{kind}" is served in "{api_version}"')
    return info


# -- building `run`'s objects ------------------------------------------------------------
def run_objects(*, image: str, replicas: int, name: str, ports: list[dict], service_port: int | None,
                command: list[str]) -> tuple[dict, dict | None]:
    """The ReplicationController (and Service) that ``pyb run`` creates."""
    labels = {"name": name}
    container: dict[str, Any] = {"name": name, "image": image}
    if ports:
        container["ports"] = ports
    if command:
        container["command"] = list(command)
    rc = {"apiVersion": "v1", "kind": "ReplicationController",
          "metadata": {"name": name, "labels": dict(labels)},
          "spec": {"replicas": replicas, "selector": dict(labels),
                   "template": {"metadata": {"labels": dict(labels)}, "spec": {"containers": [container]}}}}
    svc = None
    if service_port is not None:
        target = ports[0]["containerPort"] if ports else service_port
        svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "labels": dict(labels)},
               "spec": {"selector": dict(labels),
                        "ports": [{"port": service_port, "targetPort": target, "protocol": "TCP"}]}}
    return rc, svc


def _selector(rc: dict) -> str:
    sel = (rc.get("spec") or {}).get("selector") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(sel.items()))


def _ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or ())


def _broken(pod: dict) -> str | None:
    """Why a pod will not become Ready on its own, if it won't."""
    status = pod.get("status") or {}
    if status.get("phase") == "Failed":
        return f"pod {pod['metadata']['name']} failed"
    for cs in status.get("containerStatuses") or ():
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in ("CrashLoopBackOff", "ErrImagePull", "ImagePullBackOff", "InvalidImageName",
                                     "CreateContainerError", "RunContainerError"):
            return f"pod {pod['metadata']['name']}: {waiting['reason']} {waiting.get('message', '')}".rstrip()
    return None


def _unschedulable(pod: dict) -> str:
    for c in (pod.get("status") or {}).get("conditions") or ():
        if c.get("type") == "PodScheduled" and c.get("status") == "False":
            return c.get("message") or c.get("reason") or "unschedulable"
    return ""


def _images_of(spec: dict) -> list[str]:
    return [c.get("image") for c in (spec or {}).get("containers") or ()]


def _runs(spec: dict) -> list[tuple]:
    """What a pod runs, to tell pods of the old template from the new one."""
    return [(c.get("name"), c.get("image"), tuple(c.get("command") or ()), tuple(c.get("args") or ()))
            for c in (spec or {}).get("containers") or ()]


# -- the verbs ------------------------------------------------------------------------------
class Verbs:
    """Each verb: ``async def verb(args) -> int``; output to ``self.out``."""

    def __init__(self, client: Client, *, namespace: str, out=None):
        self.client = client
        self.namespace = namespace
        self.out = out or sys.stdout
        self.style = Style(stream=self.out)
        self.tty = self.out.isatty()

    def _print(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def _say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def _rc(self):
        return self.client.replication_controllers(self.namespace)

    def _resource(self, info: ResourceInfo, all_namespaces: bool = False):
        ns = None if (all_namespaces or not info.namespaced) else self.namespace
        return self.client.resource_for(info, ns)

    async def list(self, args) -> int:
        info = resource_of(args.kind)
        result = await self._resource(info, args.all_namespaces).list(label_selector=args.selector)
        if not result.get("items") and args.output == "table":
            where = "" if not info.namespaced or args.all_namespaces else f" in {self.namespace} namespace"
            print(f"No {info.plural} found{where}.", file=sys.stderr)
            return 0
        self._print(render(result, output=args.output, plural=info.plural, style=self.style,
                           with_namespace=args.all_namespaces and info.namespaced))
        return 0

    async def get(self, args) -> int:
        info, name = split_ref(args.ref, args.name)
        obj = await self._resource(info).get(name)
        self._print(render(obj, output=args.output, plural=info.plural, style=self.style))
        return 0

    async def _write_each(self, args, verb: str) -> int:
        objs = read_objects(args.config)
        for obj in objs:
            info = info_for_object(obj)
            rc = self._resource(info)
            if verb == "create":
                res = await rc.create(obj, field_validation="Strict")
            else:
                res = await rc.update(obj, field_validation="Strict")
            if args.output == "table":
                self._say(f"{info.plural}/{res['metadata']['name']} {verb}d")
            else:
                self._print(render(res, output=args.output, plural=info.plural, style=self.style))
        return 0

    async def create(self, args) -> int:
        return await self._write_each(args, "create")

    async def update(self, args) -> int:
        return await self._write_each(args, "update")

    async def delete(self, args) -> int:
        info, name = split_ref(args.ref, args.name)
        await self._resource(info).delete(name)
        self._say(f"{info.plural}/{name} deleted")
        return 0

    async def run(self, args) -> int:
        if args.replicas < 0:
            raise UsageError("REPLICAS must be 0 or more")
        rc, svc = run_objects(image=args.image, replicas=args.replicas, name=args.name,
                              ports=parse_ports(args.port), service_port=args.service_port,
                              command=list(args.command_args or ()))
        if not args.command_args and await self._process_runtime_only():
            print(self.style.yellow(
                "note: the nodes run the process runtime, where an image is only recorded and the "
                "command after `--` is what runs; without one the pods cannot start"), file=sys.stderr)
        created = await self._rc().create(rc, field_validation="Strict")
        self._say(f"replicationcontrollers/{created['metadata']['name']} created")
        if svc is not None:
            s = await self.client.services(self.namespace).create(svc, field_validation="Strict")
            ip = (s.get("spec") or {}).get("clusterIP") or ""
            self._say(f"services/{s['metadata']['name']} created" + (f" (cluster IP {ip})" if ip else ""))
        return 0

    async def _process_runtime_only(self) -> bool:
        try:
            nodes = (await self.client.nodes().list()).get("items") or []
        except errors.APIError:
            return False
        versions = [((n.get("status") or {}).get("nodeInfo") or {}).get("containerRuntimeVersion", "")
                    for n in nodes]
        return bool(versions) and all(v.startswith("process") for v in versions)

    async def resize(self, args) -> int:
        if args.replicas < 0:
            raise UsageError("REPLICAS must be 0 or more")
        await self._rc().patch(args.name, {"spec": {"replicas": args.replicas}}, patch_type="merge")
        self._say(f"replicationcontrollers/{args.name} resized to {args.replicas}")
        return 0

    async def _pods_of(self, rc: dict) -> list[dict]:
        return (await self.client.pods(self.namespace).list(label_selector=_selector(rc))).get("items") or []

    async def stop(self, args) -> int:
        rc = await self._rc().patch(args.name, {"spec": {"replicas": 0}}, patch_type="merge")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + args.timeout
        with Progress(f"stopping {args.name}", stream=sys.stderr) as p:
            while True:
                pods = await self._pods_of(rc)
                rc = await self._rc().get(args.name)
                left = len(pods)
                if left == 0 and not (rc.get("status") or {}).get("replicas"):
                    p.done("0 pods left")
                    break
                if loop.time() > deadline:
                    p.fail(f"{left} pods still there after {args.timeout:.0f}s")
                    return 1
                p.update(f"{left} pod{'s' if left != 1 else ''} left")
                await asyncio.sleep(0.3)
        self._say(f"replicationcontrollers/{args.name} stopped")
        return 0

    async def rm(self, args) -> int:
        rc = await self._rc().get(args.name)
        want = (rc.get("spec") or {}).get("replicas", 1)
        have = (rc.get("status") or {}).get("replicas", 0)
        if want or have:
            raise UsageError(f"replicationcontrollers/{args.name} still has {max(want, have)} replicas; "
                             f"stop it first: pyb stop {args.name}")
        await self._rc().delete(args.name)
        self._say(f"replicationcontrollers/{args.name} deleted")
        return 0

    async def rollingupdate(self, args) -> int:
        """Point the template at the new image, then replace the old pods one at
        a time, each replacement Ready before the next goes. On a failure the
        old template is put back and no further pod is touched."""
        rc = await self._rc().get(args.name)
        old_template = copy.deepcopy(rc["spec"]["template"])
        new_template = copy.deepcopy(old_template)
        if args.image:
            for c in new_template["spec"]["containers"]:
                c["image"] = args.image
        new_images = _images_of(new_template["spec"])
        new_runs = _runs(new_template["spec"])
        if new_template != old_template:
            rc["spec"]["template"] = new_template
            rc = await self._rc().update(rc)
        old = sorted((p for p in await self._pods_of(rc)
                      if _runs(p.get("spec")) != new_runs and not p["metadata"].get("deletionTimestamp")),
                     key=lambda p: p["metadata"]["name"])
        if not old and not args.image:
            # No change asked for: restart every pod on the current template, one at a time.
            old = sorted((p for p in await self._pods_of(rc) if not p["metadata"].get("deletionTimestamp")),
                         key=lambda p: p["metadata"]["name"])
        total = len(old)
        if total == 0:
            self._say(f"replicationcontrollers/{args.name}: every pod already runs {','.join(new_images)}")
            return 0
        loop = asyncio.get_running_loop()
        with Progress(f"rolling update of {args.name}", stream=sys.stderr) as p:
            for i, pod in enumerate(old, 1):
                name = pod["metadata"]["name"]
                p.update(f"replacing {name} ({i}/{total})")
                before = {q["metadata"]["uid"] for q in await self._pods_of(rc)}
                await self.client.pods(self.namespace).delete(name)
                deadline = loop.time() + args.timeout
                failure = None
                while True:
                    pods = await self._pods_of(rc)
                    fresh = [q for q in pods if q["metadata"]["uid"] not in before
                             and _runs(q.get("spec")) == new_runs]
                    if any(_ready(q) for q in fresh):
                        break
                    failure = next((b for b in map(_broken, fresh) if b), None)
                    if failure is None and loop.time() > deadline:
                        why = _unschedulable(fresh[0]) if fresh else ""
                        failure = f"no new pod became Ready within {args.timeout:.0f}s" + (f" ({why})" if why else "")
                    if failure:
                        break
                    state = pod_status(fresh[0]) if fresh else "waiting for the replacement"
                    p.update(f"replacing {name} ({i}/{total}): {state}")
                    await asyncio.sleep(0.3)
                if failure:
                    p.fail(f"aborted at pod {i}/{total}")
                    await self._restore_template(args.name, old_template)
                    print(f"rolling update of {args.name} aborted: {failure}\n"
                          f"  {i - 1} of {total} pods were replaced; the template is back to "
                          f"{','.join(_images_of(old_template['spec']))}, untouched pods keep running",
                          file=sys.stderr)
                    return 1
                if i < total and args.update_period > 0:
                    p.update(f"{i}/{total} replaced; next in {args.update_period:.0f}s")
                    await asyncio.sleep(args.update_period)
            p.done(f"{total}/{total} pods replaced")
        self._say(f"replicationcontrollers/{args.name} updated to {','.join(new_images)}")
        return 0

    async def _restore_template(self, name: str, template: dict) -> None:
        for _ in range(5):
            rc = await self._rc().get(name)
            rc["spec"]["template"] = template
            try:
                await self._rc().update(rc)
                return
            except errors.Conflict:
                continue

    async def logs(self, args) -> int:
        pods = self.client.pods(self.namespace)
        if args.follow:
            async for line in pods.log(args.pod, container=args.container, follow=True, tail_lines=args.tail):
                self._print(line)
            return 0
        self._print(await pods.log(args.pod, container=args.container, tail_lines=args.tail))
        return 0


# -- argparse wiring ----------------------------------------------------------------------
def _common(p: argparse.ArgumentParser, *, output: bool = True) -> None:
    p.add_argument("--kubeconfig", default=None,
                   help=f"kubeconfig to use (default $KUBECONFIG, else {DEFAULT_KUBECONFIG})")
    p.add_argument("-n", "--namespace", default=None, help="namespace (default: the kubeconfig context's)")
    if output:
        p.add_argument("-o", "--output", default="table", help="table, json, yaml or template=TEXT")


def add_kubecfg_commands(sub) -> None:
    p = sub.add_parser("list", help="list pods, services, replicationcontrollers, nodes, ...")
    p.add_argument("kind")
    p.add_argument("-l", "--selector", default=None, help="label selector, e.g. name=web")
    p.add_argument("-A", "--all-namespaces", action="store_true")
    _common(p)
    p.set_defaults(func=_verb("list"))
    p = sub.add_parser("get", help="show one object: KIND/NAME")
    p.add_argument("ref", help="KIND/NAME (or KIND NAME)")
    p.add_argument("name", nargs="?")
    _common(p)
    p.set_defaults(func=_verb("get"), all_namespaces=False)
    for verb, what in (("create", "create the objects in a file"), ("update", "replace objects from a file")):
        p = sub.add_parser(verb, help=what)
        p.add_argument("-c", "--config", required=True, help="YAML or JSON file, - for stdin")
        _common(p)
        p.set_defaults(func=_verb(verb))
    p = sub.add_parser("delete", help="delete one object: KIND/NAME")
    p.add_argument("ref")
    p.add_argument("name", nargs="?")
    _common(p, output=False)
    p.set_defaults(func=_verb("delete"))
    p = sub.add_parser("run", help="run IMAGE as REPLICAS pods labelled name=NAME (a replication controller)",
                       description="pyb run IMAGE REPLICAS NAME [-p HOST:CONTAINER[,...]] [-s PORT] [-- COMMAND ...]."
                       " With the process runtime the image is recorded and COMMAND is what runs.")
    p.add_argument("image")
    p.add_argument("replicas", type=int)
    p.add_argument("name")
    p.add_argument("-p", "--port", default=None, help="HOST:CONTAINER[,...] ports, e.g. 8181:80")
    p.add_argument("-s", "--service-port", type=int, default=None, help="also create a service on this port")
    _common(p, output=False)
    p.set_defaults(func=_verb("run"))
    p = sub.add_parser("resize", help="set a replication controller's replica count")
    p.add_argument("name")
    p.add_argument("replicas", type=int)
    _common(p, output=False)
    p.set_defaults(func=_verb("resize"))
    p = sub.add_parser("stop", help="resize a replication controller to 0 and wait for its pods to go")
    p.add_argument("name")
    p.add_argument("--timeout", type=parse_duration, default=300.0)
    _common(p, output=False)
    p.set_defaults(func=_verb("stop"))
    p = sub.add_parser("rm", help="delete a stopped replication controller")
    p.add_argument("name")
    _common(p, output=False)
    p.set_defaults(func=_verb("rm"))
    p = sub.add_parser("rollingupdate", help="replace a replication controller's pods one at a time")
    p.add_argument("name")
    p.add_argument("--image", default=None, help="the new image (default: restart on the current template)")
    p.add_argument("--update-period", type=parse_duration, default=60.0, help="wait between pods (60s)")
    p.add_argument("--timeout", type=parse_duration, default=300.0, help="wait for each new pod to be Ready")
    _common(p, output=False)
    p.set_defaults(func=_verb("rollingupdate"))
    p = sub.add_parser("logs", help="print a pod's log")
    p.add_argument("pod")
    p.add_argument("-c", "--container", default=None)
    p.add_argument("-f", "--follow", action="store_true")
    p.add_argument("--tail", type=int, default=None)
    _common(p, output=False)
    p.set_defaults(func=_verb("logs"))


def _verb(name: str):
    def command(args) -> int:
        return run_verb(name, args)
    command.__name__ = f"cmd_{name}"
    return command


def run_verb(name: str, args) -> int:
    source = resolve_kubeconfig(args.kubeconfig)
    if getattr(args, "output", None):
        try:
            from .output import parse_output
            parse_output(args.output)
        except OutputError as e:
            print(f"pyb {name}: {e}", file=sys.stderr)
            return 2

    async def go() -> int:
        client = Client.from_kubeconfig(source.path)
        try:
            verbs = Verbs(client, namespace=args.namespace or client.namespace)
            return await getattr(verbs, name)(args)
        except BaseException as e:
            e.server = client.config.server  # type: ignore[attr-defined]
            raise
        finally:
            await client.close()

    try:
        return asyncio.run(go())
    except KeyboardInterrupt:
        return 130
    except UsageError as e:
        print(f"pyb {name}: {e}", file=sys.stderr)
        return 2
    except (errors.ClientError, ValueError, OSError) as e:
        print(f"pyb {name}: {explain(e, source=source, server=getattr(e, 'server', ''))}", file=sys.stderr)
        return 1
