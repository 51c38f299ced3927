"""``ledger prove`` bundles checked by the standalone auditor's verifier, and altered ones refused.

A real sink stores events and a decision (with its evidence) into chDB under a real signing key;
``ledger prove`` writes bundles; ``auditor/verify_bundle.py`` (stdlib + cryptography, no access
to the ledger) must accept them and reject a bundle whose record, proof or checkpoint changed.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from base.settings import PROJECT_ROOT, Settings
from schemas.codec import encode_emission
from streams.trust.keys import init_key, public_key_path
from tests.integration.test_sink import (
    catch_up,
    event_messages,
    ledger_sql,
    make_events,
    produce,
)
from tests.integration.test_verify import run_python, trust_settings
from tests.samples import overstay_emission

pytestmark = pytest.mark.integration

AUDITOR = PROJECT_ROOT / "auditor" / "verify_bundle.py"
EMISSION = overstay_emission("d-proof", ("p-1", "p-3"))


def prove(settings: Settings, out: Path, *args: str) -> Path:
    done = run_python(settings, "-m", "ledger", "prove", *args, "--store", "chdb", "-o", str(out))
    assert done.returncode == 0, done.stderr
    return out


def audit(bundle: dict[str, Any] | Path, key: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    path = bundle if isinstance(bundle, Path) else tmp / "altered.json"
    if not isinstance(bundle, Path):
        path.write_text(json.dumps(bundle), "utf-8")
    # The auditor's environment: nothing of the ledger's, not even its settings.
    return subprocess.run(
        [sys.executable, str(AUDITOR), str(path), str(key)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _flip(hex_or_b64: str) -> str:
    return ("B" if hex_or_b64[0] != "B" else "C") + hex_or_b64[1:]


def test_bundles_verify_offline_and_altered_bundles_do_not(
    service_settings: Settings, make_topic: Callable[..., str], tmp_path: Path
) -> None:
    settings = trust_settings(service_settings, make_topic, tmp_path)
    messages = event_messages(settings, make_events(120, "p"))
    messages.append((settings.topic_decisions, b"t1", encode_emission(EMISSION)))
    produce(settings, messages)
    catch_up(settings, "chdb")
    key = public_key_path(settings.signing_key)

    decision = prove(settings, tmp_path / "decision.json", "--decision", "d-proof")
    done = audit(decision, key, tmp_path)
    assert done.returncode == 0 and "bundle verifies" in done.stdout, done.stdout + done.stderr
    bundle = json.loads(decision.read_text("utf-8"))
    assert sorted(r["topic"] for r in bundle["records"]) == sorted(
        [settings.topic_decisions, settings.topic_crossings, settings.topic_crossings]
    )
    assert audit(prove(settings, tmp_path / "e.json", "p-7"), key, tmp_path).returncode == 0

    alterations: dict[str, Callable[[dict[str, Any]], None]] = {
        "record": lambda b: b["records"][1].update(value=_flip(b["records"][1]["value"])),
        "proof": lambda b: b["records"][1]["inclusion_proof"].__setitem__(
            0, _flip(b["records"][1]["inclusion_proof"][0])
        ),
        "checkpoint root": lambda b: b["records"][1]["checkpoint"].update(
            root=_flip(b["records"][1]["checkpoint"]["root"])
        ),
        "checkpoint size": lambda b: b["records"][1]["checkpoint"].update(
            tree_size=b["records"][1]["checkpoint"]["tree_size"] + 1
        ),
        "leaf index": lambda b: b["records"][1].update(
            leaf_index=b["records"][1]["leaf_index"] ^ 1
        ),
    }
    for name, alter in alterations.items():
        altered = copy.deepcopy(bundle)
        alter(altered)
        done = audit(altered, key, tmp_path)
        assert done.returncode == 1 and "FAIL" in done.stdout, (name, done.stdout, done.stderr)

    other = tmp_path / "other" / "key.pem"
    init_key(other)
    assert audit(decision, public_key_path(other), tmp_path).returncode == 1


def test_consistency_between_two_checkpoints_verifies_offline(
    service_settings: Settings, make_topic: Callable[..., str], tmp_path: Path
) -> None:
    settings = trust_settings(service_settings, make_topic, tmp_path)
    produce(settings, event_messages(settings, make_events(200, "c")))
    catch_up(settings, "chdb")
    key = public_key_path(settings.signing_key)
    topic = settings.topic_crossings
    sizes = [
        int(row[0])
        for row in ledger_sql(
            settings,
            f"SELECT tree_size FROM checkpoints WHERE kafka_topic = '{topic}' "
            "AND kafka_partition = 0 ORDER BY tree_size",
            "chdb",
        )
    ]
    # Two checkpoints of different sizes are what a consistency proof needs. How many the sink
    # signs depends on how its batches fall (every 25 records, at a batch's end): 2 or more.
    assert len(sizes) >= 2 and sizes[0] < sizes[-1], sizes
    out = prove(
        settings, tmp_path / "c.json", "--consistency", topic, "0", str(sizes[0]), str(sizes[-1])
    )
    done = audit(out, key, tmp_path)
    assert done.returncode == 0 and "OK   consistency" in done.stdout, done.stdout + done.stderr
    bundle = json.loads(out.read_text("utf-8"))
    bundle["consistency"]["proof"][0] = _flip(bundle["consistency"]["proof"][0])
    assert audit(bundle, key, tmp_path).returncode == 1
