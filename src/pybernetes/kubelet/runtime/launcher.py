"""Shell scripts that start one container of the process runtime.

``shim.sh`` (the container's "conmon") is what the runtime spawns, in a new
session: it keeps the container's stdout/stderr FIFOs open (so output written
while no kubelet reads them waits in the pipe instead of killing the
container with SIGPIPE), starts ``start.sh`` in the background, records the
container's pid, waits for it and writes its exit code to ``exit`` — all
without the kubelet, so a kubelet restart loses nothing. The shim traps
TERM/INT/HUP so a signal sent to the container's process group reaches the
container but leaves the shim alive to record the exit.

``start.sh`` builds the container's view of the filesystem and execs the
command. As root: a private mount namespace (``unshare -m``) whose root is an
overlay of the host's ``/`` (writes land in the container's ``upper`` dir),
with /proc, /dev and /sys rbound, the kubelet's root hidden under a tmpfs,
each volume bind-mounted at its mountPath (read-only if asked), then chroot.
Not as root (no mount namespaces): the documented fallback runs the command
on the host with the working directory under the container's ``rootfs``
directory, where each volume appears as a symlink at its mountPath; the
variable ``PYB_CONTAINER_ROOT`` names that directory, so a mount at
``/data`` is ``$PYB_CONTAINER_ROOT/data``.
"""

from __future__ import annotations

import os
import posixpath
import shlex

from .interface import ContainerConfig

__all__ = ["shim_script", "start_script", "exec_argv", "ROOTLESS_ROOT_ENV"]

ROOTLESS_ROOT_ENV = "PYB_CONTAINER_ROOT"
_q = shlex.quote


def shim_script(container_dir: str, *, as_root: bool) -> str:
    d = _q(container_dir)
    # The container's pid is the one `wait`ed on: unshare and sh exec into the command.
    launch = "unshare -m --propagation private /bin/sh" if as_root else "/bin/sh"
    return f"""#!/bin/sh
# pybernetes process-runtime shim (generated)
D={d}
exec 3<>"$D/stdout.fifo" 4<>"$D/stderr.fifo"
trap : TERM INT HUP
{launch} "$D/start.sh" 3<&- 4<&- </dev/null >"$D/stdout.fifo" 2>"$D/stderr.fifo" &
child=$!
echo $child >"$D/pid.tmp" && mv "$D/pid.tmp" "$D/pid"
while :; do wait $child; rc=$?; kill -0 $child 2>/dev/null || break; done
echo $rc >"$D/exit.tmp" && mv "$D/exit.tmp" "$D/exit"
exit $rc
"""


def _env_args(config: ContainerConfig, extra: dict[str, str] | None = None) -> str:
    pairs = list(config.env) + list((extra or {}).items())
    if not any(k == "PATH" for k, _ in pairs):
        pairs.insert(0, ("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"))
    if not any(k == "HOSTNAME" for k, _ in pairs):
        pairs.append(("HOSTNAME", config.pod_name))
    return " ".join(_q(f"{k}={v}") for k, v in pairs)


def start_script(config: ContainerConfig, *, container_dir: str, hidden_dirs: tuple[str, ...],
                 as_root: bool) -> str:
    argv = " ".join(_q(a) for a in config.argv)
    lines = ["#!/bin/sh", "# pybernetes process-runtime container start (generated)", "set -e"]
    if as_root:
        root = posixpath.join(container_dir, "rootfs")
        upper, work = posixpath.join(container_dir, "upper"), posixpath.join(container_dir, "work")
        lines.append(f"M={_q(root)}")
        lines.append(f"mount -t overlay overlay -o lowerdir=/,upperdir={_q(upper)},workdir={_q(work)} \"$M\"")
        lines.append('for x in proc dev sys; do mount --rbind "/$x" "$M/$x"; done')
        for hidden in hidden_dirs:
            # Other pods' volumes and logs (secrets!) stay out of sight.
            lines.append(f'if [ -d "$M"{_q(hidden)} ]; then mount -t tmpfs -o size=4k,mode=0755 none "$M"{_q(hidden)}; fi')
        for m in config.mounts:
            target = '"$M"' + _q(posixpath.normpath("/" + m.container_path))
            if os.path.isdir(m.host_path):
                lines.append(f"mkdir -p {target}")
            else:
                lines.append(f"mkdir -p \"$(dirname {target})\" && touch {target}")
            lines.append(f"mount --bind {_q(m.host_path)} {target}")
            if m.read_only:
                lines.append(f"mount -o remount,bind,ro {target}")
        wd = config.working_dir or "/"
        lines.append(f"exec chroot \"$M\" env -i --chdir={_q(wd)} {_env_args(config)} {argv}")
    else:
        root = posixpath.join(container_dir, "rootfs")
        lines.append(f"M={_q(root)}")
        for m in config.mounts:
            target = '"$M"' + _q(posixpath.normpath("/" + m.container_path))
            lines.append(f"mkdir -p \"$(dirname {target})\" && ln -sfn {_q(m.host_path)} {target}")
        wd = posixpath.join(root, (config.working_dir or "/").lstrip("/"))
        lines.append(f"mkdir -p {_q(wd)}")
        env = _env_args(config, {ROOTLESS_ROOT_ENV: root})
        lines.append(f"exec env -i --chdir={_q(wd)} {env} {argv}")
    return "\n".join(lines) + "\n"


def exec_argv(config: ContainerConfig, *, pid: int, argv: list[str] | tuple[str, ...], as_root: bool,
              container_dir: str) -> list[str]:
    """The host command that runs ``argv`` inside a running container (exec
    probes, preStop hooks, later `kubectl exec`)."""
    envs = [f"{k}={v}" for k, v in config.env]
    if as_root:
        return ["nsenter", f"--target={pid}", "--mount", "--root", "--wd", "env", "-i",
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", *envs, *argv]
    root = posixpath.join(container_dir, "rootfs")
    wd = posixpath.join(root, (config.working_dir or "/").lstrip("/"))
    return ["env", "-i", f"--chdir={wd}", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            f"{ROOTLESS_ROOT_ENV}={root}", *envs, *argv]
