"""web/server.py: app.py answers the JSON API before Gradio is loaded; / shows a starting page (503, reloads itself)
until the chat is mounted in the background, then serves the chat; a chat that fails to build leaves the API serving
and / answering 500."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import httpx
import pytest

from conftest import ROOT, SEED, free_port, require_chromium, start_server, stop_server

QUESTION = "What did the Russian defense ministry spokesman claim?"
#: Seconds the test server waits before building the chat (ASK_CHAT_DELAY_S, test-only): the window in which the
#: API must already answer while / still says the chat is starting.
CHAT_DELAY_S = 8


def assert_cited_answer(r: httpx.Response) -> None:
    assert r.status_code == 200, r.text
    body = r.json()
    assert "[1]" in body["answer"] and body["citations"], body
    assert body["citations"][0]["article"]["title"] == "Who Are the Soldiers Behind the Free Russia Legion?"
    assert "protection ministry spokesman" in body["citations"][0]["text"]


def assert_starting_page(r: httpx.Response) -> None:
    assert r.status_code == 503
    assert r.headers["retry-after"] == "1"
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["x-frame-options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "The chat is starting" in r.text and '<meta http-equiv="refresh" content="1">' in r.text


def test_importing_the_server_does_not_import_gradio() -> None:
    code = "import sys, web.server\nprint('gradio' in sys.modules, 'fastapi' in sys.modules)\n"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["False", "True"]


@pytest.fixture(scope="module")
def starting_server(tmp_path_factory):
    """app.py whose chat build waits CHAT_DELAY_S: returned as soon as it prints that the API is served."""
    port = free_port()
    t0 = time.monotonic()
    proc, lines = start_server(["--article", str(SEED), "--index-dir", str(tmp_path_factory.mktemp("idx"))], port,
                               env={"ASK_CHAT_DELAY_S": str(CHAT_DELAY_S)}, ready="API served at")
    yield {"url": f"http://127.0.0.1:{port}", "lines": lines, "proc": proc, "t0": t0}
    stop_server(proc)


def test_the_api_answers_while_the_chat_starts_and_a_browser_lands_on_the_chat(starting_server, browser) -> None:
    url = starting_server["url"]
    with httpx.Client(timeout=30) as c:
        assert_cited_answer(c.post(f"{url}/api/ask", json={"question": QUESTION}))
        # the answer came while the chat was still starting: had the API waited for Gradio, / would be the chat
        assert_starting_page(c.get(f"{url}/"))
        assert_starting_page(c.get(f"{url}/gradio_api/info"))  # every chat path, not only /
        assert c.get(f"{url}/api/articles").status_code == 200
        for path in ("/embed.js", "/widget", "/docs", "/openapi.json"):  # none of them needs Gradio
            assert c.get(url + path).status_code == 200, path
        assert "/api/ask" in c.get(f"{url}/openapi.json").json()["paths"]
        # FrameGuard guards the starting page as it guards the chat: host check (DNS rebinding), blocked proxy paths
        assert c.get(f"{url}/", headers={"Host": "rebind.example.com"}).status_code == 403
        assert c.get(f"{url}/gradio_api/proxy=https://example.com/").status_code == 404
    assert not any("Chat served at" in line for line in starting_server["lines"])

    # a browser opening / now sees the starting page, which reloads itself until the chat is there
    require_chromium()
    page = browser.new_page()
    try:
        page.goto(url + "/")
        assert "The chat is starting" in page.locator("body").inner_text()
        page.locator("#question textarea").wait_for(timeout=120_000)
        page.locator("#question textarea").fill("Who is Caesar?")
        page.locator("#ask").click()
        page.get_by_text("Caesar, who’s 50").first.wait_for(timeout=30_000)
    finally:
        page.close()
    out = "".join(starting_server["lines"])
    assert f"Chat served at {url}/" in out, out
    assert time.monotonic() - starting_server["t0"] > CHAT_DELAY_S


def test_once_started_the_chat_answers_through_gradio_client(starting_server) -> None:
    from gradio_client import Client

    url = starting_server["url"]
    deadline = time.monotonic() + 120
    while httpx.get(f"{url}/", timeout=10).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.5)
    r = httpx.get(f"{url}/", timeout=10)
    assert r.status_code == 200 and "gradio" in r.text.lower() and r.headers["x-frame-options"] == "SAMEORIGIN"
    client = Client(url + "/", verbose=False)
    _, history, evidence = client.predict(QUESTION, [], api_name="/ask")
    assert "[1]" in str(history[1]["content"])
    assert "<mark data-cite='1'>A Russian protection ministry spokesman" in evidence
    assert_cited_answer(httpx.post(f"{url}/api/ask", json={"question": QUESTION}, timeout=30))


# ---- in-process: a real uvicorn server in a thread ------------------------------------------------------------------
class Served:
    """uvicorn serving `app` on a free port in a thread (with the ASGI lifespan, as app.py runs it)."""

    def __init__(self, app) -> None:  # noqa: ANN001
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "Served":
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.server.started
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)
        assert not self.thread.is_alive(), "the server did not stop"


def test_a_chat_that_fails_to_build_leaves_the_api_serving_and_says_so(seed_assistant, monkeypatch, caplog) -> None:
    import web.server as server

    def broken_mount(api, assistant, settings):  # noqa: ANN001, ANN202
        raise ImportError("gradio is broken on this machine")

    monkeypatch.setattr(server, "mount_chat", broken_mount)
    app = server.build_app(seed_assistant, rate_limit=0, defer_chat=True)
    with Served(app) as s:
        assert app.settled.wait(30)
        assert not app.ready and isinstance(app.error, ImportError)
        assert_cited_answer(httpx.post(f"{s.url}/api/ask", json={"question": QUESTION}, timeout=30))
        r = httpx.get(f"{s.url}/", timeout=10)
        assert r.status_code == 500 and "The chat could not start" in r.text
        assert "retry-after" not in r.headers and "refresh" not in r.text  # no waiting for a chat that won't come
        assert r.headers["x-frame-options"] == "SAMEORIGIN"
        assert httpx.get(f"{s.url}/widget", timeout=10).status_code == 200
    assert any("The chat could not start (ImportError)" in rec.getMessage() for rec in caplog.records)


def test_the_server_stops_while_the_chat_is_still_building(seed_assistant, monkeypatch) -> None:
    import web.server as server

    release = threading.Event()

    def slow_mount(api, assistant, settings):  # noqa: ANN001, ANN202
        release.wait(60)
        raise RuntimeError("not built")

    monkeypatch.setattr(server, "mount_chat", slow_mount)
    app = server.build_app(seed_assistant, rate_limit=0, defer_chat=True)
    try:
        with Served(app) as s:
            assert_starting_page(httpx.get(f"{s.url}/", timeout=10))
            t = time.monotonic()
        assert time.monotonic() - t < 10  # shutting down does not wait for the build
    finally:
        release.set()


def test_the_deferred_chat_runs_gradio_startup_on_the_server_loop(seed_assistant) -> None:
    """The real mount in process: Gradio's queue starts (its startup events ran) and the chat answers; stopping the
    server closes Gradio's lifespan."""
    import web.server as server

    ready = threading.Event()
    app = server.build_app(seed_assistant, rate_limit=0, defer_chat=True, on_chat_ready=ready.set)
    with Served(app) as s:
        assert app.settled.wait(120) and app.ready, app.error
        assert ready.is_set()
        routes = app.api.router.routes
        assert routes[-1].path == "" and routes[-1].app.get_blocks().is_running  # the chat at /, last
        assert sum(getattr(r, "path", None) == "" for r in routes) == 1  # the placeholder is gone
        r = httpx.get(f"{s.url}/", timeout=10)
        assert r.status_code == 200 and r.headers["x-frame-options"] == "SAMEORIGIN"
        call = httpx.post(f"{s.url}/gradio_api/call/ask", json={"data": ["Who is Caesar?", [], "all"]}, timeout=30)
        assert call.status_code == 200, call.text
        events = httpx.get(f"{s.url}/gradio_api/call/ask/{call.json()['event_id']}", timeout=30).text
        assert "event: complete" in events and "Caesar" in events, events[:500]
        assert_cited_answer(httpx.post(f"{s.url}/api/ask", json={"question": QUESTION}, timeout=30))
