/**
 * Deploys PoseidonT2, PoseidonT3, PaymentVerifier, (TestUSDC unless --token is given) and the
 * Facilitator, then writes deployments/<network>.json for the SDK.
 *
 *   npx hardhat run scripts/deploy.ts --network localhost
 *   TOKEN=0x036CbD53842c5426634e7929541eC2318f3dCF7e npx hardhat run scripts/deploy.ts --network baseSepolia
 *
 * (Base Sepolia needs BASE_SEPOLIA_RPC_URL and BASE_SEPOLIA_PRIVATE_KEY in the Hardhat
 * keystore or environment: `npx hardhat keystore set BASE_SEPOLIA_PRIVATE_KEY`.)
 */
import { network } from "hardhat";

import { saveDeployment } from "../sdk/node/deployments.js";
import { deployWithRecord } from "./lib/deploy.js";

const NAMES: Record<string, string> = {
  baseSepolia: "base-sepolia",
  base: "base",
  localhost: "localhost",
  hardhat: "hardhat",
};

const connection = await network.connect();
const name = NAMES[connection.networkName] ?? connection.networkName;
const { record } = await deployWithRecord(connection.ethers, name, {
  token: process.env.TOKEN,
  rootHistorySize: process.env.ROOT_HISTORY ? Number(process.env.ROOT_HISTORY) : undefined,
  // PREWARM=0 skips prewarming the root-history ring (cheaper deploy, dearer first inserts).
  prewarmRootHistory: process.env.PREWARM !== "0",
});
const file = saveDeployment(record as never);
console.log(`deployed to ${name} (chain ${record.chainId}):`);
console.log(JSON.stringify(record, null, 2));
console.log(`written ${file}`);
