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
    ans = a.answer("When did the Iron Bridge open?")
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
