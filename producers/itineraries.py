"""Traveller itineraries: the events of each simulated profile, and the injected delivery faults.

One function per :class:`~producers.sim_config.Profile` builds a traveller's events from the
world's primitives (:mod:`producers.sim_world`), with the traveller's violation, if any, applied;
``duplicate`` and ``out_of_order`` then disturb the delivery. Every random choice goes through the
world's one seeded source, in a fixed order.
"""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

from domain.events import (
    Basis,
    BiometricConsentRecorded,
    Channel,
    CrossingRecorded,
    Direction,
    Document,
    Entries,
    PermitCategory,
    PermitIssued,
    PermitKind,
    PermitRevoked,
    PreRegistrationRecorded,
    Zone,
)
from producers.sim_config import Violation
from producers.sim_world import Traveller, World, local_instant, to_ms
from producers.traffic_tables import (
    DIRECT_TRANSIT_AIRPORTS,
    HETAO_PAIR,
    HETAO_TALENT_FROM,
    HK_AIRPORT,
    HK_LAND_PAIRS,
    LOCAL,
    MO_LAND_PAIRS,
    NOT_DIRECT_TRANSIT_AIRPORTS,
    NOT_TWOV_AIRPORT,
    ONWARD,
    SMART_PORTS,
    TALENT_REGIONS,
    TRANSIT_NATIONALITIES,
    TWOV_AIRPORTS,
    TWOV_NATIONALITIES,
    UNCOVERED_REGIONS,
    VISITOR_NATIONALITIES,
    since,
)


def mainland_visitor(w: World, t: Traveller) -> None:
    to_hk = w.rng.random() < 0.75 and any(w.ok(*p) for p in HK_LAND_PAIRS)
    pair = w.pick_pair(HK_LAND_PAIRS if to_hk else MO_LAND_PAIRS) or w.pick_pair(
        [*HK_LAND_PAIRS, *MO_LAND_PAIRS]
    )
    assert pair is not None
    basis = Basis.BUSINESS if w.rng.random() < 0.3 else Basis.VISITOR
    if t.violation in (Violation.LATE_EXIT, Violation.MISSING_EXIT):
        basis = Basis.VISITOR
    entry, exit_at = w.stay_bounds(t, limit_days=7, clean_max_days=5)
    w.home_entry(t, entry, pair[0], "CHN", Document.EEP)
    w.land_trip(t, pair, entry, outbound=True, basis=basis)
    if exit_at is not None:
        w.land_trip(t, pair, exit_at, outbound=False, basis=Basis.RESIDENT)


def hk_resident(w: World, t: Traveller) -> None:
    pair = w.pick_pair(HK_LAND_PAIRS)
    assert pair is not None
    entry, exit_at = w.stay_bounds(t, limit_days=7, clean_max_days=3)
    smart_ports = since(SMART_PORTS, entry.astimezone(LOCAL).date())
    smart = pair[0] in smart_ports
    birth = date(w.rng.randrange(1950, 2006), w.rng.randrange(1, 13), w.rng.randrange(1, 29))
    if smart:
        consent_at = entry - timedelta(days=w.rng.uniform(1, 300))
        w.emit(
            t,
            BiometricConsentRecorded(
                event_id=w.event_id(),
                traveller_id=t.traveller_id,
                occurred_at=to_ms(consent_at),
                granted=True,
            ),
        )
    channel = Channel.SMART if smart else Channel.COUNTER
    w.home_entry(t, entry, pair[1], "CHN", Document.HKID)
    w.land_trip(
        t,
        pair,
        entry,
        outbound=False,
        basis=Basis.RESIDENT,
        docs=(Document.HKID, Document.MTP_HKMO),
        channels=(Channel.COUNTER, channel),
        birth_date=birth,
    )
    if exit_at is not None:
        exit_port_at = exit_at
        w.emit(
            t,
            w.crossing(
                t,
                exit_port_at,
                pair[0],
                Direction.EXIT,
                nationality="CHN",
                document=Document.MTP_HKMO,
                channel=channel,
                birth_date=birth,
            ),
        )
        w.emit(
            t,
            w.crossing(
                t,
                exit_port_at + w.minutes(3, 25),
                pair[1],
                Direction.ENTRY,
                nationality="CHN",
                document=Document.HKID,
                channel=Channel.COUNTER,
                basis=Basis.RESIDENT,
            ),
        )


def talent(w: World, t: Traveller) -> None:
    to_hk = w.rng.random() < 0.8
    pair = w.pick_pair(HK_LAND_PAIRS if to_hk else MO_LAND_PAIRS) or w.pick_pair(
        [*HK_LAND_PAIRS, *MO_LAND_PAIRS]
    )
    assert pair is not None
    destination = "HK" if pair[1].startswith("HK-") else "MO"
    entry, exit_at = w.stay_bounds(t, limit_days=30, clean_max_days=20)
    entry_day = entry.astimezone(LOCAL).date()
    permit_id = f"TAL-{w.rng.getrandbits(40):010x}"
    fault = w.rng.choice(("revoked", "region", "expired"))
    invalid = t.violation is Violation.INVALID_PERMIT
    issued_on = entry_day - timedelta(days=w.rng.randrange(20, 300))
    if invalid and fault == "expired":
        issued_on = entry_day - timedelta(days=w.rng.randrange(400, 800))
    covered = since(TALENT_REGIONS, issued_on) or TALENT_REGIONS[0][1]
    region = w.rng.choice(covered)
    kind = PermitKind.TALENT
    if issued_on >= HETAO_TALENT_FROM and w.rng.random() < 0.2:
        kind, region = PermitKind.HETAO_TALENT, "CN-GD-SZ"
    if invalid and fault == "region":
        kind, region = PermitKind.TALENT, w.rng.choice(UNCOVERED_REGIONS)
    valid_until = _permit_valid_until(
        w, issued_on, entry_day, expired=invalid and fault == "expired"
    )
    destinations = ("HK", "MO") if w.rng.random() < 0.5 else (destination,)
    issued_at = local_instant(issued_on, 10 * 3600 + w.rng.random() * 6 * 3600)
    w.emit(
        t,
        PermitIssued(
            event_id=w.event_id(),
            traveller_id=t.traveller_id,
            occurred_at=issued_at,
            permit_id=permit_id,
            kind=kind,
            issued_in=region,
            destinations=destinations,
            valid_from=issued_on,
            valid_until=valid_until,
            entries=Entries.MULTIPLE,
            category=w.rng.choice(list(PermitCategory)),
        ),
    )
    if invalid and fault == "revoked":
        revoked_at = issued_at + (entry - issued_at) * w.rng.uniform(0.3, 0.9)
        w.emit(
            t,
            PermitRevoked(
                event_id=w.event_id(),
                traveller_id=t.traveller_id,
                occurred_at=to_ms(revoked_at),
                permit_id=permit_id,
            ),
        )
    w.home_entry(t, entry, pair[0], "CHN", Document.EEP)
    w.land_trip(t, pair, entry, outbound=True, basis=Basis.TALENT, permit_id=permit_id)
    if exit_at is not None:
        w.land_trip(t, pair, exit_at, outbound=False, basis=Basis.RESIDENT)


def _permit_valid_until(w: World, issued_on: date, entry_day: date, *, expired: bool) -> date:
    """A permit's last valid day: 1 to 5 years after issue, or before entry when ``expired``."""
    years = w.rng.randrange(1, 6)
    try:
        anniversary = issued_on.replace(year=issued_on.year + years)
    except ValueError:  # 29 February in a year that has none: the anniversary is 1 March
        anniversary = date(issued_on.year + years, 3, 1)
    valid_until = anniversary - timedelta(days=1)
    if expired:
        valid_until = entry_day - timedelta(days=w.rng.randrange(1, 30))
    return valid_until


def twov(w: World, t: Traveller) -> None:
    entry_port = w.pick(TWOV_AIRPORTS)
    assert entry_port is not None
    if t.violation is Violation.WRONG_PORT and w.ok(NOT_TWOV_AIRPORT):
        entry_port = NOT_TWOV_AIRPORT
    exit_port = w.pick(TWOV_AIRPORTS) or entry_port
    nationality = w.rng.choice(TWOV_NATIONALITIES)
    arrived_from = nationality if w.rng.random() < 0.6 else w.rng.choice(ONWARD)
    onward = w.rng.choice([c for c in ONWARD if c != arrived_from])
    # 144 h before 2024-12-17 and 240 h after: clean stays stay within the shorter limit.
    entry, exit_at = w.stay_bounds(t, limit_days=10, clean_max_days=5.5)
    planned = (
        exit_at
        if exit_at is not None and t.violation is None
        else (entry + timedelta(days=w.rng.uniform(1, 5)))
    )
    w.emit(
        t,
        w.crossing(
            t,
            entry,
            entry_port,
            Direction.ENTRY,
            nationality=nationality,
            document=Document.PASSPORT,
            channel=Channel.COUNTER,
            basis=Basis.TWOV,
            arrived_from=arrived_from,
            onward_to=onward,
            onward_departure_at=planned,
        ),
    )
    if exit_at is not None:
        w.emit(
            t,
            w.crossing(
                t,
                exit_at,
                exit_port,
                Direction.EXIT,
                nationality=nationality,
                document=Document.PASSPORT,
                channel=Channel.COUNTER,
            ),
        )


def direct_transit(w: World, t: Traveller) -> None:
    designated = since(DIRECT_TRANSIT_AIRPORTS, w.cfg.start)
    port = w.pick(designated)
    assert port is not None
    if t.violation is Violation.WRONG_PORT:
        port = w.pick(NOT_DIRECT_TRANSIT_AIRPORTS) or port
    nationality = w.rng.choice(TRANSIT_NATIONALITIES)
    arrived_from = w.rng.choice([c for c in ONWARD if c != nationality] + [nationality])
    onward = w.rng.choice([c for c in ONWARD if c != arrived_from])
    hours = (
        w.rng.uniform(26, 40) if t.violation is Violation.LATE_EXIT else (w.rng.uniform(1.5, 20))
    )
    if t.violation is Violation.LATE_EXIT:
        departure = w.moment()
        arrival = departure - timedelta(hours=hours)
    else:
        arrival = w.moment()
        departure = arrival + timedelta(hours=hours)
    w.emit(
        t,
        w.crossing(
            t,
            arrival,
            port,
            Direction.AIRSIDE_ARRIVAL,
            nationality=nationality,
            document=Document.PASSPORT,
            channel=Channel.COUNTER,
            basis=Basis.DIRECT_TRANSIT,
            arrived_from=arrived_from,
            onward_to=onward,
        ),
    )
    w.emit(
        t,
        w.crossing(
            t,
            departure,
            port,
            Direction.AIRSIDE_DEPARTURE,
            nationality=nationality,
            document=Document.PASSPORT,
            channel=Channel.COUNTER,
            onward_to=onward,
        ),
    )


def foreign_visitor(w: World, t: Traveller) -> None:
    nationality = w.rng.choice(VISITOR_NATIONALITIES)
    entry, exit_at = w.stay_bounds(t, limit_days=7, clean_max_days=5)
    w.emit(
        t,
        w.crossing(
            t,
            entry,
            HK_AIRPORT,
            Direction.ENTRY,
            nationality=nationality,
            document=Document.PASSPORT,
            channel=Channel.COUNTER,
            basis=Basis.VISITOR,
            arrived_from=nationality,
        ),
    )
    if exit_at is not None:
        w.emit(
            t,
            w.crossing(
                t,
                exit_at,
                HK_AIRPORT,
                Direction.EXIT,
                nationality=nationality,
                document=Document.PASSPORT,
                channel=Channel.COUNTER,
                onward_to=w.rng.choice(ONWARD[:3]),
            ),
        )


def hetao(w: World, t: Traveller) -> None:
    entry, exit_at = w.stay_bounds(t, limit_days=7, clean_max_days=3)
    entry_day = entry.astimezone(LOCAL).date()
    registered_on = entry_day - timedelta(days=w.rng.randrange(5, 90))
    w.emit(
        t,
        PreRegistrationRecorded(
            event_id=w.event_id(),
            traveller_id=t.traveller_id,
            occurred_at=local_instant(registered_on, 9 * 3600 + w.rng.random() * 9 * 3600),
            zone=Zone.HETAO,
            valid_from=registered_on,
            valid_until=registered_on + timedelta(days=365),
            granted=True,
        ),
    )
    w.home_entry(t, entry, HETAO_PAIR[0], "CHN", Document.EEP)
    contactless = (Channel.CONTACTLESS, Channel.CONTACTLESS)
    w.land_trip(t, HETAO_PAIR, entry, outbound=True, basis=Basis.BUSINESS, channels=contactless)
    if exit_at is not None:
        w.land_trip(
            t, HETAO_PAIR, exit_at, outbound=False, basis=Basis.RESIDENT, channels=contactless
        )


def duplicate(w: World, t: Traveller) -> None:
    """The same event delivered twice, or a second record of the same passage."""
    candidates = in_window_crossings(w, t) or [
        i for i, (_, e) in enumerate(t.events) if isinstance(e, CrossingRecorded)
    ]
    arrival, event = t.events[w.rng.choice(candidates)]
    again = arrival + w.minutes(0.05, 30)
    if w.rng.random() < 0.5:
        t.events.append((again, event))  # exact redelivery: same event_id
    else:
        twin = dataclasses.replace(event, event_id=w.event_id())
        t.events.append((again, twin))  # suspected duplicate: new event_id, same passage


def out_of_order(w: World, t: Traveller) -> None:
    """Deliver the traveller's first in-window event after their last one."""
    idx = in_window_crossings(w, t)
    if len(idx) < 2:
        return
    first, last = idx[0], idx[-1]
    late = t.events[last][0] + w.minutes(1, 90)
    t.events[first] = (late, t.events[first][1])


def in_window_crossings(w: World, t: Traveller) -> list[int]:
    return [
        i
        for i, (_, e) in enumerate(t.events)
        if isinstance(e, CrossingRecorded) and e.occurred_at >= w.start
    ]
