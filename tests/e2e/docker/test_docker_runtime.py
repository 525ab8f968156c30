"""The docker runtime itself against Podman, without a kubelet: image pull
policy and pull failures with their waiting reasons, the image's own
entrypoint, exec, log resumption, adoption by a second runtime object."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from pathlib import Path

import pytest

from pybernetes.kubelet.runtime.docker import DockerRuntime, ImagePullError
from pybernetes.kubelet.runtime.docker_images import BUSYBOX_IMAGE, busybox_rootfs_tar
from pybernetes.kubelet.runtime.interface import ContainerConfig, SandboxConfig

from .conftest import remove_containers_of, wait_for

pytestmark = pytest.mark.timeout(120)


def _pod(uid: str, containers: list[dict]) -> dict:
    return {"metadata": {"uid": uid, "name": "p", "namespace": "default"}, "spec": {"containers": containers}}


def _config(uid: str, name: str, image: str, argv: tuple[str, ...] = (), attempt: int = 0) -> ContainerConfig:
    return ContainerConfig(pod_uid=uid, pod_namespace="default", pod_name="p", name=name, attempt=attempt,
                           image=image, argv=argv)


@pytest.fixture
async def runtime(tmp_path, podman_endpoint):
    pods: dict[str, dict] = {}
    exits: list[str] = []
    rt = DockerRuntime(str(tmp_path / "root"), endpoint=podman_endpoint, on_exit=exits.append,
                       pod_source=pods.get)
    rt.test_pods, rt.test_exits = pods, exits
    try:
        yield rt
    finally:
        await rt.close()
        remove_containers_of(tmp_path / "root", podman_endpoint)


async def _sandbox(rt, containers: list[dict]) -> str:
    uid = str(uuid.uuid4())
    rt.test_pods[uid] = _pod(uid, containers)
    await rt.create_sandbox(SandboxConfig(uid=uid, namespace="default", name="p"))
    return uid


async def test_pull_failures_and_backoff_reasons(runtime):
    image = "registry.invalid/nosuch/image:1.0"
    uid = await _sandbox(runtime, [{"name": "c", "image": image}])
    with pytest.raises(ImagePullError) as e:
        await runtime.start_container(_config(uid, "c", image, ("true",)))
    # the pod is synced again within its 10 s back-off, to show ImagePullBackOff
    assert e.value.reason == "ErrImagePull" and "registry.invalid" in e.value.message and e.value.retry_after == 1
    with pytest.raises(ImagePullError) as e:
        await runtime.start_container(_config(uid, "c", image, ("true",)))
    assert e.value.reason == "ImagePullBackOff" and e.value.message == f'Back-off pulling image "{image}"'
    assert 0 < e.value.retry_after <= 10
    runtime.test_pods[uid]["spec"]["containers"].append({"name": "n", "image": image, "imagePullPolicy": "Never"})
    with pytest.raises(ImagePullError) as e:
        await runtime.start_container(_config(uid, "n", image, ("true",)))
    assert e.value.reason == "ErrImageNeverPull"
    assert e.value.message == f'Container image "{image}" is not present with pull policy of Never'
    # busybox:latest defaults to Always: the pull is tried (and fails here, there is no registry),
    # even though the image is present — Kubernetes' rule, not a shortcut.
    runtime.test_pods[uid]["spec"]["containers"].append({"name": "l", "image": BUSYBOX_IMAGE})
    with pytest.raises(ImagePullError) as e:
        await runtime.start_container(_config(uid, "l", BUSYBOX_IMAGE, ("true",)))
    assert e.value.reason == "ErrImagePull"


async def test_an_image_removed_after_use_is_looked_for_again(runtime, podman_endpoint):
    """The runtime remembers images it saw present (no inspect per
    container); one removed behind its back is looked for again — and, not
    pullable here, reported as ErrImagePull rather than a create failure."""
    import docker

    image = f"pyb-test/vanishing:{uuid.uuid4().hex[:8]}"
    client = docker.DockerClient(base_url=podman_endpoint, version="1.41")
    try:
        repo, tag = image.split(":")
        client.api.tag(BUSYBOX_IMAGE, repo, tag)
        spec = {"name": "c", "image": image, "imagePullPolicy": "IfNotPresent", "command": ["true"]}
        uid = await _sandbox(runtime, [spec])
        first = await runtime.start_container(_config(uid, "c", image, ("true",)))
        await wait_for(lambda: runtime.container_status(first.id).state == "exited", what="exit")
        await runtime.remove_container(first.id)
        client.api.remove_image(image)
        with pytest.raises(ImagePullError) as e:
            await runtime.start_container(_config(uid, "c", image, ("true",), attempt=1))
        assert e.value.reason == "ErrImagePull" and "vanishing" in e.value.message
    finally:
        with contextlib.suppress(docker.errors.NotFound):  # removed above unless the test failed first
            client.api.remove_image(image)
        client.close()


async def test_image_cmd_exec_and_adoption_with_log_resumption(runtime, tmp_path, podman_endpoint):
    spec = {"name": "c", "image": BUSYBOX_IMAGE, "imagePullPolicy": "IfNotPresent"}
    uid = await _sandbox(runtime, [spec])
    assert runtime.sandbox_ip(uid).count(".") == 3
    # No command: the image's CMD (sh) runs; with stdin closed it exits 0.
    st = await runtime.start_container(_config(uid, "c", BUSYBOX_IMAGE))
    await wait_for(lambda: runtime.container_status(st.id).state == "exited", what="exit")
    assert runtime.container_status(st.id).exit_code == 0
    assert runtime.container_status(st.id).reason == "Completed"
    await wait_for(lambda: uid in runtime.test_exits, what="the exit announced")
    runtime.test_pods[uid]["spec"]["containers"].append(
        {"name": "s", "image": BUSYBOX_IMAGE, "imagePullPolicy": "IfNotPresent", "command": ["sh", "-c"]})
    st = await runtime.start_container(_config(uid, "s", BUSYBOX_IMAGE, ("sh", "-c", "echo one; exec sleep 1000")))
    res = await runtime.exec_sync(st.id, ["sh", "-c", "echo $((6*7)); exit 4"], timeout=10)
    assert (res.exit_code, res.output) == (4, b"42\n")
    res = await runtime.exec_sync(st.id, ["sleep", "5"], timeout=0.5)
    assert res.timed_out
    await wait_for(lambda: Path(st.log_path).read_text().endswith(" stdout F one\n"), what="log line")
    await runtime.close()
    # A second runtime over the same root adopts both containers and the sandbox, once.
    again = DockerRuntime(runtime.root, endpoint=podman_endpoint, pod_source=runtime.test_pods.get)
    try:
        found = {c.name: c for c in await again.recover()}
        assert set(found) == {"c", "s"} and found["s"].state == "running" and found["s"].id == st.id
        assert again.list_sandboxes() == [uid]
        await asyncio.sleep(1)
        assert (await asyncio.to_thread(Path(st.log_path).read_text)).count("one") == 1
        await again.stop_container(st.id, grace_period=1)
        assert again.container_status(st.id).exit_code == 137  # PID 1 without a TERM handler ignores SIGTERM
        await again.remove_sandbox(uid)
        assert again.list_containers() == [] and again.list_sandboxes() == []
    finally:
        await again.close()


def test_busybox_rootfs_has_applets_and_users():
    import io
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(busybox_rootfs_tar())) as tar:
        names = set(tar.getnames())
        assert {"bin/busybox", "bin/sh", "bin/httpd", "etc/passwd", "tmp"} <= names
        assert tar.getmember("bin/sh").linkname == "busybox"
        assert b"nobody:x:65534" in tar.extractfile("etc/passwd").read()
