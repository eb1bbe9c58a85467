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

import { type PaymentTerms } from "../core/context.js";
import { caip2 } from "../core/deployment.js";
import { ZkPayError, isZkPayError } from "../core/errors.js";
import { type SolidityProof } from "../core/circuits/proof.js";
import { ReceiptChecker, defaultConfirmations } from "../core/receipts.js";
import { MemoryReplayStore, type ReplayStore } from "../core/replay.js";
import type { ShieldedPayee } from "../core/shielded-payee.js";
import { FairQueue } from "../core/work-queue.js";
import { SettlementBatcher, type BatchOptions } from "./batcher.js";
import { invalid, settleFailed } from "./errors.js";
import { ProofPayments, nullifierKey } from "./kinds/proof.js";
import { ReceiptPayments } from "./kinds/receipt.js";
import type { Verified } from "./kinds/types.js";
import {
  ZK_SCHEME,
  ZK_SHIELDED_SCHEME,
  isZkScheme,
  ZkPaymentPayloadSchema,
  ZkRequirementExtraSchema,
  checkPayable,
  checkTermsMatch,
  routeOf,
  type Challenge,
  type ProofStruct,
  type SettlementMode,
  type ZkPaymentPayload,
} from "../core/wire.js";

/** The challenge check the resource server owns (its HMAC secret); see `ChallengeIssuer`. */
export interface ChallengeChecker {
  /** Checks a challenge's MAC and expiry against the terms it was issued for; throws a `ZkPayError` when it does not hold. */
  check(
    c: Challenge,
    b: { network: string; facilitator: string; asset: string; payTo: string; amount: string; route: string },
  ): void;
  /** Seconds the challenge has left (used as the TTL of its single-use claim). */
  ttl(c: Challenge): number;
}

/** Options of {@link ZkExactFacilitatorScheme}. */
export interface ZkFacilitatorOptions {
  pool: { chainId: number; facilitator: Address };
  publicClient: PublicClient;
  /** Submits `pay` in server-settled mode; its account is the relayer. Omit to accept client-settled payments only. */
  walletClient?: WalletClient;
  /**
   * The relayer when payments are submitted elsewhere (the 402zk facilitator service
   * submits through its own nonce manager and calls {@link ZkExactFacilitatorScheme.check}):
   * server-settled payments must name it and pay it at least `fee`. Ignored with `walletClient`.
   */
  relayer?: Address;
  /** Verification key of the payment circuit (circuits/artifacts/payment.vkey.json). */
  vkey: unknown;
  /** sha256 of the vkey, advertised so clients can check they prove for the same circuit. */
  vkeySha256: string;
  /**
   * The resource server's challenge check (MAC, route, expiry). Omit in a facilitator that
   * does not hold the API's secret (the HTTP service): the resource server then checks its
   * own challenge before forwarding (`challengeGuard`), and this scheme checks only what
   * the chain decides, plus that `conditionHash` is the hash of the challenge sent and that
   * it has not expired.
   */
  challenges?: ChallengeChecker;
  /** Default: in-memory (one process). Use RedisReplayStore for several instances. */
  replay?: ReplayStore;
  /** Fee charged for submitting server-settled payments, base units. Default 0. */
  fee?: bigint;
  /** Confirmations required for client-settled receipts. Default per chain (`defaultConfirmations`). */
  minConfirmations?: number;
  /** Check root and nullifier on chain before verifying a proof. Default true. */
  checkChainState?: boolean;
  /**
   * Proof verifications (and receipt checks) allowed per challenge, counted in the replay
   * store so the cap holds across instances. An honest payer needs 1, or 2 after a
   * stale-root retry. Default 3.
   */
  maxAttemptsPerChallenge?: number;
  /** The bounded queue every Groth16 verification goes through. Default: a FairQueue of its own. */
  verifier?: FairQueue;
  /**
   * How a Groth16 proof is checked. Default: snarkjs on this thread (`verifyPaymentProof`).
   * A server passes `WorkerVerifier#verify` (402zk/node) to keep pairings off its event loop.
   */
  verifyProof?: (vkey: unknown, proof: SolidityProof, publicSignals: readonly bigint[]) => Promise<boolean>;
  /**
   * Server-settled payments arriving within `windowMs` of each other share one `payBatch`
   * (one batched pairing check; their change notes committed in the same transaction);
   * one alone goes through `pay`, and the queue is committed after `commitAfterMs`.
   * Default `{ windowMs: 50, maxSize: 16, commitAfterMs: 1000 }`.
   */
  batch?: BatchOptions;
  /** The client being served and its priority (for the fair queue), e.g. `Admission.currentClient`. */
  clientOf?: () => { key: string; priority: number } | undefined;
  /**
   * The API's shielded payee (viewing key and owner key; never the spending key): a
   * facilitator inside the resource server opens every zk-shielded payment's payee note
   * with it before the proof is verified (`payee_note_*` refusals) and dedupes payee
   * commitments already received. Omit in a facilitator that cannot decrypt (the 402zk
   * facilitator service): it then takes the payload's payee commitment, which the
   * resource server checked against the note first (`ChallengeGuard`).
   */
  payee?: ShieldedPayee;
  /**
   * How long a received payee commitment is remembered, seconds (a second payment with the
   * same payee note is refused as `payee_note_invalid` meanwhile). Default 30 days.
   */
  payeeCommitmentTtlSeconds?: number;
}

/** Replay-store key of a payee note commitment a payment delivered (or is delivering). */
export function payeeCommitmentKey(commitment: bigint): string {
  return `payee:${commitment}`;
}

/** Default of `payeeCommitmentTtlSeconds`: 30 days. */
export const PAYEE_COMMITMENT_TTL_SECONDS = 30 * 86_400;

/** What {@link ZkExactFacilitatorScheme.check} found: the parsed payment, checked. */
export interface CheckedPayment {
  payload: ZkPaymentPayload;
  terms: PaymentTerms;
  conditionHash: Hex;
  /** Server-settled: the proof, parsed. */
  proof?: ProofStruct;
  /** Client-settled: the block the receipt was written in. */
  paidAtBlock?: number;
  /** zk-shielded: the payee note's commitment the receipt binds. */
  payeeCommitment?: bigint;
}

/** What {@link ZkExactFacilitatorScheme.checkRequirements} found: the payment, checked against this request. */
export interface RequirementCheck {
  payload: ZkPaymentPayload;
  terms: PaymentTerms;
  conditionHash: Hex;
  /** Seconds the replay claims of this payment should live. */
  claimTtl: number;
  /** zk-shielded: the payee note's commitment (opened and checked when this facilitator holds the payee's keys). */
  payeeCommitment?: bigint;
  /** zk-shielded with a payee: the commitment was opened here, so it is deduped here. */
  payeeOpened?: boolean;
}

/**
 * The facilitator side of zk-exact (and, through {@link ZkExactFacilitatorScheme.shielded},
 * zk-shielded) for `@x402/core`'s `x402Facilitator`.
 *
 * `verify` does everything cheap first (schema, challenge MAC and expiry, terms, a cap
 * on attempts per challenge, root and nullifier state from a cache), then the one
 * expensive step (a Groth16 pairing check) through a bounded, fair queue, and only then
 * takes two claims in the replay store: the challenge (one payment per 402) and, for
 * server-settled payments, the note's nullifier (one payment per note at a time, across
 * instances). A second proof of the same note is refused until the first settles or
 * fails, so a handler never runs twice for one note.
 *
 * `settle` submits `pay` (server-settled) after simulating it against the pending block,
 * so the relayer does not broadcast a transaction that would revert, or relies on the
 * on-chain receipt the client already created (client-settled) and reports the
 * transaction the chain says wrote it.
 *
 * Like x402's exact facilitator (EIP-3009 / Permit2), this class is the router: it owns
 * what every payload shares (requirement checks, attempt cap, replay claims, the
 * verified-payment cache) and dispatches on `payload.settlement` to one file per kind,
 * `kinds/proof.ts` (server-settled) and `kinds/receipt.ts` (client-settled).
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
  readonly verifier: FairQueue;
  readonly #o: ZkFacilitatorOptions;
  readonly #replay: ReplayStore;
  readonly #fee: bigint;
  readonly #minConfirmations: number;
  readonly #maxAttempts: number;
  /** Groups server-settled payments into payBatch transactions (absent without a wallet). */
  readonly batcher?: SettlementBatcher;
  /** Payments that passed `verify`, by condition hash, so `settle` does not verify twice. */
  readonly #verified = new Map<string, { fingerprint: string; v: Verified; until: number }>();
  /** The latest block's time and when it was read (ms). */
  #chainTime: { t: number; at: number } | undefined;
  /** Server-settled payments: a proof the relayer submits (kinds/proof.ts). */
  readonly #proofKind: ProofPayments;
  /** Client-settled payments: a receipt already on chain (kinds/receipt.ts). */
  readonly #receiptKind: ReceiptPayments;
  /**
   * The same facilitator for `zk-shielded` requirements (x402 dispatches on the scheme's
   * name): register it beside this one. One instance behind both names, so both modes share
   * one relayer queue, one batcher (a payBatch mixes them), one replay store and one cache.
   */
  readonly shielded: SchemeNetworkFacilitator;

  constructor(o: ZkFacilitatorOptions) {
    this.#o = o;
    this.network = caip2(o.pool.chainId) as Network;
    this.relayer = o.walletClient?.account?.address ?? (o.relayer ? getAddress(o.relayer) : zeroAddress);
    this.#replay = o.replay ?? new MemoryReplayStore();
    this.#fee = o.fee ?? 0n;
    this.#minConfirmations = o.minConfirmations ?? defaultConfirmations(o.pool.chainId).minConfirmations;
    this.#maxAttempts = Math.max(1, o.maxAttemptsPerChallenge ?? 3);
    this.verifier = o.verifier ?? new FairQueue();
    if (o.walletClient?.account) {
      this.batcher = new SettlementBatcher(
        { publicClient: o.publicClient, walletClient: o.walletClient, facilitator: o.pool.facilitator },
        o.batch,
      );
    }
    this.receipts = new ReceiptChecker({
      publicClient: o.publicClient,
      facilitator: o.pool.facilitator,
      chainId: o.pool.chainId,
    });
    this.#proofKind = new ProofPayments({
      network: this.network,
      pool: o.pool,
      publicClient: o.publicClient,
      receipts: this.receipts,
      vkey: o.vkey,
      verifier: this.verifier,
      verifyProof: o.verifyProof,
      clientOf: o.clientOf,
      checkChainState: o.checkChainState,
      batcher: this.batcher,
    });
    this.#receiptKind = new ReceiptPayments({
      network: this.network,
      receipts: this.receipts,
      minConfirmations: this.#minConfirmations,
    });
    this.shielded = {
      scheme: ZK_SHIELDED_SCHEME,
      caipFamily: this.caipFamily,
      getExtra: (network) => this.getExtra(network),
      getSigners: (network) => this.getSigners(network),
      verify: (payload, requirements) => this.verify(payload, requirements),
      settle: (payload, requirements) => this.settle(payload, requirements),
    };
  }

  /** Settlement modes this facilitator accepts. */
  get settlementModes(): SettlementMode[] {
    return this.#submits ? ["server", "client"] : ["client"];
  }

  /** Whether server-settled payments are accepted (a wallet client, or a relayer submitting elsewhere). */
  get #submits(): boolean {
    return this.#o.walletClient !== undefined || this.relayer !== zeroAddress;
  }

  /** The fee server-settled payments must pay the relayer, base units. */
  get fee(): bigint {
    return this.#fee;
  }

  /**
   * Every check of {@link verify} that changes no state (no claim, no attempt counted
   * beyond the per-challenge cap): the 402zk facilitator service runs it and keeps its own
   * durable record of what it accepted. Throws `ZkPayError` with a stable reason.
   */
  async check(payload: PaymentPayload, requirements: PaymentRequirements): Promise<CheckedPayment> {
    const v = await this.#check(payload, requirements);
    // A check keeps no claim (the service has no payee and takes none; be sure anyway).
    if (v.payeeKey) await this.#replay.release(v.payeeKey);
    return {
      payload: v.payload,
      terms: v.terms,
      conditionHash: v.conditionHash,
      proof: v.proof,
      paidAtBlock: v.paidAtBlock,
      payeeCommitment: v.payeeCommitment,
    };
  }

  getExtra(_network: Network): Record<string, unknown> {
    return {
      facilitator: getAddress(this.#o.pool.facilitator),
      relayer: this.relayer,
      fee: this.#fee.toString(),
      settlement: this.settlementModes,
      minConfirmations: this.#minConfirmations,
      vkeySha256: this.#o.vkeySha256,
    };
  }

  getSigners(_network: string): string[] {
    return this.#submits ? [this.relayer] : [];
  }

  /** x402 `verify`: every check of the payment, proof included, and the claims of its challenge and note; nothing is sent. */
  async verify(payload: PaymentPayload, requirements: PaymentRequirements): Promise<VerifyResponse> {
    try {
      const v = await this.#admit(payload, requirements);
      this.#rememberVerified(payload, v);
      return { isValid: true };
    } catch (err) {
      if (isZkPayError(err)) return invalid(err.reason, err.message);
      throw err;
    }
  }

  /** x402 `settle`: submits a server-settled payment (`pay`, or in a `payBatch`), or checks a client-settled receipt on chain. */
  async settle(payload: PaymentPayload, requirements: PaymentRequirements): Promise<SettleResponse> {
    let v: Verified;
    try {
      // The same payload was verified moments ago (the usual verify -> handler -> settle
      // flow): reuse that result and its claims. Anything else (a route that settles
      // before its handler skips verify) is checked and claimed from scratch.
      v = this.#takeVerified(payload) ?? (await this.#admit(payload, requirements));
    } catch (err) {
      if (isZkPayError(err)) return settleFailed(this.network, err.reason, err.message);
      throw err;
    }
    // Dispatch on the payload kind; each kind releases the claims only when the payment
    // certainly did not settle.
    const release = () => this.#releaseClaims(v);
    const p = v.payload;
    return p.settlement === "client"
      ? this.#receiptKind.settle({ ...v, payload: p })
      : this.#proofKind.settle({ ...v, payload: p }, release);
  }

  /**
   * Gives up a payment that passed `verify` but will not be settled (its handler failed):
   * releases its claims so that the payer can pay again with the same note at once.
   * Wired to x402's `onVerifiedPaymentCanceled` by `createZkResourceServer`.
   */
  async abandon(payload: PaymentPayload): Promise<void> {
    const v = this.#takeVerified(payload);
    if (v) await this.#releaseClaims(v);
  }

  /** Every check, then the claims. Throws ZkPayError; holds no claim when it throws. */
  async #admit(payload: PaymentPayload, requirements: PaymentRequirements): Promise<Verified> {
    const v = await this.#check(payload, requirements);
    const releasePayee = async () => {
      if (v.payeeKey) await this.#replay.release(v.payeeKey);
    };
    // Accept each challenge once, across every instance sharing the replay store.
    if (!(await this.#replay.claim(v.conditionHash, v.claimTtl))) {
      await releasePayee();
      throw new ZkPayError("payment_replayed", "this payment was already accepted");
    }
    // One payment per note at a time: until this one settles or fails, another proof of
    // the same note (another challenge, another route, another instance) is refused, so
    // no handler runs for a payment that cannot settle.
    if (v.proof && !(await this.#replay.claim(nullifierKey(v.proof), v.claimTtl))) {
      await this.#replay.release(v.conditionHash);
      await releasePayee();
      throw new ZkPayError("nullifier_pending", "another payment with this note is being settled");
    }
    return v;
  }

  async #releaseClaims(v: Verified): Promise<void> {
    await this.#replay.release(v.conditionHash);
    if (v.proof) await this.#replay.release(nullifierKey(v.proof));
    // A payment that did not settle delivered no note: its commitment was not received.
    if (v.payeeKey) await this.#replay.release(v.payeeKey);
  }

  /**
   * The requirement checks of {@link check}, cheapest first, none of which reads the pool
   * or verifies a proof: scheme, network and pool; the payload's shape (numbers bounded
   * as the contract takes them); the challenge (its MAC with `challenges`, else its expiry
   * against chain time); payee, amount, condition hash and expiry against this request
   * and its challenge; for a proof, relayer and fee, and every check the contract makes
   * on the terms alone (`checkPayable`). The facilitator service runs it on every
   * `/verify` and `/settle` before it answers from its store: a stored answer is the
   * answer to the same request, never a verdict on another one. Throws `ZkPayError`.
   */
  async checkRequirements(payload: PaymentPayload, req: PaymentRequirements): Promise<RequirementCheck> {
    if (!isZkScheme(req.scheme) || payload.accepted?.scheme !== req.scheme) {
      throw new ZkPayError("unsupported_scheme", `expected scheme ${ZK_SCHEME} or ${ZK_SHIELDED_SCHEME}`);
    }
    if (req.network !== this.network || payload.accepted.network !== this.network) {
      throw new ZkPayError("chain_mismatch", `this facilitator settles on ${this.network}`, {
        network: payload.accepted.network,
      });
    }
    const extra = ZkRequirementExtraSchema.safeParse(payload.accepted.extra);
    if (!extra.success) {
      const issue = extra.error.issues[0];
      throw new ZkPayError("invalid_payload", `accepted.extra.${issue?.path.join(".")}: ${issue?.message}`);
    }
    const parsed = ZkPaymentPayloadSchema.safeParse(payload.payload);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ZkPayError("invalid_payload", `payload.${issue?.path.join(".")}: ${issue?.message}`);
    }
    const p = parsed.data;
    // The pool the payment was made for, and the one this request names (when it names one).
    const reqPool = (req.extra as { facilitator?: unknown } | undefined)?.facilitator;
    if (
      !isAddressEqual(extra.data.facilitator as Address, this.#o.pool.facilitator) ||
      (reqPool !== undefined &&
        (typeof reqPool !== "string" || reqPool.toLowerCase() !== this.#o.pool.facilitator.toLowerCase()))
    ) {
      throw new ZkPayError("requirements_mismatch", "the payment is for another pool");
    }
    const challenge = extra.data.challenge;
    if (this.#o.challenges) {
      this.#o.challenges.check(challenge, {
        network: req.network,
        facilitator: this.#o.pool.facilitator,
        asset: req.asset,
        payTo: req.payTo,
        amount: req.amount,
        // The server's own requirement for the route this request matched, not the client's echo.
        route: routeOf(req),
      });
    }
    // The payment must be exactly what this request asks for, for the challenge it answers.
    const conditionHash = checkTermsMatch(p, req, challenge);
    const shielded = this.#payeeCommitmentOf(p, req, conditionHash);
    const terms: PaymentTerms = {
      payTo: getAddress(p.terms.payTo),
      amount: BigInt(p.terms.amount),
      relayer: getAddress(p.terms.relayer),
      fee: BigInt(p.terms.fee),
      conditionHash: p.terms.conditionHash as Hex,
      expiry: BigInt(p.terms.expiry),
    };
    if (p.settlement === "server") {
      if (!this.#submits) {
        throw new ZkPayError("unsupported_scheme", "this server accepts client-settled payments only");
      }
      this.#checkRelayerAndFee(terms);
      checkPayable(p);
    }
    if (!this.#o.challenges && challenge.exp < (await this.#chainNow())) {
      // No secret here: the resource server checked the MAC; the expiry is the chain's
      // (the contract checks it against block time, which a local chain may not keep in step with ours).
      throw new ZkPayError("challenge_expired", `the payment's challenge expired at ${challenge.exp}`, {
        exp: challenge.exp,
      });
    }
    const ttl = this.#o.challenges
      ? this.#o.challenges.ttl(challenge)
      : Math.max(0, challenge.exp - Math.floor(Date.now() / 1000));
    return { payload: p, terms, conditionHash, claimTtl: Math.max(60, ttl + 60), ...shielded };
  }

  /**
   * A zk-shielded payment's payee commitment. With the payee's keys, its note is opened
   * and checked first (owner, commitment = the proof's payee output, condition, value at
   * least the price; `ShieldedPayee.open`), before any proof or chain read. Without them
   * (the facilitator service), the payload's commitment, which the resource server checked.
   */
  #payeeCommitmentOf(
    p: ZkPaymentPayload,
    req: PaymentRequirements,
    conditionHash: Hex,
  ): { payeeCommitment?: bigint; payeeOpened?: boolean } {
    if (req.scheme !== ZK_SHIELDED_SCHEME) return {};
    // checkTermsMatch made sure a shielded payload carries both.
    const payeeCommitment = BigInt(p.settlement === "server" ? p.proof.payeeCommitment : p.payeeCommitment!);
    const payee = this.#o.payee;
    if (!payee) return { payeeCommitment };
    if (!payee.isAddress(req.payTo)) {
      throw new ZkPayError("payee_note_not_ours", "this requirement pays another shielded address than this API's");
    }
    payee.open({ payeeMemo: p.payeeMemo!, payeeCommitment, price: BigInt(req.amount), conditionHash });
    return { payeeCommitment, payeeOpened: true };
  }

  /**
   * Every check that needs no state change, cheapest first: the shared requirement
   * checks, one attempt counted, then the checks of the payload's kind (a receipt on
   * chain, or chain state and the proof). Throws ZkPayError.
   */
  async #check(payload: PaymentPayload, req: PaymentRequirements): Promise<Verified> {
    const { payeeOpened, ...a } = await this.checkRequirements(payload, req);
    await this.#countAttempt(a.conditionHash, a.claimTtl);
    // A payee note this API received already (another payment delivering the same note)
    // is refused before the proof is verified; the claim stays once the payment settles.
    let payeeKey: string | undefined;
    if (payeeOpened && a.payeeCommitment !== undefined) {
      payeeKey = payeeCommitmentKey(a.payeeCommitment);
      const ttl = Math.max(a.claimTtl, this.#o.payeeCommitmentTtlSeconds ?? PAYEE_COMMITMENT_TTL_SECONDS);
      if (!(await this.#replay.claim(payeeKey, ttl))) {
        throw new ZkPayError("payee_note_invalid", "this payee note was received already");
      }
    }
    const p = a.payload;
    try {
      const v =
        p.settlement === "client"
          ? await this.#receiptKind.verify({ ...a, payload: p })
          : await this.#proofKind.verify({ ...a, payload: p });
      return { ...v, payeeKey };
    } catch (err) {
      if (payeeKey) await this.#replay.release(payeeKey);
      throw err;
    }
  }

  /**
   * The checks of a payment submitted for the payer with no x402 requirement (the
   * service's relay endpoint: a client-settled payment or a withdrawal, any condition):
   * this relayer and at least its fee, not expired, then chain state and the proof.
   * Throws `ZkPayError`; returns the parsed proof.
   */
  async checkSubmission(
    p: Extract<ZkPaymentPayload, { settlement: "server" }>,
    terms: PaymentTerms,
  ): Promise<ProofStruct> {
    if (!this.#submits) throw new ZkPayError("unsupported_scheme", "this facilitator does not submit payments");
    this.#checkRelayerAndFee(terms);
    // What the contract would refuse (a zero payee...) is refused before anything is accepted.
    checkPayable(p);
    // `if (block.timestamp > terms.expiry) revert FacilitatorPaymentExpired`, against the chain's clock.
    if (terms.expiry < BigInt(await this.#chainNow())) {
      throw new ZkPayError("challenge_expired", `the payment expired at ${terms.expiry}`);
    }
    return this.#proofKind.verifySubmission(p, terms);
  }

  /** The latest block's time, seconds, cached for a second: what the contract checks expiry against. */
  async #chainNow(): Promise<number> {
    const now = Date.now();
    const c = this.#chainTime;
    if (c && now - c.at < 1000) return c.t;
    const block = await this.#o.publicClient.getBlock({ blockTag: "latest" }).catch((err: unknown) => {
      throw new ZkPayError(
        "rpc_error",
        `reading the latest block failed: ${(err as Error).message}`,
        {},
        { cause: err },
      );
    });
    this.#chainTime = { t: Number(block.timestamp), at: now };
    return Number(block.timestamp);
  }

  #checkRelayerAndFee(terms: PaymentTerms): void {
    // The fee may exceed the published one (the payer's choice), never fall below it.
    if (!isAddressEqual(terms.relayer, this.relayer) || terms.fee < this.#fee) {
      throw new ZkPayError("requirements_mismatch", "relayer or fee differs from the requirement", {
        relayer: this.relayer,
        minFee: this.#fee.toString(),
      });
    }
  }

  /** Counts a verification attempt for this challenge; throws past the cap. */
  async #countAttempt(conditionHash: Hex, ttlSeconds: number): Promise<void> {
    const n = await this.#replay.increment(`attempts:${conditionHash}`, ttlSeconds);
    if (n > this.#maxAttempts) {
      throw new ZkPayError("too_many_attempts", `this challenge was tried ${n - 1} times; request a new one`, {
        attempts: n - 1,
      });
    }
  }

  #rememberVerified(payload: PaymentPayload, v: Verified): void {
    const now = Date.now();
    for (const [k, e] of this.#verified) if (e.until <= now) this.#verified.delete(k);
    this.#verified.set(v.conditionHash, { fingerprint: fingerprint(payload), v, until: now + v.claimTtl * 1000 });
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
}

/** Identity of a payment as sent: its accepted requirement and payload. */
function fingerprint(p: PaymentPayload): string {
  return JSON.stringify([p.accepted, p.payload]);
}
