import { ZkPayError } from "../core/errors.js";

/** How the service prices its relaying (token base units; `nativePrice` in token base units per 1 ETH). */
export interface FeePolicyOptions {
  /** The smallest fee the service charges, token base units. Default 0. */
  minFee?: bigint;
  /**
   * The price of 1 native coin (1e18 wei) in token base units (e.g. 3000_000000n for USDC
   * at $3,000 per ETH). With it, the published fee covers `gasPerPayment` at the gas price
   * seen at start, plus `marginBps`; and every transaction is checked to earn at least
   * the gas it may cost before it is sent. Without it the fee is `minFee`, and nothing
   * checks that it covers gas (the service logs a warning at start).
   */
  nativePrice?: bigint;
  /** Gas one relayed payment costs the relayer (pay ~330k, a batch share ~140k). Default 340,000. */
  gasPerPayment?: bigint;
  /** Margin over the gas cost, basis points. Default 2,000 (20%). */
  marginBps?: number;
}

/**
 * The relayer's fee: published once at start (in `/supported` and every requirement's
 * `extra.fee`; resource servers cache it), and the guard that refuses to send a
 * transaction whose fees would not pay its gas at the moment it is sent.
 *
 * @example
 * const fees = new FeePolicy({ minFee: 1000n, nativePrice: 3000_000000n });
 * const fee = fees.publish(maxFeePerGas);
 * fees.assertCovers(gas, maxFeePerGas, feesOfTheBatch);
 */
export class FeePolicy {
  readonly #o: FeePolicyOptions;
  #fee: bigint;

  constructor(o: FeePolicyOptions = {}) {
    this.#o = o;
    this.#fee = o.minFee ?? 0n;
  }

  /** Whether gas coverage is checked (a native price is configured). */
  get checksCoverage(): boolean {
    return this.#o.nativePrice !== undefined;
  }

  /** The fee every server-settled payment must pay the relayer. */
  get fee(): bigint {
    return this.#fee;
  }

  /** Token units of `wei` at the configured price, rounded up. */
  tokenCost(wei: bigint): bigint {
    const p = this.#o.nativePrice ?? 0n;
    return (wei * p + 10n ** 18n - 1n) / 10n ** 18n;
  }

  /** Fixes the published fee from the gas price seen now (`maxFeePerGas`, wei). */
  publish(maxFeePerGas: bigint): bigint {
    const min = this.#o.minFee ?? 0n;
    if (this.#o.nativePrice === undefined) return (this.#fee = min);
    const gas = this.#o.gasPerPayment ?? 340_000n;
    const cost = this.tokenCost(gas * maxFeePerGas);
    const withMargin = (cost * BigInt(10_000 + (this.#o.marginBps ?? 2_000)) + 9_999n) / 10_000n;
    return (this.#fee = withMargin > min ? withMargin : min);
  }

  /** Throws `gas_price_too_high` if `fees` would not pay `gas` at `maxFeePerGas`. */
  assertCovers(gas: bigint, maxFeePerGas: bigint, fees: bigint): void {
    if (this.#o.nativePrice === undefined) return;
    const cost = this.tokenCost(gas * maxFeePerGas);
    if (fees < cost) {
      throw new ZkPayError(
        "gas_price_too_high",
        `gas now costs ${cost} token units for this transaction, more than the ${fees} its payments pay the relayer`,
        { cost: cost.toString(), fees: fees.toString() },
      );
    }
  }
}
