"""The worker's web server serves the project's /stay/ and /health/ only: Faust's table, router,
graph and statistics views answer 404, and malformed /stay/ input is a 400 with a JSON reason."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator

import pytest

from base.settings import Settings
from infra.kafka_broker import ensure_topics
from tests.conftest import KafkaService
from tests.pipeline import isolated_settings, log_tail, running_worker, worker_health

pytestmark = pytest.mark.integration


def _get(settings: Settings, path: str) -> tuple[int, bytes]:
    url = f"http://127.0.0.1:{settings.worker_web_port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.fixture(scope="module")
def worker(
    kafka_broker: KafkaService, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """One worker for the module, on its own topics (not deleted: they live in a temp dir)."""

    def make_topic(prefix: str = "test", partitions: int = 1) -> str:
        name = f"{prefix}.{uuid.uuid4().hex[:12]}"
        ensure_topics(kafka_broker.settings, [name], partitions=partitions)
        return name

    data = tmp_path_factory.mktemp("web")
    base = kafka_broker.settings.with_overrides(partitions=1)
    settings = isolated_settings(base, make_topic, data)
    log = data / "worker.log"
    with running_worker(settings, log) as proc:
        deadline = time.monotonic() + 120
        while not (worker_health(settings) or {}).get("partitions"):
            assert proc.poll() is None, log_tail(log)
            assert time.monotonic() < deadline, log_tail(log)
            time.sleep(0.5)
        yield settings


@pytest.mark.parametrize(
    "path",
    ["/table/", "/table/travellers/", "/table/travellers/t-1/", "/router/", "/graph/", "/stats/"],
)
def test_faust_views_are_off(worker: Settings, path: str) -> None:
    status, _ = _get(worker, path)
    assert status == 404


def test_the_project_endpoints_answer(worker: Settings) -> None:
    status, body = _get(worker, "/stay/t-1/?at=2025-12-01T00:00:00Z")
    assert status == 200
    assert json.loads(body)["known"] is False
    status, body = _get(worker, "/health/")
    assert status == 200 and json.loads(body)["status"] == "ok"


@pytest.mark.parametrize(
    "path",
    [
        "/stay/t-1/?at=0001-01-01T00:00:00%2B01:00",
        "/stay/t-1/?at=9999-12-31T23:59:59-01:00",
        "/stay/t-1/?at=9999-12-31T23:59:59Z",
        "/stay/t-1/?at=not-a-time",
        "/stay/t-1/?at=2025-12-01T00:00:00",
        "/stay/t%1Bx/",
        "/stay/t%00x/",
        "/stay/" + "x" * 300 + "/",
    ],
)
def test_malformed_stay_input_is_a_400_with_a_reason(worker: Settings, path: str) -> None:
    status, body = _get(worker, path)
    assert status == 400, body
    assert json.loads(body)["error"]
