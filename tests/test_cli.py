"""The real CLI: add files and folders, list, remove (all with --index-dir), and serve a folder with --articles."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from conftest import ROOT, free_port, start_server
from pdf_util import make_pdf

STORM = ("# Storm hits coast\n\ndate: 2024-03-05\n\nA powerful storm struck the northern coast on Tuesday. "
         "Winds reached 140 km/h.\n\nMore than 20,000 homes lost power, the utility said.\n")
PAGE = ("<!doctype html><html><head><title>Harbour opens</title><meta name='date' content='2024-06-01'></head>"
        "<body><nav>Home | News</nav><article><h1>Harbour opens</h1><p>The new fishing harbour opened in May "
        "after three years of work.</p><p>It cost 40 million euros, the port authority said.</p></article>"
        "</body></html>")


def cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "app.py", *args], cwd=ROOT, capture_output=True, text=True, env=env,
                          timeout=timeout)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli-articles")
    (d / "storm.md").write_text(STORM, encoding="utf-8")
    (d / "harbour.html").write_text(PAGE, encoding="utf-8")
    (d / "bridge.pdf").write_bytes(make_pdf([["Bridge reopens", "", "The stone bridge reopened on Monday.", "",
                                              "Cyclists were the first to cross it."]]))
    (d / "broken.txt").write_bytes(b"caf\xe9 au lait")
    return d


def test_add_list_remove_with_index_dir(tmp_path, folder) -> None:
    idx = tmp_path / "idx"
    r = cli("add", str(folder), "--index-dir", str(idx))
    assert r.returncode == 1, r.stderr  # one file refused
    assert "refused: " in r.stderr and "broken.txt" in r.stderr and "UTF-8" in r.stderr
    for line in ("added storm  “Storm hits coast” (2024-03-05, markdown, 3 sentences)",
                 "added harbour  “Harbour opens” (2024-06-01, html, 2 sentences)",
                 "added bridge  “Bridge reopens” (no date, pdf, 2 sentences)"):
        assert line in r.stdout, r.stdout
    assert "3 article(s) in the library" in r.stdout

    listed = cli("--index-dir", str(idx), "list")  # the option before the command works too
    assert listed.returncode == 0
    assert [ln.split()[0] for ln in listed.stdout.splitlines()] == ["bridge", "harbour", "storm"]
    assert str(folder / "harbour.html") in listed.stdout

    again = cli("add", str(folder / "storm.md"), "--index-dir", str(idx))
    assert again.returncode == 0 and "unchanged storm" in again.stdout and "embedded 0 sentence(s)" in again.stdout

    rm = cli("remove", "storm", "--index-dir", str(idx))
    assert rm.returncode == 0 and "removed storm" in rm.stdout
    bad = cli("remove", "storm", "--index-dir", str(idx))
    assert bad.returncode == 1 and "no article with id 'storm'" in bad.stderr
    assert [ln.split()[0] for ln in cli("list", "--index-dir", str(idx)).stdout.splitlines()] == ["bridge", "harbour"]

    asked = cli("ask", "How many euros did the harbour cost?", "--index-dir", str(idx))
    assert asked.returncode == 0, asked.stderr
    assert "40 million euros" in asked.stdout and "[1] “Harbour opens”, 2024-06-01, paragraph 2 (id harbour)" in asked.stdout
    unknown = cli("ask", "Anything?", "--in", "storm", "--index-dir", str(idx))
    assert unknown.returncode == 2 and "no article with id 'storm'" in unknown.stderr

    missing = cli("add", str(tmp_path / "nope.md"), "--index-dir", str(idx))
    assert missing.returncode == 1 and "nope.md: no such file or folder" in missing.stderr
    empty = cli("list", "--index-dir", str(tmp_path / "other"))
    assert empty.returncode == 0 and "no articles" in empty.stdout


def serve(*args: str) -> tuple[subprocess.Popen, str, int]:
    """Start `app.py ARGS --port P` and wait until it serves; (process, its output so far, port)."""
    port = free_port()
    proc, lines = start_server(list(args), port)
    return proc, "".join(lines), port


def test_serve_a_folder_and_manage_it_over_http(tmp_path, folder) -> None:
    proc, out, port = serve("--articles", str(folder), "--index-dir", str(tmp_path / "idx"))
    url = f"http://127.0.0.1:{port}"
    try:
        assert "broken.txt: is not valid UTF-8" in out and "broken.txt" in out
        assert "index: 3 article(s)" in out
        ids = [a["id"] for a in httpx.get(f"{url}/api/articles").json()]
        assert sorted(ids) == ["bridge", "harbour", "storm"]
        r = httpx.post(f"{url}/api/articles", json={"text": "Council vote\n\nThe council voted 7 to 2 on Monday "
                                                             "to build a new library."}, timeout=120)
        assert r.status_code == 201, r.text

        from gradio_client import Client

        client = Client(url + "/", verbose=False)
        _, history, evidence = client.predict("How much did the harbour cost?", [], "harbour", api_name="/ask")
        reply = str(history[1]["content"])
        assert "40 million euros" in reply and "[1] Harbour opens, 2024-06-01" in reply
        _, history, _ = client.predict("How fast were the winds?", [], api_name="/ask")  # default: all articles
        assert "140 km/h" in str(history[1]["content"]) and "Storm hits coast, 2024-03-05" in str(history[1]["content"])
        # an article added after the page was built can be chosen through the endpoint too
        _, history, _ = client.predict("How did the council vote?", [], "council-vote", api_name="/ask")
        assert "7 to 2" in str(history[1]["content"]) and "Council vote" in str(history[1]["content"])
        assert httpx.delete(f"{url}/api/articles/council-vote").status_code == 200
        _, history, _ = client.predict("How did the council vote?", [], "council-vote", api_name="/ask")
        assert "no article with id &#x27;council-vote&#x27;" in str(history[1]["content"])  # escaped, as all text
    finally:
        proc.terminate()
        proc.wait(timeout=30)
