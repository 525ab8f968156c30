"""Nodes on "other hosts": three `pyb kubelet --runtime process`, each in its own
network namespace joined to the host by a veth pair with its own address.

On the host: `pyb apiserver` bound to the host end of the first pair (plain
HTTP with a token file), `pyb scheduler` and `pyb controller-manager` (short
node-monitor grace period and pod eviction timeout). The test shows: each Node
reports its namespace's address as InternalIP; an RC of 6 http.server pods
spreads over the 3 nodes; the apiserver fetches a pod's log from its kubelet
across the veth; tearing one namespace down (kubelet SIGKILLed by pid, its pods'
processes killed, `ip netns del`) turns the node NotReady and its pods are
replaced on the others. Every process started in a namespace is stopped by pid.

A second test puts two apiservers on one etcd and kills one under the nodes:
everything fails over to the other (kubeconfig failover extension).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import urllib.request

import pytest

from pybernetes.client import Client, KubeConfig
from tests.conftest import APIServerProcess

from .conftest import wait_for
from .netns import NodeNetwork, free_subnet, netns_missing_reason, new_tag

_MISSING = netns_missing_reason()
if _MISSING:
    pytest.skip(f"SKIPPING network-namespace node tests: {_MISSING}", allow_module_level=True)

ADMIN_TOKEN = "netns-admin-token"
KUBELET_TOKEN = "netns-kubelet-token"
WAIT = 90.0  # generous: six processes and a scheduler on a shared 2-core machine


def _ready(node: dict) -> str:
    for c in (node.get("status") or {}).get("conditions") or ():
        if c.get("type") == "Ready":
            return c.get("status") or ""
    return ""


def _internal_ip(node: dict) -> str:
    for a in (node.get("status") or {}).get("addresses") or ():
        if a.get("type") == "InternalIP":
            return a.get("address") or ""
    return ""


def _rc(replicas: int) -> dict:
    container = {"name": "web", "image": "python:3", "command": ["python3", "-u", "-m", "http.server", "0"]}
    # Evicted 2 s after their node is tainted unreachable/not-ready, instead of the
    # 300 s Kubernetes' DefaultTolerationSeconds gives every pod.
    tolerations = [{"key": f"node.kubernetes.io/{key}", "operator": "Exists", "effect": "NoExecute",
                    "tolerationSeconds": 2} for key in ("unreachable", "not-ready")]
    return {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "selector": {"app": "web"},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [container], "tolerations": tolerations}}}}


async def _live_pods(client: Client, ns: str) -> list[dict]:
    pods = (await client.pods(ns).list(label_selector="app=web"))["items"]
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


async def _running_on(client: Client, ns: str, n: int, nodes: set[str]) -> list[dict] | None:
    pods = await _live_pods(client, ns)
    ok = (len(pods) == n and all(p.get("status", {}).get("phase") == "Running" for p in pods)
          and {p["spec"].get("nodeName") for p in pods} <= nodes)
    return pods if ok else None


async def test_three_nodes_in_network_namespaces(tmp_path, components):
    tag, subnet = new_tag(), free_subnet()
    nets: list[NodeNetwork] = []
    kubelets = []
    try:
        for i in range(3):
            nets.append(NodeNetwork.make(tag=tag, index=i, subnet=subnet))
        tokens = tmp_path / "tokens.csv"
        tokens.write_text(f'{ADMIN_TOKEN},admin,admin-uid,"system:masters"\n')
        kubelet_token = tmp_path / "kubelet-token"
        kubelet_token.write_text(KUBELET_TOKEN + "\n")
        # Bound to the host end of the first pair: the other namespaces reach it by their default route.
        apiserver = APIServerProcess(tmp_path / "apiserver", (
            "--address", nets[0].host_ip, "--token-auth-file", str(tokens),
            "--kubelet-client-token-file", str(kubelet_token))).start()
        try:
            kubeconfig = tmp_path / "kubeconfig"
            kubeconfig.write_text(
                "apiVersion: v1\nkind: Config\n"
                f"clusters:\n- name: c\n  cluster:\n    server: {apiserver.url}\n"
                f"users:\n- name: admin\n  user:\n    token: {ADMIN_TOKEN}\n"
                "contexts:\n- name: c\n  context:\n    cluster: c\n    user: admin\n"
                "current-context: c\n")
            client = Client(KubeConfig(server=apiserver.url, token=ADMIN_TOKEN))
            try:
                await _scenario(client, tmp_path, kubeconfig, kubelet_token, nets, kubelets, components, tag)
            finally:
                await client.close()
        finally:
            for k in kubelets:
                k.stop()
            apiserver.stop()
    finally:
        for net in nets:
            net.delete()


async def _scenario(client, tmp_path, kubeconfig, kubelet_token, nets, kubelets, components, tag) -> None:
    kc = ["--kubeconfig", str(kubeconfig)]
    components(["scheduler", *kc, "--leader-elect", "false"], ready="scheduler started")
    components(["controller-manager", *kc, "--no-leader-elect", "--node-monitor-grace-period", "8",
                "--node-monitor-period", "1", "--pod-eviction-timeout", "2"], ready="controller-manager started")
    names = [f"{tag}-node{i}" for i in range(3)]
    for i, net in enumerate(nets):
        kubelets.append(components(
            ["kubelet", *kc, "--node-name", names[i], "--root-dir", str(tmp_path / f"kubelet{i}"),
             "--runtime", "process", "--address", net.ns_ip, "--node-ip", net.ns_ip, "--port", "10250",
             "--token-file", str(kubelet_token), "--heartbeat-interval", "1"],
            ready="kubelet listening on", prefix=net.exec_prefix))
        assert kubelets[-1].pid in net.pids(), "the kubelet runs inside its namespace"

    # Each Node registers and reports its own namespace's address.
    async def registered():
        nodes = {n["metadata"]["name"]: n for n in (await client.nodes().list())["items"]}
        return all(name in nodes and _ready(nodes[name]) == "True" for name in names) and nodes
    nodes = await wait_for(registered, WAIT, what="3 Ready nodes")
    for name, net in zip(names, nets, strict=True):
        assert _internal_ip(nodes[name]) == net.ns_ip

    ns = f"web-{tag}"
    await client.namespaces().create({"metadata": {"name": ns}})
    await client.replication_controllers(ns).create(_rc(6))
    pods = await wait_for(lambda: _running_on(client, ns, 6, set(names)), WAIT, what="6 running pods")
    assert {p["spec"]["nodeName"] for p in pods} == set(names), "the RC's pods spread over the 3 nodes"
    ip_of = dict(zip(names, (n.ns_ip for n in nets), strict=True))
    for p in pods:
        assert p["status"]["hostIP"] == ip_of[p["spec"]["nodeName"]]

    # pods/log: the apiserver (on the host) fetches each node's log across its veth;
    # the pod serves on its node's address, reachable from the host.
    for name in names:
        pod = next(p for p in pods if p["spec"]["nodeName"] == name)
        text = await wait_for(lambda pod=pod: _serving_log(client, ns, pod), WAIT, what=f"log of a pod on {name}")
        port = int(re.search(r"port (\d+)", text).group(1))
        body = await asyncio.to_thread(_http_get, f"http://{ip_of[name]}:{port}/")
        assert "Directory listing" in body

    # Tear the last node's "host" down: kubelet SIGKILLed by pid, its pods' processes
    # killed by pid (nothing else would stop them), the namespace deleted.
    gone, gone_net, gone_kubelet = names[2], nets[2], kubelets[2]
    on_gone = {p["metadata"]["name"] for p in pods if p["spec"]["nodeName"] == gone}
    gone_kubelet.kill()
    torn_down = time.monotonic()
    pod_pids = gone_net.kill_all()
    assert pod_pids, "the node's pods ran as processes inside its namespace"
    gone_net.delete()
    # SIGKILLed processes may take a moment to finish exiting (their mount namespaces unwind).
    await wait_for(lambda: not [pid for pid in pod_pids if _alive(pid)], 30,
                   what=f"the pod processes of the torn-down node ({pod_pids}) gone")

    async def not_ready():
        return _ready(await client.nodes().get(gone)) != "True"
    await wait_for(not_ready, WAIT, what=f"{gone} NotReady")
    not_ready_after = time.monotonic() - torn_down
    try:
        replaced = await wait_for(lambda: _running_on(client, ns, 6, set(names[:2])), WAIT,
                                  what="6 running pods on the 2 live nodes")
    except AssertionError as e:
        raise AssertionError(f"{e}\n{await _describe(client, ns)}") from None
    assert not on_gone & {p["metadata"]["name"] for p in replaced}, "the lost pods were replaced, not moved"
    print(f"netns teardown: {gone} NotReady after {not_ready_after:.1f} s (grace 8 s), its {len(on_gone)} pods "
          f"running elsewhere after {time.monotonic() - torn_down:.1f} s (toleration 2 s)")

    # Scale to zero: the live kubelets stop their pods. Containers run in their own
    # sessions; what remains in each namespace is the kubelet's session (it and its helpers).
    for k, net in zip(kubelets[:2], nets[:2], strict=True):
        assert _containers_left(net, k.pid), f"{net.name} runs its pods' processes"
    rc = await client.replication_controllers(ns).get("web")
    rc["spec"]["replicas"] = 0
    await client.replication_controllers(ns).update(rc)
    for k, net in zip(kubelets[:2], nets[:2], strict=True):
        try:
            await wait_for(lambda k=k, net=net: _containers_left(net, k.pid) == [], WAIT,
                           what=f"no container process left in {net.name}")
        except AssertionError as e:
            left = {pid: _cmdline(pid) for pid in net.pids()}
            raise AssertionError(f"{e}: kubelet {k.pid}, in the namespace: {left}\n"
                                 f"{await _describe(client, ns)}") from None


async def _describe(client: Client, ns: str) -> str:
    """Pods and nodes, one line each (for a failure message)."""
    lines = []
    for p in (await client.pods(ns).list())["items"]:
        lines.append(f"pod {p['metadata']['name']} node={p['spec'].get('nodeName')} "
                     f"phase={p.get('status', {}).get('phase')} deleting={p['metadata'].get('deletionTimestamp')}")
    for n in (await client.nodes().list())["items"]:
        lines.append(f"node {n['metadata']['name']} ready={_ready(n)} taints={n['spec'].get('taints')}")
    return "\n".join(lines)


async def _serving_log(client: Client, ns: str, pod: dict) -> str | None:
    text = await client.pods(ns).log(pod["metadata"]["name"])
    return text if "Serving HTTP on" in text else None


def _http_get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode(errors="replace")


def _session(pid: int) -> int | None:
    with contextlib.suppress(OSError, IndexError, ValueError), open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[3])  # after comm: state ppid pgrp session
    return None


def _containers_left(net: NodeNetwork, kubelet_pid: int) -> list[int]:
    """Processes in ``net`` outside the kubelet's session (containers run under setsid)."""
    sid = _session(kubelet_pid)
    return [pid for pid in net.pids() if _session(pid) not in (sid, None)]


def _cmdline(pid: int) -> str:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    return ""


def _alive(pid: int) -> bool:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as f:
        return f.read().split(") ", 1)[1][:1] != "Z"
    return False



def _kubeconfig(path, *, server: str, failover: list[str]) -> None:
    """An admin kubeconfig naming ``server``, with failover URLs in pybernetes' cluster extension."""
    ext = ("    extensions:\n    - name: pybernetes.io/failover-servers\n"
           f"      extension: {{servers: [{', '.join(failover)}]}}\n") if failover else ""
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: c\n  cluster:\n    server: {server}\n{ext}"
        f"users:\n- name: admin\n  user:\n    token: {ADMIN_TOKEN}\n"
        "contexts:\n- name: c\n  context:\n    cluster: c\n    user: admin\n"
        "current-context: c\n")


async def _renew_times(client: Client, names: list[str]) -> dict[str, str]:
    leases = client.leases("kube-node-lease")
    return {n: (await leases.get(n))["spec"].get("renewTime") or "" for n in names}


async def test_nodes_in_namespaces_outlive_an_apiserver(tmp_path, components, etcd):
    """Two apiservers on one etcd, bound to the host ends of two veth pairs; the
    kubelets (in their namespaces), scheduler and controller manager name the
    first in their kubeconfig and the second as failover. SIGKILL the first:
    heartbeats continue through the second, the nodes stay Ready, an RC scaled
    up gets its new pods scheduled and running, and their logs come through the
    second apiserver across the veth."""
    tag, subnet = new_tag(), free_subnet()
    nets: list[NodeNetwork] = []
    kubelets = []
    apiservers: list[APIServerProcess] = []
    try:
        for i in range(2):
            nets.append(NodeNetwork.make(tag=tag, index=i, subnet=subnet))
        tokens = tmp_path / "tokens.csv"
        tokens.write_text(f'{ADMIN_TOKEN},admin,admin-uid,"system:masters"\n')
        kubelet_token = tmp_path / "kubelet-token"
        kubelet_token.write_text(KUBELET_TOKEN + "\n")
        common = ("--storage", "etcd", "--etcd-servers", ",".join(etcd.client_urls), "--token-auth-file",
                  str(tokens), "--kubelet-client-token-file", str(kubelet_token))
        for i, net in enumerate(nets):
            apiservers.append(APIServerProcess(tmp_path / f"apiserver{i}", ("--address", net.host_ip, *common)))
            apiservers[-1].start()
        a, b = apiservers
        kubeconfig = tmp_path / "kubeconfig"
        _kubeconfig(kubeconfig, server=a.url, failover=[b.url])
        client = Client(KubeConfig(server=a.url, token=ADMIN_TOKEN, failover_servers=(b.url,)))
        try:
            kc = ["--kubeconfig", str(kubeconfig)]
            components(["scheduler", *kc, "--leader-elect", "false"], ready="scheduler started")
            components(["controller-manager", *kc, "--no-leader-elect", "--node-monitor-grace-period", "8",
                        "--node-monitor-period", "1"], ready="controller-manager started")
            names = [f"{tag}-node{i}" for i in range(2)]
            for i, net in enumerate(nets):
                kubelets.append(components(
                    ["kubelet", *kc, "--node-name", names[i], "--root-dir", str(tmp_path / f"kubelet{i}"),
                     "--runtime", "process", "--address", net.ns_ip, "--node-ip", net.ns_ip, "--port", "10250",
                     "--token-file", str(kubelet_token), "--heartbeat-interval", "1"],
                    ready="kubelet listening on", prefix=net.exec_prefix))

            async def all_ready():
                nodes = {n["metadata"]["name"]: n for n in (await client.nodes().list())["items"]}
                return all(n in nodes and _ready(nodes[n]) == "True" for n in names)
            await wait_for(all_ready, WAIT, what="2 Ready nodes")
            ns = f"web-{tag}"
            await client.namespaces().create({"metadata": {"name": ns}})
            await client.replication_controllers(ns).create(_rc(2))
            await wait_for(lambda: _running_on(client, ns, 2, set(names)), WAIT, what="2 running pods")

            a.kill()
            killed = time.monotonic()
            first = await _renew_times(client, names)  # through b: the client failed over
            assert client.backend.server == b.url
            await wait_for(lambda: _all_changed(client, names, first), WAIT,
                           what="every kubelet renews its node Lease through b")
            rc = await client.replication_controllers(ns).get("web")
            rc["spec"]["replicas"] = 6
            await client.replication_controllers(ns).update(rc)
            pods = await wait_for(lambda: _running_on(client, ns, 6, set(names)), WAIT,
                                  what="6 running pods after a died")
            for name in names:
                pod = next(p for p in pods if p["spec"]["nodeName"] == name)
                await wait_for(lambda pod=pod: _serving_log(client, ns, pod), WAIT,
                               what=f"log of a pod on {name} through b")
            await wait_for(all_ready, WAIT, what="both nodes Ready")
            print(f"apiserver loss across namespaces: RC scaled and running {time.monotonic() - killed:.1f} s "
                  "after SIGKILL of the first apiserver")
            for k in kubelets:
                assert "failing over to " + b.url in k.log.read_text(errors="replace")

            rc = await client.replication_controllers(ns).get("web")
            rc["spec"]["replicas"] = 0
            await client.replication_controllers(ns).update(rc)
            for k, net in zip(kubelets, nets, strict=True):
                await wait_for(lambda k=k, net=net: _containers_left(net, k.pid) == [], WAIT,
                               what=f"no container process left in {net.name}")
        finally:
            await client.close()
            for k in kubelets:
                k.stop()
            for s in apiservers:
                s.stop()
    finally:
        for net in nets:
            net.delete()


async def _all_changed(client: Client, names: list[str], before: dict[str, str]) -> bool:
    now = await _renew_times(client, names)
    return all(now[n] != before[n] for n in names)
