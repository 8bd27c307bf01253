"""The widget as a site owner uses it, in Debian's Chromium: a host page on another origin pastes the snippet, opens
the launcher, asks about the seed article and reads the cited sentence; a page whose origin is not allowed cannot
use it. SAVE_SCREENSHOTS=1 also writes the screenshot used in the README (docs/widget.png)."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from conftest import ROOT, serve_dir

SEED_TITLE = "Who Are the Soldiers Behind the Free Russia Legion?"

HOST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>The Daily Example</title>
<style>
  /* deliberately aggressive host styles: none of them may reach the widget, and the widget may not change them */
  * {{ font-family: Georgia, serif; }}
  body {{ margin: 0; background: #f4efe6; color: #222; }}
  header {{ background: #222; color: #fff; padding: 18px 40px; font-size: 26px; letter-spacing: 1px; }}
  article {{ max-width: 620px; margin: 30px 40px; line-height: 1.6; }}
  button {{ background: rgb(255, 0, 0) !important; font-size: 30px !important; border: 4px dashed lime !important; }}
  div, iframe {{ border: 6px solid orange; padding: 20px; }}
  #host-button {{ margin-top: 12px; }}
</style>
<script>window.hostGlobals = Object.getOwnPropertyNames(window);</script>
</head><body>
<header>The Daily Example</header>
<article>
  <h1 id="headline">Who are the soldiers behind the Free Russia Legion?</h1>
  <p id="lede">A volunteer unit of Russian citizens fighting alongside Ukraine's forces claimed a raid across the
  border into Russia's Belgorod region this week. Our reporter explains who they are.</p>
  <p>Have a question about the story? Ask the assistant: every answer quotes the article and cites it.</p>
  <div id="box">A host box</div>
  <button id="host-button">Subscribe</button>
</article>
{snippet}
</body></html>
"""


def snippet(app_url: str, **data: str) -> str:
    attrs = "".join(f' data-{k}="{v}"' for k, v in data.items())
    return f'<script src="{app_url}/embed.js" async{attrs}></script>'


@pytest.fixture(scope="module")
def hosts(web_server, tmp_path_factory):
    """Host pages: one origin on the allow list (host_port), one not on it (other_port)."""
    d = tmp_path_factory.mktemp("host-pages")
    url = web_server["url"]
    (d / "index.html").write_text(HOST_PAGE.format(snippet=snippet(url, title="Ask our newsroom", accent="#0f766e")),
                                  encoding="utf-8")
    (d / "plain.html").write_text(HOST_PAGE.format(snippet=""), encoding="utf-8")
    (d / "left-open.html").write_text(HOST_PAGE.format(snippet=snippet(url, position="left", open="true",
                                                                        title="Article help")), encoding="utf-8")
    servers = [serve_dir(d, web_server["host_port"]), serve_dir(d, web_server["other_port"])]
    yield {"allowed": f"http://127.0.0.1:{web_server['host_port']}",
           "other": f"http://127.0.0.1:{web_server['other_port']}"}
    for s in servers:
        s.shutdown()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1000, "height": 720}, device_scale_factor=1)
    pg = ctx.new_page()
    pg.errors = []  # type: ignore[attr-defined]
    pg.dialogs = []  # type: ignore[attr-defined]
    pg.requests = []  # type: ignore[attr-defined]
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    pg.on("request", lambda r: pg.requests.append(r.url))
    yield pg
    ctx.close()


HOST_STATE_JS = """() => {
  const cs = (sel) => { const s = getComputedStyle(document.querySelector(sel));
    return [s.backgroundColor, s.fontSize, s.fontFamily, s.borderTopWidth, s.borderTopStyle, s.color, s.margin,
            s.padding, s.lineHeight].join('|'); };
  return {styles: ['body', 'header', 'article', '#headline', '#lede', '#box', '#host-button'].map(cs),
          sheets: document.styleSheets.length,
          head: document.head.children.length,
          globals: Object.getOwnPropertyNames(window).filter(n => n !== 'hostGlobals' && !window.hostGlobals.includes(n) && !/^\\d+$/.test(n))};
}"""


def test_site_owner_pastes_the_snippet_and_gets_cited_answers(page, hosts, web_server, tmp_path) -> None:
    app = web_server["url"]
    page.goto(f"{hosts['allowed']}/plain.html")
    before = page.evaluate(HOST_STATE_JS)
    page.goto(f"{hosts['allowed']}/index.html")
    launcher = page.locator("ask-article-widget button.launcher")
    launcher.wait_for(timeout=15000)
    assert launcher.inner_text().strip() == "Ask our newsroom"
    style = launcher.evaluate("b => { const s = getComputedStyle(b); return [s.backgroundColor, s.fontSize]; }")
    assert style == ["rgb(15, 118, 110)", "15px"]  # the accent colour; the host's `button {... !important}` never reaches it
    box = launcher.bounding_box()
    assert box["x"] > 700 and box["y"] > 600  # bottom right by default

    launcher.click()
    assert launcher.get_attribute("aria-expanded") == "true"
    frame = page.frame_locator("ask-article-widget iframe")
    frame.locator("#title").wait_for(timeout=15000)
    assert frame.locator("#title").inner_text() == "Ask our newsroom"
    q = frame.locator("#question")
    q.fill("What did the Russian defense ministry spokesman claim?")
    q.press("Enter")
    cite = frame.locator(".cite").first
    cite.wait_for(timeout=30000)
    assert "A Russian protection ministry spokesman" in cite.locator("blockquote").inner_text()
    assert SEED_TITLE in cite.locator(".src").inner_text()
    assert cite.locator(".num").inner_text() == "[1]"
    assert frame.locator(".msg.user").inner_text() == "What did the Russian defense ministry spokesman claim?"

    # the screenshot in the README: the host page with the widget open on a cited answer
    shot = tmp_path / "widget.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("SAVE_SCREENSHOTS") == "1":
        shutil.copyfile(shot, ROOT / "docs" / "widget.png")

    # a follow-up in the same conversation: the widget sends the conversation so far as `history`
    q.fill("Who is Caesar?")
    q.press("Enter")
    frame.locator(".msg.assistant:not(.pending)").nth(1).wait_for(timeout=30000)
    with page.expect_request(lambda r: r.url == f"{app}/api/ask" and r.method == "POST") as req:
        q.fill("How old is he?")
        q.press("Enter")
    sent = json.loads(req.value.post_data)
    assert sent["question"] == "How old is he?" and [m["role"] for m in sent["history"]] == ["user", "assistant"] * 2
    assert sent["history"][2] == {"role": "user", "content": "Who is Caesar?"}
    frame.locator(".msg.assistant:not(.pending)").nth(2).wait_for(timeout=30000)

    after = page.evaluate(HOST_STATE_JS)
    assert after["styles"] == before["styles"]  # host elements look exactly as without the widget
    assert after["sheets"] == before["sheets"] and after["head"] == before["head"]  # nothing added to the page's head
    assert after["globals"] == []  # no global variable
    assert page.errors == [] and page.dialogs == []
    outside = [u for u in page.requests if not u.startswith((hosts["allowed"] + "/", app + "/"))]
    assert outside == []  # everything came from the host page or the assistant itself (no CDN)


def test_close_button_and_escape_close_the_panel(page, hosts) -> None:
    page.goto(f"{hosts['allowed']}/index.html")
    launcher = page.locator("ask-article-widget button.launcher")
    launcher.click()
    frame = page.frame_locator("ask-article-widget iframe")
    frame.locator("#close").click()
    page.locator("ask-article-widget .panel").wait_for(state="hidden", timeout=5000)
    assert launcher.get_attribute("aria-expanded") == "false"
    launcher.click()
    page.locator("ask-article-widget .panel").wait_for(state="visible", timeout=5000)


def test_options_position_left_start_open_and_title(page, hosts) -> None:
    page.goto(f"{hosts['allowed']}/left-open.html")
    panel = page.locator("ask-article-widget .panel")
    panel.wait_for(state="visible", timeout=15000)  # data-open: open without a click
    launcher = page.locator("ask-article-widget button.launcher")
    assert launcher.bounding_box()["x"] < 100 and panel.bounding_box()["x"] < 100  # data-position="left"
    assert launcher.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(37, 99, 235)"  # default accent
    frame = page.frame_locator("ask-article-widget iframe")
    frame.locator("#title").wait_for(timeout=15000)
    assert frame.locator("#title").inner_text() == "Article help"


def test_the_api_answers_a_page_on_an_allowed_origin(page, hosts, web_server) -> None:
    page.goto(f"{hosts['allowed']}/plain.html")
    result = page.evaluate("""async (api) => {
        const r = await fetch(api + '/api/ask', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                                 body: JSON.stringify({question: 'Who is Caesar?'})});
        return [r.status, (await r.json()).citations[0].text];
    }""", web_server["url"])
    assert result[0] == 200 and "Caesar" in result[1]


def test_a_page_on_an_origin_not_allowed_cannot_use_it(page, hosts, web_server) -> None:
    app = web_server["url"]
    page.goto(f"{hosts['other']}/index.html")
    launcher = page.locator("ask-article-widget button.launcher")
    launcher.wait_for(timeout=15000)
    launcher.click()
    notice = page.locator("ask-article-widget .notice")
    notice.wait_for(state="visible", timeout=15000)
    assert "not available on this page" in notice.inner_text()
    assert f"--allow-origin {hosts['other']}" in notice.inner_text()
    # the browser refused to show the widget page in the frame (CSP frame-ancestors): no chat inside it
    widget_frames = [f for f in page.frames if f != page.main_frame]
    assert widget_frames and all(f.locator("#question").count() == 0 for f in widget_frames)
    # and the page's own calls to the API are refused (no CORS grant; the server answers 403 anyway)
    outcome = page.evaluate("""async (api) => {
        const out = [];
        for (const [ctype, body] of [['application/json', '{"question": "Who is Caesar?"}'],
                                     ['text/plain', '{"question": "Who is Caesar?"}']]) {
          try { const r = await fetch(api + '/api/ask', {method: 'POST', headers: {'Content-Type': ctype}, body});
                out.push('read ' + r.status + ' ' + (await r.text())); }
          catch (e) { out.push('blocked'); }
        }
        try { const r = await fetch(api + '/api/articles'); out.push('read ' + (await r.text())); }
        catch (e) { out.push('blocked'); }
        return out;
    }""", app)
    assert outcome == ["blocked", "blocked", "blocked"]
    assert page.dialogs == []
