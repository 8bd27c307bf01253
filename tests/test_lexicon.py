"""The lexical index's reading of a large index's sentences, kept on disk between starts (retrieval/lexicon.py):
round trip, a change of content, damage, and small indexes that keep nothing."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pytest

from retrieval import lexicon
from retrieval.answer import _Index


def _same(a: _Index, b: _Index) -> None:
    assert a.tokens.vocab == b.tokens.vocab
    assert np.array_equal(a.tokens.indptr, b.tokens.indptr) and np.array_equal(a.tokens.ids, b.tokens.ids)
    for kind in ("date", "number", "person", "place"):
        assert np.array_equal(a.cue[kind], b.cue[kind])
    assert np.array_equal(a.anaphor, b.anaphor)
    for name in ("sent", "prefix", "para"):
        p, q = getattr(a, name), getattr(b, name)
        assert np.array_equal(p.row, q.row) and np.array_equal(p.weight.view(np.uint32), q.weight.view(np.uint32))
        assert p.idf == q.idf


@pytest.fixture
def kept_always(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(lexicon, "CACHE_MIN", 0)  # the seed article is far below the size that keeps a lexicon


def _files(d: Path) -> list[Path]:
    return sorted(d.glob(f"{lexicon.PREFIX}*.npz"))


def test_a_restart_reads_the_kept_lexicon_instead_of_the_sentences(seed_assistant, tmp_path, kept_always,
                                                                    monkeypatch) -> None:
    import retrieval.answer as _  # noqa: F401

    snap = seed_assistant.store.snapshot
    plain = _Index(snap)  # nothing kept: read from the sentences
    assert _files(tmp_path) == []
    first = _Index(snap, tmp_path)
    assert len(_files(tmp_path)) == 1
    _same(plain, first)

    def no_reading(texts):  # type: ignore[no-untyped-def]
        raise AssertionError("the sentences were read again")

    import importlib

    answer = importlib.import_module("retrieval.answer")
    monkeypatch.setattr(answer, "_word_runs", no_reading)

    def no_postings(*args):  # type: ignore[no-untyped-def]
        raise AssertionError("the postings were built again")

    monkeypatch.setattr(answer._Postings, "from_ids", no_postings)
    again = _Index(snap, tmp_path)
    _same(plain, again)


def test_postings_that_do_not_fit_are_built_again(seed_assistant, tmp_path, kept_always, caplog) -> None:
    snap = seed_assistant.store.snapshot
    _Index(snap, tmp_path)
    (path,) = _files(tmp_path)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["para_row"] = arrays["para_row"] + 10_000  # rows past the last paragraph
    np.savez(path.with_suffix(""), **arrays)
    with caplog.at_level(logging.WARNING, logger="retrieval.answer"):
        ix = _Index(snap, tmp_path)
    assert "postings do not fit" in caplog.text
    _same(ix, _Index(snap))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="retrieval.answer"):
        _same(ix, _Index(snap, tmp_path))  # the lexicon was written again whole: no warning at the next start
    assert "postings do not fit" not in caplog.text


def test_the_same_sentences_in_other_paragraphs_are_another_lexicon(seed_assistant, tmp_path, kept_always) -> None:
    snap = seed_assistant.store.snapshot
    _Index(snap, tmp_path)
    (old,) = _files(tmp_path)
    regrouped = dataclasses.replace(snap, sentences=[dataclasses.replace(s, paragraph=0) for s in snap.sentences],
                                    version="one paragraph")
    ix = _Index(regrouped, tmp_path)
    (new,) = _files(tmp_path)
    assert new != old and ix.para.n == 1
    _same(ix, _Index(regrouped))


def test_other_sentences_get_their_own_lexicon_and_the_old_one_goes(seed_assistant, tmp_path, kept_always) -> None:
    snap = seed_assistant.store.snapshot
    _Index(snap, tmp_path)
    (old,) = _files(tmp_path)
    s0 = snap.sentences[0]
    changed = dataclasses.replace(snap, sentences=[dataclasses.replace(s0, text=s0.text + " In 1999.")]
                                  + snap.sentences[1:], version="changed")
    ix = _Index(changed, tmp_path)
    (new,) = _files(tmp_path)
    assert new != old
    assert ix.cue["date"][0] == 1.0 and ix.cue["date"][0] != _Index(snap).cue["date"][0]
    _same(ix, _Index(changed))


@pytest.mark.parametrize("damage", ["truncated", "garbage", "other key"])
def test_a_damaged_lexicon_is_read_again_with_a_warning(seed_assistant, tmp_path, kept_always, caplog,
                                                       damage: str) -> None:
    snap = seed_assistant.store.snapshot
    _Index(snap, tmp_path)
    (path,) = _files(tmp_path)
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a numpy file at all" * 10)
    else:  # a valid file whose key names other sentences
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
        arrays["key"] = np.array("0" * 32)
        np.savez(path.with_suffix(""), **arrays)  # (np.savez adds .npz)
    with caplog.at_level(logging.WARNING, logger="retrieval.lexicon"):
        ix = _Index(snap, tmp_path)
    assert "ignoring" in caplog.text and "read again" in caplog.text
    _same(ix, _Index(snap))
    k = lexicon.key([s.text for s in snap.sentences], _stopwords(), layout=ix.par)
    again = lexicon.load(tmp_path, k, len(snap.sentences))  # written again, whole
    assert again is not None and again.postings is not None


def test_a_small_index_keeps_no_lexicon(seed_assistant, tmp_path) -> None:
    assert len(seed_assistant.store.snapshot.sentences) < lexicon.CACHE_MIN
    _Index(seed_assistant.store.snapshot, tmp_path)
    assert _files(tmp_path) == []


def test_the_key_depends_on_every_text_and_on_the_stop_words() -> None:
    sw = _stopwords()
    base = lexicon.key(["a b", "c"], sw)
    assert base == lexicon.key(["a b", "c"], sw)
    assert len({base, lexicon.key(["a", "b c"], sw), lexicon.key(["a b", "c", ""], sw), lexicon.key(["a b", "d"], sw),
                lexicon.key(["a b", "c"], sw | {"zzz"})}) == 5


def _stopwords() -> frozenset[str]:
    from retrieval.answer import STOPWORDS

    return STOPWORDS
