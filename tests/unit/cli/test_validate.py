"""`bei validate` and `bei schema` through the real CLI root (exit codes, output)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bei_cli.cli import main
from tests.fixtures.configs import config_yaml


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    captured = capsys.readouterr()
    return int(caught.value.code or 0), captured.out, captured.err


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(config_yaml(build={"strongly_typed": True, "num_builder_gpus": 1}))
    return path


def test_valid_config_prints_a_summary(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["validate", str(config_file)], capsys)
    assert code == 0
    assert f"valid: {config_file}" in out
    for expected in (
        "base_model:      encoder_bert (BEI-Bert)",
        "checkpoint:      HF sentence-transformers/all-MiniLM-L6-v2 @ main",
        "max_num_tokens:  8192",
        "quantization:    no_quant",
        "route:           /v1/embeddings",
        "accelerator:     L4 per replica",
        "engine:          auto: torch on L4 in BEI's dtype (see `bei build --dry-run`)",
        "ignored (valid Truss, unused by bei): python_version, trt_llm.build.strongly_typed",
    ):
        assert expected in out


def test_warnings_are_part_of_the_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(config_yaml(build={"max_num_tokens": 10000}))
    code, out, _ = run(["validate", str(path)], capsys)
    assert code == 0
    assert "warnings:\n  - trt_llm.build.max_num_tokens 10000 is outside" in out


def test_invalid_config_exits_2_naming_the_dotted_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(config_yaml(build={"max_num_tokens": "16384", "quantisation_type": "fp8"}))
    code, out, err = run(["validate", str(path)], capsys)
    assert code == 2
    assert out == ""
    assert "trt_llm.build.max_num_tokens: must be a whole number" in err
    assert "trt_llm.build.quantisation_type: unknown key" in err
    assert "did you mean `quantization_type`?" in err


def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["validate", str(tmp_path / "nope.yaml")], capsys)
    assert code == 2
    assert "no config file" in err


def test_json_prints_the_normalized_config(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["validate", str(config_file), "--json"], capsys)
    assert code == 0
    document = json.loads(out)
    assert document["trt_llm"]["build"]["max_num_tokens"] == 8192
    assert document["resources"]["accelerator"] == "L4"
    assert document["bei"]["max_concurrent_requests"] == 2048


def test_schema_prints_json_schema_or_writes_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["schema"], capsys)
    assert code == 0 and json.loads(out)["required"] == ["trt_llm"]
    target = tmp_path / "schema.json"
    code, out, err = run(["schema", "--output", str(target)], capsys)
    assert code == 0 and out == "" and "wrote" in err
    assert "TrtLlmBuild" in json.loads(target.read_text())["$defs"]
    code, out, _ = run(["schema", "--format", "markdown"], capsys)
    assert code == 0 and out.startswith("# config.yaml reference")


def test_validate_help_shows_an_example() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bei_cli", "validate", "--help"],
        capture_output=True,
        text=True,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert "Examples:  bei validate examples/" in result.stdout
    assert "--json" in result.stdout


def test_bei_validate_as_a_process_exits_2_with_the_path(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(config_yaml(accelerator="A10G", build={"quantization_type": "fp8"}))
    result = subprocess.run(
        [sys.executable, "-m", "bei_cli", "validate", str(path)],
        capture_output=True,
        text=True,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert "trt_llm.build.quantization_type: FP8 quantization needs" in result.stderr
    assert "hint: Use quantization_type: no_quant on A10G" in result.stderr
