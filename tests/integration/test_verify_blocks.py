"""``ledger verify``'s block fast path reports exactly what the row-by-row walk reports.

A signed log of 300 leaves per partition (checkpoints every 25) is written into the real
ClickHouse server as the sink writes it; rows are streamed in blocks of 40, so the tampering (at
offsets 208..214, the sixth block) sits after clean blocks the fast path takes whole. For every
kind of tampering, the findings with the fast path equal the findings of the row walk alone
(the fast path switched off), and name the expected row; the untouched copy verifies. Both
passes (with the column re-derivation, and ``--hashes-only``; both read through
``Store.query_arrow``), on both backends.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from base.settings import Settings
from benchmarks.bench_sink import make_events
from benchmarks.trust_log import store_signed_log
from schemas.codec import encode_event
from streams.store import open_store
from streams.store.base import Store
from streams.trust import verify as verify_module
from streams.trust.keys import Verifier, init_key
from streams.trust.logs import list_logs
from streams.trust.verify import report_lines, verify_log
from tests.integration.tamper import copy_database, tamper, wait_for_mutations

pytestmark = pytest.mark.integration

BASE = 205
EXPECTED = {
    "none": None,
    "payload-byte": "ALTERED {t}[0]@210: column payload differs",
    "value-byte": "ALTERED {t}[0]@211: the Kafka value does not hash",
    "delete-row": "DELETED {t}[0]@212: leaves 212..212 are missing",
    "insert-row": "INSERTED {t}[0]@213: a second row claims this offset",
    "swap-offsets": "REORDERED {t}[0]@208: holds leaf 214 where leaf 208 belongs",
    "drop-partition": "DELETED {t}[1]@0: checkpoint signed",
    "replace-signature": "CHECKPOINT {t}[0]@",
}


@pytest.fixture
def signed(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clickhouse_settings: Settings,
) -> Iterator[tuple[Settings, Verifier]]:
    # The server is asked for by name, not through getfixturevalue, even by the chDB variants:
    # the session stops a service after the last test naming it (tests/started.py), and a
    # server found only at run time was stopped before these tests asked for it.
    monkeypatch.setattr("streams.trust.logs.BLOCK_ROWS", 40)
    if request.node.callspec.params["backend"] == "server":
        base = clickhouse_settings
    else:
        base = request.getfixturevalue("base_settings").with_overrides(
            store="chdb", chdb_path=request.getfixturevalue("chdb_dir")
        )
    settings = base.with_overrides(
        clickhouse_database=f"blocks_{uuid.uuid4().hex[:10]}",
        topic_crossings=f"blocks.crossings.{uuid.uuid4().hex[:8]}",
    )
    signer = init_key(tmp_path / "keys" / "signing.pem")
    values = [encode_event(e) for e in make_events(600)]
    with open_store(settings, "writer") as store:
        store.migrate()
        for partition in (0, 1):
            store_signed_log(
                store, signer, settings.topic_crossings, partition, values[partition::2], every=25
            )
    yield settings, Verifier.load(tmp_path / "keys" / "signing.pem.pub")


def _verify(store: Store, settings: Settings, verifier: Verifier, columns: bool) -> list[str]:
    reports = [
        verify_log(store, log, verifier, set(), lambda _: None, columns=columns)
        for log in list_logs(store, settings)
    ]
    return report_lines(reports)


# Both passes read through ``Store.query_arrow`` (chDB's own Arrow output, the server's blocks
# converted), the column pass with the derived columns checked block-wise
# (``streams.trust.columns``).
@pytest.mark.parametrize(
    ("backend", "columns"),
    [("server", True), ("server", False), ("chdb", True), ("chdb", False)],
    ids=["server-columns", "server-hashes-only", "chdb-columns", "chdb-hashes-only"],
)
def test_the_fast_path_reports_what_the_row_walk_reports(
    signed: tuple[Settings, Verifier], monkeypatch: pytest.MonkeyPatch, backend: str, columns: bool
) -> None:
    settings, verifier = signed
    real_clean_block = verify_module.clean_block
    taken: list[bool] = []  # per block given to the fast path: was it taken whole?

    def counted(*args: Any, **kwargs: Any) -> Any:
        clean = real_clean_block(*args, **kwargs)
        taken.append(clean is not None)
        return clean

    for operation, expected in EXPECTED.items():
        copy = settings.with_overrides(clickhouse_database=f"t_{uuid.uuid4().hex[:10]}")
        with open_store(copy, "writer") as writer:
            copy_database(writer, settings.clickhouse_database)
            tamper(writer, operation, settings.topic_crossings, base=BASE)
            wait_for_mutations(writer)
        taken.clear()
        with open_store(copy, "investigator") as store:
            assert store.backend == backend
            with monkeypatch.context() as m:
                m.setattr(verify_module, "clean_block", counted)
                fast = _verify(store, copy, verifier, columns)
            with monkeypatch.context() as m:
                m.setattr(verify_module, "clean_block", lambda *a, **k: None)
                slow = _verify(store, copy, verifier, columns)
        assert fast == slow, (operation, fast, slow)
        # Two logs of 300 rows in blocks of 40: 8 blocks each; the first 5 of partition 0 are
        # clean whatever the operation, all 16 when the rows are untouched.
        assert taken[:5] == [True] * 5, (operation, taken)
        assert sum(taken) >= (16 if operation in ("none", "replace-signature") else 5)
        text = "\n".join(fast)
        if expected is None or (operation == "payload-byte" and not columns):
            # --hashes-only does not re-derive columns: an edited payload alone goes unseen
            assert all(line.startswith("ok ") for line in fast), text
            assert "300 leaves, 12 checkpoints verified, 0 unsigned" in text, text
        else:
            assert expected.format(t=settings.topic_crossings) in text, (operation, text)
