import { x402ResourceServer, type FacilitatorClient } from "@x402/core/server";
import { SettleError, VerifyError } from "@x402/core/types";
import type {
  Network,
  PaymentPayload,
  PaymentRequirements,
  SettleResponse,
  SupportedResponse,
  VerifyResponse,
} from "@x402/core/types";
import { isAddressEqual, type Address } from "viem";

import { caip2 } from "../core/deployment.js";
import { ZkPayError, isZkPayError } from "../core/errors.js";
import { MemoryReplayStore, type ReplayStore } from "../core/replay.js";
import type { ShieldedPayee, ShieldedPayeeConfig } from "../core/shielded-payee.js";
import {
  ZK_SHIELDED_SCHEME,
  ZkPaymentPayloadSchema,
  ZkRequirementExtraSchema,
  checkTermsMatch,
  isZkScheme,
  routeOf,
  type Challenge,
} from "../core/wire.js";
import { PAYEE_COMMITMENT_TTL_SECONDS, payeeCommitmentKey } from "../facilitator/scheme.js";
import { registerZkAttributes, type AttributeVerifier } from "./attributes.js";
import { ChallengeIssuer } from "./challenge.js";
import { shieldedPayeeOf } from "./resource-server.js";
import { registerZkServerSchemes } from "./scheme.js";

/** Options of {@link ChallengeGuard}. */
export interface ChallengeGuardOptions {
  challenges: ChallengeIssuer;
  /** The pool the challenges are bound to. */
  facilitator: Address;
  /** Single-use claims and attempt counters; share it (Redis) between instances of the API. Default in memory. */
  replay?: ReplayStore;
  /** Verifications per challenge before `too_many_attempts`. Default 3. */
  maxAttemptsPerChallenge?: number;
  /**
   * The API's shielded payee: the guard opens every zk-shielded payment's payee note
   * before forwarding it (the facilitator cannot decrypt it) and dedupes payee commitments
   * already received. Without it, zk-shielded payments are refused.
   */
  payee?: ShieldedPayee;
  /** How long a received payee commitment is remembered, seconds. Default 30 days. */
  payeeCommitmentTtlSeconds?: number;
}

/**
 * The resource server's half of the checks, in front of any x402 facilitator (an
 * `HTTPFacilitatorClient` pointed at the 402zk facilitator service): the facilitator
 * does not hold the API's challenge secret, so for zk-exact payments the guard checks
 * what only the API can (the challenge's MAC over price, payee, pool and route, its
 * expiry, a cap on attempts), that the payload's terms are this request's (payee, amount,
 * `conditionHash` of that very challenge, expiry, relayer and fee), and makes each
 * challenge single-use, before it forwards `verify` / `settle`. Everything the chain
 * decides (proof, root, note) is the facilitator's. Other schemes pass through untouched.
 *
 * @example
 * const guard = new ChallengeGuard(new HTTPFacilitatorClient({ url }), { challenges, facilitator: pool });
 */
export class ChallengeGuard implements FacilitatorClient {
  readonly #inner: FacilitatorClient;
  readonly #o: ChallengeGuardOptions;
  readonly #replay: ReplayStore;
  readonly #maxAttempts: number;
  /** Challenges this process claimed at verify and has not settled or released yet (with their payee claim). */
  readonly #held = new Map<string, string | undefined>();

  constructor(inner: FacilitatorClient, o: ChallengeGuardOptions) {
    this.#inner = inner;
    this.#o = o;
    this.#replay = o.replay ?? new MemoryReplayStore();
    this.#maxAttempts = Math.max(1, o.maxAttemptsPerChallenge ?? 3);
  }

  async verify(payload: PaymentPayload, req: PaymentRequirements): Promise<VerifyResponse> {
    if (!isZkScheme(req.scheme)) return this.#inner.verify(payload, req);
    let claimed: Claimed;
    try {
      claimed = await this.#claim(payload, req);
    } catch (err) {
      if (!isZkPayError(err)) throw err;
      return { isValid: false, invalidReason: err.reason, invalidMessage: err.message };
    }
    let r: VerifyResponse;
    try {
      r = await this.#inner.verify(payload, req);
    } catch (err) {
      await this.#releaseClaimed(claimed);
      throw err;
    }
    if (!r.isValid) await this.#releaseClaimed(claimed);
    else this.#held.set(claimed.key, claimed.payeeKey);
    return r;
  }

  async settle(payload: PaymentPayload, req: PaymentRequirements): Promise<SettleResponse> {
    if (!isZkScheme(req.scheme)) return this.#inner.settle(payload, req);
    let key = challengeKey(payload);
    let payeeKey: string | undefined;
    try {
      if (key === undefined || !this.#held.has(key)) {
        // Settled without a verify of ours first: check and claim now.
        ({ key, payeeKey } = await this.#claim(payload, req));
      } else {
        payeeKey = this.#held.get(key);
        // Verified by us: the payload settled must still be one for this request.
        this.#checkTerms(payload, req);
      }
    } catch (err) {
      if (!isZkPayError(err)) throw err;
      if (key !== undefined && this.#held.has(key)) await this.#release(key);
      return {
        success: false,
        errorReason: err.reason,
        errorMessage: err.message,
        transaction: "",
        network: req.network,
      };
    }
    this.#held.delete(key);
    // If this throws (the answer was lost), the payment may be on chain: the claim stays
    // (the payer pays again with a new 402; the note's single spend protects it).
    const r = await this.#inner.settle(payload, req);
    // Refused before anything was sent: the payer may pay this 402 again (e.g. after a stale root).
    if (!r.success && !r.transaction) await this.#releaseClaimed({ key, payeeKey });
    return r;
  }

  getSupported(): Promise<SupportedResponse> {
    return this.#inner.getSupported();
  }

  /** A verified payment whose handler failed: free its challenge. */
  async abandon(payload: PaymentPayload): Promise<void> {
    const key = challengeKey(payload);
    if (key && this.#held.has(key)) await this.#release(key);
  }

  async #claim(payload: PaymentPayload, req: PaymentRequirements): Promise<Claimed> {
    const { challenge: c, payeeCommitment } = this.#checkTerms(payload, req);
    const ttl = Math.max(60, this.#o.challenges.ttl(c) + 60);
    const key = `challenge:${c.id.toLowerCase()}`;
    const n = await this.#replay.increment(`attempts:${key}`, ttl);
    if (n > this.#maxAttempts) {
      throw new ZkPayError("too_many_attempts", `this challenge was tried ${n - 1} times; request a new one`);
    }
    // A payee note received already (another payment delivering the same note) is
    // refused before anything is forwarded; the claim stays once the payment settles.
    let payeeKey: string | undefined;
    if (payeeCommitment !== undefined) {
      payeeKey = payeeCommitmentKey(payeeCommitment);
      const payeeTtl = Math.max(ttl, this.#o.payeeCommitmentTtlSeconds ?? PAYEE_COMMITMENT_TTL_SECONDS);
      if (!(await this.#replay.claim(payeeKey, payeeTtl))) {
        throw new ZkPayError("payee_note_invalid", "this payee note was received already");
      }
    }
    if (!(await this.#replay.claim(key, ttl))) {
      if (payeeKey) await this.#replay.release(payeeKey);
      throw new ZkPayError("payment_replayed", "this payment was already accepted");
    }
    return { key, payeeKey };
  }

  /**
   * What only the API can check (the challenge is genuine: its MAC over price, payee,
   * pool and route; not expired), then that the payment is the one this request asks
   * for: the payload's payee and amount are the request's, its `conditionHash` is the
   * hash of that challenge, and a proof's expiry, relayer and fee are the challenge's and
   * the requirement's. The facilitator checks the same terms (it cannot check the MAC):
   * this is defence in depth, so an old or relayed payment never reaches it. Returns the
   * challenge; throws `ZkPayError`.
   */
  #checkTerms(payload: PaymentPayload, req: PaymentRequirements): { challenge: Challenge; payeeCommitment?: bigint } {
    const extra = ZkRequirementExtraSchema.safeParse(payload.accepted?.extra);
    if (!extra.success) {
      const issue = extra.error.issues[0];
      throw new ZkPayError("invalid_payload", `accepted.extra.${issue?.path.join(".")}: ${issue?.message}`);
    }
    const c: Challenge = extra.data.challenge;
    this.#o.challenges.check(c, {
      network: req.network,
      facilitator: this.#o.facilitator,
      asset: req.asset,
      payTo: req.payTo,
      amount: req.amount,
      route: routeOf(req),
    });
    const parsed = ZkPaymentPayloadSchema.safeParse(payload.payload);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ZkPayError("invalid_payload", `payload.${issue?.path.join(".")}: ${issue?.message}`);
    }
    const p = parsed.data;
    const conditionHash = checkTermsMatch(p, req, c);
    if (p.settlement === "server") {
      // The relayer and fee this API's requirement names (from its facilitator's /supported).
      const want = ZkRequirementExtraSchema.pick({ relayer: true, fee: true }).safeParse(req.extra);
      if (
        want.success &&
        (!isAddressEqual(p.terms.relayer as Address, want.data.relayer as Address) ||
          BigInt(p.terms.fee) < BigInt(want.data.fee))
      ) {
        throw new ZkPayError("requirements_mismatch", "relayer or fee differs from the requirement", {
          relayer: want.data.relayer,
          minFee: want.data.fee,
        });
      }
    }
    if (req.scheme !== ZK_SHIELDED_SCHEME) return { challenge: c };
    // The facilitator cannot decrypt the payee note: the API opens it here, before the
    // proof is forwarded (owner, commitment = the proof's payee output, condition, value).
    const payee = this.#o.payee;
    if (!payee) throw new ZkPayError("unsupported_scheme", "this server has no shielded payee");
    if (!payee.isAddress(req.payTo)) {
      throw new ZkPayError("payee_note_not_ours", "this requirement pays another shielded address than this API's");
    }
    // checkTermsMatch made sure a shielded payload carries both.
    const payeeCommitment = BigInt(p.settlement === "server" ? p.proof.payeeCommitment : p.payeeCommitment!);
    payee.open({ payeeMemo: p.payeeMemo!, payeeCommitment, price: BigInt(req.amount), conditionHash });
    return { challenge: c, payeeCommitment };
  }

  async #release(key: string): Promise<void> {
    const payeeKey = this.#held.get(key);
    this.#held.delete(key);
    await this.#releaseClaimed({ key, payeeKey });
  }

  async #releaseClaimed(c: Claimed): Promise<void> {
    this.#held.delete(c.key);
    await this.#replay.release(c.key);
    if (c.payeeKey) await this.#replay.release(c.payeeKey);
  }
}

/** The claims a guarded payment holds: its challenge, and a shielded payment's payee commitment. */
interface Claimed {
  key: string;
  payeeKey?: string;
}

function challengeKey(payload: PaymentPayload): string | undefined {
  const extra = ZkRequirementExtraSchema.safeParse(payload.accepted?.extra);
  return extra.success ? `challenge:${extra.data.challenge.id.toLowerCase()}` : undefined;
}

/**
 * Whether the remote facilitator answers, as this API's own calls see it: a
 * `FacilitatorClient` in front of it that passes every call through and remembers whether
 * the last one reached the facilitator. `zkPaymentMiddleware` asks it before a paid route
 * is served: while the facilitator is unreachable (not started yet, restarting, the network
 * between them down) the API answers 503 `facilitator_unavailable` with `Retry-After`
 * instead of x402's 500, and probes `/supported` again (at most once per Retry-After) until
 * it answers, then serves as usual: no restart of the API.
 *
 * @example
 * const health = facilitatorHealthOf(resourceServer); // from createZkRemoteResourceServer
 * if (!(await health?.probe())) res.setHeader("Retry-After", String(health.retryAfterSeconds));
 */
export class FacilitatorHealth implements FacilitatorClient {
  readonly #inner: FacilitatorClient;
  readonly retryAfterSeconds: number;
  /** undefined until a call got through or failed. */
  #up: boolean | undefined;
  #lastProbe = 0;
  #probing: Promise<boolean> | undefined;
  /** Why the last call failed (for the 503's message). */
  #lastError: string | undefined;

  constructor(inner: FacilitatorClient, o: { retryAfterSeconds?: number } = {}) {
    this.#inner = inner;
    this.retryAfterSeconds = Math.max(1, Math.round(o.retryAfterSeconds ?? 2));
  }

  /** Whether the last call reached the facilitator (undefined before the first). */
  get up(): boolean | undefined {
    return this.#up;
  }

  /** Why the facilitator was last found unreachable. */
  get lastError(): string | undefined {
    return this.#lastError;
  }

  getSupported(): Promise<SupportedResponse> {
    return this.#track(this.#inner.getSupported(), true);
  }

  verify(payload: PaymentPayload, req: PaymentRequirements): Promise<VerifyResponse> {
    return this.#track(this.#inner.verify(payload, req), false);
  }

  settle(payload: PaymentPayload, req: PaymentRequirements): Promise<SettleResponse> {
    return this.#track(this.#inner.settle(payload, req), false);
  }

  /**
   * True when the facilitator answers: at once if the last call got through, else after
   * one `/supported` (shared by concurrent callers, at most one per `retryAfterSeconds`;
   * in between, false without asking).
   */
  async probe(): Promise<boolean> {
    if (this.#up) return true;
    if (this.#probing) return this.#probing;
    if (this.#up === false && Date.now() - this.#lastProbe < this.retryAfterSeconds * 1000) return false;
    this.#lastProbe = Date.now();
    this.#probing = this.getSupported().then(
      () => true,
      () => false,
    );
    try {
      return await this.#probing;
    } finally {
      this.#probing = undefined;
    }
  }

  async #track<T>(call: Promise<T>, any: boolean): Promise<T> {
    try {
      const r = await call;
      this.#up = true;
      return r;
    } catch (err) {
      // A verify or settle the facilitator answered (a refusal) proves it is up; anything
      // else (connection refused, timeout, a 5xx of a facilitator draining) marks it down.
      if (any || !(err instanceof VerifyError || err instanceof SettleError)) {
        this.#up = false;
        this.#lastError =
          err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
      } else this.#up = true;
      throw err;
    }
  }
}

const healths = new WeakMap<x402ResourceServer, FacilitatorHealth>();

/**
 * The {@link FacilitatorHealth} that {@link createZkRemoteResourceServer} put in front of
 * `server`'s remote facilitator, if any.
 */
export function facilitatorHealthOf(server: x402ResourceServer): FacilitatorHealth | undefined {
  return healths.get(server);
}

/** Options of {@link createZkRemoteResourceServer}. */
export interface ZkRemoteResourceServerOptions {
  /** The facilitator, e.g. `new HTTPFacilitatorClient({ url })` pointed at `402zk facilitator`. */
  facilitatorClient: FacilitatorClient;
  pool: { chainId: number; facilitator: Address; token: Address; decimals: number };
  /** HMAC key of this API's challenges (never sent to the facilitator). */
  challengeSecret: string;
  replay?: ReplayStore;
  challengeTtlSeconds?: number;
  maxAttemptsPerChallenge?: number;
  /** Retry-After of the 503 answered while the facilitator is unreachable, seconds (default 2). */
  retryAfterSeconds?: number;
  /**
   * The API's shielded payee, to accept `zk-shielded` routes: its notes are opened here
   * (viewing key and owner key only) before a payment is forwarded to the facilitator.
   */
  payee?: ShieldedPayeeConfig | ShieldedPayee;
  /** Verify & Pay: the attribute verifier (see `createZkResourceServer`'s `attributes`); proofs are checked here, never forwarded. */
  attributes?: AttributeVerifier;
}

/**
 * An `@x402/core` resource server for zk-exact that settles through a remote
 * facilitator (the 402zk facilitator service over HTTP): the zk-exact server scheme
 * issues the challenges, a {@link ChallengeGuard} checks them before forwarding. Pass
 * the result to `zkPaymentMiddleware` (402zk/express): it answers 503 with Retry-After
 * while the facilitator is unreachable, also at start-up, and recovers by itself
 * (`@x402/express`'s plain `paymentMiddleware` answers 500 then).
 *
 * @example
 * const facilitatorClient = new HTTPFacilitatorClient({ url: "http://127.0.0.1:4022" });
 * const { resourceServer, network } = createZkRemoteResourceServer({ facilitatorClient, pool, challengeSecret });
 * app.use(paymentMiddleware({ "GET /weather": { accepts: { scheme: "zk-exact", network, payTo, price: "$0.01" } } }, resourceServer));
 */
export function createZkRemoteResourceServer(o: ZkRemoteResourceServerOptions) {
  const network = caip2(o.pool.chainId) as Network;
  const challenges = new ChallengeIssuer({ secret: o.challengeSecret });
  // The API starts whether or not the facilitator is up; zkPaymentMiddleware answers 503
  // until it answers (see FacilitatorHealth).
  const health = new FacilitatorHealth(o.facilitatorClient, { retryAfterSeconds: o.retryAfterSeconds });
  const payee = shieldedPayeeOf(o.payee);
  const guard = new ChallengeGuard(health, {
    challenges,
    facilitator: o.pool.facilitator,
    replay: o.replay,
    maxAttemptsPerChallenge: o.maxAttemptsPerChallenge,
    payee,
  });
  const resourceServer = registerZkServerSchemes(new x402ResourceServer(guard), {
    network,
    pool: o.pool,
    challenges,
    challengeTtlSeconds: o.challengeTtlSeconds,
    payee,
  });
  resourceServer.onVerifiedPaymentCanceled(async (ctx) => {
    await guard.abandon(ctx.paymentPayload as PaymentPayload);
  });
  healths.set(resourceServer, health);
  if (o.attributes) registerZkAttributes(resourceServer, o.attributes);
  return { resourceServer, network, challenges, guard, health, payee };
}
