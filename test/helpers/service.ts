import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";

import { x402Client } from "@x402/core/client";
import { HTTPFacilitatorClient } from "@x402/core/server";
import type { PaymentPayload, PaymentRequirements, SchemeNetworkClient } from "@x402/core/types";
import { wrapFetchWithPayment } from "@x402/fetch";
import { paymentMiddleware } from "@x402/express";
import { declareDiscoveryExtension } from "@x402/extensions/bazaar";
import express from "express";
import { parseGwei, type Address, type Hex } from "viem";

import { ZkExactClientScheme } from "../../sdk/client/scheme.js";
import type { PrivateWallet } from "../../sdk/client/wallet.js";
import type { ReplayStore } from "../../sdk/core/replay.js";
import type { ShieldedPayeeConfig } from "../../sdk/core/shielded-payee.js";
import { createZkRemoteResourceServer } from "../../sdk/server/remote.js";
import { startFacilitatorServer } from "../../sdk/service/http.js";
import { jsonLogger, type Logger } from "../../sdk/service/logger.js";
import type { GasPolicy } from "../../sdk/service/relayer.js";
import { FacilitatorService, type FacilitatorServiceOptions } from "../../sdk/service/service.js";
import type { ServiceBatchOptions } from "../../sdk/service/settler.js";
import type { SettlementRegistry } from "../../sdk/service/shared.js";
import { ServiceStore } from "../../sdk/service/store.js";
import { devPrivateKey } from "../../scripts/lib/dev-env.js";
import { ROOT } from "../../scripts/lib/paths.js";
import { account, decodeHeader, type Env } from "./x402-env.js";
import type { EnvVars } from "../../sdk/service/config.js";

/** A fresh temporary directory for a service's database. */
export function tempDir(prefix = "402zk-service-"): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Log lines of an in-process service, kept for assertions (and printed with DEBUG_SERVICE=1). */
export function memoryLogger(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = jsonLogger({
    level: "debug",
    write: (line) => {
      lines.push(JSON.parse(line) as Record<string, unknown>);
      if (process.env.DEBUG_SERVICE) console.log(line);
    },
  });
  return { log, lines };
}

/** The facilitator service in this process on 127.0.0.1 (real HTTP, real SQLite file) against env's chain. */
export async function startService(
  env: Env,
  o: {
    relayerIndex?: number;
    feeRecipient?: Address;
    db?: string;
    batch?: ServiceBatchOptions;
    gas?: Partial<GasPolicy>;
    fees?: FacilitatorServiceOptions["fees"];
    registry?: SettlementRegistry;
    instanceId?: string;
    apiKeys?: string[];
    limits?: Parameters<typeof startFacilitatorServer>[1] extends infer T
      ? T extends { limits?: infer L }
        ? L
        : never
      : never;
  } = {},
) {
  const db = o.db ?? path.join(tempDir(), "facilitator.sqlite");
  const store = new ServiceStore(db);
  const { log, lines } = memoryLogger();
  const service = new FacilitatorService({
    publicClient: env.publicClient,
    account: account(o.relayerIndex ?? 5),
    feeRecipient: o.feeRecipient,
    pool: { chainId: env.pool.chainId, facilitator: env.pool.facilitator },
    vkey: env.vkey,
    vkeySha256: env.vkeySha256,
    store,
    gas: { maxFeePerGas: parseGwei("500"), ...o.gas },
    fees: o.fees,
    batch: { commitAfterMs: -1, ...o.batch },
    registry: o.registry,
    instanceId: o.instanceId,
    log,
    pollMs: 25,
  });
  await service.start();
  const server = await startFacilitatorServer(service, { port: 0, apiKeys: o.apiKeys, limits: o.limits, log });
  return { service, store, server, url: server.url, db, lines, close: (ms = 10_000) => server.close(ms) };
}

export type RunningService = Awaited<ReturnType<typeof startService>>;

/**
 * An ordinary @x402/express app (paymentMiddleware from @x402/express itself) whose
 * facilitator is `new HTTPFacilitatorClient({ url })`: GET /weather costs `price` in zk-exact.
 */
export async function remoteApi(
  env: Env,
  o: {
    facilitatorUrl: string;
    /** An address (zk-exact) or the API's shielded address (zk-shielded, with `payee`). */
    payTo: Address | string;
    payee?: ShieldedPayeeConfig;
    price?: bigint;
    replay?: ReplayStore;
    apiKey?: string;
    /** Lifetime of a 402 challenge (and the route's maxTimeoutSeconds), seconds. Default 300. */
    ttlSeconds?: number;
    /**
     * GET /weather declares x402's bazaar discovery (`declareDiscoveryExtension`), and
     * GET /plain (same price and payee, no declaration) is served beside it.
     */
    discovery?: boolean;
  },
) {
  const facilitatorClient = new HTTPFacilitatorClient({
    url: o.facilitatorUrl,
    ...(o.apiKey
      ? {
          createAuthHeaders: async () => {
            const h = { Authorization: `Bearer ${o.apiKey}` };
            return { verify: h, settle: h, supported: h };
          },
        }
      : {}),
  });
  const { resourceServer, network, guard } = createZkRemoteResourceServer({
    facilitatorClient,
    pool: { chainId: env.pool.chainId, facilitator: env.pool.facilitator, token: env.pool.token, decimals: 6 },
    challengeSecret: "remote-api-secret-0123456789",
    replay: o.replay,
    payee: o.payee,
    challengeTtlSeconds: o.ttlSeconds,
  });
  const price = (o.price ?? 10_000n).toString();
  const accepts = {
    scheme: o.payTo.startsWith("0x") ? "zk-exact" : "zk-shielded",
    network,
    payTo: o.payTo,
    price: { amount: price, asset: env.pool.token },
    ...(o.ttlSeconds ? { maxTimeoutSeconds: o.ttlSeconds } : {}),
  };
  const app = express();
  app.use(
    paymentMiddleware(
      {
        "GET /weather": {
          accepts,
          ...(o.discovery
            ? {
                description: "today's weather",
                mimeType: "application/json",
                extensions: declareDiscoveryExtension({ output: { example: { weather: "sunny", served: 1 } } }),
              }
            : {}),
        },
        ...(o.discovery ? { "GET /plain": { accepts } } : {}),
      },
      resourceServer,
    ),
  );
  let served = 0;
  app.get("/weather", (_req, res) => {
    served++;
    res.json({ weather: "sunny", served });
  });
  app.get("/plain", (_req, res) => {
    served++;
    res.json({ plain: true, served });
  });
  const server: Server = app.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    resourceServer,
    guard,
    served: () => served,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** A real payment for `apiUrl`'s GET /weather as the x402 client would send it, not sent: payload + requirements. */
export async function preparedPayment(
  env: Env,
  wallet: PrivateWallet,
  apiUrl: string,
): Promise<{ paymentPayload: PaymentPayload; paymentRequirements: PaymentRequirements }> {
  // As env.preparedHeader, but the note stays reserved: without the scheme's hooks, the
  // intercepted request does not release it (these payments are settled by the tests).
  const inner = new ZkExactClientScheme({ wallet, settlement: "server" });
  const scheme: SchemeNetworkClient = {
    scheme: inner.scheme,
    createPaymentPayload: (v, r) => inner.createPaymentPayload(v, r),
  };
  const client = new x402Client().register("eip155:*", scheme);
  client.setSpendControls(false);
  let header: string | undefined;
  const grab: typeof fetch = async (input, init) => {
    const req = new Request(input as RequestInfo, init);
    const sig = req.headers.get("PAYMENT-SIGNATURE");
    if (sig) {
      header = sig;
      return new Response("{}", { status: 599 });
    }
    return fetch(req);
  };
  await wrapFetchWithPayment(grab, client)(`${apiUrl}/weather`);
  if (!header) throw new Error(`no payment was prepared for ${apiUrl}`);
  const paymentPayload = decodeHeader<PaymentPayload>(header)!;
  return { paymentPayload, paymentRequirements: paymentPayload.accepted };
}

/** POSTs JSON to the service; returns status and parsed body. */
export async function post<T = Record<string, unknown>>(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: T }> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = { raw: text };
  }
  return { status: res.status, body: parsed as T };
}

/** Transactions of `from` in blocks (from, to]: hash, nonce, input. */
export async function txsFrom(env: Env, from: Address, fromBlock: bigint) {
  const latest = await env.publicClient.getBlockNumber();
  const out: { hash: Hex; nonce: number; input: Hex; to: Address | null; blockNumber: bigint }[] = [];
  for (let b = fromBlock + 1n; b <= latest; b++) {
    const block = await env.publicClient.getBlock({ blockNumber: b, includeTransactions: true });
    for (const t of block.transactions) {
      if (t.from.toLowerCase() === from.toLowerCase()) {
        out.push({ hash: t.hash, nonce: t.nonce, input: t.input, to: t.to, blockNumber: b });
      }
    }
  }
  return out;
}

/**
 * `402zk facilitator` as a child process (the CLI from dist/), its JSON log lines parsed;
 * resolves once it listens.
 */
export async function spawnFacilitator(
  env: Env,
  o: { db: string; relayerIndex: number; extra?: string[]; envVars?: EnvVars },
): Promise<{ child: ChildProcess; url: string; lines: Record<string, unknown>[]; exited: Promise<number | null> }> {
  const child = spawn(
    process.execPath,
    [
      path.join(ROOT, "bin", "402zk.js"),
      "--rpc",
      env.chain.url,
      "facilitator",
      "--pool",
      env.pool.facilitator,
      "--port",
      "0",
      "--db",
      o.db,
      "--log-level",
      "debug",
      ...(o.extra ?? []),
    ],
    {
      cwd: ROOT,
      env: { ...process.env, ZK402_RELAYER_KEY: devPrivateKey(o.relayerIndex), ZK402_PRIVATE_KEY: "", ...o.envVars },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const lines: Record<string, unknown>[] = [];
  let stderr = "";
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => reject(new Error(`facilitator did not start: ${stderr}`)), 60_000);
    child.stdout!.on("data", (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          const rec = JSON.parse(line) as Record<string, unknown>;
          lines.push(rec);
          if (process.env.DEBUG_SERVICE) console.log(line);
          if (rec.msg === "listening") {
            clearTimeout(timer);
            resolve(rec.url as string);
          }
        } catch {
          // not a log line
        }
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`facilitator exited with ${code}: ${stderr}`));
    });
  });
  return { child, url, lines, exited };
}
