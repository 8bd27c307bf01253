"""POST /api/articles (text, file, raw body) and DELETE /api/articles/{id}: same rules as the CLI, JSON errors."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from conftest import FakeEncoder
from pdf_util import make_pdf
from retrieval import Assistant

ELECTION = "City election\n\nVoters chose a new council on Sunday. Turnout was 61 percent.\n"


@pytest.fixture
def client(tmp_path):
    from web.articles_api import build_router

    lib = Assistant(index_dir=tmp_path, encoder=FakeEncoder())
    app = FastAPI()
    app.include_router(build_router(lib))

    @app.get("/api/articles")
    def articles():  # noqa: ANN202 - stands in for web/api.py's route
        return lib.articles()

    with TestClient(app) as c:
        c.lib = lib  # type: ignore[attr-defined]
        yield c


def test_add_text_then_list_then_delete(client) -> None:
    r = client.post("/api/articles", json={"text": ELECTION})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "added"
    assert body["article"] == {"id": "city-election", "title": "City election", "date": None, "format": "text",
                               "paragraphs": 1, "sentences": 2}
    again = client.post("/api/articles", json={"text": ELECTION})
    assert again.status_code == 200 and again.json()["status"] == "unchanged"
    same_title = client.post("/api/articles", json={"text": "Turnout fell to 40 percent.", "title": "City election"})
    assert same_title.status_code == 201 and same_title.json()["article"]["id"] == "city-election-2"
    assert [a["id"] for a in client.get("/api/articles").json()] == ["city-election", "city-election-2"]
    d = client.delete("/api/articles/city-election")
    assert d.status_code == 200 and d.json() == {"status": "removed", "id": "city-election"}
    missing = client.delete("/api/articles/city-election")
    assert missing.status_code == 404 and "no article with id 'city-election'" in missing.json()["error"]
    assert [a["id"] for a in client.get("/api/articles").json()] == ["city-election-2"]


def test_upload_files_multipart_and_raw(client) -> None:
    pdf = make_pdf([["Bridge reopens", "", "The bridge reopened on Monday. Cyclists crossed first."]],
                   created="2024-07-09")
    r = client.post("/api/articles", files={"file": ("bridge.pdf", pdf, "application/pdf")})
    assert r.status_code == 201, r.text
    assert r.json()["article"]["id"] == "bridge" and r.json()["article"]["format"] == "pdf"
    assert r.json()["article"]["date"] == "2024-07-09"
    page = ("<html><head><title>Harbour opens</title></head><body><article><h1>Harbour opens</h1>"
            "<p>The harbour opened in May. It cost 40 million euros.</p></article></body></html>")
    r = client.post("/api/articles?title=Harbour%20news", content=page.encode(), headers={"content-type": "text/html"})
    assert r.status_code == 201, r.text
    assert r.json()["article"]["format"] == "html" and r.json()["article"]["title"] == "Harbour news"
    r = client.post("/api/articles", data={"text": ELECTION, "title": "Vote"})
    assert r.status_code == 201 and r.json()["article"]["title"] == "Vote"
    assert client.lib.article("bridge").source.startswith("# Bridge reopens")


@pytest.mark.parametrize("kwargs,status,needle", [
    ({"json": {"text": ""}}, 400, "empty"),
    ({"json": {"text": "# Only a title\n"}}, 400, "no text"),
    ({"json": {"title": "x"}}, 400, "text"),
    ({"json": {"text": "x", "extra": 1}}, 400, "unknown field"),
    ({"json": ["not", "an", "object"]}, 400, "text"),
    ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400, "JSON"),
    ({"files": {"file": ("empty.txt", b"", "text/plain")}}, 400, "empty.txt"),
    ({"files": {"file": ("latin1.txt", "caf\xe9".encode("latin-1"), "text/plain")}}, 400, "latin1.txt"),
    ({"files": {"file": ("bin.txt", bytes(range(256)), "text/plain")}}, 400, "bin.txt"),
    ({"files": {"file": ("broken.pdf", b"%PDF-1.4 garbage", "application/pdf")}}, 400, "broken.pdf"),
    ({"files": {"file": ("slides.pptx", b"PK\x03\x04", "application/octet-stream")}}, 415, "slides.pptx"),
    ({"files": {"other": ("a.txt", b"hello", "text/plain")}}, 400, "file"),
    ({"content": b"abc", "headers": {"content-type": "image/png"}}, 415, "Content-Type"),
    ({"content": b"Big\n\n" + b"Words go here. " * 200_000, "headers": {"content-type": "text/plain"}}, 413, "limit"),
    ({"json": {"text": "x"}, "headers": {"origin": "https://evil.example"}}, 403, "evil.example"),
])
def test_bad_requests_get_json_errors_and_change_nothing(client, kwargs, status: int, needle: str) -> None:
    client.post("/api/articles", json={"text": ELECTION})
    r = client.post("/api/articles", **kwargs)
    assert r.status_code == status, r.text
    assert set(r.json()) == {"error"} and needle.lower() in r.json()["error"].lower()
    if needle.endswith((".txt", ".pdf", ".pptx")):
        assert r.json()["error"].startswith(needle)  # the file's name exactly as sent
    assert [a["id"] for a in client.get("/api/articles").json()] == ["city-election"]


def test_delete_from_another_origin_is_refused(client) -> None:
    client.post("/api/articles", json={"text": ELECTION})
    r = client.delete("/api/articles/city-election", headers={"origin": "https://evil.example"})
    assert r.status_code == 403 and "error" in r.json()
    assert [a["id"] for a in client.get("/api/articles").json()] == ["city-election"]


def test_routes_are_reachable_in_the_full_app(tmp_path) -> None:
    """Wired into web/server.py before the JSON API's /api catch-all: add, scope a question, delete."""
    from web.server import build_app

    lib = Assistant(index_dir=tmp_path, encoder=FakeEncoder())
    lib.warm_up()
    with TestClient(build_app(lib)) as c:
        r = c.post("/api/articles", json={"text": ELECTION})
        assert r.status_code == 201, r.text
        ids = [a["id"] for a in c.get("/api/articles").json()]
        assert ids == ["seed-article", "city-election"]
        ask = c.post("/api/ask", json={"question": "What was the turnout of the city election?",
                                       "article": "city-election"})
        assert ask.status_code == 200, ask.text
        assert all(x["article"]["id"] == "city-election" for x in ask.json()["citations"])
        assert c.delete("/api/articles/city-election").status_code == 200
        gone = c.post("/api/ask", json={"question": "turnout?", "article": "city-election"})
        assert gone.status_code == 404 and "error" in gone.json()
