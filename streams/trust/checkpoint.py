"""Signed checkpoints: a log's size and root at a moment, signed with the ledger's Ed25519 key.

A checkpoint names its log (``<app id>/<topic>/<partition>``), the tree size, the RFC 9162 root,
the Kafka offset every leaf lies below (``next_offset``, so a verifier can name missing rows by
offset), the signing time and the key id. The signature covers the exact text of
:meth:`Checkpoint.note`, one field per line; the standalone verifier (``auditor/``) rebuilds the
same text. The same fields travel as a ``checkpoints`` table row and as a JSON message on
``border.checkpoints.v1``.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from streams.store.rows import join_instant, split_instant
from streams.trust.keys import Signer, Verifier

NOTE_HEADER = "border-ledger checkpoint v1"
CHECKPOINT_COLUMNS: tuple[str, ...] = (
    "log_id",
    "kafka_topic",
    "kafka_partition",
    "tree_size",
    "root_hash",
    "next_offset",
    "signed_at",
    "signed_at_ms",
    "key_id",
    "signature",
)


def log_id(app_id: str, topic: str, partition: int) -> str:
    """The name of the Merkle log of one (topic, partition)."""
    return f"{app_id}/{topic}/{partition}"


def format_instant(at: datetime) -> str:
    """An aware instant as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (the form signed in notes)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One signed tree head of one log."""

    log_id: str
    topic: str
    partition: int
    tree_size: int
    root: bytes
    next_offset: int
    signed_at: datetime
    key_id: str
    signature: bytes = b""

    def note(self) -> bytes:
        """The exact bytes the signature covers."""
        lines = (
            NOTE_HEADER,
            self.log_id,
            str(self.tree_size),
            self.root.hex(),
            str(self.next_offset),
            format_instant(self.signed_at),
            self.key_id,
        )
        return ("\n".join(lines) + "\n").encode("utf-8")

    def signed(self, signer: Signer) -> Checkpoint:
        return replace(self, key_id=signer.key_id, signature=signer.sign(self.note()))

    def verifies(self, verifier: Verifier) -> bool:
        return self.key_id == verifier.key_id and verifier.verify(self.note(), self.signature)

    def to_row(self) -> dict[str, Any]:
        second, ms = split_instant(self.signed_at)
        return {
            "log_id": self.log_id,
            "kafka_topic": self.topic,
            "kafka_partition": self.partition,
            "tree_size": self.tree_size,
            "root_hash": self.root.hex(),
            "next_offset": self.next_offset,
            "signed_at": second,
            "signed_at_ms": ms,
            "key_id": self.key_id,
            "signature": base64.b64encode(self.signature).decode("ascii"),
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Checkpoint:
        second = row["signed_at"]
        if second.tzinfo is None:
            second = second.replace(tzinfo=UTC)
        return cls(
            log_id=str(row["log_id"]),
            topic=str(row["kafka_topic"]),
            partition=int(row["kafka_partition"]),
            tree_size=int(row["tree_size"]),
            root=bytes.fromhex(str(row["root_hash"])),
            next_offset=int(row["next_offset"]),
            signed_at=join_instant(second, int(row["signed_at_ms"])),
            key_id=str(row["key_id"]),
            signature=_b64(str(row["signature"])),
        )

    def to_json(self) -> dict[str, Any]:
        """The checkpoint as published on Kafka and shipped in proof bundles."""
        return {
            "log_id": self.log_id,
            "topic": self.topic,
            "partition": self.partition,
            "tree_size": self.tree_size,
            "root": self.root.hex(),
            "next_offset": self.next_offset,
            "signed_at": format_instant(self.signed_at),
            "key_id": self.key_id,
            "signature": base64.b64encode(self.signature).decode("ascii"),
            "note": self.note().decode("utf-8"),
        }

    def to_message(self) -> bytes:
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":")).encode("utf-8")


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        return b""  # an unreadable signature is simply a signature that does not verify
