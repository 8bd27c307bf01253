"""Session 6 experiment (bench/QUALITY.md): the linear + LambdaMART blend with alpha picked by two-fold CV inside the
fit half.  pip install lightgbm; python bench/experiments/blend_cv.py"""
import sys
import numpy as np
from pathlib import Path
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from bench.fit import listwise_fit
from retrieval.answer import STAGE2
import lightgbm as lgb
from _stage2 import ranking_sets
D = ranking_sets()
s2, fit, parts, rep, arts = D["s2"], D["fit"], D["parts"], D["rep"], D["arts"]
evalsets = {k: [s2[i] for i in idx] for k, idx in parts.items()}; evalsets.update(rep)
def p1(groups, pred):
    return float(np.mean([bool(y[np.argmax(pred(f))]) if y.any() else False for f, y in groups]))
def train(idx, rounds, lr, leaves=15):
    G = [s2[i] for i in idx if s2[i][1].any()]
    w = listwise_fit(G, 1e-3, STAGE2)
    X = np.concatenate([f for f, _ in G]); Y = np.concatenate([y for _, y in G]).astype(int)
    bst = lgb.train(dict(objective="lambdarank", num_leaves=leaves, learning_rate=lr, min_child_samples=50, feature_fraction=0.8,
                         bagging_fraction=0.8, bagging_freq=1, lambdarank_truncation_level=10, verbose=-1, num_threads=2, seed=0),
                    lgb.Dataset(X, Y, group=[len(y) for _, y in G]), num_boost_round=rounds)
    return w, bst, np.std(X @ w), np.std(bst.predict(X))
def blend(w, bst, ls, ts, a, top=None):
    def f(x):
        lin = x @ w / ls
        if a == 0: return lin
        if top is None: return lin + a * bst.predict(x) / ts
        idx = np.argsort(-lin)[:top]; out = lin - 1e3; out[idx] = lin[idx] + a * bst.predict(x[idx]) / ts
        return out
    return f
fit_arts = sorted({arts[i] for i in fit})
folds = [set(fit_arts[0::2]), set(fit_arts[1::2])]
alphas = (0, 0.25, 0.5, 1.0)
for rounds, lr in ((300, 0.05), (100, 0.15)):
    cv = {a: [] for a in alphas}
    for k in range(2):
        tr = [i for i in fit if arts[i] not in folds[k]]; te = [s2[i] for i in fit if arts[i] in folds[k]]
        w, bst, ls, ts = train(tr, rounds, lr)
        for a in alphas: cv[a].append(p1(te, blend(w, bst, ls, ts, a)))
    best = max(alphas, key=lambda a: np.mean(cv[a]))
    print(f"rounds {rounds} lr {lr}: CV within the fit half", {a: round(float(np.mean(v)), 4) for a, v in cv.items()}, "-> alpha", best, flush=True)
    w, bst, ls, ts = train(fit, rounds, lr)
    for top in (None, 10):
        print("   held-out with alpha", best, "top", top, {k: round(p1(g, blend(w, bst, ls, ts, best, top)), 4) for k, g in evalsets.items()}, flush=True)
