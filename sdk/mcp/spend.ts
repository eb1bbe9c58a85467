/**
 * The day's spend of `402zk mcp`: what the agent paid per UTC day, kept in the wallet's
 * folder so that a restarted server still counts it against `--max-per-day`.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import path from "node:path";

import { ZkPayError } from "../core/errors.js";

/** The file name of the day's spend, in the wallet folder. */
export const SPEND_FILE = "mcp-spend.json";

/** Days kept in the file (older ones are dropped at the next write). */
const KEEP_DAYS = 7;

/** The UTC date of `d` as YYYY-MM-DD: the key of a day's spend. @example utcDay(new Date(0)) // "1970-01-01" */
export const utcDay = (d: Date): string => d.toISOString().slice(0, 10);

/**
 * Base units paid per UTC day, in `<wallet>/mcp-spend.json` (`{"version":1,"days":{"2026-12-07":"20000"}}`).
 * Written crash-safely: a temporary file, fsync, then rename over the old one, so a crash
 * leaves the old total or the new one, never a torn file. A file that cannot be read is
 * refused (`invalid_argument`), not taken as "nothing spent": the limit fails closed.
 * The caller serialises access (`402zk mcp` holds the wallet folder's lock while it pays).
 *
 * @example
 * const spend = new DailySpend(path.join(walletDir, SPEND_FILE));
 * spend.add(utcDay(new Date()), 10_000n);
 * spend.spentOn(utcDay(new Date())); // 10000n
 */
export class DailySpend {
  /** The JSON file. */
  readonly file: string;

  constructor(file: string) {
    this.file = file;
  }

  /** Base units paid on `day` (YYYY-MM-DD, UTC). */
  spentOn(day: string): bigint {
    return BigInt(this.#read()[day] ?? "0");
  }

  /** Adds `amount` base units to `day`'s total and writes the file atomically; returns the new total. */
  add(day: string, amount: bigint): bigint {
    const days = this.#read();
    const total = BigInt(days[day] ?? "0") + amount;
    days[day] = total.toString();
    const kept = Object.fromEntries(
      Object.entries(days)
        .sort(([a], [b]) => (a < b ? 1 : -1))
        .slice(0, KEEP_DAYS),
    );
    const tmp = path.join(path.dirname(this.file), `.${path.basename(this.file)}.${process.pid}.tmp`);
    const fd = openSync(tmp, "w", 0o600);
    try {
      writeSync(fd, `${JSON.stringify({ version: 1, days: kept })}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
    return total;
  }

  #read(): Record<string, string> {
    if (!existsSync(this.file)) return {};
    try {
      const parsed = JSON.parse(readFileSync(this.file, "utf8")) as { days?: unknown };
      const days = parsed.days;
      if (typeof days !== "object" || days === null) throw new Error("no days");
      for (const [k, v] of Object.entries(days)) {
        if (!/^\d{4}-\d{2}-\d{2}$/.test(k) || typeof v !== "string" || !/^\d+$/.test(v)) throw new Error(k);
      }
      return { ...(days as Record<string, string>) };
    } catch (err) {
      throw new ZkPayError(
        "invalid_argument",
        `${this.file} (the day's spend of 402zk mcp) cannot be read (${(err as Error).message}): ` +
          "fix or remove it; no payment is made while the day's spend is unknown",
      );
    }
  }
}
