"""One ASGI app: the JSON API and the widget routes first, then the Gradio chat mounted at the root.

`import gradio` and building the chat take seconds (3-7 s here, bench/PERF.md), most of a cold start. With
build_app(..., defer_chat=True) (what app.py uses) the API answers as soon as the server listens, and DeferredChat
imports, builds and mounts the chat in a background thread; until then / (and every other chat path) answers a small
"The chat is starting…" page with status 503 that reloads itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Callable

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.datastructures import Headers, MutableHeaders
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from retrieval import Assistant
from retrieval.ingest import MAX_DOCUMENT_BYTES

from . import api as api_routes
from . import widget as widget_routes
from .api import redacted_traceback
from .settings import ApiSettings
from .lean import deferred_imports

if TYPE_CHECKING:
    import gradio as gr

log = logging.getLogger("web.server")

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


def import_gradio():  # noqa: ANN201 - the gradio module
    """`import gradio`, leaving the modules it imports but never uses here unloaded (see web/lean.py)."""
    with deferred_imports():
        import gradio as gr
    return gr


def build_api(assistant: Assistant, settings: ApiSettings) -> FastAPI:
    """The FastAPI app without the chat: middleware (CORS, FrameGuard), /api/*, /embed.js + /widget, /docs."""
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

    return api


def mount_chat(api: FastAPI, assistant: Assistant, settings: ApiSettings) -> FastAPI:
    """Import Gradio, build the chat and mount it at / on api, behind the routes already there (seconds of work)."""
    gr = import_gradio()
    from .chat import CSS, build_chat

    redact_gradio_tracebacks()
    with deferred_imports():  # building the Blocks asks whether it runs in a notebook: without IPython loaded, it does not
        demo = build_chat(assistant)
        demo.queue(default_concurrency_limit=CONCURRENCY, max_size=settings.max_queue)
        demo.state_session_capacity = settings.chat_sessions  # read when the app is mounted
        skip_monitoring_summary(demo)
        # uploads to /gradio_api/upload past the article file limit are cut off with a 413 while they arrive
        return gr.mount_gradio_app(api, demo, path="/", css=CSS, footer_links=["api"],
                                   max_file_size=MAX_DOCUMENT_BYTES)


#: Test-only: seconds the background chat build waits before it starts (unset: none), so a test can watch the API
#: answer while / still shows the starting page. Not a setting for deployments.
ENV_CHAT_DELAY = "ASK_CHAT_DELAY_S"

STARTING_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="1">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Ask the article: starting</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 36em; margin: 4em auto; padding: 0 1em">
<h1>The chat is starting…</h1>
<p>This page reloads by itself in a moment. The JSON API (<a href="/docs">/docs</a>) already answers.</p>
</body></html>
"""

FAILED_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Ask the article: the chat failed</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 36em; margin: 4em auto; padding: 0 1em">
<h1>The chat could not start</h1>
<p>The server failed to load the chat page; its log says why. The JSON API (<a href="/docs">/docs</a>) and the
embeddable widget still answer questions.</p>
</body></html>
"""


class DeferredChat:
    """The ASGI app app.py serves: the API app at once, the Gradio chat mounted behind it once it is built.

    This is the one place of the deferred mount. At the server's startup (its lifespan, after the API app's own) a
    thread imports Gradio and builds the chat (mount_chat); meanwhile a placeholder mounted at / answers every chat
    path with STARTING_PAGE (503, Retry-After: 1, reloads itself). The server's lifespan has run by the time the chat
    is built, so the startup steps gradio.mount_gradio_app would put in it (the Gradio app's lifespan, its queue and
    extra startup events) run here, on the server's event loop; then the Gradio mount replaces the placeholder in the
    route list in one step (API routes first, the chat at / last, as with the synchronous mount). At shutdown the
    Gradio app's lifespan is closed before the API app's. If the build fails, the error is logged, the API keeps
    serving and / answers FAILED_PAGE with status 500. The placeholder sits inside the API app, behind its middleware:
    FrameGuard's headers, host check and blocked paths apply to it as to the chat.
    """

    def __init__(self, api: FastAPI, mount: Callable[[], FastAPI], on_ready: Callable[[], None] | None = None) -> None:
        self.api = api
        self._mount = mount
        self._on_ready = on_ready
        api.mount("/", self._placeholder, name="chat")
        self._route = api.router.routes[-1]
        #: set once the chat is served (ready) or has failed (error)
        self.settled = threading.Event()
        self.ready = False
        self.error: BaseException | None = None
        self._task: asyncio.Task | None = None
        self._chat_lifespan = contextlib.AsyncExitStack()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.api(scope, receive, send)
            return

        async def lifespan_receive() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                await self._stop()
            return message

        async def lifespan_send(message: Message) -> None:
            await send(message)
            if message["type"] == "lifespan.startup.complete" and self._task is None:
                self._task = asyncio.get_running_loop().create_task(self._start())

        await self.api(scope, lifespan_receive, lifespan_send)

    async def _placeholder(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Every chat path until the chat is mounted: the starting page (503), or the failure page (500)."""
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1013})  # try again later
            return
        if scope["type"] != "http":
            return
        if self.error is None:
            page = HTMLResponse(STARTING_PAGE, status_code=503,
                                headers={"Retry-After": "1", "Cache-Control": "no-store"})
        else:
            page = HTMLResponse(FAILED_PAGE, status_code=500, headers={"Cache-Control": "no-store"})
        await page(scope, receive, send)

    def _build(self) -> Mount:
        """In the build thread: mount_chat, then take the Gradio mount it appended (behind the placeholder)."""
        delay = float(os.environ.get(ENV_CHAT_DELAY) or 0)
        if delay > 0:
            time.sleep(delay)
        mounted = self._mount()
        route = self.api.router.routes[-1]
        if mounted is not self.api or not isinstance(route, Mount) or route is self._route:
            raise RuntimeError("the chat was not mounted at / on the API app")
        return route

    async def _start(self) -> None:
        t0 = time.perf_counter()
        loop = asyncio.get_running_loop()
        built: asyncio.Future[Mount] = loop.create_future()

        def settle(ok: bool, value: object) -> None:
            if not built.done():
                built.set_result(value) if ok else built.set_exception(value)  # type: ignore[arg-type]

        def build() -> None:
            try:
                outcome = (True, self._build())
            except Exception as exc:  # noqa: BLE001 - reported on the loop
                outcome = (False, exc)
            except BaseException as exc:  # noqa: BLE001 - SystemExit in a library's import: still a failed build
                outcome = (False, RuntimeError(f"the chat build stopped ({type(exc).__name__})"))
            with contextlib.suppress(RuntimeError):  # the loop is closed: the server stopped during the build
                loop.call_soon_threadsafe(settle, *outcome)

        threading.Thread(target=build, name="chat-build", daemon=True).start()
        try:
            route = await built
            gradio_app = route.app
            # what mount_gradio_app's lifespan wrapper does at startup, on this (the server's) event loop
            await self._chat_lifespan.enter_async_context(gradio_app.router.lifespan_context(gradio_app))
            blocks = gradio_app.get_blocks()
            blocks.run_startup_events()
            await blocks.run_extra_startup_events()
            routes = self.api.router.routes
            routes.remove(route)
            routes[routes.index(self._route)] = route  # the swap: from here on / is the chat
        except Exception as exc:  # noqa: BLE001 - any failure: the API keeps serving, / says the chat failed
            self.error = exc
            log.error("The chat could not start (%s); / answers 500, the JSON API keeps serving.",
                      type(exc).__name__, exc_info=exc)
            self.settled.set()
            return
        self.ready = True
        log.debug("chat built and mounted at / in %.1fs", time.perf_counter() - t0)
        try:
            if self._on_ready is not None:
                self._on_ready()
        except Exception:  # noqa: BLE001 - the chat is served all the same
            log.exception("on_chat_ready failed")
        finally:
            self.settled.set()

    async def _stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._chat_lifespan.aclose()


def build_app(assistant: Assistant, *, allow_origins: list[str] | None = None, rate_limit: int | None = None,
              rate_limit_loopback: bool = False, settings: ApiSettings | None = None, defer_chat: bool = False,
              on_chat_ready: Callable[[], None] | None = None) -> FastAPI | DeferredChat:
    """The app: /api/* (JSON), /embed.js + /widget (the embeddable chat), /docs, and the chat at /.

    allow_origins: origins whose pages may embed the widget and call the API from a browser (default: the
    ASK_ALLOW_ORIGINS environment variable, else none but the server's own); rate_limit: questions per minute per
    client on /api/ask (default ASK_RATE_LIMIT, else 30; 0 = off), loopback clients exempt unless rate_limit_loopback.
    settings (ApiSettings) replaces all three; app.py passes its bind address so a loopback-only server refuses
    requests addressed to other domain names (DNS rebinding).

    defer_chat=False (the default): the FastAPI app with the chat mounted, built here (seconds: `import gradio`).
    defer_chat=True: a DeferredChat serving the API at once and the chat once built in the background after the
    server starts (the server must run the ASGI lifespan, as uvicorn does by default); on_chat_ready is called on the
    server's event loop when the chat is served.
    """
    settings = settings or ApiSettings.resolve(allow_origins, rate_limit, rate_limit_loopback)
    api = build_api(assistant, settings)
    if defer_chat:
        return DeferredChat(api, lambda: mount_chat(api, assistant, settings), on_ready=on_chat_ready)
    return mount_chat(api, assistant, settings)
