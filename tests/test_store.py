"""The persisted index: save→load round trips, incremental sync, atomic generations and corruption detection."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from conftest import SEED
from retrieval import IndexCorrupt, parse_article, read_article
from faiss import ScalarQuantizer

from retrieval.store import (EXACT_LIMIT, IVF_CODE, IVF_SCAN, MANIFEST, Store, _nprobe, build_faiss, ivf_params,
                             read_flat_vectors)

QT_fp16 = ScalarQuantizer.QT_fp16

DOCS = {
    "cats": "# Cats\n\nCats sleep most of the day. A cat purrs when content.",
    "rockets": "# Rockets\n\nThe rocket launched in 1969 from Florida. Its engines burned kerosene.",
}


def articles():
    return [parse_article(src, article_id=aid, path=f"{aid}.md") for aid, src in DOCS.items()]


def test_save_load_round_trip_gives_same_search(tmp_path, fake_encoder) -> None:
    s1 = Store(tmp_path, fake_encoder)
    s1.sync(articles())
    s2 = Store(tmp_path, fake_encoder)
    assert s2.load() is True
    assert [x.text for x in s2.snapshot.sentences] == [x.text for x in s1.snapshot.sentences]
    q = fake_encoder.encode(["when did the rocket launch"])
    _, i1 = s1.snapshot.index.search(q, 1)
    _, i2 = s2.snapshot.index.search(q, 1)
    assert s2.snapshot.sentences[i2[0][0]].text == "The rocket launched in 1969 from Florida."
    assert i1[0][0] == i2[0][0]
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert manifest["count"] == 4 and manifest["dimension"] == 384 and manifest["format_version"] == 1
    assert set(manifest["articles"]) == {"cats", "rockets"}


def test_unchanged_articles_embed_nothing_and_changed_ones_are_reindexed(tmp_path, fake_encoder) -> None:
    Store(tmp_path, fake_encoder).sync(articles())
    again = Store(tmp_path, fake_encoder)
    again.load()
    before = fake_encoder.encoded
    rep = again.sync(articles())
    assert rep.embedded == 0 and fake_encoder.encoded == before and sorted(rep.unchanged) == ["cats", "rockets"]
    changed = parse_article(DOCS["cats"] + " Kittens play.", article_id="cats", path="cats.md")
    rep = again.sync([changed])
    assert rep.updated == ["cats"] and rep.embedded == 3
    assert set(again.snapshot.articles) == {"cats", "rockets"}


def test_remove_drops_vectors_and_metadata(tmp_path, fake_encoder) -> None:
    s = Store(tmp_path, fake_encoder)
    s.sync(articles())
    assert s.remove("cats") is True and s.remove("cats") is False
    reloaded = Store(tmp_path, fake_encoder)
    reloaded.load()
    assert list(reloaded.snapshot.articles) == ["rockets"] and reloaded.snapshot.index.ntotal == 2


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete", "foreign-model", "bad-json"])
def test_damaged_index_is_detected_at_load(tmp_path, fake_encoder, damage: str) -> None:
    Store(tmp_path, fake_encoder).sync(articles())
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    vec = tmp_path / manifest["files"]["vectors"]["name"]
    if damage == "truncate":
        vec.write_bytes(vec.read_bytes()[:100])
    elif damage == "flip":
        data = bytearray(vec.read_bytes())
        data[len(data) // 2] ^= 0xFF
        vec.write_bytes(bytes(data))
    elif damage == "delete":
        (tmp_path / manifest["files"]["articles"]["name"]).unlink()
    elif damage == "foreign-model":
        manifest.update(model="other/model", dimension=768)
        (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    else:
        (tmp_path / MANIFEST).write_text("{not json")
    with pytest.raises(IndexCorrupt):
        Store(tmp_path, fake_encoder).load()


def test_corrupt_index_is_rebuilt_by_the_assistant(tmp_path, fake_encoder) -> None:
    from retrieval import Assistant

    a = Assistant(articles=[SEED], index_dir=tmp_path, encoder=fake_encoder)
    a.warm_up()
    d = a.store.directory
    manifest = json.loads((d / MANIFEST).read_text())
    (d / manifest["files"]["vectors"]["name"]).write_bytes(b"garbage")
    b = Assistant(articles=[SEED], index_dir=tmp_path, encoder=fake_encoder)
    rep = b.warm_up()
    assert b.warnings and "rebuilding" in b.warnings[0]
    assert rep.embedded == len(read_article(SEED).sentences)
    assert Store(d, fake_encoder).load() is True


def test_index_type_is_chosen_by_size() -> None:
    rng = np.random.default_rng(0)
    v = rng.normal(size=(300, 16)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    assert type(build_faiss(v, exact_limit=1000)).__name__ == "IndexFlatIP"
    approx = build_faiss(v, exact_limit=100)
    assert type(approx).__name__ == "IndexIVFScalarQuantizer" and approx.sq.qtype == getattr(ScalarQuantizer, IVF_CODE) == QT_fp16
    _, ids = approx.search(v[:5], 1)
    assert list(ids[:, 0]) == [0, 1, 2, 3, 4]


def test_ivf_lists_grow_with_the_square_root_of_the_size_and_probes_stay_few() -> None:
    assert ivf_params(1_000_000) == (3968, 16)  # ~4 sqrt(n) lists, 16 probed (bench.perf: recall@10 >= 0.99)
    assert ivf_params(10_000_000)[1] == 12672 // 256  # probes grow with the lists beyond ~4,000 lists
    # smaller indexes probe lists enough to scan ~IVF_SCAN vectors: 16 short lists found too few neighbours
    assert ivf_params(200_001) == (1792, round(1792 * IVF_SCAN / 200_001)) == (1792, 37)
    assert ivf_params(50_000) == (896, 73)
    assert ivf_params(20_000) == (512, 105)
    assert ivf_params(1_000) == (25, 25)  # few vectors: ~39 training points a list, all of them probed
    assert ivf_params(50) == (1, 1)  # never more probes than lists
    v = np.random.default_rng(0).normal(size=(2_000, 8)).astype(np.float32)
    approx = build_faiss(v, exact_limit=100)
    assert (approx.nlist, approx.nprobe) == ivf_params(2_000) == (51, 51)


def test_exact_search_ends_where_the_answerers_full_scan_does() -> None:
    """The answerer searches FAISS only above FULL_SCAN_LIMIT: an exact index there reads every vector (31 ms at
    200,000), so the approximate one takes over at the same size (and below it none is trained for nothing)."""
    from retrieval.answer import FULL_SCAN_LIMIT

    assert EXACT_LIMIT == FULL_SCAN_LIMIT


def _unit(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _centroids(index) -> np.ndarray:  # type: ignore[no-untyped-def]
    import faiss

    return faiss.downcast_index(index.quantizer).reconstruct_n(0, index.nlist)


def test_an_ivf_index_grows_by_its_new_rows_only() -> None:
    """Rows added after the previous index's (an article added last): a copy of it takes them, nothing is trained
    again, every vector reads back and finds itself, and the previous index, still serving, is untouched."""
    v = _unit(2_100)
    old = build_faiss(v[:2_000], exact_limit=100)
    new = build_faiss(v, exact_limit=100, previous=old, kept=2_000)
    assert old.ntotal == 2_000 and new.ntotal == 2_100
    assert np.array_equal(_centroids(new), _centroids(old))
    assert new.nprobe == _nprobe(new.nlist, 2_100)
    _, ids = new.search(v, 1)
    assert ids[:, 0].tolist() == list(range(2_100))


def test_an_ivf_index_whose_rows_moved_keeps_its_centroids_only() -> None:
    v = _unit(2_100)
    old = build_faiss(v[:2_000], exact_limit=100)
    moved = np.concatenate([v[1_000:2_100], v[:1_000]])  # the first article changed: every row after it moves
    new = build_faiss(moved, exact_limit=100, previous=old, kept=0)
    assert np.array_equal(_centroids(new), _centroids(old)) and new.ntotal == 2_100
    _, ids = new.search(moved, 1)
    assert ids[:, 0].tolist() == list(range(2_100))


def test_an_ivf_index_far_from_its_size_is_trained_again() -> None:
    v = _unit(20_000)
    old = build_faiss(v[:2_000], exact_limit=100)
    new = build_faiss(v, exact_limit=100, previous=old, kept=2_000)  # ten times the vectors: lists for that size
    assert (new.nlist, new.nprobe) == ivf_params(20_000) and new.nlist != old.nlist
    flat = build_faiss(v[:50], exact_limit=100, previous=old, kept=50)  # small again: exact
    assert type(flat).__name__ == "IndexFlatIP"


def test_adding_an_article_to_an_approximate_index_reuses_its_training(tmp_path, fake_encoder) -> None:
    store = Store(tmp_path, fake_encoder, exact_limit=1)
    store.sync(articles()[:1])
    first = store.snapshot.index
    store.sync(articles()[1:])  # added after the first
    assert type(store.snapshot.index).__name__ == "IndexIVFScalarQuantizer" and store.snapshot.index is not first
    assert np.array_equal(_centroids(store.snapshot.index), _centroids(first))
    assert first.ntotal == 2 and store.snapshot.index.ntotal == 4
    again = Store(tmp_path, fake_encoder, exact_limit=1)
    assert again.load() and np.array_equal(_centroids(again.snapshot.index), _centroids(first))


def test_approximate_index_survives_a_save_load_round_trip(tmp_path, fake_encoder) -> None:
    s1 = Store(tmp_path, fake_encoder, exact_limit=2)
    s1.sync(articles())
    assert type(s1.snapshot.index).__name__ == "IndexIVFScalarQuantizer"
    s2 = Store(tmp_path, fake_encoder, exact_limit=2)
    assert s2.load() is True
    assert type(s2.snapshot.index).__name__ == "IndexIVFScalarQuantizer"
    assert s2.snapshot.index.nprobe == s1.snapshot.index.nprobe == ivf_params(len(s1.snapshot.vectors))[1]
    # the lists hold float16 codes; the exact vectors the answerer scores with are read back bit for bit
    assert np.array_equal(s2.snapshot.vectors, s1.snapshot.vectors) and s2.snapshot.vectors.dtype == np.float32
    assert not np.array_equal(s2.snapshot.index.reconstruct_n(0, 4), s1.snapshot.vectors)
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert manifest["index_type"] == "IndexIVFScalarQuantizer" and "sentence_vectors" in manifest["files"]
    flat = Store(tmp_path / "flat", fake_encoder)  # a flat index holds its vectors exactly: no second copy
    flat.sync(articles())
    assert "sentence_vectors" not in json.loads((tmp_path / "flat" / MANIFEST).read_text())["files"]


def _as_older_build(directory, vectors: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    """Rewrite an IVF index directory as builds before session 13 saved it: an IVFFlat (with a direct map) holding
    the vectors, and no sentence-vector file."""
    import faiss

    from retrieval.store import ivf_params

    manifest = json.loads((directory / MANIFEST).read_text())
    quantizer = faiss.IndexFlatIP(vectors.shape[1])
    index = faiss.IndexIVFFlat(quantizer, vectors.shape[1], ivf_params(len(vectors))[0], faiss.METRIC_INNER_PRODUCT)
    index.train(vectors)
    index.make_direct_map()
    index.add(vectors)
    index.nprobe = index.nlist
    data = faiss.serialize_index(index).tobytes()
    (directory / manifest["files"]["vectors"]["name"]).write_bytes(data)
    manifest["files"]["vectors"]["sha256"] = hashlib.sha256(data).hexdigest()
    (directory / manifest["files"].pop("sentence_vectors")["name"]).unlink()
    manifest["index_type"] = "IndexIVFFlat"
    (directory / MANIFEST).write_text(json.dumps(manifest))


def test_an_ivfflat_index_of_an_older_build_loads_and_its_next_change_keeps_its_centroids(tmp_path, fake_encoder
                                                                                         ) -> None:
    s1 = Store(tmp_path, fake_encoder, exact_limit=1)
    s1.sync(articles()[:1])
    vectors = np.array(s1.snapshot.vectors)
    _as_older_build(tmp_path, vectors)
    s2 = Store(tmp_path, fake_encoder, exact_limit=1)
    assert s2.load() is True
    assert type(s2.snapshot.index).__name__ == "IndexIVFFlat" and np.array_equal(s2.snapshot.vectors, vectors)
    old = s2.snapshot.index
    s2.sync(articles())  # an article added last: the older lists are not copied, their centroids are reused
    assert type(s2.snapshot.index).__name__ == "IndexIVFScalarQuantizer"
    assert np.array_equal(_centroids(s2.snapshot.index), _centroids(old))
    s3 = Store(tmp_path, fake_encoder, exact_limit=1)
    assert s3.load() and np.array_equal(s3.snapshot.vectors, s2.snapshot.vectors)


def test_an_ivf_index_without_its_sentence_vectors_is_refused(tmp_path, fake_encoder) -> None:
    s1 = Store(tmp_path, fake_encoder, exact_limit=1)
    s1.sync(articles())
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    entry = manifest["files"]["sentence_vectors"]
    (tmp_path / entry["name"]).write_bytes(b"\x93NUMPY truncated")
    with pytest.raises(IndexCorrupt, match="checksum"):
        Store(tmp_path, fake_encoder, exact_limit=1).load()
    del manifest["files"]["sentence_vectors"]
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(IndexCorrupt, match="no sentence vectors"):
        Store(tmp_path, fake_encoder, exact_limit=1).load()


def test_leftovers_of_a_killed_build_are_removed_at_the_next_save(tmp_path, fake_encoder) -> None:
    import os
    import time

    s = Store(tmp_path, fake_encoder)
    s.sync(articles())
    stale, fresh = tmp_path / ".vectors-dead.faiss.1234abcd.tmp", tmp_path / ".articles-live.json.5678abcd.tmp"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"in progress")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    s.remove("cats")
    assert not stale.exists() and fresh.exists()


def test_word_piece_vectors_round_trip_memory_mapped(tmp_path, fake_encoder) -> None:
    s1 = Store(tmp_path, fake_encoder)
    s1.sync(articles())
    t1 = s1.snapshot.tokens
    assert t1 is not None and len(t1) == 4
    s2 = Store(tmp_path, fake_encoder)
    s2.load()
    t2 = s2.snapshot.tokens
    assert isinstance(t2.vectors, np.memmap)
    assert t2.offsets.tolist() == t1.offsets.tolist() and np.array_equal(t2.ids, t1.ids)
    assert np.array_equal(np.asarray(t2.vectors), t1.vectors)
    assert s2.remove("cats")
    assert len(s2.snapshot.tokens) == 2 and s2.snapshot.article_tokens("rockets").ids.tolist() == t1.rows(2, 4).ids.tolist()


def test_an_index_built_without_word_pieces_is_embedded_again_once(tmp_path, fake_encoder) -> None:
    Store(tmp_path, fake_encoder).sync(articles())
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    for role in ("token_vectors", "token_ids", "token_offsets"):  # what an older build wrote
        (tmp_path / manifest["files"].pop(role)["name"]).unlink()
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    old = Store(tmp_path, fake_encoder)
    assert old.load() and old.snapshot.tokens is None
    assert old.sync(articles()).embedded == 4 and old.snapshot.tokens is not None
    again = Store(tmp_path, fake_encoder)
    again.load()
    assert again.snapshot.tokens is not None and again.sync(articles()).embedded == 0


def test_a_damaged_word_piece_file_is_detected(tmp_path, fake_encoder) -> None:
    Store(tmp_path, fake_encoder).sync(articles())
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    f = tmp_path / manifest["files"]["token_vectors"]["name"]
    f.write_bytes(f.read_bytes()[:-8])
    with pytest.raises(IndexCorrupt, match="checksum"):
        Store(tmp_path, fake_encoder).load()


def test_context_vectors_round_trip_and_follow_their_articles(tmp_path, fake_encoder) -> None:
    """The sentences read in their paragraphs are saved with the pieces, memory-mapped at load, and stay with their
    own rows when an article is removed or added."""
    s1 = Store(tmp_path, fake_encoder)
    s1.sync(articles())
    c1 = s1.snapshot.tokens.context
    texts = [s.text for s in s1.snapshot.sentences]
    assert c1.shape == (4, fake_encoder.dimension)
    # each article's two sentences form one paragraph
    assert np.allclose(c1, fake_encoder.encode_context(texts, [0, 0, 1, 1]), atol=1e-6)
    s2 = Store(tmp_path, fake_encoder)
    s2.load()
    assert isinstance(s2.snapshot.tokens.context, np.memmap) and np.array_equal(s2.snapshot.tokens.context, c1)
    assert s2.remove("cats") and np.array_equal(s2.snapshot.tokens.context, c1[2:])
    s2.sync([parse_article("# Dogs\n\nDogs bark at night.", article_id="dogs", path="dogs.md")])
    assert np.array_equal(s2.snapshot.tokens.context[:2], c1[2:]) and len(s2.snapshot.tokens.context) == 3


def test_an_index_built_without_context_vectors_is_embedded_again_once(tmp_path, fake_encoder) -> None:
    Store(tmp_path, fake_encoder).sync(articles())
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    (tmp_path / manifest["files"].pop("token_context")["name"]).unlink()  # what a build before session 10 wrote
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    old = Store(tmp_path, fake_encoder)
    assert old.load() and old.snapshot.tokens is not None and old.snapshot.tokens.context is None
    assert old.sync(articles()).embedded == 4 and old.snapshot.tokens.context is not None
    again = Store(tmp_path, fake_encoder)
    again.load()
    assert again.snapshot.tokens.context is not None and again.sync(articles()).embedded == 0


def test_context_vectors_made_with_other_passes_are_made_again(tmp_path, fake_encoder, monkeypatch) -> None:
    """The manifest records how the paragraphs were read (context.params()); an index whose context vectors were
    made with other passes loads without them and its next sync embeds it again, once."""
    import retrieval.context as context_mod

    Store(tmp_path, fake_encoder).sync(articles())
    assert json.loads((tmp_path / MANIFEST).read_text())["context"] == context_mod.params()
    monkeypatch.setattr(context_mod, "CONTEXT", context_mod.CONTEXT + 64)
    other = Store(tmp_path, fake_encoder)
    assert other.load() and other.snapshot.tokens.context is None
    assert other.sync(articles()).embedded == 4 and other.snapshot.tokens.context is not None
    assert json.loads((tmp_path / MANIFEST).read_text())["context"]["context"] == context_mod.CONTEXT


@pytest.mark.parametrize("damage", ["truncated", "wrong shape"])
def test_a_damaged_context_file_is_detected(tmp_path, fake_encoder, damage: str) -> None:
    import hashlib
    import io

    Store(tmp_path, fake_encoder).sync(articles())
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    f = tmp_path / manifest["files"]["token_context"]["name"]
    if damage == "truncated":
        f.write_bytes(f.read_bytes()[:-8])
        match = "checksum"
    else:  # a well-formed file of the wrong shape, its checksum updated: caught by the shape check
        buf = io.BytesIO()
        np.save(buf, np.zeros((4, 3), np.float32))
        f.write_bytes(buf.getvalue())
        manifest["files"]["token_context"]["sha256"] = hashlib.sha256(buf.getvalue()).hexdigest()
        (tmp_path / MANIFEST).write_text(json.dumps(manifest))
        match = "context vectors"
    with pytest.raises(IndexCorrupt, match=match):
        Store(tmp_path, fake_encoder).load()


def test_large_indexes_keep_no_word_pieces(tmp_path, fake_encoder, monkeypatch) -> None:
    import retrieval.store as store_mod

    monkeypatch.setattr(store_mod, "TOKEN_LIMIT", 3)
    s = Store(tmp_path, fake_encoder)
    s.sync(articles())
    assert s.snapshot.tokens is None
    assert not any(p.name.startswith(("tokens-", "tokctx-")) for p in tmp_path.iterdir())
    assert s.remove("cats") and s.snapshot.tokens is None


def test_a_build_embeds_new_sentences_as_one_encode_call_would(tmp_path, encoder) -> None:
    """New articles are embedded in one pass: the vectors are those of a single encode call on the same sentences
    (what bench.perf's build floor times) up to rounding, the pieces those of each sentence alone, the context
    vectors those of each article read alone, and each article gets its own rows. Progress counts sentences, each
    pass half of them."""
    arts = [read_article(SEED)] + articles()
    seen: list[tuple[int, int]] = []
    store = Store(tmp_path / "idx", encoder)
    report = store.sync(arts, progress=lambda done, total: seen.append((done, total)))
    texts = [s.text for a in arts for s in a.sentences]
    assert report.embedded == len(texts) and seen[-1] == (len(texts), len(texts))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and {t for _, t in seen} == {len(texts)}
    assert any(0 < d < len(texts) for d, _ in seen)
    for a in arts:
        lo, hi = store.snapshot.offsets[a.id]
        alone = encoder.encode_context([s.text for s in a.sentences], [s.paragraph for s in a.sentences])
        assert np.abs(store.snapshot.tokens.context[lo:hi] - alone).max() < 1e-5
    assert np.abs(store.snapshot.vectors - encoder.encode(texts)).max() < 1e-5
    toks = store.snapshot.tokens
    for i in (0, 1, len(texts) // 2, len(texts) - 1):
        _, alone = encoder.encode_tokens([texts[i]])
        ids, vecs = toks.row(i)
        assert np.array_equal(ids, alone.ids)
        assert np.allclose(np.asarray(vecs, np.float32), alone.vectors.astype(np.float32), rtol=0, atol=2e-3)
    for a in arts:
        lo, hi = store.snapshot.offsets[a.id]
        assert [s.text for s in store.snapshot.sentences[lo:hi]] == [s.text for s in a.sentences]


def test_a_fresh_build_keeps_the_same_word_pieces_as_one_built_article_by_article(tmp_path, fake_encoder) -> None:
    """A fresh build hands its encoded pieces to the snapshot whole; adding the articles one at a time joins
    per-article copies: both indexes hold the same pieces, row for row, and both reload."""
    whole = Store(tmp_path / "whole", fake_encoder)
    whole.sync(articles())
    stepwise = Store(tmp_path / "stepwise", fake_encoder)
    for art in articles():
        stepwise.sync([art])
    a, b = whole.snapshot.tokens, stepwise.snapshot.tokens
    assert a is not None and b is not None and len(a) == len(b) == 4
    assert a.offsets.tolist() == b.offsets.tolist() and np.array_equal(a.ids, b.ids)
    assert np.array_equal(a.vectors, b.vectors)
    for d in ("whole", "stepwise"):
        again = Store(tmp_path / d, fake_encoder)
        assert again.load() and np.array_equal(np.asarray(again.snapshot.tokens.vectors), a.vectors)


def test_the_sync_progress_bar_leaves_no_thread_behind() -> None:
    """A plain tqdm bar starts a monitor thread that outlives it; the sync's bar starts none, so a process that has
    built an index still runs one Python thread and parses its next build's files on every core."""
    import threading

    from retrieval.store import TerminalProgress

    before = {t.ident for t in threading.enumerate()}
    bar = TerminalProgress("Indexing test")
    for done in (1, 5, 10):
        bar(done, 10)
    assert {t.ident for t in threading.enumerate()} - before == set()


def test_a_flat_file_is_read_as_exactly_the_vectors_faiss_wrote(tmp_path) -> None:
    import faiss

    rng = np.random.default_rng(3)
    for n in (0, 1, 37):
        v = rng.standard_normal((n, 384)).astype(np.float32)
        index = faiss.IndexFlatIP(384)
        index.add(v)
        faiss.write_index(index, str(tmp_path / f"flat{n}.faiss"))
        got = read_flat_vectors(tmp_path / f"flat{n}.faiss", 384)
        assert got is not None and got.dtype == np.float32 and got.shape == (n, 384) and np.array_equal(got, v)
        assert got.flags.aligned  # (the codes start at byte 45: a mapped view of them would be misaligned)
    # every other layout is left to faiss.read_index: another dimension, another metric, an IVF index, a cut file
    assert read_flat_vectors(tmp_path / "flat37.faiss", 256) is None
    l2 = faiss.IndexFlatL2(384)
    l2.add(v)
    faiss.write_index(l2, str(tmp_path / "l2.faiss"))
    assert read_flat_vectors(tmp_path / "l2.faiss", 384) is None
    faiss.write_index(build_faiss(rng.standard_normal((400, 384)).astype(np.float32), exact_limit=100),
                      str(tmp_path / "ivf.faiss"))
    assert read_flat_vectors(tmp_path / "ivf.faiss", 384) is None
    whole = (tmp_path / "flat37.faiss").read_bytes()
    for cut in (whole[:-4], whole[:30], whole + b"\0"):
        (tmp_path / "cut.faiss").write_bytes(cut)
        assert read_flat_vectors(tmp_path / "cut.faiss", 384) is None


def test_a_loaded_flat_library_makes_its_faiss_index_only_when_asked(tmp_path, fake_encoder) -> None:
    import faiss

    Store(tmp_path, fake_encoder).sync(articles())
    store = Store(tmp_path, fake_encoder)
    store.load()
    snap = store.snapshot
    assert snap.index_source.__class__.__name__ == "_FlatFromVectors" and snap.index_source._index is None
    saved = faiss.read_index(str(tmp_path / json.loads((tmp_path / MANIFEST).read_text())["files"]["vectors"]["name"]))
    assert np.array_equal(snap.index.reconstruct_n(0, 4), saved.reconstruct_n(0, 4))  # made from the vectors, once
    assert snap.index is snap.index and type(snap.index).__name__ == "IndexFlatIP"


def test_a_flat_file_that_disagrees_with_its_manifest_is_refused_even_with_a_matching_checksum(tmp_path,
                                                                                                fake_encoder) -> None:
    import faiss

    Store(tmp_path, fake_encoder).sync(articles())
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    entry = manifest["files"]["vectors"]
    short = faiss.IndexFlatIP(384)
    short.add(np.ones((3, 384), np.float32))  # 3 vectors for the library's 4 sentences
    faiss.write_index(short, str(tmp_path / entry["name"]))
    entry["sha256"] = hashlib.sha256((tmp_path / entry["name"]).read_bytes()).hexdigest()
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(IndexCorrupt, match="3 vectors for 4 sentences"):
        Store(tmp_path, fake_encoder).load()
