"""The one object every front end uses: a library of articles, its index on disk, and the answerer."""

from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path
from typing import Any, Callable, Sequence

from .answer import Answer, Answerer
from .embed import Encoder, default_encoder
from .errors import ArticleError, IndexCorrupt
from .ingest import Article, read_article
from .store import Store, SyncReport

log = logging.getLogger("retrieval")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SEED_ARTICLE = PROJECT_ROOT / "data" / "seed_article.txt"
DEFAULT_INDEX_DIR = PROJECT_ROOT / "index"

ProgressFn = Callable[[int, int], None]


def _text_hash(path: Path) -> str | None:
    """Hash of a file's text as ingest normalises it, to tell whether it changed without parsing it."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None
    return hashlib.sha256(text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")).hexdigest()


class Assistant:
    """Settings in the constructor; warm_up() loads the model and the index (rebuilding what is stale)."""

    def __init__(self, *, articles: Sequence[str | Path] | None = None, index_dir: str | Path = DEFAULT_INDEX_DIR,
                 encoder: Encoder | None = None, collection: str = "library") -> None:
        self.article_paths = [Path(p).resolve() for p in articles] if articles is not None else None
        self.index_dir = Path(index_dir)
        self.encoder = encoder or default_encoder()
        self.store = Store(self.index_dir / collection, self.encoder)
        self.answerer = Answerer(self.store)
        self.warnings: list[str] = []
        self._ready = False
        self._lock = threading.Lock()

    def warm_up(self, *, progress: ProgressFn | None = None) -> SyncReport:
        """Load the index, re-index articles whose files changed, and build what is missing."""
        with self._lock:
            self.encoder.warm_up()
            try:
                self.store.load()
            except IndexCorrupt as exc:
                msg = f"index at {self.store.directory} is unusable ({exc}); rebuilding it from the articles"
                log.warning(msg)
                self.warnings.append(msg)
            snap = self.store.snapshot
            if self.article_paths is not None:
                paths, remove_missing = self.article_paths, True
            else:  # the library as it is; its files are re-checked, and an empty library gets the seed article
                paths = [Path(a.path) for a in snap.articles.values() if a.path and Path(a.path).exists()] \
                    or ([SEED_ARTICLE.resolve()] if not snap.articles else [])
                remove_missing = False
            known = {a.path: a for a in snap.articles.values() if a.path}
            articles: list[Article] = []
            for p in paths:
                prev = known.get(str(p))
                if prev is not None and _text_hash(p) == prev.sha256:
                    articles.append(prev)  # unchanged: no parsing, no embedding
                    continue
                articles.append(read_article(p, article_id=prev.id if prev else self._new_id(p, articles)))
            report = self.store.sync(articles, remove_missing=remove_missing, progress=progress)
            self.answerer.warm_up()
            self._ready = True
            return report

    def _new_id(self, path: Path, pending: list[Article]) -> str:
        """A readable id from the file name, made unique among indexed and pending articles."""
        from .ingest import slugify

        base = slugify(path.stem)
        taken = set(self.store.snapshot.articles) | {a.id for a in pending}
        aid, n = base, 2
        while aid in taken:
            aid, n = f"{base}-{n}", n + 1
        return aid

    def add(self, path: str | Path, *, progress: ProgressFn | None = None) -> tuple[Article, SyncReport]:
        """Index one more article file (re-indexing it if the same file was added before)."""
        p = Path(path).resolve()
        prev = next((a for a in self.store.snapshot.articles.values() if a.path == str(p)), None)
        art = read_article(p, article_id=prev.id if prev else self._new_id(p, []))
        return art, self.store.sync([art], progress=progress)

    def remove(self, article_id: str) -> bool:
        """Drop an article and its vectors."""
        return self.store.remove(article_id)

    def articles(self) -> list[dict[str, Any]]:
        """The indexed articles as plain data."""
        return [{"id": a.id, "title": a.title, "date": a.date, "paragraphs": len(a.paragraphs),
                 "sentences": len(a.sentences)} for a in self.store.snapshot.articles.values()]

    def article(self, article_id: str) -> Article:
        """One indexed article (for showing a citation inside its paragraph)."""
        try:
            return self.store.snapshot.articles[article_id]
        except KeyError:
            raise ArticleError(f"there is no article with id {article_id!r}") from None

    def answer(self, question: Any, *, history: Sequence[dict[str, Any]] | None = None,
               article: str | None = None) -> Answer:
        """Answer a question, quoting and citing the articles; abstains when they do not answer."""
        if not self._ready:
            self.warm_up()
        return self.answerer.run(question, history=history, article=article)


_default: Assistant | None = None
_default_lock = threading.Lock()


def default_assistant() -> Assistant:
    """The process-wide assistant over the default index dir."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Assistant()
        return _default
