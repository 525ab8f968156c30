"""Name syntax checks with Kubernetes' exact strings."""

from pybernetes.api import names

LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
    "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
    "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)


def test_dns1123_label():
    assert names.is_dns1123_label("web-1") == []
    assert names.is_dns1123_label("Web_1") == [LABEL_MSG]
    assert names.is_dns1123_label("a.b") == ["must not contain dots"]
    assert names.is_dns1123_label("a" * 64) == ["must be no more than 63 characters"]
    assert names.is_dns1123_label("web\n") == [LABEL_MSG]


def test_dns1123_subdomain():
    assert names.is_dns1123_subdomain("a.b-c.d") == []
    assert names.is_dns1123_subdomain("Web_1") == [SUBDOMAIN_MSG]
    assert names.is_dns1123_subdomain("a" * 254) == ["must be no more than 253 characters"]


def test_dns1035_label():
    assert names.is_dns1035_label("web") == []
    assert names.is_dns1035_label("1web") == [DNS1035_MSG]


def test_qualified_name_and_label_value():
    assert names.is_qualified_name("example.com/My_Name.1") == []
    assert names.is_qualified_name("/a") == ["prefix part must be non-empty"]
    assert names.is_qualified_name("a/") == [
        "name part must be non-empty",
        "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
        "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
        "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
    ]
    assert names.is_qualified_name("Ex.com/a")[0].startswith("prefix part a lowercase RFC 1123 subdomain")
    assert names.is_qualified_name("a/b/c")[0].startswith("a qualified name must consist of")
    assert names.is_valid_label_value("") == []
    assert names.is_valid_label_value("a" * 64) == ["must be no more than 63 characters"]
    assert names.is_valid_label_value("-a") == [
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
        "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
        "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
    ]


def test_misc_syntaxes():
    assert names.is_env_var_name("MY_VAR.1") == []
    assert names.is_env_var_name("1A")[0].startswith("a valid environment variable name must consist of")
    assert names.is_config_map_key("..a") == ["must not start with '..'"]
    assert names.is_config_map_key("a b")[0].startswith("a valid config key must consist of alphanumeric")
    assert names.is_valid_port_name("http") == []
    assert names.is_valid_port_name("123") == ["must contain at least one letter (a-z)"]
    assert names.is_valid_port_num(0) == ["must be between 1 and 65535, inclusive"]


def test_name_validators_per_kind():
    assert names.name_validator_for("Pod") is names.name_is_dns_subdomain
    assert names.name_validator_for("Service")("1abc", False) == [DNS1035_MSG]
    assert names.name_validator_for("Namespace")("a.b", False) == ["must not contain dots"]
    # generateName prefixes may end with '-'
    assert names.name_is_dns_subdomain("web-", True) == []
    assert names.name_is_dns_subdomain("web-", False) == [SUBDOMAIN_MSG]


def test_generate_name():
    s = names.generate_name_suffix()
    assert len(s) == 5 and set(s) <= set("bcdfghjklmnpqrstvwxz2456789")
    n = names.generate_name("web-")
    assert n.startswith("web-") and len(n) == 9
    assert len(names.generate_name("x" * 100)) == 63
