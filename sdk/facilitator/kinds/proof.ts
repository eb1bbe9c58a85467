import type { Network, SettleResponse } from "@x402/core/types";
import type { Address, Hash, Hex, PublicClient } from "viem";

import { facilitatorAbi } from "../../core/abi.js";
import { paymentContext, type PaymentTerms } from "../../core/context.js";
import { ZkPayError } from "../../core/errors.js";
import { isFieldElement, toBytes32 } from "../../core/field.js";
import { verifyPaymentProof } from "../../core/circuits/payment.js";
import { type SolidityProof } from "../../core/circuits/proof.js";
import type { ReceiptChecker } from "../../core/receipts.js";
import { mapPayRevert } from "../../core/revert.js";
import type { FairQueue } from "../../core/work-queue.js";
import { payeeMemoOf, proofFromWire, type ProofStruct } from "../../core/wire.js";
import type { SettlementBatcher, SettlementOutcome } from "../batcher.js";
import { settleFailed, skippedError } from "../errors.js";
import type { Admitted, PayloadOf, PaymentKind, Verified } from "./types.js";

/** How long "this root is known" may be believed without asking again, ms. */
const KNOWN_ROOT_CACHE_MS = 10_000;
const MAX_CHAIN_CACHE = 10_000;

/** What {@link ProofPayments} verifies and submits with (the scheme's options and parts). */
export interface ProofKindOptions {
  network: Network;
  pool: { chainId: number; facilitator: Address };
  publicClient: PublicClient;
  receipts: ReceiptChecker;
  vkey: unknown;
  /** The bounded queue every Groth16 verification goes through. */
  verifier: FairQueue;
  /** How a Groth16 proof is checked. Default: snarkjs on this thread (`verifyPaymentProof`). */
  verifyProof?: (vkey: unknown, proof: SolidityProof, publicSignals: readonly bigint[]) => Promise<boolean>;
  /** The client being served and its priority (for the fair queue). */
  clientOf?: () => { key: string; priority: number } | undefined;
  /** Check root and nullifier on chain before verifying a proof. Default true. */
  checkChainState?: boolean;
  /** Submits `pay` / `payBatch`; absent when this facilitator does not submit. */
  batcher?: SettlementBatcher;
}

/** Replay-store key of a note being settled (one payment per note at a time). */
export function nullifierKey(proof: ProofStruct): string {
  return `nullifier:${proof.nullifierHash}`;
}

/**
 * Server-settled payments: the payer sends a Groth16 proof and the relayer submits it.
 * Verifying checks the public signals, the pool's root and nullifier (cached) and then
 * the proof through the fair queue; settling goes through the batcher (simulated against
 * `pending`, then `pay` alone or `payBatch`) and, whenever the outcome is unclear, asks
 * the chain whether the payment was made before giving up its claims.
 */
export class ProofPayments implements PaymentKind<"server"> {
  readonly #o: ProofKindOptions;
  /** `${root}:${treeSize}` -> until (ms) the pool was seen to know it. */
  readonly #knownRoots = new Map<string, number>();
  /** Nullifier hashes seen spent (final: a spent note stays spent). */
  readonly #spent = new Set<bigint>();
  /** The pool's `treeLevels()` (immutable on chain), read once. */
  #treeLevels: Promise<bigint> | undefined;

  constructor(o: ProofKindOptions) {
    this.#o = o;
  }

  async verify(a: Admitted<PayloadOf<"server">>): Promise<Verified<PayloadOf<"server">>> {
    const proof = await this.verifySubmission(a.payload, a.terms);
    return { ...a, proof };
  }

  /** Field checks, root and nullifier on chain, then the Groth16 check through the fair queue. Throws `ZkPayError`. */
  async verifySubmission(p: PayloadOf<"server">, terms: PaymentTerms): Promise<ProofStruct> {
    const proof = proofFromWire(p.proof);
    const outputs = [proof.nullifierHash, proof.payeeCommitment, proof.changeCommitment];
    if (![...outputs, proof.root].every(isFieldElement))
      throw new ZkPayError("invalid_payload", "a public signal is not a field element");
    // The contract computes `(treeSize - 1) >> treeLevels`: a root of no leaf proves nothing.
    if (proof.treeSize === 0n) throw new ZkPayError("invalid_payload", "proof.treeSize: the tree is empty");
    await this.#checkChainState(proof);
    const treeIndex = (proof.treeSize - 1n) >> (await this.#levels());
    const context = paymentContext({
      chainId: this.#o.pool.chainId,
      facilitator: this.#o.pool.facilitator,
      terms,
      memo: p.memo as Hex,
      // A shielded payment's note ciphertext is bound too: nobody can swap it.
      payeeMemo: payeeMemoOf(p),
    });
    const client = this.#o.clientOf?.() ?? { key: "anonymous", priority: 0 };
    // payment v2's public signals, in circuit order (PaymentSignals.layout on chain):
    // [nullifierHash, payeeCommitment, changeCommitment, root, treeIndex, amount + fee, context].
    const signals = [...outputs, proof.root, treeIndex, terms.amount + terms.fee, context];
    const ok = await this.#o.verifier.run(
      client.key,
      () => (this.#o.verifyProof ?? verifyPaymentProof)(this.#o.vkey, proof, signals),
      client.priority,
    );
    if (!ok) throw new ZkPayError("invalid_proof", "the proof does not verify for these terms");
    return proof;
  }

  /**
   * Through the batcher (simulated against `pending`, then `pay` alone or `payBatch` with
   * the payments that arrived in the same window) from the relayer.
   */
  async settle(v: Verified<PayloadOf<"server">>, release: () => Promise<void>): Promise<SettleResponse> {
    const p = v.payload;
    const failed = (reason: Parameters<typeof settleFailed>[1], message: string, transaction?: string) =>
      settleFailed(this.#o.network, reason, message, transaction);
    if (!this.#o.batcher) {
      await release();
      return failed("settlement_failed", "this facilitator does not submit payments");
    }
    // Parsed once in `verify`; parsed here only if a caller built `v` without it.
    const proof = v.proof ?? proofFromWire(p.proof);
    const receiptId = toBytes32(proof.nullifierHash);
    const outcome: SettlementOutcome = await this.#o.batcher.submit({
      proof,
      terms: v.terms,
      memo: p.memo as Hex,
      payeeMemo: payeeMemoOf(p),
      commitChange: p.commitChange === true,
    });
    if (outcome.status === "settled") {
      this.#spent.add(proof.nullifierHash);
      return {
        success: true,
        transaction: outcome.hash,
        network: this.#o.network,
        extra: { receiptId, batchSize: outcome.batchSize, transaction: outcome.hash },
      };
    }
    if (outcome.status === "reverted") {
      await release();
      return failed("settlement_failed", `settlement transaction ${outcome.hash} reverted`, outcome.hash);
    }
    let mapped: ZkPayError;
    let hash: Hash | undefined;
    if (outcome.status === "skipped") {
      hash = outcome.hash;
      mapped = skippedError(outcome.reason, hash);
      // A skipped payment was not paid by this transaction; only the spent case may have
      // been paid by another (the payer itself, another relayer): the chain decides below.
      if (outcome.reason !== "NullifierSpent") {
        await release();
        return failed(mapped.reason, mapped.message, hash);
      }
    } else {
      hash = outcome.hash;
      mapped = mapPayRevert(outcome.error);
    }
    // A revert for a spent nullifier means someone (the payer, a relayer) settled this
    // very payment, or another one of the same note; an RPC failure may hide a
    // transaction that was mined. Either way the chain decides: paid means paid, and
    // then the claims must stay.
    if (hash !== undefined || mapped.reason === "nullifier_spent" || mapped.reason === "rpc_error") {
      const r = await this.#o.receipts
        .check(
          v.payeeCommitment !== undefined
            ? {
                id: receiptId,
                payeeCommitment: v.payeeCommitment,
                conditionHash: v.conditionHash,
                // The memo this payload carries (and this proof's context binds).
                payeeMemo: v.payload.payeeMemo as Hex,
              }
            : { id: receiptId, payTo: v.terms.payTo, amount: v.terms.amount, conditionHash: v.conditionHash },
        )
        .catch(() => undefined);
      if (r?.state === "paid" || r?.state === "unconfirmed") {
        return { success: true, transaction: hash ?? "", network: this.#o.network, extra: { receiptId } };
      }
      // Unknown outcome (RPC down, or a transaction sent whose fate is unknown): keep
      // the claims, so that the payer's note is not paid twice; report the hash.
      if (r === undefined || (hash !== undefined && r.state === "not_paid" && outcome.status !== "skipped")) {
        return failed(mapped.reason, mapped.message, hash);
      }
    }
    await release();
    return failed(mapped.reason, mapped.message, hash);
  }

  /** The pool's tree levels (each tree holds 2^levels leaves), read once. */
  #levels(): Promise<bigint> {
    this.#treeLevels ??= (
      this.#o.publicClient.readContract({
        address: this.#o.pool.facilitator,
        abi: facilitatorAbi,
        functionName: "treeLevels",
      }) as Promise<bigint>
    ).catch((err: unknown) => {
      this.#treeLevels = undefined;
      throw new ZkPayError("rpc_error", `reading the pool failed: ${(err as Error).message}`, {}, { cause: err });
    });
    return this.#treeLevels;
  }

  /**
   * The root must be known and the note unspent. "Known" is cached for a few seconds (a
   * known root stays known for thousands of inserts) and "spent" for good, so a flood of
   * proofs against one root costs one read of the root.
   */
  async #checkChainState(proof: ProofStruct): Promise<void> {
    if (this.#o.checkChainState === false) return;
    if (this.#spent.has(proof.nullifierHash)) {
      throw new ZkPayError("nullifier_spent", "this note was already spent");
    }
    const rootKey = `${proof.root}:${proof.treeSize}`;
    const now = Date.now();
    const knownUntil = this.#knownRoots.get(rootKey);
    const read = (functionName: "isKnownRoot" | "isSpent", args: readonly bigint[]) =>
      this.#o.publicClient.readContract({
        address: this.#o.pool.facilitator,
        abi: facilitatorAbi,
        functionName,
        args: args as never,
      }) as Promise<boolean>;
    const [known, spent] = await Promise.all([
      knownUntil !== undefined && knownUntil > now ? true : read("isKnownRoot", [proof.root, proof.treeSize]),
      read("isSpent", [proof.nullifierHash]),
    ]).catch((err: unknown) => {
      throw new ZkPayError("rpc_error", `reading the pool failed: ${(err as Error).message}`, {}, { cause: err });
    });
    if (!known) throw new ZkPayError("unknown_root", "the proof's root is unknown or too old");
    if (knownUntil === undefined || knownUntil <= now) {
      if (this.#knownRoots.size >= MAX_CHAIN_CACHE) this.#knownRoots.clear();
      this.#knownRoots.set(rootKey, now + KNOWN_ROOT_CACHE_MS);
    }
    if (spent) {
      if (this.#spent.size >= MAX_CHAIN_CACHE) this.#spent.clear();
      this.#spent.add(proof.nullifierHash);
      throw new ZkPayError("nullifier_spent", "this note was already spent");
    }
  }
}
