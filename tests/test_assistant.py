"""The library: add files, folders and pasted text, ask one article or all, remove, and keep it all across restarts."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import SEED, FakeEncoder
from pdf_util import make_pdf
from retrieval import ArticleError, Assistant, QuestionError
from retrieval.store import MANIFEST

STORM = ("# Storm hits coast\n\ndate: 2024-03-05\n\nA powerful storm struck the northern coast on Tuesday. "
         "Winds reached 140 km/h near the harbour.\n\nMore than 20,000 homes lost power, the utility said. "
         "Repairs may take a week.\n")
HARBOUR_PAGE = ("<!doctype html><html><head><title>Harbour opens</title>"
                "<meta property='article:published_time' content='2024-06-01'></head><body><nav>Home | News</nav>"
                "<article><h1>Harbour opens</h1><p>The new fishing harbour opened in May after three years of "
                "building work.</p><p>It cost 40 million euros, paid mostly by the regional government.</p>"
                "</article><footer>Copyright</footer></body></html>")
ELECTION = ("City election\n\nVoters chose a new council on Sunday. Turnout was 61 percent, the highest since 1990."
            "\n\nThe Green party won nine of the 31 seats.\n")


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "articles"
    d.mkdir()
    (d / "storm.md").write_text(STORM, encoding="utf-8")
    (d / "harbour.html").write_text(HARBOUR_PAGE, encoding="utf-8")
    (d / "bridge.pdf").write_bytes(make_pdf([["Bridge reopens", "", "The old stone bridge reopened on Monday "
                                              "after repairs that cost 2 million euros.", "",
                                              "Cyclists were the first to cross it."]], created="2024-07-09"))
    (d / "notes.docx").write_bytes(b"PK\x03\x04")
    (d / ".hidden.md").write_text("# Hidden\n\nNot an article.\n", encoding="utf-8")
    return d


def test_add_folder_list_remove_and_restart(tmp_path, folder) -> None:
    enc = FakeEncoder()
    lib = Assistant(index_dir=tmp_path / "idx", encoder=enc)
    res = lib.add_folder(folder)
    assert sorted(a.id for a in res.added) == ["bridge", "harbour", "storm"]
    assert [f for f, _ in res.refused] == [str(folder / "notes.docx")]
    assert "notes.docx" in res.refused[0][1] and "unsupported" in res.refused[0][1]
    listed = {a["id"]: a for a in lib.articles()}
    assert (listed["harbour"]["title"], listed["harbour"]["date"], listed["harbour"]["format"]) == \
        ("Harbour opens", "2024-06-01", "html")
    assert (listed["bridge"]["format"], listed["bridge"]["date"]) == ("pdf", "2024-07-09")
    art, rep = lib.add_text(ELECTION)
    assert (art.id, art.title, rep.added) == ("city-election", "City election", ["city-election"])

    # restart: everything is still there, nothing is embedded again
    before = enc.encoded
    again = Assistant(index_dir=tmp_path / "idx", encoder=enc)
    rep = again.warm_up()
    assert rep.embedded == 0 and enc.encoded == before
    assert [a["id"] for a in again.articles()] == ["bridge", "harbour", "storm", "city-election"]
    assert again.article("city-election").source == ELECTION  # pasted text lives in the index itself

    assert again.remove("storm") is True and again.remove("storm") is False
    third = Assistant(index_dir=tmp_path / "idx", encoder=enc)
    third.warm_up()
    assert "storm" not in {a["id"] for a in third.articles()}
    assert all(s.article_id != "storm" for s in third.store.snapshot.sentences)
    assert third.store.snapshot.index.ntotal == len(third.store.snapshot.sentences)
    manifest = json.loads((third.store.directory / MANIFEST).read_text())
    assert set(manifest["articles"]) == {"bridge", "harbour", "city-election"}


def test_only_new_or_changed_articles_are_embedded(tmp_path, folder) -> None:
    enc = FakeEncoder()
    lib = Assistant(index_dir=tmp_path / "idx", encoder=enc)
    lib.add_folder(folder)
    n = enc.encoded
    res = lib.add_folder(folder)  # nothing changed
    assert res.added == [] and res.updated == [] and len(res.unchanged) == 3 and enc.encoded == n
    (folder / "storm.md").write_text(STORM + "\nThe coast guard rescued two sailors.\n", encoding="utf-8")
    res = lib.add_folder(folder)
    assert [a.id for a in res.updated] == ["storm"] and res.report.embedded == len(res.updated[0].sentences)
    assert enc.encoded == n + len(res.updated[0].sentences)
    # a restart re-indexes a library file that changed on disk, and only that one
    (folder / "storm.md").write_text(STORM, encoding="utf-8")
    rep = Assistant(index_dir=tmp_path / "idx", encoder=enc).warm_up()
    assert rep.updated == ["storm"] and sorted(rep.unchanged) == ["bridge", "harbour"]
    # the same pasted text twice is one article, embedded once
    art1, _ = lib.add_text(ELECTION)
    n = enc.encoded
    art2, rep2 = lib.add_text(ELECTION)
    assert art2.id == art1.id and rep2.embedded == 0 and enc.encoded == n


def test_same_title_articles_stay_distinct(tmp_path) -> None:
    lib = Assistant(index_dir=tmp_path / "idx", encoder=FakeEncoder())
    a, _ = lib.add_text("Cats sleep most of the day. A cat purrs when content.", title="Cats")
    b, _ = lib.add_text("Cats were sacred in ancient Egypt. Killing one was a crime.", title="Cats")
    d1, d2 = tmp_path / "one", tmp_path / "two"
    d1.mkdir(), d2.mkdir()
    (d1 / "cats.md").write_text("# Cats\n\nLions are big cats.\n", encoding="utf-8")
    (d2 / "cats.md").write_text("# Cats\n\nHouse cats weigh about 4 kg.\n", encoding="utf-8")
    res = lib.add_paths([d1 / "cats.md", d2 / "cats.md"])
    ids = [a.id, b.id] + [x.id for x in res.added]
    assert ids == ["cats", "cats-2", "cats-3", "cats-4"]
    again = Assistant(index_dir=tmp_path / "idx", encoder=FakeEncoder())
    assert [x["title"] for x in again.articles()] == ["Cats"] * 4
    assert again.article("cats-2").sentences[0].text == "Cats were sacred in ancient Egypt."
    assert again.remove("cats") and [x["id"] for x in again.articles()] == ["cats-2", "cats-3", "cats-4"]


def test_library_starts_with_the_seed_only_when_fresh(tmp_path) -> None:
    enc = FakeEncoder()
    lib = Assistant(index_dir=tmp_path, encoder=enc)
    lib.warm_up()
    assert [a["id"] for a in lib.articles()] == ["seed-article"]
    assert lib.remove("seed-article")
    again = Assistant(index_dir=tmp_path, encoder=enc)
    again.warm_up()
    assert again.articles() == []  # the user emptied it: the seed does not come back
    assert again.answer("Who is Caesar?").abstained
    # adding to a fresh index from the CLI side does not bring the seed in either
    other = Assistant(index_dir=tmp_path / "other", encoder=enc)
    other.add_text(ELECTION)
    other.warm_up()
    assert [a["id"] for a in other.articles()] == ["city-election"]


def test_serving_a_file_list_leaves_the_library_alone(tmp_path) -> None:
    enc = FakeEncoder()
    Assistant(index_dir=tmp_path, encoder=enc).add_text(ELECTION)
    served = Assistant(articles=[SEED], index_dir=tmp_path, encoder=enc)
    served.warm_up()
    assert [a["id"] for a in served.articles()] == ["seed-article"]
    assert [a["id"] for a in Assistant(index_dir=tmp_path, encoder=enc).articles()] == ["city-election"]


def test_another_process_sees_changes(tmp_path) -> None:
    enc = FakeEncoder()
    server = Assistant(index_dir=tmp_path, encoder=enc)
    server.warm_up()
    cli = Assistant(index_dir=tmp_path, encoder=enc)
    cli.add_text(ELECTION)
    assert "city-election" in {a["id"] for a in server.articles()}  # picked up from the manifest
    server.add_text(STORM)  # a write starts from what is on disk: the CLI's article is kept
    cli.remove("seed-article")
    assert {a["id"] for a in Assistant(index_dir=tmp_path, encoder=enc).articles()} == {"city-election",
                                                                                         "storm-hits-coast"}


def test_file_that_went_bad_keeps_its_indexed_version(tmp_path) -> None:
    f = tmp_path / "storm.md"
    f.write_text(STORM, encoding="utf-8")
    lib = Assistant(index_dir=tmp_path / "idx", encoder=FakeEncoder())
    lib.add(f)
    f.write_bytes(b"\xff\xfe broken")
    again = Assistant(index_dir=tmp_path / "idx", encoder=FakeEncoder())
    again.warm_up()
    assert again.warnings and "storm.md" in again.warnings[0]
    assert again.article("storm").title == "Storm hits coast"
    with pytest.raises(ArticleError, match="storm.md"):
        again.add(f)


def test_scope_to_an_unknown_article_is_a_clear_error(tmp_path) -> None:
    lib = Assistant(index_dir=tmp_path, encoder=FakeEncoder())
    lib.add_text(ELECTION)
    with pytest.raises(QuestionError, match="no article with id 'nope'"):
        lib.answer("Who won?", article="nope")


# ---- with the real model: citations name the right article; scoping --------------------------------------------
@pytest.fixture(scope="module")
def real_library(encoder, tmp_path_factory):
    root = tmp_path_factory.mktemp("real-lib")
    d = root / "articles"
    d.mkdir()
    (d / "storm.md").write_text(STORM, encoding="utf-8")
    (d / "harbour.html").write_text(HARBOUR_PAGE, encoding="utf-8")
    (d / "election.txt").write_text(ELECTION, encoding="utf-8")
    shutil.copy(SEED, d / "legion.txt")
    lib = Assistant(index_dir=root / "idx", encoder=encoder)
    res = lib.add_folder(d)
    assert len(res.added) == 4 and not res.refused
    lib.warm_up()
    return lib


@pytest.mark.parametrize("question,article_id,title,date,needle", [
    ("How fast were the winds during the storm?", "storm", "Storm hits coast", "2024-03-05", "140 km/h"),
    ("How many euros did the harbour cost?", "harbour", "Harbour opens", "2024-06-01", "40 million euros"),
    ("What was the voter turnout?", "election", "City election", None, "61 percent"),
    ("Who is Caesar?", "legion", "Who Are the Soldiers Behind the Free Russia Legion?", "2023-05-23", "Caesar"),
])
def test_citations_name_the_right_article(real_library, question, article_id, title, date, needle) -> None:
    ans = real_library.answer(question)
    assert not ans.abstained
    c = ans.citations[0]
    assert (c.article_id, c.article_title, c.article_date) == (article_id, title, date)
    assert needle in c.text
    art = real_library.article(c.article_id)
    assert art.source[c.start:c.end] == c.text
    scoped = real_library.answer(question, article=article_id)
    assert scoped.citations[0].text == c.text


def test_scoped_question_stays_in_its_article(real_library) -> None:
    ans = real_library.answer("How much did the harbour cost?", article="storm")
    assert all(c.article_id == "storm" for c in ans.ranked)
    elsewhere = real_library.answer("What was the voter turnout?", article="harbour")
    assert elsewhere.abstained or all(c.article_id == "harbour" for c in elsewhere.citations)


def test_library_emptied_before_the_first_question_is_not_reseeded(tmp_path) -> None:
    lib = Assistant(index_dir=tmp_path, encoder=FakeEncoder())
    art, _ = lib.add_text(ELECTION)
    lib.remove(art.id)
    assert lib.answer("Who won?").abstained and lib.articles() == []


def test_a_restart_on_a_small_library_answers_the_same_without_importing_faiss(tmp_path) -> None:
    """A flat library is read as its vectors (the answerer scans them all): the start skips faiss's ~50 ms and 14 MB."""
    import subprocess
    import sys

    code = ("import sys\nfrom retrieval import Assistant\n"
            f"a = Assistant(articles=[{str(SEED)!r}], index_dir={str(tmp_path / 'index')!r})\n"
            "ans = a.answer('Who oversees the legion?')\n"
            "print(repr(ans.citations[0].text))\nprint('faiss imported:', 'faiss' in sys.modules)\n")
    runs = [subprocess.run([sys.executable, "-c", code], cwd=SEED.parent.parent, capture_output=True, text=True,
                           timeout=300, check=True).stdout.splitlines() for _ in range(2)]
    first, again = runs
    assert first[1] == "faiss imported: True"  # the build makes and saves the FAISS index
    assert again[1] == "faiss imported: False"  # the restart reads it back as vectors
    assert "overseen by Ukraine" in first[0] and again[0] == first[0]
