// An API that sells session credentials next to per-request payments (README "Session
// credentials"; test/package/examples.test.ts runs it). Config from the environment, as
// api-server.ts: RPC_URL, RELAYER_KEY, PAY_TO, CHALLENGE_SECRET, PORT (default 4021),
// REDIS_URL (needed for more than one instance), ZK402_NETWORK (default localhost),
// ZK402_DEPLOYMENTS_DIR; and SESSION_ISSUER_KEY (32 bytes hex, the same on every instance:
// `node -e "console.log('0x' + require('node:crypto').randomBytes(32).toString('hex'))"`).
import express from "express";
import { Redis } from "ioredis";
import { createPublicClient, createWalletClient, defineChain, http, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";

import { parseUserAddress } from "402zk/core";
import { zkSessionMiddleware } from "402zk/express";
import { loadDeployment, loadPresentationVerificationKey, loadVerificationKey } from "402zk/node";
import { MemoryReplayStore, RedisReplayStore, createZkResourceServer } from "402zk/server";
import { SessionService } from "402zk/session";

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`set ${name}`);
  return v;
};
const d = loadDeployment(process.env.ZK402_NETWORK ?? "localhost", process.env.ZK402_DEPLOYMENTS_DIR);
const chain = defineChain({
  id: d.chainId,
  name: d.network,
  nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
  rpcUrls: { default: { http: [env("RPC_URL")] } },
});
const publicClient = createPublicClient({ chain, transport: http() });
const pool = { chainId: d.chainId, facilitator: d.facilitator, token: d.token, decimals: d.token_info.decimals };
const payTo = parseUserAddress(env("PAY_TO"), "PAY_TO");
const { vkey, vkeySha256 } = loadVerificationKey();
// Redis: claims and spent presentation tokens shared by every instance; memory: one instance.
const redis = process.env.REDIS_URL ? new Redis(process.env.REDIS_URL) : undefined;
const replay = redis ? new RedisReplayStore(redis) : new MemoryReplayStore();
const instances = redis ? 2 : 1;

const zk = createZkResourceServer({
  pool,
  publicClient,
  walletClient: createWalletClient({
    chain,
    transport: http(),
    account: privateKeyToAccount(env("RELAYER_KEY") as Hex),
  }),
  vkey,
  vkeySha256,
  challengeSecret: env("CHALLENGE_SECRET"),
  limits: { trustedProxies: ["127.0.0.1", "::1"] }, // the reverse proxy in front, as in api-server.ts
  replay,
  instances,
});
// A "day" pass: 1,000 requests within 24 hours for 0.5 USDC (price in base units).
const sessions = await SessionService.create({
  issuerKey: env("SESSION_ISSUER_KEY"),
  offers: [{ id: "day", tier: 1, durationSeconds: 86_400, maxPresentations: 1_000, price: 500_000n }],
  vkey: loadPresentationVerificationKey(),
  replay,
  instances,
  pool,
  payTo,
  publicClient,
  challenges: zk.challenges,
});

const accepts = { scheme: "zk-exact", network: zk.network, payTo, price: "$0.01" };
const app = express();
app.use(
  zkSessionMiddleware(
    {
      "GET /data": { accepts, session: { requiredTier: 1 } },
      // bindRequest: a presentation is good for this method, path and body only.
      "POST /orders": { accepts, session: { requiredTier: 1, bindRequest: true } },
    },
    zk.resourceServer,
    sessions,
    { network: zk.network, asset: pool.token },
  ),
);
app.get("/data", (_req, res) => res.json({ paidBy: res.locals.zkSession ? "session" : "payment" }));
app.post("/orders", (_req, res) => res.json({ ordered: true }));
const port = Number(process.env.PORT ?? 4021);
app.listen(port, "127.0.0.1", () => console.log(`listening on http://127.0.0.1:${port}`));
