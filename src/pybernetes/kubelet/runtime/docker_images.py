"""Local images for the `docker` runtime, built from Debian's ``busybox-static``
(no registry is reachable from these machines).

:func:`busybox_rootfs_tar` lays out a tiny root filesystem — the static
busybox binary, one symlink per applet in ``/bin``, ``/etc/passwd`` and
``/etc/group`` (root, nobody), ``/tmp``, an empty ``/www`` — as an
uncompressed tar in memory. :func:`load_image` imports it into the engine
through the Docker API (``POST /images/create?fromSrc=-``, which Podman's
service implements too) with the image config given as Dockerfile ``changes``.

Two images come out of it:

- ``busybox:latest`` — ``CMD ["sh"]``, like the registry's busybox;
- the pod infra ("pause") image ``pybernetes/pause:latest`` — a shell loop that
  sleeps, reaps nothing it does not own and exits 0 on SIGTERM/SIGINT (PID 1
  ignores signals it has no handler for, so a plain ``sleep`` would only ever
  die by SIGKILL at the end of the grace period).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import time

__all__ = ["BUSYBOX_IMAGE", "PAUSE_IMAGE", "PAUSE_SCRIPT", "find_busybox", "busybox_rootfs_tar", "load_image",
           "ensure_local_images"]

BUSYBOX_IMAGE = "busybox:latest"
PAUSE_IMAGE = "pybernetes/pause:latest"
PAUSE_SCRIPT = "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"

_PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"
_GROUP = "root:x:0:\nnobody:x:65534:\n"


def find_busybox() -> str | None:
    """A statically linked busybox on this machine (Debian's busybox-static
    installs /bin/busybox), or None."""
    for path in ("/bin/busybox", "/usr/bin/busybox", shutil.which("busybox") or ""):
        if path and os.access(path, os.X_OK):
            return os.path.realpath(path)
    return None


def _applets(busybox: str) -> list[str]:
    out = subprocess.run([busybox, "--list"], capture_output=True, check=True, text=True).stdout
    return sorted({a for a in out.split() if a and "/" not in a and a != "busybox"})


def busybox_rootfs_tar(busybox: str | None = None) -> bytes:
    """An uncompressed tar of a busybox root filesystem."""
    busybox = busybox or find_busybox()
    if busybox is None:
        raise FileNotFoundError("no busybox binary found (apt-get install busybox-static)")
    now = int(time.time())
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        def add_dir(name: str, mode: int = 0o755) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, now
            tar.addfile(info)

        def add_file(name: str, data: bytes, mode: int = 0o644) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, now
            tar.addfile(info, io.BytesIO(data))

        for d in ("bin", "etc", "root", "home", "proc", "sys", "dev", "var", "www", "usr", "usr/bin"):
            add_dir(d)
        add_dir("tmp", 0o1777)
        add_dir("var/tmp", 0o1777)
        with open(busybox, "rb") as f:
            add_file("bin/busybox", f.read(), 0o755)
        for applet in _applets(busybox):
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname, info.mode, info.mtime = tarfile.SYMTYPE, "busybox", 0o777, now
            tar.addfile(info)
        add_file("etc/passwd", _PASSWD.encode())
        add_file("etc/group", _GROUP.encode())
        add_file("etc/hostname", b"localhost\n")
    return buf.getvalue()


def load_image(client, *, rootfs: bytes, repository: str, tag: str = "latest",
               changes: tuple[str, ...] = ()) -> str:
    """Import ``rootfs`` as ``repository:tag`` through the engine's API
    (blocking: call it off the event loop); returns the image id."""
    client.api.import_image_from_data(rootfs, repository=repository, tag=tag, changes=list(changes))
    return client.images.get(f"{repository}:{tag}").id


def _split(ref: str) -> tuple[str, str]:
    repo, _, tag = ref.rpartition(":")
    if not repo or "/" in tag:
        return ref, "latest"
    return repo, tag


def ensure_local_images(client, *, busybox_image: str = BUSYBOX_IMAGE, pause_image: str = PAUSE_IMAGE,
                        force: bool = False, busybox: str | None = None) -> dict[str, str]:
    """Make sure the busybox and pause images exist in the engine (building
    them from the local busybox-static when missing, or always with
    ``force``); returns ``{reference: image id}``. Blocking."""
    import docker.errors

    wanted = {
        busybox_image: ('ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'CMD ["sh"]'),
        pause_image: ('ENV PATH=/bin', f'ENTRYPOINT ["/bin/sh", "-c", "{PAUSE_SCRIPT}"]',
                      'LABEL io.pybernetes.image=pause'),
    }
    out: dict[str, str] = {}
    rootfs: bytes | None = None
    for ref, changes in wanted.items():
        if not force:
            try:
                out[ref] = client.images.get(ref).id
                continue
            except docker.errors.ImageNotFound:
                pass
        if rootfs is None:
            rootfs = busybox_rootfs_tar(busybox)
        repo, tag = _split(ref)
        out[ref] = load_image(client, rootfs=rootfs, repository=repo, tag=tag, changes=changes)
    return out
