"""Go encoding/json error texts (pure functions: no processes needed)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet.lab.simtools import gojson
from fleet.lab.simtools.packages import Pkg, match


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": 1,}', "invalid character '}' looking for beginning of object key string"),
        ('{"a": 1 "b": 2}', "invalid character '\"' after object key:value pair"),
        ('{"a" 1}', "invalid character '1' after object key"),
        ("[1, 2,]", "invalid character ']' looking for beginning of value"),
        ("[1 2]", "invalid character '2' after array element"),
        ("# comment\n{}", "invalid character '#' looking for beginning of value"),
        ("{'a': 1}", "invalid character '\\'' looking for beginning of object key string"),
        ('{"a": tru}', "invalid character '}' in literal true (expecting 'e')"),
        ('{"a": 01}', "invalid character '1' after object key:value pair"),
        ('{"a": 1.}', "invalid character '}' after decimal point in numeric literal"),
        ('{"a": -x}', "invalid character 'x' in numeric literal"),
        ('{"a": "\\q"}', "invalid character 'q' in string escape code"),
        ('{"a": "x\ny"}', "invalid character '\\n' in string literal"),
        ("{} {}", "invalid character '{' after top-level value"),
        ('{"a": [1, 2}', "invalid character '}' after array element"),
        ('{"a": 1', "unexpected end of JSON input"),
        ("", "unexpected end of JSON input"),
        ("NaN", "invalid character 'N' looking for beginning of value"),
    ],
)
def test_syntax_errors_match_go(text: str, message: str) -> None:
    with pytest.raises(gojson.GoJSONError) as caught:
        gojson.unmarshal_object(text.encode())
    assert str(caught.value) == message


def test_non_object_top_level() -> None:
    with pytest.raises(gojson.GoJSONError) as caught:
        gojson.unmarshal_object(b'["a"]')
    assert (
        str(caught.value)
        == "json: cannot unmarshal array into Go value of type map[string]interface {}"
    )


def test_bom_and_null_are_accepted() -> None:
    assert gojson.unmarshal_object(b'\xef\xbb\xbf{"debug": true}') == {"debug": True}
    assert gojson.unmarshal_object(b"null") == {}


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(), _json_values, max_size=5), st.booleans())
def test_valid_json_always_passes(value: dict[str, object], pretty: bool) -> None:
    text = json.dumps(value, indent=2 if pretty else None)
    assert gojson.unmarshal_object(text.encode()) == json.loads(text)


@given(st.text(max_size=30))
def test_scanner_agrees_with_a_strict_parser(text: str) -> None:
    """Whatever Python's parser (strict, no NaN) accepts, Go accepts, and vice versa."""

    def strict(data: str) -> object:
        return json.loads(data, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))

    try:
        strict(text)
        python_ok = True
    except ValueError:
        python_ok = False
    try:
        gojson.check_syntax(text.encode())
        go_ok = True
    except gojson.GoJSONError:
        go_ok = False
    assert go_ok == python_ok


def test_go_format_matches_fmt_v() -> None:
    assert (
        gojson.go_format(["fd://", "unix:///var/run/docker.sock"])
        == "[fd:// unix:///var/run/docker.sock]"
    )
    assert (
        gojson.go_format({"max-size": "100m", "max-file": "3"}) == "map[max-file:3 max-size:100m]"
    )
    assert gojson.go_format(True) == "true"
    assert gojson.go_format(3.0) == "3"


def test_package_argument_matching() -> None:
    pkgs = [
        Pkg("docker-ce", "3", "19.03.11", "3.el7", "x86_64", "docker-ce-stable"),
        Pkg("docker-ce-cli", "1", "19.03.11", "3.el7", "x86_64", "docker-ce-stable"),
        Pkg("containerd.io", "0", "1.2.13", "3.2.el7", "x86_64", "docker-ce-stable"),
    ]
    assert [p.name for p in match("docker-ce-cli-19.03.11", pkgs)] == ["docker-ce-cli"]
    assert [p.name for p in match("docker-ce-19.03.11", pkgs)] == ["docker-ce"]
    assert [p.name for p in match("docker-ce-3:19.03.11-3.el7.x86_64", pkgs)] == ["docker-ce"]
    assert match("docker-ce-19.03.12", pkgs) == []
    assert [p.name for p in match("containerd.io-1.2.13", pkgs)] == ["containerd.io"]
    assert pkgs[0].nvra == "docker-ce-19.03.11-3.el7.x86_64"
    assert pkgs[0].envra == "3:docker-ce-19.03.11-3.el7.x86_64"
    assert pkgs[0].nevra == "docker-ce-3:19.03.11-3.el7.x86_64"
