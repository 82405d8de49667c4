from __future__ import annotations

import logging

from gateway.logsafe import RedactSecrets


def _format(msg: str, *args: object) -> str:
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, msg, args, None)
    RedactSecrets().filter(record)
    return record.getMessage()


def test_session_token_in_websocket_request_line_is_redacted() -> None:
    line = _format('%s - "WebSocket %s" [accepted]', "127.0.0.1:1", "/channels/webchat/ws?session=AbC_123-xyz")
    assert "AbC_123-xyz" not in line and "session=[redacted]" in line


def test_other_lines_are_untouched() -> None:
    assert _format("listening on %s", "http://127.0.0.1:8080") == "listening on http://127.0.0.1:8080"
    assert _format("a=%s&token=%s", 1, "s3cret") == "a=1&token=[redacted]"
