"""The model is verified before use (a tampered file is refused) and the backend comes from RETRIEVAL_BACKEND."""

from __future__ import annotations

import shutil

import pytest

from retrieval import embed
from retrieval.errors import ModelError


def _copy_model(tmp_path):
    root = embed.model_path()
    dst = tmp_path / "model"
    dst.mkdir()
    for name in ("model.safetensors", "tokenizer.json", "vocab.txt", "config.json"):
        shutil.copyfile(embed._find(root, name), dst / name)
    return dst


def test_untouched_copy_verifies_and_a_flipped_byte_is_refused(tmp_path) -> None:
    dst = _copy_model(tmp_path)
    assert embed.verify_model(dst)  # the upstream revision
    weights = dst / "model.safetensors"
    with weights.open("r+b") as fh:
        fh.seek(weights.stat().st_size // 2)
        b = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([b[0] ^ 0x01]))
    embed.verify_model.cache_clear()
    with pytest.raises(ModelError, match="does not match"):
        embed.verify_model(dst)


def test_a_missing_file_is_refused(tmp_path) -> None:
    dst = _copy_model(tmp_path)
    (dst / "vocab.txt").unlink()
    embed.verify_model.cache_clear()
    with pytest.raises(ModelError, match="missing"):
        embed.verify_model(dst)


def test_backend_comes_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("RETRIEVAL_BACKEND", "torch")
    assert embed.Encoder().backend == "torch"
    monkeypatch.setenv("RETRIEVAL_BACKEND", "onnx")
    assert embed.Encoder().backend == "onnx"
    monkeypatch.delenv("RETRIEVAL_BACKEND")
    assert embed.Encoder().backend == embed.DEFAULT_BACKEND
    assert embed.Encoder(backend="torch").backend == "torch"
    with pytest.raises(ValueError):
        embed.Encoder(backend="tensorflow")


def test_onnx_falls_back_to_torch_when_it_cannot_load(monkeypatch) -> None:
    from retrieval import onnx_backend

    def broken(*args, **kwargs):  # noqa: ANN002, ANN003
        raise OSError("read-only cache dir")

    monkeypatch.setattr(onnx_backend, "OnnxEncoder", broken)
    enc = embed.Encoder(backend="onnx")
    enc.warm_up()
    assert enc.backend == "torch"
    assert enc.encode(["a question"]).shape == (1, 384)
