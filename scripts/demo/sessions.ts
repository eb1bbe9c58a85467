/**
 * Step 8 of `npm run demo`: session credentials. The agent buys ONE credential with a
 * zk-exact payment (one transaction), then makes many requests with unlinkable
 * presentations of it: no payment and no transaction per request, verified by the API
 * locally. Prints gas and latency per request next to the per-request payments of step 4.
 */
import { once } from "node:events";
import { randomBytes } from "node:crypto";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";

import express from "express";
import type { Address, Hash, Hex } from "viem";

import type { PrivateWallet } from "../../sdk/client/wallet.js";
import { facilitatorAbi } from "../../sdk/core/abi.js";
import { MemoryReplayStore } from "../../sdk/core/replay.js";
import { formatAmount } from "../../sdk/cli/amount.js";
import { zkSessionMiddleware } from "../../sdk/express/session.js";
import {
  loadPresentationVerificationKey,
  loadVerificationKey,
  presentationArtifacts,
} from "../../sdk/node/artifacts.js";
import { createZkResourceServer } from "../../sdk/server/resource-server.js";
import { SessionClient, type SessionRequestTimings } from "../../sdk/session/client.js";
import { SessionService, type SessionOfferConfig } from "../../sdk/session/service.js";
import { MemorySessionStore } from "../../sdk/session/store.js";
import type { DemoChain } from "../lib/dev-env.js";
import { DEMO_PRICE } from "./exact.js";
import { gas, median, ms, table, timed } from "../lib/format.js";
import { short } from "./observer.js";

/** Dev account that relays the credential purchase (its own nonces: not the step-4 relayer). */
const SESSION_RELAYER = 8;

/** Per-request payments of the same agent, for comparison (step 4 of the demo). */
export interface PerRequestBaseline {
  label: string;
  e2eMs: number[];
  gas: number[];
}

/** Input of {@link demoSessions}. */
export interface DemoSessionsInput {
  env: DemoChain;
  /** The agent's private wallet (pays for the credential; its seed derives the holder secrets). */
  wallet: PrivateWallet;
  payTo: Address;
  /** Requests made with the one credential (its presentation count). Default 20. */
  requests?: number;
  baselines?: PerRequestBaseline[];
  log?: (s?: string) => void;
}

interface Row {
  n: number;
  status: number;
  t: SessionRequestTimings;
}

/**
 * An API that sells session credentials: GET /forecast accepts a tier-1 presentation or
 * a zk-exact payment of $0.01; one offer of `requests` presentations.
 */
async function startSessionApi(env: DemoChain, payTo: Address, offer: SessionOfferConfig) {
  const { vkey, vkeySha256 } = loadVerificationKey();
  const replay = new MemoryReplayStore(); // challenges and one-time tokens: one instance
  const zk = createZkResourceServer({
    pool: env.pool,
    publicClient: env.publicClient,
    walletClient: env.walletClientFor(SESSION_RELAYER),
    vkey,
    vkeySha256,
    challengeSecret: randomBytes(32).toString("hex"),
    replay,
  });
  const sessions = await SessionService.create({
    issuerKey: `0x${randomBytes(32).toString("hex")}`,
    offers: [offer],
    vkey: loadPresentationVerificationKey(),
    replay,
    pool: { facilitator: env.pool.facilitator, chainId: env.pool.chainId },
    payTo,
    publicClient: env.publicClient,
    challenges: zk.challenges,
  });
  const accepts = {
    scheme: "zk-exact",
    network: zk.network,
    payTo,
    price: { amount: DEMO_PRICE.toString(), asset: env.pool.token },
  };
  const app = express();
  app.disable("x-powered-by");
  let served = 0;
  app.use(
    zkSessionMiddleware({ "GET /forecast": { accepts, session: { requiredTier: 1 } } }, zk.resourceServer, sessions, {
      network: zk.network,
      asset: env.pool.token,
    }),
  );
  app.get("/forecast", (_req, res) => {
    served++;
    res.json({ city: "Lisbon", forecast: "sunny", paidWith: res.locals.zkSession ? "session" : "zk-exact" });
  });
  const server: Server = app.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    sessions,
    served: () => served,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Buys one credential and spends it on `requests` requests: the first half with
 * presentations proved in the background between requests (as an agent that does other
 * work between calls), the rest proved on demand. Logs each phase and a comparison table.
 */
export async function demoSessions(o: DemoSessionsInput): Promise<void> {
  const log = o.log ?? ((s = "") => console.log(s));
  const { env, wallet } = o;
  const N = o.requests ?? 20;
  const fmt = (v: bigint) => `${formatAmount(v, 6)} USDC`;
  const offer: SessionOfferConfig = {
    id: `agent-${N}`,
    tier: 1,
    durationSeconds: 3600,
    maxPresentations: N,
    price: (DEMO_PRICE * BigInt(N)) / 2n, // half the per-request price
  };

  const apiT = await timed(() => startSessionApi(env, o.payTo, offer));
  const api = apiT.value;
  log(`  ${`express on ${api.url} (SessionService + zkSessionMiddleware)`.padEnd(58)} ${ms(apiT.ms, 8)}`);
  log(`    GET /forecast  a tier-1 session presentation, or zk-exact $0.01 per request`);
  log(
    `    offer "${offer.id}": ${N} requests within 1 h for ${fmt(offer.price)}, sold at POST ${api.sessions.purchasePath(offer.id)}`,
  );

  const store = new MemorySessionStore();
  const url = `${api.url}/forecast`;
  const balanceBefore = wallet.balance();
  const rows: Row[] = [];
  const request = async (client: SessionClient) => {
    const res = await client.fetch(url);
    await res.text();
    if (res.status !== 200) throw new Error(`session request ${rows.length + 1} failed: HTTP ${res.status}`);
    rows.push({ n: rows.length + 1, status: res.status, t: client.lastRequest! });
  };

  // Client A proves the next presentation in the background after each request.
  const ahead = await SessionClient.open({ wallet, artifacts: presentationArtifacts(), store });
  const blockBefore = await env.publicClient.getBlockNumber();
  await request(ahead);
  const blockAfterPurchase = await env.publicClient.getBlockNumber();
  const bought = rows[0]!;
  const cred = ahead.credentials()[0];
  if (!cred || bought.t.mode !== "bought") throw new Error(`expected a purchase, got ${bought.t.mode}`);
  const [receipt] = await env.publicClient.getContractEvents({
    address: env.pool.facilitator,
    abi: facilitatorAbi,
    eventName: "PaymentReceipt",
    args: { id: cred.receiptId as Hex },
    fromBlock: blockBefore + 1n,
    strict: true,
  });
  if (!receipt) throw new Error(`no PaymentReceipt ${cred.receiptId} on chain`);
  const purchaseGas = Number(
    (await env.publicClient.getTransactionReceipt({ hash: receipt.transactionHash as Hash })).gasUsed,
  );
  log(
    `  #1 bought   HTTP 200 ${ms(bought.t.totalMs, 8)} = 402 + buy "${offer.id}" (zk-exact, ${fmt(offer.price)}, relayer settles) + first presentation ${ms(bought.t.proveMs)}`,
  );
  log(
    `     credential tier ${cred.tier}, ${cred.remaining} of ${cred.maxPresentations} left, receipt ${short(cred.receiptId, 6)}`,
  );
  log(`     tx ${receipt.transactionHash}  gas ${purchaseGas}`);

  const half = Math.ceil(N / 2);
  while (rows.length < half) {
    await ahead.idle(); // the agent's "think time": the next presentation is ready by then
    await request(ahead);
  }
  await ahead.idle();
  // Client B on the same store: no background proving, each presentation proved when needed.
  const onDemand = await SessionClient.open({
    wallet,
    artifacts: presentationArtifacts(),
    store,
    prepareAhead: false,
  });
  while (rows.length < N) await request(onDemand);
  const blockAfter = await env.publicClient.getBlockNumber();

  const phase = (mode: SessionRequestTimings["mode"]) => rows.filter((r) => r.t.mode === mode);
  const line = (label: string, rs: Row[]) => {
    if (rs.length === 0) return;
    log(
      `  ${label.padEnd(9)} HTTP 200 x ${String(rs.length).padStart(2)}  median ${ms(median(rs.map((r) => r.t.totalMs)))} (wait/prove ${ms(median(rs.map((r) => r.t.proveMs)))})`,
    );
    log(`     ${rs.map((r) => `#${r.n} ${Math.round(r.t.totalMs)}`).join(", ")} ms`);
  };
  line("prepared", phase("prepared"));
  line("proved", phase("proved"));
  const remaining = onDemand.remaining(api.url);
  await wallet.sync(); // the purchase's change note
  log(
    `  ${api.served()} requests served, ${remaining} presentations left; blocks mined after the purchase: ${blockAfter - blockAfterPurchase} (presentations never touch the chain)`,
  );
  log(
    `  private balance ${fmt(balanceBefore)} -> ${fmt(wallet.balance())}: one payment of ${fmt(offer.price)} for ${N} requests, vs ${fmt(DEMO_PRICE * BigInt(N))} paid per request`,
  );

  // ------------------------------------------------------------------ comparison
  const all = rows.map((r) => r.t.totalMs);
  const sum = all.reduce((a, b) => a + b, 0);
  const perReqGas = Math.round(purchaseGas / N);
  const sessionRow = (label: string, rs: Row[]) =>
    rs.length
      ? [[label, String(rs.length), "0", `${perReqGas} (amortised)`, ms(median(rs.map((r) => r.t.totalMs)))]]
      : [];
  const tableRows = [
    ...(o.baselines ?? []).map((b) => [
      b.label,
      String(b.e2eMs.length),
      String(b.e2eMs.length),
      gas(median(b.gas)),
      ms(median(b.e2eMs)),
    ]),
    [`session: purchase + presentation #1`, "1", "1", `${perReqGas} (amortised)`, ms(bought.t.totalMs)],
    ...sessionRow("session: presentation, prepared ahead", phase("prepared")),
    ...sessionRow("session: presentation, proved on demand", phase("proved")),
    [`session: all ${N} requests of the credential`, String(N), "1", String(perReqGas), `${ms(sum / N)} (mean)`],
  ];
  log("");
  log(
    table(["per request", "n", "txs", "gas/request", "median e2e"], tableRows, [false, true, true, true, true]).replace(
      /^/gm,
      "  ",
    ),
  );
  log("");
  log(`  gas/request of a credential = the purchase's gasUsed (${purchaseGas}) / ${N} requests; e2e = client.fetch to`);
  log(
    "  the response (SessionClient.lastRequest). A presentation is a small Groth16 proof (5,743 constraints) the client",
  );
  log(
    "  makes, ahead of time when the route does not bind it to the request; the API verifies it locally, with one replay-store",
  );
  log("  claim: no facilitator, no RPC call, no transaction. Each presentation shows a fresh one-time token, so the");
  log("  API can count them but not link them to each other or to the purchase; it does learn that a credential");
  log("  holder of this tier is making requests, and the purchase itself is a public 402zk payment like step 4's.");
  await api.close();
}
