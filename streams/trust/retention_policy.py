"""Retention periods as policy data: per jurisdiction, how long a stay's records are kept.

Pure: loading and date arithmetic only. The packaged ``streams/policy/retention.json`` carries
the EES defaults (3 years after a stay closed within its limit, 5 years otherwise, both counted
from the stay's last record); ``settings.retention_policy_file`` replaces it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from base.errors import LedgerError

CLOSED_WITHIN_LIMIT = "closed within limit"  # the stays view's outcome for STAY_CLOSED


class RetentionPolicyError(LedgerError):
    """The retention policy file is unreadable or malformed."""


@dataclass(frozen=True, slots=True)
class RetentionRule:
    """How long one jurisdiction keeps a stay's records."""

    policy: str
    closed_within_limit_years: int
    otherwise_years: int

    def due_at(self, outcome: str, last_record_at: datetime) -> datetime:
        """When a stay with ``outcome`` whose last record is ``last_record_at`` is due."""
        years = (
            self.closed_within_limit_years
            if outcome == CLOSED_WITHIN_LIMIT
            else self.otherwise_years
        )
        return add_years(last_record_at, years)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """The rule of every jurisdiction, and a default for the others."""

    version: str
    default: RetentionRule
    jurisdictions: dict[str, RetentionRule]

    def rule(self, jurisdiction: str) -> RetentionRule:
        return self.jurisdictions.get(jurisdiction, self.default)


def add_years(instant: datetime, years: int) -> datetime:
    """``instant`` ``years`` later on the calendar (29 February becomes 28 February)."""
    try:
        return instant.replace(year=instant.year + years)
    except ValueError:
        return instant.replace(year=instant.year + years, day=28)


def _rule(raw: Any, where: str) -> RetentionRule:
    try:
        rule = RetentionRule(
            policy=str(raw["policy"]),
            closed_within_limit_years=int(raw["closed_within_limit_years"]),
            otherwise_years=int(raw["otherwise_years"]),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise RetentionPolicyError(f"{where}: {e!r}") from e
    if rule.closed_within_limit_years < 0 or rule.otherwise_years < 0:
        raise RetentionPolicyError(f"{where}: negative retention")
    return rule


def load_retention_policy(path: Path | None = None) -> RetentionPolicy:
    """The retention policy from ``path``, or the packaged EES defaults."""
    try:
        if path is None:
            text = (resources.files("streams") / "policy" / "retention.json").read_text("utf-8")
        else:
            text = path.read_text("utf-8")
        raw = json.loads(text)
        return RetentionPolicy(
            version=str(raw["version"]),
            default=_rule(raw["default"], "default"),
            jurisdictions={
                str(j): _rule(r, f"jurisdictions.{j}") for j, r in raw["jurisdictions"].items()
            },
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise RetentionPolicyError(f"retention policy {path or 'retention.json'}: {e}") from e
