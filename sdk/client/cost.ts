import { formatUnits, zeroAddress, type Address } from "viem";

import { ZkPayError } from "../core/errors.js";

/** A token's display units: amounts in messages are written in tokens, not base units. */
export interface TokenUnits {
  decimals: number;
  symbol: string;
}

/**
 * `value` base units in tokens ("0.01 USDC"), or in base units when the token is unknown.
 *
 * @example
 * formatTokens(10_000n, { decimals: 6, symbol: "USDC" }); // "0.01 USDC"
 */
export function formatTokens(value: bigint, token: TokenUnits | undefined): string {
  return token ? `${formatUnits(value, token.decimals)} ${token.symbol}` : `${value} base units`;
}

/** What a payer accepts to pay for one payment, base units. */
export interface PaymentCostLimits {
  /** The most one payment may take from the payer's note: amount + fee. No cap when absent. */
  maxAmount?: bigint;
  /** The largest relayer fee accepted. Absent: {@link defaultMaxFee}. */
  maxFee?: bigint;
}

/**
 * The fee limit of a payer who set none: at most the payment's amount, and at most 0.1
 * token (100,000 base units of USDC). A relayer's fee pays the gas of one settlement
 * (about 320k gas: well under a cent on Base), so a fee above either bound is not a gas
 * fee. Without a default, a dishonest API or relayer could name a fee of the payer's
 * whole note (to an address of its own) next to a price inside every cap the payer set.
 * A payer who expects larger fees raises the limit (`maxFee`).
 *
 * @example
 * defaultMaxFee(10_000n, { decimals: 6, symbol: "USDC" }); // 10_000n: the amount
 * defaultMaxFee(5_000_000n, { decimals: 6, symbol: "USDC" }); // 100_000n: 0.1 USDC
 */
export function defaultMaxFee(amount: bigint, token: TokenUnits | undefined): bigint {
  // Unknown decimals: only the amount bounds it.
  if (!token) return amount;
  const ceiling = 10n ** BigInt(token.decimals) / 10n;
  return amount < ceiling ? amount : ceiling;
}

/**
 * Refuses a payment whose cost is outside the payer's limits, before anything is proven:
 * a fee above `limits.maxFee` (default {@link defaultMaxFee}), or `amount + fee` above
 * `limits.maxAmount` (the cap covers what leaves the note, fee included). Throws
 * `ZkPayError` `fee_too_high` when the fee is what breaks a limit (the amount alone fits
 * the cap), `spend_cap_exceeded` when the amount alone is above the cap; amounts in
 * tokens when `token` is given. Pure: the CLI, the client scheme, `SessionClient` and
 * `wallet.withdraw({ relay })` all decide with it.
 *
 * @example
 * checkPaymentCost({ amount: 100_000n, fee: 900_000n }, { maxAmount: 100_000n }, usdc);
 * // throws fee_too_high: the fee of 0.9 USDC ... is above your fee limit of 0.1 USDC
 */
export function checkPaymentCost(
  cost: { amount: bigint; fee: bigint; relayer?: Address },
  limits: PaymentCostLimits,
  token?: TokenUnits,
): void {
  const t = (v: bigint) => formatTokens(v, token);
  const to = cost.relayer && cost.relayer !== zeroAddress ? ` to relayer ${cost.relayer}` : "";
  const details = {
    amount: cost.amount.toString(),
    fee: cost.fee.toString(),
    relayer: cost.relayer,
    maxAmount: limits.maxAmount?.toString(),
    maxFee: limits.maxFee?.toString(),
  };
  if (limits.maxAmount !== undefined && cost.amount > limits.maxAmount) {
    throw new ZkPayError(
      "spend_cap_exceeded",
      `the price of ${t(cost.amount)} is above your cap of ${t(limits.maxAmount)} per payment: nothing was paid`,
      details,
    );
  }
  const maxFee = limits.maxFee ?? defaultMaxFee(cost.amount, token);
  if (cost.fee > maxFee) {
    throw new ZkPayError(
      "fee_too_high",
      `the fee of ${t(cost.fee)}${to} is above your fee limit of ${t(maxFee)}` +
        (limits.maxFee === undefined
          ? " (by default a fee may not exceed the amount it comes with, nor 0.1 token: raise maxFee to pay it)"
          : "") +
        ": nothing was paid",
      { ...details, maxFee: maxFee.toString() },
    );
  }
  if (limits.maxAmount !== undefined && cost.amount + cost.fee > limits.maxAmount) {
    throw new ZkPayError(
      "fee_too_high",
      `the price of ${t(cost.amount)} plus a fee of ${t(cost.fee)}${to} is ${t(cost.amount + cost.fee)}, ` +
        `above your cap of ${t(limits.maxAmount)} per payment (the cap covers the fee): nothing was paid`,
      details,
    );
  }
}
