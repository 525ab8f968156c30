"""Per-kind validation: exact Kubernetes messages for good and bad objects."""

import copy

from pybernetes.api.defaults import apply_defaults
from pybernetes.api.field_errors import invalid_message
from pybernetes.api.validation import validate

SUBDOMAIN = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
             "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
             "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")


def msgs(kind, obj, old=None):
    return [e.message() for e in validate(kind, obj, old)]


def pod(**spec_over):
    p = {"metadata": {"name": "web", "namespace": "default"},
         "spec": {"containers": [{"name": "app", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}]}}
    p["spec"].update(spec_over)
    return apply_defaults("Pod", p)


def test_valid_pod():
    assert msgs("Pod", pod()) == []


def test_pod_metadata_errors():
    p = pod()
    p["metadata"] = {"name": "Web_1", "labels": {"bad key": "v", "ok": "-x"}}
    assert msgs("Pod", p) == [
        f'metadata.name: Invalid value: "Web_1": {SUBDOMAIN}',
        "metadata.namespace: Required value",
        'metadata.labels: Invalid value: "bad key": name part must consist of alphanumeric characters, \'-\', \'_\' or '
        "'.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', "
        "regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
        'metadata.labels: Invalid value: "-x": a valid label must be an empty string or consist of alphanumeric '
        "characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
        "'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
    ]
    p["metadata"] = {"namespace": "default"}
    assert msgs("Pod", p) == ["metadata.name: Required value: name or generateName is required"]


def test_pod_without_containers():
    p = pod()
    p["spec"]["containers"] = []
    assert invalid_message("Pod", "web", validate("Pod", p)) == 'Pod "web" is invalid: spec.containers: Required value'


def test_pod_container_errors():
    p = pod(restartPolicy="Sometimes")
    c = copy.deepcopy(p["spec"]["containers"][0])
    c.update(image="", ports=[{"containerPort": 70000, "protocol": "XYZ"}, {"containerPort": 0, "protocol": "TCP"}],
             volumeMounts=[{"name": "nope", "mountPath": "/x"}],
             env=[{"name": "1BAD"}, {"name": ""}],
             resources={"requests": {"cpu": "2", "gpu": "1"}, "limits": {"cpu": "1"}})
    p["spec"]["containers"].append(c)
    p["spec"]["initContainers"] = [{"name": "app", "image": "x", "imagePullPolicy": "Always",
                                   "terminationMessagePolicy": "File"}]
    got = msgs("Pod", p)
    assert got == [
        'spec.containers[1].name: Duplicate value: "app"',
        "spec.containers[1].image: Required value",
        "spec.containers[1].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
        'spec.containers[1].ports[0].protocol: Unsupported value: "XYZ": supported values: "SCTP", "TCP", "UDP"',
        "spec.containers[1].ports[1].containerPort: Required value",
        'spec.containers[1].env[0].name: Invalid value: "1BAD": a valid environment variable name must consist of '
        "alphabetic characters, digits, '_', '-', or '.', and must not start with a digit (e.g. 'my.env-name',  or "
        "'MY_ENV.NAME',  or 'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')",
        "spec.containers[1].env[1].name: Required value",
        'spec.containers[1].volumeMounts[0].name: Not found: "nope"',
        'spec.containers[1].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1',
        'spec.containers[1].resources.requests[gpu]: Invalid value: "gpu": must be a standard resource for containers',
        'spec.initContainers[0].name: Duplicate value: "app"',
        'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
    ]


def test_pod_volumes_and_probes():
    p = pod(volumes=[{"name": "a", "emptyDir": {}, "hostPath": {"path": "/x"}}, {"name": "a"},
                     {"name": "g", "gitRepo": {"repository": "", "directory": "../x"}}])
    p["spec"]["containers"][0]["readinessProbe"] = {"periodSeconds": -1}
    p["spec"]["containers"][0]["livenessProbe"] = {"tcpSocket": {"port": 0}, "successThreshold": 2}
    assert msgs("Pod", p) == [
        "spec.volumes[0].emptyDir: Forbidden: may not specify more than 1 volume type",
        'spec.volumes[1].name: Duplicate value: "a"',  # its missing source was defaulted to emptyDir
        "spec.volumes[2].gitRepo.repository: Required value",
        "spec.volumes[2].gitRepo.directory: Invalid value: \"../x\": must not contain '..'",
        "spec.containers[0].livenessProbe.tcpSocket.port: Invalid value: 0: must be between 1 and 65535, inclusive",
        "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
        "spec.containers[0].readinessProbe: Required value: must specify a handler type",
        "spec.containers[0].readinessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0",
    ]


def test_volume_without_source_before_defaulting():
    from pybernetes.api.validation import validate_pod_spec

    spec = {"volumes": [{"name": "v"}], "containers": [{"name": "a", "image": "i", "imagePullPolicy": "Always",
                                                         "terminationMessagePolicy": "File"}],
            "restartPolicy": "Always", "dnsPolicy": "ClusterFirst"}
    assert [e.message() for e in validate_pod_spec(spec)] == ["spec.volumes[0]: Required value: must specify a volume type"]


def test_pod_update_rules():
    old = pod(nodeName="n1")
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["image"] = "nginx:1.26"
    new["spec"]["activeDeadlineSeconds"] = 30
    new["spec"]["tolerations"].append({"key": "k", "operator": "Exists", "effect": "NoSchedule"})
    assert msgs("Pod", new, old) == []
    new["spec"]["nodeName"] = "n2"
    (only,) = validate("Pod", new, old)
    assert only.type == "FieldValueForbidden" and only.field == "spec"
    assert only.message().startswith(
        "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
        "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing "
        "tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n"
    )
    renamed = copy.deepcopy(old)
    renamed["metadata"]["name"] = "other"
    assert msgs("Pod", renamed, old) == ['metadata.name: Invalid value: "other": field is immutable']
    longer = copy.deepcopy(new)
    longer["spec"]["nodeName"] = "n1"
    longer2 = copy.deepcopy(longer)
    longer2["spec"]["activeDeadlineSeconds"] = 60
    assert msgs("Pod", longer2, longer) == [
        "spec.activeDeadlineSeconds: Invalid value: 60: must be less than or equal to previous value"
    ]


def svc(**spec):
    return apply_defaults("Service", {"metadata": {"name": "web", "namespace": "default"}, "spec": spec})


def test_services():
    assert msgs("Service", svc(selector={"app": "web"}, ports=[{"port": 80}])) == []
    assert msgs("Service", svc(clusterIP="None")) == []
    assert msgs("Service", svc(type="ExternalName", externalName="db.example.com")) == []
    assert msgs("Service", svc()) == ["spec.ports: Required value"]
    bad = svc(type="Magic", ports=[{"port": 0, "targetPort": 70000}, {"name": "a", "port": 81, "nodePort": 30001}])
    bad["metadata"]["name"] = "1web"
    assert msgs("Service", bad) == [
        "metadata.name: Invalid value: \"1web\": a DNS-1035 label must consist of lower case alphanumeric characters "
        "or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
        "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
        'spec.type: Unsupported value: "Magic": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"',
        "spec.ports[0].name: Required value",
        "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
        "spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
        "spec.ports[1].nodePort: Forbidden: may not be used when `type` is 'Magic'",
    ]
    np = svc(type="NodePort", ports=[{"port": 80, "nodePort": 80}])
    assert msgs("Service", np) == [
        "spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. "
        "The range of valid ports is 30000-32767"
    ]


def test_service_cluster_ip_immutable():
    old = svc(ports=[{"port": 80}], clusterIP="10.0.0.5", clusterIPs=["10.0.0.5"])
    new = copy.deepcopy(old)
    assert msgs("Service", new, old) == []
    new["spec"]["clusterIP"] = "10.0.0.6"
    new["spec"]["clusterIPs"] = ["10.0.0.6"]
    assert msgs("Service", new, old) == ['spec.clusterIPs[0]: Invalid value: ["10.0.0.6"]: may not change once set']


def rc(selector, labels, **over):
    r = {"metadata": {"name": "web", "namespace": "default"},
         "spec": {"selector": selector, "template": {"metadata": {"labels": labels},
                                                     "spec": {"containers": [{"name": "a", "image": "nginx:1"}]}}}}
    r["spec"].update(over)
    return apply_defaults("ReplicationController", r)


def test_replication_controllers():
    assert msgs("ReplicationController", rc({"app": "web"}, {"app": "web", "x": "y"})) == []
    assert msgs("ReplicationController", rc({"app": "web"}, {"app": "db"}, replicas=-1)) == [
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
        'spec.template.metadata.labels: Invalid value: {"app":"db"}: `selector` does not match template `labels`',
    ]
    bad = rc({"app": "web"}, {"app": "web"})
    bad["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    assert msgs("ReplicationController", bad) == [
        'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"'
    ]
    nosel = {"metadata": {"name": "web", "namespace": "default"}, "spec": {"replicas": 1}}
    assert msgs("ReplicationController", nosel) == ["spec.selector: Required value", "spec.template: Required value"]


def test_namespaces_nodes():
    assert msgs("Namespace", apply_defaults("Namespace", {"metadata": {"name": "team-a"}})) == []
    assert msgs("Namespace", {"metadata": {"name": "a.b", "namespace": "x"}}) == [
        'metadata.name: Invalid value: "a.b": must not contain dots',
        "metadata.namespace: Forbidden: not allowed on this type",
    ]
    node = {"metadata": {"name": "n1"}, "spec": {"taints": [{"key": "k", "effect": "Bad"}]}}
    assert msgs("Node", node) == [
        'spec.taints[0].effect: Unsupported value: "Bad": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"'
    ]


def test_config_maps_and_secrets():
    cm = {"metadata": {"name": "c", "namespace": "d"}, "data": {"ok.key": "v", "bad key": "v"}}
    assert msgs("ConfigMap", cm) == [
        'data[bad key]: Invalid value: "bad key": a valid config key must consist of alphanumeric characters, '
        "'-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
    ]
    big = {"metadata": {"name": "c", "namespace": "d"}, "data": {"a": "x" * (1024 * 1024 + 1)}}
    assert msgs("ConfigMap", big) == [": Too long: may not be more than 1048576 bytes"]
    sec = {"metadata": {"name": "s", "namespace": "d"}, "type": "kubernetes.io/tls", "data": {"tls.crt": "eA=="}}
    assert msgs("Secret", sec) == ["data[tls.key]: Required value"]
    old = {"metadata": {"name": "s", "namespace": "d"}, "type": "Opaque", "immutable": True, "data": {"a": "eA=="}}
    new = copy.deepcopy(old)
    new["data"]["a"] = "eQ=="
    new["type"] = "other"
    assert msgs("Secret", new, old) == [
        'type: Invalid value: "other": field is immutable',
        "data: Forbidden: field is immutable when `immutable` is set",
    ]


def test_endpoints_events_leases_slices_service_accounts():
    ep = {"metadata": {"name": "web", "namespace": "d"},
          "subsets": [{"addresses": [{"ip": "10.1.2.3"}, {"ip": "nope"}], "ports": [{"port": 80, "protocol": "TCP"}]}]}
    assert msgs("Endpoints", ep) == [
        'subsets[0].addresses[1].ip: Invalid value: "nope": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'
    ]
    ev = {"metadata": {"name": "web.1", "namespace": "d"}, "involvedObject": {"kind": "Pod", "namespace": "other"}}
    assert msgs("Event", ev) == ['involvedObject.namespace: Invalid value: "other": does not match event.namespace']
    lease = {"metadata": {"name": "l", "namespace": "d"}, "spec": {"leaseDurationSeconds": 0}}
    assert msgs("Lease", lease) == ["spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"]
    es = {"metadata": {"name": "web-abc", "namespace": "d"}, "addressType": "IPv4",
          "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": []}], "ports": [{"name": "", "port": 80, "protocol": "TCP"}]}
    assert msgs("EndpointSlice", es) == ["endpoints[1].addresses: Required value: must contain at least 1 address"]
    assert msgs("ServiceAccount", {"metadata": {"name": "default", "namespace": "d"}}) == []
    assert msgs("ServiceAccount", {"metadata": {"name": "default"}}) == ["metadata.namespace: Required value"]


def test_every_served_kind_has_a_validator_and_defaulter():
    from pybernetes.api.defaults import DEFAULTERS
    from pybernetes.api.resources import RESOURCES
    from pybernetes.api.validation import UPDATE_VALIDATORS, VALIDATORS

    for r in RESOURCES:
        assert r.kind in VALIDATORS and r.kind in UPDATE_VALIDATORS and r.kind in DEFAULTERS, r.kind


def test_unknown_kinds_get_metadata_checks():
    assert msgs("Widget", {"metadata": {"name": "ok", "namespace": "d"}}) == []
    assert msgs("Widget", {"metadata": {"namespace": "d"}}) == ["metadata.name: Required value: name or generateName is required"]
def test_pod_spec_validity_remembered_per_exact_spec():
    """Valid specs are remembered; a spec differing in anything is checked again."""
    import copy

    from pybernetes.api.defaults import apply_defaults
    from pybernetes.api.validation import validate
    ok = apply_defaults("Pod", {"metadata": {"name": "p", "namespace": "default"},
                                "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    assert validate("Pod", copy.deepcopy(ok)) == []
    assert validate("Pod", copy.deepcopy(ok)) == []
    bad = copy.deepcopy(ok)
    bad["spec"]["restartPolicy"] = "Sometimes"
    for _ in range(2):
        errs = validate("Pod", copy.deepcopy(bad))
        assert [e.field for e in errs] == ["spec.restartPolicy"]
    bad_name = copy.deepcopy(ok)
    bad_name["metadata"]["name"] = "Not_Valid"  # metadata is never remembered
    assert [e.field for e in validate("Pod", bad_name)] == ["metadata.name"]
