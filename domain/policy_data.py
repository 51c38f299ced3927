"""A :class:`~domain.policy.Policy` from plain data (a decoded policy document), validated.

Every key is checked for presence and type; malformed data raises :class:`PolicyError` naming the
offending key, through the field checks events use too (:mod:`domain.fields`). Reading and decoding
the file is the caller's job (:mod:`streams.policy_file`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from enum import StrEnum
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from base.errors import PolicyError
from domain.decisions import Code, Severity
from domain.fields import (
    require_alpha3,
    require_date,
    require_int,
    require_list,
    require_mapping,
    require_member,
    require_text,
)
from domain.policy import (
    Counting,
    DateRange,
    Designation,
    NationalityChange,
    Policy,
    Port,
    RegionGrant,
    RuleKind,
    RuleVersion,
    Settings,
)

_E = TypeVar("_E", bound=StrEnum)


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


def _fail(where: str, reason: str) -> PolicyError:
    return PolicyError(f"{where}: {reason}")


def _obj(value: Any, where: str) -> Mapping[str, Any]:
    return require_mapping(value, where, _fail)


def _list(value: Any, where: str) -> list[Any]:
    return require_list(value, where, _fail)


def _str(value: Any, where: str) -> str:
    return require_text(value, where, _fail, blank_ok=True)


def _int(value: Any, where: str) -> int:
    return require_int(value, where, _fail, minimum=0)


def _opt_date(value: Any, where: str) -> date | None:
    if value is None:
        return None
    if not isinstance(value, str):  # a policy document is JSON: its dates are text
        raise _fail(where, "expected a YYYY-MM-DD date or null")
    return require_date(value, where, _fail)


def _tz(value: Any, where: str) -> ZoneInfo:
    name = _str(value, where)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise PolicyError(f"{where}: unknown IANA time zone {name!r}") from e


def _alpha3_list(value: Any, where: str) -> list[str]:
    return [require_alpha3(item, where, _fail) for item in _list(value, where)]


def _enum(enum: type[_E], value: Any, where: str) -> _E:
    return require_member(enum, value, where, _fail)
