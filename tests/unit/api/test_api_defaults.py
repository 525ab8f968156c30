"""Defaulting of v1 objects."""

from pybernetes.api.defaults import apply_defaults, image_pull_policy_for


def test_pod_defaults():
    pod = apply_defaults("Pod", {
        "metadata": {"name": "p"},
        "spec": {"containers": [{
            "name": "a", "image": "nginx", "ports": [{"containerPort": 80}],
            "livenessProbe": {"httpGet": {"port": 80}},
            "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
            "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}},
        }], "volumes": [{"name": "v"}, {"name": "s", "secret": {"secretName": "x"}}]},
    })
    spec = pod["spec"]
    assert (spec["restartPolicy"], spec["dnsPolicy"], spec["terminationGracePeriodSeconds"]) == ("Always", "ClusterFirst", 30)
    assert (spec["schedulerName"], spec["securityContext"], spec["enableServiceLinks"]) == ("default-scheduler", {}, True)
    assert (spec["serviceAccountName"], spec["serviceAccount"], spec["priority"]) == ("default", "default", 0)
    assert spec["preemptionPolicy"] == "PreemptLowerPriority"
    assert [t["key"] for t in spec["tolerations"]] == ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"]
    c = spec["containers"][0]
    assert (c["imagePullPolicy"], c["terminationMessagePath"], c["terminationMessagePolicy"]) == (
        "Always", "/dev/termination-log", "File")
    assert c["ports"][0]["protocol"] == "TCP"
    assert c["livenessProbe"] == {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
                                  "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
    assert c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"] == "v1"
    assert c["resources"]["requests"] == {"cpu": "500m", "memory": "1Gi"}
    assert spec["volumes"][0] == {"name": "v", "emptyDir": {}}
    assert spec["volumes"][1]["secret"]["defaultMode"] == 420
    assert "status" not in pod


def test_pod_defaults_keep_user_values_and_are_idempotent():
    spec = {"restartPolicy": "Never", "serviceAccountName": "builder", "tolerations": [],
            "containers": [{"name": "a", "image": "busybox:1.36", "imagePullPolicy": "Never"}]}
    pod = apply_defaults("Pod", {"spec": spec})
    assert spec["restartPolicy"] == "Never" and spec["serviceAccount"] == "builder"
    assert spec["containers"][0]["imagePullPolicy"] == "Never"
    import copy
    again = apply_defaults("Pod", copy.deepcopy(pod))
    assert again == pod


def test_image_pull_policy():
    assert image_pull_policy_for("nginx") == "Always"
    assert image_pull_policy_for("nginx:latest") == "Always"
    assert image_pull_policy_for("nginx:1.25") == "IfNotPresent"
    assert image_pull_policy_for("localhost:5000/nginx") == "Always"
    assert image_pull_policy_for("localhost:5000/nginx:1") == "IfNotPresent"
    assert image_pull_policy_for("nginx@sha256:abc") == "IfNotPresent"


def test_service_defaults():
    svc = apply_defaults("Service", {"spec": {"ports": [{"port": 80}, {"port": 443, "targetPort": "https"}]}})
    spec = svc["spec"]
    assert spec["type"] == "ClusterIP" and spec["sessionAffinity"] == "None"
    assert spec["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80},
                             {"port": 443, "targetPort": "https", "protocol": "TCP"}]
    assert (spec["internalTrafficPolicy"], spec["ipFamilyPolicy"], spec["ipFamilies"]) == ("Cluster", "SingleStack", ["IPv4"])
    assert "externalTrafficPolicy" not in spec
    np = apply_defaults("Service", {"spec": {"type": "NodePort", "ports": [{"port": 80}]}})["spec"]
    assert np["externalTrafficPolicy"] == "Cluster"
    ext = apply_defaults("Service", {"spec": {"type": "ExternalName", "externalName": "x.example.com"}})["spec"]
    assert "ipFamilies" not in ext and "internalTrafficPolicy" not in ext
    ca = apply_defaults("Service", {"spec": {"sessionAffinity": "ClientIP"}})["spec"]
    assert ca["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}


def test_replication_controller_defaults():
    rc = apply_defaults("ReplicationController", {"metadata": {"name": "r"}, "spec": {"template": {
        "metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "a", "image": "nginx:1"}]}}}})
    assert rc["spec"]["replicas"] == 1 and rc["spec"]["selector"] == {"app": "web"}
    assert rc["metadata"]["labels"] == {"app": "web"}
    tspec = rc["spec"]["template"]["spec"]
    assert tspec["restartPolicy"] == "Always" and tspec["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert "serviceAccountName" not in tspec and "enableServiceLinks" not in tspec  # pod-only (admission, SetDefaults_Pod)


def test_other_kinds():
    ns = apply_defaults("Namespace", {"metadata": {"name": "team"}})
    assert ns == {"metadata": {"name": "team", "labels": {"kubernetes.io/metadata.name": "team"}},
                  "status": {"phase": "Active"}}  # spec.finalizers is the create strategy's
    assert apply_defaults("Secret", {})["type"] == "Opaque"
    assert apply_defaults("Endpoints", {"subsets": [{"ports": [{"port": 80}]}]})["subsets"][0]["ports"][0]["protocol"] == "TCP"
    assert apply_defaults("EndpointSlice", {"ports": [{"port": 80}]})["ports"] == [{"port": 80, "name": "", "protocol": "TCP"}]
    node = apply_defaults("Node", {"status": {"capacity": {"cpu": "4"}}})
    assert node["status"]["allocatable"] == {"cpu": "4"}
    assert apply_defaults("ConfigMap", {"data": {}}) == {"data": {}}
    assert apply_defaults("Unknown", {"a": 1}) == {"a": 1}
