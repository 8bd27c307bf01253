"""The bench README's three reference recipes, over the same sentences and vectors as the answerer.

- ``dense``: top sentence by embedding similarity, abstaining below cosine 0.35;
- ``rrf``: BM25 + embedding reciprocal-rank fusion (k=60), same abstention (on the best cosine);
- ``chunk``: top 1,000-character chunk (200 overlap, the common recursive splitter: paragraphs, then lines, then
  words) by embedding similarity, same abstention threshold.
"""

from __future__ import annotations

import numpy as np

ABSTAIN_COSINE = 0.35
RRF_K = 60
CHUNK_CHARS, CHUNK_OVERLAP = 1000, 200


class SentenceRecipes:
    """Dense and RRF rankings over one article's sentences (vectors from the article's index)."""

    def __init__(self, sentences: list[str], vectors: np.ndarray) -> None:
        import bm25s

        self.sentences = sentences
        self.vectors = vectors
        self.bm25 = bm25s.BM25()
        self.bm25.index(bm25s.tokenize(sentences, stopwords="en", show_progress=False), show_progress=False)

    def dense(self, qvec: np.ndarray, k: int = 10) -> tuple[bool, list[str]]:
        cos = self.vectors @ qvec
        order = np.argsort(-cos)[:k]
        return bool(cos[order[0]] < ABSTAIN_COSINE), [self.sentences[i] for i in order]

    def rrf(self, question: str, qvec: np.ndarray, k: int = 10) -> tuple[bool, list[str]]:
        import bm25s

        cos = self.vectors @ qvec
        toks = bm25s.tokenize([question], stopwords="en", show_progress=False, return_ids=False)[0]
        known = [t for t in toks if t in self.bm25.vocab_dict]
        bm = np.asarray(self.bm25.get_scores(known), dtype=np.float64) if known else np.zeros(len(cos))
        n = len(cos)
        rank_d = np.empty(n); rank_d[np.argsort(-cos, kind="stable")] = np.arange(1, n + 1)
        rank_b = np.empty(n); rank_b[np.argsort(-bm, kind="stable")] = np.arange(1, n + 1)
        fused = 1.0 / (RRF_K + rank_d) + 1.0 / (RRF_K + rank_b)
        order = np.argsort(-fused, kind="stable")[:k]
        return bool(cos.max() < ABSTAIN_COSINE), [self.sentences[i] for i in order]


def chunks(body: str, size: int = CHUNK_CHARS, overlap: int = CHUNK_OVERLAP) -> list[str]:
    """The common recursive character splitter (as LangChain's RecursiveCharacterTextSplitter, chunk_size=1000,
    chunk_overlap=200): split on blank lines, then lines, then spaces, then characters, and merge neighbouring pieces
    up to `size` characters, carrying up to `overlap` characters of the previous chunk into the next. Each chunk is
    verbatim from the body."""
    return [c for c in _split(body, ["\n\n", "\n", " ", ""], size, overlap) if c]


def _split(text: str, separators: list[str], size: int, overlap: int) -> list[str]:
    separator, rest = separators[-1], []
    for i, sep in enumerate(separators):
        if sep == "" or sep in text:
            separator, rest = sep, separators[i + 1:]
            break
    pieces = text.split(separator) if separator else list(text)
    out: list[str] = []
    small: list[str] = []
    for piece in pieces:
        if len(piece) < size:
            small.append(piece)
            continue
        if small:
            out.extend(_merge(small, separator, size, overlap))
            small = []
        out.extend(_split(piece, rest, size, overlap) if rest else [piece])
    if small:
        out.extend(_merge(small, separator, size, overlap))
    return out


def _merge(pieces: list[str], sep: str, size: int, overlap: int) -> list[str]:
    docs: list[str] = []
    current: list[str] = []
    total = 0
    for piece in pieces:
        n = len(piece)
        if total + n + (len(sep) if current else 0) > size and current:
            doc = sep.join(current).strip()
            if doc:
                docs.append(doc)
            while total > overlap or (total + n + (len(sep) if current else 0) > size and total > 0):
                total -= len(current[0]) + (len(sep) if len(current) > 1 else 0)
                current.pop(0)
        current.append(piece)
        total += n + (len(sep) if len(current) > 1 else 0)
    doc = sep.join(current).strip()
    if doc:
        docs.append(doc)
    return docs


class ChunkRecipe:
    def __init__(self, pieces: list[str], vectors: np.ndarray) -> None:
        self.pieces = pieces
        self.vectors = vectors

    def rank(self, qvec: np.ndarray, k: int = 10) -> tuple[bool, list[str]]:
        cos = self.vectors @ qvec
        order = np.argsort(-cos)[:k]
        return bool(cos[order[0]] < ABSTAIN_COSINE), [self.pieces[i] for i in order]
