"""Check a border-ledger proof bundle offline: python3 verify_bundle.py BUNDLE.json KEY.pub

Standard library plus `cryptography` only. KEY.pub: the ledger's public key (hex), obtained from
the operator by a channel you trust. Checks each record's RFC 9162 leaf hash and inclusion proof,
the Ed25519-signed checkpoint, and consistency proofs. Exit 0 only if all hold (docs/auditors.md).
"""

import base64
import hashlib
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FORMAT = "border-ledger proof bundle v1"


def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def fold(fn, sn, fr, sr, path):  # RFC 9162 2.1.3.2 (inclusion: sr) and 2.1.4.2 (fr and sr)
    for c in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return (fr, sr) if sn == 0 else None


def consistency_ok(m, n, old_root, new_root, proof):
    if m == n:
        return not proof and old_root == new_root
    if not 0 < m < n or not proof:
        return False
    path = [old_root, *proof] if m & (m - 1) == 0 else list(proof)
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    return fold(fn, sn, path[0], path[0], path[1:]) == (old_root, new_root)


def checkpoint_ok(cp, key):
    fields = ("log_id", "tree_size", "root", "next_offset", "signed_at", "key_id")
    note = "border-ledger checkpoint v1\n" + "".join(f"{cp[f]}\n" for f in fields)
    key_id = hashlib.sha256(key.public_bytes_raw()).hexdigest()[:16]
    try:
        key.verify(base64.b64decode(cp["signature"]), note.encode())
    except (InvalidSignature, ValueError):
        return False
    return note == cp["note"] and cp["key_id"] == key_id


def record_ok(rec, key):
    cp = rec["checkpoint"]
    leaf = hashlib.sha256(b"\x00" + base64.b64decode(rec["value"], validate=True)).digest()
    proof = [bytes.fromhex(h) for h in rec["inclusion_proof"]]
    same_log = cp["log_id"].endswith(f"/{rec['topic']}/{rec['partition']}")
    i, size = rec["leaf_index"], cp["tree_size"]
    heads = fold(i, size - 1, leaf, leaf, proof) if 0 <= i < size else None
    included = heads is not None and heads[1] == bytes.fromhex(cp["root"])
    return leaf.hex() == rec["leaf_hash"] and same_log and included and checkpoint_ok(cp, key)


def consistent(c, key):
    old, new, proof = c["old"], c["new"], [bytes.fromhex(h) for h in c["proof"]]
    roots = bytes.fromhex(old["root"]), bytes.fromhex(new["root"])
    sizes_ok = consistency_ok(old["tree_size"], new["tree_size"], *roots, proof)
    signed = checkpoint_ok(old, key) and checkpoint_ok(new, key)
    return sizes_ok and signed and old["log_id"] == new["log_id"]


def main(bundle_path, key_path):
    with open(bundle_path, encoding="utf-8") as f, open(key_path, encoding="ascii") as k:
        bundle, trusted = json.load(f), k.read().strip()
    key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(trusted))
    checks = [bundle.get("format") == FORMAT, bundle.get("public_key") == trusted]
    for rec in bundle.get("records", []):
        checks.append(record_ok(rec, key))
        where = f"{rec['topic']}[{rec['partition']}]@{rec['offset']}"
        print("OK  " if checks[-1] else "FAIL", where, "leaf", rec["leaf_index"])
    if c := bundle.get("consistency"):
        checks.append(consistent(c, key))
        print("OK  " if checks[-1] else "FAIL", "consistency", c["new"]["log_id"])
    ok = len(checks) > 2 and all(checks)
    print("bundle verifies" if ok else "bundle does NOT verify")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
