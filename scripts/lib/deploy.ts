import type { HardhatEthers } from "@nomicfoundation/hardhat-ethers/types";
import type { Address, Hex } from "viem";

import { resolveTokenDomain } from "../../sdk/core/token-domain.js";
import type { Facilitator } from "../../types/ethers-contracts/index.js";

/** Fully qualified name of poseidon-solidity's library, and the link key Hardhat 3 wants. */
export const POSEIDON_FQN = "poseidon-solidity/PoseidonT3.sol:PoseidonT3";
export const POSEIDON_LINK_KEY = "npm/poseidon-solidity@0.0.5/PoseidonT3.sol:PoseidonT3";
/** 1-input Poseidon, the outer hash of note commitments computed on chain at deposit. */
export const POSEIDON_T2_FQN = "poseidon-solidity/PoseidonT2.sol:PoseidonT2";
export const POSEIDON_T2_LINK_KEY = "npm/poseidon-solidity@0.0.5/PoseidonT2.sol:PoseidonT2";

/**
 * Default number of past roots a proof may use. Large, so that a proof survives 4,096
 * inserts between proving and settling: organic load, or an attacker spamming deposits
 * to make honest proofs stale, would need that many transactions in a few seconds.
 */
export const DEFAULT_ROOT_HISTORY = 4096;

/** Root-history slots prewarmed per transaction (~11.5M gas). */
const PREWARM_BATCH = 512;

/** Each tree holds 2^24 leaves, the deepest path the payment circuit proves. */
export const DEFAULT_TREE_LEVELS = 24;

export interface DeployOptions {
  /** Existing ERC-20 (e.g. USDC on Base). When absent a TestUSDC is deployed. */
  token?: string;
  rootHistorySize?: number;
  /** Each tree holds 2^treeLevels leaves (default 24; tests use small values to roll over). */
  treeLevels?: number;
  /** Contract to deploy: "Facilitator", or a test-only subclass such as "FacilitatorHarness". */
  contract?: "Facilitator" | "FacilitatorHarness";
  /**
   * EIP-712 domain of the token for signed deposits, written to the record's token_info.
   * When absent it is read from the token (EIP-5267, else name()/version()) or taken from
   * @x402/evm's default assets: see sdk/core/token-domain.ts.
   */
  tokenDomain?: { name: string; version: string };
  /**
   * Prewarm the whole root-history ring and the leaf queue after deploying
   * ((rootHistorySize + 1,024) / 512 transactions, ~22.1k gas per slot, paid once by the
   * deployer) so that every commit and queued leaf pays a 5k slot update. Default false.
   */
  prewarmRootHistory?: boolean;
}

/**
 * Deploys PoseidonT3, the generated PaymentVerifier, (optionally) TestUSDC and the
 * Facilitator, and returns the contracts and the block the Facilitator was deployed in.
 */
export async function deploySystem(ethers: HardhatEthers, options: DeployOptions = {}) {
  const poseidon = await ethers.deployContract(POSEIDON_FQN);
  await poseidon.waitForDeployment();
  const poseidonT2 = await ethers.deployContract(POSEIDON_T2_FQN);
  await poseidonT2.waitForDeployment();
  const verifier = await ethers.deployContract("PaymentVerifier");
  await verifier.waitForDeployment();
  const batchVerifier = await ethers.deployContract("PaymentBatchVerifier");
  await batchVerifier.waitForDeployment();
  const token = options.token
    ? await ethers.getContractAt("TestUSDC", options.token)
    : await ethers.deployContract("TestUSDC");
  await token.waitForDeployment();
  // A harness subclass has the same interface (plus test-only setters): typed as the Facilitator.
  const facilitator = (await ethers.deployContract(
    (options.contract ?? "Facilitator") as "Facilitator",
    [
      await token.getAddress(),
      await verifier.getAddress(),
      await batchVerifier.getAddress(),
      options.rootHistorySize ?? DEFAULT_ROOT_HISTORY,
      options.treeLevels ?? DEFAULT_TREE_LEVELS,
    ],
    {
      libraries: {
        [POSEIDON_LINK_KEY]: await poseidon.getAddress(),
        [POSEIDON_T2_LINK_KEY]: await poseidonT2.getAddress(),
      },
    },
  )) as unknown as Facilitator;
  await facilitator.waitForDeployment();
  const receipt = await facilitator.deploymentTransaction()?.wait();
  if (options.prewarmRootHistory) {
    const size = Number(await facilitator.rootHistorySize());
    for (let from = 0; from < size; from += PREWARM_BATCH) {
      await (await facilitator.prewarmRootHistory(from, PREWARM_BATCH)).wait();
    }
    const queue = Number(await facilitator.LEAF_QUEUE_CAPACITY());
    for (let from = 0; from < queue; from += PREWARM_BATCH) {
      await (await facilitator.prewarmLeafQueue(from, PREWARM_BATCH)).wait();
    }
  }
  return {
    poseidon,
    poseidonT2,
    verifier,
    batchVerifier,
    token,
    facilitator,
    deploymentBlock: receipt?.blockNumber ?? (await ethers.provider.getBlockNumber()),
  };
}

/**
 * Deploys the system and builds its `deployments/<network>.json` record (not written).
 */
export async function deployWithRecord(ethers: HardhatEthers, networkName: string, options: DeployOptions = {}) {
  const { readFileSync } = await import("node:fs");
  const path = await import("node:path");
  const { ARTIFACTS_DIR } = await import("./paths.js");
  const system = await deploySystem(ethers, options);
  const manifest = JSON.parse(readFileSync(path.join(ARTIFACTS_DIR, "manifest.json"), "utf8"));
  const chainId = Number((await ethers.provider.getNetwork()).chainId);
  const tokenAddress = (await system.token.getAddress()) as Address;
  const domain = await resolveTokenDomain({
    token: tokenAddress,
    chainId,
    override: options.tokenDomain,
    call: async (data) => (await ethers.provider.call({ to: tokenAddress, data })) as Hex,
  });
  const record = {
    network: networkName,
    chainId,
    facilitator: await system.facilitator.getAddress(),
    token: tokenAddress,
    verifier: await system.verifier.getAddress(),
    batchVerifier: await system.batchVerifier.getAddress(),
    poseidonT3: await system.poseidon.getAddress(),
    poseidonT2: await system.poseidonT2.getAddress(),
    deploymentBlock: system.deploymentBlock,
    rootHistorySize: Number(await system.facilitator.rootHistorySize()),
    treeLevels: Number(await system.facilitator.treeLevels()),
    token_info: {
      name: await system.token.name(),
      symbol: await system.token.symbol(),
      decimals: Number(await system.token.decimals()),
      // The token's EIP-712 domain: real USDC signs with version "2" (and the domain name,
      // "USDC" on Base Sepolia, may differ from what a UI shows).
      eip712Name: domain.name,
      eip712Version: domain.version,
    },
    circuit: {
      zkeySha256: manifest.sha256.zkey as string,
      vkeySha256: manifest.sha256.vkey as string,
      developmentSetup: manifest.developmentSetup as boolean,
    },
    deployedAt: new Date().toISOString(),
  };
  return { system, record };
}
