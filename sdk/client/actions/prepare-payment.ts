import { zeroAddress, type Address } from "viem";

import { parseUserAddress } from "../../core/address.js";
import { paymentContext, type PaymentTerms } from "../../core/context.js";
import { ZkPayError } from "../../core/errors.js";
import { toBytes32, toValue } from "../../core/field.js";
import { encodeMemo, randomNonce128 } from "../../core/memo.js";
import { provePayment } from "../../core/circuits/payment.js";
import { formatTokens } from "../cost.js";
import type { StoredNote } from "../store.js";
import type { PaymentParams, PreparedPayment } from "../types.js";
import type { WalletCore } from "../wallet/core.js";
import { balances } from "./balances.js";
import { commitPendingLeaves } from "./commit-leaves.js";
import { changeMayCover, holdNote, pickNote, queuedMayCover, spendableNotes, withNoteBusy } from "./select-note.js";
import { sync, waitForNextSync } from "./sync.js";
import { tokenUnits } from "./token.js";

/** What {@link preparePayment} returns. */
export type PreparePaymentReturnType = PreparedPayment;

/**
 * Selects the smallest spendable note that covers `amount + fee`, proves a payment bound
 * to `params`, and reserves the note until the payment settles or expires.
 *
 * It proves against the local tree as it is, without asking the chain first: the tree
 * is kept fresh by scheduled syncs, and the pool accepts any root of its recent history.
 * It syncs first only if this wallet instance has never synced (just opened), or when
 * `params.sync` is set (a retry after a stale root).
 *
 * When no spendable note covers the payment but the change note of a payment in flight
 * would, it waits for scheduled syncs to bring that change note, at most
 * `sync.waitForChangeMs`, then fails with `insufficient_private_balance` if it still has
 * none. With scheduled syncing off it syncs once instead: that sync comes right before
 * the payment, so the RPC provider can tell when this payment was made.
 *
 * Nothing needs saving before proving: the change note's secrets derive from the note it
 * spends, so a crash at any point loses nothing, and the seed and the chain find the
 * change note again. Proving the same note again (a retry) derives the same change
 * secrets (only one of the proofs can settle) but a memo with a fresh nonce.
 *
 * @example
 * const p = await preparePayment(core, { payTo, amount: 10_000n, expiry });
 */
export async function preparePayment(core: WalletCore, params: PaymentParams): Promise<PreparePaymentReturnType> {
  const amount = toValue(params.amount, "amount");
  const fee = toValue(params.fee ?? 0n, "fee");
  params = { ...params, payTo: parseUserAddress(params.payTo, "payTo") };
  const relayer = params.relayer === undefined ? zeroAddress : parseUserAddress(params.relayer, "relayer");
  if (fee > 0n && relayer === zeroAddress) {
    throw new ZkPayError("invalid_argument", "a fee needs a relayer address");
  }
  const needed = amount + fee;
  const t0 = performance.now();
  if (params.sync) await sync(core);
  else if (!core.sync.done) await (core.sync.running ?? sync(core));
  if (!pickNote(core, needed) && changeMayCover(core, needed)) {
    if (core.schedule.on) {
      // Wait for the schedule rather than sync now: a sync right before the payment
      // would time it for the RPC provider.
      const deadline = performance.now() + core.config.waitForChangeMs;
      while (!pickNote(core, needed) && changeMayCover(core, needed) && core.schedule.on) {
        const left = deadline - performance.now();
        if (left <= 0) break;
        await waitForNextSync(core, left);
      }
    } else {
      await sync(core);
    }
  }
  // Still short, but a queued note of ours covers it: the pool has not committed it
  // yet. Commit it ourselves when we can send transactions (one block), then sync.
  if (!pickNote(core, needed) && queuedMayCover(core, needed) && core.walletClient?.account) {
    await commitPendingLeaves(core);
  }
  const syncMs = performance.now() - t0;

  // Pick and reserve in one synchronous step: a concurrent payment must not pick the
  // same note while this one is being proven.
  const note = pickNote(core, needed);
  if (!note) throw await insufficientBalance(core, amount, fee);
  return withNoteBusy(core, note, () => proveWith(core, note, params, { amount, fee, relayer, syncMs }));
}

/** The `insufficient_private_balance` error, amounts in tokens. */
async function insufficientBalance(core: WalletCore, amount: bigint, fee: bigint): Promise<ZkPayError> {
  const needed = amount + fee;
  const largest = spendableNotes(core).reduce((m, n) => (BigInt(n.value) > m ? BigInt(n.value) : m), 0n);
  const pendingChange = core.state.pending.reduce((s, p) => s + BigInt(p.changeValue), 0n);
  const units = await tokenUnits(core);
  const t = (v: bigint) => formatTokens(v, units);
  const balance = balances(core).total;
  return new ZkPayError(
    "insufficient_private_balance",
    `no single private note covers ${t(needed)}` +
      (fee > 0n ? ` (${t(amount)} + a fee of ${t(fee)})` : "") +
      ` (largest spendable note ${t(largest)}, private balance ${t(balance)}` +
      (pendingChange > 0n ? `, change of payments in flight not yet seen: ${t(pendingChange)}` : "") +
      "): deposit more",
    {
      needed: needed.toString(),
      largestNote: largest.toString(),
      balance: balance.toString(),
      pendingChange: pendingChange.toString(),
    },
  );
}

/** Proves the payment with `note` and persists its reservation. */
async function proveWith(
  core: WalletCore,
  note: StoredNote,
  params: PaymentParams,
  cost: { amount: bigint; fee: bigint; relayer: Address; syncMs: number },
): Promise<PreparedPayment> {
  const { amount, fee, relayer, syncMs } = cost;
  const secrets = core.secretsOf(note);
  // The change note derives from the note it spends (see WalletKeys): no counter, so a
  // restored wallet or a second process can never give another note the same secrets.
  const change = core.keys.changeSecrets(secrets);
  const changeValue = BigInt(note.value) - amount - fee;
  // The agent pays again right away with its change when it has nothing else committed.
  const commitChange =
    params.commitChange ??
    (changeValue > 0n && !spendableNotes(core).some((n) => n.nullifierHash !== note.nullifierHash));
  // Fresh nonce: a retry of this note reuses the change secrets, never the memo's pad.
  const memo = encodeMemo({
    tag: core.keys.childTag(secrets),
    secrets: change,
    value: changeValue,
    nonce: randomNonce128(),
  });
  const terms: PaymentTerms = {
    payTo: params.payTo,
    amount,
    relayer,
    fee,
    conditionHash: params.conditionHash ?? toBytes32(0n),
    expiry: params.expiry,
  };
  const context = paymentContext({ chainId: core.pool.chainId, facilitator: core.pool.facilitator, terms, memo });
  const result = await provePayment(
    {
      note: { value: BigInt(note.value), ...secrets },
      path: core.tree.path(note.leafIndex),
      amount,
      fee,
      context,
      change,
    },
    core.artifacts,
    { onProgress: params.onProgress },
  );

  await holdNote(core, {
    nullifierHash: note.nullifierHash,
    changeValue: changeValue.toString(),
    expiry: Number(params.expiry),
    createdAt: Math.floor(Date.now() / 1000),
  });

  return {
    proof: {
      ...result.proof,
      root: result.root,
      treeSize: BigInt(result.treeSize),
      nullifierHash: result.nullifierHash,
      changeCommitment: result.changeCommitment,
    },
    terms,
    memo,
    receiptId: toBytes32(result.nullifierHash),
    changeValue,
    commitChange,
    timings: { ...result.timings, syncMs },
  };
}
