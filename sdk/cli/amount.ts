import { ZkPayError } from "../core/errors.js";

/**
 * Human-readable token amount -> base units, exactly (no floats): "1.5" with 6 decimals
 * is 1_500_000n. Accepts "2", "0.5", ".5" and "5.", an optional leading "$" and a trailing
 * "USDC"/"USD"; or base units written with a trailing "u" ("10000u" is 10000n whatever the
 * decimals). Every amount of the CLI goes through this one grammar.
 *
 * @example
 * parseAmount("0.01", 6); // 10000n
 * parseAmount("10000u", 6); // 10000n
 */
export function parseAmount(text: string, decimals: number, what = "amount"): bigint {
  const units = baseUnits(text, what);
  if (units !== undefined) return units;
  const s = text
    .trim()
    .replace(/^\$/, "")
    .replace(/\s*(USDC|USD)$/i, "");
  // One grammar for every amount: digits, optionally a "." and more digits; "5", "5.", ".5".
  const m = /^(\d*)(?:\.(\d*))?$/.exec(s);
  if (!m || (m[1] === "" && !m[2]))
    throw new ZkPayError("invalid_argument", `${what} must be a non-negative decimal number, got "${text}"`);
  const frac = m[2] ?? "";
  if (frac.length > decimals) {
    throw new ZkPayError("invalid_argument", `${what} "${text}" has more than ${decimals} decimals`);
  }
  return BigInt(m[1] || "0") * 10n ** BigInt(decimals) + BigInt(frac.padEnd(decimals, "0") || "0");
}

/**
 * The base-unit form of the amount grammar, "<digits>u" (e.g. "10000u"), as a bigint;
 * undefined for any other text (a token amount, to be scaled by the token's decimals).
 */
export function baseUnits(text: string, what = "amount"): bigint | undefined {
  const m = /^\s*(\d*)(\.\d*)?\s*u\s*$/i.exec(text);
  if (!m) return undefined;
  if (m[2] !== undefined || m[1] === "")
    throw new ZkPayError("invalid_argument", `${what} "${text}": base units ("u") must be a whole number`);
  return BigInt(m[1]!);
}

/**
 * Base units -> human-readable amount with at least `minFraction` decimals.
 *
 * @example
 * formatAmount(1_500_000n, 6); // "1.50"
 */
export function formatAmount(value: bigint, decimals: number, minFraction = 2): string {
  const neg = value < 0n;
  const v = neg ? -value : value;
  const base = 10n ** BigInt(decimals);
  const whole = v / base;
  let frac = (v % base).toString().padStart(decimals, "0").replace(/0+$/, "");
  if (frac.length < minFraction) frac = frac.padEnd(Math.min(minFraction, decimals), "0");
  return `${neg ? "-" : ""}${whole}${frac ? `.${frac}` : ""}`;
}
