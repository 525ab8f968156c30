"""Pod spec → engine options (docker_config.py, pure functions; no engine needed)
and the CRI log helpers of docker_logs.py."""

from __future__ import annotations

from pybernetes.kubelet.runtime.docker_config import (
    container_name,
    create_kwargs,
    milli_cpu_to_quota,
    milli_cpu_to_shares,
    port_bindings,
    pull_policy,
    resources,
    sandbox_name,
    security,
    split_command,
    termination_message,
)
from pybernetes.kubelet.runtime.docker_logs import last_second_counts, normalize_timestamp
from pybernetes.kubelet.runtime.interface import ContainerConfig, Mount


def test_pull_policy_defaults_as_kubernetes():
    assert pull_policy({}, "busybox") == "Always"
    assert pull_policy({}, "busybox:latest") == "Always"
    assert pull_policy({}, "busybox:1.36") == "IfNotPresent"
    assert pull_policy({}, "localhost:5000/busybox") == "Always"  # a registry port is not a tag
    assert pull_policy({}, "localhost:5000/busybox:1.0") == "IfNotPresent"
    assert pull_policy({}, "busybox@sha256:" + "a" * 64) == "IfNotPresent"
    assert pull_policy({"imagePullPolicy": "Never"}, "busybox") == "Never"


def test_command_and_args_map_to_entrypoint_and_cmd():
    assert split_command(("sh", "-c", "x"), {"command": ["sh", "-c"], "args": ["x"]}) == (["sh", "-c"], ["x"])
    assert split_command(("sh",), {"command": ["sh"]}) == (["sh"], [])  # command drops the image's CMD
    assert split_command(("-c", "x"), {"args": ["-c", "x"]}) == (None, ["-c", "x"])  # image entrypoint kept
    assert split_command((), {}) == (None, None)
    assert split_command(("a", "b"), None) == (["a", "b"], [])


def test_resources_as_dockershim_converted_them():
    assert milli_cpu_to_shares(0) == 2 and milli_cpu_to_shares(1) == 2 and milli_cpu_to_shares(250) == 256
    assert milli_cpu_to_quota(500) == 50_000 and milli_cpu_to_quota(1) == 1000
    r = resources({"resources": {"limits": {"cpu": "1500m", "memory": "64Mi"}}})
    assert r == {"cpu_shares": 1536, "cpu_period": 100_000, "cpu_quota": 150_000,
                 "mem_limit": 64 * 1024 * 1024, "memswap_limit": 64 * 1024 * 1024}
    assert resources({}) == {"cpu_shares": 2}


def test_security_context_container_wins_over_pod():
    pod = {"spec": {"securityContext": {"runAsUser": 1000, "runAsGroup": 3000, "fsGroup": 2000,
                                        "supplementalGroups": [5]}}}
    s = security({"securityContext": {"runAsUser": 0, "privileged": True, "readOnlyRootFilesystem": True,
                                      "capabilities": {"add": ["NET_ADMIN"], "drop": ["all"]},
                                      "allowPrivilegeEscalation": False}}, pod)
    assert s == {"user": "0:3000", "group_add": ["5", "2000"], "privileged": True, "read_only": True,
                 "cap_add": ["CAP_NET_ADMIN"], "cap_drop": ["ALL"], "security_opt": ["no-new-privileges"]}
    assert security({}, {}) == {}


def test_host_ports_names_and_termination_defaults():
    pod = {"spec": {"containers": [
        {"ports": [{"containerPort": 80, "hostPort": 8181}, {"containerPort": 53, "hostPort": 5353,
                                                              "protocol": "UDP", "hostIP": "127.0.0.1"},
                   {"containerPort": 9000}]},
        {"ports": [{"containerPort": 81, "hostPort": 8282, "hostIP": "0.0.0.0"}]}]}}
    assert port_bindings(pod) == {"80/tcp": 8181, "53/udp": ("127.0.0.1", 5353), "81/tcp": 8282}
    assert sandbox_name(uid="u", namespace="ns", name="p") == "k8s_POD_p_ns_u_0"
    assert termination_message({}) == ("/dev/termination-log", "File")


def test_create_kwargs_join_the_sandbox_and_mount_volumes():
    cfg = ContainerConfig(pod_uid="u", pod_namespace="ns", pod_name="p", name="c", attempt=2, image="busybox:1",
                          argv=("sh", "-c", "true"), env=(("A", "1"),), working_dir="/w",
                          mounts=(Mount(host_path="/h", container_path="/d", read_only=True),))
    kw = create_kwargs(cfg, spec={"command": ["sh", "-c", "true"]}, pod=None, sandbox_id="S", root="/r",
                       termination_file="/t")
    assert kw["name"] == container_name(cfg) == "k8s_c_p_ns_u_2"
    assert kw["entrypoint"] == ["sh", "-c", "true"] and kw["command"] == []
    assert kw["environment"] == ["A=1"] and kw["working_dir"] == "/w"
    host = kw["host_config"]
    assert host["network_mode"] == "container:S" and host["ipc_mode"] == "container:S"
    mounts = [(m["Target"], m["Source"], m["ReadOnly"]) for m in host["mounts"]]
    assert mounts == [("/d", "/h", True), ("/dev/termination-log", "/t", False)]
    assert kw["labels"]["io.kubernetes.container.restartCount"] == "2"
    assert kw["labels"]["io.kubernetes.sandbox.id"] == "S"


def test_log_timestamps_and_resume_counts(tmp_path):
    assert normalize_timestamp(b"2026-01-02T03:04:05Z") == b"2026-01-02T03:04:05.000000000Z"
    assert normalize_timestamp(b"2026-01-02T03:04:05.5Z") == b"2026-01-02T03:04:05.500000000Z"
    log = tmp_path / "0.log"
    log.write_bytes(b"2026-01-02T03:04:04.000000000Z stdout F a\n"
                    b"2026-01-02T03:04:05.000000000Z stdout F b\n"
                    b"2026-01-02T03:04:05.000000000Z stderr F e\n"
                    b"2026-01-02T03:04:05.000000000Z stdout P c-part\n"
                    b"2026-01-02T03:04:05.000000000Z stdout F c\n")
    assert last_second_counts(str(log)) == {b"stdout": (b"2026-01-02T03:04:05", 2),
                                            b"stderr": (b"2026-01-02T03:04:05", 1)}
    assert last_second_counts(str(tmp_path / "none")) == {}


async def test_start_gate_limits_and_prefers_app_containers():
    import asyncio

    from pybernetes.kubelet.runtime.docker import _StartGate

    gate = _StartGate(2)
    order: list[str] = []
    release = asyncio.Event()

    async def job(name: str, priority: int) -> None:
        async with gate.slot(priority=priority):
            order.append(name)
            await release.wait()

    tasks = [asyncio.create_task(job(f"sandbox-{i}", 1)) for i in range(4)]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(job("app", 0)))
    await asyncio.sleep(0.01)
    assert order == ["sandbox-0", "sandbox-1"] and gate.busy == 2  # the limit holds
    release.set()
    await asyncio.gather(*tasks)
    assert order[2] == "app"  # queued last, served first
    assert gate.busy == 0
