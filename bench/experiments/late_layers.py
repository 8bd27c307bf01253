"""Late chunking made cheap: each sentence runs alone through the model's first K layers (the sentence pass already
computes them), then a paragraph's sentences are concatenated and only the last 6 - K layers read them together.
Scored as late.py scores the full pass: dense, the context vector, and their sum (P@1, squad-v1.1-dev halves)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from _stage2 import article_sentences, squad_set  # noqa: E402  (bench/experiments: the script's own folder)
from retrieval.context import spans, windows  # noqa: E402
from retrieval.embed import default_encoder  # noqa: E402

SET = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "bench" / "squad" / "squad-v1.1-dev.jsonl"
KS = [int(k) for k in os.environ.get("LATE_KS", "0,3,4,5").split(",")]
JOIN = os.environ.get("LATE_JOIN", "inner")  # inner: [CLS]1 pieces... [SEP]last; all: every sentence's [CLS] .. [SEP]


def unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


def per_layer(bert, ids: list[list[int]]) -> list[list[torch.Tensor]]:  # type: ignore[no-untyped-def]
    """Each sentence alone ([CLS] pieces [SEP]): its hidden states after every layer (0: embeddings)."""
    out = []
    with torch.no_grad():
        for t in ids:
            r = bert(input_ids=torch.tensor([t]), output_hidden_states=True)
            out.append([h[0] for h in r.hidden_states])
    return out


def split(bert, hs: list[list[torch.Tensor]], ids: list[list[int]], paras: list[int], k: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Context vectors: layer-k states of a window's sentences concatenated, layers k+1.. run over them together."""
    lengths = [len(t) - 2 for t in ids]
    vec = np.zeros((len(ids), bert.config.hidden_size), np.float32)
    for w in windows(lengths, paras):
        c, a, b = w
        if JOIN == "all":
            parts = [hs[i][k] for i in range(c, b)]
            where, at = [], 0
            for i in range(c, b):
                where.append((at + 1, at + 1 + lengths[i]))
                at += lengths[i] + 2
        else:
            parts = [hs[c][k][:1]] + [hs[i][k][1:-1] for i in range(c, b)] + [hs[b - 1][k][-1:]]
            where = spans(lengths, w)
        h = torch.cat(parts)[None]
        with torch.no_grad():
            for layer in bert.encoder.layer[k:]:
                h = layer(h)
                h = h[0] if isinstance(h, tuple) else h
        h = h[0].numpy()
        for i, (s, e) in zip(range(a, b), where):
            vec[i] = unit(h[s:e].mean(0))
    return vec


def main() -> None:
    from sentence_transformers import SentenceTransformer

    enc = default_encoder()
    st = SentenceTransformer(str(Path(enc.tokenizer_file()).parent), device="cpu")
    bert = st[0].auto_model.eval()
    tok = st.tokenizer
    b, qvecs, correct, fit_arts = squad_set(SET)
    arts = {}
    for rel, snap, texts, paras in article_sentences(b):
        ids = tok(texts, truncation=True, max_length=256)["input_ids"]
        hs = per_layer(bert, ids)
        ctx = {k: split(bert, hs, ids, paras, k) for k in KS}
        ctx["full"] = np.asarray(snap.tokens.context, np.float32) if snap.tokens is not None and snap.tokens.context is not None else None
        arts[rel] = (texts, np.asarray(snap.vectors, np.float32), ctx)
    names = [f"k{k}" for k in KS] + ["full"]
    rows = {n: np.zeros((3, 2, 2)) for n in names}  # score (late, dense+late, dense) x part x (hits, n)
    for q, qv in zip(b.questions, qvecs):
        if not q["answers"]:
            continue
        texts, svec, ctx = arts[q["article"]]
        labels = np.array([correct(q, t) for t in texts])
        if not labels.any():
            continue
        part = 0 if q["article"] in fit_arts else 1
        d = svec @ qv
        for n, key in zip(names, KS + ["full"]):
            if ctx[key] is None:
                continue
            dl = ctx[key] @ qv
            for s, sc in enumerate((dl, d + dl, d)):
                rows[n][s, part, 0] += labels[int(np.argmax(sc))]
                rows[n][s, part, 1] += 1
    print(f"JOIN {JOIN}")
    print("| context vector | late alone fit / held | dense+late fit / held | dense fit / held |")
    print("|---|---|---|---|")
    for n in names:
        r = rows[n]
        cells = [f"{r[s, 0, 0] / max(r[s, 0, 1], 1):.4f} / {r[s, 1, 0] / max(r[s, 1, 1], 1):.4f}" for s in range(3)]
        print(f"| {n} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
