"""Clear errors: where the apiserver is not, which kubeconfig was refused,
which fields are invalid, and what to do about each."""

from __future__ import annotations

import os
import subprocess

import yaml

from .conftest import PYB, ROOT, free_port


def _pyb(*args: str, env_extra: dict | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env.update(env_extra or {})
    return subprocess.run([*PYB, *args], capture_output=True, text=True, cwd=ROOT, env=env, input=stdin,
                          timeout=60)


def test_no_kubeconfig_says_how_to_start_a_cluster(tmp_path):
    r = _pyb("list", "pods", env_extra={"HOME": str(tmp_path)})
    assert r.returncode == 1
    assert f"no kubeconfig at {tmp_path}/.pybernetes/kubeconfig" in r.stderr and "pyb up" in r.stderr


def test_unreachable_apiserver_says_how_to_start_one(tmp_path):
    port = free_port()  # nothing listens there
    kc = tmp_path / "kubeconfig"
    kc.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{port}"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}))
    r = _pyb("list", "pods", "--kubeconfig", str(kc))
    assert r.returncode == 1
    assert f"cannot reach the apiserver at https://127.0.0.1:{port} (from {kc})" in r.stderr
    assert "pyb up" in r.stderr and "Traceback" not in r.stderr


def test_401_names_the_kubeconfig(up, tmp_path):
    doc = yaml.safe_load(up.kubeconfig.read_text())
    doc["users"][0]["user"]["token"] = "stolen-or-stale"
    kc = tmp_path / "other-kubeconfig"
    kc.write_text(yaml.safe_dump(doc))
    r = up.pyb("list", "pods", kubeconfig=str(kc))
    assert r.code == 1
    assert f"refused the credentials in $KUBECONFIG ({kc}) (401 Unauthorized)" in r.err


def test_validation_errors_list_the_fields(up):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "Bad_Name"},
           "spec": {"containers": [{"name": "c"}]}}
    r = up.pyb("create", "-c", "-", stdin=yaml.safe_dump(pod))
    assert r.code == 1
    lines = r.err.splitlines()
    assert lines[0].startswith('pyb create: Pod "Bad_Name" is invalid')
    assert any(line.startswith("  - metadata.name:") for line in lines)
    assert any(line.startswith("  - spec.containers[0].image:") and "Required value" in line for line in lines)
    r = up.pyb("create", "-c", "-", stdin=yaml.safe_dump({"apiVersion": "v1", "kind": "Pod",
                                                           "metadata": {"name": "x"}, "spec": {"bogus": 1}}))
    assert r.code == 1 and "bogus" in r.err  # unknown fields are refused (strict field validation)


def test_usage_errors(up):
    assert up.pyb("get", "pods").code == 2  # which one?
    r = up.pyb("list", "gizmos")
    assert r.code == 2 and 'unknown resource type "gizmos"' in r.err
    r = up.pyb("run", "img", "1", "x", "-p", "eighty")
    assert r.code == 2 and "invalid port 'eighty'" in r.err
    r = up.pyb("create", "-c", "/nonexistent.yaml")
    assert r.code == 2 and "cannot read /nonexistent.yaml" in r.err
