import type {
  Network,
  PaymentPayload,
  PaymentRequirements,
  SchemeNetworkFacilitator,
  SettleResponse,
  VerifyResponse,
} from "@x402/core/types";
import {
  getAddress,
  isAddressEqual,
  zeroAddress,
  type Address,
  type Hex,
  type PublicClient,
  type WalletClient,
} from "viem";

import { facilitatorAbi } from "../core/abi.js";
import { paymentContext, type PaymentTerms } from "../core/context.js";
import { caip2 } from "../core/deployment.js";
import { ZkPayError, isZkPayError, type ZkReasonCode } from "../core/errors.js";
import { isFieldElement, toBytes32 } from "../core/field.js";
import { verifyPaymentProof } from "../core/prover.js";
import {
  ZK_SCHEME,
  ZkPaymentPayloadSchema,
  ZkRequirementExtraSchema,
  conditionHashOf,
  proofFromWire,
  type ProofStruct,
  type SettlementMode,
  type ZkPaymentPayload,
} from "../core/wire.js";
import { mapPayRevert } from "../client/wallet.js";
import type { ChallengeIssuer } from "../server/challenge.js";
import { routeOf } from "../server/scheme.js";
import { ReceiptChecker } from "../server/receipts.js";
import { MemoryReplayStore, type ReplayStore } from "../server/replay.js";

/** Options of {@link ZkExactFacilitatorScheme}. */
export interface ZkFacilitatorOptions {
  pool: { chainId: number; facilitator: Address };
  publicClient: PublicClient;
  /** Submits `pay` in server-settled mode; its account is the relayer. Omit to accept client-settled payments only. */
  walletClient?: WalletClient;
  /** Verification key of the payment circuit (circuits/artifacts/payment.vkey.json). */
  vkey: unknown;
  /** sha256 of the vkey, advertised so clients can check they prove for the same circuit. */
  vkeySha256: string;
  challenges: ChallengeIssuer;
  /** Default: in-memory (one process). Use RedisReplayStore for several instances. */
  replay?: ReplayStore;
  /** Fee charged for submitting server-settled payments, base units. Default 0. */
  fee?: bigint;
  /** Confirmations required for client-settled receipts. Default 1. */
  minConfirmations?: number;
  /** Check root and nullifier on chain during verify (one round trip). Default true. */
  checkChainState?: boolean;
}

type Verified = {
  payload: ZkPaymentPayload;
  terms: PaymentTerms;
  conditionHash: Hex;
  /** Server-settled: the proof parsed once in `#check`, reused by `settle`. */
  proof?: ProofStruct;
};

/**
 * The facilitator side of zk-exact for `@x402/core`'s `x402Facilitator`. `verify` is
 * cheap and off-chain (schema, challenge, terms, Groth16 proof, and one read of the
 * pool); `settle` submits `pay` (server-settled) or relies on the on-chain receipt the
 * client already created (client-settled). Either way a payment is accepted once.
 *
 * @example
 * const facilitator = new x402Facilitator().register("eip155:84532", new ZkExactFacilitatorScheme({ ... }));
 */
export class ZkExactFacilitatorScheme implements SchemeNetworkFacilitator {
  readonly scheme = ZK_SCHEME;
  readonly caipFamily = "eip155:*";
  readonly network: Network;
  readonly relayer: Address;
  readonly receipts: ReceiptChecker;
  readonly #o: ZkFacilitatorOptions;
  readonly #replay: ReplayStore;
  readonly #fee: bigint;
  #submitQueue: Promise<unknown> = Promise.resolve();
  /** Payments that passed `verify`, by condition hash, so `settle` does not verify twice. */
  readonly #verified = new Map<string, { fingerprint: string; v: Verified; until: number }>();

  constructor(o: ZkFacilitatorOptions) {
    this.#o = o;
    this.network = caip2(o.pool.chainId) as Network;
    this.relayer = o.walletClient?.account?.address ?? zeroAddress;
    this.#replay = o.replay ?? new MemoryReplayStore();
    this.#fee = o.fee ?? 0n;
    this.receipts = new ReceiptChecker({ publicClient: o.publicClient, facilitator: o.pool.facilitator });
  }

  /** Settlement modes this facilitator accepts. */
  get settlementModes(): SettlementMode[] {
    return this.#o.walletClient ? ["server", "client"] : ["client"];
  }

  getExtra(_network: Network): Record<string, unknown> {
    return {
      facilitator: getAddress(this.#o.pool.facilitator),
      relayer: this.relayer,
      fee: this.#fee.toString(),
      settlement: this.settlementModes,
      minConfirmations: this.#o.minConfirmations ?? 1,
      vkeySha256: this.#o.vkeySha256,
    };
  }

  getSigners(_network: string): string[] {
    return this.#o.walletClient ? [this.relayer] : [];
  }

  async verify(payload: PaymentPayload, requirements: PaymentRequirements): Promise<VerifyResponse> {
    try {
      // Everything checkable off-chain first: a bad payment must not consume a challenge.
      const v = await this.#check(payload, requirements);
      // Accept each challenge once, across every instance sharing the replay store.
      const ttl = Math.max(
        60,
        this.#o.challenges.ttl(ZkRequirementExtraSchema.parse(payload.accepted.extra).challenge) + 60,
      );
      if (!(await this.#replay.claim(v.conditionHash, ttl))) {
        return invalid("payment_replayed", "this payment was already accepted");
      }
      try {
        await this.#checkChainState(v);
      } catch (err) {
        await this.#replay.release(v.conditionHash);
        throw err;
      }
      this.#rememberVerified(payload, v, ttl);
      return { isValid: true };
    } catch (err) {
      if (isZkPayError(err)) return invalid(err.reason, err.message);
      throw err;
    }
  }

  async settle(payload: PaymentPayload, requirements: PaymentRequirements): Promise<SettleResponse> {
    let v: Verified;
    // Only a payment this instance verified holds a replay claim of ours; a failure may
    // release that claim (so the payer can retry), never one another party holds.
    let ownsClaim = false;
    try {
      // The same payload was verified moments ago (the usual verify -> handler -> settle
      // flow): reuse that result. Anything else is checked from scratch.
      const cached = this.#takeVerified(payload);
      ownsClaim = cached !== undefined;
      v = cached ?? (await this.#check(payload, requirements));
    } catch (err) {
      if (isZkPayError(err)) return this.#failed(err.reason, err.message);
      throw err;
    }
    const p = v.payload;
    if (p.settlement === "client") {
      return { success: true, transaction: p.transaction, network: this.network, extra: { receiptId: p.receiptId } };
    }
    const wc = this.#o.walletClient;
    if (!wc?.account) return this.#failed("settlement_failed", "this facilitator does not submit payments");
    const proof = v.proof ?? proofFromWire(p.proof);
    const args = [proof, v.terms, p.memo as Hex] as const;
    const receiptId = toBytes32(proof.nullifierHash);
    try {
      // One submission at a time from this account keeps nonces in order.
      const hash = await this.#serial(() =>
        wc.writeContract({
          address: this.#o.pool.facilitator,
          abi: facilitatorAbi,
          functionName: "pay",
          args,
          account: wc.account!,
          chain: wc.chain,
        }),
      );
      const rc = await this.#o.publicClient.waitForTransactionReceipt({ hash });
      if (rc.status !== "success") {
        if (ownsClaim) await this.#replay.release(v.conditionHash);
        return this.#failed("settlement_failed", `pay transaction ${hash} reverted`, hash);
      }
      return { success: true, transaction: hash, network: this.network, extra: { receiptId } };
    } catch (err) {
      const mapped = mapPayRevert(err);
      // A revert for a spent nullifier means someone (the payer, a relayer) settled this
      // very payment; an RPC failure may hide a transaction that was mined. Either way
      // the chain decides: paid means paid, and then the claim must stay.
      if (mapped.reason === "nullifier_spent" || mapped.reason === "rpc_error") {
        const r = await this.receipts
          .check({ id: receiptId, payTo: v.terms.payTo, amount: v.terms.amount, conditionHash: v.conditionHash })
          .catch(() => undefined);
        if (r?.state === "paid") return { success: true, transaction: "", network: this.network, extra: { receiptId } };
        // Unknown outcome (RPC still down): keep the claim, the payer must not pay twice.
        if (r === undefined) return this.#failed(mapped.reason, mapped.message);
      }
      if (ownsClaim) await this.#replay.release(v.conditionHash);
      return this.#failed(mapped.reason, mapped.message);
    }
  }

  /** Every check that needs no state change. Throws ZkPayError. */
  async #check(payload: PaymentPayload, req: PaymentRequirements): Promise<Verified> {
    if (payload.accepted?.scheme !== ZK_SCHEME || req.scheme !== ZK_SCHEME) {
      throw new ZkPayError("unsupported_scheme", `expected scheme ${ZK_SCHEME}`);
    }
    if (req.network !== this.network || payload.accepted.network !== this.network) {
      throw new ZkPayError("chain_mismatch", `this facilitator settles on ${this.network}`, {
        network: payload.accepted.network,
      });
    }
    const extra = ZkRequirementExtraSchema.safeParse(payload.accepted.extra);
    if (!extra.success) throw new ZkPayError("invalid_payload", `requirement extra: ${extra.error.issues[0]?.message}`);
    const parsed = ZkPaymentPayloadSchema.safeParse(payload.payload);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ZkPayError("invalid_payload", `payload.${issue?.path.join(".")}: ${issue?.message}`);
    }
    const p = parsed.data;
    if (!isAddressEqual(extra.data.facilitator as Address, this.#o.pool.facilitator)) {
      throw new ZkPayError("requirements_mismatch", "the payment is for another pool");
    }
    const challenge = extra.data.challenge;
    this.#o.challenges.check(challenge, {
      network: req.network,
      facilitator: this.#o.pool.facilitator,
      asset: req.asset,
      payTo: req.payTo,
      amount: req.amount,
      // The server's own requirement for the route this request matched, not the client's echo.
      route: routeOf(req),
    });
    const conditionHash = conditionHashOf(challenge);
    const terms: PaymentTerms = {
      payTo: getAddress(p.terms.payTo),
      amount: BigInt(p.terms.amount),
      relayer: getAddress(p.terms.relayer),
      fee: BigInt(p.terms.fee),
      conditionHash: p.terms.conditionHash as Hex,
      expiry: BigInt(p.terms.expiry),
    };
    // The payment must be exactly what the server asked for.
    if (!isAddressEqual(terms.payTo, req.payTo as Address))
      throw new ZkPayError("requirements_mismatch", "payTo differs from the requirement");
    if (terms.amount !== BigInt(req.amount))
      throw new ZkPayError("requirements_mismatch", "amount differs from the requirement");
    if (terms.conditionHash.toLowerCase() !== conditionHash) {
      throw new ZkPayError("requirements_mismatch", "conditionHash is not the hash of this request's challenge");
    }

    if (p.settlement === "client") {
      const r = await this.receipts.check({
        id: p.receiptId as Hex,
        payTo: terms.payTo,
        amount: terms.amount,
        conditionHash,
        minConfirmations: this.#o.minConfirmations ?? 1,
      });
      const reasons: Record<string, [ZkReasonCode, string]> = {
        not_paid: ["receipt_not_found", "no payment with this receipt id on chain"],
        mismatch: ["receipt_mismatch", "the receipt is for another payee, amount or condition"],
        unconfirmed: [
          "receipt_unconfirmed",
          `the payment has ${r.confirmations} of ${this.#o.minConfirmations ?? 1} confirmations`,
        ],
      };
      const fail = reasons[r.state];
      if (fail) throw new ZkPayError(fail[0], fail[1], { confirmations: r.confirmations });
      return { payload: p, terms, conditionHash };
    }

    if (!this.#o.walletClient)
      throw new ZkPayError("unsupported_scheme", "this server accepts client-settled payments only");
    if (!isAddressEqual(terms.relayer, this.relayer) || terms.fee !== this.#fee) {
      throw new ZkPayError("requirements_mismatch", "relayer or fee differs from the requirement");
    }
    if (terms.expiry !== BigInt(challenge.exp))
      throw new ZkPayError("requirements_mismatch", "expiry differs from the challenge's");
    const proof = proofFromWire(p.proof);
    const signals = [proof.nullifierHash, proof.changeCommitment, proof.root];
    if (!signals.every(isFieldElement))
      throw new ZkPayError("invalid_payload", "a public signal is not a field element");
    const context = paymentContext({
      chainId: this.#o.pool.chainId,
      facilitator: this.#o.pool.facilitator,
      terms,
      memo: p.memo as Hex,
    });
    const ok = await verifyPaymentProof(this.#o.vkey, proof, [...signals, terms.amount, terms.fee, context]);
    if (!ok) throw new ZkPayError("invalid_proof", "the proof does not verify for these terms");

    return { payload: p, terms, conditionHash, proof };
  }

  /** Server-settled only: the root must be known and the note unspent (one round trip). */
  async #checkChainState(v: Verified): Promise<void> {
    const proof = v.proof;
    if (!proof || this.#o.checkChainState === false) return;
    const [known, spent] = await Promise.all([
      this.#o.publicClient.readContract({
        address: this.#o.pool.facilitator,
        abi: facilitatorAbi,
        functionName: "isKnownRoot",
        args: [proof.root, proof.treeSize],
      }),
      this.#o.publicClient.readContract({
        address: this.#o.pool.facilitator,
        abi: facilitatorAbi,
        functionName: "isSpent",
        args: [proof.nullifierHash],
      }),
    ]).catch((err: unknown) => {
      throw new ZkPayError("rpc_error", `reading the pool failed: ${(err as Error).message}`, {}, { cause: err });
    });
    if (!known) throw new ZkPayError("unknown_root", "the proof's root is unknown or too old");
    if (spent) throw new ZkPayError("nullifier_spent", "this note was already spent");
  }

  #rememberVerified(payload: PaymentPayload, v: Verified, ttlSeconds: number): void {
    const now = Date.now();
    for (const [k, e] of this.#verified) if (e.until <= now) this.#verified.delete(k);
    this.#verified.set(v.conditionHash, { fingerprint: fingerprint(payload), v, until: now + ttlSeconds * 1000 });
  }

  #takeVerified(payload: PaymentPayload): Verified | undefined {
    const parsed = ZkPaymentPayloadSchema.safeParse(payload.payload);
    if (!parsed.success) return undefined;
    const key = parsed.data.terms.conditionHash.toLowerCase();
    const e = this.#verified.get(key);
    if (!e || e.until <= Date.now() || e.fingerprint !== fingerprint(payload)) return undefined;
    this.#verified.delete(key);
    return e.v;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#submitQueue.then(fn, fn);
    this.#submitQueue = run.catch(() => {});
    return run;
  }

  #failed(reason: ZkReasonCode, message: string, transaction = ""): SettleResponse {
    return { success: false, errorReason: reason, errorMessage: message, transaction, network: this.network };
  }
}

/** Identity of a payment as sent: its accepted requirement and payload. */
function fingerprint(p: PaymentPayload): string {
  return JSON.stringify([p.accepted, p.payload]);
}

function invalid(reason: ZkReasonCode, message: string): VerifyResponse {
  return { isValid: false, invalidReason: reason, invalidMessage: message };
}
