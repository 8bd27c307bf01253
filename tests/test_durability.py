"""Index faults: a process killed in the middle of a build leaves the previous index loadable; answers stay
consistent while an article is re-indexed in another thread; bad articles never cost what is already indexed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from conftest import ROOT, FakeEncoder
from retrieval import Assistant, parse_article
from retrieval.store import MANIFEST, Store

HERE = os.path.dirname(os.path.abspath(__file__))

A_TEXT = "# Cats\n\nCats sleep most of the day. A cat purrs when content.\n"

#: The child: index article A, then sync a big article B with a slow encoder, dying where the test says.
CHILD = textwrap.dedent("""
    import io, os, signal, sys, time
    sys.path[:0] = [{root!r}, {here!r}]
    from conftest import FakeEncoder
    import retrieval.store as store
    from retrieval import parse_article
    from retrieval.ingest import Article, Paragraph, Sentence

    directory, mode = sys.argv[1], sys.argv[2]

    class Slow(FakeEncoder):
        def encode(self, texts, **kw):
            time.sleep(0.02)
            return super().encode(texts, **kw)

    s = store.Store(directory, Slow())
    s.load()
    if not s.snapshot.articles:
        s.sync([parse_article({a_text!r}, article_id="a", path="a.md")])
    # a big-ish article (6,000 sentences), built directly: one sentence a paragraph
    lines = [f"Sentence number {{i}} talks about topic {{i % 97}} and harbour {{i % 13}}." for i in range(6000)]
    source = "\\n".join(lines)
    big = Article(id="big", title="Big", date=None, source=source, format="text", path="big.txt")
    pos = 0
    for i, line in enumerate(lines):
        big.paragraphs.append(Paragraph(i, pos, pos + len(line), line))
        big.sentences.append(Sentence("big", i, i, pos, pos + len(line), line))
        pos += len(line) + 1

    writes = {{"n": 0}}
    real_write = store.write_atomic_with

    def dying_write(path, write):
        writes["n"] += 1
        if mode == "manifest-half-written" and path.name == store.MANIFEST:
            buf = io.BytesIO()
            write(buf)
            data = buf.getvalue()
            tmp = path.with_name("." + path.name + ".dying.tmp")
            with open(tmp, "wb") as fh:
                fh.write(data[: len(data) // 2])
                fh.flush()
                os.fsync(fh.fileno())
            os.kill(os.getpid(), signal.SIGKILL)
        got = real_write(path, write)
        if (mode, writes["n"]) in (("after-vectors", 1), ("after-articles", 2)):
            os.kill(os.getpid(), signal.SIGKILL)
        return got

    store.write_atomic_with = dying_write

    def progress(done, total):
        print("progress", done, total, flush=True)

    print("ready", flush=True)
    s.sync([big], progress=progress)
    print("finished", flush=True)
""")


def _child(tmp_path, mode: str) -> subprocess.Popen:
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(root=str(ROOT), here=HERE, a_text=A_TEXT), encoding="utf-8")
    return subprocess.Popen([sys.executable, str(script), str(tmp_path / "idx"), mode], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, HF_HUB_OFFLINE="1"))


def _search_a(store: Store) -> str:
    enc = FakeEncoder()
    _, ids = store.snapshot.index.search(enc.encode(["when does a cat purr"]), 1)
    return store.snapshot.sentences[ids[0][0]].text


@pytest.mark.parametrize("mode", ["killed-while-embedding", "killed-when-saving-starts", "after-vectors",
                                  "after-articles", "manifest-half-written"])
def test_sigkill_mid_build_leaves_the_previous_index_loadable(tmp_path, mode: str) -> None:
    proc = _child(tmp_path, mode)
    lines = []
    killed_by_us = False
    deadline = time.time() + 120
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.strip())
        if mode == "killed-while-embedding" and line.startswith("progress") and len(lines) >= 4:
            proc.send_signal(signal.SIGKILL)  # a real kill, from outside, in the middle of the build
            killed_by_us = True
            break
        if mode == "killed-when-saving-starts" and line.startswith("progress 6000 6000"):
            proc.send_signal(signal.SIGKILL)  # embedding done: the new generation is being assembled and written
            killed_by_us = True
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, (mode, lines, proc.stderr.read()[-2000:])
    assert "finished" not in lines and ("ready" in lines)
    assert killed_by_us or mode not in ("killed-while-embedding", "killed-when-saving-starts")

    idx = tmp_path / "idx"
    if mode in ("after-vectors", "after-articles", "manifest-half-written"):
        import json

        named = set(f["name"] for f in json.loads((idx / MANIFEST).read_text())["files"].values())
        orphans = {p.name for p in idx.iterdir() if p.name.startswith(("vectors-", "articles-"))} - named
        assert orphans, "the kill was meant to land after the new generation's files were written"
    store = Store(idx, FakeEncoder())
    assert store.load() is True  # the manifest still names a whole, checksummed generation
    assert list(store.snapshot.articles) == ["a"] or (mode == "killed-when-saving-starts"
                                                     and set(store.snapshot.articles) == {"a", "big"})
    assert _search_a(store) == "A cat purrs when content."

    # the next build over the leftovers works and loads
    big = parse_article("# Big\n\nHarbours hold boats. Boats need water.\n", article_id="big", path="big.md")
    store.sync([big])
    again = Store(tmp_path / "idx", FakeEncoder())
    assert again.load() is True and set(again.snapshot.articles) == {"a", "big"}


def test_answers_stay_consistent_while_an_article_is_reindexed(tmp_path) -> None:
    enc = FakeEncoder()
    lib = Assistant(index_dir=tmp_path, encoder=enc)
    lib.add_text(A_TEXT)
    versions = ["# Boats\n\nBoats float on water. A harbour shelters boats from storms.\n",
                "# Boats\n\nBoats float on water. A harbour shelters boats from storms. Sails catch wind.\n"]
    f = tmp_path / "boats.md"
    f.write_text(versions[0], encoding="utf-8")
    lib.add(f)
    lib.warm_up()
    reference = lib.answer("when does a cat purr", article="cats")
    ref_ranked = [c.text for c in reference.ranked]
    stop = threading.Event()
    errors: list[BaseException] = []
    reindexed = {"n": 0}

    def reindex() -> None:
        try:
            i = 0
            while not stop.is_set():
                i += 1
                f.write_text(versions[i % 2], encoding="utf-8")
                lib.add(f)
                reindexed["n"] += 1
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    worker = threading.Thread(target=reindex)
    worker.start()
    try:
        seen_boats = set()
        deadline = time.time() + 3
        asked = 0
        while time.time() < deadline or reindexed["n"] < 5:
            ans = lib.answer("when does a cat purr", article="cats")
            assert [c.text for c in ans.ranked] == ref_ranked  # the other article's answer never changes
            boats = lib.answer("what shelters boats", article="boats")
            texts = [c.text for c in boats.ranked]
            assert texts and set(texts) <= {"Boats float on water.", "A harbour shelters boats from storms.",
                                            "Sails catch wind."}
            for c in boats.ranked:  # every citation points into the version of the article it came from
                assert c.article_id == "boats" and c.end > c.start
            seen_boats.add(len(texts))
            asked += 1
            if time.time() > deadline + 30:
                break
    finally:
        stop.set()
        worker.join(timeout=60)
    assert not errors, errors
    assert reindexed["n"] >= 5 and asked >= 5
    assert seen_boats <= {2, 3}
    final = Assistant(index_dir=tmp_path, encoder=enc)
    assert {a["id"] for a in final.articles()} == {"cats", "boats"}


# ---- bad articles: each is refused with the file's name (or indexed sanely); what was indexed stays ------------
BAD = {
    "empty.txt": b"",
    "blank.md": b"\n\n   \n",
    "title-only.md": "# Only a title\n".encode(),
    "latin1.txt": "Caf\xe9 society\n\nThe caf\xe9 opened.".encode("latin-1"),
    "binary.txt": bytes(range(256)) * 20,
    "image.png": b"\x89PNG\r\n\x1a\n" + bytes(100),
    "broken.pdf": b"%PDF-1.7\n1 0 obj <<",
    "scripts-only.html": b"<html><body><script>alert(1)</script><img src=x onerror=alert(1)></body></html>",
}


def test_bad_articles_are_refused_and_the_library_keeps_answering(tmp_path) -> None:
    enc = FakeEncoder()
    lib = Assistant(index_dir=tmp_path / "idx", encoder=enc)
    lib.add_text(A_TEXT)
    before = [c.text for c in lib.answer("when does a cat purr").ranked]
    version = lib.store.snapshot.version
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    for name, data in BAD.items():
        (bad_dir / name).write_bytes(data)
    huge = bad_dir / "huge.txt"
    with huge.open("wb") as fh:
        fh.truncate(20_000_000)  # 20 MB (sparse): refused from its size at once
    for f in sorted(bad_dir.iterdir()):
        res = lib.add_paths([f])
        assert not res.added and len(res.refused) == 1, f.name
        assert f.name in res.refused[0][1], res.refused[0][1]
    res = lib.add_folder(bad_dir)
    assert not res.added and len(res.refused) == len(BAD) + 1
    for name, data in BAD.items():
        with pytest.raises(Exception) as info:
            lib.add_bytes(data, name)
        assert name in str(info.value)
    assert lib.store.snapshot.version == version  # nothing was rewritten
    again = Assistant(index_dir=tmp_path / "idx", encoder=enc)
    again.warm_up()
    assert [a["id"] for a in again.articles()] == ["cats"]
    assert [c.text for c in again.answer("when does a cat purr").ranked] == before


def test_article_full_of_html_is_indexed_as_text_and_escaped_in_the_chat(tmp_path) -> None:
    from web.chat import answer_markdown, evidence_html

    lib = Assistant(index_dir=tmp_path, encoder=FakeEncoder())
    text = ("Hostile markup\n\nThe comment said <img src=x onerror=alert(1)> and nothing else. "
            "Another comment held <script>alert('xss')</script> inside it.\n")
    art, _ = lib.add_text(text)
    ans = lib.answer("what did the comment with the img onerror say")
    assert any("<img src=x onerror=alert(1)>" in c.text for c in ans.ranked)  # quoted verbatim
    # the chat shows it escaped, citation and evidence alike
    from dataclasses import replace

    shown = replace(ans, abstained=False, citations=[replace(c, number=i + 1) for i, c in enumerate(ans.ranked[:2])])
    md, ev = answer_markdown(shown), evidence_html(lib, shown)
    for out in (md, ev):
        assert "<img" not in out and "<script" not in out
    assert "&lt;img src=x onerror=alert(1)&gt;" in md + ev
