"""AZURE source without an emulator: the three URI forms and the secret's shapes."""

from __future__ import annotations

import json

import pytest

from bei_cli.checkpoint import SecretLookup, fetch_checkpoint
from bei_cli.checkpoint.azure import parse_azure_uri
from bei_cli.errors import ConfigError, CredentialsError
from tests.unit.checkpoint.conftest import Repo

KEY = "c2VjcmV0S2V5VmFsdWUwMTIzNDU2Nzg5YWJjZGVm"


@pytest.mark.parametrize(
    ("repo", "account", "account_url", "container", "prefix", "uri"),
    [
        (
            "az://acct/models/bge/large",
            "acct",
            "https://acct.blob.core.windows.net",
            "models",
            "bge/large/",
            "az://acct/models/bge/large",
        ),
        (
            "https://acct.blob.core.windows.net/models/bge/",
            "acct",
            "https://acct.blob.core.windows.net",
            "models",
            "bge/",
            "https://acct.blob.core.windows.net/models/bge",
        ),
        (
            "http://127.0.0.1:10000/devstoreaccount1/models",
            "devstoreaccount1",
            "http://127.0.0.1:10000/devstoreaccount1",
            "models",
            "",
            "http://127.0.0.1:10000/devstoreaccount1/models",
        ),
        (
            "azure://acct/c/p",
            "acct",
            "https://acct.blob.core.windows.net",
            "c",
            "p/",
            "az://acct/c/p",
        ),
    ],
)
def test_uri_forms(
    repo: str, account: str, account_url: str, container: str, prefix: str, uri: str
) -> None:
    target = parse_azure_uri(repo)
    assert (target.account, target.account_url) == (account, account_url)
    location = target.location
    assert (location.bucket, location.prefix, location.uri) == (container, prefix, uri)
    assert location.bucket_word == "container"


@pytest.mark.parametrize(
    "repo", ["az://acct", "az://acct/", "https://acct.blob.core.windows.net/", "acct/c/p"]
)
def test_uri_without_container_is_a_config_error(repo: str) -> None:
    with pytest.raises(ConfigError, match="account and a container") as err:
        fetch_checkpoint(Repo("AZURE", repo), secrets=SecretLookup(secrets_dir=None))
    assert err.value.exit_code == 2


@pytest.mark.parametrize(
    "value",
    [
        f"just-a-key-{KEY}",
        json.dumps({"account_url": "https://acct.blob.core.windows.net", "key": KEY}),
        json.dumps({"connection_string": f"AccountKey={KEY};"}),
    ],
)
def test_unusable_secrets_are_refused_without_their_value(value: str) -> None:
    secrets = SecretLookup(environ={"AZ": value}, secrets_dir=None)
    with pytest.raises(CredentialsError) as err:
        fetch_checkpoint(Repo("AZURE", "az://acct/c/p", runtime_secret_name="az"), secrets=secrets)
    assert err.value.exit_code == 3
    assert KEY not in f"{err.value.message} {err.value.hint} {err.value.details}"
