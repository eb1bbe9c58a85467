import { once } from "node:events";
import { randomBytes } from "node:crypto";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";

import type { SettleResponse } from "@x402/core/types";
import express, { type Express } from "express";
import type { Address, Hex, PublicClient, WalletClient } from "viem";

import { ZK_SCHEME, ZK_SHIELDED_SCHEME } from "../core/wire.js";
import { ShieldedPayee, type ShieldedPayeeConfig } from "../core/shielded-payee.js";
import { zkPaymentMiddleware, zkSessionMiddleware } from "../express/index.js";
import { ZkPayError } from "../core/errors.js";
import { loadPresentationVerificationKey, loadVerificationKey } from "../node/artifacts.js";
import { nodeX25519 } from "../node/x25519.js";
import { createZkResourceServer } from "../server/resource-server.js";
import { SessionService, type SessionOfferConfig } from "../session/service.js";

/** Options of {@link startPaidApi}. */
export interface PaidApiOptions {
  pool: { chainId: number; facilitator: Address; token: Address; decimals: number };
  publicClient: PublicClient;
  /** Account that submits server-settled payments (the relayer). Omit: client-settled only. */
  relayer?: WalletClient;
  /** Who gets paid in public (zk-exact). Give this or `shielded`. */
  payTo?: Address;
  /**
   * A shielded payee instead (zk-shielded: payee and amount hidden on chain): the keys of
   * the API's wallet seed, or its viewing key with its address. The server keeps only the
   * viewing and owner keys, never the spending key.
   */
  shielded?: ShieldedPayeeConfig;
  /** Price of GET /weather, e.g. "$0.01" or "0.25". */
  price: string;
  /** HMAC key of the challenges. Default: random (challenges die with the process). */
  challengeSecret?: string;
  fee?: bigint;
  minConfirmations?: number;
  host?: string;
  /** 0 = a random free port. */
  port?: number;
  /** Mounted before the zk-exact paywall: e.g. another x402 middleware and its routes. */
  before?: (app: Express) => void;
  /** Schemes the PAYMENT-SIGNATURE guard lets through (add "exact" when `before` serves it). */
  schemes?: string[];
  /**
   * Sell session credentials too: GET /weather and POST /order accept a tier-1
   * presentation of a credential bought at the offers' purchase routes (`SessionService`),
   * or a payment per request as before. The issuer key names the service: keep it to keep
   * its credentials valid across restarts.
   */
  sessions?: { issuerKey: Hex; offers: SessionOfferConfig[] };
  /** Called after each payment settled. */
  onSettled?: (e: { path: string; amount: string; result: SettleResponse; mode: string; receiptId?: Hex }) => void;
}

/**
 * The example paid API of the demo and of `402zk serve`: `GET /weather` costs `price`,
 * paid with zk-exact to `payTo`, or with zk-shielded to a `shielded` payee (a private note
 * only the API's keys open), through an in-process facilitator that settles on the pool.
 *
 * @example
 * const api = await startPaidApi({ pool, publicClient, relayer, payTo, price: "$0.01" });
 * console.log(`${api.url}/weather`); await api.close();
 */
export async function startPaidApi(o: PaidApiOptions) {
  if ((o.payTo === undefined) === (o.shielded === undefined))
    throw new ZkPayError("invalid_argument", "a paid API has one payee: payTo (zk-exact) or shielded (zk-shielded)");
  // Parsed once here: a bad viewing key or address fails at start, not on the first payment.
  const shielded = o.shielded ? ShieldedPayee.from(o.shielded, { x25519: nodeX25519 }) : undefined;
  const scheme = shielded ? ZK_SHIELDED_SCHEME : ZK_SCHEME;
  const payTo: string = shielded ? shielded.address : o.payTo!;
  const { vkey, vkeySha256 } = loadVerificationKey();
  const zk = createZkResourceServer({
    pool: o.pool,
    publicClient: o.publicClient,
    walletClient: o.relayer,
    vkey,
    vkeySha256,
    challengeSecret: o.challengeSecret ?? randomBytes(32).toString("hex"),
    fee: o.fee,
    minConfirmations: o.minConfirmations,
    payee: shielded,
  });
  if (o.onSettled) {
    const onSettled = o.onSettled;
    zk.resourceServer.onAfterSettle(async (ctx) => {
      const payload = ctx.paymentPayload.payload as { settlement?: string };
      const extra = (ctx.result.extra ?? {}) as { receiptId?: Hex };
      let path = "";
      try {
        path = new URL(ctx.paymentPayload.resource?.url ?? "").pathname;
      } catch {
        path = "";
      }
      onSettled({
        path,
        amount: ctx.requirements.amount,
        result: ctx.result as SettleResponse,
        mode: payload.settlement ?? "?",
        receiptId: extra.receiptId,
      });
    });
  }

  // Credentials are bought with a zk-exact payment to this API, through its own challenges.
  if (o.sessions && shielded)
    throw new ZkPayError("invalid_argument", "session credentials are sold to a public payee (zk-exact) only here");
  const sessions = o.sessions
    ? await SessionService.create({
        issuerKey: o.sessions.issuerKey,
        offers: o.sessions.offers,
        vkey: loadPresentationVerificationKey(),
        replay: zk.replay,
        pool: { facilitator: o.pool.facilitator, chainId: o.pool.chainId },
        payTo: o.payTo!,
        publicClient: o.publicClient,
        challenges: zk.challenges,
        minConfirmations: o.minConfirmations,
      })
    : undefined;

  const app = express();
  app.disable("x-powered-by");
  let inFlight = 0;
  app.use((req, res, next) => {
    inFlight++;
    let done = false;
    const end = () => {
      if (done) return;
      done = true;
      inFlight--;
      // A keep-alive connection would hold a draining server open: close it after this response.
      if (!server.listening) req.socket.end();
    };
    res.on("finish", end);
    res.on("close", end);
    if (!server.listening) res.setHeader("Connection", "close");
    next();
  });
  o.before?.(app);
  const accepts = { scheme, network: zk.network, payTo, price: o.price };
  const routes = {
    "GET /weather": {
      accepts,
      description: "Today's weather, paid privately with 402zk",
      mimeType: "application/json",
    },
    // A side effect: settled before the handler runs (the "upfront" flow).
    "POST /order": {
      accepts: { ...accepts, extra: { paymentFlow: "upfront" } },
      description: "Place an order (echoed back), paid privately with 402zk",
      mimeType: "application/json",
    },
  };
  const schemes = o.schemes ?? [ZK_SCHEME, ZK_SHIELDED_SCHEME];
  if (sessions) {
    app.use(
      ...zkSessionMiddleware(
        {
          "GET /weather": { ...routes["GET /weather"], session: { requiredTier: 1 } },
          // A presentation for an order is bound to its method, path and body: good for this order only.
          "POST /order": { ...routes["POST /order"], session: { requiredTier: 1, bindRequest: true } },
        },
        zk.resourceServer,
        sessions,
        { network: zk.network, asset: o.pool.token, schemes },
      ),
    );
  } else {
    app.use(zkPaymentMiddleware(routes, zk.resourceServer, { schemes }));
  }
  const paidWith = (res: express.Response) => (res.locals.zkSession ? "session" : scheme);
  app.get("/weather", (_req, res) => {
    res.json({
      city: "Lisbon",
      forecast: "sunny",
      tempC: 21.5,
      paidWith: paidWith(res),
      servedAt: new Date().toISOString(),
    });
  });
  app.post("/order", express.json(), express.urlencoded({ extended: false }), express.text(), (req, res) => {
    res.json({ ordered: req.body ?? null, paidWith: paidWith(res), servedAt: new Date().toISOString() });
  });
  app.get("/", (_req, res) => {
    const paid = { scheme, network: zk.network, price: o.price, payTo };
    res.json({
      paid: { "GET /weather": paid, "POST /order": paid },
      sessions: sessions?.offers.map((x) => ({
        ...x,
        price: x.price.toString(),
        buy: `POST ${sessions.purchasePath(x.id)}`,
      })),
    });
  });

  const server: Server = app.listen(o.port ?? 0, o.host ?? "127.0.0.1");
  await Promise.race([
    once(server, "listening"),
    once(server, "error").then(([err]) => {
      throw err;
    }),
  ]);
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(":") ? `[${address}]` : address;
  return {
    url: `http://${host}:${port}`,
    port,
    app,
    server,
    zk,
    /** The scheme of the paid routes: zk-exact, or zk-shielded for a shielded payee. */
    scheme,
    /** Who the routes pay: a 0x address (zk-exact) or a shielded address (zk-shielded). */
    payTo,
    /** The session service (`sessions` option), if any. */
    sessions,
    /** Stops at once, dropping requests in flight. */
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
    /**
     * Stops accepting connections, lets the requests in flight (a paid request being
     * verified and settled) finish, at most `timeoutMs`, then drops what is left.
     * Resolves with the number of requests that were still running when it began.
     */
    drain: (timeoutMs = 30_000) =>
      new Promise<number>((resolve) => {
        const running = inFlight;
        const timer = setTimeout(() => server.closeAllConnections(), timeoutMs);
        timer.unref();
        server.close(() => {
          clearTimeout(timer);
          resolve(running);
        });
        server.closeIdleConnections();
      }),
    /** Requests being served right now. */
    inFlight: () => inFlight,
  };
}
