/**
 * Withdrawals: private balance -> a public address. A payment spends exactly one note
 * (the payment circuit has one input), so a withdrawal larger than any one note is a
 * chain of withdrawals, one note per transaction, largest notes first: 2.5 from notes of
 * 1 + 1 + 1.47 is 1.47, then 1, then 0.03 of the other 1 (its 0.97 change stays). Each
 * transaction is an ordinary payment to `to`: a crash between two of them loses nothing
 * (the notes not yet spent stay in the wallet, the change of each derives from the seed),
 * and `withdraw` again moves the rest.
 */
import { zeroAddress, type Address, type Hash } from "viem";

import { parseUserAddress } from "../../core/address.js";
import { ZkPayError, isZkPayError } from "../../core/errors.js";
import { toValue } from "../../core/field.js";
import type { ProofProgress } from "../../core/prover.js";
import { checkPaymentCost, formatTokens } from "../cost.js";
import type { RelayClient } from "../relay.js";
import type { StoredNote } from "../store.js";
import type { PreparedPayment } from "../types.js";
import type { WalletCore } from "../wallet/core.js";
import { balances } from "./balances.js";
import { commitPendingLeaves } from "./commit-leaves.js";
import { preparePayment } from "./prepare-payment.js";
import {
  availableNotes,
  changeMayCover,
  queuedNotes,
  recordSettlement,
  releaseUnlessUnconfirmed,
  spendableNotes,
} from "./select-note.js";
import { submitPayment } from "./submit-payment.js";
import { sync } from "./sync.js";
import { tokenUnits } from "./token.js";

/** What {@link PrivateWallet.withdraw} and {@link PrivateWallet.withdrawAll} share. */
export interface WithdrawOptions {
  /** The public address that receives the tokens. */
  to: Address;
  /** Proving progress (witness, then prove) of each transaction, for a progress bar. */
  onProgress?: (p: ProofProgress) => void;
  /** Called as each transaction of the withdrawal is mined (a chained withdrawal has several). */
  onTransaction?: (t: WithdrawTransaction) => void;
  /** Submit through a relayer (`RelayClient`, its fee on top of each transaction's amount): no gas, no address of yours on chain. */
  relay?: RelayClient;
  /**
   * The largest relayer fee accepted per transaction, base units (default: at most 0.1
   * token, and at most the amount withdrawn; see `defaultMaxFee`). A relayer asking more
   * is refused with `fee_too_high` before proving.
   */
  maxFee?: bigint;
}

/** Parameters of a withdrawal (`PrivateWallet.withdraw`). */
export interface WithdrawParameters extends WithdrawOptions {
  /** Base units to withdraw: any amount up to the private balance (less the relayer's fee per transaction). */
  amount: bigint;
}

/** One transaction of a withdrawal. */
export interface WithdrawTransaction {
  hash: Hash;
  /** Base units this transaction sent to `to`. */
  amount: bigint;
  /** The relayer's fee it paid (0 without a relayer). */
  fee: bigint;
  /** Global leaf index of the note it spent. */
  leafIndex: number;
  /** 1-based position in the chain, and the chain's length. */
  index: number;
  of: number;
}

/** What {@link PrivateWallet.withdraw} and {@link PrivateWallet.withdrawAll} return. */
export interface WithdrawResult {
  /** The last transaction's hash (the only one for a withdrawal that one note covers). */
  hash: Hash;
  /** Every transaction, in order. */
  transactions: WithdrawTransaction[];
  /** Base units sent to `to` in all. */
  amount: bigint;
  /** Relayer fees paid in all. */
  fees: bigint;
}

/** What {@link withdraw} returns. */
export type WithdrawReturnType = WithdrawResult;

/** One planned transaction: spend `note`, send `amount`. */
interface Step {
  note: StoredNote | undefined;
  amount: bigint;
}

/**
 * Withdraws `amount` from the private balance to a public address. One note that covers
 * it (with the relayer's fee): one transaction, the note picked and made ready as for a
 * payment (see `preparePayment`). Otherwise a chain of transactions, largest notes first,
 * each reported through `onTransaction` as it is mined; the last one takes only what is
 * left and keeps the rest as change. `insufficient_private_balance` before anything is
 * proven when the committed notes cannot cover it. A failure after some transactions
 * carries them in its details (`transactions`, `withdrawn`): what they sent is gone from
 * the wallet, the rest stays.
 *
 * @example
 * const { transactions } = await withdraw(core, { to: "0x...", amount: 2_500_000n });
 */
export async function withdraw(core: WalletCore, args: WithdrawParameters): Promise<WithdrawReturnType> {
  const amount = toValue(args.amount, "withdraw amount");
  if (amount === 0n) throw new ZkPayError("invalid_argument", "withdraw amount must be positive");
  const to = payee(args.to);
  const relay = await relayTerms(core, args, amount);
  const fee = relay?.fee ?? 0n;
  if (!core.sync.done) await (core.sync.running ?? sync(core));
  // One note covers it (now, once queued notes are committed, or as the change of a
  // payment in flight): one payment, exactly as before chained withdrawals.
  const covers =
    availableNotes(core).some((n) => BigInt(n.value) >= amount + fee) || changeMayCover(core, amount + fee);
  if (covers) return run(core, args, to, relay, [{ note: undefined, amount }]);
  await ready(core);
  return run(core, args, to, relay, await plan(core, amount, fee));
}

/**
 * Withdraws everything the committed notes hold, one transaction per note (less the
 * relayer's fee on each; a note not worth more than the fee stays). `insufficient_private_balance`
 * when no note is worth withdrawing.
 *
 * @example
 * await withdrawAll(core, { to: "0x..." });
 */
export async function withdrawAll(core: WalletCore, args: WithdrawOptions): Promise<WithdrawReturnType> {
  const to = payee(args.to);
  await ready(core);
  const notes = spendableNotes(core).sort(byValueDesc);
  const relay = await relayTerms(core, args, notes[0] ? BigInt(notes[0].value) : 0n);
  const fee = relay?.fee ?? 0n;
  const steps = notes.filter((n) => BigInt(n.value) > fee).map((n) => ({ note: n, amount: BigInt(n.value) - fee }));
  if (steps.length === 0) throw await shortOf(core, 1n, fee, "nothing to withdraw");
  return run(core, args, to, relay, steps);
}

/** The recipient, checked: the pool reads payTo = 0 as a shielded payment, so refuse it. */
function payee(input: Address): Address {
  const to = parseUserAddress(input, "withdraw to");
  if (to === zeroAddress) throw new ZkPayError("invalid_argument", "withdraw to the zero address: the pool refuses it");
  return to;
}

/** The relayer's terms, its fee held to the payer's limit before anything is proven. */
async function relayTerms(
  core: WalletCore,
  args: WithdrawOptions,
  amount: bigint,
): Promise<{ relayer: Address; fee: bigint } | undefined> {
  if (!args.relay) return undefined;
  const t = await args.relay.terms(core.pool.chainId);
  checkPaymentCost({ amount, fee: t.fee, relayer: t.relayer }, { maxFee: args.maxFee }, await tokenUnits(core));
  return { relayer: t.relayer, fee: t.fee };
}

/**
 * Makes every note a chain may spend spendable: a sync when payments are in flight (it
 * finds their change, or frees their notes once expired) or none was made yet, then a
 * commit of the pool's queue when notes of ours wait in it and this wallet can send
 * transactions. The sync comes right before the withdrawal, so the RPC provider can time
 * it (for a relayed one too): the one-note path (and every payment) never syncs first.
 */
async function ready(core: WalletCore): Promise<void> {
  if (core.state.pending.length > 0 || !core.sync.done) await sync(core);
  if (queuedNotes(core).length > 0 && core.walletClient?.account) await commitPendingLeaves(core);
}

function byValueDesc(a: StoredNote, b: StoredNote): number {
  const d = BigInt(b.value) - BigInt(a.value);
  return d > 0n ? 1 : d < 0n ? -1 : a.leafIndex - b.leafIndex;
}

/**
 * The chain for `amount`: while no single note covers what is left (with its fee), the
 * largest note, whole; then the smallest note that covers the rest (least change left
 * behind, the larger notes kept).
 */
async function plan(core: WalletCore, amount: bigint, fee: bigint): Promise<Step[]> {
  const notes = spendableNotes(core)
    .filter((n) => BigInt(n.value) > fee)
    .sort(byValueDesc);
  const capacity = notes.reduce((s, n) => s + BigInt(n.value) - fee, 0n);
  if (capacity < amount) throw await shortOf(core, amount, fee, `the committed notes can send at most ${capacity}`);
  const steps: Step[] = [];
  let left = amount;
  while (left > 0n) {
    const cover = notes.filter((n) => BigInt(n.value) - fee >= left).at(-1);
    if (cover) {
      steps.push({ note: cover, amount: left });
      break;
    }
    const largest = notes.shift()!;
    steps.push({ note: largest, amount: BigInt(largest.value) - fee });
    left -= BigInt(largest.value) - fee;
  }
  return steps;
}

/** `insufficient_private_balance` for a withdrawal, amounts in tokens. */
async function shortOf(core: WalletCore, amount: bigint, fee: bigint, why: string): Promise<ZkPayError> {
  const t = (v: bigint) => formatTokens(v, units);
  const units = await tokenUnits(core);
  const b = balances(core);
  const notes = spendableNotes(core);
  const largest = notes.reduce((m, n) => (BigInt(n.value) > m ? BigInt(n.value) : m), 0n);
  return new ZkPayError(
    "insufficient_private_balance",
    `cannot withdraw ${t(amount)}: ${why} (${notes.length} spendable notes, largest ${t(largest)}, private balance ${t(b.total)}` +
      (fee > 0n ? `, the relayer's fee of ${t(fee)} on each transaction` : "") +
      (b.reserved > 0n ? `, ${t(b.reserved)} held by payments in flight` : "") +
      (b.pending > 0n ? `, ${t(b.pending)} not committed yet` : "") +
      ")",
    {
      needed: amount.toString(),
      largestNote: largest.toString(),
      balance: b.total.toString(),
      fee: fee.toString(),
    },
  );
}

/** Runs the steps one after the other, each mined before the next is proven. */
async function run(
  core: WalletCore,
  args: WithdrawOptions,
  to: Address,
  relay: { relayer: Address; fee: bigint } | undefined,
  steps: Step[],
): Promise<WithdrawResult> {
  const done: WithdrawTransaction[] = [];
  for (const [i, step] of steps.entries()) {
    try {
      const { hash, leafIndex } = await once(core, args, to, relay, step);
      const t: WithdrawTransaction = {
        hash,
        amount: step.amount,
        fee: relay?.fee ?? 0n,
        leafIndex,
        index: i + 1,
        of: steps.length,
      };
      done.push(t);
      try {
        args.onTransaction?.(t);
      } catch {
        // A failing report must not stop a withdrawal half-way.
      }
    } catch (err) {
      if (done.length === 0) throw err;
      const withdrawn = done.reduce((s, x) => s + x.amount, 0n);
      const reason = isZkPayError(err) ? err.reason : "settlement_failed";
      throw new ZkPayError(
        reason,
        `${done.length} of ${steps.length} withdrawal transactions went through (${withdrawn} base units sent: ` +
          `${done.map((x) => x.hash).join(", ")}), then: ${(err as Error).message}. The rest is still in the wallet`,
        {
          ...(isZkPayError(err) ? err.details : {}),
          withdrawn: withdrawn.toString(),
          transactions: done.map((x) => x.hash),
        },
        { cause: err },
      );
    }
  }
  return {
    hash: done.at(-1)!.hash,
    transactions: done,
    amount: done.reduce((s, x) => s + x.amount, 0n),
    fees: done.reduce((s, x) => s + x.fee, 0n),
  };
}

/**
 * One withdrawal transaction: a payment to `to`, expiring in ten minutes, submitted from
 * the wallet client's account or through the relayer. The note is released only when
 * the payment certainly did not settle.
 */
async function once(
  core: WalletCore,
  args: WithdrawOptions,
  to: Address,
  relay: { relayer: Address; fee: bigint } | undefined,
  step: Step,
): Promise<{ hash: Hash; leafIndex: number }> {
  const now = BigInt((await core.publicClient.getBlock({ blockTag: "latest" })).timestamp);
  const p: PreparedPayment = await preparePayment(
    core,
    {
      payTo: to,
      amount: step.amount,
      fee: relay?.fee,
      relayer: relay?.relayer,
      expiry: now + 600n,
      onProgress: args.onProgress,
    },
    { note: step.note },
  );
  const leafIndex = core.state.notes.find((n) => n.nullifierHash === p.proof.nullifierHash.toString())?.leafIndex ?? -1;
  let hash: Hash;
  try {
    if (!args.relay) return { hash: await submitPayment(core, p), leafIndex };
    hash = (await args.relay.submit(p)).transaction;
  } catch (err) {
    await releaseUnlessUnconfirmed(core, p, err);
    throw err;
  }
  // Mined by the relayer: the change is ours from now on (pending until a sync finds it).
  await recordSettlement(core, p).catch(() => {});
  return { hash, leafIndex };
}
