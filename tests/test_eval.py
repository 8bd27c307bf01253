"""The evaluation command writes bench-format predictions whose summary equals the reference score.py's."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import ROOT, SHARED_BENCH


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
