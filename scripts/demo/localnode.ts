/**
 * A local 402zk node for trying the `402zk` CLI by hand:
 *
 *   npx tsx scripts/demo/localnode.ts [--port 8545] [--fund <address>] [--amount 100]
 *
 * Starts Hardhat's EVM as JSON-RPC on 127.0.0.1:<port>, deploys the pool, writes
 * deployments/localhost.json, mints TestUSDC to the CLI's EOA (Hardhat dev account 8
 * unless --fund is given) and stays up until Ctrl-C. On exit it deletes
 * deployments/localhost.json again: the chain lives in memory, so its addresses die with it.
 *
 * (`npx hardhat node` + `npm run deploy -- --network localhost` does the same with a
 * separate node process.)
 */
import { existsSync, readFileSync, rmSync } from "node:fs";

import hre from "hardhat";
import { getAddress, type Address } from "viem";

import { erc20Abi } from "../../sdk/core/abi.js";
import { devAccount, devPrivateKey, startDemoChain } from "../lib/dev-env.js";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const PAYER = 8;
const SERVER = 9;
const port = Number(arg("port") ?? 8545);
const amount = BigInt(Math.round(Number(arg("amount") ?? 100) * 1e6));
const fund = (arg("fund") ? getAddress(arg("fund")!) : devAccount(PAYER).address) as Address;

if (!process.argv.includes("--no-build")) await hre.tasks.getTask("build").run({ quiet: true });
const env = await startDemoChain({ port, networkName: "localhost", save: true });
const minter = env.walletClientFor(0);
await env.waitOk(
  await minter.writeContract({
    address: env.pool.token,
    abi: erc20Abi,
    functionName: "mint",
    args: [fund, amount],
    account: devAccount(0),
    chain: env.viemChain,
  }),
);

console.log(`402zk local node on ${env.url} (chain ${env.deployment.chainId})`);
console.log(`  Facilitator ${env.pool.facilitator}`);
console.log(`  TestUSDC    ${env.pool.token}`);
console.log(`  wrote ${env.deploymentFile} (deleted again on exit)`);
console.log(`  minted ${Number(amount) / 1e6} USDC to ${fund}`);
console.log("");
console.log("Hardhat dev accounts (publicly known keys, local use only):");
console.log(`  payer  #${PAYER} ${devAccount(PAYER).address}  export ZK402_PRIVATE_KEY=${devPrivateKey(PAYER)}`);
console.log(`  server #${SERVER} ${devAccount(SERVER).address}  --private-key ${devPrivateKey(SERVER)}`);
console.log("Ctrl-C to stop.");

await new Promise<void>((resolve) => {
  process.once("SIGINT", resolve);
  process.once("SIGTERM", resolve);
});
const file = env.deploymentFile;
if (file && existsSync(file)) {
  // Delete the record only if it is still ours (someone may have redeployed meanwhile).
  const rec = JSON.parse(readFileSync(file, "utf8")) as { facilitator?: string };
  if (rec.facilitator?.toLowerCase() === env.pool.facilitator.toLowerCase()) rmSync(file);
}
await env.close();
console.log("stopped");
process.exit(0);
