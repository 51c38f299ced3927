"""The store contract, run against both backends (chDB embedded, ClickHouse server).

:class:`StoreContract` holds every test; the subclasses only say how to open a store. Each test
gets a fresh database, so tests are independent on a shared engine or server. chDB allows one data
directory per process, so every chDB test in this process shares one session-wide directory
(``chdb_dir``, in the integration conftest).
"""

from __future__ import annotations

import base64
import dataclasses
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from base.settings import Settings
from domain.decisions import Code, Decision, Emission, Severity, Status
from domain.events import (
    Basis,
    Channel,
    CrossingRecorded,
    Direction,
    Document,
    GateHeartbeat,
    StayExtended,
)
from schemas.mapping import Coordinates, event_to_json_dict
from streams.store import (
    COLUMNS,
    ReadOnlyError,
    Store,
    StoreError,
    StoreUnavailableError,
    Table,
    open_store,
)
from streams.store.rows import (
    current_fingerprint,
    dead_letter_row,
    decision_row,
    event_row,
    join_instant,
)
from streams.store.text import print_result

pytestmark = pytest.mark.integration

INGESTED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
EMITTED = datetime(2026, 1, 2, 3, 4, 1, 987000, tzinfo=UTC)


def _crossing() -> CrossingRecorded:
    return CrossingRecorded(
        event_id="ev-1",
        traveller_id="trav-1",
        occurred_at=datetime(2025, 12, 1, 20, 30, 0, 123000, tzinfo=UTC),
        port="CN-LUOHU",
        direction=Direction.ENTRY,
        nationality="GBR",
        document=Document.PASSPORT,
        channel=Channel.SMART,
        basis=Basis.TWOV,
        permit_id="perm-9",
        arrived_from="HKG",
        onward_to="JPN",
        onward_departure_at=datetime(2025, 12, 5, 8, 0, tzinfo=UTC),
        birth_date=date(1990, 5, 17),
    )


def _heartbeat() -> GateHeartbeat:
    return GateHeartbeat(
        event_id="hb-1",
        occurred_at=datetime(2025, 11, 30, 23, 59, 59, 999000, tzinfo=UTC),
        port="PEK",
    )


def _emission(deadline: datetime | None) -> Emission:
    return Emission(
        Status.RETRACTED,
        Decision(
            decision_id="dec-1",
            traveller_id="trav-1",
            code=Code.SUSPECTED_OVERSTAY,
            severity=Severity.VIOLATION,
            jurisdiction="CN" if deadline else None,
            rule="twov-240h@2024-12-17",
            evidence=("ev-1", "ev-'2\\"),
            deadline=deadline,
            overstay_seconds=3600 if deadline else None,
            observed_at=datetime(2025, 12, 12, 0, 0, 0, 7000, tzinfo=UTC),
            detail="line one\nline\ttwo % 'quoted'",
        ),
    )


class StoreContract:
    """Behaviour every :class:`Store` backend must have."""

    @pytest.fixture
    def settings(self) -> Settings:
        raise NotImplementedError  # subclasses provide the backend's settings

    @pytest.fixture
    def writer(self, settings: Settings) -> Iterator[Store]:
        store = open_store(settings, "writer")
        store.migrate()
        yield store
        store.close()

    @pytest.fixture
    def investigator(self, settings: Settings, writer: Store) -> Iterator[Store]:
        store = open_store(settings, "investigator")
        yield store
        store.close()

    def _select(self, store: Store, table: Table) -> list[dict[str, object]]:
        columns = ", ".join(COLUMNS[table])
        result = store.query(f"SELECT {columns} FROM {table.value} ORDER BY kafka_offset")
        assert result.columns == COLUMNS[table]
        return [dict(zip(result.columns, row, strict=True)) for row in result.rows]

    def test_migrate_is_idempotent(self, writer: Store) -> None:
        assert writer.migrated  # by the fixture: the sink does not migrate this store again
        writer.migrate()
        writer.migrate()
        tables = writer.query(
            "SELECT name FROM system.tables WHERE database = {db:String} AND engine != 'View' "
            "ORDER BY name",
            {"db": writer.database},
        )
        assert [r[0] for r in tables.rows] == [
            "checkpoints",
            "dead_letters",
            "decision_current",
            "decision_current_mv",
            "decision_day",
            "decision_day_mv",
            "decisions",
            "erasures",
            "event_ports",
            "event_ports_mv",
            "events",
            "sink_offsets",
            "stay_emissions",
            "stay_emissions_mv",
        ]

    def test_events_round_trip_every_column(self, writer: Store) -> None:
        crossing, heartbeat = _crossing(), _heartbeat()
        extended = StayExtended(
            event_id="ext-1",
            traveller_id="trav-1",
            occurred_at=datetime(2025, 12, 3, tzinfo=UTC),
            jurisdiction="HK",
            permitted_until=datetime(2025, 12, 20, 16, 0, tzinfo=UTC),
        )
        rows = [
            event_row(e, Coordinates("border.crossings.v1", 2, i), INGESTED)
            for i, e in enumerate((crossing, heartbeat, extended))
        ]
        writer.insert_events(rows)
        stored = self._select(writer, Table.EVENTS)
        assert stored == rows
        assert join_instant(stored[0]["occurred_at"], stored[0]["occurred_at_ms"]) == (  # type: ignore[arg-type]
            crossing.occurred_at
        )
        assert stored[1]["traveller_id"] == "" and stored[1]["direction"] is None
        assert stored[2]["jurisdiction"] == "HK"

    def test_payload_holds_the_whole_event_as_json(self, writer: Store) -> None:
        writer.insert_events([event_row(_crossing(), Coordinates("t", 0, 0), INGESTED)])
        result = writer.query(
            "SELECT visitParamExtractString(payload, 'birth_date'), "
            "visitParamExtractString(payload, 'type') "
            "FROM events WHERE event_id = {id:String}",
            {"id": "ev-1"},
        )
        assert result.rows == [("1990-05-17", "CrossingRecorded")]
        assert event_to_json_dict(_crossing())["birth_date"] == "1990-05-17"

    def test_decisions_round_trip_with_and_without_deadline(self, writer: Store) -> None:
        deadline = datetime(2025, 12, 12, 16, 0, 0, 500000, tzinfo=UTC)
        rows = [
            decision_row(
                _emission(deadline), Coordinates("border.decisions.v1", 0, 10), EMITTED, INGESTED
            ),
            decision_row(
                _emission(None), Coordinates("border.decisions.v1", 0, 11), EMITTED, INGESTED
            ),
        ]
        writer.insert_decisions(rows)
        stored = self._select(writer, Table.DECISIONS)
        assert stored == rows
        assert join_instant(stored[0]["deadline"], stored[0]["deadline_ms"]) == deadline  # type: ignore[arg-type]
        assert stored[1]["deadline"] is None and stored[1]["overstay_seconds"] is None
        assert join_instant(stored[0]["emitted_at"], stored[0]["emitted_at_ms"]) == EMITTED  # type: ignore[arg-type]

    def test_dead_letters_keep_raw_bytes_base64(self, writer: Store) -> None:
        raw = bytes(range(256))
        row = dead_letter_row(
            raw=raw,
            reason="bad framing",
            source_topic="border.crossings.v1",
            source_partition=3,
            source_offset=42,
            source_timestamp=None,
            failed_at=datetime(2025, 10, 31, 23, 59, 59, 1000, tzinfo=UTC),
            at=Coordinates("border.deadletter.v1", 1, 7),
            ingested_at=INGESTED,
        )
        writer.insert_dead_letters([row])
        stored = self._select(writer, Table.DEAD_LETTERS)
        assert stored == [row]
        assert base64.b64decode(str(stored[0]["raw_base64"])) == raw

    def test_parameters_are_bound_with_their_types(self, writer: Store) -> None:
        emission = _emission(datetime(2025, 12, 12, tzinfo=UTC))
        writer.insert_decisions([decision_row(emission, Coordinates("t", 0, 1), EMITTED, INGESTED)])
        result = writer.query(
            "SELECT decision_id FROM decisions WHERE evidence = {ev:Array(String)} "
            "AND detail = {detail:String} AND observed_at >= {since:DateTime('UTC')} "
            "AND kafka_offset = {offset:Int64} AND detail LIKE '%two%'",
            {
                "ev": ["ev-1", "ev-'2\\"],
                "detail": emission.decision.detail,
                "since": datetime(2025, 12, 11, 8, 0, tzinfo=UTC).astimezone(),
                "offset": 1,
            },
        )
        assert result.rows == [("dec-1",)]

    def test_offsets_are_reported(self, writer: Store) -> None:
        assert writer.committed_offsets() == {}
        writer.commit_offsets({("a", 0): 5, ("a", 1): 2}, INGESTED)
        writer.commit_offsets({("a", 0): 9}, INGESTED)
        assert writer.committed_offsets() == {("a", 0): 9, ("a", 1): 2}
        rows = [event_row(_crossing(), Coordinates("a", 0, o), INGESTED) for o in (3, 9, 10, 12)]
        writer.insert_events(rows)
        assert writer.stored_offsets(Table.EVENTS, "a", 0, 9) == {9, 10, 12}
        assert writer.stored_offsets(Table.EVENTS, "a", 0, 9, 12) == {9, 10}
        assert writer.stored_offsets(Table.EVENTS, "a", 1, 0) == set()
        writer.insert_events(
            [event_row(_crossing(), Coordinates(t, p, o), INGESTED) for t, p, o in SPREAD]
        )
        starts = {("a", 0): 10, ("a", 1): 0, ("b", 0): 5, ("b", 2): 0}
        assert writer.stored_offsets_from(Table.EVENTS, starts) == {
            ("a", 0): {10, 12},
            ("a", 1): {4},
            ("b", 0): {5},
            ("b", 2): set(),
        }
        assert writer.stored_offsets_from(Table.DECISIONS, starts) == {key: set() for key in starts}
        assert writer.stored_offsets_from(Table.EVENTS, {}) == {}

    def test_investigator_can_select(self, writer: Store, investigator: Store) -> None:
        writer.insert_events([event_row(_crossing(), Coordinates("t", 0, 0), INGESTED)])
        assert investigator.query("SELECT count() FROM events").rows == [(1,)]
        assert investigator.committed_offsets() == {}

    @pytest.mark.parametrize(
        "sql",
        [
            "INSERT INTO events (event_id) VALUES ('forged')",
            "DROP TABLE events",
            "ALTER TABLE events DELETE WHERE 1",
            "CREATE TABLE sneaky (x UInt8) ENGINE = Memory",
            "SET readonly = 0",
        ],
    )
    def test_investigator_cannot_write(self, investigator: Store, writer: Store, sql: str) -> None:
        with pytest.raises(ReadOnlyError) as caught:
            investigator.query(sql)
        if investigator.backend == "server":  # chDB's guard refuses before the engine runs it
            assert caught.value.__cause__ is not None  # translated from the driver's error
        assert "readonly" in str(caught.value).lower().replace(" ", "")
        assert writer.query("SELECT count() FROM events").rows == [(0,)]

    def test_investigator_cannot_insert_rows_or_commit_offsets(self, investigator: Store) -> None:
        with pytest.raises(ReadOnlyError):
            investigator.insert_events([event_row(_crossing(), Coordinates("t", 0, 0), INGESTED)])
        with pytest.raises(ReadOnlyError):
            investigator.commit_offsets({("t", 0): 1}, INGESTED)

    @pytest.mark.parametrize(
        "sql",
        [
            "INSERT INTO decision_current (traveller_id, decision_id, status) "
            "VALUES ('t', 'd', 'ISSUED')",
            "INSERT INTO stay_emissions SELECT * FROM stay_emissions",
            "INSERT INTO event_ports (traveller_id, event_id, port) VALUES ('t', 'e', 'p')",
            "INSERT INTO stay_emissions (traveller_id, code, status) VALUES ('t', 'OVERSTAY', 'x')",
            "TRUNCATE TABLE decision_day",
            "ALTER TABLE stay_emissions DELETE WHERE 1",
            "DROP TABLE decision_current_mv",
        ],
    )
    def test_investigator_cannot_write_maintained_tables(
        self, investigator: Store, writer: Store, sql: str
    ) -> None:
        with pytest.raises(ReadOnlyError):
            investigator.query(sql)
        names = writer.query(
            "SELECT count() FROM system.tables WHERE database = {db:String} "
            "AND name IN ('decision_current_mv', 'decision_day')",
            {"db": writer.database},
        )
        assert names.rows == [(2,)]
        assert writer.query("SELECT count() FROM decision_current").rows == [(0,)]

    def test_migrate_adds_the_fingerprint_column_to_an_older_store(self, writer: Store) -> None:
        writer.query("ALTER TABLE events DROP COLUMN schema_fingerprint")  # as created before
        writer.migrate()
        columns = [r[0] for r in writer.query("DESCRIBE TABLE events").rows]
        assert columns[columns.index("payload") + 1] == "schema_fingerprint"
        writer.insert_events([event_row(_crossing(), Coordinates("t", 0, 0), INGESTED)])
        stored = writer.query("SELECT schema_fingerprint FROM events").rows
        assert stored == [(current_fingerprint("CrossingRecorded"),)]

    def test_migrate_adds_the_decision_port_to_an_older_store(self, writer: Store) -> None:
        # as created before DecisionEmitted v3: no port column, decision_day fed without it
        # (the views that read the decision's port and instant go too, as they did not exist)
        views = ("decision_day_mv", "decision_current_mv", "stay_emissions_mv")
        for view in views:
            writer.query(f"DROP TABLE {view}")
        writer.query("ALTER TABLE decision_day DROP COLUMN port")
        for column in ("port", "port_at", "port_at_ms", "last_port", "last_at", "last_at_ms"):
            writer.query(f"ALTER TABLE decisions DROP COLUMN {column}")
        writer.query(
            "CREATE MATERIALIZED VIEW decision_day_mv TO decision_day AS SELECT "
            "toDate(observed_at) AS day, decision_id, status, traveller_id, code, severity, "
            "rule, evidence[1] AS entry_event_id, "
            "toUInt64(kafka_partition) * 1099511627776 + toUInt64(kafka_offset) AS version "
            "FROM decisions"
        )
        writer.migrate()
        for table, after in (("decisions", "detail"), ("decision_day", "rule")):
            columns = [r[0] for r in writer.query(f"DESCRIBE TABLE {table}").rows]
            assert columns[columns.index(after) + 1] == "port", table
        columns = [r[0] for r in writer.query("DESCRIBE TABLE decisions").rows]
        at = columns.index("port_at_ms")
        assert columns[at + 1 : at + 4] == ["last_port", "last_at", "last_at_ms"]  # v5
        emission = dataclasses.replace(_emission(None), status=Status.ISSUED, port="CN-LUOHU")
        writer.insert_decisions([decision_row(emission, Coordinates("d", 0, 2), EMITTED, INGESTED)])
        assert writer.query("SELECT port FROM decisions").rows == [("CN-LUOHU",)]
        assert writer.query("SELECT port FROM decision_day").rows == [("CN-LUOHU",)]
        by_day = writer.query("SELECT port, decisions FROM decisions_by_rule_port_day").rows
        assert by_day == [("CN-LUOHU", 1)]

    def test_migrate_adds_the_leaf_columns_to_a_store_older_than_the_merkle_log(
        self, writer: Store
    ) -> None:
        for table in ("events", "decisions", "dead_letters"):
            for column in ("kafka_value", "leaf_hash", "leaf_index"):
                writer.query(f"ALTER TABLE {table} DROP COLUMN {column}")
        writer.migrate()
        for table in ("events", "decisions", "dead_letters"):
            columns = [r[0] for r in writer.query(f"DESCRIBE TABLE {table}").rows]
            at = columns.index("ingested_at")
            assert columns[at + 1 : at + 4] == ["leaf_index", "leaf_hash", "kafka_value"], table
        writer.insert_events([event_row(_crossing(), Coordinates("t", 0, 0), INGESTED)])
        assert writer.query("SELECT leaf_index, leaf_hash FROM events").rows == [(0, "")]

    def clickhouse_tsv(self, store: Store, sql: str) -> str:
        """``sql``'s output as the backend's ClickHouse itself writes TabSeparatedWithNames."""
        raise NotImplementedError

    def test_tsv_output_is_clickhouse_tsv(
        self, writer: Store, capsys: pytest.CaptureFixture[str]
    ) -> None:
        sql = (
            "SELECT 'it''s\\ta\\\\b\\nc' AS s, NULL AS n, 'NULL' AS t, "
            "['x', 'y''z', NULL] AS a, [toDateTime('2025-01-01 10:00:00', 'UTC')] AS d, "
            "toDate('2025-01-02') AS dd, [1, 2] AS i, CAST([] AS Array(String)) AS e, "
            "CAST(NULL AS Nullable(String)) AS ns, toUInt16(7) AS u"
        )
        result = writer.query(sql)
        print_result(result.columns, result.rows, tsv=True)
        printed = capsys.readouterr().out
        assert "\\N" in printed and "['x','y\\'z',NULL]" in printed
        assert printed == self.clickhouse_tsv(writer, sql)

    def test_bad_sql_is_a_store_error_not_a_permission_error(self, writer: Store) -> None:
        with pytest.raises(StoreError) as caught:
            writer.query("SELEC 1")
        assert not isinstance(caught.value, ReadOnlyError)
        assert caught.value.__cause__ is not None


def _fresh_database() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


# (topic, partition, offset) of rows beside those of ("a", 0), for stored_offsets_from.
SPREAD = (("a", 1, 4), ("b", 0, 4), ("b", 0, 5), ("b", 1, 7))


class TestChdbStore(StoreContract):
    @pytest.fixture
    def settings(self, base_settings: Settings, chdb_dir: Path) -> Settings:
        return base_settings.with_overrides(
            store="chdb", chdb_path=chdb_dir, clickhouse_database=_fresh_database()
        )

    def clickhouse_tsv(self, store: Store, sql: str) -> str:
        conn = store._conn  # type: ignore[attr-defined]  # the embedded engine itself
        return str(conn.query(sql, "TabSeparatedWithNames").bytes().decode("utf-8"))


class TestServerStore(StoreContract):
    @pytest.fixture
    def settings(self, clickhouse_settings: Settings) -> Settings:
        return clickhouse_settings.with_overrides(
            store="server", clickhouse_database=_fresh_database()
        )

    def clickhouse_tsv(self, store: Store, sql: str) -> str:
        s = store.settings
        done = subprocess.run(
            [
                "clickhouse-client",
                f"--host={s.clickhouse_host}",
                f"--port={s.clickhouse_port}",
                f"--user={s.clickhouse_user}",
                f"--password={s.clickhouse_password}",
                "--format=TabSeparatedWithNames",
                f"--query={sql}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout

    def test_unreachable_server_is_a_retryable_error(self, settings: Settings) -> None:
        from infra.process import free_port

        store = open_store(settings.with_overrides(clickhouse_port=free_port("127.0.0.1")))
        with pytest.raises(StoreUnavailableError) as caught:
            store.query("SELECT 1")
        assert caught.value.__cause__ is not None
        store.close()
