import { once } from "node:events";
import type { AddressInfo } from "node:net";

import type { PaymentRequirements } from "@x402/core/types";
import { HTTPFacilitatorClient } from "@x402/core/server";
import {
  declareDiscoveryExtension,
  validateDiscoveryExtension,
  withBazaar,
  type DiscoveryExtension,
  type DiscoveryResource,
  type DiscoveryResourcesResponse,
} from "@x402/extensions/bazaar";
import { expect } from "chai";
import express from "express";
import { Redis } from "ioredis";

import type { PrivateWallet } from "../../sdk/client/wallet.js";
import { WalletKeys } from "../../sdk/core/keys.js";
import { shutdownProver } from "../../sdk/core/prover.js";
import { MemoryReplayStore } from "../../sdk/core/replay.js";
import { zkSessionMiddleware } from "../../sdk/express/index.js";
import { loadPresentationVerificationKey } from "../../sdk/node/artifacts.js";
import { createZkRemoteResourceServer } from "../../sdk/server/remote.js";
import {
  RedisDiscoveryCatalog,
  SqliteDiscoveryCatalog,
  listDiscoveryResources,
  type DiscoveryCatalog,
} from "../../sdk/service/discovery.js";
import { ServiceStore } from "../../sdk/service/store.js";
import { SessionService } from "../../sdk/session/service.js";
import type { SessionOffer } from "../../sdk/session/wire.js";
import { startRedis } from "../helpers/redis.js";
import { remoteApi, startService, type RunningService } from "../helpers/service.js";
import { ISSUER_KEY, OFFERS } from "../helpers/session-env.js";
import { account, decodeHeader, startEnv, type Env } from "../helpers/x402-env.js";

const PRICE = 10_000n;

type PaymentRequired = {
  accepts: PaymentRequirements[];
  extensions?: { bazaar?: DiscoveryExtension };
};

/** A catalogue entry as a test writes it straight into a store. */
function entry(resource: string, scheme = "zk-exact"): DiscoveryResource {
  return {
    resource,
    type: "http",
    x402Version: 2,
    accepts: [
      {
        scheme,
        network: "eip155:31337",
        amount: "1",
        asset: "0x0000000000000000000000000000000000000001",
        payTo: "0x0000000000000000000000000000000000000002",
        maxTimeoutSeconds: 60,
        extra: {},
      },
    ],
    lastUpdated: new Date(0).toISOString(),
  };
}

describe("402zk facilitator service: bazaar discovery (GET /discovery/resources)", function () {
  let env: Env;
  let svc: RunningService;
  let api: Awaited<ReturnType<typeof remoteApi>>;
  let shieldedApi: Awaited<ReturnType<typeof remoteApi>>;
  let wallet: PrivateWallet;
  let redis: Awaited<ReturnType<typeof startRedis>>;
  const payee = account(3).address;
  const shieldedKeys = WalletKeys.fromSeed(WalletKeys.randomSeed());

  const list = async (query = ""): Promise<{ status: number; body: DiscoveryResourcesResponse }> => {
    const res = await fetch(`${svc.url}/discovery/resources${query}`);
    return { status: res.status, body: (await res.json()) as DiscoveryResourcesResponse };
  };

  const pay = async (url: string) => {
    const res = await env.payingFetch(wallet, "server").fetch(url);
    expect(res.status, await res.clone().text()).to.equal(200);
  };

  before(async function () {
    env = await startEnv();
    redis = await startRedis();
    svc = await startService(env, { relayerIndex: 5 });
    api = await remoteApi(env, { facilitatorUrl: svc.url, payTo: payee, price: PRICE, discovery: true });
    shieldedApi = await remoteApi(env, {
      facilitatorUrl: svc.url,
      payTo: shieldedKeys.address(),
      payee: { keys: shieldedKeys },
      price: PRICE,
      discovery: true,
    });
    // One note per payment (five below).
    const p = await env.payer(13);
    await env.mint(p.address, 5n * 100_000n);
    for (let i = 0; i < 5; i++) await p.wallet.deposit(100_000n);
    wallet = p.wallet;
  });

  after(async function () {
    await api?.close();
    await shieldedApi?.close();
    await svc?.close();
    await env?.chain.close();
    await redis?.stop();
    await shutdownProver();
  });

  it("a declared route's 402 carries the bazaar extension, completed and valid; an undeclared route's none", async function () {
    for (const url of [`${api.url}/weather`, `${shieldedApi.url}/weather`]) {
      const res = await fetch(url);
      expect(res.status).to.equal(402);
      const required = decodeHeader<PaymentRequired>(res.headers.get("PAYMENT-REQUIRED"))!;
      const bazaar = required.extensions?.bazaar;
      expect(bazaar, url).to.be.an("object");
      expect(validateDiscoveryExtension(bazaar!)).to.deep.equal({ valid: true });
      expect(bazaar!.info.input).to.include({ type: "http", method: "GET" });
    }
    const plain = await fetch(`${api.url}/plain`);
    expect(plain.status).to.equal(402);
    expect(decodeHeader<PaymentRequired>(plain.headers.get("PAYMENT-REQUIRED"))!.extensions).to.equal(undefined);
    // The service says it catalogues (x402's facilitator extension key).
    const supported = (await (await fetch(`${svc.url}/supported`)).json()) as { extensions: string[] };
    expect(supported.extensions).to.deep.equal(["bazaar"]);
  });

  it("lists a paid declared resource with its scheme, price and payee; a second payment updates it, an undeclared route is never listed", async function () {
    expect((await list()).body).to.deep.equal({
      x402Version: 2,
      items: [],
      pagination: { limit: 20, offset: 0, total: 0 },
    });
    await pay(`${api.url}/weather`);
    const first = (await list()).body;
    expect(first.pagination.total).to.equal(1);
    const item = first.items[0]!;
    expect(item).to.include({
      resource: `${api.url}/weather`,
      type: "http",
      x402Version: 2,
      description: "today's weather",
      mimeType: "application/json",
    });
    expect(item.accepts).to.have.length(1);
    expect(item.accepts[0]).to.include({
      scheme: "zk-exact",
      network: "eip155:31337",
      amount: PRICE.toString(),
      asset: env.pool.token,
      payTo: payee,
    });
    // The route's terms, not the payer's one-time challenge.
    expect(item.accepts[0]!.extra).to.include({ facilitator: env.pool.facilitator });
    expect(item.accepts[0]!.extra).to.not.have.property("challenge");
    expect(validateDiscoveryExtension(item.extensions!.bazaar as DiscoveryExtension)).to.deep.equal({ valid: true });

    await pay(`${api.url}/plain`);
    await pay(`${api.url}/weather`);
    const second = (await list()).body;
    expect(second.pagination.total).to.equal(1);
    expect(second.items[0]!.resource).to.equal(`${api.url}/weather`);
    expect(second.items[0]!.accepts).to.have.length(1);
    expect(Date.parse(second.items[0]!.lastUpdated)).to.be.greaterThan(Date.parse(item.lastUpdated));
  });

  it("a zk-shielded resource names its shielded address; pages with limit and offset, filters by type and scheme (read with x402's withBazaar)", async function () {
    await pay(`${shieldedApi.url}/weather`);
    const bazaar = withBazaar(new HTTPFacilitatorClient({ url: svc.url })).extensions.bazaar;
    const all = await bazaar.listResources();
    expect(all.pagination.total).to.equal(2);
    // Most recently updated first.
    expect(all.items.map((i) => i.resource)).to.deep.equal([`${shieldedApi.url}/weather`, `${api.url}/weather`]);
    expect(all.items[0]!.accepts[0]).to.include({
      scheme: "zk-shielded",
      payTo: shieldedKeys.address(),
      amount: PRICE.toString(),
      asset: env.pool.token,
    });

    const page0 = await bazaar.listResources({ limit: 1, offset: 0 });
    const page1 = await bazaar.listResources({ limit: 1, offset: 1 });
    const page2 = await bazaar.listResources({ limit: 1, offset: 2 });
    expect(page0.items.map((i) => i.resource)).to.deep.equal([`${shieldedApi.url}/weather`]);
    expect(page1.items.map((i) => i.resource)).to.deep.equal([`${api.url}/weather`]);
    expect(page2.items).to.deep.equal([]);
    expect(page1.pagination).to.deep.equal({ limit: 1, offset: 1, total: 2 });

    expect((await bazaar.listResources({ type: "http" })).pagination.total).to.equal(2);
    expect((await bazaar.listResources({ type: "mcp" })).pagination.total).to.equal(0);
    const exact = await bazaar.listResources({ scheme: "zk-exact" });
    expect(exact.items.map((i) => i.resource)).to.deep.equal([`${api.url}/weather`]);
    expect((await bazaar.listResources({ payTo: payee.toLowerCase() })).pagination.total).to.equal(1);
  });

  it("answers a bad query 400 invalid_argument naming the parameter, never a 500", async function () {
    for (const q of [
      "?limit=0",
      "?limit=abc",
      "?limit=101",
      "?limit=1.5",
      "?offset=-1",
      "?limit=1&limit=2",
      "?type=",
    ]) {
      const r = await list(q);
      expect(r.status, q).to.equal(400);
      expect(r.body, q).to.include({ error: "invalid_argument" });
      expect((r.body as unknown as { message: string }).message, q).to.match(/^(limit|offset|type) /);
    }
    const res = await fetch(`${svc.url}/discovery/resources`, { method: "POST" });
    expect(res.status).to.equal(405);
  });

  it("a route that sells session credentials is listed with the credentials it sells (its option's extra.session)", async function () {
    // 402zk/express's session middleware over a resource server that settles through the service.
    const replay = new MemoryReplayStore();
    const { resourceServer, network, challenges } = createZkRemoteResourceServer({
      facilitatorClient: new HTTPFacilitatorClient({ url: svc.url }),
      pool: { ...env.pool, decimals: 6 },
      challengeSecret: "discovery-sessions-secret-0123456789",
      replay,
    });
    const sessions = await SessionService.create({
      issuerKey: ISSUER_KEY,
      offers: OFFERS,
      vkey: loadPresentationVerificationKey(),
      replay,
      pool: { facilitator: env.pool.facilitator, chainId: env.pool.chainId },
      payTo: payee,
      publicClient: env.publicClient,
      challenges,
    });
    const app = express();
    app.use(
      zkSessionMiddleware(
        {
          "GET /data": {
            accepts: {
              scheme: "zk-exact",
              network,
              payTo: payee,
              price: { amount: PRICE.toString(), asset: env.pool.token },
            },
            session: { requiredTier: 1 },
            extensions: declareDiscoveryExtension({ output: { example: { data: "ok" } } }),
          },
        },
        resourceServer,
        sessions,
        { network, asset: env.pool.token },
      ),
    );
    app.get("/data", (_req, res) => void res.json({ data: "ok" }));
    const server = app.listen(0, "127.0.0.1");
    await once(server, "listening");
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      // Paid per request (a plain x402 client): settled by the service, hence catalogued.
      await pay(`${url}/data`);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
    const item = (await list()).body.items.find((i) => i.resource === `${url}/data`);
    expect(item, "the session route is listed").to.not.equal(undefined);
    const sold = (item!.accepts[0]!.extra as { session?: { requiredTier: number; offers: SessionOffer[] } }).session;
    expect(sold?.requiredTier).to.equal(1);
    expect(sold?.offers.map((o) => [o.id, o.price, o.purchasePath])).to.deep.equal(
      OFFERS.map((o) => [o.id, o.price.toString(), sessions.purchasePath(o.id)]),
    );
  });

  describe("catalogue stores", function () {
    const stores: {
      name: string;
      open: (max: number) => Promise<{ catalog: DiscoveryCatalog; close(): Promise<void> }>;
    }[] = [
      {
        name: "SQLite",
        open: async (max) => {
          const store = new ServiceStore(":memory:");
          return {
            catalog: new SqliteDiscoveryCatalog(store, { maxResources: max }),
            close: async () => store.close(),
          };
        },
      },
      {
        name: "Redis",
        open: async (max) => {
          const client = new Redis(redis.url);
          const prefix = `402zk:test:${Math.random().toString(36).slice(2)}:`;
          return {
            catalog: new RedisDiscoveryCatalog(client, { prefix, maxResources: max }),
            close: async () => void (await client.quit()),
          };
        },
      },
    ];
    for (const { name, open } of stores) {
      it(`${name}: one entry per resource URL, most recent first, bounded (the least recently updated dropped)`, async function () {
        const { catalog, close } = await open(2);
        try {
          await catalog.put(entry("https://a.example/x"), 1);
          await catalog.put(entry("https://b.example/x"), 2);
          await catalog.put(entry("https://a.example/x", "zk-shielded"), 3);
          expect((await catalog.all()).map((e) => e.resource)).to.deep.equal([
            "https://a.example/x",
            "https://b.example/x",
          ]);
          expect((await catalog.get("https://a.example/x"))!.accepts[0]!.scheme).to.equal("zk-shielded");
          await catalog.put(entry("https://c.example/x"), 4);
          expect((await catalog.all()).map((e) => e.resource)).to.deep.equal([
            "https://c.example/x",
            "https://a.example/x",
          ]);
          expect(await catalog.get("https://b.example/x")).to.equal(undefined);
          const page = await listDiscoveryResources(catalog, { limit: 1, offset: 1 });
          expect(page.items.map((e) => e.resource)).to.deep.equal(["https://a.example/x"]);
          expect(page.pagination).to.deep.equal({ limit: 1, offset: 1, total: 2 });
        } finally {
          await close();
        }
      });
    }
  });
});
