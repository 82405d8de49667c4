"""The citizen chat page and widget in headless Chromium, against the protocol stand-in."""

from __future__ import annotations

import json
import os
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

REPLIES = "#log .msg:not(.msg-own)"
# Chromium logs a refused WebSocket handshake as a console error; that is the point of the drop test.
_EXPECTED_WS_REFUSAL = "WebSocket connection to"


@pytest.fixture
def chat(browser: Any, chat_server_url: str, tools: Any) -> Iterator[Callable[..., Any]]:
    """Opens chat pages (fresh context each) and closes them after the test."""
    pages: list[Any] = []

    def _open(lang: str | None = None, **kwargs: Any) -> Any:
        page = tools.open_chat(browser, chat_server_url, lang, **kwargs)
        pages.append(page)
        return page

    yield _open
    for page in pages:
        page.context.close()


def _control(base: str, method: str, path: str, **params: Any) -> Any:
    url = f"{base}/_test/{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=5) as resp:
        return json.load(resp)


def _session(page: Any) -> str:
    return str(page.evaluate("localStorage.getItem('sunshine.webchat.session')"))


def _assert_clean(tools: Any, page: Any, allow: str | None = None) -> None:
    errors = [e for e in tools.console_errors(page) if not (allow and allow in e)]
    assert errors == []


def test_chinese_by_default_with_english_switch(tools: Any, chat: Callable[..., Any]) -> None:
    page = chat()
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    tools.expect(page.locator("h1")).to_have_text("在线咨询")
    tools.expect(page.get_by_label("您的问题")).to_be_visible()
    tools.expect(page.locator("#status")).to_have_text("已连接")
    page.get_by_role("button", name="Switch to English").click()
    assert page.evaluate("document.documentElement.lang") == "en"
    tools.expect(page.get_by_label("Your question")).to_be_visible()
    tools.expect(page.get_by_role("button", name="Send")).to_be_visible()
    tools.expect(page.locator("#status")).to_have_text("Connected")
    page.goto(page.url.split("?")[0])  # no ?lang: the choice comes back from localStorage
    tools.expect(page.locator("h1")).to_have_text("Ask us")
    page.goto(page.url.split("?")[0] + "?lang=zh")
    tools.expect(page.locator("h1")).to_have_text("在线咨询")
    _assert_clean(tools, page)


def test_message_goes_sending_then_sent_and_reply_names_its_author(
    tools: Any, chat: Callable[..., Any], chat_server_url: str
) -> None:
    page = chat()
    # Record every state the own message passes through, so "sending…" is seen however fast the ack is.
    page.evaluate("""() => { window.__states = [];
      new MutationObserver((ms) => { for (const m of ms) if (m.attributeName === 'data-state')
        window.__states.push(m.target.dataset.state + '|' + m.target.querySelector('.msg-state').textContent); })
        .observe(document.getElementById('log'), {attributes: true, subtree: true, attributeFilter: ['data-state']}); }""")
    reply = tools.ask(page, "办身份证需要什么材料")
    assert reply == "answer: 办身份证需要什么材料"
    own = page.locator("#log .msg-own").last
    tools.expect(own.locator(".msg-text")).to_have_text("办身份证需要什么材料")
    tools.expect(own).to_have_attribute("data-state", "sent")
    tools.expect(own.locator(".msg-state")).to_have_text("已发送")
    assert page.evaluate("window.__states") == ["sending|发送中…", "sent|已发送"]
    tools.expect(page.locator(REPLIES).last.locator(".msg-from")).to_have_text("机器人")
    sent = [r for r in _control(chat_server_url, "GET", "received") if r["text"] == "办身份证需要什么材料"]
    assert [r["client_id"] for r in sent] == [own.get_attribute("data-client-id")]
    _assert_clean(tools, page)


def test_clarify_options_are_buttons_that_send_their_number(
    tools: Any, chat: Callable[..., Any], chat_server_url: str
) -> None:
    page = chat()
    assert tools.ask(page, "身份证怎么办？") == "您想问哪一项？"
    options = page.locator(f"{REPLIES} button.option")
    tools.expect(options).to_have_count(2)
    tools.expect(options.nth(0)).to_have_text("1. 身份证首次申领")
    before = page.locator(REPLIES).count()
    page.get_by_role("button", name="1. 身份证首次申领").click()
    tools.expect(page.locator(REPLIES)).to_have_count(before + 1)
    tools.expect(page.locator(REPLIES).last.locator(".msg-text")).to_have_text("you chose: 身份证首次申领")
    tools.expect(page.locator("#log .msg-own").last.locator(".msg-text")).to_have_text("1")
    tools.expect(options.nth(1)).to_be_disabled()
    assert any(r["text"] == "1" for r in _control(chat_server_url, "GET", "received"))
    _assert_clean(tools, page)


def test_reload_restores_history_once(tools: Any, chat: Callable[..., Any]) -> None:
    page = chat()
    tools.ask(page, "第一个问题")
    tools.ask(page, "第二个问题？")
    token = _session(page)
    page.reload()
    tools.expect(page.locator("#status")).to_have_attribute("data-state", "online")
    assert _session(page) == token
    tools.expect(page.locator("#log .msg-own .msg-text")).to_have_text(["第一个问题", "第二个问题？"])
    tools.expect(page.locator(f"{REPLIES} .msg-text")).to_have_text(["answer: 第一个问题", "您想问哪一项？"])
    tools.expect(page.locator(f"{REPLIES} button.option")).to_have_count(2)
    _assert_clean(tools, page)


def test_server_pushed_replies_appear_once_with_their_author(
    tools: Any, chat: Callable[..., Any], chat_server_url: str
) -> None:
    page = chat()
    token = _session(page)
    _control(
        chat_server_url, "POST", "push", session=token, text="人工答复", sender="operator", message_id=900001
    )
    _control(
        chat_server_url, "POST", "push", session=token, text="人工答复", sender="operator", message_id=900001
    )
    _control(chat_server_url, "POST", "push", session=token, text="部门答复", sender="department")
    tools.expect(page.locator(f"{REPLIES} .msg-text")).to_have_text(["人工答复", "部门答复"])
    tools.expect(page.locator(f"{REPLIES} .msg-from")).to_have_text(["人工客服", "部门"])
    page.get_by_role("button", name="Switch to English").click()
    tools.expect(page.locator(f"{REPLIES} .msg-from")).to_have_text(["Operator", "Department"])
    _assert_clean(tools, page)


def test_drop_queues_messages_and_reconnects_with_the_same_session(
    tools: Any, chat: Callable[..., Any], chat_server_url: str
) -> None:
    page = chat()
    tools.ask(page, "before the drop")
    token = _session(page)
    _control(chat_server_url, "POST", "push", session=token, text="no id when live", live_id="false")
    tools.expect(page.locator(REPLIES)).to_have_count(2)
    try:
        _control(chat_server_url, "POST", "drop")
        tools.expect(page.locator("#status")).to_have_attribute("data-state", "offline")
        page.fill("#input", "wait, typed offline")
        page.press("#input", "Enter")
        own = page.locator("#log .msg-own").last
        tools.expect(own).to_have_attribute("data-state", "queued")
        tools.expect(own.locator(".msg-state")).to_have_text("等待连接…")
        assert not any(
            r["text"] == "wait, typed offline" for r in _control(chat_server_url, "GET", "received")
        )
        _control(chat_server_url, "POST", "push", session=token, text="answered while away")
    finally:
        _control(chat_server_url, "POST", "accept")
    tools.expect(own).to_have_attribute("data-state", "sent", timeout=10_000)
    tools.expect(page.locator("#status")).to_have_attribute("data-state", "online")
    assert _session(page) == token
    sent = [r for r in _control(chat_server_url, "GET", "received") if r["text"] == "wait, typed offline"]
    assert [r["client_id"] for r in sent] == [own.get_attribute("data-client-id")]
    # History came back on reconnect: the missed reply is shown, nothing already shown is repeated,
    # and the missed reply sits before the message that was still waiting to be sent.
    tools.expect(page.locator(f"{REPLIES} .msg-text")).to_have_text(
        ["answer: before the drop", "no id when live", "answered while away"]
    )
    tools.expect(page.locator("#log .msg .msg-text")).to_have_text(
        [
            "before the drop",
            "answer: before the drop",
            "no id when live",
            "answered while away",
            "wait, typed offline",
        ]
    )
    _assert_clean(tools, page, allow=_EXPECTED_WS_REFUSAL)


def test_typing_indicator_and_text_is_never_parsed_as_html(tools: Any, chat: Callable[..., Any]) -> None:
    page = chat()
    page.evaluate("""() => { window.__typingShown = false;
      new MutationObserver(() => { if (!document.getElementById('typing').hidden) window.__typingShown = true; })
        .observe(document.getElementById('typing'), {attributes: true}); }""")
    payload = '<img src=x onerror="window.__xss=1"><b>bold</b>'
    assert tools.ask(page, payload) == "answer: " + payload
    assert page.evaluate("window.__typingShown") is True
    tools.expect(page.locator("#typing")).to_be_hidden()  # the reply ends the typing indicator
    tools.expect(page.locator("#log img, #log b")).to_have_count(0)
    assert page.evaluate("window.__xss") is None
    _assert_clean(tools, page)


def test_keyboard_only_reaches_input_and_send(tools: Any, chat: Callable[..., Any]) -> None:
    page = chat()
    page.evaluate("document.activeElement.blur()")
    order = []
    for _ in range(6):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.id"))
        if order[-1] == "send":
            break
    assert order == ["lang-switch", "input", "send"]
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    page.keyboard.press("Shift+Tab")
    page.keyboard.type("键盘提问")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # activates the focused send button
    tools.expect(page.locator(f"{REPLIES} .msg-text")).to_have_text(["answer: 键盘提问"])
    tools.expect(page.locator("#log")).to_have_attribute("aria-live", "polite")
    _assert_clean(tools, page)


def test_phone_layout_fits_and_screenshot(tools: Any, chat: Callable[..., Any], tmp_path: Path) -> None:
    page = chat(width=375, height=667)
    tools.ask(page, "身份证怎么办？")
    tools.ask(page, "一个比较长的问题，看看在窄屏上会不会换行而不是撑出横向滚动条" * 2)
    out = Path(os.environ.get("GATEWAY_SCREENSHOT_DIR", str(tmp_path)))
    for width in (375, 320):
        page.set_viewport_size({"width": width, "height": 667})
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        box = page.locator("#send").bounding_box()
        assert box is not None and box["x"] + box["width"] <= width and box["height"] >= 40
        page.screenshot(path=str(out / f"chat-{width}.png"))
        assert (out / f"chat-{width}.png").stat().st_size > 5_000
    _assert_clean(tools, page)


def test_widget_opens_iframe_panel_and_escape_closes(tools: Any, browser: Any, chat_server_url: str) -> None:
    # The host page comes from another origin (localhost, not 127.0.0.1), as an integrator's would;
    # both are loopback, so Chromium's local-network-access checks do not apply.
    port = urllib.parse.urlsplit(chat_server_url).port
    script = f"{chat_server_url}/chat/widget.js"
    host_url = f"http://localhost:{port}/_test/portal?" + urllib.parse.urlencode({"script": script})
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(host_url)
        launcher = page.get_by_role("button", name="Ask the city")
        panel = page.get_by_role("dialog", name="Ask the city")
        tools.expect(panel).to_be_hidden()
        launcher.focus()
        page.keyboard.press("Enter")
        tools.expect(panel).to_be_visible()
        tools.expect(launcher).to_have_attribute("aria-expanded", "true")
        src = page.locator("#sunshine-chat-widget iframe").get_attribute("src")
        assert src == f"{chat_server_url}/chat?embed=1&lang=en"
        chat_frame = page.frame_locator("#sunshine-chat-widget iframe")
        tools.expect(chat_frame.locator("#status")).to_have_attribute("data-state", "online", timeout=10_000)
        tools.expect(chat_frame.locator("h1")).to_have_text("Ask us")
        chat_frame.locator("#input").click()
        page.keyboard.press("Escape")  # inside the iframe: the page tells the widget to close
        tools.expect(panel).to_be_hidden()
        tools.expect(launcher).to_have_attribute("aria-expanded", "false")
        tools.expect(launcher).to_be_focused()
        page.keyboard.press("Enter")
        tools.expect(panel).to_be_visible()
        tools.expect(chat_frame.locator("#input")).to_be_focused()  # re-opening lands in the chat input
        page.get_by_role("button", name="Close").focus()
        page.keyboard.press("Escape")  # on the host page
        tools.expect(panel).to_be_hidden()
        assert errors == []
    finally:
        context.close()
