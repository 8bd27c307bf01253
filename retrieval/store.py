"""The persisted index: a FAISS index of sentence vectors, sentence metadata and a JSON manifest, saved together."""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

import numpy as np

from .fileio import fsync_dir, sha256_file, write_atomic_with
from .embed import Encoder
from .errors import IndexCorrupt
from .ingest import Article, Paragraph, Sentence
from .context import params as context_params
from .tokens import TokenVectors

if TYPE_CHECKING:
    import faiss  # imported where an index is built, saved, read as IVF or searched: a small library's start never
    #               needs it (~50 ms and 14 MB of a ~0.5 s, ~140 MB start; bench/PERF.md, session 15)

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
#: Below this many vectors search is exact (IndexFlatIP); above it an IVF index keeps queries fast. An exact search
#: reads every vector: 1 ms at 10,000, 7 ms at 50,000 and 31 ms at 200,000 here, where the IVF index answers in
#: 0.2-0.5 ms with recall@10 >= 0.997 (bench/PERF.md, session 9). The answerer scans every sentence up to this size
#: and only searches FAISS above it (answer.FULL_SCAN_LIMIT is this limit).
EXACT_LIMIT = 10_000
#: An IVF query probes lists enough to scan about this many vectors: at 20,000 vectors (512 lists) 16 probed lists
#: found 0.975 of the exact top 10, 64 lists 0.993 and 128 lists 0.999 (bench/PERF.md, session 9).
IVF_SCAN = 4096
#: How an IVF index codes its lists' vectors (see build_faiss): the name of a faiss.ScalarQuantizer code type.
IVF_CODE = "QT_fp16"
#: Word-piece vectors (~11 KB a sentence on disk, memory-mapped) are kept while an index holds at most this many
#: sentences; above it the answerer ranks without them (weights fitted for that case, see bench/fit.py).
TOKEN_LIMIT = 50_000
#: Optional files of the token vectors: manifest role -> file name prefix.
TOKEN_FILES = {"token_vectors": "tokens", "token_ids": "tokids", "token_offsets": "tokoff"}
#: ... and of the sentences' vectors read in their paragraph (retrieval/context.py), kept with the token vectors.
CONTEXT_FILES = {"token_context": "tokctx"}
#: ... and of the exact sentence vectors, kept beside an index that does not hold them (IVF; a flat index does).
VECTOR_FILES = {"sentence_vectors": "sentvec"}
#: Every .npy file an index may hold.
_NPY_FILES = {**TOKEN_FILES, **CONTEXT_FILES, **VECTOR_FILES}

#: Temporary files older than this are leftovers of a killed build and are removed at the next save.
STALE_TMP_SECONDS = 600

ProgressFn = Callable[[int, int], None]


class TerminalProgress:
    """The default sync progress: a tqdm bar on stderr while sentences are embedded (silent when not a terminal)."""

    def __init__(self, desc: str = "Indexing") -> None:
        self.desc = desc
        self.bar = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            from tqdm import tqdm

            class Bar(tqdm):  # type: ignore[misc, valid-type]
                # no monitor thread: it would outlive the bar, and a process running a second thread parses its
                # next build's files in one process only (ingest.read_articles)
                monitor_interval = 0

            self.bar = Bar(total=total, desc=self.desc, unit="sentence", disable=None, dynamic_ncols=True)
        self.bar.update(done - self.bar.n)
        if done >= total:
            self.bar.close()





def ivf_params(n: int) -> tuple[int, int]:
    """(nlist, nprobe) of the IVF index of n vectors: ~4 sqrt(n) lists (faiss's guideline is 4-16 sqrt(n)), so a
    query probes small lists; 16 probed of ~4,000 at 1M keep recall@10 >= 0.99 against exact search (bench.perf)
    at a fifth of the vectors the former 32 of 1,024 scanned. Smaller indexes probe more of their lists (IVF_SCAN
    vectors or so): their lists are short, and 16 of them found too few of the nearest sentences."""
    nlist = max(64, int(round(4 * np.sqrt(n) / 64)) * 64)
    nlist = max(1, min(nlist, n // 39))  # faiss wants ~39 training points a list
    return nlist, _nprobe(nlist, n)


def _nprobe(nlist: int, n: int) -> int:
    """Lists an IVF query probes: ~IVF_SCAN vectors' worth, at least 16 and 1/256 of them, at most all."""
    return min(nlist, max(16, nlist // 256, round(nlist * IVF_SCAN / max(n, 1))))


def build_faiss(vectors: np.ndarray, *, exact_limit: int = EXACT_LIMIT, previous: faiss.Index | None = None,
                kept: int = 0) -> faiss.Index:
    """Choose the index type by size: exact inner product when small, IVF with float16 lists above exact_limit.

    HNSW inserts ~400-1,000 vectors/s on 2 cores (1M would take most of an hour); IVF builds 1M in about a minute
    with recall@10 >= 0.99 against exact search (bench.perf). The index file keeps nprobe. The answerer scores
    FAISS's candidates with the exact vectors (Snapshot.vectors, saved beside an IVF index), so the lists need only
    pick them: float16 codes (IVF_CODE) take half the memory of float32 ones and found the same top 128 at 1M
    (bench/experiments/ivf_sq.py, session 13).

    previous: the index these vectors replace, whose first `kept` vectors are their first `kept` rows. An IVF index
    trained for about this many vectors is reused (REUSE_NLIST): when it holds exactly those rows (an article added
    at the end), a copy of it takes the new rows only; otherwise its trained centroids take every vector. Training
    is most of an IVF build (bench/PERF.md, session 9)."""
    import faiss

    dim = vectors.shape[1]
    n = len(vectors)
    if n <= exact_limit:
        index: faiss.Index = faiss.IndexFlatIP(dim)
    else:
        old = _reusable_ivf(previous, n, dim)
        if old is not None and kept == old.ntotal and _is_ivf_fp16(old):  # (an IVFFlat of an older build: its
            index = faiss.clone_index(old)                                  # centroids only, below)
            index.nprobe = _nprobe(index.nlist, n)
            index.add(np.ascontiguousarray(vectors[kept:], dtype=np.float32))
            return index
        quantizer = faiss.IndexFlatIP(dim)
        if old is not None:
            nlist = old.nlist
            quantizer.add(faiss.downcast_index(old.quantizer).reconstruct_n(0, nlist))
        else:
            nlist = ivf_params(n)[0]
        index = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, getattr(faiss.ScalarQuantizer, IVF_CODE),
                                              faiss.METRIC_INNER_PRODUCT)
        index.referenced_objects = [quantizer]  # keep the quantizer alive as long as the index
        if old is None:
            index.cp.niter = 10
            rng = np.random.default_rng(1)
            sample = vectors[rng.choice(n, min(n, 40 * nlist), replace=False)]
            index.train(np.ascontiguousarray(sample, dtype=np.float32))
        else:
            index.is_trained = True  # (float16 codes need no training of their own)
        index.nprobe = _nprobe(nlist, n)
    if n:
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


#: An IVF index is reused while the lists ivf_params would give this many vectors are within this factor of its own
#: (lists grow with the square root of the size: from a quarter to 2.25 times the vectors it was trained for).
REUSE_NLIST = 1.5


def _is_ivf_fp16(index: faiss.Index) -> bool:
    import faiss

    return isinstance(index, faiss.IndexIVFScalarQuantizer) and index.sq.qtype == getattr(faiss.ScalarQuantizer, IVF_CODE)


def _reusable_ivf(previous: faiss.Index | None, n: int, dim: int) -> faiss.IndexIVF | None:
    """previous as an IVF index (this build's, or an IVFFlat of an older one) worth reusing for n vectors of dim."""
    if previous is None:
        return None
    import faiss

    old = faiss.downcast_index(previous)
    if not (isinstance(old, faiss.IndexIVFFlat) or _is_ivf_fp16(old)) or old.d != dim or not old.is_trained:
        return None
    ratio = ivf_params(n)[0] / old.nlist
    return old if 1 / REUSE_NLIST <= ratio <= REUSE_NLIST else None


#: faiss.write_index's layout of an IndexFlatIP: the fourcc, then d (int32), ntotal (int64), two unused int64,
#: is_trained (1 byte), the metric (int32, 0 = inner product), the count of float32 codes (int64), then the codes.
_FLAT_IP = b"IxFI"
_FLAT_HEADER = np.dtype([("fourcc", "S4"), ("d", "<i4"), ("ntotal", "<i8"), ("unused", "<i8", 2),
                         ("trained", "u1"), ("metric", "<i4"), ("codes", "<i8")])


def read_flat_vectors(path: Path, dim: int) -> np.ndarray | None:
    """The vectors of an IndexFlatIP file as faiss.write_index lays it out, read without importing faiss (a flat index
    is its vectors); None when the file is anything else, which faiss.read_index then reads. Read into memory rather
    than mapped: the codes start at byte 45, and numpy scans a misaligned float32 array ~30 % slower."""
    size = path.stat().st_size
    if size < _FLAT_HEADER.itemsize:
        return None
    with open(path, "rb") as fh:
        head = np.fromfile(fh, dtype=_FLAT_HEADER, count=1)[0]
        n = int(head["ntotal"])
        if (head["fourcc"] != _FLAT_IP or int(head["d"]) != dim or int(head["trained"]) != 1
                or int(head["metric"]) != 0 or int(head["codes"]) != n * dim
                or size != _FLAT_HEADER.itemsize + 4 * n * dim):
            return None
        return np.fromfile(fh, dtype="<f4", count=n * dim).reshape(n, dim)


class _FlatFromVectors:
    """A snapshot's exact FAISS index, made from its vectors at first use: a library read from a flat file answers by
    scanning its vectors and never needs the FAISS object unless it is searched or changed."""

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = vectors
        self._index: faiss.Index | None = None
        self._lock = threading.Lock()

    def get(self) -> faiss.Index:
        with self._lock:
            if self._index is None:
                self._index = build_faiss(self.vectors, exact_limit=len(self.vectors))
            return self._index


def _article_to_json(a: Article) -> dict:
    return {"id": a.id, "title": a.title, "date": a.date, "path": a.path, "format": a.format,
            "sha256": a.sha256, "source": a.source,
            "paragraphs": [[p.start, p.end] for p in a.paragraphs],
            "sentences": [[s.paragraph, s.start, s.end] for s in a.sentences]}


def _article_from_json(d: dict) -> Article:
    src = d["source"]
    a = Article(id=d["id"], title=d["title"], date=d.get("date"), source=src, format=d.get("format", "text"),
                path=d.get("path"))
    a.paragraphs = [Paragraph(i, s, e, src[s:e]) for i, (s, e) in enumerate(d["paragraphs"])]
    a.sentences = [Sentence(a.id, p, i, s, e, src[s:e]) for i, (p, s, e) in enumerate(d["sentences"])]
    if a.sha256 != d["sha256"]:
        raise IndexCorrupt(f"article {a.id} in the index does not match its recorded hash")
    return a


@dataclass(frozen=True)
class Snapshot:
    """An immutable view of the index; searches use one while an update builds the next."""

    articles: dict[str, Article]
    sentences: list[Sentence]  # row i of vectors is sentences[i]
    vectors: np.ndarray
    index_source: Any  # a faiss.Index, or _FlatFromVectors (a flat index made from `vectors` at first use)
    offsets: dict[str, tuple[int, int]] = field(default_factory=dict)  # article id -> row range
    version: str = ""
    tokens: TokenVectors | None = None  # word-piece vectors of every sentence, when the index keeps them

    @staticmethod
    def make(articles: dict[str, Article], vectors_by_article: dict[str, np.ndarray], dim: int,
             *, exact_limit: int = EXACT_LIMIT, tokens_by_article: dict[str, TokenVectors] | None = None,
             tokens: TokenVectors | None = None, previous: "Snapshot | None" = None) -> "Snapshot":
        """tokens: every article's word pieces already in the articles' order (a fresh build's, as encoded: no
        per-article copies to join); else tokens_by_article are joined in that order. previous: the snapshot this
        one replaces (its FAISS index is reused where build_faiss can)."""
        sentences: list[Sentence] = []
        blocks = []
        offsets = {}
        for aid, art in articles.items():
            offsets[aid] = (len(sentences), len(sentences) + len(art.sentences))
            sentences.extend(art.sentences)
            blocks.append(vectors_by_article[aid])
        vectors = np.vstack(blocks).astype(np.float32) if blocks else np.zeros((0, dim), np.float32)
        if tokens is None and tokens_by_article is not None and all(aid in tokens_by_article for aid in articles):
            tokens = TokenVectors.concat([tokens_by_article[aid] for aid in articles], dim)
        kept = 0
        if previous is not None:  # the leading articles that are the previous snapshot's, unchanged and in place
            for (aid, art), (pid, part) in zip(articles.items(), previous.articles.items()):
                if aid != pid or art is not part:
                    break
                kept += len(art.sentences)
        # (a flat index is never reused, so one not made yet is not made just to be looked at)
        reusable = None if previous is None or isinstance(previous.index_source, _FlatFromVectors) else previous.index
        index = build_faiss(vectors, exact_limit=exact_limit, previous=reusable, kept=kept)
        return Snapshot(articles, sentences, vectors, index, offsets, uuid.uuid4().hex[:12], tokens)

    @property
    def index(self) -> faiss.Index:
        """The FAISS index of `vectors` (searched above the answerer's full-scan limit)."""
        src = self.index_source
        return src.get() if isinstance(src, _FlatFromVectors) else src

    def article_vectors(self, aid: str) -> np.ndarray:
        lo, hi = self.offsets[aid]
        return self.vectors[lo:hi]

    def article_tokens(self, aid: str) -> TokenVectors | None:
        """One article's word-piece vectors (None when the index keeps none)."""
        if self.tokens is None:
            return None
        lo, hi = self.offsets[aid]
        return self.tokens.rows(lo, hi)


@dataclass
class SyncReport:
    """What a sync did: ids added, re-indexed, removed and left as they were, and sentences embedded."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    embedded: int = 0
    seconds: float = 0.0


class Store:
    """An index directory: load it, keep it in step with articles (embedding only what changed), save atomically."""

    def __init__(self, directory: str | Path, encoder: Encoder, *, exact_limit: int = EXACT_LIMIT) -> None:
        self.directory = Path(directory)
        self.encoder = encoder
        self.exact_limit = exact_limit
        self._write_lock = threading.Lock()
        empty = np.zeros((0, encoder.dimension), np.float32)
        self._snapshot = Snapshot({}, [], empty, _FlatFromVectors(empty))

    @property
    def snapshot(self) -> Snapshot:
        """The current immutable view (safe to use from any thread)."""
        return self._snapshot

    # ---- loading -------------------------------------------------------------------------------
    def load(self) -> bool:
        """Load the saved index; False when there is none, IndexCorrupt when it is damaged or foreign."""
        mpath = self.directory / MANIFEST
        if not mpath.exists():
            return False
        try:
            manifest = json.loads(mpath.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise IndexCorrupt(f"{mpath}: unreadable manifest ({exc})") from exc
        if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
            raise IndexCorrupt(f"{mpath}: index format {manifest.get('format_version') if isinstance(manifest, dict) else '?'} "
                               f"is not {FORMAT_VERSION}")
        if manifest.get("model") != self.encoder.name or manifest.get("dimension") != self.encoder.dimension:
            raise IndexCorrupt(f"{mpath}: built with {manifest.get('model')} ({manifest.get('dimension')} dims), "
                               f"not {self.encoder.name} ({self.encoder.dimension} dims)")
        files = manifest.get("files", {})
        for role in ("vectors", "articles"):
            entry = files.get(role)
            if not entry:
                raise IndexCorrupt(f"{mpath}: the manifest names no {role} file")
            fpath = self.directory / entry["name"]
            if not fpath.exists():
                raise IndexCorrupt(f"{fpath}: missing ({role} file of the index)")
            if sha256_file(fpath) != entry["sha256"]:
                raise IndexCorrupt(f"{fpath}: checksum does not match the manifest (truncated or corrupted)")
        vpath = self.directory / files["vectors"]["name"]
        flat = None
        try:
            if manifest.get("index_type") == "IndexFlatIP":
                flat = read_flat_vectors(vpath, self.encoder.dimension)
            if flat is None:
                import faiss

                index = faiss.read_index(str(vpath))
            payload = json.loads((self.directory / files["articles"]["name"]).read_text(encoding="utf-8"))
            articles = {d["id"]: _article_from_json(d) for d in payload["articles"]}
        except IndexCorrupt:
            raise
        except Exception as exc:  # faiss raises RuntimeError on damaged files
            raise IndexCorrupt(f"{self.directory}: cannot read the index ({str(exc).splitlines()[0][:200]})") from exc
        count = sum(len(a.sentences) for a in articles.values())
        ntotal, d = flat.shape if flat is not None else (index.ntotal, index.d)
        if ntotal != count or d != self.encoder.dimension or manifest.get("count") != count:
            raise IndexCorrupt(f"{self.directory}: the index holds {ntotal} vectors for {count} sentences")
        (role,) = VECTOR_FILES
        if flat is not None:  # a flat file read as its vectors: faiss is imported only if the index is ever needed
            vectors, index = flat, _FlatFromVectors(flat)
        elif role in files:  # an IVF index's exact vectors (its lists hold float16 codes)
            vectors = self._read_npy(files, role)
            if vectors.shape != (count, self.encoder.dimension) or vectors.dtype != np.float32:
                raise IndexCorrupt(f"{self.directory / files[role]['name']}: sentence vectors of shape "
                                   f"{vectors.shape} ({vectors.dtype}) for {count} sentences")
        elif not isinstance(faiss.downcast_index(index), (faiss.IndexFlat, faiss.IndexIVFFlat)):
            raise IndexCorrupt(f"{mpath}: the manifest names no sentence vectors for a {type(index).__name__}")
        else:  # a flat index holds them exactly (as does the IVFFlat that builds before session 13 made)
            vectors = index.reconstruct_n(0, index.ntotal) if index.ntotal else np.zeros((0, index.d), np.float32)
        offsets = {aid: (lo, lo + len(a.sentences)) for aid, a, lo in _ranges(articles)}
        sentences = [s for a in articles.values() for s in a.sentences]
        tokens = self._load_tokens(files, count, manifest.get("context"))
        self._snapshot = Snapshot(articles, sentences, vectors, index, offsets, str(manifest.get("version", "")),
                                  tokens)
        return True

    def _load_tokens(self, files: dict, count: int, made_with: object = None) -> TokenVectors | None:
        """The word-piece vectors, memory-mapped and checked; None when the index has none (an older build). Their
        context vectors only if they were made as this version makes them (made_with: the manifest's record)."""
        if not all(role in files for role in TOKEN_FILES):
            return None
        vecs, ids, offs = (self._read_npy(files, role) for role in TOKEN_FILES)
        context = None
        (role,) = CONTEXT_FILES
        # (an index built before session 10 has none, and one made with other passes has the wrong ones: the next
        # sync embeds it again, once)
        if role in files and made_with == context_params():
            context = self._read_npy(files, role)
            if context.ndim != 2 or context.shape[1] != self.encoder.dimension or context.dtype != np.float32:
                raise IndexCorrupt(f"{self.directory / files[role]['name']}: context vectors of shape "
                                   f"{context.shape} ({context.dtype})")
        try:
            tokens = TokenVectors(ids, offs, vecs, context)
        except ValueError as exc:
            raise IndexCorrupt(f"{self.directory}: token vectors do not line up ({exc})") from exc
        if len(tokens) != count or vecs.ndim != 2 or vecs.shape[1] != self.encoder.dimension:
            raise IndexCorrupt(f"{self.directory}: token vectors for {len(tokens)} sentences, not {count}")
        return tokens

    def _read_npy(self, files: dict, role: str) -> np.ndarray:
        """One .npy file the manifest names for role, checked against its checksum and memory-mapped."""
        fpath = self.directory / files[role]["name"]
        if not fpath.exists():
            raise IndexCorrupt(f"{fpath}: missing ({role} file of the index)")
        if sha256_file(fpath) != files[role]["sha256"]:
            raise IndexCorrupt(f"{fpath}: checksum does not match the manifest (truncated or corrupted)")
        try:
            return np.load(fpath, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise IndexCorrupt(f"{fpath}: unreadable ({exc})") from exc

    # ---- updating ------------------------------------------------------------------------------
    def sync(self, articles: Iterable[Article], *, remove_missing: bool = False,
             progress: ProgressFn | None = None) -> SyncReport:
        """Bring the index in step with these articles: embed new or changed ones only, then save."""
        t0 = time.perf_counter()
        with self._write_lock:
            old = self._snapshot
            report = SyncReport()
            wanted = {a.id: a for a in articles}
            merged: dict[str, Article] = {}
            vba: dict[str, np.ndarray] = {}
            todo: list[Article] = []
            for aid, art in old.articles.items():
                if aid in wanted:
                    continue
                if remove_missing:
                    report.removed.append(aid)
                else:
                    merged[aid] = art
                    vba[aid] = old.article_vectors(aid)
            for aid, art in wanted.items():
                prev = old.articles.get(aid)
                if prev is not None and prev.sha256 == art.sha256:
                    report.unchanged.append(aid)
                    merged[aid] = prev
                    vba[aid] = old.article_vectors(aid)
                else:
                    (report.updated if prev is not None else report.added).append(aid)
                    merged[aid] = art
                    todo.append(art)
            keep_tokens = sum(len(a.sentences) for a in merged.values()) <= TOKEN_LIMIT
            tba: dict[str, TokenVectors] | None = {} if keep_tokens else None
            if tba is not None:
                for aid in list(vba):
                    toks = old.article_tokens(aid)
                    if toks is None or toks.context is None:
                        todo.append(merged[aid])  # built before pieces / context vectors were kept: embed it again
                    else:
                        tba[aid] = toks
            total = sum(len(a.sentences) for a in todo)
            if progress is None and total:
                progress = TerminalProgress()
            vecs, toks = self._embed([s.text for a in todo for s in a.sentences], progress, tokens=tba is not None,
                                     paragraphs=[(k, s.paragraph) for k, a in enumerate(todo) for s in a.sentences])
            # every article new, in the order embedded: the pieces are the snapshot's as they are (~0.15 s of copies
            # for 3,700 sentences otherwise)
            whole = toks if toks is not None and [a.id for a in todo] == list(merged) else None
            row = 0
            for art in todo:
                vba[art.id] = vecs[row:row + len(art.sentences)]
                if tba is not None and toks is not None and whole is None:
                    tba[art.id] = toks.rows(row, row + len(art.sentences))
                row += len(art.sentences)
            report.embedded = total
            changed_tokens = (old.tokens is None) != (tba is None)
            # (total: also unchanged articles embedded again for the pieces or context vectors they lacked)
            if report.added or report.updated or report.removed or total or changed_tokens or \
                    not (self.directory / MANIFEST).exists():
                snap = Snapshot.make(merged, vba, self.encoder.dimension, exact_limit=self.exact_limit,
                                     tokens_by_article=tba, tokens=whole, previous=old)
                self._save(snap)
                self._snapshot = snap
            report.seconds = time.perf_counter() - t0
            return report

    def _embed(self, texts: list[str], progress: ProgressFn | None, *, tokens: bool = False,
               paragraphs: list[object] | None = None) -> tuple[np.ndarray, TokenVectors | None]:
        """All new sentences in one pass: batches of similar lengths pad little (per-article 256-sentence chunks made
        the build ~1.3x slower than one bare encode call on the same sentences, bench.perf). With tokens, one
        encode_tokens call, which batches by word-piece count and also returns the pieces' vectors (input order).
        Without, character-sorted slices of eight batches (progress after each), each batched by piece count. With
        tokens, the sentences are also read in their paragraphs (paragraphs[i]: sentence i's), a second pass."""
        if tokens:
            # progress stays (sentences done, sentences): each pass is half of the work
            n = len(texts)
            first = (lambda done, total: progress(done // 2, n)) if progress else None
            vecs, toks = self.encoder.encode_tokens(texts, progress=first)
            second = (lambda done, total: progress((n + done) // 2, n)) if progress else None
            context = self.encoder.encode_context(texts, paragraphs if paragraphs is not None else [0] * n,
                                                  progress=second)
            return vecs, toks.with_context(context)
        vecs = np.zeros((len(texts), self.encoder.dimension), np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # chunks of similar length (stable)
        step = max(1, getattr(self.encoder, "batch_size", Encoder.BATCH_SIZE)) * 8
        for lo in range(0, len(order), step):
            idx = order[lo:lo + step]
            vecs[idx] = self.encoder.encode([texts[i] for i in idx])
            if progress:
                progress(min(lo + step, len(order)), len(order))
        return vecs, None

    def remove(self, article_id: str) -> bool:
        """Drop one article's vectors and metadata; False when it is not in the index."""
        with self._write_lock:
            old = self._snapshot
            if article_id not in old.articles:
                return False
            keep = {aid: a for aid, a in old.articles.items() if aid != article_id}
            tba = {aid: t for aid in keep if (t := old.article_tokens(aid)) is not None} \
                if old.tokens is not None else None
            snap = Snapshot.make(keep, {aid: old.article_vectors(aid) for aid in keep}, self.encoder.dimension,
                                 exact_limit=self.exact_limit, tokens_by_article=tba, previous=old)
            self._save(snap)
            self._snapshot = snap
            return True

    def _save(self, snap: Snapshot) -> None:
        """Write vectors and articles under fresh names, then the manifest last: a kill leaves the old index whole."""
        self.directory.mkdir(parents=True, exist_ok=True)
        gen = snap.version
        vec_name, art_name = f"vectors-{gen}.faiss", f"articles-{gen}.json"
        import faiss

        vec_bytes = faiss.serialize_index(snap.index)  # (a uint8 array, written without a bytes copy of it)
        vec_sha = write_atomic_with(self.directory / vec_name, lambda fh: fh.write(memoryview(vec_bytes)))
        del vec_bytes
        art_bytes = json.dumps({"articles": [_article_to_json(a) for a in snap.articles.values()]},
                               ensure_ascii=False).encode("utf-8")
        art_sha = write_atomic_with(self.directory / art_name, lambda fh: fh.write(art_bytes))
        npy_files = {}
        arrays: dict[str, np.ndarray] = {}
        if not isinstance(faiss.downcast_index(snap.index), faiss.IndexFlat):  # (its lists hold float16 codes)
            arrays.update(dict.fromkeys(VECTOR_FILES, np.asarray(snap.vectors, dtype=np.float32)))
        if snap.tokens is not None:
            arrays.update(zip(TOKEN_FILES, (snap.tokens.vectors, snap.tokens.ids, snap.tokens.offsets)))
            if snap.tokens.context is not None:
                arrays.update(dict.fromkeys(CONTEXT_FILES, np.asarray(snap.tokens.context, dtype=np.float32)))
        for role, arr in arrays.items():
            name = f"{_NPY_FILES[role]}-{gen}.npy"
            sha = write_atomic_with(self.directory / name,
                                    lambda fh, arr=arr: np.save(fh, np.ascontiguousarray(arr), allow_pickle=False))
            npy_files[role] = {"name": name, "sha256": sha}
        manifest = {
            "format_version": FORMAT_VERSION, "version": gen, "model": self.encoder.name,
            "dimension": self.encoder.dimension, "count": len(snap.sentences),
            "index_type": type(snap.index).__name__, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **({"context": context_params()} if snap.tokens is not None and snap.tokens.context is not None else {}),
            "files": {"vectors": {"name": vec_name, "sha256": vec_sha},
                      "articles": {"name": art_name, "sha256": art_sha},
                      **npy_files},
            "articles": {a.id: {"sha256": a.sha256, "title": a.title, "path": a.path, "sentences": len(a.sentences)}
                         for a in snap.articles.values()},
        }
        data = json.dumps(manifest, indent=1, ensure_ascii=False).encode("utf-8")
        write_atomic_with(self.directory / MANIFEST, lambda fh: fh.write(data))
        fsync_dir(self.directory)
        stale_before = time.time() - STALE_TMP_SECONDS
        for old in self.directory.iterdir():  # the manifest now points at the new generation
            if old.name.startswith(("vectors-", "articles-", *(f"{p}-" for p in _NPY_FILES.values()))) and \
                    gen not in old.name:
                old.unlink(missing_ok=True)
            elif old.name.startswith(".") and old.name.endswith(".tmp"):
                try:  # left by a killed build; a recent one may belong to a writer still running
                    if old.stat().st_mtime < stale_before:
                        old.unlink(missing_ok=True)
                except OSError:
                    pass


def _ranges(articles: dict[str, Article]):  # type: ignore[no-untyped-def]
    row = 0
    for aid, art in articles.items():
        yield aid, art, row
        row += len(art.sentences)
