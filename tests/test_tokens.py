"""Word-piece vectors: their container, which pieces are kept, and soft matching with the real model."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.tokens import FEATURES, TokenScorer, TokenVectors, keep_mask, question_pieces, stop_mask


def _tv(counts: list[int], dim: int = 4) -> TokenVectors:
    n = sum(counts)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return TokenVectors(np.arange(n, dtype=np.int32), offsets, np.eye(n, dim, dtype=np.float16))


def test_rows_and_concat_round_trip() -> None:
    tv = _tv([2, 0, 3])
    assert len(tv) == 3
    ids, vecs = tv.row(2)
    assert ids.tolist() == [2, 3, 4] and vecs.shape == (3, 4)
    parts = [tv.rows(0, 1), tv.rows(1, 3)]
    back = TokenVectors.concat(parts, 4)
    assert back.offsets.tolist() == [0, 2, 2, 5] and back.ids.tolist() == tv.ids.tolist()


def test_offsets_that_do_not_line_up_are_refused() -> None:
    with pytest.raises(ValueError, match="offsets end at 3"):
        TokenVectors(np.arange(2, dtype=np.int32), np.array([0, 3]), np.zeros((2, 4), np.float16))


def test_special_tokens_and_punctuation_are_not_kept(encoder) -> None:
    keep = keep_mask(encoder.tokenizer_file())
    from tokenizers import Tokenizer

    vocab = Tokenizer.from_file(str(encoder.tokenizer_file())).get_vocab()
    assert not keep[vocab["[CLS]"]] and not keep[vocab["[SEP]"]] and not keep[vocab[","]] and not keep[vocab["’"]]
    assert keep[vocab["legion"]] and keep[vocab["1969"]] and keep[vocab["##s"]]
    stop = stop_mask(encoder.tokenizer_file())
    assert stop[vocab["the"]] and stop[vocab["who"]] and not stop[vocab["legion"]]


def test_pieces_come_from_the_same_pass_as_the_sentence_vectors(encoder) -> None:
    texts = ["Who oversees the legion?", "It’s overseen by Ukraine’s Armed Forces."]
    vecs, toks = encoder.encode_tokens(texts)
    assert np.allclose(vecs, encoder.encode(texts), atol=1e-5)
    assert len(toks) == 2 and toks.vectors.dtype == np.float16
    norms = np.linalg.norm(toks.vectors.astype(np.float32), axis=1)
    assert np.allclose(norms, 1.0, atol=1e-2)
    ids, _ = question_pieces(toks.rows(0, 1), stop_mask(encoder.tokenizer_file()))
    from tokenizers import Tokenizer

    words = [Tokenizer.from_file(str(encoder.tokenizer_file())).id_to_token(int(i)) for i in ids]
    assert "who" not in words and "the" not in words and "legion" in words


def test_soft_match_prefers_the_reworded_sentence_that_answers(encoder) -> None:
    sentences = ["The legion was formed in the spring of 2022.",
                 "It’s overseen by Ukraine’s Armed Forces and commanded by Ukrainian officers.",
                 "Fighting continued all through the night near the border."]
    _, toks = encoder.encode_tokens(sentences)
    scorer = TokenScorer(toks, len(keep_mask(encoder.tokenizer_file())))
    _, qt = encoder.encode_tokens(["Who supervises the legion?"])
    qids, qvecs = question_pieces(qt, stop_mask(encoder.tokenizer_file()))
    feats = scorer.features(qids, qvecs, np.arange(3), np.array([-1, 0, 1]))
    rec = feats[:, FEATURES.index("tok_rec")]
    assert int(np.argmax(rec)) == 1, rec
    # with the previous sentence's pieces (it names the legion), the answer's context match only grows
    ctx = feats[:, FEATURES.index("tok_ctx")]
    assert ctx[1] >= rec[1] and feats[1, FEATURES.index("tok_rec_gap")] == 0.0


def test_best_match_is_the_same_whichever_way_the_rows_are_read() -> None:
    """Ascending rows read as one slice (gaps masked) and any other order read by gathering give the same maxima."""
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 6, 40)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    vecs = rng.standard_normal((int(offsets[-1]), 8)).astype(np.float16)
    scorer = TokenScorer(TokenVectors(rng.integers(0, 50, int(offsets[-1])).astype(np.int32), offsets, vecs), 50)
    q = rng.standard_normal((3, 8)).astype(np.float32)

    def brute(rows: np.ndarray) -> np.ndarray:
        out = np.zeros((len(rows), 3), np.float32)
        for i, r in enumerate(rows):
            if r >= 0 and counts[r]:
                out[i] = np.maximum((vecs[offsets[r]:offsets[r + 1]].astype(np.float32) @ q.T).max(0), 0)
        return out

    for rows in (np.arange(-1, 40), np.array([-1, 3, 4, 9, 10, 11, 30]), np.array([7, 2, -1, 7, 39]),
                 np.unique(rng.choice(40, 25))):
        np.testing.assert_allclose(scorer._best(q, rows), brute(rows), atol=1e-6)


def test_the_float16_cast_converts_every_value_as_numpy_does(tmp_path, monkeypatch) -> None:
    """tokens._as_float32 (ONNX Runtime's Cast) gives astype's float32 bits for all 65,536 float16 patterns but NaNs
    (zeros, subnormals, infinities; every NaN stays a NaN), in any shape, from a memory-mapped file too; a scorer
    without the float32 copy, which converts its candidates' pieces with it, finds exactly the maxima of one that
    keeps the copy."""
    import retrieval.tokens as tokens_mod

    every = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16)
    got, want = tokens_mod._as_float32(every), every.astype(np.float32)
    nan = np.isnan(want)
    assert got.dtype == np.float32 and got.shape == want.shape and nan.sum() == 2046
    assert np.array_equal(got[~nan].view(np.uint32), want[~nan].view(np.uint32)) and np.isnan(got[nan]).all()
    assert np.array_equal(tokens_mod._as_float32(every[:4096].reshape(16, 16, 16)), want[:4096].reshape(16, 16, 16))
    np.save(tmp_path / "v.npy", every.reshape(256, 256))
    mapped = np.load(tmp_path / "v.npy", mmap_mode="r")
    assert np.array_equal(tokens_mod._as_float32(mapped[[5, 0, 255]]).view(np.uint32),
                          mapped[[5, 0, 255]].astype(np.float32).view(np.uint32))
    rng = np.random.default_rng(1)
    offsets = np.concatenate([[0], np.cumsum(rng.integers(0, 9, 60))]).astype(np.int64)
    tv = TokenVectors(rng.integers(0, 50, int(offsets[-1])).astype(np.int32), offsets,
                      (rng.standard_normal((int(offsets[-1]), 16)) / 4).astype(np.float16))
    q = rng.standard_normal((4, 16)).astype(np.float32)
    cached = TokenScorer(tv, 50)
    monkeypatch.setattr(tokens_mod, "F32_CACHE_BYTES", 0)
    converting = TokenScorer(tv, 50)
    assert cached.f32 is not None and converting.f32 is None
    for rows in (np.arange(60), np.array([3, 9, 2, 40, -1]), np.array([10, 11, 12, 30])):
        assert np.array_equal(cached._best(q, rows), converting._best(q, rows))


def test_vocabulary_read_from_the_json_matches_the_tokenizer_library() -> None:
    from tokenizers import Tokenizer

    from retrieval.embed import model_path
    from retrieval.tokens import _vocab

    path = model_path() / "tokenizer.json"
    tok = Tokenizer.from_file(str(path))
    vocab, size = _vocab(path)
    assert vocab == tok.get_vocab() and size == tok.get_vocab_size()
    keep = keep_mask(path)
    for piece in ("[CLS]", "[SEP]", "[PAD]", ",", "##.", "—"):
        assert not keep[vocab[piece]], piece
    for piece in ("legion", "##ing", "1781", "é"):
        if piece in vocab:
            assert keep[vocab[piece]], piece
    slow = np.array([not ((p.startswith("[") and p.endswith("]")) or
                          not any(ch.isalnum() for ch in (p[2:] if p.startswith("##") else p)))
                     for p, _ in sorted(vocab.items(), key=lambda kv: kv[1])])
    assert np.array_equal(keep, slow)


def test_vocabulary_masks_are_kept_in_the_model_cache_and_made_again_when_damaged(tmp_path, monkeypatch) -> None:
    """Going over the vocabulary costs ~50 ms of every cold start: the masks are read back from the cache instead."""
    from retrieval import tokens
    from retrieval.embed import model_path

    path = model_path() / "tokenizer.json"
    monkeypatch.setenv("RETRIEVAL_MODEL_CACHE", str(tmp_path))
    tokens._masks.cache_clear()
    keep, stop = keep_mask(path).copy(), stop_mask(path).copy()
    [cached] = tmp_path.glob("vocab-masks-*.npy")
    assert keep.any() and stop.any() and not (keep.all() or stop.all())

    tokens._masks.cache_clear()
    monkeypatch.setattr(tokens, "_vocab", lambda p: pytest.fail("read the vocabulary although the masks are cached"))
    assert np.array_equal(keep_mask(path), keep) and np.array_equal(stop_mask(path), stop)

    monkeypatch.undo()
    monkeypatch.setenv("RETRIEVAL_MODEL_CACHE", str(tmp_path))
    cached.write_bytes(b"\x93NUMPY damaged")
    tokens._masks.cache_clear()
    assert np.array_equal(keep_mask(path), keep) and np.array_equal(stop_mask(path), stop)
    assert np.array_equal(np.load(cached), np.stack([keep, stop]))
    tokens._masks.cache_clear()


def test_one_unpadded_sequence_gives_what_its_batch_of_one_gives() -> None:
    """A question's pieces come from from_unpadded (fewer numpy calls on every answer): the same arrays, bit for bit,
    as from_batch of the same sequence."""
    rng = np.random.default_rng(3)
    ids = rng.integers(0, 50, 23)
    hidden = rng.standard_normal((23, 16)).astype(np.float32)
    keep = rng.random(50) > 0.3
    one = TokenVectors.from_unpadded(ids, hidden, keep)
    batch = TokenVectors.from_batch(ids[None, :], np.ones((1, 23), np.int64), hidden[None], keep)
    for a, b in ((one.ids, batch.ids), (one.offsets, batch.offsets), (one.vectors, batch.vectors)):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert one.offsets.tolist() == [0, int(keep[ids].sum())]
