/**
 * Security benchmark (issue 7, findings 3 and 5): the costs an attacker can impose on a
 * server-settled zk-exact API, measured over real HTTP on 127.0.0.1 against its own chain
 * (Hardhat's EVM served as JSON-RPC, demo-env.ts, in a child process of its own). It mirrors the regression tests in
 * test/server/security.test.ts and puts the review's figures from before the fix beside them.
 *
 * Relayer gas under real block times (finding 5). The chain mines a block every second
 * (`evm_setAutomine false`, `evm_setIntervalMining 1000`). N = 6 PAYMENT-SIGNATURE
 * headers prove the SAME note (6 wallets restored from one seed, each synced, each
 * header made for a fresh 402 challenge) and are sent at once:
 *  - relayerSameNoteProofs: N;
 *  - relayerTxsSent: transactions the relayer broadcast (its nonce delta, pending tag);
 *  - relayerRevertedTxs: those among them that reverted, read from the receipts of
 *    every relayer transaction in the blocks mined during the run;
 *  - relayerBurntGas: gasUsed of the reverted ones (gas the relayer paid for nothing);
 *  - relayerPaidRequests: HTTP 200s (one note pays once);
 *  - relayerStatuses / relayerRefusalReasons: HTTP status counts of the N requests, and
 *    the reasons the refused ones were given;
 *  - relayerBaseline: the review's figures before the fix (1 succeeded, 5 reverted,
 *    215,490 gas burnt for one $0.01 payment).
 *
 * A bounded junk-proof flood (finding 3). A server with a failure budget of 5 per client
 * and a verification queue of concurrency 2, 16 waiting at most, 2 per client, behind
 * loopback as the trusted proxy (client = X-Forwarded-For). Junk = schema-valid server-settled payloads
 * with the right terms and a fresh challenge each, curve points lifted from the
 * verification key (so each one costs a full Groth16 verification), a random nullifier
 * hash, the pool's current root and tree size. 16 attacker addresses x 12 requests,
 * 64 in flight, sent by a separate process (this file run with `--flood`) so that the
 * attacker's own work does not share the server's event loop:
 *  - floodJunkRequests: junk requests sent;
 *  - floodVerifiedAndRefused: 402s (verified, or refused by a cheap check, and refused);
 *  - flood429 / flood503: refused by the per-client failure budget / the full queue;
 *  - floodOtherStatuses: anything but 400/402/429/503, connection errors included
 *    (the target is 0: every junk request refused, the process never falls over);
 *  - floodHonestMsAlone: an honest server-settled paid request (header prepared
 *    beforehand, its own X-Forwarded-For), median of 5 after one unmeasured warm-up
 *    (floodHonestMsAloneRuns: each);
 *  - floodHonestMsUnderFlood: median of 5 honest requests (5 payers, 5 addresses, headers
 *    prepared beforehand) sent 300, 400, ... 700 ms into the flood
 *    (floodHonestMsUnderFloodRuns: each);
 *  - floodHonestLatencyRatio: under flood / alone, medians (issue #16's target: at most 3x);
 *  - floodHonestPhasesMsAlone / floodHonestPhasesMsUnderFlood: where an honest request's
 *    time goes, medians: toVerify (sent -> x402 starts verifying: HTTP, header guard,
 *    admission, the server's event loop), verify (the fair queue's wait, the pairing, chain
 *    reads), toSettle, settle (transaction and receipt), toAnswer;
 *  - securityChainInOwnProcess: the chain ran in its own process (this file with
 *    `--chain`: demo-env.ts' chain, contracts deployed, reached over HTTP JSON-RPC as a real
 *    node is); chainNote says why not when it could not start;
 *  - floodHonestStatusUnderFlood (and floodHonestErrorUnderFlood when refused): its HTTP
 *    status; a refusal makes the ratio moot (the time is that of a refusal, not a payment);
 *  - floodDurationMs: wall time of the flood, as the attacker saw it;
 *  - floodServerUpAfter: the server still answers a 402 after the flood;
 *  - floodBaseline: the review's figures before the fix (89 ms alone, 2.5-3.3 s under
 *    128 attacker connections; it had no queue, so every junk proof was verified);
 *  - floodNote: present only when the flood had to run in this process.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import os from "node:os";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";

import type { Address, Hex, PublicClient } from "viem";

import type { PrivateWallet } from "../sdk/client/wallet.js";
import type { ZkResourceServerOptions } from "../sdk/server/resource-server.js";
import { fmtInt, median, round, table } from "./util.js";
import { junkPaymentHeader, junkPoints, type JunkPoints, type JunkRequired } from "../test/helpers/junk-payment.js";
import type { DemoChain } from "../scripts/lib/dev-env.js";
import { ROOT } from "../scripts/lib/paths.js";

// Heavy modules (Hardhat, the SDK's server, snarkjs, express) are imported inside
// benchSecurity, so that the flood process (this file with --flood) loads only viem.

export interface SecurityBenchOptions {
  /** Proofs of one note sent at once under interval mining. */
  sameNoteProofs?: number;
  /** Interval of the block production during the relayer run, ms. */
  blockIntervalMs?: number;
  /** Attacker client addresses of the flood. */
  attackers?: number;
  /** Junk requests per attacker address. */
  junkPerAttacker?: number;
  /** Junk requests in flight at once. */
  inFlight?: number;
  /** When the honest request is sent, ms after the flood starts. */
  honestDelayMs?: number;
  /** Honest requests timed alone (after one unmeasured warm-up); the median is reported. */
  honestRunsAlone?: number;
  /** Honest requests sent under the flood (one payer each); the median is reported. */
  honestRunsUnderFlood?: number;
  /** Time between two honest requests under the flood, ms. */
  honestSpacingMs?: number;
  log?: (msg: string) => void;
}

const DEFAULTS: Required<Omit<SecurityBenchOptions, "log">> = {
  sameNoteProofs: 6,
  blockIntervalMs: 1000,
  attackers: 16,
  junkPerAttacker: 12,
  inFlight: 64,
  honestDelayMs: 300,
  honestRunsAlone: 5,
  honestRunsUnderFlood: 5,
  honestSpacingMs: 100,
};

/** The server's limits in the flood (as in test/server/security.test.ts). */
const FLOOD_LIMITS: NonNullable<ZkResourceServerOptions["limits"]> = {
  maxFailuresPerClient: 5,
  queue: { concurrency: 2, maxQueued: 16, maxQueuedPerClient: 2 },
};

/** The review's figures before the fix (issue 7). */
const RELAYER_BASELINE = { succeeded: 1, reverted: 5, burntGas: 215_490 } as const;
const FLOOD_BASELINE = { honestMsAlone: 89, honestMsUnderFlood: "2500-3300" } as const;

const ROUTE = "/weather";
const HONEST_IP = "192.168.7.7";
const FLOOD_FLAG = "--flood";
const FLOOD_ENV = "BENCH_SECURITY_FLOOD";
const SELF = fileURLToPath(import.meta.url);

// ------------------------------------------------------------------ the flood (attacker)

/** What the flood process needs: where to send, and the pool state for the junk. */
interface FloodConfig extends JunkPoints {
  url: string;
  attackers: string[];
  perAttacker: number;
  inFlight: number;
  root: string;
  treeSize: string;
}

interface FloodResult {
  /** HTTP status -> count; 0 = the request failed (connection refused, reset, ...). */
  statuses: Record<string, number>;
  ms: number;
  /** The first few failures, for the error message. */
  errors: string[];
}

/** A junk payment for a fresh challenge of `cfg.url`, fetched as client `ip`. */
async function junkHeader(cfg: FloodConfig, ip: string): Promise<string> {
  const res = await fetch(cfg.url, { headers: { "X-Forwarded-For": ip } });
  await res.arrayBuffer();
  const h = res.headers.get("PAYMENT-REQUIRED");
  if (res.status !== 402 || !h) throw new Error(`challenge request: HTTP ${res.status}`);
  const required = JSON.parse(Buffer.from(h, "base64").toString("utf8")) as JunkRequired;
  return junkPaymentHeader(required, cfg, cfg.root, cfg.treeSize);
}

/** Sends the flood: `perAttacker` junk requests per address, `inFlight` at once. */
async function runFlood(cfg: FloodConfig, onStarted?: () => void): Promise<FloodResult> {
  const jobs = cfg.attackers.flatMap((ip) => Array.from({ length: cfg.perAttacker }, () => ip));
  const statuses: Record<string, number> = {};
  const errors: string[] = [];
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < jobs.length) {
      const ip = jobs[next++]!;
      let status = 0;
      try {
        const header = await junkHeader(cfg, ip);
        const res = await fetch(cfg.url, { headers: { "PAYMENT-SIGNATURE": header, "X-Forwarded-For": ip } });
        await res.arrayBuffer();
        status = res.status;
      } catch (err) {
        if (errors.length < 5)
          errors.push(err instanceof Error ? `${err.message} ${String(err.cause ?? "")}` : String(err));
      }
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
  };
  const all = Promise.all(Array.from({ length: Math.min(cfg.inFlight, jobs.length) }, worker));
  onStarted?.();
  await all;
  return { statuses, ms: performance.now() - t0, errors };
}

/** The flood process: config from the environment, JSON lines on stdout. */
async function floodMain(): Promise<void> {
  const raw = process.env[FLOOD_ENV];
  if (!raw) throw new Error(`${FLOOD_ENV} is not set`);
  const cfg = JSON.parse(raw) as FloodConfig;
  const result = await runFlood(cfg, () => process.stdout.write(`${JSON.stringify({ event: "started" })}\n`));
  await new Promise<void>((r) => process.stdout.write(`${JSON.stringify({ event: "done", result })}\n`, () => r()));
}

/**
 * Runs the flood in a child process (`node --import tsx` this file `--flood`); calls
 * `onStarted` once its first requests are on their way.
 */
function floodInChild(cfg: FloodConfig, onStarted: () => void, timeoutMs: number): Promise<FloodResult> {
  return new Promise<FloodResult>((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", SELF, FLOOD_FLAG], {
      cwd: ROOT,
      env: { ...process.env, [FLOOD_ENV]: JSON.stringify(cfg) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    let result: FloodResult | undefined;
    let settled = false;
    const finish = (err: Error | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill();
      if (err) reject(err);
      else resolve(result!);
    };
    const timer = setTimeout(
      () => finish(new Error(`flood process gave no result within ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`)),
      timeoutMs,
    );
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString("utf8");
    });
    createInterface({ input: child.stdout }).on("line", (line) => {
      let msg: { event?: string; result?: FloodResult };
      try {
        msg = JSON.parse(line) as typeof msg;
      } catch {
        return; // not ours (a warning printed by a dependency)
      }
      if (msg.event === "started") onStarted();
      if (msg.event === "done") result = msg.result;
    });
    child.on("error", (err) => finish(new Error(`could not start the flood process: ${err.message}`)));
    child.on("close", (code, signal) => {
      if (result && code === 0) finish(undefined);
      else
        finish(
          new Error(
            `flood process exited with ${signal ?? `code ${code}`} ${result ? "" : "without a result"}; ` +
              `stderr: ${stderr.slice(-2000)}`,
          ),
        );
    });
  });
}

// ------------------------------------------------------------------ the chain (its own process)

const CHAIN_FLAG = "--chain";

/** What the benchmark uses of the chain (demo-env.ts' DemoChain, or the same over a child's RPC). */
type ChainEnv = Pick<DemoChain, "url" | "pool" | "publicClient" | "walletClientFor" | "waitOk" | "viemChain" | "close">;

/** The chain process: the demo chain (contracts deployed), its RPC URL and pool on stdout, until stdin closes. */
async function chainMain(): Promise<void> {
  const { startDemoChain } = await import("../scripts/lib/dev-env.js");
  const env = await startDemoChain();
  process.stdout.write(`${JSON.stringify({ event: "ready", url: env.url, pool: env.pool })}\n`);
  process.stdin.resume();
  await once(process.stdin, "end");
  await Promise.race([env.close(), sleep(2000)]);
}

/**
 * Starts the demo chain in a child process (`node --import tsx` this file `--chain`) and
 * talks to it over HTTP JSON-RPC, as to a real node.
 */
async function chainInChild(timeoutMs: number): Promise<ChainEnv> {
  const [{ createPublicClient, createWalletClient, http }, { devAccount, localViemChain }] = await Promise.all([
    import("viem"),
    import("../scripts/lib/dev-env.js"),
  ]);
  const child = spawn(process.execPath, ["--import", "tsx", SELF, CHAIN_FLAG], {
    cwd: ROOT,
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
  const ready = await new Promise<{ url: string; pool: DemoChain["pool"] }>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no chain within ${timeoutMs} ms: ${stderr.slice(-1000)}`)),
      timeoutMs,
    );
    createInterface({ input: child.stdout }).on("line", (line) => {
      try {
        const msg = JSON.parse(line) as { event?: string; url: string; pool: DemoChain["pool"] };
        if (msg.event === "ready") {
          clearTimeout(timer);
          resolve(msg);
        }
      } catch {
        // not ours
      }
    });
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`chain process exited with ${code}: ${stderr.slice(-1000)}`));
    });
  }).catch((err: unknown) => {
    child.kill();
    throw err;
  });
  const viemChain = localViemChain(ready.pool.chainId, ready.url);
  const transport = http(ready.url);
  const publicClient = createPublicClient({ chain: viemChain, transport, pollingInterval: 50 }) as PublicClient;
  return {
    url: ready.url,
    pool: { ...ready.pool, facilitator: ready.pool.facilitator, token: ready.pool.token },
    viemChain,
    publicClient,
    walletClientFor: (i: number) =>
      createWalletClient({ account: devAccount(i), chain: viemChain, transport, pollingInterval: 50 }),
    waitOk: async (hash: Hex) => {
      const rc = await publicClient.waitForTransactionReceipt({ hash });
      if (rc.status !== "success") throw new Error(`transaction ${hash} reverted`);
      return rc;
    },
    close: async () => {
      child.stdin.end();
      const exited = once(child, "exit");
      if (await Promise.race([exited.then(() => true), sleep(5000).then(() => false)])) return;
      child.kill();
    },
  };
}

// ------------------------------------------------------------------ the server side

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Sends a prepared payment; the refusal's reason from PAYMENT-REQUIRED, PAYMENT-RESPONSE or the body. */
async function sendPaid(
  url: string,
  header: string,
  extra: Record<string, string> = {},
): Promise<{ status: number; ms: number; error?: string }> {
  const t0 = performance.now();
  const res = await fetch(url, { headers: { "PAYMENT-SIGNATURE": header, ...extra } });
  const body = await res.text();
  const ms = performance.now() - t0;
  if (res.status === 200) return { status: 200, ms };
  const decode = (h: string | null) => {
    try {
      return h ? (JSON.parse(Buffer.from(h, "base64").toString("utf8")) as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  };
  let fromBody: unknown;
  try {
    fromBody = (JSON.parse(body) as { error?: unknown }).error;
  } catch {
    fromBody = undefined;
  }
  const error =
    decode(res.headers.get("PAYMENT-REQUIRED"))?.error ??
    decode(res.headers.get("PAYMENT-RESPONSE"))?.errorReason ??
    (typeof fromBody === "string" ? fromBody : undefined);
  return { status: res.status, ms, error: typeof error === "string" ? error : undefined };
}

async function waitFor(what: string, cond: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!(await cond())) {
    if (performance.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

export async function benchSecurity(opts: SecurityBenchOptions = {}): Promise<Record<string, unknown>> {
  const o = { ...DEFAULTS, ...opts };
  const log = opts.log ?? ((m: string) => console.log(m));

  const [
    { default: express },
    { x402Client },
    { decodePaymentRequiredHeader, encodePaymentSignatureHeader },
    { createPublicClient, http },
    { ZkExactClientScheme },
    { MemoryNoteStore },
    { PrivateWallet },
    { erc20Abi, facilitatorAbi },
    { WalletKeys },
    { zkPaymentMiddleware },
    { defaultArtifacts, loadVerificationKey },
    { createZkResourceServer },
    { devAccount, startDemoChain },
    { DEMO_ACCOUNTS, DEMO_PRICE },
  ] = await Promise.all([
    import("express"),
    import("@x402/core/client"),
    import("@x402/core/http"),
    import("viem"),
    import("../sdk/client/scheme.js"),
    import("../sdk/client/store.js"),
    import("../sdk/client/wallet.js"),
    import("../sdk/core/abi.js"),
    import("../sdk/core/keys.js"),
    import("../sdk/express/index.js"),
    import("../sdk/node/artifacts.js"),
    import("../sdk/server/resource-server.js"),
    import("../scripts/lib/dev-env.js"),
    import("../scripts/demo/exact.js"),
  ]);

  const artifacts = defaultArtifacts();
  const { vkey, vkeySha256 } = loadVerificationKey();
  // The chain in its own process, as a real RPC node is: its block production and
  // JSON-RPC work do not share the resource server's event loop (or its core).
  let chainNote: string | undefined;
  let env: ChainEnv;
  try {
    env = await chainInChild(120_000);
  } catch (err) {
    chainNote =
      "chain in the server's own process (the chain process failed to start: " +
      `${err instanceof Error ? err.message.slice(0, 300) : String(err)})`;
    log(`   ${chainNote}`);
    env = await startDemoChain();
  }
  const { pool, publicClient } = env;
  const payer = devAccount(DEMO_ACCOUNTS.payer);
  const payerWallet = env.walletClientFor(DEMO_ACCOUNTS.payer);
  const relayerAddress = devAccount(DEMO_ACCOUNTS.relayer).address;
  const payTo = devAccount(DEMO_ACCOUNTS.apiOwner).address;
  // No block-number cache for wallets (see bench-e2e.ts: a cached number misses a deposit).
  const walletPublicClient = createPublicClient({
    chain: env.viemChain,
    transport: http(env.url),
    pollingInterval: 50,
    cacheTime: 0,
  }) as PublicClient;
  const rpc = (method: string, params: unknown[] = []) =>
    publicClient.request({ method: method as never, params: params as never });
  const relayerNonce = (blockTag: "pending" | "latest") =>
    publicClient.getTransactionCount({ address: relayerAddress, blockTag });

  /** A paid API on 127.0.0.1: GET /weather, zk-exact, settled by the demo relayer. */
  async function startApi(a: { limits?: ZkResourceServerOptions["limits"]; trustProxy?: boolean } = {}) {
    const zk = createZkResourceServer({
      pool: { chainId: pool.chainId, facilitator: pool.facilitator, token: pool.token, decimals: pool.decimals },
      publicClient,
      walletClient: env.walletClientFor(DEMO_ACCOUNTS.relayer),
      vkey,
      vkeySha256,
      challengeSecret: WalletKeys.randomSeed(),
      // The bench's clients are on loopback: loopback is the trusted proxy, and the
      // right-most X-Forwarded-For entry is the client.
      limits: a.trustProxy ? { ...a.limits, trustedProxies: ["127.0.0.1", "::1"] } : a.limits,
    });
    // Where a paid request's time goes (the profile of the flood figure): when x402 starts
    // verifying it (after the header guard and admission), when verification ends (the
    // fair queue's wait, the pairing, the chain reads), when settlement starts and ends
    // (the transaction and its receipt), keyed by nullifier hash.
    const marks = new Map<string, Record<string, number>>();
    const mark = (what: string) => async (ctx: { paymentPayload: { payload: Record<string, unknown> } }) => {
      const id = (ctx.paymentPayload.payload.proof as { nullifierHash?: string } | undefined)?.nullifierHash;
      if (id) marks.set(id, { ...marks.get(id), [what]: performance.now() });
    };
    zk.resourceServer.onBeforeVerify(mark("verifyStart") as never);
    zk.resourceServer.onAfterVerify(mark("verifyEnd") as never);
    zk.resourceServer.onBeforeSettle(mark("settleStart") as never);
    zk.resourceServer.onAfterSettle(mark("settleEnd") as never);
    const app = express();
    app.use(
      zkPaymentMiddleware(
        {
          [`GET ${ROUTE}`]: {
            accepts: {
              scheme: "zk-exact",
              network: zk.network,
              payTo,
              price: { amount: DEMO_PRICE.toString(), asset: pool.token },
            },
          },
        },
        zk.resourceServer,
      ),
    );
    app.get(ROUTE, (_req, res) => {
      res.json({ weather: "sunny" });
    });
    const server: Server = app.listen(0, "127.0.0.1");
    await once(server, "listening");
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${ROUTE}`;
    return {
      url,
      /** The phases of a paid request sent at `sentAt` with `header`, ms (undefined: not reached). */
      phasesOf(header: string, sentAt: number, doneAt: number): Record<string, number | undefined> {
        const p = JSON.parse(Buffer.from(header, "base64").toString("utf8")) as {
          payload: { proof: { nullifierHash: string } };
        };
        const m = marks.get(p.payload.proof.nullifierHash) ?? {};
        const d = (a: number | undefined, b: number | undefined) =>
          a === undefined || b === undefined ? undefined : round(b - a);
        return {
          toVerify: d(sentAt, m.verifyStart),
          verify: d(m.verifyStart, m.verifyEnd),
          toSettle: d(m.verifyEnd, m.settleStart),
          settle: d(m.settleStart, m.settleEnd),
          toAnswer: d(m.settleEnd, doneAt),
        };
      },
      close: () =>
        new Promise<void>((r) => {
          server.close(() => r());
          server.closeAllConnections();
        }),
    };
  }

  /** Every wallet opened here, closed before the chain is (their scheduled syncs would outlive it). */
  const wallets: PrivateWallet[] = [];
  async function openWallet(seed: Hex) {
    const wallet = await PrivateWallet.open({
      seed,
      pool,
      publicClient: walletPublicClient,
      walletClient: payerWallet,
      store: new MemoryNoteStore(),
      artifacts,
    });
    wallets.push(wallet);
    return wallet;
  }

  /** The PAYMENT-SIGNATURE `wallet` would send for a fresh 402 challenge of `url`. */
  async function preparedHeader(wallet: PrivateWallet, url: string, headers: Record<string, string> = {}) {
    const res = await fetch(url, { headers });
    await res.arrayBuffer();
    const h = res.headers.get("PAYMENT-REQUIRED");
    if (res.status !== 402 || !h)
      throw new Error(`expected a 402 with PAYMENT-REQUIRED from ${url}, got ${res.status}`);
    const client = new x402Client().register("eip155:*", new ZkExactClientScheme({ wallet, settlement: "server" }));
    client.setSpendControls(false);
    return encodePaymentSignatureHeader(await client.createPaymentPayload(decodePaymentRequiredHeader(h)));
  }

  const poolState = async () => {
    const [root, treeSize] = await Promise.all([
      publicClient.readContract({ address: pool.facilitator, abi: facilitatorAbi, functionName: "currentRoot" }),
      publicClient.readContract({ address: pool.facilitator, abi: facilitatorAbi, functionName: "treeSize" }),
    ]);
    return { root: root.toString(), treeSize: treeSize.toString() };
  };

  // ---------------------------------------------------------------- finding 5: relayer gas
  async function relayerRun(): Promise<Record<string, unknown>> {
    const api = await startApi();
    try {
      const seed = WalletKeys.randomSeed();
      const owner = await openWallet(seed);
      await owner.deposit(10n * DEMO_PRICE);
      const headers: string[] = [];
      for (let j = 0; j < o.sameNoteProofs; j++) {
        // A wallet restored from the same seed sees the note unspent and proves it again.
        const w = await openWallet(seed);
        await w.sync();
        headers.push(await preparedHeader(w, api.url));
      }
      log(`   relayer: ${headers.length} proofs of one note prepared`);

      const nonce0 = await relayerNonce("pending");
      const block0 = await publicClient.getBlockNumber({ cacheTime: 0 });
      let results: Awaited<ReturnType<typeof sendPaid>>[];
      await rpc("evm_setAutomine", [false]);
      await rpc("evm_setIntervalMining", [o.blockIntervalMs]);
      try {
        results = await Promise.all(headers.map((h) => sendPaid(api.url, h)));
        // Whatever the relayer broadcast is mined before the blocks are read.
        await waitFor(
          "the relayer's transactions to be mined",
          async () => (await relayerNonce("latest")) === (await relayerNonce("pending")),
          10 * o.blockIntervalMs + 10_000,
        );
      } finally {
        await rpc("evm_setIntervalMining", [0]);
        await rpc("evm_setAutomine", [true]);
        if ((await relayerNonce("latest")) !== (await relayerNonce("pending"))) await rpc("evm_mine");
      }
      const nonce1 = await relayerNonce("pending");
      const block1 = await publicClient.getBlockNumber({ cacheTime: 0 });

      let reverted = 0;
      let burnt = 0n;
      let mined = 0;
      for (let b = block0 + 1n; b <= block1; b++) {
        const block = await publicClient.getBlock({ blockNumber: b, includeTransactions: true });
        for (const tx of block.transactions) {
          if (tx.from.toLowerCase() !== relayerAddress.toLowerCase()) continue;
          mined++;
          const rc = await publicClient.getTransactionReceipt({ hash: tx.hash });
          if (rc.status === "reverted") {
            reverted++;
            burnt += rc.gasUsed;
          }
        }
      }
      const statuses: Record<string, number> = {};
      const reasons: Record<string, number> = {};
      for (const r of results) {
        statuses[r.status] = (statuses[r.status] ?? 0) + 1;
        if (r.error) reasons[r.error] = (reasons[r.error] ?? 0) + 1;
      }
      log(
        `   relayer: ${nonce1 - nonce0} transaction(s) sent, ${mined} mined in ${block1 - block0} blocks, ` +
          `${reverted} reverted; HTTP ${JSON.stringify(statuses)}, refusals ${JSON.stringify(reasons)}`,
      );
      return {
        relayerSameNoteProofs: headers.length,
        relayerTxsSent: nonce1 - nonce0,
        relayerRevertedTxs: reverted,
        relayerBurntGas: Number(burnt),
        relayerPaidRequests: statuses[200] ?? 0,
        relayerStatuses: statuses,
        relayerRefusalReasons: reasons,
        relayerBaseline: { ...RELAYER_BASELINE },
      };
    } finally {
      await api.close();
    }
  }

  // ---------------------------------------------------------------- finding 3: junk flood
  async function floodRun(): Promise<Record<string, unknown>> {
    const api = await startApi({ limits: FLOOD_LIMITS, trustProxy: true });
    try {
      const honest = { "X-Forwarded-For": HONEST_IP };
      const wallet = await openWallet(WalletKeys.randomSeed());
      await wallet.deposit(100n * DEMO_PRICE);
      const phasesAlone: Record<string, number | undefined>[] = [];
      const honestPay = async () => {
        const h = await preparedHeader(wallet, api.url, honest);
        const sentAt = performance.now();
        const r = await sendPaid(api.url, h, honest);
        phasesAlone.push(api.phasesOf(h, sentAt, sentAt + r.ms));
        if (r.status !== 200)
          throw new Error(`honest payment without a flood refused: HTTP ${r.status} ${r.error ?? ""}`);
        await wallet.sync(); // its change note pays the next one
        return r.ms;
      };
      await honestPay(); // first-use costs (JIT, first verification)
      phasesAlone.length = 0; // the warm-up's
      const alone: number[] = [];
      for (let i = 0; i < o.honestRunsAlone; i++) alone.push(await honestPay());
      // The honest requests under the flood: one payer each (its own note, its own
      // address), headers prepared before the flood.
      const underPayers: { header: string; headers: Record<string, string> }[] = [];
      for (let i = 0; i < o.honestRunsUnderFlood; i++) {
        const headers = { "X-Forwarded-For": `192.168.8.${i + 1}` };
        const w = await openWallet(WalletKeys.randomSeed());
        await w.deposit(2n * DEMO_PRICE);
        underPayers.push({ header: await preparedHeader(w, api.url, headers), headers });
      }

      const cfg: FloodConfig = {
        url: api.url,
        attackers: Array.from({ length: o.attackers }, (_, i) => `10.1.${Math.floor(i / 250)}.${(i % 250) + 1}`),
        perAttacker: o.junkPerAttacker,
        inFlight: o.inFlight,
        ...junkPoints(vkey),
        ...(await poolState()),
      };

      // The honest requests go out `honestDelayMs` after the flood's first requests, then
      // one every `honestSpacingMs`, each from its own payer.
      let startedAt: number | undefined;
      let honestUnder: Promise<{ status: number; ms: number; error?: string; sentAt: number }[]> | undefined;
      const onStarted = () => {
        if (startedAt !== undefined) return;
        startedAt = performance.now();
        honestUnder = Promise.all(
          underPayers.map(async (p, i) => {
            await sleep(o.honestDelayMs + i * o.honestSpacingMs);
            const sentAt = performance.now();
            return sendPaid(api.url, p.header, p.headers)
              .then((r) => ({ ...r, sentAt }))
              .catch(() => ({ status: 0, ms: Number.NaN, sentAt })); // no answer at all: status 0
          }),
        );
      };
      let flood: FloodResult;
      let floodNote: string | undefined;
      try {
        flood = await floodInChild(cfg, onStarted, 180_000);
      } catch (err) {
        if (startedAt !== undefined) throw err; // the flood ran: its failure is a result
        floodNote =
          "flood sent from the server's own process (the flood process failed to start: " +
          `${err instanceof Error ? err.message.slice(0, 300) : String(err)}); the attacker's work shares the event loop`;
        log(`   ${floodNote}`);
        flood = await runFlood(cfg, onStarted);
      }
      if (!honestUnder) throw new Error("the flood never reported its start");
      const unders = await honestUnder;
      const floodEnd = startedAt! + flood.ms;
      const sentDuringFlood = unders.filter((u) => u.sentAt < floodEnd).length;
      // The median honest request; a refusal makes the ratio moot (its time is a refusal's).
      const phasesUnder = unders.map((u, i) => api.phasesOf(underPayers[i]!.header, u.sentAt, u.sentAt + u.ms));
      /** Median of each phase over runs. */
      const phaseMedians = (runs: Record<string, number | undefined>[]) =>
        Object.fromEntries(
          ["toVerify", "verify", "toSettle", "settle", "toAnswer"].map((k) => {
            const v = runs.map((r) => r[k]).filter((x): x is number => x !== undefined);
            return [k, v.length ? round(median(v)) : null];
          }),
        );
      const paid = unders.filter((u) => u.status === 200);
      const refused = unders.find((u) => u.status !== 200);
      const under = {
        ms: paid.length === unders.length ? median(unders.map((u) => u.ms)) : Number.NaN,
        status: refused?.status ?? 200,
        error: refused?.error,
      };
      const serverUp = (await fetch(api.url).then(async (r) => (await r.arrayBuffer(), r.status))) === 402;

      const count = (s: number) => flood.statuses[s] ?? 0;
      const total = Object.values(flood.statuses).reduce((a, b) => a + b, 0);
      const other = total - count(400) - count(402) - count(429) - count(503);
      const msAlone = median(alone);
      log(
        `   honest request phases, median ms: alone ${JSON.stringify(phaseMedians(phasesAlone))}, ` +
          `under the flood ${JSON.stringify(phaseMedians(phasesUnder))}; load average ${os
            .loadavg()
            .map((l) => l.toFixed(1))
            .join(" ")}`,
      );
      log(
        `   flood: ${total} junk requests -> ${count(402)} x 402, ${count(429)} x 429, ${count(503)} x 503, ` +
          `${other} other in ${Math.round(flood.ms)} ms; honest ${round(msAlone)} ms alone ` +
          `(${alone.map((m) => round(m)).join(", ")}), ${round(under.ms)} ms under the flood ` +
          `(${unders.map((u) => `${round(u.ms)} ms HTTP ${u.status}${u.error ? ` ${u.error}` : ""}`).join(", ")}; ` +
          `${sentDuringFlood} of ${unders.length} sent before the flood ended)` +
          (flood.errors.length ? `; errors: ${flood.errors.join(" | ")}` : ""),
      );
      return {
        floodJunkRequests: total,
        floodVerifiedAndRefused: count(402),
        flood429: count(429),
        flood503: count(503),
        floodOtherStatuses: other,
        floodHonestMsAlone: round(msAlone),
        floodHonestMsUnderFlood: round(under.ms),
        floodHonestMsAloneRuns: alone.map((m) => round(m)),
        floodHonestPhasesMsAlone: phaseMedians(phasesAlone),
        floodHonestPhasesMsUnderFlood: phaseMedians(phasesUnder),
        floodHonestMsUnderFloodRuns: unders.map((u) => round(u.ms)),
        floodHonestLatencyRatio: round(under.ms / msAlone, 2),
        floodHonestStatusUnderFlood: under.status,
        ...(under.error ? { floodHonestErrorUnderFlood: under.error } : {}),
        floodHonestSentDuringFlood: sentDuringFlood === unders.length,
        floodDurationMs: Math.round(flood.ms),
        floodServerUpAfter: serverUp,
        floodBaseline: { ...FLOOD_BASELINE },
        ...(floodNote ? { floodNote } : {}),
      };
    } finally {
      await api.close();
    }
  }

  try {
    await env.waitOk(
      await payerWallet.writeContract({
        address: pool.token,
        abi: erc20Abi,
        functionName: "mint",
        args: [payer.address as Address, 1_000n * DEMO_PRICE],
        account: payer,
        chain: env.viemChain,
      }),
    );
    const stage = async (name: string, fn: () => Promise<Record<string, unknown>>) => {
      try {
        return await fn();
      } catch (err) {
        throw new Error(`security bench, ${name}: ${err instanceof Error ? err.message : String(err)}`, {
          cause: err,
        });
      }
    };
    const relayer = await stage("relayer gas under interval mining", relayerRun);
    const flood = await stage("junk-proof flood", floodRun);
    return { ...relayer, ...flood, securityChainInOwnProcess: !chainNote, ...(chainNote ? { chainNote } : {}) };
  } finally {
    await Promise.all(wallets.map((w) => w.close().catch(() => {})));
    // The JSON-RPC server may hold keep-alive sockets; the bench exits anyway.
    await Promise.race([env.close(), sleep(2000)]);
  }
}

export function reportSecurity(r: Record<string, unknown>): string {
  const n = (k: string) => r[k] as number;
  const rb = r.relayerBaseline as typeof RELAYER_BASELINE;
  const fb = r.floodBaseline as typeof FLOOD_BASELINE;
  const [lo, hi] = fb.honestMsUnderFlood.split("-").map(Number) as [number, number];
  const ratioBefore = `${round(lo / fb.honestMsAlone, 0)}-${round(hi / fb.honestMsAlone, 0)}x`;
  const out: string[] = [];
  out.push(
    `Security (issue 7): ${n("relayerSameNoteProofs")} proofs of one note under 1 s blocks; ` +
      `junk-proof flood from a ${r.floodNote ? "shared (in-process)" : "separate"} process`,
  );
  out.push(
    table(
      ["figure", "now", "before the fix (review)", "notes"],
      [
        [
          "relayer pay transactions sent",
          String(n("relayerTxsSent")),
          String(rb.succeeded + rb.reverted),
          `${n("relayerSameNoteProofs")} same-note proofs sent at once; HTTP ${JSON.stringify(r.relayerStatuses)}`,
        ],
        [
          "relayer transactions reverted",
          String(n("relayerRevertedTxs")),
          String(rb.reverted),
          "receipts in the run's blocks",
        ],
        ["relayer gas burnt on reverts", fmtInt(n("relayerBurntGas")), fmtInt(rb.burntGas), "paid for nothing"],
        ["paid requests (HTTP 200)", String(n("relayerPaidRequests")), String(rb.succeeded), "one note pays once"],
        [
          "junk requests: 402 / 429 / 503",
          `${n("floodVerifiedAndRefused")} / ${n("flood429")} / ${n("flood503")}`,
          "all verified",
          `${n("floodJunkRequests")} junk in ${n("floodDurationMs")} ms; limits 5 failures/client, queue 2+16`,
        ],
        [
          "junk answered otherwise (target 0)",
          String(n("floodOtherStatuses")),
          "",
          "not 400/402/429/503, or no answer",
        ],
        [
          "honest paid request alone",
          `${n("floodHonestMsAlone")} ms`,
          `${fb.honestMsAlone} ms`,
          "median, header prepared",
        ],
        [
          "honest paid request under the flood",
          `${n("floodHonestMsUnderFlood")} ms`,
          `${fb.honestMsUnderFlood} ms`,
          `HTTP ${n("floodHonestStatusUnderFlood")}${r.floodHonestSentDuringFlood ? "" : ", sent after the flood ended"}`,
        ],
        [
          "honest latency ratio (target <= 3x)",
          `${n("floodHonestLatencyRatio")}x ${n("floodHonestLatencyRatio") <= 3 ? "PASS" : "FAIL"}`,
          ratioBefore,
          `server up after: ${r.floodServerUpAfter ? "yes" : "NO"}; review: 128 attacker connections`,
        ],
      ],
      ["l", "r", "r", "l"],
    ),
  );
  return out.join("\n");
}

// The flood process: `node --import tsx bench/security.ts --flood`; the
// chain process: the same with `--chain`.
if (
  process.argv[1] &&
  (process.argv.includes(FLOOD_FLAG) || process.argv.includes(CHAIN_FLAG)) &&
  import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href
) {
  try {
    if (process.argv.includes(CHAIN_FLAG)) await chainMain();
    else await floodMain();
    process.exit(0);
  } catch (err) {
    console.error(err);
    process.exit(1);
  }
}
