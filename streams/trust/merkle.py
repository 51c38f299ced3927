"""RFC 9162 Merkle trees: leaf and node hashes, roots, inclusion and consistency proofs.

Hashing follows RFC 9162 section 2.1 exactly: SHA-256, a leaf is ``H(0x00 || data)``, an
interior node ``H(0x01 || left || right)``, the empty tree ``H()``, and a tree of ``n > 1``
leaves splits at the largest power of two below ``n``. :class:`Frontier` keeps only the roots
of the perfect subtrees of a growing log (at most 64 hashes), so the sink and ``ledger verify``
append leaves in O(1) amortised time and memory. Proof generation takes the list of leaf
hashes; proof checking (2.1.3.2 and 2.1.4.2) needs only the hashes, the sizes and the proof.
Pure functions, no I/O; the standalone auditor's verifier (``auditor/verify_bundle.py``)
re-implements the two checks independently.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

_sha256 = hashlib.sha256
EMPTY_ROOT = _sha256(b"").digest()


class ProofError(ValueError):
    """A proof was requested for sizes or indexes the tree does not have."""


def leaf_hash(data: bytes) -> bytes:
    """The RFC 9162 leaf hash of one entry: ``SHA-256(0x00 || data)``."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The RFC 9162 interior node hash: ``SHA-256(0x01 || left || right)``."""
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH over the leaf hashes ``leaves``, bottom-up (an odd last node is carried up)."""
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def leaf_hashes(values: Iterable[bytes]) -> list[bytes]:
    """:func:`leaf_hash` of each value, in one comprehension (the batch form)."""
    return [_sha256(b"\x00" + v).digest() for v in values]


def perfect_root(leaves: Sequence[bytes]) -> bytes:
    """The root over a power-of-two number of leaf hashes, built level by level."""
    level = list(leaves)
    while len(level) > 1:  # node_hash inlined: this loop hashes about one node per leaf
        pairs = zip(level[0::2], level[1::2], strict=True)
        level = [_sha256(b"\x01" + a + b).digest() for a, b in pairs]
    return level[0]


class Frontier:
    """An append-only log's perfect-subtree roots: O(log n) state, the root at any moment."""

    __slots__ = ("_stack", "size")

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[bytes] = []

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash (merging equal-height subtrees, as binary addition carries)."""
        self._push(leaf, 0)

    def extend(self, leaves: Sequence[bytes]) -> None:
        """Add many leaf hashes: each aligned perfect subtree is hashed level by level (one
        ``map`` per level instead of a Python step per leaf), then pushed as one node."""
        start, end = 0, len(leaves)
        while start < end:
            height = (end - start).bit_length() - 1  # the largest power of two that fits
            if self.size:  # and that keeps the subtree aligned on the log's size
                height = min(height, (self.size & -self.size).bit_length() - 1)
            width = 1 << height
            self._push(perfect_root(leaves[start : start + width]), height)
            start += width

    def copy(self) -> Frontier:
        twin = Frontier()
        twin.size = self.size
        twin._stack = list(self._stack)
        return twin

    def _push(self, subtree: bytes, height: int) -> None:
        """Add the root of a perfect subtree of ``2**height`` leaves (size is a multiple)."""
        stack = self._stack
        h = subtree
        n = self.size >> height
        while n & 1:
            h = node_hash(stack.pop(), h)
            n >>= 1
        stack.append(h)
        self.size += 1 << height

    def root(self) -> bytes:
        """MTH of the leaves appended so far."""
        if not self._stack:
            return EMPTY_ROOT
        h = self._stack[-1]
        for left in reversed(self._stack[:-1]):
            h = node_hash(left, h)
        return h


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(index, D[n]) of RFC 9162 2.1.3.1 for the tree of all ``leaves``."""
    if not 0 <= index < len(leaves):
        raise ProofError(f"leaf {index} is not in a tree of size {len(leaves)}")
    path: list[bytes] = []
    lo, hi = 0, len(leaves)
    while hi - lo > 1:  # descend, collecting the sibling subtree roots (leaf-most last)
        k = _split(hi - lo)
        if index - lo < k:
            path.append(root(leaves[lo + k : hi]))
            hi = lo + k
        else:
            path.append(root(leaves[lo : lo + k]))
            lo += k
    path.reverse()
    return path


def _walk(
    fn: int, sn: int, fr: bytes, sr: bytes, path: Sequence[bytes]
) -> tuple[bytes, bytes] | None:
    """The proof walk of RFC 9162 2.1.3.2 (``sr`` only) and 2.1.4.2 (``fr`` and ``sr``).

    Returns the two recomputed heads, or None if the path is longer than the tree is deep or
    ends before reaching the top.
    """
    for c in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return (fr, sr) if sn == 0 else None


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], top: bytes
) -> bool:
    """RFC 9162 2.1.3.2: is ``leaf`` leaf ``index`` of the tree (``size``, ``top``)?"""
    if not 0 <= index < size:
        return False
    heads = _walk(index, size - 1, leaf, leaf, proof)
    return heads is not None and heads[1] == top


def consistency_proof(old_size: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 2.1.4.1: the first ``old_size`` leaves are a prefix."""
    n = len(leaves)
    if not 0 < old_size <= n:
        raise ProofError(f"no consistency proof from size {old_size} to {n}")
    return _subproof(old_size, leaves, 0, n, True)


def _subproof(m: int, leaves: Sequence[bytes], lo: int, hi: int, whole: bool) -> list[bytes]:
    n = hi - lo
    if m == n:
        return [] if whole else [root(leaves[lo:hi])]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, leaves, lo, lo + k, whole), root(leaves[lo + k : hi])]
    return [*_subproof(m - k, leaves, lo + k, hi, False), root(leaves[lo : lo + k])]


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 2.1.4.2: does tree (``new_size``, ``new_root``) extend the old one?"""
    if old_size == new_size:
        return not proof and old_root == new_root
    if not 0 < old_size < new_size or not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the first node
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    return _walk(fn, sn, path[0], path[0], path[1:]) == (old_root, new_root)
