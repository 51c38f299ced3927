"""Which held decisions belong to which stay: the reuse behind an in-order crossing's derivation.

A derivation lists the decisions of every stay first, stay by stay in stay order (each stay's
decisions cite its entry first), then the decisions that belong to no stay (exits without entry,
unknown ports, duplicates, lanes, permits). When a crossing arrives after everything the traveller
holds, the stays it does not touch keep their entry terms, and a settled one (closed by its exit, or
by an exit before its entry) keeps every decision: :func:`derive` then takes those from the held set
instead of judging the entry again. This module reads the held set back into per-stay blocks; any
shape it does not expect makes it give up, and the stay is then derived in full.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from domain.decisions import Code, Decision
from domain.events import CrossingRecorded
from domain.held import STRIDE, Held, Rows, SharedShape
from domain.policy import Policy
from domain.rules.sequence import Stay

# Codes that only the decisions after the stays carry (never a stay's), besides an unknown port's
# POLICY_REVIEW, which has no jurisdiction. The policy's code for a contactless lane that is not
# enabled joins them; a policy that gives it a stay's code gets no reuse (see ``stay_blocks``).
_AFTER_STAYS = frozenset(
    {
        Code.EXIT_WITHOUT_ENTRY,
        Code.DUPLICATE_SUSPECTED,
        Code.SMART_LANE_NOT_ENABLED,
        Code.SMART_LANE_INELIGIBLE,
        Code.SMART_LANE_NO_CONSENT,
        Code.CONTACTLESS_NOT_REGISTERED,
        Code.PERMIT_INCONSISTENT,
        Code.LATE_EVENT_UNJUDGED,
    }
)
# The decisions of a landside stay's outcome (record_landside), listed after its entry terms.
_OUTCOME = frozenset(
    {
        Code.STAY_CLOSED,
        Code.OVERSTAY,
        Code.SUSPECTED_OVERSTAY,
        Code.EXIT_BEFORE_ENTRY,
        Code.ENTRY_WITHOUT_EXIT,
    }
)


class HeldStays(NamedTuple):
    """The held decisions and, per stay entry id, the bounds of that stay's block in them."""

    held: Held
    blocks: dict[str, tuple[int, int]]
    appended: CrossingRecorded


def stay_blocks(
    held: Held | Sequence[Decision], appended: CrossingRecorded, policy: Policy
) -> HeldStays | None:
    """The per-stay blocks of ``held`` (the derivation of the history before ``appended``).

    ``None`` when the held set is not shaped as a derivation lists it (a stay's decisions not
    contiguous, or after another kind), or when the policy's contactless code could be a stay's.
    """
    contactless = policy.settings.contactless_not_enabled_code
    if contactless not in _AFTER_STAYS:
        return None
    if not isinstance(held, Held):
        held = Held.of(held[0].traveller_id if held else "", held)
    blocks: dict[str, tuple[int, int]] = {}
    start = 0
    current: str | None = None
    rows = held.rows  # read in place (STRIDE items per decision): this runs on every crossing
    n = len(rows) // STRIDE
    for i in range(n):
        if _after_stays(rows[i * STRIDE]):  # type: ignore[arg-type]
            for later in range(i + 1, n):
                if not _after_stays(rows[later * STRIDE]):  # type: ignore[arg-type]
                    return None  # a stay's decision after the others: not a derivation's order
            break
        first: str | None = rows[i * STRIDE + 1]  # type: ignore[assignment]
        if first != current:
            if first is None or first in blocks:
                return None  # not one contiguous block per stay
            if current is not None:
                blocks[current] = (start, i)
            current, start = first, i
    else:
        i = n
    if current is not None:
        blocks[current] = (start, i)
    return HeldStays(held, blocks, appended)


def _after_stays(shape: SharedShape) -> bool:
    """Whether a held decision of this shape is one a derivation lists after every stay's."""
    code = shape[0]
    return code in _AFTER_STAYS or (shape[2] is None and code is Code.POLICY_REVIEW)


def touched(stay: Stay, crossing: CrossingRecorded) -> bool:
    """Whether ``crossing`` is one of the crossings the stay is made of."""
    # by identity: ``in`` would compare the other crossings field by field
    return (
        crossing is stay.entry
        or crossing is stay.exit
        or crossing is stay.closed_by_entry
        or crossing is stay.exit_before_entry
        or crossing is stay.left_airside
    )


class Reused(NamedTuple):
    """Held decisions of one stay to record as they are (``held`` from ``start`` to ``stop``);
    ``complete`` when they include its outcome (else they are its entry terms, and the outcome
    is to be recorded again)."""

    held: Held
    start: int
    stop: int
    complete: bool

    @property
    def decisions(self) -> tuple[Decision, ...]:
        """The block's decisions, as objects."""
        return self.held.decisions(self.start, self.stop)


def reusable_block(reuse: HeldStays, stay: Stay) -> Reused | None:
    """The held decisions of a landside ``stay`` the appended crossing leaves as they were.

    All of them when the stay is settled (its outcome cannot change with the watermark) and not
    touched; else its entry terms (STAY_OPENED and the entry conditions) only, its outcome to be
    recorded again. ``None`` when the block is not shaped as expected.
    """
    bounds = reuse.blocks.get(stay.entry.event_id)
    if bounds is None:
        return None
    start, stop = bounds
    held = reuse.held
    rows = held.rows
    if rows[start * STRIDE][0] is not Code.STAY_OPENED:  # type: ignore[index]
        return None
    if (stay.exit is not None or stay.exit_before_entry is not None) and not touched(
        stay, reuse.appended
    ):
        return Reused(held, start, stop, True)
    cut = start + 1
    while cut < stop and not _is_outcome(rows, cut):
        cut += 1
    for i in range(cut, stop):
        if not _is_outcome(rows, i):
            return None  # an entry term after the outcome: not a block this module knows
    return Reused(held, start, cut, False)


def _is_outcome(rows: Rows, i: int) -> bool:
    # A TWOV exit at a port that is not designated cites the entry and the exit; the entry's own
    # NOT_DESIGNATED_PORT cites the entry alone (no rest of its evidence).
    code = rows[i * STRIDE][0]  # type: ignore[index]
    return code in _OUTCOME or (
        code is Code.NOT_DESIGNATED_PORT and rows[i * STRIDE + 2] is not None
    )
