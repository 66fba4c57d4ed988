"""TorchEngine on tiny sentence-transformers checkpoints vs SentenceTransformer.encode."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from bei_cli.engine.base import Batch
from bei_cli.engine.torch_engine import load_torch_engine
from bei_cli.errors import EngineError, UnsupportedHardwareError, UnsupportedModelError
from bei_cli.inspect.profile import ModelProfile
from tests.unit.engine.helpers import PARITY_TEXTS, TINY_MAX_SEQ_LEN, TinyFactory, cosines, tokenize

MODES = ["cls", "mean", "max", "lasttoken", "weightedmean", "mean_sqrt_len_tokens"]


def st_encode(model_dir: Path, texts: list[str], **kwargs: object) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu")
    return model.encode(texts, convert_to_numpy=True, **kwargs)


def engine_encode(
    model_dir: Path, profile: ModelProfile, texts: list[str], **kwargs: Any
) -> np.ndarray:
    engine = load_torch_engine(model_dir, profile, **kwargs)
    output = engine.run(tokenize(model_dir, texts, profile.max_seq_len))
    assert output.embeddings is not None
    return output.embeddings


@pytest.mark.parametrize("mode", MODES)
def test_every_pooling_mode_matches_sentence_transformers(
    tiny_checkpoint: TinyFactory, mode: str
) -> None:
    model_dir, profile = tiny_checkpoint(mode)
    got = engine_encode(model_dir, profile, PARITY_TEXTS)
    expected = st_encode(model_dir, PARITY_TEXTS)
    assert got.shape == expected.shape == (len(PARITY_TEXTS), profile.embedding_dim)
    assert got.dtype == np.float32
    assert cosines(got, expected).min() >= 0.99999


def test_dense_layer_matches_sentence_transformers(tiny_checkpoint: TinyFactory) -> None:
    model_dir, profile = tiny_checkpoint("mean", dense_out=16)
    got = engine_encode(model_dir, profile, PARITY_TEXTS)
    expected = st_encode(model_dir, PARITY_TEXTS)
    assert got.shape == (len(PARITY_TEXTS), 16)
    assert cosines(got, expected).min() >= 0.99999


def test_output_is_not_normalized(tiny_checkpoint: TinyFactory) -> None:
    """Without a Normalize module the raw vectors must equal sentence-transformers' exactly;
    with one, the engine still returns raw vectors (normalizing is a request option)."""
    raw_dir, raw_profile = tiny_checkpoint("mean", normalize=False)
    got = engine_encode(raw_dir, raw_profile, PARITY_TEXTS)
    np.testing.assert_allclose(got, st_encode(raw_dir, PARITY_TEXTS), atol=1e-5)
    norm_dir, norm_profile = tiny_checkpoint("mean")
    norms = np.linalg.norm(engine_encode(norm_dir, norm_profile, PARITY_TEXTS), axis=1)
    assert not np.allclose(norms, 1.0, atol=1e-3)


def test_prompted_texts_match_default_prompt(tiny_checkpoint: TinyFactory) -> None:
    prompts = {"query": "query: ", "document": ""}
    model_dir, profile = tiny_checkpoint("mean", prompts=prompts, default_prompt_name="query")
    prompt = profile.prompt("query")
    assert prompt == "query: "
    got = engine_encode(model_dir, profile, [prompt + t for t in PARITY_TEXTS])
    assert cosines(got, st_encode(model_dir, PARITY_TEXTS)).min() >= 0.99999


def test_batching_does_not_change_results(tiny_checkpoint: TinyFactory) -> None:
    model_dir, profile = tiny_checkpoint("weightedmean")
    engine = load_torch_engine(model_dir, profile)
    batch = tokenize(model_dir, PARITY_TEXTS, TINY_MAX_SEQ_LEN)
    together = engine.run(batch).embeddings
    alone = [
        engine.run(Batch.from_sequences([batch.sequence(i).tolist()])).embeddings
        for i in range(len(batch))
    ]
    np.testing.assert_allclose(together, np.concatenate(alone), atol=1e-5)


def test_engine_info_and_empty_batch(tiny_checkpoint: TinyFactory) -> None:
    model_dir, profile = tiny_checkpoint("mean", dense_out=16)
    engine = load_torch_engine(model_dir, profile, max_batch_tokens=999, max_batch_size=7)
    info = engine.info
    assert (info.name, info.task, info.dtype, info.device) == ("torch", "embed", "float32", "cpu")
    assert (info.embedding_dim, info.max_seq_len) == (16, TINY_MAX_SEQ_LEN)
    assert (info.max_batch_tokens, info.max_batch_size) == (999, 7)
    empty = engine.run(Batch.from_sequences([]))
    assert empty.embeddings is not None and empty.embeddings.shape == (0, 16)


def test_bfloat16_is_close(tiny_checkpoint: TinyFactory) -> None:
    model_dir, profile = tiny_checkpoint("mean")
    got = engine_encode(model_dir, profile, PARITY_TEXTS, dtype="bfloat16")
    assert got.dtype == np.float32
    assert cosines(got, st_encode(model_dir, PARITY_TEXTS)).min() >= 0.99


def test_dense_weights_from_torch_pickle(tiny_checkpoint: TinyFactory, tmp_path: Path) -> None:
    source, profile = tiny_checkpoint("mean", dense_out=16)
    model_dir = tmp_path / "pickled"
    shutil.copytree(source, model_dir)
    dense = model_dir / "2_Dense"
    torch.save(load_file(dense / "model.safetensors"), dense / "pytorch_model.bin")
    (dense / "model.safetensors").unlink()
    got = engine_encode(model_dir, profile, PARITY_TEXTS)
    np.testing.assert_allclose(got, engine_encode(source, profile, PARITY_TEXTS), atol=1e-6)


def test_unknown_dense_activation(tiny_checkpoint: TinyFactory) -> None:
    model_dir, profile = tiny_checkpoint("mean", dense_out=16)
    layer = profile.dense[0]
    odd = type(profile.dense[0])(layer.path, 32, 16, True, "my.custom.Swish")
    with pytest.raises(UnsupportedModelError, match="Swish"):
        load_torch_engine(model_dir, type(profile)(**{**vars(profile), "dense": (odd,)}))


def test_a_head_without_labels_is_refused(tiny_checkpoint: TinyFactory) -> None:
    model_dir, profile = tiny_checkpoint("mean")
    reranker = type(profile)(**{**vars(profile), "task": "rerank", "pooling": None})
    with pytest.raises(UnsupportedModelError) as caught:
        load_torch_engine(model_dir, reranker)
    assert "id2label" in (caught.value.hint or "") + caught.value.message


def test_bad_dtype_and_device(tiny_checkpoint: TinyFactory) -> None:
    model_dir, profile = tiny_checkpoint("mean")
    with pytest.raises(UnsupportedHardwareError, match="int3"):
        load_torch_engine(model_dir, profile, dtype="int3")
    with pytest.raises(UnsupportedHardwareError, match="tpu"):
        load_torch_engine(model_dir, profile, device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(UnsupportedHardwareError, match="cuda"):
            load_torch_engine(model_dir, profile, device="cuda")


def test_overlong_sequence_is_an_engine_error(tiny_checkpoint: TinyFactory) -> None:
    model_dir, profile = tiny_checkpoint("mean")
    engine = load_torch_engine(model_dir, profile, max_seq_len=8)
    with pytest.raises(EngineError, match="max_seq_len 8"):
        engine.run(Batch.from_sequences([[101] + [2000] * 8 + [102]]))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_cuda_matches_cpu(tiny_checkpoint: TinyFactory, dtype: str) -> None:
    model_dir, profile = tiny_checkpoint("mean", dense_out=16)
    on_gpu = engine_encode(model_dir, profile, PARITY_TEXTS, device="cuda", dtype=dtype)
    on_cpu = engine_encode(model_dir, profile, PARITY_TEXTS)
    assert cosines(on_gpu, on_cpu).min() >= (0.99999 if dtype == "float32" else 0.99)
