"""The bench's rewording of articles: synonyms from the model's own word vectors, answers and names kept."""

from __future__ import annotations

import json
import random
from pathlib import Path

from bench.spin import spin, spin_set, synonyms


def test_synonyms_are_other_words_not_inflections() -> None:
    got = synonyms("soldiers")
    assert got and "troops" in got
    assert all(not w.startswith("sold") for w in got)
    assert synonyms("the") == () and synonyms("Zzyzx") == ()


def test_spin_keeps_protected_answers_names_and_punctuation() -> None:
    text = "The soldiers said the war began in October 1973 near Kyiv, and the fighting continued for years."
    out = spin(text, ["began in October 1973"], random.Random(0), rate=1.0)
    assert out != text
    assert "began in October 1973" in out and "Kyiv," in out and out.startswith("The ")
    assert out.count(",") == 1 and out.endswith(".")
    assert spin(text, [], random.Random(0), rate=0.0) == text


def test_spin_set_writes_a_scoreable_copy(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "articles").mkdir(parents=True)
    (src / "articles" / "a.md").write_text("# A title\n\nThe soldiers said the war began in 1973.\n\nIt ended later.\n")
    q = {"id": "1", "article": "articles/a.md", "question": "When did the war begin?", "answers": ["1973"],
         "paragraph": 0, "kind": "answerable"}
    (src / "q.jsonl").write_text(json.dumps(q) + "\n")
    out = spin_set(src / "q.jsonl", tmp_path / "out", rate=1.0)
    text = (tmp_path / "out" / "articles" / "a.md").read_text()
    assert text.startswith("# A title\n\n") and "1973" in text and text.count("\n\n") == 2
    assert json.loads(out.read_text()) == q
