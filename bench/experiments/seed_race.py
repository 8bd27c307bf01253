"""Session 16: where the seed answer's time goes, without a profiler: the bare encode, encode_query with the
question's pieces, rank alone (on a precomputed encode) and the whole answer, interleaved (_timing.race).
python bench/experiments/seed_race.py [ROUNDS]"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "experiments"))

from _timing import race  # noqa: E402
from bench import perf  # noqa: E402
from retrieval import Assistant  # noqa: E402
enc = perf.make_encoder("onnx")
a = Assistant(articles=[str(ROOT / "data" / "seed_article.txt")], index_dir=Path(tempfile.mkdtemp()), encoder=enc)
a.warm_up()
an = a.answerer
qs = [json.loads(x)["question"] for x in (perf.SHARED / "seed" / "seed-dev.jsonl").read_text().splitlines() if x]
snap = an.serving()
pre = {q: an.encode_query(q, None, pieces=True) for q in qs}
fns = {"bare encode": lambda q: enc.encode([q]),
       "encode_query": lambda q: an.encode_query(q, None, pieces=True),
       "rank only": lambda q: an.rank(q, pre[q][0], snap, qtok=pre[q][1]),
       "answer": lambda q: a.answer(q)}
for q in qs * 5:
    for f in fns.values(): f(q)
race(fns, qs, int(sys.argv[1]) if len(sys.argv) > 1 else 40)
