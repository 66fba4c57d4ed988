"""postprocess is the reference: it must equal sentence-transformers' own Pooling/Normalize."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sentence_transformers.sentence_transformer.modules.pooling import Pooling

from bei_cli.engine import postprocess
from bei_cli.engine.torch_layers import pool_tensor
from bei_cli.errors import InvalidRequestError

MODES = ["cls", "mean", "max", "lasttoken", "weightedmean", "mean_sqrt_len_tokens"]
LENGTHS = [1, 7, 3, 9, 5]  # max 9 == width: one row without padding


def padded_states(side: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    width, dim = max(LENGTHS), 12
    states = rng.standard_normal((len(LENGTHS), width, dim)).astype(np.float32)
    mask = np.zeros((len(LENGTHS), width), dtype=np.int64)
    for row, length in enumerate(LENGTHS):
        mask[row, width - length :] = 1 if side == "left" else 0
        mask[row, :length] = 1 if side == "right" else 0
    return states, mask


def st_pool(states: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    pooling = Pooling(states.shape[-1], pooling_mode=mode)
    features = {
        "token_embeddings": torch.from_numpy(states),
        "attention_mask": torch.from_numpy(mask),
    }
    return pooling(features)["sentence_embedding"].numpy()


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("mode", MODES)
def test_pool_equals_sentence_transformers(mode: str, side: str) -> None:
    states, mask = padded_states(side)
    expected = st_pool(states, mask, mode)
    got = postprocess.pool(states, mask, mode)
    assert got.dtype == np.float32 and got.shape == (len(LENGTHS), states.shape[-1])
    np.testing.assert_allclose(got, expected, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("mode", MODES)
def test_pool_ignores_padding_content(mode: str) -> None:
    states, mask = padded_states("right")
    noisy = states.copy()
    noisy[mask == 0] = 1e6
    np.testing.assert_allclose(
        postprocess.pool(noisy, mask, mode),
        postprocess.pool(states, mask, mode),
        atol=1e-6,
    )


def test_modes_differ() -> None:
    """Guards the tables: every mode must pool differently on the same states."""
    states, mask = padded_states("right")
    pooled = [postprocess.pool(states, mask, m).tobytes() for m in MODES]
    assert len(set(pooled)) == len(MODES)


def test_weightedmean_and_lasttoken_by_hand() -> None:
    states = np.arange(8, dtype=np.float32).reshape(1, 4, 2)  # tokens [0,1],[2,3],[4,5],[6,7]
    right = np.array([[1, 1, 1, 0]])
    left = np.array([[0, 1, 1, 1]])
    # weights 1, 2, 3 on the three real tokens
    np.testing.assert_allclose(postprocess.pool(states, right, "weightedmean"), [[16 / 6, 22 / 6]])
    np.testing.assert_allclose(postprocess.pool(states, left, "weightedmean"), [[28 / 6, 34 / 6]])
    np.testing.assert_allclose(postprocess.pool(states, right, "lasttoken"), [[4, 5]])
    np.testing.assert_allclose(postprocess.pool(states, left, "lasttoken"), [[6, 7]])
    np.testing.assert_allclose(postprocess.pool(states, left, "cls"), [[2, 3]])
    np.testing.assert_allclose(
        postprocess.pool(states, right, "mean_sqrt_len_tokens"), [[6 / np.sqrt(3), 9 / np.sqrt(3)]]
    )


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("mode", MODES)
def test_torch_pooling_equals_reference(mode: str, side: str) -> None:
    states, mask = padded_states(side, seed=1)
    reference = postprocess.pool(states, mask, mode)
    got = pool_tensor(torch.from_numpy(states), torch.from_numpy(mask), mode)
    assert got.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), reference, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("mode", MODES)
def test_torch_pooling_of_bfloat16_pools_in_float32(mode: str) -> None:
    states, mask = padded_states("right", seed=2)
    low = torch.from_numpy(states).to(torch.bfloat16)
    reference = postprocess.pool(low.float().numpy(), mask, mode)
    got = pool_tensor(low, torch.from_numpy(mask), mode)
    np.testing.assert_allclose(got.numpy(), reference, atol=1e-6, rtol=1e-6)


def test_l2_normalize_matches_torch() -> None:
    x = np.random.default_rng(3).standard_normal((4, 10)).astype(np.float32)
    x[2] = 0.0
    expected = torch.nn.functional.normalize(torch.from_numpy(x), p=2, dim=1).numpy()
    got = postprocess.l2_normalize(x)
    np.testing.assert_allclose(got, expected, atol=1e-7)
    assert np.all(got[2] == 0.0)
    np.testing.assert_allclose(np.linalg.norm(got[[0, 1, 3]], axis=1), 1.0, atol=1e-6)


def test_matryoshka_truncates_then_renormalizes() -> None:
    x = np.random.default_rng(4).standard_normal((3, 16)).astype(np.float32)
    got = postprocess.matryoshka(x, 8, normalize=True)
    np.testing.assert_allclose(got, postprocess.l2_normalize(x[:, :8]), atol=1e-7)
    raw = postprocess.matryoshka(x, 8, normalize=False)
    np.testing.assert_array_equal(raw, x[:, :8])
    np.testing.assert_array_equal(postprocess.matryoshka(x, None, normalize=False), x)


@pytest.mark.parametrize("dims", [0, 17, -1])
def test_truncate_rejects_impossible_dims(dims: int) -> None:
    x = np.zeros((1, 16), dtype=np.float32)
    with pytest.raises(InvalidRequestError) as err:
        postprocess.truncate_dims(x, dims)
    assert err.value.param == "dimensions"


def test_sigmoid_and_softmax_match_torch_without_overflow() -> None:
    logits = np.array([[-1000.0, -3.0, 0.0, 2.5, 1000.0]], dtype=np.float32)
    with np.errstate(over="raise"):
        sig = postprocess.sigmoid(logits)
        soft = postprocess.softmax(logits)
    np.testing.assert_allclose(sig, torch.sigmoid(torch.from_numpy(logits)).numpy(), atol=1e-7)
    np.testing.assert_allclose(soft, torch.softmax(torch.from_numpy(logits), -1).numpy(), atol=1e-7)
    np.testing.assert_allclose(soft.sum(-1), 1.0, atol=1e-6)
