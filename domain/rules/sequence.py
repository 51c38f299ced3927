"""The sequence fold: pairs a traveller's crossings into stays per (jurisdiction, side).

Landside stays run from an ``ENTRY`` to an ``EXIT``; airside transits from an ``AIRSIDE_ARRIVAL``
to an ``AIRSIDE_DEPARTURE``. The fold walks the effective history in event-time order and records
the anomalies of DOMAIN.md 4.9: an exit with no open stay, a second entry while a stay is open
(closing it with an unknown exit), and an exit timestamped shortly before an entry that never gets
an exit of its own (``exit_before_entry_window_hours``, a policy setting). A resident leaving their
home jurisdiction needs no recorded entry: that first exit is no anomaly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache

from domain.events import (
    CrossingRecorded,
    Direction,
    Document,
    StayExtended,
    TravellerEvent,
)
from domain.policy import Policy, Port

_ARRIVING = frozenset({Direction.ENTRY, Direction.AIRSIDE_ARRIVAL})
_AIRSIDE = frozenset({Direction.AIRSIDE_ARRIVAL, Direction.AIRSIDE_DEPARTURE})
# The residents' documents and their home jurisdiction (DOMAIN.md 4.9).
HOME_OF = {Document.EEP: "CN", Document.HKID: "HK", Document.MOID: "MO"}


@dataclass(slots=True)
class Stay:
    """One stay (or airside transit) of a traveller in a jurisdiction, as far as it is known."""

    jurisdiction: str
    airside: bool
    entry: CrossingRecorded
    port: Port
    entry_day: date
    extensions: tuple[StayExtended, ...] = ()  # most stays have none: no list per stay
    exit: CrossingRecorded | None = None
    closed_by_entry: CrossingRecorded | None = None
    exit_before_entry: CrossingRecorded | None = None
    left_airside: CrossingRecorded | None = None

    @property
    def open(self) -> bool:
        """No exit (or anything standing for one) is known."""
        return (
            self.exit is None
            and self.closed_by_entry is None
            and self.exit_before_entry is None
            and self.left_airside is None
        )

    def end(self) -> datetime | None:
        """When the stay is known to have ended (``None`` while open)."""
        c = self.exit or self.closed_by_entry or self.left_airside or self.exit_before_entry
        if c is None:
            return None
        at, entered = c.occurred_at, self.entry.occurred_at
        return at if at >= entered else entered  # max(), the same object on a tie


@dataclass(slots=True)
class Sequence:
    """The result of the sequence fold."""

    stays: list[Stay] = field(default_factory=list)
    exits_without_entry: list[CrossingRecorded] = field(default_factory=list)
    unknown_ports: list[CrossingRecorded] = field(default_factory=list)


@dataclass(slots=True)
class _Track:
    open: Stay | None = None
    pending_exit: CrossingRecorded | None = None
    seen: bool = False  # a crossing of this track is known (or was forgotten)


def fold_sequence(
    events: tuple[TravellerEvent, ...], policy: Policy, forgotten: frozenset[str] = frozenset()
) -> Sequence:
    """Pair the effective crossings in ``events`` (sorted) into stays and anomalies.

    ``forgotten`` names the jurisdictions whose older history was pruned: a resident's exit there
    is not their first one.
    """
    out = Sequence()
    tracks: dict[tuple[str, bool], _Track] = {}
    window_hours = policy.settings.exit_before_entry_window_hours
    window = _hours(window_hours)
    ports = policy.ports
    for e in events:
        if isinstance(e, StayExtended):
            track = tracks.get((e.jurisdiction, False))
            # An extension of no open stay has nothing to extend (a later entry does not revive it).
            if track is not None and track.open is not None:
                track.open.extensions = (*track.open.extensions, e)
            continue
        if not isinstance(e, CrossingRecorded):
            continue
        port = ports.get(e.port)
        if port is None:
            out.unknown_ports.append(e)
            continue
        airside = e.direction in _AIRSIDE
        key = (port.jurisdiction, airside)
        track = tracks.get(key)
        if track is None:
            track = tracks[key] = _Track(seen=port.jurisdiction in forgotten)
        first = not track.seen
        track.seen = True
        if e.direction in _ARRIVING:
            _arrive(e, port, track, tracks, out, window=window if window_hours else None)
        else:
            _depart(e, port, track, out, first=first)
    for track in tracks.values():
        if track.open is not None:
            out.stays.append(track.open)
        if track.pending_exit is not None:
            out.exits_without_entry.append(track.pending_exit)
    if len(out.stays) > 1:
        out.stays.sort(key=_stay_order)
    if len(out.exits_without_entry) > 1:
        out.exits_without_entry.sort(key=_crossing_order)
    return out


@cache
def _hours(hours: int) -> timedelta:
    """``timedelta(hours=hours)``, built once per window length (asked for on every fold)."""
    return timedelta(hours=hours)


def _arrive(
    e: CrossingRecorded,
    port: Port,
    track: _Track,
    tracks: dict[tuple[str, bool], _Track],
    out: Sequence,
    *,
    window: timedelta | None,
) -> None:
    """An entry or airside arrival opens a stay on its track (closing what it supersedes)."""
    airside = e.direction in _AIRSIDE
    if not airside:
        transit = tracks.get((port.jurisdiction, True))
        if transit is not None and transit.open is not None:
            transit.open.left_airside = e
            out.stays.append(transit.open)
            transit.open = None
    if track.open is not None:
        _close_by_entry(track.open, e, out)
    stay = Stay(port.jurisdiction, airside, e, port, e.occurred_at.astimezone(port.tz).date())
    pending = track.pending_exit
    if pending is not None:
        if window is not None and e.occurred_at - pending.occurred_at <= window and not airside:
            stay.exit_before_entry = pending
        else:
            out.exits_without_entry.append(pending)
        track.pending_exit = None
    track.open = stay


def _depart(e: CrossingRecorded, port: Port, track: _Track, out: Sequence, *, first: bool) -> None:
    """An exit or airside departure closes the track's open stay, or waits for its entry."""
    stay_open = track.open
    if stay_open is not None and stay_open.exit is None:
        if stay_open.exit_before_entry is not None:
            # A real exit turned up: the earlier one was not this stay's.
            out.exits_without_entry.append(stay_open.exit_before_entry)
            stay_open.exit_before_entry = None
        stay_open.exit = e
        out.stays.append(stay_open)
        track.open = None
    elif not (first and _leaving_home(e, port.jurisdiction)):
        if track.pending_exit is not None:
            out.exits_without_entry.append(track.pending_exit)
        track.pending_exit = e


def _leaving_home(c: CrossingRecorded, jurisdiction: str) -> bool:
    """A resident's landside exit from their home jurisdiction, which needs no recorded entry."""
    return c.direction is Direction.EXIT and HOME_OF.get(c.document) == jurisdiction


def _stay_order(stay: Stay) -> tuple[datetime, str]:
    return (stay.entry.occurred_at, stay.entry.event_id)


def _crossing_order(c: CrossingRecorded) -> tuple[datetime, str]:
    return (c.occurred_at, c.event_id)


def _close_by_entry(stay: Stay, entry: CrossingRecorded, out: Sequence) -> None:
    if stay.exit_before_entry is None:
        stay.closed_by_entry = entry
    out.stays.append(stay)
