"""Session 6 experiment (bench/QUALITY.md): LambdaMART (LightGBM lambdarank) for stage 2 vs the listwise linear
model; ranking P@1 without abstention.  pip install lightgbm; python bench/experiments/lambdamart.py"""
import time

import lightgbm as lgb
import numpy as np
from _stage2 import ranking_sets

from bench.fit import listwise_fit
from retrieval.answer import STAGE2

D = ranking_sets()
s2, fit, parts, rep = D["s2"], D["fit"], D["parts"], D["rep"]
evalsets = {k: [s2[i] for i in idx] for k, idx in parts.items()}
evalsets.update(rep)
def score(pred):
    return {k: round(float(np.mean([bool(y[np.argmax(pred(f))]) if y.any() else False for f, y in g])), 4) for k, g in evalsets.items()}
w = listwise_fit([s2[i] for i in fit], 1e-3, STAGE2)
print("linear", score(lambda f: f @ w), flush=True)
G = [s2[i] for i in fit if s2[i][1].any()]
X = np.concatenate([f for f, _ in G]); Y = np.concatenate([y for _, y in G]).astype(int); grp = [len(y) for _, y in G]
lin = np.concatenate([f @ w for f, _ in G])
for params in [dict(num_leaves=15, learning_rate=0.05, n=300, mcs=50), dict(num_leaves=31, learning_rate=0.05, n=300, mcs=100),
               dict(num_leaves=7, learning_rate=0.05, n=500, mcs=50), dict(num_leaves=15, learning_rate=0.03, n=300, mcs=200, init=True)]:
    t = time.time()
    ds = lgb.Dataset(X, Y, group=grp, init_score=lin if params.get("init") else None)
    bst = lgb.train(dict(objective="lambdarank", metric="ndcg", eval_at=[1], num_leaves=params["num_leaves"],
                         learning_rate=params["learning_rate"], min_child_samples=params["mcs"], feature_fraction=0.8,
                         bagging_fraction=0.8, bagging_freq=1, lambdarank_truncation_level=10, verbose=-1, num_threads=2, seed=0),
                    ds, num_boost_round=params["n"])
    init = params.get("init")
    res = score(lambda f: bst.predict(f) + (f @ w if init else 0))
    print(params, res, "%.0fs" % (time.time() - t), flush=True)

# the blend with the linear model (QUALITY.md): the first configuration above, trees scaled to the linear scores
bst = lgb.train(dict(objective="lambdarank", metric="ndcg", eval_at=[1], num_leaves=15, learning_rate=0.05,
                     min_child_samples=50, feature_fraction=0.8, bagging_fraction=0.8, bagging_freq=1,
                     lambdarank_truncation_level=10, verbose=-1, num_threads=2, seed=0),
                lgb.Dataset(X, Y, group=grp), num_boost_round=300)
lin_sd, tree_sd = np.std(lin), np.std(bst.predict(X))
for a in (0.25, 0.5, 1.0, 2.0):
    print("blend", a, score(lambda f: (f @ w) / lin_sd + a * bst.predict(f) / tree_sd), flush=True)
