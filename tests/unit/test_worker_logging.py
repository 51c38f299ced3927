"""``ledger worker``'s default loglevel keeps the root logger at that level.

Faust's terminal spinner used to lower the root logger to DEBUG under ``warn``, so every debug
call of Faust, mode and aiokafka built a log record in a running worker.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator

import faust
import pytest

from ledger.commands.worker import DEFAULT_LOGLEVEL, configure, faust_worker


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield root
    root.setLevel(level)
    root.handlers[:] = handlers


def test_the_default_loglevel_builds_no_debug_records(root_logger: logging.Logger) -> None:
    parser = argparse.ArgumentParser()
    configure(parser)
    assert parser.parse_args([]).loglevel == DEFAULT_LOGLEVEL == "warn"
    app = faust.App("tests-logging", broker="kafka://127.0.0.1:1", web_enabled=False)
    worker = faust_worker(app, DEFAULT_LOGLEVEL)
    worker._setup_logging()
    assert root_logger.getEffectiveLevel() == logging.WARNING
    assert not logging.getLogger("aiokafka").isEnabledFor(logging.DEBUG)
    assert not logging.getLogger("faust").isEnabledFor(logging.INFO)


def test_without_the_fix_faust_would_lower_the_root_logger(root_logger: logging.Logger) -> None:
    app = faust.App("tests-logging-raw", broker="kafka://127.0.0.1:1", web_enabled=False)
    faust.Worker(app, loglevel="warn", quiet=True)._setup_logging()
    assert root_logger.getEffectiveLevel() == logging.DEBUG, "the problem the fix removes"
