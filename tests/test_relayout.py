"""The bench's news layout of articles: paragraphs cut into 1-3 sentences, sentences and labels kept."""

from __future__ import annotations

import json
import random
from pathlib import Path

from bench.fit import Correct
from bench.relayout import cut, relayout_set
from retrieval import read_article

BODY = ("The war began in 1973. Troops crossed the river at dawn. The town fell within a week. Its mayor fled south. "
        "A truce was signed in May. Prisoners were exchanged in June. The border reopened a year later.")


def test_cut_keeps_every_sentence_in_pieces_of_one_to_three() -> None:
    pieces = cut(BODY, random.Random(0))
    assert len(pieces) >= 3 and " ".join(pieces) == BODY
    assert all(1 <= p.count(". ") + 1 <= 3 for p in pieces)
    assert cut("One sentence only.", random.Random(0)) == ["One sentence only."]


def test_relayout_set_writes_the_same_sentences_with_labels_that_still_hold(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "articles").mkdir(parents=True)
    (src / "articles" / "a.md").write_text(f"# A title\n\nA first paragraph.\n\n{BODY}\n")
    q = {"id": "1", "article": "articles/a.md", "question": "When was the truce signed?", "answers": ["in May"],
         "paragraph": 1, "kind": "answerable"}
    (src / "q.jsonl").write_text(json.dumps(q) + "\n")
    out = relayout_set(src / "q.jsonl", tmp_path / "out")
    before, after = read_article(src / "articles" / "a.md"), read_article(tmp_path / "out" / "articles" / "a.md")
    assert [s.text for s in after.sentences] == [s.text for s in before.sentences]
    assert len(after.paragraphs) > len(before.paragraphs)
    q2 = json.loads(out.read_text())
    assert q2["paragraphs"] == list(range(1, len(after.paragraphs)))  # every piece of old paragraph 1
    assert "in May" in after.paragraphs[q2["paragraph"]].text
    correct = Correct(tmp_path / "out")
    assert correct(q2, "A truce was signed in May.") and not correct(q2, "A first paragraph.")
