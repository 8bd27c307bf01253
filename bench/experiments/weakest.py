"""Does the question's worst-matched word tell squad2's unanswerable questions from answerable ones? For the shipped
ranking's best sentence, each content word piece of the question takes its best cosine among the pieces of that
sentence's paragraph (or of the sentence and its neighbours); "weakest" is the lowest of these among the question's
pieces, weighted views of it are tried too. The refusal threshold is set on squad-v1.1-dev's fit half (answerable
questions only, at a 1 % / 0.5 % false-refusal budget, among the questions the shipped model answers); squad-v2.0-dev
is only scored: its unanswerable questions refused, its answerable ones refused, P@1 after both refusals."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench.data import load_set, question_tokens, question_vectors  # noqa: E402
from bench.fit import Correct, split_articles  # noqa: E402

SHARED = ROOT.parent / "shared" / "bench"


def signals(path: Path) -> list[dict]:  # type: ignore[type-arg]
    b = load_set(path)
    qv, qt = question_vectors(b), question_tokens(b)
    correct = Correct(path.parent)
    out = []
    for q, v, (ids, vecs) in zip(b.questions, qv, qt):
        a = b.assistants[q["article"]].answerer
        snap = a.store.snapshot
        rk = a.rank(q["question"], v, snap, qtok=(ids, vecs))
        sc = a.token_scorer(snap)
        best = int(rk.rows[0])
        ix = a.index(snap)
        par_rows = np.flatnonzero(ix.par == ix.par[best])
        near = np.array([r for r in (best - 1, best, best + 1) if 0 <= r < len(snap.sentences) and ix.par[r] == ix.par[best]])
        qf = np.asarray(vecs, dtype=np.float32)
        w = sc.idf(np.asarray(ids, dtype=np.int64))
        m_par = sc._best(qf, par_rows).max(0)
        m_near = sc._best(qf, near).max(0)
        m_own = sc._best(qf, np.array([best])).max(0)
        hi = w >= np.median(w)
        out.append({"kind": q.get("kind") or ("answerable" if q["answers"] else "off-topic"), "article": q["article"],
                    "abstained": rk.p_abstain >= a.abstain_config().get("threshold", 0.5),
                    "right": bool(q["answers"]) and correct(q, snap.sentences[best].text),
                    "min_par": float(m_par.min()), "min_near": float(m_near.min()), "min_own": float(m_own.min()),
                    "min_par_hi": float(m_par[hi].min()), "min_near_hi": float(m_near[hi].min()),
                    "wmean_gap_near": float(w @ (1 - m_near) / w.sum()),
                    "p_abstain": float(rk.p_abstain)})
    return out


def main() -> None:
    fit_arts, _ = split_articles([{"article": a} for a in {q["article"] for q in
                                                           load_set(SHARED / "squad" / "squad-v1.1-dev.jsonl").questions}])
    v1 = [s for s in signals(SHARED / "squad" / "squad-v1.1-dev.jsonl") if s["article"] in fit_arts]
    v2 = signals(SHARED / "squad2" / "squad-v2.0-dev.jsonl")
    fit = [s for s in v1 if s["kind"] == "answerable" and not s["abstained"]]
    ans2 = [s for s in v2 if s["kind"] == "answerable"]
    un2 = [s for s in v2 if s["kind"] == "unanswerable"]
    base_un = np.mean([s["abstained"] for s in un2])
    base_p1 = np.mean([s["right"] and not s["abstained"] for s in ans2])
    print(f"shipped: squad2 unanswerable refused {base_un:.4f}, answerable refused "
          f"{np.mean([s['abstained'] for s in ans2]):.4f}, P@1 {base_p1:.4f}")
    print("| signal (refuse when below) | budget | threshold | squad2 unanswerable refused | answerable refused | P@1 |")
    print("|---|---|---|---|---|---|")
    for key in ("min_par", "min_near", "min_own", "min_par_hi", "min_near_hi", "wmean_gap_near"):
        sign = -1.0 if key.startswith("wmean_gap") else 1.0  # (a gap: refuse when above)
        vals = np.array([sign * s[key] for s in fit])
        for budget in (0.01, 0.005):
            thr = float(np.quantile(vals, budget))
            refuse = lambda s: s["abstained"] or sign * s[key] < thr  # noqa: E731
            un = np.mean([refuse(s) for s in un2])
            fa = np.mean([refuse(s) for s in ans2])
            p1 = np.mean([s["right"] and not refuse(s) for s in ans2])
            print(f"| {key} | {budget} | {sign * thr:.3f} | {un:.4f} | {fa:.4f} | {p1:.4f} |")


if __name__ == "__main__":
    main()
