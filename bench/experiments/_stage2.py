"""Set-up the session 6 experiments share: the bench sets' stage-2 features under the shipped weights, so each script
compares its change against exactly what `Answerer.rank` scores."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "bench"
sys.path.insert(0, str(ROOT))

from bench.data import load_set, question_tokens, question_vectors  # noqa: E402
from bench.fit import Correct, collect, prepare, split_articles, stage2_data  # noqa: E402
from retrieval.answer import STAGE1, load_weights  # noqa: E402

SQUAD = SHARED / "squad" / "squad-v1.1-dev.jsonl"
REWORDED = [ROOT / "index" / "spun" / "r40" / "squad-v1.1-dev.jsonl", ROOT / "index" / "spun" / "r70" / "squad-v1.1-dev.jsonl"]
REPORT = [SHARED / "seed" / "seed-dev.jsonl", SHARED / "squad2" / "squad-v2.0-dev.jsonl"]
#: squad-v2.0-dev's articles that are not squad-v1.1-dev articles (its others share questions with it).
SQUAD2_UNSEEN = {"articles/French_and_Indian_War.md", "articles/Normans.md", "articles/Private_school.md",
                 "articles/Steam_engine.md"}


def squad_set(path: Path = SQUAD):  # type: ignore[no-untyped-def]
    """(the set with one index per article, its question vectors, score.py's correctness, the fit half's articles)."""
    b = load_set(path)
    return b, question_vectors(b), Correct(path.parent), split_articles(b.questions)[0]


def article_sentences(bench):  # type: ignore[no-untyped-def]
    """(article path, its index's snapshot, the sentences' texts, their paragraphs) for each article of a set."""
    for rel, a in bench.assistants.items():
        snap = a.store.snapshot
        yield rel, snap, [s.text for s in snap.sentences], [s.paragraph for s in snap.sentences]


def shipped_w1() -> np.ndarray:
    weights = load_weights()
    return np.array([weights["stage1"]["coef"].get(f, 0.0) for f in STAGE1])


def training():  # type: ignore[no-untyped-def]
    """(bench.fit's Training of squad-v1.1-dev plus its reworded copies, shipped stage-1 weights, stage-2 data)."""
    tr = prepare(SQUAD, REWORDED)
    w1 = shipped_w1()
    return tr, w1, stage2_data(tr.items, tr.qvecs, tr.answerer_of, w1, tr.qtoks)


def report_sets(w1: np.ndarray) -> dict[str, tuple[list, list, Any]]:  # type: ignore[type-arg]
    """Set name -> (items, stage-2 data, answerer_of) of each set that is reported but not fitted."""
    out = {}
    for path in REPORT:
        b = load_set(path)
        qv, qt = question_vectors(b), question_tokens(b)
        answerer_of = lambda q, b=b: b.assistants[q["article"]].answerer  # noqa: E731
        items = collect(b, qv, answerer_of, Correct(path.parent))
        out[path.stem] = (items, stage2_data(items, qv, answerer_of, w1, qt), answerer_of)
    return out


def ranking_sets() -> dict[str, Any]:
    """What the ranking experiments score: stage-2 groups (features, labels) of every question, the fit half's
    answerable indices, the held-out half plain and reworded, the reported sets (and squad2's unseen articles) and
    each item's article."""
    tr, w1, s2 = training()
    _, held_arts = split_articles(tr.bench.questions)
    n = len(tr.bench.questions)
    held = [i for i in range(n) if tr.items[i].q["article"] in held_arts and tr.items[i].q["answers"]]
    rep = {}
    for name, (items, sd, _) in report_sets(w1).items():
        rep[name] = [(f, y) for (f, y), it in zip(sd, items) if it.q["answers"]]
        if name.startswith("squad-v2"):
            rep["squad2 unseen 4"] = [(f, y) for (f, y), it in zip(sd, items)
                                      if it.q["answers"] and it.q["article"] in SQUAD2_UNSEEN]
    return {"s2": s2, "fit": [i for i in tr.fit if tr.items[i].q["answers"]], "rep": rep,
            "parts": {"held": held, "held r40": [i + n for i in held], "held r70": [i + 2 * n for i in held]},
            "arts": [it.q["article"] for it in tr.items]}
