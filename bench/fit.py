"""Fit the answerer's weights (retrieval/weights.json) on one half of the squad-v1.1-dev ARTICLES.

    python -m bench.fit [--questions ../shared/bench/squad/squad-v1.1-dev.jsonl] [--write]

Articles are sorted by file name; the even-numbered ones (0, 2, 4, ...) are the fit half, the odd-numbered ones the
held-out half. Stage 1 and stage 2 are listwise (softmax over a question's candidate sentences, the correct ones as
targets) linear models; abstention is a logistic model of answerable vs off-topic questions whose threshold is set
so that at most ABSTAIN_BUDGET of the fit half's answerable questions are refused. Prints the held-out metrics.
scikit-learn/scipy are used here only: the runtime reads the coefficients from JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize

from retrieval.answer import ABSTAIN, PIECE_FEATURES, STAGE1, STAGE2, STAGE2_CANDIDATES, WEIGHTS_FILE, Answerer, question_type
from retrieval.trees import Blend, Trees
from retrieval.score_ref import body_paragraphs, norm

from .data import load_set, question_tokens, question_vectors

DEFAULT = Path(__file__).resolve().parent.parent.parent / "shared" / "bench" / "squad" / "squad-v1.1-dev.jsonl"
ABSTAIN_BUDGET = 0.005  # at most this share of the fit half's answerable questions may be refused
L2 = 1e-3
#: Evidence the abstention model is fitted on. The ranking's own log-odds and the best sentence's overlap are left
#: out: they made the model refuse paraphrased questions (the seed article's wording) far more often, for little
#: gain on off-topic questions (see QUALITY.md).
ABSTAIN_FIT = ("top_dense", "best_dense", "coverage", "title_overlap", "n_terms", "top_overlap", "best_tok")


class Correct:
    """score.py's definition of a correct sentence (answer string inside, in the named paragraph)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.paras: dict[str, list[str]] = {}

    def __call__(self, q: dict[str, Any], sentence: str) -> bool:
        s = norm(sentence)
        if not any(norm(a) in s for a in q["answers"]):
            return False
        if q.get("paragraph") is None:
            return True
        rel = q["article"]
        if rel not in self.paras:
            self.paras[rel] = [norm(p) for p in body_paragraphs(self.base / rel)]
        # a copy laid out again (bench/relayout.py) names every piece of the question's old paragraph
        return any(s in self.paras[rel][i] for i in q.get("paragraphs") or [q["paragraph"]])


def split_articles(questions: list[dict[str, Any]]) -> tuple[set[str], set[str]]:
    """(fit half, held-out half) of the article paths: sorted, even positions fit, odd positions held out."""
    arts = sorted({q["article"] for q in questions})
    return set(arts[0::2]), set(arts[1::2])


#: Evidence that can only speak for a sentence (its own similarity to the question, answer-type cues): their weights are
#: kept >= 0, so collinear features cannot turn "mentions what the question names" into a penalty.
MONOTONE = {"dense", "dense_z", "dense_gap", "dense_ctx", "dense_par", "bm25_n", "bm25_z", "bm25_par", "overlap",
            "overlap_par", "overlap_prefix", "dense_rank", "bm25_rank", "overlap_rank", "tm_date", "tm_number",
            "tm_person", "tm_place", "bigram", "novel", "novel_date", "novel_number", "novel_person", "novel_place",
            "entity_overlap", "s1_z", "s1_gap"}


def listwise_fit(groups: list[tuple[np.ndarray, np.ndarray]], l2: float = L2,
                 names: tuple[str, ...] | None = None) -> np.ndarray:
    """Weights maximising sum over questions of log P(correct) under a softmax over the question's candidates."""
    groups = [(x, y) for x, y in groups if y.any() and len(y) > 1]
    X = np.concatenate([x for x, _ in groups]).astype(np.float64)
    Y = np.concatenate([y for _, y in groups]).astype(bool)
    starts = np.cumsum([0] + [len(y) for _, y in groups])[:-1]
    gid = np.repeat(np.arange(len(groups)), [len(y) for _, y in groups])
    mu, sd = X.mean(0), X.std(0)
    sd[sd < 1e-9] = 1.0
    Xs = (X - mu) / sd

    def f(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = Xs @ w
        zmax = np.maximum.reduceat(z, starts)[gid]
        e = np.exp(z - zmax)
        all_sum = np.add.reduceat(e, starts)
        pos_sum = np.add.reduceat(np.where(Y, e, 0.0), starts)
        loss = -np.sum(np.log(pos_sum) - np.log(all_sum)) / len(groups) + l2 * w @ w
        p_all = e / all_sum[gid]
        p_pos = np.where(Y, e / pos_sum[gid], 0.0)
        grad = Xs.T @ (p_all - p_pos) / len(groups) + 2 * l2 * w
        return loss, grad

    bounds = [(0.0, None) if names and n in MONOTONE else (None, None) for n in (names or [None] * X.shape[1])]
    res = minimize(f, np.zeros(X.shape[1]), jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": 500})
    return res.x / sd  # on the raw features (a shift by mu is a constant per question: irrelevant to ranking)


@dataclass
class Item:
    q: dict[str, Any]
    rows: np.ndarray
    f1: np.ndarray
    y1: np.ndarray
    ev: dict[str, float]


def collect(bench, qvecs: np.ndarray, answerer_of, correct: Correct) -> list[Item]:  # type: ignore[no-untyped-def]
    """Stage-1 features and labels of every sentence for every question."""
    items = []
    for q, v in zip(bench.questions, qvecs):
        ans = answerer_of(q)
        snap = ans.store.snapshot
        terms = ans.query_terms(q["question"])
        rows = ans.scope_rows(snap, None)
        f1, ev = ans.stage1(terms, v, question_type(q["question"]), snap, rows)
        y = np.array([correct(q, snap.sentences[r].text) for r in rows]) if q["answers"] else np.zeros(len(rows), bool)
        items.append(Item(q, rows, f1, y, ev))
    return items


def stage2_data(items: list[Item], qvecs, answerer_of, w1: np.ndarray, qtoks=None):  # type: ignore[no-untyped-def]
    out = []
    for i, it in enumerate(items):
        ans = answerer_of(it.q)
        snap = ans.store.snapshot
        s1 = it.f1 @ w1
        m = min(STAGE2_CANDIDATES, len(s1))
        top = np.argpartition(-s1, m - 1)[:m]
        terms = ans.query_terms(it.q["question"])
        f2 = ans.stage2(it.q["question"], terms, question_type(it.q["question"]), snap, it.rows[top], it.f1[top], s1[top],
                        qtoks[i] if qtoks is not None else None, qvec=qvecs[i])
        out.append((f2, it.y1[top]))
    return out


def evaluate(bench, qvecs: np.ndarray, weights: dict[str, Any], correct: Correct,
             articles: set[str] | None = None, qtoks=None) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """P@1, R@3 and abstention rates of weights on a set, in process (Answerer.rank on the cached vectors)."""
    p1, r3, fab, abst = [], [], [], {}
    for i, (q, v) in enumerate(zip(bench.questions, qvecs)):
        if articles is not None and q["article"] not in articles:
            continue
        ans = bench.assistants[q["article"]].answerer
        if ans.weights is not weights:
            ans.weights = weights
            ans._set_weights()
        snap = ans.store.snapshot
        rk = ans.rank(q["question"], v, snap, qtok=qtoks[i] if qtoks is not None else None)
        refused = rk.p_abstain >= ans.abstain_config(plain=qtoks is None)["threshold"]
        if q["answers"]:
            ok = [correct(q, snap.sentences[r].text) for r in rk.rows[:3]]
            p1.append(ok[0] and not refused)
            r3.append(any(ok))
            fab.append(refused)
        else:
            abst.setdefault(q["kind"], []).append(refused)
    out = {"P@1": float(np.mean(p1)), "R@3": float(np.mean(r3)), "false_abstain": float(np.mean(fab))}
    out.update({f"abstain[{k}]": float(np.mean(v)) for k, v in sorted(abst.items())})
    return {k: round(v, 4) for k, v in out.items()}


def fit_weights(items: list[Item], fit: list[int], qvecs, answerer_of, drop: set[str] = frozenset(),  # type: ignore[no-untyped-def]
                l2: float = L2, budget: float = ABSTAIN_BUDGET, verbose: bool = True,
                abstain_fit: tuple[str, ...] = ABSTAIN_FIT, qtoks=None, margin: bool = True,
                trees: bool = False) -> dict[str, Any]:
    """Stage 1, stage 2 (with and without word-piece features; with trees, the blend) and abstention weights fitted
    on the items at fit."""
    mask1 = np.array([f not in drop for f in STAGE1], dtype=float)
    mask2 = np.array([f not in drop for f in STAGE2], dtype=float)
    plain = np.array([f not in PIECE_FEATURES for f in STAGE2], dtype=float) * mask2
    w1 = listwise_fit([(items[i].f1 * mask1, items[i].y1) for i in fit if items[i].q["answers"]], l2, STAGE1) * mask1
    s2data = stage2_data(items, qvecs, answerer_of, w1, qtoks)
    w2p = listwise_fit([(s2data[i][0] * plain, s2data[i][1]) for i in fit if items[i].q["answers"]], l2, STAGE2) * plain
    w2 = listwise_fit([(s2data[i][0] * mask2, s2data[i][1]) for i in fit if items[i].q["answers"]], l2, STAGE2) * mask2
    weights = {"stage1": {"coef": dict(zip(STAGE1, map(float, w1)))},
               "stage2": {"bias": 0.0, "coef": dict(zip(STAGE2, map(float, w2)))},
               "stage2_plain": {"bias": 0.0, "coef": {f: float(c) for f, c in zip(STAGE2, w2p) if f not in PIECE_FEATURES}}}
    blend = fit_blend(items, s2data, fit, mask2, w2, l2, verbose) if trees else None
    if blend is not None:
        weights["stage2_blend"] = blend.to_json()
    for key, w, b, feats in (("abstain", w2, blend, abstain_fit),
                             ("abstain_plain", w2p, None, tuple(f for f in abstain_fit if f != "best_tok"))):
        weights[key] = fit_abstain(abstain_evidence(items, s2data, answerer_of, w, b), fit, drop, feats, budget, margin)
    weights["second_margin"] = 0.0
    return weights


def abstain_evidence(items: list[Item], s2data, answerer_of, w2: np.ndarray,  # type: ignore[no-untyped-def]
                     blend: Blend | None = None) -> list[tuple[dict[str, float], str]]:
    """Each question's ABSTAIN evidence (as Answerer.rank computes it) under stage-2 weights w2 (and blend), and its
    kind."""
    evid = []
    for it, (f2, y2) in zip(items, s2data):
        s2 = f2 @ w2
        if blend is not None:
            s2 = blend(f2, s2)
        o = np.argsort(-s2)
        ans = answerer_of(it.q)
        snap = ans.store.snapshot
        ix = ans.index(snap)
        terms = ans.query_terms(it.q["question"])
        idf = {t: ix.idf(t) for t in terms}
        total = sum(w * idf[t] for t, w in terms.items()) or 1.0
        title = ix.title_tokens[snap.sentences[int(it.rows[0])].article_id]
        ev = dict(it.ev, best_logit=float(s2[o[0]]), margin=float(s2[o[0]] - s2[o[1]]),
                  title_overlap=sum(w * idf[t] for t, w in terms.items() if t in title) / total,
                  best_overlap=float(f2[o[0], STAGE2.index("overlap")]), best_dense=float(f2[o[0], STAGE2.index("dense")]),
                  best_tok=float(f2[o[0], STAGE2.index("tok_ctx")]))
        evid.append((ev, it.q["kind"]))
    return evid


def fit_abstain(evid: list[tuple[dict[str, float], str]], fit: list[int], drop: set[str], feats: tuple[str, ...],
                budget: float = ABSTAIN_BUDGET, margin: bool = True) -> dict[str, Any]:
    """Logistic model of 'not answerable' on the fit items, and its threshold.

    The threshold sits midway, in log-odds, between the fit half's answerable questions at the budget quantile
    and its off-topic questions' 1st percentile: a margin on both sides, instead of the edge of the answerable
    ones (that edge let questions worded unlike the fit articles, such as the seed's, fall on the wrong side)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    A = np.array([[e[f] for f in ABSTAIN] for e, _ in evid])
    amask = np.array([f not in drop and f in feats for f in ABSTAIN], dtype=float)
    yab = np.array([k != "answerable" for _, k in evid])
    fidx = np.array(fit)
    sc = StandardScaler().fit(A[fidx] * amask)
    lr = LogisticRegression(C=0.1, max_iter=3000, class_weight="balanced").fit(sc.transform(A[fidx] * amask), yab[fidx])
    scale = np.where(amask > 0, sc.scale_, 1.0)
    coef = lr.coef_[0] / scale * amask
    bias = float(lr.intercept_[0] - np.sum(lr.coef_[0] * amask * sc.mean_ / scale))
    z = A @ coef + bias
    z_ans = np.sort(z[fidx][~yab[fidx]])
    z_off = np.sort(z[fidx][yab[fidx]])
    lo = float(z_ans[min(len(z_ans) - 1, int(np.floor(len(z_ans) * (1 - budget))))])
    hi = float(np.quantile(z_off, 0.01)) if len(z_off) else lo
    thr_z = (lo + max(lo, hi)) / 2 if margin else lo + 1e-6
    return {"bias": bias, "coef": dict(zip(ABSTAIN, map(float, coef))), "threshold": float(1 / (1 + np.exp(-thr_z)))}


#: The stage-2 trees (LightGBM lambdarank): complete after padding to TREE_DEPTH levels, so the runtime walks them
#: level by level (retrieval/trees.py); they re-order the linear model's best BLEND_TOP candidates.
TREE_DEPTH, TREE_ROUNDS, BLEND_TOP = 4, 200, 10
#: Weights of the trees in the blend tried by the cross-validation inside the fit half (0: linear alone).
BLEND_ALPHAS = (0.0, 0.25, 0.5, 1.0)
#: Cross-validated P@1 within this of the best counts as equal (the smaller weight is taken).
BLEND_TOLERANCE = 0.002


def _lambdamart(groups: list[tuple[np.ndarray, np.ndarray]]):  # type: ignore[no-untyped-def]
    """Boosted trees ranking each question's candidates (LightGBM's lambdarank), deterministic."""
    import lightgbm as lgb

    groups = [(x, y) for x, y in groups if y.any() and len(y) > 1]
    X = np.concatenate([x for x, _ in groups]).astype(np.float64)
    Y = np.concatenate([y for _, y in groups]).astype(int)
    params = dict(objective="lambdarank", max_depth=TREE_DEPTH, num_leaves=2 ** TREE_DEPTH, learning_rate=0.05,
                  min_child_samples=50, feature_fraction=0.8, bagging_fraction=0.8, bagging_freq=1,
                  lambdarank_truncation_level=10, verbose=-1, num_threads=2, seed=0, deterministic=True,
                  force_row_wise=True)
    return lgb.train(params, lgb.Dataset(X, Y, group=[len(y) for _, y in groups]), num_boost_round=TREE_ROUNDS), X


def _blends(bst, X: np.ndarray, w: np.ndarray):  # type: ignore[no-untyped-def]
    """alpha -> the blend of linear weights w and booster bst, both scaled to unit spread over the fit rows X (the
    trees are converted and both spreads computed once, whatever the number of alphas asked for)."""
    trees = Trees.from_lightgbm(bst.dump_model(), TREE_DEPTH)
    lin_sd = float(np.std(X @ w)) or 1.0
    tree_sd = float(np.std(trees.predict(X))) or 1.0
    return lambda alpha: Blend(trees, 1.0 / lin_sd, alpha / tree_sd, BLEND_TOP)


def fit_blend(items: list[Item], s2data, fit: list[int], mask2: np.ndarray, w2: np.ndarray,  # type: ignore[no-untyped-def]
              l2: float = L2, verbose: bool = True) -> Blend | None:
    """Trees blended with the linear stage 2 (weights w2), their weight picked by two-fold cross-validation inside
    the fit half (its articles split by name; linear model and trees refitted on one part, P@1 on the other); None
    when the linear model alone wins."""
    fit = [i for i in fit if items[i].q["answers"]]
    arts = sorted({items[i].q["article"] for i in fit})
    folds = [set(arts[0::2]), set(arts[1::2])]
    cv = {a: [] for a in BLEND_ALPHAS}
    for part in folds:
        train = [(s2data[i][0] * mask2, s2data[i][1]) for i in fit if items[i].q["article"] not in part]
        test = [(s2data[i][0] * mask2, s2data[i][1]) for i in fit if items[i].q["article"] in part]
        w = listwise_fit(train, l2, STAGE2) * mask2
        blend_at = _blends(*_lambdamart(train), w)
        for a in BLEND_ALPHAS:
            b = blend_at(a) if a else None
            cv[a].append(float(np.mean([bool(y[np.argmax(b(f, f @ w) if b else f @ w)]) for f, y in test if y.any()])))
    best = max(float(np.mean(v)) for v in cv.values())
    # the smallest weight within BLEND_TOLERANCE of the best: differences that small are a few questions either way
    alpha = min(a for a in BLEND_ALPHAS if float(np.mean(cv[a])) >= best - BLEND_TOLERANCE)
    if verbose:
        print("blend cross-validation in the fit half (P@1 by alpha):",
              {a: round(float(np.mean(v)), 4) for a, v in cv.items()}, "->", alpha, file=sys.stderr)
    if not alpha:
        return None
    return _blends(*_lambdamart([(s2data[i][0] * mask2, s2data[i][1]) for i in fit]), w2)(alpha)


@dataclass
class Training:
    """A set's items for fitting (and its reworded copies' after them, question for question), and who answers."""

    bench: Any
    spun: list[Any]
    items: list[Item]
    fit: list[int]  # indices of items on the fit half's articles (plain and reworded)
    qvecs: np.ndarray
    qtoks: list[tuple[np.ndarray, np.ndarray]]
    answerer_of: Any


def prepare(questions: Path, augment: list[Path] = ()) -> Training:  # type: ignore[assignment]
    """Load a set and its reworded copies (bench/spin.py: same questions, same split by article name)."""
    bench = load_set(questions)
    qvecs = question_vectors(bench)
    qtoks = question_tokens(bench)
    fit_arts, _ = split_articles(bench.questions)
    owner: dict[int, Any] = {id(q): bench for q in bench.questions}
    answerer_of = lambda q: owner[id(q)].assistants[q["article"]].answerer  # noqa: E731
    items = collect(bench, qvecs, answerer_of, Correct(questions.parent))
    spun = []
    for path in augment:
        b = load_set(path)
        owner.update({id(q): b for q in b.questions})
        items += collect(b, qvecs, answerer_of, Correct(path.parent))
        spun.append(b)
    fit = [i for i, it in enumerate(items) if it.q["article"] in fit_arts]
    return Training(bench, spun, items, fit, np.concatenate([qvecs] * (1 + len(spun))), qtoks * (1 + len(spun)),
                    answerer_of)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.fit", description=__doc__.split("\n")[0])
    p.add_argument("--questions", type=Path, default=DEFAULT)
    p.add_argument("--write", action="store_true", help=f"write the fitted weights to {WEIGHTS_FILE}")
    p.add_argument("--drop", default="", help="comma-separated features to leave out (ablation)")
    p.add_argument("--l2", type=float, default=L2, help="ridge penalty of the listwise fits")
    p.add_argument("--budget", type=float, default=ABSTAIN_BUDGET, help="share of fit-half answerable questions "
                   "the abstention threshold may refuse")
    p.add_argument("--report", type=Path, nargs="*", default=[], help="other question sets to report (not fitted)")
    p.add_argument("--trees", action="store_true", help="also fit boosted trees that re-order stage 2's best "
                   f"{BLEND_TOP} candidates (LightGBM, requirements-dev.txt; off: the shipped weights are linear, see "
                   "bench/QUALITY.md)")
    p.add_argument("--copies", type=Path, nargs="*", default=[], help="other copies of the set (same questions, e.g. "
                   "laid out as news by bench/relayout.py) whose held-out halves are reported, not fitted")
    p.add_argument("--augment", type=Path, nargs="*", default=[], help="reworded copies of the set (bench/spin.py) "
                   "whose fit-half articles are fitted on too; their held-out halves are reported")
    args = p.parse_args(argv)
    drop = {x for x in args.drop.split(",") if x}
    tr = prepare(args.questions, args.augment)
    bench, spun, items, fit, qvecs, qtoks, answerer_of = tr.bench, tr.spun, tr.items, tr.fit, tr.qvecs, tr.qtoks, tr.answerer_of
    fit_arts, held_arts = split_articles(bench.questions)
    print(f"fit on {len(fit_arts)} articles: {sorted(fit_arts)}\nheld out: {sorted(held_arts)}", file=sys.stderr)
    correct = Correct(args.questions.parent)
    n = len(bench.questions)
    weights = fit_weights(items, fit, qvecs, answerer_of, drop, args.l2, args.budget, qtoks=qtoks, trees=args.trees)
    for name, part in (("fit", fit_arts), ("held-out", held_arts)):
        print(f"{name:>9}: {evaluate(bench, qvecs, weights, correct, part, qtoks)}")
        print(f"{name + ' plain':>15}: {evaluate(bench, qvecs, weights, correct, part)}")
        for b in spun:
            print(f"{name + ' ' + b.path.parent.name:>18}: {evaluate(b, qvecs[:n], weights, Correct(b.path.parent), part, qtoks[:n])}")
    for path in args.copies:
        b = load_set(path)
        print(f"{'held-out ' + b.path.parent.name:>18}: {evaluate(b, qvecs[:n], weights, Correct(b.path.parent), held_arts, qtoks[:n])}")
    for extra in args.report:
        b = load_set(extra)
        print(f"{extra.stem:>9}: {evaluate(b, question_vectors(b), weights, Correct(extra.parent), None, question_tokens(b))}")
    weights["note"] = (f"fitted by bench/fit.py on the even-numbered (sorted) articles of {args.questions.name}: "
                       f"{', '.join(sorted(Path(a).stem for a in fit_arts))}" + (f"; dropped {sorted(drop)}" if drop else "")
                       + (f"; each also as reworded by bench/spin.py ({', '.join(str(b.path.parent.name) for b in spun)})" if spun else ""))
    if args.write:
        WEIGHTS_FILE.write_text(json.dumps(weights, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {WEIGHTS_FILE}", file=sys.stderr)
    else:
        print(json.dumps(weights, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
