"""What the simulator is asked for and returns: profiles, violations, configuration, result."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from base.errors import LedgerError
from domain.events import Event
from producers.traffic_tables import all_ports


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
VIOLATION_PROFILES: dict[Violation, tuple[Profile, ...]] = {
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
