"""The lifecycle both local services share: a home directory, a pid file, reuse and stop.

:class:`LocalService` is the base of :class:`~infra.kafka_broker.KafkaBroker` and
:class:`~infra.clickhouse_server.ClickHouseServer`. A subclass names its directory, config file,
pid file and log files, and supplies ``host``/``port`` and ``start``.
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from base.settings import Settings
from infra import process
from infra.errors import InfraError


@dataclass(frozen=True)
class LocalService:
    """A project service run as a plain process under ``settings.data_dir/<dirname>``."""

    settings: Settings
    # True when the starter owns the service for its own lifetime (``ledger run``): the process
    # then dies with the starter, even a SIGKILLed one, instead of running on as an orphan.
    with_parent: bool = field(default=False, kw_only=True)

    label: ClassVar[str]
    dirname: ClassVar[str]
    config_name: ClassVar[str]
    log_names: ClassVar[tuple[str, ...]]

    @property
    def home(self) -> Path:
        """Directory for this service's config, data, logs and pid file."""
        return self.settings.data_dir / self.dirname

    @property
    def config_file(self) -> Path:
        return self.home / self.config_name

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def pid_file(self) -> Path:
        return self.home / f"{self.dirname}.pid"

    @property
    def host(self) -> str:
        raise NotImplementedError

    @property
    def port(self) -> int:
        raise NotImplementedError

    def pid(self) -> int | None:
        """Pid of our running process, or None if it is not running."""
        pid = process.read_pid(self.pid_file)
        if pid is not None and process.pid_alive(pid, str(self.config_file)):
            return pid
        return None

    def is_running(self) -> bool:
        """True if our process is alive and its port accepts connections."""
        return self.pid() is not None and process.port_open(self.host, self.port)

    def stop(self, timeout: float = 30.0) -> bool:
        """SIGTERM the process, wait up to ``timeout`` s, then SIGKILL. True if one was running."""
        pid = self.pid()
        self.pid_file.unlink(missing_ok=True)
        if pid is None:
            return False
        process.terminate(pid, str(self.config_file), timeout)
        return True

    def kill(self) -> bool:
        """SIGKILL the process (a crash, no clean shutdown) and reap it; True if it was running."""
        pid = self.pid()
        if pid is None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        process.terminate(pid, str(self.config_file), timeout=10.0)  # only waits and reaps now
        return True

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the service's logs, for error messages."""
        parts = []
        for name in self.log_names:
            path = self.logs_dir / name
            parts += [f"--- {path}", process.tail(path, lines)]
        return "\n".join(parts)

    def _refuse_foreign_port(self) -> None:
        """Raise if another process (not ours) already listens on our port."""
        if process.port_open(self.host, self.port):
            raise InfraError(
                f"port {self.host}:{self.port} is taken by a process that is not this project's "
                f"{self.label} (no live pid in {self.pid_file})"
            )
