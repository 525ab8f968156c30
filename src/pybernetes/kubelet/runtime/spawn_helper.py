"""The process runtime's spawn helper: a small, stdlib-only Python process
that starts containers for the kubelet (run as a script, ``python -I -S
spawn_helper.py REQ_FD REP_FD``; see spawner.py for the kubelet's side).

Why a helper: starting a container used to cost the machine ~20 ms of CPU
(a shell shim, ``unshare``, a second shell, one ``mount`` binary per mount,
``chroot``, ``env``: a dozen fork+execs), and the kubelet's worker threads
paid for laying out its directory. Here the helper opens the log file, makes
three pipes and forks; the child becomes the container's shim, which forks
the container, which makes its mounts with system calls and execs the
command.

Protocol. Requests arrive on REQ_FD (a stream socket) as a 4-byte big-endian
length plus a JSON *launch spec* (launcher.py builds it); they are handled in
order, and each gets one reply on REP_FD (a seqpacket socket), in order: JSON
``{"id", "shim_pid", "start_ticks", "started_at"}`` carrying four file
descriptors: the non-blocking read ends of the container's stdout and stderr
pipes (made before the container exists, so no output is lost), its log file
opened for appending, and the *ready* pipe, on which the shim writes the
container's pid once the container runs its command; or ``{"id", "error",
"errno"}``. End of file on REQ_FD ends the helper; the shims it
started live on (in their own sessions) and a new helper never needs them.

The shim (one per container, the container's parent) makes the container's
directory and saves the task state it was given (``state.json``) with its own
pid, kernel start time and ``started_at``, so a restarted kubelet finds it.
It keeps the pipes' read ends open at ``PIPE_FDS`` (3 and 4): output written
while no kubelet reads waits in the pipe (the container never dies of
SIGPIPE), and a new kubelet reopens the pipes through
``/proc/<shim pid>/fd/3`` and ``4``. It ignores SIGTERM/SIGINT/SIGHUP (a
signal to the container's process group reaches the container, the shim
stays to record the exit), writes the container's pid to ``pid`` and the
ready pipe once the container runs its command (its exec closed a
close-on-exec pipe: its filesystem view is complete) and, when it exits, its
exit code (128+signal if killed, as a shell reports it) to
``exit`` — both atomically (write + rename).
The container, as root, gets a private mount namespace whose root is an
overlay of the host's ``/`` (upper/work dirs in its directory), /proc /dev
/sys rbound, ``hidden`` directories covered by a small tmpfs, each mount
bound at its path (read-only if asked), then chroot; not as root, mounts are
symlinks under ``rootfs`` and the command runs on the host from there.
"""

import contextlib
import ctypes
import fcntl
import gc
import json
import os
import selectors
import signal
import socket
import struct
import sys
import time
import traceback

__all__ = ["main", "start_ticks", "PIPE_FDS"]

# Where a shim keeps the read ends of its container's stdout and stderr pipes.
PIPE_FDS = (3, 4)
_CLONE_NEWNS = 0x00020000
_MS_RDONLY, _MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 1, 32, 4096, 16384, 1 << 18
# Loaded here, before any fork: children use it as is.
_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.unshare.argtypes = [ctypes.c_int]


def _mount(source, target, fstype, flags, data=None):
    enc = os.fsencode
    if _libc.mount(source and enc(source), enc(target), fstype and enc(fstype), flags,
                   data and enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source or ''} on {target}: {os.strerror(err)}")


def _unshare_mounts():
    if _libc.unshare(_CLONE_NEWNS) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare: {os.strerror(err)}")
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)


def start_ticks(pid):
    """The process's start time in clock ticks since boot (stat field 22), or 0."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return 0
    return int(data[data.rindex(b")") + 2:].split()[19])


def _write_atomic(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


# -- the container -----------------------------------------------------------------
def _bind_target(root, container_path):
    return root + os.path.normpath("/" + container_path)


def _setup_root(spec):
    """As root: the private overlay root with volumes; returns the new root."""
    d, root = spec["dir"], os.path.join(spec["dir"], "rootfs")
    _unshare_mounts()
    upper, work = os.path.join(d, "upper"), os.path.join(d, "work")
    _mount("overlay", root, "overlay", 0, f"lowerdir=/,upperdir={upper},workdir={work}")
    for x in ("proc", "dev", "sys"):
        _mount("/" + x, f"{root}/{x}", None, _MS_BIND | _MS_REC)
    for hidden in spec.get("hidden") or ():
        # Other pods' volumes and logs (secrets!) stay out of sight.
        if os.path.isdir(root + hidden):
            _mount("none", root + hidden, "tmpfs", 0, "size=4k,mode=0755")
    for host, path, read_only in spec.get("mounts") or ():
        target = _bind_target(root, path)
        if os.path.isdir(host):
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if not os.path.lexists(target):
                open(target, "a").close()
        _mount(host, target, None, _MS_BIND)
        if read_only:
            _mount(None, target, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY)
    return root


def _setup_links(spec):
    """Not as root: volumes as symlinks under rootfs."""
    root = os.path.join(spec["dir"], "rootfs")
    for host, path, _read_only in spec.get("mounts") or ():
        target = _bind_target(root, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.lexists(target) and (os.path.islink(target) or not os.path.isdir(target)):
            os.unlink(target)
        os.symlink(host, target)
    return root


def _container(spec, out_w, err_w):
    """In the shim's child: stdio, filesystem view, exec. Never returns."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE, signal.SIGCHLD, signal.SIGXFSZ):
        signal.signal(sig, signal.SIG_DFL)
    d = spec["dir"]
    try:
        null = os.open("/dev/null", os.O_RDONLY)
        for fd, target in ((null, 0), (out_w, 1), (err_w, 2)):
            os.dup2(fd, target)
            os.close(fd)
    except OSError as e:
        os.write(2, f"container stdio: {e}\n".encode())
        os._exit(128)
    for sub in ("upper", "work", "rootfs"):
        with contextlib.suppress(FileExistsError):
            os.mkdir(os.path.join(d, sub))
    argv = spec["argv"]
    try:
        if spec["as_root"]:
            os.chroot(_setup_root(spec))
            wd = spec.get("working_dir") or "/"
        else:
            wd = os.path.join(_setup_links(spec), (spec.get("working_dir") or "/").lstrip("/"))
        os.makedirs(wd, exist_ok=True)
        os.chdir(wd)
    except OSError as e:
        os.write(2, f"failed to create the container's filesystem: {e}\n".encode())
        os._exit(128)
    try:
        os.execvpe(argv[0], argv, dict(spec["env"]))
    except OSError as e:
        # As env(1) reports it: 127 not found, 126 found but not runnable.
        os.write(2, f"exec: '{argv[0]}': {e.strerror}\n".encode())
        os._exit(127 if isinstance(e, FileNotFoundError) else 126)


# -- the shim ----------------------------------------------------------------------
def _shim(spec, pipes):
    """The container's parent for its whole life. Never returns."""
    d = spec["dir"]
    gc.disable()
    try:
        os.setsid()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        # Out of the way of the numbers set below.
        out_r, out_w, err_r, err_w, ready_w = (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in pipes)
        for fd in pipes:
            os.close(fd)
        os.makedirs(d, exist_ok=True)
        null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
        for target in (0, 1, 2):  # shim.log is made only if something goes wrong
            os.dup2(null, target, inheritable=False)
        os.close(null)
        for fd, target in ((out_r, PIPE_FDS[0]), (err_r, PIPE_FDS[1])):
            os.dup2(fd, target, inheritable=False)
            os.close(fd)
        state = spec.get("state")
        if state is not None:
            state.update(shim_pid=os.getpid(), shim_start_ticks=start_ticks(os.getpid()),
                         started_at=spec["started_at"])
            # Written in place: a new file needs no rename (and no ext4 data flush).
            with open(os.path.join(d, "state.json"), "w") as f:
                json.dump(state, f)
        # Closed by the container's exec (close-on-exec): its end of file means the
        # container is set up and runs its command (or died trying).
        started_r, started_w = os.pipe2(os.O_CLOEXEC)
        pid = os.fork()
        if pid == 0:
            _container(spec, out_w, err_w)
        for fd in (out_w, err_w, started_w):
            os.close(fd)
        while os.read(started_r, 64):
            pass
        os.close(started_r)
        _write_atomic(os.path.join(d, "pid"), f"{pid}\n")
        os.write(ready_w, f"{pid}\n".encode())  # the kubelet's start returns: the container runs
        os.close(ready_w)
        while True:
            _, status = os.waitpid(pid, 0)
            if os.WIFEXITED(status) or os.WIFSIGNALED(status):
                break
        rc = os.waitstatus_to_exitcode(status)
        rc = 128 - rc if rc < 0 else rc
        _write_atomic(os.path.join(d, "exit"), f"{rc}\n")
        os._exit(rc)
    except BaseException:  # noqa: BLE001 - the shim must never return into the helper's loop
        with contextlib.suppress(BaseException), open(os.path.join(d, "shim.log"), "a") as f:
            traceback.print_exc(file=f)
        os._exit(255)


# -- the helper --------------------------------------------------------------------
def _launch(spec, closing):
    """Open the log file, make the pipes, fork the shim; the log file and the
    pipes' read ends go to the kubelet."""
    log_path = spec["log_path"]
    log_dir = os.path.dirname(log_path)
    if not os.path.isdir(log_dir):
        os.makedirs(log_dir, exist_ok=True)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
    pipes: list[int] = []
    try:
        for _ in range(3):
            pipes.extend(os.pipe())
    except OSError:
        for fd in [*pipes, log]:
            os.close(fd)
        raise
    out_r, out_w, err_r, err_w, ready_r, ready_w = pipes
    pipes = [out_r, out_w, err_r, err_w, ready_w]
    try:
        for fd in (out_r, err_r, ready_r):
            os.set_blocking(fd, False)
        spec["started_at"] = started = time.time()
        pid = os.fork()
        if pid == 0:
            for fd in [*closing, log, ready_r]:
                os.close(fd)
            _shim(spec, pipes)
        ticks = start_ticks(pid)  # the shim cannot be reaped before we wait for it
    except BaseException:
        for fd in [*pipes, log, ready_r]:
            os.close(fd)
        raise
    for fd in (out_w, err_w, ready_w):
        os.close(fd)
    reply = {"id": spec.get("id"), "shim_pid": pid, "start_ticks": ticks, "started_at": started}
    return reply, [out_r, err_r, log, ready_r]


def _recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def _reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    req = socket.socket(fileno=int(argv[0]))
    rep = socket.socket(fileno=int(argv[1]))
    req.setblocking(True)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the kubelet decides when we stop (EOF)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # shims that exit are reaped at once
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    sel = selectors.DefaultSelector()
    sel.register(req, selectors.EVENT_READ)
    sel.register(wake_r, selectors.EVENT_READ)
    closing = [req.fileno(), rep.fileno(), wake_r, wake_w]
    # Forks copy the pages either side writes: keep the collector off the shared ones.
    gc.freeze()
    while True:
        ready = [key.fileobj for key, _ in sel.select()]
        if wake_r in ready:
            while True:
                try:
                    if not os.read(wake_r, 512):
                        break
                except BlockingIOError:
                    break
            _reap()
        if req not in ready:
            continue
        head = _recv_exact(req, 4)
        body = head and _recv_exact(req, struct.unpack("!I", head)[0])
        if body is None:
            return 0
        spec = json.loads(body)
        fds = []
        try:
            reply, fds = _launch(spec, closing)
        except OSError as e:
            reply = {"id": spec.get("id"), "error": str(e), "errno": e.errno or 0}
        try:
            if fds:
                socket.send_fds(rep, [json.dumps(reply).encode()], fds)
            else:
                rep.send(json.dumps(reply).encode())
        finally:
            for fd in fds:
                os.close(fd)
        _reap()


if __name__ == "__main__":
    sys.exit(main())
