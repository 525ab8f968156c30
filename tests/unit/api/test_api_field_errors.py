"""FieldError wording and the Invalid Status parts."""

from pybernetes.api import field_errors as fe


def test_messages_match_kubernetes():
    assert fe.required("spec.containers[0].name").message() == "spec.containers[0].name: Required value"
    assert fe.required("spec.containers", "must have at least one").message() == (
        "spec.containers: Required value: must have at least one"
    )
    assert fe.invalid("metadata.name", "Web_1", "bad").message() == 'metadata.name: Invalid value: "Web_1": bad'
    assert fe.not_supported("spec.restartPolicy", "Sometimes", ["Always", "Never", "OnFailure"]).message() == (
        'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "Never", "OnFailure"'
    )
    assert fe.duplicate("spec.containers[1].name", "a").message() == 'spec.containers[1].name: Duplicate value: "a"'
    assert fe.forbidden("spec", "nope").message() == "spec: Forbidden: nope"
    assert fe.too_long("metadata.annotations", 262144).message() == (
        "metadata.annotations: Too long: may not be more than 262144 bytes"
    )
    assert fe.too_many("spec.x", 5, 1).message() == "spec.x: Too many: 5: must have at most 1 item"
    assert fe.not_found("spec.x", "y").message() == 'spec.x: Not found: "y"'
    assert fe.internal_error("spec", "boom").message() == "spec: Internal error: boom"


def test_value_rendering():
    assert fe.invalid("f", 5, "d").body() == "Invalid value: 5: d"
    assert fe.invalid("f", -1.5, "d").body() == "Invalid value: -1.5: d"
    assert fe.invalid("f", True, "").body() == "Invalid value: true"
    assert fe.invalid("f", None, "d").body() == "Invalid value: null: d"
    assert fe.invalid("f", ["a", "b"], "d").body() == 'Invalid value: ["a","b"]: d'
    assert fe.invalid("f", {"b": 1, "a": "x"}, "d").body() == 'Invalid value: {"a":"x","b":1}: d'
    assert fe.invalid("f", 'q"\n', "").body() == 'Invalid value: "q\\"\\n"'
    assert fe.invalid("f", fe.OMIT, "d").body() == "Invalid value: d"


def test_invalid_message_and_causes():
    one = [fe.required("spec.containers")]
    assert fe.invalid_message("Pod", "web", one) == 'Pod "web" is invalid: spec.containers: Required value'
    two = [fe.required("spec.containers"), fe.not_supported("spec.restartPolicy", "x", ["Always"]), fe.required("spec.containers")]
    assert fe.invalid_message("Pod", "web", two) == (
        'Pod "web" is invalid: [spec.containers: Required value, '
        'spec.restartPolicy: Unsupported value: "x": supported values: "Always"]'
    )
    assert fe.invalid_message("Lease", "l", one, group="coordination.k8s.io").startswith(
        'Lease.coordination.k8s.io "l" is invalid: '
    )
    assert fe.invalid_message("Pod", "web", []) == 'Pod "web" is invalid'
    assert fe.causes(two)[:2] == [
        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.containers"},
        {"reason": "FieldValueNotSupported", "message": 'Unsupported value: "x": supported values: "Always"', "field": "spec.restartPolicy"},
    ]
    assert len(fe.causes(two)) == 3
