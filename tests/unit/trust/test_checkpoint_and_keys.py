"""Signing keys and checkpoints: RFC 8032 known answers, the signed note, key file hygiene."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from base.settings import PROJECT_ROOT
from streams.trust.checkpoint import Checkpoint, log_id
from streams.trust.keys import (
    Signer,
    SigningKeyError,
    Verifier,
    ensure_key,
    init_key,
    public_key_path,
)

# RFC 8032 section 7.1, TEST 1 (empty message).
RFC8032_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8032_SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9"
    "b46bd25bf5f0595bbe24655141438e7a100b"
)
SIGNER = Signer(Ed25519PrivateKey.from_private_bytes(RFC8032_SECRET))


def test_signing_gives_the_rfc_8032_known_answer() -> None:
    assert SIGNER.public_raw == RFC8032_PUBLIC
    assert SIGNER.sign(b"") == RFC8032_SIGNATURE
    assert Verifier(RFC8032_PUBLIC).verify(b"", RFC8032_SIGNATURE)
    assert not Verifier(RFC8032_PUBLIC).verify(b"\x00", RFC8032_SIGNATURE)


def _checkpoint() -> Checkpoint:
    return Checkpoint(
        log_id=log_id("border-ledger", "border.crossings.v1", 2),
        topic="border.crossings.v1",
        partition=2,
        tree_size=8,
        root=bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
        next_offset=11,
        signed_at=datetime(2026, 11, 30, 5, 0, 1, 234567, tzinfo=UTC),
        key_id=SIGNER.key_id,
    )


def test_the_signed_note_is_one_field_per_line() -> None:
    assert _checkpoint().note().decode() == (
        "border-ledger checkpoint v1\n"
        "border-ledger/border.crossings.v1/2\n"
        "8\n"
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328\n"
        "11\n"
        "2026-11-30T05:00:01.234Z\n"
        f"{SIGNER.key_id}\n"
    )


def test_a_checkpoint_verifies_until_any_field_changes() -> None:
    signed = _checkpoint().signed(SIGNER)
    verifier = Verifier(SIGNER.public_raw)
    assert signed.verifies(verifier)
    restored = Checkpoint.from_row(signed.to_row())  # as stored in the checkpoints table
    assert restored.note() == signed.note() and restored.verifies(verifier)
    changes: list[dict[str, object]] = [
        {"tree_size": 9},
        {"next_offset": 12},
        {"log_id": "border-ledger/border.crossings.v1/3"},
        {"root": b"\x00" * 32},
        {"signed_at": datetime(2026, 11, 30, 5, 0, 2, tzinfo=UTC)},
    ]
    for change in changes:
        assert not replace(signed, **change).verifies(verifier), change  # type: ignore[arg-type]
    other = Signer(Ed25519PrivateKey.generate())
    assert not signed.verifies(Verifier(other.public_raw))


def test_keys_init_writes_an_owner_only_key_and_the_public_key(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "signing.pem"
    signer = init_key(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert Verifier.load(public_key_path(path)).public_raw == signer.public_raw
    assert Signer.load(path).public_raw == signer.public_raw
    again, created = ensure_key(path)
    assert not created and again.public_raw == signer.public_raw
    with pytest.raises(SigningKeyError, match="exists"):
        init_key(path)


def test_a_key_others_can_read_or_inside_the_repository_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "signing.pem"
    init_key(path)
    path.chmod(0o644)
    with pytest.raises(SigningKeyError, match="readable by others"):
        Signer.load(path)
    with pytest.raises(SigningKeyError, match="inside the repository"):
        init_key(PROJECT_ROOT / "var" / "never-here.pem")
    assert not (PROJECT_ROOT / "var" / "never-here.pem").exists()
