"""``ledger verify``'s investigator: recompute every Merkle log, check it against its checkpoints.

For each (topic, partition) log, the checkpoints are checked first (signature under the public
key, no two different roots for one size). Then the stored rows are walked in offset order:
each row must carry the next leaf index, its Kafka value must hash to its leaf hash, and its
columns must be what the sink derives from that value; the recomputed leaves are folded into a
frontier, and at every checkpoint's size the root must equal the signed root and every leaf must
lie below the signed ``next_offset``. Each checkpoint is thus checked against the same
recomputed log, which also proves every later checkpoint consistent with every earlier one.
The first problem of a log is reported by (topic, partition, offset) and ends that log's walk
(what follows it cannot be placed reliably). Erased rows (retention) keep their leaf hash and
are counted as erased, not as tampering. Leaves after the last checkpoint are reported as
unsigned; a log with rows but no valid checkpoint at all fails.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from base.settings import Settings
from streams.store.base import Store
from streams.trust.bulk import clean_block
from streams.trust.checkpoint import Checkpoint, format_instant
from streams.trust.columns import ColumnCheck
from streams.trust.erasure import erased_offsets
from streams.trust.keys import Verifier
from streams.trust.logs import LeafBlock, LogRef, checkpoints_of, leaf_blocks_of, list_logs
from streams.trust.merkle import Frontier, leaf_hash


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem, named by where it is."""

    kind: str  # altered | deleted | inserted | reordered | checkpoint | unsigned
    topic: str
    partition: int
    offset: int | None
    detail: str

    def line(self) -> str:
        where = f"{self.topic}[{self.partition}]" + (
            "" if self.offset is None else f"@{self.offset}"
        )
        return f"{self.kind.upper()} {where}: {self.detail}"


@dataclass(slots=True)
class LogReport:
    """What verifying one log found."""

    log: LogRef
    leaves: int = 0
    erased: int = 0
    checkpoints_checked: int = 0
    signed_size: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def unsigned(self) -> int:
        return max(self.leaves - self.signed_size, 0)


class _Walk:
    """The state of one log's walk (see module docstring)."""

    def __init__(
        self, report: LogReport, checkpoints: list[Checkpoint], erased: set[int], columns: bool
    ):
        self.report = report
        self.columns = ColumnCheck(report.log) if columns else None
        self.log = report.log
        self.checkpoints = checkpoints
        self.erased = erased
        self.frontier = Frontier()
        self.next_cp = 0
        self.prev_offset = -1
        self.range_start: int | None = None

    def fail(self, kind: str, offset: int | None, detail: str) -> None:
        self.report.findings.append(
            Finding(kind, self.log.topic, self.log.partition, offset, detail)
        )

    def row(self, row: dict[str, Any], lookahead: Callable[[int], bool]) -> bool:
        """Check one row; False once a problem was found."""
        offset = int(row["kafka_offset"])
        index = self.frontier.size
        if offset == self.prev_offset:
            self.fail("inserted", offset, "a second row claims this offset")
            return False
        if not row["leaf_hash"]:
            self.fail("inserted", offset, "the row is not a leaf of the log (no leaf hash)")
            return False
        if int(row["leaf_index"]) != index:
            self._misplaced(offset, index, int(row["leaf_index"]), lookahead)
            return False
        upcoming = self._upcoming()
        if upcoming is not None and offset >= upcoming.next_offset:
            self.fail(
                "deleted",
                offset,
                f"checkpoint signed {upcoming.tree_size} leaves below offset "
                f"{upcoming.next_offset}, the store has only {index} (rows after offset "
                f"{self.prev_offset} are missing)",
            )
            return False
        digest = self._leaf(offset, row)
        if digest is None:
            return False
        self.frontier.append(digest)
        self.range_start = offset if self.range_start is None else self.range_start
        self.prev_offset = offset
        return self._checkpoints_at_size()

    def block(self, block: LeafBlock) -> bool:
        """Take a whole block if it is clean (``streams.trust.bulk``); False leaves it to
        :meth:`row`, untouched."""
        clean = clean_block(
            block,
            self.frontier,
            self.prev_offset,
            self.checkpoints[self.next_cp :],
            erased=self.erased,
            columns=self.columns.block_matches if self.columns else None,
        )
        if clean is None:
            return False
        self.frontier = clean.frontier
        self.next_cp += clean.checkpoints_passed
        self.report.checkpoints_checked += clean.checkpoints_passed
        self.report.signed_size = clean.signed_size or self.report.signed_size
        self.report.erased += clean.erased
        self.prev_offset = clean.last_offset
        if clean.checkpoints_passed or self.range_start is None:
            self.range_start = clean.unsigned_from
        return True

    def _misplaced(self, offset: int, index: int, got: int, ahead: Callable[[int], bool]) -> None:
        if got > index and ahead(index):
            self.fail("reordered", offset, f"holds leaf {got} where leaf {index} belongs")
        elif got > index:
            self.fail(
                "deleted",
                self.prev_offset + 1,
                f"leaves {index}..{got - 1} are missing (rows between offsets "
                f"{self.prev_offset} and {offset})",
            )
        else:
            self.fail("inserted", offset, f"claims leaf {got}, already taken (expected {index})")

    def _leaf(self, offset: int, row: dict[str, Any]) -> bytes | None:
        stored = str(row["leaf_hash"])
        if not row["kafka_value"]:
            if offset in self.erased and len(stored) == 64:
                self.report.erased += 1
                return bytes.fromhex(stored)
            self.fail("altered", offset, "the Kafka value is gone and no erasure covers it")
            return None
        try:
            value = base64.b64decode(str(row["kafka_value"]), validate=True)
        except binascii.Error:
            self.fail("altered", offset, "the stored Kafka value is not base64")
            return None
        digest = leaf_hash(value)
        if digest.hex() != stored:
            self.fail("altered", offset, "the Kafka value does not hash to the row's leaf hash")
            return None
        differing = self.columns.differing(offset, value, row) if self.columns else None
        if differing:
            self.fail("altered", offset, f"column {differing} differs from the Kafka value")
            return None
        return digest

    def _upcoming(self) -> Checkpoint | None:
        return self.checkpoints[self.next_cp] if self.next_cp < len(self.checkpoints) else None

    def _checkpoints_at_size(self) -> bool:
        cp = self._upcoming()
        while cp is not None and cp.tree_size == self.frontier.size:
            self.report.checkpoints_checked += 1
            if cp.root != self.frontier.root():
                self.fail(
                    "altered",
                    self.range_start,
                    f"the {cp.tree_size} leaves do not hash to the root signed at "
                    f"{format_instant(cp.signed_at)}; the change lies between offsets "
                    f"{self.range_start} and {self.prev_offset}",
                )
                return False
            self.report.signed_size = cp.tree_size
            self.range_start = None
            self.next_cp += 1
            cp = self._upcoming()
        return True

    def finish(self) -> None:
        self.report.leaves = self.frontier.size
        cp = self._upcoming()
        if cp is not None:
            self.fail(
                "deleted",
                self.prev_offset + 1,
                f"checkpoint signed {cp.tree_size} leaves below offset {cp.next_offset}; the "
                f"store has {self.frontier.size} (rows from offset {self.prev_offset + 1} on "
                "are missing)",
            )
        elif self.frontier.size and not self.report.signed_size:
            self.fail("unsigned", None, f"{self.frontier.size} leaves and no valid checkpoint")


def valid_checkpoints(
    report: LogReport, checkpoints: list[Checkpoint], verifier: Verifier
) -> list[Checkpoint]:
    """The checkpoints whose signature verifies; findings for the others and for forks."""
    log = report.log
    good: list[Checkpoint] = []
    for cp in checkpoints:
        if cp.log_id.split("/")[-2:] != [log.topic, str(log.partition)]:
            detail = f"checkpoint names log {cp.log_id}"
        elif not cp.verifies(verifier):
            detail = f"signature of the size-{cp.tree_size} checkpoint does not verify"
        elif good and good[-1].tree_size == cp.tree_size and good[-1].root != cp.root:
            detail = f"two different roots signed for size {cp.tree_size}"
        else:
            good.append(cp)
            continue
        report.findings.append(
            Finding("checkpoint", log.topic, log.partition, cp.next_offset, detail)
        )
    return good


def verify_log(
    store: Store,
    log: LogRef,
    verifier: Verifier,
    erased: set[int],
    progress: Callable[[int], None],
    *,
    columns: bool = True,
) -> LogReport:
    """Verify one log (see module docstring); ``progress(n)`` is told of every n rows read.

    ``columns=False`` skips re-deriving each row's columns from its value (the costly part):
    values, leaves, order and checkpoints are still checked, derived columns are not.
    """
    report = LogReport(log)
    good = valid_checkpoints(report, checkpoints_of(store, log.topic, log.partition), verifier)
    walk = _Walk(report, good, erased, columns)
    clean = True
    blocks = leaf_blocks_of(store, log, columns=columns)
    for block in blocks:
        if walk.block(block):
            progress(len(block))
            continue
        # Not clean: walk from here row by row (to the end: the look-ahead sees every row).
        rows = _Peekable(chain(block.rows(), (r for b in blocks for r in b.rows())))
        for row in rows:
            progress(1)
            if not walk.row(row, rows.has_leaf):
                clean = False
                break
        break
    if clean:
        walk.finish()
    else:
        report.leaves = walk.frontier.size
    return report


def verify_all(
    store: Store,
    settings: Settings,
    verifier: Verifier,
    progress: Callable[[int], None],
    *,
    columns: bool = True,
) -> list[LogReport]:
    """Verify every log of the store, in (topic, partition) order (see :func:`verify_log`)."""
    return [
        verify_log(
            store,
            log,
            verifier,
            erased_offsets(store, log.topic, log.partition),
            progress,
            columns=columns,
        )
        for log in list_logs(store, settings)
    ]


def report_lines(reports: list[LogReport]) -> list[str]:
    """One line per log, then one per finding under it."""
    lines: list[str] = []
    for r in reports:
        lines.append(
            f"{'FAIL' if r.findings else 'ok  '} {r.log.topic}[{r.log.partition}]: {r.leaves} "
            f"leaves, {r.checkpoints_checked} checkpoints verified, {r.unsigned} unsigned, "
            f"{r.erased} erased"
        )
        lines.extend(f"     {f.line()}" for f in r.findings)
    return lines


class _Peekable:
    """The row stream, with a bounded look-ahead for a leaf index (to tell reorder from loss)."""

    def __init__(self, rows: Iterator[dict[str, Any]], window: int = 10_000) -> None:
        self._rows = rows
        self._buffer: list[dict[str, Any]] = []
        self._window = window

    def __iter__(self) -> _Peekable:
        return self

    def __next__(self) -> dict[str, Any]:
        return self._buffer.pop(0) if self._buffer else next(self._rows)

    def has_leaf(self, index: int) -> bool:
        while len(self._buffer) < self._window:
            try:
                self._buffer.append(next(self._rows))
            except StopIteration:
                break
        return any(int(r["leaf_index"]) == index for r in self._buffer)
