"""Health, readiness, metrics, the ask endpoint and the OpenAPI document, over real HTTP."""

from __future__ import annotations

import httpx

from tests.channels.webchat_driver import chat
from tests.support.live import LiveGateway


async def test_health_ready_and_openapi(gateway_live: LiveGateway) -> None:
    async with httpx.AsyncClient(base_url=gateway_live.base_url) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        ready = await http.get("/readyz")
        assert ready.status_code == 200 and "webchat" in ready.json()["channels"]
        spec = (await http.get("/api/v1/openapi.json")).json()
        assert "/api/v1/ask" in spec["paths"] and "/api/v1/conversations/{conversation_id}/reply" in spec["paths"]


async def test_ask_endpoint_answers_like_the_cli(gateway_live: LiveGateway) -> None:
    async with httpx.AsyncClient(base_url=gateway_live.base_url) as http:
        answer = (await http.post("/api/v1/ask", json={"text": "身份证丢了怎么补办", "channel": "webchat"})).json()
        assert answer["decision"] == "answer" and answer["id"] and answer["reply"]
        english = (await http.post("/api/v1/ask", json={"text": "How do I apply for a residence permit?"})).json()
        assert english["decision"] == "answer"
        phone = (await http.post("/api/v1/ask", json={"text": "公安局的电话是多少"})).json()
        assert phone["kind"] == "department"
        assert (await http.post("/api/v1/ask", json={"text": ""})).status_code == 422


async def test_metrics_count_inquiries_and_outbox(gateway_live: LiveGateway) -> None:
    async with chat(gateway_live) as client:
        await client.say("社保卡丢了怎么办")
        await client.next_frame("reply")
    async with httpx.AsyncClient(base_url=gateway_live.base_url) as http:
        metrics = (await http.get("/metrics")).text
    assert 'gateway_inquiries_total{channel="webchat",decision="answer"} 1.0' in metrics
    assert 'gateway_outbox_depth{status="pending"}' in metrics
    assert "gateway_send_failures_total" in metrics or "gateway_send_failures" in metrics


async def test_readyz_reports_unavailable_database(gateway_live: LiveGateway) -> None:
    await gateway_live.gateway.engine.dispose()
    original = gateway_live.gateway.session_factory.kw["bind"]
    from gateway.store.db import create_engine

    broken = create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    gateway_live.gateway.session_factory.configure(bind=broken)
    try:
        async with httpx.AsyncClient(base_url=gateway_live.base_url) as http:
            response = await http.get("/readyz")
        assert response.status_code == 503 and response.json()["database"] == "unreachable"
    finally:
        gateway_live.gateway.session_factory.configure(bind=original)
        await broken.dispose()
