"""Field checks: the one small toolkit both validators of plain data use.

Events (:mod:`domain.event_data`) and the policy (:mod:`domain.policy_data`) arrive as decoded
JSON or Avro values. Each check takes the value and the field's name (a dotted path for nested
policy keys), returns the typed value, or raises ``fail(field, reason)``: an
:class:`~base.errors.InvalidEventError` for an event, a :class:`~base.errors.PolicyError` for the
policy. So a check says the same thing whichever document it guards.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from enum import StrEnum
from typing import Any, TypeVar

Fail = Callable[[str, str], Exception]
E = TypeVar("E", bound=StrEnum)


def is_alpha3(value: object) -> bool:
    """An ISO 3166-1 alpha-3 code: three upper-case letters."""
    return isinstance(value, str) and len(value) == 3 and value.isalpha() and value.isupper()


def require_text(value: object, field: str, fail: Fail, *, blank_ok: bool = False) -> str:
    """A non-empty string (``blank_ok``: one of blanks only is accepted too)."""
    if not isinstance(value, str) or not (value if blank_ok else value.strip()):
        raise fail(field, "expected a non-empty string")
    return value


def require_alpha3(value: object, field: str, fail: Fail) -> str:
    """An ISO 3166-1 alpha-3 code such as ``CHN``."""
    if not is_alpha3(value):
        raise fail(field, f"expected an ISO 3166-1 alpha-3 code, got {value!r}")
    return value  # type: ignore[return-value]  # is_alpha3 checked it is a str


def require_int(value: object, field: str, fail: Fail, *, minimum: int) -> int:
    """An integer (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(field, f"expected an integer, got {value!r}")
    if value < minimum:
        kind = {0: "non-negative", 1: "positive"}.get(minimum, f"at least {minimum} as")
        raise fail(field, f"expected a {kind} integer, got {value}")
    return value


def require_bool(value: object, field: str, fail: Fail) -> bool:
    """``true`` or ``false`` (not 0 or 1)."""
    if not isinstance(value, bool):
        raise fail(field, f"expected true or false, got {value!r}")
    return value


def require_member(enum: type[E], value: object, field: str, fail: Fail) -> E:
    """The member of ``enum`` whose value is the string ``value``."""
    if not isinstance(value, str):
        raise fail(field, f"expected a string, got {type(value).__name__}")
    try:
        return enum(value)
    except ValueError as e:
        allowed = ", ".join(m.value for m in enum)
        raise fail(field, f"{value!r} is not one of {allowed}") from e


def require_date(value: object, field: str, fail: Fail) -> date:
    """A calendar date from ``YYYY-MM-DD`` or a ``date`` (but not a ``datetime``)."""
    if isinstance(value, datetime):
        raise fail(field, "expected a date, got a timestamp")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError as e:
            raise fail(field, f"not an ISO-8601 date: {value!r}") from e
    raise fail(field, f"expected a date, got {type(value).__name__}")


def require_mapping(value: object, field: str, fail: Fail) -> Mapping[str, Any]:
    """A JSON object."""
    if not isinstance(value, dict):
        raise fail(field, "expected an object")
    return value


def require_list(value: object, field: str, fail: Fail) -> list[Any]:
    """A JSON array."""
    if not isinstance(value, list):
        raise fail(field, "expected a list")
    return value
