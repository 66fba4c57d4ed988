from __future__ import annotations

from bei_cli.registry.auth import basic_header, parse_challenge
from bei_cli.registry.credentials import Credentials


def test_bearer_challenge_with_commas_inside_quotes():
    header = (
        'Bearer realm="https://auth.example.com/token",service="registry.example.com",'
        'scope="repository:team/model:pull,push",error="insufficient_scope"'
    )
    challenge = parse_challenge(header)
    assert challenge.scheme == "bearer"
    assert challenge.params == {
        "realm": "https://auth.example.com/token",
        "service": "registry.example.com",
        "scope": "repository:team/model:pull,push",
        "error": "insufficient_scope",
    }


def test_basic_challenge_and_unquoted_values():
    assert parse_challenge('Basic realm="bei-test"').scheme == "basic"
    assert parse_challenge("BEARER realm=https://a/t, service=s").params == {
        "realm": "https://a/t",
        "service": "s",
    }
    assert parse_challenge("").scheme == ""


def test_basic_header():
    assert basic_header(Credentials("u", "p", "x")) == "Basic dTpw"
