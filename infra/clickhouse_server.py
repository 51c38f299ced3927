"""A ClickHouse server (Debian's ``clickhouse-server``) as a plain local process.

The config and users files are generated from the templates in ``infra/clickhouse/`` into
``settings.data_dir / "clickhouse"``, which also holds the data, logs and pid file. The server
listens on loopback only, on ``settings.clickhouse_port`` (native) and
``settings.clickhouse_http_port``. It knows a writer (``settings.clickhouse_user``) and a read-only
investigator (``settings.investigator_user``). Readiness means ``SELECT 1`` answers over the
native protocol (clickhouse-driver); on start the writer creates ``settings.clickhouse_database``.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any, ClassVar
from xml.sax.saxutils import escape

from base.credentials import CLICKHOUSE_SECRETS, require_configured_secrets
from base.settings import Settings
from infra import process
from infra.errors import InfraError
from infra.service import LocalService
from streams.store.investigator_guard import investigator_limits

CLICKHOUSE_DIR = Path(__file__).resolve().parent / "clickhouse"
SERVER_BINARY = "/usr/sbin/clickhouse-server"
# readonly=1 forbids every write and DDL and also forbids changing settings in a query, which
# clickhouse-driver does not do unless asked; that is what the investigator gets.
INVESTIGATOR_READONLY = 1
# The investigator's hourly quota: this many queries, and as many rows and seconds as this many
# queries at the per-query limits would use.
QUOTA_QUERIES_PER_HOUR = 2000
QUOTA_QUERIES_AT_LIMIT = 10
# What the supervisor sees of each logged query (columns of 18.16's system.query_log).
QUERY_LOG_COLUMNS = (
    "event_time, user, address, query_id, type, query_duration_ms, read_rows, read_bytes, "
    "result_rows, exception, query"
)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _identifier(kind: str, name: str) -> str:
    if not _IDENTIFIER.fullmatch(name):
        raise InfraError(f"{kind} {name!r} must match {_IDENTIFIER.pattern}")
    return name


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def server_binary() -> str:
    """Path of the clickhouse-server executable; :class:`InfraError` if it is not installed."""
    if Path(SERVER_BINARY).exists():
        return SERVER_BINARY
    found = shutil.which("clickhouse-server")
    if found is None:
        raise InfraError("clickhouse-server is not installed; run infra/setup.sh")
    return found


def connect(settings: Settings, *, user: str | None = None, password: str | None = None) -> Any:
    """A clickhouse-driver ``Client`` for the configured server (the writer unless told)."""
    from clickhouse_driver import Client

    return Client(
        host=settings.clickhouse_host,
        port=settings.clickhouse_port,
        user=settings.clickhouse_user if user is None else user,
        password=settings.clickhouse_password if password is None else password,
        connect_timeout=2,
        send_receive_timeout=30,
    )


def connect_investigator(settings: Settings) -> Any:
    """A clickhouse-driver ``Client`` logged in as the read-only investigator."""
    return connect(
        settings, user=settings.investigator_user, password=settings.investigator_password
    )


@dataclass(frozen=True)
class ClickHouseServer(LocalService):
    """The project's local ClickHouse server for one ``Settings``: start, wait, stop, inspect."""

    label: ClassVar[str] = "ClickHouse"
    dirname: ClassVar[str] = "clickhouse"
    config_name: ClassVar[str] = "config.xml"
    log_names: ClassVar[tuple[str, ...]] = ("stdout.log", "clickhouse-server.err.log")

    @property
    def users_file(self) -> Path:
        return self.home / "users.xml"

    @property
    def data_path(self) -> Path:
        return self.home / "data"

    @property
    def host(self) -> str:
        return self.settings.clickhouse_host

    @property
    def port(self) -> int:
        return self.settings.clickhouse_port

    def render_config(self) -> str:
        """The server config.xml for these settings."""
        s = self.settings
        return _render(
            "config.xml",
            log_dir=str(self.logs_dir),
            listen_host=s.clickhouse_host,
            tcp_port=str(s.clickhouse_port),
            http_port=str(s.clickhouse_http_port),
            data_path=str(self.data_path),
            users_config=str(self.users_file),
        )

    def render_users(self) -> str:
        """The users.xml for these settings (passwords as SHA-256, never in clear)."""
        s = self.settings
        writer = _identifier("clickhouse_user", s.clickhouse_user)
        investigator = _identifier("investigator_user", s.investigator_user)
        supervisor = _identifier("supervisor_user", s.supervisor_user)
        if len({"default", writer, investigator, supervisor}) != 4:
            raise InfraError("writer, investigator and supervisor users must differ, not 'default'")
        limits = investigator_limits(s)
        return _render(
            "users.xml",
            writer_user=writer,
            writer_password_sha256=_sha256(s.clickhouse_password),
            investigator_user=investigator,
            investigator_password_sha256=_sha256(s.investigator_password),
            investigator_readonly=str(INVESTIGATOR_READONLY),
            supervisor_user=supervisor,
            supervisor_password_sha256=_sha256(s.supervisor_password),
            quota_queries=str(QUOTA_QUERIES_PER_HOUR),
            quota_read_rows=str(s.investigator_max_rows_to_read * QUOTA_QUERIES_AT_LIMIT),
            quota_execution_seconds=str(
                s.investigator_max_execution_seconds * QUOTA_QUERIES_AT_LIMIT
            ),
            **{name: str(value) for name, value in limits.items()},
        )

    def start(self, timeout: float = 60.0) -> bool:
        """Start the server (or reuse ours if it already runs), wait, create the database.

        Returns True if this call started a process, False if a live server was reused.
        Raises :class:`InfraError`, with the tail of the server log, if it never answers.
        """
        require_configured_secrets(self.settings, "the ClickHouse server", CLICKHOUSE_SECRETS)
        started = False
        if self.pid() is None:
            self._refuse_foreign_port()
            binary = server_binary()
            for directory in (self.data_path, self.logs_dir):
                directory.mkdir(parents=True, exist_ok=True)
            process.write_private(self.users_file, self.render_users())
            self.config_file.write_text(self.render_config())
            process.spawn(
                [binary, f"--config-file={self.config_file}"],
                log_file=self.logs_dir / "stdout.log",
                pid_file=self.pid_file,
                cwd=self.home,
                with_parent=self.with_parent,
            )
            started = True
        self.wait_ready(timeout)
        self.create_database()
        return started

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until ``SELECT 1`` answers as the writer, or raise :class:`InfraError`."""
        wait_for_clickhouse(self.settings, timeout, alive=self.pid, log_tail=self.log_tail)

    def create_database(self) -> None:
        """Create ``settings.clickhouse_database`` if it does not exist (as the writer), and in
        it the supervisor's ``investigator_queries`` view of ``system.query_log``."""
        from clickhouse_driver.errors import Error

        s = self.settings
        database = _identifier("clickhouse_database", s.clickhouse_database)
        readers = ", ".join(f"'{_identifier('user', u)}'" for u in _logged_users(s))
        client = connect(s)
        try:
            client.execute(f"CREATE DATABASE IF NOT EXISTS `{database}`")
            # The server creates query_log at its first flush of a logged query.
            client.execute("SELECT 1", settings={"log_queries": 1})
            client.execute("SYSTEM FLUSH LOGS")
            client.execute(
                f"CREATE VIEW IF NOT EXISTS `{database}`.investigator_queries AS "
                f"SELECT {QUERY_LOG_COLUMNS} FROM system.query_log WHERE user IN ({readers})"
            )
        except Error as e:
            raise InfraError(f"creating database {database}: {e}") from e
        finally:
            client.disconnect()


def _logged_users(settings: Settings) -> tuple[str, str]:
    return (settings.investigator_user, settings.supervisor_user)


def _render(template_name: str, **values: str) -> str:
    template = Template((CLICKHOUSE_DIR / template_name).read_text())
    try:
        return template.substitute({k: escape(v) for k, v in values.items()})
    except (KeyError, ValueError) as e:
        raise InfraError(f"template infra/clickhouse/{template_name}: {e}") from e


def wait_for_clickhouse(
    settings: Settings,
    timeout: float,
    *,
    alive: Callable[[], object] | None = None,
    log_tail: Callable[[], str] | None = None,
) -> None:
    """Wait until ``SELECT 1`` answers on ``settings.clickhouse_host:clickhouse_port``.

    ``alive`` (returns a falsy value once the process died) makes the wait fail fast;
    ``log_tail`` is appended to the error message.
    """
    from clickhouse_driver.errors import Error

    address = f"{settings.clickhouse_host}:{settings.clickhouse_port}"
    deadline = time.monotonic() + timeout
    last_error = "no attempt made"
    while True:
        if alive is not None and not alive():
            tail = f"\n{log_tail()}" if log_tail is not None else ""
            raise InfraError(f"ClickHouse at {address} exited during startup{tail}")
        if time.monotonic() >= deadline:
            break
        if process.port_open(settings.clickhouse_host, settings.clickhouse_port):
            client = connect(settings)
            try:
                if client.execute("SELECT 1") == [(1,)]:
                    return
            except (Error, OSError, EOFError) as e:
                last_error = f"{type(e).__name__}: {e}"
            finally:
                client.disconnect()
        else:
            last_error = "port not open"
        time.sleep(0.3)
    tail = f"\n{log_tail()}" if log_tail is not None else ""
    raise InfraError(
        f"ClickHouse at {address} did not answer within {timeout:.0f}s ({last_error}){tail}"
    )
