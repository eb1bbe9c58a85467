import { expect } from "chai";
import { network } from "hardhat";
import type { Address } from "viem";

import { provePayment } from "../../sdk/core/circuits/payment.js";
import { paymentContext } from "../../sdk/core/context.js";
import { MAX_TREE_DEPTH } from "../../sdk/core/field.js";
import { shutdownProver } from "../../sdk/core/prover.js";
import { NoteTree, type MerklePath } from "../../sdk/core/tree.js";
import { ARTIFACTS, NO_PAYEE, USDC, deployPool, type OwnedNote, type Pool } from "../helpers/pool.js";

// Regression tests for the #19 circuit audit, finding F1 (Critical). The v2 nullifier
// binds the note's tree index, which the contract derives from the `treeSize` a payment
// names for its root. The root history is a ring indexed by size % rootHistorySize, and
// a slot is only overwritten when a commit ends at a size with its remainder, so a slot
// could still hold the root of an OLDER size; isKnownRoot accepted it for any size with
// that remainder, including one in the NEXT tree, and the same note could then be spent
// a second time with a second nullifier (tree t, then tree t + 1). The fix records the
// size with each root and accepts a root only at exactly that size.

const { ethers } = await network.create();

/**
 * Proves `note` (leaf 0 of tree 0) again as if it were leaf 0 of tree 1, along `path`
 * (whose root and treeSize the attack names): the second spend the fix must refuse.
 */
async function proveAgainInTree1(pool: Pool, note: OwnedNote, payee: Address, path: MerklePath) {
  const t = await pool.terms({ payTo: payee, amount: note.value });
  const context = paymentContext({
    chainId: pool.chainId,
    facilitator: pool.facilitatorAddress,
    terms: t,
    memo: "0x",
    payeeMemo: "0x",
  });
  const r = await provePayment(
    {
      note: { value: note.value, owner: note.owner, blinding: note.blinding },
      spendingKey: pool.keys.spendingKey(),
      position: { treeIndex: 1, leafIndex: 0 },
      path,
      amount: t.amount,
      fee: 0n,
      context,
      payee: NO_PAYEE,
      changeBlinding: 7n,
    },
    ARTIFACTS,
  );
  return { r, t };
}

describe("Root history: a root is valid at exactly the size it was recorded at (audit F1)", function () {
  this.timeout(120_000);
  after(async () => shutdownProver());

  it("a stale slot's root of tree 0 is not accepted with a size in tree 1, and the second spend reverts", async function () {
    const pool = await deployPool(ethers, { treeLevels: 2, rootHistorySize: 4 });
    const payee = (await pool.signers[5]!.getAddress()) as Address;
    const forest = async () =>
      NoteTree.from((await pool.leaves()).slice(0, Number(await pool.facilitator.treeSize())), 2);
    const A = await pool.deposit(USDC(5)); // leaf 0; commit ends at 1: slot 1 = root@1 (= leaf A)
    const B = await pool.deposit(USDC(5)); // leaf 1, commit ends at 2
    await pool.deposit(USDC(5)); // leaf 2, commit ends at 3
    const f3 = await forest();
    const p1 = await pool.prove(A, await pool.terms({ payTo: payee, amount: USDC(5) }), { atTree: f3 });
    await (await pool.pay(p1)).wait(); // A spent (tree 0); change queued as leaf 3
    const p2 = await pool.prove(B, await pool.terms({ payTo: payee, amount: USDC(1) }), { atTree: f3 });
    await (await pool.pay(p2)).wait(); // leaf 4 queued
    await pool.deposit(USDC(1)); // leaf 5: one commit 3..6, roots recorded at 4 (tree 0 full) and 6 only
    expect(await pool.facilitator.treeSize()).to.equal(6n);

    const rootAt1 = (await pool.leaves())[0]!; // the root of a one-leaf tree is its leaf
    // Slot 5 % 4 = 1 still holds root@1; size 5 lies in tree 1.
    expect(await pool.facilitator.isKnownRoot(rootAt1, 1)).to.equal(false); // too old anyway (6 - 1 >= 4)
    expect(await pool.facilitator.isKnownRoot(rootAt1, 5)).to.equal(false);

    // The attack itself: prove A again at (tree 1, leaf 0) against root@1 named at size 5.
    const path: MerklePath = {
      root: rootAt1,
      treeSize: 5,
      treeIndex: 1,
      leafIndex: 0,
      hasSibling: Array<boolean>(MAX_TREE_DEPTH).fill(false),
      siblings: Array<bigint>(MAX_TREE_DEPTH).fill(0n),
      depth: 0,
      indices: 0n,
      compressedSiblings: Array<bigint>(MAX_TREE_DEPTH).fill(0n),
    };
    const { r, t } = await proveAgainInTree1(pool, A, payee, path);
    expect(r.nullifierHash).to.not.equal(p1.result.nullifierHash); // a second tag for the same note...
    await expect(pool.facilitator.pay(pool.proofStruct(r), t, "0x", "0x")).to.be.revertedWithCustomError(
      pool.facilitator,
      "FacilitatorUnknownRoot",
    ); // ...that the pool now refuses
  });

  it("a full tree's final root, still in a history slot, is accepted only at the size that completed it", async function () {
    const pool = await deployPool(ethers, { treeLevels: 2, rootHistorySize: 3 });
    const payee = (await pool.signers[5]!.getAddress()) as Address;
    const forest = async () =>
      NoteTree.from((await pool.leaves()).slice(0, Number(await pool.facilitator.treeSize())), 2);
    const A = await pool.deposit(USDC(5)); // leaf 0
    for (let i = 0; i < 5; i++) await pool.deposit(USDC(1)); // commits end at 2..6; tree 0 full at 4 (slot 1)
    const f6 = await forest();
    const p1 = await pool.prove(A, await pool.terms({ payTo: payee, amount: USDC(5) }), { atTree: f6 });
    expect([p1.result.treeSize, p1.result.treeIndex]).to.deep.equal([4, 0]); // the final root of tree 0
    await (await pool.pay(p1)).wait(); // leaf 6 queued
    await pool.deposit(USDC(1)); // leaf 7: one commit 6..8, nothing recorded at 7

    const root0 = await pool.facilitator.finalRoot(0);
    expect(await pool.facilitator.isKnownRoot(root0, 4)).to.equal(true); // final roots never expire
    expect(await pool.facilitator.isKnownRoot(root0, 7)).to.equal(false); // 7 % 3 = 1 holds it, but at size 4

    const path = { ...f6.path(0), treeSize: 7, treeIndex: 1 };
    const { r, t } = await proveAgainInTree1(pool, A, payee, path);
    await expect(pool.facilitator.pay(pool.proofStruct(r), t, "0x", "0x")).to.be.revertedWithCustomError(
      pool.facilitator,
      "FacilitatorUnknownRoot",
    );
    expect(await pool.token.balanceOf(payee)).to.equal(USDC(5)); // paid once
  });

  it("prewarming writes placeholders into both rings, never over a recorded root or size", async function () {
    const pool = await deployPool(ethers, { treeLevels: 2, rootHistorySize: 4 });
    await pool.deposit(USDC(1)); // records root@1 in slot 1
    const root1 = await pool.facilitator.currentRoot();
    await (await pool.facilitator.prewarmRootHistory(0, 4)).wait();
    expect(await pool.facilitator.isKnownRoot(root1, 1)).to.equal(true);
    expect(await pool.facilitator.currentRoot()).to.equal(root1);
    // A placeholder slot accepts nothing (its root is not a field element, its size is not a size).
    expect(await pool.facilitator.isKnownRoot(root1, 2)).to.equal(false);
  });
});
