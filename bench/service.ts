/**
 * Benchmark of the 402zk facilitator service (sdk/service) over real HTTP on 127.0.0.1,
 * next to plain x402 "exact" (EIP-3009 transferWithAuthorization) settled by @x402/evm's
 * facilitator served over HTTP the same way, on the same chain, in the same run:
 *
 *  - settlesPerSec: payments prepared in advance, POST /settle from 16 concurrent
 *    clients until all are settled (the service batches what arrives in one window);
 *  - settleLatencyMsP50 / P99: per request of that run;
 *  - verifyLatencyMsP50: POST /verify, one request at a time;
 *  - relayedPaymentMs: what a payer waits for a relayed (client-settled) payment:
 *    proving plus POST /relay until mined; the baseline signs an EIP-3009 authorization
 *    and has the exact facilitator settle it.
 *
 * Runs on its own chain (Hardhat's EDR served over HTTP, automine: one block per transaction).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { x402Client } from "@x402/core/client";
import { x402Facilitator } from "@x402/core/facilitator";
import { decodePaymentRequiredHeader } from "@x402/core/http";
import { HTTPFacilitatorClient } from "@x402/core/server";
import type { PaymentPayload, PaymentRequired } from "@x402/core/types";
import { ExactEvmScheme as ExactClientScheme } from "@x402/evm/exact/client";
import { paymentMiddleware } from "@x402/express";
import express from "express";
import { createPublicClient, http, parseGwei, type PublicClient } from "viem";

import { RelayClient } from "../sdk/client/relay.js";
import { ZkExactClientScheme } from "../sdk/client/scheme.js";
import { MemoryNoteStore } from "../sdk/client/store.js";
import { PrivateWallet } from "../sdk/client/wallet.js";
import { erc20Abi } from "../sdk/core/abi.js";
import { WalletKeys } from "../sdk/core/keys.js";
import { defaultArtifacts, loadVerificationKey } from "../sdk/node/artifacts.js";
import { createZkRemoteResourceServer } from "../sdk/server/remote.js";
import { startFacilitatorServer } from "../sdk/service/http.js";
import { jsonLogger } from "../sdk/service/logger.js";
import { FacilitatorService } from "../sdk/service/service.js";
import { ServiceStore } from "../sdk/service/store.js";
import { median, round, table } from "./util.js";
import { devAccount, startDemoChain } from "../scripts/lib/dev-env.js";
import { DEMO_PRICE as PRICE, exactFacilitatorScheme, mountExactRoute } from "../scripts/demo/exact.js";

export interface ServiceBenchOptions {
  /** Payments settled in the throughput run (each its own note / authorization). Default 32. */
  settles?: number;
  /** Concurrent clients of the throughput run. Default 16. */
  concurrency?: number;
  /** Sequential /verify requests. Default 15. */
  verifies?: number;
  /** Relayed payments timed. Default 3. */
  relayed?: number;
  log?: (msg: string) => void;
}

const ACCOUNTS = { relayer: 5, payer: 6, payee: 7, exactFacilitator: 8 } as const;
const USDC = 1_000_000n;

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
}

async function paymentRequiredOf(url: string): Promise<PaymentRequired> {
  const res = await fetch(url);
  await res.arrayBuffer();
  const h = res.headers.get("PAYMENT-REQUIRED");
  if (res.status !== 402 || !h) throw new Error(`expected a 402 from ${url}, got ${res.status}`);
  return decodePaymentRequiredHeader(h);
}

async function postJson(url: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(url, {
    signal: AbortSignal.timeout(120_000),
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return (await res.json()) as Record<string, unknown>;
}

/** x402's facilitator API over node:http for any x402Facilitator (the exact baseline's server). */
async function serveX402Facilitator(f: x402Facilitator): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      void (async () => {
        try {
          if (req.method === "GET" && req.url === "/supported") {
            res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(f.getSupported()));
            return;
          }
          const b = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
            paymentPayload: PaymentPayload;
            paymentRequirements: PaymentPayload["accepted"];
          };
          const out =
            req.url === "/verify"
              ? await f.verify(b.paymentPayload, b.paymentRequirements)
              : await f.settle(b.paymentPayload, b.paymentRequirements);
          res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(out));
        } catch (err) {
          res.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ error: String(err) }));
        }
      })();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** Settles every payload with `c` clients at once; latencies of successes, failures by reason, wall ms. */
async function settleAll(url: string, payloads: PaymentPayload[], c: number) {
  const latencies: number[] = [];
  const failures: Record<string, number> = {};
  const txs = new Set<string>();
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < payloads.length) {
      const p = payloads[next++]!;
      const t = performance.now();
      const r = await postJson(`${url}/settle`, { x402Version: 2, paymentPayload: p, paymentRequirements: p.accepted });
      if (r.success === true) {
        latencies.push(performance.now() - t);
        txs.add(String(r.transaction));
      } else {
        const reason = String(r.errorReason ?? r.error ?? "unknown");
        failures[reason] = (failures[reason] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(c, payloads.length) }, worker));
  return { latencies, failures, txs: txs.size, wallMs: performance.now() - t0 };
}

export async function benchService(opts: ServiceBenchOptions = {}): Promise<Record<string, unknown>> {
  const o = { settles: 32, concurrency: 16, verifies: 15, relayed: 3, ...opts };
  const log = opts.log ?? ((m: string) => console.log(m));
  const env = await startDemoChain();
  const { pool, deployment } = env;
  const closers: (() => Promise<unknown>)[] = [];
  try {
    // ------------------------------------------------------------------ the service
    const { vkey, vkeySha256 } = loadVerificationKey();
    const store = new ServiceStore(path.join(mkdtempSync(path.join(os.tmpdir(), "402zk-bench-service-")), "f.sqlite"));
    const service = new FacilitatorService({
      publicClient: env.publicClient,
      account: devAccount(ACCOUNTS.relayer),
      pool: { chainId: pool.chainId, facilitator: pool.facilitator },
      vkey,
      vkeySha256,
      store,
      gas: { maxFeePerGas: parseGwei("500") },
      pollMs: 25,
      log: process.env.BENCH_SERVICE_LOG ? jsonLogger({ level: "debug" }) : undefined,
    });
    await service.start();
    const svc = await startFacilitatorServer(service, { port: 0, limits: { burst: 1e9, perSecond: 1e9 } });
    closers.push(() => svc.close(10_000));

    // ------------------------------------------------------------------ an @x402/express app on both
    const payTo = devAccount(ACCOUNTS.payee).address;
    const { resourceServer, network } = createZkRemoteResourceServer({
      facilitatorClient: new HTTPFacilitatorClient({ url: svc.url }),
      pool: { chainId: pool.chainId, facilitator: pool.facilitator, token: pool.token, decimals: pool.decimals },
      challengeSecret: WalletKeys.randomSeed(),
      challengeTtlSeconds: 3600,
    });
    const app = express();
    const { network: exactNetwork } = mountExactRoute(app, env, {
      path: "/weather-exact",
      payTo,
      amount: PRICE,
      facilitatorIndex: ACCOUNTS.exactFacilitator,
      tokenName: deployment.token_info.name,
      tokenVersion: deployment.token_info.eip712Version,
    });
    app.use(
      paymentMiddleware(
        {
          "GET /weather": {
            accepts: {
              scheme: "zk-exact",
              network,
              payTo,
              price: { amount: PRICE.toString(), asset: pool.token },
              // Hardhat's automine moves block time 1 s per block, ahead of the wall clock.
              maxTimeoutSeconds: 3600,
            },
          },
        },
        resourceServer,
      ),
    );
    app.get("/weather", (_q, r) => void r.json({ ok: true }));
    const apiServer = app.listen(0, "127.0.0.1");
    await new Promise((r) => apiServer.once("listening", r));
    closers.push(() => new Promise((r) => apiServer.close(r)));
    const apiUrl = `http://127.0.0.1:${(apiServer.address() as AddressInfo).port}`;

    // ------------------------------------------------------------------ the exact baseline's facilitator over HTTP
    const exactHttp = await serveX402Facilitator(
      new x402Facilitator().register(exactNetwork, exactFacilitatorScheme(env, ACCOUNTS.exactFacilitator)),
    );
    closers.push(exactHttp.close);

    // ------------------------------------------------------------------ payer: notes and EIP-3009 balance
    const payer = devAccount(ACCOUNTS.payer);
    const payerWallet = env.walletClientFor(ACCOUNTS.payer);
    await env.waitOk(
      await payerWallet.writeContract({
        address: pool.token,
        abi: erc20Abi,
        functionName: "mint",
        args: [payer.address, 50n * USDC],
        account: payer,
        chain: env.viemChain,
      }),
    );
    const walletPublicClient = createPublicClient({
      chain: env.viemChain,
      transport: http(env.url),
      pollingInterval: 50,
      cacheTime: 0,
    }) as PublicClient;
    const wallet = await PrivateWallet.open({
      seed: WalletKeys.randomSeed(),
      pool,
      publicClient: walletPublicClient,
      walletClient: payerWallet,
      store: new MemoryNoteStore(),
      artifacts: defaultArtifacts(),
      sync: { auto: false },
    });
    closers.push(() => wallet.close());
    for (let i = 0; i < o.settles + o.relayed + 1; i++) await wallet.deposit(3n * PRICE);
    log(`   service on ${svc.url}, API on ${apiUrl}, ${o.settles + o.relayed + 1} notes`);

    // ------------------------------------------------------------------ prepared payments
    const zkClient = new x402Client().register("eip155:*", new ZkExactClientScheme({ wallet, settlement: "server" }));
    zkClient.setSpendControls(false);
    const zkPayloads: PaymentPayload[] = [];
    for (let i = 0; i < o.settles; i++) {
      zkPayloads.push(await zkClient.createPaymentPayload(await paymentRequiredOf(`${apiUrl}/weather`)));
    }
    const exactClient = new x402Client().register(exactNetwork, new ExactClientScheme(payer));
    exactClient.setSpendControls(false);
    const exactPR = await paymentRequiredOf(`${apiUrl}/weather-exact`);
    const exactPayloads: PaymentPayload[] = [];
    for (let i = 0; i < o.settles + o.verifies; i++)
      exactPayloads.push(await exactClient.createPaymentPayload(exactPR));
    log(`   ${o.settles} zk-exact payments proven, ${exactPayloads.length} EIP-3009 authorizations signed`);

    // ------------------------------------------------------------------ /verify, one at a time
    const verifyOnce = async (url: string, p: PaymentPayload) => {
      const t = performance.now();
      const r = await postJson(`${url}/verify`, { x402Version: 2, paymentPayload: p, paymentRequirements: p.accepted });
      if (r.isValid !== true) throw new Error(`verify at ${url}: ${JSON.stringify(r)}`);
      return performance.now() - t;
    };
    await verifyOnce(svc.url, zkPayloads[0]!);
    await verifyOnce(exactHttp.url, exactPayloads[0]!);
    const zkVerify: number[] = [];
    const exactVerify: number[] = [];
    for (let i = 0; i < o.verifies; i++) zkVerify.push(await verifyOnce(svc.url, zkPayloads[i % zkPayloads.length]!));
    for (let i = 0; i < o.verifies; i++)
      exactVerify.push(await verifyOnce(exactHttp.url, exactPayloads[o.settles + i]!));
    log(`   /verify: ${o.verifies} each`);

    // ------------------------------------------------------------------ /settle, 16 clients at once
    const zk = await settleAll(svc.url, zkPayloads, o.concurrency);
    const exact = await settleAll(exactHttp.url, exactPayloads.slice(0, o.settles), o.concurrency);
    log(
      `   /settle x ${o.settles}, ${o.concurrency} at once: zk ${zk.latencies.length} ok in ${zk.txs} txs, ` +
        `exact ${exact.latencies.length} ok (${JSON.stringify(exact.failures)})`,
    );

    // ------------------------------------------------------------------ relayed payment vs exact settle, one at a time
    const relay = new RelayClient({ url: svc.url });
    const terms = await relay.terms(pool.chainId);
    const relayedMs: number[] = [];
    const relaySubmitMs: number[] = [];
    const relayProveMs: number[] = [];
    for (let i = 0; i < o.relayed; i++) {
      const t = performance.now();
      const now = BigInt((await env.publicClient.getBlock()).timestamp);
      const p = await wallet.preparePayment({
        payTo,
        amount: PRICE,
        fee: terms.fee,
        relayer: terms.relayer,
        expiry: now + 300n,
      });
      relayProveMs.push(p.timings.witnessMs + p.timings.proveMs);
      const ts = performance.now();
      await relay.submit(p);
      relaySubmitMs.push(performance.now() - ts);
      relayedMs.push(performance.now() - t);
    }
    const exactRelayedMs: number[] = [];
    for (let i = 0; i < Math.max(3, o.relayed); i++) {
      const t = performance.now();
      const p = await exactClient.createPaymentPayload(await paymentRequiredOf(`${apiUrl}/weather-exact`));
      const r = await postJson(`${exactHttp.url}/settle`, {
        x402Version: 2,
        paymentPayload: p,
        paymentRequirements: p.accepted,
      });
      if (r.success !== true) throw new Error(`exact settle: ${JSON.stringify(r)}`);
      exactRelayedMs.push(performance.now() - t);
    }
    log(`   relayed: ${o.relayed} zk (prove + /relay), ${exactRelayedMs.length} exact (sign + settle)`);

    const rate = (r: typeof zk) => round((r.latencies.length / r.wallMs) * 1000, 2);
    return {
      settleConcurrency: o.concurrency,
      settlesMeasured: o.settles,
      settlesPerSec: rate(zk),
      exactSettlesPerSec: rate(exact),
      settleLatencyMsP50: round(quantile(zk.latencies, 0.5)),
      exactSettleLatencyMsP50: exact.latencies.length ? round(quantile(exact.latencies, 0.5)) : null,
      settleLatencyMsP99: round(quantile(zk.latencies, 0.99)),
      exactSettleLatencyMsP99: exact.latencies.length ? round(quantile(exact.latencies, 0.99)) : null,
      settleFailures: zk.failures,
      exactSettleFailures: exact.failures,
      settleTxs: zk.txs,
      exactSettleTxs: exact.txs,
      verifyLatencyMsP50: round(median(zkVerify), 2),
      exactVerifyLatencyMsP50: round(median(exactVerify), 2),
      relayedPaymentMs: round(median(relayedMs)),
      relaySubmitMs: round(median(relaySubmitMs)),
      relayProveMs: round(median(relayProveMs)),
      exactRelayedPaymentMs: round(median(exactRelayedMs)),
      serviceBenchNote:
        "zk-exact through the 402zk facilitator service (HTTP, SQLite, payBatch window 50 ms) next to x402 exact " +
        "(EIP-3009) through @x402/evm's facilitator served over HTTP, same chain and run, Hardhat automine " +
        "(one block per transaction). relayedPaymentMs includes proving; exactRelayedPaymentMs includes signing. " +
        "exact's facilitator sends with viem's pending-nonce lookup: concurrent settles collide (exactSettleFailures).",
    };
  } finally {
    for (const c of closers.reverse()) await c().catch(() => {});
    await env.close();
  }
}

export function reportService(r: Record<string, unknown>): string {
  const f = (k: string) => (r[k] === undefined || r[k] === null ? "-" : String(r[k]));
  return [
    `Facilitator service (bench-service.ts): ${f("settlesMeasured")} payments, ${f("settleConcurrency")} concurrent clients`,
    table(
      ["figure", "zk-exact via 402zk facilitator", "exact (EIP-3009) via x402 facilitator"],
      [
        ["settles/s (sustained)", f("settlesPerSec"), f("exactSettlesPerSec")],
        ["settle latency p50 ms", f("settleLatencyMsP50"), f("exactSettleLatencyMsP50")],
        ["settle latency p99 ms", f("settleLatencyMsP99"), f("exactSettleLatencyMsP99")],
        ["transactions sent", f("settleTxs"), f("exactSettleTxs")],
        ["failed settles", JSON.stringify(r.settleFailures ?? {}), JSON.stringify(r.exactSettleFailures ?? {})],
        ["/verify latency p50 ms", f("verifyLatencyMsP50"), f("exactVerifyLatencyMsP50")],
        ["relayed payment ms (prove/sign + settle)", f("relayedPaymentMs"), f("exactRelayedPaymentMs")],
      ],
    ),
  ].join("\n");
}
