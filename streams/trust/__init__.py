"""Trust: tamper evidence for the audit store (Merkle logs, checkpoints, proofs, retention)."""
