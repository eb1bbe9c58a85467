/**
 * Tests whose assertions are per UTC day (a rule's "today", a daily spending limit) and
 * CI runs that cross a midnight: ways to keep such a test on one day, never to skip it.
 */
import { setTimeout as sleep } from "node:timers/promises";

import { ymdOf } from "../../sdk/core/identity/rule.js";

const DAY_MS = 86_400_000;

/** Today's UTC date as YYYYMMDD, read when called. */
export const todayYmd = (): number => ymdOf(new Date());

/**
 * Runs a check whose dates are computed for today and, when a UTC midnight passed while it
 * ran (a birthday it relied on moved by a day), runs it once more on the new day.
 */
export async function onOneDay(check: () => Promise<void>): Promise<void> {
  const day = todayYmd();
  try {
    await check();
  } catch (e) {
    if (todayYmd() === day) throw e;
    await check();
  }
}

/**
 * Waits, when the next UTC midnight is less than `ms` away, until just after it, so that a
 * test lasting at most `ms` runs on one day (a test that counts a daily limit across
 * processes cannot be re-run halfway). Returns how long it waited.
 */
export async function clearOfMidnight(ms: number): Promise<number> {
  const left = DAY_MS - (Date.now() % DAY_MS);
  if (left >= ms) return 0;
  await sleep(left + 1_000);
  return left + 1_000;
}
