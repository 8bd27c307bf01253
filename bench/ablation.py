"""Ablation: refit the answerer without one group of evidence at a time and report what each group adds.

    python -m bench.ablation [--questions SQUAD_V1.1] [--augment REWORDED ...] [--report SEED SQUAD2 ...]
    python -m bench.ablation --sweep SET.jsonl      # abstention threshold sweep of the shipped weights

Every configuration is fitted on the even-numbered squad-v1.1-dev articles (as bench.fit does) and scored, in process
on the cached query vectors (same ranking code as Answerer.run, no timing), on the odd-numbered held-out articles and
on the sets given with --report (never fitted on).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from retrieval.answer import ABSTAIN, CONTEXT_FEATURES, STAGE1, STAGE2
from retrieval.tokens import FEATURES as TOKEN_FEATURES

from .data import load_set, question_tokens, question_vectors
from .fit import ABSTAIN_FIT, DEFAULT, Correct, evaluate, fit_weights, prepare, split_articles

CONTEXT = {"dense_ctx", "dense_par", "dense_nb", "bm25_par", "bm25_nb", "overlap_nb", "overlap_par", "dense_prev",
           "overlap_prev", "anaphor", "anaphor_dense_prev", "anaphor_overlap_prev", "par_first"}
CUES = {"tm_date", "tm_number", "tm_person", "tm_place", "novel", "novel_date", "novel_number", "novel_person",
        "novel_place"}
LEXICAL_EXTRA = {"overlap", "overlap_nb", "overlap_par", "overlap_prefix", "overlap_rank", "bigram", "entity_overlap",
                 "overlap_prev", "anaphor_overlap_prev"}
STAGE2_ONLY = set(STAGE2) - set(STAGE1)
PIECES = set(TOKEN_FEATURES) | {"best_tok"}
BASIC = {"dense", "dense_z", "bm25_n", "bm25_z"}

CONFIGS = [
    ("full answerer", set(), ABSTAIN_FIT),
    ("- word-piece soft match (and its abstention evidence)", PIECES, ABSTAIN_FIT),
    ("- sentences read in their paragraphs (context vectors, session 10)", set(CONTEXT_FEATURES), ABSTAIN_FIT),
    ("- sentence context (neighbours, paragraph, context vectors)", CONTEXT | {"tok_ctx", "tok_ctx_z"} | set(CONTEXT_FEATURES),
     ABSTAIN_FIT),
    ("- answer-type cues", CUES, ABSTAIN_FIT),
    ("- IDF overlap / phrase / prefix / entity features", LEXICAL_EXTRA, ABSTAIN_FIT),
    ("- stage 2 (re-scoring of the shortlist)", STAGE2_ONLY, ABSTAIN_FIT),
    ("dense + BM25 only, calibrated linear fusion", set(STAGE2) - BASIC, ABSTAIN_FIT),
    ("abstention on all evidence (incl. ranking log-odds)", set(), ABSTAIN),
    ("abstention on dense evidence only", set(), ("top_dense", "best_dense")),
    ("abstention threshold at the answerable edge (budget quantile, no margin)", set(), ABSTAIN_FIT, False),
]


def sweep(path: Path, thresholds: list[float]) -> None:
    """P@1 and refusal rates of the shipped weights on a set as the abstention threshold moves."""
    import numpy as np

    from retrieval.answer import load_weights

    weights = load_weights()
    bench = load_set(path)
    qvecs = question_vectors(bench)
    qtoks = question_tokens(bench)
    correct = Correct(path.parent)
    rows = []
    for q, v, qt in zip(bench.questions, qvecs, qtoks):
        ans = bench.assistants[q["article"]].answerer
        rk = ans.rank(q["question"], v, ans.store.snapshot, qtok=qt)
        ok = bool(q["answers"]) and correct(q, ans.store.snapshot.sentences[rk.rows[0]].text)
        rows.append((q["kind"], rk.p_abstain, ok))
    kinds = sorted({k for k, _, _ in rows} - {"answerable"})
    print(f"{path.name} (shipped threshold {weights['abstain']['threshold']:.3f})\n")
    print("| threshold | P@1 | false_abstain | " + " | ".join(f"abstain[{k}]" for k in kinds) + " |")
    print("|---|---|---|" + "---|" * len(kinds))
    for t in thresholds:
        a = [(p >= t, ok) for k, p, ok in rows if k == "answerable"]
        cells = [f"{np.mean([ok and not r for r, ok in a]):.4f}", f"{np.mean([r for r, _ in a]):.4f}"]
        cells += [f"{np.mean([p >= t for k, p, _ in rows if k == kind]):.4f}" for kind in kinds]
        print(f"| {t:.3f} | " + " | ".join(cells) + " |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ablation", description=__doc__.split("\n")[0])
    p.add_argument("--questions", type=Path, default=DEFAULT)
    p.add_argument("--report", type=Path, nargs="*", default=[])
    p.add_argument("--augment", type=Path, nargs="*", default=[], help="reworded copies fitted on too (as bench.fit)")
    p.add_argument("--sweep", type=Path, help="instead: sweep the abstention threshold of the shipped weights on a set")
    args = p.parse_args(argv)
    if args.sweep:
        from retrieval.answer import load_weights

        t0 = load_weights()["abstain"]["threshold"]
        sweep(args.sweep, sorted({round(t0, 3), 0.5, 0.4, 0.3, 0.2, 0.15, 0.1, 0.05}, reverse=True))
        return 0
    tr = prepare(args.questions, args.augment)
    bench, items, fit, qvecs, qtoks, answerer_of = tr.bench, tr.items, tr.fit, tr.qvecs, tr.qtoks, tr.answerer_of
    _, held = split_articles(bench.questions)
    plain_fit = [i for i in fit if i < len(bench.questions)]
    others = [(x, load_set(x)) for x in args.report]
    others = [(x, b, question_vectors(b), Correct(x.parent), question_tokens(b)) for x, b in others]
    cols = ["P@1", "R@3", "false_abstain", "abstain[off-topic]"]
    head = "| configuration | squad-v1.1 held-out P@1 / R@3 / false_abs / off-topic |" + "".join(
        f" {x.stem} P@1 / R@3 / false_abs / off-topic{' / unans' if 'v2' in x.stem else ''} |" for x, *_ in others)
    print(head)
    print("|---|---|" + "---|" * len(others))
    configs = list(CONFIGS)
    if tr.spun:
        configs.insert(1, ("- reworded copies in the fit (plain fit-half articles only)", set(), ABSTAIN_FIT, True, False))
    for name, drop, afit, *opt in configs:
        margin, reworded = (opt + [True, True])[:2]
        w = fit_weights(items, fit if reworded else plain_fit, qvecs, answerer_of, drop, abstain_fit=tuple(afit),
                        qtoks=qtoks, margin=margin)
        r = evaluate(bench, qvecs, w, Correct(args.questions.parent), held, qtoks)
        cells = [" / ".join(str(r.get(c)) for c in cols)]
        for x, b, qv, corr, qt in others:
            o = evaluate(b, qv, w, corr, None, qt)
            cells.append(" / ".join(str(o.get(c)) for c in cols + (["abstain[unanswerable]"] if "v2" in x.stem else [])))
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
