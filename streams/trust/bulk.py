"""``ledger verify``'s fast path: check a whole block of a log's rows at once.

Rows arrive column by column (``Store.query_blocks``); a block is clean when its leaf indexes
continue the log without a gap, its offsets rise strictly, every Kafka value hashes to its stored
leaf hash (or is erased under a recorded erasure), every row lies below the ``next_offset`` of the
checkpoint that covers it, every derived column matches its value (when columns are checked) and
every checkpoint that ends inside the block has the root the leaves give. The checks run as
whole-list operations and the tree grows level by level (``Frontier.extend``), so a clean block
costs about two SHA-256 calls per leaf. A block that is not clean is handed back untouched:
``streams.trust.verify`` then walks it row by row to name the first problem exactly as before.
"""

from __future__ import annotations

import binascii
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import islice

from streams.trust.checkpoint import Checkpoint
from streams.trust.logs import LeafBlock
from streams.trust.merkle import Frontier, leaf_hashes

# A block -> do its derived columns match its values (``streams.trust.columns``)?
BlockColumnsMatch = Callable[[LeafBlock], bool]


@dataclass(slots=True)
class Clean:
    """What a clean block adds to a log's walk."""

    frontier: Frontier  # the walk's frontier advanced over the block (a copy)
    checkpoints_passed: int  # checkpoints (from the walk's next one) whose root matched
    signed_size: int  # tree size of the last of them (0 if none)
    erased: int
    last_offset: int
    unsigned_from: int | None  # first offset after the last checkpoint passed in the block


def clean_block(
    block: LeafBlock,
    frontier: Frontier,
    prev_offset: int,
    upcoming: Sequence[Checkpoint],
    *,
    erased: set[int],
    columns: BlockColumnsMatch | None,
) -> Clean | None:
    """The block's effect on the walk if it is clean (see module docstring), else None."""
    offsets: list[int] = block.column("kafka_offset")
    start, n = frontier.size, len(offsets)
    if block.column("leaf_index") != list(range(start, start + n)):
        return None
    if any(cp.tree_size <= start for cp in upcoming):
        return None  # a checkpoint the walk can no longer reach: let the row walk name it
    if offsets[0] <= prev_offset or any(map(operator.ge, offsets, islice(offsets, 1, None))):
        return None
    if not _below_next_offsets(offsets, start, upcoming):
        return None
    leaves = _leaves(block, offsets, erased)
    if leaves is None:
        return None
    digests, erased_count = leaves
    if columns is not None and not columns(block):
        return None
    return _fold(frontier.copy(), digests, offsets, upcoming, erased_count)


def _below_next_offsets(offsets: list[int], start: int, upcoming: Sequence[Checkpoint]) -> bool:
    """Every row lies below the ``next_offset`` of the first checkpoint whose tree holds it."""
    end = start + len(offsets)
    covered = start
    for cp in upcoming:
        last = min(cp.tree_size, end) - 1  # the highest offset this checkpoint covers
        if last >= covered and offsets[last - start] >= cp.next_offset:
            return False
        covered = max(covered, cp.tree_size)
        if covered >= end:
            break
    return True


def _leaves(
    block: LeafBlock, offsets: list[int], erased: set[int]
) -> tuple[list[bytes], int] | None:
    """Each row's recomputed leaf hash (the stored one for an erased row), or None if any
    value is missing without an erasure, is not base64 or does not hash to its stored hash."""
    stored: list[str] = block.column("leaf_hash")
    values: list[str] = block.column("kafka_value")
    try:
        raw = [binascii.a2b_base64(v, strict_mode=True) for v in values]
    except (binascii.Error, ValueError):
        return None
    digests = leaf_hashes(raw)
    if b"".join(digests).hex() == "".join(stored):  # whole-block first: one C comparison
        return digests, 0
    hexes = [d.hex() for d in digests]
    count = 0
    for i, (mine, theirs) in enumerate(zip(hexes, stored, strict=True)):
        if mine == theirs:
            continue
        if values[i] or offsets[i] not in erased or len(theirs) != 64:
            return None
        try:
            digests[i] = bytes.fromhex(theirs)
        except ValueError:
            return None
        count += 1
    return digests, count


def _fold(
    frontier: Frontier,
    digests: list[bytes],
    offsets: list[int],
    upcoming: Sequence[Checkpoint],
    erased: int,
) -> Clean | None:
    """Grow the tree over the block, checking the root at every checkpoint inside it."""
    start = frontier.size
    done = 0
    passed = 0
    signed = 0
    unsigned_from: int | None = offsets[0]
    for cp in upcoming:
        if cp.tree_size > start + len(digests):
            break
        frontier.extend(digests[done : cp.tree_size - start])
        done = cp.tree_size - start
        if frontier.root() != cp.root:
            return None
        passed += 1
        signed = cp.tree_size
        unsigned_from = offsets[done] if done < len(offsets) else None
    frontier.extend(digests[done:])
    return Clean(frontier, passed, signed, erased, offsets[-1], unsigned_from)
