"""Field selectors: parse, per-kind support, matching."""

import pytest

from pybernetes.api import fields


def test_parse_and_canonical():
    assert str(fields.parse("metadata.name=web,status.phase!=Running")) == "metadata.name=web,status.phase!=Running"
    assert str(fields.parse("a==b")) == "a=b"
    assert fields.parse("a=b\\,c").requirements[0].value == "b,c"
    assert fields.parse("").empty() and fields.parse("a=b,").requirements == (fields.FieldRequirement("a", "=", "b"),)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("foo", "invalid selector: 'foo'; can't understand 'foo'"),
        ("a=b=c", "invalid field selector: unescaped character in value: 61"),
        ("a=b\\x", "invalid field selector: invalid escape sequence: \\x"),
        ("a=b\\", "invalid field selector: invalid escape sequence: \\"),
    ],
)
def test_parse_errors(text, message):
    with pytest.raises(fields.FieldSelectorError) as e:
        fields.parse(text)
    assert str(e.value) == message


def test_supported_fields_per_kind():
    fields.check_supported(fields.parse("spec.nodeName=n1,status.phase=Running"), "Pod")
    fields.check_supported(fields.parse("involvedObject.name=web,reason=Killing,source=kubelet"), "Event")
    fields.check_supported(fields.parse("type=Opaque"), "Secret")
    fields.check_supported(fields.parse("metadata.namespace=default"), "Service")
    for kind, sel in [("Pod", "foo=bar"), ("Service", "spec.type=ClusterIP"), ("Node", "metadata.namespace=x")]:
        with pytest.raises(fields.FieldSelectorError) as e:
            fields.check_supported(fields.parse(sel), kind)
        assert str(e.value) == f"field label not supported: {sel.split('=')[0]}"


def test_matching_uses_zero_values():
    pod = {"metadata": {"name": "web", "namespace": "default"}, "spec": {}, "status": {"podIPs": [{"ip": "10.0.0.5"}]}}
    assert fields.matches("spec.nodeName=", "Pod", pod)
    assert fields.matches("spec.nodeName!=n1,metadata.name=web", "Pod", pod)
    assert fields.matches("status.podIP=10.0.0.5,spec.hostNetwork=false", "Pod", pod)
    assert not fields.matches("metadata.namespace=kube-system", "Pod", pod)
    assert fields.matches("spec.unschedulable=false", "Node", {"spec": {}})
    assert fields.matches("spec.unschedulable=true", "Node", {"spec": {"unschedulable": True}})
    ev = {"involvedObject": {"kind": "Pod", "name": "web"}, "reportingComponent": "kubelet", "source": {}}
    assert fields.matches("source=kubelet,involvedObject.kind=Pod", "Event", ev)
    assert fields.selectable_fields("Secret", {"metadata": {"name": "s"}, "type": "Opaque"}) == {
        "metadata.name": "s", "metadata.namespace": "", "type": "Opaque"
    }
