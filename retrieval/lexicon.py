"""The lexical index's per-sentence reading (tokens, answer-type cues, anaphora) and the postings built from it, kept
beside a large index, so that a restart reads them back instead of every sentence (1,000,000 sentences: most of a
~25 s build).

One file per distinct content (`lexicon-<key>.npz`, numpy arrays only, no pickle); the key hashes the sentences'
texts, their paragraph layout and what the reading depends on (this format, the stop words, the stemmer's version),
so a file never answers for other sentences or other code. A missing, stale or damaged file is only a slower start:
it is read again.
"""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .fileio import write_atomic

log = logging.getLogger(__name__)

#: Below this many sentences the reading takes well under a second and nothing is kept on disk.
CACHE_MIN = 20_000
#: Bump when what the reading produces changes.
FORMAT = 2
PREFIX = "lexicon-"


@dataclass(frozen=True)
class Lexicon:
    """What _Index reads off each sentence: tokenize()'s tokens as CSR ids into vocab, and per-sentence cues."""

    vocab: list[str]
    indptr: np.ndarray  # int64 (n + 1,)
    ids: np.ndarray  # int32
    date: np.ndarray  # float32 (n,)
    number: np.ndarray
    person: np.ndarray
    anaphor: np.ndarray
    #: the BM25 postings built from them (answer._Postings.arrays() of "sent", "prefix", "para" as "sent_ptr", ...)
    postings: dict[str, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.indptr) - 1


def key(texts: Sequence[str], stopwords: frozenset[str], *, layout: np.ndarray | None = None) -> str:
    """The cache key of these sentences (in this paragraph layout: each one's paragraph number) read with this code
    (~0.3 s for 1,000,000 sentences)."""
    from importlib import metadata  # (here: importing it costs a small library's cold start ~12 ms it never needs)

    h = hashlib.sha256()
    try:
        stemmer = metadata.version("PyStemmer")
    except metadata.PackageNotFoundError:  # pragma: no cover - the stemmer is a dependency
        stemmer = "?"
    h.update(f"format {FORMAT}; PyStemmer {stemmer}; {len(texts)} sentences\n".encode())
    h.update("\n".join(sorted(stopwords)).encode("utf-8") + b"\0")
    if layout is not None:
        h.update(np.ascontiguousarray(layout, dtype=np.int64).tobytes() + b"\0")
    for t in texts:  # length-prefixed: no two lists of texts hash alike
        b = t.encode("utf-8", "surrogatepass")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()[:32]


def path_of(directory: Path, k: str) -> Path:
    return directory / f"{PREFIX}{k}.npz"


def load(directory: Path, k: str, n: int) -> Lexicon | None:
    """The lexicon kept under key k for n sentences, or None (not kept, or unreadable: then it is read again)."""
    path = path_of(directory, k)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != k:
                raise ValueError("it was written for other sentences")
            vocab_blob = z["vocab"].tobytes().decode("utf-8")
            postings = {name: z[name] for name in z.files if name.startswith(("sent_", "prefix_", "para_"))}
            lex = Lexicon(vocab_blob.split("\n") if vocab_blob else [], z["indptr"].astype(np.int64, copy=False),
                          z["ids"].astype(np.int32, copy=False), *(z[c].astype(np.float32, copy=False)
                                                                   for c in ("date", "number", "person", "anaphor")),
                          postings=postings or None)
        if len(lex) != n or int(lex.indptr[-1]) != len(lex.ids) or any(len(a) != n for a in
                                                                          (lex.date, lex.number, lex.person, lex.anaphor)):
            raise ValueError("its arrays do not fit the sentences")
        if len(lex.ids) and (int(lex.ids.min()) < 0 or int(lex.ids.max()) >= len(lex.vocab)):
            raise ValueError("its token ids fall outside its vocabulary")
        return lex
    except Exception as exc:  # noqa: BLE001 - any damage: read the sentences again
        log.warning("ignoring %s (%s); the sentences are read again", path, str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)
        return None


def save(directory: Path, k: str, lex: Lexicon) -> None:
    """Keep lex under key k (atomically), dropping the lexicons of other contents; a failure to write is logged."""
    try:
        buf = io.BytesIO()
        np.savez(buf, key=np.array(k), vocab=np.frombuffer("\n".join(lex.vocab).encode("utf-8"), dtype=np.uint8),
                 indptr=lex.indptr, ids=lex.ids, date=lex.date, number=lex.number, person=lex.person,
                 anaphor=lex.anaphor, **(lex.postings or {}))
        path = path_of(directory, k)
        write_atomic(path, buf.getvalue())
        for old in directory.glob(f"{PREFIX}*.npz"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError as exc:  # a read-only or full disk: the next start reads the sentences again
        log.warning("could not keep the lexical index's reading in %s (%s)", directory, exc)
