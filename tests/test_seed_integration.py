"""The real model on the real seed article: the cited sentence for several questions, abstention, follow-ups."""

from __future__ import annotations

import pytest

QUESTIONS = [
    ("What is the Free Russia Legion?", "The Free Russia Legion, because the volunteer unit is named"),
    ("What did the legion say about the fighting on Tuesday?", "On Tuesday, the Free Russia Legion mentioned"),
    ("What checks do applicants go through?", "After filling out an in depth utility"),
    ("Why did the official speak anonymously?", "A senior Ukrainian official, who spoke on situation of anonymity"),
    ("What did the Russian defense ministry spokesman claim?", "A Russian protection ministry spokesman mentioned"),
]


@pytest.mark.parametrize("question,start", QUESTIONS)
def test_cites_the_answering_sentence(seed_assistant, question: str, start: str) -> None:
    ans = seed_assistant.answer(question)
    assert not ans.abstained
    first = ans.citations[0]
    assert first.text.startswith(start), first.text
    art = seed_assistant.article(first.article_id)
    assert art.source[first.start:first.end] == first.text  # verbatim, checkable in place
    assert first.text in art.paragraphs[first.paragraph].text
    assert first.article_title == "Who Are the Soldiers Behind the Free Russia Legion?"
    assert first.article_date == "2023-05-23"
    assert f"“{first.text}” [1]" in ans.text


@pytest.mark.parametrize("question", ["What is the weather in Moscow today?", "Who is the president of France?",
                                      "Which team won the Super Bowl in 2016?"])
def test_off_topic_questions_abstain(seed_assistant, question: str) -> None:
    ans = seed_assistant.answer(question)
    assert ans.abstained and ans.citations == []
    assert "does not say" in ans.text


def test_follow_up_is_understood_from_the_conversation(seed_assistant) -> None:
    first = seed_assistant.answer("Who is Caesar?")
    history = [{"role": "user", "content": "Who is Caesar?"},
               {"role": "assistant", "content": first.text}]
    ans = seed_assistant.answer("How old is he?", history=history)
    assert not ans.abstained
    assert ans.citations[0].text.startswith("Caesar, who’s 50")
