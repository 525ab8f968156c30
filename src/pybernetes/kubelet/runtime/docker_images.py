"""Local images for the `docker` runtime, built from Debian's ``busybox-static``
(no registry is reachable from these machines).

:func:`busybox_rootfs_tar` lays out a tiny root filesystem — the static
busybox binary, one symlink per applet in ``/bin``, ``/etc/passwd`` and
``/etc/group`` (root, nobody), ``/tmp``, ``/www/index.html`` (so the seed's
demo, ``httpd -f -p 80 -h /www``, serves a page) — as an uncompressed tar in
memory. :func:`load_image` imports it into the engine
through the Docker API (``POST /images/create?fromSrc=-``, which Podman's
service implements too) with the image config given as Dockerfile ``changes``.

Two images come out of it:

- ``busybox:latest`` — ``CMD ["sh"]``, like the registry's busybox — also
  tagged with the binary's version (``busybox:1.35.0`` from Debian 12), whose
  default pull policy is IfNotPresent: `pyb run busybox:1.35.0 ...` runs with
  no registry, where ``:latest`` (policy Always) must pull;
- the pod infra ("pause") image ``pybernetes/pause:latest`` — a shell loop that
  sleeps, reaps nothing it does not own and exits 0 on SIGTERM/SIGINT (PID 1
  ignores signals it has no handler for, so a plain ``sleep`` would only ever
  die by SIGKILL at the end of the grace period).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tarfile
import time

__all__ = ["BUSYBOX_IMAGE", "PAUSE_IMAGE", "PAUSE_SCRIPT", "WWW_INDEX", "find_busybox", "busybox_version",
           "busybox_versioned_image", "busybox_rootfs_tar", "load_image", "ensure_local_images"]

BUSYBOX_IMAGE = "busybox:latest"
PAUSE_IMAGE = "pybernetes/pause:latest"
PAUSE_SCRIPT = "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"

WWW_INDEX = b"<h1>Hello from busybox httpd in a pybernetes pod</h1>\n"
# Bumped when the busybox rootfs changes: an image of an older revision is rebuilt.
_BUSYBOX_REVISION = "2"
_LABEL_IMAGE = "io.pybernetes.image"
_LABEL_REVISION = "io.pybernetes.image.revision"

_PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"
_GROUP = "root:x:0:\nnobody:x:65534:\n"


def find_busybox() -> str | None:
    """A statically linked busybox on this machine (Debian's busybox-static
    installs /bin/busybox), or None."""
    for path in ("/bin/busybox", "/usr/bin/busybox", shutil.which("busybox") or ""):
        if path and os.access(path, os.X_OK):
            return os.path.realpath(path)
    return None


def busybox_version(busybox: str | None = None) -> str | None:
    """The version of the busybox binary ("1.35.0"), or None."""
    busybox = busybox or find_busybox()
    if busybox is None:
        return None
    try:
        out = subprocess.run([busybox], capture_output=True, text=True, check=False, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"BusyBox v(\d+(?:\.\d+)+)", out.stdout + out.stderr)
    return m.group(1) if m else None


def busybox_versioned_image(busybox: str | None = None) -> str | None:
    """``busybox:<version>``: the local busybox image under a tag whose
    default pull policy is IfNotPresent (None when no busybox is here)."""
    version = busybox_version(busybox)
    return f"busybox:{version}" if version else None


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
        add_file("www/index.html", WWW_INDEX)
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


def _current(client, ref: str, revision: str | None) -> str | None:
    """The id of image ``ref`` when present (and of ``revision``, if given)."""
    import docker.errors

    try:
        image = client.images.get(ref)
    except docker.errors.ImageNotFound:
        return None
    if revision is not None and (image.labels or {}).get(_LABEL_REVISION) != revision:
        return None
    return image.id


def ensure_local_images(client, *, busybox_image: str = BUSYBOX_IMAGE, pause_image: str = PAUSE_IMAGE,
                        force: bool = False, busybox: str | None = None) -> dict[str, str]:
    """Make sure the busybox image (also under its version tag, see
    :func:`busybox_versioned_image`) and the pause image exist in the engine,
    building them from the local busybox-static when missing or of an older
    revision (or always with ``force``); returns ``{reference: image id}``.
    Blocking."""
    busybox_changes = ('ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'CMD ["sh"]',
                       f'LABEL {_LABEL_IMAGE}=busybox', f'LABEL {_LABEL_REVISION}={_BUSYBOX_REVISION}')
    wanted: dict[str, tuple[tuple[str, ...], str | None]] = {busybox_image: (busybox_changes, _BUSYBOX_REVISION)}
    versioned = busybox_versioned_image(busybox)
    if versioned and busybox_image == BUSYBOX_IMAGE:
        wanted[versioned] = (busybox_changes, _BUSYBOX_REVISION)
    wanted[pause_image] = (('ENV PATH=/bin', f'ENTRYPOINT ["/bin/sh", "-c", "{PAUSE_SCRIPT}"]',
                            f'LABEL {_LABEL_IMAGE}=pause'), None)
    out: dict[str, str] = {}
    built: dict[tuple[str, ...], str] = {}  # changes -> image id built in this call
    rootfs: bytes | None = None
    for ref, (changes, revision) in wanted.items():
        if not force:
            present = _current(client, ref, revision)
            if present is not None:
                out[ref] = present
                continue
        repo, tag = _split(ref)
        if changes in built:  # the same image under another tag
            client.api.tag(built[changes], repo, tag)
            out[ref] = built[changes]
            continue
        if rootfs is None:
            rootfs = busybox_rootfs_tar(busybox)
        out[ref] = built[changes] = load_image(client, rootfs=rootfs, repository=repo, tag=tag, changes=changes)
    return out
