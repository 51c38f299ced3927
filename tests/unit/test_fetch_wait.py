"""The worker's consumer holds a fetch at the broker for the settings' wait, not Faust's 1.5 s.

Faust creates the worker consumer with ``fetch_max_wait_ms=1500`` and no setting for it; the
transport (``streams.worker.transport``) puts ``settings.worker_fetch_max_wait_ms`` in its place.
These build the consumer the worker's consumer thread builds (aiokafka's, never started, so no
broker is needed) and read what its fetcher will be created with.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import faust
import pytest

from base.settings import Settings
from streams.worker.app import _faust_app
from streams.worker.transport import SCHEME, set_fetch_max_wait


def created_consumer(app: faust.App) -> Any:
    """The aiokafka consumer the worker's consumer thread would create for ``app``."""

    async def create() -> Any:  # aiokafka's consumer wants a running loop
        thread: Any = app.consumer._new_consumer_thread()
        return thread._create_worker_consumer(app.transport)

    return asyncio.run(create())


def test_the_settings_wait_replaces_fausts(tmp_path: Path) -> None:
    settings = Settings.from_env(
        env={"LEDGER_WORKER_FETCH_MAX_WAIT_MS": "70", "LEDGER_DATA_DIR": str(tmp_path)}
    )
    consumer = created_consumer(_faust_app(settings))
    assert consumer._fetch_max_wait_ms == 70
    assert consumer._isolation_level == "read_committed"  # the transport's other change stands


def test_the_default_wait_is_well_under_fausts(tmp_path: Path) -> None:
    settings = Settings.from_env(env={"LEDGER_DATA_DIR": str(tmp_path)})
    assert settings.worker_fetch_max_wait_ms == 100
    assert created_consumer(_faust_app(settings))._fetch_max_wait_ms == 100


def test_an_app_never_given_a_wait_keeps_fausts() -> None:
    app = faust.App("fetch-wait-unset", broker=f"{SCHEME}://127.0.0.1:9")
    assert created_consumer(app)._fetch_max_wait_ms == 1500


def test_each_app_has_its_own_wait() -> None:
    first = faust.App("fetch-wait-a", broker=f"{SCHEME}://127.0.0.1:9")
    second = faust.App("fetch-wait-b", broker=f"{SCHEME}://127.0.0.1:9")
    set_fetch_max_wait(first, 5)
    set_fetch_max_wait(second, 250)
    assert created_consumer(first)._fetch_max_wait_ms == 5
    assert created_consumer(second)._fetch_max_wait_ms == 250


def test_a_negative_wait_is_refused() -> None:
    app = faust.App("fetch-wait-negative", broker=f"{SCHEME}://127.0.0.1:9")
    with pytest.raises(ValueError, match="negative"):
        set_fetch_max_wait(app, -1)
