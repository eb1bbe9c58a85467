/**
 * Local environment of the demo (and of demo-localnode.ts): Hardhat's in-process EVM
 * served on 127.0.0.1, the 402zk contracts deployed, and viem clients for Hardhat's
 * funded dev accounts.
 */
import {
  createPublicClient,
  createWalletClient,
  defineChain,
  http,
  publicActions,
  type Address,
  type Chain,
  type Hash,
  type PublicClient,
  type WalletClient,
} from "viem";
import { mnemonicToAccount, type HDAccount } from "viem/accounts";

import { saveDeployment } from "../../sdk/node/deployments.js";
import type { Deployment } from "../../sdk/core/deployment.js";
import { deployWithRecord } from "./deploy.js";
import { startLocalChain } from "./local-chain.js";

/** Hardhat's well-known development mnemonic (publicly known keys: local chains only). */
export const DEV_MNEMONIC = "test test test test test test test test test test test junk";

/** Dev account number `i` of {@link DEV_MNEMONIC}. */
export const devAccount = (i: number): HDAccount => mnemonicToAccount(DEV_MNEMONIC, { addressIndex: i });

/** Private key (hex) of dev account `i` (for CLIs that take a key). */
export function devPrivateKey(i: number): `0x${string}` {
  const key = devAccount(i).getHdKey().privateKey;
  if (!key) throw new Error("no private key");
  return `0x${Buffer.from(key).toString("hex")}`;
}

/** A viem chain for the local node. */
export function localViemChain(chainId: number, url: string): Chain {
  return defineChain({
    id: chainId,
    name: "hardhat",
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [url] } },
  });
}

/**
 * Starts the chain and deploys PoseidonT2, PoseidonT3, the verifier, TestUSDC and the Facilitator.
 * With `save`, writes deployments/<networkName>.json.
 */
export async function startDemoChain(opts: { port?: number; networkName?: string; save?: boolean } = {}) {
  const t0 = performance.now();
  const chain = await startLocalChain({ port: opts.port });
  const t1 = performance.now();
  const networkName = opts.networkName ?? "hardhat";
  // With proof-before-pay escrow (FacilitatorEscrow + InferenceVerifier): plain payments
  // work exactly as on the plain Facilitator, and the demo's last step uses the escrow.
  const { record, system } = await deployWithRecord(chain.ethers, networkName, {
    prewarmRootHistory: true,
    escrow: true,
  });
  const t2 = performance.now();
  const deployment = record as Deployment;
  const file = opts.save ? saveDeployment(deployment) : undefined;
  const viemChain = localViemChain(deployment.chainId, chain.url);
  const transport = http(chain.url);
  // viem polls every 4 s by default; a local chain mines instantly.
  const publicClient = createPublicClient({ chain: viemChain, transport, pollingInterval: 50 }) as PublicClient;
  const walletClientFor = (i: number): WalletClient =>
    createWalletClient({ account: devAccount(i), chain: viemChain, transport, pollingInterval: 50 });
  /** A wallet client with public actions too (what x402's exact facilitator signer wants). */
  const fullClientFor = (i: number) =>
    createWalletClient({ account: devAccount(i), chain: viemChain, transport, pollingInterval: 50 }).extend(
      publicActions,
    );

  async function waitOk(hash: Hash) {
    const rc = await publicClient.waitForTransactionReceipt({ hash });
    if (rc.status !== "success") throw new Error(`transaction ${hash} reverted`);
    return rc;
  }

  return {
    chain,
    url: chain.url,
    system,
    deployment,
    deploymentFile: file,
    viemChain,
    publicClient,
    walletClientFor,
    fullClientFor,
    waitOk,
    pool: {
      chainId: deployment.chainId,
      facilitator: deployment.facilitator as Address,
      token: deployment.token as Address,
      deploymentBlock: deployment.deploymentBlock,
      decimals: deployment.token_info.decimals,
    },
    timings: { chainMs: t1 - t0, deployMs: t2 - t1 },
    close: () => chain.close(),
  };
}

export type DemoChain = Awaited<ReturnType<typeof startDemoChain>>;
