"""Status → exception mapping and kubeconfig parsing."""

from __future__ import annotations

import base64
import ssl

import pytest

from pybernetes.client import errors, load_kubeconfig
from pybernetes.client.kubeconfig import KubeConfig


@pytest.mark.parametrize(("code", "reason", "cls"), [
    (404, "NotFound", errors.NotFound), (409, "AlreadyExists", errors.AlreadyExists),
    (409, "Conflict", errors.Conflict), (422, "Invalid", errors.Invalid), (410, "Expired", errors.Expired),
    (410, "Gone", errors.Gone), (403, "Forbidden", errors.Forbidden), (401, "Unauthorized", errors.Unauthorized),
    (504, "Timeout", errors.Timeout), (500, "ServerTimeout", errors.ServerTimeout),
    (429, "TooManyRequests", errors.TooManyRequests), (500, "", errors.InternalError),
])
def test_status_maps_to_one_exception_per_reason(code, reason, cls):
    status = errors.status_for(code, "boom", reason, name="x")
    e = errors.from_status(status)
    assert type(e) is cls and e.code == code and e.status is status and str(e) == "boom"


def test_invalid_carries_causes_and_non_status_bodies_map_by_code():
    causes = [{"reason": "FieldValueRequired", "message": "Required value", "field": "spec.containers"}]
    e = errors.from_status(errors.status_for(422, "bad", "Invalid", causes=causes))
    assert e.causes == causes
    assert isinstance(errors.from_status(None, 404, text="404 page not found"), errors.NotFound)
    assert isinstance(errors.from_status(None, 410), errors.Expired)
    assert not isinstance(errors.from_status(errors.status_for(409, "x", "AlreadyExists")), errors.Conflict)


def _write(path, text):
    path.write_text(text)
    return path


def test_current_context_token_namespace(tmp_path):
    cfg = _write(tmp_path / "config", """
apiVersion: v1
kind: Config
current-context: b
clusters:
- name: c1
  cluster: {server: "https://127.0.0.1:6443/", insecure-skip-tls-verify: true}
users:
- name: u1
  user: {token: sekrit}
contexts:
- name: a
  context: {cluster: c1, user: u1}
- name: b
  context: {cluster: c1, user: u1, namespace: team}
""")
    kc = load_kubeconfig(cfg)
    assert (kc.server, kc.namespace, kc.token, kc.context) == ("https://127.0.0.1:6443", "team", "sekrit", "b")
    assert kc.auth_headers() == {"Authorization": "Bearer sekrit"}
    assert load_kubeconfig(cfg, context="a").namespace == "default"
    ctx = kc.ssl_context()
    assert ctx is not None and ctx.verify_mode == ssl.CERT_NONE
    with pytest.raises(errors.ConfigError):
        load_kubeconfig(cfg, context="nope")


def test_kubeconfig_env_merges_first_wins_and_relative_files(tmp_path, monkeypatch):
    (tmp_path / "tok").write_text("from-file\n")
    first = _write(tmp_path / "one", """
current-context: mine
contexts:
- name: mine
  context: {cluster: c, user: u}
users:
- name: u
  user: {tokenFile: tok}
""")
    second = _write(tmp_path / "two", """
current-context: other
clusters:
- name: c
  cluster: {server: "http://127.0.0.1:8080"}
users:
- name: u
  user: {token: loses}
""")
    monkeypatch.setenv("KUBECONFIG", f"{first}:{tmp_path / 'missing'}:{second}")
    kc = load_kubeconfig()
    assert (kc.server, kc.token, kc.context) == ("http://127.0.0.1:8080", "from-file", "mine")
    assert kc.ssl_context() is None


def test_inline_data_is_base64(tmp_path):
    cfg = _write(tmp_path / "c", f"""
current-context: x
clusters: [{{name: c, cluster: {{server: "https://h:1", certificate-authority-data: {base64.b64encode(b"CA").decode()}}}}}]
users: [{{name: u, user: {{client-certificate-data: {base64.b64encode(b"CERT").decode()}, client-key-data: {base64.b64encode(b"KEY").decode()}}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
""")
    kc = load_kubeconfig(cfg)
    assert (kc.ca_data, kc.client_cert_data, kc.client_key_data) == (b"CA", b"CERT", b"KEY")


def test_refusals(tmp_path):
    with pytest.raises(errors.ConfigError):
        load_kubeconfig(tmp_path / "absent")
    with pytest.raises(errors.ConfigError):
        KubeConfig(server="ftp://x")
    cfg = _write(tmp_path / "c", """
current-context: x
clusters: [{name: c, cluster: {server: "https://h:1"}}]
users: [{name: u, user: {exec: {command: aws}}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
""")
    with pytest.raises(errors.ConfigError, match="exec"):
        load_kubeconfig(cfg)
