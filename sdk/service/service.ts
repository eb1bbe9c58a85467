import { AsyncLocalStorage } from "node:async_hooks";
import { createHash } from "node:crypto";
import os from "node:os";

import { x402Facilitator } from "@x402/core/facilitator";
import type {
  Network,
  PaymentPayload,
  PaymentRequirements,
  SettleResponse,
  SupportedResponse,
  VerifyResponse,
} from "@x402/core/types";
import { BAZAAR } from "@x402/extensions/bazaar";
import type { Address, Hex, LocalAccount, PublicClient } from "viem";

import { caip2 } from "../core/deployment.js";
import { ZkPayError, isZkPayError } from "../core/errors.js";
import { toBytes32 } from "../core/field.js";
import {
  ZkPaymentPayloadSchema,
  checkPayable,
  isZkScheme,
  payeeMemoOf,
  proofFromWire,
  type ZkPaymentPayload,
} from "../core/wire.js";
import { FairQueue, type FairQueueOptions } from "../core/work-queue.js";
import { ZkExactFacilitatorScheme } from "../facilitator/scheme.js";
import { WorkerVerifier } from "../node/worker-verifier.js";
import { SqliteDiscoveryCatalog, discoveryEntryOf, mergeDiscoveryEntry, type DiscoveryCatalog } from "./discovery.js";
import { FeePolicy, type FeePolicyOptions } from "./fees.js";
import { silentLogger, type Logger } from "./logger.js";
import { Metrics } from "./metrics.js";
import { Relayer, type GasPolicy } from "./relayer.js";
import { FINAL_REASONS, Settler, encodeItem, type ServiceBatchOptions, type StoredItem } from "./settler.js";
import type { SettlementRegistry } from "./shared.js";
import type { PaymentRow, ServiceStore } from "./store.js";

/** Options of {@link FacilitatorService}. */
export interface FacilitatorServiceOptions {
  publicClient: PublicClient;
  /** The relayer: signs every transaction of the service. */
  account: LocalAccount;
  /**
   * Who the proofs pay the fee to (`terms.relayer`, published as `relayer` in /supported).
   * Default: the signing account. Several instances behind one URL publish one recipient
   * and each sign with a key of its own (one nonce sequence per key, never shared).
   */
  feeRecipient?: Address;
  pool: { chainId: number; facilitator: Address };
  vkey: unknown;
  vkeySha256: string;
  store: ServiceStore;
  gas: GasPolicy & { warnBalance?: bigint };
  fees?: FeePolicyOptions;
  batch?: ServiceBatchOptions;
  /** Confirmations a client-settled receipt needs (default per chain). */
  minConfirmations?: number;
  /** Shared between instances (Redis): who settles each note. Omit for one instance. */
  registry?: SettlementRegistry;
  /**
   * The bazaar catalogue of discoverable resources this service settled (`GET
   * /discovery/resources`): default the SQLite store's ({@link SqliteDiscoveryCatalog});
   * a `RedisDiscoveryCatalog` when several instances serve one URL; `false` to catalogue nothing.
   */
  discovery?: DiscoveryCatalog | false;
  instanceId?: string;
  log?: Logger;
  /** Monitor period of pending transactions, ms. Default 250. */
  pollMs?: number;
  /** Where proofs are verified: worker threads (default) or this thread. */
  verifyIn?: "worker" | "main";
  /**
   * The bounded fair queue every proof verification goes through, per caller (IP or API
   * key). Default `{ concurrency: 4, maxQueued: 512, maxQueuedPerClient: 64 }`: a
   * resource server forwards many payers' payments from one address.
   */
  verifyQueue?: FairQueueOptions;
}

/** The body of `POST /relay`: a server-settled zk-exact payload the payer sends itself. */
export interface RelayRequest {
  x402Version?: number;
  payload: ZkPaymentPayload;
}

/** What `POST /relay` answers: a SettleResponse with the payment's receipt id. */
export type RelayResponse = SettleResponse & { receiptId?: Hex };

type ServerPayload = Extract<ZkPaymentPayload, { settlement: "server" }>;

/** Identity of a payment as proven (proof, terms, memo); `commitChange` is a request, not part of it. */
export function paymentFingerprint(p: ServerPayload): string {
  // The payee memo is part of what was proven (the context binds it): a shielded payment's
  // fingerprint covers it; a transparent one's is unchanged.
  const canon = JSON.stringify(
    p.payeeMemo === undefined
      ? [p.proof, p.terms, p.memo.toLowerCase()]
      : [p.proof, p.terms, p.memo.toLowerCase(), p.payeeMemo.toLowerCase()],
  );
  return createHash("sha256").update(canon).digest("hex");
}

/**
 * The 402zk facilitator and relayer, without its HTTP layer: x402 `verify`, `settle` and
 * `supported` for zk-exact, plus `relay` for payers. It holds no API's challenge secret
 * (the resource server checks its own challenge before forwarding, see `challengeGuard`)
 * and checks what the chain decides: proof, known root, unspent note, this chain and pool,
 * expiry, relayer and fee. Every accepted payment is recorded in SQLite before anything is
 * sent, and settled through one {@link Relayer} (one nonce sequence) by a durable
 * {@link Settler} (payments of one window share a `payBatch`).
 *
 * Idempotency: a payment is identified by its note (the nullifier hash, which is also its
 * receipt id) and its fingerprint. The same payment settled again, concurrently or later,
 * by any caller, gets the same answer and transaction; another payment of a note that is
 * being settled gets `nullifier_pending`, and of a note already spent `nullifier_spent`.
 * The stored answer is a shortcut for the same request only: every `verify` and `settle`
 * first runs the requirement checks against its own `paymentRequirements` (scheme,
 * network, pool, payee, amount, condition hash against the challenge, expiry, relayer and
 * fee: `ZkExactFacilitatorScheme.checkRequirements`), so a payment made for one request,
 * or relayed to any payee through `relay`, never passes for another.
 *
 * @example
 * const service = new FacilitatorService({ publicClient, account, pool, vkey, vkeySha256, store, gas });
 * await service.start();
 * const r = await service.settle(paymentPayload, paymentRequirements);
 */
export class FacilitatorService {
  readonly network: Network;
  readonly relayer: Relayer;
  readonly settler: Settler;
  readonly fees: FeePolicy;
  readonly metrics = new Metrics();
  readonly instanceId: string;
  /** The caller being served (set by the HTTP layer): the fair queue's client key. */
  readonly callers = new AsyncLocalStorage<string>();
  /** The bazaar catalogue (`GET /discovery/resources`); undefined when discovery is off. */
  readonly discovery: DiscoveryCatalog | undefined;
  readonly #o: FacilitatorServiceOptions;
  readonly #log: Logger;
  #scheme: ZkExactFacilitatorScheme | undefined;
  #x402: x402Facilitator | undefined;
  #verifier: WorkerVerifier | undefined;
  /** id -> the settlement in progress in this process, with the fingerprint it is for. */
  readonly #inflight = new Map<string, { fingerprint: string; run: Promise<SettleResponse> }>();
  #draining = false;
  readonly startedAt = Date.now();

  constructor(o: FacilitatorServiceOptions) {
    this.#o = o;
    this.#log = o.log ?? silentLogger;
    this.network = caip2(o.pool.chainId) as Network;
    // Stable across restarts (one key per instance): a restarted instance owns its old claims.
    this.instanceId = o.instanceId ?? `${os.hostname()}:${o.account.address}`;
    this.fees = new FeePolicy(o.fees);
    this.discovery = o.discovery === false ? undefined : (o.discovery ?? new SqliteDiscoveryCatalog(o.store));
    this.relayer = new Relayer({
      publicClient: o.publicClient,
      account: o.account,
      chainId: o.pool.chainId,
      store: o.store,
      gas: o.gas,
      log: this.#log.child({ part: "relayer" }),
      pollMs: o.pollMs,
      warnBalance: o.gas.warnBalance,
    });
    this.settler = new Settler({
      publicClient: o.publicClient,
      facilitator: o.pool.facilitator,
      chainId: o.pool.chainId,
      relayer: this.relayer,
      store: o.store,
      batch: o.batch,
      log: this.#log.child({ part: "settler" }),
      assertCovers: this.fees.checksCoverage ? (g, f, fees) => this.fees.assertCovers(g, f, fees) : undefined,
      onOutcome: (row, ms) => {
        if (row.state === "settled") {
          this.metrics.inc("zk402_settled_total", { source: row.source });
          this.metrics.observe("zk402_settle_seconds", ms / 1000);
        } else this.metrics.inc("zk402_failed_total", { reason: row.reason ?? "unknown" });
      },
    });
    this.#describeMetrics();
  }

  /** The zk-exact facilitator scheme the service checks with (after `start`). */
  get scheme(): ZkExactFacilitatorScheme {
    if (!this.#scheme) throw new Error("FacilitatorService.start() first");
    return this.#scheme;
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** Reconciles the relayer with the chain, publishes the fee, resumes what a crash interrupted. */
  async start(): Promise<void> {
    const chainId = await this.#o.publicClient.getChainId();
    if (chainId !== this.#o.pool.chainId) {
      throw new ZkPayError("chain_mismatch", `the RPC serves chain ${chainId}, the pool is on ${this.#o.pool.chainId}`);
    }
    const code = await this.#o.publicClient.getCode({ address: this.#o.pool.facilitator });
    if (!code || code === "0x") {
      throw new ZkPayError("deployment_not_found", `no contract at ${this.#o.pool.facilitator} on chain ${chainId}`);
    }
    await this.relayer.start();
    const { maxFeePerGas } = await this.relayer.feesNow().catch(() => ({ maxFeePerGas: this.#o.gas.maxFeePerGas }));
    const fee = this.fees.publish(maxFeePerGas);
    if (!this.fees.checksCoverage) {
      this.#log.warn("fee.nativePrice is not set: the fee is fixed and nothing checks that it covers gas", {
        fee: fee.toString(),
      });
    }
    if (this.#o.verifyIn !== "main") this.#verifier = new WorkerVerifier();
    this.#scheme = new ZkExactFacilitatorScheme({
      pool: this.#o.pool,
      publicClient: this.#o.publicClient,
      relayer: this.#o.feeRecipient ?? this.relayer.address,
      vkey: this.#o.vkey,
      vkeySha256: this.#o.vkeySha256,
      fee,
      minConfirmations: this.#o.minConfirmations,
      // No challenge secret here: a per-challenge cap means nothing to a service that
      // cannot tell real challenges from made-up ones; the HTTP layer limits callers.
      maxAttemptsPerChallenge: Number.POSITIVE_INFINITY,
      verifier: new FairQueue({ concurrency: 4, maxQueued: 512, maxQueuedPerClient: 64, ...this.#o.verifyQueue }),
      clientOf: () => ({ key: this.callers.getStore() ?? "anonymous", priority: 0 }),
      verifyProof: this.#verifier ? (vkey, proof, signals) => this.#verifier!.verify(vkey, proof, signals) : undefined,
    });
    // zk-shielded beside zk-exact: the same checks and settlement (the service cannot open
    // payee notes; the resource server opened them before forwarding).
    this.#x402 = new x402Facilitator()
      .register(this.network, this.#scheme)
      .register(this.network, this.#scheme.shielded);
    // Listed in /supported's extensions: this service catalogues what it settles.
    if (this.discovery) this.#x402.registerExtension(BAZAAR);
    const resumed = this.settler.resume();
    this.#log.info("facilitator service started", {
      network: this.network,
      pool: this.#o.pool.facilitator,
      relayer: this.relayer.address,
      feeRecipient: this.#o.feeRecipient ?? this.relayer.address,
      fee: fee.toString(),
      instance: this.instanceId,
    });
    void resumed.then(async (rows) => {
      if (rows.length === 0) return;
      this.#log.info("resumed payments finished", { payments: rows.length });
      // Instances waiting on our claims (we crashed holding them) learn the outcome now.
      for (const row of rows) await this.#share(row.id, row.fingerprint, row);
    });
  }

  /** `GET /supported`: the zk-exact kind with the relayer, its fee and the pool, through `x402Facilitator`. */
  supported(): SupportedResponse {
    return this.#x402!.getSupported() as SupportedResponse;
  }

  /** `POST /verify`: every check, nothing sent, no state kept. */
  async verify(payload: PaymentPayload, requirements: PaymentRequirements): Promise<VerifyResponse> {
    try {
      // This request's own checks first (payee, amount, condition hash against the
      // challenge, expiry, relayer, fee...): what the store holds answers only for the
      // payment as it was accepted, never for another request it is presented with.
      const r = await this.scheme.checkRequirements(payload, requirements);
      if (r.payload.settlement === "server") {
        // A payment this service holds already (in flight or settled) is valid as sent.
        const row = this.#o.store.getPayment(idOf(r.payload));
        if (row && row.fingerprint === paymentFingerprint(r.payload) && row.state !== "failed") {
          this.metrics.inc("zk402_verify_total", { result: "valid" });
          return { isValid: true };
        }
      }
      await this.scheme.check(payload, requirements);
      this.metrics.inc("zk402_verify_total", { result: "valid" });
      return { isValid: true };
    } catch (err) {
      if (!isZkPayError(err)) throw err;
      this.metrics.inc("zk402_verify_total", { result: err.reason });
      return { isValid: false, invalidReason: err.reason, invalidMessage: err.message };
    }
  }

  /**
   * `POST /settle`: submits a server-settled payment (or reports a client-settled one),
   * idempotently. A settled payment of a route that declared x402's bazaar discovery
   * extension is catalogued ({@link FacilitatorService.discovery}).
   */
  async settle(payload: PaymentPayload, requirements: PaymentRequirements): Promise<SettleResponse> {
    const r = await this.#settlePayment(payload, requirements);
    if (r.success) await this.#catalogue(payload, requirements);
    return r;
  }

  /**
   * Catalogues the resource a settled payment paid for, when its route declared discovery.
   * Never fails the settlement: a catalogue error is logged.
   */
  async #catalogue(payload: PaymentPayload, requirements: PaymentRequirements): Promise<void> {
    const catalog = this.discovery;
    if (!catalog || !payload.extensions?.[BAZAAR.key]) return;
    try {
      const now = Date.now();
      const entry = discoveryEntryOf(payload, requirements, now);
      if (entry) await catalog.put(mergeDiscoveryEntry(entry, await catalog.get(entry.resource)), now);
    } catch (err) {
      this.#log.warn("discovery catalogue failed", { error: err as Error });
    }
  }

  async #settlePayment(payload: PaymentPayload, requirements: PaymentRequirements): Promise<SettleResponse> {
    if (this.#draining) return this.#failed(new ZkPayError("server_busy", "the service is shutting down"));
    const p = ZkPaymentPayloadSchema.safeParse(payload.payload);
    if (!p.success || p.data.settlement === "client" || !isZkScheme(payload.accepted?.scheme)) {
      // Client-settled (or malformed: check() names the problem): the chain holds it already.
      try {
        const c = await this.scheme.check(payload, requirements);
        if (c.payload.settlement !== "client") throw new ZkPayError("invalid_payload", "unexpected payload");
        const receiptId = c.payload.receiptId as Hex;
        const tx =
          c.paidAtBlock === undefined
            ? undefined
            : await this.scheme.receipts
                .transactionOf(receiptId, c.paidAtBlock, { shielded: c.payeeCommitment !== undefined })
                .catch(() => undefined);
        return {
          success: true,
          transaction: tx ?? "",
          network: this.network,
          // A shielded payment's amount is the payee's secret (0 in public).
          ...(c.payeeCommitment === undefined ? { amount: c.terms.amount.toString() } : {}),
          extra: { receiptId, paidAtBlock: c.paidAtBlock },
        };
      } catch (err) {
        if (!isZkPayError(err)) throw err;
        return this.#failed(err);
      }
    }
    const sp = p.data;
    // This request's own checks before any stored, in-flight or shared answer (see verify):
    // a row accepted through /relay, or for another request, never settles this one.
    try {
      await this.scheme.checkRequirements(payload, requirements);
    } catch (err) {
      if (!isZkPayError(err)) throw err;
      return this.#failed(err);
    }
    return this.#settleOnce(sp, "settle", async () => {
      const c = await this.scheme.check(payload, requirements);
      return storedItemOf(sp, c.terms);
    });
  }

  /**
   * `POST /relay`: a payer's own proof (a client-settled payment or a withdrawal, any
   * condition), its fee to this relayer: the payer needs no gas and no address on chain.
   */
  async relay(req: RelayRequest): Promise<RelayResponse> {
    if (this.#draining) return this.#failed(new ZkPayError("server_busy", "the service is shutting down"));
    const p = ZkPaymentPayloadSchema.safeParse(req.payload);
    if (!p.success) {
      const i = p.error.issues[0];
      return this.#failed(new ZkPayError("invalid_payload", `payload.${i?.path.join(".")}: ${i?.message}`));
    }
    if (p.data.settlement !== "server") {
      return this.#failed(new ZkPayError("invalid_payload", "relay takes a proof (settlement: server)"));
    }
    const sp = p.data;
    try {
      // What the contract refuses on the terms alone (a zero payee...) is refused before
      // the store, the registry or the chain is asked anything.
      checkPayable(sp);
    } catch (err) {
      if (!isZkPayError(err)) throw err;
      return { ...this.#failed(err), receiptId: idOf(sp) };
    }
    const r = await this.#settleOnce(sp, "relay", async () => {
      const terms = storedItemOf(sp).terms;
      await this.scheme.checkSubmission(sp, terms);
      return storedItemOf(sp);
    });
    return { ...r, receiptId: idOf(sp) };
  }

  /** One settlement per note in this process; concurrent requests for it share the answer. */
  async #settleOnce(
    p: ServerPayload,
    source: PaymentRow["source"],
    check: () => Promise<StoredItem>,
  ): Promise<SettleResponse> {
    const id = idOf(p);
    const fingerprint = paymentFingerprint(p);
    const running = this.#inflight.get(id);
    if (running) {
      if (running.fingerprint !== fingerprint) {
        return this.#failed(new ZkPayError("nullifier_pending", "another payment with this note is being settled"));
      }
      return running.run;
    }
    const run = this.#settle(id, fingerprint, p, source, check).finally(() => this.#inflight.delete(id));
    this.#inflight.set(id, { fingerprint, run });
    return run;
  }

  async #settle(
    id: string,
    fingerprint: string,
    p: ServerPayload,
    source: PaymentRow["source"],
    check: () => Promise<StoredItem>,
  ): Promise<SettleResponse> {
    const store = this.#o.store;
    const row = store.getPayment(id);
    if (row) {
      if (row.fingerprint === fingerprint) {
        if (row.state === "settled") return this.#answer(row);
        if (row.state !== "failed") return this.#answer(await this.settler.submit(id));
        if (FINAL_REASONS.has(row.reason ?? "")) return this.#answer(row);
      } else if (row.state === "settled") {
        return this.#failed(
          new ZkPayError("nullifier_spent", "this note was spent by another payment", { transaction: row.txHash }),
        );
      } else if (row.state !== "failed") {
        return this.#failed(new ZkPayError("nullifier_pending", "another payment with this note is being settled"));
      }
      // Failed for a reason that may pass now (unfunded relayer, gas above the cap, RPC
      // down, a stale root with a new proof...): check again from scratch.
    }
    const registry = this.#o.registry;
    if (registry) {
      const owner = await registry.claim(id, this.instanceId, 3600).catch((err: unknown) => {
        throw new ZkPayError("rpc_error", `the shared registry failed: ${(err as Error).message}`);
      });
      if (owner !== null) return this.#awaitOther(id, fingerprint, owner);
    }
    let item: StoredItem;
    try {
      item = await check();
    } catch (err) {
      await registry?.release(id, this.instanceId).catch(() => {});
      if (!isZkPayError(err)) throw err;
      return this.#failed(err);
    }
    const encoded = encodeItem(item);
    if (row) store.reaccept(id, fingerprint, encoded, source);
    else {
      store.insertPayment({
        id,
        fingerprint,
        source,
        state: "accepted",
        item: encoded,
        payTo: item.terms.payTo,
        amount: item.terms.amount.toString(),
        fee: item.terms.fee.toString(),
      });
    }
    this.#log.info("payment accepted", {
      id,
      source,
      payTo: item.terms.payTo,
      amount: item.terms.amount,
      fee: item.terms.fee,
    });
    const final = await this.settler.submit(id);
    await this.#share(id, fingerprint, final);
    return this.#answer(final);
  }

  /** Publishes a final outcome to the other instances, or gives the claim up if it may pass on retry. */
  async #share(id: string, fingerprint: string, final: PaymentRow): Promise<void> {
    const registry = this.#o.registry;
    if (!registry) return;
    if (final.state === "failed" && !FINAL_REASONS.has(final.reason ?? "")) {
      await registry.release(id, this.instanceId).catch(() => {});
    } else {
      await registry.publish(id, { fingerprint, response: this.#answer(final) }, 86_400).catch(() => {});
    }
  }

  /** Another instance settles this note: wait for the result it publishes. */
  async #awaitOther(id: string, fingerprint: string, owner: string): Promise<SettleResponse> {
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      const r = await this.#o.registry!.result(id).catch(() => undefined);
      if (r) {
        if (r.fingerprint === fingerprint) return r.response;
        return this.#failed(new ZkPayError("nullifier_spent", "this note was spent by another payment"));
      }
      // The owner gave up (a failure that may pass): try ourselves.
      const again = await this.#o.registry!.claim(id, this.instanceId, 3600).catch(() => owner);
      if (again === null) {
        await this.#o.registry!.release(id, this.instanceId).catch(() => {});
        return this.#failed(new ZkPayError("settlement_failed", "the instance settling this payment gave up; retry"));
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    return this.#failed(new ZkPayError("nullifier_pending", `instance ${owner} is still settling this note`));
  }

  #answer(row: PaymentRow): SettleResponse {
    if (row.state === "settled") {
      return {
        success: true,
        transaction: row.txHash ?? "",
        network: this.network,
        amount: row.amount,
        extra: { receiptId: row.id, batchSize: row.batchSize, blockNumber: row.blockNumber },
      };
    }
    return {
      success: false,
      errorReason: row.reason ?? "settlement_failed",
      errorMessage: row.message ?? "settlement failed",
      transaction: row.txHash ?? "",
      network: this.network,
    };
  }

  #failed(e: ZkPayError): SettleResponse {
    return {
      success: false,
      errorReason: e.reason,
      errorMessage: e.message,
      transaction: typeof e.details.transaction === "string" ? e.details.transaction : "",
      network: this.network,
    };
  }

  /** For `/health`. */
  health() {
    const counts = this.#o.store.countByState();
    const status = this.#draining
      ? "draining"
      : this.relayer.balance === undefined || this.relayer.lowBalance
        ? "degraded"
        : "ok";
    return {
      status,
      network: this.network,
      pool: this.#o.pool.facilitator,
      relayer: this.relayer.address,
      relayerBalanceWei: this.relayer.balance?.toString(),
      lowBalance: this.relayer.lowBalance,
      nextNonce: this.relayer.nextNonce,
      fee: this.fees.fee.toString(),
      payments: counts,
      inFlight: this.settler.inFlight,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      instance: this.instanceId,
    };
  }

  #describeMetrics(): void {
    const m = this.metrics;
    m.help("zk402_settled_total", "payments settled on chain");
    m.help("zk402_failed_total", "payments that failed to settle, by reason");
    m.help("zk402_verify_total", "verify requests, by result");
    m.help("zk402_pending_payments", "payments accepted or submitted, not yet settled");
    m.help("zk402_relayer_balance_wei", "last known relayer balance");
    m.help("zk402_settle_seconds", "time from acceptance to the chain's decision");
    m.gauge("zk402_pending_payments", () => {
      const c = this.#o.store.countByState();
      return c.accepted + c.submitted;
    });
    m.gauge("zk402_relayer_balance_wei", () => Number(this.relayer.balance ?? Number.NaN));
    m.gauge("zk402_relayer_next_nonce", () => this.relayer.nextNonce);
    m.gauge("zk402_transactions_sent", () => this.#o.store.txCounts().sent);
    m.gauge("zk402_transactions_replaced", () => this.relayer.stats.replaced);
    m.gauge("zk402_batches", () => this.settler.stats.batches);
    m.gauge("zk402_simulated_out", () => this.settler.stats.simulatedOut);
  }

  /**
   * Graceful stop: new settlements are refused, those in flight finish (at most
   * `timeoutMs`), then the monitor stops and the database closes. A settlement still
   * running at the deadline is recorded and picked up by the next start.
   */
  async close(timeoutMs = 30_000): Promise<boolean> {
    this.#draining = true;
    const t0 = Date.now();
    // Requests past their checks finish (their settlements are what drain waits for).
    const requests = Promise.allSettled([...this.#inflight.values()].map((x) => x.run));
    await Promise.race([requests, new Promise((r) => setTimeout(r, timeoutMs).unref?.())]);
    const done = await this.settler.drain(Math.max(0, timeoutMs - (Date.now() - t0)));
    this.relayer.stop();
    await this.#verifier?.close();
    this.#o.store.close();
    this.#log.info("facilitator service stopped", { drained: done });
    return done;
  }
}

function idOf(p: ServerPayload): Hex {
  return toBytes32(BigInt(p.proof.nullifierHash));
}

/** A server-settled payload as the service stores and submits it (`terms` when already parsed). */
export function storedItemOf(p: ServerPayload, terms?: StoredItem["terms"]): StoredItem {
  return {
    proof: proofFromWire(p.proof),
    terms: terms ?? {
      payTo: p.terms.payTo as Address,
      amount: BigInt(p.terms.amount),
      relayer: p.terms.relayer as Address,
      fee: BigInt(p.terms.fee),
      conditionHash: p.terms.conditionHash as Hex,
      expiry: BigInt(p.terms.expiry),
    },
    memo: p.memo as Hex,
    payeeMemo: payeeMemoOf(p),
    commitChange: p.commitChange === true,
  };
}
