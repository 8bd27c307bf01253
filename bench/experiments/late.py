"""Late chunking: a sentence's vector and word pieces taken from one forward pass over its whole paragraph (or a
window of neighbouring sentences) instead of the sentence alone. Scored alone against the index's own vectors and
pieces: dense-only P@1 and soft-recall-only P@1 (as layers.py), squad-v1.1-dev's fit and held-out halves."""

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
from retrieval.embed import default_encoder  # noqa: E402
from retrieval.tokens import keep_mask, stop_mask  # noqa: E402

SET = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "bench" / "squad" / "squad-v1.1-dev.jsonl"
MAX = int(os.environ.get("LATE_MAX", "256"))
MODE = os.environ.get("LATE_MODE", "para")
CTX = int(os.environ.get("LATE_CTX", "0"))  # at least this many tokens in a window, from the sentences before it  # para: windows inside a paragraph; doc: windows across paragraphs


def windows(ids: list[list[int]], paras: list[int]) -> list[list[int]]:
    """Groups of consecutive sentences whose pieces fit MAX - 2 tokens (inside one paragraph unless MODE is doc)."""
    out: list[list[int]] = []
    cur: list[int] = []
    size = 0
    for i, t in enumerate(ids):
        brk = cur and ((MODE == "para" and paras[i] != paras[cur[-1]]) or size + len(t) > MAX - 2)
        if brk:
            out.append(cur)
            cur, size = [], 0
        cur.append(i)
        size += len(t)
    if cur:
        out.append(cur)
    return out


def late(st, texts: list[str], paras: list[int], keep: np.ndarray):  # type: ignore[no-untyped-def]
    """Per sentence: (unit mean vector, kept piece ids, unit piece vectors) from its window's forward pass."""
    tok = st.tokenizer
    model = st[0].auto_model
    ids = [tok(t, add_special_tokens=False, truncation=True, max_length=MAX - 2)["input_ids"] for t in texts]
    vec = np.zeros((len(texts), model.config.hidden_size), np.float32)
    pieces: list = [None] * len(texts)
    for w in windows(ids, paras):
        pre: list[int] = []
        if CTX:  # short paragraphs read with the sentences before them (pooled over the paragraph's own only)
            j = w[0] - 1
            size = sum(len(ids[i]) for i in w)
            while j >= 0 and size + len(pre) < CTX and len(pre) + len(ids[j]) + size <= MAX - 2:
                pre = ids[j] + pre
                j -= 1
        seq = [tok.cls_token_id] + pre + [x for i in w for x in ids[i]] + [tok.sep_token_id]
        with torch.no_grad():
            h = model(input_ids=torch.tensor([seq]), attention_mask=torch.ones(1, len(seq), dtype=torch.long)).last_hidden_state[0].numpy()
        at = 1 + len(pre)
        for i in w:
            hs = h[at:at + len(ids[i])]
            sid = np.array(ids[i], dtype=np.int64)
            at += len(ids[i])
            v = hs.mean(0) if len(hs) else np.zeros(h.shape[1], np.float32)
            vec[i] = v / max(np.linalg.norm(v), 1e-12)
            sel = keep[sid]
            pv = hs[sel]
            pieces[i] = (sid[sel], pv / np.maximum(np.linalg.norm(pv, axis=1, keepdims=True), 1e-12))
    return vec, pieces


def soft(pieces, qids: np.ndarray, qv: np.ndarray, df: dict[int, int], n: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    w = np.array([np.log1p((n - df.get(t, 0) + 0.5) / (df.get(t, 0) + 0.5)) for t in qids.tolist()])
    w = w / (w.sum() or 1.0)
    return np.array([(np.maximum((sv @ qv.T).max(0), 0) @ w) if len(sids) else 0.0 for sids, sv in pieces])


def main() -> None:
    from sentence_transformers import SentenceTransformer

    enc = default_encoder()
    tj = enc.tokenizer_file()
    keep, stop = keep_mask(tj), stop_mask(tj)
    st = SentenceTransformer(str(Path(tj).parent), device="cpu")
    b, qvecs, correct, fit_arts = squad_set(SET)
    arts = {}
    for rel, snap, texts, paras in article_sentences(b):
        lvec, lp = late(st, texts, paras, keep)
        own = [late(st, [t], [0], keep)[1][0] for t in texts]
        df: dict[int, int] = {}
        for ids, _ in own:
            for t in set(ids.tolist()):
                df[t] = df.get(t, 0) + 1
        arts[rel] = (texts, np.asarray(snap.vectors, np.float32), lvec, own, lp, df)
    names = ("dense", "dense_late", "dense+late", "soft", "soft_late", "soft_max")
    hits = {part: np.zeros((len(names), 2)) for part in ("fit", "held")}
    for q, qv in zip(b.questions, qvecs):
        if not q["answers"]:
            continue
        texts, svec, lvec, own, lp, df = arts[q["article"]]
        labels = np.array([correct(q, t) for t in texts])
        if not labels.any():
            continue
        qp = late(st, [q["question"]], [0], keep)[1][0]
        qids, qpv = qp
        content = ~stop[qids]
        if content.any():
            qids, qpv = qids[content], qpv[content]
        d, dl = svec @ qv, lvec @ qv
        s_own, s_late = soft(own, qids, qpv, df, len(texts)), soft(lp, qids, qpv, df, len(texts))
        part = "fit" if q["article"] in fit_arts else "held"
        for k, sc in enumerate((d, dl, d + dl, s_own, s_late, np.maximum(s_own, s_late))):
            hits[part][k, 0] += labels[int(np.argmax(sc))]
            hits[part][k, 1] += 1
    print(f"MODE {MODE} MAX {MAX}")
    print("| score | fit P@1 | held-out P@1 |")
    print("|---|---|---|")
    for k, name in enumerate(names):
        print(f"| {name} | {hits['fit'][k, 0] / hits['fit'][k, 1]:.4f} | {hits['held'][k, 0] / hits['held'][k, 1]:.4f} |")


if __name__ == "__main__":
    main()
