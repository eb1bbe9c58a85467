/**
 * End-to-end benchmark of 402zk next to plain x402 "exact", over real HTTP on 127.0.0.1:
 * Hardhat's EVM served as JSON-RPC (demo-env.ts), the demo's paid API (GET /weather,
 * zk-exact; GET /weather-exact, x402 exact via demo-exact.ts), and the SDK's clients.
 *
 *  - e2e latency: 402 -> paid 200 with @x402/fetch, proving included (zk) or EIP-3009
 *    signing (exact); medians of several requests; and the same paid GET /weather of a
 *    second API whose payee is shielded (zk-shielded, #19: the server decrypts the payee
 *    note, checks it, then verifies and settles), server-settled like zk-exact's;
 *  - receipt check (client-settled: one eth_call) vs the exact facilitator's `verify`;
 *  - throughput: payments prepared in advance (proofs / EIP-3009 signatures), then the
 *    facilitator's `verify` over all of them (sequential and concurrent), and full paid
 *    HTTP requests (verify + settle) sending the prepared PAYMENT-SIGNATURE headers,
 *    one at a time and then `httpConcurrency` at once, with the number of payBatch / pay
 *    transactions the facilitator's SettlementBatcher sent for each run.
 *
 * Runs on its own chain (a second in-process EDR served over HTTP), so that every
 * request goes through JSON-RPC over a socket as it would against a real node.
 */
import { x402Client } from "@x402/core/client";
import {
  decodePaymentRequiredHeader,
  decodePaymentResponseHeader,
  encodePaymentSignatureHeader,
} from "@x402/core/http";
import type { PaymentPayload, PaymentRequired } from "@x402/core/types";
import { ExactEvmScheme as ExactClientScheme } from "@x402/evm/exact/client";
import { createPublicClient, http, type Hex, type PublicClient } from "viem";

import { ZkExactClientScheme } from "../sdk/client/scheme.js";
import { MemoryNoteStore } from "../sdk/client/store.js";
import { PrivateWallet } from "../sdk/client/wallet.js";
import { erc20Abi } from "../sdk/core/abi.js";
import { WalletKeys } from "../sdk/core/keys.js";
import { payWithZk, type PayResult } from "../sdk/cli/pay.js";
import { ZkExactFacilitatorScheme } from "../sdk/facilitator/scheme.js";
import { defaultArtifacts, loadVerificationKey } from "../sdk/node/artifacts.js";
import { ReceiptChecker, type ExpectedReceipt } from "../sdk/core/receipts.js";
import { median, round, table } from "./util.js";
import { startPaidApi } from "../sdk/cli/paid-api.js";
import { devAccount, startDemoChain } from "../scripts/lib/dev-env.js";
import {
  DEMO_ACCOUNTS as ACCOUNTS,
  DEMO_PRICE as PRICE,
  exactFacilitatorScheme,
  payExact,
  startDemoApi,
} from "../scripts/demo/exact.js";

export interface E2EBenchOptions {
  /** Measured paid requests per kind (server-settled, client-settled, exact). */
  e2eRuns?: number;
  /** zk-exact payments prepared in advance for the throughput figures (one note each). */
  zkPrepared?: number;
  /** Exact payments prepared in advance for the throughput figures. */
  exactPrepared?: number;
  /** Receipt checks / exact verifies timed one by one. */
  checkRuns?: number;
  /** Concurrency levels of the verify throughput (1 is always measured). */
  concurrency?: number[];
  /** zk-exact payments prepared for the concurrent paid-HTTP run (one note each). */
  zkPreparedConcurrent?: number;
  /** Paid HTTP requests in flight at once in that run (the batcher groups them). */
  httpConcurrency?: number;
  log?: (msg: string) => void;
}

const DEFAULTS: Required<Omit<E2EBenchOptions, "log">> = {
  e2eRuns: 5,
  zkPrepared: 10,
  exactPrepared: 20,
  checkRuns: 15,
  concurrency: [2, 4],
  zkPreparedConcurrent: 12,
  // The paid API admits 2 verifications at once + 4 waiting per client (all of these
  // requests come from 127.0.0.1): more at once would be refused with server_busy.
  httpConcurrency: 6,
};

const USDC = 1_000_000n;
/** Dev account that settles the shielded API's payments (not one of DEMO_ACCOUNTS). */
const SHIELDED_API_RELAYER = 5;

async function paymentRequiredOf(url: string): Promise<PaymentRequired> {
  const res = await fetch(url);
  await res.arrayBuffer();
  const h = res.headers.get("PAYMENT-REQUIRED");
  if (res.status !== 402 || !h) throw new Error(`expected a 402 with PAYMENT-REQUIRED from ${url}, got ${res.status}`);
  return decodePaymentRequiredHeader(h);
}

/** Why a paid request was refused: PAYMENT-REQUIRED's error, PAYMENT-RESPONSE's errorReason, or the body. */
function refusalOf(res: Response, body: string): string {
  const decode = (h: string | null) => {
    try {
      return h ? (JSON.parse(Buffer.from(h, "base64").toString("utf8")) as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  };
  const reason =
    decode(res.headers.get("PAYMENT-REQUIRED"))?.error ?? decode(res.headers.get("PAYMENT-RESPONSE"))?.errorReason;
  return typeof reason === "string" ? reason : body.slice(0, 200);
}

/** Sends a prepared payment; throws unless it was served (200) and settled. */
async function sendPaid(url: string, payload: PaymentPayload): Promise<void> {
  const res = await fetch(url, { headers: { "PAYMENT-SIGNATURE": encodePaymentSignatureHeader(payload) } });
  const body = await res.text();
  const h = res.headers.get("PAYMENT-RESPONSE");
  const settled = h ? decodePaymentResponseHeader(h).success : false;
  if (res.status !== 200 || !settled) {
    throw new Error(`prepared payment to ${url} refused: HTTP ${res.status} ${refusalOf(res, body)}`);
  }
}

/** Runs `fn` over `items` with at most `c` in flight; returns the wall time in ms. */
async function timedPool<T>(items: readonly T[], c: number, fn: (x: T) => Promise<void>): Promise<number> {
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(c, items.length) }, worker));
  return performance.now() - t0;
}

async function timeEach(n: number, fn: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return out;
}

export async function benchE2E(opts: E2EBenchOptions = {}): Promise<Record<string, unknown>> {
  const o = { ...DEFAULTS, ...opts };
  const log = opts.log ?? ((m: string) => console.log(m));
  const artifacts = defaultArtifacts();
  const env = await startDemoChain();
  const { publicClient, pool } = env;
  const payer = devAccount(ACCOUNTS.payer);
  const payerWallet = env.walletClientFor(ACCOUNTS.payer);
  const relayer = env.walletClientFor(ACCOUNTS.relayer);
  const { api, exactNetwork } = await startDemoApi(env);
  const zkUrl = `${api.url}/weather`;
  const exactUrl = `${api.url}/weather-exact`;

  try {
    await env.waitOk(
      await payerWallet.writeContract({
        address: pool.token,
        abi: erc20Abi,
        functionName: "mint",
        args: [payer.address, 20n * USDC],
        account: payer,
        chain: env.viemChain,
      }),
    );
    // viem caches eth_blockNumber for `cacheTime` (default: the 50 ms polling interval), and
    // PrivateWallet.deposit syncs right after mining: a cached block number can miss the
    // deposit ("deposit confirmed but its note was not found"). No cache for the wallet.
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
      artifacts,
      // Pays back to back in one process: with scheduled syncing a payment from the last
      // payment's change note would wait for the next scheduled sync (README, Syncing).
      sync: { auto: false },
    });
    await wallet.deposit(5n * USDC);
    log(`   chain, API on ${api.url}, one 5 USDC note`);

    // ------------------------------------------------------------ e2e latency
    const zkPay = async (settlement: "server" | "client") => {
      const r = await payWithZk(zkUrl, { wallet, settlement });
      if (r.status !== 200 || !r.settled)
        throw new Error(`zk ${settlement} payment failed: HTTP ${r.status} ${r.body}`);
      return r;
    };
    const exactPay = async () => {
      const r = await payExact(exactUrl, payer, exactNetwork);
      if (r.status !== 200 || !r.transaction) throw new Error(`exact payment failed: HTTP ${r.status} ${r.body}`);
      return r;
    };
    // The same paid API with a shielded payee (zk-shielded; its own relayer account, so
    // that the two APIs never race for one account's nonces), paid from the same wallet.
    const shieldedApi = await startPaidApi({
      pool: { chainId: pool.chainId, facilitator: pool.facilitator, token: pool.token, decimals: pool.decimals },
      publicClient,
      relayer: env.walletClientFor(SHIELDED_API_RELAYER),
      shielded: { keys: WalletKeys.fromSeed(WalletKeys.randomSeed()) },
      price: "$0.01",
      challengeSecret: WalletKeys.randomSeed(),
    });
    const server: PayResult[] = [];
    const shielded: PayResult[] = [];
    const client: PayResult[] = [];
    const exact: Awaited<ReturnType<typeof exactPay>>[] = [];
    try {
      const shieldedUrl = `${shieldedApi.url}/weather`;
      const required = await paymentRequiredOf(shieldedUrl);
      if (required.accepts[0]?.scheme !== "zk-shielded") {
        throw new Error(`the shielded API asks for ${required.accepts[0]?.scheme}, not zk-shielded`);
      }
      const shieldedPay = async () => {
        const r = await payWithZk(shieldedUrl, { wallet, settlement: "server" });
        if (r.status !== 200 || !r.settled) throw new Error(`zk-shielded payment failed: HTTP ${r.status} ${r.body}`);
        return r;
      };
      // One unmeasured request of each kind: first-use costs (JIT, first proof's setup).
      await zkPay("server");
      await shieldedPay();
      await exactPay();
      // zk-exact and zk-shielded alternate: both modes see the same machine load.
      for (let i = 0; i < o.e2eRuns; i++) {
        server.push(await zkPay("server"));
        shielded.push(await shieldedPay());
      }
    } finally {
      await shieldedApi.close();
    }
    for (let i = 0; i < o.e2eRuns; i++) client.push(await zkPay("client"));
    for (let i = 0; i < o.e2eRuns; i++) exact.push(await exactPay());
    log(
      `   e2e: ${o.e2eRuns} server-settled zk-exact and zk-shielded (alternating), ${o.e2eRuns} client-settled, ` +
        `${o.e2eRuns} exact paid requests`,
    );

    // ------------------------------------------------------------ receipt check vs exact verify
    const last = client[client.length - 1]!;
    const prep = last.prepared!;
    const expected: ExpectedReceipt = {
      id: last.receiptId as Hex,
      payTo: prep.terms.payTo,
      amount: prep.terms.amount,
      conditionHash: prep.terms.conditionHash,
    };
    const checkerOpts = { publicClient, facilitator: pool.facilitator };
    const uncached = await timeEach(o.checkRuns, async () => {
      const r = await new ReceiptChecker(checkerOpts).check(expected);
      if (r.state !== "paid") throw new Error(`receipt check: ${r.state}`);
    });
    const warm = new ReceiptChecker(checkerOpts);
    await warm.check(expected);
    const cached = await timeEach(o.checkRuns, () => warm.check(expected));

    const exactPR = await paymentRequiredOf(exactUrl);
    const exactClient = new x402Client().register(exactNetwork, new ExactClientScheme(payer));
    exactClient.setSpendControls(false);
    const exactPayloads: PaymentPayload[] = [];
    const tPrepExact = performance.now();
    for (let i = 0; i < o.exactPrepared; i++) exactPayloads.push(await exactClient.createPaymentPayload(exactPR));
    const exactPrepareMs = (performance.now() - tPrepExact) / o.exactPrepared;
    const exactConcurrentPayloads: PaymentPayload[] = [];
    for (let i = 0; i < o.zkPreparedConcurrent; i++) {
      exactConcurrentPayloads.push(await exactClient.createPaymentPayload(exactPR));
    }
    const exactFac = exactFacilitatorScheme(env, ACCOUNTS.exactFacilitator);
    const exactVerify = async (p: PaymentPayload) => {
      const v = await exactFac.verify(p, p.accepted);
      if (!v.isValid) throw new Error(`exact verify: ${v.invalidReason} ${v.invalidMessage ?? ""}`);
    };
    const exactVerifyTimes = await timeEach(o.checkRuns, () => exactVerify(exactPayloads[0]!));
    log(`   receipt checks and exact verifies: ${o.checkRuns} each`);

    // ------------------------------------------------------------ throughput, zk prepared in advance
    const nPrepared = o.zkPrepared + o.zkPreparedConcurrent;
    for (let i = 0; i < nPrepared; i++) await wallet.deposit(2n * PRICE);
    const zkClient = new x402Client().register("eip155:*", new ZkExactClientScheme({ wallet, settlement: "server" }));
    zkClient.setSpendControls(false);
    const zkPayloads: PaymentPayload[] = [];
    const tPrepZk = performance.now();
    for (let i = 0; i < nPrepared; i++) {
      zkPayloads.push(await zkClient.createPaymentPayload(await paymentRequiredOf(zkUrl)));
    }
    const zkPrepareMs = (performance.now() - tPrepZk) / nPrepared;
    // The first zkPrepared go sequentially, the others concurrently (paid HTTP only).
    const zkConcurrentPayloads = zkPayloads.splice(o.zkPrepared);
    log(`   ${nPrepared} zk-exact payments prepared (${nPrepared} notes), ${o.exactPrepared} exact`);

    const { vkey, vkeySha256 } = loadVerificationKey();
    // A fresh facilitator (and replay store) per run: verify claims each payment once.
    const freshZk = () =>
      new ZkExactFacilitatorScheme({
        pool: { chainId: pool.chainId, facilitator: pool.facilitator },
        publicClient,
        walletClient: relayer,
        vkey,
        vkeySha256,
        challenges: api.zk.challenges,
      });
    const zkVerifyTimes: number[] = [];
    const zkRate: Record<string, number> = {};
    const exactRate: Record<string, number> = {};
    for (const c of [1, ...o.concurrency]) {
      const f = freshZk();
      const ms = await timedPool(zkPayloads, c, async (p) => {
        const t = performance.now();
        const v = await f.verify(p, p.accepted);
        if (c === 1) zkVerifyTimes.push(performance.now() - t);
        if (!v.isValid) throw new Error(`zk verify: ${v.invalidReason} ${v.invalidMessage ?? ""}`);
      });
      zkRate[c] = round(zkPayloads.length / (ms / 1000));
      const ems = await timedPool(exactPayloads, c, exactVerify);
      exactRate[c] = round(exactPayloads.length / (ems / 1000));
    }

    // Full paid requests (verify + settle + response), prepared headers, sequential, then
    // concurrent; the API's facilitator settles through its SettlementBatcher.
    const batcher = api.zk.facilitatorScheme.batcher;
    const statsNow = () => ({
      ...(batcher?.stats ?? { batches: 0, singles: 0, commits: 0, fallbacks: 0, skipped: 0 }),
    });
    const statsSince = (a: ReturnType<typeof statsNow>) => {
      const b = statsNow();
      return {
        payBatchTxs: b.batches - a.batches,
        payTxs: b.singles - a.singles,
        commitTxs: b.commits - a.commits,
        fallbacks: b.fallbacks - a.fallbacks,
        skipped: b.skipped - a.skipped,
      };
    };
    // Let a commit scheduled by the earlier payments go out first.
    await new Promise((r) => setTimeout(r, 200));
    let s0 = statsNow();
    const zkHttpMs = await timedPool(zkPayloads, 1, (p) => sendPaid(zkUrl, p));
    await new Promise((r) => setTimeout(r, 200)); // the trailing commit of the last one
    const seqStats = statsSince(s0);
    s0 = statsNow();
    // Refusals are counted (with their reasons), not fatal: they are a finding of this run.
    const concRefusals: Record<string, number> = {};
    const zkHttpConcMs = await timedPool(zkConcurrentPayloads, o.httpConcurrency, (p) =>
      sendPaid(zkUrl, p).catch((err: unknown) => {
        const why = err instanceof Error ? err.message.replace(/^prepared payment to \S+ refused: /, "") : String(err);
        concRefusals[why] = (concRefusals[why] ?? 0) + 1;
      }),
    );
    const concRefused = Object.values(concRefusals).reduce((a, b) => a + b, 0);
    if (concRefused > 0) log(`   concurrent paid requests refused: ${JSON.stringify(concRefusals)}`);
    await new Promise((r) => setTimeout(r, 200));
    const concStats = statsSince(s0);
    const exactHttpMs = await timedPool(exactPayloads, 1, (p) => sendPaid(exactUrl, p));
    let exactConcRefused = 0;
    const exactConcReasons: Record<string, number> = {};
    const exactHttpConcMs = await timedPool(exactConcurrentPayloads, o.httpConcurrency, (p) =>
      sendPaid(exactUrl, p).catch((err: unknown) => {
        exactConcRefused++;
        const why = err instanceof Error ? err.message.replace(/^prepared payment to \S+ refused: /, "") : String(err);
        exactConcReasons[why] = (exactConcReasons[why] ?? 0) + 1;
      }),
    );
    if (exactConcRefused > 0) log(`   concurrent exact requests refused: ${JSON.stringify(exactConcReasons)}`);
    log(
      `   throughput: verify at concurrency ${[1, ...o.concurrency].join(", ")}; paid HTTP requests sequential ` +
        `(${JSON.stringify(seqStats)}) and ${o.httpConcurrency} at once (${JSON.stringify(concStats)})`,
    );

    const e2e = (rs: { timings: { totalMs: number } }[]) => round(median(rs.map((r) => r.timings.totalMs)));
    return {
      e2eRuns: o.e2eRuns,
      e2eMsMedianServerSettled: e2e(server),
      e2eMsMedianClientSettled: e2e(client),
      e2eMsMedianExact: e2e(exact),
      // zk-shielded next to zk-exact's e2eMsMedianServerSettled (same wallet, same chain, same price).
      shieldedRequestMs: e2e(shielded),
      shieldedRequestProveMs: round(median(shielded.map((r) => r.timings.proveMs))),
      shieldedRequestServerMs: round(median(shielded.map((r) => r.timings.serverMs))),
      e2eProveMsMedian: round(median([...server, ...client].map((r) => r.timings.proveMs))),
      e2eServerMsMedianServerSettled: round(median(server.map((r) => r.timings.serverMs))),
      e2eServerMsMedianClientSettled: round(median(client.map((r) => r.timings.serverMs + r.timings.submitMs))),
      e2eServerMsMedianExact: round(median(exact.map((r) => r.timings.serverMs))),
      receiptCheckMs: round(median(uncached), 2),
      receiptCheckCachedMs: round(median(cached), 3),
      exactVerifyMs: round(median(exactVerifyTimes), 2),
      zkVerifyMs: round(median(zkVerifyTimes), 2),
      zkPreparedPayments: zkPayloads.length,
      zkPrepareMsPerPayment: round(zkPrepareMs),
      paidRequestsPerSec: zkRate[1],
      paidRequestsPerSecByConcurrency: zkRate,
      paidRequestsPerSecHttp: round(zkPayloads.length / (zkHttpMs / 1000)),
      paidRequestsPerSecHttpConcurrent: round((zkConcurrentPayloads.length - concRefused) / (zkHttpConcMs / 1000)),
      zkConcurrentRefused: concRefused,
      ...(concRefused > 0 ? { zkConcurrentRefusalReasons: concRefusals } : {}),
      httpConcurrency: o.httpConcurrency,
      zkConcurrentPayments: zkConcurrentPayloads.length,
      settlementTxsSequential: seqStats,
      settlementTxsConcurrent: concStats,
      exactPreparedPayments: exactPayloads.length,
      exactPrepareMsPerPayment: round(exactPrepareMs, 2),
      exactPaidRequestsPerSec: exactRate[1],
      exactPaidRequestsPerSecByConcurrency: exactRate,
      exactPaidRequestsPerSecHttp: round(exactPayloads.length / (exactHttpMs / 1000)),
      exactPaidRequestsPerSecHttpConcurrent: round(
        (exactConcurrentPayloads.length - exactConcRefused) / (exactHttpConcMs / 1000),
      ),
      exactConcurrentRefused: exactConcRefused,
      ...(exactConcRefused > 0 ? { exactConcurrentRefusalReasons: exactConcReasons } : {}),
    };
  } finally {
    await api.close();
    // The JSON-RPC server may hold keep-alive sockets; the bench exits anyway.
    await Promise.race([env.close(), new Promise((r) => setTimeout(r, 2000).unref())]);
  }
}

export function reportE2E(r: Record<string, unknown>): string {
  const n = (k: string) => r[k] as number;
  const ms = (k: string) => `${n(k)} ms`;
  const rate = (k: string) => `${n(k)}/s`;
  const by = (k: string) =>
    Object.entries(r[k] as Record<string, number>)
      .map(([c, v]) => `c=${c}: ${v}/s`)
      .join(", ");
  const txs = (k: string) => {
    const t = r[k] as Record<string, number> | undefined;
    if (!t) return "-";
    return `${t.payBatchTxs} payBatch + ${t.payTxs} pay + ${t.commitTxs} commit${t.fallbacks ? `, ${t.fallbacks} fallbacks` : ""}${t.skipped ? `, ${t.skipped} skipped` : ""}`;
  };
  const out: string[] = [];
  out.push(`End to end over HTTP on 127.0.0.1 (Hardhat EVM via JSON-RPC, automine; ${n("e2eRuns")} requests each)`);
  out.push(
    table(
      ["figure", "402zk", 'x402 "exact"', "notes"],
      [
        [
          "402 -> paid 200, server-settled (median)",
          ms("e2eMsMedianServerSettled"),
          ms("e2eMsMedianExact"),
          `prove ${ms("e2eProveMsMedian")}; paid request ${ms("e2eServerMsMedianServerSettled")} vs ${ms("e2eServerMsMedianExact")}`,
        ],
        [
          "402 -> paid 200, zk-shielded, server-settled (median)",
          ms("shieldedRequestMs"),
          ms("e2eMsMedianExact"),
          `prove ${ms("shieldedRequestProveMs")}; paid request ${ms("shieldedRequestServerMs")} ` +
            `(decrypt + check the payee note, verify, settle); zk-exact ${ms("e2eMsMedianServerSettled")}`,
        ],
        [
          "402 -> paid 200, client-settled (median)",
          ms("e2eMsMedianClientSettled"),
          ms("e2eMsMedianExact"),
          `own pay tx + paid request ${ms("e2eServerMsMedianClientSettled")}`,
        ],
        [
          "server check: receipt vs exact verify",
          ms("receiptCheckMs"),
          ms("exactVerifyMs"),
          `receipt: one eth_call (cached ${ms("receiptCheckCachedMs")}); exact: sig + simulation`,
        ],
        ["server verify, server-settled (Groth16)", ms("zkVerifyMs"), ms("exactVerifyMs"), "per payment, sequential"],
        [
          "prepare a payment (client)",
          ms("zkPrepareMsPerPayment"),
          ms("exactPrepareMsPerPayment"),
          "402zk: sync + witness + proof; exact: EIP-3009 signature",
        ],
        [
          "verify throughput, prepared payments",
          rate("paidRequestsPerSec"),
          rate("exactPaidRequestsPerSec"),
          `402zk ${by("paidRequestsPerSecByConcurrency")}; exact ${by("exactPaidRequestsPerSecByConcurrency")}`,
        ],
        [
          "paid HTTP requests/s (verify+settle)",
          rate("paidRequestsPerSecHttp"),
          rate("exactPaidRequestsPerSecHttp"),
          `prepared headers, sequential; ${n("zkPreparedPayments")} zk, ${n("exactPreparedPayments")} exact; ` +
            `402zk txs: ${txs("settlementTxsSequential")}`,
        ],
        [
          `paid HTTP requests/s, ${n("httpConcurrency")} at once`,
          rate("paidRequestsPerSecHttpConcurrent"),
          rate("exactPaidRequestsPerSecHttpConcurrent"),
          `${n("zkConcurrentPayments")} each (refused: ${n("zkConcurrentRefused")} zk, ` +
            `${n("exactConcurrentRefused")} exact); ` +
            `402zk txs: ${txs("settlementTxsConcurrent")}`,
        ],
      ],
      ["l", "r", "r", "l"],
    ),
  );
  return out.join("\n");
}
