"""Article management on the JSON API: POST /api/articles (text or file) and DELETE /api/articles/{id}.

Same rules and messages as `python app.py add/remove` (the Assistant does the work); every error is
{"error": "<a sentence>"} with a 4xx status. Changes from other origins are refused unless allowed (CSRF).
Include this router before the one holding the /api/{rest} catch-all:

    app.include_router(articles_api.build_router(assistant))
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from retrieval import ArticleError, Assistant, RetrievalError
from retrieval.ingest import MAX_ARTICLE_BYTES, MAX_DOCUMENT_BYTES, SUPPORTED_SUFFIXES

from .api import BodyTooLarge, read_body

log = logging.getLogger("web.articles")

#: Largest request accepted when adding an article (a PDF or HTML file, plus multipart framing).
MAX_UPLOAD_BYTES = MAX_DOCUMENT_BYTES + 64 * 1024
#: Articles indexed at once through the API (embedding uses the CPU; more wait their turn).
ADD_CONCURRENCY = 1

_RAW_TYPES = {"text/plain": ".txt", "text/markdown": ".md", "text/x-markdown": ".md", "text/html": ".html",
              "application/xhtml+xml": ".html", "application/pdf": ".pdf"}


def error(status: int, message: str) -> JSONResponse:
    """{"error": message} with the status; the message made into a sentence."""
    msg = message.strip() or "Something went wrong."
    head = msg.split(":", 1)[0]
    if not ("." in head or "/" in head):  # a message starting with a file name keeps the name as it is
        msg = msg[0].upper() + msg[1:]
    if msg[-1] not in ".!?":
        msg += "."
    return JSONResponse({"error": msg}, status_code=status)


def status_for(exc: ArticleError) -> int:
    """413 for an article over the size limit, 415 for an unsupported file type, 400 for the rest."""
    msg = str(exc)
    if "limit" in msg and " MB " in msg:
        return 413
    if "unsupported file type" in msg:
        return 415
    return 400


def _cross_origin_refused(request: Request) -> JSONResponse | None:
    """A browser page from another origin may not change the library unless the server allows that origin."""
    origin = request.headers.get("origin")
    if origin is None:
        return None
    try:
        if urlsplit(origin).netloc.lower() == request.headers.get("host", "").lower():
            return None
    except ValueError:
        pass
    settings = getattr(request.app.state, "settings", None)
    allows = getattr(settings, "allows", None)
    if allows is not None and allows(origin):
        return None
    return error(403, f"pages from {origin[:100]} may not change this assistant's articles")


def article_json(a: dict[str, Any]) -> dict[str, Any]:
    return {k: a[k] for k in ("id", "title", "date", "format", "paragraphs", "sentences") if k in a}


def build_router(assistant: Assistant) -> APIRouter:
    """POST /api/articles and DELETE /api/articles/{id}."""
    router = APIRouter()
    capacity = anyio.CapacityLimiter(ADD_CONCURRENCY)

    async def _add(fn) -> JSONResponse:  # type: ignore[no-untyped-def]
        before = {a["id"] for a in assistant.articles()}
        try:
            art, _report = await anyio.to_thread.run_sync(fn, limiter=capacity)
        except ArticleError as exc:
            return error(status_for(exc), str(exc))
        except RetrievalError as exc:
            return error(400, str(exc))
        info = next((a for a in assistant.articles() if a["id"] == art.id), None) or {
            "id": art.id, "title": art.title, "date": art.date, "format": art.format,
            "paragraphs": len(art.paragraphs), "sentences": len(art.sentences)}
        added = art.id not in before
        return JSONResponse({"status": "added" if added else "unchanged", "article": article_json(info)},
                            status_code=201 if added else 200)

    @router.post("/api/articles", summary="Add an article (pasted text or a file)", status_code=201,
                 responses={400: {"description": "the article cannot be indexed (the message says why)"},
                            403: {"description": "origin not allowed"},
                            413: {"description": "article over the size limit"},
                            415: {"description": "unsupported body or file type"}})
    async def add_article(request: Request):  # noqa: ANN201
        """Add an article. Send either JSON `{"text": "...", "title": "optional"}`; or multipart/form-data with a
        `file` field (.txt, .md, .html, .pdf) or a `text` field, and an optional `title`; or the raw file as the body with its
        Content-Type (text/plain, text/markdown, text/html, application/pdf) and an optional `?title=`.
        201 with the new article; 200 when the same article is already indexed."""
        if (refused := _cross_origin_refused(request)) is not None:
            return refused
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        title = request.query_params.get("title")
        if ctype in ("multipart/form-data", "application/x-www-form-urlencoded"):
            declared = request.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES:
                return error(413, f"the upload is larger than {MAX_DOCUMENT_BYTES // (1024 * 1024)} MiB")
            try:
                form = await request.form(max_files=1, max_fields=10, max_part_size=MAX_ARTICLE_BYTES + 1024)
            except Exception as exc:  # noqa: BLE001 - the multipart parser's own errors
                return error(400, f"the form could not be read ({str(exc)[:120] or type(exc).__name__})")
            try:
                upload = form.get("file")
                text = form.get("text")
                title = form.get("title") if isinstance(form.get("title"), str) else title
                if upload is not None and not isinstance(upload, str):
                    name = Path(upload.filename or "upload").name or "upload"
                    data = await upload.read(MAX_DOCUMENT_BYTES + 1)
                    if len(data) > MAX_DOCUMENT_BYTES:
                        return error(413, f"{name}: the file is larger than {MAX_DOCUMENT_BYTES // (1024 * 1024)} MiB")
                    return await _add(lambda: assistant.add_bytes(data, name, title=title or None))
                if isinstance(text, str):
                    return await _add(lambda: assistant.add_text(text, title=title))
            finally:
                await form.close()
            return error(400, 'the form needs a "file" field (an article file) or a "text" field (the article text)')
        try:
            body = await read_body(request, MAX_UPLOAD_BYTES)
        except BodyTooLarge:
            return error(413, f"the request is larger than {MAX_DOCUMENT_BYTES // (1024 * 1024)} MiB")
        if ctype == "application/json":
            try:
                data = json.loads(body)
            except (ValueError, RecursionError):
                return error(400, "the request body is not valid JSON")
            if not isinstance(data, dict) or not isinstance(data.get("text"), str):
                return error(400, 'send {"text": "the article", "title": "optional title"}')
            unknown = sorted(set(data) - {"text", "title"})
            if unknown:
                return error(400, f"unknown field {unknown[0]!r}; the fields are text and title")
            t = data.get("title")
            if t is not None and not isinstance(t, str):
                return error(400, '"title" must be text')
            if len(data["text"].encode("utf-8", "surrogatepass")) > MAX_ARTICLE_BYTES:
                return error(413, f"pasted text: the article is over the {MAX_ARTICLE_BYTES // (1024 * 1024)} MiB limit")
            try:
                data["text"].encode("utf-8")
            except UnicodeEncodeError:
                return error(400, "pasted text: not valid Unicode text (it holds an unpaired surrogate)")
            return await _add(lambda: assistant.add_text(data["text"], title=t))
        if ctype in _RAW_TYPES:
            name = Path(request.query_params.get("filename") or "").name
            if not name or Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
                name = (Path(name).stem or "article") + _RAW_TYPES[ctype]
            return await _add(lambda: assistant.add_bytes(body, name, title=title or None))
        return error(415, "send the article as JSON {\"text\": ...}, as multipart/form-data with a \"file\" field, "
                          "or as the raw file with Content-Type text/plain, text/markdown, text/html or "
                          "application/pdf")

    @router.delete("/api/articles/{article_id}", summary="Remove an article",
                   responses={403: {"description": "origin not allowed"}, 404: {"description": "unknown article"}})
    async def remove_article(article_id: str, request: Request):  # noqa: ANN201
        """Remove an article with its vectors; 404 when there is no article with this id."""
        if (refused := _cross_origin_refused(request)) is not None:
            return refused
        removed = await anyio.to_thread.run_sync(lambda: assistant.remove(article_id), limiter=capacity)
        if not removed:
            return error(404, f"there is no article with id {article_id[:100]!r}; GET /api/articles lists them")
        return JSONResponse({"status": "removed", "id": article_id})

    return router


def add_article_routes(app_or_router: Any, assistant: Assistant) -> None:
    """Include the article routes in an app or router (before any /api/{rest} catch-all)."""
    app_or_router.include_router(build_router(assistant))
