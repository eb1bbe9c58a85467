/**
 * The wallet's public types: what {@link PrivateWallet} takes and returns. Kept apart from
 * the class so that the actions, the relay client and the client scheme share them
 * without importing the wallet (no import circles).
 */
import type { Address, Hash, Hex, PublicClient, WalletClient } from "viem";

import type { PaymentTerms } from "../core/context.js";
import type { EscrowStatement } from "../core/escrow.js";
import type { ZkPayError } from "../core/errors.js";
import type { CircuitArtifacts } from "../core/circuits/artifacts.js";
import type { AttributeCredential, HolderKey } from "../core/identity/credential.js";
import type { ZkAttributeInfo } from "../core/identity/extension.js";
import type { TrustedIssuer } from "../core/identity/issuers.js";
import type { RevocationTree } from "../core/identity/revocation.js";
import type { ProofProgress } from "../core/prover.js";
import type { SolidityProof } from "../core/circuits/proof.js";
import type { X25519Fn } from "../core/note-encryption.js";
import type { NoteOpening } from "../core/note.js";
import type { ShieldedAddress } from "../core/shielded-address.js";
import type { NoteStore } from "./store.js";
import type { SyncProgress } from "./sync.js";

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
  /**
   * The X25519 function that trial-decrypts payee memos while syncing (finding payments
   * made to this wallet's shielded address). Default: @noble/curves (browser-safe, ~1 ms
   * per memo); on Node pass `nodeX25519` from 402zk/node (OpenSSL, ~50 us per memo).
   */
  x25519?: X25519Fn;
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
    /** The payee note's commitment (a worthless note's for a transparent payment; the pool ignores it). */
    payeeCommitment: bigint;
    changeCommitment: bigint;
  };
  /** For a shielded payment `payTo` is the zero address and `amount` 0: the payee and the price are in the payee note. */
  terms: PaymentTerms;
  /** The change note's memo (64 bytes: this wallet finds its change by it). */
  memo: Hex;
  /**
   * The payee note's opening encrypted to the payee (187 bytes, `encryptNote`) for a
   * shielded payment; "0x" for a transparent one. The proof's context binds it.
   */
  payeeMemo: Hex;
  /**
   * Set for an escrowed payment: the statement its proof binds (settle it with
   * `payEscrowed`), the refund note's memo, and the blinding of the payer's input (the
   * service needs it to prove, and the payer to decrypt the released result).
   */
  escrow?: { statement: EscrowStatement; refundMemo: Hex; inputBlinding: bigint };
  /**
   * The payee note's opening: value = the price, owner = the payee's owner key, a fresh
   * random blinding (shielded); all zero for a transparent payment. The payee reads the
   * same opening from `payeeMemo`.
   */
  payee: NoteOpening;
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
  /** What `PaymentParams.attribute` returned: the attribute proof bound to this payment. */
  attribute?: unknown;
  /** syncMs: time spent syncing or waiting for a sync inside preparePayment (usually 0). */
  timings: { witnessMs: number; proveMs: number; syncMs: number };
}

/**
 * A shielded payee: its shielded address string (`zk402...`, printed by `402zk address`,
 * see `encodeShieldedAddress`) or the keys it holds.
 */
export type ShieldedPayTo = `zk402${string}` | ShieldedAddress;

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
  /**
   * The part of `total` in notes paid to this wallet by others (shielded payments it
   * received and has not spent): an API's revenue not yet withdrawn. Informational.
   */
  received: bigint;
}

/** Parameters of {@link PrivateWallet.preparePayment}. */
/**
 * Makes a payment escrowed (proof before pay): the pool holds `amount` until the payee
 * proves, with the registered `verifier`, that it ran the model `modelCommitment` on the
 * payer's input, or refunds it to this wallet after `deadline`.
 */
export interface EscrowParams {
  /** Registered service verifier (the deployment's `InferenceVerifier`). */
  verifier: Address;
  /** The model the API published (its commitment). */
  modelCommitment: bigint;
  /** Last unix second at which the payee may release; after it the wallet refunds. Must be after `expiry`. */
  deadline: bigint;
  /**
   * The input's hash under `inputBlinding`, the blinding the wallet derives for this
   * payment from its seed (e.g. `(b) => inferenceInputHash(pixels, b)`).
   */
  inputHash(inputBlinding: bigint): bigint;
}

/** What a payment pays, to whom, until when, and (optionally) under which escrow. */
export interface PaymentParams {
  /**
   * Who is paid. A public address: a transparent payment (`zk-exact`), `amount` goes to
   * `payTo` in public. A shielded payee (its `zk402...` address, or its keys): a shielded
   * payment (`zk-shielded`), the pool appends a note of `amount` owned by the payee and
   * encrypted to it, and nothing public names the payee or the amount.
   */
  payTo: Address | ShieldedPayTo;
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
  /** Hold the payment in escrow until the payee proves the service (transparent payees only). */
  escrow?: EscrowParams;
  /**
   * Verify & Pay: prove the route's attribute rule for this very payment, once the note it
   * spends is chosen and its payment proof made (before anything leaves the wallet): the
   * requirement and the credential chosen for it (`chooseAttributeCredential`). The wallet
   * proves with its own spending key, which never leaves it. The payment's
   * `PreparedPayment.attribute` is the extension's info; a failure aborts the payment with
   * nothing spent or reserved.
   */
  attribute?: AttributeProofRequest;
}

/** What {@link PaymentParams.attribute} asks the wallet to prove. */
export interface AttributeProofRequest {
  /** The 402's requirement. */
  info: ZkAttributeInfo;
  /** The credential, the trusted issuers and its issuer's revocation tree. */
  chosen: { credential: AttributeCredential; issuers: TrustedIssuer[]; revocation: RevocationTree };
  /** The holder key the credential was issued to. */
  holder: HolderKey;
  /** The attribute circuit's artifacts. */
  artifacts: CircuitArtifacts;
  onProgress?: (p: ProofProgress) => void;
}

/** The note a payment spends, as an attribute proof binds it (see `PaymentParams.attribute`). */
export interface SpentNote {
  spendingKey: bigint;
  value: bigint;
  blinding: bigint;
  treeIndex: bigint;
  leafIndex: bigint;
  nullifierHash: bigint;
}
