"""Session 14: session 13's encoder (the exporter's unfused graph, EXPORT_VERSION 3, intra-op threads that never
spin) against the fused graph (version 4) with the same options and with the shipped bounded spin, in one process:
a question's bare encode, the whole seed answer, and the build's sentence pass over three SQuAD articles,
interleaved. All share one tokenizer and one index; only the graph and the spin options differ.
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
    new = perf.make_encoder("onnx")  # the shipped options: fused graph, bounded spin
    os.environ["RETRIEVAL_ONNX_SPIN"] = "0"
    nospin = perf.make_encoder("onnx")  # the product's session with threads that never spin (session 13's options)
    old = perf.make_encoder("onnx")
    del os.environ["RETRIEVAL_ONNX_SPIN"]
    opts = nospin.model.session.get_session_options()
    old.model.session = ort.InferenceSession(os.environ["OLD_GRAPH"], sess_options=opts, providers=["CPUExecutionProvider"])
    work = Path(tempfile.mkdtemp(prefix="fused-"))
    answer = {}
    for name, enc in (("new", new), ("old", old), ("nospin", nospin)):
        a = Assistant(articles=[perf.SEED], index_dir=work / "seed", encoder=enc)
        a.warm_up()
        answer[name] = a
    qs = perf.SEED_QUESTIONS
    v_old = old.model.encode(qs, normalize_embeddings=True)
    v_new = new.model.encode(qs, normalize_embeddings=True)
    print(f"questions: min cosine old/new {float((v_old * v_new).sum(1).min()):.8f}")
    same = sum(answer["old"].answer(q).citations == answer["new"].answer(q).citations for q in qs)
    print(f"same citations on {same} of {len(qs)} seed questions")
    race({"bare encode, session 13 (unfused, no spin)": lambda q: old.model.encode([q]),
          "bare encode, fused, no spin": lambda q: nospin.model.encode([q]),
          "bare encode, fused, bounded spin (shipped)": lambda q: new.model.encode([q]),
          "seed answer, session 13": lambda q: answer["old"].answer(q),
          "seed answer, fused, no spin": lambda q: answer["nospin"].answer(q),
          "seed answer, shipped": lambda q: answer["new"].answer(q)},
         qs, rounds * 20, floor="bare encode, session 13 (unfused, no spin)")
    squad = perf.squad_questions(300)
    race({"squad question, session 13": lambda q: old.model.encode([q]),
          "squad question, fused, no spin": lambda q: nospin.model.encode([q]),
          "squad question, shipped": lambda q: new.model.encode([q])}, squad, rounds, floor="squad question, session 13")
    # the build's passes: sentences (encode_tokens) and paragraphs (encode_context), the SQuAD corpus's first articles
    from retrieval.ingest import read_article
    from retrieval.tokens import keep_mask

    arts = [read_article(p) for p in perf.squad_articles(False)[:3]]
    sents = [s.text for a in arts for s in a.sentences]
    keep = keep_mask(new.tokenizer_file())
    for rnd in range(rounds):
        for name, enc in (("session 13", old), ("fused, no spin", nospin), ("shipped", new))[::1 if rnd % 2 else -1]:
            t = time.perf_counter()
            enc.model.encode_tokens(sents, keep)
            print(f"round {rnd}: {name} sentence pass, {len(sents)} sentences: {time.perf_counter() - t:.2f} s", flush=True)


if __name__ == "__main__":
    main()
