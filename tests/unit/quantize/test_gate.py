"""The accuracy gate's pure parts: scores by task, default floors, the exit-5 failure, the
bundled texts; and the CPU bf16 detection it relies on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bei_cli.errors import BuildError
from bei_cli.hardware import has_native_bf16, host_has_native_bf16
from bei_cli.quantize.gate import (
    FP32_ENGINE_FLOOR,
    calibration_texts,
    default_floor,
    heldout_texts,
    judge,
    require_floor,
    score,
)

RNG = np.random.default_rng(0)


def test_embeddings_are_judged_by_their_worst_cosine() -> None:
    want = RNG.normal(size=(4, 8)).astype(np.float32)
    got = want.copy()
    got[2] = -want[2]  # one row flipped: cosine -1
    result = score("embed", list(got * 3.0), list(want))  # scale does not matter
    assert result.metric == "min cosine"
    assert result.value == pytest.approx(-1.0)
    assert result.extra["mean cosine"] == pytest.approx(0.5)
    assert score("embed", list(want), list(want)).value == pytest.approx(1.0)


def test_classifiers_are_judged_by_argmax_agreement() -> None:
    want = np.array([[2.0, 1.0, 0.0], [0.0, 1.0, 2.0], [1.0, 3.0, 0.0], [5.0, 0.0, 0.0]])
    got = want.copy()
    got[1] = [2.5, 1.0, 2.0]  # label 2 -> 0, and the largest |diff| (2.5)
    result = score("classify", list(got), list(want))
    assert (result.metric, result.value) == ("label agreement", 0.75)
    assert result.extra["max score diff"] == pytest.approx(2.5)


def test_a_one_logit_reranker_is_judged_by_the_logits_sign() -> None:
    want = np.array([[1.5], [-0.2], [0.3], [-4.0]])
    got = np.array([[1.4], [0.1], [0.2], [-3.0]])  # the second crosses zero
    assert score("rerank", list(got), list(want)).value == 0.75


def test_ner_is_judged_per_token() -> None:
    want = [np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])]
    got = [want[0], np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])]
    result = score("ner", got, want)
    assert (result.metric, result.value) == ("token label agreement", 0.8)


def test_scoring_needs_matching_rows() -> None:
    with pytest.raises(ValueError, match="cannot score"):
        score("embed", [np.ones(3)], [])


@pytest.mark.parametrize(
    ("dtype", "quantization", "floor"),
    [
        ("bfloat16", "no_quant", 0.999),
        ("float16", "no_quant", 0.999),
        ("float32", "weights_int8", 0.99),
        ("float32", "fp8", 0.99),
        ("bfloat16", "fp8_mlp_only", 0.99),
        ("float32", "fp4", 0.98),
        ("float32", "no_quant", FP32_ENGINE_FLOOR),
    ],
)
def test_default_floors_follow_the_lowest_precision(
    dtype: str, quantization: str, floor: float
) -> None:
    assert default_floor(dtype, quantization) == floor


def test_below_the_floor_the_build_fails_with_exit_5() -> None:
    want = [np.array([1.0, 0.0]), np.array([0.0, 1.0])]
    got = [np.array([1.0, 0.0]), np.array([0.1, 1.0])]
    result = judge("embed", got, want, floor=0.999)
    assert not result.passed and result.texts == 2 and result.reference == "torch float32"
    with pytest.raises(BuildError) as caught:
        require_floor(result, "torch bfloat16 no_quant")
    assert caught.value.exit_code == 5
    assert "torch bfloat16 no_quant" in caught.value.message
    assert "FAILS the floor 0.999" in caught.value.message
    assert "accuracy_floor" in (caught.value.hint or "")
    require_floor(judge("embed", got, want, floor=0.99), "x")  # 0.995 passes 0.99


def test_bundled_texts_are_separate_and_varied() -> None:
    held, calibration = heldout_texts(), calibration_texts()
    assert (len(held), len(calibration)) == (64, 128)
    assert not set(held) & set(calibration)
    assert any(len(t.split()) > 300 for t in held)  # longer than MiniLM's 256 tokens
    assert any(len(t.split()) <= 2 for t in held)
    assert any("\n" in t for t in held)  # code keeps its line breaks
    assert any(not t.isascii() for t in held)


CPUINFO = "processor\t: 0\nflags\t\t: fpu sse2 avx2 {extra}\n\nprocessor\t: 1\nflags\t\t: fpu\n"


@pytest.mark.parametrize(
    ("extra", "native"),
    [("avx512f avx512_vnni", False), ("avx512_bf16", True), ("amx_tile amx_bf16", True)],
)
def test_native_bf16_comes_from_the_cpu_flags(extra: str, native: bool) -> None:
    assert has_native_bf16(CPUINFO.format(extra=extra)) is native
    assert has_native_bf16("flags: avx512_bf16_not_a_flag") is False


def test_an_unreadable_cpuinfo_means_no_bf16(tmp_path: Path) -> None:
    assert host_has_native_bf16(tmp_path / "missing") is False
    (tmp_path / "cpuinfo").write_text(CPUINFO.format(extra="amx_bf16"))
    assert host_has_native_bf16(tmp_path / "cpuinfo") is True
