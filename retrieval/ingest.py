"""Read an article (seed format, Markdown, plain text, HTML or PDF) into paragraphs and sentences with offsets.

HTML and PDF are converted to text first (trafilatura extracts an HTML page's main text, title and date; pypdf reads
a PDF's text page by page); the stored source of such an article is that extracted text, and every offset points
into it.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Sequence

from .errors import ArticleError

log = logging.getLogger("retrieval")

#: Article text larger than this is refused: past it sentence segmentation and embedding take minutes on a small
#: machine (2 MiB is about 350,000 words, a long book; a news article is 5-50 KB).
MAX_ARTICLE_BYTES = 2 * 1024 * 1024
#: HTML and PDF files carry markup, images and fonts besides the text: their files may be this large (the text
#: extracted from them is still held to MAX_ARTICLE_BYTES).
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024
#: File endings read as articles; anything else is refused (a folder's other files are skipped and reported).
TEXT_SUFFIXES = (".txt", ".text", ".md", ".markdown")
HTML_SUFFIXES = (".html", ".htm", ".xhtml")
PDF_SUFFIXES = (".pdf",)
SUPPORTED_SUFFIXES = TEXT_SUFFIXES + HTML_SUFFIXES + PDF_SUFFIXES

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


class _CompiledOnce:
    """The `re` module as pysbd calls it, each pattern compiled once: pysbd builds its patterns from strings at every
    call (~3,800 distinct ones on the SQuAD articles, one set per abbreviation it meets), more than `re`'s own
    512-entry cache holds, so they were recompiled for every paragraph (~60% of the parse time). Same patterns,
    same matches: sentence offsets are unchanged."""

    LIMIT = 20_000  # distinct patterns kept (pysbd's are bounded by its abbreviation list; this is a backstop)

    def __init__(self) -> None:
        self._compiled: dict[tuple[type, str | bytes, int], re.Pattern] = {}

    def _get(self, pattern: str | bytes | re.Pattern, flags: int) -> re.Pattern:
        if isinstance(pattern, re.Pattern):
            return pattern
        key = (type(pattern), pattern, int(flags))
        got = self._compiled.get(key)
        if got is None:
            if len(self._compiled) >= self.LIMIT:
                self._compiled.clear()
            got = self._compiled[key] = re.compile(pattern, flags)
        return got

    def sub(self, pattern, repl, string, count=0, flags=0):  # type: ignore[no-untyped-def]
        return self._get(pattern, flags).sub(repl, string, count)

    def subn(self, pattern, repl, string, count=0, flags=0):  # type: ignore[no-untyped-def]
        return self._get(pattern, flags).subn(repl, string, count)

    def search(self, pattern, string, flags=0):  # type: ignore[no-untyped-def]
        return self._get(pattern, flags).search(string)

    def match(self, pattern, string, flags=0):  # type: ignore[no-untyped-def]
        return self._get(pattern, flags).match(string)

    def fullmatch(self, pattern, string, flags=0):  # type: ignore[no-untyped-def]
        return self._get(pattern, flags).fullmatch(string)

    def findall(self, pattern, string, flags=0):  # type: ignore[no-untyped-def]
        return self._get(pattern, flags).findall(string)

    def finditer(self, pattern, string, flags=0):  # type: ignore[no-untyped-def]
        return self._get(pattern, flags).finditer(string)

    def split(self, pattern, string, maxsplit=0, flags=0):  # type: ignore[no-untyped-def]
        return self._get(pattern, flags).split(string, maxsplit)

    def compile(self, pattern, flags=0):  # type: ignore[no-untyped-def]
        return self._get(pattern, flags)

    def __getattr__(self, name: str) -> object:  # escape, IGNORECASE, Pattern, ...
        return getattr(re, name)


_PATTERNS = _CompiledOnce()  # pysbd's patterns and the fast replacer's, compiled once a process

#: Characters that case-insensitive matching (`re.IGNORECASE`) equates with an ASCII letter although str.lower() does
#: not (dotted I lowers to two characters): text holding one is matched with the patterns themselves (here and in
#: answer.type_cues).
FOLD_RISKY = re.compile("[\u0130\u0131\u017f]")
_SPACE = re.compile(r"\s")


def _fast_abbreviations(base: type, abbreviations: Sequence[str]) -> type:
    """pysbd's English abbreviation replacer with the same output and less work (~45 % of the parse was its search).

    For each of its 188 abbreviations found anywhere in a line, pysbd runs `findall` for the abbreviation at a word
    start, a second `findall` for the next word's first letter, and then one `re.sub` over the line for every match.
    Its pattern matches a word *prefix* ("al" in "also"), so most lines match dozens. Three skips, each exact:

    - the first `findall` only when some word starts with the abbreviation (checked on the lowered line, which equals
      the case-insensitive match unless the line holds a character of FOLD_RISKY: then pysbd's code runs);
    - the second `findall` only when the line holds "{": its pattern is literally "{abbr} ", so elsewhere it finds
      nothing;
    - a match's `re.sub` only when the line holds that word followed by "." (it replaces only such periods), and once
      per distinct word (a second identical substitution has nothing left to replace); so without "{" in the line,
      neither `findall` runs unless the abbreviation followed by "." is in it.

    Abbreviations with regex characters ("e.g", "u.s") go through pysbd's own steps.
    """

    # the abbreviations without regex characters (pysbd puts them into its patterns unescaped)
    plain_words = frozenset(a.strip() for a in abbreviations if re.escape(a.strip()) == a.strip())

    class FastAbbreviationReplacer(base):  # type: ignore[misc, valid-type]
        def search_for_abbreviations_in_string(self, text: str) -> str:
            if FOLD_RISKY.search(text):
                return super().search_for_abbreviations_in_string(text)
            lowered = text.lower()
            starts = " " + _SPACE.sub(" ", lowered)
            braces = "{" in text
            for abbr in self.lang.Abbreviation.ABBREVIATIONS:
                stripped = abbr.strip()
                if stripped not in lowered:
                    continue
                plain = stripped in plain_words
                if plain and (" " + stripped not in starts or (not braces and stripped + "." not in lowered)):
                    continue
                abbrev_match = _PATTERNS.findall(r"(?:^|\s|\r|\n){}".format(stripped), text, flags=re.IGNORECASE)
                if not abbrev_match:
                    continue
                char_array = _PATTERNS.findall(r"(?<={" + str(re.escape(stripped)) + "} ).{1}", text) if braces else []
                done: set[str] = set()
                for ind, match in enumerate(abbrev_match):
                    if plain and not braces:
                        word = match.strip()
                        if word in done or word + "." not in text:
                            continue
                        done.add(word)
                    text = self.scan_for_replacements(text, match, ind, char_array)
            return text

    return FastAbbreviationReplacer


@lru_cache(maxsize=1)
def _segmenter():  # type: ignore[no-untyped-def]
    import sys

    import pysbd  # maintained rule-based sentence boundary detection (the bench's reference splitter)

    for name, mod in list(sys.modules.items()):
        if (name == "pysbd" or name.startswith("pysbd.")) and getattr(mod, "re", None) is re:
            mod.re = _PATTERNS  # type: ignore[attr-defined]
    seg = pysbd.Segmenter(language="en", clean=False)
    english = seg.language_module
    # this segmenter's own language: a subclass, so pysbd's English and other segmenters are left as they are
    seg.language_module = type(english.__name__, (english,),
                               {"AbbreviationReplacer": _fast_abbreviations(english.AbbreviationReplacer,
                                                                                english.Abbreviation.ABBREVIATIONS)})
    return seg


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) spans of the sentences of a paragraph; text[start:end] is each sentence verbatim."""
    spans: list[tuple[int, int]] = []
    if not text:
        return spans
    cursor = 0
    # The processor's sentences, not segment()'s: segment() finds each one in the text again with a regex compiled
    # from that sentence (a compile per sentence, ~45 % of the parse), which the loop below does with str.find
    for piece in _segmenter().processor(text).process():
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
                  fmt: str | None = None, title: str | None = None, date: str | None = None,
                  name: str | None = None) -> Article:
    """Parse decoded text into an Article; raises ArticleError when nothing quotable is left.

    name is how errors refer to the article (default: the file name, else the title, else "pasted text").
    """
    if not isinstance(source, str):
        raise TypeError(f"source must be str, got {type(source).__name__}")
    name = name or (Path(path).name if path else (title or "pasted text"))
    source = source.replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in source:
        raise ArticleError(f"{name}: looks like a binary file (it contains NUL bytes)")
    if len(source.encode("utf-8")) > MAX_ARTICLE_BYTES:
        raise ArticleError(f"{name}: {len(source.encode('utf-8')) / 1e6:.1f} MB of text is over the "
                           f"{MAX_ARTICLE_BYTES // (1024 * 1024)} MiB limit for one article")
    fmt = fmt or detect_format(source, path)
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
            date = date or m.group(1)
            spans = spans[1:]
    if fmt == "text" and art_title is None and spans:
        first_line = source[spans[0][0]:spans[0][1]].split("\n", 1)[0].strip()
        if len(spans) > 1 and len(first_line) <= 120 and not first_line.endswith((".", "?", "!")):
            art_title = first_line
            spans = spans[1:]
    if art_title is None:
        stem_of = path or (name if Path(name).suffix else None)
        art_title = Path(stem_of).stem.replace("_", " ") if stem_of else "Untitled article"
    aid = article_id or slugify(Path(path).stem if path else art_title)
    return _build(source, spans, aid=aid, title=art_title, date=date, fmt=fmt, path=path, name=name)


def _build(source: str, spans: list[tuple[int, int]], *, aid: str, title: str, date: str | None, fmt: str,
           path: str | None, name: str) -> Article:
    """The article whose body paragraphs are source[start:end] for each span, split into sentences."""
    article = Article(id=aid, title=title, date=date, source=source, format=fmt, path=path)
    for p_index, (ps, pe) in enumerate(spans):
        article.paragraphs.append(Paragraph(p_index, ps, pe, source[ps:pe]))
        for ss, se in split_sentences(source[ps:pe]):
            article.sentences.append(Sentence(aid, p_index, len(article.sentences), ps + ss, ps + se,
                                              source[ps + ss:ps + se]))
    if not article.sentences:
        raise ArticleError(f"{name}: no text to index (the article has a title but no body)"
                           if title and source.strip() else f"{name}: the article is empty")
    return article


def _iso_date(value: object) -> str | None:
    """YYYY-MM-DD from a date string ('2024-03-05T10:00', PDF 'D:20240305…'), or None."""
    text = str(value or "")
    m = re.search(r"(\d{4})-(\d{2})-(\d{2})", text) or re.match(r"^(?:D:)?(\d{4})(\d{2})(\d{2})", text)
    return f"{m.group(1)}-{m.group(2)}-{m.group(3)}" if m else None


def _one_line(text: str | None) -> str | None:
    text = " ".join((text or "").split())
    return text[:300] or None


def looks_like_html(text: str) -> bool:
    """True for a whole HTML page (a doctype or <html> first), not for text that merely contains tags."""
    head = text.lstrip()[:200].lower()
    return head.startswith(("<!doctype html", "<html", "<?xml")) and "<html" in text[:4096].lower()


def _from_blocks(blocks: list[str], *, title: str | None, date: str | None, fmt: str, path: str | None,
                 article_id: str | None, name: str) -> Article:
    """An article from extracted paragraphs; its source is the title line, a date line, then the paragraphs."""
    paras = [" ".join(b.split()) for b in blocks if b and b.strip()]
    if not paras:
        raise ArticleError(f"{name}: no text could be extracted (is it a scanned image or an empty page?)")
    if title and paras[0].lower() == " ".join(title.split()).lower():
        paras = paras[1:]  # the page repeats its title as the first block
        if not paras:
            raise ArticleError(f"{name}: no text to index (the page has a title but no body)")
    title = title or (Path(path or name).stem.replace("_", " ") if (path or Path(name).suffix) else "Untitled article")
    head = [f"# {title}"] + ([f"date: {date}"] if date else [])
    source = "\n\n".join(head)
    spans = []
    for para in paras:
        source += "\n\n"
        spans.append((len(source), len(source) + len(para)))
        source += para
    source += "\n"
    if len(source.encode("utf-8")) > MAX_ARTICLE_BYTES:
        raise ArticleError(f"{name}: {len(source.encode('utf-8')) / 1e6:.1f} MB of extracted text is over the "
                           f"{MAX_ARTICLE_BYTES // (1024 * 1024)} MiB limit for one article")
    aid = article_id or slugify(Path(path).stem if path else title)
    return _build(source, spans, aid=aid, title=title, date=date, fmt=fmt, path=path, name=name)


def parse_html(html_text: str, *, article_id: str | None = None, path: str | None = None,
               name: str | None = None, title: str | None = None) -> Article:
    """The main text, title and date of an HTML page (trafilatura), as an article; menus, ads and scripts go."""
    import trafilatura  # maintained main-text extraction (boilerplate, scripts and styles removed)

    name = name or (Path(path).name if path else "pasted HTML")
    try:
        doc = trafilatura.bare_extraction(html_text, with_metadata=True, include_comments=False,
                                          include_tables=True, include_images=False, include_links=False)
    except Exception as exc:  # lxml raises on pages it cannot parse at all
        raise ArticleError(f"{name}: cannot read this HTML ({str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__})") from exc
    text = getattr(doc, "text", None) if doc is not None else None
    if not text or not text.strip():
        raise ArticleError(f"{name}: no article text found in this HTML page")
    found = _one_line(getattr(doc, "title", None))
    date = _iso_date(getattr(doc, "date", None))
    blocks = text.split("\n")
    if title and found and blocks and " ".join(blocks[0].split()).lower() == found.lower():
        blocks = blocks[1:]  # the page's own title line, replaced by the given title
    title = _one_line(title) or found or (Path(path).stem.replace("_", " ") if path else None)
    return _from_blocks(blocks, title=title, date=date, fmt="html", path=path, article_id=article_id, name=name)


def _page_text(page) -> str:  # type: ignore[no-untyped-def]
    """A page's text; layout mode keeps vertical gaps as blank lines (the paragraph breaks)."""
    try:
        return page.extract_text(extraction_mode="layout") or ""
    except Exception:  # noqa: BLE001 - layout mode gives up on some pages; plain mode still reads them
        return page.extract_text() or ""


def parse_pdf(data: bytes, *, article_id: str | None = None, path: str | None = None,
              name: str | None = None, title: str | None = None) -> Article:
    """The text of a PDF (pypdf), page by page; paragraphs are split at blank lines, lines joined with spaces."""
    import io

    from pypdf import PdfReader  # maintained pure-Python PDF reader
    from pypdf.errors import PyPdfError

    name = name or (Path(path).name if path else "uploaded PDF")
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # damaged files are reported once, by the ArticleError
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                ok = reader.decrypt("")
            except Exception:  # noqa: BLE001 - unsupported encryption
                ok = 0
            if not ok:
                raise ArticleError(f"{name}: the PDF is password-protected")
        pages = [_page_text(page) for page in reader.pages]
        meta = reader.metadata or {}
        title = _one_line(title) or (_one_line(str(meta.get("/Title") or "")) if meta else None)
        date = _iso_date(meta.get("/CreationDate")) if meta else None
    except ArticleError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError, RecursionError) as exc:
        raise ArticleError(f"{name}: not a readable PDF ({type(exc).__name__}: {str(exc)[:120]})") from exc
    blocks: list[str] = []
    for page in pages:
        page = page.replace("\r\n", "\n").replace("\r", "\n")
        for para in re.split(r"\n\s*\n", page):
            lines = [ln.strip() for ln in para.split("\n") if ln.strip()]
            joined = ""
            for ln in lines:  # join wrapped lines; a hyphen at a line end joins the word halves
                if joined.endswith("-") and len(joined) > 1 and joined[-2].isalpha() and ln[:1].islower():
                    joined = joined[:-1] + ln
                else:
                    joined = f"{joined} {ln}" if joined else ln
            if joined:
                blocks.append(joined)
    if not blocks:
        raise ArticleError(f"{name}: the PDF has no extractable text (a scanned image?)")
    if not title or title.lower() in ("untitled", "microsoft word"):
        first = blocks[0]
        title = first if len(blocks) > 1 and len(first) <= 120 and not first.endswith((".", "?", "!")) else None
        title = title or (Path(path).stem.replace("_", " ") if path else None)
    return _from_blocks(blocks, title=title, date=date, fmt="pdf", path=path, article_id=article_id, name=name)


def parse_bytes(raw: bytes, *, filename: str, article_id: str | None = None, path: str | None = None,
                title: str | None = None) -> Article:
    """An article from a file's bytes, its format chosen by the file name (then by content for text)."""
    suffix = Path(filename).suffix.lower()
    if suffix and suffix not in SUPPORTED_SUFFIXES:
        raise ArticleError(f"{filename}: unsupported file type {suffix!r} (supported: "
                           f"{', '.join(SUPPORTED_SUFFIXES)})")
    is_pdf = suffix in PDF_SUFFIXES or raw[:5] == b"%PDF-"
    limit = MAX_DOCUMENT_BYTES if (is_pdf or suffix in HTML_SUFFIXES) else MAX_ARTICLE_BYTES
    if len(raw) > limit:
        raise ArticleError(f"{filename}: {len(raw) / 1e6:.1f} MB is over the {limit // (1024 * 1024)} MiB limit")
    if not raw.strip():
        raise ArticleError(f"{filename}: the file is empty")
    if is_pdf:
        if raw[:1024].find(b"%PDF-") < 0:
            raise ArticleError(f"{filename}: not a PDF file (no %PDF header)")
        return parse_pdf(raw, article_id=article_id, path=path, name=filename, title=title)
    if b"\x00" in raw[:8192]:
        raise ArticleError(f"{filename}: looks like a binary file, not text")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ArticleError(f"{filename}: is not valid UTF-8 text (byte {exc.start})") from exc
    if suffix in HTML_SUFFIXES or looks_like_html(text):
        return parse_html(text, article_id=article_id, path=path, name=filename, title=title)
    return parse_article(text, article_id=article_id, path=path, title=title, name=filename)


def read_article(path: str | Path, *, article_id: str | None = None) -> Article:
    """Read and parse a file, refusing empty, binary, non-UTF-8, unsupported and oversized files with a clear error."""
    p = Path(path)
    if p.is_dir():
        raise ArticleError(f"{p}: is a folder, not an article file")
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise ArticleError(f"{p}: cannot read the file ({exc.strerror or exc})") from exc
    suffix = p.suffix.lower()
    if suffix and suffix not in SUPPORTED_SUFFIXES:
        raise ArticleError(f"{p}: unsupported file type {suffix!r} (supported: {', '.join(SUPPORTED_SUFFIXES)})")
    limit = MAX_DOCUMENT_BYTES if suffix in PDF_SUFFIXES + HTML_SUFFIXES else MAX_ARTICLE_BYTES
    if size > limit:
        raise ArticleError(f"{p}: {size / 1e6:.1f} MB is over the {limit // (1024 * 1024)} MiB limit")
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ArticleError(f"{p}: cannot read the file ({exc.strerror or exc})") from exc
    try:
        return parse_bytes(raw, filename=str(p), article_id=article_id, path=str(p))
    except ArticleError as exc:
        msg = str(exc)
        raise ArticleError(msg if msg.startswith(str(p)) else f"{p}: {msg}") from exc


def source_hash(path: Path) -> str | None:
    """Content hash of what the file would be indexed as, cheaply for text files (None when it must be parsed)."""
    if path.suffix.lower() in PDF_SUFFIXES + HTML_SUFFIXES:
        return None
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None
    if looks_like_html(text):
        return None
    return hashlib.sha256(text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")).hexdigest()


#: Several files are parsed in worker processes (one a core) once there is this much text: below it, starting
#: them costs more than it saves. RETRIEVAL_PARSE_PROCESSES=1 parses in the calling process always.
PARALLEL_MIN_FILES = 4
PARALLEL_MIN_BYTES = 128 * 1024


def _read_one(job: tuple[str, str | None]) -> Article | ArticleError:
    try:
        return read_article(job[0], article_id=job[1])
    except ArticleError as exc:
        return exc


def _parse_processes(files: int, total_bytes: int) -> int:
    """How many processes to parse this many files in (1: this one). Only by fork, and only while this process runs a
    single Python thread (`app.py add`, a script's build): forking beside other threads (a server's, or app.py's
    start-up importing the web stack) could copy a lock one of them holds, such as a module's import lock."""
    if files < PARALLEL_MIN_FILES or total_bytes < PARALLEL_MIN_BYTES:
        return 1
    import multiprocessing
    import os
    import threading

    wanted = os.environ.get("RETRIEVAL_PARSE_PROCESSES", "")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    n = min(int(wanted) if wanted.isdigit() and int(wanted) > 0 else cores, files)
    if n < 2 or threading.active_count() > 1 or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return n


def _file_size(path: str) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0  # read_article reports it


def read_articles(jobs: Sequence[tuple[str | Path, str | None]]) -> list[Article | ArticleError]:
    """read_article on each (path, article id), in order, each refusal returned in its place instead of raised.

    Many files' worth of text is parsed on every core (pysbd is pure Python: one core parses ~5,000 sentences a
    second), largest files first so the workers finish together."""
    items = [(str(p), aid) for p, aid in jobs]
    sizes = [_file_size(p) for p, _ in items] if len(items) >= PARALLEL_MIN_FILES else []
    procs = _parse_processes(len(items), sum(sizes))
    if procs < 2:
        return [_read_one(job) for job in items]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    order = sorted(range(len(items)), key=sizes.__getitem__, reverse=True)
    out: list[Article | ArticleError | None] = [None] * len(items)
    try:
        with ProcessPoolExecutor(max_workers=procs, mp_context=multiprocessing.get_context("fork")) as pool:
            for i, got in zip(order, pool.map(_read_one, [items[i] for i in order])):
                out[i] = got
    except (BrokenProcessPool, OSError) as exc:  # a worker killed (out of memory), or no fork: parse them here
        log.warning("parsing %d files in worker processes failed (%s); parsing them in this one", len(items), exc)
        return [_read_one(job) for job in items]
    return out  # type: ignore[return-value]
