"""The one error tree of the gateway.

::

    GatewayError
    ├── ConfigError              a setting is wrong; start-up stops and names the key
    ├── BadInput                 a client sent something unusable; answered with a clear error,
    │                            nothing is changed (HTTP 4xx, SMTP 5xx, web-chat ``error`` frame)
    ├── StorageUnavailable       the database could not commit; the provider gets a temporary
    │                            failure (HTTP 503, SMTP 451) so that it retries
    └── SendError                a channel could not deliver an outbound message
        ├── RetryableSendError   network errors, timeouts, 5xx, rate limits: the outbox retries
        │                        with exponential backoff and jitter
        └── PermanentSendError   invalid address, unsubscribed recipient, rejected content:
                                 the outbox dead-letters at once, keeping ``code`` and ``reason``

Channels translate vendor exceptions into these at their boundary (``raise ... from exc``);
only the outbox decides what to do with them, so retry policy lives in one place.
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""


class ConfigError(GatewayError):
    """A configuration value is missing or invalid. ``key`` names the setting."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


class BadInput(GatewayError):
    """Input from a client that cannot be used. The message is safe to show to that client."""


class StorageUnavailable(GatewayError):
    """The database did not accept a write; the caller must report a temporary failure."""


class SendError(GatewayError):
    """A channel failed to deliver an outbound message.

    code: the provider's error code when it gave one (Twilio ``21610``, SMTP ``550``...).
    reason: a short human-readable reason, free of personal data and secrets.
    """

    retryable: bool = False

    def __init__(self, reason: str, *, code: str | None = None) -> None:
        super().__init__(f"{code}: {reason}" if code else reason)
        self.code = code
        self.reason = reason


class RetryableSendError(SendError):
    """Delivery may succeed later: the outbox retries it."""

    retryable = True


class PermanentSendError(SendError):
    """Delivery will never succeed: the outbox dead-letters it."""

    retryable = False
