"""The JSON API on a real app.py server: answers with citations, and a JSON 4xx (never a 500) for bad input."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from conftest import SEED

SEED_TITLE = "Who Are the Soldiers Behind the Free Russia Legion?"


@pytest.fixture(scope="module")
def url(web_server) -> str:
    return web_server["url"]


def post(url: str, body: bytes | str | None, ctype: str | None = "application/json", **headers: str) -> httpx.Response:
    h = dict(headers)
    if ctype:
        h["Content-Type"] = ctype
    return httpx.post(f"{url}/api/ask", content=body.encode("utf-8") if isinstance(body, str) else body,
                      headers=h, timeout=60)


def ask(url: str, payload: object, **headers: str) -> httpx.Response:
    return post(url, json.dumps(payload), **headers)


def assert_error(r: httpx.Response, status: int, *words: str) -> str:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"} and isinstance(body["error"], str)
    msg = body["error"]
    assert msg[0].isupper() and msg.endswith((".", "!", "?")), msg
    assert "Traceback" not in msg and "File \"" not in msg
    for w in words:
        assert w.lower() in msg.lower(), msg
    return msg


def test_ask_answers_with_citations_in_the_documented_shape(url) -> None:
    r = ask(url, {"question": "What did the Russian defense ministry spokesman claim?"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"answer", "abstained", "citations"}
    assert body["abstained"] is False and "[1]" in body["answer"]
    c = body["citations"][0]
    assert set(c) == {"n", "text", "article", "paragraph", "start", "end", "score"}
    assert c["n"] == 1 and c["text"].startswith("A Russian protection ministry spokesman")
    assert c["article"] == {"id": c["article"]["id"], "title": SEED_TITLE, "date": "2023-05-23"}
    assert isinstance(c["paragraph"], int) and isinstance(c["score"], float)
    seed_text = SEED.read_text(encoding="utf-8")
    assert c["text"] in seed_text and c["end"] - c["start"] == len(c["text"])


def test_history_makes_follow_ups_work_and_article_scopes_the_answer(url) -> None:
    first = ask(url, {"question": "Who is Caesar?"}).json()
    history = [{"role": "user", "content": "Who is Caesar?"}, {"role": "assistant", "content": first["answer"]}]
    r = ask(url, {"question": "How old is he?", "history": history})
    assert r.status_code == 200 and "Caesar, who’s 50" in r.json()["citations"][0]["text"]
    arts = {a["title"]: a["id"] for a in httpx.get(f"{url}/api/articles").json()}
    seed_id = arts[SEED_TITLE]
    markup_id = next(i for t, i in arts.items() if t.startswith("Markup"))
    scoped = ask(url, {"question": "Who is Caesar?", "article": markup_id}).json()
    assert all(c["article"]["id"] == markup_id for c in scoped["citations"])
    scoped = ask(url, {"question": "Who retired after forty years?", "article": seed_id}).json()
    assert all(c["article"]["id"] == seed_id for c in scoped["citations"])


def test_articles_lists_id_title_date_and_sizes_only(url) -> None:
    r = httpx.get(f"{url}/api/articles")
    assert r.status_code == 200
    arts = r.json()
    seed = next(a for a in arts if a["title"] == SEED_TITLE)
    assert seed == {"id": seed["id"], "title": SEED_TITLE, "date": "2023-05-23", "paragraphs": 15, "sentences": 30}
    assert all(set(a) == {"id", "title", "date", "paragraphs", "sentences"} for a in arts)  # no server file paths


BAD = [
    # (id, body, content type, status, words the error must contain)
    ("no-body", b"", "application/json", 400, ["no body"]),
    ("not-json", "question=hi", "application/json", 400, ["not valid JSON"]),
    ("truncated-json", '{"question": "Who', "application/json", 400, ["not valid JSON"]),
    ("json-list", "[]", "application/json", 400, ["JSON object"]),
    ("json-string", '"Who is Caesar?"', "application/json", 400, ["JSON object"]),
    ("missing-question", "{}", "application/json", 400, ["missing"]),
    ("empty-question", '{"question": ""}', "application/json", 400, ["empty"]),
    ("blank-question", '{"question": " \\t\\n  "}', "application/json", 400, ["empty"]),
    ("control-only", '{"question": "\\u0000\\u0007\\u001b"}', "application/json", 400, ["empty"]),
    ("number", '{"question": 42}', "application/json", 400, ["must be text", "number"]),
    ("huge-number", '{"question": 1e999}', "application/json", 400, ["must be text"]),
    ("list", '{"question": ["Who is Caesar?"]}', "application/json", 400, ["must be text", "list"]),
    ("null", '{"question": null}', "application/json", 400, ["must be text"]),
    ("bool", '{"question": true}', "application/json", 400, ["must be text"]),
    ("object", '{"question": {"text": "hi"}}', "application/json", 400, ["must be text"]),
    ("too-long", json.dumps({"question": "why " * 600}), "application/json", 400, ["2,000"]),
    ("lone-surrogate", '{"question": "Who is \\ud800 Caesar?"}', "application/json", 400, ["Unicode"]),
    ("bad-utf8", b'{"question": "Who is \xff\xfe Caesar?"}', "application/json", 400, ["UTF-8"]),
    ("deep-nesting", "[" * 30000 + "]" * 30000, "application/json", 400, []),
    ("unknown-field", '{"question": "hi", "qustion": "hi"}', "application/json", 400, ["unknown field"]),
    ("article-number", '{"question": "hi", "article": 3}', "application/json", 400, ["article"]),
    ("history-string", '{"question": "hi", "history": "Who is Caesar?"}', "application/json", 400, ["history"]),
    ("history-bad-role", '{"question": "hi", "history": [{"role": "system", "content": "x"}]}', "application/json",
     400, ["history message 1"]),
    ("history-bad-content", '{"question": "hi", "history": [{"role": "user", "content": 5}]}', "application/json",
     400, ["history message 1"]),
    ("unknown-article", '{"question": "hi", "article": "no-such-article"}', "application/json", 404,
     ["no article", "/api/articles"]),
    ("form-encoded", "question=hi", "application/x-www-form-urlencoded", 415, ["application/json"]),
    ("text-plain", '{"question": "hi"}', "text/plain", 415, ["application/json"]),
    ("no-content-type", '{"question": "hi"}', None, 415, ["application/json"]),
    ("100k-question", json.dumps({"question": "a" * 100_000}), "application/json", 413, ["64 KB", "2,000"]),
]


@pytest.mark.parametrize("body,ctype,status,words", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_gets_a_json_4xx_with_a_sentence(url, body, ctype, status, words) -> None:
    assert_error(post(url, body, ctype), status, *words)


def test_oversized_body_without_content_length_is_cut_at_64kb(url) -> None:
    def chunks():
        yield b'{"question": "'
        for _ in range(100):
            yield b"a" * 1024
        yield b'"}'

    r = httpx.post(f"{url}/api/ask", content=chunks(), headers={"Content-Type": "application/json"}, timeout=60)
    assert "content-length" not in r.request.headers  # sent chunked
    assert_error(r, 413, "64 KB")


@pytest.mark.parametrize("question", [
    "Who\u0000 is\u0007 Caesar?\u001b",  # control characters and NUL are dropped
    "Who is Caesar? 🤔🪖",  # emoji
    "من هو القيصر؟ Who is Caesar?",  # right-to-left text
    "\u202eWho is Caesar?\u202c",  # bidi override characters
], ids=["control-and-nul", "emoji", "rtl", "bidi-override"])
def test_odd_but_valid_text_gets_a_proper_answer(url, question) -> None:
    r = ask(url, {"question": question})
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body["answer"], str) and body["answer"]
    if not body["abstained"]:
        assert "Caesar" in body["citations"][0]["text"]


def test_rtl_only_question_is_answered_or_abstains_cleanly(url) -> None:
    r = ask(url, {"question": "ما هو فيلق روسيا الحرة؟"})
    assert r.status_code == 200 and isinstance(r.json()["abstained"], bool)


def test_other_methods_and_routes_answer_json(url) -> None:
    assert_error(httpx.get(f"{url}/api/ask"), 405, "POST")
    assert_error(httpx.put(f"{url}/api/articles"), 405, "GET")
    assert_error(httpx.get(f"{url}/api/nothing-here"), 404, "/api/ask")
    assert httpx.head(f"{url}/api/articles").status_code == 200


def test_parallel_questions_all_answered(url) -> None:
    qs = ["Who is Caesar?", "What is the Free Russia Legion?", "Who oversees the legion?", "Where is Bakhmut?"] * 2
    with ThreadPoolExecutor(8) as pool:
        rs = list(pool.map(lambda q: ask(url, {"question": q}), qs))
    assert [r.status_code for r in rs] == [200] * len(qs)


def test_docs_and_openapi_are_served_without_a_cdn(url) -> None:
    spec = httpx.get(f"{url}/openapi.json").json()
    assert {"/api/ask", "/api/articles"} <= set(spec["paths"])
    body = spec["paths"]["/api/ask"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "question" in body["properties"]
    refs: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(spec)
    schemas = spec["components"]["schemas"]
    assert refs and all(r.startswith("#/components/schemas/") and r.rsplit("/", 1)[1] in schemas for r in refs)
    page = httpx.get(f"{url}/docs")
    assert page.status_code == 200 and "/api/ask" in page.text and "question" in page.text
    assert "cdn" not in page.text.lower() and "<script" not in page.text.lower()


def test_gradio_ask_endpoint_is_still_there(url) -> None:
    info = httpx.get(f"{url}/gradio_api/info").json()
    assert "/ask" in info["named_endpoints"]


# ---- origins (CORS on the API) ----------------------------------------------------------------------------------
def test_cors_follows_the_allow_list(web_server, url) -> None:
    allowed = f"http://127.0.0.1:{web_server['host_port']}"
    other = f"http://127.0.0.1:{web_server['other_port']}"
    pre = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    ok = httpx.options(f"{url}/api/ask", headers={"Origin": allowed, **pre})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == allowed
    no = httpx.options(f"{url}/api/ask", headers={"Origin": other, **pre})
    assert "access-control-allow-origin" not in no.headers and no.status_code >= 400
    r = ask(url, {"question": "Who is Caesar?"}, Origin=allowed)
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == allowed
    # a disallowed page's request is refused by the server too, not only hidden by the browser
    msg = assert_error(ask(url, {"question": "Who is Caesar?"}, Origin=other), 403, "--allow-origin")
    assert other in msg
    assert_error(httpx.get(f"{url}/api/articles", headers={"Origin": other}), 403)
    # the server's own pages (the widget) are same-origin
    assert ask(url, {"question": "Who is Caesar?"}, Origin=url).status_code == 200
    # Gradio's routes follow the same list (Gradio defers to the app's CORS policy)
    g = httpx.get(f"{url}/gradio_api/info", headers={"Origin": other})
    assert "access-control-allow-origin" not in g.headers


def test_widget_page_frame_headers_follow_the_allow_list(web_server, url) -> None:
    r = httpx.get(f"{url}/widget")
    csp = r.headers["content-security-policy"]
    assert f"frame-ancestors 'self' http://127.0.0.1:{web_server['host_port']}" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "x-frame-options" not in r.headers  # the list is in CSP (X-Frame-Options cannot hold a list)
    chat = httpx.get(f"{url}/")
    assert chat.headers["x-frame-options"] == "SAMEORIGIN" and "frame-ancestors 'self'" in chat.headers[
        "content-security-policy"]
    js = httpx.get(f"{url}/embed.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert "http://" not in js.text.replace("http://www.w3.org/2000/svg", "").split("*/", 1)[1]  # loads nothing else


def test_settings_parse_and_reject_origins() -> None:
    from web.api import ApiSettings, normalize_origin
    from web.widget import widget_headers

    assert normalize_origin("HTTPS://Example.COM:443/") == "https://example.com"
    assert normalize_origin("http://[::1]:8000") == "http://[::1]:8000"
    for bad in ["example.com", "ftp://example.com", "https://example.com/page", "https://u@example.com", "*.example.com"]:
        with pytest.raises(ValueError):
            normalize_origin(bad)
    s = ApiSettings.resolve(None, None, env={"ASK_ALLOW_ORIGINS": "https://a.example, https://b.example:8443",
                                             "ASK_RATE_LIMIT": "5"})
    assert s.allow_origins == ["https://a.example", "https://b.example:8443"] and s.rate_limit == 5
    assert ApiSettings.resolve(["https://c.example"], env={"ASK_ALLOW_ORIGINS": "https://a.example"}).allow_origins == [
        "https://c.example"]  # the command line wins over the environment
    default = ApiSettings.resolve(env={})
    assert default.allow_origins == [] and default.rate_limit == 30 and not default.rate_limit_loopback
    h = widget_headers(default)
    assert "frame-ancestors 'self'" in h["Content-Security-Policy"] and h["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors *" in widget_headers(ApiSettings(["*"]))["Content-Security-Policy"]
    with pytest.raises(ValueError):
        ApiSettings.resolve(env={"ASK_RATE_LIMIT": "lots"})
