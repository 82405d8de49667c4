"""End to end in headless Chromium against the real gateway: type a question, see the answer.

The gateway runs in the test's event loop; Playwright runs in its own worker thread (see
conftest.py), so every browser call goes through ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from gateway import auth
from gateway.store.models import User
from tests.browser.conftest import ask, console_errors, expect, open_chat
from tests.channels.webchat_driver import conversation_for
from tests.support.live import live_gateway, settings_for_test


async def test_citizen_gets_answers_in_chinese_and_english(browser: Any, sqlite_url: str) -> None:
    async with live_gateway(settings_for_test(sqlite_url)) as live:
        page = await asyncio.to_thread(open_chat, browser, live.base_url)
        reply = await asyncio.to_thread(ask, page, "第一次办身份证需要什么材料")
        assert "户口" in reply
        english = await asyncio.to_thread(ask, page, "How do I apply for a residence permit?")
        assert "居住证" in english or "residence" in english.lower()
        assert await asyncio.to_thread(console_errors, page) == []


async def test_operator_reply_appears_in_the_open_page(browser: Any, sqlite_url: str) -> None:
    async with live_gateway(settings_for_test(sqlite_url)) as live:
        page = await asyncio.to_thread(open_chat, browser, live.base_url, "en")
        acknowledgement = await asyncio.to_thread(ask, page, "我家楼下的路灯坏了三天了，谁来修")
        token = await asyncio.to_thread(page.evaluate, "() => localStorage.getItem('sunshine.webchat.session')")
        conversation = await conversation_for(live, token) if token else None
        assert conversation is not None, "the page did not keep its session token"
        assert str(conversation.id) in acknowledgement

        async with live.gateway.session_factory() as session, session.begin():
            session.add(User(name="olga", role="operator", password_hash=auth.hash_password("pw")))
        async with httpx.AsyncClient(base_url=live.base_url) as http:
            token_ = (await http.post("/api/v1/auth/login", json={"name": "olga", "password": "pw"})).json()["token"]
            await http.post(f"/api/v1/conversations/{conversation.id}/reply", json={"text": "路灯今天修好。"},
                            headers={"Authorization": f"Bearer {token_}"})
        log = page.locator("#log")
        await asyncio.to_thread(lambda: expect(log).to_contain_text("路灯今天修好。", timeout=10_000))
