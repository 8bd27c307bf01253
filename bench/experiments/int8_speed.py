"""Session 11 (bench/PERF.md): the int8 graph for articles. Time of the bare encode and the context pass on fp32 and
int8 (batched and one sentence per call) over 8 SQuAD articles, and how far int8 vectors move with their batch.
    python bench/experiments/int8_speed.py"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench.perf import SEED, squad_articles  # noqa: E402
from retrieval.embed import model_path  # noqa: E402
from retrieval.ingest import read_article  # noqa: E402
from retrieval.onnx_backend import OnnxEncoder  # noqa: E402


def one_by_one(enc: OnnxEncoder, texts: list[str]) -> np.ndarray:
    out = np.zeros((len(texts), 384), np.float32)
    for i, t in enumerate(texts):
        out[i] = enc.session.run(["sentence_embedding"], enc._batch([t]))[0][0]
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def main() -> None:
    arts = [read_article(p) for p in squad_articles(False)[:8]]
    texts = [s.text for a in arts for s in a.sentences]
    paras = [(k, s.paragraph) for k, a in enumerate(arts) for s in a.sentences]
    f32, i8 = OnnxEncoder(model_path(), variant="fp32"), OnnxEncoder(model_path(), variant="int8")
    for e in (f32, i8):
        e.encode(texts[:64])
        e.encode_context(texts[:50], paras[:50])
    arms = {"encode fp32": lambda: f32.encode(texts, normalize_embeddings=True),
            "encode int8": lambda: i8.encode(texts, normalize_embeddings=True),
            "encode int8, one sentence per call": lambda: one_by_one(i8, texts),
            "context pass fp32": lambda: f32.encode_context(texts, paras),
            "context pass int8": lambda: i8.encode_context(texts, paras)}
    times: dict[str, list[float]] = {k: [] for k in arms}
    out: dict[str, np.ndarray] = {}
    for _ in range(2):
        for name, run in arms.items():
            t = time.perf_counter()
            out[name] = run()
            times[name].append(time.perf_counter() - t)
    print(f"{len(texts)} sentences")
    print("| arm | seconds (two rounds) | min cosine to fp32 |")
    print("|---|---|---|")
    for name in arms:
        ref = out["context pass fp32" if name.startswith("context") else "encode fp32"]
        print(f"| {name} | {' / '.join(f'{x:.2f}' for x in times[name])} | {float((out[name] * ref).sum(1).min()):.4f} |")
    seed = read_article(SEED)
    st, sp = [s.text for s in seed.sentences], [s.paragraph for s in seed.sentences]
    alone = i8.encode_context(st, sp)
    beside = i8.encode_context(st + texts[:40], sp + [("other", p) for p in paras[:40]])[:len(st)]
    v, w = i8.encode(st, normalize_embeddings=True), i8.encode(st + ["a b c " * 80], normalize_embeddings=True)[:len(st)]
    print(f"int8, the seed article's context vectors made alone vs beside 40 other sentences: min cosine "
          f"{float((alone * beside).sum(1).min()):.4f}; its sentence vectors alone vs batched with one long sentence: "
          f"{float((v * w[:len(st)]).sum(1).min()):.4f}")


if __name__ == "__main__":
    main()
