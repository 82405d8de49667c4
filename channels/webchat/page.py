"""HTTP routes for the citizen web-chat page and its embeddable widget.

``page_router`` serves:

* ``GET /chat`` — the chat page (plain HTML, no templating engine);
* ``GET /chat/widget.js`` — the script integrators add to their own sites;
* ``GET /chat/static/{name}`` — the page's CSS/JS/i18n files.

Files are read once through :mod:`importlib.resources`, so they work from a wheel as well as from a
checkout. Static URLs in the page carry ``?v=<content hash>``: a request whose ``v`` matches the
current hash may be cached for a year (RFC 8246 ``immutable``); anything else must revalidate, and
every response has a strong ETag so revalidation is a cheap 304 (RFC 9110 §13.1.2, RFC 9111 §5.2).
The page never interpolates request data into HTML; the socket protocol is served elsewhere
(``WS /channels/webchat/ws``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

__all__ = ["STATIC_FILES", "page_router", "static_version"]

#: Files the page may fetch, with their media types. An allow-list: nothing else in the package
#: directory (``__init__.py``, ``page.py``) is ever served, whatever the path says.
STATIC_FILES: dict[str, str] = {
    "chat.css": "text/css; charset=utf-8",
    "chat.js": "text/javascript; charset=utf-8",  # RFC 9239 names text/javascript
    "i18n.js": "text/javascript; charset=utf-8",
}

# The page is same-origin only, yet must be framable by any site that embeds the widget.
# connect-src 'self' also covers ws:/wss: to the same host (CSP Level 3 §6.7.2.9).
_PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors *"
)
_VERSION_MARKER = "__STATIC_VERSION__"
_REVALIDATE = "no-cache"
_IMMUTABLE = "public, max-age=31536000, immutable"
# The widget URL is fixed in integrators' pages, so it cannot be versioned: cache briefly.
_WIDGET_CACHE = "public, max-age=300"

page_router = APIRouter(tags=["webchat"])


@dataclass(frozen=True, slots=True)
class _Asset:
    body: bytes
    etag: str


def _read(name: str) -> bytes:
    return resources.files(__name__.rpartition(".")[0]).joinpath("static", name).read_bytes()


def _asset(body: bytes) -> _Asset:
    return _Asset(body=body, etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"')


@lru_cache(maxsize=1)
def static_version() -> str:
    """A short hash over every static file; changes whenever any of them changes."""
    digest = hashlib.sha256()
    for name in sorted(STATIC_FILES):
        digest.update(name.encode() + b"\0" + _read(name) + b"\0")
    return digest.hexdigest()[:12]


@cache
def _load(name: str) -> _Asset:
    body = _read(name)
    if name == "chat.html":
        body = body.replace(_VERSION_MARKER.encode(), static_version().encode())
    return _asset(body)


def _respond(request: Request, asset: _Asset, media_type: str, cache: str, extra: dict[str, str]) -> Response:
    headers = {"Cache-Control": cache, "ETag": asset.etag, "X-Content-Type-Options": "nosniff", **extra}
    # If-None-Match may list several tags (RFC 9110 §13.1.2); weak comparison is fine for GET.
    inm = request.headers.get("if-none-match", "")
    if inm.strip() == "*" or asset.etag in {t.strip().removeprefix("W/") for t in inm.split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(content=asset.body, media_type=media_type, headers=headers)


@page_router.get("/chat", include_in_schema=False)
async def chat_page(request: Request) -> Response:
    """The chat page. ``?lang=en`` and ``?embed=1`` are read by the page's script, not here."""
    return _respond(
        request,
        _load("chat.html"),
        "text/html; charset=utf-8",
        _REVALIDATE,
        {"Content-Security-Policy": _PAGE_CSP, "Referrer-Policy": "no-referrer"},
    )


@page_router.get("/chat/widget.js", include_in_schema=False)
async def widget_script(request: Request) -> Response:
    """The embeddable widget; loaded cross-origin by integrators' pages, hence the CORS header."""
    return _respond(
        request,
        _load("widget.js"),
        STATIC_FILES["chat.js"],
        _WIDGET_CACHE,
        {"Access-Control-Allow-Origin": "*", "Cross-Origin-Resource-Policy": "cross-origin"},
    )


@page_router.get("/chat/static/{name}", include_in_schema=False)
async def static_file(name: str, request: Request) -> Response:
    """One of :data:`STATIC_FILES`; 404 for anything else (no path traversal possible)."""
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        raise HTTPException(status_code=404, detail="not found")
    cache = _IMMUTABLE if request.query_params.get("v") == static_version() else _REVALIDATE
    return _respond(request, _load(name), media_type, cache, {})
