"""Pure parts of the CLI and the PKI: output formats, human times, durations,
ports, `run`'s objects, token files, certificates."""

from __future__ import annotations

import datetime as dt
import ssl
import stat

import pytest
from cryptography import x509

from pybernetes import pki
from pybernetes.apiserver.auth import TokenFileError, User, format_token_file, load_token_file
from pybernetes.cli.cluster_dir import ClusterDir
from pybernetes.cli.kubecfg import parse_duration, parse_ports, run_objects
from pybernetes.cli.output import Style, human_age, render

NOW = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(("delta", "text"), [(0, "just now"), (42, "42s ago"), (180, "3m ago"),
                                             (5 * 3600 + 59, "5h ago"), (2 * 86400, "2d ago")])
def test_human_age(delta, text):
    ts = (NOW - dt.timedelta(seconds=delta)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert human_age(ts, now=NOW) == text
    assert human_age(None) == "<unknown>"


def test_durations_and_ports():
    assert [parse_duration(s) for s in ("60s", "1m30s", "500ms", "2h", "5")] == [60, 90, 0.5, 7200, 5]
    with pytest.raises(Exception, match="invalid duration"):
        parse_duration("1x")
    assert parse_ports("8181:80,9000") == [{"containerPort": 80, "hostPort": 8181, "protocol": "TCP"},
                                           {"containerPort": 9000, "protocol": "TCP"}]


def test_run_objects_are_kubecfgs():
    rc, svc = run_objects(image="nginx", replicas=2, name="web", ports=parse_ports("8181:80"), service_port=8080,
                          command=["nginx", "-g", "daemon off;"])
    assert rc["spec"]["selector"] == rc["spec"]["template"]["metadata"]["labels"] == {"name": "web"}
    c = rc["spec"]["template"]["spec"]["containers"][0]
    assert (c["name"], c["image"], c["command"], c["ports"][0]["hostPort"]) == ("web", "nginx", ["nginx", "-g", "daemon off;"], 8181)
    assert svc["spec"]["ports"] == [{"port": 8080, "targetPort": 80, "protocol": "TCP"}]
    assert run_objects(image="x", replicas=1, name="n", ports=[], service_port=None, command=[])[1] is None


def test_render_formats_and_colors():
    pod = {"metadata": {"name": "p", "labels": {"a": "b"}, "creationTimestamp": None},
           "spec": {"nodeName": "n1", "containers": [{"image": "img"}]}, "status": {"phase": "Running"}}
    lst = {"kind": "PodList", "items": [pod]}
    plain = render(lst, output="table", plural="pods", style=Style(False))
    assert plain.splitlines()[1].split() == ["p", "img", "n1", "a=b", "Running", "<unknown>"]
    colored = render(lst, output="table", plural="pods", style=Style(True))
    assert "\x1b[32mRunning\x1b[0m" in colored
    assert render(pod, output="template={{.spec.nodeName}}/{{.spec.containers.0.image}}", plural="pods",
                  style=Style(False)) == "n1/img\n"
    assert render(lst, output="name", plural="pods", style=Style(False)) == "pods/p\n"


def test_token_file_round_trip(tmp_path):
    users = [("t1", User("admin", ("system:masters", "g2"), "u1")), ("t2", User("system:node:a", (), "u2"))]
    f = tmp_path / "tokens.csv"
    f.write_text(format_token_file(users) + "# a comment\n\n")
    assert load_token_file(f).tokens == dict(users)
    f.write_text("onlytoken\n")
    with pytest.raises(TokenFileError):
        load_token_file(f)


def test_ca_and_serving_certificates(tmp_path):
    ca = pki.ensure_ca(tmp_path)
    assert pki.ensure_ca(tmp_path) == ca and stat.S_IMODE(ca.key.stat().st_mode) == 0o600
    pair = pki.ensure_serving_cert(ca, tmp_path, "srv", common_name="s", hosts=["127.0.0.1", "localhost", "h1"])
    cert = x509.load_pem_x509_certificate(pair.cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {"localhost", "h1"}
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    first = pair.cert.read_bytes()
    pki.ensure_serving_cert(ca, tmp_path, "srv", common_name="s", hosts=["localhost"])
    assert pair.cert.read_bytes() == first  # still covers what is asked: reused
    pki.ensure_serving_cert(ca, tmp_path, "srv", common_name="s", hosts=["localhost", "h2"])
    assert pair.cert.read_bytes() != first  # a new name: reissued
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=str(ca.cert))  # the CA loads as a trust anchor
    pki.server_ssl_context(pair)


def test_cluster_dir_tokens_are_stable(tmp_path):
    d = ClusterDir.at(tmp_path / "d")
    d.prepare(nodes=("a",))
    first = d.ensure_tokens([])
    d.prepare(nodes=("a", "b"))
    second = d.ensure_tokens([])
    assert {k: second[k] for k in first} == first and "system:node:b" in second
    d.write_kubeconfigs(server="https://127.0.0.1:1", nodes=("a", "b"))
    assert stat.S_IMODE(d.kubeconfig.stat().st_mode) == 0o600
    assert d.component_kubeconfig("kubelet-b").exists()
