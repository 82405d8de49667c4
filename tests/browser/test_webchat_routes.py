"""HTTP behaviour of the chat page routes (no browser needed) and static guards on the page's JS."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from importlib import resources

import httpx
import pytest
from fastapi import FastAPI

from channels.webchat.page import STATIC_FILES, page_router, static_version


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(page_router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as c:
        yield c


def _static_text(name: str) -> str:
    return resources.files("channels.webchat").joinpath("static", name).read_text("utf-8")


async def test_page_is_html_with_versioned_assets_and_csp(client: httpx.AsyncClient) -> None:
    r = await client.get("/chat")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["cache-control"] == "no-cache"
    assert "frame-ancestors *" in r.headers["content-security-policy"]
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    version = static_version()
    assert re.fullmatch(r"[0-9a-f]{12}", version)
    for name in STATIC_FILES:
        assert f"chat/static/{name}?v={version}" in r.text
    assert "__STATIC_VERSION__" not in r.text
    assert '<meta name="viewport"' in r.text and 'lang="zh-CN"' in r.text


@pytest.mark.parametrize("name", sorted(STATIC_FILES))
async def test_static_files_types_and_caching(client: httpx.AsyncClient, name: str) -> None:
    fresh = await client.get(f"/chat/static/{name}", params={"v": static_version()})
    assert fresh.status_code == 200
    assert fresh.headers["content-type"] == STATIC_FILES[name]
    assert fresh.headers["cache-control"] == "public, max-age=31536000, immutable"
    stale = await client.get(f"/chat/static/{name}", params={"v": "000000000000"})
    assert stale.headers["cache-control"] == "no-cache"
    assert stale.content == fresh.content
    again = await client.get(f"/chat/static/{name}", headers={"If-None-Match": fresh.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


async def test_widget_script_is_cross_origin_loadable(client: httpx.AsyncClient) -> None:
    r = await client.get("/chat/widget.js")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/javascript; charset=utf-8"
    assert r.headers["access-control-allow-origin"] == "*"
    assert r.headers["cache-control"] == "public, max-age=300"
    assert "document.currentScript" in r.text


@pytest.mark.parametrize("path", ["page.py", "chat.html", "widget.js", "..%2Fpage.py", "nope.css"])
async def test_only_listed_static_files_are_served(client: httpx.AsyncClient, path: str) -> None:
    assert (await client.get(f"/chat/static/{path}")).status_code == 404


@pytest.mark.parametrize("name", ["chat.js", "widget.js", "i18n.js"])
def test_scripts_never_parse_html_or_load_third_party_code(name: str) -> None:
    source = _static_text(name).split("*/", 1)[1]  # the code after the header comment
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in source, f"{name} uses {sink}"
    assert not re.search(r"\bimport\s*\(|importScripts|https?://", source)


def test_i18n_tables_have_the_same_keys() -> None:
    source = _static_text("i18n.js")
    zh, en = source.split("  en: {", 1)
    keys = [set(re.findall(r"^\s{4}(\w+):", part, re.MULTILINE)) for part in (zh, en)]
    assert keys[0] == keys[1] and {"from_bot", "from_operator", "from_department"} <= keys[0]
