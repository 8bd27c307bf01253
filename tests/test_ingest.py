"""Ingest: each format, offsets that give back the verbatim sentence, and clear refusals."""

from __future__ import annotations

import pytest

from conftest import SEED
from retrieval import ArticleError, parse_article, read_article
from retrieval.ingest import split_sentences


def test_seed_format_title_date_paragraphs() -> None:
    a = read_article(SEED)
    assert a.format == "seed"
    assert a.date == "2023-05-23"
    assert a.title == "Who Are the Soldiers Behind the Free Russia Legion?"
    assert len(a.paragraphs) == 15
    assert a.paragraphs[0].text.startswith("The fighters who’ve claimed duty")
    assert len(a.sentences) >= 25


def test_offsets_give_back_every_sentence_verbatim() -> None:
    a = read_article(SEED)
    for s in a.sentences:
        assert a.source[s.start:s.end] == s.text
        p = a.paragraphs[s.paragraph]
        assert p.start <= s.start < s.end <= p.end
    assert any(s.text.startswith("Caesar, who’s 50") for s in a.sentences)


def test_markdown_title_and_blank_line_paragraphs() -> None:
    src = "# Steam power\n\nThe first engine ran in 1712. It pumped water.\n\nWatt improved it.\n"
    a = parse_article(src, path="steam.md")
    assert (a.format, a.title, a.date) == ("markdown", "Steam power", None)
    assert [p.text for p in a.paragraphs] == ["The first engine ran in 1712. It pumped water.", "Watt improved it."]
    assert [s.text for s in a.sentences] == ["The first engine ran in 1712.", "It pumped water.", "Watt improved it."]
    assert [s.paragraph for s in a.sentences] == [0, 0, 1]


def test_plain_text_uses_a_short_first_line_as_title() -> None:
    a = parse_article("Town news\n\nThe mayor, Dr. Smith, opened the bridge. It cost $2.5 million.\n", path="n.txt")
    assert a.format == "text" and a.title == "Town news"
    assert [s.text for s in a.sentences] == ["The mayor, Dr. Smith, opened the bridge.", "It cost $2.5 million."]


def test_segmentation_keeps_abbreviations_together() -> None:
    text = "Mr. Jones arrived at 5 p.m. on Monday. He left."
    assert [text[s:e] for s, e in split_sentences(text)] == ["Mr. Jones arrived at 5 p.m. on Monday.", "He left."]


@pytest.mark.parametrize("content,needle", [
    (b"", "empty"),
    (b"   \n\n", "empty"),
    (b"\xff\xfe\x00\x01binary\x00", "binary"),
    (b"caf\xe9 au lait", "UTF-8"),
])
def test_bad_files_are_refused_naming_the_file(tmp_path, content: bytes, needle: str) -> None:
    f = tmp_path / "bad.txt"
    f.write_bytes(content)
    with pytest.raises(ArticleError, match=needle) as info:
        read_article(f)
    assert "bad.txt" in str(info.value)


def test_title_without_body_is_refused(tmp_path) -> None:
    f = tmp_path / "t.md"
    f.write_text("# Only a title\n", encoding="utf-8")
    with pytest.raises(ArticleError, match="no text"):
        read_article(f)


# ---- HTML (trafilatura) and PDF (pypdf) --------------------------------------------------------------------------
from pdf_util import make_pdf  # noqa: E402

from retrieval.ingest import MAX_ARTICLE_BYTES, parse_bytes  # noqa: E402

PAGE = """<!doctype html><html><head><title>Daily Gazette | Storm hits coast</title>
<meta property="og:title" content="Storm hits coast">
<meta property="article:published_time" content="2024-03-05T10:00:00Z">
<script>document.write('tracking pixel');</script><style>p { color: red }</style></head>
<body><nav><a href="/">Home</a> | <a href="/news">News</a> | <a href="/sport">Sport</a></nav>
<article><h1>Storm hits coast</h1>
<p>A powerful storm struck the northern coast on Tuesday. Winds reached 140 km/h near the harbour.</p>
<p>More than 20,000 homes lost power, the utility said. <img src=x onerror=alert(1)> Repairs may take a week.</p>
<script>alert("xss")</script>
<p>The mayor, Dr. Ana Ruiz, urged residents to stay indoors until Thursday.</p></article>
<footer>Copyright 2024 Daily Gazette. All rights reserved.</footer></body></html>"""


def _verbatim(a) -> None:
    for s in a.sentences:
        assert a.source[s.start:s.end] == s.text
        p = a.paragraphs[s.paragraph]
        assert p.start <= s.start < s.end <= p.end and a.source[p.start:p.end] == p.text


def test_html_main_text_title_and_date_are_extracted(tmp_path) -> None:
    f = tmp_path / "storm.html"
    f.write_text(PAGE, encoding="utf-8")
    a = read_article(f)
    assert (a.format, a.title, a.date) == ("html", "Storm hits coast", "2024-03-05")
    texts = [s.text for s in a.sentences]
    assert texts[0] == "A powerful storm struck the northern coast on Tuesday."
    assert "The mayor, Dr. Ana Ruiz, urged residents to stay indoors until Thursday." in texts
    body = " ".join(texts)
    for junk in ("Home", "Copyright", "tracking", "alert", "onerror", "<img", "<script", "color: red"):
        assert junk not in body  # menus, footer, scripts, styles and markup are not article text
    assert len(a.paragraphs) == 3
    _verbatim(a)


def test_text_file_that_is_a_whole_html_page_is_read_as_html(tmp_path) -> None:
    f = tmp_path / "saved-page.txt"
    f.write_text(PAGE, encoding="utf-8")
    assert read_article(f).format == "html"


def test_text_with_some_markup_is_kept_verbatim_as_text() -> None:
    src = "Markup test\n\nThe tag <script>alert(1)</script> was posted. An <img src=x onerror=alert(1)> followed.\n"
    a = parse_article(src, path="m.txt")
    assert a.format == "text" and a.title == "Markup test"
    assert any("<script>" in s.text for s in a.sentences)  # quoted as written; every front end escapes it
    _verbatim(a)


def test_pdf_text_title_date_and_paragraphs(tmp_path) -> None:
    data = make_pdf([["Harbour report", "", "The new harbour opened in May. It cost 40 million euros and took",
                      "three years to build.", "", "Fishermen wel-", "comed the change."],
                     ["On page two the mayor spoke. She thanked the builders."]],
                    title="Harbour opens", created="2024-06-01")
    f = tmp_path / "harbour.pdf"
    f.write_bytes(data)
    a = read_article(f)
    assert (a.format, a.title, a.date) == ("pdf", "Harbour opens", "2024-06-01")
    assert [p.text for p in a.paragraphs] == [
        "Harbour report", "The new harbour opened in May. It cost 40 million euros and took three years to build.",
        "Fishermen welcomed the change.", "On page two the mayor spoke. She thanked the builders."]
    assert "It cost 40 million euros and took three years to build." in [s.text for s in a.sentences]
    _verbatim(a)


def test_pdf_without_metadata_takes_a_short_first_line_as_title() -> None:
    a = parse_bytes(make_pdf([["Bridge reopens", "", "The bridge reopened on Monday. Traffic was light."]]),
                    filename="b.pdf")
    assert a.title == "Bridge reopens" and [s.text for s in a.sentences] == ["The bridge reopened on Monday.",
                                                                              "Traffic was light."]


@pytest.mark.parametrize("name,content,needle", [
    ("broken.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >>\ngarbage", "PDF"),
    ("fake.pdf", b"this is not a pdf at all", "not a PDF"),
    ("empty-page.pdf", make_pdf([[""]]), "no extractable text"),
    ("notes.docx", b"PK\x03\x04 zip", "unsupported file type"),
    ("image.png", b"\x89PNG\r\n\x1a\n\x00\x00", "unsupported file type"),
    ("scripts.html", b"<html><body><script>alert(1)</script></body></html>", "no article text"),
    ("title-only.html", b"<html><head><title>Only a title</title></head><body><h1>Only a title</h1></body></html>",
     "no"),
])
def test_bad_documents_are_refused_naming_the_file(tmp_path, name: str, content: bytes, needle: str) -> None:
    f = tmp_path / name
    f.write_bytes(content)
    with pytest.raises(ArticleError, match=needle) as info:
        read_article(f)
    assert name in str(info.value)


def test_oversized_text_is_refused_before_reading(tmp_path) -> None:
    f = tmp_path / "huge.txt"
    with f.open("wb") as fh:  # a sparse 20 MB file: refused from its size, so this is instant
        fh.truncate(20_000_000)
    with pytest.raises(ArticleError, match="limit") as info:
        read_article(f)
    assert "huge.txt" in str(info.value)
    with pytest.raises(ArticleError, match="limit"):
        parse_article("Big\n\n" + "Words go here. " * (MAX_ARTICLE_BYTES // 15 + 10), name="pasted text")


def test_pysbd_patterns_compiled_once_split_exactly_as_plain_re() -> None:
    """The pattern cache handed to pysbd (ingest._CompiledOnce) changes its speed, never its sentences."""
    import re
    import sys

    from retrieval import ingest

    seg = ingest._segmenter()
    paragraphs = [p for p in SEED.read_text(encoding="utf-8").split("\n") if p.strip()]
    paragraphs += ["Dr. Smith met Mr. J. R. R. Tolkien at 5 p.m. in the U.S.A. on Jan. 3. They talked (e.g. about Ch. 2)!",
                   "Is it 3.14? Yes... it is. \u201cReally?\u201d she asked. i. One ii. Two"]
    cached = [seg.segment(p) for p in paragraphs]
    patched = {n: m.re for n, m in list(sys.modules.items())
               if n.startswith("pysbd") and isinstance(getattr(m, "re", None), ingest._CompiledOnce)}
    assert "pysbd.abbreviation_replacer" in patched, "pysbd does not use the pattern cache"
    try:
        for n in patched:
            sys.modules[n].re = re  # type: ignore[attr-defined]
        plain = [seg.segment(p) for p in paragraphs]
    finally:
        for n, cache in patched.items():
            sys.modules[n].re = cache  # type: ignore[attr-defined]
    assert cached == plain


def test_the_fast_abbreviation_search_gives_pysbds_own_output() -> None:
    """ingest's abbreviation replacer only skips work: on the seed's paragraphs, tricky lines and 3,000 random lines
    made of pysbd's abbreviations (any case), periods, braces, case-folding letters (dotted and dotless i, long s,
    the Kelvin sign) and odd spaces, the processor gives exactly what a plain pysbd Segmenter gives."""
    import random

    import pysbd

    from retrieval import ingest

    fast = ingest._segmenter()
    plain = pysbd.Segmenter(language="en", clean=False)
    assert plain.language_module is not fast.language_module  # pysbd's own English is left as it is
    abbreviations = list(plain.language_module.Abbreviation.ABBREVIATIONS)
    lines = [p for p in SEED.read_text(encoding="utf-8").split("\n") if p.strip()]
    lines += ["Dr. Smith met Mr. J. R. R. Tolkien at 5 p.m. in the U.S.A. on Jan. 3. They talked (e.g. about Ch. 2)!",
              "Gen. Lee, Col. Brown and Capt. Hook (ret.) met at No. 5 St. James Ave. at 9 a.m. on Sept. 4.",
              "{al} x. The {co} Co. Ltd. said so. \u0130stanbul Co. and \u017ft. Mary's Ct. near Ala. and Ark.",
              "Prof. \u0131. Adams, Ph.D. wrote it i.e. the book. Vol. 3 Fig. 2 Art. 5 Sec. 4.\u00a0Co. Next."]
    rnd = random.Random(7)
    bits = [".", " ", "  ", "\t", ",", "?", "!", "{", "}", "I", "I'm", "3", "(", ":", "-", "The", "a", "\u0130",
            "\u0131", "\u017f", "\u212a", "\u00a0", "\u201c", "...", "U.S.", "e.g.", "No", "p.m.", "{co} "]
    for _ in range(3000):
        parts = []
        for _ in range(rnd.randint(3, 20)):
            word = rnd.choice(abbreviations) if rnd.random() < 0.6 else rnd.choice(bits)
            parts.append(rnd.choice([word, word.upper(), word.capitalize()]))
            parts.append(rnd.choice([".", " ", ". ", " ", ".  "]))
        lines.append("".join(parts))
    for line in lines:
        assert fast.processor(line).process() == plain.processor(line).process(), line


def test_many_files_parse_in_worker_processes_as_in_one(tmp_path) -> None:
    """read_articles parses a large set of files on every core (forked workers) with the articles, ids and
    refusals, in order, that read_article gives one file at a time. Run in a fresh interpreter: forking needs a
    single-threaded process, which a test session with servers running is not."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    paragraphs = [p for p in SEED.read_text(encoding="utf-8").split("\n")[1:] if p.strip()]
    files = []
    for i in range(6):
        f = tmp_path / f"article-{i}.md"
        body = "\n\n".join(paragraphs[i % 5:] * (3 + i))  # 50-100 KB each, different lengths
        f.write_text(f"# Article {i}\n\n{body}\n", encoding="utf-8")
        files.append(f)
    bad = tmp_path / "broken.txt"
    bad.write_bytes(b"\xff\xfe not text")
    files.insert(2, bad)
    code = """if True:
        import hashlib, json, sys
        from retrieval import ingest
        paths = sys.argv[1:]
        jobs = [(p, f"id-{i}") for i, p in enumerate(paths)]
        def digest(got):
            if isinstance(got, ingest.ArticleError):
                return "refused: " + str(got)
            return hashlib.sha256(json.dumps([got.id, got.title, [(s.article_id, s.paragraph, s.start, s.end, s.text)
                                                                 for s in got.sentences]]).encode()).hexdigest()
        procs = ingest._parse_processes(len(paths), sum(ingest.Path(p).stat().st_size for p in paths))
        print(json.dumps({"procs": procs, "digests": [digest(g) for g in ingest.read_articles(jobs)]}))
    """
    root = Path(__file__).resolve().parent.parent
    runs = {}
    for n in ("2", "1"):
        out = subprocess.run([sys.executable, "-c", code, *map(str, files)], capture_output=True, text=True,
                             cwd=root, env={**__import__("os").environ, "RETRIEVAL_PARSE_PROCESSES": n}, timeout=300)
        assert out.returncode == 0, out.stderr
        runs[n] = json.loads(out.stdout)
    assert runs["2"]["procs"] == 2 and runs["1"]["procs"] == 1
    assert runs["2"]["digests"] == runs["1"]["digests"]
    assert runs["1"]["digests"][2].startswith("refused: ") and "UTF-8" in runs["1"]["digests"][2]
    assert sum(d.startswith("refused") for d in runs["1"]["digests"]) == 1


def test_a_failed_worker_pool_parses_the_files_in_this_process(tmp_path, monkeypatch, caplog) -> None:
    """A worker killed mid-parse (out of memory) breaks the pool: the files are parsed again here, same results."""
    import concurrent.futures
    from concurrent.futures.process import BrokenProcessPool

    from retrieval import ingest

    class Broken:
        def __init__(self, *args, **kwargs) -> None:
            pass

        def __enter__(self) -> "Broken":
            return self

        def __exit__(self, *exc) -> None:
            return None

        def map(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            raise BrokenProcessPool("a child process terminated abruptly")

    files = []
    for i in range(4):
        f = tmp_path / f"a{i}.md"
        f.write_text(f"# Article {i}\n\nIt rained on day {i}. The river rose.\n", encoding="utf-8")
        files.append(f)
    (tmp_path / "bad.txt").write_bytes(b"")
    jobs = [(f, f"id-{i}") for i, f in enumerate(files + [tmp_path / "bad.txt"])]
    monkeypatch.setattr(ingest, "_parse_processes", lambda files, total_bytes: 2)
    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", Broken)
    got = ingest.read_articles(jobs)
    assert [a.id for a in got[:4]] == ["id-0", "id-1", "id-2", "id-3"]
    assert [s.text for s in got[2].sentences] == ["It rained on day 2.", "The river rose."]
    assert isinstance(got[4], ArticleError) and "empty" in str(got[4])
    assert "parsing them in this one" in caplog.text


def test_split_reads_the_processors_sentences_with_the_spans_segment_would_give() -> None:
    """split_sentences skips pysbd's segment() step that finds each sentence again with a regex compiled from it;
    on tricky paragraphs (abbreviations, quotes, a repeated sentence, odd spacing) the spans are segment()'s."""
    from retrieval.ingest import _segmenter

    texts = [
        "Dr. Smith arrived at 5 p.m. on Jan. 3. He said: “It is done.” It is done. It is done.",
        "The U.S. Army's 3rd Div. (the “Rock”) moved.   Then it stopped!  Why? Nobody knows...",
        "No abbreviation here. Mr. and Mrs. Jones, i.e. the neighbours, e.g. at No. 5, left at 10 a.m. sharp.",
        "Prices rose 3.5 % in 1973. OPEC's members (e.g. Saudi Arabia) cut output.Then came 1979.",
    ]
    for text in texts:
        expected, cursor = [], 0
        for piece in _segmenter().segment(text):  # what split_sentences did before
            piece = piece.strip()
            at = text.find(piece, cursor)
            expected.append((at, at + len(piece)))
            cursor = at + len(piece)
        assert split_sentences(text) == expected, text
        assert len(expected) >= 2
