"""The chat's article tools in Debian's Chromium, as a new user uses them: paste an article and upload a file (with
progress), pick one article or all, read citations that name the article, remove one; markup stays text.
SAVE_SCREENSHOTS=1 also writes docs/chat-articles.png."""

from __future__ import annotations

import os
import re

import httpx
import pytest

from conftest import ROOT, free_port, start_server, stop_server

PASTED = ("The council voted 7 to 2 on Monday to build a new public library. Construction starts in spring, "
          "the mayor said. The comment box showed <img src=x onerror=alert(1)> for an hour.")
PAGE = ("<!doctype html><html><head><title>Harbour opens</title>"
        "<meta property='article:published_time' content='2024-06-01'></head><body><nav>Home | Port</nav>"
        "<article><h1>Harbour opens</h1><p>The new fishing harbour opened in May after three years of work.</p>"
        "<p>It cost 40 million euros, the port authority said.</p></article></body></html>")


@pytest.fixture(scope="module")
def chat_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("chat-articles")
    port = free_port()
    proc, lines = start_server(["--index-dir", str(tmp / "index")], port)
    yield {"url": f"http://127.0.0.1:{port}", "tmp": tmp}
    stop_server(proc)


def _pick(page, label: str) -> None:
    """Choose an entry of the article picker (a Gradio dropdown) by its visible label."""
    page.locator("#article-picker input").click()
    page.get_by_role("option", name=label, exact=True).click()
    page.wait_for_timeout(300)


def _ask(page, question: str) -> str:
    before = page.locator(".message").count()
    page.fill("#question textarea", question)
    page.click("#ask")
    page.wait_for_function(f"document.querySelectorAll('.message').length >= {before + 2}", timeout=60_000)
    page.wait_for_timeout(300)
    return page.locator(".message").last.inner_text()


def test_paste_upload_pick_ask_remove(browser, chat_server) -> None:
    url = chat_server["url"]
    alerts: list[str] = []
    page = browser.new_page(viewport={"width": 1100, "height": 1500})
    page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
    page.goto(url + "/", wait_until="networkidle")
    page.get_by_text("Add an article").click()

    # paste
    page.get_by_role("tab", name="Paste text").click()
    page.fill("#paste-title input, #paste-title textarea", "Council vote")
    page.fill("#paste-text textarea", PASTED)
    page.click("#add-text")
    page.wait_for_function("document.querySelector('#article-status')?.innerText.includes('Added')", timeout=120_000)
    assert "Added: “Council vote”" in page.inner_text("#article-status")
    assert page.locator("#article-picker input").input_value() == "Council vote"

    # upload
    page.get_by_role("tab", name="Upload a file").click()
    page.set_input_files("#article-file input[type=file]", files=[{"name": "harbour.html", "mimeType": "text/html",
                                                                     "buffer": PAGE.encode()}])
    page.wait_for_timeout(500)
    page.click("#add-file")
    page.wait_for_function("document.querySelector('#article-status')?.innerText.includes('Harbour opens')",
                           timeout=120_000)
    assert "Added: “Harbour opens” (2024-06-01)" in page.inner_text("#article-status")
    assert page.locator("#article-picker input").input_value() == "Harbour opens (2024-06-01)"

    # one article: the citation names it
    reply = _ask(page, "How much did it cost?")
    assert "40 million euros" in reply and "Harbour opens, 2024-06-01" in reply
    # all articles
    _pick(page, "All articles")
    reply = _ask(page, "How did the council vote on the library?")
    assert "7 to 2" in reply and "Council vote" in reply
    evidence = page.inner_html("#evidence")
    assert "<mark" in evidence
    reply = _ask(page, "What did the comment box show?")
    assert "<img src=x onerror=alert(1)>" in reply  # shown as text
    assert page.locator(".message img[src='x']").count() == 0 and page.locator("#evidence img").count() == 0
    if os.environ.get("SAVE_SCREENSHOTS") == "1":
        page.screenshot(path=str(ROOT / "docs" / "chat-articles.png"), full_page=True)

    # remove the pasted article
    _pick(page, "Council vote")
    page.click("#remove-article")
    page.wait_for_function("document.querySelector('#article-status')?.innerText.includes('Removed')", timeout=60_000)
    assert re.search(r"Removed “Council vote” \(id council-vote\)", page.inner_text("#article-status"))
    assert page.locator("#article-picker input").input_value() == "All articles"
    ids = [a["id"] for a in httpx.get(url + "/api/articles").json()]
    assert ids == ["seed-article", "harbour"]
    assert not alerts
    page.close()
