/**
 * How the CLI writes: results on stdout (`out`), everything about them (progress, notes,
 * warnings) on stderr (`info`), so that `402zk pay URL > body` keeps the body clean.
 */
import { formatAmount } from "./amount.js";
import type { CliContext } from "./context.js";
import type { ZkPayError } from "../core/errors.js";

/** Writes one line on stdout (a command's result). @example out("private balance 2.00 USDC") */
export const out = (s = ""): void => {
  process.stdout.write(`${s}\n`);
};

/** Writes one line on stderr (progress, notes, warnings). @example info("note: deposits are public") */
export const info = (s = ""): void => {
  process.stderr.write(`${s}\n`);
};

/** Milliseconds, rounded, for timings. @example ms(12.4) // "12 ms" */
export const ms = (x: number): string => `${Math.round(x)} ms`;

/**
 * Unix seconds as "HH:MM:SS UTC" when the moment is today (UTC), else as
 * "YYYY-MM-DD HH:MM:SS UTC": reservations usually end within minutes, and a bare time
 * reads faster; one that ends after midnight names its day in the same form.
 *
 * @example
 * clock(Math.floor(Date.now() / 1000)); // "14:03:27 UTC"
 * clock(1798761600); // "2027-01-01 00:00:00 UTC"
 */
export const clock = (unix: number): string => {
  const iso = new Date(unix * 1000).toISOString();
  const time = `${iso.slice(11, 19)} UTC`;
  return iso.slice(0, 10) === new Date().toISOString().slice(0, 10) ? time : `${iso.slice(0, 10)} ${time}`;
};

/** Unix seconds as an ISO date-time without milliseconds. @example isoSeconds(0) // "1970-01-01T00:00:00Z" */
export const isoSeconds = (unix: number): string => new Date(unix * 1000).toISOString().replace(".000Z", "Z");

/**
 * A ZkPayError's message in tokens where it carries base-unit amounts, with what to do.
 *
 * @example
 * inTokens(err, ctx); // "no single private note covers 6.00 USDC (largest note 5.00 USDC, balance 8.47 USDC); ..."
 */
export function inTokens(err: ZkPayError, ctx: Pick<CliContext, "decimals" | "symbol">): string {
  if (err.reason !== "insufficient_private_balance") return err.message;
  const x = err.details as { needed?: string; largestNote?: string; balance?: string; pendingChange?: string };
  if (x.needed === undefined) return err.message;
  const t = (v: string | undefined) => `${formatAmount(BigInt(v ?? "0"), ctx.decimals)} ${ctx.symbol}`;
  const pending = BigInt(x.pendingChange ?? "0") > 0n ? `, change of payments in flight ${t(x.pendingChange)}` : "";
  const need = formatAmount(BigInt(x.needed), ctx.decimals, 0);
  const hint = `a payment spends one note: deposit ${need} or more into a new note (402zk deposit ${need})`;
  return `no single private note covers ${t(x.needed)} (largest note ${t(x.largestNote)}, balance ${t(x.balance)}${pending}): ${hint}`;
}
