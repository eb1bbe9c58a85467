/**
 * The wallet core: the little state every wallet action shares. It holds the options,
 * the store, the persisted state and the one lock that changes it, the local tree, the
 * seed's keys, and the bookkeeping of syncing; the actions (`../actions/*.ts`, one per
 * file, each `(core, params) => result` as viem's `actions/wallet/*`) do the work, and
 * `PrivateWallet` (`../wallet.ts`) binds them as its methods, as viem's
 * `clients/decorators/wallet.ts` does.
 *
 * Users never see a core: `PrivateWallet` keeps it in a private field and the package
 * does not export this file. Its members are public only so the actions can reach them.
 *
 * The payee side (notes paid to this wallet by others) is `actions/receive.ts` over this
 * same core: its notes are found by the chain scan in `../sync/notes.ts` (trial
 * decryption with the viewing key) and kept in the same state as the payer's.
 */
import type { Hash, Hex, PublicClient, WalletClient } from "viem";

import { ZkPayError } from "../../core/errors.js";
import { WalletKeys } from "../../core/keys.js";
import type { X25519Fn } from "../../core/note-encryption.js";
import type { NoteOpening } from "../../core/note.js";
import type { CircuitArtifacts } from "../../core/circuits/artifacts.js";
import type { NoteTree } from "../../core/tree.js";
import type { TokenUnits } from "../cost.js";
import type { NoteStore, StoredNote, WalletState } from "../store.js";
import type { SyncProgress } from "../sync.js";
import type { LogRangeState } from "../sync/logs.js";
import { NoteDeriver } from "../sync/notes.js";
import { openTree, readTreeLevels } from "../sync/tree.js";
import type { PoolInfo, PreparedPayment } from "../types.js";

/** The wallet's options with their defaults applied (by `PrivateWallet.open`). */
export interface WalletConfig {
  seed: Hex;
  pool: PoolInfo;
  publicClient: PublicClient;
  walletClient: WalletClient | undefined;
  store: NoteStore;
  artifacts: CircuitArtifacts;
  /** Blocks per eth_getLogs request, at most. */
  logChunkSize: number;
  depositGapLimit: number;
  /** Scheduled syncing: mean period and jitter, ms. */
  intervalMs: number;
  jitterMs: number;
  /** How long a payment waits for scheduled syncs to bring a change note, ms. */
  waitForChangeMs: number;
  onWarning: ((w: ZkPayError) => void) | undefined;
  onSyncProgress: ((p: SyncProgress) => void) | undefined;
  /** X25519 for trial decryption (node:crypto's on Node); undefined: @noble/curves. */
  x25519: X25519Fn | undefined;
}

/** Where syncing stands (written by `actions/sync.ts`, read by the schedule and payments). */
export interface SyncRun {
  /** The sync running now. */
  running: Promise<void> | undefined;
  /** One more sync queued behind it, shared by every caller that arrives meanwhile. */
  queued: Promise<void> | undefined;
  /** Woken after every sync, successful or not (a payment waiting for a change note). */
  waiters: (() => void)[];
  /** Whether this instance has completed a sync (the stored state may be old). */
  done: boolean;
}

/** Scheduled syncing (written by `actions/schedule.ts`). */
export interface SyncSchedule {
  on: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** Consecutive failures: the schedule backs off with them. */
  failures: number;
}

/**
 * The state holder behind a `PrivateWallet`. The only way its persisted state changes is
 * {@link WalletCore.mutate}: one change at a time, saved before it becomes current.
 */
export class WalletCore {
  readonly config: WalletConfig;
  readonly pool: PoolInfo;
  readonly publicClient: PublicClient;
  readonly walletClient: WalletClient | undefined;
  readonly artifacts: CircuitArtifacts;
  readonly keys: WalletKeys;
  readonly deriver: NoteDeriver;
  readonly store: NoteStore;
  /** The local tree; replaced by a rescan, rolled back after a failed sync. */
  tree: NoteTree;
  readonly sync: SyncRun = { running: undefined, queued: undefined, waiters: [], done: false };
  readonly schedule: SyncSchedule = { on: false, timer: undefined, failures: 0 };
  /** Notes being proven right now (not yet persisted as pending), by nullifier hash. */
  readonly busy = new Set<string>();
  /** eth_getLogs range limits learnt from the RPC (kept across syncs). */
  readonly logRange: LogRangeState = { maxBlocks: Number.MAX_SAFE_INTEGER };
  /** The token's decimals and symbol once asked for (see `actions/token.ts`). */
  tokenUnits: Promise<TokenUnits | undefined> | undefined;
  #state: WalletState;
  #lock: Promise<unknown> = Promise.resolve();
  /** Default warning output: each tag / failure streak once. */
  readonly #warned = new Set<string>();

  /** Throws `note_store_corrupt` if `state` holds notes of another seed (or damaged ones). */
  constructor(config: WalletConfig, state: WalletState, tree: NoteTree) {
    this.config = config;
    this.pool = config.pool;
    this.publicClient = config.publicClient;
    this.walletClient = config.walletClient;
    this.artifacts = config.artifacts;
    this.store = config.store;
    this.keys = WalletKeys.fromSeed(config.seed);
    this.deriver = new NoteDeriver(this.keys, tree.levels, config.x25519);
    this.#state = state;
    this.tree = tree;
    // Fail now, not in the middle of a payment, if the store belongs to another seed.
    for (const n of state.notes) this.deriver.check(n);
  }

  /** The current persisted state. Read it; change it only through {@link mutate}. */
  get state(): Readonly<WalletState> {
    return this.#state;
  }

  /**
   * The only way state changes: one mutation at a time, on a copy of the latest state,
   * saved before it becomes current. Without the queue two concurrent deposits could
   * both read nextDepositIndex before either saved it.
   */
  mutate<T>(fn: (state: WalletState) => T | Promise<T>): Promise<T> {
    const run = this.#lock.then(async () => {
      const state = structuredClone(this.#state);
      const out = await fn(state);
      await this.store.save(state);
      this.#state = state;
      return out;
    });
    this.#lock = run.catch(() => {});
    return run;
  }

  /** Reports a warning to `onWarning`, or once per `key` to the console. */
  warn(w: ZkPayError, key: string): void {
    const onWarning = this.config.onWarning;
    if (onWarning) {
      try {
        onWarning(w);
      } catch {
        // A failing warning handler must not break syncing.
      }
      return;
    }
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    console.warn(`402zk wallet: ${w.reason}: ${w.message}`);
  }

  /** A note's opening (value, owner key, blinding). Spending it takes the spending key too. */
  openingOf(note: StoredNote): NoteOpening {
    return this.deriver.openingOf(note);
  }

  /** The wallet client, or `invalid_argument` when there is none with an account. */
  requireWalletClient(): WalletClient & { account: NonNullable<WalletClient["account"]> } {
    const wc = this.walletClient;
    if (!wc?.account) {
      throw new ZkPayError("invalid_argument", "this operation needs a walletClient with an account");
    }
    return wc as WalletClient & { account: NonNullable<WalletClient["account"]> };
  }

  /**
   * Waits for a sent transaction. A revert is `settlement_failed` (nothing was spent); any
   * other failure of the wait (an RPC error, a timeout) is `payment_unconfirmed` with the
   * hash, and for a payment its receipt id: the transaction may still be mined.
   */
  async waitSent(hash: Hash, p?: PreparedPayment): Promise<void> {
    let rc: Awaited<ReturnType<PublicClient["waitForTransactionReceipt"]>>;
    try {
      rc = await this.publicClient.waitForTransactionReceipt({ hash });
    } catch (err) {
      throw new ZkPayError(
        "payment_unconfirmed",
        `transaction ${hash} was sent but its outcome is unknown (${(err as Error).message}); check it before paying again`,
        { hash, ...(p ? { receiptId: p.receiptId } : {}) },
        { cause: err },
      );
    }
    if (rc.status !== "success") {
      throw new ZkPayError("settlement_failed", `transaction ${hash} reverted`, { hash });
    }
  }
}

/**
 * Loads (or creates) the wallet state, checks it belongs to this pool and chain, and opens
 * the local tree (the persisted one, or an empty one with the state reset for a rescan).
 * Throws `chain_mismatch` for an RPC or a store of another chain or pool, and
 * `note_store_corrupt` for a store of another seed.
 */
export async function openWalletCore(config: WalletConfig): Promise<WalletCore> {
  const { publicClient, pool, store } = config;
  const chainId = await publicClient.getChainId();
  if (chainId !== pool.chainId) {
    throw new ZkPayError("chain_mismatch", `RPC is on chain ${chainId}, the pool is on chain ${pool.chainId}`, {
      rpcChainId: chainId,
      poolChainId: pool.chainId,
    });
  }
  const loaded = await store.load();
  if (
    loaded &&
    (loaded.chainId !== pool.chainId || loaded.facilitator.toLowerCase() !== pool.facilitator.toLowerCase())
  ) {
    throw new ZkPayError("chain_mismatch", "the note store belongs to another chain or pool", {
      storeChainId: loaded.chainId,
      storeFacilitator: loaded.facilitator,
    });
  }
  const state: WalletState = loaded ?? {
    version: 3,
    chainId: pool.chainId,
    facilitator: pool.facilitator,
    syncedBlock: pool.deploymentBlock - 1,
    nextDepositIndex: 0,
    notes: [],
    pending: [],
    warnings: { duplicateTags: 0, duplicateNullifiers: 0 },
  };
  // The persisted binary tree (no leaf hashed again), or a rescan when it is missing.
  const levels = await readTreeLevels(publicClient, pool.facilitator);
  const tree = await openTree(state, store, levels, pool.deploymentBlock);
  return new WalletCore(config, state, tree);
}
