import { once } from "node:events";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";

import express from "express";
import type { Address, Hex } from "viem";

import { MemoryReplayStore, type ReplayStore } from "../../sdk/core/replay.js";
import { zkSessionMiddleware } from "../../sdk/express/index.js";
import { loadPresentationVerificationKey, presentationArtifacts } from "../../sdk/node/artifacts.js";
import type { ZkPaywallOptions } from "../../sdk/server/paywall.js";
import { createZkResourceServer } from "../../sdk/server/resource-server.js";
import { SessionClient, type SessionClientOptions } from "../../sdk/session/client.js";
import { SessionService, type SessionOfferConfig } from "../../sdk/session/service.js";
import type { SessionStore } from "../../sdk/session/store.js";
import type { PrivateWallet } from "../../sdk/client/wallet.js";
import type { WalletKeys } from "../../sdk/core/keys.js";
import type { Env } from "./x402-env.js";

export const ISSUER_KEY = ("0x" + "5e".repeat(32)) as Hex;

/** The offers of the test service: a small bundle and a higher tier. */
export const OFFERS: SessionOfferConfig[] = [
  { id: "basic", tier: 1, durationSeconds: 3600, maxPresentations: 3, price: 30_000n },
  { id: "pro", tier: 2, durationSeconds: 3600, maxPresentations: 100, price: 200_000n },
];

/** Per-request price of the session routes (zk-exact). */
export const PER_REQUEST = 10_000n;

/**
 * An API on 127.0.0.1 that sells session credentials: GET /data (tier 1), GET /premium
 * (tier 2), POST /order (tier 1, presentations bound to the request), GET /plain (pay
 * per request only). Each instance built with the same `issuerKey`, `challengeSecret`
 * and a shared `replay` store is one service.
 */
export async function sessionApi(
  env: Env,
  opts: {
    /** An address (zk-exact), or the service's shielded address (zk-shielded, with `payee`). */
    payTo: Address | string;
    payee?: WalletKeys;
    issuerKey?: Hex;
    offers?: SessionOfferConfig[];
    replay?: ReplayStore;
    instances?: number;
    now?: () => number;
    challengeSecret?: string;
    relayerIndex?: number;
    limits?: Parameters<typeof createZkResourceServer>[0]["limits"];
    /** The relayer fee its 402s ask (server-settled), base units. */
    fee?: bigint;
    /** Serve the paywall page to browsers (test/browser). */
    paywall?: ZkPaywallOptions;
  },
) {
  const replay = opts.replay ?? new MemoryReplayStore();
  const zk = createZkResourceServer({
    pool: { ...env.pool, decimals: 6 },
    publicClient: env.publicClient,
    walletClient: env.walletClientFor(opts.relayerIndex ?? 1),
    vkey: env.vkey,
    vkeySha256: env.vkeySha256,
    challengeSecret: opts.challengeSecret ?? "session-test-secret-0123456789",
    replay,
    instances: opts.instances,
    verifyIn: "main",
    limits: opts.limits,
    fee: opts.fee,
    payee: opts.payee ? { keys: opts.payee } : undefined,
  });
  const sessions = await SessionService.create({
    issuerKey: opts.issuerKey ?? ISSUER_KEY,
    offers: opts.offers ?? OFFERS,
    vkey: loadPresentationVerificationKey(),
    replay,
    instances: opts.instances,
    pool: { facilitator: env.pool.facilitator, chainId: env.pool.chainId },
    payTo: opts.payTo,
    publicClient: env.publicClient,
    challenges: zk.challenges,
    now: opts.now,
    payee: zk.payee,
  });
  const price = { amount: PER_REQUEST.toString(), asset: env.pool.token };
  const scheme = opts.payTo.startsWith("0x") ? "zk-exact" : "zk-shielded";
  const accepts = { scheme, network: zk.network, payTo: opts.payTo, price };
  const app = express();
  const served = { data: 0, premium: 0, order: 0, plain: 0 };
  const orders: unknown[] = [];
  app.use(
    zkSessionMiddleware(
      {
        "GET /data": { accepts, session: { requiredTier: 1 } },
        "GET /premium": { accepts, session: { requiredTier: 2 } },
        "POST /order": {
          accepts: { ...accepts, extra: { paymentFlow: "upfront" } },
          session: { requiredTier: 1, bindRequest: true },
        },
        "GET /plain": { accepts },
      },
      zk.resourceServer,
      sessions,
      { network: zk.network, asset: env.pool.token, ...(opts.paywall ? { paywall: opts.paywall } : {}) },
    ),
  );
  app.use(express.json());
  app.get("/data", (_req, res) => {
    served.data++;
    res.json({ data: "ok", session: res.locals.zkSession ?? null });
  });
  app.get("/premium", (_req, res) => {
    served.premium++;
    res.json({ premium: true });
  });
  app.post("/order", (req, res) => {
    served.order++;
    orders.push(req.body);
    res.json({ ordered: req.body });
  });
  app.get("/plain", (_req, res) => {
    served.plain++;
    res.json({ plain: true });
  });
  const server: Server = app.listen(0, "127.0.0.1");
  await once(server, "listening");
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    sessions,
    zk,
    served,
    orders,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** A session client for `wallet` with the committed presentation artifacts. */
export function sessionClient(
  wallet: PrivateWallet,
  opts: Partial<SessionClientOptions> & { store?: SessionStore } = {},
): Promise<SessionClient> {
  return SessionClient.open({ wallet, artifacts: presentationArtifacts(), ...opts });
}
