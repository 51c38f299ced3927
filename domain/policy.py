"""Policy reference data: versioned, effective-dated rules that operators edit without code changes.

A :class:`Policy` is built from plain data by :mod:`domain.policy_data` (the file is read by
:mod:`streams.policy_file`) and answers the date-dependent questions the rules ask: which rule
version is in force for a basis in a jurisdiction on a local date, whether a port holds a
designation on a date, which nationalities are TWOV-eligible, which regions are covered by a
permit pilot. Every date given to it is a *local* date of a port; converting instants to local
dates is done with :func:`local_date`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from enum import StrEnum
from zoneinfo import ZoneInfo

from domain.decisions import Code, Severity


class Counting(StrEnum):
    """How an N-day limit maps to a deadline (DOMAIN.md section 4)."""

    DAY_AFTER = "day_after"  # deadline 00:00 local on D+N+1
    ENTRY_DAY_IS_DAY_1 = "entry_day_is_day_1"  # deadline 00:00 local on D+N


class RuleKind(StrEnum):
    DAYS = "days"  # N days, counted by local date
    HOURS = "hours"  # N x 24 hours, counted by local date (TWOV)
    EXACT_HOURS = "exact_hours"  # exact duration from the crossing instant (direct transit)
    OFFICER = "officer"  # the officer's permitted_until is the only deadline (VISA)
    UNLIMITED = "unlimited"  # no deadline (RESIDENT)
    ROLLING = "rolling"  # at most N days in any M-day window, both ends counted


class Designation(StrEnum):
    TWOV = "TWOV"
    DIRECT_TRANSIT = "DIRECT_TRANSIT"
    SMART_LANE = "SMART_LANE"
    CONTACTLESS = "CONTACTLESS"


@dataclass(frozen=True, slots=True)
class DateRange:
    """Inclusive local-date range; ``None`` ends are open."""

    start: date | None
    end: date | None

    def contains(self, day: date) -> bool:
        """Whether ``day`` lies within the range."""
        return (self.start is None or self.start <= day) and (self.end is None or day <= self.end)


@dataclass(frozen=True, slots=True)
class Port:
    code: str
    jurisdiction: str
    tz: ZoneInfo
    connects_to: tuple[str, ...]
    designations: Mapping[Designation, tuple[DateRange, ...]]
    # Memo of designated (a pure lookup on immutable data), filled on use; bounded by the
    # designation kinds times the local dates asked about.
    _memo: dict[tuple[Designation, date], bool] = field(
        default_factory=dict, compare=False, repr=False
    )

    def designated(self, kind: Designation, day: date) -> bool:
        """Whether the port holds designation ``kind`` on local date ``day``."""
        key = (kind, day)
        held = self._memo.get(key)
        if held is None:
            held = self._memo[key] = any(r.contains(day) for r in self.designations.get(kind, ()))
        return held


@dataclass(frozen=True, slots=True)
class RuleVersion:
    """One effective-dated version of the stay rule for a basis in some jurisdictions."""

    rule_id: str
    basis: str
    jurisdictions: tuple[str, ...]
    effective_from: date | None
    kind: RuleKind
    amount: int  # days, hours, or the N of N-in-M; 0 when unused
    window_days: int  # M of N-in-M; 0 when unused
    counting: Counting | None  # None: the policy-wide setting applies
    # The rule id with its effective date, e.g. ``TWOV-240H@2024-12-17``: formatted once, since
    # every stay's derivation asks for it (and one string object keeps its hash for the lookups
    # keyed by it).
    label: str = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        label = self.rule_id
        if self.effective_from is not None:
            label = f"{self.rule_id}@{self.effective_from.isoformat()}"
        object.__setattr__(self, "label", label)


@dataclass(frozen=True, slots=True)
class RegionGrant:
    """Regions covered by a permit pilot from a date (patterns: exact, parent, or ``FTZ-*``)."""

    effective_from: date
    regions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NationalityChange:
    effective_from: date | None
    add: frozenset[str]
    remove: frozenset[str]


@dataclass(frozen=True, slots=True)
class Settings:
    """The policy's settable choices (each one a point DOMAIN.md leaves to policy)."""

    counting: Counting
    hetao_contactless_from: date | None
    contactless_not_enabled_code: Code
    permit_issue_tz: ZoneInfo
    permit_max_validity_years: int
    smart_lane_min_age: int
    exit_before_entry_window_hours: int
    prune_horizon_days: int
    open_stay_horizon_days: int


@dataclass(frozen=True, slots=True)
class Policy:
    """Immutable policy data plus the lookups the rules need."""

    version: str
    settings: Settings
    severities: Mapping[Code, Severity]
    ports: Mapping[str, Port]
    rules: tuple[RuleVersion, ...]
    twov_nationalities: tuple[NationalityChange, ...]
    permit_regions: Mapping[str, tuple[RegionGrant, ...]]
    region_jurisdictions: Mapping[str, str]
    history_by_jurisdiction: Mapping[str, int]
    # Memos of the date-keyed lookups below (pure functions of immutable data), filled on use.
    _rules_memo: dict[tuple[str, str, date], RuleVersion | None] = field(
        default_factory=dict, compare=False, repr=False
    )
    _twov_memo: dict[tuple[str, date], bool] = field(
        default_factory=dict, compare=False, repr=False
    )
    _region_memo: dict[tuple[str, str, date], bool] = field(
        default_factory=dict, compare=False, repr=False
    )
    _deadline_memo: dict[tuple[date, int, Counting, ZoneInfo], datetime] = field(
        default_factory=dict, compare=False, repr=False
    )

    def port(self, code: str) -> Port | None:
        """The port with this code, or ``None`` if unknown."""
        return self.ports.get(code)

    def rule_for(self, basis: str, jurisdiction: str, day: date) -> RuleVersion | None:
        """The rule version in force for ``basis`` in ``jurisdiction`` on local date ``day``."""
        key = (basis, jurisdiction, day)
        memo = self._rules_memo
        if key in memo:
            return memo[key]
        best: RuleVersion | None = None
        for rule in self.rules:
            if rule.basis != basis or jurisdiction not in rule.jurisdictions:
                continue
            if rule.effective_from is not None and rule.effective_from > day:
                continue
            if best is None or _from_key(rule) > _from_key(best):
                best = rule
        memo[key] = best
        return best

    def twov_eligible(self, nationality: str, day: date) -> bool:
        """Whether ``nationality`` is on the TWOV list in force on ``day``."""
        key = (nationality, day)
        held = self._twov_memo.get(key)
        if held is None:
            held = self._twov_memo[key] = self._twov_eligible(nationality, day)
        return held

    def _twov_eligible(self, nationality: str, day: date) -> bool:
        eligible = False
        for change in self.twov_nationalities:
            if change.effective_from is not None and change.effective_from > day:
                continue
            if nationality in change.add:
                eligible = True
            if nationality in change.remove:
                eligible = False
        return eligible

    def region_covered(self, kind: str, region: str, day: date) -> bool:
        """Whether a permit of ``kind`` issued in ``region`` on ``day`` is within its pilot."""
        key = (kind, region, day)
        held = self._region_memo.get(key)
        if held is None:
            held = self._region_memo[key] = self._region_covered(kind, region, day)
        return held

    def _region_covered(self, kind: str, region: str, day: date) -> bool:
        for grant in self.permit_regions.get(kind, ()):
            if grant.effective_from <= day and any(
                region_matches(region, p) for p in grant.regions
            ):
                return True
        return False

    def history_days(self, jurisdiction: str) -> int:
        """How long closed history in ``jurisdiction`` is kept behind the watermark.

        The longest N-in-M window of the jurisdiction's rules (past stays count towards it) plus
        the retention for late events and corrections (``prune_horizon_days``).
        """
        days = self.history_by_jurisdiction.get(jurisdiction)
        return self.settings.prune_horizon_days if days is None else days

    def day_deadline(
        self, entry_day: date, days: int, counting: Counting, tz: ZoneInfo
    ) -> datetime:
        """:func:`day_limit_deadline`, memoised (many stays share an entry day and a zone)."""
        key = (entry_day, days, counting, tz)
        held = self._deadline_memo.get(key)
        if held is None:
            held = self._deadline_memo[key] = day_limit_deadline(entry_day, days, counting, tz)
        return held

    def counting_for(self, rule: RuleVersion) -> Counting:
        """The counting convention a rule uses."""
        return rule.counting or self.settings.counting


def _from_key(rule: RuleVersion) -> date:
    return rule.effective_from or date.min


def region_matches(region: str, pattern: str) -> bool:
    """``CN-GD-SZ`` matches ``CN-GD-SZ`` and ``CN-GD``; ``FTZ-SC`` matches ``FTZ-*``."""
    if pattern.endswith("*"):
        return region.startswith(pattern[:-1])
    return region == pattern or region.startswith(pattern + "-")


def local_date(instant: datetime, tz: ZoneInfo) -> date:
    """The calendar date of ``instant`` in time zone ``tz``."""
    return instant.astimezone(tz).date()


def local_midnight(day: date, tz: tzinfo) -> datetime:
    """00:00 local on ``day`` in ``tz``, as a UTC instant."""
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def day_limit_deadline(entry_day: date, days: int, counting: Counting, tz: ZoneInfo) -> datetime:
    """Deadline of an N-day stay entered on local date ``entry_day`` (DOMAIN.md section 4)."""
    offset = days + 1 if counting is Counting.DAY_AFTER else days
    return local_midnight(entry_day + timedelta(days=offset), tz)
