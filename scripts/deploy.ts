/**
 * Deploys PoseidonT2, PoseidonT3, PaymentVerifier, (TestUSDC unless TOKEN is given) and the
 * Facilitator, then writes <network>.json (deployments/, or $ZK402_DEPLOYMENTS_DIR) for the
 * SDK and the CLI. The Hardhat network names are the CLI's: localhost, base-sepolia, base.
 *
 *   npx hardhat run scripts/deploy.ts --network localhost
 *   TOKEN=0x036CbD53842c5426634e7929541eC2318f3dCF7e npx hardhat run scripts/deploy.ts --network base-sepolia
 *   ESCROW=1 npx hardhat run scripts/deploy.ts --network localhost   # with proof before pay
 *
 * ESCROW=1 deploys FacilitatorEscrow (the Facilitator plus proof-before-pay escrow), with
 * the deployer as its operator, and deploys and registers the InferenceVerifier.
 *
 * SANCTIONS_LIST=0x... screens every deposit against that sanctions-list oracle (an
 * `isSanctioned(address)` contract such as Chainalysis'; checked before anything is sent,
 * and written to the record as `sanctionsList`). Unset: no screening. The plain
 * Facilitator keeps it for ever; a FacilitatorEscrow's operator can change it later.
 *
 * (Base Sepolia needs BASE_SEPOLIA_RPC_URL and BASE_SEPOLIA_PRIVATE_KEY in the Hardhat
 * keystore or environment: `npx hardhat keystore set BASE_SEPOLIA_PRIVATE_KEY`.) See
 * docs/base-sepolia.md. The token's EIP-712 domain is read from the token (or @x402/evm's
 * default assets); TOKEN_EIP712_NAME and TOKEN_EIP712_VERSION override it.
 *
 * Before sending anything it refuses a DEVELOPMENT setup (circuits/artifacts/payment.manifest.json)
 * on a chain that is not local unless ZK402_ALLOW_DEVELOPMENT_SETUP names the risk, and
 * checks TOKEN (code, decimals, EIP-712 domain). Each step prints its transaction hash;
 * every wait ends after DEPLOY_TIMEOUT seconds (default 300) with an error.
 */
import { network } from "hardhat";

import { ALLOW_DEVELOPMENT_SETUP_ENV } from "../sdk/cli/doctor.js";
import { DEPLOYMENTS_DIR, saveDeployment } from "../sdk/node/deployments.js";
import { deployWithRecord } from "./lib/deploy.js";

const connection = await network.connect();
const name = connection.networkName;
const overrideName = process.env.TOKEN_EIP712_NAME;
const overrideVersion = process.env.TOKEN_EIP712_VERSION;
if (!!overrideName !== !!overrideVersion)
  throw new Error("set both TOKEN_EIP712_NAME and TOKEN_EIP712_VERSION, or neither");
try {
  const timeoutS = process.env.DEPLOY_TIMEOUT ? Number(process.env.DEPLOY_TIMEOUT) : 300;
  if (!(timeoutS > 0)) throw new Error("DEPLOY_TIMEOUT must be a positive number of seconds");
  console.error(`deploying to ${name} (${connection.networkConfig.type === "http" ? "RPC" : "in-process"})...`);
  const { record } = await deployWithRecord(connection.ethers, name, {
    token: process.env.TOKEN,
    rootHistorySize: process.env.ROOT_HISTORY ? Number(process.env.ROOT_HISTORY) : undefined,
    // PREWARM=0 skips prewarming the root-history ring (cheaper deploy, dearer first inserts).
    prewarmRootHistory: process.env.PREWARM !== "0",
    escrow: process.env.ESCROW === "1",
    sanctionsList: process.env.SANCTIONS_LIST || undefined,
    tokenDomain: overrideName && overrideVersion ? { name: overrideName, version: overrideVersion } : undefined,
    allowDevelopmentSetup: process.env[ALLOW_DEVELOPMENT_SETUP_ENV],
    // Progress on stderr, the record on stdout.
    log: (line) => console.error(line),
    timeoutMs: timeoutS * 1000,
  });
  const file = saveDeployment(record as never, process.env.ZK402_DEPLOYMENTS_DIR || DEPLOYMENTS_DIR);
  console.log(`deployed to ${name} (chain ${record.chainId}), circuit ${record.circuit.version}:`);
  console.log(JSON.stringify(record, null, 2));
  console.log(`written ${file}`);
} catch (err) {
  // One clear line (the steps above show what was sent), not Hardhat's stack trace.
  console.error(`deploy failed: ${(err as Error).message}`);
  process.exitCode = 1;
}
