"""Session 6 experiment (bench/QUALITY.md): blend variants on the usual split, then on the swapped halves.
    pip install lightgbm; python bench/experiments/blend_variants.py"""
import sys
from pathlib import Path
import numpy as np
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from bench.fit import listwise_fit
from retrieval.answer import STAGE2
from retrieval.trees import Trees, Blend
import lightgbm as lgb
from _stage2 import ranking_sets
D = ranking_sets()
s2, fit, parts, rep, arts = D["s2"], D["fit"], D["parts"], D["rep"], D["arts"]
n = len(s2) // 3
evalsets = {k: [s2[i] for i in idx] for k, idx in parts.items()}; evalsets.update(rep)
def p1(groups, pred):
    return float(np.mean([bool(y[np.argmax(pred(f))]) if y.any() else False for f, y in groups]))
def lm(groups, mcs=50, lr=0.05, rounds=200, fmask=None):
    G = [(x, y) for x, y in groups if y.any() and len(y) > 1]
    X = np.concatenate([x for x, _ in G]); Y = np.concatenate([y for _, y in G]).astype(int)
    if fmask is not None: X = X.copy(); X[:, ~fmask] = 0.0
    bst = lgb.train(dict(objective="lambdarank", max_depth=4, num_leaves=16, learning_rate=lr, min_child_samples=mcs, feature_fraction=0.8,
                         bagging_fraction=0.8, bagging_freq=1, lambdarank_truncation_level=10, verbose=-1, num_threads=2, seed=0, deterministic=True, force_row_wise=True),
                    lgb.Dataset(X, Y, group=[len(y) for _, y in G]), num_boost_round=rounds)
    return bst, X
def mk(bst, X, w, a):
    return Blend(Trees.from_lightgbm(bst.dump_model(), 4), 1 / np.std(X @ w), a / np.std(bst.predict(X)), 10)
fit_a = [i for i in fit if s2[i][1].any()]
arts_sorted = sorted({arts[i] for i in fit_a}); folds = [set(arts_sorted[0::2]), set(arts_sorted[1::2])]
def run(name, train_filter, **kw):
    cv = {a: [] for a in (0, 0.25, 0.5, 1.0)}
    for part in folds:
        tr = [i for i in fit_a if arts[i] not in part]; te = [s2[i] for i in fit_a if arts[i] in part]
        w = listwise_fit([s2[i] for i in tr], 1e-3, STAGE2)
        bst, X = lm([s2[i] for i in tr if train_filter(i)], **kw)
        for a in cv:
            b = mk(bst, X, w, a) if a else None
            cv[a].append(p1(te, (lambda f, b=b, w=w: b(f, f @ w)) if b else (lambda f, w=w: f @ w)))
    m = {a: float(np.mean(v)) for a, v in cv.items()}; best = max(m.values())
    alpha = min(a for a in m if m[a] >= best - 0.002)
    w = listwise_fit([s2[i] for i in fit_a], 1e-3, STAGE2)
    if alpha:
        bst, X = lm([s2[i] for i in fit_a if train_filter(i)], **kw); b = mk(bst, X, w, alpha)
        pred = lambda f: b(f, f @ w)
    else:
        pred = lambda f: f @ w
    print(name, "cv", {a: round(v, 4) for a, v in m.items()}, "alpha", alpha, {k: round(p1(g, pred), 4) for k, g in evalsets.items()}, flush=True)
run("all rows", lambda i: True)
run("reworded copies only", lambda i: i >= n)
run("mcs 200 lr .03", lambda i: True, mcs=200, lr=0.03)
tokmask = np.array([f.startswith("tok_") or f in ("dense", "dense_ctx", "bm25_n", "overlap", "s1_z", "novel", "novel_frac") for f in STAGE2])
run("few features", lambda i: True, fmask=tokmask)

print("--- swapped: fit on the odd (held-out) half, test on the even (fit) half; no selection on this split ---", flush=True)
odd = parts["held"] + parts["held r40"] + parts["held r70"]
even_plain = [i for i in fit_a if i < n]
evalsets = {"even": [s2[i] for i in even_plain], "even r40": [s2[i + n] for i in even_plain], "even r70": [s2[i + 2 * n] for i in even_plain]}
evalsets.update(rep)
fit_a = [i for i in odd if s2[i][1].any()]
arts_sorted = sorted({arts[i] for i in fit_a}); folds = [set(arts_sorted[0::2]), set(arts_sorted[1::2])]
w = listwise_fit([s2[i] for i in fit_a], 1e-3, STAGE2)
print("linear", {k: round(p1(g, lambda f: f @ w), 4) for k, g in evalsets.items()}, flush=True)
run("all rows", lambda i: True)
run("mcs 200 lr .03", lambda i: True, mcs=200, lr=0.03)
run("few features", lambda i: True, fmask=tokmask)
