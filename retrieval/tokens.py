"""Contextual word-piece vectors of sentences, kept from the same forward pass that makes the sentence vectors.

A sentence vector is the mean of its word pieces' vectors; keeping the pieces lets the answerer match a question
word by word against a candidate sentence (the best-matching piece for each question piece, BERTScore-style), which
separates the sentence that answers from one that is merely about the same thing. Special tokens and punctuation
are left out; vectors are unit length, stored as float16.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class TokenVectors:
    """Word-piece ids and unit vectors of n sentences, concatenated; sentence i owns rows offsets[i]:offsets[i+1]."""

    ids: np.ndarray  # int32 (T,)
    offsets: np.ndarray  # int64 (n + 1,)
    vectors: np.ndarray  # float16 (T, dim)
    #: float32 (n, dim): each sentence's unit vector read in its paragraph (retrieval/context.py), when kept
    context: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.offsets.ndim != 1 or len(self.offsets) < 1 or int(self.offsets[0]) != 0:
            raise ValueError("offsets must be a 1-d array starting at 0")
        if int(self.offsets[-1]) != len(self.ids) or len(self.ids) != len(self.vectors):
            raise ValueError(f"offsets end at {int(self.offsets[-1])} but there are {len(self.ids)} ids and "
                             f"{len(self.vectors)} vectors")
        if self.context is not None and (self.context.ndim != 2 or len(self.context) != len(self.offsets) - 1):
            raise ValueError(f"{len(self.context)} context vectors for {len(self.offsets) - 1} sentences")

    def with_context(self, context: np.ndarray | None) -> "TokenVectors":
        """The same pieces with these context vectors."""
        return TokenVectors(self.ids, self.offsets, self.vectors, context)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def row(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of sentence i."""
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        return self.ids[a:b], self.vectors[a:b]

    def rows(self, lo: int, hi: int) -> "TokenVectors":
        """Sentences lo..hi-1 as their own TokenVectors (copies: the result outlives a memory-mapped parent)."""
        a, b = int(self.offsets[lo]), int(self.offsets[hi])
        return TokenVectors(np.array(self.ids[a:b]), np.array(self.offsets[lo:hi + 1] - a),
                            np.array(self.vectors[a:b]), None if self.context is None else np.array(self.context[lo:hi]))

    def take(self, rows: np.ndarray) -> "TokenVectors":
        """The given sentences, in the given order, as their own TokenVectors."""
        rows = np.asarray(rows, dtype=np.int64)
        offs = np.asarray(self.offsets)
        starts = offs[rows]
        counts = offs[rows + 1] - starts
        offsets = np.zeros(len(rows) + 1, np.int64)
        np.cumsum(counts, out=offsets[1:])
        idx = np.repeat(starts - offsets[:-1], counts) + np.arange(int(offsets[-1]), dtype=np.int64)
        return TokenVectors(np.asarray(self.ids)[idx], offsets, np.asarray(self.vectors)[idx],
                            None if self.context is None else np.asarray(self.context)[rows])

    @staticmethod
    def empty(dim: int) -> "TokenVectors":
        return TokenVectors(np.zeros(0, np.int32), np.zeros(1, np.int64), np.zeros((0, dim), np.float16),
                            np.zeros((0, dim), np.float32))

    @staticmethod
    def concat(parts: list["TokenVectors"], dim: int) -> "TokenVectors":
        """One TokenVectors of the parts' sentences, in order (with context vectors when every part has them)."""
        if not parts:
            return TokenVectors.empty(dim)
        counts = np.concatenate([np.diff(p.offsets) for p in parts])
        offsets = np.zeros(len(counts) + 1, np.int64)
        np.cumsum(counts, out=offsets[1:])
        context = None
        if all(p.context is not None for p in parts):
            context = np.concatenate([p.context for p in parts]).astype(np.float32, copy=False)  # type: ignore[misc]
        return TokenVectors(np.concatenate([p.ids for p in parts]).astype(np.int32, copy=False), offsets,
                            np.concatenate([p.vectors for p in parts]).astype(np.float16, copy=False), context)

    @staticmethod
    def from_batch(ids: np.ndarray, mask: np.ndarray, hidden: np.ndarray, keep: np.ndarray) -> "TokenVectors":
        """From one padded batch: (b, seq) ids and attention mask, (b, seq, dim) hidden states, keep[id] mask."""
        sel = (mask > 0) & keep[ids]
        counts = sel.sum(1)
        offsets = np.zeros(len(counts) + 1, np.int64)
        np.cumsum(counts, out=offsets[1:])
        vecs = hidden[sel].astype(np.float32, copy=False)  # (a new array already)
        # np.linalg.norm(vecs, axis=1)'s own arithmetic, without its wrapper (a question pays it on every answer)
        vecs /= np.maximum(np.sqrt(np.add.reduce(vecs * vecs, axis=1, keepdims=True)), 1e-12)
        return TokenVectors(ids[sel].astype(np.int32), offsets, vecs.astype(np.float16))

    @staticmethod
    def from_unpadded(ids: np.ndarray, hidden: np.ndarray, keep: np.ndarray) -> "TokenVectors":
        """from_batch of one sequence without padding, (seq,) ids and (seq, dim) hidden states: a question's, on the
        path of every answer (a third of from_batch's numpy calls; the same arrays)."""
        sel = keep[ids]
        vecs = hidden[sel].astype(np.float32, copy=False)
        vecs /= np.maximum(np.sqrt(np.add.reduce(vecs * vecs, axis=1, keepdims=True)), 1e-12)
        return TokenVectors(ids[sel].astype(np.int32), np.array([0, len(vecs)], dtype=np.int64), vecs.astype(np.float16))


@lru_cache(maxsize=4)
def _vocab(tokenizer_json: Path) -> tuple[dict[str, int], int]:
    """The tokenizer's word pieces and vocabulary size (read once for both masks), from the file's JSON: building a
    second Tokenizer only for this cost ~0.1 s of every cold start."""
    data = json.loads(Path(tokenizer_json).read_text(encoding="utf-8"))
    vocab = (data.get("model") or {}).get("vocab")
    if not isinstance(vocab, dict):  # not a WordPiece-style vocabulary: ask the tokenizer library
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(tokenizer_json))
        return tok.get_vocab(), tok.get_vocab_size()
    vocab = dict(vocab)
    for added in data.get("added_tokens") or []:
        vocab.setdefault(added["content"], int(added["id"]))
    return vocab, max(vocab.values(), default=-1) + 1


#: Bump when what the masks keep changes: masks cached under an older version are then made again.
MASK_VERSION = 1


@lru_cache(maxsize=4)
def _masks(tokenizer_json: Path) -> np.ndarray:
    """(2, vocab) bool: keep_mask and stop_mask. Going over the 30,000-piece vocabulary costs ~50 ms, a twentieth of a
    cold start, so the pair is kept in the model cache, keyed by the tokenizer file's and the stopword list's hashes."""
    from .answer import STOPWORDS
    from .fileio import sha256_file, write_atomic
    from .onnx_backend import default_cache_dir

    words = hashlib.sha256("\n".join(sorted(STOPWORDS)).encode("utf-8")).hexdigest()[:16]
    key = f"{sha256_file(Path(tokenizer_json))[:16]}-{words}-v{MASK_VERSION}"
    path = default_cache_dir() / f"vocab-masks-{key}.npy"
    try:
        masks = np.load(path, allow_pickle=False)
        if masks.dtype == np.bool_ and masks.ndim == 2 and masks.shape[0] == 2:
            return masks
    except (OSError, ValueError):
        pass  # not made yet, or damaged: made again below
    vocab, size = _vocab(tokenizer_json)
    keep = np.ones(size, dtype=bool)
    stop = np.zeros(size, dtype=bool)
    alnum = re.compile(r"[^\W_]").search  # a character c with c.isalnum(): what \w matches, less "_"
    for piece, i in vocab.items():
        if i >= size:
            continue
        word = piece[2:] if piece.startswith("##") else piece
        if (piece.startswith("[") and piece.endswith("]")) or alnum(word) is None:
            keep[i] = False
        if piece in STOPWORDS:
            stop[i] = True
    masks = np.stack([keep, stop])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.save(buf, masks, allow_pickle=False)
        write_atomic(path, buf.getvalue())
    except OSError:
        pass  # a read-only cache: made at every start
    return masks


def keep_mask(tokenizer_json: Path) -> np.ndarray:
    """keep[id]: the word pieces worth matching (not [CLS]/[SEP]/[PAD]/[UNK]/[MASK], not punctuation alone)."""
    return _masks(tokenizer_json)[0]


def stop_mask(tokenizer_json: Path) -> np.ndarray:
    """stop[id]: whole-word pieces that are English function words (left out of a question's pieces)."""
    return _masks(tokenizer_json)[1]


#: Up to this size the scorer keeps its index's piece vectors as float32 too (else it converts the candidates' pieces).
F32_CACHE_BYTES = 64 << 20
_HALF_CAST = None  # onnxruntime session casting float16 to float32 (made on first use)
_HALF_CAST_LOCK = threading.Lock()


def _half_cast():  # type: ignore[no-untyped-def] - an onnxruntime InferenceSession
    """One ONNX Runtime graph, a single Cast node (float16 -> float32, any shape), run on the calling thread."""
    global _HALF_CAST
    with _HALF_CAST_LOCK:
        if _HALF_CAST is None:
            import onnxruntime as ort
            from onnx import TensorProto, helper

            graph = helper.make_graph([helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT)], "half_to_float",
                                      [helper.make_tensor_value_info("x", TensorProto.FLOAT16, None)],
                                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
            model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
            model.ir_version = 8  # (what every onnxruntime of the last years reads)
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = opts.inter_op_num_threads = 1
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            _HALF_CAST = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        return _HALF_CAST


def _as_float32(half: np.ndarray) -> np.ndarray:
    """float16 -> float32 by ONNX Runtime's vectorised Cast: numpy's astype runs a scalar loop here (~1.7 ns a value,
    1.29 ms for a mid-size shortlist's ~770,000 values; a lookup table 0.69 ms, Cast 0.07 ms; bench/PERF.md session
    12). The same bits as astype for every value but NaNs (a signalling NaN comes out quiet), which unit vectors
    never hold."""
    return _half_cast().run(None, {"x": np.ascontiguousarray(half, dtype=np.float16)})[0]


#: Multiply-adds per block of the per-question product (below OpenBLAS's threading threshold).
_GEMM_BLOCK = 200_000

#: Row lists whose piece layout (_Plan) a TokenScorer keeps.
_PLAN_CACHE = 64
#: Where a row list's pieces are: (positions in the list of the rows with pieces, each one's first piece in the
#: matrix, the matrix as a slice (lo, hi) of all pieces or else as gathered piece indices, a mask of the slice's
#: pieces that belong to the rows or None when all do).
_Plan = tuple[np.ndarray, np.ndarray, "tuple[int, int] | None", "np.ndarray | None", "np.ndarray | None"]

#: The soft-match features, in the order TokenScorer.features returns them.
FEATURES = ("tok_rec", "tok_rec_z", "tok_rec_gap", "tok_ctx", "tok_ctx_z")


class TokenScorer:
    """Soft word-by-word match of a question against candidate sentences, IDF-weighted over one snapshot's pieces."""

    def __init__(self, tokens: TokenVectors, vocab_size: int) -> None:
        self.tokens = tokens
        self.n = len(tokens)
        ids = np.asarray(tokens.ids, dtype=np.int64)
        sent = np.repeat(np.arange(self.n, dtype=np.int64), np.diff(np.asarray(tokens.offsets)))
        size = max(vocab_size, int(ids.max()) + 1 if len(ids) else 0)
        pairs = np.sort(sent * size + ids)  # each piece once per sentence: document frequency
        pairs = pairs[np.r_[True, pairs[1:] != pairs[:-1]]] if len(pairs) else pairs  # (np.unique imports numpy.ma, ~20 ms)
        self.df = np.bincount(pairs % size, minlength=size).astype(np.float32)
        # small indexes keep a float32 copy, so a question converts nothing (a seed-sized article: ~1.5 MB)
        vecs = tokens.vectors
        self.f32 = np.asarray(vecs, dtype=np.float32) if vecs.size * 4 <= F32_CACHE_BYTES else None
        if self.f32 is None:
            _half_cast()  # (made here, with the snapshot's structures, rather than at the first question)
        self._plans: dict[bytes, _Plan | None] = {}
        self._pair_cache: dict[bytes, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def idf(self, ids: np.ndarray) -> np.ndarray:
        df = self.df[np.minimum(ids, len(self.df) - 1)] if len(self.df) else np.zeros(len(ids), np.float32)
        return np.log1p((self.n - df + 0.5) / (df + 0.5)).astype(np.float32)

    def _best(self, q: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """(len(rows), q pieces): each question piece's best cosine within each row's sentence (0 for none/-1)."""
        out = np.zeros((len(rows), len(q)), dtype=np.float32)
        rows = np.asarray(rows, dtype=np.int64)
        plan = self._plan(rows)
        if plan is None:
            return out
        js, starts, span, idx, keep = plan
        if self.f32 is not None:
            mat = self.f32[span[0]:span[1]] if span is not None else self.f32[idx]
        else:
            mat = _as_float32(self.tokens.vectors[span[0]:span[1]] if span is not None else self.tokens.vectors[idx])
        # (all candidate pieces, q pieces) in row blocks small enough for OpenBLAS to stay on the calling thread:
        # waking its threads on a busy machine costs milliseconds, far more than the product
        step = max(1, _GEMM_BLOCK // max(1, q.shape[0] * q.shape[1]))
        qt = np.ascontiguousarray(q.T)
        sims = np.concatenate([mat[i:i + step] @ qt for i in range(0, len(mat), step)])
        if keep is not None:
            sims[~keep] = -1.0
        best = np.maximum.reduceat(sims, starts, axis=0)  # (kept rows, q pieces)
        out[js] = np.maximum(best, 0.0)
        return out

    def _pairs(self, rows: np.ndarray, prev: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The distinct rows of rows and prev (a candidate is often another's previous: each is matched once) and
        where each of rows and prev is among them; cached per (rows, prev) like _plan."""
        key = len(rows).to_bytes(8, "little") + rows.tobytes() + prev.tobytes()
        got = self._pair_cache.get(key)  # one lookup: another thread may clear the cache meanwhile
        if got is None:
            both = np.concatenate([rows, prev])
            uniq = np.sort(both)
            first = np.ones(len(uniq), dtype=bool)
            first[1:] = uniq[1:] != uniq[:-1]
            uniq = uniq[first]
            inv = np.searchsorted(uniq, both)
            got = (uniq, inv[:len(rows)], inv[len(rows):])
            for a in got:
                a.flags.writeable = False
            if len(self._pair_cache) >= _PLAN_CACHE:
                self._pair_cache.clear()
            self._pair_cache[key] = got
        return got

    def _plan(self, rows: np.ndarray) -> _Plan | None:
        """Where the pieces of rows are (None: no row has any), cached per row list: an article's shortlist is often
        all of it, the same rows for every question, and the plan is most of _best's numpy calls."""
        key = rows.tobytes()
        plan = self._plans.get(key, False)  # one lookup: another thread may clear the cache meanwhile
        if plan is False:
            plan = self._make_plan(rows)
            if len(self._plans) >= _PLAN_CACHE:
                self._plans.clear()
            self._plans[key] = plan
        return plan

    def _make_plan(self, rows: np.ndarray) -> _Plan | None:
        """_plan's value: one slice of the pieces when the rows are ascending and nearly contiguous, else a gather."""
        js = np.flatnonzero(rows >= 0)
        if not len(js):
            return None
        offs = np.asarray(self.tokens.offsets)
        rs = rows[js]
        lo, counts = offs[rs], offs[rs + 1] - offs[rs]
        nonempty = counts > 0
        js, lo, counts = js[nonempty], lo[nonempty], counts[nonempty]
        if not len(js):
            return None
        span_lo, span_hi = int(lo[0]), int(lo[-1] + counts[-1])
        span: tuple[int, int] | None = None
        idx = keep = None
        if np.all(np.diff(rs[nonempty]) > 0) and span_hi - span_lo <= 2 * int(counts.sum()):
            # ascending rows over a mostly-contiguous span (an article's shortlist): one slice, no gather; the
            # pieces of rows not asked for fall inside a reduceat segment only as the tail after an asked row
            starts = lo - span_lo
            ends = starts + counts
            span = (span_lo, span_hi)
            if not np.array_equal(ends[:-1], starts[1:]):  # gaps: mask the unasked pieces out of each segment
                keep = np.zeros(span_hi - span_lo, dtype=bool)
                keep[np.repeat(starts, counts) + np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)] = True
        else:
            starts = np.zeros(len(counts), np.int64)
            np.cumsum(counts[:-1], out=starts[1:])
            idx = np.repeat(lo - starts, counts) + np.arange(int(counts.sum()), dtype=np.int64)
        for a in (js, starts, idx, keep):
            if a is not None:
                a.flags.writeable = False
        return js, starts, span, idx, keep

    def features(self, qids: np.ndarray, qvecs: np.ndarray, rows: np.ndarray, prev: np.ndarray) -> np.ndarray:
        """FEATURES of each candidate row: its IDF-weighted soft recall of the question's pieces, alone and with
        the previous sentence of its paragraph (prev[i] = -1 when none), raw, z-scored and as a gap to the best."""
        out = np.zeros((len(rows), len(FEATURES)), dtype=np.float32)
        if not len(rows) or not len(qids):
            return out
        q = np.asarray(qvecs, dtype=np.float32)
        w = self.idf(np.asarray(qids, dtype=np.int64))
        w = w / (float(w.sum()) or 1.0)
        uniq, at_row, at_prev = self._pairs(np.asarray(rows, dtype=np.int64), np.asarray(prev, dtype=np.int64))
        best = self._best(q, uniq)
        own = best[at_row]
        ctx = np.maximum(own, best[at_prev])
        rec, crec = own @ w, ctx @ w
        out[:, 0] = rec
        out[:, 1] = zscore(rec)
        out[:, 2] = rec - rec.max()
        out[:, 3] = crec
        out[:, 4] = zscore(crec)
        return out


def question_pieces(tokens: TokenVectors, stop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A question's pieces worth matching: its kept pieces minus function words (all kept ones if that is none)."""
    ids, vecs = tokens.row(0)
    content = ~stop[np.minimum(ids, len(stop) - 1)]
    if content.any():
        return ids[content], vecs[content]
    return ids, vecs


def zscore(x: np.ndarray) -> np.ndarray:
    """x standardised within its list (zeros when it does not vary): scores comparable across questions."""
    n = len(x)
    if n < 2:
        return np.zeros_like(x)
    d = x - _mean(x)
    sd = math.sqrt(float(d @ d) / n)  # (x.std() costs ~4x more on the short lists ranked here)
    return d / sd if sd > 1e-9 else np.zeros_like(x)


def _mean(x: np.ndarray) -> float:
    """float(x.mean()) of a 1-d array, bit for bit, without np.mean's Python wrapper (~4 us of ~5 per short list)."""
    if x.dtype != np.float32 and x.dtype != np.float64:  # (np.mean sums float16 in float32, integers in float64)
        return float(x.mean())
    # np.mean: a pairwise sum in x's dtype, divided by the count as float64, rounded back to x's dtype
    return float(x.dtype.type(float(np.add.reduce(x)) / len(x)))
