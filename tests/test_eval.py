"""The evaluation command writes bench-format predictions whose summary equals the reference score.py's."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import ROOT, SEED, SHARED_BENCH


def test_eval_on_seed_agrees_with_reference_scorer(tmp_path) -> None:
    questions = SHARED_BENCH / "seed" / "seed-dev.jsonl"
    if not questions.exists():
        pytest.skip("../shared/bench is not beside the project")
    out = tmp_path / "pred.jsonl"
    run = subprocess.run([sys.executable, "-m", "retrieval.eval", str(questions), "--predictions", str(out),
                          "--index-dir", str(tmp_path / "idx"), "--json"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    ours = json.loads(run.stdout.strip().splitlines()[-1])
    ref = subprocess.run([sys.executable, str(SHARED_BENCH / "score.py"), str(questions), str(out), "--json"],
                         capture_output=True, text=True, check=True)
    theirs = json.loads(ref.stdout)
    assert ours == theirs
    preds = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(preds) == 15 and theirs["cited_faithful"] == 1.0 and theirs["P@1"] >= 0.5
    assert all(len(p["ranked"]) <= 10 and p["latency_ms"] > 0 for p in preds)


def _run_eval(questions, out, idx) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    return subprocess.run([sys.executable, "-m", "retrieval.eval", str(questions), "--predictions", str(out),
                           "--index-dir", str(idx), "--json"], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_eval_writes_a_refusal_for_each_question_it_cannot_ask_and_keeps_the_others(tmp_path) -> None:
    (tmp_path / "articles").mkdir()
    (tmp_path / "articles" / "seed.txt").write_text(SEED.read_text(encoding="utf-8"), encoding="utf-8")
    art = "articles/seed.txt"
    rows = [
        {"id": "ok", "article": art, "question": "Who oversees the legion?", "answers": ["overseen by Ukraine"],
         "paragraph": None, "kind": "answerable"},
        {"id": "empty", "article": art, "question": "   ", "answers": [], "paragraph": None, "kind": "off-topic"},
        {"id": "huge", "article": art, "question": "why " * 1000, "answers": [], "paragraph": None, "kind": "off-topic"},
        {"id": "none", "article": art, "answers": [], "paragraph": None, "kind": "off-topic"},
        {"id": "gone", "article": "articles/gone.txt", "question": "Who?", "answers": ["x"], "paragraph": None,
         "kind": "answerable"},
    ]
    questions = tmp_path / "q.jsonl"
    questions.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "pred.jsonl"
    run = _run_eval(questions, out, tmp_path / "idx")
    assert run.returncode == 1, run.stderr[-2000:]  # an article could not be read: the set is broken
    assert "gone.txt" in run.stderr and "cannot be scored" in run.stderr
    preds = {p["id"]: p for p in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    assert list(preds) == ["ok", "empty", "huge", "none", "gone"]
    assert not preds["ok"]["abstained"] and "overseen by Ukraine" in preds["ok"]["cited"][0] and "error" not in preds["ok"]
    assert "empty" in preds["empty"]["error"] and "2,000" in preds["huge"]["error"] and "text" in preds["none"]["error"]
    assert "gone.txt" in preds["gone"]["error"] and "latency_ms" not in preds["gone"]
    for p in preds.values():
        if p["id"] != "ok":
            assert p["abstained"] and p["ranked"] == [] and p["cited"] == []

    # without the unreadable article the same set scores, its unusable questions counted as refusals
    questions.write_text("".join(json.dumps(r) + "\n" for r in rows[:4]), encoding="utf-8")
    run = _run_eval(questions, out, tmp_path / "idx")
    assert run.returncode == 0, run.stderr[-2000:]
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert summary["P@1"] == 1.0 and summary["abstain[off-topic]"] == 1.0 and summary["n[off-topic]"] == 3
    assert "3 of 4 questions could not be asked" in run.stderr


@pytest.mark.parametrize("line, message", [("{broken", "q.jsonl:2: not a JSON object"),
                                           ("[1, 2]", "q.jsonl:2: not a JSON object"),
                                           ('{"id": "x", "question": "Who?"}', 'q.jsonl:2: a question needs')])
def test_eval_names_the_line_of_a_broken_questions_file(tmp_path, line: str, message: str) -> None:
    questions = tmp_path / "q.jsonl"
    good = {"id": "ok", "article": "a.txt", "question": "Who?", "answers": [], "paragraph": None, "kind": "off-topic"}
    questions.write_text(json.dumps(good) + "\n" + line + "\n", encoding="utf-8")
    run = _run_eval(questions, tmp_path / "pred.jsonl", tmp_path / "idx")
    assert run.returncode == 2 and message in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "pred.jsonl").exists()
