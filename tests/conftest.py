"""Shared fixtures: the real model (loaded once), the seed article, and a tiny deterministic fake encoder."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["HF_HUB_OFFLINE"] = "1"

SEED = ROOT / "data" / "seed_article.txt"
SHARED_BENCH = ROOT.parent / "shared" / "bench"


class FakeEncoder:
    """Hashed bag-of-words unit vectors: deterministic and instant, for logic around the model."""

    name = "sentence-transformers/all-MiniLM-L6-v2"
    dimension = 384

    def __init__(self) -> None:
        self.calls = 0
        self.encoded = 0

    def warm_up(self) -> None:
        pass

    def encode(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        self.calls += 1
        self.encoded += len(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in re.findall(r"\w+", t.lower()):
                out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dimension] += 1.0
            n = np.linalg.norm(out[i])
            out[i] = out[i] / n if n else out[i]
        return out

    def encode_tokens(self, texts: list[str], *, progress=None):  # type: ignore[no-untyped-def]
        """Sentence vectors as encode(), plus one hashed one-hot vector per word as its 'word piece'; in batches of
        256 with progress(done, total) after each, as the real encoder reports its batches."""
        from retrieval.tokens import TokenVectors

        parts, vecs = [], [np.zeros((0, self.dimension), np.float32)]
        for lo in range(0, len(texts), 256):
            chunk = texts[lo:lo + 256]
            for t in chunk:
                words = re.findall(r"\w+", t.lower())
                h = [int(hashlib.md5(w.encode()).hexdigest(), 16) for w in words]
                pieces = np.zeros((len(words), self.dimension), dtype=np.float16)
                pieces[np.arange(len(words)), [x % self.dimension for x in h]] = 1.0
                parts.append(TokenVectors(np.array([1000 + x % 29000 for x in h], np.int32),
                                          np.array([0, len(words)], np.int64), pieces))
            vecs.append(self.encode(chunk))
            if progress is not None:
                progress(min(lo + 256, len(texts)), len(texts))
        return np.concatenate(vecs), TokenVectors.concat(parts, self.dimension)

    def encode_context(self, texts: list[str], paragraphs: list[object], *, progress=None):  # type: ignore[no-untyped-def]
        """Each sentence's hashed vector plus half its paragraph's, unit length (not counted in calls/encoded)."""
        calls, encoded = self.calls, self.encoded
        own = self.encode(texts)
        joined: dict[object, str] = {}
        for t, p in zip(texts, paragraphs):
            joined[p] = joined.get(p, "") + " " + t
        par = self.encode([joined[p] for p in paragraphs])
        self.calls, self.encoded = calls, encoded
        out = own + 0.5 * par
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        if progress is not None:
            progress(len(texts), len(texts))
        return out.astype(np.float32)

    def tokenizer_file(self) -> Path:
        from retrieval.embed import model_path

        return model_path() / "tokenizer.json"


@pytest.fixture
def fake_encoder() -> FakeEncoder:
    return FakeEncoder()


@pytest.fixture(scope="session")
def encoder():
    """The real all-MiniLM-L6-v2, verified and loaded offline once per test session."""
    from retrieval.embed import default_encoder

    enc = default_encoder()
    enc.warm_up()
    return enc


@pytest.fixture(scope="session")
def seed_assistant(encoder, tmp_path_factory):
    """An assistant over the shipped seed article with the real model."""
    from retrieval import Assistant

    a = Assistant(articles=[SEED], index_dir=tmp_path_factory.mktemp("seed-index"), encoder=encoder)
    a.warm_up()
    return a


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- a real app.py server, shared by the API, widget-browser and security tests --------------------------------------
MARKUP_ARTICLE = """# Markup <img src=x onerror=alert('title')> on trial

The gallery caption read <img src=x onerror=alert(1)> beneath the portrait of the lighthouse keeper.

Visitors who opened the archive page in 2019 saw the words <script>alert(2)</script> printed beside the ferry timetable.

The lighthouse keeper, Margit Olsson, retired after forty years on the island of Stora Karlsö.
"""


def start_server(args: list[str], port: int, *, env: dict[str, str] | None = None, timeout: float = 180,
                 ready: str = "Chat served at"):
    """Start `python app.py ARGS --port PORT`; return (process, output lines so far) once it prints the line
    `ready` (by default once the chat is served; "API served at": as soon as the JSON API is) and answers HTTP.

    A thread keeps reading the output (so a chatty server never blocks on a full pipe); lines keep arriving in the
    returned list."""
    import subprocess
    import threading
    import time

    import httpx

    full_env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1", **(env or {}))
    proc = subprocess.Popen([sys.executable, "app.py", *args, "--port", str(port)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=full_env)
    lines: list[str] = []
    served = threading.Event()

    def drain() -> None:
        for line in proc.stdout:
            lines.append(line)
            if ready in line:
                served.set()
        served.set()

    threading.Thread(target=drain, daemon=True).start()
    served.wait(timeout)
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/articles", timeout=2).status_code == 200:
                return proc, lines
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise AssertionError("server did not start:\n" + "".join(lines))


def stop_server(proc) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except Exception:  # noqa: BLE001
        proc.kill()


@pytest.fixture(scope="session")
def web_server(tmp_path_factory):
    """app.py over the seed article plus an article full of markup, allowing one host-page origin to embed it.

    Ports: `port` (the app), `host_port` (an allowed host page origin), `other_port` (a host page not allowed)."""
    tmp = tmp_path_factory.mktemp("web-server")
    markup = tmp / "markup.md"
    markup.write_text(MARKUP_ARTICLE, encoding="utf-8")
    port, host_port, other_port = free_port(), free_port(), free_port()
    while len({port, host_port, other_port}) < 3:
        host_port, other_port = free_port(), free_port()
    proc, lines = start_server(["--article", str(SEED), "--article", str(markup), "--index-dir", str(tmp / "index"),
                                "--allow-origin", f"http://127.0.0.1:{host_port}"], port)
    yield {"url": f"http://127.0.0.1:{port}", "port": port, "host_port": host_port, "other_port": other_port,
           "markup": markup, "tmp": tmp, "lines": lines, "proc": proc}
    stop_server(proc)


# ---- Debian's Chromium driven by Playwright (never a downloaded browser) -------------------------------------------
CHROMIUM = Path("/usr/bin/chromium")


def require_chromium() -> None:
    """Browser tests fail in CI (CI=true) when Chromium is missing, and are skipped elsewhere."""
    if CHROMIUM.exists():
        return
    msg = f"{CHROMIUM} is missing (apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(scope="module")
def browser():
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[
            "--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-gpu"])
        yield b
        b.close()


def serve_dir(directory: Path, port: int):
    """A static file server for host pages on 127.0.0.1:port (another port = another origin); .shutdown() it."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:  # noqa: ANN002
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", port), functools.partial(Quiet, directory=str(directory)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd
