"""Answer quality on small fixed inputs: answer-type cues, abstention on off-topic questions, follow-ups, citations,
and the reference recipes of the quality benchmark. The fake encoder keeps these instant and deterministic."""

from __future__ import annotations

import math

import numpy as np
import pytest

from retrieval import Assistant, parse_article
from retrieval.answer import STAGE2, Answerer, _Postings, _cue_tokens, question_type, tokenize, type_match

ARTICLE = """# The Iron Bridge

The Iron Bridge crosses the River Severn in Shropshire, England. The Iron Bridge opened in 1781 after three years of work.

The bridge was designed by Thomas Pritchard, an architect from Shrewsbury. It is 30 metres long and weighs 378 tons.

The Iron Bridge was the first major bridge in the world to be made of cast iron. Its success inspired many engineers.
"""


@pytest.fixture
def bridge(tmp_path, fake_encoder) -> Assistant:
    a = Assistant(articles=[], index_dir=tmp_path, encoder=fake_encoder)
    a.warm_up()
    a.store.sync([parse_article(ARTICLE, article_id="iron-bridge", path="iron_bridge.md")])
    a.answerer.warm_up()
    return a


@pytest.mark.parametrize("q,kind", [("In which century was it built?", "date"), ("How much did it cost?", "number"),
                                    ("Whose design was chosen?", "person"), ("What country is it in?", "place"),
                                    ("What is it made of?", "other")])
def test_question_types(q: str, kind: str) -> None:
    assert question_type(q) == kind


def test_cue_tokens_are_the_candidate_answers_not_the_question_words() -> None:
    assert "1781" in _cue_tokens("date", "The Iron Bridge opened in 1781.")
    assert _cue_tokens("number", "It weighs 378 tons.") == {"378"}
    assert "pritchard" in _cue_tokens("person", "The bridge was designed by Thomas Pritchard.")
    assert type_match("number", "It weighs three hundred tons.") == 1.0


def test_tokenize_drops_function_words_and_stems() -> None:
    assert tokenize(["Who designed the bridges in 1781?"]) == [["design", "bridg", "1781"]]


@pytest.mark.parametrize("question,start", [
    ("When did the Iron Bridge open?", "The Iron Bridge opened in 1781"),
    ("How long is the Iron Bridge?", "It is 30 metres long"),
    ("Who designed the bridge?", "The bridge was designed by Thomas Pritchard"),
])
def test_answer_type_cues_pick_the_sentence_holding_the_answer(bridge, question: str, start: str) -> None:
    ans = bridge.answer(question)
    assert not ans.abstained
    assert ans.citations[0].text.startswith(start), ans.citations[0].text
    c = ans.citations[0]
    assert bridge.article("iron-bridge").source[c.start:c.end] == c.text


def test_date_cue_breaks_a_tie_between_equally_worded_sentences(bridge) -> None:
    snap = bridge.store.snapshot
    ans = bridge.answerer
    q = "When did the Iron Bridge open?"
    qvec, qtok = ans.encode_query(q, pieces=True)
    rk = ans.rank(q, qvec, snap, qtok=qtok)
    col = STAGE2.index("tm_date")
    texts = [snap.sentences[r].text for r in rk.rows]
    dated = texts.index("The Iron Bridge opened in 1781 after three years of work.")
    assert rk.feats[dated, col] == 1.0
    assert dated == 0


@pytest.mark.parametrize("question", ["Which quarterback threw the most touchdowns in the Super Bowl?",
                                      "What is the capital of Mongolia?", "How do vaccines train the immune system?"])
def test_off_topic_questions_abstain(bridge, question: str) -> None:
    ans = bridge.answer(question)
    assert ans.abstained and ans.citations == [] and "does not say" in ans.text
    assert ans.ranked  # the best candidates are still reported, for inspection


def test_on_topic_question_is_answered_not_refused(bridge) -> None:
    ans = bridge.answer("What was the Iron Bridge the first bridge made of?")
    assert not ans.abstained
    assert "cast iron" in ans.citations[0].text


def test_follow_up_blends_the_previous_question_and_keeps_its_own_words(bridge) -> None:
    hist = [{"role": "user", "content": "Who designed the Iron Bridge?"}, {"role": "assistant", "content": "…"}]
    ans = bridge.answer("How much does it weigh?", history=hist)
    assert not ans.abstained
    assert ans.citations[0].text.startswith("It is 30 metres long and weighs 378 tons")
    assert ans.query == "Who designed the Iron Bridge? How much does it weigh?"
    terms = Answerer.query_terms("How much does it weigh?", "Who designed the Iron Bridge?")
    assert terms["weigh"] == 1.0 and 0 < terms["design"] < 1.0


def test_second_citation_only_when_adjacent_close_and_not_redundant(bridge) -> None:
    a = bridge.answerer
    a.weights = dict(a.weights, second_margin=1e9)
    ans = bridge.answer("When did the Iron Bridge open?")
    assert 1 <= len(ans.citations) <= a.max_citations
    if len(ans.citations) == 2:
        first, second = ans.citations
        assert first.paragraph == second.paragraph and first.text != second.text
    a.weights = dict(a.weights, second_margin=0.0)
    assert len(bridge.answer("When did the Iron Bridge open?").citations) == 1


def test_postings_bm25_matches_the_textbook_formula() -> None:
    bags = [["iron", "bridg"], ["bridg", "bridg", "river"], ["cast", "iron", "world", "first"]]
    p = _Postings(bags)
    got = p.bm25({"bridg": 1.0, "iron": 0.5})
    avg = sum(map(len, bags)) / 3

    def term(t: str, bag: list[str]) -> float:
        df = sum(t in b for b in bags)
        idf = math.log(1 + (3 - df + 0.5) / (df + 0.5))
        tf = bag.count(t)
        return idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * len(bag) / avg))

    want = [term("bridg", b) + 0.5 * term("iron", b) for b in bags]
    assert np.allclose(got, want, rtol=1e-5)


def test_reference_recipes_quote_verbatim_and_abstain_below_the_cosine() -> None:
    from bench.recipes import ChunkRecipe, SentenceRecipes, chunks

    body = "".join(f"Sentence number {i} is here. " for i in range(120))
    pieces = chunks(body)
    assert all(p in body for p in pieces) and max(map(len, pieces)) <= 1000
    for a, b in zip(pieces, pieces[1:]):  # up to 200 characters of a chunk are carried into the next
        shared = max(k for k in range(0, 201) if a.endswith(b[:k]))
        assert 100 <= shared <= 200
    paragraphs = "Short first paragraph.\n\nA second one." + "\n\n" + "word " * 300
    assert chunks(paragraphs)[0] == "Short first paragraph.\n\nA second one."  # paragraphs first, merged up to size
    vecs = np.eye(3, dtype=np.float32)
    rec = SentenceRecipes(["alpha beta", "gamma delta", "epsilon"], vecs)
    abstained, ranked = rec.dense(np.array([0.0, 1.0, 0.0], dtype=np.float32))
    assert not abstained and ranked[0] == "gamma delta"
    abstained, _ = rec.dense(np.array([0.3, 0.3, 0.3], dtype=np.float32))
    assert abstained  # best cosine 0.3 < 0.35
    abstained, ranked = rec.rrf("alpha", np.array([0.0, 0.0, 1.0], dtype=np.float32))
    assert set(ranked[:2]) == {"alpha beta", "epsilon"}
    assert ChunkRecipe(["a", "b"], vecs[:2]).rank(np.array([0.0, 1.0, 0.0], dtype=np.float32))[1][0] == "b"
