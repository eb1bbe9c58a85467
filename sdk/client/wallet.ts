/**
 * `PrivateWallet`: the payer's wallet as one object. It holds a wallet core
 * (`wallet/core.ts`: options, store, state, lock, tree) and binds the actions
 * (`actions/*.ts`, one per file) as its methods, the way viem's
 * `clients/decorators/wallet.ts` binds `actions/wallet/*`. To change what a method does,
 * open its action; this file only resolves the options and forwards.
 */
import type { Address, Hash, Hex, PublicClient, WalletClient } from "viem";

import { ZkPayError } from "../core/errors.js";
import {
  escrowAbi,
  escrowInputBlindingFor,
  escrowResultPad,
  escrowStatusName,
  type EscrowStatusName,
} from "../core/escrow.js";
import { SNARK_SCALAR_FIELD } from "../core/field.js";
import type { CircuitArtifacts } from "../core/circuits/artifacts.js";
import type { HolderKey } from "../core/identity/credential.js";
import { mapPayRevert } from "../core/revert.js";
import { balances } from "./actions/balances.js";
import { commitPendingLeaves } from "./actions/commit-leaves.js";
import { deposit } from "./actions/deposit.js";
import {
  followEscrows,
  refundEscrow,
  releasedCiphertext,
  submitEscrowedPayment,
  type EscrowOutcome,
} from "./actions/escrow.js";
import { preparePayment } from "./actions/prepare-payment.js";
import { receivedPayments, type ReceivedPayment } from "./actions/receive.js";
import { close, startAutoSync, stopAutoSync } from "./actions/schedule.js";
import {
  queuedNotes,
  recordSettlement,
  releasePayment,
  releaseUnlessUnconfirmed,
  spendableNotes,
} from "./actions/select-note.js";
import { submitPayment } from "./actions/submit-payment.js";
import { resync, sync } from "./actions/sync.js";
import { tokenUnits } from "./actions/token.js";
import {
  withdraw,
  withdrawAll,
  type WithdrawOptions,
  type WithdrawParameters,
  type WithdrawResult,
} from "./actions/withdraw.js";
import type { TokenUnits } from "./cost.js";
import type { EscrowRecord, StoredNote, WalletState } from "./store.js";
import type {
  DepositMethod,
  DepositResult,
  PaymentParams,
  PoolInfo,
  PreparedPayment,
  PrivateWalletOptions,
  WalletBalances,
} from "./types.js";
import { openWalletCore, type WalletConfig, type WalletCore } from "./wallet/core.js";

// The wallet's types live in types.ts (shared with the relay client and the scheme);
// importing them from here keeps working.
export type {
  DepositMethod,
  DepositResult,
  PaymentParams,
  PoolInfo,
  PreparedPayment,
  PrivateWalletOptions,
  ShieldedPayTo,
  SyncOptions,
  WalletBalances,
} from "./types.js";
export type { WithdrawOptions, WithdrawParameters, WithdrawResult, WithdrawTransaction } from "./actions/withdraw.js";
export type { IncomingPayment, LeafLog, ReceivedPayment } from "./actions/receive.js";
export type { EscrowOutcome } from "./actions/escrow.js";
export type { EscrowRecord } from "./store.js";

/** Default look-ahead for deposit indices in a rescan (like a BIP-44 gap limit). */
const DEFAULT_DEPOSIT_GAP_LIMIT = 32;
const DEFAULT_SYNC_INTERVAL_MS = 15_000;
const DEFAULT_SYNC_JITTER_MS = 5_000;

/** The options with their defaults; `invalid_argument` for a gap limit or a schedule out of range. */
function walletConfig(opts: PrivateWalletOptions): WalletConfig {
  const depositGapLimit = opts.depositGapLimit ?? DEFAULT_DEPOSIT_GAP_LIMIT;
  if (!Number.isInteger(depositGapLimit) || depositGapLimit < 1) {
    throw new ZkPayError("invalid_argument", "depositGapLimit must be a positive integer");
  }
  const intervalMs = opts.sync?.intervalMs ?? DEFAULT_SYNC_INTERVAL_MS;
  const jitterMs = Math.min(opts.sync?.jitterMs ?? DEFAULT_SYNC_JITTER_MS, intervalMs);
  if (!(intervalMs > 0) || !(jitterMs >= 0)) {
    throw new ZkPayError("invalid_argument", "sync.intervalMs must be positive and sync.jitterMs not negative");
  }
  return {
    seed: opts.seed,
    pool: opts.pool,
    publicClient: opts.publicClient,
    walletClient: opts.walletClient,
    store: opts.store,
    artifacts: opts.artifacts,
    logChunkSize: opts.logChunkSize ?? 50_000,
    depositGapLimit,
    intervalMs,
    jitterMs,
    waitForChangeMs: opts.sync?.waitForChangeMs ?? intervalMs + jitterMs,
    onWarning: opts.onWarning,
    onSyncProgress: opts.onSyncProgress,
    x25519: opts.x25519,
  };
}

/**
 * A private 402zk wallet: notes owned by keys derived from one seed, a Merkle tree synced
 * from chain events on a schedule, client-side proving, crash-safe persistence. It pays
 * (transparently to an address, or shielded to a `zk402...` address) and receives
 * (shielded payments to its own {@link PrivateWallet.address}, found by trial decryption).
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
  readonly #core: WalletCore;

  private constructor(core: WalletCore) {
    this.#core = core;
    this.pool = core.pool;
    this.publicClient = core.publicClient;
    this.walletClient = core.walletClient;
    this.artifacts = core.artifacts;
  }

  /**
   * Loads (or creates) the wallet state, checks it belongs to this pool, chain and seed,
   * and starts scheduled syncing unless `sync.auto` is false.
   */
  static async open(opts: PrivateWalletOptions): Promise<PrivateWallet> {
    const wallet = new PrivateWallet(await openWalletCore(walletConfig(opts)));
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
    return tokenUnits(this.#core);
  }

  // ------------------------------------------------------------------ keys

  /**
   * This wallet's shielded address (`zk402...`): its owner key and encryption key. Pay
   * it with `preparePayment({ payTo: address, ... })` or name it as an API's payee; what
   * it receives is found by {@link sync} and spent like any other note.
   *
   * @example
   * const payTo = apiWallet.address(); // "zk4021..."
   */
  address(): string {
    return this.#core.keys.address();
  }

  /**
   * The viewing-key string (`zk402view...`) to hand an auditor: with `fetchIncoming` (402zk/client)
   * or `402zk audit --viewing-key` it lists the payments this wallet received (time,
   * amount, condition hash). It holds no spending key: it cannot spend, nor tell which
   * notes were spent.
   *
   * @example
   * const auditorKey = wallet.viewingKey();
   */
  viewingKey(): string {
    return this.#core.keys.viewingKeyString();
  }

  /**
   * The key identity credentials are issued to (Verify & Pay): an EdDSA-Poseidon key
   * derived from the seed. Its public key goes into a credential request
   * (`402zk identity request`); the attribute proof shows knowledge of it.
   *
   * @example
   * const holder = wallet.attributeHolderKey(); // holder.publicKey -> the issuer
   */
  attributeHolderKey(): HolderKey {
    return this.#core.keys.attributeHolderKey();
  }

  // ------------------------------------------------------------------ state

  /**
   * Holder secrets of a session credential bought with `salt` (see
   * `WalletKeys.credentialSecrets`): the seed never leaves the wallet.
   */
  credentialSecrets(salt: bigint): { nullifierSeed: bigint; blinding: bigint } {
    return this.#core.keys.credentialSecrets(salt);
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
    return balances(this.#core).total;
  }

  /**
   * The private balance split by what a payment can spend now; see {@link WalletBalances}.
   *
   * @example
   * const { spendable, pending, reserved, total } = wallet.balances();
   */
  balances(): WalletBalances {
    return balances(this.#core);
  }

  /**
   * Records that a prepared payment settled (its transaction mined, or a server's
   * settlement response said so): its change counts in the balance (as pending) at once,
   * rather than after the next sync. The client scheme, {@link submitPayment} and
   * {@link withdraw} call it; call it after `RelayClient.submit` when you use that
   * directly. Harmless if a sync already saw the payment.
   */
  recordSettlement(p: PreparedPayment): Promise<void> {
    return recordSettlement(this.#core, p);
  }

  /**
   * The payments this wallet received at its shielded address, oldest first: amount,
   * condition hash, block and time, and whether the note was spent since. As fresh as
   * the last sync.
   *
   * @example
   * const unspent = wallet.receivedPayments().filter((p) => !p.spent);
   */
  receivedPayments(): ReceivedPayment[] {
    return receivedPayments(this.#core);
  }

  /** Notes a payment can spend now: available and committed to the pool's trees. */
  spendableNotes(): StoredNote[] {
    return spendableNotes(this.#core);
  }

  /** Available notes still queued by the pool (appended, not yet in a root). */
  queuedNotes(): StoredNote[] {
    return queuedNotes(this.#core);
  }

  /** A copy of the persisted state (for inspection and tests). */
  snapshot(): WalletState {
    return structuredClone(this.#core.state);
  }

  /** Leaves committed in the local tree (notes at or above this index are queued: not spendable yet). */
  get treeSize(): number {
    return this.#core.tree.committedSize;
  }

  /** Leaves seen, committed or queued. */
  get leafCount(): number {
    return this.#core.tree.leafCount;
  }

  // ------------------------------------------------------------------ sync

  /**
   * Pulls new `LeafInserted` and receipt events since the last sync, extends the tree,
   * finds this seed's notes (its own by their memo tags, those paid to it by decrypting
   * payee memos with its viewing key), marks spent ones, settles payments in flight, and
   * saves. A call made while a sync is running gets one more
   * sync after it (shared by every caller that arrives meanwhile), so it always sees the
   * chain as of a moment after the call, e.g. a transaction the caller just mined.
   *
   * Scheduled syncing calls this on its own (see {@link SyncOptions}); call it yourself
   * when you need fresh state, knowing that the RPC provider sees when you do.
   */
  sync(): Promise<void> {
    return sync(this.#core);
  }

  /**
   * Discards the cached tree, notes and reservations and rebuilds them from the seed and
   * the chain (a full rescan from the deployment block). Sync does this by itself when it
   * sees a reset chain or a reorg below its last synced block.
   */
  resync(): Promise<void> {
    return resync(this.#core);
  }

  /**
   * Starts scheduled syncing (done by {@link PrivateWallet.open} unless `sync.auto` is
   * false): the first sync within `jitterMs`, then one every `intervalMs ± jitterMs`.
   * Failures are reported through `onWarning` (the first of a streak) and back off.
   */
  startAutoSync(): void {
    startAutoSync(this.#core);
  }

  /** Stops scheduled syncing (a sync in progress finishes). */
  stopAutoSync(): void {
    stopAutoSync(this.#core);
  }

  /** Whether scheduled syncing is on. */
  get autoSync(): boolean {
    return this.#core.schedule.on;
  }

  /**
   * Stops scheduled syncing and waits for a sync in progress. The wallet stays usable
   * (explicit `sync()` and payments still work); call it before dropping the wallet.
   */
  close(): Promise<void> {
    return close(this.#core);
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
  deposit(value: bigint, opts: { method?: DepositMethod } = {}): Promise<DepositResult> {
    return deposit(this.#core, { value, method: opts.method });
  }

  // ------------------------------------------------------------------ payments

  /**
   * Selects the smallest spendable note that covers `amount + fee`, proves a payment
   * bound to `params`, and reserves the note until the payment settles or expires.
   *
   * `payTo` an address: a transparent payment (`amount` to it, in public). `payTo` a
   * shielded address (`zk402...`): a shielded payment: the payee gets a note of `amount`
   * owned by its key, its opening encrypted to it in `payeeMemo`; the terms name neither
   * payee nor amount (`payTo` 0, `amount` 0). A payment spends exactly one note (the
   * circuit has one input): above the largest note it fails with
   * `insufficient_private_balance` naming the largest note and the balance.
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
   * Nothing needs saving before proving: the change note's blinding derives from the note
   * it spends, so a crash at any point loses nothing, and the seed and the chain find the
   * change note again. Proving the same note again (a retry) derives the same change
   * blinding (only one of the proofs can settle) but a memo with a fresh nonce.
   */
  preparePayment(params: PaymentParams): Promise<PreparedPayment> {
    return preparePayment(this.#core, params);
  }

  /**
   * Commits the pool's queued leaves (this wallet's queued notes among them) from the
   * wallet client's account, waits for it, and syncs. Anyone may commit; it costs about
   * what inserting the leaves one by one used to (a few Poseidon hashes each).
   *
   * @example
   * if (wallet.queuedNotes().length > 0) await wallet.commitPendingLeaves();
   */
  commitPendingLeaves(): Promise<Hash | undefined> {
    return commitPendingLeaves(this.#core);
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
  submitPayment(p: PreparedPayment): Promise<Hash> {
    return submitPayment(this.#core, p);
  }

  /**
   * Settles an escrowed payment (prepared with `escrow`) from the wallet client's account:
   * `payEscrowed`. The amount is held in the pool until the payee proves the service, or
   * comes back to this wallet (see {@link followEscrows}) after the deadline.
   */
  submitEscrowedPayment(p: PreparedPayment): Promise<Hash> {
    return submitEscrowedPayment(this.#core, p);
  }

  /** Escrowed payments this wallet made, with their last known state. */
  escrows(): readonly EscrowRecord[] {
    return this.#core.state.escrows ?? [];
  }

  /**
   * Reads every open escrow's state and refunds, into this wallet's own note, each one
   * still held after its deadline (needs a wallet client). The wallet refunds by itself
   * what a payee never released; call it after deadlines, or periodically.
   */
  followEscrows(): Promise<EscrowOutcome[]> {
    return followEscrows(this.#core);
  }

  /**
   * True when the pool accepts `verifier` in escrow statements (registered by its
   * operator). False on a pool without escrow (the plain Facilitator).
   */
  async isServiceVerifier(verifier: Address): Promise<boolean> {
    try {
      return await this.#core.publicClient.readContract({
        address: this.#core.pool.facilitator,
        abi: escrowAbi,
        functionName: "isServiceVerifier",
        args: [verifier],
      });
    } catch {
      return false;
    }
  }

  /** The state of escrow `id` on chain now. */
  async escrowStatus(id: Hex): Promise<EscrowStatusName> {
    const n = await this.#core.publicClient.readContract({
      address: this.#core.pool.facilitator,
      abi: escrowAbi,
      functionName: "escrowStatus",
      args: [id],
    });
    return escrowStatusName(Number(n));
  }

  /** Refunds one escrow after its deadline (`refund_too_early` before it). */
  refundEscrow(id: Hex): Promise<Hash> {
    const r = (this.#core.state.escrows ?? []).find((e) => e.id === id);
    if (!r) throw new ZkPayError("escrow_not_found", `this wallet made no escrowed payment ${id}`);
    return refundEscrow(this.#core, r);
  }

  /**
   * The released result of escrow `id`, decrypted from the chain with this wallet's input
   * blinding, as the pad-decrypted field element (unpack it with the service's codec, e.g.
   * `unpackResult`); undefined while not released.
   */
  async releasedResult(id: Hex): Promise<{ packed: bigint; ciphertext: bigint; tx: Hash } | undefined> {
    const r = (this.#core.state.escrows ?? []).find((e) => e.id === id);
    if (!r) throw new ZkPayError("escrow_not_found", `this wallet made no escrowed payment ${id}`);
    const found = await releasedCiphertext(this.#core, id);
    if (!found) return undefined;
    const blinding = escrowInputBlindingFor(
      this.#core.keys.escrowInputBlinding(BigInt(r.parent)),
      r.payTo as Address,
      BigInt(r.statement.modelCommitment),
    );
    // Every service circuit encrypts its result the same way (IServiceVerifier): the packed
    // result plus the pad Poseidon2(inputBlinding, escrowId), mod p.
    const packed =
      (found.resultCiphertext - escrowResultPad(blinding, BigInt(id)) + SNARK_SCALAR_FIELD) % SNARK_SCALAR_FIELD;
    return { packed, ciphertext: found.resultCiphertext, tx: found.tx };
  }

  /**
   * Gives up a payment that was refused before it could settle, making its note
   * spendable again. Safe: if the refused proof were still submitted, the chain's
   * nullifier check would let only one of the two spends through.
   */
  releasePayment(p: PreparedPayment): Promise<void> {
    return releasePayment(this.#core, p);
  }

  /**
   * After a failed submission: gives the note back only when the payment certainly did not
   * settle. A `payment_unconfirmed` failure (the transaction or relay request left, its
   * outcome is unknown) keeps the note reserved until the payment's expiry, when a sync
   * frees it if the chain never spent it: releasing it earlier would let the wallet pick
   * it again and report a paid request as failed.
   */
  releaseUnlessUnconfirmed(p: PreparedPayment, err: unknown): Promise<void> {
    return releaseUnlessUnconfirmed(this.#core, p, err);
  }

  /**
   * Withdraws `amount` (any amount up to the private balance) to a public address. One
   * transaction when one note covers it; otherwise a chain, one note per transaction,
   * largest first, each reported through `onTransaction` as it is mined (a crash between
   * two loses nothing: the rest stays in the wallet). Returns every transaction.
   *
   * @example
   * const { transactions } = await wallet.withdraw({ to: "0x...", amount: 2_500_000n });
   */
  withdraw(args: WithdrawParameters): Promise<WithdrawResult> {
    return withdraw(this.#core, args);
  }

  /**
   * Withdraws everything the committed notes hold to a public address, one transaction
   * per note (less the relayer's fee on each when relayed). Notes still queued are
   * committed first when the wallet can send transactions.
   *
   * @example
   * await wallet.withdrawAll({ to: "0x..." });
   * wallet.balance(); // 0n
   */
  withdrawAll(args: WithdrawOptions): Promise<WithdrawResult> {
    return withdrawAll(this.#core, args);
  }
}

/** Re-exported from core, where the facilitator also uses it. */
export { mapPayRevert };
