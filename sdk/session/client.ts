import { x402Client } from "@x402/core/client";
import type { PaymentRequirements } from "@x402/core/types";
import type { Hex } from "viem";

import type { ZkIdentityOptions } from "../client/actions/attribute.js";
import { wrapFetchWithZkPayment } from "../client/fetch.js";
import { ZkExactClientScheme, ZkShieldedClientScheme, type ZkClientOptions } from "../client/scheme.js";
import type { PrivateWallet } from "../client/wallet.js";
import { ZkPayError } from "../core/errors.js";
import { randomNonce128 } from "../core/memo.js";
import type { CircuitArtifacts } from "../core/circuits/artifacts.js";
import type { ProofProgress } from "../core/prover.js";
import { isZkScheme, type SettlementMode } from "../core/wire.js";
import { requestContext } from "./context.js";
import { credentialSignatureValid, holderCommitmentOf, serviceIdOf, type Credential } from "./credential.js";
import { provePresentation } from "./prove.js";
import {
  MemorySessionStore,
  emptySessionState,
  summarizeCredentials,
  type CredentialSummary,
  type PendingPurchase,
  type SessionState,
  type SessionStore,
  type StoredCredential,
} from "./store.js";
import {
  SESSION_BODY_FIELD,
  SESSION_HEADER,
  SESSION_REFUSAL_HEADER,
  SessionInfoSchema,
  credentialFromWire,
  encodePresentation,
  presentationToWire,
  type Presentation,
  type SessionInfo,
  type SessionOffer,
  type SessionRefusal,
} from "./wire.js";
import { zkCredentialClientExtension, zkCredentialFromPaymentResponse } from "./zk-credential.js";

/** Options of {@link SessionClient}. */
export interface SessionClientOptions {
  /** Pays for credentials (and per-request payments); its seed derives the holder secrets. */
  wallet: PrivateWallet;
  /** The presentation circuit's wasm and zkey (`presentationArtifacts()` in 402zk/node). */
  artifacts: CircuitArtifacts;
  /** Where credentials live. Default in memory: use `FileSessionStore` for credentials you pay for. */
  store?: SessionStore;
  /**
   * When no stored credential serves a request: "auto" (default) buys the offer with the
   * lowest price per presentation among those of a high enough tier; "never" does not buy;
   * a function picks an offer (or none).
   */
  buy?: "auto" | "never" | ((offers: SessionOffer[], info: SessionInfo) => SessionOffer | undefined);
  /** Refuse credential offers above this price (base units). */
  maxPrice?: bigint;
  /**
   * Largest relayer fee accepted on top of a price, base units (default, as for zk-exact
   * payments: at most the price and at most 0.1 token; see `defaultMaxFee`). A higher fee
   * is refused with `fee_too_high` before proving.
   */
  maxFee?: bigint;
  /** When not buying: pay the request itself with zk-exact (default true), at most `maxPrice` (+ `maxFee`). */
  payPerRequest?: boolean;
  /** How payments reach the chain (default "server": the service's relayer submits them). */
  settlement?: SettlementMode;
  /** Where presentations travel: the `zk-session` header (default) or a JSON body field. */
  transport?: "header" | "body";
  /**
   * How a purchase asks for its credential: "body" (default: the purchase route answers
   * with it) or "extension" (x402's `zk-credential` extension: the payment's `extensions`
   * carry the holder commitment and the credential is read from `PAYMENT-RESPONSE`; the
   * body's copy is used only when the service does not speak the extension).
   */
  issuance?: "body" | "extension";
  /**
   * Prove the next presentation in the background after each request on a route that
   * does not bind presentations to requests (default true).
   */
  prepareAhead?: boolean;
  /** Progress of proofs (payments and presentations). */
  onProgress?: (p: ProofProgress) => void;
  /** fetch to use (default globalThis.fetch). */
  fetch?: typeof fetch;
  /** Clock in unix seconds (tests). */
  now?: () => number;
  /**
   * Verify & Pay: identity credentials and the attribute circuit, for services that sell
   * credentials (or routes that charge per request) only to holders meeting an attribute
   * rule: the purchase's payment carries the attribute proof.
   */
  identity?: ZkIdentityOptions;
}

/** Timings of the last session request (for benchmarks and logs). */
export interface SessionRequestTimings {
  /** "prepared" (proved in advance), "proved" (on demand), "bought" (a purchase first) or "paid" (per request). */
  mode: "prepared" | "proved" | "bought" | "paid";
  proveMs: number;
  totalMs: number;
}

interface Prepared {
  key: string;
  promise: Promise<Presentation | undefined>;
}

/**
 * The client of session credentials: a `fetch` that presents a stored credential when
 * it has one for the route, buys a credential when none is left (or pays per request),
 * and proves the next presentation in the background.
 *
 * Crash safety: a purchase is recorded before it is paid, with the challenge and the
 * receipt id before the payment is sent; a presentation index is saved before the
 * presentation is. After a crash, {@link recoverPending} (also run by {@link open})
 * fetches the credentials of paid purchases from the service, which re-issues them from
 * the chain; an index at most skips one presentation, never reuses one.
 *
 * @example
 * const sessions = await SessionClient.open({ wallet, artifacts: presentationArtifacts(), store: new FileSessionStore("./wallet/sessions.json") });
 * const res = await sessions.fetch("http://127.0.0.1:4021/data");
 * console.log(sessions.credentials()); // remaining presentations per credential
 */
export class SessionClient {
  readonly #o: SessionClientOptions;
  readonly #store: SessionStore;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;
  #state: SessionState;
  #prepared: Prepared | undefined;
  /** Purchases in flight, by origin and offer. */
  readonly #buying = new Map<string, Promise<StoredCredential>>();
  /** Server time step minus ours, per origin (learned from a stale_presentation refusal). */
  readonly #skew = new Map<string, number>();
  #saveChain: Promise<void> = Promise.resolve();
  /** Timings of the last request made through {@link SessionClient.fetch}. */
  lastRequest: SessionRequestTimings | undefined;

  private constructor(o: SessionClientOptions, store: SessionStore, state: SessionState) {
    this.#o = o;
    this.#store = store;
    this.#state = state;
    this.#fetch = o.fetch ?? globalThis.fetch.bind(globalThis);
    this.#now = o.now ?? (() => Math.floor(Date.now() / 1000));
  }

  /** Loads the store and recovers purchases a crash left unfinished. */
  static async open(o: SessionClientOptions): Promise<SessionClient> {
    const store = o.store ?? new MemorySessionStore();
    const state = (await store.load()) ?? emptySessionState();
    const client = new SessionClient(o, store, state);
    await client.recoverPending().catch(() => 0);
    return client;
  }

  /** Stored credentials with their remaining presentations. */
  credentials(): CredentialSummary[] {
    return summarizeCredentials(this.#state, this.#now());
  }

  /** Presentations left at `origin` across its unexpired credentials. */
  remaining(origin: string): number {
    return this.credentials()
      .filter((c) => c.origin === new URL(origin).origin && !c.expired)
      .reduce((n, c) => n + c.remaining, 0);
  }

  /**
   * Forgets the pinned session terms of `origin` (after an announced key rotation). Its
   * stored credentials stay, but are only usable if the service takes the old key back.
   */
  async forgetService(origin: string): Promise<void> {
    delete this.#state.services[new URL(origin).origin];
    await this.#save();
  }

  /** Purchases paid but not yet issued (a crash, a lost answer). */
  pendingPurchases(): readonly PendingPurchase[] {
    return this.#state.pending;
  }

  /**
   * A `fetch` that pays with session credentials: presents one when it holds a usable
   * credential for the route, otherwise learns the route's terms from its 402 and buys
   * a credential (or pays the request). Request bodies must be re-sendable (a string,
   * bytes or undefined), since a request may be sent twice.
   *
   * @example
   * const res = await sessions.fetch(`${api}/data`, { method: "POST", body: JSON.stringify({ q: 1 }), headers: { "content-type": "application/json" } });
   */
  async fetch(input: string | URL, init: RequestInit = {}): Promise<Response> {
    const t0 = performance.now();
    const url = new URL(input);
    const origin = url.origin;
    const method = (init.method ?? "GET").toUpperCase();
    const routeKey = `${method} ${url.pathname}`;
    if (
      init.body !== undefined &&
      init.body !== null &&
      typeof init.body !== "string" &&
      !(init.body instanceof Uint8Array)
    ) {
      throw new ZkPayError(
        "invalid_argument",
        "session requests need a string or Uint8Array body (it may be sent twice)",
      );
    }
    let bought = false;
    let tierRetried = false;
    let staleRetried = false;
    /** Credentials this service refused as invalid during this request (never re-bought in a loop). */
    const refused = new Set<string>();
    for (let attempt = 0; attempt < 4; attempt++) {
      const svc = this.#state.services[origin];
      // Present only on a route whose own 402 advertised sessions (a route never seen is
      // asked once without a credential): a presentation sent elsewhere would be wasted,
      // and would travel as a bearer token to a handler that does not check it.
      const tier = svc?.routeTiers[routeKey];
      const cred = svc && tier !== undefined && tier >= 0 ? this.#usable(origin, svc.info, tier, refused) : undefined;
      if (cred && svc && tier !== undefined) {
        const { res, proveMs, prepared, index } = await this.#present(url, method, init, cred, svc.info, tier);
        const refusal = readRefusal(res);
        if (res.status !== 402 || !refusal) {
          this.lastRequest = {
            mode: bought ? "bought" : prepared ? "prepared" : "proved",
            proveMs,
            totalMs: performance.now() - t0,
          };
          if (res.ok && !svc.info.bindRequest && this.#o.prepareAhead !== false)
            this.#prepareNext(origin, svc.info, tier);
          return res;
        }
        await this.#learn(origin, routeKey, res);
        if (refusal.error === "origin_token_replayed") continue; // index used elsewhere (a restore): next one
        // Refusals before the token is claimed give its index back.
        if (refusal.error !== "invalid_presentation" && cred.nextIndex === index + 1) {
          cred.nextIndex = index;
          await this.#save();
        }
        if (refusal.error === "stale_presentation" && !staleRetried) {
          // Our clock is off from the server's: prove with its time step from now on.
          staleRetried = true;
          if (typeof refusal.now === "number")
            this.#skew.set(origin, refusal.now - coarse(this.#now(), svc.info.timeStep));
          continue;
        }
        // Re-prove for the route's tier once; asking again and again would let a service
        // probe the holder's tier.
        if (refusal.error === "tier_too_low" && !tierRetried) {
          tierRetried = true;
          continue;
        }
        if (refusal.error === "invalid_presentation" || refusal.error === "wrong_service") {
          // Not deleted (a server misconfigured for a while must not destroy what was paid
          // for), but not used again in this request; and a credential bought in this
          // request that is refused too stops the request instead of buying again.
          refused.add(cred.receiptId);
          if (bought) return res;
          continue;
        }
        return res;
      }
      // No credential for this route: ask, learn the terms from the 402, then buy or pay.
      const res = await this.#fetch(url, { ...init, method });
      if (res.status !== 402) {
        this.lastRequest = { mode: "paid", proveMs: 0, totalMs: performance.now() - t0 };
        return res;
      }
      const info = await this.#learn(origin, routeKey, res);
      const routeTier = this.#state.services[origin]?.routeTiers[routeKey];
      if (info && routeTier !== undefined && routeTier >= 0 && this.#usable(origin, info, routeTier, refused)) continue;
      // A purchase paid earlier whose credential never arrived is recovered, not bought again.
      if (info && this.#state.pending.some((p) => p.origin === origin && p.receiptId)) {
        if ((await this.recoverPending(origin)) > 0) continue;
      }
      const offer =
        info && !bought && routeTier !== undefined && routeTier >= 0 ? this.#chooseOffer(info, routeTier) : undefined;
      if (info && offer) {
        await this.#buyOnce(origin, info, offer);
        bought = true;
        continue;
      }
      if (this.#o.payPerRequest === false) {
        throw new ZkPayError("no_credential", `no credential serves ${routeKey} at ${origin} and buying is off`);
      }
      const paid = await this.#payingFetch()(url, { ...init, method });
      this.lastRequest = { mode: "paid", proveMs: 0, totalMs: performance.now() - t0 };
      return paid;
    }
    throw new ZkPayError("no_credential", `could not present a credential for ${routeKey} at ${origin}`);
  }

  /** One purchase per origin and offer at a time: concurrent requests share it. */
  #buyOnce(origin: string, info: SessionInfo, offer: SessionOffer): Promise<StoredCredential> {
    const key = `${origin}|${offer.id}`;
    let p = this.#buying.get(key);
    if (!p) {
      p = this.buy(origin, info, offer).finally(() => this.#buying.delete(key));
      this.#buying.set(key, p);
    }
    return p;
  }

  /**
   * Buys `offer` of the service at `origin`: pays it with zk-exact (the payment binds the
   * holder commitment) and stores the credential the service returns, after checking its
   * signature and that its terms are the offer's.
   *
   * @example
   * const c = await sessions.buy(origin, info, info.offers[0]);
   */
  async buy(origin: string, info: SessionInfo, offer: SessionOffer): Promise<StoredCredential> {
    if (this.#o.maxPrice !== undefined && BigInt(offer.price) > this.#o.maxPrice) {
      throw new ZkPayError(
        "invalid_argument",
        `offer ${offer.id} costs ${offer.price}, above maxPrice ${this.#o.maxPrice}`,
      );
    }
    const salt = randomNonce128();
    const holder = this.#o.wallet.credentialSecrets(salt);
    const commitment = holderCommitmentOf(holder);
    const pending: PendingPurchase = {
      origin,
      offerId: offer.id,
      salt: salt.toString(),
      recoverPath: info.recoverPath,
      createdAt: this.#now(),
    };
    this.#state.pending.push(pending);
    await this.#save();
    const options: ZkClientOptions = {
      wallet: this.#o.wallet,
      settlement: this.#o.settlement,
      onProgress: this.#o.onProgress,
      maxAmount: this.#o.maxFee === undefined ? undefined : BigInt(offer.price) + this.#o.maxFee,
      maxFee: this.#o.maxFee,
      identity: this.#o.identity,
      credentials: {
        holderCommitmentFor: async (req: PaymentRequirements) => {
          // Pay exactly the advertised offer, nothing a later 402 asks for instead.
          const sold = (req.extra as { credential?: { offerId?: unknown } }).credential?.offerId;
          if (BigInt(req.amount) !== BigInt(offer.price) || sold !== offer.id) {
            throw new ZkPayError(
              "requirements_mismatch",
              `the purchase asks ${req.amount} for ${String(sold)}, the offer was ${offer.price} for ${offer.id}`,
            );
          }
          const challenge = (req.extra as { challenge?: PendingPurchase["challenge"] }).challenge;
          pending.challenge = challenge;
          await this.#save();
          return commitment;
        },
        onPaymentPrepared: async (receiptId: Hex, shielded?: { payeeMemo: Hex; payeeCommitment: bigint }) => {
          pending.receiptId = receiptId;
          if (shielded) {
            pending.payeeMemo = shielded.payeeMemo;
            pending.payeeCommitment = shielded.payeeCommitment.toString();
          }
          await this.#save();
        },
      },
    };
    // A service paid at a shielded address sells through zk-shielded.
    const client = new x402Client()
      .register("eip155:*", new ZkExactClientScheme(options))
      .register("eip155:*", new ZkShieldedClientScheme(options));
    client.setSpendControls(false);
    const viaExtension = this.#o.issuance === "extension";
    if (viaExtension) client.registerExtension(zkCredentialClientExtension());
    let res: Response;
    try {
      res = await wrapFetchWithZkPayment(this.#fetch, client)(`${origin}${offer.purchasePath}`, { method: "POST" });
    } catch (err) {
      // Refused before any proof existed (a fee above the limit, an empty wallet): nothing
      // was paid, so there is nothing to recover.
      if (pending.receiptId === undefined) await this.#dropPending(pending);
      throw err;
    }
    const body = (await res.json().catch(() => undefined)) as Record<string, unknown> | undefined;
    if (viaExtension && res.ok) {
      // The settlement response's copy (the spec's place); a service that does not speak
      // the extension answers with the body's only.
      let got: ReturnType<typeof zkCredentialFromPaymentResponse>;
      try {
        got = zkCredentialFromPaymentResponse(res.headers.get("PAYMENT-RESPONSE"));
      } catch {
        got = undefined;
      }
      // Otherwise (an issuance error after settlement, or no entry) the body decides: its
      // own credential, or a refusal that keeps the purchase for recovery.
      if (got && "credential" in got) return this.#storeIssued(pending, got.credential, info, offer);
    }
    if (!res.ok) {
      const paid = body?.paid === true || pending.receiptId !== undefined;
      if (!paid) await this.#dropPending(pending);
      throw new ZkPayError(
        "issuance_refused",
        `buying ${offer.id} at ${origin} failed (HTTP ${res.status}: ${String(body?.message ?? body?.error ?? "")})` +
          (paid ? "; the purchase is kept and will be recovered" : ""),
        { status: res.status, paid },
      );
    }
    return this.#storeIssued(pending, body, info, offer);
  }

  /**
   * Asks each service for the credentials of purchases that were paid but never stored
   * (a crash, a lost answer); drops purchases that were never paid once their challenge
   * expired. Returns how many credentials were recovered.
   *
   * @example
   * const n = await sessions.recoverPending();
   */
  async recoverPending(origin?: string): Promise<number> {
    let recovered = 0;
    for (const p of this.#state.pending.filter((x) => origin === undefined || x.origin === origin)) {
      if (!p.challenge || !p.receiptId) {
        // Never sent: nothing was paid once its challenge can no longer be used.
        if (!p.challenge || p.challenge.exp < this.#now()) await this.#dropPending(p);
        continue;
      }
      const holder = this.#o.wallet.credentialSecrets(BigInt(p.salt));
      const res = await this.#fetch(`${p.origin}${p.recoverPath}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          offerId: p.offerId,
          holderCommitment: holderCommitmentOf(holder).toString(),
          receiptId: p.receiptId,
          challenge: p.challenge,
          ...(p.payeeMemo !== undefined ? { payeeMemo: p.payeeMemo, payeeCommitment: p.payeeCommitment } : {}),
        }),
      });
      const body = (await res.json().catch(() => undefined)) as Record<string, unknown> | undefined;
      if (res.ok) {
        const info = this.#state.services[p.origin]?.info;
        await this.#storeIssued(
          p,
          body,
          info,
          info?.offers.find((o) => o.id === p.offerId),
        );
        recovered++;
      } else if (
        res.status === 409 &&
        (body?.details as { receipt?: string } | undefined)?.receipt === "not_paid" &&
        p.challenge.exp < this.#now() - 600
      ) {
        // The chain has no such payment long after its challenge expired: it never landed.
        // (Any other refusal, a changed price or an RPC failure, keeps the record.)
        await this.#dropPending(p);
      }
    }
    return recovered;
  }

  async #storeIssued(
    p: PendingPurchase,
    body: unknown,
    info: SessionInfo | undefined,
    offer: SessionOffer | undefined,
  ): Promise<StoredCredential> {
    const c = credentialFromWire(body);
    const holder = this.#o.wallet.credentialSecrets(BigInt(p.salt));
    const problems: string[] = [];
    if (c.holderCommitment !== holderCommitmentOf(holder)) problems.push("issued to another holder commitment");
    if (p.receiptId && c.receiptId.toLowerCase() !== p.receiptId.toLowerCase()) problems.push("for another payment");
    if (!credentialSignatureValid(c)) problems.push("signature does not verify");
    if (info && c.serviceId !== BigInt(info.serviceId)) problems.push("for another service");
    if (offer) {
      if (c.tier !== offer.tier) problems.push(`tier ${c.tier}, offer says ${offer.tier}`);
      if (c.maxPresentations !== offer.maxPresentations) problems.push("presentation count differs from the offer");
      // issuedAt is one time step before the purchase's step (see SessionService.issue).
      const step = info?.timeStep ?? 0;
      if (c.expiresAt - c.issuedAt !== offer.durationSeconds + step) problems.push("duration differs from the offer");
    }
    if (problems.length) {
      throw new ZkPayError("issuance_refused", `the service returned a bad credential: ${problems.join("; ")}`);
    }
    const stored: StoredCredential = {
      ...(body as StoredCredential),
      origin: p.origin,
      salt: p.salt,
      nextIndex: 0,
    };
    this.#state.credentials = this.#state.credentials.filter(
      (x) => !(x.origin === stored.origin && x.receiptId === stored.receiptId),
    );
    this.#state.credentials.push(stored);
    this.#state.pending = this.#state.pending.filter((x) => x !== p && x.salt !== p.salt);
    await this.#save();
    return stored;
  }

  async #dropPending(p: PendingPurchase): Promise<void> {
    this.#state.pending = this.#state.pending.filter((x) => x !== p && x.salt !== p.salt);
    await this.#save();
  }

  /** The unexpired credential with presentations left, for this service and at least `tier`. */
  #usable(origin: string, info: SessionInfo, tier: number, exclude?: Set<string>): StoredCredential | undefined {
    const now = this.#clock(origin);
    const candidates = this.#state.credentials.filter(
      (c) =>
        c.origin === origin &&
        !exclude?.has(c.receiptId) &&
        c.serviceId === info.serviceId &&
        c.tier >= tier &&
        c.nextIndex < c.maxPresentations &&
        coarse(now, info.timeStep) < c.expiresAt &&
        coarse(now, info.timeStep) >= c.issuedAt,
    );
    // The one that expires first, so none is wasted.
    return candidates.sort((a, b) => a.expiresAt - b.expiresAt)[0];
  }

  /** Our clock corrected by what the service told us of its own (unix seconds). */
  #clock(origin: string): number {
    return this.#now() + (this.#skew.get(origin) ?? 0);
  }

  #chooseOffer(info: SessionInfo, tier: number): SessionOffer | undefined {
    const policy = this.#o.buy ?? "auto";
    if (policy === "never") return undefined;
    const fit = info.offers.filter(
      (o) => o.tier >= tier && (this.#o.maxPrice === undefined || BigInt(o.price) <= this.#o.maxPrice),
    );
    if (typeof policy === "function") return policy(fit, info);
    // Cheapest per presentation.
    return fit.sort((a, b) =>
      Number(BigInt(a.price) * BigInt(b.maxPresentations) - BigInt(b.price) * BigInt(a.maxPresentations)),
    )[0];
  }

  /** Records the terms a 402 carries (`extra.session` of its zk-exact option). */
  async #learn(origin: string, routeKey: string, res: Response): Promise<SessionInfo | undefined> {
    const header = res.headers.get("PAYMENT-REQUIRED");
    if (!header) return this.#state.services[origin]?.info;
    let required: { accepts?: { scheme?: string; extra?: { session?: unknown } }[] };
    try {
      required = JSON.parse(atob(header));
    } catch {
      return this.#state.services[origin]?.info;
    }
    const raw = required.accepts?.find((a) => isZkScheme(a.scheme) && a.extra?.session)?.extra?.session;
    const parsed = SessionInfoSchema.safeParse(raw);
    if (!parsed.success) {
      // A 402 without session terms: this route is paid per request only.
      const known = this.#state.services[origin];
      if (known && raw === undefined) {
        known.routeTiers[routeKey] = -1;
        await this.#save();
      }
      return known?.info;
    }
    const info = parsed.data;
    // The values a presentation makes public come from the service. One that hands each
    // holder its own key, origin or time step could tell its holders apart, so they are
    // checked and pinned on first use: a change is refused, never followed silently.
    if (serviceIdOf([BigInt(info.issuer[0]), BigInt(info.issuer[1])]) !== BigInt(info.serviceId)) {
      throw new ZkPayError("invalid_payload", `${origin}: the session service id is not its issuer key's`);
    }
    if (info.originId !== info.serviceId) {
      throw new ZkPayError("invalid_payload", `${origin}: the session origin id must be the service id`);
    }
    const known = this.#state.services[origin];
    if (
      known &&
      (known.info.serviceId !== info.serviceId ||
        known.info.timeStep !== info.timeStep ||
        known.info.originId !== info.originId)
    ) {
      throw new ZkPayError(
        "service_key_changed",
        `${origin} now presents another session key or time step than the one pinned on first use; ` +
          "call forgetService(origin) only if the operator announced a key rotation",
        { pinned: known.info.serviceId, offered: info.serviceId },
      );
    }
    const svc = (this.#state.services[origin] ??= { info, routeTiers: {} });
    svc.info = info;
    svc.routeTiers[routeKey] = info.requiredTier;
    await this.#save();
    return info;
  }

  async #present(
    url: URL,
    method: string,
    init: RequestInit,
    cred: StoredCredential,
    info: SessionInfo,
    tier: number,
  ): Promise<{ res: Response; proveMs: number; prepared: boolean; index: number }> {
    const now = coarse(this.#clock(url.origin), info.timeStep);
    const body = init.body as string | Uint8Array | undefined | null;
    const useBody = this.#o.transport === "body";
    let bodyObject: Record<string, unknown> | undefined;
    if (useBody) {
      const text = typeof body === "string" ? body : body ? new TextDecoder().decode(body) : "{}";
      const parsed = JSON.parse(text || "{}") as unknown;
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
        throw new ZkPayError("invalid_argument", "the body transport needs a JSON object body");
      }
      bodyObject = parsed as Record<string, unknown>;
    }
    const context = info.bindRequest
      ? requestContext(
          method,
          url.pathname + url.search,
          bodyObject ? JSON.stringify(bodyObject) : typeof body === "string" ? body : (body ?? new Uint8Array()),
        )
      : 0n;
    const index = cred.nextIndex;
    const key = preparedKey(cred, index, now, tier, context);
    const t = performance.now();
    let presentation: Presentation | undefined;
    let prepared = false;
    if (this.#prepared?.key === key) {
      presentation = await this.#prepared.promise;
      prepared = presentation !== undefined;
    }
    this.#prepared = undefined;
    // The index is spent before the presentation leaves (a crash skips it, never reuses it).
    cred.nextIndex = index + 1;
    await this.#save();
    presentation ??= await this.#prove(cred, info, index, now, tier, context);
    const proveMs = performance.now() - t;
    const headers = new Headers(init.headers);
    let sendBody = body as BodyInit | null | undefined;
    if (useBody) {
      headers.set("content-type", "application/json");
      sendBody = JSON.stringify({ ...bodyObject, [SESSION_BODY_FIELD]: presentationToWire(presentation) });
    } else {
      headers.set(SESSION_HEADER, encodePresentation(presentation));
    }
    const res = await this.#fetch(url, { ...init, method, headers, body: sendBody as BodyInit | null | undefined });
    return { res, proveMs, prepared, index };
  }

  #prove(cred: StoredCredential, info: SessionInfo, index: number, now: number, tier: number, context: bigint) {
    const credential: Credential = credentialFromWire(cred);
    return provePresentation(
      {
        credential,
        holder: this.#o.wallet.credentialSecrets(BigInt(cred.salt)),
        index,
        requiredTier: tier,
        now,
        originId: BigInt(info.originId),
        context,
      },
      this.#o.artifacts,
      { onProgress: this.#o.onProgress },
    );
  }

  /** Proves the next presentation now, for the next request on a route without request binding. */
  #prepareNext(origin: string, info: SessionInfo, tier: number): void {
    const cred = this.#usable(origin, info, tier);
    if (!cred) return;
    const now = coarse(this.#clock(origin), info.timeStep);
    const key = preparedKey(cred, cred.nextIndex, now, tier, 0n);
    const promise = this.#prove(cred, info, cred.nextIndex, now, tier, 0n).catch(() => undefined);
    this.#prepared = { key, promise };
  }

  /** Waits for a presentation being prepared in the background (tests, benchmarks, shutdown). */
  async idle(): Promise<void> {
    await this.#prepared?.promise;
  }

  #payingFetch(): typeof fetch {
    const options: ZkClientOptions = {
      wallet: this.#o.wallet,
      settlement: this.#o.settlement,
      onProgress: this.#o.onProgress,
      maxAmount: this.#o.maxPrice === undefined ? undefined : this.#o.maxPrice + (this.#o.maxFee ?? 0n),
      maxFee: this.#o.maxFee,
      identity: this.#o.identity,
    };
    const client = new x402Client()
      .register("eip155:*", new ZkExactClientScheme(options))
      .register("eip155:*", new ZkShieldedClientScheme(options));
    client.setSpendControls(false);
    return wrapFetchWithZkPayment(this.#fetch, client);
  }

  #save(): Promise<void> {
    const snapshot = structuredClone(this.#state);
    const next = this.#saveChain.then(() => this.#store.save(snapshot));
    this.#saveChain = next.catch(() => {});
    return next;
  }
}

function coarse(now: number, step: number): number {
  return Math.floor(now / step) * step;
}

function preparedKey(c: StoredCredential, index: number, now: number, tier: number, context: bigint): string {
  return `${c.receiptId}|${index}|${now}|${tier}|${context}`;
}

function readRefusal(res: Response): SessionRefusal | undefined {
  const h = res.headers.get(SESSION_REFUSAL_HEADER);
  if (!h) return undefined;
  try {
    return JSON.parse(atob(h)) as SessionRefusal;
  } catch {
    return undefined;
  }
}
