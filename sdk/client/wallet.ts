import {
  BaseError,
  ContractFunctionRevertedError,
  parseSignature,
  zeroAddress,
  type Address,
  type Hash,
  type Hex,
  type PublicClient,
  type WalletClient,
} from "viem";

import { erc20Abi, facilitatorAbi } from "../core/abi.js";
import { permitTypes, receiveWithAuthorizationTypes } from "../core/eip712.js";
import { paymentContext, type PaymentTerms } from "../core/context.js";
import { ZkPayError } from "../core/errors.js";
import { toBytes32, toValue } from "../core/field.js";
import { WalletKeys, memoTagOf } from "../core/keys.js";
import { commitmentOf, nullifierHashOf, precommitmentOf } from "../core/note.js";
import { provePayment, type CircuitArtifacts, type ProofProgress, type SolidityProof } from "../core/prover.js";
import { NoteTree } from "../core/tree.js";
import type { NoteStore, PendingSpend, StoredNote, WalletState } from "./store.js";

/** How many unused derivation indices a rescan looks ahead (like a BIP-44 gap limit). */
const GAP_LIMIT = 32;

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
}

/** How {@link PrivateWallet.deposit} moves the tokens. */
export type DepositMethod =
  /** `approve` (if the allowance is short) then `deposit`: two transactions. */
  | "approve"
  /** EIP-2612 permit signed off-chain, then `depositWithPermit`: one transaction. */
  | "permit"
  /** EIP-3009 `ReceiveWithAuthorization` signed off-chain, then `depositWithAuthorization`: one transaction, which anyone may submit. */
  | "authorization";

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
  timings: { witnessMs: number; proveMs: number; syncMs: number };
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
  onProgress?: (p: ProofProgress) => void;
}

/**
 * A private 402zk wallet: notes derived from one seed, a Merkle tree synced from chain
 * events, client-side proving, crash-safe persistence.
 *
 * @example
 * const wallet = await PrivateWallet.open({ seed, pool, publicClient, walletClient, store, artifacts });
 * await wallet.deposit(10_000_000n);            // 10 USDC into a private note
 * const p = await wallet.preparePayment({ payTo, amount: 10_000n, expiry });
 * await wallet.submitPayment(p);                 // or send p to an x402 server
 */
export class PrivateWallet {
  readonly pool: PoolInfo;
  readonly publicClient: PublicClient;
  readonly walletClient: WalletClient | undefined;
  readonly artifacts: CircuitArtifacts;
  readonly #keys: WalletKeys;
  readonly #store: NoteStore;
  readonly #chunk: number;
  #state: WalletState;
  #tree: NoteTree;
  #syncing: Promise<void> | undefined;
  #lock: Promise<unknown> = Promise.resolve();
  /** Notes being proven right now (not yet persisted as pending). */
  readonly #busy = new Set<number>();

  private constructor(opts: PrivateWalletOptions, state: WalletState) {
    this.pool = opts.pool;
    this.publicClient = opts.publicClient;
    this.walletClient = opts.walletClient;
    this.artifacts = opts.artifacts;
    this.#keys = WalletKeys.fromSeed(opts.seed);
    this.#store = opts.store;
    this.#chunk = opts.logChunkSize ?? 50_000;
    this.#state = state;
    this.#tree = NoteTree.from(state.leaves.map(BigInt));
  }

  /** Loads (or creates) the wallet state and checks it belongs to this pool and chain. */
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
      version: 1,
      chainId: opts.pool.chainId,
      facilitator: opts.pool.facilitator,
      syncedBlock: opts.pool.deploymentBlock - 1,
      leaves: [],
      nextNoteIndex: 0,
      notes: [],
      pending: [],
    };
    return new PrivateWallet(opts, state);
  }

  // ------------------------------------------------------------------ state

  /** Spendable private balance: unspent notes not reserved by a payment in flight. */
  balance(): bigint {
    return this.spendableNotes().reduce((s, n) => s + BigInt(n.value), 0n);
  }

  /** Unspent notes not reserved by a payment in flight. */
  spendableNotes(): StoredNote[] {
    const reserved = new Set(this.#state.pending.map((p) => p.noteK));
    return this.#state.notes.filter(
      (n) => !n.spent && !reserved.has(n.k) && !this.#busy.has(n.k) && BigInt(n.value) > 0n,
    );
  }

  /** A copy of the persisted state (for inspection and tests). */
  snapshot(): WalletState {
    return structuredClone(this.#state);
  }

  /** Number of leaves in the local tree. */
  get treeSize(): number {
    return this.#tree.size;
  }

  // ------------------------------------------------------------------ sync

  /**
   * Pulls new `LeafInserted` and `PaymentReceipt` events since the last sync, extends
   * the tree, finds this seed's notes by their memo tags, marks spent ones, settles
   * payments in flight, and saves. Concurrent calls share one sync.
   */
  sync(): Promise<void> {
    this.#syncing ??= this.#sync()
      .catch((err: unknown) => {
        // Whatever went wrong, the in-memory tree must match the persisted leaves again.
        this.#tree = NoteTree.from(this.#state.leaves.map(BigInt));
        throw err;
      })
      .finally(() => {
        this.#syncing = undefined;
      });
    return this.#syncing;
  }

  #sync(): Promise<void> {
    return this.#mutate((state) => this.#syncInto(state));
  }

  async #syncInto(state: WalletState): Promise<void> {
    const latest = Number(await this.publicClient.getBlockNumber({ cacheTime: 0 }));
    const tags = this.#tagIndex(state.nextNoteIndex + GAP_LIMIT);
    const owned = new Map(state.notes.map((n) => [n.nullifierHash, n]));
    const pendingByNullifier = new Map(state.pending.map((p) => [p.nullifierHash, p]));
    const spentIds = new Set<string>();

    for (let from = state.syncedBlock + 1; from <= latest; from += this.#chunk) {
      const to = Math.min(latest, from + this.#chunk - 1);
      const [inserted, receipts] = await Promise.all([
        this.publicClient.getContractEvents({
          address: this.pool.facilitator,
          abi: facilitatorAbi,
          eventName: "LeafInserted",
          fromBlock: BigInt(from),
          toBlock: BigInt(to),
          strict: true,
        }),
        this.publicClient.getContractEvents({
          address: this.pool.facilitator,
          abi: facilitatorAbi,
          eventName: "PaymentReceipt",
          fromBlock: BigInt(from),
          toBlock: BigInt(to),
          strict: true,
        }),
      ]);
      inserted.sort((a, b) => Number(a.args.leafIndex - b.args.leafIndex));
      for (const ev of inserted) {
        const index = Number(ev.args.leafIndex);
        if (index < state.leaves.length) continue; // already have it (overlapping range)
        if (index !== state.leaves.length) {
          throw new ZkPayError("stale_tree", `missing leaves: expected index ${state.leaves.length}, got ${index}`);
        }
        state.leaves.push(ev.args.commitment.toString());
        this.#tree.insert(ev.args.commitment);
        const tag = memoTagOf(ev.args.memo);
        const k = tag === undefined ? undefined : tags.get(tag);
        if (k === undefined) continue;
        const value = this.#keys.decodeMemoValue(k, ev.args.memo);
        const secrets = this.#keys.noteSecrets(k);
        // The memo is only a hint: the note is ours only if the commitment opens.
        if (commitmentOf(value, secrets) !== ev.args.commitment) continue;
        const nh = nullifierHashOf(secrets).toString();
        if (!owned.has(nh)) {
          const note: StoredNote = {
            k,
            value: value.toString(),
            leafIndex: index,
            commitment: ev.args.commitment.toString(),
            nullifierHash: nh,
            spent: false,
          };
          state.notes.push(note);
          owned.set(nh, note);
        }
        if (k >= state.nextNoteIndex) {
          state.nextNoteIndex = k + 1;
          for (const [t, kk] of this.#tagIndex(state.nextNoteIndex + GAP_LIMIT)) tags.set(t, kk);
        }
      }
      for (const ev of receipts) spentIds.add(BigInt(ev.args.id).toString());
      state.syncedBlock = to;
    }

    for (const id of spentIds) {
      const note = owned.get(id);
      if (note) note.spent = true;
      pendingByNullifier.delete(id);
    }
    // A payment in flight whose nullifier was not spent by its expiry never will be.
    const now = Number((await this.publicClient.getBlock({ blockTag: "latest" })).timestamp);
    state.pending = [...pendingByNullifier.values()].filter((p) => p.expiry >= now);

    // The local root must be the pool's root, or proofs would be refused on chain.
    const onchainRoot = await this.publicClient.readContract({
      address: this.pool.facilitator,
      abi: facilitatorAbi,
      functionName: "currentRoot",
      blockNumber: BigInt(latest),
    });
    if (onchainRoot !== this.#tree.root) {
      throw new ZkPayError("stale_tree", "local tree root differs from the pool's root (missed events or a reorg)", {
        local: this.#tree.root.toString(),
        onchain: onchainRoot.toString(),
      });
    }
  }

  #tagIndex(upTo: number): Map<bigint, number> {
    const m = new Map<bigint, number>();
    for (let k = 0; k < upTo; k++) m.set(this.#keys.memoTag(k), k);
    return m;
  }

  /**
   * The only way state changes: one mutation at a time, on a copy of the latest state,
   * saved before it becomes current. Without the queue two concurrent payments could
   * both read nextNoteIndex before either saved it and derive the same change note.
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

  /** Reserves the next derivation index and persists it before anything uses it. */
  #reserveIndex(): Promise<number> {
    return this.#mutate((state) => state.nextNoteIndex++);
  }

  // ------------------------------------------------------------------ deposit

  /**
   * Deposits `value` tokens from the wallet client's account into a new private note.
   * `method` picks approve + deposit (default), an EIP-2612 permit, or an EIP-3009
   * authorization (one transaction each). Returns the deposit transaction hash.
   *
   * @example
   * await wallet.deposit(5_000_000n, { method: "authorization" });
   */
  async deposit(value: bigint, opts: { method?: DepositMethod } = {}): Promise<{ hash: Hash; leafIndex: number }> {
    const wc = this.#requireWalletClient();
    const v = toValue(value, "deposit value");
    if (v === 0n) throw new ZkPayError("invalid_argument", "deposit value must be positive");
    const account = wc.account!;
    const k = await this.#reserveIndex();
    const precommitment = precommitmentOf(this.#keys.noteSecrets(k));
    const memo = this.#keys.encodeMemo(k, v);
    const method = opts.method ?? "approve";
    const write = (
      functionName: "deposit" | "depositWithPermit" | "depositWithAuthorization",
      args: readonly unknown[],
    ) =>
      wc.writeContract({
        address: this.pool.facilitator,
        abi: facilitatorAbi,
        functionName,
        args: args as never,
        account,
        chain: wc.chain,
      });
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
    await this.#waitOk(hash);
    await this.sync();
    const note = this.#state.notes.find((n) => n.k === k);
    if (!note) throw new ZkPayError("stale_tree", "deposit confirmed but its note was not found while syncing");
    return { hash, leafIndex: note.leafIndex };
  }

  async #tokenDomain(): Promise<{ name: string; version: string }> {
    if (this.pool.tokenDomain) return this.pool.tokenDomain;
    try {
      const [, name, version] = await this.publicClient.readContract({
        address: this.pool.token,
        abi: erc20Abi,
        functionName: "eip712Domain",
      });
      return { name, version };
    } catch (err) {
      throw new ZkPayError(
        "invalid_argument",
        "the token does not expose eip712Domain(); pass pool.tokenDomain to sign deposits",
        {},
        { cause: err },
      );
    }
  }

  // ------------------------------------------------------------------ payments

  /**
   * Syncs, selects a note, proves a payment bound to `params`, and reserves the note
   * until the payment settles or expires. The change note's derivation index is saved
   * before proving, so a crash at any later point loses nothing: the change note is
   * found again from the seed and the chain.
   */
  async preparePayment(params: PaymentParams): Promise<PreparedPayment> {
    const amount = toValue(params.amount, "amount");
    const fee = toValue(params.fee ?? 0n, "fee");
    const relayer = params.relayer ?? zeroAddress;
    if (fee > 0n && relayer === zeroAddress) {
      throw new ZkPayError("invalid_argument", "a fee needs a relayer address");
    }
    const t0 = performance.now();
    await this.sync();
    const syncMs = performance.now() - t0;

    const needed = amount + fee;
    const candidates = this.spendableNotes()
      .filter((n) => BigInt(n.value) >= needed)
      .sort((a, b) => (BigInt(a.value) < BigInt(b.value) ? -1 : 1));
    const note = candidates[0];
    if (!note) {
      const largest = this.spendableNotes().reduce((m, n) => (BigInt(n.value) > m ? BigInt(n.value) : m), 0n);
      throw new ZkPayError(
        "insufficient_private_balance",
        `no single private note covers ${needed} (largest spendable note: ${largest}, balance: ${this.balance()})`,
        { needed: needed.toString(), largestNote: largest.toString(), balance: this.balance().toString() },
      );
    }

    // Concurrent payments must not pick the same note while this one is being proven.
    this.#busy.add(note.k);
    try {
      return await this.#proveWith(note, params, amount, fee, relayer, syncMs);
    } finally {
      this.#busy.delete(note.k);
    }
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
    const changeK = await this.#reserveIndex();
    const change = this.#keys.noteSecrets(changeK);
    const changeValue = BigInt(note.value) - needed;
    const memo = this.#keys.encodeMemo(changeK, changeValue);
    const terms: PaymentTerms = {
      payTo: params.payTo,
      amount,
      relayer,
      fee,
      conditionHash: params.conditionHash ?? toBytes32(0n),
      expiry: params.expiry,
    };
    const context = paymentContext({ chainId: this.pool.chainId, facilitator: this.pool.facilitator, terms, memo });
    const secrets = this.#keys.noteSecrets(note.k);
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
      noteK: note.k,
      changeK,
      changeValue: changeValue.toString(),
      nullifierHash: result.nullifierHash.toString(),
      expiry: Number(params.expiry),
      createdAt: Math.floor(Date.now() / 1000),
    };
    await this.#mutate((state) => {
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
      timings: { ...result.timings, syncMs },
    };
  }

  /**
   * Submits a prepared payment on chain from the wallet client's account (client-settled
   * mode, or a withdrawal) and waits for it. Returns the transaction hash.
   */
  async submitPayment(p: PreparedPayment): Promise<Hash> {
    const wc = this.#requireWalletClient();
    let hash: Hash;
    try {
      hash = await wc.writeContract({
        address: this.pool.facilitator,
        abi: facilitatorAbi,
        functionName: "pay",
        args: [p.proof, p.terms, p.memo],
        account: wc.account!,
        chain: wc.chain,
      });
    } catch (err) {
      throw mapPayRevert(err);
    }
    await this.#waitOk(hash);
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
   * Withdraws `amount` from the private balance to a public address.
   *
   * @example
   * await wallet.withdraw({ to: "0x...", amount: 5_000_000n });
   */
  async withdraw(args: { to: Address; amount: bigint; onProgress?: (p: ProofProgress) => void }): Promise<Hash> {
    const now = BigInt((await this.publicClient.getBlock({ blockTag: "latest" })).timestamp);
    const p = await this.preparePayment({
      payTo: args.to,
      amount: args.amount,
      expiry: now + 600n,
      onProgress: args.onProgress,
    });
    try {
      return await this.submitPayment(p);
    } catch (err) {
      await this.releasePayment(p);
      throw err;
    }
  }

  #requireWalletClient(): WalletClient {
    if (!this.walletClient?.account) {
      throw new ZkPayError("invalid_argument", "this operation needs a walletClient with an account");
    }
    return this.walletClient;
  }

  async #waitOk(hash: Hash): Promise<void> {
    const rc = await this.publicClient.waitForTransactionReceipt({ hash });
    if (rc.status !== "success") {
      throw new ZkPayError("settlement_failed", `transaction ${hash} reverted`, { hash });
    }
  }
}

/** Maps a reverted `pay` to a typed error. @example throw mapPayRevert(err) */
export function mapPayRevert(err: unknown): ZkPayError {
  if (err instanceof BaseError) {
    const revert = err.walk((e) => e instanceof ContractFunctionRevertedError);
    if (revert instanceof ContractFunctionRevertedError) {
      const name = revert.data?.errorName;
      const args = (revert.data?.args ?? []).map(String);
      const details = { error: name, args };
      switch (name) {
        case "FacilitatorNullifierSpent":
          return new ZkPayError("nullifier_spent", "this note was already spent", details, { cause: err });
        case "FacilitatorUnknownRoot":
          return new ZkPayError("stale_tree", "the proof's root is unknown or too old: sync and prove again", details, {
            cause: err,
          });
        case "FacilitatorInvalidProof":
          return new ZkPayError("invalid_proof", "the proof does not verify for these terms", details, { cause: err });
        default:
          return new ZkPayError("settlement_failed", `pay reverted: ${name ?? revert.shortMessage}`, details, {
            cause: err,
          });
      }
    }
    return new ZkPayError("rpc_error", err.shortMessage, {}, { cause: err });
  }
  return new ZkPayError("settlement_failed", String(err), {}, { cause: err });
}
