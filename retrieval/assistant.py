"""The one object every front end uses: a library of articles, its index on disk, and the answerer."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Collection, Iterator, Sequence

from .answer import Answer, Answerer
from .embed import Encoder, default_encoder
from .errors import ArticleError, IndexCorrupt
from .ingest import (SUPPORTED_SUFFIXES, Article, looks_like_html, parse_article, parse_bytes, parse_html,
                     read_articles, slugify, source_hash)
from .store import MANIFEST, Store, SyncReport

log = logging.getLogger("retrieval")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SEED_ARTICLE = PROJECT_ROOT / "data" / "seed_article.txt"
DEFAULT_INDEX_DIR = PROJECT_ROOT / "index"
#: The collection a library lives in (add / list / remove and the default server), and the one serving an explicit
#: list of files (--article / --articles DIR): kept apart so serving some files never drops library articles.
LIBRARY = "library"
FILES = "files"

ProgressFn = Callable[[int, int], None]


def article_files(folder: str | Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The article files of a folder (sorted, hidden files left out) and the files skipped, with why."""
    root = Path(folder)
    if not root.is_dir():
        raise ArticleError(f"{root}: is not a folder")
    files, skipped = [], []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not p.is_file():
            continue
        if p.suffix.lower() in SUPPORTED_SUFFIXES:
            files.append(p.resolve())
        else:
            skipped.append((p, f"{p}: unsupported file type {p.suffix.lower() or '(none)'!r} "
                               f"(supported: {', '.join(SUPPORTED_SUFFIXES)})"))
    return files, skipped


@dataclass
class AddResult:
    """What adding files did: articles added, re-indexed and already up to date, files refused (with why)."""

    added: list[Article] = field(default_factory=list)
    updated: list[Article] = field(default_factory=list)
    unchanged: list[Article] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (file, message naming it)
    report: SyncReport = field(default_factory=SyncReport)


def describe(a: Article, *, details: bool = False) -> dict[str, Any]:
    """An article as plain data (what the chat and the API show; details adds its file path and content hash)."""
    out: dict[str, Any] = {"id": a.id, "title": a.title, "date": a.date, "format": a.format,
                           "paragraphs": len(a.paragraphs), "sentences": len(a.sentences)}
    if details:
        out.update(path=a.path, sha256=a.sha256)
    return out


class Assistant:
    """Settings in the constructor; warm_up() loads the model and the index (rebuilding what is stale).

    articles=None serves the library kept in index_dir/library (the bundled seed article on a fresh index); a list of
    files serves exactly those (in index_dir/files). add / add_text / add_bytes / remove change the index on disk at
    once (atomically); another process sharing the index dir sees the change (a file lock orders the writers).
    """

    def __init__(self, *, articles: Sequence[str | Path] | None = None, index_dir: str | Path = DEFAULT_INDEX_DIR,
                 encoder: Encoder | None = None, collection: str | None = None) -> None:
        self.article_paths = [Path(p).resolve() for p in articles] if articles is not None else None
        self.index_dir = Path(index_dir)
        self.encoder = encoder or default_encoder()
        self.collection = collection or (LIBRARY if articles is None else FILES)
        self.store = Store(self.index_dir / self.collection, self.encoder)
        self.answerer = Answerer(self.store)
        self.warnings: list[str] = []
        self._ready = False
        self._opened = False
        self._fresh = False
        self._seen: tuple[int, int] | None = None  # (mtime_ns, size) of the manifest last loaded or written
        self._lock = threading.RLock()
        self._manifest_path: tuple[Path, str] | None = None  # (store.directory, its manifest's path as str)

    # ---- opening and staying in step with the disk -------------------------------------------------------
    @property
    def _lock_path(self) -> Path:
        return self.store.directory.parent / f".{self.store.directory.name}.lock"

    @contextlib.contextmanager
    def _file_lock(self, exclusive: bool) -> Iterator[None]:
        """A lock on the index dir shared with other processes (the CLI while a server runs)."""
        self._lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._lock_path, "a+") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _manifest_stat(self) -> tuple[int, int] | None:
        """(mtime_ns, size) of the manifest, None when there is none: read before every answer."""
        path = self._manifest_path
        if path is None or path[0] is not self.store.directory:
            path = self._manifest_path = (self.store.directory, os.fspath(self.store.directory / MANIFEST))
        try:
            st = os.stat(path[1])  # (a cached str: the Path join cost as much as the stat itself)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def _disk_version(self) -> str | None:
        try:
            return str(json.loads((self.store.directory / MANIFEST).read_text(encoding="utf-8")).get("version", ""))
        except (OSError, ValueError, AttributeError):
            return None

    def _load(self) -> None:
        """Load the index from disk; a damaged one is reported and rebuilt from the articles."""
        try:
            self._fresh = not self.store.load()
        except IndexCorrupt as exc:
            msg = f"index at {self.store.directory} is unusable ({exc}); rebuilding it from the articles"
            log.warning(msg)
            self.warnings.append(msg)
            self._fresh = True
        self._seen = self._manifest_stat()

    def _open(self) -> None:
        """Load the index once (no model needed, nothing embedded)."""
        with self._lock:
            if not self._opened:
                with self._file_lock(False):
                    self._load()
                self._opened = True

    def refresh(self) -> bool:
        """Pick up changes another process saved to the index dir; True when the index was reloaded."""
        if not self._opened:
            self._open()
            return True
        stat = self._manifest_stat()
        if stat is None or stat == self._seen:
            return False
        with self._lock:
            if stat == self._seen:
                return False
            if self._disk_version() == self.store.snapshot.version:
                self._seen = stat
                return False
            with self._file_lock(False):
                try:
                    self.store.load()
                except IndexCorrupt as exc:  # keep serving what is loaded; a writer will replace it
                    log.warning("not reloading %s: %s", self.store.directory, exc)
                self._seen = self._manifest_stat()
            return True

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold the locks for a change, starting from what is on disk now."""
        with self._lock:
            self._open()
            with self._file_lock(True):
                if self._manifest_stat() != self._seen and self._disk_version() != self.store.snapshot.version:
                    self._load()
                try:
                    yield
                finally:
                    self._seen = self._manifest_stat()
                    if self._seen is not None:
                        self._fresh = False  # the library exists now: an emptied one is not re-seeded
            # (outside the file lock, still one writer at a time) the change is answered from once this returns;
            # questions asked meanwhile rank on the snapshot before it (Answerer.serving)
            self.answerer.prepare_if_serving()

    def warm_up(self, *, progress: ProgressFn | None = None) -> SyncReport:
        """Load the model and the index, re-index articles whose files changed, and build what is missing."""
        with self._lock:
            self.encoder.warm_up()
            with self._writing():
                snap = self.store.snapshot
                if self.article_paths is not None:
                    paths, remove_missing = self.article_paths, True
                else:  # the library as it is, its files re-checked; a fresh library starts with the seed article
                    paths = [Path(a.path) for a in snap.articles.values() if a.path and Path(a.path).is_file()]
                    if self._fresh and not snap.articles:
                        paths = [SEED_ARTICLE.resolve()]
                    remove_missing = False
                known = {a.path: a for a in snap.articles.values() if a.path}
                articles: list[Article] = []
                refused: list[ArticleError] = []
                unchanged: dict[int, Article] = {}  # position in paths -> the version indexed before
                jobs: list[tuple[Path, str]] = []
                pending: set[str] = set()
                for i, p in enumerate(paths):
                    prev = known.get(str(p))
                    if prev is not None and source_hash(p) == prev.sha256:
                        unchanged[i] = prev  # unchanged: no parsing, no embedding
                    else:
                        jobs.append((p, prev.id if prev else self._new_id(p.stem, pending)))
                        pending.add(jobs[-1][1])
                parsed = iter(read_articles(jobs))
                for i, p in enumerate(paths):
                    got = unchanged[i] if i in unchanged else next(parsed)
                    if isinstance(got, Article):
                        articles.append(got)
                        continue
                    refused.append(got)
                    prev = known.get(str(p))
                    if self.article_paths is None and prev is not None:  # a library file went bad: keep it
                        msg = f"{got}; keeping the version indexed before"
                        articles.append(prev)
                    else:
                        msg = f"{got}; not served"
                    log.warning(msg)
                    self.warnings.append(msg)
                if self.article_paths is not None and refused and not articles:
                    raise refused[0]  # nothing left to serve: the first file's error is the answer
                report = self.store.sync(articles, remove_missing=remove_missing, progress=progress)
                self._fresh = False
            self.answerer.warm_up()
            self._ready = True
            return report

    def _new_id(self, name: str, pending: Collection[str] = ()) -> str:
        """A readable id from a file name or title, made unique among indexed articles and the pending ids."""
        base = slugify(name)
        indexed = self.store.snapshot.articles
        aid, n = base, 2
        while aid in indexed or aid in pending:
            aid, n = f"{base}-{n}", n + 1
        return aid

    def _same_content(self, art: Article) -> Article | None:
        return next((a for a in self.store.snapshot.articles.values()
                     if a.sha256 == art.sha256 and a.title == art.title), None)

    # ---- changing the library ----------------------------------------------------------------------
    def add(self, path: str | Path, *, progress: ProgressFn | None = None) -> tuple[Article, SyncReport]:
        """Index one article file (re-indexing it if the same file was added before and has changed)."""
        res = self.add_paths([path], progress=progress)
        if res.refused:
            raise ArticleError(res.refused[0][1])
        art = (res.added + res.updated + res.unchanged)[0]
        return art, res.report

    def add_paths(self, paths: Sequence[str | Path], *, progress: ProgressFn | None = None) -> AddResult:
        """Index files and the article files of folders, in one atomic update; bad files are refused, not fatal."""
        res = AddResult()
        with self._writing():
            snap = self.store.snapshot
            by_path = {a.path: a for a in snap.articles.values() if a.path}
            files: list[Path] = []
            for raw in paths:
                p = Path(raw)
                if p.is_dir():
                    found, skipped = article_files(p)
                    files += found
                    res.refused += [(str(s), msg) for s, msg in skipped]
                    if not found:
                        res.refused.append((str(p), f"{p}: the folder holds no article file "
                                                    f"({', '.join(SUPPORTED_SUFFIXES)})"))
                elif not p.exists():
                    res.refused.append((str(p), f"{p}: no such file or folder"))
                else:
                    files.append(p.resolve())
            todo: list[Article] = []
            seen: set[str] = set()
            jobs: list[tuple[Path, str]] = []
            pending: set[str] = set()
            for p in files:
                if str(p) in seen:
                    continue
                seen.add(str(p))
                prev = by_path.get(str(p))
                if prev is not None and source_hash(p) == prev.sha256:
                    res.unchanged.append(prev)
                else:
                    jobs.append((p, prev.id if prev else self._new_id(p.stem, pending)))
                    pending.add(jobs[-1][1])
            for (p, _), art in zip(jobs, read_articles(jobs)):
                if isinstance(art, ArticleError):
                    res.refused.append((str(p), str(art)))
                    continue
                prev = by_path.get(str(p))
                if prev is not None and prev.sha256 == art.sha256:
                    res.unchanged.append(prev)
                    continue
                (res.updated if prev is not None else res.added).append(art)
                todo.append(art)
            if todo:
                res.report = self.store.sync(todo, progress=progress)
        return res

    def add_folder(self, folder: str | Path, *, progress: ProgressFn | None = None) -> AddResult:
        """Index every article file of a folder (and its subfolders)."""
        return self.add_paths([folder], progress=progress)

    def add_text(self, text: str, *, title: str | None = None, progress: ProgressFn | None = None,
                 name: str | None = None) -> tuple[Article, SyncReport]:
        """Index pasted text (plain text, Markdown, the seed format or a whole HTML page); the same text added again
        is recognised and not embedded twice. Raises ArticleError when it cannot be indexed."""
        if not isinstance(text, str):
            raise ArticleError(f"{name or 'pasted text'}: the article must be text")
        title = " ".join(title.split())[:300] if isinstance(title, str) and title.strip() else None
        label = name or (f"pasted text “{title}”" if title else "pasted text")
        if looks_like_html(text):
            art = parse_html(text, name=label, title=title)
        else:
            art = parse_article(text, title=title, name=label)
        return self._add_article(art, art.title, progress)

    def add_bytes(self, data: bytes, filename: str, *, title: str | None = None,
                  progress: ProgressFn | None = None) -> tuple[Article, SyncReport]:
        """Index an uploaded file's bytes (format from its name: text, Markdown, HTML or PDF)."""
        name = Path(filename or "upload").name or "upload"
        art = parse_bytes(data, filename=name, title=title)
        return self._add_article(art, Path(name).stem if not title else title, progress)

    def _add_article(self, art: Article, id_from: str, progress: ProgressFn | None) -> tuple[Article, SyncReport]:
        with self._writing():
            same = self._same_content(art)
            if same is not None:
                return same, SyncReport(unchanged=[same.id])
            art = _with_id(art, self._new_id(id_from))
            return art, self.store.sync([art], progress=progress)

    def remove(self, article_id: str) -> bool:
        """Drop an article and its vectors; False when there is no such article."""
        with self._writing():
            return self.store.remove(article_id)

    # ---- reading ------------------------------------------------------------------------------------
    def articles(self, *, details: bool = False) -> list[dict[str, Any]]:
        """The indexed articles as plain data (details: with file path and content hash, for the CLI)."""
        self.refresh()
        return [describe(a, details=details) for a in self.store.snapshot.articles.values()]

    def article(self, article_id: str) -> Article:
        """One indexed article (for showing a citation inside its paragraph)."""
        self.refresh()
        try:
            return self.store.snapshot.articles[article_id]
        except KeyError:
            raise ArticleError(f"there is no article with id {article_id!r}") from None

    def answer(self, question: Any, *, history: Sequence[dict[str, Any]] | None = None,
               article: str | None = None) -> Answer:
        """Answer a question, quoting and citing the articles (all, or the one with this id); abstains when they
        do not answer."""
        if not self._ready:
            self.warm_up()
        self.refresh()
        return self.answerer.run(question, history=history, article=article)


def _with_id(art: Article, aid: str) -> Article:
    """The same article under another id (sentences carry their article's id)."""
    from dataclasses import replace

    if art.id == aid:
        return art
    new = replace(art, id=aid, paragraphs=list(art.paragraphs))
    new.sentences = [replace(s, article_id=aid) for s in art.sentences]
    return new


_default: Assistant | None = None
_default_lock = threading.Lock()


def default_assistant() -> Assistant:
    """The process-wide assistant over the default index dir."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Assistant()
        return _default
