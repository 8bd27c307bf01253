"""Which transformer layer's word-piece vectors match a question best? BERTScore-style recall alone (IDF-weighted
best cosine of each question content piece among a sentence's pieces), every sentence of the article ranked, P@1 on
squad-v1.1-dev's fit and held-out halves, per layer (0 = input embeddings, 6 = the last layer the index keeps)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.data import load_set  # noqa: E402
from bench.fit import Correct, split_articles  # noqa: E402
from retrieval.embed import default_encoder  # noqa: E402
from retrieval.tokens import keep_mask, stop_mask  # noqa: E402

SET = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "bench" / "squad" / "squad-v1.1-dev.jsonl"


def hidden_layers(st, texts: list[str], batch: int = 64) -> list[tuple[np.ndarray, np.ndarray]]:  # type: ignore[no-untyped-def]
    """Per text: (kept piece ids, (layers, pieces, dim) unit vectors)."""
    out = []
    tok = st.tokenizer
    model = st[0].auto_model
    keep = KEEP
    for i in range(0, len(texts), batch):
        enc = tok(texts[i:i + batch], padding=True, truncation=True, max_length=st.max_seq_length, return_tensors="pt")
        with torch.no_grad():
            hs = model(**enc, output_hidden_states=True).hidden_states
        h = torch.stack(hs, 1).numpy()  # (b, L, seq, dim)
        ids = enc["input_ids"].numpy()
        mask = enc["attention_mask"].numpy()
        for j in range(len(ids)):
            sel = (mask[j] > 0) & keep[ids[j]]
            v = h[j][:, sel]
            v = v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)
            out.append((ids[j][sel], v.astype(np.float32)))
    return out


def main() -> None:
    global KEEP
    from sentence_transformers import SentenceTransformer

    enc = default_encoder()
    tj = enc.tokenizer_file()
    KEEP = keep_mask(tj)
    stop = stop_mask(tj)
    st = SentenceTransformer(str(Path(tj).parent), device="cpu")
    b = load_set(SET)
    correct = Correct(SET.parent)
    fit_arts, held_arts = split_articles(b.questions)
    arts = {}
    for rel, a in b.assistants.items():
        snap = a.store.snapshot
        texts = [s.text for s in snap.sentences]
        pieces = hidden_layers(st, texts)
        n = len(texts)
        df = {}
        for ids, _ in pieces:
            for t in set(ids.tolist()):
                df[t] = df.get(t, 0) + 1
        arts[rel] = (texts, pieces, df, n, [s.paragraph for s in snap.sentences])
    qs = [q for q in b.questions if q["answers"]]
    qp = hidden_layers(st, [q["question"] for q in qs])
    L = qp[0][1].shape[0]
    hits = {part: np.zeros((L, 2)) for part in ("fit", "held")}
    for q, (qids, qv) in zip(qs, qp):
        texts, pieces, df, n, paras = arts[q["article"]]
        content = ~stop[qids]
        if content.any():
            qids, qv = qids[content], qv[:, content]
        w = np.array([np.log1p((n - df.get(t, 0) + 0.5) / (df.get(t, 0) + 0.5)) for t in qids.tolist()])
        w = w / (w.sum() or 1.0)
        labels = np.array([correct(q, t) for t in texts])
        if not labels.any():
            continue
        part = "fit" if q["article"] in fit_arts else "held"
        for layer in range(L):
            scores = np.array([(np.maximum((sv[layer] @ qv[layer].T).max(0), 0) @ w) if len(sids) else 0.0
                               for sids, sv in pieces])
            hits[part][layer, 0] += labels[int(np.argmax(scores))]
            hits[part][layer, 1] += 1
    print("| layer | fit P@1 | held-out P@1 |")
    print("|---|---|---|")
    for layer in range(L):
        print(f"| {layer} | {hits['fit'][layer, 0] / hits['fit'][layer, 1]:.4f} | "
              f"{hits['held'][layer, 0] / hits['held'][layer, 1]:.4f} |")


if __name__ == "__main__":
    main()
