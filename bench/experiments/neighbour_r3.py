"""Session 6 experiment (bench/QUALITY.md): would putting the top sentence's neighbour at rank 3 raise R@3?
    python bench/experiments/neighbour_r3.py"""
import os
import sys
from pathlib import Path
ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / 'shared' / 'bench'
sys.path.insert(0, str(ROOT))
import sys
from pathlib import Path
import numpy as np
from bench.data import load_set, question_vectors, question_tokens
from bench.fit import Correct, split_articles
SQ = Path(sys.argv[1] if len(sys.argv) > 1 else str(SHARED / "squad/squad-v1.1-dev.jsonl"))
b = load_set(SQ); qv = question_vectors(b); qt = question_tokens(b)
cor = Correct(SQ.parent)
fit_arts, held_arts = split_articles(b.questions)
stats = {}
for i, q in enumerate(b.questions):
    if not q["answers"]: continue
    ans = b.assistants[q["article"]].answerer
    snap = ans.store.snapshot
    rk = ans.rank(q["question"], qv[i], snap, qtok=qt[i])
    rows = list(map(int, rk.rows[:10]))
    ok = [cor(q, snap.sentences[r].text) for r in rows]
    ix = ans.index(snap)
    top = rows[0]
    nb = [int(x) for x in (ix.prev[top], ix.next[top]) if x >= 0]
    nbok = [cor(q, snap.sentences[r].text) for r in nb]
    part = "fit" if q["article"] in fit_arts else "held"
    s = stats.setdefault(part, dict(n=0, p1=0, r3=0, r2=0, nb_not_in3=0, nb_any=0, r3_miss_r10=0, swap_gain=0, swap_loss=0))
    s["n"] += 1; s["p1"] += ok[0]; s["r3"] += any(ok[:3]); s["r2"] += any(ok[:2])
    if not ok[0] and any(nbok): s["nb_any"] += 1
    if not any(ok[:3]) and any(nbok): s["nb_not_in3"] += 1
    if not any(ok[:3]) and any(ok[3:10]): s["r3_miss_r10"] += 1
    # rule: rank 3 := best neighbour of top not already in top 3 (if any)
    cand = [r for r in nb if r not in rows[:3]]
    if cand:
        # pick the neighbour ranked higher in the list
        pos = {r: k for k, r in enumerate(rk.rows)}
        c = min(cand, key=lambda r: pos.get(r, 10**9))
        new3 = rows[:2] + [c]
        newok = any(ok[:2]) or cor(q, snap.sentences[c].text)
        if newok and not any(ok[:3]): s["swap_gain"] += 1
        if not newok and any(ok[:3]): s["swap_loss"] += 1
for k, s in stats.items():
    print(k, {a: (round(v / s['n'], 4) if a in ('p1','r3','r2') else v) for a, v in s.items()})
