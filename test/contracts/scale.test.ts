import { LeanIMT } from "@zk-kit/lean-imt";
import { expect } from "chai";
import { id as topicOf, keccak256, toUtf8Bytes, type TransactionReceipt } from "ethers";
import { network } from "hardhat";
import { poseidon2 } from "poseidon-lite";
import type { Address, Hex } from "viem";

import type { PaymentTerms } from "../../sdk/core/context.js";
import { commitmentOf } from "../../sdk/core/note.js";
import { shutdownProver } from "../../sdk/core/prover.js";
import { type PaymentProofResult } from "../../sdk/core/circuits/payment.js";
import { NoteTree } from "../../sdk/core/tree.js";
import {
  FILLER,
  SparseLeanTree,
  bigPayPool,
  harnessOf,
  proveWithPath,
  queueLeaves,
  queueStorageKey,
} from "../helpers/big-tree.js";
import { inOrderConcurrently } from "../helpers/parallel.js";
import { USDC, deployPool, type OwnedNote, type Pool, type Proven } from "../helpers/pool.js";

const { ethers, networkHelpers } = await network.create();

const condition = (s: string) => keccak256(toUtf8Bytes(s)) as Hex;
const TRANSFER = topicOf("Transfer(address,address,uint256)");
const SKIP = { NullifierSpent: 0n, Expired: 1n, UnknownRoot: 2n };
const hash = (a: bigint, b: bigint) => poseidon2([a, b]);

/** The BatchedPayment struct of a proven payment. */
function batched(pool: Pool, p: Proven) {
  return pool.batched(p);
}

/** Token Transfer logs in a receipt. */
function transfers(pool: Pool, rc: TransactionReceipt, tokenAddress: string) {
  return rc.logs
    .filter((l) => l.address.toLowerCase() === tokenAddress.toLowerCase() && l.topics[0] === TRANSFER)
    .map((l) => pool.token.interface.parseLog(l)!);
}

/** Facilitator events of a receipt, by name. */
function events(pool: Pool, rc: TransactionReceipt, name: string) {
  return rc.logs
    .filter((l) => l.address.toLowerCase() === pool.facilitatorAddress.toLowerCase())
    .map((l) => pool.facilitator.interface.parseLog(l))
    .filter((e) => e?.name === name)
    .map((e) => e!);
}

const idOf = (r: PaymentProofResult) => ethers.toBeHex(r.nullifierHash, 32);

/** A change note from the LeafInserted events of a settling receipt. */
function changeFrom(pool: Pool, rc: TransactionReceipt, p: Proven): OwnedNote {
  const opening = { value: p.result.changeValue, owner: p.change.owner, blinding: p.change.blinding };
  const commitment = commitmentOf(opening);
  const ev = events(pool, rc, "LeafInserted").find((e) => e.args.commitment === commitment);
  if (!ev) throw new Error("change note not inserted");
  return { ...opening, k: p.change.k, leafIndex: Number(ev.args.leafIndex), spendingKey: p.spendingKey };
}

/** Root of a LeanIMT over `leaves`, with @zk-kit/lean-imt (the reference implementation). */
function zkRoot(leaves: bigint[]): bigint {
  const t = new LeanIMT<bigint>(hash);
  t.insertMany(leaves);
  return t.root;
}

describe("Scale: batched payments, pending leaves, tree rollover, gas flat up to 2^24 leaves", function () {
  let payee: Address;
  let payee2: Address;
  let relayer: Address;

  before(async function () {
    const signers = await ethers.getSigners();
    payee = (await signers[5]!.getAddress()) as Address;
    payee2 = (await signers[7]!.getAddress()) as Address;
    relayer = (await signers[6]!.getAddress()) as Address;
  });

  after(async function () {
    await shutdownProver();
  });

  describe("payBatch (real proofs, one batched pairing)", function () {
    let pool: Pool;
    let tokenAddress: string;

    async function fixture() {
      return deployPool(ethers, { prewarmRootHistory: true });
    }

    beforeEach(async function () {
      pool = await networkHelpers.loadFixture(fixture);
      tokenAddress = await pool.token.getAddress();
    });

    /** Settles `ps` in one payBatch and checks receipts, balances, transfers, roots. */
    async function settleBatch(ps: Proven[]) {
      const watched = [...new Set(ps.flatMap((p) => [p.terms.payTo, p.terms.relayer]))];
      const before = await Promise.all(watched.map((a) => pool.token.balanceOf(a)));
      const poolBefore = await pool.token.balanceOf(pool.facilitatorAddress);
      const rc = (await (await pool.facilitator.payBatch(ps.map((p) => batched(pool, p)))).wait())!;

      // One receipt per payment, readable with one call each.
      const receipts = events(pool, rc, "PaymentReceipt");
      expect(receipts.map((e) => e.args.id)).to.deep.equal(ps.map((p) => idOf(p.result)));
      for (const p of ps) {
        const [status, paidAt] = await pool.facilitator.checkReceipt(
          idOf(p.result),
          p.terms.payTo,
          p.terms.amount,
          p.terms.conditionHash,
        );
        expect(status).to.equal(1n); // Paid
        expect(paidAt).to.equal(BigInt(rc.blockNumber));
      }
      // Balances: each recipient got the sum of what it is owed, in ONE transfer.
      const owed = new Map<string, bigint>();
      for (const p of ps) {
        owed.set(p.terms.payTo, (owed.get(p.terms.payTo) ?? 0n) + p.terms.amount);
        if (p.terms.fee > 0n) owed.set(p.terms.relayer, (owed.get(p.terms.relayer) ?? 0n) + p.terms.fee);
      }
      for (const [i, a] of watched.entries()) {
        expect(await pool.token.balanceOf(a), a).to.equal(before[i]! + (owed.get(a) ?? 0n));
      }
      const total = [...owed.values()].reduce((a, b) => a + b, 0n);
      expect(await pool.token.balanceOf(pool.facilitatorAddress)).to.equal(poolBefore - total);
      const tx = transfers(pool, rc, tokenAddress);
      expect(tx.length, "one Transfer per recipient").to.equal([...owed.values()].filter((v) => v > 0n).length);
      for (const t of tx) expect(t.args.value).to.equal(owed.get(t.args.to));

      // Change notes committed in the same transaction: nothing pending, root = JS tree.
      expect(await pool.facilitator.pendingLeafCount()).to.equal(0n);
      const js = await pool.tree();
      expect(js.size).to.equal(Number(await pool.facilitator.leafCount()));
      expect(await pool.facilitator.currentRoot()).to.equal(js.root);
      expect(await pool.facilitator.currentRoot()).to.equal(zkRoot(await pool.leaves()));
      return { rc, changes: ps.map((p) => changeFrom(pool, rc, p)) };
    }

    it("settles batches of 1, 2 and 16: receipts, one transfer per payee, change spendable next block", async function () {
      const notes: OwnedNote[] = [];
      for (let i = 0; i < 19; i++) notes.push(await pool.deposit(USDC(5), pool.signers[1]));

      // k = 1
      const one = [await pool.prove(notes[0]!, await pool.terms({ payTo: payee, amount: USDC(1) }))];
      const b1 = await settleBatch(one);
      // k = 2, with a relayer fee
      const tree = await pool.tree();
      // Proofs against one tree snapshot are independent: made two at a time (helpers/parallel).
      const twoTerms: PaymentTerms[] = [];
      for (let i = 0; i < 2; i++) {
        twoTerms.push(
          await pool.terms({
            payTo: payee,
            amount: USDC(1),
            relayer,
            fee: USDC(0.01),
            conditionHash: condition(`2/${i}`),
          }),
        );
      }
      const two = await inOrderConcurrently(
        [notes[1]!, notes[2]!].map((n, i) => () => pool.prove(n, twoTerms[i]!, { atTree: tree })),
      );
      const b2 = await settleBatch(two);
      expect(transfers(pool, b2.rc, tokenAddress).length).to.equal(2); // payee + relayer
      // k = 16: 12 to one payee, 4 to another, every one with a fee to the same relayer.
      const snapshot = await pool.tree();
      const sixteenTerms: PaymentTerms[] = [];
      for (let i = 0; i < 16; i++) {
        sixteenTerms.push(
          await pool.terms({
            payTo: i % 4 === 3 ? payee2 : payee,
            amount: USDC(0.25) * BigInt(1 + (i % 3)),
            relayer,
            fee: USDC(0.01),
            conditionHash: condition(`16/${i}`),
          }),
        );
      }
      const sixteen = await inOrderConcurrently(
        sixteenTerms.map((t, i) => () => pool.prove(notes[3 + i]!, t, { atTree: snapshot })),
      );
      const b16 = await settleBatch(sixteen);
      expect(transfers(pool, b16.rc, tokenAddress).length).to.equal(3); // payee, payee2, relayer
      expect(events(pool, b16.rc, "LeavesCommitted").length).to.equal(1);

      // The change notes are spendable in the next block (one spent, from the last batch).
      expect(b1.changes.length + b2.changes.length).to.equal(3);
      for (const change of [b16.changes[15]!]) {
        const t = await pool.terms({
          payTo: payee2,
          amount: USDC(0.5),
          conditionHash: condition(`c${change.leafIndex}`),
        });
        const p = await pool.prove(change, t);
        const rc = (await (await pool.facilitator.pay(pool.proofStruct(p.result), t, p.memo, p.payeeMemo)).wait())!;
        expect(events(pool, rc, "PaymentReceipt").length).to.equal(1);
      }
      expect(await ethers.provider.getBlockNumber()).to.equal(b16.rc.blockNumber + 1);
    });

    it("reverts a batch with a forged or tampered proof, moving nothing", async function () {
      const notes: OwnedNote[] = [];
      for (let i = 0; i < 3; i++) notes.push(await pool.deposit(USDC(5), pool.signers[1]));
      const tree = await pool.tree();
      const ts: PaymentTerms[] = [];
      for (let i = 0; i < 3; i++) {
        ts.push(await pool.terms({ payTo: payee, amount: USDC(1), conditionHash: condition(`t${i}`) }));
      }
      const ps = await inOrderConcurrently(ts.map((t, i) => () => pool.prove(notes[i]!, t, { atTree: tree })));
      const [a, b, c] = ps.map((p) => batched(pool, p)) as [
        ReturnType<typeof batched>,
        ReturnType<typeof batched>,
        ReturnType<typeof batched>,
      ];
      const rootBefore = await pool.facilitator.currentRoot();
      const variants: Record<string, ReturnType<typeof batched>[]> = {
        // Forged: b carries c's (valid, on-curve) proof points: a proof of another statement.
        forgedPoints: [a, { ...b, proof: { ...b.proof, pA: c.proof.pA, pB: c.proof.pB, pC: c.proof.pC } }, c],
        // Tampered public values.
        amount: [a, { ...b, terms: { ...b.terms, amount: b.terms.amount + 1n } }, c],
        changeCommitment: [a, b, { ...c, proof: { ...c.proof, changeCommitment: c.proof.changeCommitment + 1n } }],
        // One proof point swapped with another proof's.
        swappedA: [{ ...a, proof: { ...a.proof, pA: b.proof.pA } }, { ...b, proof: { ...b.proof, pA: a.proof.pA } }, c],
        swappedC: [a, { ...b, proof: { ...b.proof, pC: c.proof.pC } }, { ...c, proof: { ...c.proof, pC: b.proof.pC } }],
        // Alone: a single forged proof (k = 1 uses coefficient 1).
        forgedAlone: [{ ...a, proof: { ...a.proof, pA: b.proof.pA, pB: b.proof.pB, pC: b.proof.pC } }],
        // Garbage points off the curve.
        offCurve: [a, { ...b, proof: { ...b.proof, pA: [1n, 3n] as [bigint, bigint] } }],
      };
      for (const [name, batch] of Object.entries(variants)) {
        await expect(pool.facilitator.payBatch(batch), name).to.be.revertedWithCustomError(
          pool.facilitator,
          "FacilitatorInvalidProof",
        );
      }
      // Nothing moved: no nullifier spent, no payout, no leaf.
      for (const p of ps) expect(await pool.facilitator.isSpent(p.result.nullifierHash)).to.equal(false);
      expect(await pool.token.balanceOf(payee)).to.equal(0n);
      expect(await pool.token.balanceOf(pool.facilitatorAddress)).to.equal(USDC(15));
      expect(await pool.facilitator.currentRoot()).to.equal(rootBefore);
      expect(await pool.facilitator.leafCount()).to.equal(3n);
      // The honest batch still settles.
      const rc = (await (await pool.facilitator.payBatch([a, b, c])).wait())!;
      expect(events(pool, rc, "PaymentReceipt").length).to.equal(3);
      expect(await pool.token.balanceOf(payee)).to.equal(USDC(3));
    });

    it("skips replays: twice in one batch, and a proof already settled", async function () {
      const n1 = await pool.deposit(USDC(5), pool.signers[1]);
      const n2 = await pool.deposit(USDC(5), pool.signers[1]);
      const tree = await pool.tree();
      const [t1, t2] = [
        await pool.terms({ payTo: payee, amount: USDC(1) }),
        await pool.terms({ payTo: payee, amount: USDC(2) }),
      ];
      const [p1, p2] = await inOrderConcurrently([
        () => pool.prove(n1, t1, { atTree: tree }),
        () => pool.prove(n2, t2, { atTree: tree }),
      ]);
      // Same payment twice: the first settles, the second is skipped.
      const rc = (await (await pool.facilitator.payBatch([batched(pool, p1), batched(pool, p1)])).wait())!;
      expect(events(pool, rc, "PaymentReceipt").length).to.equal(1);
      const skipped = events(pool, rc, "PaymentSkipped");
      expect(skipped.map((e) => [e.args.id, e.args.reason])).to.deep.equal([[idOf(p1.result), SKIP.NullifierSpent]]);
      expect(await pool.token.balanceOf(payee)).to.equal(USDC(1));
      expect(events(pool, rc, "LeafInserted").length).to.equal(1); // one change note
      // A batch replaying an already-settled proof: that one skipped, the other settles.
      const rc2 = (await (await pool.facilitator.payBatch([batched(pool, p1), batched(pool, p2)])).wait())!;
      expect(events(pool, rc2, "PaymentSkipped").map((e) => e.args.id)).to.deep.equal([idOf(p1.result)]);
      expect(events(pool, rc2, "PaymentReceipt").map((e) => e.args.id)).to.deep.equal([idOf(p2.result)]);
      expect(await pool.token.balanceOf(payee)).to.equal(USDC(3));
      // A batch of only replays settles nothing and changes nothing.
      const root = await pool.facilitator.currentRoot();
      const rc3 = (await (await pool.facilitator.payBatch([batched(pool, p1), batched(pool, p2)])).wait())!;
      expect(events(pool, rc3, "PaymentSkipped").length).to.equal(2);
      expect(transfers(pool, rc3, tokenAddress).length).to.equal(0);
      expect(await pool.facilitator.currentRoot()).to.equal(root);
      expect(await pool.token.balanceOf(payee)).to.equal(USDC(3));
    });

    it("skips a nullifier spent between batching and inclusion, an expired payment and an unknown root", async function () {
      const notes: OwnedNote[] = [];
      for (let i = 0; i < 6; i++) notes.push(await pool.deposit(USDC(5), pool.signers[1]));
      const tree = await pool.tree();
      const ts: PaymentTerms[] = [];
      for (let i = 0; i < 3; i++) {
        ts.push(await pool.terms({ payTo: payee, amount: USDC(1), conditionHash: condition(`r${i}`) }));
      }
      const ps = await inOrderConcurrently(ts.map((t, i) => () => pool.prove(notes[i]!, t, { atTree: tree })));
      // ps[1] settles on its own first (another relayer, a single pay).
      await (await pool.pay(ps[1]!)).wait();
      const rc = (await (await pool.facilitator.payBatch(ps.map((p) => batched(pool, p)))).wait())!;
      expect(events(pool, rc, "PaymentSkipped").map((e) => [e.args.id, e.args.reason])).to.deep.equal([
        [idOf(ps[1]!.result), SKIP.NullifierSpent],
      ]);
      expect(events(pool, rc, "PaymentReceipt").map((e) => e.args.id)).to.deep.equal([
        idOf(ps[0]!.result),
        idOf(ps[2]!.result),
      ]);
      expect(await pool.token.balanceOf(payee)).to.equal(USDC(3));
      // The pay's change note was queued and is now committed with the batch's.
      expect(await pool.facilitator.pendingLeafCount()).to.equal(0n);
      expect(await pool.facilitator.currentRoot()).to.equal((await pool.tree()).root);

      // Expired and unknown root, next to one that settles.
      const now = BigInt((await ethers.provider.getBlock("latest"))!.timestamp);
      const tree2 = await pool.tree();
      const short = await pool.terms({
        payTo: payee2,
        amount: USDC(1),
        expiry: now + 60n,
        conditionHash: condition("short"),
      });
      const long = await pool.terms({ payTo: payee2, amount: USDC(1), conditionHash: condition("long") });
      const [pExpired, pOk, pUnknown] = await inOrderConcurrently([
        () => pool.prove(notes[3]!, short, { atTree: tree2 }),
        () => pool.prove(notes[4]!, long, { atTree: tree2 }),
        () => pool.prove(notes[5]!, long, { atTree: tree2 }),
      ]);
      await networkHelpers.time.increaseTo(now + 61n);
      const unknown = batched(pool, pUnknown);
      unknown.proof = { ...unknown.proof, root: unknown.proof.root + 1n };
      const rc2 = (await (
        await pool.facilitator.payBatch([batched(pool, pExpired), batched(pool, pOk), unknown])
      ).wait())!;
      expect(events(pool, rc2, "PaymentSkipped").map((e) => [e.args.id, e.args.reason])).to.deep.equal([
        [idOf(pExpired.result), SKIP.Expired],
        [idOf(pUnknown.result), SKIP.UnknownRoot],
      ]);
      expect(events(pool, rc2, "PaymentReceipt").map((e) => e.args.id)).to.deep.equal([idOf(pOk.result)]);
      expect(await pool.token.balanceOf(payee2)).to.equal(USDC(1));
      // Skipped ones stay unspent: the unknown-root one settles with its real root... which
      // is still in the history.
      expect(await pool.facilitator.isSpent(pUnknown.result.nullifierHash)).to.equal(false);
      await (await pool.facilitator.payBatch([batched(pool, pUnknown)])).wait();
      expect(await pool.token.balanceOf(payee2)).to.equal(USDC(2));
    });

    it("refuses batches of 0 and MAX_BATCH_SIZE + 1", async function () {
      const max = await pool.facilitator.MAX_BATCH_SIZE();
      await expect(pool.facilitator.payBatch([]))
        .to.be.revertedWithCustomError(pool.facilitator, "FacilitatorBatchSize")
        .withArgs(0n, max);
      const note = await pool.deposit(USDC(5));
      const p = await pool.prove(note, await pool.terms({ payTo: payee, amount: USDC(1) }));
      const one = batched(pool, p);
      await expect(pool.facilitator.payBatch(Array.from({ length: Number(max) + 1 }, () => one)))
        .to.be.revertedWithCustomError(pool.facilitator, "FacilitatorBatchSize")
        .withArgs(max + 1n, max);
    });
  });

  describe("pending leaves", function () {
    it("pay queues its change note; anyone commits, oldest first; a deposit commits everything", async function () {
      const pool = await deployPool(ethers);
      const [a, b, c] = [
        await pool.deposit(USDC(5), pool.signers[1]),
        await pool.deposit(USDC(5), pool.signers[1]),
        await pool.deposit(USDC(5), pool.signers[1]),
      ];
      const rootAt3 = await pool.facilitator.currentRoot();
      const tree = await pool.tree();
      const [ta, tb] = [
        await pool.terms({ payTo: payee, amount: USDC(1) }),
        await pool.terms({ payTo: payee, amount: USDC(1) }),
      ];
      const [pa, pb] = await inOrderConcurrently([
        () => pool.prove(a, ta, { atTree: tree }),
        () => pool.prove(b, tb, { atTree: tree }),
      ]);
      const rcA = (await (
        await pool.facilitator.pay(pool.proofStruct(pa.result), pa.terms, pa.memo, pa.payeeMemo)
      ).wait())!;
      const rcB = (await (
        await pool.facilitator.pay(pool.proofStruct(pb.result), pb.terms, pb.memo, pb.payeeMemo)
      ).wait())!;
      const ca = changeFrom(pool, rcA, pa);
      const cb = changeFrom(pool, rcB, pb);
      expect([ca.leafIndex, cb.leafIndex]).to.deep.equal([3, 4]);
      // Queued: counted, not in the root.
      expect(await pool.facilitator.pendingLeafCount()).to.equal(2n);
      expect(await pool.facilitator.leafCount()).to.equal(5n);
      expect(await pool.facilitator.treeSize()).to.equal(3n);
      expect(await pool.facilitator.currentRoot()).to.equal(rootAt3);
      expect(() => tree.path(3)).to.throw();
      // The queue holds the leaf where the harness helpers assume (storage layout).
      expect(BigInt(await ethers.provider.getStorage(pool.facilitatorAddress, queueStorageKey(3)))).to.equal(
        commitmentOf(ca),
      );

      // Anyone commits, at most max, oldest first.
      const anyone = pool.facilitator.connect(pool.signers[9]!);
      expect(await anyone.commitPendingLeaves.staticCall(1)).to.equal(1n);
      const rc1 = (await (await anyone.commitPendingLeaves(1)).wait())!;
      const leaves = await pool.leaves();
      const committed1 = events(pool, rc1, "LeavesCommitted")[0]!;
      expect([committed1.args.fromIndex, committed1.args.toIndex]).to.deep.equal([3n, 4n]);
      expect(committed1.args.root).to.equal(zkRoot(leaves.slice(0, 4)));
      expect(await pool.facilitator.treeSize()).to.equal(4n);
      expect(await pool.facilitator.pendingLeafCount()).to.equal(1n);
      expect(await pool.facilitator.currentRoot()).to.equal(zkRoot(leaves.slice(0, 4)));
      // The committed change note is spendable (cb, still queued, is not).
      const t = await pool.terms({ payTo: payee2, amount: USDC(1) });
      const pca = await pool.prove(ca, t);
      expect(pca.result.treeSize).to.equal(4);
      await (await pool.facilitator.pay(pool.proofStruct(pca.result), t, pca.memo, pca.payeeMemo)).wait();
      expect(await pool.token.balanceOf(payee2)).to.equal(USDC(1));
      // Committing more than is queued commits what is there; nothing queued commits 0.
      expect(await pool.facilitator.pendingLeafCount()).to.equal(2n);
      expect(await anyone.commitPendingLeaves.staticCall(10)).to.equal(2n);
      await (await anyone.commitPendingLeaves(10)).wait();
      expect(await anyone.commitPendingLeaves.staticCall(10)).to.equal(0n);
      const pcb = await pool.prove(cb, await pool.terms({ payTo: payee2, amount: USDC(1) }));
      await (await pool.facilitator.pay(pool.proofStruct(pcb.result), pcb.terms, pcb.memo, pcb.payeeMemo)).wait();

      // A deposit commits everything queued (two change notes here) with its own leaf.
      const pc = await pool.prove(c, await pool.terms({ payTo: payee, amount: USDC(1) }));
      await (await pool.facilitator.pay(pool.proofStruct(pc.result), pc.terms, pc.memo, pc.payeeMemo)).wait();
      expect(await pool.facilitator.pendingLeafCount()).to.equal(2n);
      await pool.deposit(USDC(1), pool.signers[2]);
      expect(await pool.facilitator.pendingLeafCount()).to.equal(0n);
      expect(await pool.facilitator.treeSize()).to.equal(await pool.facilitator.leafCount());
      expect(await pool.facilitator.currentRoot()).to.equal(zkRoot(await pool.leaves()));
    });

    it("commitPendingLeaves commits at most MAX_COMMIT_PER_CALL leaves per call (IFacilitator's documented bound)", async function () {
      // IFacilitator: "MAX_COMMIT_PER_CALL: Most leaves committed by one deposit, batch or
      // commitPendingLeaves call." commitPendingLeaves(maxLeaves) passes maxLeaves to
      // _commitQueued unclamped, so a call with a large max commits more.
      const pool = await deployPool(ethers, { contract: "FacilitatorHarness", prewarmRootHistory: true });
      const bound = await pool.facilitator.MAX_COMMIT_PER_CALL();
      const leaves = Array.from({ length: Number(bound) + 44 }, (_, i) =>
        commitmentOf({ value: 1n, owner: BigInt(i + 1), blinding: 5n }),
      );
      await queueLeaves(ethers, pool, leaves);
      expect(await pool.facilitator.pendingLeafCount()).to.equal(BigInt(leaves.length));
      const committed = await pool.facilitator.commitPendingLeaves.staticCall(10_000);
      expect(committed, `committed ${committed} leaves in one call`).to.be.lessThanOrEqual(bound);
    });

    it("a full queue (1,024 leaves) never blocks a payment: the appender commits the oldest 64", async function () {
      const pool = await deployPool(ethers, { contract: "FacilitatorHarness", prewarmRootHistory: true });
      const n1 = await pool.deposit(USDC(5), pool.signers[1]);
      const n2 = await pool.deposit(USDC(5), pool.signers[1]);
      const tree = await pool.tree();
      const capacity = Number(await pool.facilitator.LEAF_QUEUE_CAPACITY());
      // 1,023 real leaves queued as pays would leave them (LeafInserted events and queue
      // slots), then a real pay makes 1,024.
      const fill = Array.from({ length: capacity - 1 }, (_, i) =>
        commitmentOf({ value: 1n, owner: BigInt(i + 1), blinding: 9n }),
      );
      await queueLeaves(ethers, pool, fill);
      const [t1, t2] = [
        await pool.terms({ payTo: payee, amount: USDC(1) }),
        await pool.terms({ payTo: payee, amount: USDC(1) }),
      ];
      const [p1, p2] = await inOrderConcurrently([
        () => pool.prove(n1, t1, { atTree: tree }),
        () => pool.prove(n2, t2, { atTree: tree }),
      ]);
      const rc1 = (await (
        await pool.facilitator.pay(pool.proofStruct(p1.result), p1.terms, p1.memo, p1.payeeMemo)
      ).wait())!;
      expect(events(pool, rc1, "LeavesCommitted").length).to.equal(0);
      expect(await pool.facilitator.pendingLeafCount()).to.equal(BigInt(capacity));
      // The next pay finds the queue full: it commits the oldest 64 first, then queues.
      const rc2 = (await (
        await pool.facilitator.pay(pool.proofStruct(p2.result), p2.terms, p2.memo, p2.payeeMemo)
      ).wait())!;
      const leaves = await pool.leaves();
      expect(leaves.length).to.equal(2 + capacity + 1);
      const c = events(pool, rc2, "LeavesCommitted");
      expect(c.map((e) => [e.args.fromIndex, e.args.toIndex])).to.deep.equal([[2n, 66n]]);
      expect(c[0]!.args.root).to.equal(zkRoot(leaves.slice(0, 66)));
      expect(await pool.facilitator.pendingLeafCount()).to.equal(BigInt(capacity - 64 + 1));
      expect(await pool.token.balanceOf(payee)).to.equal(USDC(2));
      console.log(`      queue-full pay: ${rc2.gasUsed} gas (commits 64 leaves), normal pay: ${rc1.gasUsed}`);
      // A deposit with more than MAX_COMMIT_PER_CALL queued queues its leaf and commits 256.
      await pool.deposit(USDC(1), pool.signers[2]);
      expect(await pool.facilitator.treeSize()).to.equal(66n + 256n);
      // Committing the rest (anyone, 256 at a time) reaches the JS root of every leaf.
      while ((await pool.facilitator.pendingLeafCount()) > 0n) {
        await (await pool.facilitator.commitPendingLeaves(256)).wait();
      }
      expect(await pool.facilitator.currentRoot()).to.equal(zkRoot(await pool.leaves()));
      // The first pay's change note (leaf 1,025) is spendable.
      const change = changeFrom(pool, rc1, p1);
      expect(change.leafIndex).to.equal(2 + capacity - 1);
      const p3 = await pool.prove(change, await pool.terms({ payTo: payee2, amount: USDC(4) }));
      await (await pool.facilitator.pay(pool.proofStruct(p3.result), p3.terms, p3.memo, p3.payeeMemo)).wait();
      expect(await pool.token.balanceOf(payee2)).to.equal(USDC(4));
    });
  });

  describe("tree rollover (2^2 leaves per tree, root history of 4)", function () {
    it("fills tree 0 and rolls into trees 1, 2, 3; final roots never expire; batch commits cross tree boundaries", async function () {
      const pool = await deployPool(ethers, { treeLevels: 2, rootHistorySize: 4 });
      const L = 4;
      const forest = async () =>
        NoteTree.from((await pool.leaves()).slice(0, Number(await pool.facilitator.treeSize())), 2);
      const treeLeaves = (all: bigint[], t: number) => all.slice(t * L, (t + 1) * L);

      // Tree 0 gets 3 deposits: one slot left.
      const n: OwnedNote[] = [];
      for (let i = 0; i < 3; i++) n.push(await pool.deposit(USDC(5), pool.signers[1]));
      expect(await pool.facilitator.treeIndex()).to.equal(0n);
      const f3 = await forest();
      const ts: PaymentTerms[] = [];
      for (let i = 0; i < 3; i++) {
        ts.push(await pool.terms({ payTo: payee, amount: USDC(1), conditionHash: condition(`roll${i}`) }));
      }
      const ps = await inOrderConcurrently(ts.map((t, i) => () => pool.prove(n[i]!, t, { atTree: f3 })));
      // One batch, 3 change notes: 1 completes tree 0, 2 start tree 1.
      const rc = (await (await pool.facilitator.payBatch(ps.map((p) => batched(pool, p)))).wait())!;
      let all = await pool.leaves();
      const root0 = zkRoot(treeLeaves(all, 0));
      expect(events(pool, rc, "TreeCompleted").map((e) => [e.args.treeIndex, e.args.root])).to.deep.equal([
        [0n, root0],
      ]);
      const lc = events(pool, rc, "LeavesCommitted");
      expect(lc.map((e) => [e.args.fromIndex, e.args.toIndex, e.args.root])).to.deep.equal([
        [3n, 6n, zkRoot(treeLeaves(all, 1))],
      ]);
      expect(await pool.facilitator.finalRoot(0)).to.equal(root0);
      expect(await pool.facilitator.currentRoot()).to.equal(zkRoot(treeLeaves(all, 1)));
      expect(await pool.facilitator.currentRoot()).to.equal((await forest()).root);
      expect(await pool.facilitator.treeIndex()).to.equal(1n);
      expect(await pool.facilitator.treeSize()).to.equal(6n);
      expect(await pool.facilitator.treeDepth()).to.equal(1n);
      const changes = ps.map((p) => changeFrom(pool, rc, p));
      expect(changes.map((c) => c.leafIndex)).to.deep.equal([3, 4, 5]);

      // A proof against tree 1's current (non-final) root at size 6, and one for the
      // tree-0 change note against tree 0's final root (treeSize = 4).
      const f6 = await forest();
      const tOld = await pool.terms({ payTo: payee2, amount: USDC(1), conditionHash: condition("old") });
      const tFinal0 = await pool.terms({ payTo: payee2, amount: USDC(1) });
      const [pOld, pFinal0] = await inOrderConcurrently([
        () => pool.prove(changes[1]!, tOld, { atTree: f6 }),
        () => pool.prove(changes[0]!, tFinal0, { atTree: f6 }),
      ]);
      expect([pOld.result.root, pOld.result.treeSize]).to.deep.equal([zkRoot(treeLeaves(all, 1)), 6]);
      expect([pFinal0.result.root, pFinal0.result.treeSize]).to.deep.equal([root0, 4]);

      // Five more commits (more than the root history): tree 1 fills, tree 2 gets 3.
      const d: OwnedNote[] = [];
      for (let i = 0; i < 5; i++) d.push(await pool.deposit(USDC(2), pool.signers[2]));
      all = await pool.leaves();
      expect(await pool.facilitator.treeSize()).to.equal(11n);
      expect(await pool.facilitator.treeIndex()).to.equal(2n);
      expect(await pool.facilitator.finalRoot(1)).to.equal(zkRoot(treeLeaves(all, 1)));
      expect(await pool.facilitator.currentRoot()).to.equal(zkRoot(treeLeaves(all, 2)));
      // The old non-final root has expired; final roots have not.
      expect(await pool.facilitator.isKnownRoot(pOld.result.root, 6)).to.equal(false);
      expect(await pool.facilitator.isKnownRoot(root0, 4)).to.equal(true);
      expect(await pool.facilitator.isKnownRoot(zkRoot(treeLeaves(all, 1)), 8)).to.equal(true);
      // A final root is only valid at its own boundary.
      expect(await pool.facilitator.isKnownRoot(root0, 8)).to.equal(false);

      // A batch: the expired-root proof (skipped), tree 0's note via its final root, tree
      // 1's via its final root (treeSize 8), tree 2's against the current root. Its 3
      // change notes complete tree 2 (1 slot) and start tree 3.
      const f11 = await forest();
      const [t1, t2] = [
        await pool.terms({ payTo: payee2, amount: USDC(1) }),
        await pool.terms({ payTo: payee2, amount: USDC(1) }),
      ];
      const [p1, p2] = await inOrderConcurrently([
        () => pool.prove(changes[2]!, t1, { atTree: f11 }),
        () => pool.prove(d[3]!, t2, { atTree: f11 }),
      ]);
      expect(p1.result.treeSize).to.equal(8);
      expect(d[3]!.leafIndex).to.equal(9);
      expect(p2.result.treeSize).to.equal(11);
      const rc2 = (await (
        await pool.facilitator.payBatch([pOld, pFinal0, p1, p2].map((p) => batched(pool, p)))
      ).wait())!;
      expect(events(pool, rc2, "PaymentSkipped").map((e) => [e.args.id, e.args.reason])).to.deep.equal([
        [idOf(pOld.result), SKIP.UnknownRoot],
      ]);
      expect(events(pool, rc2, "PaymentReceipt").length).to.equal(3);
      expect(await pool.token.balanceOf(payee2)).to.equal(USDC(3));
      all = await pool.leaves();
      expect(all.length).to.equal(14);
      expect(events(pool, rc2, "TreeCompleted").map((e) => [e.args.treeIndex, e.args.root])).to.deep.equal([
        [2n, zkRoot(treeLeaves(all, 2))],
      ]);
      for (let t = 0; t < 3; t++) expect(await pool.facilitator.finalRoot(t)).to.equal(zkRoot(treeLeaves(all, t)));
      expect(await pool.facilitator.currentRoot()).to.equal(zkRoot(treeLeaves(all, 3)));
      expect(await pool.facilitator.currentRoot()).to.equal((await forest()).root);
      expect(await pool.facilitator.treeIndex()).to.equal(3n);
      expect(await pool.facilitator.finalRoot(3)).to.equal(0n);
      // The skipped note is still unspent (re-provable against a live root).
      expect(await pool.facilitator.isSpent(pOld.result.nullifierHash)).to.equal(false);
    });
  });

  describe("big trees (harness state, production bytecode)", function () {
    it("SparseLeanTree matches @zk-kit/lean-imt: roots, side nodes, paths (sizes 1..70 and 1000)", async function () {
      for (const size of [...Array.from({ length: 70 }, (_, i) => i + 1), 1000]) {
        for (const m0 of [0, 1, 3, 7]) {
          const m = Math.min(size, m0);
          const tail = Array.from({ length: m }, (_, i) => BigInt(1000 + 31 * i + size));
          const leaves = [...Array.from({ length: size - m }, () => FILLER), ...tail];
          const ref = new LeanIMT<bigint>(hash, leaves);
          const sparse = new SparseLeanTree(size - m, FILLER, tail);
          const what = `size ${size}, tail ${m}`;
          expect(sparse.root, what).to.equal(ref.root);
          expect(sparse.depth, what).to.equal(ref.depth);
          const nodes = (JSON.parse(ref.export()) as string[][]).map((level) => level.map((x) => BigInt(x)));
          const side = sparse.sideNodes();
          for (let l = 0; l <= sparse.depth; l++) {
            const e = size >> l;
            if (e & 1) expect(side[l], `${what}, side node ${l}`).to.equal(nodes[l]![e - 1]);
          }
          const probe = size === 1000 ? [0, 1, 500, 998 - m, 999 - m, ...tail.map((_, i) => size - m + i)] : [];
          for (const i of size === 1000 ? probe : Array.from({ length: size }, (_, j) => j)) {
            if (i < 0) continue;
            const mine = sparse.path(i);
            const theirs = ref.generateProof(i);
            expect(mine.compressedSiblings.slice(0, mine.depth), `${what}, path ${i}`).to.deep.equal(theirs.siblings);
            expect(mine.indices, `${what}, indices ${i}`).to.equal(BigInt(theirs.index));
            expect(mine.root).to.equal(theirs.root);
          }
        }
      }
      // 2^24 filler leaves: the root of a complete filler tree is F_24, computed in 24 hashes.
      let f = FILLER;
      for (let h = 0; h < 24; h++) f = hash(f, f);
      expect(new SparseLeanTree(2 ** 24, FILLER, []).root).to.equal(f);
    });

    /**
     * A real pay of 1 USDC from `note` along its path in the big pool; its gasUsed. The
     * payee must hold no tokens yet in every measurement (a 0 -> non-zero balance write
     * costs 17,100 more than a non-zero -> non-zero one).
     */
    async function payGas(
      big: Awaited<ReturnType<typeof bigPayPool>>,
      note: OwnedNote,
      label: string,
      to: Address = payee,
    ) {
      const { pool } = big;
      expect(await pool.token.balanceOf(to)).to.equal(0n);
      const path = big.big.pathOf(note);
      const t = await pool.terms({ payTo: to, amount: USDC(1), conditionHash: condition(label) });
      const p = await proveWithPath(pool, note, t, path);
      expect(p.result.root).to.equal(path.root);
      expect(await pool.facilitator.isKnownRoot(path.root, path.treeSize)).to.equal(true);
      const rc = (await (await pool.facilitator.pay(pool.proofStruct(p.result), t, p.memo, p.payeeMemo)).wait())!;
      const [status] = await pool.facilitator.checkReceipt(idOf(p.result), to, USDC(1), t.conditionHash);
      expect(status).to.equal(1n);
      return { gas: Number(rc.gasUsed), rc, p };
    }

    it("pay gas is flat at 2^10, 2^16, 2^20 and 2^24 leaves; commitPendingLeaves gas at 2^20", async function () {
      const gas: Record<string, number> = {};
      const queued = Array.from({ length: 16 }, (_, i) =>
        commitmentOf({ value: 2n, owner: BigInt(i + 77), blinding: 3n }),
      );
      for (const k of [10, 16, 20]) {
        const big = await bigPayPool(ethers, {
          treeSizes: [2 ** k],
          notesPerTree: [1],
          noteValue: USDC(5),
          queued: k === 20 ? queued : undefined,
        });
        // Production bytecode at the harness address: no harness function left.
        await expect(harnessOf(big.pool).harnessSkipLeaves(1)).to.be.revert(ethers);
        expect(await big.pool.facilitator.treeSize()).to.equal(BigInt(2 ** k));
        expect(await big.pool.facilitator.treeDepth()).to.equal(BigInt(k));
        const note = big.big.notes[0]!;
        const { gas: g, rc, p } = await payGas(big, note, `2^${k}`);
        gas[`2^${k}`] = g;
        if (k !== 20) continue;
        // 16 queued leaves + the change note: commit 1, then 16, at 2^20 leaves.
        const anyone = big.pool.facilitator.connect(big.pool.signers[9]!);
        const c1 = (await (await anyone.commitPendingLeaves(1)).wait())!;
        const c16 = (await (await anyone.commitPendingLeaves(16)).wait())!;
        expect(await big.pool.facilitator.pendingLeafCount()).to.equal(0n);
        // The commits built on the side nodes written by the harness: same root as JS.
        const change = changeFrom(big.pool, rc, p);
        expect(change.leafIndex).to.equal(2 ** 20 + 16);
        const after = new SparseLeanTree(2 ** 20 - 1, FILLER, [commitmentOf(note), ...queued, commitmentOf(change)]);
        expect(await big.pool.facilitator.currentRoot()).to.equal(after.root);
        console.log(
          `      commitPendingLeaves at 2^20: 1 leaf ${c1.gasUsed} gas, 16 leaves ${c16.gasUsed} gas ` +
            `(${Number(c16.gasUsed) / 16} per leaf)`,
        );
        expect(Number(c1.gasUsed)).to.be.lessThan(1_000_000);
        expect(Number(c16.gasUsed)).to.be.lessThan(16 * Number(c1.gasUsed));
      }
      // 2^24: tree 0 full (its final root), tree 1 with 2^10 leaves.
      const big = await bigPayPool(ethers, { treeSizes: [2 ** 24, 2 ** 10], notesPerTree: [1, 1], noteValue: USDC(5) });
      expect(await big.pool.facilitator.finalRoot(0)).to.equal(big.big.trees[0]!.root);
      expect(await big.pool.facilitator.treeIndex()).to.equal(1n);
      const [n0, n1] = big.big.notes as [OwnedNote, OwnedNote];
      expect(n0.leafIndex).to.equal(2 ** 24 - 1);
      expect(big.big.pathOf(n0).treeSize).to.equal(2 ** 24);
      expect(big.big.pathOf(n0).depth).to.equal(24);
      gas["2^24"] = (await payGas(big, n0, "2^24")).gas;
      gas["2^24+2^10 (tree 1)"] = (await payGas(big, n1, "tree1", payee2)).gas;
      console.log(`      pay gasUsed by tree size: ${JSON.stringify(gas)}`);
      // Flat in the tree size: the payments proven against a root of the history (every
      // size but 2^24) cost the same. The 2^24 payment proves against tree 0's final root,
      // which isKnownRoot reads from one slot instead of the history's two (root and its
      // recorded size): one cold SLOAD (2,100) + ~100 cheaper, and no more.
      const history = Object.entries(gas)
        .filter(([k]) => k !== "2^24")
        .map(([, g]) => g);
      const spread = Math.max(...history) - Math.min(...history);
      console.log(`      spread: ${spread} gas`);
      expect(spread, JSON.stringify(gas)).to.be.lessThan(2_000);
      const finalRootSaving = Math.min(...history) - gas["2^24"]!;
      expect(finalRootSaving, JSON.stringify(gas)).to.be.within(-2_000, 2_100 + 2_000);
      for (const g of Object.values(gas)) expect(g).to.be.within(250_000, 450_000);
    });
  });
});
