"""``ledger retention`` on a simulated store: due payloads erased, nothing else, log still verifies.

A simulated day goes through the offline engine; its events and decisions go through a real
broker and the real sink into each backend (chDB, clickhouse-server 18.16), with a real signing
key. Judged four years later, the stays closed within their limit (3 years) are due and the
others (5 years) are not. After ``--apply`` the due rows have lost their payload but kept their
leaf, every other row is untouched, ``ledger verify`` passes and counts the erased leaves, and
the erasures are in ClickHouse and on the erasures topic.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest

from base.credentials import kafka_client_security
from base.settings import Settings
from domain.engine import Engine
from producers.simulator import SimulationConfig, simulate
from schemas.codec import encode_emission
from streams.policy_file import load_policy
from tests.integration.test_sink import (
    catch_up,
    event_messages,
    ledger_sql,
    produce,
)
from tests.integration.test_verify import run_python, trust_settings, verify

pytestmark = pytest.mark.integration
DAY = date(2025, 11, 5)


def retention(settings: Settings, store: str, *args: str) -> subprocess.CompletedProcess[str]:
    done = run_python(settings, "-m", "ledger", "retention", "--store", store, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def published(settings: Settings) -> list[dict[str, object]]:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        settings.topic_erasures,
        bootstrap_servers=settings.kafka_bootstrap,
        **kafka_client_security(settings, "operator"),
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
    )
    try:
        return [json.loads(m.value) for m in consumer]
    finally:
        consumer.close()


@pytest.mark.parametrize("store", ["chdb", "server"])
def test_retention_erases_exactly_the_due_stays_and_the_log_still_verifies(
    service_settings: Settings, make_topic: Callable[..., str], tmp_path: Path, store: str
) -> None:
    def count(settings: Settings, sql: str) -> int:
        return int(ledger_sql(settings, sql, store)[0][0])

    settings = trust_settings(service_settings, make_topic, tmp_path).with_overrides(
        topic_erasures=make_topic("erasures", 1)
    )
    events = simulate(SimulationConfig(start=DAY, travellers=80, violation_share=0.3)).events
    engine = Engine(load_policy())
    emissions = [em for e in events for em in engine.process(e)]
    emissions += engine.advance_to(max(e.occurred_at for e in events) + timedelta(days=60))
    messages = event_messages(settings, list(events))
    messages += [
        (settings.topic_decisions, em.decision.traveller_id.encode(), encode_emission(em))
        for em in emissions
    ]
    produce(settings, messages)
    catch_up(settings, store)
    rows_before = count(settings, "SELECT count() FROM events") + count(
        settings, "SELECT count() FROM decisions"
    )

    dry = retention(settings, store, "--as-of", "2029-12-01")
    due = [line for line in dry.stdout.splitlines() if line.startswith("due  stay")]
    assert due and all("closed within limit" in line for line in due), dry.stdout
    assert count(settings, "SELECT count() FROM stays WHERE outcome != 'closed within limit'")
    assert count(settings, "SELECT count() FROM erasures") == 0  # a dry run changes nothing

    applied = retention(settings, store, "--as-of", "2029-12-01", "--apply")
    erased = int(re.search(r"erased the payloads of (\d+) rows", applied.stdout).group(1))  # type: ignore[union-attr]
    assert erased >= 2 * len(due)

    assert count(settings, "SELECT sum(length(offsets)) FROM erasures") == erased
    blanked = "SELECT count() FROM {t} WHERE kafka_value = '' AND leaf_hash != ''"
    assert (
        count(settings, blanked.format(t="events")) + count(settings, blanked.format(t="decisions"))
        == erased
    )
    assert (
        count(
            settings,
            "SELECT count() FROM events WHERE kafka_value = '' AND "
            "(payload != '' OR traveller_id != '' OR nationality IS NOT NULL)",
        )
        == 0
    )
    assert (
        count(
            settings,
            "SELECT count() FROM decisions WHERE kafka_value = '' AND "
            "(traveller_id != '' OR detail != '')",
        )
        == 0
    )
    rows_after = count(settings, "SELECT count() FROM events") + count(
        settings, "SELECT count() FROM decisions"
    )
    assert rows_after == rows_before  # erased in place: no row lost, none added
    assert count(settings, "SELECT count() FROM stays WHERE outcome = 'closed within limit'") == 0
    assert count(settings, "SELECT count() FROM stays WHERE outcome != 'closed within limit'")

    again = retention(settings, store, "--as-of", "2029-12-01")
    assert "0 stays due" in again.stdout, again.stdout

    checked = verify(settings, store)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert sum(int(n) for n in re.findall(r"(\d+) erased", checked.stdout)) == erased

    events_published = published(settings)
    assert sum(len(e["offsets"]) for e in events_published) == erased  # type: ignore[arg-type]
    assert {e["policy"] for e in events_published} <= {"ees-defaults", "ees-2017-2226-art34"}
