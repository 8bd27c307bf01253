"""One ASGI app: the JSON API and the widget routes first, then the Gradio chat mounted at the root."""

from __future__ import annotations

import importlib.util

from .lean import deferred_imports

with deferred_imports():  # Gradio's unused eager imports (pandas, IPython) stay unloaded: see web/lean.py
    import gradio as gr
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from retrieval import Assistant
from retrieval.ingest import MAX_DOCUMENT_BYTES

from . import api as api_routes
from . import widget as widget_routes
from .api import ApiSettings, redacted_traceback
from .chat import CSS, build_chat

#: Chat events that may run at once; more wait in the queue (up to QUEUE_SIZE, or $ASK_MAX_QUEUE, then "busy").
CONCURRENCY = api_routes.API_CONCURRENCY
QUEUE_SIZE = api_routes.API_QUEUE


#: Gradio routes this app never uses: the reverse proxy to Hugging Face Spaces (an SSRF surface; it also answers a
#: NUL in its URL with a 500).
BLOCKED_PREFIXES = ("/gradio_api/proxy=", "/proxy=")


class _RedactedTracebacks:
    """Stands in for the `traceback` module inside Gradio's modules: print_exc() prints where a failed event broke and
    the error's type, not its message (a pydantic error quotes the visitor's input); everything else is traceback's."""

    def __getattr__(self, name: str):  # noqa: ANN204
        import traceback

        return getattr(traceback, name)

    def print_exc(self, limit: int | None = None, file=None, chain: bool = True) -> None:  # noqa: ANN001
        import sys

        exc = sys.exc_info()[1]
        if exc is not None:
            print(redacted_traceback(exc), file=file or sys.stderr, flush=True)


def redact_gradio_tracebacks() -> None:
    """Gradio prints the traceback of a failed event with its message; keep visitors' input out of the output."""
    import gradio.queueing
    import gradio.route_utils
    import gradio.routes

    for mod in (gradio.queueing, gradio.routes, gradio.route_utils):
        if getattr(mod, "traceback", None) is not None:
            mod.traceback = _RedactedTracebacks()  # type: ignore[attr-defined]


def skip_monitoring_summary(demo: gr.Blocks) -> None:
    """Gradio's queue recomputes the summary of its monitoring dashboard after every event: a pandas DataFrame over up
    to 10,000 past events (pandas loaded, ~40 MB; ~25 ms of CPU per chat answer). The dashboard is off here (no
    enable_monitoring), so nothing reads the summary: it stays the empty one."""
    queue = getattr(demo, "_queue", None)
    if queue is not None and hasattr(queue, "compute_analytics_summary") and not getattr(demo, "enable_monitoring", False):
        queue.compute_analytics_summary = lambda records: queue.cached_event_analytics_summary


class FrameGuard:
    """Pages other than /widget may only be framed by the server's own pages (anti-clickjacking); unused Gradio
    routes (BLOCKED_PREFIXES) answer 404; on a loopback-only server, requests addressed to another domain name
    (DNS rebinding) are refused."""

    def __init__(self, app: ASGIApp, settings: ApiSettings | None = None) -> None:
        self.app = app
        self.settings = settings or ApiSettings()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            host = Headers(scope=scope).get("host", "")
            if not self.settings.host_allowed(host):
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                msg = (f"This assistant listens on this machine only and answers requests addressed to localhost or "
                       f"127.0.0.1, not to {host[:100]!r}.")
                await JSONResponse({"error": msg}, status_code=403)(scope, receive, send)
                return
        if scope["type"] == "http" and scope.get("path", "").startswith(BLOCKED_PREFIXES):
            await JSONResponse({"error": "Not found."}, status_code=404)(scope, receive, send)
            return
        if scope["type"] != "http" or scope.get("path") == "/widget":
            await self.app(scope, receive, send)
            return

        busy_join = scope.get("path", "").endswith("/queue/join")

        async def guarded(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if busy_join and message.get("status") == 503:  # Gradio's "Queue is full": say when to come back
                    headers.setdefault("Retry-After", "5")
                headers.setdefault("X-Content-Type-Options", "nosniff")
                if headers.get("content-type", "").startswith("text/html"):
                    headers.setdefault("X-Frame-Options", "SAMEORIGIN")
                    if "content-security-policy" not in headers:
                        headers["Content-Security-Policy"] = "frame-ancestors 'self'"
            await send(message)

        await self.app(scope, receive, guarded)


def build_app(assistant: Assistant, *, allow_origins: list[str] | None = None, rate_limit: int | None = None,
              rate_limit_loopback: bool = False, settings: ApiSettings | None = None) -> FastAPI:
    """The FastAPI app: /api/* (JSON), /embed.js + /widget (the embeddable chat), /docs, and the chat at /.

    allow_origins: origins whose pages may embed the widget and call the API from a browser (default: the
    ASK_ALLOW_ORIGINS environment variable, else none but the server's own); rate_limit: questions per minute per
    client on /api/ask (default ASK_RATE_LIMIT, else 30; 0 = off), loopback clients exempt unless rate_limit_loopback.
    settings (ApiSettings) replaces all three; app.py passes its bind address so a loopback-only server refuses
    requests addressed to other domain names (DNS rebinding).
    """
    settings = settings or ApiSettings.resolve(allow_origins, rate_limit, rate_limit_loopback)
    api = FastAPI(title="Ask the article", version="1", docs_url=None, redoc_url=None, openapi_url="/openapi.json",
                  description="Answers quote and cite the article's own sentences.")
    api.state.settings = settings
    # Gradio sees a CORSMiddleware on the parent and leaves CORS to it: one policy for the API and the chat.
    api.add_middleware(CORSMiddleware, allow_origins=settings.allow_origins, allow_methods=["GET", "POST", "DELETE"],
                       allow_headers=["Content-Type", "Accept"], allow_credentials=False, max_age=600)
    api.add_middleware(FrameGuard, settings=settings)
    api_routes.install_error_handlers(api)
    if importlib.util.find_spec("web.articles_api") is not None:  # article management (add/remove) routes
        from . import articles_api

        api.include_router(articles_api.build_router(assistant))  # before the /api/{rest} catch-all
    api.include_router(api_routes.build_router(assistant, settings))
    api.include_router(widget_routes.build_router(settings))

    @api.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(api_routes.docs_html(api.openapi()))

    redact_gradio_tracebacks()
    with deferred_imports():  # building the Blocks asks whether it runs in a notebook: without IPython loaded, it does not
        demo = build_chat(assistant)
        demo.queue(default_concurrency_limit=CONCURRENCY, max_size=settings.max_queue)
        demo.state_session_capacity = settings.chat_sessions  # read when the app is mounted
        skip_monitoring_summary(demo)
        # uploads to /gradio_api/upload past the article file limit are cut off with a 413 while they arrive
        return gr.mount_gradio_app(api, demo, path="/", css=CSS, footer_links=["api"],
                                   max_file_size=MAX_DOCUMENT_BYTES)
