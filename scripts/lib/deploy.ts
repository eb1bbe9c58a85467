import type { HardhatEthers } from "@nomicfoundation/hardhat-ethers/types";

/** Fully qualified name of poseidon-solidity's library, and the link key Hardhat 3 wants. */
export const POSEIDON_FQN = "poseidon-solidity/PoseidonT3.sol:PoseidonT3";
export const POSEIDON_LINK_KEY = "npm/poseidon-solidity@0.0.5/PoseidonT3.sol:PoseidonT3";

/** Default number of past roots a proof may use (see README, "Root history"). */
export const DEFAULT_ROOT_HISTORY = 256;

export interface DeployOptions {
  /** Existing ERC-20 (e.g. USDC on Base). When absent a TestUSDC is deployed. */
  token?: string;
  rootHistorySize?: number;
}

/**
 * Deploys PoseidonT3, the generated PaymentVerifier, (optionally) TestUSDC and the
 * Facilitator, and returns the contracts and the block the Facilitator was deployed in.
 */
export async function deploySystem(ethers: HardhatEthers, options: DeployOptions = {}) {
  const poseidon = await ethers.deployContract(POSEIDON_FQN);
  await poseidon.waitForDeployment();
  const verifier = await ethers.deployContract("PaymentVerifier");
  await verifier.waitForDeployment();
  const token = options.token
    ? await ethers.getContractAt("TestUSDC", options.token)
    : await ethers.deployContract("TestUSDC");
  await token.waitForDeployment();
  const facilitator = await ethers.deployContract(
    "Facilitator",
    [await token.getAddress(), await verifier.getAddress(), options.rootHistorySize ?? DEFAULT_ROOT_HISTORY],
    { libraries: { [POSEIDON_LINK_KEY]: await poseidon.getAddress() } },
  );
  await facilitator.waitForDeployment();
  const receipt = await facilitator.deploymentTransaction()?.wait();
  return {
    poseidon,
    verifier,
    token,
    facilitator,
    deploymentBlock: receipt?.blockNumber ?? (await ethers.provider.getBlockNumber()),
  };
}
