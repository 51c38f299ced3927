"""The checkpoint signing key: Ed25519 (``cryptography``), kept outside the repository.

``ledger keys init`` writes the private key (PKCS#8 PEM, mode 0600, in a 0700 directory) to
``settings.signing_key`` and the raw public key, hex, beside it (``<key>.pub``): that file is
what verifiers and auditors get. A key id (the first 16 hex digits of SHA-256 of the raw public
key) names the key in every checkpoint, so a rotated key is never confused with the old one.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from base.errors import LedgerError
from base.settings import PROJECT_ROOT


class SigningKeyError(LedgerError):
    """The signing key is missing, unreadable, too widely readable or inside the repository."""


def public_key_path(signing_key: Path) -> Path:
    """Where the exported public key of ``signing_key`` lives."""
    return signing_key.with_name(signing_key.name + ".pub")


def key_id(public_raw: bytes) -> str:
    """A short, stable name of a public key."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Verifier:
    """A public key that checks checkpoint signatures."""

    public_raw: bytes

    @property
    def key_id(self) -> str:
        return key_id(self.public_raw)

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_raw).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True

    @classmethod
    def load(cls, path: Path) -> Verifier:
        try:
            raw = bytes.fromhex(path.read_text("ascii").strip())
        except (OSError, ValueError) as e:
            raise SigningKeyError(f"cannot read the public key {path}: {e}") from e
        if len(raw) != 32:
            raise SigningKeyError(f"{path} does not hold a 32-byte Ed25519 public key")
        return cls(raw)


@dataclass(frozen=True, slots=True)
class Signer:
    """The private key that signs checkpoints."""

    private: Ed25519PrivateKey

    @property
    def public_raw(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @property
    def key_id(self) -> str:
        return key_id(self.public_raw)

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)

    @classmethod
    def load(cls, path: Path) -> Signer:
        """Load the key, refusing one that others can read (the mode must be 0600 or stricter)."""
        try:
            mode = path.stat().st_mode & 0o077
            pem = path.read_bytes()
        except OSError as e:
            raise SigningKeyError(f"cannot read the signing key {path}: {e}") from e
        if mode:
            raise SigningKeyError(f"{path} is readable by others (chmod 600 it)")
        try:
            private = serialization.load_pem_private_key(pem, password=None)
        except ValueError as e:
            raise SigningKeyError(f"{path} is not a PEM private key: {e}") from e
        if not isinstance(private, Ed25519PrivateKey):
            raise SigningKeyError(f"{path} is not an Ed25519 key")
        return cls(private)


def init_key(path: Path, *, force: bool = False) -> Signer:
    """Create a new signing key at ``path`` (owner-only) and export its public key."""
    path = path.expanduser().resolve()
    if path.is_relative_to(PROJECT_ROOT):
        raise SigningKeyError(f"{path} is inside the repository; keep the signing key outside it")
    if path.exists() and not force:
        raise SigningKeyError(f"{path} exists; pass --force to replace it")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    signer = Signer(Ed25519PrivateKey.generate())
    pem = signer.private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    os.chmod(path, 0o600)
    public_key_path(path).write_text(signer.public_raw.hex() + "\n", "ascii")
    return signer


def ensure_key(path: Path) -> tuple[Signer, bool]:
    """The signing key at ``path``, created first if missing; and whether it was created."""
    path = path.expanduser()
    if path.exists():
        return Signer.load(path), False
    return init_key(path), True
