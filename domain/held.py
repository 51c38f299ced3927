"""The decisions a traveller's state holds, kept compact (issue 11: engine state memory).

A held :class:`~domain.decisions.Decision` as an object costs its own slots, its id string and
its evidence tuple: about 250 bytes, three objects for the garbage collector to walk, and most of
a traveller's state. A state keeps its held decisions instead as two values:

* ``ids``: the decision ids. Ids the engine makes are 12-byte digests in hex (rules/common.py):
  their raw bytes are concatenated into one ``bytes``. A set with any other id (a test's, an
  older writer's) keeps them as a tuple of strings.
* ``rows``: one flat tuple, four items per decision: its *shape* (every field that travellers
  and re-derivations share, as one interned tuple), its first evidence id, the rest of its
  evidence (``None``, one id, or a tuple of ids) and its ``observed_at``. The evidence ids are
  the events' own strings, so nothing is copied.

:class:`Held` reads them back: field by field for the engine's hot paths, or as
:class:`Decision` objects (equal to those that were stored) where a decision is emitted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo
from typing import TypeAlias

from domain.decisions import (
    Code,
    Decision,
    Emission,
    Severity,
    Status,
    emission_with_port,
    new_decision,
)
from domain.events import TravellerEvent

# code, severity, jurisdiction, rule, detail, deadline, overstay_seconds, deadline's tzinfo. The
# tzinfo keeps two equal deadlines in different zones apart: their text (and id) differ.
Shape: TypeAlias = tuple[
    Code, Severity, str | None, str, str, datetime | None, int | None, tzinfo | None
]
# A shape as interned and stored (compiled, a fixed-length tuple type is boxed anew when stored)
SharedShape: TypeAlias = tuple[object, ...]
Row: TypeAlias = "Shape | SharedShape | str | tuple[str, ...] | datetime | None"
Rows: TypeAlias = tuple[Row, ...]
Ids: TypeAlias = bytes | tuple[str, ...]
# What a derivation records: a decision, or the index of a held one derived again unchanged.
Derived: TypeAlias = "Decision | int"

STRIDE = 4  # items per decision in ``rows``
DIGEST = 12  # bytes of an engine-made id (rules/common.py decision_id)
_SHAPES: dict[SharedShape, SharedShape] = {}
_SHAPES_LIMIT = 65_536  # distinct shapes kept; cleared beyond (equal shapes are equal anyway)
NO_IDS = b""
NO_ROWS: Rows = ()


def shape_of(d: Decision) -> SharedShape:
    """The interned shape of ``d``: one tuple per distinct combination, shared by travellers."""
    deadline = d.deadline
    shape: SharedShape = (
        d.code,
        d.severity,
        d.jurisdiction,
        d.rule,
        d.detail,
        deadline,
        d.overstay_seconds,
        deadline.tzinfo if deadline is not None else None,
    )
    found = _SHAPES.get(shape)
    if found is None:
        if len(_SHAPES) >= _SHAPES_LIMIT:
            _SHAPES.clear()
        found = _SHAPES[shape] = shape
    return found


def evidence_parts(evidence: tuple[str, ...]) -> tuple[str | None, str | tuple[str, ...] | None]:
    """The first evidence id and the rest (``None``, the one id, or the tuple of the rest)."""
    n = len(evidence)
    if n == 1:
        return evidence[0], None
    if n == 2:
        return evidence[0], evidence[1]
    if n == 0:
        return None, None
    return evidence[0], evidence[1:]


def compact_row(d: Decision) -> Rows:
    """The four items ``d`` takes in a compact held set: shape, first evidence, the rest,
    observed_at."""
    evidence = d.evidence
    if len(evidence) == 1:  # most decisions cite one event: evidence_parts, inlined
        return (shape_of(d), evidence[0], None, d.observed_at)
    first, rest = evidence_parts(evidence)
    return (shape_of(d), first, rest, d.observed_at)


def join_evidence(first: object, rest: object) -> tuple[str, ...]:
    """Inverse of :func:`evidence_parts`."""
    if rest is None:
        return () if first is None else (first,)  # type: ignore[return-value]
    if type(rest) is str:
        return (first, rest)  # type: ignore[return-value]
    return (first, *rest)  # type: ignore[misc, arg-type]


def raw_id(decision_id: str) -> bytes | None:
    """The digest an engine-made id is the hex of, else ``None``."""
    if len(decision_id) != 2 * DIGEST:
        return None
    try:
        raw = bytes.fromhex(decision_id)
    except ValueError:
        return None
    # lower case only, or the text would not round-trip
    return raw if decision_id.islower() or decision_id.isdigit() else None


def compact(decisions: Sequence[Decision]) -> tuple[Ids, Rows]:
    """``decisions`` as ``(ids, rows)``."""
    if not decisions:
        return NO_IDS, NO_ROWS
    rows: list[Row] = []
    raws: list[bytes] = []
    for d in decisions:
        rows += compact_row(d)
        did = d.decision_id
        try:
            raw = bytes.fromhex(did) if len(did) == 2 * DIGEST else b""
        except ValueError:
            raw = b""
        # 12 bytes from 24 characters: hex digits only; lower case, or the text would not
        # round-trip (raw_id, inlined: this runs for every new decision)
        if len(raw) == DIGEST and (did.islower() or did.isdigit()):
            raws.append(raw)
        else:
            return tuple(d.decision_id for d in decisions), tuple(rows) + _rows_of(
                decisions[len(rows) // STRIDE :]
            )
    return b"".join(raws), tuple(rows)


def _rows_of(decisions: Sequence[Decision]) -> Rows:
    out: list[Row] = []
    for d in decisions:
        first, rest = evidence_parts(d.evidence)
        out += (shape_of(d), first, rest, d.observed_at)
    return tuple(out)


class Held:
    """A read view of one traveller's held decisions (built per use; the state keeps only
    ``ids`` and ``rows``)."""

    __slots__ = ("ids", "objects", "rows", "traveller_id")

    def __init__(
        self,
        traveller_id: str,
        ids: Ids,
        rows: Rows,
        objects: tuple[Decision, ...] | None = None,
    ) -> None:
        self.traveller_id = traveller_id
        self.ids = ids
        self.rows = rows
        # the decisions as objects, when the view was made of them: read back as they are
        self.objects = objects

    @classmethod
    def of(cls, traveller_id: str, decisions: Sequence[Decision] | Held) -> Held:
        """A view of ``decisions`` (a view is returned as it is)."""
        if isinstance(decisions, Held):
            return decisions
        objects = tuple(decisions)
        ids, rows = compact(objects)
        return cls(traveller_id, ids, rows, objects)

    def __len__(self) -> int:
        return len(self.rows) // STRIDE

    def decision_id(self, i: int) -> str:
        """The id of the ``i``-th decision."""
        ids = self.ids
        if type(ids) is bytes:
            return ids[i * DIGEST : (i + 1) * DIGEST].hex()
        return ids[i]  # type: ignore[return-value]

    def shape(self, i: int) -> Shape:
        """The shape of the ``i``-th decision (see :func:`shape_of`)."""
        return self.rows[i * STRIDE]  # type: ignore[return-value]

    def code(self, i: int) -> Code:
        """The code of the ``i``-th decision."""
        return self.shape(i)[0]

    def first_evidence(self, i: int) -> str | None:
        """The first evidence id of the ``i``-th decision (``None`` if it cites nothing)."""
        return self.rows[i * STRIDE + 1]  # type: ignore[return-value]

    def evidence_count(self, i: int) -> int:
        """How many evidence ids the ``i``-th decision cites."""
        k = i * STRIDE
        rows = self.rows
        rest = rows[k + 2]
        if rest is None:
            return 0 if rows[k + 1] is None else 1
        return 2 if type(rest) is str else 1 + len(rest)  # type: ignore[arg-type]

    def evidence(self, i: int) -> tuple[str, ...]:
        """The evidence of the ``i``-th decision."""
        k = i * STRIDE
        return join_evidence(self.rows[k + 1], self.rows[k + 2])

    def decision(self, i: int) -> Decision:
        """The ``i``-th decision, as an object equal to the one that was stored."""
        if self.objects is not None:
            return self.objects[i]
        k = i * STRIDE
        rows = self.rows
        shape: Shape = rows[k]  # type: ignore[assignment]
        code, severity, jurisdiction, rule, detail, deadline, overstay, _ = shape
        d: Decision = new_decision(
            self.decision_id(i),
            self.traveller_id,
            code,
            severity,
            jurisdiction,
            rule,
            join_evidence(rows[k + 1], rows[k + 2]),
            deadline,
            overstay,
            rows[k + 3],  # type: ignore[arg-type]
            detail,
        )
        return d

    def decisions(self, start: int = 0, stop: int | None = None) -> tuple[Decision, ...]:
        """The decisions ``start`` to ``stop`` (all by default), as objects."""
        end = len(self) if stop is None else stop
        return tuple(self.decision(i) for i in range(start, end))

    def same(self, i: int, d: Decision) -> bool:
        """Whether the ``i``-th decision equals ``d`` (id aside), without building it."""
        k = i * STRIDE
        rows = self.rows
        if rows[k + 3] != d.observed_at:
            return False
        first, rest = evidence_parts(d.evidence)
        if rows[k + 1] != first or rows[k + 2] != rest:
            return False
        shape: SharedShape = rows[k]  # type: ignore[assignment]
        other = shape_of(d)
        # interned, so equal shapes are mostly the same object; else compare the fields as
        # Decision's == does (a deadline's zone aside, which only the id's text depends on)
        return shape is other or shape[:7] == other[:7]


NO_HELD = Held("", NO_IDS, NO_ROWS)  # a state's view when it holds nothing (its traveller unused)


def select(held: Held, keep: Sequence[int]) -> tuple[Ids, Rows]:
    """The ``(ids, rows)`` of the held decisions at the indexes ``keep`` (in that order)."""
    rows = held.rows
    out: list[Row] = []
    for i in keep:
        out += rows[i * STRIDE : (i + 1) * STRIDE]
    ids = held.ids
    if type(ids) is bytes:
        kept: Ids = b"".join(ids[i * DIGEST : (i + 1) * DIGEST] for i in keep)
    else:
        kept = tuple(ids[i] for i in keep)  # type: ignore[misc]
    return kept, tuple(out)


def diff_held(
    held: Held,
    current: Mapping[str, Derived],
    histories: tuple[Sequence[TravellerEvent], ...] = (),
) -> tuple[Ids, Rows, list[Emission]]:
    """The new held set (compact) and the emissions turning ``held`` into ``current``.

    Retractions come first (in held order), then issues (in derivation order). A decision whose
    id is kept but whose content changed is retracted and issued again. A decision that did not
    change keeps its held row, and an unchanged set in the same order its held ``ids`` and
    ``rows``, so that a long-lived state does not churn equal copies. The emissions carry the
    port and instant of their first and last evidence crossings among ``histories`` (see
    :func:`~domain.decisions.emission_with_port`).
    """
    n = len(held.rows) // STRIDE
    if held.objects is None:
        claimed = {d: did for did, d in current.items() if type(d) is int}
        if len(claimed) == n:
            return _all_kept(held, current, histories)
    else:
        claimed = _claimed(held, current)
    emissions: list[Emission] = []
    # id -> index of the held decision equal to the current one; the last held one with an id
    unchanged: dict[str, int] = {}
    ids = held.ids
    raw = type(ids) is bytes
    for i in range(n):
        known = claimed.get(i)
        if known is not None:
            unchanged[known] = i
            continue
        did: str = ids[i * DIGEST : (i + 1) * DIGEST].hex() if raw else ids[i]  # type: ignore[union-attr, assignment]
        now = current.get(did)
        if isinstance(now, int):
            now = held.decision(now)  # another held decision with this id (a repeated id)
        if now is not None and held.same(i, now):
            unchanged[did] = i
        else:
            unchanged.pop(did, None)
            emissions.append(emission_with_port(Status.RETRACTED, held.decision(i), histories))
    order: list[Derived] = []
    in_place = len(current) == n
    for j, (did, d) in enumerate(current.items()):
        before = unchanged.get(did)
        if before is None:
            issued = held.decision(d) if isinstance(d, int) else d
            emissions.append(emission_with_port(Status.ISSUED, issued, histories))
            order.append(d)
            in_place = False
        else:
            in_place = in_place and before == j
            order.append(before)
    if in_place and not emissions:
        return held.ids, held.rows, emissions  # the same decisions in the same order
    ids, rows = _rebuilt(held, order)
    return ids, rows, emissions


def _all_kept(
    held: Held, current: Mapping[str, Derived], histories: tuple[Sequence[TravellerEvent], ...]
) -> tuple[Ids, Rows, list[Emission]]:
    """:func:`diff_held` when the derivation recorded every held decision as it is (by index):
    nothing to retract, the new decisions to issue (the common case, a crossing appended)."""
    values = list(current.values())
    emissions = [
        emission_with_port(Status.ISSUED, d, histories) for d in values if not isinstance(d, int)
    ]
    n = len(held.rows) // STRIDE
    kept = 0  # the held decisions in place at the start, as a derivation lists earlier stays
    for v in values:
        if type(v) is not int or v != kept:
            break
        kept += 1
    if kept < n:
        return (*_rebuilt(held, values), emissions)
    if not emissions:
        return held.ids, held.rows, emissions  # the same decisions in the same order
    ids, rows = compact(values[n:])  # type: ignore[arg-type]  # all new decisions after them
    if type(ids) is bytes and type(held.ids) is bytes:
        return held.ids + ids, held.rows + rows, emissions
    return (*_rebuilt(held, values), emissions)


def _claimed(held: Held, current: Mapping[str, Derived]) -> dict[int, str]:
    """Held index -> id, for the current decisions that are held ones as they were (unchanged):
    an index the derivation recorded, or one of the objects the view was made of."""
    claimed: dict[int, str] = {}
    objects = held.objects
    read_back = {id(o): i for i, o in enumerate(objects)} if objects is not None else None
    for did, d in current.items():
        if type(d) is int:
            claimed[d] = did
        elif read_back is not None:
            i = read_back.get(id(d))
            if i is not None and objects[i] is d:  # type: ignore[index]
                claimed[i] = did
    return claimed


def _rebuilt(held: Held, order: Sequence[Derived]) -> tuple[Ids, Rows]:
    """The compact form of ``order``: held decisions (by index) and new ones."""
    rows = held.rows
    out: list[Row] = []
    raws: list[bytes | None] = []
    held_raw = type(held.ids) is bytes
    for item in order:
        if type(item) is int:
            k = item * STRIDE
            out += rows[k : k + STRIDE]
            if held_raw:
                raws.append(held.ids[item * DIGEST : (item + 1) * DIGEST])  # type: ignore[arg-type]
            else:
                raws.append(raw_id(held.decision_id(item)))
        else:
            d: Decision = item  # type: ignore[assignment]
            out += compact_row(d)
            raws.append(raw_id(d.decision_id))
    if None in raws:
        ids: Ids = tuple(
            held.decision_id(item) if isinstance(item, int) else item.decision_id for item in order
        )
        return ids, tuple(out)
    return b"".join(raws), tuple(out)  # type: ignore[arg-type]  # no None among them
