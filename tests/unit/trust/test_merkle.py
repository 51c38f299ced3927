"""RFC 9162 Merkle trees: known answers from the Certificate Transparency reference vectors,
then every proof of every small tree, and mangled proofs rejected."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.trust.merkle import (
    EMPTY_ROOT,
    Frontier,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    leaf_hashes,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

# The reference leaves and tree heads published with RFC 6962's test suite (transparency-dev
# merkle testonly); RFC 9162 keeps the same hashing, so the answers are the same.
ENTRIES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
)]  # fmt: skip
ROOTS = [bytes.fromhex(h) for h in (
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]  # fmt: skip
LEAVES = [leaf_hash(e) for e in ENTRIES]


def _hexes(*values: str) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


INCLUSION = {
    (0, 8): _hexes(
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ),
    (5, 8): _hexes(
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ),
}
CONSISTENCY = {
    (2, 8): _hexes(
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ),
    (6, 8): _hexes(
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ),
    (2, 5): _hexes(
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ),
}

MANY = [leaf_hash(hashlib.sha256(f"leaf {i}".encode()).digest()) for i in range(70)]


def test_hashes_use_the_rfc_prefixes_and_the_empty_tree_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT == ROOTS[0] == root([])
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert (
        node_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()
    )


def test_roots_of_every_size_match_the_reference_tree_heads() -> None:
    for n in range(len(ENTRIES) + 1):
        assert root(LEAVES[:n]) == ROOTS[n], n


def test_frontier_gives_the_reference_root_after_every_append() -> None:
    frontier = Frontier()
    assert frontier.root() == ROOTS[0]
    for n, leaf in enumerate(LEAVES, start=1):
        frontier.append(leaf)
        assert frontier.size == n
        assert frontier.root() == ROOTS[n]


def test_frontier_equals_the_recursive_definition_on_larger_trees() -> None:
    frontier = Frontier()
    for n, leaf in enumerate(MANY, start=1):
        frontier.append(leaf)
        assert frontier.root() == root(MANY[:n]) == _mth(MANY[:n])


def test_extending_in_blocks_gives_the_same_tree_as_appending_leaf_by_leaf() -> None:
    # Every split of the first 40 leaves into a prefix appended singly and a block extended at
    # once (unaligned starts, odd and power-of-two widths), then a second block on top.
    for n in range(41):
        for split in range(n + 1):
            frontier = Frontier()
            for leaf in MANY[:split]:
                frontier.append(leaf)
            twin = frontier.copy()
            frontier.extend(MANY[split:n])
            assert frontier.size == n
            assert frontier.root() == (_mth(MANY[:n]) if n else EMPTY_ROOT)
            assert twin.size == split  # the copy did not move
            frontier.extend(MANY[n : n + 7])
            assert frontier.root() == root(MANY[: n + 7])


def test_leaf_hashes_in_a_batch_are_the_single_leaf_hashes() -> None:
    assert leaf_hashes(ENTRIES) == [leaf_hash(e) for e in ENTRIES] == LEAVES


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 9162's recursive definition, written out literally as a second opinion."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(_mth(leaves[:k]), _mth(leaves[k:]))


def test_inclusion_proofs_match_the_reference_paths() -> None:
    for (index, size), expected in INCLUSION.items():
        assert inclusion_proof(index, LEAVES[:size]) == expected
        assert verify_inclusion(index, size, LEAVES[index], expected, ROOTS[size])


def test_consistency_proofs_match_the_reference_proofs() -> None:
    for (old, new), expected in CONSISTENCY.items():
        assert consistency_proof(old, LEAVES[:new]) == expected
        assert verify_consistency(old, new, ROOTS[old], ROOTS[new], expected)


def test_every_inclusion_proof_of_every_small_tree_verifies_and_only_for_its_leaf() -> None:
    for n in range(1, 40):
        tree = MANY[:n]
        top = root(tree)
        for i in range(n):
            proof = inclusion_proof(i, tree)
            assert verify_inclusion(i, n, tree[i], proof, top)
            other = tree[(i + 1) % n]
            if n > 1:
                assert not verify_inclusion(i, n, other, proof, top)
                assert not verify_inclusion((i + 1) % n, n, tree[i], proof, top)
            assert not verify_inclusion(
                i, n, tree[i], proof, root(tree[:-1]) if n > 1 else EMPTY_ROOT
            )


def test_every_consistency_proof_between_small_trees_verifies() -> None:
    for new in range(1, 40):
        for old in range(1, new + 1):
            proof = consistency_proof(old, MANY[:new])
            assert verify_consistency(old, new, root(MANY[:old]), root(MANY[:new]), proof)


def test_mangled_proofs_are_rejected() -> None:
    for n in range(2, 40):
        top = root(MANY[:n])
        for i in range(n):
            proof = inclusion_proof(i, MANY[:n])
            flipped = [*proof[:-1], bytes([proof[-1][0] ^ 1]) + proof[-1][1:]]
            assert not verify_inclusion(i, n, MANY[i], flipped, top)
            assert not verify_inclusion(i, n, MANY[i], proof[:-1], top)
            assert not verify_inclusion(i, n, MANY[i], [*proof, b"\xab" * 32], top)
        for old in range(1, n):
            proof = consistency_proof(old, MANY[:n])
            old_root = root(MANY[:old])
            flipped = [bytes([proof[0][0] ^ 0x80]) + proof[0][1:], *proof[1:]]
            assert not verify_consistency(old, n, old_root, top, flipped)
            assert not verify_consistency(old, n, old_root, top, proof[:-1])
            assert not verify_consistency(old, n, old_root, top, [*proof, b"\xcd" * 32])
            assert not verify_consistency(old, n, root(MANY[1 : old + 1]), top, proof)


def test_a_tree_whose_prefix_changed_is_not_consistent_with_its_old_head() -> None:
    altered = [MANY[0], leaf_hash(b"forged"), *MANY[2:20]]
    proof = consistency_proof(8, altered)
    assert not verify_consistency(8, 20, root(MANY[:8]), root(altered), proof)


def test_out_of_range_requests_raise_and_degenerate_checks_follow_the_rfc() -> None:
    with pytest.raises(ProofError):
        inclusion_proof(8, LEAVES)
    with pytest.raises(ProofError):
        consistency_proof(0, LEAVES)
    with pytest.raises(ProofError):
        consistency_proof(9, LEAVES)
    assert verify_consistency(4, 4, ROOTS[4], ROOTS[4], [])
    assert not verify_consistency(4, 4, ROOTS[4], ROOTS[5], [])
    assert not verify_consistency(5, 4, ROOTS[5], ROOTS[4], CONSISTENCY[(2, 5)])
    assert not verify_inclusion(8, 8, LEAVES[0], INCLUSION[(0, 8)], ROOTS[8])


@given(st.lists(st.binary(max_size=12), min_size=1, max_size=80), st.data())
def test_any_log_proves_any_leaf_and_any_prefix(entries: list[bytes], data: st.DataObject) -> None:
    leaves = [leaf_hash(e) for e in entries]
    n = len(leaves)
    index = data.draw(st.integers(0, n - 1))
    old = data.draw(st.integers(1, n))
    top = root(leaves)
    assert verify_inclusion(index, n, leaves[index], inclusion_proof(index, leaves), top)
    assert verify_consistency(old, n, root(leaves[:old]), top, consistency_proof(old, leaves))
