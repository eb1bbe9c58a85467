// An agent that buys a session credential once and redeems it for many requests (README
// "Session credentials"; test/package/examples.test.ts runs it). Config from the environment, as
// agent.ts: ZK402_SEED, PAYER_KEY, RPC_URL, API_URL (a route of session-server.ts, e.g.
// http://127.0.0.1:4021/data), REQUESTS (default 3), ZK402_NETWORK (default localhost),
// ZK402_DEPLOYMENTS_DIR.
import { createHash } from "node:crypto";
import os from "node:os";
import path from "node:path";

import { createPublicClient, createWalletClient, defineChain, http, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";

import { PrivateWallet } from "402zk/client";
import { shutdownProver } from "402zk/core";
import { FileNoteStore, FileSessionStore, defaultArtifacts, loadDeployment, presentationArtifacts } from "402zk/node";
import { SessionClient } from "402zk/session";

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
const seed = env("ZK402_SEED") as Hex;
// One folder per seed and network: its notes and its credentials.
const dir = path.join(
  os.homedir(),
  ".402zk",
  `${d.network}-${createHash("sha256").update(`402zk.notes:${seed.toLowerCase()}`).digest("hex").slice(0, 16)}`,
);

const wallet = await PrivateWallet.open({
  seed,
  pool: { chainId: d.chainId, facilitator: d.facilitator, token: d.token, deploymentBlock: d.deploymentBlock },
  publicClient: createPublicClient({ chain, transport: http() }),
  walletClient: createWalletClient({ chain, transport: http(), account: privateKeyToAccount(env("PAYER_KEY") as Hex) }),
  store: new FileNoteStore(path.join(dir, "notes.json")),
  artifacts: defaultArtifacts(),
});
await wallet.sync();
if (wallet.balance() < 600_000n) await wallet.deposit(1_000_000n, { method: "authorization" }); // 1 USDC, one tx

// Presents a credential when it holds one, buys one (a zk-exact payment) when it must,
// and proves the next presentation in the background.
const agent = await SessionClient.open({
  wallet, // pays the purchase; its seed derives the holder secrets
  artifacts: presentationArtifacts(),
  store: new FileSessionStore(path.join(dir, "sessions.json")),
  maxPrice: 500_000n, // never pay more than 0.5 USDC for a credential
});
for (let i = 0; i < Number(process.env.REQUESTS ?? 3); i++) {
  const res = await agent.fetch(env("API_URL"));
  console.log(res.status, await res.text(), agent.lastRequest?.mode);
}
console.log(agent.credentials()); // [{ offerId: "day", remaining: 997, expiresAt, ... }]

await wallet.close(); // stops scheduled syncing
await shutdownProver(); // stops the prover's worker threads: the process exits by itself
