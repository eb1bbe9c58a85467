import {
  decodeEventLog,
  isHex,
  keccak256,
  type Address,
  type Hash,
  type Hex,
  type PublicClient,
  type TransactionReceipt,
} from "viem";

import { RECEIPT_STATUS, SKIP_REASON, facilitatorAbi } from "./abi.js";
import { ZkPayError } from "./errors.js";

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
  /** Confirmations required; 1 means "mined". Default: {@link defaultConfirmations} of the chain. */
  minConfirmations?: number;
}

/**
 * What a server expects a shielded payment's receipt to say: the payee note's commitment
 * (which the server opened: value, owner and blinding), the condition, and the payee memo
 * it opened, in place of payee and amount (`Facilitator.checkShieldedReceipt`). The memo
 * is checked (by its keccak256) because the payee's wallet finds the note only by
 * decrypting the memo that went on chain: a payer could show one memo and settle the same
 * note with another, and the note would be lost to the payee.
 */
export interface ExpectedShieldedReceipt {
  id: Hex;
  payeeCommitment: bigint;
  conditionHash: Hex;
  /** The payee memo (hex) the server opened; the receipt is Paid only if this memo went on chain. */
  payeeMemo: Hex;
  /** Confirmations required; 1 means "mined". Default: {@link defaultConfirmations} of the chain. */
  minConfirmations?: number;
}

/**
 * Confirmations per chain, for a client-settled receipt to count as paid
 * (`minConfirmations`) and for a checker to remember an answer without asking the chain
 * again (`cacheDepth`: deep enough that a reorg is not a practical concern). Base and
 * Base Sepolia make a block every 2 s; their unsafe head can be reorged until the batch
 * is on L1, so 2 confirmations (~4 s) gate a micropayment and 64 (~2 min) make it final
 * enough to cache. A local Hardhat chain never reorgs. Unknown chains get L1-like values.
 */
export const CONFIRMATIONS: Record<number, { minConfirmations: number; cacheDepth: number }> = {
  31337: { minConfirmations: 1, cacheDepth: 1 },
  84532: { minConfirmations: 2, cacheDepth: 64 },
  8453: { minConfirmations: 2, cacheDepth: 64 },
};

/**
 * The confirmation defaults of `chainId` (see {@link CONFIRMATIONS}).
 *
 * @example
 * defaultConfirmations(8453); // { minConfirmations: 2, cacheDepth: 64 }
 */
export function defaultConfirmations(chainId: number): { minConfirmations: number; cacheDepth: number } {
  return CONFIRMATIONS[chainId] ?? { minConfirmations: 3, cacheDepth: 64 };
}

/**
 * Checks payment receipts with ONE `eth_call` (`Facilitator.checkReceipt`). An answer is
 * cached only once the payment is `cacheDepth` blocks deep: before that a reorg could
 * undo it (and a client-settled payment could be spent again), so every check reads the
 * chain.
 *
 * @example
 * const receipts = new ReceiptChecker({ publicClient, facilitator, cacheDepth: 64 });
 * const r = await receipts.check({ id, payTo, amount: 10_000n, conditionHash, minConfirmations: 2 });
 * if (r.state === "paid") serve();
 */
export class ReceiptChecker {
  readonly #client: PublicClient;
  readonly #facilitator: Address;
  readonly #cache = new Map<string, ReceiptCheck>();
  readonly #maxCache: number;
  readonly #cacheDepth: number;
  readonly #minDefault: number;

  constructor(opts: {
    publicClient: PublicClient;
    facilitator: Address;
    maxCacheEntries?: number;
    /** Confirmations after which an answer is final enough to cache. Default per chain, or 64. */
    cacheDepth?: number;
    /** Chain id for the defaults of {@link defaultConfirmations}; from the client's chain if omitted. */
    chainId?: number;
  }) {
    this.#client = opts.publicClient;
    this.#facilitator = opts.facilitator;
    this.#maxCache = opts.maxCacheEntries ?? 10_000;
    const defaults = defaultConfirmations(opts.chainId ?? opts.publicClient.chain?.id ?? 0);
    this.#cacheDepth = Math.max(1, opts.cacheDepth ?? defaults.cacheDepth);
    this.#minDefault = defaults.minConfirmations;
  }

  /**
   * Checks a receipt with one `eth_call`: paid (with its confirmations), mismatch or none.
   * A transparent payment's against the expected payee, amount and condition
   * (`checkReceipt`); a shielded payment's (`payeeCommitment` given) against its payee
   * note's commitment, the condition and the keccak256 of the payee memo
   * (`checkShieldedReceipt`).
   */
  async check(e: ExpectedReceipt | ExpectedShieldedReceipt): Promise<ReceiptCheck> {
    const min = e.minConfirmations ?? this.#minDefault;
    const shielded = "payeeCommitment" in e;
    let payeeMemoHash: Hex | undefined;
    if (shielded) {
      if (typeof e.payeeMemo !== "string" || !isHex(e.payeeMemo, { strict: true }) || e.payeeMemo.length % 2 !== 0) {
        throw new ZkPayError("invalid_argument", "a shielded receipt check needs the payee memo as 0x-prefixed hex");
      }
      payeeMemoHash = keccak256(e.payeeMemo);
    }
    const key = shielded
      ? `${e.id}|shielded:${e.payeeCommitment}|${e.conditionHash}|${payeeMemoHash}|${min}`
      : `${e.id}|${e.payTo.toLowerCase()}|${e.amount}|${e.conditionHash}|${min}`;
    const cached = this.#cache.get(key);
    if (cached) return cached;
    let status: number;
    let paidAtBlock: bigint;
    let currentBlock: bigint;
    try {
      [status, paidAtBlock, currentBlock] = shielded
        ? await this.#client.readContract({
            address: this.#facilitator,
            abi: facilitatorAbi,
            functionName: "checkShieldedReceipt",
            args: [e.id, e.payeeCommitment, e.conditionHash, payeeMemoHash!],
            blockTag: "latest",
          })
        : await this.#client.readContract({
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
    // The call runs in the context of `latest`, so a payment mined in `latest` has one
    // confirmation.
    const confirmations = Number(currentBlock - paidAtBlock) + 1;
    const state: ReceiptState =
      status === RECEIPT_STATUS.Mismatch ? "mismatch" : confirmations < min ? "unconfirmed" : "paid";
    const r: ReceiptCheck = { state, confirmations, paidAtBlock: Number(paidAtBlock) };
    if (state !== "unconfirmed" && confirmations >= this.#cacheDepth) this.#remember(key, r);
    return r;
  }

  /**
   * The transaction that emitted receipt `id` in block `paidAtBlock` (from the chain's
   * own `PaymentReceipt` event, or `ShieldedPaymentReceipt` with `shielded`), or undefined
   * if that block holds none.
   *
   * @example
   * const tx = await receipts.transactionOf(id, r.paidAtBlock);
   */
  async transactionOf(id: Hex, paidAtBlock: number, o: { shielded?: boolean } = {}): Promise<Hash | undefined> {
    try {
      const logs = await this.#client.getContractEvents({
        address: this.#facilitator,
        abi: facilitatorAbi,
        eventName: o.shielded ? "ShieldedPaymentReceipt" : "PaymentReceipt",
        args: { id },
        fromBlock: BigInt(paidAtBlock),
        toBlock: BigInt(paidAtBlock),
        strict: true,
      });
      return logs[0]?.transactionHash ?? undefined;
    } catch (err) {
      throw new ZkPayError("rpc_error", `receipt lookup failed: ${(err as Error).message}`, {}, { cause: err });
    }
  }

  #remember(key: string, r: ReceiptCheck): void {
    if (this.#cache.size >= this.#maxCache) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
    this.#cache.set(key, r);
  }
}

/**
 * Nullifier hash -> skip reason, from a `payBatch` receipt's `PaymentSkipped` events (logs
 * of other contracts, and the pool's other events, are ignored).
 *
 * @example
 * const skipped = skippedIn(receipt, pool.facilitator); // Map { 123n => "NullifierSpent" }
 */
export function skippedIn(rc: TransactionReceipt, facilitator: Hex): Map<bigint, keyof typeof SKIP_REASON> {
  const names = Object.fromEntries(Object.entries(SKIP_REASON).map(([k, v]) => [v, k])) as Record<
    number,
    keyof typeof SKIP_REASON
  >;
  const out = new Map<bigint, keyof typeof SKIP_REASON>();
  for (const log of rc.logs) {
    if (log.address.toLowerCase() !== facilitator.toLowerCase()) continue;
    try {
      const ev = decodeEventLog({ abi: facilitatorAbi, data: log.data, topics: log.topics });
      if (ev.eventName === "PaymentSkipped") out.set(BigInt(ev.args.id), names[ev.args.reason]!);
    } catch {
      // another event
    }
  }
  return out;
}
