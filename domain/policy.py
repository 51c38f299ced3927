"""Policy reference data: versioned, effective-dated rules that operators edit without code changes.

A :class:`Policy` is loaded from JSON (by default the packaged ``streams/policy/default.json``) and
answers the date-dependent questions the rules ask: which rule version is in force for a basis in a
jurisdiction on a local date, whether a port holds a designation on a date, which nationalities are
TWOV-eligible, which regions are covered by a permit pilot. Every date given to it is a *local*
date of a port; converting instants to local dates is done with :func:`local_date`.
Malformed data raises :class:`PolicyError` naming the offending key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from base.errors import PolicyError
from domain.decisions import Code, Severity

_E = TypeVar("_E", bound=StrEnum)


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

    @property
    def label(self) -> str:
        """The rule id with its effective date, e.g. ``TWOV-240H@2024-12-17``."""
        if self.effective_from is None:
            return self.rule_id
        return f"{self.rule_id}@{self.effective_from.isoformat()}"


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


# --------------------------------------------------------------------------------------------
# Loading


def load_policy(path: Path | None = None) -> Policy:
    """Load and validate policy JSON; the packaged default when ``path`` is ``None``."""
    try:
        if path is None:
            text = resources.files("streams").joinpath("policy/default.json").read_text("utf-8")
        else:
            text = Path(path).read_text("utf-8")
    except OSError as e:
        raise PolicyError(f"policy file: cannot read {path}: {e}") from e
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise PolicyError(f"policy file: invalid JSON: {e}") from e
    return policy_from_mapping(data)


def policy_from_mapping(data: Any) -> Policy:
    """Validate a decoded policy document into a :class:`Policy`."""
    root = _obj(data, "policy")
    settings = _settings(_obj(root.get("settings"), "settings"))
    severities_raw = _obj(root.get("severities"), "severities")
    severities: dict[Code, Severity] = {}
    for code in Code:
        raw = severities_raw.get(code.value)
        severities[code] = _enum(Severity, raw, f"severities.{code.value}")
    ports = _ports(_list(root.get("ports"), "ports"))
    rules = tuple(
        _rule(_obj(r, f"rules[{i}]"), f"rules[{i}]")
        for i, r in enumerate(_list(root.get("rules"), "rules"))
    )
    nationalities = tuple(
        _nationality_change(_obj(c, f"twov_nationalities[{i}]"), f"twov_nationalities[{i}]")
        for i, c in enumerate(_list(root.get("twov_nationalities"), "twov_nationalities"))
    )
    regions_raw = _obj(root.get("permit_regions"), "permit_regions")
    permit_regions = {
        kind: tuple(
            _region_grant(_obj(g, f"permit_regions.{kind}[{i}]"), f"permit_regions.{kind}[{i}]")
            for i, g in enumerate(_list(grants, f"permit_regions.{kind}"))
        )
        for kind, grants in regions_raw.items()
    }
    region_map = {
        str(k): _str(v, f"region_jurisdictions.{k}")
        for k, v in _obj(root.get("region_jurisdictions"), "region_jurisdictions").items()
    }
    history: dict[str, int] = {}
    for rule in rules:
        for jur in rule.jurisdictions:
            window = rule.window_days if rule.kind is RuleKind.ROLLING else 0
            history[jur] = max(history.get(jur, 0), window + settings.prune_horizon_days)
    policy = Policy(
        version=_str(root.get("version"), "version"),
        settings=settings,
        severities=severities,
        ports=ports,
        rules=rules,
        twov_nationalities=nationalities,
        permit_regions=permit_regions,
        region_jurisdictions=region_map,
        history_by_jurisdiction=history,
    )
    return policy


def _settings(raw: Mapping[str, Any]) -> Settings:
    code_key = "settings.contactless_not_enabled_code"
    code = _enum(Code, raw.get("contactless_not_enabled_code"), code_key)
    return Settings(
        counting=_enum(Counting, raw.get("counting"), "settings.counting"),
        hetao_contactless_from=_opt_date(
            raw.get("hetao_contactless_from"), "settings.hetao_contactless_from"
        ),
        contactless_not_enabled_code=code,
        permit_issue_tz=_tz(raw.get("permit_issue_tz"), "settings.permit_issue_tz"),
        permit_max_validity_years=_int(
            raw.get("permit_max_validity_years"), "settings.permit_max_validity_years"
        ),
        smart_lane_min_age=_int(raw.get("smart_lane_min_age"), "settings.smart_lane_min_age"),
        exit_before_entry_window_hours=_int(
            raw.get("exit_before_entry_window_hours"), "settings.exit_before_entry_window_hours"
        ),
        prune_horizon_days=_int(raw.get("prune_horizon_days"), "settings.prune_horizon_days"),
        open_stay_horizon_days=_int(
            raw.get("open_stay_horizon_days"), "settings.open_stay_horizon_days"
        ),
    )


def _ports(raw: list[Any]) -> dict[str, Port]:
    ports: dict[str, Port] = {}
    for i, item in enumerate(raw):
        where = f"ports[{i}]"
        p = _obj(item, where)
        code = _str(p.get("code"), f"{where}.code")
        if code in ports:
            raise PolicyError(f"{where}.code: duplicate port {code!r}")
        designations: dict[Designation, tuple[DateRange, ...]] = {}
        for name, ranges in _obj(p.get("designations", {}), f"{where}.designations").items():
            key = f"{where}.designations.{name}"
            kind = _enum(Designation, name, key)
            designations[kind] = tuple(
                _range(_obj(r, f"{key}[{j}]"), f"{key}[{j}]")
                for j, r in enumerate(_list(ranges, key))
            )
        ports[code] = Port(
            code=code,
            jurisdiction=_str(p.get("jurisdiction"), f"{where}.jurisdiction"),
            tz=_tz(p.get("tz"), f"{where}.tz"),
            connects_to=tuple(
                _str(c, f"{where}.connects_to")
                for c in _list(p.get("connects_to", []), f"{where}.connects_to")
            ),
            designations=designations,
        )
    return ports


def _rule(r: Mapping[str, Any], where: str) -> RuleVersion:
    kind = _enum(RuleKind, r.get("kind"), f"{where}.kind")
    amount = 0
    window = 0
    if kind in (RuleKind.DAYS, RuleKind.ROLLING):
        amount = _int(r.get("days"), f"{where}.days")
    elif kind in (RuleKind.HOURS, RuleKind.EXACT_HOURS):
        amount = _int(r.get("hours"), f"{where}.hours")
        if kind is RuleKind.HOURS and amount % 24:
            raise PolicyError(f"{where}.hours: must be a whole number of days for kind 'hours'")
    if kind is RuleKind.ROLLING:
        window = _int(r.get("window_days"), f"{where}.window_days")
        if window < amount:
            raise PolicyError(f"{where}.window_days: shorter than days")
    counting_raw = r.get("counting")
    return RuleVersion(
        rule_id=_str(r.get("id"), f"{where}.id"),
        basis=_str(r.get("basis"), f"{where}.basis"),
        jurisdictions=tuple(
            _str(j, f"{where}.jurisdictions")
            for j in _list(r.get("jurisdictions"), f"{where}.jurisdictions")
        ),
        effective_from=_opt_date(r.get("from"), f"{where}.from"),
        kind=kind,
        amount=amount,
        window_days=window,
        counting=None
        if counting_raw is None
        else _enum(Counting, counting_raw, f"{where}.counting"),
    )


def _nationality_change(c: Mapping[str, Any], where: str) -> NationalityChange:
    return NationalityChange(
        effective_from=_opt_date(c.get("from"), f"{where}.from"),
        add=frozenset(_alpha3_list(c.get("add", []), f"{where}.add")),
        remove=frozenset(_alpha3_list(c.get("remove", []), f"{where}.remove")),
    )


def _region_grant(g: Mapping[str, Any], where: str) -> RegionGrant:
    start = _opt_date(g.get("from"), f"{where}.from")
    if start is None:
        raise PolicyError(f"{where}.from: required")
    return RegionGrant(
        effective_from=start,
        regions=tuple(
            _str(x, f"{where}.regions") for x in _list(g.get("regions"), f"{where}.regions")
        ),
    )


def _range(r: Mapping[str, Any], where: str) -> DateRange:
    start = _opt_date(r.get("from"), f"{where}.from")
    end = _opt_date(r.get("until"), f"{where}.until")
    if start and end and end < start:
        raise PolicyError(f"{where}.until: before from")
    return DateRange(start, end)


def _obj(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise PolicyError(f"{where}: expected an object")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise PolicyError(f"{where}: expected a list")
    return value


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise PolicyError(f"{where}: expected a non-empty string")
    return value


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PolicyError(f"{where}: expected a non-negative integer")
    return value


def _opt_date(value: Any, where: str) -> date | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise PolicyError(f"{where}: expected a YYYY-MM-DD date or null")
    try:
        return date.fromisoformat(value)
    except ValueError as e:
        raise PolicyError(f"{where}: not a date: {value!r}") from e


def _tz(value: Any, where: str) -> ZoneInfo:
    name = _str(value, where)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise PolicyError(f"{where}: unknown IANA time zone {name!r}") from e


def _alpha3_list(value: Any, where: str) -> list[str]:
    items = _list(value, where)
    for item in items:
        if not (isinstance(item, str) and len(item) == 3 and item.isalpha() and item.isupper()):
            raise PolicyError(f"{where}: {item!r} is not an alpha-3 code")
    return items


def _enum(enum: type[_E], value: Any, where: str) -> _E:
    try:
        return enum(value)
    except ValueError as e:
        allowed = ", ".join(m.value for m in enum)
        raise PolicyError(f"{where}: {value!r} is not one of {allowed}") from e
