"""The ONNX backend gives the PyTorch model's vectors, and its exported graph is cached, checked and re-made when damaged."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval import onnx_backend
from retrieval.embed import Encoder, model_path, verify_model

SENTENCES = [
    "What is the Free Russia Legion?",
    "The rocket launched in 1969 from Florida.",
    "Caesar, who’s 50, joined after the invasion began; he fought near Bakhmut.",
    "Ünïcödé, emoji 🚀 and a very long sentence " + "with many repeated words " * 40,
]


@pytest.fixture(scope="module")
def onnx_encoder():
    """The ONNX encoder over the project's model cache (exported once, then reused by every run)."""
    enc = Encoder(backend="onnx")
    enc.warm_up()
    assert enc.backend == "onnx", "the ONNX backend fell back to torch"
    return enc


def test_onnx_vectors_match_torch(onnx_encoder, encoder) -> None:
    torch_enc = encoder if encoder.backend == "torch" else Encoder(backend="torch")
    a = onnx_encoder.encode(SENTENCES)
    b = torch_enc.encode(SENTENCES)
    assert a.shape == b.shape == (len(SENTENCES), 384) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert (a * b).sum(1).min() > 0.999
    # batching and order do not change a sentence's vector
    single = onnx_encoder.encode([SENTENCES[2]])[0]
    assert float(single @ a[2]) > 0.9999
    assert onnx_encoder.encode([]).shape == (0, 384)


def test_cached_graph_is_reused_and_a_damaged_one_is_exported_again(onnx_encoder, tmp_path, monkeypatch) -> None:
    root = model_path()
    verify_model(root)
    src = onnx_encoder.model.path
    cache = tmp_path / "cache"
    cache.mkdir()
    dst = cache / src.name
    dst.write_bytes(src.read_bytes())
    dst.with_suffix(".json").write_bytes(src.with_suffix(".json").read_bytes())

    def no_export(self):  # noqa: ANN001
        raise AssertionError("exported although a valid cached graph exists")

    monkeypatch.setattr(onnx_backend.OnnxEncoder, "_export", no_export)
    reused = onnx_backend.OnnxEncoder(root, cache_dir=cache)
    assert float(reused.encode([SENTENCES[0]], normalize_embeddings=True)[0] @ onnx_encoder.encode([SENTENCES[0]])[0]) > 0.9999

    data = bytearray(dst.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dst.write_bytes(bytes(data))
    exported = []
    monkeypatch.setattr(onnx_backend.OnnxEncoder, "_export",
                        lambda self: exported.append(1) or self.path.write_bytes(src.read_bytes()))
    onnx_backend.OnnxEncoder(root, cache_dir=cache)
    assert exported == [1]


def test_a_verified_graph_is_not_hashed_again_until_the_file_changes(onnx_encoder, tmp_path, monkeypatch) -> None:
    import json

    root = model_path()
    src = onnx_encoder.model.path
    cache = tmp_path / "cache"
    cache.mkdir()
    dst = cache / src.name
    dst.write_bytes(src.read_bytes())
    meta = json.loads(src.with_suffix(".json").read_text())
    meta.pop("stat", None)
    dst.with_suffix(".json").write_text(json.dumps(meta))
    hashed = []
    real = onnx_backend.sha256_file
    monkeypatch.setattr(onnx_backend, "sha256_file", lambda p: hashed.append(p) or real(p))
    monkeypatch.setattr(onnx_backend.OnnxEncoder, "_export", lambda self: pytest.fail("exported a valid graph"))
    onnx_backend.OnnxEncoder(root, cache_dir=cache)  # first start: hashed, and its stat key recorded
    assert hashed == [dst] and "stat" in json.loads(dst.with_suffix(".json").read_text())
    onnx_backend.OnnxEncoder(root, cache_dir=cache)  # unchanged: not hashed
    assert hashed == [dst]
    dst.write_bytes(dst.read_bytes())  # rewritten (same bytes): its ctime moved, so it is hashed again
    onnx_backend.OnnxEncoder(root, cache_dir=cache)
    assert hashed == [dst, dst]


def test_an_export_that_disagrees_with_torch_is_refused(onnx_encoder, monkeypatch) -> None:
    enc = onnx_encoder.model
    monkeypatch.setitem(onnx_backend.MIN_COSINE, "fp32", 1.01)  # impossible bar: the check must refuse

    class Same:
        def __call__(self, *args):  # noqa: ANN002
            import torch

            vecs, hidden = enc.session.run(None, enc._batch(onnx_backend.PROBES))  # as the exported module returns
            return torch.from_numpy(vecs), torch.from_numpy(hidden)

    with pytest.raises(onnx_backend.ModelError, match="disagrees"):
        enc._check(enc.path.read_bytes(), Same())


def test_no_graph_is_exported_from_tampered_weights(tmp_path) -> None:
    import shutil

    from retrieval import embed
    from retrieval.errors import ModelError

    root = model_path()
    dst = tmp_path / "model"
    dst.mkdir()
    for name in ("model.safetensors", "tokenizer.json", "vocab.txt", "config.json"):
        shutil.copyfile(embed._find(root, name), dst / name)
    with (dst / "model.safetensors").open("r+b") as fh:
        fh.seek(4096)
        b = fh.read(1)
        fh.seek(4096)
        fh.write(bytes([b[0] ^ 0x01]))
    with pytest.raises(ModelError, match="does not match"):
        onnx_backend.OnnxEncoder(dst, cache_dir=tmp_path / "cache", verify=lambda: embed.verify_model(dst))
    assert not list((tmp_path / "cache").glob("*.onnx")) if (tmp_path / "cache").exists() else True


def test_intra_op_threads_sleep_instead_of_spinning(onnx_encoder) -> None:
    """Spinning idle threads take the CPU that concurrent answers need on a few shared cores (bench/PERF.md)."""
    opts = onnx_encoder.model.session.get_session_options()
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
