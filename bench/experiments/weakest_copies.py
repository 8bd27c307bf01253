"""Session 16: weakest.py's refusal rule (threshold set on squad-v1.1-dev's fit half, answerable questions, at a 1 % /
0.5 % budget) applied to the held-out half plain, reworded (r40, r70) and laid out as news (n00, n40, n70), to the
seed and to squad2: answerable questions refused and P@1, shipped against with the rule. Needs the copies under
index/spun/ (README). python bench/experiments/weakest_copies.py"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "experiments"))

import numpy as np  # noqa: E402

import weakest as W  # noqa: E402  (bench/experiments: the script's own folder)
from bench.data import load_set  # noqa: E402
from bench.fit import split_articles  # noqa: E402

SQUAD = W.SHARED / "squad" / "squad-v1.1-dev.jsonl"


def main() -> None:
    fit_arts, _ = split_articles([{"article": a} for a in {q["article"] for q in load_set(SQUAD).questions}])
    v1 = W.signals(SQUAD)
    fit = [s for s in v1 if s["article"] in fit_arts and s["kind"] == "answerable" and not s["abstained"]]
    sets = {"held-out plain": [s for s in v1 if s["article"] not in fit_arts]}
    for name in ("r40", "r70", "n00", "n40", "n70"):
        copy = W.signals(ROOT / "index" / "spun" / name / "squad-v1.1-dev.jsonl")
        sets["held-out " + name] = [s for s in copy if s["article"] not in fit_arts]
    sets["seed"] = W.signals(W.SHARED / "seed" / "seed-dev.jsonl")
    sets["squad2"] = W.signals(W.SHARED / "squad2" / "squad-v2.0-dev.jsonl")
    for key in ("min_near", "min_par"):
        vals = np.array([s[key] for s in fit])
        for budget in (0.01, 0.005):
            thr = float(np.quantile(vals, budget))

            def refuse(s: dict) -> bool:  # type: ignore[type-arg]
                return s["abstained"] or s[key] < thr  # noqa: B023

            print(f"## {key} budget {budget} threshold {thr:.3f}")
            print("| set | answerable refused: shipped -> with | P@1 shipped -> with | unanswerable refused shipped -> with |")
            for name, ss in sets.items():
                ans = [s for s in ss if s["kind"] == "answerable"]
                un = [s for s in ss if s["kind"] == "unanswerable"]
                line = (f"| {name} | {np.mean([s['abstained'] for s in ans]):.4f} -> {np.mean([refuse(s) for s in ans]):.4f} "
                        f"| {np.mean([s['right'] and not s['abstained'] for s in ans]):.4f} -> "
                        f"{np.mean([s['right'] and not refuse(s) for s in ans]):.4f} |")
                if un:
                    line += f" {np.mean([s['abstained'] for s in un]):.4f} -> {np.mean([refuse(s) for s in un]):.4f} |"
                print(line)


if __name__ == "__main__":
    main()
