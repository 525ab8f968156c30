"""What starts one container of the process runtime: the *launch spec* the
spawn helper executes (spawn_helper.py), and the command that runs another
process inside a running container (exec probes, hooks).

The spec names the container's directory, its argv and complete environment
(``PATH`` and ``HOSTNAME`` added when the pod does not set them), working
directory and mounts, and whether to isolate it. As root the container gets a
private mount namespace whose root is an overlay of the host's ``/``, with
the kubelet's root (``hidden_dirs``) covered, each volume at its mountPath,
then chroot. Not as root (no mount namespaces) the documented fallback runs
the command on the host with the working directory under the container's
``rootfs`` directory, where each volume appears as a symlink at its
mountPath; the variable ``PYB_CONTAINER_ROOT`` names that directory, so a
mount at ``/data`` is ``$PYB_CONTAINER_ROOT/data``.
"""

from __future__ import annotations

import posixpath

from .interface import ContainerConfig

__all__ = ["launch_spec", "container_env", "exec_argv", "ROOTLESS_ROOT_ENV", "DEFAULT_PATH"]

ROOTLESS_ROOT_ENV = "PYB_CONTAINER_ROOT"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def container_env(config: ContainerConfig, extra: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """The container's whole environment, in order (later duplicates win)."""
    pairs = list(config.env) + list((extra or {}).items())
    if not any(k == "PATH" for k, _ in pairs):
        pairs.insert(0, ("PATH", DEFAULT_PATH))
    if not any(k == "HOSTNAME" for k, _ in pairs):
        pairs.append(("HOSTNAME", config.pod_name))
    return pairs


def launch_spec(config: ContainerConfig, *, container_dir: str, log_path: str, hidden_dirs: tuple[str, ...],
                as_root: bool, state: dict | None = None) -> dict:
    """The JSON-ready request for the spawn helper. The helper opens (creates)
    ``log_path`` for the kubelet's log pump; ``state`` (the task state to
    save) is written to ``state.json`` by the container's shim, with its pid,
    kernel start time and ``started_at`` filled in."""
    extra = None if as_root else {ROOTLESS_ROOT_ENV: posixpath.join(container_dir, "rootfs")}
    return {
        "dir": container_dir, "log_path": log_path, "as_root": as_root, "argv": list(config.argv),
        "env": [list(p) for p in container_env(config, extra)], "working_dir": config.working_dir,
        "mounts": [[m.host_path, m.container_path, m.read_only] for m in config.mounts],
        "hidden": list(hidden_dirs) if as_root else [], "state": state,
    }


def exec_argv(config: ContainerConfig, *, pid: int, argv: list[str] | tuple[str, ...], as_root: bool,
              container_dir: str) -> list[str]:
    """The host command that runs ``argv`` inside a running container (exec
    probes, preStop hooks, later `kubectl exec`)."""
    envs = [f"{k}={v}" for k, v in config.env]
    if as_root:
        return ["nsenter", f"--target={pid}", "--mount", "--root", "--wd", "env", "-i",
                f"PATH={DEFAULT_PATH}", *envs, *argv]
    root = posixpath.join(container_dir, "rootfs")
    wd = posixpath.join(root, (config.working_dir or "/").lstrip("/"))
    return ["env", "-i", f"--chdir={wd}", f"PATH={DEFAULT_PATH}",
            f"{ROOTLESS_ROOT_ENV}={root}", *envs, *argv]
