"""Read an article (seed format, Markdown or plain text) into paragraphs and sentences with offsets."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .errors import ArticleError

#: Articles larger than this are refused: past it segmentation takes minutes and the UI stalls.
MAX_ARTICLE_BYTES = 20 * 1024 * 1024

_SEED_HEADER = re.compile(r"^\s*date\s+(\d{4}-\d{2}-\d{2})\s+(.*\S)\s*$")
_MD_TITLE = re.compile(r"^#\s+(.*\S)\s*$")
_DATE_LINE = re.compile(r"^\s*(?:date|published|updated)\s*:?\s*(\d{4}-\d{2}-\d{2})\s*$", re.I)


@dataclass(frozen=True)
class Sentence:
    """One sentence, located by character offsets in its article's source text so quotes are verbatim."""

    article_id: str
    paragraph: int
    index: int  # position among all sentences of the article
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Paragraph:
    """A body paragraph (the title left out), located in the source text."""

    index: int
    start: int
    end: int
    text: str


@dataclass
class Article:
    """An ingested article: its source text, metadata, paragraphs and sentences."""

    id: str
    title: str
    date: str | None
    source: str  # the decoded file text; every offset points into it
    format: str
    path: str | None = None
    paragraphs: list[Paragraph] = field(default_factory=list)
    sentences: list[Sentence] = field(default_factory=list)

    @property
    def sha256(self) -> str:
        """Content hash: an article whose hash changed is re-indexed."""
        return hashlib.sha256(self.source.encode("utf-8")).hexdigest()

    def paragraph_sentences(self, paragraph: int) -> list[Sentence]:
        """Sentences of one paragraph, in order (for showing a citation in place)."""
        return [s for s in self.sentences if s.paragraph == paragraph]


def slugify(text: str) -> str:
    """A readable, URL-safe id from a file name or title."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:60] or "article"


@lru_cache(maxsize=1)
def _segmenter():  # type: ignore[no-untyped-def]
    import pysbd  # maintained rule-based sentence boundary detection (the bench's reference splitter)

    return pysbd.Segmenter(language="en", clean=False)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) spans of the sentences of a paragraph; text[start:end] is each sentence verbatim."""
    spans: list[tuple[int, int]] = []
    cursor = 0
    for piece in _segmenter().segment(text):
        piece = piece.strip()
        if not piece:
            continue
        at = text.find(piece, cursor)
        if at < 0:  # the segmenter altered the text: keep the rest whole rather than misquote
            rest = text[cursor:]
            if rest.strip():
                lead = len(rest) - len(rest.lstrip())
                spans.append((cursor + lead, len(text.rstrip())))
            return spans
        spans.append((at, at + len(piece)))
        cursor = at + len(piece)
    return spans


def _blocks(source: str, start: int, *, one_per_line: bool) -> list[tuple[int, int]]:
    """Spans of the non-empty paragraphs of source[start:], trimmed of surrounding whitespace."""
    sep = re.compile(r"\n" if one_per_line else r"\n\s*\n")
    spans = []
    pos = start
    for m in list(sep.finditer(source, start)) + [None]:
        end = m.start() if m else len(source)
        chunk = source[pos:end]
        if chunk.strip():
            lead = len(chunk) - len(chunk.lstrip())
            spans.append((pos + lead, pos + len(chunk.rstrip())))
        if m:
            pos = m.end()
    return spans


def detect_format(source: str, path: str | None = None) -> str:
    """Guess the format: 'seed' (first line 'date YYYY-MM-DD Title'), 'markdown' or 'text'."""
    first = source.lstrip().split("\n", 1)[0]
    if _SEED_HEADER.match(first):
        return "seed"
    if (path and path.lower().endswith((".md", ".markdown"))) or _MD_TITLE.match(first):
        return "markdown"
    return "text"


def parse_article(source: str, *, article_id: str | None = None, path: str | None = None,
                  fmt: str | None = None, title: str | None = None) -> Article:
    """Parse decoded text into an Article; raises ArticleError when nothing quotable is left."""
    if not isinstance(source, str):
        raise TypeError(f"source must be str, got {type(source).__name__}")
    name = Path(path).name if path else (title or "pasted text")
    source = source.replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in source:
        raise ArticleError(f"{name}: looks like a binary file (it contains NUL bytes)")
    fmt = fmt or detect_format(source, path)
    date: str | None = None
    body_start = 0
    art_title = title
    one_per_line = False
    if fmt == "seed":
        first_end = source.find("\n")
        first_end = len(source) if first_end < 0 else first_end
        m = _SEED_HEADER.match(source[:first_end])
        if not m:
            raise ArticleError(f"{name}: the first line is not 'date YYYY-MM-DD Title'")
        date, art_title = m.group(1), art_title or m.group(2)
        body_start, one_per_line = first_end, True
    spans = _blocks(source, body_start, one_per_line=one_per_line)
    if fmt == "markdown":
        kept = []
        for s, e in spans:
            block = source[s:e]
            m = _MD_TITLE.match(block) if "\n" not in block else None
            if m and art_title is None and not kept:
                art_title = m.group(1)
            elif block.startswith("#"):
                continue  # other headings are not quotable prose
            else:
                kept.append((s, e))
        spans = kept
    if fmt in ("markdown", "text") and spans:
        m = _DATE_LINE.match(source[spans[0][0]:spans[0][1]])
        if m:
            date = m.group(1)
            spans = spans[1:]
    if fmt == "text" and art_title is None and spans:
        first_line = source[spans[0][0]:spans[0][1]].split("\n", 1)[0].strip()
        if len(spans) > 1 and len(first_line) <= 120 and not first_line.endswith((".", "?", "!")):
            art_title = first_line
            spans = spans[1:]
    if art_title is None:
        art_title = Path(path).stem.replace("_", " ") if path else "Untitled article"
    aid = article_id or slugify(Path(path).stem if path else art_title)
    article = Article(id=aid, title=art_title, date=date, source=source, format=fmt, path=path)
    for p_index, (ps, pe) in enumerate(spans):
        article.paragraphs.append(Paragraph(p_index, ps, pe, source[ps:pe]))
        for ss, se in split_sentences(source[ps:pe]):
            article.sentences.append(Sentence(aid, p_index, len(article.sentences), ps + ss, ps + se,
                                              source[ps + ss:ps + se]))
    if not article.sentences:
        raise ArticleError(f"{name}: no text to index (the article has a title but no body)"
                           if art_title and source.strip() else f"{name}: the article is empty")
    return article


def read_article(path: str | Path, *, article_id: str | None = None) -> Article:
    """Read and parse a file, refusing empty, binary, non-UTF-8 and oversized files with a clear error."""
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise ArticleError(f"{p}: cannot read the file ({exc.strerror or exc})") from exc
    if p.is_dir():
        raise ArticleError(f"{p}: is a folder, not an article file")
    if size > MAX_ARTICLE_BYTES:
        raise ArticleError(f"{p}: {size / 1e6:.1f} MB is over the {MAX_ARTICLE_BYTES // (1024 * 1024)} MiB limit")
    raw = p.read_bytes()
    if not raw.strip():
        raise ArticleError(f"{p}: the file is empty")
    if b"\x00" in raw[:8192]:
        raise ArticleError(f"{p}: looks like a binary file, not text")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ArticleError(f"{p}: is not valid UTF-8 text (byte {exc.start})") from exc
    return parse_article(text, article_id=article_id, path=str(p))
