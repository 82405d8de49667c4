"""Abuse guards for inbound SMS: a per-sender rate limit and an auto-responder loop guard.

Why a loop guard: when the gateway answers a machine (another service's auto-reply, a phone's
"I'm driving" responder) the machine answers back, and two robots can text each other forever,
each message costing money. The sign of it is the same text arriving again and again from one
number; after ``loop_repeats`` copies within ``loop_window`` seconds the conversation is handed to
a person (directive ``queue``), which also silences the bot for it (RFC 3834 §2 gives the same
advice for e-mail auto-responders: never answer an automatic message automatically).

The counters are in memory, per process: with several gateway processes each enforces its own
share of the limit, which is enough to stop floods and loops (both are bursts from one number).
"""

from __future__ import annotations

import time
import unicodedata
from collections import deque
from collections.abc import Callable

OK = "ok"
RATE_LIMITED = "rate"
LOOP = "loop"

RATE_WINDOW_SECONDS = 3600.0
_MAX_TRACKED = 100_000  # senders remembered before the oldest are forgotten


def _fingerprint(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


class SenderGuard:
    """Decides, per inbound message, whether it is allowed, rate limited or part of a loop."""

    def __init__(
        self,
        rate_per_hour: int,
        loop_repeats: int,
        loop_window: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate_per_hour = rate_per_hour
        self.loop_repeats = loop_repeats
        self.loop_window = loop_window
        self.clock = clock
        self._times: dict[str, deque[float]] = {}
        self._texts: dict[str, deque[tuple[float, str]]] = {}

    def check(self, sender: str, text: str) -> str:
        """Record one message from ``sender`` and classify it: :data:`OK`, :data:`RATE_LIMITED`, :data:`LOOP`."""
        now = self.clock()
        if len(self._times) > _MAX_TRACKED:
            self._forget_before(now - RATE_WINDOW_SECONDS)
        times = self._times.setdefault(sender, deque())
        while times and times[0] <= now - RATE_WINDOW_SECONDS:
            times.popleft()
        times.append(now)
        texts = self._texts.setdefault(sender, deque())
        while texts and texts[0][0] <= now - self.loop_window:
            texts.popleft()
        print_ = _fingerprint(text)
        texts.append((now, print_))
        if print_ and sum(1 for _, t in texts if t == print_) >= self.loop_repeats:
            return LOOP
        if len(times) > self.rate_per_hour:
            return RATE_LIMITED
        return OK

    def _forget_before(self, cutoff: float) -> None:
        for sender in [s for s, t in self._times.items() if not t or t[-1] <= cutoff]:
            self._times.pop(sender, None)
            self._texts.pop(sender, None)
