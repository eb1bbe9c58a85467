import { expect } from "chai";
import type { PublicClient } from "viem";

import { ZkPayError } from "../../sdk/core/errors.js";
import { WalletKeys } from "../../sdk/core/keys.js";
import { commitmentOf, notePosition, nullifierHashOf } from "../../sdk/core/note.js";
import type { CircuitArtifacts } from "../../sdk/core/circuits/artifacts.js";
import { NoteTree } from "../../sdk/core/tree.js";
import { balances } from "../../sdk/client/actions/balances.js";
import {
  holdNote,
  pickNote,
  queuedNotes,
  recordSettlement,
  releaseUnlessUnconfirmed,
  spendableNotes,
  withNoteBusy,
} from "../../sdk/client/actions/select-note.js";
import { MemoryNoteStore, type StoredNote, type WalletState } from "../../sdk/client/store.js";
import type { PreparedPayment } from "../../sdk/client/types.js";
import { WalletCore } from "../../sdk/client/wallet/core.js";

const SEED = `0x${"11".repeat(32)}` as const;
const POOL = {
  chainId: 31337,
  facilitator: "0x00000000000000000000000000000000000000f1",
  token: "0x00000000000000000000000000000000000000e1",
  deploymentBlock: 1,
} as const;

const LEVELS = 4;

/**
 * A wallet core over notes of deposits 0..n-1 with the given values (the ones listed in
 * `received` are notes paid to the wallet instead), the first `committed` of them in the
 * tree's root, the rest queued. Selection and reservations read only the state and the
 * tree, so no chain is needed (the RPC client is never called).
 */
function coreWith(
  values: bigint[],
  committed: number,
  received: number[] = [],
): { core: WalletCore; store: MemoryNoteStore } {
  const keys = WalletKeys.fromSeed(SEED);
  const notes: StoredNote[] = values.map((value, k) => {
    const salt = BigInt(k + 1);
    const blinding = keys.depositBlinding(k, salt);
    const commitment = commitmentOf({ value, owner: keys.ownerKey, blinding });
    return {
      origin: received.includes(k)
        ? { kind: "received", conditionHash: `0x${"ab".repeat(32)}`, blockNumber: 5, time: 1_700_000_000 }
        : { kind: "deposit", deposit: k, salt: salt.toString() },
      value: value.toString(),
      owner: keys.ownerKey.toString(),
      blinding: blinding.toString(),
      leafIndex: k,
      commitment: commitment.toString(),
      nullifierHash: nullifierHashOf(keys.nullifyingKey, commitment, notePosition(k, LEVELS)).toString(),
      spent: false,
    };
  });
  const tree = new NoteTree(LEVELS);
  tree.append(notes.map((n) => BigInt(n.commitment)));
  tree.commit(committed);
  const state: WalletState = {
    version: 3,
    chainId: POOL.chainId,
    facilitator: POOL.facilitator,
    syncedBlock: 10,
    nextDepositIndex: values.length,
    notes,
    pending: [],
    warnings: { duplicateTags: 0, duplicateNullifiers: 0 },
    tree: tree.summary(),
  };
  const store = new MemoryNoteStore();
  const core = new WalletCore(
    {
      seed: SEED,
      pool: POOL,
      publicClient: {} as PublicClient,
      walletClient: undefined,
      store,
      artifacts: {} as CircuitArtifacts,
      logChunkSize: 1000,
      depositGapLimit: 32,
      intervalMs: 15_000,
      jitterMs: 5_000,
      waitForChangeMs: 20_000,
      onWarning: undefined,
      onSyncProgress: undefined,
      x25519: undefined,
    },
    state,
    tree,
  );
  return { core, store };
}

/** The part of a prepared payment that reservations read. */
const paymentOf = (note: StoredNote) => ({ proof: { nullifierHash: BigInt(note.nullifierHash) } }) as PreparedPayment;

describe("wallet actions: note selection and reservations", function () {
  it("picks the smallest committed note that covers the payment; queued notes are not spendable", function () {
    const { core } = coreWith([500n, 100n, 300n, 1_000n], 3);
    expect(spendableNotes(core).map((n) => n.value)).to.deep.equal(["500", "100", "300"]);
    expect(queuedNotes(core).map((n) => n.value)).to.deep.equal(["1000"]);
    expect(pickNote(core, 250n)?.value).to.equal("300");
    expect(pickNote(core, 100n)?.value).to.equal("100");
    expect(pickNote(core, 600n)).to.equal(undefined); // only the queued note covers it
    expect(balances(core)).to.deep.equal({
      spendable: 900n,
      pending: 1_000n,
      reserved: 0n,
      total: 1_900n,
      received: 0n,
    });
  });

  it("a note being proven is neither picked nor counted, and comes back when proving ends", async function () {
    const { core } = coreWith([100n, 300n], 2);
    const note = pickNote(core, 200n)!;
    await withNoteBusy(core, note, async () => {
      expect(pickNote(core, 200n)).to.equal(undefined);
      expect(balances(core)).to.deep.include({ spendable: 100n, reserved: 300n, total: 100n });
    });
    expect(pickNote(core, 200n)?.value).to.equal("300");
  });

  it("a held note stays held through an unconfirmed failure, and is released by any other one", async function () {
    const { core, store } = coreWith([100n, 300n], 2);
    const note = pickNote(core, 200n)!;
    await holdNote(core, { nullifierHash: note.nullifierHash, changeValue: "50", expiry: 2e9, createdAt: 1 });
    expect((await store.load())!.pending).to.have.length(1); // saved before it is current
    expect(pickNote(core, 200n)).to.equal(undefined);

    const p = paymentOf(note);
    await releaseUnlessUnconfirmed(core, p, new ZkPayError("payment_unconfirmed", "the relay did not answer"));
    expect(pickNote(core, 200n)).to.equal(undefined);
    expect(balances(core)).to.deep.equal({ spendable: 100n, pending: 0n, reserved: 300n, total: 100n, received: 0n });

    await releaseUnlessUnconfirmed(core, p, new ZkPayError("settlement_failed", "reverted"));
    expect(pickNote(core, 200n)?.value).to.equal("300");
    expect((await store.load())!.pending).to.deep.equal([]);
  });

  it("a settled payment's change counts as pending at once, the spent note no longer reserved", async function () {
    const { core } = coreWith([100n, 300n], 2);
    const note = pickNote(core, 200n)!;
    await holdNote(core, { nullifierHash: note.nullifierHash, changeValue: "50", expiry: 2e9, createdAt: 1 });
    await recordSettlement(core, paymentOf(note));
    expect(balances(core)).to.deep.equal({ spendable: 100n, pending: 50n, reserved: 0n, total: 150n, received: 0n });
    expect(core.state.pending[0]!.settled).to.equal(true);
  });

  it("received notes are picked and counted like any other note, and their part of the total is reported", function () {
    const { core } = coreWith([500n, 120n, 300n, 1_000n], 3, [1, 3]);
    expect(pickNote(core, 100n)?.origin.kind).to.equal("received");
    expect(balances(core)).to.deep.equal({
      spendable: 920n,
      pending: 1_000n,
      reserved: 0n,
      total: 1_920n,
      received: 1_120n,
    });
  });

  it("refuses a store whose notes are not this seed's: another owner key, another nullifying key, a damaged opening", function () {
    const { core } = coreWith([100n], 1);
    const other = WalletKeys.fromSeed(`0x${"22".repeat(32)}`);
    const refused = (edit: (n: StoredNote) => void) => {
      const state = structuredClone(core.state) as WalletState;
      edit(state.notes[0]!);
      expect(() => new WalletCore(core.config, state, core.tree))
        .to.throw(ZkPayError)
        .with.property("reason", "note_store_corrupt");
    };
    // The note of another wallet, stored with its own (consistent) owner, commitment and nullifier.
    refused((n) => {
      const blinding = BigInt(n.blinding);
      const c = commitmentOf({ value: 100n, owner: other.ownerKey, blinding });
      n.owner = other.ownerKey.toString();
      n.commitment = c.toString();
      n.nullifierHash = nullifierHashOf(other.nullifyingKey, c, notePosition(0, LEVELS)).toString();
    });
    // Our note with another wallet's nullifier (it would never be seen spent).
    refused((n) => {
      n.nullifierHash = nullifierHashOf(other.nullifyingKey, BigInt(n.commitment), notePosition(0, LEVELS)).toString();
    });
    // Our note at another position (the nullifier binds it).
    refused((n) => {
      n.leafIndex = 1;
    });
    // A blinding or a value that does not open the commitment.
    refused((n) => {
      n.blinding = (BigInt(n.blinding) + 1n).toString();
    });
    refused((n) => {
      n.value = "101";
    });
    // The untouched state opens.
    expect(() => new WalletCore(core.config, structuredClone(core.state) as WalletState, core.tree)).to.not.throw();
  });
});
