"""Hub failures through the real huggingface_hub against the stand-in Hub (hub_server.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bei_cli.checkpoint import SecretLookup, fetch_checkpoint
from bei_cli.checkpoint.hub_errors import HubRequest, translate_hub_error
from bei_cli.errors import BeiError, CheckpointError, CredentialsError
from tests.unit.checkpoint.conftest import TOKEN, Repo
from tests.unit.checkpoint.hub_server import HubState

ANSWERS: dict[str, tuple[int, dict[str, str]]] = {
    "org/missing": (404, {"X-Error-Code": "RepoNotFound"}),
    "org/gated": (401, {"X-Error-Code": "GatedRepo", "X-Error-Message": "gated"}),
    "org/badrev": (404, {"X-Error-Code": "RevisionNotFound"}),
    "org/badtoken": (401, {"X-Error-Message": "Invalid credentials in Authorization header"}),
    "org/forbidden": (403, {"X-Error-Message": "no access"}),
    "org/down": (503, {}),
}


@pytest.fixture
def failing_hub(hub: HubState) -> HubState:
    hub.answers.update(ANSWERS)
    return hub


def fetch(repo: str, cache: Path, revision: str | None = None) -> Path:
    secrets = SecretLookup(environ={"HF_ACCESS_TOKEN": TOKEN}, secrets_dir=None)
    return fetch_checkpoint(
        Repo("HF", repo, revision), secrets=secrets, cache_dir=cache, progress=False
    )


def auth_sent(hub: HubState) -> list[str]:
    return [auth for _, path, auth in hub.requests if path.startswith("/api/models/")]


def assert_no_token(error: BeiError) -> None:
    text = "\n".join([error.message, error.hint or "", *error.details, str(error), repr(error)])
    assert TOKEN not in text


def test_the_secret_reaches_the_hub_as_a_bearer_token(
    failing_hub: HubState, tmp_path: Path
) -> None:
    with pytest.raises(CheckpointError):
        fetch("org/missing", tmp_path)
    assert auth_sent(failing_hub) == [f"Bearer {TOKEN}"]


def test_missing_repo(failing_hub: HubState, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="org/missing was not found") as err:
        fetch("org/missing", tmp_path)
    assert type(err.value) is CheckpointError
    assert err.value.param == "trt_llm.build.checkpoint_repository.repo"
    assert "env HF_ACCESS_TOKEN" in err.value.message  # where the token came from, not what
    assert_no_token(err.value)


def test_gated_repo_is_a_credentials_error(failing_hub: HubState, tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="gated") as err:
        fetch("org/gated", tmp_path)
    assert err.value.hint is not None
    assert "https://huggingface.co/org/gated" in err.value.hint
    assert_no_token(err.value)


def test_unknown_revision(failing_hub: HubState, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="revision 'v2' does not exist") as err:
        fetch("org/badrev", tmp_path, revision="v2")
    assert err.value.param == "trt_llm.build.checkpoint_repository.revision"


def test_rejected_token(failing_hub: HubState, tmp_path: Path) -> None:
    with pytest.raises(
        CredentialsError, match="rejected the token from env HF_ACCESS_TOKEN"
    ) as err:
        fetch("org/badtoken", tmp_path)
    assert err.value.param == "trt_llm.build.checkpoint_repository.runtime_secret_name"
    assert_no_token(err.value)


def test_forbidden_is_reported_as_such_not_as_unreachable(
    failing_hub: HubState, tmp_path: Path
) -> None:
    with pytest.raises(CredentialsError, match="HTTP 403") as err:
        fetch("org/forbidden", tmp_path)
    assert_no_token(err.value)


def test_hub_down(failing_hub: HubState, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="HTTP 503") as err:
        fetch("org/down", tmp_path)
    assert_no_token(err.value)


def test_without_the_secret_the_hub_falls_back_to_hf_token(
    failing_hub: HubState, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_from_the_hub_env")
    with pytest.raises(CheckpointError) as err:
        fetch_checkpoint(
            Repo("HF", "org/missing"),
            secrets=SecretLookup(environ={}, secrets_dir=tmp_path),
            cache_dir=tmp_path,
        )
    assert auth_sent(failing_hub) == ["Bearer hf_from_the_hub_env"]
    assert "HF_TOKEN" in err.value.message  # says which token was tried, not its value
    assert "hf_from_the_hub_env" not in err.value.message


def test_the_configured_secret_wins_over_hf_token(
    failing_hub: HubState, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_from_the_hub_env")
    with pytest.raises(CheckpointError):
        fetch("org/missing", tmp_path)
    assert auth_sent(failing_hub) == [f"Bearer {TOKEN}"]


def test_a_token_inside_a_lower_level_message_is_redacted() -> None:
    request = HubRequest(
        repo_id="org/m",
        revision="main",
        cache_dir="/cache",
        offline=False,
        token_origin="env HF_ACCESS_TOKEN",
        secret_places="env $HF_ACCESS_TOKEN",
        token=TOKEN,
    )
    error = translate_hub_error(OSError(f"proxy refused 'Authorization: Bearer {TOKEN}'"), request)
    assert isinstance(error, CheckpointError)
    assert error.details == ("proxy refused 'Authorization: Bearer ***'",)
    assert_no_token(error)
    assert TOKEN not in repr(request)
