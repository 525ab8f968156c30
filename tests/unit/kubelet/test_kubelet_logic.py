"""Pure parts of the kubelet: phase, env expansion, service env, backoff,
the atomic writer, downward API values, the apiserver's log proxy helpers."""

from __future__ import annotations

import os

import pytest

from pybernetes.apiserver import errors as api_errors
from pybernetes.apiserver.kubelet_proxy import kubelet_location, log_container
from pybernetes.kubelet.backoff import CrashLoopBackoff
from pybernetes.kubelet.envvars import expand, make_environment, service_env
from pybernetes.kubelet.fieldpath import extract_field_path, format_map, resource_field_value
from pybernetes.kubelet.runtime.logs import LogOptions, parse_line
from pybernetes.kubelet.status import pod_phase
from pybernetes.kubelet.volumes.atomic_writer import write_payload


def _st(name, state, last=None):
    s = {"name": name, "state": state, "lastState": {}}
    if last is not None:
        s["lastState"] = {"terminated": last}
    return s


@pytest.mark.parametrize(("policy", "statuses", "phase"), [
    ("Always", [_st("a", {"running": {}})], "Running"),
    ("Never", [_st("a", {"terminated": {"exitCode": 0}})], "Succeeded"),
    ("Never", [_st("a", {"terminated": {"exitCode": 1}})], "Failed"),
    ("OnFailure", [_st("a", {"terminated": {"exitCode": 1}})], "Running"),
    ("Always", [_st("a", {"waiting": {"reason": "CrashLoopBackOff"}}, {"exitCode": 1})], "Running"),
    ("Always", [_st("a", {"waiting": {"reason": "ContainerCreating"}})], "Pending"),
    ("Always", [], "Pending"),
])
def test_pod_phase(policy, statuses, phase):
    spec = {"restartPolicy": policy, "containers": [{"name": "a"}]}
    assert pod_phase(spec, [], statuses) == phase


def test_init_container_phase():
    spec = {"restartPolicy": "Never", "initContainers": [{"name": "i"}], "containers": [{"name": "a"}]}
    assert pod_phase(spec, [_st("i", {"running": {}})], []) == "Pending"
    assert pod_phase(spec, [_st("i", {"terminated": {"exitCode": 2}})], []) == "Failed"
    spec["restartPolicy"] = "Always"
    assert pod_phase(spec, [_st("i", {"waiting": {}}, {"exitCode": 2})], []) == "Pending"


def test_expand_like_kubernetes():
    env = {"A": "1", "B": "two"}
    assert expand("$(A)-$(B)", env) == "1-two"
    assert expand("$(MISSING)", env) == "$(MISSING)"
    assert expand("$$(A)", env) == "$(A)"
    assert expand("$(A", env) == "$(A"


def test_service_env():
    svc = {"metadata": {"name": "my-svc"}, "spec": {"clusterIP": "10.0.0.5", "ports": [
        {"name": "http", "port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}}
    headless = {"metadata": {"name": "hl"}, "spec": {"clusterIP": "None", "ports": [{"port": 1}]}}
    env = service_env([svc, headless])
    assert env["MY_SVC_SERVICE_HOST"] == "10.0.0.5" and env["MY_SVC_SERVICE_PORT"] == "80"
    assert env["MY_SVC_SERVICE_PORT_HTTP"] == "80"
    assert env["MY_SVC_PORT"] == "tcp://10.0.0.5:80"
    assert env["MY_SVC_PORT_53_UDP_PROTO"] == "udp" and env["MY_SVC_PORT_53_UDP_ADDR"] == "10.0.0.5"
    assert not any(k.startswith("HL_") for k in env)


def test_crash_loop_backoff_doubles_caps_and_resets():
    now = [1000.0]
    b = CrashLoopBackoff(clock=lambda: now[0])
    key = ("uid", "c")
    assert b.remaining(key, started_at=999, finished_at=1000) == 0  # first restart: at once
    delays = [b.restarted(key) for _ in range(7)]
    assert delays == [10, 20, 40, 80, 160, 300, 300]
    assert b.remaining(key, started_at=999, finished_at=1000) == 300
    # Ran for 10 minutes: starts over.
    assert b.remaining(key, started_at=0, finished_at=1000) == 0
    assert b.restarted(key) == 10


def test_atomic_writer_swaps_and_prunes(tmp_path):
    target = str(tmp_path / "v")
    assert write_payload(target, {"a": (b"1", 0o644), "d/b": (b"2", 0o600)})
    assert not write_payload(target, {"a": (b"1", 0o644), "d/b": (b"2", 0o600)})  # unchanged
    assert (tmp_path / "v" / "a").read_bytes() == b"1"
    assert os.stat(tmp_path / "v" / "d" / "b").st_mode & 0o777 == 0o600
    assert write_payload(target, {"a": (b"new", 0o644)})
    assert (tmp_path / "v" / "a").read_bytes() == b"new"
    assert not (tmp_path / "v" / "d").exists()
    assert len([e for e in os.listdir(target) if e.startswith("..") and e != "..data"]) == 1


def test_downward_values():
    pod = {"metadata": {"name": "p", "namespace": "ns", "labels": {"b": "2", "a": 'q"x'}},
           "spec": {"nodeName": "n", "containers": [{"name": "c", "resources": {"requests": {"cpu": "250m"}}}]},
           "status": {"podIP": "1.2.3.4"}}
    assert extract_field_path(pod, "metadata.labels['b']") == "2"
    assert extract_field_path(pod, "status.podIP") == "1.2.3.4"
    assert format_map(pod["metadata"]["labels"]) == 'a="q\\"x"\nb="2"'
    assert resource_field_value(pod, "c", "requests.cpu", "1m", {}) == "250"
    assert resource_field_value(pod, "c", "limits.cpu", None, {"cpu": "4"}) == "4"  # node allocatable


async def test_ips_in_env_before_status_holds_them():
    pod = {"metadata": {"name": "p", "namespace": "ns"}, "spec": {"containers": []}, "status": {}}
    c = {"name": "c", "env": [{"name": n, "valueFrom": {"fieldRef": {"fieldPath": f}}} for n, f in (
        ("POD_IP", "status.podIP"), ("POD_IPS", "status.podIPs"), ("HOST_IP", "status.hostIP"),
        ("HOST_IPS", "status.hostIPs"))]}

    async def no_objects(*_):
        return None

    env = await make_environment(pod, c, get_object=no_objects, services=[], node_allocatable={},
                                 pod_ip="10.0.0.7", host_ip="192.168.1.2")
    assert (env["POD_IP"], env["POD_IPS"], env["HOST_IP"], env["HOST_IPS"]) == \
        ("10.0.0.7", "10.0.0.7", "192.168.1.2", "192.168.1.2")
    assert pod["status"] == {}  # the caller's pod is not changed
    env = await make_environment(pod, c, get_object=no_objects, services=[], node_allocatable={})
    assert env["POD_IP"] == ""


def test_cri_log_lines():
    assert parse_line(b"2024-01-01T00:00:00.000000001Z stdout F hello world") == \
        (b"2024-01-01T00:00:00.000000001Z", b"stdout", True, b"hello world")
    assert LogOptions().render(b"2024-01-01T00:00:00.5Z stderr P part") == b"part"
    assert LogOptions(timestamps=True).render(b"2024-01-01T00:00:00.5Z stdout F x") == b"2024-01-01T00:00:00.5Z x\n"


def test_log_proxy_helpers():
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}, {"name": "b"}],
                                               "initContainers": [{"name": "i"}]}}
    with pytest.raises(api_errors.APIError) as e:
        log_container(pod, None)
    assert e.value.code == 400
    assert e.value.message == ("a container name must be specified for pod p, choose one of: [a b] "
                               "or one of the init containers: [i]")
    assert log_container(pod, "i") == "i"
    with pytest.raises(api_errors.APIError, match="container z is not valid for pod p"):
        log_container(pod, "z")
    node = {"metadata": {"name": "n"}, "status": {"daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                                                  "addresses": [{"type": "Hostname", "address": "h"},
                                                                {"type": "InternalIP", "address": "10.0.0.9"}]}}
    assert kubelet_location(node) == ("10.0.0.9", 10250)
