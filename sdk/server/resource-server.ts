import { x402Facilitator } from "@x402/core/facilitator";
import { x402ResourceServer, type FacilitatorClient } from "@x402/core/server";
import type { Network, PaymentPayload, SupportedResponse } from "@x402/core/types";
import type { Address, PublicClient, WalletClient } from "viem";

import { caip2 } from "../core/deployment.js";
import { ZkPayError } from "../core/errors.js";
import { MemoryReplayStore, type ReplayStore } from "../core/replay.js";
import { ShieldedPayee, type ShieldedPayeeConfig } from "../core/shielded-payee.js";
import type { FairQueueOptions } from "../core/work-queue.js";
import type { BatchOptions } from "../facilitator/batcher.js";
import { ZkExactFacilitatorScheme } from "../facilitator/scheme.js";
import { WorkerVerifier } from "../node/worker-verifier.js";
import { nodeX25519 } from "../node/x25519.js";
import { Admission, type AdmissionOptions } from "./admission.js";
import { ChallengeIssuer } from "./challenge.js";
import { registerZkAttributes, type AttributeVerifier } from "./attributes.js";
import { registerZkServerSchemes } from "./scheme.js";

/** Options of {@link createZkResourceServer}. */
export interface ZkResourceServerOptions {
  pool: { chainId: number; facilitator: Address; token: Address; decimals: number };
  publicClient: PublicClient;
  /** Account that submits server-settled payments. Omit for client-settled only. */
  walletClient?: WalletClient;
  vkey: unknown;
  vkeySha256: string;
  /** HMAC key for challenges; share it between instances of the same API. */
  challengeSecret: string;
  /**
   * Claims and counters shared by every instance of this API. Default: in memory, which
   * is only correct for ONE instance; with `instances` > 1 a shared store (Redis) is
   * required.
   */
  replay?: ReplayStore;
  /**
   * How many server instances share `challengeSecret`. With more than one, a store that
   * is not shared between processes is refused: each instance would accept the same
   * payment once. Default 1.
   */
  instances?: number;
  fee?: bigint;
  /** Confirmations a client-settled receipt needs. Default per chain (`defaultConfirmations`). */
  minConfirmations?: number;
  /** Lifetime of a 402 challenge, seconds (the shorter of this and a route's maxTimeoutSeconds). Default 300. */
  challengeTtlSeconds?: number;
  /** Proof verifications per challenge. Default 3. */
  maxAttemptsPerChallenge?: number;
  /**
   * Where proofs are verified: "worker" (default) in a process-wide pool of worker
   * threads, so pairings never stall the event loop; "main" on this thread.
   */
  verifyIn?: "worker" | "main";
  /**
   * How server-settled payments are grouped into `payBatch` transactions (window, most
   * payments per batch, when to commit after a lone `pay`). Default `{ windowMs: 50, maxSize: 16, commitAfterMs: 1000 }`.
   */
  batch?: BatchOptions;
  /** Refused payments per client and window before 429 (see {@link Admission}). */
  limits?: Omit<AdmissionOptions, "store" | "queue"> & { queue?: FairQueueOptions };
  /**
   * The API's shielded payee, to accept `zk-shielded` routes (`payTo` = its `zk402...`
   * address): `{ keys: WalletKeys.fromSeed(seed) }` or `{ viewingKey, address }`. Only the
   * viewing key and owner key are kept: the server opens payee notes, it never spends them.
   * Without it, only zk-exact routes are served.
   */
  payee?: ShieldedPayeeConfig | ShieldedPayee;
  /**
   * Verify & Pay: the trusted identity issuers and the pseudonym scope
   * (`AttributeVerifier.create`). Routes then declare their rule with
   * `declareZkAttributeExtension(rule)`, and a payment to them must carry an attribute
   * proof bound to it (the `zk-attribute` extension).
   */
  attributes?: AttributeVerifier;
}

/**
 * The {@link ShieldedPayee} of a server option (decrypting with node:crypto's X25519).
 *
 * @example
 * const payee = shieldedPayeeOf({ keys: WalletKeys.fromSeed(seed) });
 */
export function shieldedPayeeOf(p: ShieldedPayeeConfig | ShieldedPayee | undefined): ShieldedPayee | undefined {
  if (p === undefined || p instanceof ShieldedPayee) return p;
  return ShieldedPayee.from(p, { x25519: nodeX25519 });
}

let sharedVerifier: WorkerVerifier | undefined;

/** The admission control `createZkResourceServer` built for a resource server, for `zkPaymentMiddleware`. */
const admissions = new WeakMap<x402ResourceServer, Admission>();

/**
 * The {@link Admission} that {@link createZkResourceServer} attached to `server`, if any.
 *
 * @example
 * const admission = admissionOf(zk.resourceServer);
 */
export function admissionOf(server: x402ResourceServer): Admission | undefined {
  return admissions.get(server);
}

/**
 * Wires `@x402/core`'s resource server to an in-process x402 facilitator that speaks
 * zk-exact. The facilitator trusts nothing but the chain: proofs are checked against
 * the pool's verification key and settled by the Facilitator contract, so running it
 * inside the API process needs no custodian. It also builds the admission control
 * (bounded fair verification queue, failure limits per client) that
 * `zkPaymentMiddleware` applies, and releases a payment's claims when its handler fails.
 *
 * @example
 * const { resourceServer, network } = createZkResourceServer({ pool, publicClient, walletClient, vkey, vkeySha256, challengeSecret });
 * app.use(zkPaymentMiddleware({ "GET /weather": { accepts: { scheme: "zk-exact", network, payTo, price: "$0.01" } } }, resourceServer));
 */
export function createZkResourceServer(o: ZkResourceServerOptions) {
  const instances = o.instances ?? 1;
  if (!Number.isInteger(instances) || instances < 1) {
    throw new ZkPayError("invalid_argument", `instances must be a positive integer, got ${instances}`);
  }
  if (instances > 1 && !o.replay?.shared) {
    throw new ZkPayError(
      "invalid_argument",
      `${instances} instances need a replay store shared between them (RedisReplayStore): ` +
        "with an in-memory store each instance would accept the same payment once",
    );
  }
  const replay = o.replay ?? new MemoryReplayStore();
  const network = caip2(o.pool.chainId) as Network;
  const challenges = new ChallengeIssuer({ secret: o.challengeSecret });
  const admission = new Admission({ ...o.limits, store: replay, queue: o.limits?.queue });
  const payee = shieldedPayeeOf(o.payee);
  const facilitatorScheme = new ZkExactFacilitatorScheme({
    pool: o.pool,
    publicClient: o.publicClient,
    walletClient: o.walletClient,
    vkey: o.vkey,
    vkeySha256: o.vkeySha256,
    challenges,
    replay,
    fee: o.fee,
    minConfirmations: o.minConfirmations,
    maxAttemptsPerChallenge: o.maxAttemptsPerChallenge,
    batch: o.batch,
    verifier: admission.queue,
    verifyProof:
      o.verifyIn === "main"
        ? undefined
        : (vkey, proof, signals) => (sharedVerifier ??= new WorkerVerifier()).verify(vkey, proof, signals),
    clientOf: () => admission.currentClient(),
    payee,
  });
  const facilitator = new x402Facilitator().register(network, facilitatorScheme);
  // zk-shielded only with a payee to open its notes.
  if (payee) facilitator.register(network, facilitatorScheme.shielded);
  const facilitatorClient: FacilitatorClient = {
    verify: (p, r) => facilitator.verify(p, r),
    settle: (p, r) => facilitator.settle(p, r),
    getSupported: async () => facilitator.getSupported() as SupportedResponse,
  };
  const resourceServer = registerZkServerSchemes(new x402ResourceServer(facilitatorClient), {
    network,
    pool: o.pool,
    challenges,
    challengeTtlSeconds: o.challengeTtlSeconds,
    payee,
  });
  // A verified payment whose handler failed is not settled: free its note at once.
  resourceServer.onVerifiedPaymentCanceled(async (ctx) => {
    await facilitatorScheme.abandon(ctx.paymentPayload as PaymentPayload);
  });
  admissions.set(resourceServer, admission);
  if (o.attributes) registerZkAttributes(resourceServer, o.attributes);
  return {
    resourceServer,
    facilitator,
    facilitatorClient,
    facilitatorScheme,
    challenges,
    network,
    admission,
    replay,
    payee,
  };
}
