/**
 * Note selection and reservations: which notes a payment may spend, the one it picks,
 * and how a note is held while its payment is proven and in flight, then released or
 * settled. A note is held twice over: in memory (`core.busy`) while it is being proven,
 * then in the persisted `pending` list until the payment settles, is refused, or expires.
 */
import { isZkPayError } from "../../core/errors.js";
import type { EscrowRecord, PendingSpend, StoredNote } from "../store.js";
import type { PreparedPayment } from "../types.js";
import type { WalletCore } from "../wallet/core.js";

/** Unspent notes not reserved by a payment in flight, committed or queued. */
export function availableNotes(core: WalletCore): StoredNote[] {
  const reserved = new Set(core.state.pending.map((p) => p.nullifierHash));
  return core.state.notes.filter(
    (n) => !n.spent && !reserved.has(n.nullifierHash) && !core.busy.has(n.nullifierHash) && BigInt(n.value) > 0n,
  );
}

/** Notes a payment can spend now: available and committed to the pool's trees. */
export function spendableNotes(core: WalletCore): StoredNote[] {
  const committed = core.tree.committedSize;
  return availableNotes(core).filter((n) => n.leafIndex < committed);
}

/** Available notes still queued by the pool (appended, not yet in a root). */
export function queuedNotes(core: WalletCore): StoredNote[] {
  const committed = core.tree.committedSize;
  return availableNotes(core).filter((n) => n.leafIndex >= committed);
}

/** The smallest spendable note that covers `needed`. */
export function pickNote(core: WalletCore, needed: bigint): StoredNote | undefined {
  return spendableNotes(core)
    .filter((n) => BigInt(n.value) >= needed)
    .sort((a, b) => (BigInt(a.value) < BigInt(b.value) ? -1 : 1))[0];
}

/** Whether a note of ours that covers `needed` is queued (spendable once a batch or commit includes it). */
export function queuedMayCover(core: WalletCore, needed: bigint): boolean {
  return queuedNotes(core).some((n) => BigInt(n.value) >= needed);
}

/**
 * Whether a payment in flight would leave a change note that covers `needed`, or a
 * note of ours that covers it is queued.
 */
export function changeMayCover(core: WalletCore, needed: bigint): boolean {
  return core.state.pending.some((p) => BigInt(p.changeValue) >= needed) || queuedMayCover(core, needed);
}

/**
 * Runs `prove` with `note` held in memory, so a concurrent payment cannot pick it. Call
 * it in the same synchronous step as {@link pickNote}.
 */
export async function withNoteBusy<T>(core: WalletCore, note: StoredNote, prove: () => Promise<T>): Promise<T> {
  core.busy.add(note.nullifierHash);
  try {
    return await prove();
  } finally {
    core.busy.delete(note.nullifierHash);
  }
}

/** Persists the reservation of a proven payment's note (replacing an earlier proof of it). */
export async function holdNote(core: WalletCore, pending: PendingSpend, escrow?: EscrowRecord): Promise<void> {
  await core.mutate((state) => {
    state.pending = state.pending.filter((p) => p.nullifierHash !== pending.nullifierHash);
    state.pending.push(pending);
    if (escrow) state.escrows = [...(state.escrows ?? []).filter((e) => e.id !== escrow.id), escrow];
  });
}

/**
 * Gives up a payment that was refused before it could settle, making its note
 * spendable again. Safe: if the refused proof were still submitted, the chain's
 * nullifier check would let only one of the two spends through.
 */
export async function releasePayment(core: WalletCore, p: PreparedPayment): Promise<void> {
  await core.mutate((state) => {
    state.pending = state.pending.filter((x) => x.nullifierHash !== p.proof.nullifierHash.toString());
  });
}

/**
 * After a failed submission: gives the note back only when the payment certainly did not
 * settle. A `payment_unconfirmed` failure (the transaction or relay request left, its
 * outcome is unknown) keeps the note reserved until the payment's expiry, when a sync
 * frees it if the chain never spent it: releasing it earlier would let the wallet pick
 * it again and report a paid request as failed.
 */
export async function releaseUnlessUnconfirmed(core: WalletCore, p: PreparedPayment, err: unknown): Promise<void> {
  if (isZkPayError(err, "payment_unconfirmed")) return;
  await releasePayment(core, p);
}

/**
 * Records that a prepared payment settled: its change counts in the balance (as pending)
 * at once, rather than after the next sync. Harmless if a sync already saw the payment.
 */
export async function recordSettlement(core: WalletCore, p: PreparedPayment): Promise<void> {
  const id = p.proof.nullifierHash.toString();
  if (!core.state.pending.some((x) => x.nullifierHash === id && !x.settled)) return;
  await core.mutate((state) => {
    for (const x of state.pending) if (x.nullifierHash === id) x.settled = true;
  });
}
