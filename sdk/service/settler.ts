import {
  encodeFunctionData,
  getAddress,
  type Address,
  type Hex,
  type PublicClient,
  type TransactionReceipt,
} from "viem";

import { facilitatorAbi } from "../core/abi.js";
import { leavesToCommit } from "../core/commit.js";
import type { PaymentTerms } from "../core/context.js";
import { ZkPayError, isZkPayError } from "../core/errors.js";
import { ReceiptChecker, skippedIn } from "../core/receipts.js";
import { mapPayRevert } from "../core/revert.js";
import { isShieldedTerms, type ProofStruct } from "../core/wire.js";
import { silentLogger, type Logger } from "./logger.js";
import type { Relayer } from "./relayer.js";
import type { PaymentRow, ServiceStore } from "./store.js";

/** When and how payments share a transaction. */
export interface ServiceBatchOptions {
  /** Payments arriving within this many ms share one `payBatch`. Default 50; 0 settles each as it comes. */
  windowMs?: number;
  /** Most payments per `payBatch` (the contract allows 64). Default 16; 1 turns batching off. */
  maxSize?: number;
  /**
   * After a lone `pay` (its change note queued), commit the pool's queue if no batch did
   * within this many ms. Default 1,000; a negative value never commits (someone else will).
   */
  commitAfterMs?: number;
}

/** A stored payment, decoded: what `pay` takes. */
export interface StoredItem {
  proof: ProofStruct;
  terms: PaymentTerms;
  memo: Hex;
  /** A shielded payment's payee memo (187 bytes); "0x" for a transparent one. */
  payeeMemo: Hex;
  commitChange: boolean;
}

/** JSON form of a {@link StoredItem} (decimal strings). */
export function encodeItem(i: StoredItem): string {
  return JSON.stringify(i, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
}

/** Decodes a queued settlement item that `encodeItem` stored (bigints as decimal strings). */
export function decodeItem(s: string): StoredItem {
  const j = JSON.parse(s) as {
    proof: Record<string, unknown>;
    terms: Record<string, string>;
    memo: Hex;
    payeeMemo?: Hex;
    commitChange: boolean;
  };
  const b = (x: unknown) => BigInt(x as string);
  const p = j.proof as { pA: string[]; pB: string[][]; pC: string[] } & Record<string, string>;
  return {
    proof: {
      pA: [b(p.pA[0]), b(p.pA[1])],
      pB: [
        [b(p.pB[0]![0]), b(p.pB[0]![1])],
        [b(p.pB[1]![0]), b(p.pB[1]![1])],
      ],
      pC: [b(p.pC[0]), b(p.pC[1])],
      root: b(p.root),
      treeSize: b(p.treeSize),
      nullifierHash: b(p.nullifierHash),
      payeeCommitment: b(p.payeeCommitment),
      changeCommitment: b(p.changeCommitment),
    },
    terms: {
      payTo: getAddress(j.terms.payTo!),
      amount: b(j.terms.amount),
      relayer: getAddress(j.terms.relayer!),
      fee: b(j.terms.fee),
      conditionHash: j.terms.conditionHash as Hex,
      expiry: b(j.terms.expiry),
    },
    memo: j.memo,
    payeeMemo: j.payeeMemo ?? "0x",
    commitChange: j.commitChange === true,
  };
}

/**
 * Reasons a failed payment keeps for good; any other may pass on a later request. A
 * stored payment fails with `invalid_payload` only when the contract refuses it for what
 * it is (see `refusalOf`): the same bytes would be refused again.
 */
export const FINAL_REASONS = new Set(["nullifier_spent", "invalid_proof", "payment_conflict", "invalid_payload"]);

/** Contract errors that depend on the payment alone (terms, memo, public signals), never on chain state. */
const STATIC_REFUSALS = new Set([
  "FacilitatorShieldedAmount",
  "FacilitatorPayeeMemo",
  "FacilitatorFeeWithoutRelayer",
  "FacilitatorValueTooLarge",
  "FacilitatorMemoTooLong",
  "FacilitatorInputOutOfField",
]);

/**
 * A payment's reverted simulation as a typed error: `mapPayRevert`, except that an expired
 * payment is `challenge_expired` (as when a batch skips it) and a refusal that depends on
 * the payment alone is `invalid_payload` (final), naming the contract's error. The service checks all of these before it accepts a payment; one that reaches
 * the settler anyway (a row stored by an older version) must not be retried for ever.
 */
function refusalOf(err: unknown): ZkPayError {
  const e = mapPayRevert(err);
  const name = e.details.error;
  // The reason payBatch gives when it skips an expired payment (see `Settler#conclude`).
  if (name === "FacilitatorPaymentExpired") {
    return new ZkPayError("challenge_expired", "the payment expired before it could be settled", e.details, {
      cause: err,
    });
  }
  if (typeof name !== "string" || !STATIC_REFUSALS.has(name)) return e;
  return new ZkPayError("invalid_payload", `the contract refuses this payment (${name})`, e.details, { cause: err });
}

/** Options of {@link Settler}. */
export interface SettlerOptions {
  publicClient: PublicClient;
  facilitator: Address;
  chainId: number;
  relayer: Relayer;
  store: ServiceStore;
  batch?: ServiceBatchOptions;
  log?: Logger;
  /**
   * Called with a transaction's gas and fees and the fees its payments pay the relayer,
   * before it is sent; throws (a `ZkPayError`) to refuse a settlement that would cost
   * the relayer more than it earns. See `FeePolicy.assertCovers`.
   */
  assertCovers?: (gas: bigint, maxFeePerGas: bigint, fees: bigint) => void;
  /** Told about every settled or failed payment (metrics). */
  onOutcome?: (row: PaymentRow, ms: number) => void;
}

/**
 * The durable settlement engine of the service. `submit(id)` takes a payment recorded
 * as `accepted`, groups it with the payments of the same window into one `payBatch`
 * (or `pay` / `payAndCommit` alone), simulates the call against the pending block from
 * the relayer (a payment that would revert costs no gas), sends it through the
 * {@link Relayer} and resolves once the chain decided, with the payment's final row.
 * `resume()` after a restart picks up what a crash interrupted: submitted payments wait
 * for their recorded transaction; accepted ones are submitted again.
 *
 * @example
 * const settler = new Settler({ publicClient, facilitator, chainId, relayer, store });
 * const row = await settler.submit(id); // row.state: "settled" | "failed"
 */
export class Settler {
  readonly #o: SettlerOptions;
  readonly #log: Logger;
  readonly #windowMs: number;
  readonly #maxSize: number;
  readonly #commitAfterMs: number;
  readonly #receipts: ReceiptChecker;
  #waiting: { id: string; item: StoredItem }[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #commitTimer: ReturnType<typeof setTimeout> | undefined;
  /** id -> the promise of its final row (one settlement per payment in this process). */
  readonly #running = new Map<string, Promise<PaymentRow>>();
  readonly #resolvers = new Map<string, (r: PaymentRow) => void>();
  readonly #started = new Map<string, number>();
  readonly #groups = new Set<Promise<void>>();
  readonly stats = {
    batches: 0,
    singles: 0,
    commits: 0,
    fallbacks: 0,
    skipped: 0,
    reverted: 0,
    simulatedOut: 0,
    /** Payments taken out of a batch that would revert (each also counts in `simulatedOut`). */
    droppedFromBatch: 0,
  };

  constructor(o: SettlerOptions) {
    this.#o = o;
    this.#log = o.log ?? silentLogger;
    this.#windowMs = Math.max(0, o.batch?.windowMs ?? 50);
    this.#maxSize = Math.min(64, Math.max(1, o.batch?.maxSize ?? 16));
    this.#commitAfterMs = o.batch?.commitAfterMs ?? 1_000;
    this.#receipts = new ReceiptChecker({
      publicClient: o.publicClient,
      facilitator: o.facilitator,
      chainId: o.chainId,
    });
  }

  /** Settlements in flight in this process. */
  get inFlight(): number {
    return this.#running.size;
  }

  /** The final row of payment `id` once the chain decided; starts its settlement if it is accepted and idle. */
  submit(id: string): Promise<PaymentRow> {
    const running = this.#running.get(id);
    if (running) return running;
    const row = this.#o.store.getPayment(id);
    if (!row) return Promise.reject(new Error(`no payment ${id}`));
    if (row.state === "settled" || row.state === "failed") return Promise.resolve(row);
    const p = new Promise<PaymentRow>((resolve) => this.#resolvers.set(id, resolve));
    this.#running.set(id, p);
    this.#started.set(id, performance.now());
    if (row.state === "submitted") {
      void this.#awaitSubmitted(row);
    } else {
      this.#waiting.push({ id, item: decodeItem(row.item) });
      if (this.#waiting.length >= this.#maxSize) this.#flush();
      else this.#timer ??= setTimeout(() => this.#flush(), this.#windowMs);
    }
    return p;
  }

  /** After a restart: every payment a crash left accepted or submitted is carried on. */
  resume(): Promise<PaymentRow[]> {
    const rows = [...this.#o.store.paymentsIn("submitted"), ...this.#o.store.paymentsIn("accepted")];
    if (rows.length > 0)
      this.#log.info("resuming payments", {
        submitted: rows.filter((r) => r.state === "submitted").length,
        accepted: rows.filter((r) => r.state === "accepted").length,
      });
    return Promise.all(rows.map((r) => this.submit(r.id)));
  }

  /** Waits for every settlement in flight (graceful shutdown), at most `timeoutMs`. */
  async drain(timeoutMs: number): Promise<boolean> {
    if (this.#waiting.length > 0) this.#flush();
    const all = Promise.all([...this.#running.values()]).then(() => true);
    const timeout = new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs).unref?.());
    const done = await Promise.race([all, timeout]);
    if (this.#commitTimer) clearTimeout(this.#commitTimer);
    this.#commitTimer = undefined;
    return done;
  }

  #finish(id: string): void {
    const row = this.#o.store.getPayment(id)!;
    const started = this.#started.get(id);
    this.#started.delete(id);
    this.#running.delete(id);
    const resolve = this.#resolvers.get(id);
    this.#resolvers.delete(id);
    this.#o.onOutcome?.(row, started === undefined ? 0 : performance.now() - started);
    resolve?.(row);
  }

  #fail(id: string, err: unknown, txHash?: string): void {
    const e = isZkPayError(err) ? err : mapPayRevert(err);
    this.#o.store.fail(id, e.reason, e.message, txHash);
    this.#log.warn("payment failed", { id, reason: e.reason, message: e.message, tx: txHash });
    this.#finish(id);
  }

  #flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const group = this.#waiting.splice(0, this.#maxSize);
    if (this.#waiting.length > 0) this.#timer = setTimeout(() => this.#flush(), this.#windowMs);
    if (group.length === 0) return;
    const run = this.#settleGroup(group).catch((err: unknown) => {
      for (const g of group) if (this.#running.has(g.id)) this.#fail(g.id, err);
    });
    this.#groups.add(run);
    void run.finally(() => this.#groups.delete(run));
  }

  async #settleGroup(group: { id: string; item: StoredItem }[]): Promise<void> {
    if (group.length === 1) return this.#settleOne(group[0]!);
    // Shielded and transparent payments mix in one payBatch (the pool tells them by payTo).
    const batch = group.map(({ item }) => ({
      proof: item.proof,
      terms: item.terms,
      memo: item.memo,
      payeeMemo: item.payeeMemo,
    }));
    const sim = await this.#simulate("payBatch", [batch]).catch((error: unknown) => ({ error }));
    if (!("error" in sim)) {
      this.stats.batches++;
      if (this.#commitTimer) clearTimeout(this.#commitTimer);
      this.#commitTimer = undefined;
      await this.#sendAndAwait(
        group.map((g) => g.id),
        "payBatch",
        [batch],
        sim.gas,
        group.reduce((s, g) => s + g.item.terms.fee, 0n),
      );
      return;
    }
    // The batch as a whole would revert (payBatch skips what chain state decides, a spent
    // note, an expired payment or an unknown root, but reverts on terms or a proof it
    // refuses, or a transfer the token refuses): one such payment must not cost the others
    // their batch. Each is simulated alone; those that would revert alone are dropped with
    // their own reason, and the rest go on together.
    const alone = await Promise.all(
      group.map((g) =>
        this.#simulateOne(g.item).then(
          () => undefined,
          (err: unknown) => ({ err }),
        ),
      ),
    );
    const rest = group.filter((_, i) => alone[i] === undefined);
    if (rest.length === group.length) {
      // Each would settle alone, not together: one by one.
      this.stats.fallbacks++;
      await Promise.all(group.map((g) => this.#settleOne(g)));
      return;
    }
    this.stats.droppedFromBatch += group.length - rest.length;
    await Promise.all(group.map((g, i) => (alone[i] ? this.#drop(g, alone[i].err) : undefined)));
    if (rest.length > 0) await this.#settleGroup(rest);
  }

  async #settleOne(g: { id: string; item: StoredItem }): Promise<void> {
    let sim: { fn: "pay" | "payAndCommit"; args: readonly unknown[]; gas: bigint };
    try {
      sim = await this.#simulateOne(g.item);
    } catch (err) {
      await this.#drop(g, err);
      return;
    }
    this.stats.singles++;
    await this.#sendAndAwait([g.id], sim.fn, sim.args, sim.gas, g.item.terms.fee);
    if (!g.item.commitChange) this.#scheduleCommit();
  }

  /** Simulates one payment's own call (`pay`, or `payAndCommit` when it asks to commit its change). */
  async #simulateOne(item: StoredItem): Promise<{ fn: "pay" | "payAndCommit"; args: readonly unknown[]; gas: bigint }> {
    const fn = item.commitChange ? "payAndCommit" : "pay";
    const args = [item.proof, item.terms, item.memo, item.payeeMemo] as const;
    const { gas } = await this.#simulate(fn, args);
    return { fn, args, gas };
  }

  /** A payment whose simulation reverted: failed with its reason, unless the chain holds it paid by another sender. */
  async #drop(g: { id: string; item: StoredItem }, err: unknown): Promise<void> {
    this.stats.simulatedOut++;
    const e = refusalOf(err);
    // Spent: by this very payment through someone else (the payer, another relayer)?
    if (e.reason === "nullifier_spent" && (await this.#paidElsewhere(g.id, g.item))) return;
    this.#fail(g.id, e);
  }

  async #simulate(functionName: string, args: readonly unknown[]): Promise<{ gas: bigint }> {
    const gas = await this.#o.publicClient.estimateContractGas({
      address: this.#o.facilitator,
      abi: facilitatorAbi,
      functionName,
      args,
      account: this.#o.relayer.address,
      blockTag: "pending",
    } as never);
    return { gas: gas + gas / 5n };
  }

  async #sendAndAwait(
    ids: string[],
    functionName: "pay" | "payAndCommit" | "payBatch",
    args: readonly unknown[],
    gas: bigint,
    fees: bigint,
  ): Promise<void> {
    const data = encodeFunctionData({ abi: facilitatorAbi, functionName, args } as never);
    let nonce: number;
    try {
      if (this.#o.assertCovers) {
        const { maxFeePerGas } = await this.#o.relayer.feesNow();
        this.#o.assertCovers(gas, maxFeePerGas, fees);
      }
      ({ nonce } = await this.#o.relayer.send({
        to: this.#o.facilitator,
        data,
        gas,
        kind: functionName,
        paymentIds: ids,
      }));
    } catch (err) {
      for (const id of ids) this.#fail(id, err);
      return;
    }
    const outcome = await this.#o.relayer.waitFor(nonce);
    await this.#conclude(ids, outcome.status === "mined" ? outcome.receipt : undefined);
  }

  /** A payment whose transaction was recorded before a restart: wait for that nonce. */
  async #awaitSubmitted(row: PaymentRow): Promise<void> {
    const outcome = await this.#o.relayer.waitFor(row.nonce!);
    await this.#conclude([row.id], outcome.status === "mined" ? outcome.receipt : undefined);
  }

  /** The chain decided: settled, skipped (payBatch), reverted or dropped. */
  async #conclude(ids: string[], rc: TransactionReceipt | undefined): Promise<void> {
    const items = new Map(ids.map((id) => [id, decodeItem(this.#o.store.getPayment(id)!.item)]));
    if (!rc) {
      // The nonce went to a transaction this service did not sign: ask the chain per payment.
      for (const id of ids) {
        if (!(await this.#paidElsewhere(id, items.get(id)!))) {
          this.#fail(id, new ZkPayError("settlement_failed", "the relayer's nonce was used by another transaction"));
        }
      }
      return;
    }
    if (rc.status !== "success") {
      this.stats.reverted++;
      for (const id of ids) {
        if (await this.#paidElsewhere(id, items.get(id)!)) continue;
        this.#fail(
          id,
          new ZkPayError("settlement_failed", `settlement transaction ${rc.transactionHash} reverted`),
          rc.transactionHash,
        );
      }
      return;
    }
    const skipped = skippedIn(rc, this.#o.facilitator);
    const settled: string[] = [];
    for (const id of ids) {
      const reason = skipped.get(BigInt(id));
      if (reason === undefined) {
        settled.push(id);
        continue;
      }
      this.stats.skipped++;
      if (reason === "NullifierSpent" && (await this.#paidElsewhere(id, items.get(id)!))) continue;
      const err =
        reason === "NullifierSpent"
          ? new ZkPayError("nullifier_spent", "this note was spent by another payment before the batch was mined")
          : reason === "Expired"
            ? new ZkPayError("challenge_expired", "the payment expired before its batch was mined")
            : new ZkPayError("stale_tree", "the proof's root left the pool's history before its batch was mined");
      this.#fail(id, err, rc.transactionHash);
    }
    if (settled.length > 0) {
      this.#o.store.settle(settled, {
        txHash: rc.transactionHash,
        blockNumber: Number(rc.blockNumber),
        batchSize: ids.length,
      });
      this.#log.info("settled", { payments: settled, tx: rc.transactionHash, block: Number(rc.blockNumber) });
      for (const id of settled) this.#finish(id);
    }
  }

  /**
   * Whether the chain holds this very payment (same payee, amount and condition; for a
   * shielded one, same payee note, condition and payee memo), paid by
   * a transaction this service did not send; records it settled with that transaction.
   */
  async #paidElsewhere(id: string, item: StoredItem): Promise<boolean> {
    // A shielded payment's receipt binds its payee note's commitment in place of payee and
    // amount, and the payee memo that went on chain (this item's, which its proof binds).
    const shielded = isShieldedTerms(item.terms);
    const r = await this.#receipts
      .check(
        shielded
          ? {
              id: id as Hex,
              payeeCommitment: item.proof.payeeCommitment,
              conditionHash: item.terms.conditionHash,
              payeeMemo: item.payeeMemo,
            }
          : {
              id: id as Hex,
              payTo: item.terms.payTo,
              amount: item.terms.amount,
              conditionHash: item.terms.conditionHash,
            },
      )
      .catch(() => undefined);
    if (r?.state !== "paid" && r?.state !== "unconfirmed") return false;
    const tx =
      r.paidAtBlock === undefined
        ? undefined
        : await this.#receipts.transactionOf(id as Hex, r.paidAtBlock, { shielded }).catch(() => undefined);
    this.#o.store.settle([id], { txHash: tx ?? "", blockNumber: r.paidAtBlock ?? 0, batchSize: 0 });
    this.#log.info("already settled by another sender", { id, tx });
    this.#finish(id);
    return true;
  }

  #scheduleCommit(): void {
    if (this.#commitTimer || this.#commitAfterMs < 0) return;
    this.#commitTimer = setTimeout(() => {
      this.#commitTimer = undefined;
      void this.#commitQueued().catch((err: unknown) =>
        this.#log.warn("commit of queued leaves failed", { error: (err as Error).message }),
      );
    }, this.#commitAfterMs);
    this.#commitTimer.unref?.();
  }

  async #commitQueued(): Promise<void> {
    const max = await leavesToCommit(this.#o.publicClient, this.#o.facilitator);
    if (max === 0n) return;
    const { gas } = await this.#simulate("commitPendingLeaves", [max]);
    const data = encodeFunctionData({ abi: facilitatorAbi, functionName: "commitPendingLeaves", args: [max] });
    const { nonce } = await this.#o.relayer.send({
      to: this.#o.facilitator,
      data,
      gas,
      kind: "commitPendingLeaves",
      paymentIds: [],
    });
    this.stats.commits++;
    await this.#o.relayer.waitFor(nonce);
  }
}
