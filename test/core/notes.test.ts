import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { expect } from "chai";
import { x25519 } from "@noble/curves/ed25519.js";
import { bytesToHex, hexToBytes, keccak256, type Hex } from "viem";

import { LeanIMT } from "@zk-kit/lean-imt";

import { provePayment, type PaymentWitness } from "../../sdk/core/circuits/payment.js";
import { PAYMENT_SIGNALS } from "../../sdk/core/circuits/registry.js";
import { isZkPayError, type ZkReasonCode } from "../../sdk/core/errors.js";
import { MAX_TREE_DEPTH, SNARK_SCALAR_FIELD, toBytes32 } from "../../sdk/core/field.js";
import { shutdownProver } from "../../sdk/core/prover.js";
import { NoteTree } from "../../sdk/core/tree.js";
import { verifyPaymentProof } from "../../sdk/core/circuits/payment.js";
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

/** The root from an uncompressed path, by the LeanIMT rule (hash with the sibling where there is one, else carry). */
function rootOf(leaf: bigint, leafIndex: number, hasSibling: boolean[], siblings: bigint[]): bigint {
  let node = leaf;
  for (let l = 0; l < MAX_TREE_DEPTH; l++) {
    if (!hasSibling[l]) continue;
    node = Math.floor(leafIndex / 2 ** l) % 2 ? hash2(siblings[l]!, node) : hash2(node, siblings[l]!);
  }
  return node;
}

describe("uncompressed tree paths (what payment-v2 takes)", function () {
  it("every leaf of forests of many sizes: position, hasSibling, siblings and root agree with zk-kit's LeanIMT", function () {
    for (const levels of [0, 1, 2, 3, 5]) {
      const cap = 2 ** levels;
      const leaves = Array.from({ length: 3 * cap + 2 }, (_, i) => hash1(BigInt(1000 * levels + i)));
      const tree = new NoteTree(levels);
      const ref: LeanIMT<bigint>[] = [];
      leaves.forEach((leaf, g) => {
        if (g % cap === 0) ref.push(new LeanIMT<bigint>((a, b) => hash2(a, b)));
        ref.at(-1)!.insert(leaf);
        tree.insert(leaf);
        for (let i = 0; i <= g; i++) {
          const p = tree.path(i);
          const pos = notePosition(i, levels);
          expect({ treeIndex: p.treeIndex, leafIndex: p.leafIndex }).to.deep.equal(pos);
          expect(p.hasSibling).to.have.length(MAX_TREE_DEPTH);
          expect(p.siblings).to.have.length(MAX_TREE_DEPTH);
          const z = ref[pos.treeIndex]!.generateProof(pos.leafIndex);
          expect(p.root).to.equal(z.root);
          expect(rootOf(leaves[i]!, p.leafIndex, p.hasSibling, p.siblings)).to.equal(p.root);
          // The compressed proof is the uncompressed one without the carried levels.
          expect(p.siblings.filter((_, l) => p.hasSibling[l])).to.deep.equal(z.siblings);
          expect(p.compressedSiblings.slice(0, p.depth)).to.deep.equal(z.siblings);
          for (let l = 0; l < MAX_TREE_DEPTH; l++) {
            // A right child always has a sibling; a carried level has sibling 0; nothing above the tree's levels.
            if (Math.floor(p.leafIndex / 2 ** l) % 2) expect(p.hasSibling[l], `right child at ${l}`).to.equal(true);
            if (!p.hasSibling[l]) expect(p.siblings[l]).to.equal(0n);
            if (l >= levels) expect(p.hasSibling[l]).to.equal(false);
          }
        }
      });
    }
  });

  it("a leaf keeps its position as the tree grows (the nullifier binds it), while its compressed index changes", function () {
    const t = NoteTree.from(
      [1n, 2n, 3n, 4n, 5n].map((x) => hash1(x)),
      4,
    );
    const before = t.path(4);
    t.insertMany([6n, 7n].map((x) => hash1(x)));
    const after = t.path(4);
    expect(after.leafIndex).to.equal(before.leafIndex);
    expect(before.hasSibling.slice(0, 3)).to.deep.equal([false, false, true]);
    expect(after.hasSibling.slice(0, 3)).to.deep.equal([true, true, true]);
    expect(after.indices).to.not.equal(before.indices);
  });
});

describe("provePayment (payment-v2): witness checks and a real proof", function () {
  this.timeout(300_000);
  const DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "circuits", "artifacts");
  const ARTIFACTS = { wasm: path.join(DIR, "payment.wasm"), zkey: path.join(DIR, "payment.zkey") };
  const payer = WalletKeys.fromSeed(`0x${"31".repeat(32)}`);
  const api = WalletKeys.fromSeed(`0x${"32".repeat(32)}`);
  const LEVELS = 2;
  const notes = Array.from({ length: 10 }, (_, k) => payer.indexNote(k, 10_000n + BigInt(k)));
  const tree = NoteTree.from(
    notes.map((n) => commitmentOf(n)),
    LEVELS,
  );
  /** Note 6 (leaf 2 of the second tree, treeIndex 1, in a forest of 2^2-leaf trees) paid shielded to `api`. */
  const witness = (patch: Partial<PaymentWitness> = {}): PaymentWitness => ({
    note: notes[6]!,
    spendingKey: payer.spendingKey(),
    position: notePosition(6, LEVELS),
    path: tree.path(6),
    amount: 0n,
    fee: 25n,
    context: hash2(0x402n, 19n),
    payee: { value: 3_000n, owner: api.ownerKey, blinding: hash1(77n) },
    changeBlinding: payer.changeBlinding(1n),
    ...patch,
  });

  after(async function () {
    await shutdownProver();
  });

  it("refuses bad witnesses before proving, with typed errors", async function () {
    const path6 = tree.path(6);
    const cases: [string, Partial<PaymentWitness>, ZkReasonCode, RegExp][] = [
      ["over the note's value", { fee: 10_000n }, "insufficient_private_balance", /needs/],
      ["amount and payee value both", { amount: 1n }, "invalid_argument", /either/],
      ["another spender's key", { spendingKey: api.spendingKey() }, "invalid_argument", /not owned/],
      ["value >= 2^128", { payee: { value: 1n << 128n, owner: 1n, blinding: 1n } }, "invalid_argument", /payee value/],
      [
        "payee owner >= p",
        { payee: { value: 1n, owner: SNARK_SCALAR_FIELD, blinding: 1n } },
        "invalid_argument",
        /field/,
      ],
      ["23 levels", { path: { ...path6, siblings: path6.siblings.slice(1) } }, "invalid_argument", /24 levels/],
      ["position of another leaf", { position: { treeIndex: 1, leafIndex: 3 } }, "invalid_argument", /not the path/],
      ["path of another leaf", { path: tree.path(7) }, "invalid_argument", /not the path|root/],
      ["another note", { note: { ...notes[6]!, value: 20_000n } }, "invalid_argument", /root/],
      [
        "a wrong sibling",
        { path: { ...path6, siblings: path6.siblings.map((s) => (s ? s + 1n : s)) } },
        "invalid_argument",
        /root/,
      ],
    ];
    for (const [name, patch, reason, message] of cases) {
      const err = await provePayment(witness(patch), ARTIFACTS).catch((e: unknown) => e);
      expect(isZkPayError(err, reason), `${name}: ${String(err)}`).to.equal(true);
      expect((err as Error).message, name).to.match(message);
    }
  });

  it("a real shielded proof: outputs equal commitmentOf / nullifierHashOf, and it verifies", async function () {
    const w = witness();
    const r = await provePayment(w, ARTIFACTS);
    const spent = commitmentOf(w.note);
    const nullifierHash = nullifierHashOf(payer.nullifyingKey, spent, { treeIndex: 1, leafIndex: 2 });
    const payeeCommitment = commitmentOf(w.payee);
    const changeValue = 10_006n - 25n - 3_000n;
    const changeCommitment = commitmentOf({ value: changeValue, owner: payer.ownerKey, blinding: w.changeBlinding });
    expect(r.nullifierHash).to.equal(nullifierHash);
    expect(r.payeeCommitment).to.equal(payeeCommitment);
    expect(r.changeCommitment).to.equal(changeCommitment);
    expect(r.changeValue).to.equal(changeValue);
    expect(r.treeIndex).to.equal(1);
    const sig = r.publicSignals;
    expect(sig[PAYMENT_SIGNALS.nullifierHash]).to.equal(nullifierHash);
    expect(sig[PAYMENT_SIGNALS.payeeCommitment]).to.equal(payeeCommitment);
    expect(sig[PAYMENT_SIGNALS.changeCommitment]).to.equal(changeCommitment);
    expect(sig[PAYMENT_SIGNALS.root]).to.equal(tree.path(6).root);
    expect(sig[PAYMENT_SIGNALS.treeIndex]).to.equal(1n);
    expect(sig[PAYMENT_SIGNALS.publicValue]).to.equal(25n); // amount 0 + fee 25
    expect(sig[PAYMENT_SIGNALS.context]).to.equal(w.context);
    const vkey: unknown = JSON.parse(readFileSync(path.join(DIR, "payment.vkey.json"), "utf8"));
    expect(await verifyPaymentProof(vkey, r.proof, sig)).to.equal(true);
    // The same proof with the nullifier of another position does not verify.
    const moved = sig.map((x, i) =>
      i === PAYMENT_SIGNALS.nullifierHash
        ? nullifierHashOf(payer.nullifyingKey, spent, { treeIndex: 1, leafIndex: 3 })
        : x,
    );
    expect(await verifyPaymentProof(vkey, r.proof, moved)).to.equal(false);
  });
});
