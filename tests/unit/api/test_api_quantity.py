"""Quantities: exact parse, canonical form, comparison, errors."""

from fractions import Fraction

import pytest

from pybernetes.api.quantity import (
    QUANTITY_FORMAT_ERROR,
    QUANTITY_NUMERIC_ERROR,
    QUANTITY_SUFFIX_ERROR,
    QuantityError,
    parse_quantity,
)


@pytest.mark.parametrize(
    ("text", "canonical", "value"),
    [
        ("100m", "100m", Fraction(1, 10)),
        ("1.5Gi", "1536Mi", Fraction(3 * 2**29)),
        ("2e3", "2e3", Fraction(2000)),
        ("1k", "1k", Fraction(1000)),
        ("1024Mi", "1Gi", Fraction(2**30)),
        ("0.5Ki", "512", Fraction(512)),
        ("1.5", "1500m", Fraction(3, 2)),
        ("1000", "1k", Fraction(1000)),
        ("1500", "1500", Fraction(1500)),
        ("0.0000000001", "1n", Fraction(1, 10**9)),
        ("-1.5", "-1500m", Fraction(-3, 2)),
        ("0", "0", Fraction(0)),
        (".5", "500m", Fraction(1, 2)),
        ("12Mi", "12Mi", Fraction(12 * 2**20)),
        (2, "2", Fraction(2)),
        (0.25, "250m", Fraction(1, 4)),
    ],
)
def test_parse_and_canonical(text, canonical, value):
    q = parse_quantity(text)
    assert q.value == value
    assert str(q) == canonical


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", QUANTITY_FORMAT_ERROR),
        ("1Gb", QUANTITY_FORMAT_ERROR),
        ("", QUANTITY_FORMAT_ERROR),
        ("1.2.3", QUANTITY_FORMAT_ERROR),
        (".", QUANTITY_NUMERIC_ERROR),
        ("1Ki2", QUANTITY_SUFFIX_ERROR),
    ],
)
def test_errors(text, message):
    with pytest.raises(QuantityError) as e:
        parse_quantity(text)
    assert str(e.value) == message


def test_comparison_and_helpers():
    assert parse_quantity("1") == parse_quantity("1000m")
    assert parse_quantity("500m") < parse_quantity("1")
    assert parse_quantity("1Gi") > parse_quantity("1G")
    assert parse_quantity("100m").milli_value == 100
    assert parse_quantity("1.1").int_value() == 2
    assert str(parse_quantity("1") + parse_quantity("500m")) == "1500m"
    assert QUANTITY_FORMAT_ERROR == (
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )
