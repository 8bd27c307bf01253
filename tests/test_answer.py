"""Answer composition around the model: validation, answer-type cues, follow-ups and abstention."""

from __future__ import annotations

import pytest

from retrieval import QuestionError, clean_question
from retrieval.answer import Answerer, question_type, type_match


@pytest.mark.parametrize("bad,needle", [("", "empty"), ("   \n\t ", "empty"), (None, "text"), (42, "text"),
                                        (["a"], "text"), ("x" * 5000, "limit")])
def test_bad_questions_get_a_clear_error(bad, needle: str) -> None:
    with pytest.raises(QuestionError, match=needle):
        clean_question(bad)


def test_control_characters_are_dropped_and_text_kept() -> None:
    assert clean_question("Who\x00 leads\x07 the   legion? 🙂") == "Who leads the legion? 🙂"
    assert clean_question("מי מוביל את הלגיון?") == "מי מוביל את הלגיון?"


@pytest.mark.parametrize("q,kind", [("When did the war start?", "date"), ("In what year was it built?", "date"),
                                    ("How many people live there?", "number"), ("Who founded the city?", "person"),
                                    ("Where is the stadium?", "place"), ("Why did it fail?", "other")])
def test_question_type(q: str, kind: str) -> None:
    assert question_type(q) == kind


def test_type_match_cues() -> None:
    assert type_match("date", "It opened in 1912 after delays.") == 1.0
    assert type_match("date", "It opened after long delays.") == 0.0
    assert type_match("number", "About 300 people attended.") == 1.0
    assert type_match("person", "The bridge was designed by Thomas Telford.") == 1.0
    assert type_match("person", "the bridge was designed by an engineer.") == 0.0


def test_follow_up_borrows_the_previous_question() -> None:
    hist = [{"role": "user", "content": "Who is Caesar?"}, {"role": "assistant", "content": "…"}]
    assert Answerer.resolve("How old is he?", hist) == "Who is Caesar? How old is he?"
    assert Answerer.resolve("How old is he?", None) == "How old is he?"
    full = "What did the Russian defense ministry spokesman claim about the fighters?"
    assert Answerer.resolve(full, hist) == full


def test_answer_quotes_and_abstains_with_fake_model(tmp_path, fake_encoder) -> None:
    from retrieval import Assistant, parse_article

    a = Assistant(articles=[], index_dir=tmp_path, encoder=fake_encoder)
    a.warm_up()
    a.store.sync([parse_article("# Bridges\n\nThe Iron Bridge opened in 1781 over the Severn. "
                                "It was the first major bridge made of cast iron.", article_id="b", path="b.md")])
    ans = a.answer("When did the Iron Bridge open over the Severn?")
    assert not ans.abstained
    assert ans.citations[0].text == "The Iron Bridge opened in 1781 over the Severn."
    assert ans.text.startswith("“The Iron Bridge opened in 1781 over the Severn.” [1]")
    c = ans.citations[0]
    assert a.article("b").source[c.start:c.end] == c.text
    off = a.answer("Which quarterback threw the most touchdowns?")
    assert off.abstained and off.citations == [] and "does not say" in off.text


def test_without_word_pieces_the_plain_weights_rank_and_abstain(tmp_path, encoder, monkeypatch) -> None:
    """Above store.TOKEN_LIMIT the index keeps no pieces: answers still come, from the weights fitted without them."""
    import retrieval.store as store_mod
    from conftest import SEED
    from retrieval import Assistant

    monkeypatch.setattr(store_mod, "TOKEN_LIMIT", 0)
    a = Assistant(articles=[SEED], index_dir=tmp_path, encoder=encoder)
    a.warm_up()
    assert a.store.snapshot.tokens is None and a.answerer.token_scorer(a.store.snapshot) is None
    ans = a.answer("What is the Free Russia Legion?")
    assert not ans.abstained and "Free Russia Legion" in ans.citations[0].text
    assert a.answer("Who is the president of France?").abstained


def test_stage2_scores_the_sentences_as_read_in_their_paragraphs(seed_assistant) -> None:
    """dense_late is the cosine of the sentence's vector read in its paragraph (retrieval/context.py); an index
    without those vectors (built before them) falls back to the sentence's own cosine, as the plain weights rank."""
    import dataclasses

    import numpy as np

    from retrieval.answer import STAGE2

    a, snap = seed_assistant.answerer, seed_assistant.store.snapshot
    q = "What call sign does the Russian fighter use?"
    qvec, qtok = a.encode_query(q, pieces=True)
    late, own = STAGE2.index("dense_late"), STAGE2.index("dense")
    r = a.rank(q, qvec, snap, qtok=qtok)
    context = np.asarray(snap.tokens.context)
    assert np.allclose(r.feats[:, late], context[r.rows] @ qvec, atol=1e-6)
    assert not np.allclose(r.feats[:, late], r.feats[:, own], atol=1e-3)
    bare = dataclasses.replace(snap, tokens=snap.tokens.with_context(None))
    r2 = a.rank(q, qvec, bare, qtok=qtok)
    assert np.array_equal(r2.feats[:, late], r2.feats[:, own])


def test_index_tokens_and_postings_match_tokenize(seed_assistant) -> None:
    from retrieval.answer import tokenize

    ix = seed_assistant.answerer.index(seed_assistant.store.snapshot)
    texts = [s.text for s in seed_assistant.store.snapshot.sentences]
    want = tokenize(texts)
    assert [ix.tokens[r] for r in range(len(texts))] == want
    for t in {t for toks in want for t in toks}:
        assert ix.sent.rows[t].tolist() == [r for r, toks in enumerate(want) if t in toks]

    # the share of a sentence's tokens the question does not mention, read from the same arrays
    import numpy as np

    terms = set(tokenize(["Who oversees the Free Russia Legion in Ukraine?"])[0])
    rows = np.array([5, 0, 12, 5])
    got = ix.novel_fraction(rows, terms)
    assert got.tolist() == pytest.approx([sum(t not in terms for t in want[r]) / len(want[r]) for r in rows.tolist()])


def test_type_cues_of_a_whole_index_are_type_match_of_each_sentence() -> None:
    """The index's answer-type cues come from set lookups on each sentence's word runs (answer.type_cues) instead of
    the case-insensitive alternations: on the seed's sentences, words at the edges of the lists (case, plurals,
    underscores, possessives, other scripts' digits, the letters that case-insensitive matching folds) and 5,000
    random mixtures of them, every cue equals type_match's."""
    import random

    from conftest import SEED
    from retrieval import read_article
    from retrieval.answer import type_cues

    seed = [s.text for s in read_article(SEED).sentences]
    edges = ["May", "MAY", "mAy", "may_be", "May's", "Sept.", "SEPTEMBER", "months", "Months", "daysx", "xdays",
             "1999", "1890s", "\u0663", "\uff11\uff12", "\u00b2", "\u00bd", "five-year", "FIVE", "_five", "five_",
             "\u0130stanbul", "\u017feptember", "\u0131t", "\u212aelvin", "day\u00a0", "\u2009week", "hundreds",
             "HALF", "halfway", "one's", "ones", "(ago)", "Jan", "Janus", "Tuesday,", "decades-long", "Smith",
             "1990S", "2019s", "19999", "1999_", "x1999", "1999th", "\u0661\u0669\u0669\u0669", "20\u0130"]
    rnd = random.Random(3)
    words = [w for t in seed for w in t.split()] + edges
    texts = seed + edges + [" ".join(rnd.choice(words) for _ in range(rnd.randint(1, 14))) for _ in range(5000)]
    date, number, person = type_cues(texts)
    for i, t in enumerate(texts):
        assert (date[i], number[i], person[i]) == (type_match("date", t), type_match("number", t),
                                                   type_match("person", t)), t
    assert date.max() == 1.0 and 0.5 in date and number.max() == 1.0 and person.min() == 0.0


def test_bm25_top_list_reads_postings_and_breaks_ties_by_row() -> None:
    import numpy as np

    from retrieval.answer import _Postings

    bags = [["iron"], ["bridg"], ["iron"], ["river"], ["iron", "bridg"], [], ["iron"]]
    p = _Postings(bags)
    terms = {"iron": 1.0, "bridg": 1.0}
    bm = p.bm25(terms)
    assert p.top(terms, 2).tolist() == [1, 4]  # 4 has both terms, 1 the rarer one
    assert p.top(terms, 3).tolist() == [0, 1, 4]  # rows 0, 2 and 6 tie: the lowest row goes in
    assert p.top(terms, 10).tolist() == [r for r in range(len(bags)) if bm[r] > 0]  # only rows with a query term
    assert p.top(terms, 1, 2, 4).tolist() == [2] and p.top({"absent": 1.0}, 3).tolist() == []
    assert np.array_equal(p.at(terms, {}, np.array([6, 1, 3]))[0], bm[[6, 1, 3]])


def test_kth_largest_is_exactly_one_partitions_value() -> None:
    """The sampled bound only narrows what is partitioned: ties, sorted runs and tiny or huge k give the same value."""
    import numpy as np

    from retrieval.answer import _kth_largest

    rng = np.random.default_rng(3)
    cases = [rng.random(40_000), rng.integers(0, 4, 40_000), np.sort(rng.random(9_000)), np.sort(rng.random(9_000))[::-1],
             np.full(5_000, 2.5), rng.random(7)]
    for x in (c.astype(np.float32) for c in cases):
        for k in {k for k in (1, 2, 256, len(x) // 3, len(x)) if 1 <= k <= len(x)}:
            want = -np.partition(-x, k - 1)[k - 1]
            got = _kth_largest(x, k)
            assert got == want and got.dtype == np.float32, (len(x), k)


def test_general_stage1_computes_what_the_scope_path_computes(seed_assistant, monkeypatch) -> None:
    import numpy as np

    a, snap = seed_assistant.answerer, seed_assistant.store.snapshot
    ix = a.index(snap)
    rows = np.arange(len(snap.sentences))
    q = "Who oversees the legion?"
    qvec, terms = a.encode_query(q)[0], a.query_terms(q, "What is the Free Russia Legion?")
    fast, ev_fast = a.stage1(terms, qvec, "person", snap, rows)
    monkeypatch.setattr(ix, "scope", lambda rows: None)  # the path for arbitrary candidate rows
    general, ev_general = a.stage1(terms, qvec, "person", snap, rows)
    assert np.allclose(fast, general, atol=1e-6)
    assert ev_fast == pytest.approx(ev_general)


def test_candidate_path_cites_what_the_full_scan_cites(seed_assistant, monkeypatch) -> None:
    import importlib

    import numpy as np

    answer = importlib.import_module("retrieval.answer")  # (the package exports a function of the same name)
    snap = seed_assistant.store.snapshot
    questions = ["What is the Free Russia Legion?", "Who oversees the legion?", "Who is Caesar?",
                 "What checks do applicants go through?", "Why did the official speak anonymously?",
                 "What did the Russian defense ministry spokesman claim?", "How many fighters does the legion have?"]
    full = [seed_assistant.answer(q) for q in questions]
    assert not any(a.abstained for a in full)
    monkeypatch.setattr(answer, "FULL_SCAN_LIMIT", 0)  # what a scope of more than FULL_SCAN_LIMIT sentences does
    monkeypatch.setattr(answer, "CANDIDATES", 8)  # small top lists, so the candidates are a strict subset
    monkeypatch.setattr(answer, "LEXICAL_CANDIDATES", 8)
    a = seed_assistant.answerer
    for q in questions:
        rows = a.candidates(a.query_terms(q), a.encode_query(q)[0], snap, None)
        assert 0 < len(rows) < len(snap.sentences) and np.all(np.diff(rows) > 0)
    got = [seed_assistant.answer(q) for q in questions]
    assert [g.citations[0].text for g in got] == [f.citations[0].text for f in full]
    assert not any(g.abstained for g in got)


def test_a_large_scopes_bm25_top_list_is_made_beside_the_encode(seed_assistant, monkeypatch) -> None:
    """Above FULL_SCAN_LIMIT the BM25 top list needs only the question's words: run() starts it in a worker before
    the question is embedded and the candidates take it from there; it is the list made in line, and below the limit
    none is made."""
    import importlib
    import threading

    import numpy as np

    answer = importlib.import_module("retrieval.answer")
    a, snap = seed_assistant.answerer, seed_assistant.store.snapshot
    q = "Who oversees the legion?"
    assert a.lexical_top(q, snap) is None  # the seed article alone is below the limit: every sentence is scanned
    monkeypatch.setattr(answer, "FULL_SCAN_LIMIT", 0)
    monkeypatch.setattr(answer, "LEXICAL_CANDIDATES", 8)
    ix = a.index(snap)
    terms = a.query_terms(q)
    inline = ix.sent.top_stats(terms, 8)
    calls: list[str] = []
    threads: list[str] = []
    top_stats, encode, start = ix.sent.top_stats, a.encode_query, a.lexical_top

    def recording_top(*args, **kw):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread().name)
        return top_stats(*args, **kw)

    def recording_start(*args, **kw):  # type: ignore[no-untyped-def]
        calls.append("top list started")
        return start(*args, **kw)

    def recording_encode(*args, **kw):  # type: ignore[no-untyped-def]
        calls.append("encode")
        return encode(*args, **kw)

    monkeypatch.setattr(ix.sent, "top_stats", recording_top)
    monkeypatch.setattr(a, "lexical_top", recording_start)
    monkeypatch.setattr(a, "encode_query", recording_encode)
    fut = start(q, snap)
    got = fut.result()
    assert np.array_equal(got[0], inline[0]) and got[1:] == pytest.approx(inline[1:])
    threads.clear()
    ans = a.run(q)
    assert calls == ["top list started", "encode"]
    assert len(threads) == 1 and threads[0].startswith("lexical-top") and threads[0] != threading.current_thread().name
    assert "overseen" in ans.citations[0].text
    rows, _ = a._candidates(terms, a.encode_query(q)[0], snap, None, fut)
    assert set(inline[0].tolist()) <= set(rows.tolist())


def test_candidates_are_standardised_over_the_whole_index(seed_assistant, monkeypatch) -> None:
    """Above FULL_SCAN_LIMIT stage 1 sees only the top lists' rows; their dense and BM25 z-scores are still those of
    the whole index (among the candidates alone they were not, and P@1 fell; bench/PERF.md, session 9)."""
    import importlib

    import numpy as np

    answer = importlib.import_module("retrieval.answer")
    monkeypatch.setattr(answer, "FULL_SCAN_LIMIT", 0)
    monkeypatch.setattr(answer, "CANDIDATES", 8)  # small top lists, so the candidates are a strict subset
    monkeypatch.setattr(answer, "LEXICAL_CANDIDATES", 8)
    a = Answerer(seed_assistant.store)  # its index is built above the limit: it keeps the vectors' moments
    snap = seed_assistant.store.snapshot
    z = [answer.STAGE1.index("dense_z"), answer.STAGE1.index("bm25_z")]
    own, scope = [], []
    for q in ["Who oversees the legion?", "What checks do applicants go through?", "Who is Caesar?",
              "Why did the official speak anonymously?", "What did the Russian defense ministry spokesman claim?"]:
        terms, qtype, qvec = a.query_terms(q), question_type(q), a.encode_query(q)[0]
        rows, stats = a._candidates(terms, qvec, snap, None)
        assert stats is not None and 0 < len(rows) < len(snap.sentences)
        got, _ = a.stage1(terms, qvec, qtype, snap, rows, stats=stats)
        full, _ = a.stage1(terms, qvec, qtype, snap, a.scope_rows(snap, None))  # every row, as below the limit
        np.testing.assert_allclose(got[:, z], full[rows][:, z], rtol=0, atol=2e-5)
        scope.append(full[rows][:, z])
        own.append(a.stage1(terms, qvec, qtype, snap, rows)[0][:, z])
    assert not np.allclose(np.concatenate(own), np.concatenate(scope), atol=1e-2)  # what the statistics change


def test_stage2_cues_are_the_same_uncached_above_the_full_scan_limit(seed_assistant, monkeypatch) -> None:
    import importlib

    import numpy as np

    answer = importlib.import_module("retrieval.answer")
    a, snap = seed_assistant.answerer, seed_assistant.store.snapshot
    ix = a.index(snap)
    rows = np.arange(min(40, len(snap.sentences)))
    questions = ["Who oversees the legion?", "When was the legion formed?", "How many fighters does it have?",
                 "Where do the fighters train?", "What checks do applicants go through?"]

    def feats() -> list[np.ndarray]:
        out = []
        for q in questions:
            terms, qtype = a.query_terms(q), answer.question_type(q)
            f1, _ = a.stage1(terms, a.encode_query(q)[0], qtype, snap, rows)
            out.append(a.stage2(q, terms, qtype, snap, rows, f1, f1 @ a._w1))
        return out

    cached = feats()
    monkeypatch.setattr(answer, "FULL_SCAN_LIMIT", 0)  # as above the limit: rows seldom recur, nothing is cached
    monkeypatch.setattr(ix, "_bigrams", {})
    monkeypatch.setattr(ix, "_lower", {})
    monkeypatch.setattr(ix, "_cues", {"date": {}, "number": {}, "cap": {}})
    assert all(np.array_equal(x, y) for x, y in zip(feats(), cached))
    assert not ix._bigrams and not ix._lower and not any(ix._cues.values())
    for kind in ("date", "number", "person", "other"):
        for text in snap.sentences[:60]:
            assert set(answer._iter_cue_tokens(kind, text.text)) == answer._cue_tokens(kind, text.text)


def test_bigram_share_on_ids_matches_the_per_row_bigram_sets(seed_assistant) -> None:
    """Above FULL_SCAN_LIMIT stage 2 counts the question's bigrams on token ids (no per-row string pairs): the same
    shares as the cached frozensets below it, for rows in any order, repeated pairs and out-of-vocabulary words."""
    import importlib

    import numpy as np

    answer = importlib.import_module("retrieval.answer")
    a, snap = seed_assistant.answerer, seed_assistant.store.snapshot
    ix = a.index(snap)
    rng = np.random.default_rng(0)
    n = len(snap.sentences)
    questions = ["Who oversees the foreign legion?", "How many foreign fighters joined the legion?",
                 "What did the Russian defense ministry spokesman claim?", "zzqx foreign legion legion foreign zzqx",
                 "legion"]
    seen = 0.0
    for q in questions:
        toks = answer.tokenize([q])[0]
        qbi = set(zip(toks, toks[1:]))
        for rows in (np.arange(n), rng.permutation(n)[:40], np.array([3]), np.array([5, 5, 2])):
            sl = answer._Shortlist(ix, rows)
            want = [len(qbi & ix.bigrams(r)) / len(qbi) for r in sl.rows] if qbi else []
            if not qbi:
                continue
            got = ix.bigram_share(sl, qbi)
            assert np.array_equal(np.asarray(want, dtype=np.float32), got.astype(np.float32))
            seen = max(seen, float(max(want)))
    assert seen > 0  # some row does share a bigram with some question


def test_novel_rows_above_the_full_scan_limit_match_novel(seed_assistant, monkeypatch) -> None:
    """The inlined capitalised-word scan above FULL_SCAN_LIMIT gives novel()'s answer for every row."""
    import importlib

    import numpy as np

    answer = importlib.import_module("retrieval.answer")
    a, snap = seed_assistant.answerer, seed_assistant.store.snapshot
    ix = a.index(snap)
    rows = np.arange(len(snap.sentences))
    monkeypatch.setattr(answer, "FULL_SCAN_LIMIT", 0)
    sl = answer._Shortlist(ix, rows)
    for q in ["Who oversees the legion?", "Where do the fighters train?", "What did Ukraine's army say?",
              "Which Russian ministry spokesman claimed it?", "When was the legion formed?", "How many fighters?"]:
        qtype = answer.question_type(q)
        qcues, qlow = answer._cue_tokens(qtype, q), q.lower().replace("’", "'")
        want = [1.0 if ix.novel(qtype, r, qcues, qlow) else 0.0 for r in sl.rows]
        assert ix.novel_rows(qtype, sl, qcues, qlow) == want
        assert 0 < sum(want) < len(want)


def _bridges(a) -> None:  # type: ignore[no-untyped-def]
    a.warm_up()  # (an assistant over articles=[] serves exactly those: warm it up before adding)
    a.add_text("# Bridges\n\nThe Iron Bridge opened in 1781 over the Severn. It was the first major bridge made of "
               "cast iron.", title="Bridges")


_CANALS = "# Canals\n\nThe Bridgewater Canal was finished in 1761 for carrying coal. Boats were pulled by horses."


def test_questions_asked_while_the_index_is_rebuilt_are_answered_from_the_previous_one(tmp_path, fake_encoder,
                                                                                         monkeypatch) -> None:
    import threading

    from retrieval.answer import _Index
    from retrieval import Assistant

    a = Assistant(articles=[], index_dir=tmp_path, encoder=fake_encoder)
    _bridges(a)
    assert a.answer("When did the Iron Bridge open over the Severn?").citations[0].text.startswith("The Iron Bridge")
    # the next lexical index build blocks until released: a 1,000,000-sentence one takes ~30 s
    release, started = threading.Event(), threading.Event()
    real = _Index.__init__

    def slow(self, snap, *rest) -> None:  # type: ignore[no-untyped-def]
        started.set()
        assert release.wait(30)
        real(self, snap, *rest)

    monkeypatch.setattr(_Index, "__init__", slow)
    added: list = []
    adder = threading.Thread(target=lambda: added.append(a.add_text(_CANALS, title="Canals")))
    adder.start()
    assert started.wait(10)
    # the add has not returned: a question meanwhile is answered at once, from the library as it was
    ans = a.answer("When did the Iron Bridge open over the Severn?")
    assert adder.is_alive() and not added
    assert not ans.abstained and ans.citations[0].text == "The Iron Bridge opened in 1781 over the Severn."
    assert all(c.article_title != "Canals" for c in ans.ranked)
    release.set()
    adder.join(30)
    assert added, "the add did not return"
    # once the add has returned, the new article answers
    ans = a.answer("When was the Bridgewater Canal finished for carrying coal?")
    assert ans.citations[0].text == "The Bridgewater Canal was finished in 1761 for carrying coal."


def test_a_failed_rebuild_leaves_the_previous_index_answering(tmp_path, fake_encoder, monkeypatch, caplog) -> None:
    from retrieval.answer import _Index
    from retrieval import Assistant, parse_article

    a = Assistant(articles=[], index_dir=tmp_path, encoder=fake_encoder)
    _bridges(a)
    a.answer("When did the Iron Bridge open?")
    real = _Index.__init__

    def broken(self, snap, *rest) -> None:  # type: ignore[no-untyped-def]
        raise MemoryError("no room for the lexical index")

    monkeypatch.setattr(_Index, "__init__", broken)
    # a change made outside this assistant's mutations (as a reload from disk is): the next question builds
    a.store.sync([parse_article(_CANALS, article_id="canals", path="canals.md")])
    with caplog.at_level("ERROR", logger="retrieval.answer"):
        ans = a.answer("When did the Iron Bridge open over the Severn?")
    assert ans.citations[0].text == "The Iron Bridge opened in 1781 over the Severn."
    assert "lexical index of the changed library failed" in caplog.text
    monkeypatch.setattr(_Index, "__init__", real)
    ans = a.answer("When was the Bridgewater Canal finished for carrying coal?")
    assert ans.citations[0].text == "The Bridgewater Canal was finished in 1761 for carrying coal."


def test_paragraph_vectors_are_the_unit_sums_that_add_at_gives() -> None:
    """_Index sums each paragraph's sentence vectors one position in the paragraph at a time (paragraphs are runs of
    rows); the sums are np.add.at's, bit for bit, -0.0 included, and so are those of an interleaved layout."""
    import numpy as np

    from retrieval.answer import _paragraph_vectors, _unit

    rng = np.random.default_rng(7)
    counts = rng.integers(1, 9, 700)
    par = np.repeat(np.arange(len(counts)), counts)
    vec = rng.standard_normal((len(par), 16)).astype(np.float32)
    vec[::37, 3] = -0.0
    vec[5] = 0.0  # a paragraph whose sum may be 0 in a column
    for layout in (par, rng.permutation(par)):
        want = np.zeros((len(counts), 16), np.float32)
        np.add.at(want, layout, vec)
        got = _paragraph_vectors(vec, layout, len(counts))
        assert got.dtype == np.float32 and np.array_equal(got.view(np.uint32), _unit(want).view(np.uint32))


def test_rank_scores_of_mostly_zero_lists_are_the_full_sorts() -> None:
    """Above _SPARSE_RANKS rows stage 1 ranks BM25 and overlap by sorting their positive values only; the zeros tie
    and rank after them in row order, as the stable sort of the whole list puts them (-0.0 too)."""
    import numpy as np

    from retrieval.answer import _rank_score, _rank_score_nonneg

    rng = np.random.default_rng(11)
    cases = []
    for share in (0.0, 0.01, 0.3, 1.0):
        x = np.where(rng.random(5000) < share, rng.integers(1, 6, 5000) / 4, 0.0).astype(np.float32)  # ties
        cases.append(x)
    z = cases[2].copy()
    z[::7] = -0.0
    cases += [z, -cases[2], np.zeros(3, np.float32), np.float32([0.5, 0, 0.5, 0.25])]
    for x in cases:
        assert np.array_equal(_rank_score_nonneg(x).view(np.uint32), _rank_score(x).view(np.uint32))
