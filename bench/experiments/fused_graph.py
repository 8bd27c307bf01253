"""Session 14: the exported graph with onnxruntime's fused BERT kernels (EXPORT_VERSION 4) against the exporter's
unfused graph (version 3), in one process: a question's bare encode, the whole seed answer, and the build's two
passes over the SQuAD corpus's sentences and paragraphs, interleaved. Both sessions share one tokenizer, one index
and the same session options; only the graph differs.
OLD_GRAPH=/path/to/...-v3-fp32.onnx python bench/experiments/fused_graph.py [ROUNDS]"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "experiments"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from _timing import race  # noqa: E402
from bench import perf  # noqa: E402


def main() -> None:
    import onnxruntime as ort

    from retrieval import Assistant

    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    new = perf.make_encoder("onnx")
    old = perf.make_encoder("onnx")
    s = new.model.session
    old.model.session = ort.InferenceSession(os.environ["OLD_GRAPH"], sess_options=s.get_session_options(),
                                             providers=["CPUExecutionProvider"])
    work = Path(tempfile.mkdtemp(prefix="fused-"))
    answer = {}
    for name, enc in (("new", new), ("old", old)):
        a = Assistant(articles=[perf.SEED], index_dir=work / "seed", encoder=enc)
        a.warm_up()
        answer[name] = a
    qs = perf.SEED_QUESTIONS
    v_old = old.model.encode(qs, normalize_embeddings=True)
    v_new = new.model.encode(qs, normalize_embeddings=True)
    print(f"questions: min cosine old/new {float((v_old * v_new).sum(1).min()):.8f}")
    same = sum(answer["old"].answer(q).citations == answer["new"].answer(q).citations for q in qs)
    print(f"same citations on {same} of {len(qs)} seed questions")
    race({"bare encode, unfused (v3)": lambda q: old.model.encode([q]),
          "bare encode, fused (v4)": lambda q: new.model.encode([q]),
          "seed answer, unfused": lambda q: answer["old"].answer(q),
          "seed answer, fused": lambda q: answer["new"].answer(q)},
         qs, rounds * 20, floor="bare encode, unfused (v3)")
    squad = perf.squad_questions(300)
    race({"squad question, unfused": lambda q: old.model.encode([q]),
          "squad question, fused": lambda q: new.model.encode([q])}, squad, rounds, floor="squad question, unfused")
    # the build's passes: sentences (encode_tokens) and paragraphs (encode_context), the SQuAD corpus's first articles
    from retrieval.ingest import read_article
    from retrieval.tokens import keep_mask

    arts = [read_article(p) for p in perf.squad_articles(False)[:3]]
    sents = [s.text for a in arts for s in a.sentences]
    keep = keep_mask(new.tokenizer_file())
    for rnd in range(rounds):
        for name, enc in (("old", old), ("new", new)) if rnd % 2 == 0 else (("new", new), ("old", old)):
            t = time.perf_counter()
            enc.model.encode_tokens(sents, keep)
            print(f"round {rnd}: {name} sentence pass, {len(sents)} sentences: {time.perf_counter() - t:.2f} s", flush=True)


if __name__ == "__main__":
    main()
