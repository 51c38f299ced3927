"""A seeded, deterministic traffic simulator: realistic days of border events with injected faults.

Given a start date, a number of days and travellers, and a seed, :func:`simulate` produces the
domain events a set of ports and issuing authorities would send, in ARRIVAL order (the order a
consumer sees them), plus the ground truth of which travellers were given which violation. Only
``random.Random(seed)`` drives it (no wall clock, no global randomness), so the same configuration
gives the same events, event ids included.

The shape follows DOMAIN.md: a diurnal curve in local time; land crossings between the Mainland and
Hong Kong or Macao as an exit record plus an entry record a few minutes apart; Hong Kong residents
on Mainland smart lanes (with consent and a birth date); Mainland visitors and business travellers;
talent-endorsement holders (permits issued before use, in covered regions); TWOV travellers from
eligible nationalities through TWOV airports; airside direct transit; Hetao contactless users with
a pre-registration; and heartbeats from every port every few minutes. Travellers whose first
in-window event is leaving home get an earlier home entry, so their sequence is well formed.

``violation_share`` of the travellers get exactly one injected fault, spread over
:class:`Violation` kinds: late exits, missing exits, non-designated ports, invalid permits,
duplicates and out-of-order delivery. The reference tables here describe the simulated world; they
mirror, but deliberately do not import, the policy data the engine judges it by.
"""

from __future__ import annotations

import dataclasses
import random
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from base.errors import LedgerError
from domain.events import (
    Basis,
    BiometricConsentRecorded,
    Channel,
    CrossingRecorded,
    Direction,
    Document,
    Entries,
    Event,
    GateHeartbeat,
    PermitCategory,
    PermitIssued,
    PermitKind,
    PermitRevoked,
    PreRegistrationRecorded,
    Zone,
)

# Mainland, Hong Kong and Macao share UTC+8 without DST, so one zone serves the diurnal curve.
LOCAL = ZoneInfo("Asia/Shanghai")

# (Mainland side, other side) of each land or bridge crossing.
HK_LAND_PAIRS = (
    ("CN-LUOHU", "HK-LO-WU"),
    ("CN-FUTIAN", "HK-LOK-MA-CHAU"),
    ("CN-HUANGGANG", "HK-LOK-MA-CHAU"),
    ("CN-SHENZHEN-BAY", "HK-SHENZHEN-BAY"),
    ("CN-HZMB", "HK-HZMB"),
    ("CN-WEST-KOWLOON", "HK-WEST-KOWLOON"),
)
MO_LAND_PAIRS = (
    ("CN-GONGBEI", "MO-BORDER-GATE"),
    ("CN-HENGQIN", "MO-HENGQIN"),
    ("CN-HZMB", "MO-HZMB"),
)
HETAO_PAIR = ("CN-HETAO-BRIDGE", "HK-HETAO-BRIDGE")
TWOV_AIRPORTS = (
    "PEK", "PKX", "PVG", "SHA", "CAN", "SZX", "CTU", "CKG", "XIY",
    "KMG", "XMN", "HGH", "NKG", "TSN", "SHE", "DLC", "TAO", "WUH",
)  # fmt: skip
NOT_TWOV_AIRPORT = "URC"
DIRECT_TRANSIT_AIRPORTS = (
    (date(2024, 1, 11), ("PEK", "PKX", "PVG", "HGH", "XMN", "CAN", "SZX", "TFU", "XIY")),
    (date(2025, 11, 5), ("TSN", "DLC", "NKG", "FOC", "TAO", "WUH", "NNG", "HAK", "CKG", "KMG")),
)
NOT_DIRECT_TRANSIT_AIRPORTS = ("URC", "SHE", "CTU")
SMART_PORTS = (
    (date(2024, 11, 20), ("CN-SHENZHEN-BAY", "CN-GONGBEI")),
    (
        date(2025, 11, 5),
        ("CN-HUANGGANG", "CN-LUOHU", "CN-FUTIAN", "CN-HENGQIN", "CN-HZMB"),
    ),
)
HK_AIRPORT = "HK-AIRPORT"
_TWOV_NATIONALITY_LIST = (
    "AUT BEL CZE DNK EST FIN FRA DEU GRC HUN ISL ITA LVA LTU LUX MLT NLD POL PRT SVK SVN ESP SWE "
    "CHE MCO RUS GBR IRL CYP BGR ROU UKR SRB HRV BIH MNE MKD ALB BLR NOR USA CAN BRA MEX ARG CHL "
    "AUS NZL KOR JPN SGP BRN ARE QAT"
)
TWOV_NATIONALITIES = tuple(_TWOV_NATIONALITY_LIST.split())
TRANSIT_NATIONALITIES = ("IND", "PHL", "THA", "VNM", "USA", "GBR", "AUS", "MYS", "PAK", "KEN")
VISITOR_NATIONALITIES = ("GBR", "USA", "AUS", "CAN", "JPN", "KOR", "SGP", "DEU", "FRA", "MYS")
ONWARD = ("JPN", "KOR", "SGP", "HKG", "THA", "USA", "GBR", "AUS", "MAC", "TWN", "VNM", "MYS")
TALENT_REGIONS = (
    (
        date(2023, 2, 20),
        tuple(f"CN-GD-{c}" for c in ("GZ", "SZ", "ZH", "FS", "HZ", "DG", "ZS", "JM", "ZQ")),
    ),
    (date(2024, 5, 6), ("CN-BJ", "CN-SH")),
    (date(2025, 11, 5), ("CN-JS", "CN-ZJ", "CN-AH", "CN-TJ", "CN-HE", "FTZ-SC", "FTZ-HI")),
)
UNCOVERED_REGIONS = ("CN-XZ", "CN-QH", "CN-GS")
HETAO_TALENT_FROM = date(2025, 11, 5)
# Share of each local hour of the day in the day's crossings (night trough, morning/evening peaks).
DIURNAL = (
    1, 1, 0.5, 0.5, 0.5, 1, 3, 6, 8, 8, 7, 6, 6, 6, 6, 6, 7, 8, 9, 9, 8, 6, 4, 2,
)  # fmt: skip


class Profile(StrEnum):
    """Kinds of traveller the simulator makes, with their share of travellers."""

    MAINLAND_VISITOR = "MAINLAND_VISITOR"
    HK_RESIDENT_SMART = "HK_RESIDENT_SMART"
    TALENT = "TALENT"
    TWOV = "TWOV"
    DIRECT_TRANSIT = "DIRECT_TRANSIT"
    FOREIGN_VISITOR = "FOREIGN_VISITOR"
    HETAO = "HETAO"


PROFILE_WEIGHTS: dict[Profile, float] = {
    Profile.MAINLAND_VISITOR: 40,
    Profile.HK_RESIDENT_SMART: 22,
    Profile.TALENT: 8,
    Profile.TWOV: 10,
    Profile.DIRECT_TRANSIT: 5,
    Profile.FOREIGN_VISITOR: 10,
    Profile.HETAO: 5,
}


class Violation(StrEnum):
    """A fault the simulator injects into one traveller's events."""

    LATE_EXIT = "LATE_EXIT"
    MISSING_EXIT = "MISSING_EXIT"
    WRONG_PORT = "WRONG_PORT"
    INVALID_PERMIT = "INVALID_PERMIT"
    DUPLICATE = "DUPLICATE"
    OUT_OF_ORDER = "OUT_OF_ORDER"


# Which profiles can carry each violation.
_VIOLATION_PROFILES: dict[Violation, tuple[Profile, ...]] = {
    Violation.LATE_EXIT: (
        Profile.MAINLAND_VISITOR,
        Profile.TWOV,
        Profile.TALENT,
        Profile.FOREIGN_VISITOR,
        Profile.DIRECT_TRANSIT,
    ),
    Violation.MISSING_EXIT: (
        Profile.MAINLAND_VISITOR,
        Profile.TWOV,
        Profile.TALENT,
        Profile.FOREIGN_VISITOR,
    ),
    Violation.WRONG_PORT: (Profile.TWOV, Profile.DIRECT_TRANSIT),
    Violation.INVALID_PERMIT: (Profile.TALENT,),
    Violation.DUPLICATE: (Profile.MAINLAND_VISITOR, Profile.HK_RESIDENT_SMART, Profile.TWOV),
    Violation.OUT_OF_ORDER: (Profile.MAINLAND_VISITOR, Profile.HK_RESIDENT_SMART),
}


class SimulationError(LedgerError):
    """The simulation was configured with impossible values."""


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    """What to simulate. ``ports`` restricts crossings and heartbeats to those codes."""

    start: date
    days: int = 1
    travellers: int = 2000
    seed: int = 7
    violation_share: float = 0.0
    ports: frozenset[str] | None = None
    heartbeat_minutes: int = 5

    def __post_init__(self) -> None:
        if self.days < 1:
            raise SimulationError(f"days must be at least 1, got {self.days}")
        if self.travellers < 0:
            raise SimulationError(f"travellers must not be negative, got {self.travellers}")
        if not 0.0 <= self.violation_share <= 1.0:
            raise SimulationError(f"violation share must be in 0..1, got {self.violation_share}")
        if self.heartbeat_minutes < 1:
            raise SimulationError("heartbeat_minutes must be at least 1")
        if self.ports is not None:
            unknown = sorted(self.ports - all_ports())
            if unknown:
                raise SimulationError(f"unknown port(s): {', '.join(unknown)}")


@dataclass(frozen=True, slots=True)
class Simulation:
    """The events in arrival order and the ground truth of injected violations."""

    events: tuple[Event, ...]
    violations: dict[str, Violation] = field(default_factory=dict)
    profiles: dict[str, Profile] = field(default_factory=dict)


def all_ports() -> frozenset[str]:
    """Every port code the simulator can use."""
    ports: set[str] = {HK_AIRPORT, NOT_TWOV_AIRPORT, *TWOV_AIRPORTS, *NOT_DIRECT_TRANSIT_AIRPORTS}
    for pair in (*HK_LAND_PAIRS, *MO_LAND_PAIRS, HETAO_PAIR):
        ports.update(pair)
    for _, codes in DIRECT_TRANSIT_AIRPORTS:
        ports.update(codes)
    return frozenset(ports)


def simulate(config: SimulationConfig) -> Simulation:
    """Run the simulation: deterministic for a given configuration."""
    return _World(config).run()


def _local(day: date, seconds: float) -> datetime:
    """Local wall-clock second ``seconds`` of ``day``, as a UTC instant with ms precision."""
    naive_midnight = datetime.combine(day, time(0))
    local = naive_midnight.replace(tzinfo=LOCAL) + timedelta(seconds=seconds)
    utc = local.astimezone(UTC)
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


_INSTANT_FIELDS = ("occurred_at", "onward_departure_at", "permitted_until")


def _ms(value: datetime) -> datetime:
    """``value`` truncated to milliseconds, the contract's precision."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _to_millis(event: Event) -> Event:
    """The event with its instants truncated to milliseconds, the contract's precision."""
    changes = {}
    for name in _INSTANT_FIELDS:
        value = getattr(event, name, None)
        if value is not None and value.microsecond % 1000:
            changes[name] = value.replace(microsecond=value.microsecond // 1000 * 1000)
    return dataclasses.replace(event, **changes) if changes else event


def _since(table: Sequence[tuple[date, tuple[str, ...]]], on: date) -> tuple[str, ...]:
    return tuple(code for since, codes in table if since <= on for code in codes)


@dataclass(slots=True)
class _Traveller:
    traveller_id: str
    profile: Profile
    violation: Violation | None
    events: list[tuple[datetime, Event]] = field(default_factory=list)  # (arrival, event)


class _World:
    """All mutable simulation state; one instance per run."""

    def __init__(self, config: SimulationConfig) -> None:
        self.cfg = config
        self.rng = random.Random(config.seed)
        self.start = _local(config.start, 0)
        self.end = _local(config.start + timedelta(days=config.days), 0)
        self.allowed = config.ports

    # --- helpers ---------------------------------------------------------------------------------

    def event_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def ok(self, *ports: str) -> bool:
        return self.allowed is None or all(p in self.allowed for p in ports)

    def pick(self, options: Sequence[str]) -> str | None:
        usable = [p for p in options if self.ok(p)]
        return self.rng.choice(usable) if usable else None

    def pick_pair(self, pairs: Sequence[tuple[str, str]]) -> tuple[str, str] | None:
        usable = [p for p in pairs if self.ok(*p)]
        return self.rng.choice(usable) if usable else None

    def moment(self, earliest: datetime | None = None, latest_margin_h: float = 0.0) -> datetime:
        """A diurnal-weighted instant inside the window (``latest_margin_h`` before its end)."""
        span_days = self.cfg.days
        for _ in range(50):
            day = self.cfg.start + timedelta(days=self.rng.randrange(span_days))
            hour = self.rng.choices(range(24), weights=DIURNAL)[0]
            at = _local(day, hour * 3600 + self.rng.random() * 3600)
            if (earliest is None or at >= earliest) and at <= self.end - timedelta(
                hours=latest_margin_h
            ):
                return at
        return max(self.start, (earliest or self.start))

    def minutes(self, lo: float, hi: float) -> timedelta:
        return timedelta(seconds=round(self.rng.uniform(lo * 60, hi * 60), 3))

    def crossing(
        self, t: _Traveller, at: datetime, port: str, direction: Direction, **fields: object
    ) -> CrossingRecorded:
        departure = fields.get("onward_departure_at")
        if isinstance(departure, datetime):
            fields["onward_departure_at"] = _ms(departure)
        event = CrossingRecorded(
            event_id=self.event_id(),
            traveller_id=t.traveller_id,
            occurred_at=_ms(at),
            port=port,
            direction=direction,
            gate_id=f"G{self.rng.randrange(1, 25):02d}",
            **fields,  # type: ignore[arg-type]
        )
        return event

    def emit(self, t: _Traveller, event: Event, delay: timedelta | None = None) -> None:
        """Record ``event`` with its arrival (occurred_at plus a small transport latency)."""
        event = _to_millis(event)
        latency = delay if delay is not None else self.minutes(0.01, 0.5)
        t.events.append((event.occurred_at + latency, event))

    # --- run -------------------------------------------------------------------------------------

    def run(self) -> Simulation:
        n = self.cfg.travellers
        violators = set(self.rng.sample(range(n), round(self.cfg.violation_share * n)))
        kinds = list(Violation)
        available = self.available_profiles()
        if not available:
            raise SimulationError("no traveller profile can run with the chosen ports")
        travellers: list[_Traveller] = []
        for i in range(n):
            violation = kinds[self.rng.randrange(len(kinds))] if i in violators else None
            choices = available
            if violation is not None:
                fitting = [p for p in _VIOLATION_PROFILES[violation] if p in available]
                if not fitting:
                    violation = Violation.DUPLICATE  # applies to any profile with a crossing
                    fitting = list(available)
                choices = fitting
            weights = [PROFILE_WEIGHTS[p] for p in choices]
            profile = self.rng.choices(choices, weights=weights)[0]
            t = _Traveller(f"trv-{self.rng.getrandbits(64):016x}", profile, violation)
            self.build(t)
            travellers.append(t)
        arrivals: list[tuple[datetime, int, Event]] = []
        seq = 0
        for t in travellers:
            for arrival, event in t.events:
                arrivals.append((arrival, seq, event))
                seq += 1
        for hb in self.heartbeats():
            arrivals.append((hb.occurred_at, seq, hb))
            seq += 1
        arrivals.sort(key=lambda a: (a[0], a[1]))
        return Simulation(
            events=tuple(e for _, _, e in arrivals),
            violations={t.traveller_id: t.violation for t in travellers if t.violation},
            profiles={t.traveller_id: t.profile for t in travellers},
        )

    def available_profiles(self) -> list[Profile]:
        on = self.cfg.start
        ports = {
            Profile.MAINLAND_VISITOR: [*HK_LAND_PAIRS, *MO_LAND_PAIRS],
            Profile.HK_RESIDENT_SMART: HK_LAND_PAIRS,
            Profile.TALENT: [*HK_LAND_PAIRS, *MO_LAND_PAIRS],
            Profile.HETAO: [HETAO_PAIR],
        }
        out = [p for p, pairs in ports.items() if any(self.ok(*pair) for pair in pairs)]
        if any(self.ok(p) for p in TWOV_AIRPORTS):
            out.append(Profile.TWOV)
        if any(self.ok(p) for p in _since(DIRECT_TRANSIT_AIRPORTS, on)):
            out.append(Profile.DIRECT_TRANSIT)
        if self.ok(HK_AIRPORT):
            out.append(Profile.FOREIGN_VISITOR)
        return sorted(out, key=list(Profile).index)

    def heartbeats(self) -> Iterator[GateHeartbeat]:
        ports = sorted(all_ports() if self.allowed is None else self.allowed)
        step = timedelta(minutes=self.cfg.heartbeat_minutes)
        at = self.start + step
        while at <= self.end:
            for port in ports:
                yield GateHeartbeat(event_id=self.event_id(), occurred_at=at, port=port)
            at += step

    def build(self, t: _Traveller) -> None:
        builder = {
            Profile.MAINLAND_VISITOR: self.mainland_visitor,
            Profile.HK_RESIDENT_SMART: self.hk_resident,
            Profile.TALENT: self.talent,
            Profile.TWOV: self.twov,
            Profile.DIRECT_TRANSIT: self.direct_transit,
            Profile.FOREIGN_VISITOR: self.foreign_visitor,
            Profile.HETAO: self.hetao,
        }[t.profile]
        builder(t)
        self.finish(t)

    def finish(self, t: _Traveller) -> None:
        """Drop events after the window, then apply delivery faults."""
        t.events = [(a, e) for a, e in t.events if e.occurred_at < self.end]
        t.events.sort(key=lambda ae: ae[0])
        if t.violation is Violation.DUPLICATE:
            self.duplicate(t)
        elif t.violation is Violation.OUT_OF_ORDER:
            self.out_of_order(t)

    # --- stay lengths ----------------------------------------------------------------------------

    def stay_bounds(
        self, t: _Traveller, limit_days: int, clean_max_days: float, entry_margin_h: float = 4.0
    ) -> tuple[datetime, datetime | None]:
        """(entry, exit or None) for a trip with the traveller's violation, if any, applied."""
        if t.violation is Violation.LATE_EXIT:
            exit_at = self.moment()
            stay = timedelta(days=limit_days + 1 + self.rng.uniform(1, 3))
            return exit_at - stay, exit_at
        if t.violation is Violation.MISSING_EXIT:
            seen = self.moment()
            return seen - timedelta(days=limit_days + 1 + self.rng.uniform(1, 3)), None
        if t.violation in (Violation.OUT_OF_ORDER, Violation.DUPLICATE):
            entry = self.moment(latest_margin_h=min(12.0, self.cfg.days * 24 / 2))
            return entry, entry + self.minutes(60, 360)
        entry = self.moment(latest_margin_h=entry_margin_h)
        stay = timedelta(days=self.rng.uniform(0.05, clean_max_days))
        return entry, entry + stay

    # --- profiles --------------------------------------------------------------------------------

    def home_entry(
        self, t: _Traveller, before: datetime, port: str, nationality: str, document: Document
    ) -> None:
        """The traveller's last return home, seen before they leave (so the exit is not orphan)."""
        at = before - timedelta(days=self.rng.uniform(2, 60))
        self.emit(
            t,
            self.crossing(
                t,
                at,
                port,
                Direction.ENTRY,
                nationality=nationality,
                document=document,
                channel=Channel.COUNTER,
                basis=Basis.RESIDENT,
            ),
        )

    def land_trip(
        self,
        t: _Traveller,
        pair: tuple[str, str],
        at: datetime,
        *,
        outbound: bool,
        basis: Basis,
        docs: tuple[Document, Document] = (Document.EEP, Document.EEP),
        channels: tuple[Channel, Channel] = (Channel.COUNTER, Channel.COUNTER),
        **entry_fields: object,
    ) -> None:
        """One physical crossing: exit from one side, entry into the other a few minutes later.

        ``pair`` is (Mainland port, other port); ``outbound`` means leaving the Mainland. ``docs``
        and ``channels`` are (exit, entry); the traveller is a Chinese citizen.
        """
        nationality = "CHN"
        exit_doc, entry_doc = docs
        exit_channel, entry_channel = channels
        entry_basis = basis
        cn, other = pair
        exit_port, entry_port = (cn, other) if outbound else (other, cn)
        self.emit(
            t,
            self.crossing(
                t,
                at,
                exit_port,
                Direction.EXIT,
                nationality=nationality,
                document=exit_doc,
                channel=exit_channel,
            ),
        )
        entered = at + self.minutes(3, 25)
        self.emit(
            t,
            self.crossing(
                t,
                entered,
                entry_port,
                Direction.ENTRY,
                nationality=nationality,
                document=entry_doc,
                channel=entry_channel,
                basis=entry_basis,
                **entry_fields,
            ),
        )

    def mainland_visitor(self, t: _Traveller) -> None:
        to_hk = self.rng.random() < 0.75 and any(self.ok(*p) for p in HK_LAND_PAIRS)
        pair = self.pick_pair(HK_LAND_PAIRS if to_hk else MO_LAND_PAIRS) or self.pick_pair(
            [*HK_LAND_PAIRS, *MO_LAND_PAIRS]
        )
        assert pair is not None
        basis = Basis.BUSINESS if self.rng.random() < 0.3 else Basis.VISITOR
        if t.violation in (Violation.LATE_EXIT, Violation.MISSING_EXIT):
            basis = Basis.VISITOR
        entry, exit_at = self.stay_bounds(t, limit_days=7, clean_max_days=5)
        self.home_entry(t, entry, pair[0], "CHN", Document.EEP)
        self.land_trip(t, pair, entry, outbound=True, basis=basis)
        if exit_at is not None:
            self.land_trip(t, pair, exit_at, outbound=False, basis=Basis.RESIDENT)

    def hk_resident(self, t: _Traveller) -> None:
        pair = self.pick_pair(HK_LAND_PAIRS)
        assert pair is not None
        entry, exit_at = self.stay_bounds(t, limit_days=7, clean_max_days=3)
        smart_ports = _since(SMART_PORTS, entry.astimezone(LOCAL).date())
        smart = pair[0] in smart_ports
        birth = date(
            self.rng.randrange(1950, 2006), self.rng.randrange(1, 13), self.rng.randrange(1, 29)
        )
        if smart:
            consent_at = entry - timedelta(days=self.rng.uniform(1, 300))
            self.emit(
                t,
                BiometricConsentRecorded(
                    event_id=self.event_id(),
                    traveller_id=t.traveller_id,
                    occurred_at=_ms(consent_at),
                    granted=True,
                ),
            )
        channel = Channel.SMART if smart else Channel.COUNTER
        self.home_entry(t, entry, pair[1], "CHN", Document.HKID)
        self.land_trip(
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
            self.emit(
                t,
                self.crossing(
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
            self.emit(
                t,
                self.crossing(
                    t,
                    exit_port_at + self.minutes(3, 25),
                    pair[1],
                    Direction.ENTRY,
                    nationality="CHN",
                    document=Document.HKID,
                    channel=Channel.COUNTER,
                    basis=Basis.RESIDENT,
                ),
            )

    def talent(self, t: _Traveller) -> None:
        to_hk = self.rng.random() < 0.8
        pair = self.pick_pair(HK_LAND_PAIRS if to_hk else MO_LAND_PAIRS) or self.pick_pair(
            [*HK_LAND_PAIRS, *MO_LAND_PAIRS]
        )
        assert pair is not None
        destination = "HK" if pair[1].startswith("HK-") else "MO"
        entry, exit_at = self.stay_bounds(t, limit_days=30, clean_max_days=20)
        entry_day = entry.astimezone(LOCAL).date()
        permit_id = f"TAL-{self.rng.getrandbits(40):010x}"
        fault = self.rng.choice(("revoked", "region", "expired"))
        invalid = t.violation is Violation.INVALID_PERMIT
        issued_on = entry_day - timedelta(days=self.rng.randrange(20, 300))
        if invalid and fault == "expired":
            issued_on = entry_day - timedelta(days=self.rng.randrange(400, 800))
        covered = _since(TALENT_REGIONS, issued_on) or TALENT_REGIONS[0][1]
        region = self.rng.choice(covered)
        kind = PermitKind.TALENT
        if issued_on >= HETAO_TALENT_FROM and self.rng.random() < 0.2:
            kind, region = PermitKind.HETAO_TALENT, "CN-GD-SZ"
        if invalid and fault == "region":
            kind, region = PermitKind.TALENT, self.rng.choice(UNCOVERED_REGIONS)
        years = self.rng.randrange(1, 6)
        try:
            anniversary = issued_on.replace(year=issued_on.year + years)
        except ValueError:  # 29 February in a year that has none: the anniversary is 1 March
            anniversary = date(issued_on.year + years, 3, 1)
        valid_until = anniversary - timedelta(days=1)
        if invalid and fault == "expired":
            valid_until = entry_day - timedelta(days=self.rng.randrange(1, 30))
        destinations = ("HK", "MO") if self.rng.random() < 0.5 else (destination,)
        issued_at = _local(issued_on, 10 * 3600 + self.rng.random() * 6 * 3600)
        self.emit(
            t,
            PermitIssued(
                event_id=self.event_id(),
                traveller_id=t.traveller_id,
                occurred_at=issued_at,
                permit_id=permit_id,
                kind=kind,
                issued_in=region,
                destinations=destinations,
                valid_from=issued_on,
                valid_until=valid_until,
                entries=Entries.MULTIPLE,
                category=self.rng.choice(list(PermitCategory)),
            ),
        )
        if invalid and fault == "revoked":
            revoked_at = issued_at + (entry - issued_at) * self.rng.uniform(0.3, 0.9)
            self.emit(
                t,
                PermitRevoked(
                    event_id=self.event_id(),
                    traveller_id=t.traveller_id,
                    occurred_at=_ms(revoked_at),
                    permit_id=permit_id,
                ),
            )
        self.home_entry(t, entry, pair[0], "CHN", Document.EEP)
        self.land_trip(t, pair, entry, outbound=True, basis=Basis.TALENT, permit_id=permit_id)
        if exit_at is not None:
            self.land_trip(t, pair, exit_at, outbound=False, basis=Basis.RESIDENT)

    def twov(self, t: _Traveller) -> None:
        entry_port = self.pick(TWOV_AIRPORTS)
        assert entry_port is not None
        if t.violation is Violation.WRONG_PORT and self.ok(NOT_TWOV_AIRPORT):
            entry_port = NOT_TWOV_AIRPORT
        exit_port = self.pick(TWOV_AIRPORTS) or entry_port
        nationality = self.rng.choice(TWOV_NATIONALITIES)
        arrived_from = nationality if self.rng.random() < 0.6 else self.rng.choice(ONWARD)
        onward = self.rng.choice([c for c in ONWARD if c != arrived_from])
        # 144 h before 2024-12-17 and 240 h after: clean stays stay within the shorter limit.
        entry, exit_at = self.stay_bounds(t, limit_days=10, clean_max_days=5.5)
        planned = (
            exit_at
            if exit_at is not None and t.violation is None
            else (entry + timedelta(days=self.rng.uniform(1, 5)))
        )
        self.emit(
            t,
            self.crossing(
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
            self.emit(
                t,
                self.crossing(
                    t,
                    exit_at,
                    exit_port,
                    Direction.EXIT,
                    nationality=nationality,
                    document=Document.PASSPORT,
                    channel=Channel.COUNTER,
                ),
            )

    def direct_transit(self, t: _Traveller) -> None:
        designated = _since(DIRECT_TRANSIT_AIRPORTS, self.cfg.start)
        port = self.pick(designated)
        assert port is not None
        if t.violation is Violation.WRONG_PORT:
            port = self.pick(NOT_DIRECT_TRANSIT_AIRPORTS) or port
        nationality = self.rng.choice(TRANSIT_NATIONALITIES)
        arrived_from = self.rng.choice([c for c in ONWARD if c != nationality] + [nationality])
        onward = self.rng.choice([c for c in ONWARD if c != arrived_from])
        hours = (
            self.rng.uniform(26, 40)
            if t.violation is Violation.LATE_EXIT
            else (self.rng.uniform(1.5, 20))
        )
        if t.violation is Violation.LATE_EXIT:
            departure = self.moment()
            arrival = departure - timedelta(hours=hours)
        else:
            arrival = self.moment()
            departure = arrival + timedelta(hours=hours)
        self.emit(
            t,
            self.crossing(
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
        self.emit(
            t,
            self.crossing(
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

    def foreign_visitor(self, t: _Traveller) -> None:
        nationality = self.rng.choice(VISITOR_NATIONALITIES)
        entry, exit_at = self.stay_bounds(t, limit_days=7, clean_max_days=5)
        self.emit(
            t,
            self.crossing(
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
            self.emit(
                t,
                self.crossing(
                    t,
                    exit_at,
                    HK_AIRPORT,
                    Direction.EXIT,
                    nationality=nationality,
                    document=Document.PASSPORT,
                    channel=Channel.COUNTER,
                    onward_to=self.rng.choice(ONWARD[:3]),
                ),
            )

    def hetao(self, t: _Traveller) -> None:
        entry, exit_at = self.stay_bounds(t, limit_days=7, clean_max_days=3)
        entry_day = entry.astimezone(LOCAL).date()
        registered_on = entry_day - timedelta(days=self.rng.randrange(5, 90))
        self.emit(
            t,
            PreRegistrationRecorded(
                event_id=self.event_id(),
                traveller_id=t.traveller_id,
                occurred_at=_local(registered_on, 9 * 3600 + self.rng.random() * 9 * 3600),
                zone=Zone.HETAO,
                valid_from=registered_on,
                valid_until=registered_on + timedelta(days=365),
                granted=True,
            ),
        )
        self.home_entry(t, entry, HETAO_PAIR[0], "CHN", Document.EEP)
        contactless = (Channel.CONTACTLESS, Channel.CONTACTLESS)
        self.land_trip(
            t, HETAO_PAIR, entry, outbound=True, basis=Basis.BUSINESS, channels=contactless
        )
        if exit_at is not None:
            self.land_trip(
                t, HETAO_PAIR, exit_at, outbound=False, basis=Basis.RESIDENT, channels=contactless
            )

    # --- delivery faults -------------------------------------------------------------------------

    def in_window_crossings(self, t: _Traveller) -> list[int]:
        return [
            i
            for i, (_, e) in enumerate(t.events)
            if isinstance(e, CrossingRecorded) and e.occurred_at >= self.start
        ]

    def duplicate(self, t: _Traveller) -> None:
        """The same event delivered twice, or a second record of the same passage."""
        candidates = self.in_window_crossings(t) or [
            i for i, (_, e) in enumerate(t.events) if isinstance(e, CrossingRecorded)
        ]
        arrival, event = t.events[self.rng.choice(candidates)]
        again = arrival + self.minutes(0.05, 30)
        if self.rng.random() < 0.5:
            t.events.append((again, event))  # exact redelivery: same event_id
        else:
            twin = dataclasses.replace(event, event_id=self.event_id())
            t.events.append((again, twin))  # suspected duplicate: new event_id, same passage

    def out_of_order(self, t: _Traveller) -> None:
        """Deliver the traveller's first in-window event after their last one."""
        idx = self.in_window_crossings(t)
        if len(idx) < 2:
            return
        first, last = idx[0], idx[-1]
        late = t.events[last][0] + self.minutes(1, 90)
        t.events[first] = (late, t.events[first][1])
