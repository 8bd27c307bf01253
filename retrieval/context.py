"""Sentence vectors read in their paragraph ("late chunking"): one forward pass over a paragraph, each sentence's
word pieces mean-pooled.

A sentence embedded alone loses what its paragraph says around it (*This* was crushed by British troops; the
*second* attempt failed). Embedding the paragraph once and pooling each sentence's own pieces gives a second vector
per sentence that carries that context; the answerer scores both (bench/QUALITY.md, session 10: +1 point of held-out
P@1 on squad-v1.1-dev). Nothing extra is stored per piece: one vector per sentence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

#: Word pieces per forward pass, [CLS] and [SEP] included: the model's max_seq_length (it was trained on up to 256).
WINDOW = 256
#: Padded word pieces per batch of passes (a pass is up to 256 pieces long, and attention grows with the square of
#: that): on 1,301 SQuAD sentences 4,096 pieces peaked at +250 MB of RSS, 2,048 at +111 MB and 1,024 at +72-105 MB,
#: in the same time within the noise (6.6-7.5 s; bench/PERF.md, session 10). The sentence pass peaks at about
#: +170 MB on the same sentences.
BATCH_PIECES = 1024
#: A window holding fewer pieces than this is read after the sentences before it (context only, not pooled): a
#: news paragraph of one sentence then still has some context. 0: a paragraph is read alone.
CONTEXT = 0


def params() -> dict[str, int]:
    """How this version reads paragraphs, as an index's manifest records it: vectors made otherwise are made again."""
    return {"window": WINDOW, "context": CONTEXT}


def windows(lengths: Sequence[int], paragraphs: Sequence[object], *, window: int = WINDOW, context: int = CONTEXT
            ) -> list[tuple[int, int, int]]:
    """(first context sentence, first pooled sentence, end) of each forward pass over sentences of these piece
    counts (special tokens not counted): consecutive sentences of one paragraph, as many as fit in window - 2
    pieces, each pass after as many earlier sentences as bring it to `context` pieces (and still fit). A sentence
    longer than the window is a pass of its own (the encoder truncates it, as the sentence pass does)."""
    if len(lengths) != len(paragraphs):
        raise ValueError(f"lengths ({len(lengths)}) and paragraphs ({len(paragraphs)}) differ in length")
    room = window - 2
    out: list[tuple[int, int, int]] = []
    lo, size = 0, 0
    for i, n in enumerate(lengths):
        if i > lo and (paragraphs[i] != paragraphs[lo] or size + n > room):
            out.append((lo, lo, i))
            lo, size = i, 0
        size += n
    if len(lengths):
        out.append((lo, lo, len(lengths)))
    if context <= 0:
        return out
    done = []
    for _, a, b in out:
        size = sum(min(int(x), room) for x in lengths[a:b])
        c = a
        while c > 0 and size < context and size + lengths[c - 1] <= room:
            c -= 1
            size += lengths[c]
        done.append((c, a, b))
    return done


def spans(lengths: Sequence[int], window: tuple[int, int, int]) -> list[tuple[int, int]]:
    """Where each pooled sentence of a pass (first context sentence, first pooled, end) sits in its sequence:
    [CLS], the context sentences' pieces, the pooled sentences' pieces, [SEP]."""
    c, a, b = window
    start = 1 + sum(lengths[c:a])
    out = []
    for n in lengths[a:b]:
        out.append((start, start + n))
        start += n
    return out


def pool(hidden: np.ndarray, spans: Sequence[tuple[int, int]]) -> np.ndarray:
    """Unit mean vectors of hidden[start:end] for each (start, end) span of one pass's pieces."""
    out = np.zeros((len(spans), hidden.shape[-1]), np.float32)
    for k, (s, e) in enumerate(spans):
        if e > s:
            out[k] = hidden[s:e].mean(0)
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return out


def read(pieces: Sequence[np.ndarray], paragraphs: Sequence[object], *, cls: int, sep: int, dim: int,
         run: Callable[[list[np.ndarray], bool], np.ndarray],
         progress: Callable[[int, int], object] | None = None) -> np.ndarray:
    """Each sentence's unit vector read in its paragraph, whatever runs the model: pieces[i] are sentence i's word
    pieces without [CLS] / [SEP]; run(sequences, last) gives a batch's (b, longest, dim) last hidden states (padded
    as the backend pads; last: the call's final batch). Passes go longest first, in batches of BATCH_PIECES."""
    from .onnx_backend import _longest_first  # (numpy only at import; the backend's own batch order)

    out = np.zeros((len(pieces), dim), np.float32)
    lengths = [len(p) for p in pieces]
    wins = windows(lengths, paragraphs)
    seqs = [np.concatenate([[cls], *pieces[c:b], [sep]]).astype(np.int64) for c, _, b in wins]
    order = _longest_first(seqs)
    done, lo = 0, 0
    while lo < len(order):
        hi = lo + max(1, min(64, BATCH_PIECES // len(seqs[order[lo]])))
        idx = order[lo:hi]
        hidden = run([seqs[i] for i in idx], hi >= len(order))
        for j, w in enumerate(idx):
            _, a, b = wins[w]
            out[a:b] = pool(hidden[j], spans(lengths, wins[w]))
            done += b - a
        if progress is not None:
            progress(done, len(pieces))
        lo = hi
    return out
