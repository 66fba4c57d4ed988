"""The weight-loading check on transformers' loading info: which keys refuse a load."""

from __future__ import annotations

from bei_cli.engine.families.loading import loading_problems


def test_an_exact_load_has_no_problems() -> None:
    info = {"missing_keys": set(), "unexpected_keys": set(), "mismatched_keys": set()}
    assert loading_problems(info, base_model_load=False) == []


def test_an_embedder_may_leave_heads_and_the_pooler_unused() -> None:
    info = {
        "missing_keys": {"pooler.dense.weight", "gte.pooler.dense.bias"},
        "unexpected_keys": {"lm_head.weight", "cls.predictions.bias", "classifier.weight"},
    }
    assert loading_problems(info, base_model_load=True) == []


def test_a_missing_backbone_weight_is_a_problem_even_for_an_embedder() -> None:
    info = {"missing_keys": {"encoder.layer.1.output.dense.weight", "dense.weight"}}
    (problem,) = loading_problems(info, base_model_load=True)
    assert problem.startswith("missing weights (would be random)")
    assert "dense.weight" in problem and "encoder.layer.1.output.dense.weight" in problem


def test_a_task_model_must_match_its_checkpoint_exactly() -> None:
    info = {
        "missing_keys": {"classifier.weight"},
        "unexpected_keys": {"pooler.dense.weight"},
        "mismatched_keys": {"classifier.bias"},
    }
    problems = loading_problems(info, base_model_load=False)
    assert [p.split(":")[0] for p in problems] == [
        "missing weights (would be random)",
        "weights the model has no place for",
        "weights of the wrong shape",
    ]
