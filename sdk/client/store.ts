import { z } from "zod";

import { ZkPayError } from "../core/errors.js";
import { EscrowStatementWireSchema } from "../core/escrow.js";
import { MAX_TREE_DEPTH } from "../core/field.js";

const decimal = z.string().regex(/^\d+$/);

const hex32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/);

/**
 * Where a note comes from. Every note is owned by the wallet's owner key (issue #19); the
 * origin says how a rescan finds it again: by a memo tag derived from the seed (deposits,
 * change), or by trial decryption of a payee memo with the viewing key (received notes).
 */
const NoteOriginSchema = z.discriminatedUnion("kind", [
  /** Deposit number `deposit` of the seed, made with `salt` (128 random bits, decimal). */
  z.object({ kind: z.literal("deposit"), deposit: z.number().int().nonnegative(), salt: decimal }).strict(),
  /** Change note of the note whose nullifier hash is `parent` (decimal). */
  z.object({ kind: z.literal("change"), parent: decimal }).strict(),
  /**
   * Refund note of an escrowed payment that spent the note whose nullifier hash is `parent`
   * (proof before pay: the escrow's deadline passed unreleased).
   */
  z.object({ kind: z.literal("refund"), parent: decimal }).strict(),
  /**
   * A payee note another wallet paid to this one (a `zk-shielded` payment): found by
   * decrypting its memo with the viewing key. `conditionHash` is the payment's (what the
   * payer was charged for); `blockNumber` and `time` (unix seconds) are its block's.
   */
  z
    .object({
      kind: z.literal("received"),
      conditionHash: hex32,
      blockNumber: z.number().int().nonnegative(),
      time: z.number().int().nonnegative(),
    })
    .strict(),
]);

/**
 * One note. The opening (value, owner, blinding) is stored: the blinding alone spends
 * nothing (spending takes the spending key, which is never stored), and received notes
 * cannot be derived from the seed at all (their blinding is the payer's random choice).
 */
const StoredNoteSchema = z.object({
  origin: NoteOriginSchema,
  value: decimal,
  /** The owner key (always this wallet's: a store with another owner is refused on open). */
  owner: decimal,
  blinding: decimal,
  /** Global leaf index (position: tree `leafIndex >> treeLevels`, leaf `leafIndex mod 2^treeLevels`). */
  leafIndex: z.number().int().nonnegative(),
  commitment: decimal,
  /** Poseidon(nk, commitment, treeIndex, leafIndex): the receipt id once spent. */
  nullifierHash: decimal,
  spent: z.boolean(),
});

const PendingSpendSchema = z.object({
  /** Nullifier hash of the note being spent (also the payment's receipt id). */
  nullifierHash: decimal,
  /** Value of the change note the payment creates once it settles. */
  changeValue: decimal,
  /** Unix seconds after which the proof can no longer settle. */
  expiry: z.number().int(),
  createdAt: z.number().int(),
  /**
   * Set when the payment is known to be settled (the server's settlement response, or our
   * own or a relayer's mined transaction) but no sync has seen it yet: its change counts
   * in the balance as pending until the sync that finds the change note drops this entry.
   */
  settled: z.literal(true).optional(),
});

/**
 * An escrowed payment this wallet made (proof before pay), written before the payment is
 * sent: what `refund` needs if the payee never releases it (the statement, payee, amount
 * and the refund memo), and how the payer decrypts a released result (the input blinding
 * derives from `parent`, the spent note).
 */
const EscrowRecordSchema = z.object({
  /** The payment's receipt id (= the escrow's), bytes32. */
  id: hex32,
  /** Nullifier hash of the spent note (decimal): the refund and input blindings derive from it. */
  parent: decimal,
  payTo: z.string().regex(/^0x[0-9a-fA-F]{40}$/),
  amount: decimal,
  statement: EscrowStatementWireSchema,
  refundMemo: z.string().regex(/^0x[0-9a-fA-F]*$/),
  /** Unix seconds after which the payment itself can no longer settle. */
  expiry: z.number().int(),
  /** Last known state: held (or not yet seen), released, refunded, or never settled. */
  status: z.enum(["pending", "held", "released", "refunded", "unsettled"]),
  /** Transaction that released or refunded it, when known. */
  tx: hex32.optional(),
});

/** Everything a wallet persists. All of it can be rebuilt from the seed and the chain. */
export const WalletStateSchema = z.object({
  version: z.literal(3),
  chainId: z.number().int(),
  facilitator: z.string(),
  /** Last block whose events are in the tree and `notes`. */
  syncedBlock: z.number().int(),
  /** Hash of block `syncedBlock` (detects a reset chain or a reorg below it). */
  syncedBlockHash: z.string().optional(),
  /**
   * Tree leaves (decimal strings) in index order: written by earlier versions only. The
   * tree now lives in the store's binary tree file ({@link NoteStore.saveTree}); a state
   * with `leaves` is migrated when opened.
   */
  leaves: z.array(decimal).optional(),
  /** The tree this state was synced with (checks the persisted tree file). */
  tree: z
    .object({
      levels: z.number().int().min(0).max(MAX_TREE_DEPTH),
      committed: z.number().int().nonnegative(),
      leafCount: z.number().int().nonnegative(),
      root: decimal,
    })
    .strict()
    .optional(),
  /**
   * Next unused deposit index. Advanced and saved BEFORE a deposit uses it. Change notes
   * need no index: they derive from the note they spend.
   */
  nextDepositIndex: z.number().int().nonnegative(),
  /** Owned notes, in leaf order (a change note always comes after its parent). */
  notes: z.array(StoredNoteSchema),
  /** Spends in flight: the note is reserved until the spend is seen or expires. */
  pending: z.array(PendingSpendSchema),
  /** Escrowed payments (proof before pay) not known to be finished, and the finished ones' outcome. */
  escrows: z.array(EscrowRecordSchema).optional(),
  /** Anomalies seen while syncing (each is also reported through the wallet's onWarning). */
  warnings: z.object({
    /** Owned notes whose memo tag another owned note already carried. */
    duplicateTags: z.number().int().nonnegative(),
    /** Leaves that opened as notes with the nullifier of a note already owned (not added). */
    duplicateNullifiers: z.number().int().nonnegative(),
  }),
});

/** What a {@link NoteStore} keeps for one wallet (version 3): notes, pending spends, sync position and tree; a cache of what seed and chain rebuild. */
export type WalletState = z.infer<typeof WalletStateSchema>;
/** One note of the wallet: its opening (value, owner, blinding), leaf index, commitment, nullifier hash, spent flag and origin. */
export type StoredNote = z.infer<typeof StoredNoteSchema>;
/** An escrowed payment the wallet made: statement, payee, amount, refund memo and last known state. */
export type EscrowRecord = z.infer<typeof EscrowRecordSchema>;
/** A payment sent whose outcome is not known yet: its note stays reserved until the payment's expiry or its receipt. */
export type PendingSpend = z.infer<typeof PendingSpendSchema>;
/** Where a note comes from: deposit number k (with its salt), the parent note it is the change of, or a payment received. */
export type NoteOrigin = z.infer<typeof NoteOriginSchema>;

/**
 * Where a wallet keeps its state. `save` must be atomic: after a crash, `load` returns
 * either the previous state or the new one, never a mix. The SDK calls `save` before
 * any step that could lose track of a note.
 *
 * @example
 * const store: NoteStore = new MemoryNoteStore();
 */
export interface NoteStore {
  /** The stored state, or undefined for a new wallet. */
  load(): Promise<WalletState | undefined>;
  /** Replaces the stored state (atomically: a crash leaves the old or the new one). */
  save(state: WalletState): Promise<void>;
  /**
   * The binary tree last given to {@link NoteStore.saveTree} (`NoteTree.serialize()`),
   * if any. Optional: a store without it rebuilds the tree from the chain on each open.
   */
  loadTree?(): Promise<Uint8Array | undefined>;
  /**
   * Persists the tree (atomically, like `save`): the concatenation of `parts`
   * (`NoteTree.serializeParts()`, views of the live tree: write them before resolving).
   * The wallet saves the tree before the state that names it, so a crash between the
   * two leaves a tree that is ahead of the state, which the wallet rolls back on open.
   */
  saveTree?(parts: readonly Uint8Array[]): Promise<void>;
}

/**
 * Parses and validates stored state.
 *
 * @example
 * const state = parseWalletState(JSON.parse(text));
 */
export function parseWalletState(raw: unknown): WalletState {
  const version = (raw as { version?: unknown } | null)?.version;
  if (typeof version === "number" && version < 3) {
    throw new ZkPayError(
      "note_store_corrupt",
      version < 2
        ? `wallet state version ${version} was written by an older 402zk that derived notes from a counter (it ` +
            "could give two notes the same nullifier after a restore); this version cannot read or migrate it. " +
            "Spend or withdraw those notes with the 402zk that wrote the state, then move the file away to start a " +
            "new wallet (a seed's v1 notes are not found by this version's rescan)"
        : `wallet state version ${version} holds notes of the pool before key-owned notes (payment circuit v1); ` +
            "this version (payment-v2) cannot spend them. Withdraw them with the 402zk that wrote the state, then " +
            "move the file away to start a new wallet",
      { version },
    );
  }
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
  #tree: Uint8Array | undefined;

  async load(): Promise<WalletState | undefined> {
    return this.#state === undefined ? undefined : parseWalletState(JSON.parse(this.#state));
  }

  async save(state: WalletState): Promise<void> {
    this.#state = JSON.stringify(state);
  }

  async loadTree(): Promise<Uint8Array | undefined> {
    return this.#tree?.slice();
  }

  async saveTree(parts: readonly Uint8Array[]): Promise<void> {
    const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
    let off = 0;
    for (const p of parts) {
      out.set(p, off);
      off += p.length;
    }
    this.#tree = out;
  }
}
