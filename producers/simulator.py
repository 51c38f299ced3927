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

from collections.abc import Iterator
from datetime import datetime, timedelta

from domain.events import Event, GateHeartbeat
from producers.itineraries import (
    direct_transit,
    duplicate,
    foreign_visitor,
    hetao,
    hk_resident,
    mainland_visitor,
    out_of_order,
    talent,
    twov,
)
from producers.sim_config import (
    PROFILE_WEIGHTS,
    VIOLATION_PROFILES,
    Profile,
    Simulation,
    SimulationConfig,
    SimulationError,
    Violation,
)
from producers.sim_world import Traveller, World
from producers.traffic_tables import (
    DIRECT_TRANSIT_AIRPORTS,
    HETAO_PAIR,
    HK_AIRPORT,
    HK_LAND_PAIRS,
    LOCAL,
    MO_LAND_PAIRS,
    TWOV_AIRPORTS,
    TWOV_NATIONALITIES,
    all_ports,
    since,
)

__all__ = [
    "HK_LAND_PAIRS",
    "LOCAL",
    "TWOV_AIRPORTS",
    "TWOV_NATIONALITIES",
    "Profile",
    "Simulation",
    "SimulationConfig",
    "SimulationError",
    "Violation",
    "all_ports",
    "simulate",
]


def simulate(config: SimulationConfig) -> Simulation:
    """Run the simulation: deterministic for a given configuration."""
    return _Run(config).run()


class _Run(World):
    """One run: makes the travellers, builds their itineraries, adds the heartbeats, orders all."""

    def run(self) -> Simulation:
        n = self.cfg.travellers
        violators = set(self.rng.sample(range(n), round(self.cfg.violation_share * n)))
        kinds = list(Violation)
        available = self.available_profiles()
        if not available:
            raise SimulationError("no traveller profile can run with the chosen ports")
        travellers: list[Traveller] = []
        for i in range(n):
            violation = kinds[self.rng.randrange(len(kinds))] if i in violators else None
            choices = available
            if violation is not None:
                fitting = [p for p in VIOLATION_PROFILES[violation] if p in available]
                if not fitting:
                    violation = Violation.DUPLICATE  # applies to any profile with a crossing
                    fitting = list(available)
                choices = fitting
            weights = [PROFILE_WEIGHTS[p] for p in choices]
            profile = self.rng.choices(choices, weights=weights)[0]
            t = Traveller(f"trv-{self.rng.getrandbits(64):016x}", profile, violation)
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
        if any(self.ok(p) for p in since(DIRECT_TRANSIT_AIRPORTS, on)):
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

    def build(self, t: Traveller) -> None:
        builder = {
            Profile.MAINLAND_VISITOR: mainland_visitor,
            Profile.HK_RESIDENT_SMART: hk_resident,
            Profile.TALENT: talent,
            Profile.TWOV: twov,
            Profile.DIRECT_TRANSIT: direct_transit,
            Profile.FOREIGN_VISITOR: foreign_visitor,
            Profile.HETAO: hetao,
        }[t.profile]
        builder(self, t)
        self.finish(t)

    def finish(self, t: Traveller) -> None:
        """Drop events after the window, then apply delivery faults."""
        t.events = [(a, e) for a, e in t.events if e.occurred_at < self.end]
        t.events.sort(key=lambda ae: ae[0])
        if t.violation is Violation.DUPLICATE:
            duplicate(self, t)
        elif t.violation is Violation.OUT_OF_ORDER:
            out_of_order(self, t)
