import type { Address, Hex, PublicClient } from "viem";

import { EdDsaPoseidonKey } from "../core/eddsa.js";
import { ZkPayError, isZkPayError } from "../core/errors.js";
import { ReceiptChecker } from "../core/receipts.js";
import { isShieldedAddress } from "../core/shielded-address.js";
import type { ShieldedPayee } from "../core/shielded-payee.js";
import { Groth16Verifier } from "../core/verifier.js";
import { conditionHashFor, type Challenge } from "../core/wire.js";
import type { FairQueue, QueueBatch } from "../core/work-queue.js";
import { checkTerms, credentialMessage, serviceIdOf, type CredentialTerms } from "./credential.js";
import {
  SESSION_WELL_KNOWN,
  credentialToWire,
  presentationSignals,
  type CredentialWire,
  type Presentation,
  type SessionInfo,
  type SessionOffer,
} from "./wire.js";

/**
 * What the service needs of the API's challenge issuer (`ChallengeIssuer` in
 * 402zk/server): checking that a challenge is its own, for a binding.
 */
export interface ChallengeChecker {
  /** Checks that the challenge of a recovery request was issued by this server for these terms. */
  check(
    c: Challenge,
    b: { network: string; facilitator: Address; asset: string; payTo: string; amount: string; route: string },
    opts?: { allowExpired?: boolean },
  ): void;
}

/**
 * Where accepted one-time tokens are kept: the API's `ReplayStore` (`MemoryReplayStore`,
 * `RedisReplayStore` in 402zk/core's replay module), declared here by what the service uses.
 */
export interface TokenStore {
  /** True once per key until it expires; false for a key already claimed. Atomic across instances for a shared store. */
  claim(key: string, ttlSeconds: number): Promise<boolean>;
  /** Whether every instance sees the same keys (Redis), not only this process. */
  readonly shared?: boolean;
}

/** What a service sells: one purchase buys one credential with these terms. */
export interface SessionOfferConfig {
  /** Short lowercase slug, unique per service ("day", "pro-100"). */
  id: string;
  tier: number;
  durationSeconds: number;
  maxPresentations: number;
  /** Price in the pool token's base units. */
  price: bigint;
}

/** Options of {@link SessionService}. */
export interface SessionServiceOptions {
  /**
   * 32 bytes of secret hex: the issuer key. Every instance of one service shares it; its
   * public key names the service (`serviceId`), so changing it starts a new service
   * whose credentials the old ones are not.
   */
  issuerKey: Hex | string;
  offers: SessionOfferConfig[];
  /** The presentation circuit's verification key (circuits/artifacts/presentation.vkey.json). */
  vkey: unknown;
  /**
   * One-time tokens already accepted. In memory for one instance; a shared store
   * (`RedisReplayStore`) for several, or each instance would accept every token once.
   */
  replay: TokenStore;
  /** How many instances share `issuerKey` (with more than one, `replay` must be shared). Default 1. */
  instances?: number;
  /** Where purchases are paid: the pool's Facilitator contract and the chain it is on. */
  pool: { facilitator: Address; chainId: number };
  /**
   * Payee of credential purchases: the service's address (sold through zk-exact), or its
   * shielded address (`zk402...`, sold through zk-shielded; needs `payee`).
   */
  payTo: Address | string;
  /**
   * The service's shielded payee (viewing key and owner key), required when `payTo` is a
   * shielded address: issuance opens the purchase's payee note (ours, worth the offer's
   * price, for this challenge and holder) before it checks the shielded receipt.
   */
  payee?: ShieldedPayee;
  /** Reads receipts and block times at issuance (never per presentation). */
  publicClient: PublicClient;
  /** The API's challenge issuer: a recovery request must show a challenge this server issued. */
  challenges: ChallengeChecker;
  /** Granularity of a presentation's public time, seconds. Default 60. */
  timeStep?: number;
  /**
   * The longest lifetime any credential of this issuer key was ever sold with, seconds
   * (default: the longest offer now). Tokens are kept that long: when an offer is
   * removed or shortened, keep this at the old value until its credentials expired, or
   * their tokens would leave the store early and could be presented again.
   */
  credentialLifetimeSeconds?: number;
  /** Confirmations a purchase needs before its credential is issued. Default 1. */
  minConfirmations?: number;
  /** Clock in unix seconds (tests). Default: the system clock. */
  now?: () => number;
  /**
   * Largest number of presentations verified together with one pairing check (a batch
   * that fails is re-checked proof by proof). Default 16; 1 turns batching off.
   */
  maxVerifyBatch?: number;
}

/** A route's session requirements. */
export interface SessionRouteConfig {
  /** Lowest credential tier the route serves. Default 0. */
  requiredTier?: number;
  /**
   * Require the presentation to be bound to this request (method, path and body), so it
   * is good for this request only: for routes that change state. Default false, which
   * lets clients prepare presentations in advance.
   */
  bindRequest?: boolean;
}

/** What {@link SessionService.accept} learned about an accepted presentation. */
export interface AcceptedPresentation {
  requiredTier: number;
  originToken: bigint;
}

interface PendingVerify {
  proof: Presentation["proof"];
  signals: bigint[];
  resolve: (ok: boolean) => void;
}

/**
 * The admission queue a presentation's verification waits in, and the client it is
 * queued for (`Admission.admit` in 402zk/server gives both).
 */
export interface PresentationQueue {
  queue: FairQueue;
  key: string;
  priority?: number;
}

/**
 * The server side of session credentials, framework-free: issues credentials for paid
 * purchases, and accepts presentations locally (no facilitator and no RPC call per
 * request): checks its public values, verifies the Groth16 proof with the SDK's fast
 * verifier (concurrent presentations share one batched pairing check) and claims its
 * one-time token in the replay store.
 *
 * The Express adapter is `zkSessionMiddleware` in `402zk/express`.
 *
 * @example
 * const sessions = await SessionService.create({ issuerKey, offers, vkey, replay, pool, payTo, publicClient, challenges });
 * await sessions.accept(presentation, { requiredTier: 1, context: 0n });
 */
export class SessionService {
  readonly serviceId: bigint;
  readonly originId: bigint;
  readonly timeStep: number;
  readonly offers: readonly SessionOfferConfig[];
  /** Seconds a token stays in the replay store: the longest credential lifetime sold, plus two time steps. */
  readonly tokenTtlSeconds: number;
  readonly payTo: Address | string;
  readonly #o: SessionServiceOptions;
  /** Signs credential messages only: never a value a client chose (that would be a forgery oracle). */
  readonly #key: EdDsaPoseidonKey;
  readonly #verifier: Groth16Verifier;
  readonly #receipts: ReceiptChecker;
  readonly #now: () => number;
  readonly #maxBatch: number;
  #queue: PendingVerify[] = [];
  #flushScheduled = false;
  /** Presentations that reach the admission queue together are verified together in its slot. */
  readonly #batch: QueueBatch<Omit<PendingVerify, "resolve">, boolean>;

  private constructor(o: SessionServiceOptions, verifier: Groth16Verifier) {
    this.#o = o;
    this.#key = EdDsaPoseidonKey.fromSecret(o.issuerKey);
    this.#verifier = verifier;
    this.serviceId = serviceIdOf(this.#key.publicKey);
    // Tokens are per (credential, origin). The origin is the service itself, so every
    // instance sharing the issuer key shares one token space: an origin of its own per
    // instance would multiply maxPresentations by the number of instances.
    this.originId = this.serviceId;
    this.timeStep = o.timeStep ?? 60;
    this.payTo = o.payTo;
    if (isShieldedAddress(o.payTo) && !o.payee?.isAddress(o.payTo)) {
      throw new ZkPayError(
        "invalid_argument",
        "a session service paid at a shielded address needs that address's payee (its viewing key) to open purchases",
      );
    }
    this.#now = o.now ?? (() => Math.floor(Date.now() / 1000));
    this.#maxBatch = o.maxVerifyBatch ?? 16;
    this.#batch = { maxSize: Math.max(1, this.#maxBatch), run: async (items) => this.#verdicts(items) };
    this.#receipts = new ReceiptChecker({
      publicClient: o.publicClient,
      facilitator: o.pool.facilitator,
      chainId: o.pool.chainId,
    });
    if (!Number.isInteger(this.timeStep) || this.timeStep < 1) {
      throw new ZkPayError("invalid_argument", `timeStep must be a positive integer, got ${this.timeStep}`);
    }
    const instances = o.instances ?? 1;
    if (instances > 1 && !o.replay.shared) {
      throw new ZkPayError(
        "invalid_argument",
        `${instances} instances need a token store shared between them (RedisReplayStore): ` +
          "with an in-memory store each instance would accept every presentation once",
      );
    }
    if (o.offers.length === 0) throw new ZkPayError("invalid_argument", "a session service needs at least one offer");
    const ids = new Set<string>();
    for (const offer of o.offers) {
      if (!/^[a-z0-9][a-z0-9-]{0,31}$/.test(offer.id)) {
        throw new ZkPayError("invalid_argument", `offer id ${JSON.stringify(offer.id)} must be a short lowercase slug`);
      }
      if (ids.has(offer.id)) throw new ZkPayError("invalid_argument", `offer id ${offer.id} appears twice`);
      ids.add(offer.id);
      if (typeof offer.price !== "bigint" || offer.price <= 0n) {
        throw new ZkPayError("invalid_argument", `offer ${offer.id}: price must be a positive bigint of base units`);
      }
      // At most 2^34 s (~544 years): issuance at any time before the year 36000 then
      // stays inside the circuit's 40-bit times, so a paid purchase never fails to issue.
      if (
        !Number.isSafeInteger(offer.durationSeconds) ||
        offer.durationSeconds < 1 ||
        offer.durationSeconds > 2 ** 34
      ) {
        throw new ZkPayError("invalid_argument", `offer ${offer.id}: durationSeconds must be an integer in [1, 2^34]`);
      }
      // The terms must fit the circuit from any issue time up to the year 36812.
      checkTerms({
        serviceId: 0n,
        tier: offer.tier,
        issuedAt: 0,
        expiresAt: offer.durationSeconds,
        maxPresentations: offer.maxPresentations,
      });
    }
    this.offers = o.offers;
    // A credential lives one step longer than its offer's duration (issuedAt is a step
    // early), and presentations of the steps around the server's are accepted.
    this.tokenTtlSeconds =
      Math.max(o.credentialLifetimeSeconds ?? 0, ...o.offers.map((x) => x.durationSeconds)) + 3 * this.timeStep;
  }

  /** Prepares the verification key once and builds the service. */
  static async create(o: SessionServiceOptions): Promise<SessionService> {
    let verifier: Groth16Verifier;
    try {
      verifier = await Groth16Verifier.fromVkey(o.vkey);
    } catch (err) {
      throw new ZkPayError("invalid_argument", `bad presentation verification key: ${String(err)}`);
    }
    return new SessionService(o, verifier);
  }

  /** The issuer's public key (what `serviceId` names). */
  get issuerPublicKey(): readonly [bigint, bigint] {
    return this.#key.publicKey;
  }

  /** The route of offer `id`'s purchase (POST). */
  purchasePath(offerId: string): string {
    return `${SESSION_WELL_KNOWN}/buy/${offerId}`;
  }

  /** The public terms, for a route (its tier and binding) or for the whole service. */
  info(route: SessionRouteConfig = {}): SessionInfo {
    const offers: SessionOffer[] = this.offers.map((o) => ({
      id: o.id,
      tier: o.tier,
      durationSeconds: o.durationSeconds,
      maxPresentations: o.maxPresentations,
      price: o.price.toString(),
      purchasePath: this.purchasePath(o.id),
    }));
    return {
      v: 1,
      serviceId: this.serviceId.toString(),
      issuer: [this.#key.publicKey[0].toString(), this.#key.publicKey[1].toString()],
      originId: this.originId.toString(),
      timeStep: this.timeStep,
      requiredTier: route.requiredTier ?? 0,
      bindRequest: route.bindRequest ?? false,
      offers,
      recoverPath: `${SESSION_WELL_KNOWN}/recover`,
    };
  }

  /** The offer `id`; throws `invalid_argument` for an unknown one. */
  offer(id: string): SessionOfferConfig {
    const offer = this.offers.find((o) => o.id === id);
    if (!offer) throw new ZkPayError("invalid_argument", `no offer ${JSON.stringify(id)} here`);
    return offer;
  }

  /**
   * Issues the credential a paid purchase bought. Deterministic and idempotent: the
   * terms come from the offer and the chain (issuedAt is the timestamp of the block that
   * recorded the payment, rounded down to the time step), and the signature is deterministic, so asking again (a client
   * that crashed before storing it) returns the same credential. The payer cannot
   * inflate anything: it chooses only the holder commitment, which its payment's
   * condition binds (`conditionHashFor`), so one payment yields credentials for one
   * commitment only.
   *
   * Throws `issuance_refused` (with the chain's answer) unless receipt `receiptId` pays
   * this service the offer's price for `challenge` and `holderCommitment`.
   *
   * @example
   * const credential = await sessions.issue({ offerId: "day", holderCommitment, receiptId, challenge });
   */
  async issue(r: {
    offerId: string;
    holderCommitment: bigint;
    receiptId: Hex;
    challenge: Challenge;
    network: string;
    asset: Address;
    /** A recovery: the challenge may have expired since (its MAC must still be ours). */
    recovering?: boolean;
    /** A shielded purchase: its payee note's memo and commitment (the receipt binds both). */
    payeeMemo?: string;
    payeeCommitment?: bigint;
  }): Promise<CredentialWire> {
    const offer = this.offer(r.offerId);
    // The challenge binds the offer: the purchase route is part of its MAC.
    try {
      this.#o.challenges.check(
        r.challenge,
        {
          network: r.network,
          facilitator: this.#o.pool.facilitator,
          asset: r.asset,
          payTo: this.payTo,
          amount: offer.price.toString(),
          route: `POST ${this.purchasePath(offer.id)}`,
        },
        { allowExpired: r.recovering === true },
      );
    } catch (err) {
      if (isZkPayError(err)) throw new ZkPayError("issuance_refused", err.message, { cause: err.reason });
      throw err;
    }
    const conditionHash = conditionHashFor(r.challenge, r.holderCommitment);
    const minConfirmations = this.#o.minConfirmations ?? 1;
    let check;
    if (isShieldedAddress(this.payTo) && this.#o.payee) {
      // Shielded: the chain shows neither payee nor amount. Open the purchase's payee note
      // (ours, at least the price, for this challenge and holder), then check that the
      // receipt binds exactly that note: a payment to anyone else cannot be passed off.
      if (r.payeeMemo === undefined || r.payeeCommitment === undefined) {
        throw new ZkPayError(
          "issuance_refused",
          "a shielded purchase names its payee note (payeeMemo, payeeCommitment)",
        );
      }
      try {
        this.#o.payee.open({
          payeeMemo: r.payeeMemo,
          payeeCommitment: r.payeeCommitment,
          price: offer.price,
          conditionHash,
        });
      } catch (err) {
        if (isZkPayError(err)) throw new ZkPayError("issuance_refused", err.message, { cause: err.reason });
        throw err;
      }
      // The receipt binds the payee memo too: the purchase must have put on chain the memo
      // opened here (the service's wallet finds the note only by that memo).
      check = await this.#receipts.check({
        id: r.receiptId,
        payeeCommitment: r.payeeCommitment,
        conditionHash,
        payeeMemo: r.payeeMemo as Hex,
        minConfirmations,
      });
    } else {
      check = await this.#receipts.check({
        id: r.receiptId,
        payTo: this.payTo as Address,
        amount: offer.price,
        conditionHash,
        minConfirmations,
      });
    }
    if (check.state !== "paid") {
      const why: Record<string, string> = {
        not_paid: "no payment with this receipt id on chain",
        mismatch: "the receipt pays another payee, amount, challenge or holder commitment (or, shielded, payee memo)",
        unconfirmed: `the payment has ${check.confirmations} confirmations, not enough yet`,
      };
      throw new ZkPayError("issuance_refused", why[check.state] ?? check.state, { receipt: check.state });
    }
    const block = await this.#o.publicClient.getBlock({ blockNumber: BigInt(check.paidAtBlock) });
    // Presentations carry a coarse `now` (a multiple of the time step) and the circuit
    // checks issuedAt <= now. issuedAt is therefore the start of the step BEFORE the
    // purchase block's: a credential presents at once, also for a client (or server)
    // whose clock is a little behind the chain's. The credential still lasts the full
    // duration after the purchase block's step.
    const blockStep = Math.floor(Number(block.timestamp) / this.timeStep) * this.timeStep;
    const issuedAt = blockStep - this.timeStep;
    const terms: CredentialTerms = {
      serviceId: this.serviceId,
      tier: offer.tier,
      issuedAt,
      expiresAt: blockStep + offer.durationSeconds,
      maxPresentations: offer.maxPresentations,
    };
    const signature = this.#key.sign(credentialMessage(terms, r.holderCommitment));
    return credentialToWire(
      { ...terms, holderCommitment: r.holderCommitment, issuer: this.#key.publicKey, signature },
      offer.id,
      r.receiptId,
    );
  }

  /**
   * The coarse times a presentation may carry now: this time step, the previous one (a
   * presentation prepared just before a step ended) and the next one (a client clock a
   * little ahead of the server's).
   */
  acceptedTimes(): [number, number, number] {
    const step = this.currentTime();
    return [step, step - this.timeStep, step + this.timeStep];
  }

  /** The `now` a client should prove with at this moment (refusals for a stale time carry it). */
  currentTime(): number {
    return Math.floor(this.#now() / this.timeStep) * this.timeStep;
  }

  /**
   * Accepts a presentation for a route, or throws a `ZkPayError` whose reason tells the
   * client what to do: `wrong_service`, `tier_too_low` (prove for the route's tier),
   * `stale_presentation` (prove again with the current time), `context_mismatch`,
   * `invalid_presentation` (the proof does not verify: buy a new credential),
   * `origin_token_replayed`. Checks cheapest first; the token is claimed only once the
   * proof verified, so nobody can burn another holder's token with a bad proof.
   *
   * @example
   * await sessions.accept(p, { requiredTier: 1, context: 0n });
   */
  async accept(
    p: Presentation,
    route: {
      requiredTier: number;
      context?: bigint;
      /**
       * Verify in this bounded, fair queue (the one payment proofs wait in), as this
       * client: a flood of presentations then waits its turn like a flood of payments and
       * cannot starve paid requests. Its `server_busy` refusals pass through. Without it,
       * presentations are verified at once (batched per turn of the event loop).
       */
      queue?: PresentationQueue;
    },
  ): Promise<AcceptedPresentation> {
    if (p.serviceId !== this.serviceId) {
      throw new ZkPayError("wrong_service", "the presentation is for another service");
    }
    if (p.originId !== this.originId) throw new ZkPayError("wrong_service", "the presentation is for another origin");
    // Exactly the route's tier: a higher bound would tell more about the holder's tier
    // than the route needs (and tempt handlers to grant by it).
    if (p.requiredTier !== route.requiredTier) {
      throw new ZkPayError(
        "tier_too_low",
        `this route requires a presentation for tier ${route.requiredTier}, not ${p.requiredTier}`,
        { requiredTier: route.requiredTier },
      );
    }
    const times = this.acceptedTimes();
    if (!times.includes(p.now)) {
      throw new ZkPayError(
        "stale_presentation",
        `the presentation's time ${p.now} is not the current step ${times[0]}`,
        {
          now: times[0],
          timeStep: this.timeStep,
        },
      );
    }
    if (route.context !== undefined && p.context !== route.context) {
      throw new ZkPayError("context_mismatch", "the presentation is bound to another request");
    }
    if (!(await this.#verify(p, route.queue))) {
      throw new ZkPayError("invalid_presentation", "the presentation's proof does not verify");
    }
    const key = `zks:${this.serviceId.toString(16).slice(0, 16)}:${this.originId.toString(16)}:${p.originToken.toString(16)}`;
    if (!(await this.#o.replay.claim(key, this.tokenTtlSeconds))) {
      throw new ZkPayError("origin_token_replayed", "this presentation was already used");
    }
    return { requiredTier: p.requiredTier, originToken: p.originToken };
  }

  /**
   * Queues a proof for verification. Proofs that arrive in the same turn of the event
   * loop are checked together (one random linear combination, one final
   * exponentiation); a batch that fails is re-checked proof by proof, so one bad proof
   * never refuses a good one.
   */
  #verify(p: Presentation, queue?: PresentationQueue): Promise<boolean> {
    const signals = presentationSignals(p);
    if (queue) return queue.queue.runBatched(this.#batch, queue.key, { proof: p.proof, signals }, queue.priority ?? 0);
    if (this.#maxBatch <= 1) return Promise.resolve(this.#verifier.verify(p.proof, signals));
    return new Promise((resolve) => {
      this.#queue.push({ proof: p.proof, signals, resolve });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#flushScheduled = false;
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#maxBatch);
      const verdicts = this.#verdicts(batch);
      batch.forEach((b, i) => b.resolve(verdicts[i]!));
    }
  }

  /** One verdict per proof: one pairing check for all, proof by proof if that fails. */
  #verdicts(batch: Omit<PendingVerify, "resolve">[]): boolean[] {
    try {
      const verdicts =
        batch.length === 1
          ? [this.#verifier.verify(batch[0]!.proof, batch[0]!.signals)]
          : this.#verifier.verifyBatchDetailed(batch.map((b) => ({ proof: b.proof, publicSignals: b.signals })));
      return batch.map((_, i) => verdicts[i] === true);
    } catch {
      return batch.map(() => false);
    }
  }
}
