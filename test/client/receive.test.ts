import { expect } from "chai";
import type { Hex } from "viem";

import { scanIncoming, type LeafLog } from "../../sdk/client/actions/receive.js";
import type { WalletState } from "../../sdk/client/store.js";
import { NoteDeriver, NoteScanner } from "../../sdk/client/sync/notes.js";
import { toBytes32 } from "../../sdk/core/field.js";
import { WalletKeys } from "../../sdk/core/keys.js";
import { encryptNote } from "../../sdk/core/note-encryption.js";
import { commitmentOf, notePosition, nullifierHashOf, type NoteOpening } from "../../sdk/core/note.js";
import { nodeX25519 } from "../../sdk/node/x25519.js";

const LEVELS = 3;
const me = WalletKeys.fromSeed(`0x${"31".repeat(32)}`);
const other = WalletKeys.fromSeed(`0x${"32".repeat(32)}`);
const cond = toBytes32(0xc0ffeen);

function emptyState(): WalletState {
  return {
    version: 3,
    chainId: 31337,
    facilitator: "0x00000000000000000000000000000000000000f1",
    syncedBlock: 0,
    nextDepositIndex: 0,
    notes: [],
    pending: [],
    warnings: { duplicateTags: 0, duplicateNullifiers: 0 },
  };
}

/** A payee note of `value` for `owner`, its memo encrypted to `ek`. */
function payment(
  value: bigint,
  owner: bigint,
  ek: Uint8Array,
  blinding = 77n + value,
): { note: NoteOpening; memo: Hex } {
  const note = { value, owner, blinding };
  return { note, memo: encryptNote(ek, { ...note, conditionHash: cond }) };
}

describe("receiving: trial decryption of payee memos", function () {
  it("keeps exactly the notes owned by this wallet whose opening recomputes the leaf", function () {
    const state = emptyState();
    const scanner = new NoteScanner(state, new NoteDeriver(me, LEVELS, nodeX25519), 4);
    const ours = payment(500n, me.ownerKey, me.encryptionKey);
    // Encrypted to us but naming another owner: we could not spend it, so it is not ours.
    const otherOwner = payment(600n, other.ownerKey, me.encryptionKey);
    // Encrypted to another wallet's key: it does not decrypt.
    const otherKey = payment(700n, me.ownerKey, other.encryptionKey);
    // Our opening, published with a leaf it does not open (a payer's lie about the note).
    const forged = payment(800n, me.ownerKey, me.encryptionKey);
    // A memo of the right length that is not a payee memo at all.
    const junk = `0x${"5a".repeat(187)}` as Hex;
    scanner.scan(0, commitmentOf(otherOwner.note), otherOwner.memo, 10);
    scanner.scan(1, commitmentOf(otherKey.note), otherKey.memo, 10);
    scanner.scan(2, commitmentOf(ours.note) + 1n, forged.memo, 11);
    scanner.scan(3, 12345n, junk, 11);
    scanner.scan(4, commitmentOf(ours.note), ours.memo, 12);
    // The same opening paid twice: two leaves, two positions, two nullifiers, both ours.
    scanner.scan(9, commitmentOf(ours.note), ours.memo, 13);

    expect(state.notes.map((n) => [n.leafIndex, n.value, n.origin])).to.deep.equal([
      [4, "500", { kind: "received", conditionHash: cond, blockNumber: 12, time: 0 }],
      [9, "500", { kind: "received", conditionHash: cond, blockNumber: 13, time: 0 }],
    ]);
    const c = commitmentOf(ours.note);
    expect(state.notes.map((n) => n.nullifierHash)).to.deep.equal([
      nullifierHashOf(me.nullifyingKey, c, notePosition(4, LEVELS)).toString(),
      nullifierHashOf(me.nullifyingKey, c, { treeIndex: 1, leafIndex: 1 }).toString(),
    ]);
    expect(scanner.received).to.have.length(2);
    // The wallet that created them (knowing the openings) finds none of them as its own.
    const payerState = emptyState();
    const payerScanner = new NoteScanner(payerState, new NoteDeriver(other, LEVELS), 4);
    payerScanner.scan(4, commitmentOf(ours.note), ours.memo, 12);
    expect(payerState.notes).to.deep.equal([]);
  });

  it("the auditor's viewing key lists the same payments (noble or node X25519), another key lists none", function () {
    const ours = payment(500n, me.ownerKey, me.encryptionKey);
    const theirs = payment(900n, other.ownerKey, other.encryptionKey);
    const logs: LeafLog[] = [
      { leafIndex: 0, commitment: commitmentOf(theirs.note), memo: theirs.memo, blockNumber: 5, time: 1_000 },
      { leafIndex: 1, commitment: commitmentOf(ours.note), memo: ours.memo, blockNumber: 6, time: 1_012 },
      { leafIndex: 2, commitment: commitmentOf(ours.note) + 1n, memo: ours.memo, blockNumber: 6, time: 1_012 },
      { leafIndex: 3, commitment: 1n, memo: `0x${"00".repeat(64)}`, blockNumber: 7 },
    ];
    const expected = [
      {
        blockNumber: 6,
        time: 1_012,
        amount: 500n,
        conditionHash: cond,
        commitment: commitmentOf(ours.note),
        leafIndex: 1,
      },
    ];
    expect(scanIncoming(me.viewingKeyString(), logs)).to.deep.equal(expected);
    expect(scanIncoming(me.viewingKeyString(), logs, { x25519: nodeX25519 })).to.deep.equal(expected);
    expect(scanIncoming(other.viewingKeyString(), logs).map((p) => p.amount)).to.deep.equal([900n]);
  });
});
