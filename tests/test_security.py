"""Security on a real server: article markup is shown as text (never run) in the chat page and the widget, no file
route reads a file outside the app's folders, the API has a per-client rate limit, bad settings are refused."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import uuid

import httpx
import pytest

from conftest import ROOT, SEED, free_port, start_server, stop_server

IMG = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert(2)</script>"
TITLE = "Markup <img src=x onerror=alert('title')> on trial"


@pytest.fixture(scope="module")
def markup_id(web_server) -> str:
    arts = httpx.get(f"{web_server['url']}/api/articles").json()
    return next(a["id"] for a in arts if a["title"] == TITLE)


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1100, "height": 900})
    pg = ctx.new_page()
    pg.dialogs = []  # type: ignore[attr-defined]
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    yield pg
    ctx.close()


# ---- markup in an article is text ----------------------------------------------------------------------------------
def no_injected_markup(page) -> None:
    """No dialog fired and no element from the article's markup exists anywhere in the page (or its frames)."""
    for f in page.frames:
        assert f.locator('img[src="x"]').count() == 0
        # (the page's config script holds the title JSON-escaped, \\u003cimg...: that is data, not a script)
        assert f.evaluate("() => [...document.scripts].filter(s => /^\\s*alert\\(/.test(s.text)).length") == 0
    assert page.dialogs == []


def test_chat_page_shows_article_markup_as_text(page, web_server) -> None:
    page.goto(web_server["url"] + "/")
    page.locator("#question textarea").wait_for(timeout=30000)
    assert TITLE in page.locator("body").inner_text()  # the title (with its markup) in the page heading
    for question, literal in [("What did the gallery caption read beneath the portrait?", IMG),
                              ("What words did visitors see beside the ferry timetable?", SCRIPT)]:
        page.locator("#question textarea").fill(question)
        page.locator("#ask").click()
        page.locator("#evidence mark").filter(has_text=literal).wait_for(timeout=30000)
        chat = page.locator("[role=log], .bubble-wrap, .chatbot").first
        page.get_by_text(literal).first.wait_for(timeout=10000)
        assert literal in page.locator("#evidence").inner_text()
        assert literal in chat.inner_text() or literal in page.locator("body").inner_text()
    page.wait_for_timeout(500)  # give any injected handler a chance to fire
    no_injected_markup(page)


def test_widget_shows_article_markup_as_text(page, web_server, markup_id) -> None:
    page.goto(f"{web_server['url']}/widget?article={markup_id}&title=Markup%20%3Cb%3Etest%3C%2Fb%3E")
    assert page.locator("#title").inner_text() == "Markup <b>test</b>"  # the title option is text too
    for question, literal in [("What did the gallery caption read beneath the portrait?", IMG),
                              ("What words did visitors see beside the ferry timetable?", SCRIPT)]:
        page.locator("#question").fill(question)
        page.locator("#question").press("Enter")
        cite = page.locator(".cite blockquote").filter(has_text=literal)
        cite.wait_for(timeout=30000)
        assert literal in cite.inner_text()
        assert TITLE in page.locator(".cite .src").last.inner_text()
    page.wait_for_timeout(500)
    no_injected_markup(page)


# ---- path traversal on every file route ----------------------------------------------------------------------------
FILE_ROUTES = [
    "/gradio_api/file=", "/file=", "/gradio_api/file/", "/static/", "/assets/", "/svelte/", "/gradio_api/static/",
    "/gradio_api/custom_component/x/client/js/", "/gradio_api/run-history/records/x/y/assets/",
    "/gradio_api/stream/x/0/0/", "/gradio_api/proxy=", "/pwa_icon/", "/widget/", "/widget/app.js/", "/embed.js/",
    "/api/", "/docs/", "/",
]


def variants(target: str) -> list[str]:
    """The ways a path can try to climb out of a served folder (`target` is absolute)."""
    rel = target.lstrip("/")
    up = 12
    return [
        "../" * up + rel,
        target,
        "/" + target,
        "..%2f" * up + rel.replace("/", "%2f"),
        "%2e%2e/" * up + rel,
        "%2e%2e%2f" * up + rel.replace("/", "%2f"),
        "%252e%252e%252f" * up + rel.replace("/", "%252f"),
        "..\\" * up + rel.replace("/", "\\"),
        "..%5c" * up + rel.replace("/", "%5c"),
        "....//" * up + rel,
        "..;/" * up + rel,
        "%c0%ae%c0%ae/" * up + rel,
        "%2f" + rel.replace("/", "%2f"),
        "file://" + target,
        "../" * up + rel + "%00.js",
        "static/../" * 2 + "../" * up + rel,
    ]


def raw_get(port: int, path: str) -> tuple[int, bytes]:
    """GET with the path sent byte for byte (no client-side normalisation of .. or %-escapes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True)
        conn.endheaders()
        r = conn.getresponse()
        return r.status, r.read(2_000_000)
    finally:
        conn.close()


def test_no_file_route_reads_files_outside_the_app(web_server) -> None:
    secret = web_server["tmp"] / "secret.txt"
    marker = f"secret-{uuid.uuid4().hex}"
    secret.write_text(marker, encoding="utf-8")
    targets = {  # file -> text that proves it was read
        "/etc/passwd": "root:x:0:0",
        str(secret): marker,
        str(web_server["markup"]): "Margit Olsson",  # a served article's own file (answers quote it; files no)
        str(ROOT / "app.py"): "def parse_args",  # the app's source
        str(ROOT / "retrieval" / "weights.json"): '"abstain"',
    }
    port = web_server["port"]
    statuses: dict[int, int] = {}
    tried = 0
    for route in FILE_ROUTES:
        for target, proof in targets.items():
            for v in variants(target):
                status, body = raw_get(port, route + v)
                tried += 1
                statuses[status] = statuses.get(status, 0) + 1
                assert proof.encode() not in body, f"{route + v} leaked {target} (HTTP {status})"
    assert tried >= 1000
    # no 5xx either (401: Gradio's run-history asks to sign in); a 200 is a page that echoes nothing of the file
    assert set(statuses) <= {200, 400, 401, 403, 404, 405, 422}, statuses
    # controls: the same raw client does read what is meant to be served
    assert raw_get(port, "/widget/app.js")[0] == 200 and b"textContent" in raw_get(port, "/widget/app.js")[1]
    assert raw_get(port, "/embed.js")[0] == 200


def test_upload_route_does_not_write_outside_its_folder(web_server) -> None:
    """Gradio's upload keeps files in its own cache, whatever name the client gives (../ in the file name)."""
    name = f"../../../../tmp/escaped-{uuid.uuid4().hex}.txt"
    r = httpx.post(f"{web_server['url']}/gradio_api/upload", files={"files": (name, b"x", "text/plain")}, timeout=30)
    import os
    import tempfile
    from pathlib import Path

    assert r.status_code < 500
    cache = Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio").resolve()
    if r.status_code == 200:
        for p in r.json():
            assert Path(p).resolve().is_relative_to(cache), p
    assert not Path("/tmp", Path(name).name).exists()


# ---- DNS rebinding: a loopback-only server answers only requests addressed to localhost or an IP --------------------
def request_with_host(port: int, method: str, path: str, host: str, body: bytes | None = None,
                      headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def test_requests_addressed_to_another_domain_are_refused(web_server) -> None:
    """A page on evil.example whose DNS now points at 127.0.0.1 is 'same-origin' to the browser: the Host tells."""
    port = web_server["port"]
    for host in [f"evil.example:{port}", "evil.example", f"127.0.0.1.nip.io:{port}", f"localhost.evil.example:{port}"]:
        for path in ["/api/articles", "/", "/widget", "/gradio_api/info", "/embed.js"]:
            status, body = request_with_host(port, "GET", path, host)
            assert status == 403 and b"localhost" in body and b"Margit" not in body, (host, path, status)
    body = json.dumps({"question": "Who retired after forty years?"}).encode()
    status, out = request_with_host(port, "POST", "/api/ask", f"evil.example:{port}", body, {
        "Content-Type": "application/json", "Origin": f"http://evil.example:{port}"})
    assert status == 403 and b"Olsson" not in out
    for host in [f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", f"app.localhost:{port}"]:
        assert request_with_host(port, "GET", "/api/articles", host)[0] == 200, host


def test_host_check_only_for_loopback_servers() -> None:
    from web.api import ApiSettings

    local = ApiSettings.resolve(bind_host="127.0.0.1", env={})
    assert local.local_only and local.host_allowed("localhost:7860") and local.host_allowed("10.0.0.5:80")
    assert not local.host_allowed("attacker.example:7860") and not local.host_allowed("")
    public = ApiSettings.resolve(bind_host="0.0.0.0", env={})
    assert not public.local_only and public.host_allowed("ask.example.com")
    assert ApiSettings.resolve(bind_host="localhost", env={}).local_only
    assert not ApiSettings.resolve(env={}).local_only  # build_app without app.py: no host check


# ---- per-client rate limit ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module", autouse=True)
def _limited_start(tmp_path_factory):
    """Starts the rate-limited server when the module starts, so it boots while the tests above run."""
    from concurrent.futures import ThreadPoolExecutor

    port = free_port()
    tmp = tmp_path_factory.mktemp("limited")
    pool = ThreadPoolExecutor(1)
    fut = pool.submit(start_server, ["--article", str(SEED), "--index-dir", str(tmp / "index"),
                                     "--rate-limit-localhost"], port,
                      env={"ASK_RATE_LIMIT": "3", "ASK_ALLOW_ORIGINS": "https://news.example"})
    yield fut, port
    try:
        stop_server(fut.result(timeout=300)[0])
    finally:
        pool.shutdown()


@pytest.fixture(scope="module")
def limited(_limited_start) -> str:
    """A server with ASK_RATE_LIMIT=3 from the environment, applied to this machine's clients too."""
    fut, port = _limited_start
    fut.result(timeout=300)
    return f"http://127.0.0.1:{port}"


def client_from(address: str) -> httpx.Client:
    """A client connecting from another loopback address (127.0.0.x): another client to the server."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=60)


def test_rate_limit_returns_429_json_per_client(limited) -> None:
    body = {"question": "Who is Caesar?"}
    with client_from("127.0.0.2") as a, client_from("127.0.0.3") as b:
        codes = [a.post(f"{limited}/api/ask", json=body).status_code for _ in range(3)]
        assert codes == [200, 200, 200]
        r = a.post(f"{limited}/api/ask", json=body)
        assert r.status_code == 429 and r.headers["content-type"].startswith("application/json")
        assert "3 a minute" in r.json()["error"] and 1 <= int(r.headers["retry-after"]) <= 60
        assert a.get(f"{limited}/api/articles").status_code == 200  # listing is cheap and not limited
        assert b.post(f"{limited}/api/ask", json=body).status_code == 200  # another client has its own budget


def test_origins_from_the_environment(limited) -> None:
    pre = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    ok = httpx.options(f"{limited}/api/ask", headers={"Origin": "https://news.example", **pre})
    assert ok.headers.get("access-control-allow-origin") == "https://news.example"
    csp = httpx.get(f"{limited}/widget").headers["content-security-policy"]
    assert "frame-ancestors 'self' https://news.example" in csp


def test_bad_settings_are_refused_before_loading_anything() -> None:
    for args, words in [(["--allow-origin", "news.example"], "is not an origin"),
                        (["--allow-origin", "https://news.example/page"], "no path"),
                        (["--rate-limit", "-1"], "0 (no limit) or more")]:
        r = subprocess.run([sys.executable, "app.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert r.returncode == 2 and words in r.stderr, r.stderr
        assert "Traceback" not in r.stderr


def test_default_rate_limit_spares_this_machine(web_server) -> None:
    """The shared server runs with the default (30 a minute, loopback exempt): many local questions pass."""
    with httpx.Client(timeout=60) as c:
        codes = {c.post(f"{web_server['url']}/api/ask", json={"question": "Who is Caesar?"}).status_code
                 for _ in range(35)}
    assert codes == {200}


def test_json_error_never_leaks_a_stack_trace(web_server) -> None:
    """A grab-bag of hostile bodies: always JSON with an "error" sentence, never 5xx."""
    url = f"{web_server['url']}/api/ask"
    bodies = [b"\x00" * 100, b"{" * 5000, json.dumps({"question": "x" * 2001}).encode(), b'{"question": "\\u0000"}',
              json.dumps({"question": "Who is Caesar?", "history": [{"role": "user", "content": "x"}] * 10000}).encode()]
    for body in bodies:
        r = httpx.post(url, content=body, headers={"Content-Type": "application/json"}, timeout=60)
        assert 400 <= r.status_code < 500 and set(r.json()) == {"error"}, (r.status_code, r.text[:200])
        assert "Traceback" not in r.text
