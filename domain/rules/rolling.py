"""The generic "N days in any M-day window" rule kind (DOMAIN.md 4.8; the EU short-stay rule).

Both the entry day and the exit day count, in local dates. Because a stay adds one day per day
while at most one old day leaves the window per day, the count over a continuing stay never
decreases, so the last allowed day is the day before the count first exceeds N.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from datetime import date, timedelta


def stay_days(first: date, last: date) -> list[date]:
    """Every local date from ``first`` to ``last`` inclusive."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def prior_days(days: Iterable[date], before: date) -> list[date]:
    """The distinct days earlier than ``before``, sorted (the history a new stay counts against)."""
    return sorted({d for d in days if d < before})


def count_in_window(prior: Sequence[date], start: date, day: date, window_days: int) -> int:
    """Days counted in the window ending on ``day`` for a stay running from ``start`` to ``day``."""
    low = day - timedelta(days=window_days - 1)
    from_prior = bisect_right(prior, day) - bisect_left(prior, low)
    return from_prior + (day - start).days + 1


def last_allowed_day(prior: Sequence[date], start: date, limit: int, window_days: int) -> date:
    """The last day a stay starting on ``start`` may include (``start - 1`` if none is left)."""
    day = start
    while count_in_window(prior, start, day, window_days) <= limit:
        day += timedelta(days=1)
    return day - timedelta(days=1)
