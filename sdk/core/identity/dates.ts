/**
 * Calendar dates as YYYYMMDD integers (the attribute circuit's date encoding), in their own
 * module so that credential.ts and rule.ts both use them without importing each other.
 * Re-exported by rule.ts.
 *
 * Browser-safe: no Node imports.
 */
import { ZkPayError } from "../errors.js";

/**
 * The UTC calendar date of `d` as YYYYMMDD.
 *
 * @example
 * ymdOf(new Date("2026-12-07T10:00:00Z")); // 20261207
 */
export function ymdOf(d: Date): number {
  if (!(d instanceof Date) || Number.isNaN(d.getTime())) throw new ZkPayError("invalid_argument", "not a valid Date");
  return d.getUTCFullYear() * 10000 + (d.getUTCMonth() + 1) * 100 + d.getUTCDate();
}

/**
 * True when `n` is a real calendar date YYYYMMDD (years 1..9999, leap years included).
 *
 * @example
 * isValidYmd(20240229); // true
 * isValidYmd(20230229); // false
 */
export function isValidYmd(n: number): boolean {
  if (!Number.isInteger(n) || n < 10101 || n > 99991231) return false;
  const y = Math.floor(n / 10000);
  const m = Math.floor(n / 100) % 100;
  const d = n % 100;
  if (m < 1 || m > 12 || d < 1) return false;
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]!;
  return d <= days;
}
