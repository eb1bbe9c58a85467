import { x402ResourceServer, type FacilitatorClient } from "@x402/core/server";
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
import {
  ZK_SCHEME,
  ZkPaymentPayloadSchema,
  ZkRequirementExtraSchema,
  checkTermsMatch,
  routeOf,
  type Challenge,
} from "../core/wire.js";
import { ChallengeIssuer } from "./challenge.js";
import { ZkExactServerScheme } from "./scheme.js";

/** Options of {@link ChallengeGuard}. */
export interface ChallengeGuardOptions {
  challenges: ChallengeIssuer;
  /** The pool the challenges are bound to. */
  facilitator: Address;
  /** Single-use claims and attempt counters; share it (Redis) between instances of the API. Default in memory. */
  replay?: ReplayStore;
  /** Verifications per challenge before `too_many_attempts`. Default 3. */
  maxAttemptsPerChallenge?: number;
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
  /** Challenges this process claimed at verify and has not settled or released yet. */
  readonly #held = new Set<string>();

  constructor(inner: FacilitatorClient, o: ChallengeGuardOptions) {
    this.#inner = inner;
    this.#o = o;
    this.#replay = o.replay ?? new MemoryReplayStore();
    this.#maxAttempts = Math.max(1, o.maxAttemptsPerChallenge ?? 3);
  }

  async verify(payload: PaymentPayload, req: PaymentRequirements): Promise<VerifyResponse> {
    if (req.scheme !== ZK_SCHEME) return this.#inner.verify(payload, req);
    let key: string;
    try {
      key = await this.#claim(payload, req);
    } catch (err) {
      if (!isZkPayError(err)) throw err;
      return { isValid: false, invalidReason: err.reason, invalidMessage: err.message };
    }
    let r: VerifyResponse;
    try {
      r = await this.#inner.verify(payload, req);
    } catch (err) {
      await this.#release(key);
      throw err;
    }
    if (!r.isValid) await this.#release(key);
    else this.#held.add(key);
    return r;
  }

  async settle(payload: PaymentPayload, req: PaymentRequirements): Promise<SettleResponse> {
    if (req.scheme !== ZK_SCHEME) return this.#inner.settle(payload, req);
    let key = challengeKey(payload);
    try {
      if (key === undefined || !this.#held.has(key)) {
        // Settled without a verify of ours first: check and claim now.
        key = await this.#claim(payload, req);
      } else {
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
    if (!r.success && !r.transaction) await this.#replay.release(key);
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

  async #claim(payload: PaymentPayload, req: PaymentRequirements): Promise<string> {
    const c = this.#checkTerms(payload, req);
    const ttl = Math.max(60, this.#o.challenges.ttl(c) + 60);
    const key = `challenge:${c.id.toLowerCase()}`;
    const n = await this.#replay.increment(`attempts:${key}`, ttl);
    if (n > this.#maxAttempts) {
      throw new ZkPayError("too_many_attempts", `this challenge was tried ${n - 1} times; request a new one`);
    }
    if (!(await this.#replay.claim(key, ttl))) {
      throw new ZkPayError("payment_replayed", "this payment was already accepted");
    }
    return key;
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
  #checkTerms(payload: PaymentPayload, req: PaymentRequirements): Challenge {
    const extra = ZkRequirementExtraSchema.safeParse(payload.accepted?.extra);
    if (!extra.success) throw new ZkPayError("invalid_payload", `requirement extra: ${extra.error.issues[0]?.message}`);
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
    checkTermsMatch(p, req, c);
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
    return c;
  }

  async #release(key: string): Promise<void> {
    this.#held.delete(key);
    await this.#replay.release(key);
  }
}

function challengeKey(payload: PaymentPayload): string | undefined {
  const extra = ZkRequirementExtraSchema.safeParse(payload.accepted?.extra);
  return extra.success ? `challenge:${extra.data.challenge.id.toLowerCase()}` : undefined;
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
}

/**
 * An `@x402/core` resource server for zk-exact that settles through a remote
 * facilitator (the 402zk facilitator service over HTTP): the zk-exact server scheme
 * issues the challenges, a {@link ChallengeGuard} checks them before forwarding. Pass
 * the result to `@x402/express`'s `paymentMiddleware` (or `zkPaymentMiddleware`).
 *
 * @example
 * const facilitatorClient = new HTTPFacilitatorClient({ url: "http://127.0.0.1:4022" });
 * const { resourceServer, network } = createZkRemoteResourceServer({ facilitatorClient, pool, challengeSecret });
 * app.use(paymentMiddleware({ "GET /weather": { accepts: { scheme: "zk-exact", network, payTo, price: "$0.01" } } }, resourceServer));
 */
export function createZkRemoteResourceServer(o: ZkRemoteResourceServerOptions) {
  const network = caip2(o.pool.chainId) as Network;
  const challenges = new ChallengeIssuer({ secret: o.challengeSecret });
  const guard = new ChallengeGuard(o.facilitatorClient, {
    challenges,
    facilitator: o.pool.facilitator,
    replay: o.replay,
    maxAttemptsPerChallenge: o.maxAttemptsPerChallenge,
  });
  const resourceServer = new x402ResourceServer(guard).register(
    network,
    new ZkExactServerScheme({
      challenges,
      pools: [{ network, facilitator: o.pool.facilitator, token: o.pool.token, decimals: o.pool.decimals }],
      challengeTtlSeconds: o.challengeTtlSeconds,
    }),
  );
  resourceServer.onVerifiedPaymentCanceled(async (ctx) => {
    await guard.abandon(ctx.paymentPayload as PaymentPayload);
  });
  return { resourceServer, network, challenges, guard };
}
