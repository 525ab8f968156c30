"""Name, label-key and label-value syntax with Kubernetes' exact messages.

Each ``is_*`` function returns a list of problem strings (empty when valid),
like apimachinery's ``validation.Is*``; callers wrap them in ``FieldError``s.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable

__all__ = [
    "is_dns1123_label",
    "is_dns1123_subdomain",
    "is_dns1035_label",
    "is_qualified_name",
    "is_valid_label_value",
    "is_c_identifier",
    "is_env_var_name",
    "is_config_map_key",
    "is_valid_port_num",
    "is_valid_port_name",
    "is_http_header_name",
    "max_len_error",
    "regex_error",
    "empty_error",
    "NameValidator",
    "name_is_dns_subdomain",
    "name_is_dns_label",
    "name_is_dns1035_label",
    "validate_path_segment_name",
    "name_validator_for",
    "generate_name_suffix",
    "generate_name",
    "SUFFIX_ALPHABET",
    "DNS1123_LABEL_MAX_LENGTH",
    "DNS1123_SUBDOMAIN_MAX_LENGTH",
    "DNS1035_LABEL_MAX_LENGTH",
    "LABEL_VALUE_MAX_LENGTH",
]

DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL_ERR = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
DNS1123_LABEL_MAX_LENGTH = 63
DNS1123_SUBDOMAIN_FMT = DNS1123_LABEL_FMT + "(\\." + DNS1123_LABEL_FMT + ")*"
DNS1123_SUBDOMAIN_ERR = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character"
)
DNS1123_SUBDOMAIN_MAX_LENGTH = 253
DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
DNS1035_LABEL_ERR = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
    "start with an alphabetic character, and end with an alphanumeric character"
)
DNS1035_LABEL_MAX_LENGTH = 63
QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
QUALIFIED_NAME_ERR = (
    "must consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
QUALIFIED_NAME_MAX_LENGTH = 63
LABEL_VALUE_FMT = "(" + QUALIFIED_NAME_FMT + ")?"
LABEL_VALUE_ERR = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
LABEL_VALUE_MAX_LENGTH = 63
C_IDENTIFIER_FMT = "[A-Za-z_][A-Za-z0-9_]*"
C_IDENTIFIER_ERR = (
    "a valid C identifier must start with alphabetic character or '_', "
    "followed by a string of alphanumeric characters or '_'"
)
ENV_VAR_NAME_FMT = "[-._a-zA-Z][-._a-zA-Z0-9]*"
ENV_VAR_NAME_ERR = (
    "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', "
    "and must not start with a digit"
)
CONFIG_MAP_KEY_FMT = "[-._a-zA-Z0-9]+"
CONFIG_MAP_KEY_ERR = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
HTTP_HEADER_NAME_FMT = "[-A-Za-z0-9]+"
HTTP_HEADER_NAME_ERR = "a valid HTTP header must consist of alphanumeric characters or '-'"

_full = re.compile
_DNS1123_LABEL = _full(f"^{DNS1123_LABEL_FMT}$")
_DNS1123_SUBDOMAIN = _full(f"^{DNS1123_SUBDOMAIN_FMT}$")
_DNS1035_LABEL = _full(f"^{DNS1035_LABEL_FMT}$")
_QUALIFIED_NAME = _full(f"^{QUALIFIED_NAME_FMT}$")
_LABEL_VALUE = _full(f"^{LABEL_VALUE_FMT}$")
_C_IDENTIFIER = _full(f"^{C_IDENTIFIER_FMT}$")
_ENV_VAR_NAME = _full(f"^{ENV_VAR_NAME_FMT}$")
_CONFIG_MAP_KEY = _full(f"^{CONFIG_MAP_KEY_FMT}$")
_HTTP_HEADER_NAME = _full(f"^{HTTP_HEADER_NAME_FMT}$")
_PORT_NAME_CHARS = _full("^[-a-z0-9]+$")
_PORT_NAME_ONE_LETTER = _full("[a-z]")


def _m(rx: re.Pattern, s: str) -> bool:
    # fullmatch: Python's "$" alone would accept a trailing newline, Go's does not
    return rx.fullmatch(s) is not None


def max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def empty_error() -> str:
    return "must be non-empty"


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    """apimachinery's RegexError wording."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    # Kubernetes' exact (double-spaced) wording: "(e.g. 'a',  or 'b', regex used ...)"
    ex = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {ex}regex used for validation is '{fmt}')"


def is_dns1123_label(value: str) -> list[str]:
    errs: list[str] = []
    if len(value) > DNS1123_LABEL_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_LABEL_MAX_LENGTH))
    if not _m(_DNS1123_LABEL, value):
        if _m(_DNS1123_SUBDOMAIN, value):
            errs.append("must not contain dots")
        else:
            errs.append(regex_error(DNS1123_LABEL_ERR, DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def is_dns1123_subdomain(value: str) -> list[str]:
    errs: list[str] = []
    if len(value) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _m(_DNS1123_SUBDOMAIN, value):
        errs.append(regex_error(DNS1123_SUBDOMAIN_ERR, DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def is_dns1035_label(value: str) -> list[str]:
    errs: list[str] = []
    if len(value) > DNS1035_LABEL_MAX_LENGTH:
        errs.append(max_len_error(DNS1035_LABEL_MAX_LENGTH))
    if not _m(_DNS1035_LABEL, value):
        errs.append(regex_error(DNS1035_LABEL_ERR, DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


def is_qualified_name(value: str) -> list[str]:
    """Label keys and annotation keys: ``[prefix/]name``."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part " + empty_error())
        else:
            errs.extend("prefix part " + m for m in is_dns1123_subdomain(prefix))
    else:
        return [
            "a qualified name "
            + regex_error(QUALIFIED_NAME_ERR, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part " + empty_error())
    elif len(name) > QUALIFIED_NAME_MAX_LENGTH:
        errs.append("name part " + max_len_error(QUALIFIED_NAME_MAX_LENGTH))
    if not _m(_QUALIFIED_NAME, name):
        errs.append(
            "name part " + regex_error(QUALIFIED_NAME_ERR, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
        )
    return errs


def is_valid_label_value(value: str) -> list[str]:
    errs: list[str] = []
    if len(value) > LABEL_VALUE_MAX_LENGTH:
        errs.append(max_len_error(LABEL_VALUE_MAX_LENGTH))
    if not _m(_LABEL_VALUE, value):
        errs.append(regex_error(LABEL_VALUE_ERR, LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def is_c_identifier(value: str) -> list[str]:
    if not _m(_C_IDENTIFIER, value):
        return [regex_error(C_IDENTIFIER_ERR, C_IDENTIFIER_FMT, "my_name", "MY_NAME", "MyName")]
    return []


def is_env_var_name(value: str) -> list[str]:
    errs: list[str] = []
    if not _m(_ENV_VAR_NAME, value):
        errs.append(regex_error(ENV_VAR_NAME_ERR, ENV_VAR_NAME_FMT, "my.env-name", "MY_ENV.NAME", "MyEnvName1"))
    errs.extend(_has_chars_of_dots(value))
    return errs


def is_config_map_key(value: str) -> list[str]:
    errs: list[str] = []
    if len(value) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _m(_CONFIG_MAP_KEY, value):
        errs.append(regex_error(CONFIG_MAP_KEY_ERR, CONFIG_MAP_KEY_FMT, "key.name", "KEY_NAME", "key-name"))
    errs.extend(_has_chars_of_dots(value))
    return errs


def _has_chars_of_dots(value: str) -> list[str]:
    if value == ".":
        return ["must not be '.'"]
    if value == "..":
        return ["must not be '..'"]
    if value.startswith(".."):
        return ["must not start with '..'"]
    return []


def is_valid_port_num(port: int) -> list[str]:
    if 1 <= port <= 65535:
        return []
    return ["must be between 1 and 65535, inclusive"]


def is_valid_port_name(port: str) -> list[str]:
    """IANA_SVC_NAME: at most 15 chars, lowercase alnum and '-', a letter, no '--' or edge '-'."""
    errs: list[str] = []
    if len(port) > 15:
        errs.append(max_len_error(15))
    if not _m(_PORT_NAME_CHARS, port):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not _PORT_NAME_ONE_LETTER.search(port):
        errs.append("must contain at least one letter (a-z)")
    if "--" in port:
        errs.append("must not contain consecutive hyphens")
    if port and (port[0] == "-" or port[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def is_http_header_name(value: str) -> list[str]:
    if not _m(_HTTP_HEADER_NAME, value):
        return [regex_error(HTTP_HEADER_NAME_ERR, HTTP_HEADER_NAME_FMT, "X-Header-Name")]
    return []


# --- object names -----------------------------------------------------------

NameValidator = Callable[[str, bool], list[str]]
"""``(name, prefix) -> problems``; with ``prefix`` a trailing '-' is allowed (generateName)."""


def _mask_trailing_dash(name: str) -> str:
    if len(name) > 1 and name.endswith("-"):
        return name[:-2] + "a"
    return name


def name_is_dns_subdomain(name: str, prefix: bool) -> list[str]:
    if prefix:
        name = _mask_trailing_dash(name)
    return is_dns1123_subdomain(name)


def name_is_dns_label(name: str, prefix: bool) -> list[str]:
    if prefix:
        name = _mask_trailing_dash(name)
    return is_dns1123_label(name)


def name_is_dns1035_label(name: str, prefix: bool) -> list[str]:
    if prefix:
        name = _mask_trailing_dash(name)
    return is_dns1035_label(name)


def validate_path_segment_name(name: str, prefix: bool) -> list[str]:
    """Names that only need to be a URL path segment (e.g. events use subdomain-ish but this is looser)."""
    errs: list[str] = []
    if not prefix and name in (".", ".."):
        errs.append(f"may not be '{name}'")
    for bad in ("/", "%"):
        if bad in name:
            errs.append(f"may not contain '{bad}'")
    return errs


# Kubernetes validates most names as DNS-1123 subdomains; these kinds differ.
_NAME_VALIDATORS: dict[str, NameValidator] = {
    "Namespace": name_is_dns_label,
    "Service": name_is_dns1035_label,
}


def name_validator_for(kind: str) -> NameValidator:
    """The name validator Kubernetes uses for ``kind`` (subdomain unless listed)."""
    return _NAME_VALIDATORS.get(kind, name_is_dns_subdomain)


# --- generateName -----------------------------------------------------------

SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_MAX_GENERATED_NAME_LENGTH = 63
_RANDOM_LENGTH = 5
_MAX_BASE_LENGTH = _MAX_GENERATED_NAME_LENGTH - _RANDOM_LENGTH


def generate_name_suffix(length: int = _RANDOM_LENGTH) -> str:
    """Random characters from Kubernetes' alphabet (no vowels, no confusable digits)."""
    return "".join(secrets.choice(SUFFIX_ALPHABET) for _ in range(length))


def generate_name(base: str) -> str:
    """``names.SimpleNameGenerator``: base truncated to 58 chars plus 5 random characters."""
    if len(base) > _MAX_BASE_LENGTH:
        base = base[:_MAX_BASE_LENGTH]
    return base + generate_name_suffix()
