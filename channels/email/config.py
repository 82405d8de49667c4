"""Parsing the e-mail channel's connection URLs (relay and IMAP mailboxes) into typed values.

Passwords live only in these objects: :meth:`ImapMailbox.label` and :meth:`SmtpRelay.label` are
what may appear in logs and in the ``mailbox_cursors`` table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from gateway.errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True, slots=True)
class SmtpRelay:
    """Outgoing relay: ``smtp://[user:pass@]host[:port][?starttls=true]`` or ``smtps://`` (RFC 8314)."""

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    implicit_tls: bool = False
    starttls: bool = False

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ImapMailbox:
    """One mailbox to read: ``imap[s]://user:pass@host[:port]/FOLDER``."""

    host: str
    port: int
    username: str
    password: str = field(repr=False)
    folder: str = "INBOX"
    tls: bool = False

    @property
    def label(self) -> str:
        """Identity of the mailbox without the password (the MailboxCursor key)."""
        return f"{self.username}@{self.host}:{self.port}/{self.folder}"


def _flag(query: dict[str, list[str]], name: str) -> bool:
    return any(v.lower() in _TRUE for v in query.get(name, []))


def parse_relay_url(url: str) -> SmtpRelay:
    """Parse ``[smtp] relay_url``; raise :class:`ConfigError` naming the key when it is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ConfigError("smtp_relay_url", "must look like smtp://[user:pass@]host:port[?starttls=true]")
    implicit = parts.scheme == "smtps"
    try:
        port = parts.port or (465 if implicit else 25)
    except ValueError as exc:
        raise ConfigError("smtp_relay_url", "invalid port") from exc
    query = parse_qs(parts.query)
    return SmtpRelay(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        implicit_tls=implicit,
        starttls=_flag(query, "starttls"),
    )


def parse_imap_url(url: str) -> ImapMailbox:
    """Parse one ``[imap] url`` entry (RFC 5092 style, user and password percent-encoded)."""
    parts = urlsplit(url)
    if parts.scheme not in ("imap", "imaps") or not parts.hostname:
        raise ConfigError("imap_url", "must look like imap[s]://user:pass@host:port/FOLDER")
    if not parts.username or parts.password is None:
        raise ConfigError("imap_url", "needs a user name and a password")
    tls = parts.scheme == "imaps"
    try:
        port = parts.port or (993 if tls else 143)
    except ValueError as exc:
        raise ConfigError("imap_url", "invalid port") from exc
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    return ImapMailbox(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username),
        password=unquote(parts.password),
        folder=folder,
        tls=tls,
    )
