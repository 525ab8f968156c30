"""Label selector parsing and matching."""

import pytest

from pybernetes.api import labels


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("app=web,tier in (fe,be),!canary", "app=web,!canary,tier in (be,fe)"),
        ("x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()"),
        ("environment==production", "environment==production"),
        ("a!=b", "a!=b"),
        ("  a = b  ", "a=b"),
        ("a=", "a="),
        ("a>1", "a>1"),
        ("", ""),
    ],
)
def test_parse_canonical(text, canonical):
    assert str(labels.parse(text)) == canonical


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
        ("a in b", "unable to parse requirement: found 'b' expected: '('"),
        ("a in (b", "unable to parse requirement: found '', expected: ',' or ')'"),
        (",a", "found ',', expected: !, identifier, or 'end of string'"),
        ("a,", "found '', expected: identifier after ','"),
        ("a=b c", "found 'c', expected: ',' or 'end of string'"),
        ("!", "unable to parse requirement: found '', expected: identifier"),
        ("a<x", 'unable to parse requirement: values[0]: Invalid value: "x": for \'Gt\', \'Lt\' operators, the value must be an integer'),
    ],
)
def test_parse_errors(text, message):
    with pytest.raises(labels.SelectorError) as e:
        labels.parse(text)
    assert str(e.value) == message


def test_bad_key_and_value_messages():
    with pytest.raises(labels.SelectorError) as e:
        labels.parse("-a=b")
    assert str(e.value).startswith('unable to parse requirement: <nil>: Invalid value: "-a": name part must consist of')
    with pytest.raises(labels.SelectorError) as e:
        labels.parse("a=-b")
    assert str(e.value).startswith('unable to parse requirement: values[0][a]: Invalid value: "-b": a valid label must be')


def test_matching():
    sel = labels.parse("app=web,tier in (fe,be),!canary,env notin (prod)")
    assert sel.matches({"app": "web", "tier": "fe"})
    assert not sel.matches({"app": "web", "tier": "fe", "canary": "1"})
    assert not sel.matches({"app": "web", "tier": "db"})
    assert not sel.matches({"app": "web", "tier": "fe", "env": "prod"})
    assert labels.parse("a").matches({"a": ""}) and not labels.parse("a").matches({})
    assert labels.parse("a!=x").matches({}) and not labels.parse("a==x").matches({})
    assert labels.parse("n>5").matches({"n": "6"}) and not labels.parse("n>5").matches({"n": "x"})
    assert labels.parse("").matches({"x": "y"}) and labels.parse("").empty()
    assert labels.matches("a=b", {"a": "b"})
    assert labels.parse("a=b,c in (d)").requires_exact_match("c") == "d"


def test_label_selector_objects():
    sel = labels.from_label_selector(
        {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe"]},
                                                             {"key": "x", "operator": "DoesNotExist"}]}
    )
    assert str(sel) == "app=web,tier in (fe),!x"
    assert sel.matches({"app": "web", "tier": "fe"}) and not sel.matches({"app": "web", "tier": "fe", "x": "1"})
    assert labels.from_label_selector(None).matches({}) is False
    assert labels.from_label_selector({}).matches({"a": "b"}) is True
    assert labels.from_set({"a": "b"}).matches({"a": "b", "c": "d"})
    with pytest.raises(labels.SelectorError, match='^"Foo" is not a valid label selector operator$'):
        labels.from_label_selector({"matchExpressions": [{"key": "c", "operator": "Foo"}]})
    with pytest.raises(labels.SelectorError) as e:
        labels.from_label_selector({"matchExpressions": [{"key": "c", "operator": "In"}]})
    assert str(e.value) == "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty"
