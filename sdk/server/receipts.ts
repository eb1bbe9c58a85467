import type { Address, Hex, PublicClient } from "viem";

import { RECEIPT_STATUS, facilitatorAbi } from "../core/abi.js";
import { ZkPayError } from "../core/errors.js";

/** Outcome of a receipt check. */
export type ReceiptState = "paid" | "not_paid" | "unconfirmed" | "mismatch";

/** Result of {@link ReceiptChecker.check}. */
export interface ReceiptCheck {
  state: ReceiptState;
  confirmations: number;
  paidAtBlock: number;
}

/** What a server expects a receipt to say. */
export interface ExpectedReceipt {
  id: Hex;
  payTo: Address;
  amount: bigint;
  conditionHash: Hex;
  /** Confirmations required; 1 means "mined". Default 1. */
  minConfirmations?: number;
}

/**
 * Checks payment receipts with ONE `eth_call` (`Facilitator.checkReceipt`), and caches
 * final answers: a paid receipt with enough confirmations stays paid.
 *
 * @example
 * const receipts = new ReceiptChecker({ publicClient, facilitator });
 * const r = await receipts.check({ id, payTo, amount: 10_000n, conditionHash, minConfirmations: 2 });
 * if (r.state === "paid") serve();
 */
export class ReceiptChecker {
  readonly #client: PublicClient;
  readonly #facilitator: Address;
  readonly #cache = new Map<string, ReceiptCheck>();
  readonly #maxCache: number;

  constructor(opts: { publicClient: PublicClient; facilitator: Address; maxCacheEntries?: number }) {
    this.#client = opts.publicClient;
    this.#facilitator = opts.facilitator;
    this.#maxCache = opts.maxCacheEntries ?? 10_000;
  }

  async check(e: ExpectedReceipt): Promise<ReceiptCheck> {
    const min = e.minConfirmations ?? 1;
    const key = `${e.id}|${e.payTo.toLowerCase()}|${e.amount}|${e.conditionHash}|${min}`;
    const cached = this.#cache.get(key);
    if (cached) return cached;
    let status: number;
    let paidAtBlock: bigint;
    let currentBlock: bigint;
    try {
      [status, paidAtBlock, currentBlock] = await this.#client.readContract({
        address: this.#facilitator,
        abi: facilitatorAbi,
        functionName: "checkReceipt",
        args: [e.id, e.payTo, e.amount, e.conditionHash],
        blockTag: "latest",
      });
    } catch (err) {
      throw new ZkPayError("rpc_error", `receipt check failed: ${(err as Error).message}`, {}, { cause: err });
    }
    if (status === RECEIPT_STATUS.None) return { state: "not_paid", confirmations: 0, paidAtBlock: 0 };
    if (status === RECEIPT_STATUS.Mismatch) {
      const r: ReceiptCheck = { state: "mismatch", confirmations: 0, paidAtBlock: Number(paidAtBlock) };
      this.#remember(key, r);
      return r;
    }
    // The call runs in the context of `latest`, so a payment mined in `latest` has one
    // confirmation.
    const confirmations = Number(currentBlock - paidAtBlock) + 1;
    if (confirmations < min) return { state: "unconfirmed", confirmations, paidAtBlock: Number(paidAtBlock) };
    const r: ReceiptCheck = { state: "paid", confirmations, paidAtBlock: Number(paidAtBlock) };
    this.#remember(key, r);
    return r;
  }

  #remember(key: string, r: ReceiptCheck): void {
    if (this.#cache.size >= this.#maxCache) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
    this.#cache.set(key, r);
  }
}
