"""bench.fit with each index's context vectors replaced by late_layers.py's layer split (LATE_K: the layers run
alone per sentence; the rest read the paragraph): does the cheap pass keep the fitted gain?
    LATE_K=5 python bench/experiments/late_split_fit.py --augment ... --copies ... --report ..."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "experiments"))

import numpy as np  # noqa: E402

import bench.data as D  # noqa: E402
import bench.fit as F  # noqa: E402
import late_layers as L  # noqa: E402

K = int(os.environ.get("LATE_K", "5"))  # -3: the shipped pass with context.CONTEXT = $LATE_CTX; -2: the shipped pass on the int8 graph; -1: the full pass, with the article's title read first (not pooled)
CACHE = ROOT / "index" / "exp-late"
_orig = D.load_set
_model = {}


def model():  # type: ignore[no-untyped-def]
    if not _model:
        from sentence_transformers import SentenceTransformer

        enc = D.default_encoder()
        st = SentenceTransformer(str(Path(enc.tokenizer_file()).parent), device="cpu")
        _model["bert"], _model["tok"] = st[0].auto_model.eval(), st.tokenizer
    return _model["bert"], _model["tok"]


def int8():  # type: ignore[no-untyped-def]
    """The int8 graph (onnx_backend's variant) for the context pass only (LATE_K=-2)."""
    if "int8" not in _model:
        from retrieval.embed import model_path
        from retrieval.onnx_backend import OnnxEncoder

        _model["int8"] = OnnxEncoder(model_path(), variant="int8")
    return _model["int8"]


CTX = int(os.environ.get("LATE_CTX", "0"))


def read_after(bert, tok, ids, paras):  # type: ignore[no-untyped-def]
    """The shipped pass (context.windows) with context=CTX: a short pass read after the sentences before it."""
    import torch

    from retrieval.context import spans, windows

    lengths = [len(t) - 2 for t in ids]
    vec = np.zeros((len(ids), bert.config.hidden_size), np.float32)
    for w in windows(lengths, paras, context=CTX):
        c, a, b = w
        seq = [tok.cls_token_id] + [x for i in range(c, b) for x in ids[i][1:-1]] + [tok.sep_token_id]
        with torch.no_grad():
            h = bert(input_ids=torch.tensor([seq])).last_hidden_state[0].numpy()
        for i, (s, e) in zip(range(a, b), spans(lengths, w)):
            v = h[s:e].mean(0)
            vec[i] = v / max(float(np.linalg.norm(v)), 1e-12)
    return vec


def titled(bert, tok, ids, paras, titles):  # type: ignore[no-untyped-def]
    """The shipped pass (context.windows), each window read after its article's title (its pieces not pooled)."""
    import torch

    from retrieval.context import spans, windows

    lengths = [len(t) - 2 for t in ids]
    vec = np.zeros((len(ids), bert.config.hidden_size), np.float32)
    for c, a, b in windows(lengths, paras, window=256 - 16):
        head = tok(titles[a], add_special_tokens=False)["input_ids"][:14]
        seq = [tok.cls_token_id] + head + [x for i in range(c, b) for x in ids[i][1:-1]] + [tok.sep_token_id]
        with torch.no_grad():
            h = bert(input_ids=torch.tensor([seq])).last_hidden_state[0].numpy()
        for i, (s, e) in zip(range(a, b), spans(lengths, (c, a, b))):
            v = h[s + len(head):e + len(head)].mean(0)
            vec[i] = v / max(float(np.linalg.norm(v)), 1e-12)
    return vec


def load_set(path, **kw):  # type: ignore[no-untyped-def]
    b = _orig(path, **kw)
    for a in b.assistants.values():
        snap = a.store.snapshot
        if snap.tokens is None:
            continue
        texts = [s.text for s in snap.sentences]
        paras = [s.paragraph for s in snap.sentences]
        titles = [snap.articles[s.article_id].title for s in snap.sentences]
        key = hashlib.sha256(json.dumps([K, L.JOIN, texts, paras, titles if K < 0 else 0,
                                          CTX if K == -3 else 0]).encode()).hexdigest()[:16]
        f = CACHE / f"k{K}-{key}.npy"
        if f.exists():
            vec = np.load(f)
        else:
            bert, tok = model()
            ids = tok(texts, truncation=True, max_length=256)["input_ids"]
            vec = read_after(bert, tok, ids, paras) if K == -3 else int8().encode_context(texts, paras) if K == -2 else titled(bert, tok, ids, paras, titles) if K < 0 else L.split(bert, L.per_layer(bert, ids), ids, paras, K)
            CACHE.mkdir(parents=True, exist_ok=True)
            np.save(f, vec)
        object.__setattr__(snap, "tokens", snap.tokens.with_context(vec))
    return b


D.load_set = load_set
F.load_set = load_set
if os.environ.get("LATE_SWAP"):  # fitted on the odd half, scored on the even one (as swap_halves.py swap)
    _split = F.split_articles
    F.split_articles = lambda qs: tuple(reversed(_split(qs)))
sys.exit(F.main(sys.argv[1:]))
