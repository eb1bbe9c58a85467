// A paid API on zk-exact (README "SDK"; test/package/examples.test.ts runs it). Config from the
// environment: RPC_URL, RELAYER_KEY (pays gas for server-settled payments), PAY_TO,
// CHALLENGE_SECRET (>= 16 bytes, the same on every instance), PORT (default 4021),
// REDIS_URL (needed for more than one instance); ZK402_NETWORK (default localhost),
// ZK402_DEPLOYMENTS_DIR.
import express from "express";
import { Redis } from "ioredis";
import { createPublicClient, createWalletClient, defineChain, http, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";

import { parseUserAddress } from "402zk/core";
import { zkPaymentMiddleware } from "402zk/express";
import { loadDeployment, loadVerificationKey } from "402zk/node";
import { RedisReplayStore, createZkResourceServer } from "402zk/server";

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
const { vkey, vkeySha256 } = loadVerificationKey();
const redis = process.env.REDIS_URL ? new Redis(process.env.REDIS_URL) : undefined;

const { resourceServer, network } = createZkResourceServer({
  pool: { chainId: d.chainId, facilitator: d.facilitator, token: d.token, decimals: d.token_info.decimals },
  publicClient: createPublicClient({ chain, transport: http() }),
  walletClient: createWalletClient({
    chain,
    transport: http(),
    account: privateKeyToAccount(env("RELAYER_KEY") as Hex),
  }),
  vkey,
  vkeySha256,
  challengeSecret: env("CHALLENGE_SECRET"),
  ...(redis ? { replay: new RedisReplayStore(redis), instances: 2 } : {}), // Redis: shared by every instance
  // The reverse proxy in front (here on this host): per-client limits key on the client it
  // names in X-Forwarded-For, never on an entry the client wrote.
  limits: { trustedProxies: ["127.0.0.1", "::1"] },
});
const payTo = parseUserAddress(env("PAY_TO"), "PAY_TO");

const app = express();
app.use(
  zkPaymentMiddleware(
    {
      "GET /weather": { accepts: { scheme: "zk-exact", network, payTo, price: "$0.01" } },
      // Side effects (an LLM call, an SMS, an order): settle BEFORE the handler runs.
      "POST /order": {
        accepts: { scheme: "zk-exact", network, payTo, price: "$0.50", extra: { paymentFlow: "upfront" } },
      },
    },
    resourceServer,
  ),
);
app.get("/weather", (_req, res) => res.json({ weather: "sunny" }));
app.post("/order", (_req, res) => res.json({ ordered: true }));
const port = Number(process.env.PORT ?? 4021);
app.listen(port, "127.0.0.1", () => console.log(`listening on http://127.0.0.1:${port}`));
