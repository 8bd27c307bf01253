"""The embeddable widget: /embed.js (the launcher a host page includes) and /widget (the compact chat it frames).

Design: embed.js puts a launcher button and an <iframe src="/widget"> inside a Shadow DOM on the host page, so
host styles cannot reach the widget and the widget's styles cannot leak into the host. The chat itself runs in
the iframe, on the assistant's own origin: it calls /api/ask same-origin (no CORS needed, no host-page script can
read the conversation), and which sites may embed it is enforced by the browser through the CSP frame-ancestors
header built from the allow list. Every file is served from this package (no CDN), from a fixed table of names:
no route takes a path from the request, so nothing outside web/static can be reached through them.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response

from .settings import ApiSettings

STATIC = Path(__file__).resolve().parent / "static"

#: route -> (file in web/static, media type)
FILES = {
    "/embed.js": ("embed.js", "text/javascript; charset=utf-8"),
    "/widget": ("widget.html", "text/html; charset=utf-8"),
    "/widget/app.js": ("widget.js", "text/javascript; charset=utf-8"),
    "/widget/app.css": ("widget.css", "text/css; charset=utf-8"),
}


def frame_ancestors(settings: ApiSettings) -> str:
    """The CSP frame-ancestors source list for the widget page."""
    if settings.any_origin:
        return "*"
    return " ".join(["'self'", *settings.allow_origins])


def widget_headers(settings: ApiSettings) -> dict[str, str]:
    """Headers of the framed chat page: strict CSP (own scripts and styles only) and who may frame it."""
    csp = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
           f"base-uri 'none'; form-action 'none'; frame-ancestors {frame_ancestors(settings)}")
    headers = {"Content-Security-Policy": csp, "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"}
    if not settings.allow_origins:
        headers["X-Frame-Options"] = "SAMEORIGIN"  # for browsers without CSP frame-ancestors
    return headers


def build_router(settings: ApiSettings) -> APIRouter:
    router = APIRouter()
    cache = {route: (STATIC / name).read_bytes() for route, (name, _) in FILES.items()}

    def serve(route: str) -> Response:
        name, media = FILES[route]
        headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}
        if route == "/widget":
            headers.update(widget_headers(settings))
        elif route == "/embed.js":
            # loaded by pages of other origins as a classic <script>: allow that even under COEP/CORP
            headers["Cross-Origin-Resource-Policy"] = "cross-origin"
        return Response(cache[route], media_type=media, headers=headers)

    def endpoint(route: str):  # noqa: ANN202 - a handler without parameters: nothing comes from the request
        def handler() -> Response:
            return serve(route)
        return handler

    for route in FILES:
        router.add_api_route(route, endpoint(route), methods=["GET", "HEAD"], include_in_schema=False)
    return router
