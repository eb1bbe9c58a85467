/**
 * Verify & Pay on the API's side: the attribute verifier (trusted issuers, their
 * revocation lists, the date and the pseudonym scope), the `zk-attribute` x402 extension
 * that names a route's rule in its 402 and refuses a payment whose attribute proof does
 * not hold, and the gate's hook that answers those refusals with 403 and a message.
 *
 * What the server learns from a valid proof: that the payer holds a credential, signed by
 * one of the trusted issuers and not revoked by it, whose attributes meet the route's rule
 * today, and that the payer is the holder (it knows the holder key and the paying note's
 * spending key). Not the birth date, the country, the flags, the serial, the holder key,
 * nor which issuer when several are trusted. The pseudonym is the same for one holder at
 * one service within one epoch, unrelated otherwise.
 */
import { readFile } from "node:fs/promises";

import type { ProtectedRequestHook, x402ResourceServer } from "@x402/core/server";
import type { ResourceServerExtension } from "@x402/core/types";
import type { Hex } from "viem";

import { ZkPayError, isZkPayError } from "../core/errors.js";
import { SNARK_SCALAR_FIELD } from "../core/field.js";
import type { BabyJubPoint } from "../core/eddsa.js";
import { attributePublicSignals, verifyAttributeProof, type AttributeStatement } from "../core/circuits/attribute.js";
import { fromSolidityProof } from "../core/circuits/proof.js";
import { issuerKeyFromString, issuerKeyToString } from "../core/identity/credential.js";
import { issuersRootOf, type TrustedIssuer } from "../core/identity/issuers.js";
import { revocationListFromJson } from "../core/identity/revocation.js";
import { ymdOf } from "../core/identity/rule.js";
import {
  ZK_ATTRIBUTE_CIRCUIT,
  ZK_ATTRIBUTE_DYNAMIC_FIELDS,
  ZK_ATTRIBUTE_EXTENSION,
  ZK_ATTRIBUTE_VERSION,
  ATTRIBUTE_EPOCH_SECONDS,
  attributeEpoch,
  attributeProofFromWire,
  attributeServiceId,
  ATTRIBUTE_DAY_GRACE_SECONDS,
  declaredRuleOf,
  parseAttributePayment,
  ruleFromWire,
  sameRule,
  type AttributeRuleWire,
  type ZkAttributeInfo,
} from "../core/identity/extension.js";
import { MemoryReplayStore, type ReplayStore } from "../core/replay.js";
import { ZkPaymentPayloadSchema } from "../core/wire.js";
import { loadAttributeVerificationKey } from "../node/artifacts.js";

/** One issuer the API trusts. */
export interface TrustedIssuerConfig {
  /** The issuer's public key: `issuerKeyToString` form (what `402zk issuer init` prints), or the point. */
  key: string | BabyJubPoint;
  /**
   * Where its revocation list comes from (the JSON `402zk issuer revocations` writes): an
   * http(s) URL, a file path, or a function returning the JSON. Omit for an issuer whose
   * credentials cannot be revoked (its revocation root is then 0).
   */
  revocation?: string | (() => Promise<unknown>);
  /** The URL clients fetch the list from (default: `revocation` when it is an http(s) URL). */
  revocationUrl?: string;
}

/** Options of {@link AttributeVerifier.create}. */
export interface AttributeVerifierOptions {
  /** The trusted issuers, 1 to 16; their order is the order of the issuer tree's leaves. */
  issuers: TrustedIssuerConfig[];
  /**
   * The API's public origin, e.g. `https://api.example.com` (scheme, host and port, as
   * clients reach it): the pseudonym's scope is `attributeServiceId(origin)`. Clients derive
   * the same value from the URL they pay and refuse any other, so no API can borrow another
   * one's scope to link its holders.
   */
  service: string;
  /** How often the revocation lists are fetched again, seconds (default 300). */
  refreshSeconds?: number;
  /** Most payments one credential holder may make per epoch on this service (default: no limit). */
  maxPerEpoch?: number;
  /** Counters for `maxPerEpoch` (default in memory; give the API's Redis store when it runs several instances). */
  store?: ReplayStore;
  /** The attribute circuit's verification key (default: the committed development key). */
  vkey?: unknown;
  /** The clock, ms (default `Date.now`). */
  now?: () => number;
  /** Fetch for revocation URLs (default `globalThis.fetch`). */
  fetch?: typeof globalThis.fetch;
  /** Told when a refresh fails (the last good lists stay in use). */
  onWarning?: (message: string) => void;
  /**
   * How long the last good revocation lists may be used while refreshes fail, seconds
   * (default 86,400). Past it every attribute proof is refused (fail closed): a revoked
   * holder must not be served for ever by keeping an issuer's server unreachable.
   */
  maxStalenessSeconds?: number;
}

/** What a verified attribute proof tells the server. */
export interface AttributeAccepted {
  /** The holder's pseudonym for this service and epoch. */
  pseudonym: bigint;
  /** How many payments this pseudonym made in this epoch, this one included. */
  uses: number;
}

/** A payment's binding: the condition hash of its terms and its nullifier hash (= receipt id). */
export interface AttributeBinding {
  conditionHash: Hex;
  nullifierHash: bigint;
}

/**
 * Seconds after midnight (UTC) during which a proof made for the day before is still
 * accepted: a client-settled payment is on chain before the server sees its proof, and a
 * payer must not lose it to the date changing while it waited for confirmations.
 */
const DAY_GRACE_SECONDS = ATTRIBUTE_DAY_GRACE_SECONDS;
/** Largest revocation list fetched over HTTP, bytes. */
const MAX_LIST_BYTES = 4 * 1024 * 1024;
/** Previous issuer-set roots remembered, to tell "changed since your 402" from "never trusted". */
const ROOT_HISTORY = 16;
/** Verified payments remembered (by nullifier), so a second check of one payment neither pairs nor counts again. */
const VERIFIED_CACHE = 10_000;

/**
 * The API's side of Verify & Pay: the trusted issuers and their current revocation roots
 * (fetched again every `refreshSeconds`; the last good lists stay in use when a fetch
 * fails), the date rules are checked at, the pseudonym scope, and the proof check.
 * Verification is local (the SDK's fast Groth16 verifier, ~5 ms): no call to any issuer
 * per request.
 *
 * @example
 * const attributes = await AttributeVerifier.create({
 *   service: "api.example.com",
 *   issuers: [{ key: "zkid1...", revocation: "https://issuer.example/revocations.json" }],
 * });
 * const resourceServer = createZkResourceServer({ ...options, attributes });
 */
export class AttributeVerifier {
  readonly serviceId: bigint;
  readonly #o: AttributeVerifierOptions;
  readonly #now: () => number;
  readonly #store: ReplayStore;
  readonly #vkey: unknown;
  readonly #keys: BabyJubPoint[];
  #issuers: TrustedIssuer[] = [];
  #urls: (string | undefined)[] = [];
  #root = 0n;
  /** Roots replaced by a refresh, with when they stopped being current (ms). */
  readonly #previous: { root: bigint; until: number }[] = [];
  /** When every list was last loaded (ms), and each issuer's last accepted `updatedAt`. */
  #freshAt = 0;
  readonly #updatedAt = new Map<number, number>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #lastError: string | undefined;
  readonly #verified = new Map<string, AttributeAccepted>();

  private constructor(o: AttributeVerifierOptions, vkey: unknown) {
    if (!Array.isArray(o.issuers) || o.issuers.length < 1 || o.issuers.length > 16) {
      throw new ZkPayError("invalid_argument", "attributes.issuers: give 1 to 16 trusted issuers");
    }
    if (typeof o.service !== "string" || o.service.length === 0) {
      throw new ZkPayError("invalid_argument", "attributes.service: name the service (its pseudonym scope)");
    }
    for (const [name, v] of [
      ["refreshSeconds", o.refreshSeconds],
      ["maxPerEpoch", o.maxPerEpoch],
      ["maxStalenessSeconds", o.maxStalenessSeconds],
    ] as const) {
      if (v !== undefined && (!Number.isInteger(v) || v < 1)) {
        throw new ZkPayError("invalid_argument", `attributes.${name} must be a positive integer, got ${String(v)}`);
      }
    }
    this.#o = o;
    this.#vkey = vkey;
    this.#now = o.now ?? Date.now;
    this.#store = o.store ?? new MemoryReplayStore();
    this.serviceId = attributeServiceId(o.service);
    this.#keys = o.issuers.map((i, n) => {
      try {
        return typeof i.key === "string" ? issuerKeyFromString(i.key) : i.key;
      } catch (err) {
        throw new ZkPayError("invalid_argument", `attributes.issuers[${n}].key: ${(err as Error).message}`);
      }
    });
  }

  /**
   * Builds the verifier and loads every revocation list once (a list that cannot be
   * loaded, or whose root does not match its entries, fails here), then refreshes them
   * every `refreshSeconds` in the background (the timer does not keep the process alive).
   */
  static async create(o: AttributeVerifierOptions): Promise<AttributeVerifier> {
    const v = new AttributeVerifier(o, o.vkey ?? loadAttributeVerificationKey());
    await v.refresh({ strict: true });
    v.#timer = setInterval(() => void v.refresh().catch(() => {}), (o.refreshSeconds ?? 300) * 1000);
    v.#timer.unref?.();
    return v;
  }

  /** Stops the background refresh. */
  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** The current root of the trusted-issuer tree (each leaf binds an issuer key and its revocation root). */
  get issuersRoot(): bigint {
    return this.#root;
  }

  /** The last refresh failure, if the lists in use are older than they should be. */
  get lastError(): string | undefined {
    return this.#lastError;
  }

  /**
   * Loads every issuer's revocation list and recomputes the issuer tree. With `strict`
   * (at creation) a failure throws; later a failure keeps the previous lists (and is told
   * to `onWarning`), since refusing every gated request because an issuer's server is
   * down would be worse than a revocation applied a few minutes late.
   */
  async refresh(opts: { strict?: boolean } = {}): Promise<void> {
    try {
      const issuers: TrustedIssuer[] = [];
      const urls: (string | undefined)[] = [];
      for (const [n, cfg] of this.#o.issuers.entries()) {
        const key = this.#keys[n]!;
        let revocationRoot = 0n;
        if (cfg.revocation !== undefined) {
          const raw = await this.#load(cfg.revocation);
          const list = await revocationListFromJson(raw);
          // A list older than one already accepted is a replay (a stale mirror, a rollback).
          if (list.updatedAt < (this.#updatedAt.get(n) ?? 0)) {
            throw new ZkPayError(
              "invalid_argument",
              `attributes.issuers[${n}]: the revocation list is older than the one in use (updatedAt went back)`,
            );
          }
          this.#updatedAt.set(n, list.updatedAt);
          if (list.issuer[0] !== key[0] || list.issuer[1] !== key[1]) {
            throw new ZkPayError(
              "invalid_argument",
              `attributes.issuers[${n}]: the revocation list names another issuer (${issuerKeyToString(list.issuer)})`,
            );
          }
          revocationRoot = list.root;
        }
        issuers.push({ publicKey: key, revocationRoot });
        urls.push(
          cfg.revocationUrl ??
            (typeof cfg.revocation === "string" && /^https?:/.test(cfg.revocation) ? cfg.revocation : undefined),
        );
      }
      const root = issuersRootOf(issuers);
      if (root !== this.#root) {
        if (this.#issuers.length > 0) this.#previous.unshift({ root: this.#root, until: this.#now() });
        this.#previous.length = Math.min(this.#previous.length, ROOT_HISTORY);
      }
      this.#issuers = issuers;
      this.#urls = urls;
      this.#root = root;
      this.#freshAt = this.#now();
      this.#lastError = undefined;
    } catch (err) {
      const message = `attribute issuers: refreshing the revocation lists failed: ${(err as Error).message}`;
      if (opts.strict || this.#issuers.length === 0) {
        throw isZkPayError(err) ? err : new ZkPayError("invalid_argument", message, {}, { cause: err });
      }
      this.#lastError = message;
      this.#o.onWarning?.(message);
    }
  }

  async #load(source: string | (() => Promise<unknown>)): Promise<unknown> {
    if (typeof source === "function") return source();
    if (/^https?:\/\//.test(source)) {
      const res = await (this.#o.fetch ?? globalThis.fetch)(source, { signal: AbortSignal.timeout(10_000) });
      if (!res.ok) throw new Error(`GET ${source}: HTTP ${res.status}`);
      const text = await res.text();
      if (text.length > MAX_LIST_BYTES) throw new Error(`GET ${source}: the list is over ${MAX_LIST_BYTES} bytes`);
      return JSON.parse(text);
    }
    return JSON.parse(await readFile(source, "utf8"));
  }

  /** Today (UTC) as YYYYMMDD, the date rules are checked at. */
  today(): number {
    return ymdOf(new Date(this.#now()));
  }

  /** The current pseudonym epoch (the UTC day number). */
  epoch(): number {
    return attributeEpoch(this.#now());
  }

  /**
   * The requirement a 402 names for `rule`: the rule, today, the trusted issuers with
   * their revocation roots (and where to fetch the lists), the issuer tree's root and the
   * pseudonym scope.
   *
   * @example
   * verifier.info({ minAge: 18 });
   */
  info(rule: AttributeRuleWire): ZkAttributeInfo {
    return {
      version: ZK_ATTRIBUTE_VERSION,
      circuit: ZK_ATTRIBUTE_CIRCUIT,
      rule,
      today: this.today(),
      issuers: this.#issuers.map((i, n) => ({
        key: issuerKeyToString(i.publicKey),
        revocationRoot: i.revocationRoot.toString(),
        ...(this.#urls[n] ? { revocationUrl: this.#urls[n] } : {}),
      })),
      issuersRoot: this.#root.toString(),
      serviceId: this.serviceId.toString(),
      epoch: this.epoch(),
      ...(this.#o.maxPerEpoch ? { maxPerEpoch: this.#o.maxPerEpoch } : {}),
    };
  }

  /**
   * Checks a payment's `zk-attribute` extension against the route's `rule` and the
   * payment's binding. Throws `ZkPayError`:
   * - `attribute_proof_required`: no proof;
   * - `rule_not_met`: the proof proves another rule than the route's;
   * - `issuer_not_trusted`: it proves membership of an issuer set this server never had;
   * - `attribute_proof_invalid`: malformed; another date, service or epoch; an issuer set
   *   or revocation list that changed since the 402 (prove again); or it does not verify:
   *   tampered, or bound to another payment (conditionHash, nullifier);
   * - `attribute_limit_reached`: the holder used up `maxPerEpoch` for this epoch.
   *
   * @example
   * await verifier.verify(payload.extensions?.["zk-attribute"], { conditionHash, nullifierHash }, { minAge: 18 });
   */
  async verify(extension: unknown, binding: AttributeBinding, rule: AttributeRuleWire): Promise<AttributeAccepted> {
    const info = parseAttributePayment(extension);
    // Every check against the route and the server's state comes first (never from a
    // cache): the rule, the issuer set, the date, the service and the epoch.
    if (!sameRule(info.rule, rule)) {
      throw new ZkPayError(
        "rule_not_met",
        `the proof proves ${JSON.stringify(info.rule)}; this route requires ${JSON.stringify(rule)}`,
      );
    }
    const now = this.#now();
    const maxStale = (this.#o.maxStalenessSeconds ?? 86_400) * 1000;
    if (now - this.#freshAt > maxStale) {
      throw new ZkPayError(
        "attribute_proof_invalid",
        `the issuers' revocation lists could not be refreshed for ${Math.round((now - this.#freshAt) / 1000)} s (${this.#lastError ?? "no error"}): attribute proofs are refused until they are`,
      );
    }
    const provedRoot = BigInt(info.issuersRoot);
    if (provedRoot !== this.#root) {
      // A root replaced within the last refresh period is still accepted: a client-settled
      // payment is on chain before its proof reaches the server, and a payer must not lose
      // it to a revocation list changing meanwhile (the revocation then applies one refresh
      // period later, as it would have without the refresh).
      const period = (this.#o.refreshSeconds ?? 300) * 1000;
      const old = this.#previous.find((p) => p.root === provedRoot);
      if (!old) {
        throw new ZkPayError(
          "issuer_not_trusted",
          "the proof shows a credential from an issuer set this API does not trust",
        );
      }
      if (now - old.until > period) {
        throw new ZkPayError(
          "attribute_proof_invalid",
          "the trusted issuers or a revocation list changed since this 402 was issued: fetch the 402 again and prove again",
        );
      }
    }
    const today = this.today();
    const graceDay = ymdOf(new Date(now - DAY_GRACE_SECONDS * 1000));
    if (info.today !== today && info.today !== graceDay) {
      throw new ZkPayError("attribute_proof_invalid", `the proof checks the rule at ${info.today}; today is ${today}`);
    }
    const epoch = this.epoch();
    const graceEpoch = attributeEpoch(now - DAY_GRACE_SECONDS * 1000);
    if (BigInt(info.serviceId) !== this.serviceId || (info.epoch !== epoch && info.epoch !== graceEpoch)) {
      throw new ZkPayError("attribute_proof_invalid", "the proof's pseudonym is scoped to another service or epoch");
    }
    const statement: AttributeStatement = {
      context: BigInt(binding.conditionHash) % SNARK_SCALAR_FIELD,
      nullifierHash: binding.nullifierHash,
      issuersRoot: provedRoot,
      today: info.today,
      rule: ruleFromWire(rule),
      serviceId: this.serviceId,
      epoch: BigInt(info.epoch),
    };
    const pseudonym = BigInt(info.pseudonym);
    const signals = attributePublicSignals(statement, pseudonym);
    const proof = attributeProofFromWire(info.proof);
    // The pairing's outcome is cached by the canonical statement and proof (the gate's hook
    // and x402's verification check one payment twice): a re-encoded copy is the same key.
    const key = [...signals, proof.pA, proof.pB, proof.pC].flat(2).join(":");
    let accepted = this.#verified.get(key);
    if (!accepted) {
      if (!(await verifyAttributeProof(this.#vkey, fromSolidityProof(proof), signals))) {
        throw new ZkPayError(
          "attribute_proof_invalid",
          "the attribute proof does not verify for this payment (it is bound to another payment or request, or was altered)",
        );
      }
      accepted = { pseudonym, uses: 1 };
      if (this.#verified.size >= VERIFIED_CACHE) this.#verified.delete(this.#verified.keys().next().value!);
      this.#verified.set(key, accepted);
    }
    if (this.#o.maxPerEpoch) {
      // Counted once per payment (its nullifier), in the shared store: a retry, a second
      // instance or a re-randomised copy of the same payment's proof never counts twice.
      const ttl = 2 * ATTRIBUTE_EPOCH_SECONDS;
      const first = await this.#store.claim(`zk-attr-payment:${this.serviceId}:${binding.nullifierHash}`, ttl);
      const counter = `zk-attr:${this.serviceId}:${info.epoch}:${pseudonym}`;
      const uses = first ? await this.#store.increment(counter, ttl) : (await this.#store.count(counter)).count;
      accepted = { pseudonym, uses };
      if (first && uses > this.#o.maxPerEpoch) {
        await this.#store.increment(counter, ttl, -1);
        await this.#store.release(`zk-attr-payment:${this.serviceId}:${binding.nullifierHash}`);
      }
      if (uses > this.#o.maxPerEpoch) {
        throw new ZkPayError(
          "attribute_limit_reached",
          `this credential was used ${this.#o.maxPerEpoch} times on this service in this epoch (the limit)`,
        );
      }
    }
    return accepted;
  }
}

export { attributeEpoch, attributeServiceId, ATTRIBUTE_EPOCH_SECONDS } from "../core/identity/extension.js";

/** The binding of an x402 payment payload (a 402zk one): its condition hash and nullifier hash. */
export function attributeBindingOf(payload: unknown): AttributeBinding {
  const p = ZkPaymentPayloadSchema.safeParse(payload);
  if (!p.success) throw new ZkPayError("invalid_payload", "not a 402zk payment payload");
  const d = p.data;
  return {
    conditionHash: d.terms.conditionHash as Hex,
    nullifierHash: d.settlement === "server" ? BigInt(d.proof.nullifierHash) : BigInt(d.receiptId),
  };
}

const verifiers = new WeakMap<x402ResourceServer, AttributeVerifier>();

/** The attribute verifier registered on a resource server (`registerZkAttributes`), if any. */
export function attributeVerifierOf(server: x402ResourceServer): AttributeVerifier | undefined {
  return verifiers.get(server);
}

/**
 * The `zk-attribute` x402 extension for `verifier`: fills each route's declaration
 * (today, issuers, pseudonym scope) on every 402, and refuses a payment to a route that
 * declares a rule unless its attribute proof holds, before the payment is verified or
 * settled: nothing is paid for a request the rule refuses. Its refusals are x402 402s
 * naming the reason; behind the 402zk gate they are 403s with a message (see
 * {@link attributeGateHook}).
 *
 * @example
 * resourceServer.registerExtension(zkAttributeServerExtension(verifier));
 */
export function zkAttributeServerExtension(verifier: AttributeVerifier): ResourceServerExtension {
  return {
    key: ZK_ATTRIBUTE_EXTENSION,
    dynamicInfoFields: ZK_ATTRIBUTE_DYNAMIC_FIELDS,
    enrichDeclaration: (declaration: unknown) => {
      const rule = declaredRuleOf({ [ZK_ATTRIBUTE_EXTENSION]: declaration });
      return { ...(declaration as object), info: verifier.info(rule ?? {}) };
    },
    hooks: {
      // x402 only warns about a hook that throws and goes on: every failure is an abort.
      onBeforeVerify: async (declaration, ctx) => {
        try {
          const rule = declaredRuleOf({ [ZK_ATTRIBUTE_EXTENSION]: declaration }) ?? {};
          const ext = ctx.paymentPayload.extensions?.[ZK_ATTRIBUTE_EXTENSION];
          await verifier.verify(ext, attributeBindingOf(ctx.paymentPayload.payload), rule);
          return undefined;
        } catch (err) {
          const e = isZkPayError(err) ? err : new ZkPayError("attribute_proof_invalid", (err as Error).message);
          return { abort: true as const, reason: e.reason, message: e.message };
        }
      },
    },
  };
}

/**
 * Registers `verifier` on a resource server: the `zk-attribute` extension, and the gate's
 * hook (the 402zk gate finds it with {@link attributeVerifierOf}).
 *
 * @example
 * registerZkAttributes(resourceServer, await AttributeVerifier.create({ service, issuers }));
 */
export function registerZkAttributes(server: x402ResourceServer, verifier: AttributeVerifier): x402ResourceServer {
  verifiers.set(server, verifier);
  server.registerExtension(zkAttributeServerExtension(verifier));
  return server;
}

/** Header carrying a refused attribute proof's reason and message: base64 of `{error, message}`. */
export const ATTRIBUTE_REFUSED_HEADER = "zk-attribute-refused";

/**
 * The gate's protected-request hook for attribute routes: a payment that carries an
 * attribute proof which does not hold is refused right there with 403 (x402's answer to
 * an aborted protected request), its reason in the body and its reason and message in
 * the `zk-attribute-refused` header. A payment with no proof goes on to x402, whose
 * verification (the extension's hook) answers 402 `attribute_proof_required` with the
 * requirement, so the client can prove and pay.
 */
export function attributeGateHook(
  verifier: AttributeVerifier,
  setHeader: () => ((name: string, value: string) => void) | undefined,
): ProtectedRequestHook {
  return async (ctx, routeConfig) => {
    let rule: AttributeRuleWire | undefined;
    try {
      rule = declaredRuleOf(routeConfig.extensions);
    } catch {
      return undefined;
    }
    if (!rule) return undefined;
    const header = ctx.adapter.getHeader("payment-signature");
    if (typeof header !== "string") return undefined;
    let payload: { payload?: unknown; extensions?: Record<string, unknown> };
    try {
      payload = JSON.parse(Buffer.from(header, "base64").toString("utf8"));
    } catch {
      return undefined; // the gate's header guard refused it already
    }
    // No proof (no extension, or the declaration echoed without one): x402's verification
    // (the extension's hook) answers 402 attribute_proof_required with the requirement.
    const ext = payload.extensions?.[ZK_ATTRIBUTE_EXTENSION] as { info?: { proof?: unknown } } | undefined;
    if (ext?.info?.proof === undefined) return undefined;
    try {
      await verifier.verify(ext, attributeBindingOf(payload.payload), rule);
      return undefined;
    } catch (err) {
      if (!isZkPayError(err)) throw err;
      setHeader()?.(ATTRIBUTE_REFUSED_HEADER, btoa(JSON.stringify({ error: err.reason, message: err.message })));
      return { abort: true, reason: err.reason };
    }
  };
}
