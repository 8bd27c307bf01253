"""The JSON API (POST /api/ask, GET /api/articles): same process as the chat, same call (Assistant.answer).

Every error is {"error": "<a sentence>"} with a 4xx status; bodies are parsed by hand so no framework message,
validation dump or stack trace ever reaches a caller. Cross-origin use follows the allow list (see ApiSettings).
"""

from __future__ import annotations

import html
import ipaddress
import json
import logging
import math
import time
from collections import deque
from typing import Any
from urllib.parse import urlsplit

import anyio
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from retrieval import MAX_QUESTION_CHARS, Answer, Assistant, ArticleError, QuestionError, RetrievalError

from .settings import (  # noqa: F401 - the settings live in web.settings (no FastAPI); re-exported here
    API_CONCURRENCY, API_QUEUE, CHAT_SESSIONS, DEFAULT_RATE_LIMIT, ENV_CHAT_SESSIONS, ENV_MAX_QUEUE, ENV_ORIGINS,
    ENV_RATE_LIMIT, ApiSettings, is_local_name, normalize_origin)

log = logging.getLogger("web.api")

#: Largest request body accepted on the API, in bytes (a 2,000-character question fits many times over).
MAX_BODY_BYTES = 64 * 1024
#: Most history messages used; older ones are dropped (only the last user question matters for follow-ups).
MAX_HISTORY = 50


class RateLimiter:
    """At most `per_minute` questions per client address in any 60-second window (sliding log)."""

    WINDOW = 60.0

    def __init__(self, per_minute: int, *, include_loopback: bool = False, clock=time.monotonic) -> None:
        self.per_minute = per_minute
        self.include_loopback = include_loopback
        self.clock = clock
        self.hits: dict[str, deque[float]] = {}

    @staticmethod
    def is_loopback(client: str) -> bool:
        try:
            return ipaddress.ip_address(client).is_loopback
        except ValueError:
            return False

    def check(self, client: str) -> float | None:
        """None when the question may go ahead (and count it); else the seconds until the client may ask again."""
        if self.per_minute <= 0 or (not self.include_loopback and self.is_loopback(client)):
            return None
        now = self.clock()
        if len(self.hits) > 10_000:  # forget idle clients
            self.hits = {k: q for k, q in self.hits.items() if q and now - q[-1] < self.WINDOW}
        q = self.hits.setdefault(client, deque())
        while q and now - q[0] >= self.WINDOW:
            q.popleft()
        if len(q) >= self.per_minute:
            return max(1.0, self.WINDOW - (now - q[0]))
        q.append(now)
        return None


# ---- request and response shapes (for the OpenAPI docs; bodies are parsed by hand) --------------------------------
class Message(BaseModel):
    role: str = Field(description='"user" or "assistant"', examples=["user"])
    content: str = Field(description="the message text", examples=["Who is Caesar?"])


class AskRequest(BaseModel):
    question: str = Field(description=f"the question, 1 to {MAX_QUESTION_CHARS:,} characters",
                          examples=["What is the Free Russia Legion?"])
    article: str | None = Field(None, description="answer from this article only (an id from GET /api/articles)")
    history: list[Message] | None = Field(None, description="earlier messages of the conversation, oldest first; "
                                                            "lets follow-ups like 'How old is he?' work")


class ArticleRef(BaseModel):
    id: str
    title: str
    date: str | None


class CitationOut(BaseModel):
    n: int = Field(description="the number used as [n] in the answer")
    text: str = Field(description="the quoted sentence, verbatim")
    article: ArticleRef
    paragraph: int = Field(description="0-based index of the paragraph holding the sentence")
    start: int = Field(description="character offset of the sentence in the article text")
    end: int = Field(description="end offset (exclusive)")
    score: float = Field(description="ranking score (higher is more relevant)")


class AskResponse(BaseModel):
    answer: str = Field(description="the quoted sentences with [n] markers, or why the article does not answer")
    abstained: bool = Field(description="true when the article does not answer the question (no citations)")
    citations: list[CitationOut]


class ArticleOut(BaseModel):
    id: str
    title: str
    date: str | None
    paragraphs: int
    sentences: int


class ErrorOut(BaseModel):
    error: str = Field(description="what went wrong, as a sentence for a person")


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with its $defs substituted in place (valid inside any OpenAPI document)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def sub(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return sub(defs[ref.rsplit("/", 1)[-1]])
            return {k: sub(v) for k, v in node.items()}
        if isinstance(node, list):
            return [sub(v) for v in node]
        return node

    return sub(schema)


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {400: "bad input (not JSON, missing or empty question, wrong types)", 403: "origin not allowed",
            404: "unknown article", 413: f"request body over {MAX_BODY_BYTES // 1024} KB",
            415: "body is not sent as application/json", 429: "too many questions from this client; see Retry-After",
            503: "too many questions waiting"}
    return {c: {"model": ErrorOut, "description": text[c]} for c in codes}


# ---- helpers ----------------------------------------------------------------------------------------------------
def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """{"error": message} with the status; the message made into a sentence (capital, full stop)."""
    msg = message.strip() or "Something went wrong."
    msg = msg[0].upper() + msg[1:]
    if msg[-1] not in ".!?":
        msg += "."
    return JSONResponse({"error": msg}, status_code=status, headers=headers)


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """The body, cut off at `limit` bytes whether or not Content-Length is sent (shared by every API route)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise BodyTooLarge
        except ValueError:
            pass  # the server rejects a malformed Content-Length itself; count what arrives
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _has_surrogates(s: str) -> bool:
    try:
        s.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def _finite(x: float) -> float:
    return round(float(x), 4) if math.isfinite(x) else 0.0


def answer_json(ans: Answer) -> dict[str, Any]:
    """The API's answer shape (documented in AskResponse)."""
    return {"answer": ans.text, "abstained": ans.abstained, "citations": [
        {"n": c.number, "text": c.text, "article": {"id": c.article_id, "title": c.article_title, "date": c.article_date},
         "paragraph": c.paragraph, "start": c.start, "end": c.end, "score": _finite(c.score)} for c in ans.citations]}


def _type_name(v: Any) -> str:
    return {dict: "an object", list: "a list", bool: "true/false", int: "a number", float: "a number",
            str: "text", type(None): "null"}.get(type(v), type(v).__name__)


def parse_ask(data: Any) -> tuple[str, str | None, list[dict[str, str]]] | str:
    """(question, article, history) from the decoded JSON, or the sentence saying what is wrong with it."""
    if not isinstance(data, dict):
        return f'the body must be a JSON object like {{"question": "..."}}, not {_type_name(data)}'
    unknown = sorted(set(data) - {"question", "article", "history"})
    if unknown:
        return f"unknown field {unknown[0]!r}; the fields are question, article and history"
    if "question" not in data:
        return 'the "question" field is missing: send {"question": "your question about the article"}'
    q = data["question"]
    if not isinstance(q, str):
        return f'the "question" field must be text, not {_type_name(q)}'
    if _has_surrogates(q):
        return 'the question is not valid Unicode text (it holds an unpaired surrogate)'
    art = data.get("article")
    if art is not None and (not isinstance(art, str) or not art.strip()):
        return f'the "article" field must be an article id (text) from GET /api/articles, not {_type_name(art)}'
    hist = data.get("history")
    if hist is None:
        hist = []
    if not isinstance(hist, list):
        return f'the "history" field must be a list of {{"role", "content"}} messages, not {_type_name(hist)}'
    history: list[dict[str, str]] = []
    for i, m in enumerate(hist):
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant") or not isinstance(m.get("content"), str):
            return (f'history message {i + 1} must be {{"role": "user" or "assistant", "content": text}}')
        if _has_surrogates(m["content"]):
            return f"history message {i + 1} is not valid Unicode text (it holds an unpaired surrogate)"
        history.append({"role": m["role"], "content": m["content"]})
    return q, (art.strip() if art is not None else None), history[-MAX_HISTORY:]


# ---- routes ---------------------------------------------------------------------------------------------------------
def build_router(assistant: Assistant, settings: ApiSettings) -> APIRouter:
    """/api/ask and /api/articles (plus JSON 404/405 for anything else under /api/)."""
    router = APIRouter()
    limiter = RateLimiter(settings.rate_limit, include_loopback=settings.rate_limit_loopback)
    capacity = anyio.CapacityLimiter(API_CONCURRENCY)
    waiting = {"n": 0}

    def origin_refused(request: Request) -> JSONResponse | None:
        """Browsers send Origin on cross-origin calls: refuse (403) the ones not on the allow list."""
        origin = request.headers.get("origin")
        if origin is None or settings.allows(origin):
            return None
        host = request.headers.get("host", "")
        try:
            if urlsplit(origin).netloc.lower() == host.lower():
                return None  # the server's own pages (the widget, the chat)
        except ValueError:
            pass
        return error(403, f"pages from {origin[:100]} may not use this assistant; its owner can allow them "
                          f"with --allow-origin {origin[:100]}")

    @router.post("/api/ask", summary="Answer a question with cited sentences", response_model=AskResponse,
                 responses=_errors(400, 403, 404, 413, 415, 429, 503),
                 openapi_extra={"requestBody": {"required": True, "content": {
                     "application/json": {"schema": inline_schema(AskRequest),
                                          "example": {"question": "Who is Caesar?"}}}}})
    async def ask(request: Request):  # noqa: ANN201 - returns JSONResponse of AskResponse or ErrorOut
        """Ask a question about the articles. The answer quotes their sentences with [n] markers; each citation
        says where the sentence is. When the articles do not answer, `abstained` is true and there are no
        citations. Send the body as `application/json`; at most 64 KB; questions up to 2,000 characters."""
        if (refused := origin_refused(request)) is not None:
            return refused
        client = request.client.host if request.client else "unknown"
        retry = limiter.check(client)
        if retry is not None:
            return error(429, f"too many questions from this address: the limit is {limiter.per_minute} a minute; "
                              f"try again in {math.ceil(retry)} seconds", {"Retry-After": str(math.ceil(retry))})
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return error(415, "send the question as JSON with the header Content-Type: application/json")
        try:
            body = await read_body(request, MAX_BODY_BYTES)
        except BodyTooLarge:
            return error(413, f"the request is larger than {MAX_BODY_BYTES // 1024} KB; questions are limited "
                              f"to {MAX_QUESTION_CHARS:,} characters")
        if not body.strip():
            return error(400, 'the request has no body: send {"question": "your question about the article"}')
        try:
            data = json.loads(body)
        except UnicodeDecodeError:
            return error(400, "the request body is not UTF-8 text")
        except RecursionError:
            return error(400, "the request body is nested too deeply to be a question")
        except ValueError as exc:
            return error(400, f"the request body is not valid JSON ({str(exc).split(':')[0]})")
        parsed = parse_ask(data)
        if isinstance(parsed, str):
            return error(400, parsed)
        question, article, history = parsed
        if article is not None and article not in {a["id"] for a in assistant.articles()}:
            return error(404, f"there is no article with id {article[:100]!r}; GET /api/articles lists them")
        if waiting["n"] >= API_CONCURRENCY + settings.max_queue:  # those being answered plus those waiting
            return error(503, "the assistant is busy; try again in a few seconds", {"Retry-After": "5"})
        waiting["n"] += 1
        try:
            ans = await anyio.to_thread.run_sync(
                lambda: assistant.answer(question, history=history, article=article), limiter=capacity)
        except ArticleError as exc:
            return error(404, str(exc))
        except (QuestionError, RetrievalError) as exc:
            return error(400, str(exc))
        finally:
            waiting["n"] -= 1
        return JSONResponse(answer_json(ans))

    @router.get("/api/articles", summary="The articles the assistant answers from", response_model=list[ArticleOut],
                responses=_errors(403))
    async def articles(request: Request):  # noqa: ANN201
        """Every indexed article: id (use it as `article` in /api/ask), title, date, and its size."""
        if (refused := origin_refused(request)) is not None:
            return refused
        keys = ("id", "title", "date", "paragraphs", "sentences")  # never the file's path on the server
        return JSONResponse([{k: a.get(k) for k in keys} for a in assistant.articles()])

    router.add_api_route("/api/articles", articles, methods=["HEAD"], include_in_schema=False)

    @router.api_route("/api/ask", methods=["GET", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    async def ask_wrong_method(request: Request) -> JSONResponse:
        return error(405, f"use POST for /api/ask (not {request.method})", {"Allow": "POST, OPTIONS"})

    @router.api_route("/api/articles", methods=["POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    async def articles_wrong_method(request: Request) -> JSONResponse:
        return error(405, f"use GET for /api/articles (not {request.method})", {"Allow": "GET, HEAD, OPTIONS"})

    @router.api_route("/api/{rest:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
                      include_in_schema=False)
    async def api_unknown(rest: str) -> JSONResponse:
        return error(404, "there is no such API route; the API is POST /api/ask and GET /api/articles (see /docs)")

    return router


def redacted_traceback(exc: BaseException) -> str:
    """Where an error happened (the frames) and its type, without its message: messages can quote what a visitor
    sent (a question, a history, pydantic's input_value), and the server's output holds nothing a visitor typed."""
    import traceback

    frames = "".join(traceback.format_tb(exc.__traceback__))
    kind = f"{type(exc).__module__}.{type(exc).__qualname__}"
    return f"Traceback (most recent call last):\n{frames}{kind} (message withheld)"


class RedactExceptions(logging.Filter):
    """On a logger (uvicorn's "Exception in ASGI application"): the traceback's frames and the error's type, never
    its message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.msg = f"{record.getMessage()}\n{redacted_traceback(record.exc_info[1])}"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def install_error_handlers(app: FastAPI) -> None:
    """JSON errors instead of framework pages for anything that escapes a route of the parent app."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException as StarletteHTTPException

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error(400, "the request is not in the documented shape; see /docs")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail) if isinstance(exc.detail, str) else "the request failed",
                     dict(exc.headers or {}))

    for name in ("uvicorn.error", "uvicorn"):  # uvicorn logs an error that reached it with its traceback
        lg = logging.getLogger(name)
        if not any(isinstance(f, RedactExceptions) for f in lg.filters):
            lg.addFilter(RedactExceptions())

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        route = getattr(request.scope.get("route"), "path", "?")  # the route's pattern, not what the client sent
        log.error("unexpected error on %s %s\n%s", request.method, route, redacted_traceback(exc))
        return error(500, "the assistant failed on this request; the error was logged on the server")


# ---- /docs: the OpenAPI description as one self-contained page (no CDN, unlike Swagger UI) -------------------------
def docs_html(spec: dict[str, Any]) -> str:
    """A readable page of the API from its OpenAPI document; every value escaped."""
    e = html.escape
    out = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{e(spec['info']['title'])} – API"
           "</title><style>body{font:15px/1.5 system-ui,sans-serif;max-width:920px;margin:2em auto;padding:0 1em;"
           "color:#1f2328}code,pre{font:13px ui-monospace,monospace;background:#f6f8fa;border-radius:4px}pre{padding:"
           "10px;overflow:auto}code{padding:1px 4px}.op{border:1px solid #d0d7de;border-radius:6px;padding:0 1em 1em;"
           "margin:1.5em 0}.m{font-weight:700;color:#fff;background:#1f6feb;border-radius:4px;padding:2px 8px}"
           "table{border-collapse:collapse}td,th{border:1px solid #d0d7de;padding:4px 8px;text-align:left}</style>"
           f"</head><body><h1>{e(spec['info']['title'])} – JSON API</h1><p>Machine-readable: <a href='openapi.json'>"
           "openapi.json</a> (OpenAPI 3). Errors are always <code>{\"error\": \"a sentence\"}</code> with a 4xx "
           "status.</p>"]
    schemas = spec.get("components", {}).get("schemas", {})

    def resolve(s: dict[str, Any]) -> dict[str, Any]:
        ref = s.get("$ref")
        return resolve(schemas.get(ref.rsplit("/", 1)[-1], {})) if ref else s

    def fields(s: dict[str, Any], depth: int = 0) -> str:
        s = resolve(s)
        if s.get("type") == "array":
            return "list of " + fields(s.get("items", {}), depth)
        if "anyOf" in s:
            return " or ".join(fields(x, depth) for x in s["anyOf"])
        props = s.get("properties")
        if not props or depth > 3:
            return f"<code>{e(str(s.get('type', 'any')))}</code>"
        rows = "".join(f"<tr><td><code>{e(k)}</code></td><td>{fields(v, depth + 1)}</td>"
                       f"<td>{e(str(resolve(v).get('description', v.get('description', ''))))}</td></tr>"
                       for k, v in props.items())
        return f"<table><tr><th>field</th><th>type</th><th>meaning</th></tr>{rows}</table>"

    for path, ops in spec.get("paths", {}).items():
        for method, op in ops.items():
            out.append(f"<div class='op'><h2><span class='m'>{e(method.upper())}</span> <code>{e(path)}</code> "
                       f"– {e(op.get('summary', ''))}</h2><p>{e(op.get('description', ''))}</p>")
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                out.append("<h3>Request body (application/json)</h3>" + fields(body.get("schema", {})))
                if "example" in body:
                    out.append(f"<pre>{e(json.dumps(body['example'], ensure_ascii=False))}</pre>")
            out.append("<h3>Responses</h3><table><tr><th>status</th><th>meaning</th><th>body</th></tr>")
            for code, r in op.get("responses", {}).items():
                if code == "422":
                    continue
                sch = r.get("content", {}).get("application/json", {}).get("schema", {})
                out.append(f"<tr><td>{e(code)}</td><td>{e(r.get('description', ''))}</td><td>{fields(sch)}</td></tr>")
            out.append("</table></div>")
    out.append("</body></html>")
    return "".join(out)
