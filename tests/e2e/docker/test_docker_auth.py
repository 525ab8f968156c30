"""Which registry credentials a pull uses: pull secrets parsed and matched
to image references as Kubernetes' credential provider does (pure, no
engine)."""

from __future__ import annotations

import base64
import json

import pytest

from pybernetes.kubelet.runtime.docker_auth import (
    PullSecretError,
    RegistryAuth,
    aggregate_errors,
    keyring_from_secrets,
    normalize_image_name,
    pull_secret_names,
)


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def config_json(auths: dict, name: str = "regcred") -> dict:
    return {"metadata": {"name": name, "namespace": "ns"}, "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": _b64(json.dumps({"auths": auths}))}}


def dockercfg(entries: dict, name: str = "old") -> dict:
    return {"metadata": {"name": name, "namespace": "ns"}, "type": "kubernetes.io/dockercfg",
            "data": {".dockercfg": _b64(json.dumps(entries))}}


def users(ring, image: str) -> list[str]:
    return [a.username for a in ring.lookup(image)]


@pytest.mark.parametrize(("image", "repo"), [
    ("busybox", "docker.io/library/busybox"),
    ("busybox:1.35.0", "docker.io/library/busybox"),
    ("user/app:1", "docker.io/user/app"),
    ("index.docker.io/busybox", "docker.io/library/busybox"),
    ("docker.io/user/app", "docker.io/user/app"),
    ("localhost/app", "localhost/app"),
    ("localhost:5000/app:tag", "localhost:5000/app"),
    ("quay.io/coreos/etcd:v3.5", "quay.io/coreos/etcd"),
    ("reg.example.com:443/a/b@sha256:" + "0" * 64, "reg.example.com:443/a/b"),
])
def test_image_references_normalize_as_docker_names_them(image, repo):
    assert normalize_image_name(image) == repo


def test_host_match_and_the_default_registry():
    ring = keyring_from_secrets([config_json({
        "https://index.docker.io/v1/": {"username": "hub", "password": "p"},
        "registry.example.com": {"username": "example", "password": "p"},
        "registry.example.com:5000": {"username": "port5000", "password": "p"},
    })])
    for hub in ("busybox", "busybox:1.35.0", "user/app", "docker.io/user/app", "index.docker.io/user/app"):
        assert users(ring, hub) == ["hub"], hub
    assert users(ring, "registry.example.com/team/app:1") == ["example"]
    assert users(ring, "registry.example.com:5000/team/app") == ["port5000"]  # ports must be equal
    assert users(ring, "registry.example.com:6000/app") == []
    assert users(ring, "other.example.com/app") == []
    assert users(ring, "sub.registry.example.com/app") == []  # as many host parts, or no match
    assert users(ring, "localhost:5000/app") == []


def test_most_specific_path_first_then_the_host():
    ring = keyring_from_secrets([config_json({"quay.io": {"username": "host", "password": "p"},
                                              "quay.io/coreos": {"username": "coreos", "password": "p"},
                                              "https://quay.io/v2/other": {"username": "other", "password": "p"}})])
    assert users(ring, "quay.io/coreos/etcd") == ["coreos", "host"]
    assert users(ring, "quay.io/other/thing") == ["other", "host"]
    assert users(ring, "quay.io/someone/else") == ["host"]


def test_glob_hosts():
    ring = keyring_from_secrets([config_json({"*.example.com": {"username": "glob", "password": "p"},
                                              "*.*.example.io": {"username": "deep", "password": "p"}})])
    assert users(ring, "a.example.com/app") == ["glob"]
    assert users(ring, "example.com/app") == []
    assert users(ring, "a.b.example.io/app") == ["deep"]
    assert users(ring, "a.example.io/app") == []


def test_auth_field_wins_and_entries_of_several_secrets_join():
    first = config_json({"reg.io": {"username": "ignored", "password": "x",
                                    "auth": _b64("alice:s3cr:et").rstrip("=")}}, name="a")
    second = dockercfg({"reg.io": {"auth": _b64("bob:pw"), "email": "bob@example.com"}}, name="b")
    auths = keyring_from_secrets([first, second]).lookup("reg.io/app")
    assert [(a.username, a.password, a.source) for a in auths] == [("alice", "s3cr:et", "ns/a"), ("bob", "pw", "ns/b")]
    assert auths[1].auth_config() == {"username": "bob", "password": "pw", "email": "bob@example.com"}
    assert RegistryAuth(username="u", password="p").auth_config() == {"username": "u", "password": "p"}


def test_only_pull_secret_types_count():
    opaque = {**config_json({"reg.io": {"username": "u", "password": "p"}}), "type": "Opaque"}
    empty = {"metadata": {"name": "e"}, "type": "kubernetes.io/dockerconfigjson", "data": {}}
    assert keyring_from_secrets([opaque, empty]).lookup("reg.io/app") == []


def test_a_malformed_pull_secret_fails():
    with pytest.raises(PullSecretError, match=r"must be formatted as base64\(username:password\)"):
        keyring_from_secrets([config_json({"reg.io": {"auth": _b64("no-colon")}})])
    bad = {"metadata": {"name": "bad"}, "type": "kubernetes.io/dockerconfigjson",
           "data": {".dockerconfigjson": _b64("{not json")}}
    with pytest.raises(PullSecretError):
        keyring_from_secrets([bad])


def test_secret_names_from_the_pod_else_its_service_account():
    sa = {"metadata": {"name": "default"}, "imagePullSecrets": [{"name": "sa-cred"}]}
    pod = {"spec": {"imagePullSecrets": [{"name": "a"}, {"name": "b"}, {"name": "a"}]}}
    assert pull_secret_names(pod, sa) == ["a", "b"]
    assert pull_secret_names({"spec": {}}, sa) == ["sa-cred"]
    assert pull_secret_names({"spec": {}}, None) == []


def test_aggregate_error_text():
    assert aggregate_errors(["one"]) == "one"
    assert aggregate_errors(["one", "two", "one"]) == "[one, two]"
