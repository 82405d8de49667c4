"""The e-mail channel (SMTP listener, IMAP mailboxes, threaded replies through a relay)."""

from __future__ import annotations

from channels.email.channel import EmailChannel

__all__ = ["EmailChannel"]
