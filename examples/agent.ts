// An agent that pays an x402 API privately (README "SDK"; test/package/examples.test.ts runs it).
// Config from the environment: ZK402_SEED (32-byte hex, back it up), PAYER_KEY (an EOA
// with USDC and gas, for the deposit), RPC_URL, API_URL; ZK402_NETWORK (default
// localhost, the README's local node; base-sepolia once deployed there),
// ZK402_DEPLOYMENTS_DIR (default: the package's deployments/) and WALLET_DIR (notes and
// identity credentials; default ~/.402zk/<network>-<hash of the seed>).
import { createHash } from "node:crypto";
import os from "node:os";
import path from "node:path";

import { x402Client } from "@x402/core/client";
import { createPublicClient, createWalletClient, defineChain, http, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";

import { PrivateWallet, ZkExactClientScheme, wrapFetchWithZkPayment } from "402zk/client";
import { shutdownProver } from "402zk/core";
import {
  FileAttributeCredentialStore,
  FileNoteStore,
  attributeArtifacts,
  defaultArtifacts,
  loadDeployment,
} from "402zk/node";

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
const walletClient = createWalletClient({
  chain,
  transport: http(),
  account: privateKeyToAccount(env("PAYER_KEY") as Hex),
});

const seed = env("ZK402_SEED") as Hex;
// WALLET_DIR, or one folder per seed and network (a note store holds the notes of one seed).
const dir =
  process.env.WALLET_DIR ??
  path.join(
    os.homedir(),
    ".402zk",
    `${d.network}-${createHash("sha256").update(`402zk.notes:${seed.toLowerCase()}`).digest("hex").slice(0, 16)}`,
  );

const wallet = await PrivateWallet.open({
  seed,
  pool: { chainId: d.chainId, facilitator: d.facilitator, token: d.token, deploymentBlock: d.deploymentBlock },
  publicClient,
  walletClient,
  store: new FileNoteStore(path.join(dir, "notes.json")),
  artifacts: defaultArtifacts(),
});
await wallet.sync();
if (wallet.balance() < 100_000n) await wallet.deposit(1_000_000n, { method: "authorization" }); // 1 USDC, one tx

const scheme = new ZkExactClientScheme({
  wallet,
  settlement: "server",
  // Verify & Pay: credentials stored with `402zk --wallet <WALLET_DIR> identity add` prove a route's
  // rule (age, country) with the payment; routes without a rule never read them.
  identity: { credentials: new FileAttributeCredentialStore(dir), artifacts: attributeArtifacts() },
});
const client = new x402Client().register("eip155:*", scheme);
client.setSpendControls({
  // 0.1 USDC per payment, the relayer fee included (the scheme checks amount + fee)
  allowedAssets: [{ network: `eip155:${d.chainId}`, asset: d.token, maxAmountPerPayment: "100000" }],
});
// @x402/fetch's wrapper, rethrowing the SDK's typed refusal: a ZkPayError (err.reason, amounts in tokens)
const res = await wrapFetchWithZkPayment(fetch, client)(env("API_URL"));
console.log(res.status, await res.text());

await wallet.close(); // stops scheduled syncing
await shutdownProver(); // lets the process exit
