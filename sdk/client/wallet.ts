import {
  BaseError,
  parseEventLogs,
  parseSignature,
  zeroAddress,
  type Address,
  type Hash,
  type Hex,
  type PublicClient,
  type TransactionReceipt,
  type WalletClient,
} from "viem";

import { erc20Abi, facilitatorAbi } from "../core/abi.js";
import { leavesToCommit } from "../core/commit.js";
import { parseUserAddress } from "../core/address.js";
import { permitTypes, receiveWithAuthorizationTypes } from "../core/eip712.js";
import { resolveTokenDomain } from "../core/token-domain.js";
import { paymentContext, type PaymentTerms } from "../core/context.js";
import { ZkPayError, isZkPayError } from "../core/errors.js";
import { toBytes32, toValue } from "../core/field.js";
import { WalletKeys } from "../core/keys.js";
import { encodeMemo, randomNonce128 } from "../core/memo.js";
import { commitmentOf, precommitmentOf, type NoteSecrets } from "../core/note.js";
import { provePayment, type CircuitArtifacts, type ProofProgress, type SolidityProof } from "../core/prover.js";
import { mapPayRevert } from "../core/revert.js";
import { NoteTree } from "../core/tree.js";
import type { RelayClient } from "./relay.js";
import { checkPaymentCost, formatTokens, type TokenUnits } from "./scheme.js";
import type { NoteStore, PendingSpend, StoredNote, WalletState } from "./store.js";
import {
  NoteDeriver,
  openTree,
  readTreeLevels,
  saveTree,
  syncState,
  type LogRangeState,
  type SyncProgress,
} from "./sync.js";

/** Default look-ahead for deposit indices in a rescan (like a BIP-44 gap limit). */
const DEFAULT_DEPOSIT_GAP_LIMIT = 32;
const DEFAULT_SYNC_INTERVAL_MS = 15_000;
const DEFAULT_SYNC_JITTER_MS = 5_000;
/** After consecutive failures, scheduled syncs back off up to this factor of the interval. */
const MAX_BACKOFF = 16;

/** The pool a wallet talks to (a subset of a deployment record). */
export interface PoolInfo {
  chainId: number;
  facilitator: Address;
  token: Address;
  deploymentBlock: number;
  /**
   * The token's EIP-712 domain name and version, for signed deposits (USDC on Base:
   * "USD Coin", "2"). Read from the token's `eip712Domain()` (EIP-5267) when absent.
   */
  tokenDomain?: { name: string; version: string };
  /** The token's decimals and symbol, for amounts in messages and the default fee limit. Read from the token when absent. */
  decimals?: number;
  symbol?: string;
}

/** How {@link PrivateWallet.deposit} moves the tokens. */
export type DepositMethod =
  /** `approve` (if the allowance is short) then `deposit`: two transactions. */
  | "approve"
  /** EIP-2612 permit signed off-chain, then `depositWithPermit`: one transaction. */
  | "permit"
  /** EIP-3009 `ReceiveWithAuthorization` signed off-chain, then `depositWithAuthorization`: one transaction, which anyone may submit. */
  | "authorization";

/**
 * When the wallet syncs. Syncing on a schedule of its own, not right before each payment,
 * keeps the RPC provider from timing payments by the log queries that precede them, and
 * keeps a proof's `treeSize` from telling the server when the payer last looked at the
 * chain (it tells the time of the last scheduled sync instead).
 */
export interface SyncOptions {
  /**
   * Start scheduled syncing in {@link PrivateWallet.open} (default true). With false,
   * call {@link PrivateWallet.startAutoSync} or {@link PrivateWallet.sync} yourself.
   * The timer is `unref()`-ed: it never keeps a Node process alive.
   */
  auto?: boolean;
  /** Mean time between scheduled syncs, ms (default 15 000). */
  intervalMs?: number;
  /**
   * Each delay is drawn uniformly from `intervalMs ± jitterMs` (default 5 000, at most
   * `intervalMs`), so the syncs form no exact period to line payments up against. The
   * first scheduled sync comes within `jitterMs` of starting.
   */
  jitterMs?: number;
  /**
   * How long {@link PrivateWallet.preparePayment} waits for scheduled syncs when no
   * spendable note covers a payment but the change note of a payment in flight would
   * (default `intervalMs + jitterMs`: at least one scheduled sync). See preparePayment.
   */
  waitForChangeMs?: number;
}

/** Options of {@link PrivateWallet}. */
export interface PrivateWalletOptions {
  /** 32-byte hex seed: every note is derived from it. Back it up. */
  seed: Hex;
  pool: PoolInfo;
  publicClient: PublicClient;
  /** Needed for deposits and for submitting payments yourself (client-settled mode). */
  walletClient?: WalletClient;
  store: NoteStore;
  artifacts: CircuitArtifacts;
  /** Blocks per eth_getLogs request while syncing (public RPCs often cap ranges). */
  logChunkSize?: number;
  /**
   * How many deposit indices past the last one found a rescan looks at (default 32).
   * Deposits are numbered: a restore from the seed finds deposit k only if some deposit
   * among the `depositGapLimit` indices before it was found. Indices are consumed by
   * deposits that were started but never mined, so raise it if more than 32 deposits in a
   * row may have failed. Change notes need no gap limit (they derive from the note they
   * spend), however many payments were abandoned.
   */
  depositGapLimit?: number;
  /** When the wallet syncs; see {@link SyncOptions}. */
  sync?: SyncOptions;
  /**
   * Receives warnings that are not errors: `duplicate_note_tag` (two notes with one memo
   * tag: two deposits got the same index, e.g. two processes share the seed),
   * `duplicate_note_nullifier` (a leaf opens as an already-owned note), and the first
   * failure of scheduled syncing after a success (its own reason, e.g. `rpc_error`).
   * Default: `console.warn`, once per tag / per failure streak.
   */
  onWarning?: (w: ZkPayError) => void;
  /** Called after each page of logs while syncing (the CLI draws a progress line with it). */
  onSyncProgress?: (p: SyncProgress) => void;
}

/**
 * Outcome of a mined deposit. A deposit whose transaction landed is never reported as a
 * failure: if syncing after it fails, `synced` is false and `warning` says why (the note
 * is found by the next successful sync).
 */
export interface DepositResult {
  hash: Hash;
  /** The new note's leaf index (from the transaction's LeafInserted event). */
  leafIndex: number;
  synced: boolean;
  warning?: ZkPayError;
}

/** A payment proven and ready to send (to a server, or on chain). */
export interface PreparedPayment {
  proof: SolidityProof & {
    root: bigint;
    treeSize: bigint;
    nullifierHash: bigint;
    changeCommitment: bigint;
  };
  terms: PaymentTerms;
  memo: Hex;
  /** Receipt id once settled: the spent note's nullifier hash as bytes32. */
  receiptId: Hex;
  changeValue: bigint;
  /**
   * Ask for the change note to be committed by the settling transaction (`payAndCommit`
   * or `payBatch`),
   * so it is spendable in the next block, rather than by the next batch or commit.
   * Set by `preparePayment` when the change will be this wallet's only spendable note.
   */
  commitChange: boolean;
  /** syncMs: time spent syncing or waiting for a sync inside preparePayment (usually 0). */
  timings: { witnessMs: number; proveMs: number; syncMs: number };
}

/** A wallet's private balance, base units (see {@link PrivateWallet.balances}). */
export interface WalletBalances {
  /** Committed notes no payment holds: what a payment can spend now. */
  spendable: bigint;
  /**
   * Ours, spendable once the pool commits it (its next batch or commit): notes queued for
   * the tree, and the change of settled payments that no sync has seen yet.
   */
  pending: bigint;
  /**
   * Notes held by payments whose outcome is not known yet (being proven, or sent and not
   * answered): they come back whole if the payment is refused or expires, or as change if
   * it settles. Not in `total`.
   */
  reserved: bigint;
  /**
   * `spendable + pending`: what {@link PrivateWallet.balance} returns, and what a fresh
   * sync of the same seed finds when no payment is in flight.
   */
  total: bigint;
}

/** Parameters of {@link PrivateWallet.preparePayment}. */
export interface PaymentParams {
  payTo: Address;
  amount: bigint;
  fee?: bigint;
  relayer?: Address;
  conditionHash?: Hex;
  /** Unix seconds. */
  expiry: bigint;
  /** Proving progress (witness, proving stages), e.g. for a progress bar. */
  onProgress?: (p: ProofProgress) => void;
  /**
   * Whether to ask for the change note to be committed in the settling transaction
   * (see {@link PreparedPayment.commitChange}). Default: when no other committed note
   * would stay spendable after this payment.
   */
  commitChange?: boolean;
  /**
   * Sync with the chain before choosing a note and proving (default false). A sync right
   * before a payment shows the RPC provider when you pay: use it to recover from a proof
   * the pool refused for a stale root (the client scheme does), not for every payment.
   */
  sync?: boolean;
}

/**
 * A private 402zk wallet: notes derived from one seed, a Merkle tree synced from chain
 * events on a schedule, client-side proving, crash-safe persistence.
 *
 * @example
 * const wallet = await PrivateWallet.open({ seed, pool, publicClient, walletClient, store, artifacts });
 * await wallet.deposit(10_000_000n);            // 10 USDC into a private note
 * const p = await wallet.preparePayment({ payTo, amount: 10_000n, expiry });
 * await wallet.submitPayment(p);                 // or send p to an x402 server
 * await wallet.close();                          // stops scheduled syncing
 */
export class PrivateWallet {
  readonly pool: PoolInfo;
  readonly publicClient: PublicClient;
  readonly walletClient: WalletClient | undefined;
  readonly artifacts: CircuitArtifacts;
  readonly #keys: WalletKeys;
  readonly #deriver: NoteDeriver;
  readonly #store: NoteStore;
  readonly #chunk: number;
  readonly #gap: number;
  readonly #interval: number;
  readonly #jitter: number;
  readonly #waitForChangeMs: number;
  readonly #onWarning: ((w: ZkPayError) => void) | undefined;
  /** Default warning output: each tag / failure streak once. */
  readonly #warned = new Set<string>();
  #state: WalletState;
  #tree: NoteTree;
  #syncing: Promise<void> | undefined;
  #queuedSync: Promise<void> | undefined;
  /** Resolved after every sync, successful or not (preparePayment waiting for a change note). */
  #syncWaiters: (() => void)[] = [];
  /** Whether this instance has completed a sync (the stored state may be old). */
  #synced = false;
  #autoSync = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #failures = 0;
  #lock: Promise<unknown> = Promise.resolve();
  /** The token's decimals and symbol (see {@link tokenUnits}). */
  #tokenUnits: Promise<TokenUnits | undefined> | undefined;
  /** Notes being proven right now (not yet persisted as pending), by nullifier hash. */
  readonly #busy = new Set<string>();

  /** eth_getLogs range limits learnt from the RPC (kept across syncs). */
  readonly #logRange: LogRangeState = { maxBlocks: Number.MAX_SAFE_INTEGER };
  readonly #onSyncProgress: ((p: SyncProgress) => void) | undefined;

  private constructor(opts: PrivateWalletOptions, state: WalletState, tree: NoteTree) {
    this.pool = opts.pool;
    this.publicClient = opts.publicClient;
    this.walletClient = opts.walletClient;
    this.artifacts = opts.artifacts;
    this.#keys = WalletKeys.fromSeed(opts.seed);
    this.#deriver = new NoteDeriver(this.#keys);
    this.#store = opts.store;
    this.#chunk = opts.logChunkSize ?? 50_000;
    this.#gap = opts.depositGapLimit ?? DEFAULT_DEPOSIT_GAP_LIMIT;
    if (!Number.isInteger(this.#gap) || this.#gap < 1) {
      throw new ZkPayError("invalid_argument", "depositGapLimit must be a positive integer");
    }
    this.#interval = opts.sync?.intervalMs ?? DEFAULT_SYNC_INTERVAL_MS;
    this.#jitter = Math.min(opts.sync?.jitterMs ?? DEFAULT_SYNC_JITTER_MS, this.#interval);
    if (!(this.#interval > 0) || !(this.#jitter >= 0)) {
      throw new ZkPayError("invalid_argument", "sync.intervalMs must be positive and sync.jitterMs not negative");
    }
    this.#waitForChangeMs = opts.sync?.waitForChangeMs ?? this.#interval + this.#jitter;
    this.#onWarning = opts.onWarning;
    this.#state = state;
    this.#tree = tree;
    this.#onSyncProgress = opts.onSyncProgress;
    // Fail now, not in the middle of a payment, if the store belongs to another seed.
    const byNullifier = this.#byNullifier();
    for (const n of state.notes) this.#deriver.secretsOf(n, byNullifier);
  }

  /**
   * Loads (or creates) the wallet state, checks it belongs to this pool, chain and seed,
   * and starts scheduled syncing unless `sync.auto` is false.
   */
  static async open(opts: PrivateWalletOptions): Promise<PrivateWallet> {
    const chainId = await opts.publicClient.getChainId();
    if (chainId !== opts.pool.chainId) {
      throw new ZkPayError("chain_mismatch", `RPC is on chain ${chainId}, the pool is on chain ${opts.pool.chainId}`, {
        rpcChainId: chainId,
        poolChainId: opts.pool.chainId,
      });
    }
    const loaded = await opts.store.load();
    if (
      loaded &&
      (loaded.chainId !== opts.pool.chainId || loaded.facilitator.toLowerCase() !== opts.pool.facilitator.toLowerCase())
    ) {
      throw new ZkPayError("chain_mismatch", "the note store belongs to another chain or pool", {
        storeChainId: loaded.chainId,
        storeFacilitator: loaded.facilitator,
      });
    }
    const state: WalletState = loaded ?? {
      version: 2,
      chainId: opts.pool.chainId,
      facilitator: opts.pool.facilitator,
      syncedBlock: opts.pool.deploymentBlock - 1,
      nextDepositIndex: 0,
      notes: [],
      pending: [],
      warnings: { duplicateTags: 0, duplicateNullifiers: 0 },
    };
    // The persisted binary tree (no leaf hashed again), or a rescan when it is missing.
    const levels = await readTreeLevels(opts.publicClient, opts.pool.facilitator);
    const tree = await openTree(state, opts.store, levels, opts.pool.deploymentBlock);
    const wallet = new PrivateWallet(opts, state, tree);
    // Read the token's units now, with the other reads of opening, not right before a payment.
    void wallet.tokenUnits();
    if (opts.sync?.auto !== false) wallet.startAutoSync();
    return wallet;
  }

  /**
   * The pool token's decimals and symbol: from {@link PoolInfo} when given, else read
   * from the token once (undefined if the token does not answer: amounts are then
   * written in base units). Messages write amounts with it ("0.01 USDC").
   */
  tokenUnits(): Promise<TokenUnits | undefined> {
    const { decimals, symbol } = this.pool;
    if (decimals !== undefined && symbol !== undefined) return Promise.resolve({ decimals, symbol });
    this.#tokenUnits ??= (async () => {
      const read = <T>(functionName: "decimals" | "symbol") =>
        this.publicClient.readContract({ address: this.pool.token, abi: erc20Abi, functionName }) as Promise<T>;
      const [d, sym] = await Promise.all([
        decimals ?? read<number | bigint>("decimals"),
        symbol ?? read<string>("symbol"),
      ]);
      return { decimals: Number(d), symbol: sym };
    })().catch(() => {
      this.#tokenUnits = undefined; // try again next time
      return undefined;
    });
    return this.#tokenUnits;
  }

  // ------------------------------------------------------------------ state

  /**
   * Holder secrets of a session credential bought with `salt` (see
   * `WalletKeys.credentialSecrets`): the seed never leaves the wallet.
   */
  credentialSecrets(salt: bigint): { nullifierSeed: bigint; blinding: bigint } {
    return this.#keys.credentialSecrets(salt);
  }

  /**
   * Private balance, base units: `spendable + pending` of {@link balances}. Unspent notes
   * not held by a payment in flight, including notes still queued for their tree (see
   * {@link queuedNotes}), plus the change of settled payments that no sync has seen yet:
   * a payment's change counts from the moment it is settled, so the balance right after a
   * payment is what a fresh sync of the same seed finds. Notes held by payments whose
   * outcome is not known yet are left out (see {@link WalletBalances.reserved}).
   *
   * @example
   * if (wallet.balance() < 100_000n) await wallet.deposit(1_000_000n);
   */
  balance(): bigint {
    return this.balances().total;
  }

  /**
   * The private balance split by what a payment can spend now; see {@link WalletBalances}.
   *
   * @example
   * const { spendable, pending, reserved, total } = wallet.balances();
   */
  balances(): WalletBalances {
    const sum = (notes: StoredNote[]) => notes.reduce((s, n) => s + BigInt(n.value), 0n);
    const settledChange = this.#state.pending.reduce((s, p) => (p.settled ? s + BigInt(p.changeValue) : s), 0n);
    const spendable = sum(this.spendableNotes());
    const pending = sum(this.queuedNotes()) + settledChange;
    // Notes held by a payment whose outcome is unknown: being proven, or sent and unsettled.
    const held = new Set([...this.#state.pending.filter((p) => !p.settled).map((p) => p.nullifierHash), ...this.#busy]);
    const reserved = sum(this.#state.notes.filter((n) => !n.spent && held.has(n.nullifierHash)));
    return { spendable, pending, reserved, total: spendable + pending };
  }

  /**
   * Records that a prepared payment settled (its transaction mined, or a server's
   * settlement response said so): its change counts in the balance (as pending) at once,
   * rather than after the next sync. The client scheme, {@link submitPayment} and
   * {@link withdraw} call it; call it after `RelayClient.submit` when you use that
   * directly. Harmless if a sync already saw the payment.
   */
  async recordSettlement(p: PreparedPayment): Promise<void> {
    const id = p.proof.nullifierHash.toString();
    if (!this.#state.pending.some((x) => x.nullifierHash === id && !x.settled)) return;
    await this.#mutate((state) => {
      for (const x of state.pending) if (x.nullifierHash === id) x.settled = true;
    });
  }

  /** Notes a payment can spend now: available and committed to the pool's trees. */
  spendableNotes(): StoredNote[] {
    const committed = this.#tree.committedSize;
    return this.#available().filter((n) => n.leafIndex < committed);
  }

  /** Available notes still queued by the pool (appended, not yet in a root). */
  queuedNotes(): StoredNote[] {
    const committed = this.#tree.committedSize;
    return this.#available().filter((n) => n.leafIndex >= committed);
  }

  /** Unspent notes not reserved by a payment in flight, committed or queued. */
  #available(): StoredNote[] {
    const reserved = new Set(this.#state.pending.map((p) => p.nullifierHash));
    return this.#state.notes.filter(
      (n) => !n.spent && !reserved.has(n.nullifierHash) && !this.#busy.has(n.nullifierHash) && BigInt(n.value) > 0n,
    );
  }

  /** A copy of the persisted state (for inspection and tests). */
  snapshot(): WalletState {
    return structuredClone(this.#state);
  }

  /** Leaves committed in the local tree (notes at or above this index are queued: not spendable yet). */
  get treeSize(): number {
    return this.#tree.committedSize;
  }

  /** Leaves seen, committed or queued. */
  get leafCount(): number {
    return this.#tree.leafCount;
  }

  #byNullifier(): Map<string, StoredNote> {
    return new Map(this.#state.notes.map((n) => [n.nullifierHash, n]));
  }

  #secretsOf(note: StoredNote): NoteSecrets {
    return this.#deriver.secretsOf(note, this.#byNullifier());
  }

  // ------------------------------------------------------------------ sync

  /**
   * Pulls new `LeafInserted` and `PaymentReceipt` events since the last sync, extends
   * the tree, finds this seed's notes by their memo tags, marks spent ones, settles
   * payments in flight, and saves. A call made while a sync is running gets one more
   * sync after it (shared by every caller that arrives meanwhile), so it always sees the
   * chain as of a moment after the call, e.g. a transaction the caller just mined.
   *
   * Scheduled syncing calls this on its own (see {@link SyncOptions}); call it yourself
   * when you need fresh state, knowing that the RPC provider sees when you do.
   */
  sync(): Promise<void> {
    if (this.#syncing === undefined) return this.#startSync();
    this.#queuedSync ??= this.#syncing
      .catch(() => {})
      .then(() => {
        this.#queuedSync = undefined;
        return this.#startSync();
      });
    return this.#queuedSync;
  }

  #syncDeps() {
    return {
      publicClient: this.publicClient,
      facilitator: this.pool.facilitator,
      deriver: this.#deriver,
      chunk: this.#chunk,
      depositGapLimit: this.#gap,
      deploymentBlock: this.pool.deploymentBlock,
      logRange: this.#logRange,
      onProgress: this.#onSyncProgress,
    };
  }

  /** Rolls the in-memory tree back to the persisted state's (after a failed sync). */
  #restoreTree(): void {
    const s = this.#state.tree;
    if (!s) this.#tree = new NoteTree(this.#tree.levels);
    else if (this.#tree.committedSize !== s.committed || this.#tree.leafCount !== s.leafCount) {
      this.#tree.truncate(s.committed, s.leafCount);
    }
  }

  /** Syncs `state` and saves the tree (before `#mutate` saves the state that names it). */
  async #syncAndSaveTree(state: WalletState): Promise<ZkPayError[]> {
    const before = JSON.stringify(state.tree);
    const warnings = await syncState(state, this.#tree, this.#syncDeps());
    if (JSON.stringify(state.tree) !== before) await saveTree(this.#store, this.#tree);
    return warnings;
  }

  /** Forgets the cached tree, notes and reservations of `state` (in place): seed + chain rebuild them. */
  #resetState(state: WalletState): void {
    state.syncedBlock = this.pool.deploymentBlock - 1;
    state.syncedBlockHash = undefined;
    state.tree = undefined;
    state.notes = [];
    state.pending = [];
    // nextDepositIndex stays: the rescan finds deposits up to it + depositGapLimit.
    this.#tree = new NoteTree(this.#tree.levels);
  }

  /** A full rescan from the deployment block, with a clear error if even that does not match the chain. */
  async #rescan(state: WalletState, why?: ZkPayError): Promise<ZkPayError[]> {
    const previous = this.#tree;
    this.#resetState(state);
    try {
      const warnings = await this.#syncAndSaveTree(state);
      if (why) {
        warnings.unshift(
          new ZkPayError(
            "chain_reset",
            `${why.message}: discarded the cached tree and notes and resynced from the seed (block ${this.pool.deploymentBlock})`,
            why.details,
          ),
        );
      }
      return warnings;
    } catch (err) {
      this.#tree = previous; // the persisted state still names it
      if (isZkPayError(err, "stale_tree") || isZkPayError(err, "chain_reset")) {
        throw new ZkPayError(
          "stale_tree",
          `${err.message}, even after a full rescan from block ${this.pool.deploymentBlock}: check that the RPC ` +
            "serves complete logs (lower --log-chunk) and that the deployment record matches this chain, then run " +
            "`402zk resync` (SDK: wallet.resync())",
          err.details,
          { cause: err },
        );
      }
      throw err;
    }
  }

  /**
   * Discards the cached tree, notes and reservations and rebuilds them from the seed and
   * the chain (a full rescan from the deployment block). Sync does this by itself when it
   * sees a reset chain or a reorg below its last synced block.
   */
  async resync(): Promise<void> {
    await this.#syncing?.catch(() => {});
    const run = this.#mutate((state) => this.#rescan(state)).then(
      (warnings) => {
        this.#synced = true;
        for (const w of warnings) this.#warn(w, `${w.reason}:${String(w.details.tag ?? w.details.nullifierHash)}`);
      },
      (err: unknown) => {
        this.#restoreTree();
        throw err;
      },
    );
    return run;
  }

  #startSync(): Promise<void> {
    const run: Promise<void> = this.#mutate(async (state) => {
      try {
        return await this.#syncAndSaveTree(state);
      } catch (err) {
        // Another history of the chain (reset node, reorg) or leaves that no longer add
        // up: the state is a cache, rebuild it from the seed.
        if (isZkPayError(err, "chain_reset") || isZkPayError(err, "stale_tree")) return this.#rescan(state, err);
        throw err;
      }
    })
      .then((warnings) => {
        this.#synced = true;
        for (const w of warnings) this.#warn(w, `${w.reason}:${String(w.details.tag ?? w.details.nullifierHash)}`);
      })
      .catch((err: unknown) => {
        // Whatever went wrong, the in-memory tree must match the persisted state again.
        this.#restoreTree();
        throw err;
      })
      .finally(() => {
        if (this.#syncing === run) this.#syncing = undefined;
        for (const wake of this.#syncWaiters.splice(0)) wake();
      });
    this.#syncing = run;
    return run;
  }

  /**
   * Starts scheduled syncing (done by {@link PrivateWallet.open} unless `sync.auto` is
   * false): the first sync within `jitterMs`, then one every `intervalMs ± jitterMs`.
   * Failures are reported through `onWarning` (the first of a streak) and back off.
   */
  startAutoSync(): void {
    if (this.#autoSync) return;
    this.#autoSync = true;
    this.#schedule(randomUnit() * this.#jitter);
  }

  /** Stops scheduled syncing (a sync in progress finishes). */
  stopAutoSync(): void {
    this.#autoSync = false;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Whether scheduled syncing is on. */
  get autoSync(): boolean {
    return this.#autoSync;
  }

  /**
   * Stops scheduled syncing and waits for a sync in progress. The wallet stays usable
   * (explicit `sync()` and payments still work); call it before dropping the wallet.
   */
  async close(): Promise<void> {
    this.stopAutoSync();
    await this.#syncing?.catch(() => {});
    await this.#queuedSync?.catch(() => {});
  }

  #schedule(delayMs: number): void {
    const timer = setTimeout(() => void this.#tick(), delayMs);
    // Never keep a Node process alive for a background sync (browsers return a number).
    (timer as { unref?: () => void }).unref?.();
    this.#timer = timer;
  }

  async #tick(): Promise<void> {
    this.#timer = undefined;
    try {
      // Join a sync already running rather than queue another one.
      await (this.#syncing ?? this.sync());
      this.#failures = 0;
    } catch (err) {
      if (this.#failures++ === 0) {
        const why = err instanceof BaseError ? err.shortMessage : err instanceof Error ? err.message : String(err);
        const w = new ZkPayError(
          err instanceof ZkPayError ? err.reason : "rpc_error",
          `scheduled sync failed (retrying with back-off): ${why}`,
          err instanceof ZkPayError ? err.details : {},
          { cause: err },
        );
        this.#warn(w, `sync:${Date.now()}`);
      }
    }
    if (!this.#autoSync || this.#timer !== undefined) return;
    const backoff = Math.min(2 ** Math.max(0, this.#failures - 1), MAX_BACKOFF);
    this.#schedule((this.#interval + (2 * randomUnit() - 1) * this.#jitter) * backoff);
  }

  #warn(w: ZkPayError, key: string): void {
    if (this.#onWarning) {
      try {
        this.#onWarning(w);
      } catch {
        // A failing warning handler must not break syncing.
      }
      return;
    }
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    console.warn(`402zk wallet: ${w.reason}: ${w.message}`);
  }

  /** Resolves after the next sync ends (or after `ms`). */
  #nextSync(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(wake, ms);
      function wake() {
        clearTimeout(timer);
        resolve();
      }
      this.#syncWaiters.push(wake);
    });
  }

  /**
   * The only way state changes: one mutation at a time, on a copy of the latest state,
   * saved before it becomes current. Without the queue two concurrent deposits could
   * both read nextDepositIndex before either saved it.
   */
  #mutate<T>(fn: (state: WalletState) => T | Promise<T>): Promise<T> {
    const run = this.#lock.then(async () => {
      const state = structuredClone(this.#state);
      const out = await fn(state);
      await this.#store.save(state);
      this.#state = state;
      return out;
    });
    this.#lock = run.catch(() => {});
    return run;
  }

  // ------------------------------------------------------------------ deposit

  /**
   * Deposits `value` tokens from the wallet client's account into a new private note.
   * `method` picks approve + deposit (default), an EIP-2612 permit, or an EIP-3009
   * authorization (one transaction each). Returns the deposit transaction hash and the
   * note's leaf index. Syncs once the transaction is mined (the deposit itself is public).
   *
   * @example
   * await wallet.deposit(5_000_000n, { method: "authorization" });
   */
  async deposit(value: bigint, opts: { method?: DepositMethod } = {}): Promise<DepositResult> {
    const wc = this.#requireWalletClient();
    const v = toValue(value, "deposit value");
    if (v === 0n) throw new ZkPayError("invalid_argument", "deposit value must be positive");
    const account = wc.account!;
    // The index is saved before it is used, so one store never hands it out twice. Two
    // processes sharing a seed (or a restore while a signed deposit is still in flight)
    // can still pick the same k: the random salt keeps their notes distinct, and sync
    // reports the shared tag (duplicate_note_tag).
    const k = await this.#mutate((state) => state.nextDepositIndex++);
    const salt = randomNonce128();
    const secrets = this.#keys.depositSecrets(k, salt);
    const precommitment = precommitmentOf(secrets);
    const commitment = commitmentOf(v, secrets);
    // The salt doubles as the memo nonce: one memo per (k, salt), so its pad is never reused.
    const memo = encodeMemo({ tag: this.#keys.depositTag(k), secrets, value: v, nonce: salt });
    const method = opts.method ?? "approve";
    const write = async (
      functionName: "deposit" | "depositWithPermit" | "depositWithAuthorization",
      args: readonly unknown[],
    ) => {
      const call = { address: this.pool.facilitator, abi: facilitatorAbi, functionName, args: args as never, account };
      // A deposit commits whatever is queued ahead of it, so its gas depends on what lands
      // first (another deposit in the same block moves its leaf and its hashes): estimate
      // against `pending` and leave room for several more Poseidon hashes (~20k each).
      const gas = await this.publicClient.estimateContractGas({ ...call, blockTag: "pending" } as never);
      return wc.writeContract({ ...call, chain: wc.chain, gas: gas + gas / 2n } as never);
    };
    let hash: Hash;
    if (method === "approve") {
      const allowance = await this.publicClient.readContract({
        address: this.pool.token,
        abi: erc20Abi,
        functionName: "allowance",
        args: [account.address, this.pool.facilitator],
      });
      if (allowance < v) {
        const h = await wc.writeContract({
          address: this.pool.token,
          abi: erc20Abi,
          functionName: "approve",
          args: [this.pool.facilitator, v],
          account,
          chain: wc.chain,
        });
        await this.#waitOk(h);
      }
      hash = await write("deposit", [precommitment, v, memo]);
    } else {
      const domain = { ...(await this.#tokenDomain()), chainId: this.pool.chainId, verifyingContract: this.pool.token };
      const deadline = BigInt((await this.publicClient.getBlock({ blockTag: "latest" })).timestamp) + 3600n;
      if (method === "permit") {
        const nonce = await this.publicClient.readContract({
          address: this.pool.token,
          abi: erc20Abi,
          functionName: "nonces",
          args: [account.address],
        });
        const sig = parseSignature(
          await wc.signTypedData({
            account,
            domain,
            types: permitTypes,
            primaryType: "Permit",
            message: { owner: account.address, spender: this.pool.facilitator, value: v, nonce, deadline },
          }),
        );
        hash = await write("depositWithPermit", [precommitment, v, memo, deadline, Number(sig.v ?? 27n), sig.r, sig.s]);
      } else {
        // The nonce commits the signature to this note: whoever submits it cannot
        // deposit the tokens into a note of their own.
        const nonce = await this.publicClient.readContract({
          address: this.pool.facilitator,
          abi: facilitatorAbi,
          functionName: "depositNonce",
          args: [precommitment, memo],
        });
        const sig = parseSignature(
          await wc.signTypedData({
            account,
            domain,
            types: receiveWithAuthorizationTypes,
            primaryType: "ReceiveWithAuthorization",
            message: {
              from: account.address,
              to: this.pool.facilitator,
              value: v,
              validAfter: 0n,
              validBefore: deadline,
              nonce,
            },
          }),
        );
        hash = await write("depositWithAuthorization", [
          account.address,
          precommitment,
          v,
          memo,
          0n,
          deadline,
          Number(sig.v ?? 27n),
          sig.r,
          sig.s,
        ]);
      }
    }
    // From here on the tokens may have moved: whatever fails, say so with the hash.
    let receipt: TransactionReceipt;
    try {
      receipt = await this.publicClient.waitForTransactionReceipt({ hash });
    } catch (err) {
      throw new ZkPayError(
        "rpc_error",
        `deposit transaction ${hash} was sent but its outcome is unknown (${err instanceof BaseError ? err.shortMessage : String(err)}): check it on chain before depositing again`,
        { hash },
        { cause: err },
      );
    }
    if (receipt.status !== "success") {
      throw new ZkPayError("settlement_failed", `deposit transaction ${hash} reverted (no tokens moved)`, { hash });
    }
    const [inserted] = parseEventLogs({ abi: facilitatorAbi, eventName: "LeafInserted", logs: receipt.logs });
    const leafIndex = inserted ? Number(inserted.args.leafIndex) : -1;
    try {
      await this.sync();
    } catch (err) {
      const why = err instanceof BaseError ? err.shortMessage : err instanceof Error ? err.message : String(err);
      return {
        hash,
        leafIndex,
        synced: false,
        warning: new ZkPayError(
          isZkPayError(err) ? err.reason : "rpc_error",
          `the deposit landed (tx ${hash}, leaf ${leafIndex}) but syncing after it failed: ${why}`,
          { hash, leafIndex },
          { cause: err },
        ),
      };
    }
    const note = this.#state.notes.find((n) => n.commitment === commitment.toString());
    return { hash, leafIndex: note?.leafIndex ?? leafIndex, synced: true };
  }

  async #tokenDomain(): Promise<{ name: string; version: string }> {
    // pool.tokenDomain, else EIP-5267, else name()/version(), else @x402/evm's default assets.
    const { name, version } = await resolveTokenDomain({
      token: this.pool.token,
      chainId: this.pool.chainId,
      override: this.pool.tokenDomain,
      call: async (data) => (await this.publicClient.call({ to: this.pool.token, data })).data,
    });
    return { name, version };
  }

  // ------------------------------------------------------------------ payments

  /**
   * Selects the smallest spendable note that covers `amount + fee`, proves a payment
   * bound to `params`, and reserves the note until the payment settles or expires.
   *
   * It proves against the local tree as it is, without asking the chain first: the tree
   * is kept fresh by scheduled syncs (see {@link SyncOptions}), and the pool accepts any
   * root of its recent history. It syncs first only if this wallet instance has never
   * synced (just opened), or when `params.sync` is set (a retry after a stale root).
   *
   * When no spendable note covers the payment but the change note of a payment in
   * flight would (the usual case when paying again before the last payment's change was
   * seen), it waits for scheduled syncs to bring that change note, at most
   * `sync.waitForChangeMs` (default one sync period, ~20 s), then fails with
   * `insufficient_private_balance` if it still has none. With scheduled syncing off it
   * syncs once instead: that sync comes right before the payment, so the RPC provider
   * can tell when this payment was made.
   *
   * Nothing needs saving before proving: the change note's secrets derive from the note
   * it spends, so a crash at any point loses nothing, and the seed and the chain find the
   * change note again. Proving the same note again (a retry) derives the same change
   * secrets (only one of the proofs can settle) but a memo with a fresh nonce.
   */
  async preparePayment(params: PaymentParams): Promise<PreparedPayment> {
    const amount = toValue(params.amount, "amount");
    const fee = toValue(params.fee ?? 0n, "fee");
    params = { ...params, payTo: parseUserAddress(params.payTo, "payTo") };
    const relayer = params.relayer === undefined ? zeroAddress : parseUserAddress(params.relayer, "relayer");
    if (fee > 0n && relayer === zeroAddress) {
      throw new ZkPayError("invalid_argument", "a fee needs a relayer address");
    }
    const needed = amount + fee;
    const t0 = performance.now();
    if (params.sync) await this.sync();
    else if (!this.#synced) await (this.#syncing ?? this.sync());
    if (!this.#pick(needed) && this.#changeMayCover(needed)) {
      if (this.#autoSync) {
        // Wait for the schedule rather than sync now: a sync right before the payment
        // would time it for the RPC provider.
        const deadline = performance.now() + this.#waitForChangeMs;
        while (!this.#pick(needed) && this.#changeMayCover(needed) && this.#autoSync) {
          const left = deadline - performance.now();
          if (left <= 0) break;
          await this.#nextSync(left);
        }
      } else {
        await this.sync();
      }
    }
    // Still short, but a queued note of ours covers it: the pool has not committed it
    // yet. Commit it ourselves when we can send transactions (one block), then sync.
    if (!this.#pick(needed) && this.#queuedMayCover(needed) && this.walletClient?.account) {
      await this.commitPendingLeaves();
    }
    const syncMs = performance.now() - t0;

    // Pick and reserve in one synchronous step: a concurrent payment must not pick the
    // same note while this one is being proven.
    const note = this.#pick(needed);
    if (!note) {
      const largest = this.spendableNotes().reduce((m, n) => (BigInt(n.value) > m ? BigInt(n.value) : m), 0n);
      const pendingChange = this.#state.pending.reduce((s, p) => s + BigInt(p.changeValue), 0n);
      const units = await this.tokenUnits();
      const t = (v: bigint) => formatTokens(v, units);
      throw new ZkPayError(
        "insufficient_private_balance",
        `no single private note covers ${t(needed)}` +
          (fee > 0n ? ` (${t(amount)} + a fee of ${t(fee)})` : "") +
          ` (largest spendable note ${t(largest)}, private balance ${t(this.balance())}` +
          (pendingChange > 0n ? `, change of payments in flight not yet seen: ${t(pendingChange)}` : "") +
          "): deposit more",
        {
          needed: needed.toString(),
          largestNote: largest.toString(),
          balance: this.balance().toString(),
          pendingChange: pendingChange.toString(),
        },
      );
    }
    this.#busy.add(note.nullifierHash);
    try {
      return await this.#proveWith(note, params, amount, fee, relayer, syncMs);
    } finally {
      this.#busy.delete(note.nullifierHash);
    }
  }

  /** The smallest spendable note that covers `needed`. */
  #pick(needed: bigint): StoredNote | undefined {
    return this.spendableNotes()
      .filter((n) => BigInt(n.value) >= needed)
      .sort((a, b) => (BigInt(a.value) < BigInt(b.value) ? -1 : 1))[0];
  }

  /**
   * Whether a payment in flight would leave a change note that covers `needed`, or a
   * note of ours that covers it is queued (spendable once a batch or commit includes it).
   */
  #changeMayCover(needed: bigint): boolean {
    return this.#state.pending.some((p) => BigInt(p.changeValue) >= needed) || this.#queuedMayCover(needed);
  }

  #queuedMayCover(needed: bigint): boolean {
    return this.queuedNotes().some((n) => BigInt(n.value) >= needed);
  }

  /**
   * Commits the pool's queued leaves (this wallet's queued notes among them) from the
   * wallet client's account, waits for it, and syncs. Anyone may commit; it costs about
   * what inserting the leaves one by one used to (a few Poseidon hashes each).
   *
   * @example
   * if (wallet.queuedNotes().length > 0) await wallet.commitPendingLeaves();
   */
  async commitPendingLeaves(): Promise<Hash | undefined> {
    const wc = this.#requireWalletClient();
    const max = await leavesToCommit(this.publicClient, this.pool.facilitator);
    let hash: Hash | undefined;
    if (max > 0n) {
      try {
        hash = await wc.writeContract({
          address: this.pool.facilitator,
          abi: facilitatorAbi,
          functionName: "commitPendingLeaves",
          args: [max],
          account: wc.account!,
          chain: wc.chain,
        });
      } catch (err) {
        throw mapPayRevert(err);
      }
      await this.#waitOk(hash);
    }
    await this.sync();
    return hash;
  }

  async #proveWith(
    note: StoredNote,
    params: PaymentParams,
    amount: bigint,
    fee: bigint,
    relayer: Address,
    syncMs: number,
  ): Promise<PreparedPayment> {
    const needed = amount + fee;
    const secrets = this.#secretsOf(note);
    // The change note derives from the note it spends (see WalletKeys): no counter, so a
    // restored wallet or a second process can never give another note the same secrets.
    const change = this.#keys.changeSecrets(secrets);
    const changeValue = BigInt(note.value) - needed;
    // The agent pays again right away with its change when it has nothing else committed.
    const commitChange =
      params.commitChange ??
      (changeValue > 0n && !this.spendableNotes().some((n) => n.nullifierHash !== note.nullifierHash));
    // Fresh nonce: a retry of this note reuses the change secrets, never the memo's pad.
    const memo = encodeMemo({
      tag: this.#keys.childTag(secrets),
      secrets: change,
      value: changeValue,
      nonce: randomNonce128(),
    });
    const terms: PaymentTerms = {
      payTo: params.payTo,
      amount,
      relayer,
      fee,
      conditionHash: params.conditionHash ?? toBytes32(0n),
      expiry: params.expiry,
    };
    const context = paymentContext({ chainId: this.pool.chainId, facilitator: this.pool.facilitator, terms, memo });
    const result = await provePayment(
      {
        note: { value: BigInt(note.value), ...secrets },
        path: this.#tree.path(note.leafIndex),
        amount,
        fee,
        context,
        change,
      },
      this.artifacts,
      { onProgress: params.onProgress },
    );

    const pending: PendingSpend = {
      nullifierHash: note.nullifierHash,
      changeValue: changeValue.toString(),
      expiry: Number(params.expiry),
      createdAt: Math.floor(Date.now() / 1000),
    };
    await this.#mutate((state) => {
      state.pending = state.pending.filter((p) => p.nullifierHash !== pending.nullifierHash);
      state.pending.push(pending);
    });

    return {
      proof: {
        ...result.proof,
        root: result.root,
        treeSize: BigInt(result.treeSize),
        nullifierHash: result.nullifierHash,
        changeCommitment: result.changeCommitment,
      },
      terms,
      memo,
      receiptId: toBytes32(result.nullifierHash),
      changeValue,
      commitChange,
      timings: { ...result.timings, syncMs },
    };
  }

  /**
   * Submits a prepared payment on chain from the wallet client's account (client-settled
   * mode, or a withdrawal) and waits for it. Returns the transaction hash. Syncs once it
   * is mined, to pick up the change note: this sync follows a transaction this client
   * sent itself through the same RPC, so it tells the provider nothing new.
   *
   * With `p.commitChange` it settles through `payAndCommit`, which also commits the
   * change note, so it is spendable in the next block; otherwise `pay` (cheaper, the
   * change note queued until the next batch or commit).
   */
  async submitPayment(p: PreparedPayment): Promise<Hash> {
    const wc = this.#requireWalletClient();
    let hash: Hash;
    try {
      const common = { address: this.pool.facilitator, abi: facilitatorAbi, account: wc.account!, chain: wc.chain };
      hash = await wc.writeContract({
        ...common,
        functionName: p.commitChange ? "payAndCommit" : "pay",
        args: [p.proof, p.terms, p.memo],
      });
    } catch (err) {
      throw mapPayRevert(err);
    }
    await this.#waitOk(hash, p);
    // The change counts from now on, even if the sync below fails (a failed save only
    // delays it to the next sync).
    await this.recordSettlement(p).catch(() => {});
    await this.sync();
    return hash;
  }

  /**
   * Gives up a payment that was refused before it could settle, making its note
   * spendable again. Safe: if the refused proof were still submitted, the chain's
   * nullifier check would let only one of the two spends through.
   */
  async releasePayment(p: PreparedPayment): Promise<void> {
    await this.#mutate((state) => {
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
  async releaseUnlessUnconfirmed(p: PreparedPayment, err: unknown): Promise<void> {
    if (isZkPayError(err, "payment_unconfirmed")) return;
    await this.releasePayment(p);
  }

  /**
   * Withdraws `amount` from the private balance to a public address.
   *
   * @example
   * await wallet.withdraw({ to: "0x...", amount: 5_000_000n });
   */
  async withdraw(args: {
    to: Address;
    amount: bigint;
    onProgress?: (p: ProofProgress) => void;
    /** Submit through a relayer (`RelayClient`, its fee on top of `amount`): no gas, no address of yours on chain. */
    relay?: RelayClient;
    /**
     * The largest relayer fee accepted, base units (default: at most 0.1 token, and at
     * most `amount`; see `defaultMaxFee`). A relayer asking more is refused with
     * `fee_too_high` before proving.
     */
    maxFee?: bigint;
  }): Promise<Hash> {
    const now = BigInt((await this.publicClient.getBlock({ blockTag: "latest" })).timestamp);
    const to = parseUserAddress(args.to, "withdraw to");
    // The pool reverts a zero payee (FacilitatorZeroPayee): refuse before proving.
    if (to === zeroAddress)
      throw new ZkPayError("invalid_argument", "withdraw to the zero address: the pool refuses it");
    const relay = args.relay ? await args.relay.terms(this.pool.chainId) : undefined;
    // The relayer names its own fee: hold it to the payer's limit before proving.
    if (relay) {
      checkPaymentCost(
        { amount: args.amount, fee: relay.fee, relayer: relay.relayer },
        { maxFee: args.maxFee },
        await this.tokenUnits(),
      );
    }
    const p = await this.preparePayment({
      payTo: to,
      amount: args.amount,
      fee: relay?.fee,
      relayer: relay?.relayer,
      expiry: now + 600n,
      onProgress: args.onProgress,
    });
    let hash: Hash;
    try {
      if (!args.relay) return await this.submitPayment(p);
      hash = (await args.relay.submit(p)).transaction;
    } catch (err) {
      await this.releaseUnlessUnconfirmed(p, err);
      throw err;
    }
    // Mined by the relayer: the change is ours from now on (pending until a sync finds it).
    await this.recordSettlement(p).catch(() => {});
    return hash;
  }

  #requireWalletClient(): WalletClient {
    if (!this.walletClient?.account) {
      throw new ZkPayError("invalid_argument", "this operation needs a walletClient with an account");
    }
    return this.walletClient;
  }

  /**
   * Waits for a sent transaction. A revert is `settlement_failed` (nothing was spent); any
   * other failure of the wait (an RPC error, a timeout) is `payment_unconfirmed` with the
   * hash, and for a payment its receipt id: the transaction may still be mined.
   */
  async #waitOk(hash: Hash, p?: PreparedPayment): Promise<void> {
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

/** Re-exported from core, where the facilitator also uses it. */
export { mapPayRevert };

/** A uniform number in [0, 1) from the platform CSPRNG (sync timing jitter). */
function randomUnit(): number {
  const x = new Uint32Array(1);
  globalThis.crypto.getRandomValues(x);
  return x[0]! / 2 ** 32;
}
