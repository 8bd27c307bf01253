"""bench.quality runs the three reference recipes and the answerer on one set, and scores them all on the same
questions, an unusable one included."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import ROOT, SEED


def test_quality_benchmark_scores_every_method_on_the_same_questions(tmp_path) -> None:
    (tmp_path / "articles").mkdir()
    (tmp_path / "articles" / "seed.txt").write_text(SEED.read_text(encoding="utf-8"), encoding="utf-8")
    art = "articles/seed.txt"
    rows = [{"id": "who", "article": art, "question": "Who oversees the legion?", "answers": ["overseen by Ukraine"],
             "paragraph": None, "kind": "answerable"},
            {"id": "checks", "article": art, "question": "What checks do applicants go through?",
             "answers": ["background checks"], "paragraph": None, "kind": "answerable"},
            {"id": "empty", "article": art, "question": " ", "answers": [], "paragraph": None, "kind": "off-topic"},
            {"id": "weather", "article": art, "question": "What is the weather in Moscow today?", "answers": [],
             "paragraph": None, "kind": "off-topic"}]
    questions = tmp_path / "set.jsonl"
    questions.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "bench.quality", str(questions), "--out", str(tmp_path / "out"),
                          "--index-dir", str(tmp_path / "idx"), "--json"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "question empty: the question is empty" in run.stderr
    res = json.loads(run.stdout.strip().splitlines()[-1])
    for m in ("dense", "rrf", "chunk", "answerer"):
        assert res[m]["questions"] == 4 and res[m]["cited_faithful"] == 1.0
        preds = {p["id"]: p for p in map(json.loads, (tmp_path / "out" / f"set.{m}.pred.jsonl").read_text().splitlines())}
        assert list(preds) == ["who", "checks", "empty", "weather"]
        assert preds["empty"]["abstained"] and preds["empty"]["ranked"] == [] and "error" in preds["empty"]
    assert res["answerer"]["P@1"] == 1.0 and res["answerer"]["abstain[off-topic]"] == 1.0
    assert res["query_embedding_ms_p50"] > 0
