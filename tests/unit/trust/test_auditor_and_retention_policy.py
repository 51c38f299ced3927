"""The standalone auditor's proof checks agree with the ledger's; retention due dates."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest

from base.settings import PROJECT_ROOT
from streams.trust.merkle import consistency_proof, inclusion_proof, leaf_hash, root
from streams.trust.retention_policy import (
    CLOSED_WITHIN_LIMIT,
    RetentionPolicyError,
    add_years,
    load_retention_policy,
)


def _auditor() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "verify_bundle", PROJECT_ROOT / "auditor" / "verify_bundle.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


LEAVES = [leaf_hash(b"record %d" % i) for i in range(33)]


def test_the_auditor_script_stays_under_100_lines_of_stdlib_and_cryptography() -> None:
    text = (PROJECT_ROOT / "auditor" / "verify_bundle.py").read_text("utf-8")
    assert len(text.splitlines()) < 100
    imports = {
        line.split()[1].split(".")[0]
        for line in text.splitlines()
        if line.startswith(("import ", "from "))
    }
    assert imports <= {"base64", "hashlib", "json", "sys", "cryptography"}, imports


def test_the_auditor_accepts_every_proof_the_ledger_gives_and_rejects_wrong_ones() -> None:
    auditor = _auditor()
    for n in range(1, len(LEAVES) + 1):
        top = root(LEAVES[:n])
        for i in range(n):
            proof = inclusion_proof(i, LEAVES[:n])
            heads = auditor.fold(i, n - 1, LEAVES[i], LEAVES[i], proof)
            assert heads is not None and heads[1] == top
            if proof:
                wrong = auditor.fold(i, n - 1, LEAVES[i], LEAVES[i], proof[:-1])
                assert wrong is None or wrong[1] != top
        for m in range(1, n + 1):
            proof = consistency_proof(m, LEAVES[:n])
            assert auditor.consistency_ok(m, n, root(LEAVES[:m]), top, proof)
            if m < n:
                assert not auditor.consistency_ok(m, n, root(LEAVES[1 : m + 1]), top, proof)


def test_ees_defaults_keep_three_years_after_a_closed_stay_and_five_otherwise() -> None:
    policy = load_retention_policy()
    last = datetime(2025, 11, 5, 18, 30, tzinfo=UTC)
    for jurisdiction in ("SCHENGEN", "HK", "MO", "CN", "somewhere else"):
        rule = policy.rule(jurisdiction)
        assert rule.due_at(CLOSED_WITHIN_LIMIT, last) == datetime(2028, 11, 5, 18, 30, tzinfo=UTC)
        for outcome in ("overstay", "suspected overstay", "exit unknown", "open"):
            assert rule.due_at(outcome, last) == datetime(2030, 11, 5, 18, 30, tzinfo=UTC)


def test_a_leap_day_plus_years_is_the_28th_of_february() -> None:
    assert add_years(datetime(2028, 2, 29, tzinfo=UTC), 3) == datetime(2031, 2, 28, tzinfo=UTC)
    assert add_years(datetime(2028, 2, 29, tzinfo=UTC), 4) == datetime(2032, 2, 29, tzinfo=UTC)


def test_a_malformed_policy_names_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "retention.json"
    bad.write_text('{"version": "x", "default": {"policy": "p"}, "jurisdictions": {}}', "utf-8")
    with pytest.raises(RetentionPolicyError, match="default"):
        load_retention_policy(bad)


def test_retention_erases_from_every_maintained_table() -> None:
    # a maintained table copies personal columns: one left out of the erasure keeps them
    from streams.store.base import MAINTAINED_TABLES
    from streams.trust.retention import MAINTAINED

    assert set(MAINTAINED) == set(MAINTAINED_TABLES)
