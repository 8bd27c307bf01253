"""Ingest: each format, offsets that give back the verbatim sentence, and clear refusals."""

from __future__ import annotations

import pytest

from conftest import SEED
from retrieval import ArticleError, parse_article, read_article
from retrieval.ingest import split_sentences


def test_seed_format_title_date_paragraphs() -> None:
    a = read_article(SEED)
    assert a.format == "seed"
    assert a.date == "2023-05-23"
    assert a.title == "Who Are the Soldiers Behind the Free Russia Legion?"
    assert len(a.paragraphs) == 15
    assert a.paragraphs[0].text.startswith("The fighters who’ve claimed duty")
    assert len(a.sentences) >= 25


def test_offsets_give_back_every_sentence_verbatim() -> None:
    a = read_article(SEED)
    for s in a.sentences:
        assert a.source[s.start:s.end] == s.text
        p = a.paragraphs[s.paragraph]
        assert p.start <= s.start < s.end <= p.end
    assert any(s.text.startswith("Caesar, who’s 50") for s in a.sentences)


def test_markdown_title_and_blank_line_paragraphs() -> None:
    src = "# Steam power\n\nThe first engine ran in 1712. It pumped water.\n\nWatt improved it.\n"
    a = parse_article(src, path="steam.md")
    assert (a.format, a.title, a.date) == ("markdown", "Steam power", None)
    assert [p.text for p in a.paragraphs] == ["The first engine ran in 1712. It pumped water.", "Watt improved it."]
    assert [s.text for s in a.sentences] == ["The first engine ran in 1712.", "It pumped water.", "Watt improved it."]
    assert [s.paragraph for s in a.sentences] == [0, 0, 1]


def test_plain_text_uses_a_short_first_line_as_title() -> None:
    a = parse_article("Town news\n\nThe mayor, Dr. Smith, opened the bridge. It cost $2.5 million.\n", path="n.txt")
    assert a.format == "text" and a.title == "Town news"
    assert [s.text for s in a.sentences] == ["The mayor, Dr. Smith, opened the bridge.", "It cost $2.5 million."]


def test_segmentation_keeps_abbreviations_together() -> None:
    text = "Mr. Jones arrived at 5 p.m. on Monday. He left."
    assert [text[s:e] for s, e in split_sentences(text)] == ["Mr. Jones arrived at 5 p.m. on Monday.", "He left."]


@pytest.mark.parametrize("content,needle", [
    (b"", "empty"),
    (b"   \n\n", "empty"),
    (b"\xff\xfe\x00\x01binary\x00", "binary"),
    (b"caf\xe9 au lait", "UTF-8"),
])
def test_bad_files_are_refused_naming_the_file(tmp_path, content: bytes, needle: str) -> None:
    f = tmp_path / "bad.txt"
    f.write_bytes(content)
    with pytest.raises(ArticleError, match=needle) as info:
        read_article(f)
    assert "bad.txt" in str(info.value)


def test_title_without_body_is_refused(tmp_path) -> None:
    f = tmp_path / "t.md"
    f.write_text("# Only a title\n", encoding="utf-8")
    with pytest.raises(ArticleError, match="no text"):
        read_article(f)
