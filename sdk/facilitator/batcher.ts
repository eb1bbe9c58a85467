import type { Hash, Hex, PublicClient, WalletClient } from "viem";

import { facilitatorAbi, type SKIP_REASON } from "../core/abi.js";
import { leavesToCommit } from "../core/commit.js";
import type { PaymentTerms } from "../core/context.js";
import { skippedIn } from "../core/receipts.js";
import type { ProofStruct } from "../core/wire.js";

/** When and how {@link SettlementBatcher} groups payments. */
export interface BatchOptions {
  /**
   * How long a payment waits for others to share its transaction, ms. Default 50: below
   * a block time, so batching costs no extra confirmation latency on Base (2 s blocks).
   */
  windowMs?: number;
  /** Most payments per `payBatch` (the contract allows 64). Default 16. */
  maxSize?: number;
  /**
   * After a payment settled alone through `pay` (its change note queued), commit the
   * pool's queued leaves if no batch did within this many ms. Default 1,000: under one
   * Base block (2 s), so a change note is spendable by the next block whatever the
   * traffic, while lone payments arriving within that second share one commit (each
   * commit is a transaction: committing after every lone pay halved sequential
   * throughput in the bench). A payer that cannot wait asks for `commitChange`.
   */
  commitAfterMs?: number;
}

/** One payment to settle. */
export interface SettlementItem {
  proof: ProofStruct;
  terms: PaymentTerms;
  memo: Hex;
  /** A shielded payment's payee memo (187 bytes); "0x" (the default) for a transparent one. */
  payeeMemo?: Hex;
  /** The payer asked for its change to be committed now: alone, settle through payAndCommit. */
  commitChange?: boolean;
}

/** What happened to one payment. */
export type SettlementOutcome =
  | { status: "settled"; hash: Hash; batchSize: number }
  | { status: "skipped"; hash: Hash; reason: keyof typeof SKIP_REASON }
  | { status: "reverted"; hash: Hash }
  /** Nothing was sent for this payment: `error` is what estimation or submission threw. */
  | { status: "failed"; error: unknown; hash?: Hash };

interface Waiting {
  item: SettlementItem;
  resolve: (o: SettlementOutcome) => void;
}

/** What {@link SettlementBatcher} sends with: the relayer's wallet client and the pool. */
export interface BatcherDeps {
  publicClient: PublicClient;
  walletClient: WalletClient;
  facilitator: Hex;
}

/**
 * Groups server-settled payments into `payBatch` transactions: payments arriving within
 * `windowMs` of each other (up to `maxSize`) share one transaction and one batched
 * pairing check; a payment alone goes through `pay`. Every submission is simulated
 * against the pending block first (a payment that would revert costs nothing), and goes
 * through one serial queue, which keeps the relayer's nonces in order.
 *
 * If a batch would revert as a whole (it cannot when every proof was verified off-chain,
 * but a bug or a race must not strand payments), its payments are settled one by one.
 *
 * @example
 * const batcher = new SettlementBatcher({ publicClient, walletClient, facilitator });
 * const outcome = await batcher.submit({ proof, terms, memo });
 */
export class SettlementBatcher {
  readonly #o: BatcherDeps;
  /** Tail of the serial submission queue: one transaction at a time keeps nonces in order. */
  #submitQueue: Promise<unknown> = Promise.resolve();
  readonly #windowMs: number;
  readonly #maxSize: number;
  readonly #commitAfterMs: number;
  #waiting: Waiting[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #commitTimer: ReturnType<typeof setTimeout> | undefined;
  /** Counters for metrics and tests. */
  readonly stats = { batches: 0, singles: 0, commits: 0, fallbacks: 0, skipped: 0 };

  constructor(o: BatcherDeps, options: BatchOptions = {}) {
    this.#o = o;
    this.#windowMs = Math.max(0, options.windowMs ?? 50);
    this.#maxSize = Math.min(64, Math.max(1, options.maxSize ?? 16));
    this.#commitAfterMs = Math.max(0, options.commitAfterMs ?? 1_000);
  }

  /** Queues a payment for the next transaction and resolves once it is mined (or failed). */
  submit(item: SettlementItem): Promise<SettlementOutcome> {
    return new Promise((resolve) => {
      this.#waiting.push({ item, resolve });
      if (this.#waiting.length >= this.#maxSize) this.#flush();
      else this.#timer ??= setTimeout(() => this.#flush(), this.#windowMs);
    });
  }

  /** Stops the timers (pending payments are still flushed). */
  close(): void {
    if (this.#waiting.length > 0) this.#flush();
    if (this.#commitTimer) clearTimeout(this.#commitTimer);
    this.#commitTimer = undefined;
  }

  #flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const group = this.#waiting.splice(0, this.#maxSize);
    if (this.#waiting.length > 0) this.#timer = setTimeout(() => this.#flush(), this.#windowMs);
    if (group.length === 0) return;
    void this.#settle(group);
  }

  async #settle(group: Waiting[]): Promise<void> {
    const single = group.length === 1;
    try {
      if (single) {
        this.stats.singles++;
        const item = group[0]!.item;
        group[0]!.resolve(await this.#payOne(item));
        // payAndCommit committed the queue already.
        if (!item.commitChange) this.#scheduleCommit();
        return;
      }
      // Shielded and transparent payments mix in one payBatch (the pool tells them by payTo).
      const batch = group.map(({ item }) => ({
        proof: item.proof,
        terms: item.terms,
        memo: item.memo,
        payeeMemo: item.payeeMemo ?? "0x",
      }));
      const sent = await this.#send("payBatch", [batch]).catch((error: unknown) => ({ error }));
      if ("error" in sent) {
        // The batch as a whole would revert (or could not be sent): one by one, each
        // payment then meets its own error.
        this.stats.fallbacks++;
        for (const w of group) w.resolve(await this.#payOne(w.item));
        this.#scheduleCommit();
        return;
      }
      this.stats.batches++;
      if (this.#commitTimer) clearTimeout(this.#commitTimer); // the batch committed the queue
      this.#commitTimer = undefined;
      const rc = await this.#o.publicClient.waitForTransactionReceipt({ hash: sent.hash });
      if (rc.status !== "success") {
        for (const w of group) w.resolve({ status: "reverted", hash: sent.hash });
        return;
      }
      const skipped = skippedIn(rc, this.#o.facilitator);
      for (const w of group) {
        const reason = skipped.get(w.item.proof.nullifierHash);
        if (reason !== undefined) this.stats.skipped++;
        w.resolve(
          reason !== undefined
            ? { status: "skipped", hash: sent.hash, reason }
            : { status: "settled", hash: sent.hash, batchSize: group.length },
        );
      }
    } catch (error) {
      for (const w of group) w.resolve({ status: "failed", error });
    }
  }

  async #payOne(item: SettlementItem): Promise<SettlementOutcome> {
    let hash: Hash;
    try {
      ({ hash } = await this.#send(item.commitChange ? "payAndCommit" : "pay", [
        item.proof,
        item.terms,
        item.memo,
        item.payeeMemo ?? "0x",
      ]));
    } catch (error) {
      return { status: "failed", error };
    }
    try {
      const rc = await this.#o.publicClient.waitForTransactionReceipt({ hash });
      return rc.status === "success" ? { status: "settled", hash, batchSize: 1 } : { status: "reverted", hash };
    } catch (error) {
      return { status: "failed", error, hash };
    }
  }

  /** Simulates against the pending block inside the serial queue, then sends. */
  async #send(
    functionName: "pay" | "payAndCommit" | "payBatch" | "commitPendingLeaves",
    args: readonly unknown[],
  ): Promise<{ hash: Hash }> {
    const wc = this.#o.walletClient;
    const call = {
      address: this.#o.facilitator,
      abi: facilitatorAbi,
      functionName,
      args,
      account: wc.account!,
    } as never;
    const hash = await this.#serial(async () => {
      const gas = await this.#o.publicClient.estimateContractGas({ ...(call as object), blockTag: "pending" } as never);
      return wc.writeContract({ ...(call as object), chain: wc.chain, gas: gas + gas / 5n } as never);
    });
    return { hash };
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#submitQueue.then(fn, fn);
    this.#submitQueue = run.catch(() => {});
    return run;
  }

  /** After a lone `pay`: commit the queue if no batch does within commitAfterMs. */
  #scheduleCommit(): void {
    if (this.#commitTimer) return;
    this.#commitTimer = setTimeout(() => {
      this.#commitTimer = undefined;
      void this.#commitQueued().catch(() => {});
    }, this.#commitAfterMs);
    this.#commitTimer.unref?.();
  }

  async #commitQueued(): Promise<void> {
    const max = await leavesToCommit(this.#o.publicClient, this.#o.facilitator);
    if (max === 0n) return;
    const { hash } = await this.#send("commitPendingLeaves", [max]).catch(() => ({ hash: undefined }));
    if (hash) {
      this.stats.commits++;
      await this.#o.publicClient.waitForTransactionReceipt({ hash });
    }
  }
}
