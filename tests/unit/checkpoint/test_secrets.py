from __future__ import annotations

from pathlib import Path

import pytest

from bei_cli.checkpoint import SecretLookup
from bei_cli.errors import CredentialsError


def test_exact_env_name_wins_over_upper_case_and_file(tmp_path: Path) -> None:
    (tmp_path / "hf_access_token").write_text("from-file\n")
    lookup = SecretLookup(
        environ={"hf_access_token": "exact", "HF_ACCESS_TOKEN": "upper"}, secrets_dir=tmp_path
    )
    found = lookup.find("hf_access_token")
    assert found is not None
    assert (found.value, found.origin) == ("exact", "env hf_access_token")


def test_upper_case_env_before_file(tmp_path: Path) -> None:
    (tmp_path / "hf_access_token").write_text("from-file\n")
    lookup = SecretLookup(environ={"HF_ACCESS_TOKEN": "upper"}, secrets_dir=tmp_path)
    assert lookup.get("hf_access_token") == "upper"


def test_secrets_dir_file_is_stripped(tmp_path: Path) -> None:
    (tmp_path / "hf_access_token").write_text("  from-file\n")
    lookup = SecretLookup(environ={}, secrets_dir=tmp_path)
    found = lookup.find("hf_access_token")
    assert found is not None
    assert found.value == "from-file"
    assert found.origin == f"file {tmp_path / 'hf_access_token'}"


def test_missing_everywhere_is_none_so_the_hub_uses_its_own_token(tmp_path: Path) -> None:
    lookup = SecretLookup(environ={"HF_TOKEN": "hub-reads-this-itself"}, secrets_dir=tmp_path)
    assert lookup.find("hf_access_token") is None


def test_empty_values_do_not_count(tmp_path: Path) -> None:
    (tmp_path / "hf_access_token").write_text("\n")
    lookup = SecretLookup(environ={"hf_access_token": " "}, secrets_dir=tmp_path)
    assert lookup.get("hf_access_token") is None


def test_no_secrets_dir_and_no_env(tmp_path: Path) -> None:
    assert SecretLookup(environ={}, secrets_dir=None).get("x") is None


def test_names_that_would_leave_the_secrets_dir_are_not_read(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (tmp_path / "outside").write_text("leaked")
    assert SecretLookup(environ={}, secrets_dir=secrets).get("../outside") is None


def test_unreadable_secret_is_a_credentials_error(tmp_path: Path) -> None:
    (tmp_path / "hf_access_token").mkdir()  # a directory cannot be read as a file
    with pytest.raises(CredentialsError, match="cannot read the secret file"):
        SecretLookup(environ={}, secrets_dir=tmp_path).get("hf_access_token")


def test_values_never_show_in_reprs(tmp_path: Path) -> None:
    lookup = SecretLookup(environ={"hf_access_token": "s3cr3t"}, secrets_dir=tmp_path)
    assert "s3cr3t" not in repr(lookup)
    assert "s3cr3t" not in repr(lookup.find("hf_access_token"))


def test_places_names_every_place_for_hints(tmp_path: Path) -> None:
    places = SecretLookup(environ={}, secrets_dir=tmp_path).places("hf_access_token")
    assert "$hf_access_token" in places
    assert "$HF_ACCESS_TOKEN" in places
    assert str(tmp_path / "hf_access_token") in places
