import { z } from "zod";

import { ZkPayError } from "../core/errors.js";

const decimal = z.string().regex(/^\d+$/);

const StoredNoteSchema = z.object({
  /** Derivation index of the note's secrets (note number k of the seed). */
  k: z.number().int().nonnegative(),
  value: decimal,
  leafIndex: z.number().int().nonnegative(),
  commitment: decimal,
  nullifierHash: decimal,
  spent: z.boolean(),
});

const PendingSpendSchema = z.object({
  noteK: z.number().int().nonnegative(),
  changeK: z.number().int().nonnegative(),
  changeValue: decimal,
  nullifierHash: decimal,
  /** Unix seconds after which the proof can no longer settle. */
  expiry: z.number().int(),
  createdAt: z.number().int(),
});

/** Everything a wallet persists. All of it can be rebuilt from the seed and the chain. */
export const WalletStateSchema = z.object({
  version: z.literal(1),
  chainId: z.number().int(),
  facilitator: z.string(),
  /** Last block whose events are in `leaves`/`notes`. */
  syncedBlock: z.number().int(),
  /** Tree leaves (decimal strings) in index order. */
  leaves: z.array(decimal),
  /** Next unused derivation index. Advanced and saved BEFORE a note secret is used. */
  nextNoteIndex: z.number().int().nonnegative(),
  notes: z.array(StoredNoteSchema),
  /** Spends in flight: the note is reserved until the spend is seen or expires. */
  pending: z.array(PendingSpendSchema),
});

export type WalletState = z.infer<typeof WalletStateSchema>;
export type StoredNote = z.infer<typeof StoredNoteSchema>;
export type PendingSpend = z.infer<typeof PendingSpendSchema>;

/**
 * Where a wallet keeps its state. `save` must be atomic: after a crash, `load` returns
 * either the previous state or the new one, never a mix. The SDK calls `save` before
 * any step that could lose track of a note.
 *
 * @example
 * const store: NoteStore = new MemoryNoteStore();
 */
export interface NoteStore {
  load(): Promise<WalletState | undefined>;
  save(state: WalletState): Promise<void>;
}

/**
 * Parses and validates stored state.
 *
 * @example
 * const state = parseWalletState(JSON.parse(text));
 */
export function parseWalletState(raw: unknown): WalletState {
  const r = WalletStateSchema.safeParse(raw);
  if (!r.success) {
    throw new ZkPayError("note_store_corrupt", `wallet state is invalid: ${r.error.issues[0]?.message ?? "unknown"}`);
  }
  return r.data;
}

/**
 * In-memory store (tests, browsers without persistence). Saves deep copies so the
 * caller cannot mutate what was "persisted".
 *
 * @example
 * const wallet = new PrivateWallet({ ..., store: new MemoryNoteStore() });
 */
export class MemoryNoteStore implements NoteStore {
  #state: string | undefined;

  async load(): Promise<WalletState | undefined> {
    return this.#state === undefined ? undefined : parseWalletState(JSON.parse(this.#state));
  }

  async save(state: WalletState): Promise<void> {
    this.#state = JSON.stringify(state);
  }
}
