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


def test_the_fp32_graph_runs_fused_attention(onnx_encoder) -> None:
    """Each of the 6 layers' attention is one fused node, and its layer norms take the residual add: the exporter's
    ~250 small nodes cost a question ~15 % more time (bench/PERF.md, session 14)."""
    import onnx

    ops = [n.op_type for n in onnx.load(str(onnx_encoder.model.path), load_external_data=False).graph.node]
    assert ops.count("Attention") == 6 and ops.count("SkipLayerNormalization") == 12
    assert "Softmax" not in ops and len(ops) < 80


def test_a_graph_the_optimizer_cannot_fuse_is_kept_unfused(tmp_path, monkeypatch, caplog) -> None:
    """The fusion is a speed-up only: when onnxruntime's optimizer fails, the exported graph is used as it is."""
    import onnxruntime.transformers.optimizer as optimizer

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise ValueError("unknown pattern")

    monkeypatch.setattr(optimizer, "optimize_model", broken)
    src = tmp_path / "model.onnx"
    src.write_bytes(b"graph")
    with caplog.at_level("WARNING"):
        assert onnx_backend._fuse(src, tmp_path / "fused.onnx") == src
    assert "fusion failed" in caplog.text and not (tmp_path / "fused.onnx").exists()


def _copy_cache(enc, cache):  # type: ignore[no-untyped-def]
    """The cached graph, its weights file and its record, copied into another cache folder."""
    cache.mkdir()
    src = enc.model.path
    for f in (src, enc.model.data_path, src.with_suffix(".json")):
        (cache / f.name).write_bytes(f.read_bytes())
    return cache / src.name, cache / enc.model.data_path.name


def test_the_weights_are_mapped_from_a_file_beside_the_graph(onnx_encoder) -> None:
    """The graph holds no weights (onnxruntime maps them from the .onnx.data file instead of copying them out)."""
    m = onnx_encoder.model
    assert m.data_path.name == m.path.name + ".data" and m.data_path.stat().st_size > 80e6
    assert m.path.stat().st_size < 1e6
    maps = open("/proc/self/maps").read() if __import__("sys").platform == "linux" else str(m.data_path)
    assert str(m.data_path) in maps


@pytest.mark.parametrize("damaged", ["graph", "weights", "weights missing"])
def test_cached_graph_is_reused_and_a_damaged_one_is_exported_again(onnx_encoder, tmp_path, monkeypatch,
                                                                     damaged: str) -> None:
    root = model_path()
    verify_model(root)
    graph, weights = _copy_cache(onnx_encoder, tmp_path / "cache")

    def no_export(self):  # noqa: ANN001
        raise AssertionError("exported although a valid cached graph exists")

    monkeypatch.setattr(onnx_backend.OnnxEncoder, "_export", no_export)
    reused = onnx_backend.OnnxEncoder(root, cache_dir=tmp_path / "cache")
    assert float(reused.encode([SENTENCES[0]], normalize_embeddings=True)[0] @ onnx_encoder.encode([SENTENCES[0]])[0]) > 0.9999
    del reused

    if damaged == "weights missing":
        weights.unlink()
    else:
        target = graph if damaged == "graph" else weights
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0xFF
        target.write_bytes(bytes(data))
    exported = []

    def export_again(self):  # noqa: ANN001
        exported.append(1)
        for f in (onnx_encoder.model.path, onnx_encoder.model.data_path):
            (self.cache_dir / f.name).write_bytes(f.read_bytes())

    monkeypatch.setattr(onnx_backend.OnnxEncoder, "_export", export_again)
    onnx_backend.OnnxEncoder(root, cache_dir=tmp_path / "cache")
    assert exported == [1]


def test_a_verified_graph_is_not_hashed_again_until_the_file_changes(onnx_encoder, tmp_path, monkeypatch) -> None:
    import json

    root = model_path()
    graph, weights = _copy_cache(onnx_encoder, tmp_path / "cache")
    meta_path = graph.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    for rec in meta["files"].values():
        rec.pop("stat", None)
    meta_path.write_text(json.dumps(meta))
    hashed = []
    real = onnx_backend.sha256_file
    monkeypatch.setattr(onnx_backend, "sha256_file", lambda p: hashed.append(p) or real(p))
    monkeypatch.setattr(onnx_backend.OnnxEncoder, "_export", lambda self: pytest.fail("exported a valid graph"))
    onnx_backend.OnnxEncoder(root, cache_dir=tmp_path / "cache")  # first start: hashed, and the stat keys recorded
    assert hashed == [graph, weights]
    assert all("stat" in rec for rec in json.loads(meta_path.read_text())["files"].values())
    onnx_backend.OnnxEncoder(root, cache_dir=tmp_path / "cache")  # unchanged: not hashed
    assert hashed == [graph, weights]
    weights.write_bytes(weights.read_bytes())  # rewritten (same bytes): its ctime moved, so it alone is hashed again
    onnx_backend.OnnxEncoder(root, cache_dir=tmp_path / "cache")
    assert hashed == [graph, weights, weights]


def test_an_export_that_disagrees_with_torch_is_refused(onnx_encoder, monkeypatch) -> None:
    enc = onnx_encoder.model
    monkeypatch.setitem(onnx_backend.MIN_COSINE, "fp32", 1.01)  # impossible bar: the check must refuse

    class Same:
        def __call__(self, *args):  # noqa: ANN002
            import torch

            vecs, hidden = enc.session.run(None, enc._batch(onnx_backend.PROBES))  # as the exported module returns
            return torch.from_numpy(vecs), torch.from_numpy(hidden)

    with pytest.raises(onnx_backend.ModelError, match="disagrees"):
        enc._check(enc.path, Same())


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


def test_intra_op_threads_spin_briefly_within_a_run_and_stop_after_it(onnx_encoder) -> None:
    """Unbounded spinning takes the CPU that concurrent answers need on a few shared cores; none at all wakes a
    sleeping thread for every node of a question (bench/PERF.md, session 14)."""
    opts = onnx_encoder.model.session.get_session_options()
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "1"
    assert opts.get_session_config_entry("session.intra_op.spin_duration_us") == str(onnx_backend.SPIN_US)
    assert opts.get_session_config_entry("session.force_spinning_stop") == "1"


def test_threads_between_questions_use_no_cpu(onnx_encoder) -> None:
    """In the 20 ms after a question the process uses almost no CPU: no thread spins on after the run (with
    onnxruntime's default spinning the same wait costs ~20 ms of CPU, a whole core)."""
    import time

    spent = []
    for q in ["Who oversees the legion?", "What call sign does the Russian fighter use?"] * 5:
        onnx_encoder.encode([q])
        c0 = time.process_time()
        time.sleep(0.02)
        spent.append(time.process_time() - c0)
    # (the median: another thread of the test process waking once must not decide it; spinning shows in every wait)
    assert sorted(spent)[len(spent) // 2] < 0.004


def test_an_upgrade_drops_the_older_exports_of_the_same_model_and_variant(tmp_path) -> None:
    enc = object.__new__(onnx_backend.OnnxEncoder)
    enc.root, enc.variant, enc.cache_dir = model_path(), "fp32", tmp_path
    key = onnx_backend._model_key(enc.root)
    v = onnx_backend.EXPORT_VERSION
    names = [f"all-MiniLM-L6-v2-{key}-v{n}-{var}.{ext}" for n in (1, 2, v) for var in ("fp32", "int8")
             for ext in ("onnx", "json")] + [f"all-MiniLM-L6-v2-{key}-v{v}-fp32.onnx.data", "unrelated.onnx"]
    for name in names:
        (tmp_path / name).write_text("x")
    enc._drop_older_exports()
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(n for n in names if f"-v{v}-" in n or "int8" in n or n == "unrelated.onnx")


def test_many_sentences_batched_by_piece_count_give_each_sentence_its_own_vectors(onnx_encoder) -> None:
    """The build's batches (sorted by word-piece count, several per call) give every sentence, in input order, the
    sentence and word-piece vectors it gets alone, and progress reaches the total."""
    from retrieval.tokens import keep_mask

    texts = SENTENCES + ["a", "Short one.", "", "A sentence of middling length, with commas, and 12 numbers."] * 2
    keep = keep_mask(onnx_encoder.tokenizer_file())
    seen: list[tuple[int, int]] = []
    vecs, toks = onnx_encoder.model.encode_tokens(texts, keep, batch_size=3, progress=lambda d, t: seen.append((d, t)))
    assert vecs.shape == (len(texts), 384) and len(toks) == len(texts)
    assert seen[-1] == (len(texts), len(texts)) and len(seen) == -(-len(texts) // 3)
    for i, t in enumerate(texts):
        one, alone = onnx_encoder.model.encode_tokens([t], keep)
        assert np.abs(vecs[i] - one[0]).max() < 1e-5, t
        ids, pieces = toks.row(i)
        assert np.array_equal(ids, alone.ids), t
        assert np.allclose(pieces.astype(np.float32), alone.vectors.astype(np.float32), rtol=0, atol=2e-3), t
    assert np.abs(vecs - onnx_encoder.encode(texts)).max() < 1e-5


def test_encode_batches_by_piece_count_and_keeps_input_order(onnx_encoder) -> None:
    """encode (the floor, and the build above the word-piece limit) batches by piece count: every sentence gets
    the vector it gets alone, in input order, and its batches pad less than character order's."""
    from retrieval.onnx_backend import _longest_first

    model = onnx_encoder.model
    texts = SENTENCES + ["a", "Short one.", "", "A sentence of middling length, with commas, and 12 numbers."] * 2
    vecs = model.encode(texts, batch_size=3, normalize_embeddings=True)
    for i, t in enumerate(texts):
        assert np.abs(vecs[i] - model.encode([t], normalize_embeddings=True)[0]).max() < 1e-5, t
    pieces = model._piece_ids(texts)

    def padded(order: np.ndarray) -> int:
        return sum(3 * max(len(pieces[i]) for i in order[lo:lo + 3]) for lo in range(0, len(order), 3))

    chars = np.argsort([-len(t) for t in texts], kind="stable")
    assert padded(_longest_first(pieces)) <= padded(chars)
