/**
 * Scale benchmark of 402zk on Hardhat's in-process EVM (EDR): gas of a real `pay` at
 * tree sizes 2^10 .. 2^24 (pool state written with FacilitatorHarness, then the
 * production Facilitator's runtime code swapped in), batched payments at k = 16 and 32,
 * committing queued leaves, and pay + commit against the pre-batching `pay` that hashed
 * its change note in directly. Every proof is real (the SDK's prover). Batches come in
 * both modes of the payment-v2 circuit (#19): transparent (zk-exact) payments, shielded
 * (zk-shielded: each appends its payee note and its change note, moves only the fee) and
 * a mix of both in one batch.
 *
 * Gas is receipt.gasUsed of mined transactions (21k base and calldata included), as in
 * bench-protocol.ts. Runnable alone: `npx hardhat build && npx tsx bench/scale.ts`
 * (prints the result as JSON); `benchScale` is what bench/run.ts can call.
 */
import path from "node:path";
import { pathToFileURL } from "node:url";

import type { HardhatEthers } from "@nomicfoundation/hardhat-ethers/types";
import { Wallet, keccak256, toUtf8Bytes, type TransactionReceipt } from "ethers";
import type { Address, Hex } from "viem";

import { WalletKeys } from "../sdk/core/keys.js";
import { commitmentOf } from "../sdk/core/note.js";
import type { PaymentTerms } from "../sdk/core/context.js";
import { FILLER, SparseLeanTree, bigPayPool, type BigPayPool } from "../test/helpers/big-tree.js";
import { USDC, type OwnedNote, type Pool, type Proven } from "../test/helpers/pool.js";
import { fmtInt, table } from "./util.js";

export interface ScaleBenchOptions {
  /** Batch sizes measured (one payee and relayer, and distinct payees). */
  batchSizes?: number[];
  log?: (msg: string) => void;
}

/** Gas of the previous `pay`, which hashed its change note into the tree (bench of 2026-12-01, ~1,000 leaves). */
export const OLD_PAY_GAS = 471_915;

const TREE_SIZES = [2 ** 10, 2 ** 16, 2 ** 20, 2 ** 24] as const;
const BATCH_POOL_SIZE = 2 ** 20;
const COMMIT_COUNTS = [1, 16, 32] as const;

const condition = (s: string) => keccak256(toUtf8Bytes(s)) as Hex;

export interface ScaleBenchResult {
  /** gasUsed of one real `pay` (fee 0, fresh payee) from the last leaf of a tree of that many leaves; 2^24 = a full tree 0, proven against its final root. */
  payGasByTreeSize: Record<string, number>;
  /** Same, from a note in tree 1 (2^10 leaves) after a full tree 0. */
  payGasTree1AfterFullTree: number;
  /** max - min of payGasByTreeSize and payGasTree1AfterFullTree. */
  payGasSpread: number;
  /** payBatch gasUsed / k, ONE payee and ONE relayer for every payment (x402: one API owner, one facilitator), pool of 2^20 leaves, nothing queued before. */
  batchPayGasPerPayment: Record<string, number>;
  /**
   * payBatch gasUsed / k of k SHIELDED payments (zk-shielded: payTo = 0, amount 0, a payee
   * note of 1 USDC for one API's key, a 0.01 fee each to ONE relayer), same pool: each
   * queues and commits two leaves (payee + change), one token transfer per batch.
   */
  shieldedBatchPayGasPerPayment: Record<string, number>;
  /** payBatch gasUsed (totals), shielded. */
  shieldedBatchPayGas: Record<string, number>;
  /** payBatch gasUsed / k of k/2 shielded and k/2 transparent (one payee) payments in ONE batch. */
  mixedBatchPayGasPerPayment: Record<string, number>;
  /** payBatch gasUsed (totals), mixed. */
  mixedBatchPayGas: Record<string, number>;
  /** Same batches, every payment to a distinct payee (fresh accounts), same relayer. */
  batchPayGasPerPaymentDistinctPayees: Record<string, number>;
  /** payBatch gasUsed (totals), one payee. */
  batchPayGas: Record<string, number>;
  /** payBatch gasUsed (totals), distinct payees. */
  batchPayGasDistinctPayees: Record<string, number>;
  /** commitPendingLeaves(n) gasUsed with n leaves queued, at 2^20 committed leaves. */
  commitGas: Record<string, number>;
  /** commitGas / n. */
  commitGasPerLeaf: Record<string, number>;
  /** `pay` at 2^20 (its change queued), then commitPendingLeaves(1): the two gasUsed summed. */
  singlePayPlusCommitGas: number;
  /** The same payment with payAndCommit (one transaction). */
  payAndCommitGas: number;
  /** What the previous `pay`, inserting directly, cost. */
  oldPayGas: number;
  /** Blocks after the batch in which its change note was spent (1: the next block). */
  changeSpendableAfterBlocks: number;
  /** gasUsed of that spend (a `pay` at 2^20 + k). */
  changeSpendPayGas: number;
  /** What the keys above measure, in words. */
  payGasByTreeSizeNote: string;
  batchPayGasNote: string;
}

async function snapshot(ethers: HardhatEthers): Promise<string> {
  return (await ethers.provider.send("evm_snapshot", [])) as string;
}

async function revert(ethers: HardhatEthers, id: string): Promise<void> {
  if (!(await ethers.provider.send("evm_revert", [id]))) throw new Error("evm_revert failed");
}

async function mined(tx: Promise<{ wait(): Promise<TransactionReceipt | null> }>): Promise<TransactionReceipt> {
  const rc = await (await tx).wait();
  if (!rc || rc.status !== 1) throw new Error("transaction failed");
  return rc;
}

/** Terms of 1 USDC to `payTo` (+ optional relayer fee), valid for an hour. */
async function termsOf(pool: Pool, payTo: Address, label: string, relayer?: Address): Promise<PaymentTerms> {
  return pool.terms({
    payTo,
    amount: USDC(1),
    conditionHash: condition(label),
    ...(relayer ? { relayer, fee: USDC(0.01) } : {}),
  });
}

/** Terms of a shielded payment (payTo = 0, amount 0) with the relayer's 0.01 fee. */
async function shieldedTermsOf(pool: Pool, label: string, relayer: Address): Promise<PaymentTerms> {
  return pool.shieldedTerms({ conditionHash: condition(label), relayer, fee: USDC(0.01) });
}

/** The API's wallet that shielded payments pay (its owner key owns the payee notes). */
const SHIELDED_PAYEE = WalletKeys.fromSeed(`0x${"5a".repeat(32)}`);

/** A proof of paying `terms` from `note`; shielded (a 1 USDC payee note for SHIELDED_PAYEE) when `shielded`. */
async function provedPay(big: BigPayPool, note: OwnedNote, terms: PaymentTerms, shielded = false) {
  const p: Proven = await big.pool.proveAt(
    note,
    terms,
    big.big.pathOf(note),
    shielded ? { payee: { keys: SHIELDED_PAYEE, value: USDC(1) } } : {},
  );
  return { ...big.pool.batched(p), p };
}

export async function benchScale(ethers: HardhatEthers, options: ScaleBenchOptions = {}): Promise<ScaleBenchResult> {
  const log = options.log ?? ((m: string) => console.log(m));
  const batchSizes = options.batchSizes ?? [16, 32];
  const kMax = Math.max(...batchSizes);
  const signers = await ethers.getSigners();
  const payee = (await signers[5]!.getAddress()) as Address;
  const relayer = (await signers[6]!.getAddress()) as Address;

  // 1. pay at each tree size (fresh pool each, fresh payee balance).
  const payGasByTreeSize: Record<string, number> = {};
  let singlePayPlusCommitGas = 0;
  let payAndCommitGas = 0;
  for (const size of TREE_SIZES) {
    const full = size === 2 ** 24;
    const big = await bigPayPool(ethers, {
      treeSizes: full ? [size, 2 ** 10] : [size],
      notesPerTree: full ? [1, 1] : [1],
      noteValue: USDC(5),
    });
    const x = await provedPay(big, big.big.notes[0]!, await termsOf(big.pool, payee, `size ${size}`));
    const before = await snapshot(ethers);
    const rc = await mined(big.pool.facilitator.pay(x.proof, x.terms, x.memo, x.payeeMemo));
    payGasByTreeSize[String(size)] = Number(rc.gasUsed);
    log(`   pay at ${fmtInt(size)} leaves: ${fmtInt(Number(rc.gasUsed))} gas`);
    if (size === BATCH_POOL_SIZE) {
      const c = await mined(big.pool.facilitator.commitPendingLeaves(1));
      singlePayPlusCommitGas = Number(rc.gasUsed) + Number(c.gasUsed);
      await revert(ethers, before);
      payAndCommitGas = Number(
        (await mined(big.pool.facilitator.payAndCommit(x.proof, x.terms, x.memo, x.payeeMemo))).gasUsed,
      );
    }
    if (full) {
      const other = (await signers[7]!.getAddress()) as Address;
      const y = await provedPay(big, big.big.notes[1]!, await termsOf(big.pool, other, "tree 1"));
      const rc1 = await mined(big.pool.facilitator.pay(y.proof, y.terms, y.memo, y.payeeMemo));
      payGasByTreeSize.tree1 = Number(rc1.gasUsed);
    }
  }
  const payGasTree1AfterFullTree = payGasByTreeSize.tree1!;
  delete payGasByTreeSize.tree1;
  const allPay = [...Object.values(payGasByTreeSize), payGasTree1AfterFullTree];
  const payGasSpread = Math.max(...allPay) - Math.min(...allPay);

  // 2. commitPendingLeaves(n) with n leaves queued at 2^20.
  const queued = Array.from({ length: Math.max(...COMMIT_COUNTS) }, (_, i) =>
    commitmentOf({ value: 2n, owner: 0xbeefn, blinding: BigInt(i + 1) }),
  );
  const commitGas: Record<string, number> = {};
  const commitGasPerLeaf: Record<string, number> = {};
  for (const n of COMMIT_COUNTS) {
    const big = await bigPayPool(ethers, {
      treeSizes: [BATCH_POOL_SIZE],
      notesPerTree: [0],
      noteValue: 0n,
      queued: queued.slice(0, n),
    });
    const rc = await mined(big.pool.facilitator.commitPendingLeaves(n));
    const expected = new SparseLeanTree(BATCH_POOL_SIZE, FILLER, queued.slice(0, n)).root;
    if ((await big.pool.facilitator.currentRoot()) !== expected) throw new Error("commit: root differs from JS");
    commitGas[String(n)] = Number(rc.gasUsed);
    commitGasPerLeaf[String(n)] = Math.round(Number(rc.gasUsed) / n);
  }

  // 3. Batches at 2^20 leaves: kMax real notes at the tail, proven once, settled from a
  //    snapshot for each k (nothing queued before the batch).
  const big = await bigPayPool(ethers, {
    treeSizes: [BATCH_POOL_SIZE],
    notesPerTree: [kMax],
    noteValue: USDC(5),
  });
  log(`   proving ${3 * kMax} payments for the batches (transparent, to distinct payees, shielded)...`);
  const same: Awaited<ReturnType<typeof provedPay>>[] = [];
  const distinct: Awaited<ReturnType<typeof provedPay>>[] = [];
  const shielded: Awaited<ReturnType<typeof provedPay>>[] = [];
  for (const [i, note] of big.big.notes.entries()) {
    same.push(await provedPay(big, note, await termsOf(big.pool, payee, `same ${i}`, relayer)));
    const fresh = Wallet.createRandom().address as Address;
    distinct.push(await provedPay(big, note, await termsOf(big.pool, fresh, `distinct ${i}`, relayer)));
    shielded.push(await provedPay(big, note, await shieldedTermsOf(big.pool, `shielded ${i}`, relayer), true));
  }
  // Half shielded, half transparent, spending distinct notes (the first half's shielded proofs,
  // the second half's transparent ones).
  const mixedOf = (k: number) => [...shielded.slice(0, k / 2), ...same.slice(k / 2, k)];
  let base = await snapshot(ethers);
  const batchPayGas: Record<string, number> = {};
  const batchPayGasDistinctPayees: Record<string, number> = {};
  const batchPayGasPerPayment: Record<string, number> = {};
  const batchPayGasPerPaymentDistinctPayees: Record<string, number> = {};
  const shieldedBatchPayGas: Record<string, number> = {};
  const shieldedBatchPayGasPerPayment: Record<string, number> = {};
  const mixedBatchPayGas: Record<string, number> = {};
  const mixedBatchPayGasPerPayment: Record<string, number> = {};
  const sizes = [1, ...batchSizes.filter((k) => k !== 1)];
  let lastBatch: TransactionReceipt | undefined;
  const receiptTopic = big.pool.facilitator.interface.getEvent("ShieldedPaymentReceipt")!.topicHash;
  for (const k of sizes) {
    // `same` last: the change-note spend below continues from its state.
    for (const [set, totals, per, shieldedCount] of [
      [distinct.slice(0, k), batchPayGasDistinctPayees, batchPayGasPerPaymentDistinctPayees, 0],
      [shielded.slice(0, k), shieldedBatchPayGas, shieldedBatchPayGasPerPayment, k],
      ...(k % 2 === 0 ? [[mixedOf(k), mixedBatchPayGas, mixedBatchPayGasPerPayment, k / 2] as const] : []),
      [same.slice(0, k), batchPayGas, batchPayGasPerPayment, 0],
    ] as const) {
      await revert(ethers, base);
      base = await snapshot(ethers); // evm_revert consumes the snapshot: take it again
      const leavesBefore = await big.pool.facilitator.leafCount();
      const rc = await mined(
        big.pool.facilitator.payBatch(
          set.map(({ proof, terms, memo, payeeMemo }) => ({ proof, terms, memo, payeeMemo })),
        ),
      );
      if ((await big.pool.facilitator.pendingLeafCount()) !== 0n) throw new Error("batch left leaves queued");
      // Every payment settled: one leaf each, plus the payee leaf of each shielded one.
      const appended = Number((await big.pool.facilitator.leafCount()) - leavesBefore);
      const receipts = rc.logs.filter((l) => l.topics[0] === receiptTopic).length;
      if (appended !== k + shieldedCount || receipts !== shieldedCount) {
        throw new Error(
          `payBatch k=${k}: ${appended} leaves and ${receipts} shielded receipts (want ${k + shieldedCount}, ${shieldedCount})`,
        );
      }
      totals[String(k)] = Number(rc.gasUsed);
      per[String(k)] = Math.round(Number(rc.gasUsed) / k);
      lastBatch = rc;
    }
    log(
      `   payBatch k=${k}: ${fmtInt(batchPayGasPerPayment[String(k)]!)} gas/payment (one payee), ` +
        `${fmtInt(shieldedBatchPayGasPerPayment[String(k)]!)} shielded`,
    );
  }

  // 4. The last batch (same payee, k = kMax): a change note spent in the next block.
  const k = sizes[sizes.length - 1]!;
  const spender = same[k - 1]!;
  const changeOf = (s: (typeof same)[number]) => ({
    value: s.p.result.changeValue,
    owner: s.p.change.owner,
    blinding: s.p.change.blinding,
  });
  const change: OwnedNote = {
    ...changeOf(spender),
    k: spender.p.change.k,
    leafIndex: BATCH_POOL_SIZE + k - 1,
  };
  const after = new SparseLeanTree(BATCH_POOL_SIZE - kMax, FILLER, [
    ...big.big.notes.map((n) => commitmentOf(n)),
    ...same.slice(0, k).map((s) => commitmentOf(changeOf(s))),
  ]);
  if ((await big.pool.facilitator.currentRoot()) !== after.root) throw new Error("batch: root differs from JS");
  const t = await termsOf(big.pool, (await signers[8]!.getAddress()) as Address, "change");
  const spend = await big.pool.proveAt(change, t, after.path(change.leafIndex));
  const rcSpend = await mined(big.pool.pay(spend));
  const changeSpendableAfterBlocks = rcSpend.blockNumber - lastBatch!.blockNumber;

  return {
    payGasByTreeSize,
    payGasTree1AfterFullTree,
    payGasSpread,
    batchPayGasPerPayment,
    batchPayGasPerPaymentDistinctPayees,
    batchPayGas,
    batchPayGasDistinctPayees,
    shieldedBatchPayGasPerPayment,
    shieldedBatchPayGas,
    mixedBatchPayGasPerPayment,
    mixedBatchPayGas,
    commitGas,
    commitGasPerLeaf,
    singlePayPlusCommitGas,
    payAndCommitGas,
    oldPayGas: OLD_PAY_GAS,
    changeSpendableAfterBlocks,
    changeSpendPayGas: Number(rcSpend.gasUsed),
    payGasByTreeSizeNote:
      "receipt.gasUsed of one real pay (1 USDC, fee 0, payee holding no tokens yet) from the last leaf of a pool of " +
      "that many leaves, the state written with FacilitatorHarness and the production Facilitator's code swapped in " +
      "(hardhat_setCode); 16777216 = a full tree 0, proven against its final root. Spread = max - min, tree-1 pay included.",
    batchPayGasNote:
      "payBatch receipt.gasUsed (total) and / k (per payment) in a pool of 2^20 leaves with nothing queued, k distinct " +
      "real notes. batchPayGas*: every payment to ONE payee with a 0.01 fee to ONE relayer (x402: one API owner, one " +
      "facilitator), so two token transfers per batch. *DistinctPayees: each payment to a fresh address (k + 1 " +
      "transfers). Change notes are committed in the same transaction (one spent in the next block). " +
      "shieldedBatchPayGas*: k shielded payments (payTo = 0, amount 0, a 1 USDC payee note for one API key, " +
      "0.01 fee each to ONE relayer): 2k leaves committed, one transfer (the relayer's). mixedBatchPayGas*: k/2 " +
      "shielded + k/2 transparent (one payee) payments of distinct notes in one batch.",
  };
}

/** Text tables of {@link benchScale}'s result. */
export function reportScale(r: ScaleBenchResult): string {
  const pay = table(
    ["pay (fee 0, real proof)", "gasUsed"],
    [
      ...Object.entries(r.payGasByTreeSize).map(([n, g]) => [`${fmtInt(Number(n))} leaves`, fmtInt(g)]),
      ["tree 1 after a full tree 0", fmtInt(r.payGasTree1AfterFullTree)],
      ["spread (max - min)", fmtInt(r.payGasSpread)],
      ["pay + commitPendingLeaves(1) at 2^20", fmtInt(r.singlePayPlusCommitGas)],
      ["payAndCommit at 2^20", fmtInt(r.payAndCommitGas)],
      ["previous pay (inserted directly)", fmtInt(r.oldPayGas)],
    ],
  );
  const opt = (x: number | undefined) => (x === undefined ? "-" : fmtInt(x));
  const batch = table(
    [
      "payBatch at 2^20 leaves",
      "total",
      "per payment",
      "per payment, distinct",
      "shielded total",
      "per payment, shielded",
      "per payment, mixed",
    ],
    Object.keys(r.batchPayGas).map((k) => [
      `k = ${k}`,
      fmtInt(r.batchPayGas[k]!),
      fmtInt(r.batchPayGasPerPayment[k]!),
      fmtInt(r.batchPayGasPerPaymentDistinctPayees[k]!),
      opt(r.shieldedBatchPayGas[k]),
      opt(r.shieldedBatchPayGasPerPayment[k]),
      opt(r.mixedBatchPayGasPerPayment[k]),
    ]),
  );
  const commit = table(
    ["commitPendingLeaves at 2^20", "gasUsed", "per leaf"],
    Object.keys(r.commitGas).map((n) => [`${n} leaves`, fmtInt(r.commitGas[n]!), fmtInt(r.commitGasPerLeaf[n]!)]),
  );
  return [pay, batch, commit, `change note of a batch spent ${r.changeSpendableAfterBlocks} block(s) later`].join(
    "\n\n",
  );
}

// Run alone: npx hardhat build && npx tsx bench/scale.ts
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const { default: hre } = await import("hardhat");
  const { shutdownProver } = await import("../sdk/core/prover.js");
  try {
    const conn = await hre.network.create();
    const t0 = performance.now();
    const r = await benchScale(conn.ethers);
    console.log(`\n${reportScale(r)}\n`);
    console.log(JSON.stringify(r, null, 2));
    console.log(`(${Math.round((performance.now() - t0) / 1000)} s)`);
    await shutdownProver();
    process.exit(0);
  } catch (err) {
    console.error(err);
    await shutdownProver().catch(() => {});
    process.exit(1);
  }
}
