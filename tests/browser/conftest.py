"""Playwright fixtures and helpers for the browser tests (headless Chromium).

Why a worker thread: Playwright's sync API marks its own event loop as *running* in the calling
thread between calls, so once a session-scoped sync browser exists in the main thread every later
``asyncio.run`` / pytest-asyncio test fails with "cannot be called from a running event loop".
So Playwright lives in one dedicated thread, and the objects tests see are thin proxies that run
each call there. Tests use the ordinary sync API (``page.fill(...)``, ``expect(locator)...``), and
async tests may call the helpers through ``await asyncio.to_thread(ask, page, "...")`` without
blocking their event loop.

Fixtures: ``browser`` (session; Chromium from ``PLAYWRIGHT_CHROMIUM`` or ``/usr/bin/chromium``),
``chat_server_url`` (session; the page served by a protocol stand-in, see ``webchat_stub.py``).
Helpers for end-to-end tests: :func:`open_chat`, :func:`ask`, :func:`expect`, :func:`console_errors`.
Without Chromium or the ``playwright`` package the tests FAIL saying what to install, unless
``GATEWAY_SKIP_BROWSER=1`` is set, in which case they are skipped with that reason.
"""

from __future__ import annotations

import concurrent.futures
import importlib.util
import os
import socket
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
_SKIP_ENV = "GATEWAY_SKIP_BROWSER"


class _Worker:
    """One thread that owns every Playwright object."""

    def __init__(self) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="playwright")
        self._thread: threading.Thread | None = self._pool.submit(threading.current_thread).result()

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is self._thread:  # e.g. from inside an event callback
            return fn(*args, **kwargs)
        return self._pool.submit(fn, *args, **kwargs).result()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)


def _is_playwright(obj: Any) -> bool:
    return type(obj).__module__.startswith("playwright.")


def _unwrap(value: Any) -> Any:
    if isinstance(value, Remote):
        return object.__getattribute__(value, "_obj")
    if isinstance(value, list | tuple):
        return type(value)(_unwrap(v) for v in value)
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    return value


def _wrap(value: Any, worker: _Worker) -> Any:
    if _is_playwright(value):
        return Remote(value, worker)
    if isinstance(value, list):
        return [_wrap(v, worker) for v in value]
    return value


class Remote:
    """A proxy to a Playwright sync-API object; every attribute access and call runs in the worker."""

    __slots__ = ("__weakref__", "_obj", "_worker")

    def __init__(self, obj: Any, worker: _Worker) -> None:
        object.__setattr__(self, "_obj", obj)
        object.__setattr__(self, "_worker", worker)

    def __getattr__(self, name: str) -> Any:
        worker: _Worker = object.__getattribute__(self, "_worker")
        value = worker.call(getattr, object.__getattribute__(self, "_obj"), name)
        if callable(value) and not _is_playwright(value):

            def call(*args: Any, **kwargs: Any) -> Any:
                return _wrap(worker.call(value, *_unwrap(args), **_unwrap(kwargs)), worker)

            return call
        return _wrap(value, worker)

    def __repr__(self) -> str:
        return f"Remote({object.__getattribute__(self, '_obj')!r})"


_ERRORS: weakref.WeakKeyDictionary[Remote, list[str]] = weakref.WeakKeyDictionary()


def expect(target: Remote, **kwargs: Any) -> Remote:
    """``playwright.sync_api.expect`` for proxied objects."""
    from playwright.sync_api import expect as pw_expect

    worker: _Worker = object.__getattribute__(target, "_worker")
    return Remote(worker.call(pw_expect, _unwrap(target), **kwargs), worker)


def console_errors(page: Remote) -> list[str]:
    """Console errors and uncaught exceptions seen so far on a page opened by :func:`open_chat`."""
    return list(_ERRORS.get(page, []))


def open_chat(
    browser: Remote, base_url: str, lang: str | None = None, *, width: int = 1024, height: int = 768
) -> Remote:
    """Open ``{base_url}/chat`` in a fresh browser context and wait until the socket session is up.

    The page records console errors (see :func:`console_errors`); close it with
    ``page.context.close()``.
    """
    context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    _ERRORS[page] = errors
    url = base_url.rstrip("/") + "/chat" + (f"?lang={lang}" if lang else "")
    page.goto(url)
    expect(page.locator("#status")).to_have_attribute("data-state", "online", timeout=10_000)
    return page


def ask(page: Remote, text: str, timeout: float = 10_000) -> str:
    """Type ``text`` into the chat, press Enter, and return the text of the next reply shown."""
    replies = "#log .msg:not(.msg-own)"
    before = page.locator(replies).count()
    page.fill("#input", text)
    page.press("#input", "Enter")
    page.wait_for_function(
        "([sel, n]) => document.querySelectorAll(sel).length > n", arg=[replies, before], timeout=timeout
    )
    return str(page.locator(replies).nth(before).locator(".msg-text").text_content())


def _unavailable(reason: str) -> None:
    if os.environ.get(_SKIP_ENV) == "1":
        pytest.skip(f"{_SKIP_ENV}=1: {reason}")
    pytest.fail(f"{reason} (or set {_SKIP_ENV}=1 to skip the browser tests)", pytrace=False)


@pytest.fixture(scope="session")
def browser() -> Iterator[Remote]:
    """Headless Chromium, shared by the whole session; see the module docstring for the thread."""
    if os.environ.get(_SKIP_ENV) == "1":
        pytest.skip(f"{_SKIP_ENV}=1: browser tests skipped")
    if importlib.util.find_spec("playwright") is None:
        _unavailable("the 'playwright' Python package is missing: .venv/bin/pip install -e '.[test]'")
    executable = os.environ.get("PLAYWRIGHT_CHROMIUM", "/usr/bin/chromium")
    if not Path(executable).is_file():
        _unavailable(
            f"Chromium not found at {executable}: apt-get install chromium (or set PLAYWRIGHT_CHROMIUM)"
        )
    from playwright.sync_api import sync_playwright

    worker = _Worker()
    playwright = worker.call(lambda: sync_playwright().start())
    try:
        raw = worker.call(
            lambda: playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        )
        yield Remote(raw, worker)
        worker.call(raw.close)
    finally:
        worker.call(playwright.stop)
        worker.shutdown()


def _load_stub() -> Any:
    # Loaded by path so it works whatever pytest's import mode and whether tests/ is a package.
    spec = importlib.util.spec_from_file_location("webchat_stub", Path(__file__).with_name("webchat_stub.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # dataclasses look their module up there
    spec.loader.exec_module(sys.modules[spec.name])
    return module


@pytest.fixture(scope="session")
def chat_server_url() -> Iterator[str]:
    """Base URL of a uvicorn server (own thread, 127.0.0.1, free port) serving the page + stand-in socket."""
    import uvicorn

    build_app = _load_stub().build_app
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # listening before the thread starts: no readiness race, connections queue
    port = sock.getsockname()[1]
    config = uvicorn.Config(build_app(), lifespan="off", ws="websockets-sansio", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="chat-stub", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="session")
def tools() -> SimpleNamespace:
    """The helpers above as a fixture, so tests need not import ``conftest`` (whose module name is
    ambiguous when several directories have one): ``tools.open_chat``, ``tools.ask``, ``tools.expect``,
    ``tools.console_errors``."""
    return SimpleNamespace(open_chat=open_chat, ask=ask, expect=expect, console_errors=console_errors)
