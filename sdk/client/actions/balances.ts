import type { StoredNote } from "../store.js";
import type { WalletBalances } from "../types.js";
import type { WalletCore } from "../wallet/core.js";
import { queuedNotes, spendableNotes } from "./select-note.js";

/** What {@link balances} returns. */
export type BalancesReturnType = WalletBalances;

/**
 * The private balance split by what a payment can spend now: committed notes no payment
 * holds, notes queued for the tree plus the change of settled payments no sync has seen
 * yet, and notes held by payments whose outcome is unknown (see `WalletBalances`).
 *
 * @example
 * const { spendable, pending, reserved, total } = balances(core);
 */
export function balances(core: WalletCore): BalancesReturnType {
  const { notes, pending: inFlight } = core.state;
  const sum = (ns: StoredNote[]) => ns.reduce((s, n) => s + BigInt(n.value), 0n);
  const settledChange = inFlight.reduce((s, p) => (p.settled ? s + BigInt(p.changeValue) : s), 0n);
  const spendable = sum(spendableNotes(core));
  const pending = sum(queuedNotes(core)) + settledChange;
  // Notes held by a payment whose outcome is unknown: being proven, or sent and unsettled.
  const held = new Set([...inFlight.filter((p) => !p.settled).map((p) => p.nullifierHash), ...core.busy]);
  const reserved = sum(notes.filter((n) => !n.spent && held.has(n.nullifierHash)));
  // Received notes are spent like any other: this only says how much of the total they are.
  const received = sum([...spendableNotes(core), ...queuedNotes(core)].filter((n) => n.origin.kind === "received"));
  return { spendable, pending, reserved, total: spendable + pending, received };
}
