import { createHash } from "node:crypto";

import { expect } from "chai";
import { x25519 } from "@noble/curves/ed25519.js";
import { bytesToHex, hexToBytes, keccak256, type Hex } from "viem";

import { isZkPayError } from "../../sdk/core/errors.js";
import { SNARK_SCALAR_FIELD, toBytes32 } from "../../sdk/core/field.js";
import { WalletKeys } from "../../sdk/core/keys.js";
import { memoPad, parseMemo } from "../../sdk/core/memo.js";
import {
  commitmentOf,
  notePosition,
  nullifierHashOf,
  nullifyingKeyOf,
  ownerKeyOf,
  precommitmentOf,
} from "../../sdk/core/note.js";
import { hash1, hash2, hash3, hash4 } from "../../sdk/core/poseidon.js";
import { parseShieldedAddress } from "../../sdk/core/shielded-address.js";

// Key-owned notes and wallet keys (spec #19 §1), against the spec's formulas written out
// independently here (circomlib Poseidon via poseidon.ts, keccak, sha256 from node:crypto).

const SEED = `0x${"11".repeat(32)}` as Hex;
/** r = keccak256("402zk/seed/v1" || seed) mod p, as the spec defines the seed root. */
const R =
  BigInt(keccak256(new Uint8Array([...new TextEncoder().encode("402zk/seed/v1"), ...hexToBytes(SEED)]))) %
  SNARK_SCALAR_FIELD;

describe("key-owned notes", function () {
  it("commitment = Poseidon1(Poseidon(value, Poseidon(owner, blinding)))", function () {
    const n = { value: 10_000n, owner: 123n, blinding: 456n };
    expect(precommitmentOf(n.owner, n.blinding)).to.equal(hash2(123n, 456n));
    expect(commitmentOf(n)).to.equal(hash1(hash2(10_000n, hash2(123n, 456n))));
    // Each field of the opening matters.
    const c = commitmentOf(n);
    expect(commitmentOf({ ...n, value: 10_001n })).to.not.equal(c);
    expect(commitmentOf({ ...n, owner: 124n })).to.not.equal(c);
    expect(commitmentOf({ ...n, blinding: 457n })).to.not.equal(c);
    // Owner and blinding are not interchangeable.
    expect(commitmentOf({ ...n, owner: 456n, blinding: 123n })).to.not.equal(c);
  });

  it("nk = Poseidon(sk, 1) and ownerKey = Poseidon(sk, 2): different keys of one sk", function () {
    expect(nullifyingKeyOf(77n)).to.equal(hash2(77n, 1n));
    expect(ownerKeyOf(77n)).to.equal(hash2(77n, 2n));
    expect(nullifyingKeyOf(77n)).to.not.equal(ownerKeyOf(77n));
  });

  it("nullifierHash = Poseidon4(nk, commitment, treeIndex, leafIndex) binds key, note and position", function () {
    const c = commitmentOf({ value: 5n, owner: 1n, blinding: 2n });
    const h = nullifierHashOf(9n, c, { treeIndex: 1, leafIndex: 3 });
    expect(h).to.equal(hash4(9n, c, 1n, 3n));
    // Equal commitments at two positions have two nullifiers (spending one never blocks the other).
    expect(nullifierHashOf(9n, c, { treeIndex: 1, leafIndex: 4 })).to.not.equal(h);
    expect(nullifierHashOf(9n, c, { treeIndex: 0, leafIndex: 3 })).to.not.equal(h);
    // (tree, leaf) is not the same as (leaf, tree).
    expect(nullifierHashOf(9n, c, { treeIndex: 3, leafIndex: 1 })).to.not.equal(h);
    expect(nullifierHashOf(10n, c, { treeIndex: 1, leafIndex: 3 })).to.not.equal(h);
  });

  it("notePosition splits a global leaf index by the tree's levels", function () {
    expect(notePosition(0, 24)).to.deep.equal({ treeIndex: 0, leafIndex: 0 });
    expect(notePosition(5, 2)).to.deep.equal({ treeIndex: 1, leafIndex: 1 });
    expect(notePosition(2 ** 24 - 1, 24)).to.deep.equal({ treeIndex: 0, leafIndex: 2 ** 24 - 1 });
    expect(notePosition(2 ** 24, 24)).to.deep.equal({ treeIndex: 1, leafIndex: 0 });
    // Beyond 2^32 (where `>>` would wrap).
    expect(notePosition(2 ** 40 + 7, 24)).to.deep.equal({ treeIndex: 2 ** 16, leafIndex: 7 });
    expect(notePosition(9, 0)).to.deep.equal({ treeIndex: 9, leafIndex: 0 });
    for (const [g, l] of [
      [-1, 24],
      [1.5, 24],
      [0, 25],
      [0, -1],
    ] as const) {
      expect(() => notePosition(g, l))
        .to.throw()
        .that.satisfies((e: unknown) => isZkPayError(e, "invalid_argument"));
    }
  });
});

describe("WalletKeys (key-owned notes)", function () {
  const keys = WalletKeys.fromSeed(SEED);

  it("derives sk, nk, ownerKey, vk and ek exactly as the spec defines them", function () {
    const sk = hash2(R, 41n);
    expect(keys.spendingKey()).to.equal(sk);
    expect(keys.nullifyingKey).to.equal(hash2(sk, 1n));
    expect(keys.ownerKey).to.equal(hash2(sk, 2n));
    const vk = createHash("sha256")
      .update(Buffer.concat([Buffer.from("402zk/viewing-key/v1"), Buffer.from(hexToBytes(toBytes32(R)))]))
      .digest();
    expect(bytesToHex(keys.viewingKey())).to.equal(bytesToHex(vk));
    expect(bytesToHex(keys.encryptionKey)).to.equal(bytesToHex(x25519.getPublicKey(vk)));
  });

  it("derives note blindings and tags with their own purposes", function () {
    expect(keys.depositBlinding(3, 99n)).to.equal(hash4(R, 3n, 99n, 11n));
    expect(keys.depositTag(3)).to.equal(hash3(R, 3n, 13n));
    expect(keys.changeBlinding(555n)).to.equal(hash3(R, 555n, 22n));
    expect(keys.changeTag(555n)).to.equal(hash3(R, 555n, 23n));
    expect(keys.indexBlinding(4)).to.equal(hash3(R, 4n, 2n));
    expect(keys.indexNote(4, 10n)).to.deep.equal({ value: 10n, owner: keys.ownerKey, blinding: hash3(R, 4n, 2n) });
  });

  it("is deterministic: two instances of one seed agree on every key and derivation", function () {
    const again = WalletKeys.fromSeed(SEED);
    expect(again.spendingKey()).to.equal(keys.spendingKey());
    expect(again.address()).to.equal(keys.address());
    expect(again.viewingKeyString()).to.equal(keys.viewingKeyString());
    expect(again.depositBlinding(0, 1n)).to.equal(keys.depositBlinding(0, 1n));
    expect(again.changeBlinding(7n)).to.equal(keys.changeBlinding(7n));
  });

  it("domain-separates every derivation: all distinct for the same inputs, and across seeds", function () {
    const other = WalletKeys.fromSeed(`0x${"12".repeat(32)}`);
    const x = 1n;
    const values = (k: WalletKeys) => [
      k.spendingKey(),
      k.nullifyingKey,
      k.ownerKey,
      BigInt(bytesToHex(k.viewingKey())),
      BigInt(bytesToHex(k.encryptionKey)),
      k.depositBlinding(1, x),
      k.depositBlinding(1, x + 1n),
      k.depositBlinding(2, x),
      k.depositTag(1),
      k.changeBlinding(x),
      k.changeTag(x),
      k.indexBlinding(1),
      k.credentialSecrets(x).nullifierSeed,
      k.credentialSecrets(x).blinding,
    ];
    const all = [...values(keys), ...values(other)];
    expect(new Set(all.map(String)).size).to.equal(all.length);
  });

  it("hands out copies of the viewing and encryption keys (a caller cannot corrupt them)", function () {
    const vk = keys.viewingKey();
    vk.fill(0);
    expect(keys.viewingKey().some((b) => b !== 0)).to.equal(true);
    const ek = keys.encryptionKey;
    ek.fill(0);
    expect(keys.encryptionKey.some((b) => b !== 0)).to.equal(true);
  });

  it("address() carries the owner key and the encryption key", function () {
    const a = parseShieldedAddress(keys.address());
    expect(a.ownerKey).to.equal(keys.ownerKey);
    expect(bytesToHex(a.encryptionKey)).to.equal(bytesToHex(keys.encryptionKey));
  });

  it("change memos keep their layout; the pad is Poseidon3(blinding, nonce, 31) & (2^128 - 1)", function () {
    const memo = keys.encodeMemo(4, 12_345n);
    const parts = parseMemo(memo)!;
    expect(parts.tag).to.equal(hash3(R, 4n, 3n));
    const blinding = keys.indexBlinding(4);
    expect(memoPad(blinding, parts.nonce)).to.equal(hash3(blinding, parts.nonce, 31n) & ((1n << 128n) - 1n));
    expect(parts.masked ^ (hash3(blinding, parts.nonce, 31n) & ((1n << 128n) - 1n))).to.equal(12_345n);
    expect(keys.decodeMemoValue(4, memo)).to.equal(12_345n);
  });

  it("refuses a malformed seed with invalid_argument", function () {
    for (const s of ["0x11", "11".repeat(32), `0x${"zz".repeat(32)}`]) {
      expect(() => WalletKeys.fromSeed(s))
        .to.throw()
        .that.satisfies((e: unknown) => isZkPayError(e, "invalid_argument"));
    }
  });
});
