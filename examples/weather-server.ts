// The paid route that api-weather-{express,hono}.ts and next/app/weather/route.ts serve: the
// resource server of api-server.ts, from the same environment (RPC_URL, RELAYER_KEY, PAY_TO,
// CHALLENGE_SECRET, REDIS_URL; ZK402_NETWORK, ZK402_DEPLOYMENTS_DIR).
import type { RoutesConfig } from "@x402/core/server";
import { Redis } from "ioredis";
import { createPublicClient, createWalletClient, defineChain, http, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";

import { parseUserAddress } from "402zk/core";
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

export const { resourceServer, network } = createZkResourceServer({
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
  ...(redis ? { replay: new RedisReplayStore(redis), instances: 2 } : {}),
  // The reverse proxy in front (here on this host) appends the address it saw to
  // X-Forwarded-For: per-client limits key on that entry, which is all a Next route handler
  // (no socket) has to go by.
  limits: { trustedProxies: ["127.0.0.1", "::1"], behindProxy: true },
});
export const payTo = parseUserAddress(env("PAY_TO"), "PAY_TO");

/** GET /weather for $0.01 on zk-exact, as x402 routes: every framework's adapter takes these. */
export const routes: RoutesConfig = {
  "GET /weather": { accepts: { scheme: "zk-exact", network, payTo, price: "$0.01" } },
};
