/**
 * Scheduled syncing: a timer of the wallet's own, so the RPC provider cannot time
 * payments by the log queries that precede them (see `SyncOptions`). Syncs come every
 * `intervalMs ± jitterMs`, drawn from the platform CSPRNG, and back off after failures.
 */
import { BaseError } from "viem";

import { ZkPayError } from "../../core/errors.js";
import type { WalletCore } from "../wallet/core.js";
import { followEscrows } from "./escrow.js";
import { sync } from "./sync.js";

/** After consecutive failures, scheduled syncs back off up to this factor of the interval. */
const MAX_BACKOFF = 16;

/**
 * Starts scheduled syncing: the first sync within `jitterMs`, then one every
 * `intervalMs ± jitterMs`. Failures are reported through `onWarning` (the first of a
 * streak) and back off. Does nothing if it is already on.
 *
 * @example
 * startAutoSync(core);
 */
export function startAutoSync(core: WalletCore): void {
  if (core.schedule.on) return;
  core.schedule.on = true;
  scheduleTick(core, randomUnit() * core.config.jitterMs);
}

/** Stops scheduled syncing (a sync in progress finishes). */
export function stopAutoSync(core: WalletCore): void {
  core.schedule.on = false;
  if (core.schedule.timer !== undefined) clearTimeout(core.schedule.timer);
  core.schedule.timer = undefined;
}

/** Stops scheduled syncing and waits for a sync in progress and one queued behind it. */
export async function close(core: WalletCore): Promise<void> {
  stopAutoSync(core);
  await core.sync.running?.catch(() => {});
  await core.sync.queued?.catch(() => {});
}

function scheduleTick(core: WalletCore, delayMs: number): void {
  const timer = setTimeout(() => void tick(core), delayMs);
  // Never keep a Node process alive for a background sync (browsers return a number).
  (timer as { unref?: () => void }).unref?.();
  core.schedule.timer = timer;
}

async function tick(core: WalletCore): Promise<void> {
  const s = core.schedule;
  s.timer = undefined;
  try {
    // Join a sync already running rather than queue another one.
    await (core.sync.running ?? sync(core));
    s.failures = 0;
    // Proof before pay: an escrow the payee never released comes back by itself once its
    // deadline has passed, by the chain's clock (the one the pool checks: one block read,
    // and only while some escrow is open). Needs a wallet client to send the refund.
    const open = (core.state.escrows ?? []).filter((e) => e.status === "pending" || e.status === "held");
    const now = open.length > 0 && core.walletClient?.account ? (await core.publicClient.getBlock()).timestamp : 0n;
    if (open.some((e) => BigInt(e.statement.deadline) < now)) {
      for (const o of await followEscrows(core)) {
        if (o.error) core.warn(o.error, `escrow:${o.id}:${o.error.reason}`);
      }
    }
  } catch (err) {
    if (s.failures++ === 0) {
      const why = err instanceof BaseError ? err.shortMessage : err instanceof Error ? err.message : String(err);
      const w = new ZkPayError(
        err instanceof ZkPayError ? err.reason : "rpc_error",
        `scheduled sync failed (retrying with back-off): ${why}`,
        err instanceof ZkPayError ? err.details : {},
        { cause: err },
      );
      core.warn(w, `sync:${Date.now()}`);
    }
  }
  if (!s.on || s.timer !== undefined) return;
  const backoff = Math.min(2 ** Math.max(0, s.failures - 1), MAX_BACKOFF);
  const { intervalMs, jitterMs } = core.config;
  scheduleTick(core, (intervalMs + (2 * randomUnit() - 1) * jitterMs) * backoff);
}

/** A uniform number in [0, 1) from the platform CSPRNG (sync timing jitter). */
function randomUnit(): number {
  const x = new Uint32Array(1);
  globalThis.crypto.getRandomValues(x);
  return x[0]! / 2 ** 32;
}
