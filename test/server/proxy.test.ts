/**
 * Issue 16, finding 4: behind a reverse proxy, the caller that limits and queues key on
 * is the right-most X-Forwarded-For entry that is not a trusted proxy, never an entry
 * the client wrote; and the hardening item: session presentations wait in the same
 * bounded, fair admission queue as payment proofs.
 *
 * The proxy here is real: node:http on 127.0.0.1 that appends its peer's address to
 * X-Forwarded-For, as nginx's `$proxy_add_x_forwarded_for` does, and connects onward from
 * 127.0.0.3 (the one trusted address). Clients connect from other loopback addresses
 * (127.0.0.2, 127.0.0.4), so each has an address of its own.
 */
import { once } from "node:events";
import http, { type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

import { expect } from "chai";
import express from "express";
import { Hono } from "hono";
import type { Address } from "viem";

import type { PaymentPayload } from "@x402/core/types";

import { facilitatorAbi } from "../../sdk/core/abi.js";
import { facilitatorConfig } from "../../sdk/cli/facilitator.js";
import { isZkPayError } from "../../sdk/core/errors.js";
import { shutdownProver } from "../../sdk/core/prover.js";
import { FairQueue, type QueueBatch } from "../../sdk/core/work-queue.js";
import { zkPaymentMiddleware } from "../../sdk/express/index.js";
import { zkPaymentMiddleware as honoPaymentMiddleware } from "../../sdk/hono/index.js";
import { withZkPayment } from "../../sdk/next/index.js";
import { clientFromForwardedFor } from "../../sdk/server/admission.js";
import { loadPresentationVerificationKey } from "../../sdk/node/artifacts.js";
import { TrustedProxies, canonicalAddress } from "../../sdk/node/caller.js";
import { createZkResourceServer } from "../../sdk/server/resource-server.js";
import { loadServiceConfig } from "../../sdk/service/config.js";
import { startFacilitatorServer } from "../../sdk/service/http.js";
import { MemorySessionStore } from "../../sdk/session/store.js";
import {
  SESSION_HEADER,
  SESSION_REFUSAL_HEADER,
  encodePresentation,
  type SessionRefusal,
} from "../../sdk/session/wire.js";
import { junkPaymentHeader, junkPoints, type JunkRequired } from "../helpers/junk-payment.js";
import { remoteApi, startService, type RunningService } from "../helpers/service.js";
import { sessionApi, sessionClient } from "../helpers/session-env.js";
import { account, decodeHeader, startEnv, type Env } from "../helpers/x402-env.js";

/** The address the proxy connects onward from: the only trusted proxy. */
const PROXY_OUT = "127.0.0.3";
const ATTACKER = "127.0.0.2";
const HONEST = "127.0.0.4";

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One HTTP request from local address `from` (node:http: fetch cannot pick its source address). */
function request(
  url: string,
  o: { from: string; method?: string; headers?: Record<string, string>; body?: string },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method: o.method ?? "GET",
      headers: o.headers,
      localAddress: o.from,
      agent: false,
    });
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(o.body);
  });
}

/** A reverse proxy on 127.0.0.1 in front of `target`: appends its peer to X-Forwarded-For, as nginx does. */
async function startProxy(target: string) {
  const to = new URL(target);
  const server: Server = http.createServer((req, res) => {
    const peer = req.socket.remoteAddress!;
    const prior = req.headers["x-forwarded-for"];
    const headers = { ...req.headers, host: to.host, "x-forwarded-for": prior ? `${String(prior)}, ${peer}` : peer };
    const up = http.request(
      {
        host: to.hostname,
        port: to.port,
        path: req.url,
        method: req.method,
        headers,
        localAddress: PROXY_OUT,
        agent: false,
      },
      (r) => {
        res.writeHead(r.statusCode!, r.headers);
        r.pipe(res);
      },
    );
    up.on("error", () => {
      res.writeHead(502).end();
    });
    req.pipe(up);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** A fresh documentation-range address per request: what a spoofing client writes on the left. */
let spoofed = 0;
const spoof = () => `198.51.100.${(spoofed++ % 250) + 1}, 203.0.113.${(spoofed % 250) + 1}`;

describe("caller identity behind a reverse proxy (issue 16, finding 4)", function () {
  describe("the resolver (TrustedProxies)", function () {
    const proxies = new TrustedProxies(["127.0.0.1", "10.0.0.0/8", "fd00::/8", "::ffff:192.168.0.0/112"]);
    const cases: [string, string | undefined, string | string[] | undefined, string][] = [
      ["no header: the peer", "10.0.0.5", undefined, "10.0.0.5"],
      ["an untrusted peer: its header is ignored", "203.0.113.9", "1.2.3.4", "203.0.113.9"],
      ["the right-most untrusted entry", "10.0.0.5", "1.2.3.4, 198.51.100.7", "198.51.100.7"],
      ["spoofed entries on the left are never read", "10.0.0.5", "6.6.6.6, 7.7.7.7, 198.51.100.7", "198.51.100.7"],
      ["trusted hops are skipped", "127.0.0.1", "198.51.100.7, 10.1.2.3, 10.9.9.9", "198.51.100.7"],
      ["a repeated header (a list) is one chain", "127.0.0.1", ["6.6.6.6", "198.51.100.7, 10.1.1.1"], "198.51.100.7"],
      ["every hop trusted: the left-most", "127.0.0.1", "10.0.0.7, 10.0.0.8", "10.0.0.7"],
      ["an empty header: the peer", "127.0.0.1", "", "127.0.0.1"],
      ["a blank header: the peer", "127.0.0.1", " , ", "127.0.0.1"],
      [
        "a malformed entry stops at the trusted hop that wrote it",
        "127.0.0.1",
        "1.2.3.4, unknown, 10.0.0.9",
        "10.0.0.9",
      ],
      ["a malformed right-most entry: the peer", "127.0.0.1", "1.2.3.4, not-an-ip", "127.0.0.1"],
      ["an IPv4 with a port", "127.0.0.1", "198.51.100.7:4711", "198.51.100.7"],
      ["IPv6 peer and client, canonical form", "fd00::1", "2001:DB8:0:0::1", "2001:db8::1"],
      ["bracketed IPv6 with a port", "fd00::1", "[2001:db8::7]:443", "2001:db8::7"],
      ["an IPv6 zone is dropped", "fd00::1", "fe80::1%eth0", "fe80::1"],
      ["an IPv4-mapped peer is the IPv4 proxy", "::ffff:127.0.0.1", "198.51.100.7", "198.51.100.7"],
      ["an IPv4-mapped entry is its IPv4 address", "127.0.0.1", "::ffff:198.51.100.7", "198.51.100.7"],
      ["an IPv4-mapped trusted block", "::ffff:192.168.3.4", "198.51.100.8", "198.51.100.8"],
      ["an untrusted IPv4-mapped peer is keyed as IPv4", "::ffff:203.0.113.9", "1.2.3.4", "203.0.113.9"],
      ["leading zeros are not an address", "127.0.0.1", "010.0.0.1", "127.0.0.1"],
      ["an address out of range is not an address", "127.0.0.1", "1.2.3.256", "127.0.0.1"],
      ["no peer (a closed socket)", undefined, "1.2.3.4", "unknown"],
    ];
    for (const [name, peer, header, client] of cases) {
      it(name, function () {
        expect(proxies.clientOf(peer, header)).to.equal(client);
      });
    }

    it("has(): addresses and blocks, IPv4 and IPv6", function () {
      expect(proxies.has("127.0.0.1")).to.equal(true);
      expect(proxies.has("127.0.0.2")).to.equal(false);
      expect(proxies.has("10.255.0.1")).to.equal(true);
      expect(proxies.has("11.0.0.1")).to.equal(false);
      expect(proxies.has("fd12:3456::1")).to.equal(true);
      expect(proxies.has("fe80::1")).to.equal(false);
      expect(proxies.has("::ffff:10.1.1.1")).to.equal(true);
      expect(proxies.has("192.168.200.1")).to.equal(true);
      expect(proxies.has("192.169.0.1")).to.equal(false);
      expect(proxies.has("garbage")).to.equal(false);
      expect(new TrustedProxies().clientOf("127.0.0.1", "1.2.3.4")).to.equal("127.0.0.1");
    });

    it("canonicalAddress: one form per address, undefined for anything else", function () {
      expect(canonicalAddress(" 192.0.2.1 ")).to.equal("192.0.2.1");
      expect(canonicalAddress("2001:0DB8:0000::0001")).to.equal("2001:db8::1");
      expect(canonicalAddress("::FFFF:192.0.2.1")).to.equal("192.0.2.1");
      expect(canonicalAddress("[::1]")).to.equal("::1");
      for (const bad of ["", "unknown", "1.2.3", "1.2.3.4.5", "[::1", "[::1]x", "1.2.3.4:x", "::g", "_hidden"]) {
        expect(canonicalAddress(bad), bad).to.equal(undefined);
      }
    });

    it("refuses an entry that is not an address or CIDR block, naming it", function () {
      for (const bad of [
        "10.0.0.0/33",
        "fd00::/129",
        "10.0.0.0/8/8",
        "localhost",
        "10.0.0.0/x",
        "1.2.3.4:80",
        "",
        "[::1]",
      ]) {
        let err: unknown;
        try {
          new TrustedProxies([bad]);
        } catch (e) {
          err = e;
        }
        expect(isZkPayError(err) && err.reason, bad).to.equal("invalid_argument");
        expect((err as Error).message).to.include(JSON.stringify(bad));
      }
    });
  });

  describe("FairQueue.runBatched: items of one batch share a slot, in turn", function () {
    it("a slot takes the items whose turn follows, stops at another job, and overtakes nobody", async function () {
      const queue = new FairQueue({ concurrency: 1, maxQueued: 16, maxQueuedPerClient: 4 });
      const batches: string[][] = [];
      const batch: QueueBatch<string, string> = {
        maxSize: 3,
        run: async (items) => {
          batches.push(items);
          return items.map((i) => `ok:${i}`);
        },
      };
      const order: string[] = [];
      let release!: () => void;
      const blocked = queue.run("blocker", () => new Promise<void>((r) => (release = r)));
      const jobs = [
        queue.runBatched(batch, "a", "a1"),
        queue.runBatched(batch, "a", "a2"),
        queue.runBatched(batch, "b", "b1"),
        queue.run("c", async () => void order.push("c1")),
        queue.runBatched(batch, "d", "d1"),
        queue.runBatched(batch, "e", "e1", 1),
      ];
      expect(queue.stats).to.deep.equal({ running: 1, queued: 6 });
      release();
      await blocked;
      const out = await Promise.all(jobs);
      expect(out).to.deep.equal(["ok:a1", "ok:a2", "ok:b1", undefined, "ok:d1", "ok:e1"]);
      // Turn order a1, b1, c1, d1, a2, e1 (priority 1 last): the first slot takes a1 and
      // b1, stops at c's job; then d1 and a2 (e1 joins them: its turn follows).
      expect(batches).to.deep.equal([
        ["a1", "b1"],
        ["d1", "a2", "e1"],
      ]);
      expect(order).to.deep.equal(["c1"]);
      expect(queue.stats).to.deep.equal({ running: 0, queued: 0 });
    });

    it("keeps the per-client bound and refuses with server_busy; a failing batch fails its items only", async function () {
      const queue = new FairQueue({ concurrency: 1, maxQueued: 8, maxQueuedPerClient: 2 });
      const batch: QueueBatch<number, number> = {
        maxSize: 8,
        run: async (items) => {
          if (items.includes(13)) throw new Error("unlucky");
          return items;
        },
      };
      let release!: () => void;
      const blocked = queue.run("blocker", () => new Promise<void>((r) => (release = r)));
      const a = [queue.runBatched(batch, "a", 1), queue.runBatched(batch, "a", 2)];
      let busy: unknown;
      await queue.runBatched(batch, "a", 3).catch((e: unknown) => (busy = e));
      expect(isZkPayError(busy) && busy.reason).to.equal("server_busy");
      const b = queue.runBatched(batch, "b", 4);
      release();
      await blocked;
      expect(await Promise.all([...a, b])).to.deep.equal([1, 2, 4]);
      let failed: unknown;
      await queue.runBatched(batch, "c", 13).catch((e: unknown) => (failed = e));
      expect((failed as Error).message).to.equal("unlucky");
      expect(await queue.runBatched(batch, "c", 14)).to.equal(14);
    });
  });

  describe("over real HTTP through a reverse proxy", function () {
    let env: Env;
    let payee: Address;
    let svc: RunningService;
    let api: Awaited<ReturnType<typeof remoteApi>>;
    let required: JunkRequired;
    let poolState: [bigint, bigint];
    const closers: (() => Promise<unknown>)[] = [];

    before(async function () {
      env = await startEnv();
      payee = account(4).address;
      // Junk proofs claim the pool's current root: a tree with one leaf.
      await env.payer(6, { deposit: 1_000n });
      poolState = (await Promise.all(
        (["currentRoot", "treeSize"] as const).map((functionName) =>
          env.publicClient.readContract({ address: env.pool.facilitator, abi: facilitatorAbi, functionName }),
        ),
      )) as [bigint, bigint];
      svc = await startService(env, { limits: { trustedProxies: [PROXY_OUT], burst: 20, perSecond: 0.01 } });
      closers.push(() => svc.close());
      api = await remoteApi(env, { facilitatorUrl: svc.url, payTo: payee });
      closers.push(() => api.close());
      required = decodeHeader<JunkRequired>((await fetch(`${api.url}/weather`)).headers.get("PAYMENT-REQUIRED"))!;
    });

    after(async function () {
      for (const close of closers.reverse()) await close().catch(() => {});
      await env?.chain.close();
      await shutdownProver();
    });

    /** A refused payment for the service: the API's real terms, a junk proof. */
    const junkVerify = () => {
      const paymentPayload = decodeHeader<PaymentPayload>(
        junkPaymentHeader(required, junkPoints(env.vkey), poolState[0], poolState[1]),
      )!;
      return JSON.stringify({ x402Version: 2, paymentPayload, paymentRequirements: paymentPayload.accepted });
    };

    it("facilitator service: 60 refused payments, each with a fresh spoofed left-most X-Forwarded-For, get 429", async function () {
      const proxy = await startProxy(svc.url);
      closers.push(proxy.close);
      const statuses: number[] = [];
      for (let i = 0; i < 60; i++) {
        const r = await request(`${proxy.url}/verify`, {
          from: ATTACKER,
          method: "POST",
          headers: { "content-type": "application/json", "x-forwarded-for": spoof() },
          body: junkVerify(),
        });
        statuses.push(r.status);
        if (r.status === 200) expect(JSON.parse(r.body)).to.include({ isValid: false });
        if (r.status === 429) {
          expect(JSON.parse(r.body)).to.include({ error: "rate_limited" });
          expect(Number(r.headers["retry-after"])).to.be.greaterThan(0);
        }
      }
      // A budget of 20 units, 5 per refused payment: 4 are checked, the rest are 429.
      expect(statuses.filter((s) => s === 200)).to.have.length(4);
      expect(statuses.filter((s) => s === 429)).to.have.length(56);
      // Another client behind the same proxy has a budget of its own.
      const honest = await request(`${proxy.url}/verify`, {
        from: HONEST,
        method: "POST",
        headers: { "content-type": "application/json", "x-forwarded-for": "198.51.100.1" },
        body: junkVerify(),
      });
      expect(honest.status).to.equal(200);
      // The attacker straight to the service (not through a trusted proxy): its header is
      // ignored, it is its own address, still limited.
      const direct = await request(`${svc.url}/verify`, {
        from: ATTACKER,
        method: "POST",
        headers: { "content-type": "application/json", "x-forwarded-for": "192.0.2.200" },
        body: junkVerify(),
      });
      expect(direct.status).to.equal(429);
    });

    it("express resource server: refused payments with spoofed X-Forwarded-For get 429 too_many_failures (trust proxy = true is not followed)", async function () {
      const zk = createZkResourceServer({
        pool: { ...env.pool, decimals: 6 },
        publicClient: env.publicClient,
        walletClient: env.walletClientFor(1),
        vkey: env.vkey,
        vkeySha256: env.vkeySha256,
        challengeSecret: "proxy-test-secret-0123456789",
        verifyIn: "main",
        limits: { trustedProxies: [PROXY_OUT], maxFailuresPerClient: 4 },
      });
      const app = express();
      // What an operator behind a proxy would set: Express then names the left-most entry
      // (client-written) in req.ip. The admission control must not follow it.
      app.set("trust proxy", true);
      const price = { amount: "10000", asset: env.pool.token };
      app.use(
        zkPaymentMiddleware(
          { "GET /weather": { accepts: { scheme: "zk-exact", network: zk.network, payTo: payee, price } } },
          zk.resourceServer,
        ),
      );
      app.get("/weather", (_req, res) => res.json({ weather: "sunny" }));
      const server = app.listen(0, "127.0.0.1");
      await once(server, "listening");
      closers.push(() => new Promise<void>((r) => server.close(() => r())));
      const proxy = await startProxy(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
      closers.push(proxy.close);

      const junkPayment = async (from: string) => {
        const xff = spoof();
        const offer = await request(`${proxy.url}/weather`, { from, headers: { "x-forwarded-for": xff } });
        const req = decodeHeader<JunkRequired>(String(offer.headers["payment-required"]))!;
        const header = junkPaymentHeader(req, junkPoints(env.vkey), poolState[0], poolState[1]);
        return request(`${proxy.url}/weather`, {
          from,
          headers: { "x-forwarded-for": spoof(), "payment-signature": header },
        });
      };
      const statuses: number[] = [];
      for (let i = 0; i < 60; i++) {
        const r = await junkPayment(ATTACKER);
        statuses.push(r.status);
        if (r.status === 429) expect(JSON.parse(r.body)).to.include({ error: "too_many_failures" });
      }
      expect(statuses.slice(0, 4)).to.deep.equal([402, 402, 402, 402]);
      expect(statuses.slice(4)).to.deep.equal(Array(56).fill(429));
      // Another client behind the proxy is checked (and refused for its junk), not limited.
      expect((await junkPayment(HONEST)).status).to.equal(402);
    });

    it("socketless adapters (402zk/next, 402zk/hono off Node): a client-written X-Forwarded-For is no identity unless behindProxy or clientKey says a proxy wrote it", async function () {
      const zkWith = (limits: Parameters<typeof createZkResourceServer>[0]["limits"]) =>
        createZkResourceServer({
          pool: { ...env.pool, decimals: 6 },
          publicClient: env.publicClient,
          vkey: env.vkey,
          vkeySha256: env.vkeySha256,
          challengeSecret: "proxy-test-secret-0123456789",
          verifyIn: "main",
          limits,
        });
      const price = { amount: "10000", asset: env.pool.token };
      const routesOf = (zk: ReturnType<typeof zkWith>) => ({
        "GET /weather": { accepts: { scheme: "zk-exact", network: zk.network, payTo: payee, price } },
      });
      const handler = async () => Response.json({ weather: "sunny" });
      // Next: refused when the route is built, named, with what to set.
      const bare = zkWith({ maxFailuresPerClient: 4 });
      let refused: unknown;
      try {
        withZkPayment(handler, routesOf(bare), bare.resourceServer);
      } catch (err) {
        refused = err;
      }
      expect(isZkPayError(refused) && refused.reason).to.equal("invalid_argument");
      expect(String((refused as Error).message)).to.match(/402zk\/next .*behindProxy.*clientKey/);
      const proxied = zkWith({ maxFailuresPerClient: 4, behindProxy: true });
      expect(() => withZkPayment(handler, routesOf(proxied), proxied.resourceServer)).not.to.throw();
      const keyed = zkWith({ maxFailuresPerClient: 4, clientKey: (req) => String(req.headers["x-api-key"]) });
      expect(() => withZkPayment(handler, routesOf(keyed), keyed.resourceServer)).not.to.throw();

      // Hono without a socket (app.request: no @hono/node-server): refused with the same
      // reason, never served with a client-chosen identity; with behindProxy, served (402).
      const honoApp = (zk: ReturnType<typeof zkWith>) => {
        const app = new Hono();
        app.use(honoPaymentMiddleware(routesOf(zk), zk.resourceServer));
        app.get("/weather", (c) => c.json({ weather: "sunny" }));
        app.onError((err, c) => c.json({ error: isZkPayError(err) ? err.reason : "internal" }, 500));
        return app;
      };
      const noSocket = await honoApp(bare).request("/weather", { headers: { "x-forwarded-for": "6.6.6.6" } });
      expect(noSocket.status).to.equal(500);
      expect(await noSocket.json()).to.deep.equal({ error: "invalid_argument" });
      expect((await honoApp(proxied).request("/weather")).status).to.equal(402);

      // The right-most entry is the peer only when it is an IP address; anything else names none.
      expect(clientFromForwardedFor(new Headers({ "x-forwarded-for": "1.2.3.4, 198.51.100.7" })).socket).to.deep.equal({
        remoteAddress: "198.51.100.7",
      });
      expect(
        clientFromForwardedFor(new Headers({ "x-forwarded-for": "198.51.100.7, " + "x".repeat(16_000) })).socket
          .remoteAddress,
      ).to.equal(undefined);
    });

    it("config: trustedProxies from ZK402_TRUSTED_PROXIES, the config and --trusted-proxies; trustProxy: true and bad entries refused", async function () {
      const base = { ZK402_RPC_URL: "http://127.0.0.1:1" };
      expect(
        loadServiceConfig({ env: { ...base, ZK402_TRUSTED_PROXIES: "127.0.0.1, 10.0.0.0/8,fd00::/8" } }).limits
          .trustedProxies,
      ).to.deep.equal(["127.0.0.1", "10.0.0.0/8", "fd00::/8"]);
      expect(
        loadServiceConfig({ env: base, overrides: { limits: { trustedProxies: ["::1"] } } }).limits.trustedProxies,
      ).to.deep.equal(["::1"]);
      expect(loadServiceConfig({ env: base }).limits.trustedProxies).to.deep.equal([]);
      const { config } = await facilitatorConfig(
        { trustedProxies: "127.0.0.1, 10.0.0.0/8" },
        { rpc: "http://127.0.0.1:1", network: "localhost" },
        { network: false },
        {},
      );
      expect(config.limits.trustedProxies).to.deep.equal(["127.0.0.1", "10.0.0.0/8"]);
      const refused = (f: () => unknown) => {
        try {
          f();
        } catch (e) {
          expect(isZkPayError(e) && e.reason).to.equal("invalid_argument");
          return (e as Error).message;
        }
        throw new Error("not refused");
      };
      expect(refused(() => loadServiceConfig({ env: base, overrides: { limits: { trustProxy: true } } }))).to.match(
        /limits\.trustProxy: .*trustedProxies/,
      );
      expect(refused(() => loadServiceConfig({ env: { ...base, ZK402_TRUSTED_PROXIES: "10.0.0.0/33" } }))).to.match(
        /limits\.trustedProxies.*"10\.0\.0\.0\/33"/,
      );
      // The programmatic option alike, before anything listens.
      let err: unknown;
      await startFacilitatorServer(svc.service, { port: 0, limits: { trustProxy: true } }).catch(
        (e: unknown) => (err = e),
      );
      expect(isZkPayError(err) && err.reason).to.equal("invalid_argument");
      expect((err as Error).message).to.include("trustedProxies");
    });

    it("session presentations wait in the admission queue: a junk flood gets server_busy and 429, an honest presentation is served", async function () {
      const s = await sessionApi(env, {
        payTo: payee,
        limits: {
          trustedProxies: [PROXY_OUT],
          maxFailuresPerClient: 6,
          queue: { concurrency: 1, maxQueued: 8, maxQueuedPerClient: 2 },
        },
      });
      closers.push(s.close);
      const proxy = await startProxy(s.url);
      closers.push(proxy.close);
      // An honest client with a credential (bought through the proxy).
      const { wallet } = await env.payer(7, { deposit: 2_000_000n });
      const throughProxy: typeof fetch = async (input, init) => {
        const req = new Request(input as RequestInfo, init);
        const headers: Record<string, string> = {};
        req.headers.forEach((v, k) => (headers[k] = v));
        const body = req.body ? await req.text() : undefined;
        const r = await request(req.url.replace(s.url, proxy.url), { from: HONEST, method: req.method, headers, body });
        const h = new Headers();
        for (const [k, v] of Object.entries(r.headers)) if (v !== undefined) h.set(k, String(v));
        return new Response(r.status === 204 ? null : r.body, { status: r.status, headers: h });
      };
      const client = await sessionClient(wallet, {
        store: new MemorySessionStore(),
        buy: (offers) => offers.find((o) => o.id === "pro"),
        fetch: throughProxy,
      });
      expect((await client.fetch(`${s.url}/data`)).status).to.equal(200);

      // Junk presentations: this service's public values, a proof that does not verify.
      const points = junkPoints(loadPresentationVerificationKey());
      const b = BigInt;
      const junk = () =>
        encodePresentation({
          proof: {
            pA: [b(points.pA[0]), b(points.pA[1])],
            pB: [
              [b(points.pB[0][0]), b(points.pB[0][1])],
              [b(points.pB[1][0]), b(points.pB[1][1])],
            ],
            pC: [b(points.pA[0]), b(points.pA[1])],
          },
          originToken: b(Math.floor(Math.random() * 2 ** 48)),
          serviceId: s.sessions.serviceId,
          originId: s.sessions.originId,
          requiredTier: 1,
          now: s.sessions.currentTime(),
          context: 0n,
        });
      const present = (from: string) =>
        request(`${proxy.url}/data`, { from, headers: { "x-forwarded-for": spoof(), [SESSION_HEADER]: junk() } });
      const refusal = (r: Answer) => decodeHeader<SessionRefusal>(r.headers[SESSION_REFUSAL_HEADER] as string);
      const isBusy = (r: Answer) =>
        (r.status === 503 && JSON.parse(r.body).error === "server_busy") ||
        (r.status === 402 && refusal(r)?.error === "server_busy");

      // Hold the queue's one slot, as a verification in progress would.
      const queue = s.zk.admission.queue;
      let busyAtAdmission = 0;
      let release!: () => void;
      const held = queue.run("someone-else", () => new Promise<void>((r) => (release = r)));
      try {
        // The flood: 5 junk presentations at once from one client (its share is 2).
        const flood = Array.from({ length: 5 }, () => present(ATTACKER));
        const busy: Answer[] = [];
        for (const r of flood) void r.then((a) => isBusy(a) && busy.push(a));
        const deadline = Date.now() + 20_000;
        while (!(queue.stats.queued === 2 && busy.length === 3) && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 20));
        }
        expect(
          { queued: queue.stats.queued, busy: busy.length },
          "the flood's presentations wait in the admission queue, beyond the client's share refused",
        ).to.deep.equal({ queued: 2, busy: 3 });
        for (const r of busy) expect(Number(r.headers["retry-after"])).to.be.greaterThan(0);
        busyAtAdmission = busy.filter((r) => r.status === 503).length;
        // The honest presentation queues beside them (a share of its own) ...
        const honest = client.fetch(`${s.url}/data`);
        while (queue.stats.queued < 3 && Date.now() < deadline + 20_000) await new Promise((r) => setTimeout(r, 20));
        expect(queue.stats.queued).to.equal(3);
        release();
        // ... and is served; the flood's queued junk is refused as invalid.
        expect((await honest).status).to.equal(200);
        const settled = await Promise.all(flood);
        expect(settled.filter((r) => r.status === 402 && refusal(r)?.error === "invalid_presentation")).to.have.length(
          2,
        );
      } finally {
        release();
        await held;
      }
      // The flooder runs out of failures (6 allowed): every refused presentation counted,
      // except those refused before they were admitted (503, nothing verified).
      const counted = 5 - busyAtAdmission;
      const more: Answer[] = [];
      while (more.length < 10 && more.at(-1)?.status !== 429) more.push(await present(ATTACKER));
      expect(more.map((r) => r.status)).to.deep.equal([...Array<number>(6 - counted).fill(402), 429]);
      expect(JSON.parse(more.at(-1)!.body)).to.include({ error: "too_many_failures" });
      // The honest client is not affected.
      expect((await client.fetch(`${s.url}/data`)).status).to.equal(200);
      expect(s.served.data).to.equal(3);
    });
  });
});
