"""Which base an artifact needs, and the refusal of a base that cannot run it: pure functions
of the plan's engines, the artifact's device and the base's labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from bei_cli.engine.limits import Limits
from bei_cli.engine.selection import Candidate
from bei_cli.engine.spec import ArtifactSpec
from bei_cli.errors import BuildError
from bei_cli.image.build import BaseChoice
from bei_cli.image.variants import VARIANTS, check_fits, variant_for, variants_for
from tests.fixtures.images import write_tiny_base

CPU_SLIM = {"io.bei.base.engines": "onnx,fake", "io.bei.base.devices": "cpu"}
CPU = {"io.bei.base.engines": "torch,onnx,fake", "io.bei.base.devices": "cpu"}
CUDA = {"io.bei.base.engines": "torch,onnx,fake", "io.bei.base.devices": "cuda,cpu"}


@pytest.mark.parametrize(
    ("engines", "device_kind", "variant"),
    [
        ({"onnx"}, "cpu", "cpu-slim"),
        ({"fake"}, "cpu", "cpu-slim"),
        ({"torch"}, "cpu", "cpu"),
        ({"torch", "onnx"}, "cpu", "cpu"),  # engine: auto may keep either
        ({"torch"}, "cuda", "cuda"),
        ({"onnx"}, "cuda", "cuda"),
    ],
)
def test_variant_for(engines: set[str], device_kind: str, variant: str) -> None:
    assert variant_for(engines, device_kind) == variant
    chosen = VARIANTS[variant]
    assert set(engines) <= set(chosen.engines) and device_kind in chosen.devices


def test_an_onnx_artifact_also_runs_on_the_cpu_base() -> None:
    assert variants_for({"onnx"}, "cpu") == ("cpu-slim", "cpu")
    assert variants_for({"torch"}, "cpu") == ("cpu",)
    assert variants_for({"torch"}, "cuda") == ("cuda",)


def test_each_variant_fits_what_it_is_chosen_for() -> None:
    check_fits("cpu-slim", CPU_SLIM, {"onnx"}, "cpu")
    check_fits("cpu", CPU, {"torch", "onnx"}, "cpu")
    check_fits("cuda", CUDA, {"torch"}, "cuda")
    check_fits("cuda", CUDA, {"torch"}, "cpu")  # a CUDA build of torch runs on a CPU too


def test_a_torch_artifact_on_cpu_slim_names_the_cpu_base() -> None:
    with pytest.raises(BuildError) as caught:
        check_fits("oci:/b:cpu-slim", CPU_SLIM, {"torch"}, "cpu")
    assert "runs the engines fake, onnx, not torch" in caught.value.message
    assert "`bei image base --variant cpu`" in (caught.value.hint or "")
    assert caught.value.exit_code == 5 and caught.value.param == "--base"


def test_a_cuda_artifact_on_a_cpu_base_is_refused_with_both_ways_out() -> None:
    with pytest.raises(BuildError) as caught:
        check_fits("oci:/b:cpu", CPU, {"torch"}, "cuda")
    assert "runs on cpu, and this is a cuda artifact" in caught.value.message
    hint = caught.value.hint or ""
    assert "`bei image base --variant cuda`" in hint and "--target cpu" in hint


def test_devices_come_from_the_variant_label_when_the_base_predates_the_devices_label() -> None:
    old_cpu = {"io.bei.base.engines": "torch,onnx,fake", "io.bei.base.variant": "cpu"}
    with pytest.raises(BuildError, match="runs on cpu"):
        check_fits("old", old_cpu, {"torch"}, "cuda")
    old_cuda = {"io.bei.base.engines": "torch,onnx,fake", "io.bei.base.variant": "cuda"}
    check_fits("old", old_cuda, {"torch"}, "cuda")


def test_a_foreign_base_without_labels_is_not_second_guessed() -> None:
    check_fits("docker.io/library/python:3.11", {}, {"torch"}, "cuda")


def spec(engine: str, device_kind: str, *candidates: str) -> ArtifactSpec:
    return ArtifactSpec(
        engine=engine,
        dtype="float16" if device_kind == "cuda" else "float32",
        quantization="no_quant",
        limits=Limits(4096, 16, 128, 8, 64, True),
        default_route="/v1/embeddings",
        served_model_name="m",
        source={"source": "HF", "repo": "org/m", "revision": None},
        device_kind=device_kind,
        candidates=tuple(Candidate(e, "float32") for e in candidates),
    )


def test_bei_builds_base_choice_follows_the_plan(tmp_path: Path) -> None:
    """The hook `bei build` runs between plan and engine build: a cuda plan takes the cached
    cuda base and refuses a CPU one given by --base; an auto plan that may keep torch or onnx
    needs a base that runs both."""
    cache = tmp_path / "bases"
    cpu = write_tiny_base(cache / "cpu", engines="torch,onnx,fake", tag="cpu", variant="cpu")
    slim = write_tiny_base(tmp_path / "slim", engines="onnx,fake", tag="cpu-slim")
    choice = BaseChoice(None, cache)
    with pytest.raises(BuildError, match="no cuda base"):
        choice(spec("torch", "cuda"))
    cuda = write_tiny_base(
        cache / "cuda", engines="torch,onnx,fake", tag="cuda", devices="cuda,cpu", variant="cuda"
    )
    choice(spec("torch", "cuda"))
    assert choice.reference == cuda
    with pytest.raises(BuildError, match="runs on cpu, and this is a cuda artifact"):
        BaseChoice(cpu, cache)(spec("torch", "cuda"))
    auto = spec("torch", "cpu", "torch", "onnx")
    choice(auto)
    assert choice.reference == cpu
    with pytest.raises(BuildError, match="not torch"):
        BaseChoice(slim, cache)(auto)
