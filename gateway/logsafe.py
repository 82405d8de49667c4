"""Keep secrets and citizens' data out of log lines written by libraries we do not control.

uvicorn logs every websocket request line, and a web-chat URL carries the citizen's session token
(``?session=...``); an HTTP access log would carry webhook query strings. This filter redacts
such values before any handler formats the record.
"""

from __future__ import annotations

import logging
import re

_SECRET_QUERY = re.compile(r"((?:session|token|access_token|password|auth)=)[^\s&\"']+", re.IGNORECASE)


class RedactSecrets(logging.Filter):
    """Replaces secret query parameters in the final message with ``[redacted]``."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _SECRET_QUERY.sub(r"\1[redacted]", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def install() -> None:
    """Attach the filter to every handler of the root logger (call after logging is configured)."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactSecrets())
