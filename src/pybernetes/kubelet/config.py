"""The kubelet's configuration (flags of `pyb kubelet`)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["KubeletConfig"]


@dataclass(frozen=True, slots=True)
class KubeletConfig:
    node_name: str
    root_dir: str
    runtime: str = "process"
    docker_endpoint: str | None = None  # docker runtime: $DOCKER_HOST, else the default Docker/Podman socket
    pod_infra_image: str = "pybernetes/pause:latest"
    max_pods: int = 110
    node_labels: dict[str, str] = field(default_factory=dict)
    register_with_taints: tuple[dict, ...] = ()
    pod_manifest_path: str | None = None
    address: str = "127.0.0.1"  # where the HTTPS (logs) server listens
    port: int = 10250  # 0: any free port (published in status.daemonEndpoints)
    token: str | None = None  # bearer token the log server accepts (shared with the apiserver)
    node_ip: str | None = None
    lease_duration: int = 40
    heartbeat_interval: float = 10.0  # lease renewals and node status posts
    sync_frequency: float = 60.0  # each pod is resynced at least this often
    volume_refresh: float = 10.0  # configMap/secret/downwardAPI volumes follow their objects
    crashloop_initial: float = 10.0
    crashloop_cap: float = 300.0
    crashloop_reset: float = 600.0
    log_max_size: int = 10 * 1024 * 1024
    log_max_files: int = 5
