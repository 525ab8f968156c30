"""gitRepo: a repository cloned (and checked out at ``revision``) into the
volume before the pod's containers start.

As Kubernetes does: ``git clone -- <repository> <directory>``, then, with a
revision, ``git checkout <revision>`` and ``git reset --hard``. The clone is
built in a temporary directory next to the volume and renamed into place
only when every step succeeded, so a container never sees a half-populated
volume; a failure raises MountError (FailedMount event, retried later). Once
populated the volume is left alone, as in Kubernetes (setup only once).
"""

from __future__ import annotations

import asyncio
import os
import shutil

from .interface import MountError, VolumeContext

__all__ = ["GitRepoPlugin"]

GIT_TIMEOUT = 120.0


async def _git(args: list[str], cwd: str) -> None:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_TERMINAL_PROMPT": "0",
           "HOME": os.environ.get("HOME", "/root")}
    proc = await asyncio.create_subprocess_exec("git", *args, cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=GIT_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise MountError(f"failed to exec 'git {' '.join(args)}': timed out after {GIT_TIMEOUT:.0f}s") from None
    if proc.returncode != 0:
        text = out.decode(errors="replace").strip()
        raise MountError(f"failed to exec 'git {' '.join(args)}': {text}: exit status {proc.returncode}")


def _validate(spec: dict) -> tuple[str, str, str]:
    repo = spec.get("repository") or ""
    directory = spec.get("directory") or ""
    revision = spec.get("revision") or ""
    if not repo:
        raise MountError("gitRepo: repository is required")
    if directory.startswith("/") or ".." in directory.split("/"):
        raise MountError(f"gitRepo: invalid directory {directory!r}")
    if repo.startswith("-") or revision.startswith("-"):
        raise MountError("gitRepo: repository and revision must not start with '-'")
    return repo, directory, revision


class GitRepoPlugin:
    name = "git-repo"
    field = "gitRepo"
    refresh = False

    async def setup(self, ctx: VolumeContext) -> str:
        repo, directory, revision = _validate(ctx.volume.get("gitRepo") or {})
        path = ctx.volume_dir(self.name)
        if await asyncio.to_thread(os.path.isdir, path):
            return path
        parent = os.path.dirname(path)
        tmp = os.path.join(parent, f".{ctx.name}.tmp")
        await asyncio.to_thread(shutil.rmtree, tmp, True)
        await asyncio.to_thread(os.makedirs, tmp, 0o755, True)
        try:
            clone_args = ["clone", "--", repo] + ([directory] if directory else [])
            await _git(clone_args, tmp)
            if revision:
                # The repository's directory: `directory` (or "." = the volume itself),
                # else the one `git clone` made, named after the repository.
                entries = await asyncio.to_thread(os.listdir, tmp)
                subdir = directory or (entries[0] if len(entries) == 1 else "")
                if not subdir:
                    raise MountError(f"gitRepo: expected one directory after clone, found {entries}")
                repo_dir = os.path.join(tmp, subdir)
                await _git(["checkout", revision], repo_dir)
                await _git(["reset", "--hard"], repo_dir)
            os.chmod(tmp, 0o777)
            await asyncio.to_thread(os.rename, tmp, path)
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, tmp, True)
            raise
        return path

    async def teardown(self, ctx: VolumeContext) -> None:
        await asyncio.to_thread(shutil.rmtree, ctx.volume_dir(self.name), True)
