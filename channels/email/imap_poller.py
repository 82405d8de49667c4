"""Reading an existing mailbox over IMAP (aioimaplib): one supervised task per mailbox.

Per cycle: SELECT the folder and read UIDVALIDITY; ``UID SEARCH`` for UIDs above the stored
cursor; for each, ``UID FETCH BODY.PEEK[]`` (PEEK: reading must not set \\Seen before we have
committed), hand the bytes to :class:`InboundMail`, *then* advance the cursor and flag the message
\\Seen or move it away. A crash between commit and cursor update fetches the message again on the
next start, and the Message-ID de-duplication of ``on_message`` makes that harmless: the citizen is
answered once. Then wait: IDLE (RFC 2177) when offered, renewed every ``poll_seconds``, else sleep
``poll_seconds``. RFC 9051 2.3.1.1: UIDs only compare within one UIDVALIDITY; when it changes the
cursor restarts at 0.

Network and server errors end the session; the supervisor reconnects after an exponential,
jittered delay. Any other exception is logged with its traceback and treated the same way, so a
bug costs a reconnect, not the mailbox. Cancellation (gateway shutdown) always propagates.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import ssl

import aioimaplib
from sqlalchemy import select

from channels.email.config import ImapMailbox
from channels.email.inbound import InboundMail
from gateway.errors import BadInput, StorageUnavailable
from gateway.settings import Settings
from gateway.store.db import SessionFactory
from gateway.store.models import MailboxCursor, utcnow

log = logging.getLogger(__name__)
# aioimaplib logs whole commands at DEBUG, LOGIN's password included.
logging.getLogger("aioimaplib.aioimaplib").setLevel(logging.INFO)

_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")
_FIRST_BACKOFF = 1.0


class ImapFailure(Exception):
    """The server answered NO/BAD to a command we need (login refused, folder missing...)."""


# What ends one session and triggers a reconnect (CancelledError is deliberately not here).
RECONNECT_ERRORS = (
    OSError,
    TimeoutError,
    ssl.SSLError,
    aioimaplib.Abort,
    aioimaplib.CommandTimeout,
    aioimaplib.Error,
    ImapFailure,
    StorageUnavailable,
)


def _ok(response: aioimaplib.Response, what: str) -> aioimaplib.Response:
    if response.result != "OK":
        raise ImapFailure(f"{what} answered {response.result}")
    return response


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


class MailboxPoller:
    """Reads one mailbox until cancelled; see the module docstring."""

    def __init__(
        self, mailbox: ImapMailbox, settings: Settings, session_factory: SessionFactory, inbound: InboundMail
    ) -> None:
        self.mailbox = mailbox
        self.settings = settings
        self.session_factory = session_factory
        self.inbound = inbound
        self.where = f"{mailbox.host}:{mailbox.port}/{mailbox.folder}"  # loggable: no user, no password
        self.processed = 0  # in the current session (resets the backoff)
        # Messages committed and flagged/moved since start, with a condition to wait on (tests, metrics).
        self.handled = 0
        self.progress = asyncio.Condition()

    async def run(self) -> None:
        """Supervise sessions forever: reconnect with backoff after listed errors."""
        delay = _FIRST_BACKOFF
        while True:
            lost = asyncio.Event()
            client: aioimaplib.IMAP4 | None = None
            try:
                client = self._client(lost)
                await self._session(client, lost)
            except RECONNECT_ERRORS as exc:
                log.warning("IMAP %s: %s; reconnecting in %.1f s", self.where, type(exc).__name__, delay)
            except Exception:
                # A bug, not weather: say so loudly, but keep reading the mailbox. Without this
                # the task would end silently and the mailbox would stop being read.
                log.exception("IMAP %s: unexpected error; reconnecting in %.1f s", self.where, delay)
            finally:
                if client is not None and client.protocol.transport is not None:
                    client.protocol.transport.close()
            if self.processed:
                delay = _FIRST_BACKOFF  # the session worked: start the backoff afresh
                self.processed = 0
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self.settings.imap_backoff_max_seconds)

    def _client(self, lost: asyncio.Event) -> aioimaplib.IMAP4:
        # Not IMAP4_SSL: its constructor takes no conn_lost_cb (TypeError). The base class speaks
        # implicit TLS (RFC 8314) when given a context; the default one verifies chain and host name.
        return aioimaplib.IMAP4(
            host=self.mailbox.host,
            port=self.mailbox.port,
            timeout=self.settings.imap_timeout_seconds,
            conn_lost_cb=lambda _exc: lost.set(),
            ssl_context=ssl.create_default_context() if self.mailbox.tls else None,
        )

    async def _session(self, client: aioimaplib.IMAP4, lost: asyncio.Event) -> None:
        await client.wait_hello_from_server()
        _ok(await client.login(self.mailbox.username, self.mailbox.password), "LOGIN")
        move_to = self.settings.imap_move_to
        if move_to:
            await client.create(_quote(move_to))  # NO when it exists already: fine
        selected = _ok(await client.select(_quote(self.mailbox.folder)), "SELECT")
        uidvalidity = next(
            (int(m.group(1)) for line in selected.lines if (m := _UIDVALIDITY.search(bytes(line)))), 0
        )
        last_uid = await self._load_cursor(uidvalidity)
        while True:
            last_uid = await self._drain(client, last_uid)
            if lost.is_set():
                raise ConnectionResetError("IMAP connection lost")
            await self._wait(client, lost)

    async def _drain(self, client: aioimaplib.IMAP4, last_uid: int) -> int:
        found = _ok(await client.uid_search(f"UID {last_uid + 1}:*", charset=None), "UID SEARCH")
        uids = sorted({int(tok) for tok in bytes(found.lines[0]).split() if tok.isdigit()})
        for uid in (u for u in uids if u > last_uid):  # "n:*" always matches the highest UID
            fetched = _ok(await client.uid("fetch", str(uid), "(UID BODY.PEEK[])"), "UID FETCH")
            raw = next((bytes(line) for line in fetched.lines if isinstance(line, bytearray)), None)
            if raw is not None:
                try:
                    await self.inbound.receive(raw, via="imap")
                except BadInput:
                    log.warning("IMAP %s: UID %s is not a usable message; skipped", self.where, uid)
            await self._save_cursor(uid)
            last_uid = uid
            await self._dispose(client, uid)
            self.processed += 1
            async with self.progress:
                self.handled += 1
                self.progress.notify_all()
        return last_uid

    async def _dispose(self, client: aioimaplib.IMAP4, uid: int) -> None:
        """Flag the committed message \\Seen, or move it to ``[imap] move_to`` (RFC 6851 MOVE,
        else COPY + \\Deleted + UID EXPUNGE)."""
        move_to = self.settings.imap_move_to
        if not move_to:
            _ok(await client.uid("store", str(uid), "+FLAGS.SILENT (\\Seen)"), "UID STORE")
            return
        await client.uid("store", str(uid), "+FLAGS.SILENT (\\Seen)")
        if client.has_capability("MOVE"):
            _ok(await client.uid("move", str(uid), _quote(move_to)), "UID MOVE")
            return
        _ok(await client.uid("copy", str(uid), _quote(move_to)), "UID COPY")
        _ok(await client.uid("store", str(uid), "+FLAGS.SILENT (\\Deleted)"), "UID STORE")
        if client.has_capability("UIDPLUS"):
            await client.uid("expunge", str(uid))
        else:
            await client.expunge()

    async def _wait(self, client: aioimaplib.IMAP4, lost: asyncio.Event) -> None:
        seconds = self.settings.imap_poll_seconds
        if not client.has_capability("IDLE"):
            await _sleep_or(lost, seconds)
            _ok(await client.noop(), "NOOP")
            return
        idle = await client.idle_start(timeout=seconds + self.settings.imap_timeout_seconds)
        push = asyncio.ensure_future(client.wait_server_push(timeout=seconds))
        gone = asyncio.ensure_future(lost.wait())
        try:
            await asyncio.wait({push, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            push.cancel()
            gone.cancel()
        if lost.is_set():
            raise ConnectionResetError("IMAP connection lost during IDLE")
        client.idle_done()
        await asyncio.wait_for(idle, self.settings.imap_timeout_seconds)

    async def _load_cursor(self, uidvalidity: int) -> int:
        label = self.mailbox.label
        async with self.session_factory() as session, session.begin():
            cursor = await session.scalar(select(MailboxCursor).where(MailboxCursor.mailbox == label))
            if cursor is None:
                session.add(MailboxCursor(mailbox=label, uidvalidity=uidvalidity, last_uid=0))
                return 0
            if cursor.uidvalidity != uidvalidity:
                log.warning("IMAP %s: UIDVALIDITY changed; reading the folder again", self.where)
                cursor.uidvalidity, cursor.last_uid, cursor.updated_at = uidvalidity, 0, utcnow()
                return 0
            return int(cursor.last_uid)

    async def _save_cursor(self, uid: int) -> None:
        async with self.session_factory() as session, session.begin():
            cursor = await session.scalar(
                select(MailboxCursor).where(MailboxCursor.mailbox == self.mailbox.label)
            )
            if cursor is not None and uid > cursor.last_uid:
                cursor.last_uid, cursor.updated_at = uid, utcnow()


async def _sleep_or(event: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds`` or until ``event`` is set, whichever comes first."""
    try:
        await asyncio.wait_for(event.wait(), seconds)
    except TimeoutError:
        pass
