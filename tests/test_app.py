"""app.py as a real server: first start builds the index, a second start embeds nothing; ask via gradio_client."""

from __future__ import annotations

import pytest

from conftest import free_port, start_server


def start(index_dir, port: int):
    """app.py on PORT with its own index dir, once it answers HTTP: (process, output lines)."""
    return start_server(["--index-dir", str(index_dir)], port)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    index_dir = tmp_path_factory.mktemp("app-index")
    port = free_port()
    proc, lines = start(index_dir, port)
    yield {"url": f"http://127.0.0.1:{port}/", "lines": lines, "index_dir": index_dir, "proc": proc}
    proc.terminate()
    proc.wait(timeout=30)


def test_first_start_builds_and_prints_where_it_serves(server) -> None:
    out = "".join(server["lines"])
    assert "embedded 30 sentence(s) (added 1" in out
    assert f"Chat served at {server['url']}" in out


def test_ask_endpoint_through_gradio_client(server) -> None:
    from gradio_client import Client

    client = Client(server["url"], verbose=False)
    box, history, evidence = client.predict("What did the Russian defense ministry spokesman claim?", [], api_name="/ask")
    assert box == ""
    assert history[0]["role"] == "user" and history[1]["role"] == "assistant"
    reply = history[1]["content"] if isinstance(history[1]["content"], str) else str(history[1]["content"])
    assert "[1]" in reply and "Who Are the Soldiers Behind the Free Russia Legion?" in reply
    assert "<mark data-cite='1'>A Russian protection ministry spokesman" in evidence
    _, history2, _ = client.predict("Who is Caesar?", history, api_name="/ask")
    _, history2, _ = client.predict("How old is he?", history2, api_name="/ask")
    assert "Caesar, who’s 50" in str(history2[5]["content"])
    _, history3, _ = client.predict("   ", [], api_name="/ask")
    assert "empty" in str(history3[-1]["content"])


def test_second_start_loads_and_embeds_nothing(server) -> None:
    port = free_port()
    proc, lines = start(server["index_dir"], port)
    try:
        assert "embedded 0 sentence(s)" in "".join(lines) and "unchanged 1" in "".join(lines)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_chat_sessions_dropped_from_memory_lose_nothing(tmp_path) -> None:
    """With room for one chat session, a second client evicts the first one's server-side state; the first client
    still asks about an article added after the page was built (history and article travel with each request)."""
    import httpx
    from gradio_client import Client

    port = free_port()
    proc, _ = start_server(["--index-dir", str(tmp_path)], port, env={"ASK_CHAT_SESSIONS": "1"})
    url = f"http://127.0.0.1:{port}/"
    try:
        text = "City council election. Turnout in the city council election rose to 61 percent, the highest since 1990."
        added = httpx.post(url + "api/articles", json={"text": text, "title": "City election"}, timeout=120)
        assert added.status_code == 201, added.text
        aid = added.json()["article"]["id"]
        first, second = Client(url, verbose=False), Client(url, verbose=False)
        _, hist, _ = first.predict("What was the turnout?", [], aid, api_name="/ask")
        assert "61 percent" in str(hist[1]["content"])
        _, other, _ = second.predict("Who is Caesar?", [], "all", api_name="/ask")  # evicts the first session
        assert "Caesar" in str(other[1]["content"])
        _, hist, _ = first.predict("Since when was it the highest?", hist, aid, api_name="/ask")
        assert len(hist) == 4 and "1990" in str(hist[3]["content"])
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_chat_sessions_setting_is_checked() -> None:
    from web.api import CHAT_SESSIONS, ApiSettings

    assert ApiSettings.resolve(env={}).chat_sessions == CHAT_SESSIONS
    assert ApiSettings.resolve(env={"ASK_CHAT_SESSIONS": "10"}).chat_sessions == 10
    for bad in ("0", "many"):
        with pytest.raises(ValueError, match="ASK_CHAT_SESSIONS"):
            ApiSettings.resolve(env={"ASK_CHAT_SESSIONS": bad})
