/** What a request may cost a caller's budget. */
export const COST = {
  /** Any verify, settle or relay request. */
  request: 1,
  /** A payment refused by the checks or by the simulation (bad proof, unknown root, spent note...): nothing sent. */
  refused: 4,
  /** A transaction sent and reverted or skipped: gas the relayer paid for nothing. */
  wasted: 50,
} as const;

/** Options of {@link CostLimiter}. */
export interface CostLimiterOptions {
  /** Budget of one caller, cost units. Default 120. */
  burst?: number;
  /** Units a caller earns back per second. Default 2. */
  perSecond?: number;
  /** Most callers tracked (the oldest are forgotten first). Default 50,000. */
  maxKeys?: number;
}

/**
 * Token buckets by caller (IP address, or API key when one is used), charged by what a
 * request can cost the service rather than by count: a request costs 1, a payment that
 * is refused costs more, and a settlement that would have made the relayer pay for a
 * failed transaction costs the most. An unauthenticated caller can therefore make the
 * relayer simulate a few failing payments per minute, never pay for them in a loop.
 *
 * @example
 * const limiter = new CostLimiter();
 * const wait = limiter.take(ip, COST.request); // 0, or seconds until allowed
 * limiter.charge(ip, COST.refused);            // after the fact
 */
export class CostLimiter {
  readonly #burst: number;
  readonly #rate: number;
  readonly #max: number;
  readonly #buckets = new Map<string, { level: number; at: number }>();

  constructor(o: CostLimiterOptions = {}) {
    this.#burst = o.burst ?? 120;
    this.#rate = o.perSecond ?? 2;
    this.#max = o.maxKeys ?? 50_000;
  }

  #bucket(key: string): { level: number; at: number } {
    const now = Date.now();
    let b = this.#buckets.get(key);
    if (!b) {
      if (this.#buckets.size >= this.#max) this.#buckets.delete(this.#buckets.keys().next().value!);
      b = { level: this.#burst, at: now };
      this.#buckets.set(key, b);
    }
    b.level = Math.min(this.#burst, b.level + ((now - b.at) / 1000) * this.#rate);
    b.at = now;
    return b;
  }

  /** Takes `cost` if the caller has it: 0; otherwise the seconds until it would have. */
  take(key: string, cost: number): number {
    const b = this.#bucket(key);
    if (b.level >= cost) {
      b.level -= cost;
      return 0;
    }
    return Math.max(1, Math.ceil((cost - b.level) / this.#rate));
  }

  /** Charges `cost` after the fact (may go negative: the caller waits longer). */
  charge(key: string, cost: number): void {
    this.#bucket(key).level -= cost;
  }
}
