"""Session 6 experiment (bench/QUALITY.md): LambdaMART (LightGBM lambdarank) for stage 2 vs the listwise linear
model; ranking P@1 without abstention.  pip install lightgbm; python bench/experiments/lambdamart.py"""
import sys
from pathlib import Path
ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / 'shared' / 'bench'
sys.path.insert(0, str(ROOT))
import sys, time
from pathlib import Path
import numpy as np
from bench.fit import prepare, stage2_data, listwise_fit, collect, Correct, split_articles
from bench.data import load_set, question_vectors, question_tokens
from retrieval.answer import STAGE1, STAGE2, load_weights
import lightgbm as lgb

if True:  # the stage-2 features of every set (a few minutes)
    SQ = Path(str(SHARED / "squad/squad-v1.1-dev.jsonl"))
    AUG = [Path(str(ROOT / "index" / "spun/r40/squad-v1.1-dev.jsonl")), Path(str(ROOT / "index" / "spun/r70/squad-v1.1-dev.jsonl"))]
    tr = prepare(SQ, AUG)
    W = load_weights()
    w1 = np.array([W["stage1"]["coef"].get(f, 0.0) for f in STAGE1])
    s2 = stage2_data(tr.items, tr.qvecs, tr.answerer_of, w1, tr.qtoks)
    fit_arts, held_arts = split_articles(tr.bench.questions)
    n = len(tr.bench.questions)
    fit = [i for i in tr.fit if tr.items[i].q["answers"]]
    held = [i for i in range(n) if tr.items[i].q["article"] in held_arts and tr.items[i].q["answers"]]
    parts = {"held": held, "held r40": [i + n for i in held], "held r70": [i + 2 * n for i in held]}
    rep = {}
    for path in (Path(str(SHARED / "seed/seed-dev.jsonl")), Path(str(SHARED / "squad2/squad-v2.0-dev.jsonl"))):
        b = load_set(path); qv = question_vectors(b); qt = question_tokens(b)
        af = lambda q, b=b: b.assistants[q["article"]].answerer
        its = collect(b, qv, af, Correct(path.parent))
        sd = stage2_data(its, qv, af, w1, qt)
        rep[path.stem] = [(f, y) for (f, y), it in zip(sd, its) if it.q["answers"]]
        if "squad2" in str(path):
            unseen = {"articles/French_and_Indian_War.md", "articles/Normans.md", "articles/Private_school.md", "articles/Steam_engine.md"}
            rep["squad2 unseen 4"] = [(f, y) for (f, y), it in zip(sd, its) if it.q["answers"] and it.q["article"] in unseen]
    D = dict(s2=s2, fit=fit, parts=parts, rep=rep, arts=[tr.items[i].q["article"] for i in range(len(tr.items))])
if __name__ == "__main__":  # (blend_cv.py imports D alone)
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
