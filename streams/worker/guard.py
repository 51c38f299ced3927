"""What keeps one message from stopping the worker: output limits, quarantine, safe dead letters.

Edge validation (:mod:`streams.edge`) refuses bad input before the engine; these guards cover
what only shows after it. :class:`OutputLimits` refuses a step whose decisions would not fit the
broker's message size or ClickHouse's ``DateTime`` range (the input is dead-lettered and its step
discarded, so the state and the partition clock stay as they were) and shrinks a dead letter
that would not fit (the raw bytes are cut, and the reason says so). :class:`Quarantine` retries a
message that raised something unexpected once, then dead-letters it with the exception: a
deterministic crash would otherwise kill the worker on every restart. Failures on several
messages in a row mean a broken dependency rather than a poison pill, and stop the worker;
:func:`exit_within` then makes sure a stopping worker really exits (Faust's shutdown can hang
on a dead broker connection for minutes while its web server still answers).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypeVar

from base.errors import LedgerError
from domain.decisions import Emission
from schemas.codec import DeadLetter, encode_dead_letter, encode_emission
from schemas.mapping import Coordinates
from streams.edge import check_storable, record_instant

log = logging.getLogger(__name__)

T = TypeVar("T")
_MAX_REASON_CHARS = 2000
_AVRO_OVERHEAD = 256  # framing, fixed-size fields and a length varint per string, generously


@dataclass(frozen=True, slots=True)
class OutputLimits:
    """The broker's largest message, as the worker may send it."""

    max_message_bytes: int = 1_000_000

    def refusal(self, emissions: Sequence[Emission]) -> str | None:
        """Why these emissions cannot be published and stored, or ``None`` when they can."""
        for em in emissions:
            d = em.decision
            try:
                check_storable(d.deadline, "deadline")
                check_storable(d.observed_at, "observed_at")
                if self._size_bound(em) > self.max_message_bytes:
                    size = len(encode_emission(em))
                    if size > self.max_message_bytes:
                        return (
                            f"OutputTooLarge: decision {d.code.value} of {size} bytes exceeds "
                            f"the broker's message size ({self.max_message_bytes} bytes)"
                        )
            except LedgerError as e:
                return f"UnstorableOutput: decision {d.code.value}: {e}"
        return None

    @staticmethod
    def _size_bound(em: Emission) -> int:
        """An upper bound of the encoded size without encoding (UTF-8 is at most 4 bytes a char)."""
        d = em.decision
        texts = (d.decision_id, d.traveller_id, d.jurisdiction, d.rule, d.detail, *d.evidence)
        return _AVRO_OVERHEAD + sum(4 * len(t or "") + 10 for t in texts)

    def dead_letter(
        self, value: bytes | None, where: Coordinates, reason: str, failed_at: datetime
    ) -> bytes:
        """The encoded dead letter of the input message ``value`` read at ``where``."""
        source_ts, reason = source_timestamp(where.timestamp_ms, reason)
        letter = DeadLetter(
            raw=value or b"",
            reason=reason,
            source_topic=where.topic,
            source_partition=where.partition,
            source_offset=where.offset,
            source_timestamp=source_ts,
            failed_at=failed_at,
        )
        return self.fit_dead_letter(letter)

    def fit_dead_letter(self, letter: DeadLetter) -> bytes:
        """The encoded dead letter; its raw bytes cut (and the reason saying so) if too large."""
        if len(letter.reason) > _MAX_REASON_CHARS:
            cut = len(letter.reason) - _MAX_REASON_CHARS
            letter = replace(letter, reason=f"{letter.reason[:_MAX_REASON_CHARS]}... ({cut} more)")
        encoded = encode_dead_letter(letter)
        if len(encoded) <= self.max_message_bytes:
            return encoded
        keep = max(0, self.max_message_bytes - (len(encoded) - len(letter.raw)) - 200)
        note = (
            f" (raw cut to its first {keep} of {len(letter.raw)} bytes to fit the broker's "
            f"message size; the original stays on {letter.source_topic})"
        )
        shrunk = replace(letter, raw=letter.raw[:keep], reason=letter.reason + note)
        return encode_dead_letter(shrunk)


def source_timestamp(timestamp_ms: int | None, reason: str) -> tuple[datetime | None, str]:
    """A record timestamp fit for a dead letter, or ``None`` with the reason saying why."""
    if timestamp_ms is None or timestamp_ms < 0:
        return None, reason
    instant = record_instant(timestamp_ms)
    try:
        if instant is None:
            raise LedgerError("beyond the calendar")
        check_storable(instant, "source_timestamp")
    except LedgerError as e:
        return None, f"{reason} (record timestamp {timestamp_ms} ms not kept: {e})"
    return instant, reason


class Quarantine:
    """Runs a message's step; an unexpected failure twice in a row quarantines the message."""

    def __init__(self, consecutive_limit: int = 3) -> None:
        self.consecutive_limit = consecutive_limit
        self.consecutive = 0
        self.quarantined = 0

    def run(self, attempt: Callable[[], T], quarantine: Callable[[str], T]) -> T:
        """``attempt()``; if it raises twice, ``quarantine(reason)`` instead.

        Raises the second exception when more than ``consecutive_limit`` messages in a row were
        quarantined: that is a broken dependency, and the worker must stop loudly.
        """
        try:
            result = attempt()
        except Exception:
            log.exception("a message failed unexpectedly; trying it once more")
            try:
                result = attempt()
            except Exception as e:
                self.consecutive += 1
                if self.consecutive > self.consecutive_limit:
                    raise
                self.quarantined += 1
                log.exception("a message failed twice; quarantined to the dead letters")
                return quarantine(f"Quarantined: failed twice: {_describe(e)}")
        self.consecutive = 0
        return result


def _describe(error: BaseException) -> str:
    """``Type: message at file:line in function`` (the innermost frame)."""
    frames = traceback.extract_tb(error.__traceback__)
    where = f" at {frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name}" if frames else ""
    return f"{type(error).__name__}: {error}{where}"


_EXIT_STATUS = 70  # EX_SOFTWARE: the worker did not shut down cleanly in time
_exit_armed = threading.Event()


def exit_within(seconds: float) -> None:
    """End the process ``seconds`` from now unless it has exited by then (armed once)."""
    if _exit_armed.is_set():
        return
    _exit_armed.set()

    def _deadline() -> None:
        time.sleep(seconds)
        log.critical("worker still shutting down after %.0f s; exiting now", seconds)
        logging.shutdown()
        os._exit(_EXIT_STATUS)

    threading.Thread(target=_deadline, name="exit-deadline", daemon=True).start()
