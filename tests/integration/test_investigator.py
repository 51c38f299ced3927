"""The investigator on both backends reads and nothing else: no writes, no file or network
access, no settings changes, no second statement, and a runaway query is stopped by its limits.

On the server every investigator query is also logged, and the supervisor reads that log through
``investigator_queries``. ``ledger sql`` runs as the investigator unless the writer is asked for.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from base.settings import Settings
from infra.clickhouse_server import connect
from ledger.cli import main
from streams.store import ReadOnlyError, Store, StoreError, open_store

WRITES = [
    "INSERT INTO events (event_id) VALUES ('forged')",
    "DROP TABLE events",
    "TRUNCATE TABLE events",
    "ALTER TABLE events DELETE WHERE 1",
    "CREATE TABLE sneaky (x UInt8) ENGINE = Memory",
    "RENAME TABLE events TO gone",
    "OPTIMIZE TABLE events",
]
SETTINGS_CHANGES = [
    "SET readonly = 0",
    "SET max_execution_time = 0",
    "SELECT count() FROM events SETTINGS max_rows_to_read = 0",
]
TABLE_FUNCTIONS = {
    "file": "file('/etc/hostname', 'TSV', 'line String')",
    "url": "url('http://127.0.0.1:9/x', 'TSV', 'line String')",
    "s3": "s3('http://127.0.0.1:9/bucket/x', 'TSV', 'line String')",
    "remote": "remote('127.0.0.1:9', system.one)",
    "hdfs": "hdfs('hdfs://127.0.0.1:9/x', 'TSV', 'line String')",
    "mysql": "mysql('127.0.0.1:9', 'db', 't', 'u', 'p')",
    "postgresql": "postgresql('127.0.0.1:9', 'db', 't', 'u', 'p')",
    "executable": "executable('id', 'TSV', 'line String')",
    "jdbc": "jdbc('jdbc:x', 'db', 't')",
}


def _ledger_database() -> str:
    return f"inv_{uuid.uuid4().hex[:10]}"


class InvestigatorContract:
    """What the investigator may not do, on every backend."""

    @pytest.fixture
    def settings(self) -> Settings:
        raise NotImplementedError

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

    @pytest.mark.parametrize("sql", WRITES + SETTINGS_CHANGES)
    def test_refused(self, investigator: Store, writer: Store, sql: str) -> None:
        with pytest.raises(ReadOnlyError):
            investigator.query(sql)
        assert writer.query("SELECT count() FROM events").rows == [(0,)]

    @pytest.mark.parametrize("name", sorted(TABLE_FUNCTIONS))
    def test_table_functions_are_refused(self, investigator: Store, name: str) -> None:
        # 18.16 refuses every table function in readonly mode; chDB's guard all but generators.
        with pytest.raises(ReadOnlyError):
            investigator.query(f"SELECT * FROM {TABLE_FUNCTIONS[name]}")

    def test_a_runaway_query_is_stopped_by_the_row_limit(self, investigator: Store) -> None:
        started = time.monotonic()
        with pytest.raises(StoreError) as caught:
            investigator.query("SELECT count() FROM system.numbers")
        assert "Code: 158" in str(caught.value), caught.value  # TOO_MANY_ROWS
        assert time.monotonic() - started < 60

    def test_a_huge_result_is_refused(self, investigator: Store) -> None:
        with pytest.raises(StoreError) as caught:
            investigator.query("SELECT number FROM system.numbers LIMIT 10000001")
        assert "Code: 396" in str(caught.value), caught.value  # TOO_MANY_ROWS_OR_BYTES

    def test_more_than_one_statement_is_refused(self, investigator: Store) -> None:
        with pytest.raises(StoreError):
            investigator.query("SELECT 1; SELECT 2")

    def test_reading_still_works(self, investigator: Store) -> None:
        assert investigator.query("SELECT count() FROM events").rows == [(0,)]
        sql = "SELECT sum(number) FROM (SELECT number FROM system.numbers LIMIT 10)"
        assert investigator.query(sql).rows == [(45,)]


class TestChdbInvestigator(InvestigatorContract):
    @pytest.fixture
    def settings(self, base_settings: Settings, chdb_dir: Path) -> Settings:
        return base_settings.with_overrides(
            store="chdb", chdb_path=chdb_dir, clickhouse_database=_ledger_database()
        )

    @pytest.mark.parametrize(
        "clause",
        [
            "INTO OUTFILE '{target}' TRUNCATE",
            "INTO OUTFILE '{target}' APPEND",
            "INTO OUTFILE '{target}' AND STDOUT",
        ],
    )
    def test_into_outfile_is_refused_and_the_file_untouched(
        self, investigator: Store, tmp_path: Path, clause: str
    ) -> None:
        target = tmp_path / "victim.sql"
        target.write_text("precious\n")
        with pytest.raises(ReadOnlyError, match="INTO OUTFILE"):
            investigator.query(f"SELECT 'x' {clause.format(target=target)} FORMAT TSV")
        assert target.read_text() == "precious\n"

    def test_the_store_metadata_survives_the_reported_attack(
        self, settings: Settings, investigator: Store, writer: Store
    ) -> None:
        metadata = settings.chdb_path / "metadata" / settings.clickhouse_database / "events.sql"
        before = metadata.read_text()
        with pytest.raises(ReadOnlyError):
            investigator.query(f"SELECT 'x' INTO OUTFILE '{metadata}' TRUNCATE FORMAT TSV")
        assert metadata.read_text() == before

    @pytest.mark.parametrize(
        "sql",
        [
            "SELECT file('/etc/hostname')",
            "SELECT 1 FORMAT TSV",
            "SHOW TABLES",
            "SELECT 1; SELECT 'x' INTO OUTFILE '/tmp/never' FORMAT TSV",
            "SELECT * FROM (SELECT * FROM url('http://127.0.0.1:9/', 'TSV', 'a String'))",
            "SELECT 1 WHERE 1 IN (SELECT * FROM file('/etc/hostname', 'TSV', 'a String'))",
        ],
    )
    def test_guard_refusals(self, investigator: Store, sql: str) -> None:
        with pytest.raises(ReadOnlyError, match="readonly investigator session"):
            investigator.query(sql)

    def test_generator_table_functions_may_be_read(self, investigator: Store) -> None:
        assert investigator.query("SELECT sum(number) FROM numbers(10) AS n").rows == [(45,)]

    def test_the_time_limit_stops_a_slow_query(self, settings: Settings, writer: Store) -> None:
        limited = settings.with_overrides(
            investigator_max_execution_seconds=1, investigator_max_rows_to_read=10**15
        )
        store = open_store(limited, "investigator")
        started = time.monotonic()
        try:
            with pytest.raises(StoreError, match="Code: 159"):  # TIMEOUT_EXCEEDED
                store.query("SELECT count() FROM system.numbers")
        finally:
            store.close()
        assert time.monotonic() - started < 30

    @pytest.mark.parametrize("role", [[], ["--as", "writer"]])
    def test_ledger_sql_refuses_two_statements_without_a_traceback(
        self,
        settings: Settings,
        writer: Store,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
        role: list[str],
    ) -> None:
        monkeypatch.setenv("LEDGER_CHDB_PATH", str(settings.chdb_path))
        monkeypatch.setenv("LEDGER_CLICKHOUSE_DATABASE", settings.clickhouse_database)
        code = main(["sql", "--store", "chdb", *role, "SELECT 1; SELECT 2"])
        err = capsys.readouterr().err
        assert code == 2
        assert err.startswith("ledger sql: error:") and "Traceback" not in err

    def test_ledger_sql_is_the_investigator_by_default(
        self,
        settings: Settings,
        writer: Store,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        monkeypatch.setenv("LEDGER_CHDB_PATH", str(settings.chdb_path))
        monkeypatch.setenv("LEDGER_CLICKHOUSE_DATABASE", settings.clickhouse_database)
        assert main(["sql", "--store", "chdb", "DROP TABLE events"]) == 2
        assert "readonly" in capsys.readouterr().err
        assert main(["sql", "--store", "chdb", "--as", "writer", "SELECT count() FROM events"]) == 0


class TestServerInvestigator(InvestigatorContract):
    @pytest.fixture
    def settings(self, clickhouse_settings: Settings) -> Settings:
        return clickhouse_settings.with_overrides(clickhouse_database=_ledger_database())

    def test_queries_are_logged_for_the_supervisor(
        self, settings: Settings, clickhouse_settings: Settings, investigator: Store
    ) -> None:
        audit_database = clickhouse_settings.clickhouse_database  # the server's own, see infra
        marker = f"looked-at-{uuid.uuid4().hex}"
        investigator.query(f"SELECT '{marker}'")
        writer = connect(settings)
        writer.execute("SYSTEM FLUSH LOGS")
        writer.disconnect()
        supervisor = connect(
            settings, user=settings.supervisor_user, password=settings.supervisor_password
        )
        try:
            rows = supervisor.execute(
                f"SELECT user, toString(type), query FROM {audit_database}"
                ".investigator_queries WHERE query LIKE %(m)s ORDER BY event_time, type",
                {"m": f"%{marker}%"},
            )
        finally:
            supervisor.disconnect()
        # type (a UInt8 on 18.16): 1 = the query started, 2 = it finished.
        assert sorted(rows) == [
            ("investigator", "1", f"SELECT '{marker}'"),
            ("investigator", "2", f"SELECT '{marker}'"),
        ]
