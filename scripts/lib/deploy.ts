import { readFileSync } from "node:fs";
import path from "node:path";

import type { HardhatEthers } from "@nomicfoundation/hardhat-ethers/types";
import type { ContractTransactionResponse, TransactionResponse } from "ethers";
import { decodeFunctionResult, encodeFunctionData, erc20Abi, type Address, type Hex } from "viem";

import {
  ALLOW_DEVELOPMENT_SETUP_ENV,
  ALLOW_DEVELOPMENT_SETUP_VALUE,
  developmentSetupRisk,
  UNVERSIONED_CIRCUIT,
} from "../../sdk/cli/doctor.js";
import { explorerTxUrl } from "../../sdk/core/deployment.js";
import { resolveTokenDomain, type TokenDomain } from "../../sdk/core/token-domain.js";
import type { Facilitator } from "../../types/ethers-contracts/index.js";
import { ARTIFACTS_DIR } from "./paths.js";

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

/**
 * Slots prewarmed per transaction. prewarmRootHistory writes two rings per slot (the root
 * and the size it was recorded at), ~22.5k gas a slot: 256 slots ~11.5M gas, under the
 * 2^24 (16.7M) per-transaction gas cap of Osaka (EIP-7825); 512 ran out of gas.
 */
const PREWARM_BATCH = 256;

/** Each tree holds 2^24 leaves, the deepest path the payment circuit proves. */
export const DEFAULT_TREE_LEVELS = 24;

export interface DeployOptions {
  /** Existing ERC-20 (e.g. USDC on Base). When absent a TestUSDC is deployed. */
  token?: string;
  rootHistorySize?: number;
  /** Each tree holds 2^treeLevels leaves (default 24; tests use small values to roll over). */
  treeLevels?: number;
  /** Contract to deploy: "Facilitator", or a test-only subclass such as "FacilitatorHarness". */
  contract?: "Facilitator" | "FacilitatorHarness" | "PayoutHookFacilitator";
  /**
   * Deploy the pool with proof-before-pay escrow (`FacilitatorEscrow`, issue #20) instead of
   * `contract`: the deployer is its operator, and the service verifiers of the circuit
   * registry (`InferenceVerifier`) are deployed and registered.
   */
  escrow?: boolean;
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
  /**
   * The value of $ZK402_ALLOW_DEVELOPMENT_SETUP: a development setup deploys to a chain that
   * is not local only when it is {@link ALLOW_DEVELOPMENT_SETUP_VALUE}.
   */
  allowDevelopmentSetup?: string;
  /**
   * Refuse an existing token whose EIP-712 domain cannot be read (default true: the
   * deployment record names it, and signed deposits need it). False deploys a pool over
   * such a token for approve-only deposits (the misbehaving-token tests).
   */
  requireTokenDomain?: boolean;
  /**
   * Sanctions-list oracle that the pool screens deposits against (an `isSanctioned(address)`
   * contract such as Chainalysis' on-chain oracle); absent: no screening. Checked before
   * anything is sent (a contract that answers `isSanctioned`), and written to the record.
   * The plain Facilitator keeps it for ever; a FacilitatorEscrow's operator can change it.
   */
  sanctionsList?: string;
  /** Progress, one line per step with its transaction hash (scripts/deploy.ts prints them). */
  log?: (line: string) => void;
  /** Longest wait for one RPC answer or one transaction to be mined, ms (default 300 s). */
  timeoutMs?: number;
}

/** Longest wait for one RPC answer or transaction, unless `timeoutMs` says otherwise. */
export const DEFAULT_DEPLOY_TIMEOUT_MS = 300_000;

/** What the deploy script decides about the circuit keys on a chain: go, go with a warning, or refuse. */
export type SetupDecision = { deploy: true; warning?: string } | { deploy: false; reason: string };

/**
 * Whether to deploy circuit keys whose manifest says `developmentSetup` on `chainId`: yes on
 * a local chain (31337, 1337); elsewhere only when the operator set
 * $ZK402_ALLOW_DEVELOPMENT_SETUP to the value that names the risk (then with a warning).
 *
 * @example
 * developmentSetupDecision({ chainId: 84532, developmentSetup: true }); // { deploy: false, reason: "refusing ..." }
 */
export function developmentSetupDecision(o: {
  chainId: number;
  developmentSetup: boolean;
  allow?: string;
}): SetupDecision {
  const risk = developmentSetupRisk(o.chainId, o.developmentSetup);
  if (!risk) return { deploy: true };
  if (o.allow === ALLOW_DEVELOPMENT_SETUP_VALUE) return { deploy: true, warning: `WARNING: ${risk}` };
  return {
    deploy: false,
    reason:
      `refusing to deploy: ${risk}. Nothing was sent. For a testnet where nothing of value is at stake, ` +
      `set ${ALLOW_DEVELOPMENT_SETUP_ENV}=${ALLOW_DEVELOPMENT_SETUP_VALUE}` +
      (o.allow ? ` (it is set to "${o.allow}", not that value)` : ""),
  };
}

/** The payment circuit's manifest (circuits/artifacts/payment.manifest.json): version, hashes and `developmentSetup`. */
export function readCircuitManifest(name: "payment" | "inference" = "payment"): {
  /** "payment-v2" (#19); absent in manifests built before versions were recorded. */
  version?: string;
  developmentSetup: boolean;
  sha256: { zkey: string; vkey: string };
} {
  return JSON.parse(readFileSync(path.join(ARTIFACTS_DIR, `${name}.manifest.json`), "utf8")) as never;
}

/** Rejects with `what` after `ms`: no RPC call or wait of the deployment hangs silently. */
async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${Math.round(ms / 1000)} s`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** What an existing token answers, checked before anything is sent. */
export interface TokenInfo {
  address: Address;
  name: string;
  symbol: string;
  decimals: number;
  /** Absent only when the caller did not require it (`requireDomain: false`). */
  domain?: TokenDomain & { source: string };
}

/**
 * Checks an existing token before a deployment sends anything: code at the address,
 * name(), symbol() and decimals() of an ERC-20, and an EIP-712 domain (EIP-5267, else
 * name()/version(), else @x402/evm's default assets: real USDC has no eip712Domain()).
 * Throws an Error naming what is missing, and that nothing was sent.
 */
export async function checkToken(
  ethers: HardhatEthers,
  token: string,
  o: { chainId: number; tokenDomain?: TokenDomain; timeoutMs?: number; requireDomain?: boolean },
): Promise<TokenInfo> {
  const ms = o.timeoutMs ?? DEFAULT_DEPLOY_TIMEOUT_MS;
  if (!/^0x[0-9a-fA-F]{40}$/.test(token)) throw new Error(`TOKEN ${token} is not an address. Nothing was sent.`);
  const address = token as Address;
  const code = await within(ms, `reading the code at TOKEN ${token}`, ethers.provider.getCode(address));
  if (!code || code === "0x") {
    throw new Error(
      `TOKEN ${token} has no contract code on chain ${o.chainId}: a wrong address, or a token of another network. Nothing was sent.`,
    );
  }
  const call = async (data: Hex) =>
    (await within(ms, `calling TOKEN ${token}`, ethers.provider.call({ to: address, data }))) as Hex;
  const read = async <T>(functionName: "name" | "symbol" | "decimals"): Promise<T> => {
    try {
      const data = await call(encodeFunctionData({ abi: erc20Abi, functionName }));
      return decodeFunctionResult({ abi: erc20Abi, functionName, data }) as T;
    } catch (err) {
      throw new Error(
        `TOKEN ${token} does not answer ${functionName}() (${(err as Error).message.split("\n")[0]}): not an ERC-20 the pool can use. Nothing was sent.`,
      );
    }
  };
  const decimals = await read<number>("decimals");
  const name = await read<string>("name");
  const symbol = await read<string>("symbol");
  let domain: TokenDomain & { source: string };
  try {
    domain = await resolveTokenDomain({ token: address, chainId: o.chainId, override: o.tokenDomain, call });
  } catch (err) {
    if (o.requireDomain === false) return { address, name, symbol, decimals: Number(decimals) };
    throw new Error(
      `${(err as Error).message}. Set TOKEN_EIP712_NAME and TOKEN_EIP712_VERSION to the token's domain. Nothing was sent.`,
    );
  }
  return { address, name, symbol, decimals: Number(decimals), domain };
}

const ZERO_ADDRESS = "0x0000000000000000000000000000000000000000";

/**
 * Checks that `address` is a sanctions-list oracle before the pool is deployed with it: a
 * contract whose `isSanctioned(address)` answers with a bool. The pool calls it on every
 * deposit, so an address without code (or another contract) would make every deposit revert.
 *
 * @example
 * await checkSanctionsList(ethers, process.env.SANCTIONS_LIST!, 30_000);
 */
export async function checkSanctionsList(ethers: HardhatEthers, address: string, timeoutMs: number): Promise<Address> {
  if (!/^0x[0-9a-fA-F]{40}$/.test(address)) throw new Error(`sanctions list ${address} is not an address`);
  if (/^0x0{40}$/.test(address)) throw new Error("sanctions list is the zero address: leave it unset for no screening");
  const code = await within(timeoutMs, "reading the sanctions list's code", ethers.provider.getCode(address));
  if (code === "0x") throw new Error(`sanctions list ${address} has no code on this chain. Nothing was sent.`);
  const abi = [
    {
      type: "function",
      name: "isSanctioned",
      stateMutability: "view",
      inputs: [{ name: "addr", type: "address" }],
      outputs: [{ name: "", type: "bool" }],
    },
  ] as const;
  try {
    const data = encodeFunctionData({ abi, functionName: "isSanctioned", args: [ZERO_ADDRESS] });
    const out = await within(timeoutMs, "calling isSanctioned", ethers.provider.call({ to: address, data }));
    decodeFunctionResult({ abi, functionName: "isSanctioned", data: out as Hex });
  } catch (err) {
    throw new Error(
      `sanctions list ${address} does not answer isSanctioned(address) (${(err as Error).message.split("\n")[0]}). Nothing was sent.`,
      { cause: err },
    );
  }
  return address as Address;
}

/**
 * Deploys PoseidonT3, the generated PaymentVerifier, (optionally) TestUSDC and the
 * Facilitator, and returns the contracts and the block the Facilitator was deployed in.
 * Before sending anything it checks the circuit keys against the chain
 * ({@link developmentSetupDecision}) and an existing token ({@link checkToken}); every
 * transaction is logged with its hash and waited for at most `timeoutMs`.
 */
export async function deploySystem(ethers: HardhatEthers, options: DeployOptions = {}) {
  const log = options.log ?? (() => {});
  const ms = options.timeoutMs ?? DEFAULT_DEPLOY_TIMEOUT_MS;
  const chainId = Number((await within(ms, "reading the chain id", ethers.provider.getNetwork())).chainId);
  const decision = developmentSetupDecision({
    chainId,
    developmentSetup: readCircuitManifest().developmentSetup === true,
    allow: options.allowDevelopmentSetup,
  });
  if (!decision.deploy) throw new Error(decision.reason);
  if (decision.warning) log(decision.warning);
  if (options.escrow) {
    // A registered service verifier can never be removed: its key must meet the same bar as
    // the payment key's (#20 audit, M1). A development inference key on a real chain would
    // let whoever kept its setup's secrets release any escrow naming it.
    const inference = developmentSetupDecision({
      chainId,
      developmentSetup: readCircuitManifest("inference").developmentSetup === true,
      allow: options.allowDevelopmentSetup,
    });
    if (!inference.deploy) throw new Error(`inference circuit: ${inference.reason}`);
  }
  const sanctionsList = options.sanctionsList ? await checkSanctionsList(ethers, options.sanctionsList, ms) : undefined;
  if (sanctionsList) log(`sanctions list ${sanctionsList}: deposits are screened against it`);
  const tokenInfo = options.token
    ? await checkToken(ethers, options.token, {
        chainId,
        tokenDomain: options.tokenDomain,
        timeoutMs: ms,
        requireDomain: options.requireTokenDomain,
      })
    : undefined;
  if (tokenInfo) {
    log(
      `token ${tokenInfo.address}: ${tokenInfo.name} (${tokenInfo.symbol}), ${tokenInfo.decimals} decimals, ` +
        (tokenInfo.domain
          ? `EIP-712 ${tokenInfo.domain.name} / version ${tokenInfo.domain.version} (${tokenInfo.domain.source})`
          : "no EIP-712 domain (approve deposits only)"),
    );
  }
  const hashOf = (hash: string) => {
    const url = explorerTxUrl(chainId, hash);
    return url ? `${hash} ${url}` : hash;
  };
  /** Waits for one sent transaction (logged with its hash) to be mined, at most `ms`. */
  const mined = async (step: string, tx: TransactionResponse | ContractTransactionResponse | null) => {
    if (!tx) throw new Error(`${step}: no transaction was returned`);
    log(`${step}: sent ${hashOf(tx.hash)}`);
    try {
      const receipt = await within(ms, `${step}: transaction ${tx.hash} was not mined`, tx.wait(1));
      if (!receipt || receipt.status !== 1) throw new Error(`${step}: transaction ${tx.hash} reverted`);
      return receipt;
    } catch (err) {
      throw new Error(
        `${(err as Error).message.split("\n")[0]} (check it on the chain; the earlier steps above were mined)`,
        { cause: err },
      );
    }
  };
  const deploy = async <
    T extends { deploymentTransaction(): ContractTransactionResponse | null; getAddress(): Promise<string> },
  >(
    step: string,
    sending: Promise<T>,
  ): Promise<T> => {
    const contract = await within(ms, `${step}: sending the deployment`, sending);
    await mined(step, contract.deploymentTransaction());
    log(`${step}: deployed at ${await contract.getAddress()}`);
    return contract;
  };
  const poseidon = await deploy("PoseidonT3", ethers.deployContract(POSEIDON_FQN));
  const poseidonT2 = await deploy("PoseidonT2", ethers.deployContract(POSEIDON_T2_FQN));
  const verifier = await deploy("PaymentVerifier", ethers.deployContract("PaymentVerifier"));
  const batchVerifier = await deploy("PaymentBatchVerifier", ethers.deployContract("PaymentBatchVerifier"));
  // An existing token was checked above: no waitForDeployment(), which polls for code forever.
  const token = tokenInfo
    ? await ethers.getContractAt("TestUSDC", tokenInfo.address)
    : await deploy("TestUSDC", ethers.deployContract("TestUSDC"));
  // A harness subclass has the same interface (plus test-only setters): typed as the Facilitator.
  const contractName = options.escrow ? "FacilitatorEscrow" : (options.contract ?? "Facilitator");
  const operator = options.escrow ? await (await ethers.getSigners())[0]!.getAddress() : undefined;
  const facilitator = (await deploy(
    contractName,
    ethers.deployContract(
      contractName as "Facilitator",
      [
        await token.getAddress(),
        await verifier.getAddress(),
        await batchVerifier.getAddress(),
        options.rootHistorySize ?? DEFAULT_ROOT_HISTORY,
        options.treeLevels ?? DEFAULT_TREE_LEVELS,
        ...(operator ? [operator] : []),
        sanctionsList ?? ZERO_ADDRESS,
      ],
      {
        libraries: {
          [POSEIDON_LINK_KEY]: await poseidon.getAddress(),
          [POSEIDON_T2_LINK_KEY]: await poseidonT2.getAddress(),
        },
      },
    ),
  )) as unknown as Facilitator;
  const receipt = await within(
    ms,
    "reading the Facilitator's deployment receipt",
    facilitator.deploymentTransaction()!.wait(1),
  );
  if (options.prewarmRootHistory) {
    const size = Number(await facilitator.rootHistorySize());
    const queue = Number(await facilitator.LEAF_QUEUE_CAPACITY());
    const steps = Math.ceil(size / PREWARM_BATCH) + Math.ceil(queue / PREWARM_BATCH);
    let n = 0;
    for (let from = 0; from < size; from += PREWARM_BATCH) {
      await mined(
        `prewarm ${++n}/${steps} (root history ${from}..)`,
        await facilitator.prewarmRootHistory(from, PREWARM_BATCH),
      );
    }
    for (let from = 0; from < queue; from += PREWARM_BATCH) {
      await mined(
        `prewarm ${++n}/${steps} (leaf queue ${from}..)`,
        await facilitator.prewarmLeafQueue(from, PREWARM_BATCH),
      );
    }
  }
  // Proof before pay: the service circuits' verifiers, registered by the operator (the
  // deployer). Registrations are permanent (see FacilitatorEscrow.registerServiceVerifier).
  let escrow:
    | {
        operator: Address;
        serviceVerifiers: Record<string, Address>;
        serviceCircuits: Record<string, { vkeySha256: string; developmentSetup: boolean }>;
      }
    | undefined;
  if (operator) {
    const inference = await deploy("InferenceVerifier", ethers.deployContract("InferenceVerifier"));
    const inferenceAddress = (await inference.getAddress()) as Address;
    const pool = await ethers.getContractAt("FacilitatorEscrow", await facilitator.getAddress());
    await mined("register InferenceVerifier", await pool.registerServiceVerifier(inferenceAddress));
    const m = readCircuitManifest("inference");
    escrow = {
      operator: operator as Address,
      serviceVerifiers: { inference: inferenceAddress },
      serviceCircuits: { inference: { vkeySha256: m.sha256.vkey, developmentSetup: m.developmentSetup } },
    };
  }
  return {
    poseidon,
    poseidonT2,
    verifier,
    batchVerifier,
    token,
    tokenInfo,
    facilitator,
    escrow,
    deploymentBlock: receipt?.blockNumber ?? (await ethers.provider.getBlockNumber()),
  };
}

/** `{ sanctionsList }` when the pool screens deposits, else nothing (the record's field is optional). */
async function screenedBy(facilitator: Facilitator): Promise<{ sanctionsList?: Address }> {
  const list = (await facilitator.sanctionsList()) as Address;
  return list === ZERO_ADDRESS ? {} : { sanctionsList: list };
}

/**
 * Deploys the system and builds its `deployments/<network>.json` record (not written).
 */
export async function deployWithRecord(ethers: HardhatEthers, networkName: string, options: DeployOptions = {}) {
  const system = await deploySystem(ethers, options);
  const manifest = readCircuitManifest();
  const chainId = Number((await ethers.provider.getNetwork()).chainId);
  const tokenAddress = (await system.token.getAddress()) as Address;
  const domain =
    system.tokenInfo?.domain ??
    (await resolveTokenDomain({
      token: tokenAddress,
      chainId,
      override: options.tokenDomain,
      call: async (data) => (await ethers.provider.call({ to: tokenAddress, data })) as Hex,
    }));
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
      // The circuit version (the registry's, via the manifest): `402zk doctor` compares it
      // with the SDK's artifacts, since notes and proofs of two versions do not mix.
      version: manifest.version ?? UNVERSIONED_CIRCUIT,
      zkeySha256: manifest.sha256.zkey,
      vkeySha256: manifest.sha256.vkey,
      developmentSetup: manifest.developmentSetup,
    },
    ...(system.escrow && { escrow: system.escrow }),
    // The oracle deposits are screened against, as the pool reports it (absent: none).
    ...(await screenedBy(system.facilitator)),
    deployedAt: new Date().toISOString(),
  };
  return { system, record };
}
