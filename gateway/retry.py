"""Retry policy shared by everything that waits out a failure: sends, storage outages."""

from __future__ import annotations

import random

from sqlalchemy.exc import SQLAlchemyError

# What a database outage looks like from here: a driver or pool error, or the socket under it.
STORAGE_ERRORS = (SQLAlchemyError, OSError)


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based): exponential with jitter.

    "Equal jitter" (uniform between half the exponential bound and the bound, as in the AWS
    Architecture Blog's "Exponential Backoff And Jitter") spreads the retries of many failed sends
    so they do not hit a recovering provider at the same instant, yet never retries at once.
    """
    bound = min(cap, base * (2 ** max(0, attempt - 1)))
    return (rng or random).uniform(bound / 2, bound)
