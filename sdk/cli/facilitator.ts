/**
 * The configuration of `402zk facilitator` (the command itself: commands/facilitator.ts):
 * the non-custodial facilitator and relayer service (402zk/service) from the command line. Every setting comes from, highest first: these flags, the
 * environment, the JSON file (--config or $ZK402_FACILITATOR_CONFIG), then defaults (the
 * network's default RPC, localhost). The relayer key: --private-key or --keystore-key, else
 * $ZK402_RELAYER_KEY, else the file's relayer.keystore, else $ZK402_PRIVATE_KEY. Amounts
 * (--fee, --native-price) take the CLI's grammar: tokens ("0.001"), or base units with a
 * "u" ("1000u"); the file and the environment hold base units. Logs are JSON lines on
 * stdout. SIGINT/SIGTERM/SIGHUP: stop accepting, finish settlements in flight (at most
 * shutdownTimeoutMs), exit.
 */
import { createPublicClient, erc20Abi, http, type Address, type PublicClient } from "viem";

import { facilitatorAbi } from "../core/abi.js";
import { ZkPayError } from "../core/errors.js";
import { loadDeployment } from "../node/deployments.js";
import type { ServiceConfig, EnvVars } from "../service/config.js";
import { baseUnits, parseAmount } from "./amount.js";
import { defaultRpc, type GlobalOptions } from "./context.js";

/** Options of the facilitator command. */
export interface FacilitatorFlags {
  config?: string;
  host?: string;
  port?: string;
  db?: string;
  pool?: string;
  fee?: string;
  nativePrice?: string;
  maxFeeGwei?: string;
  batchWindow?: string;
  batchMax?: string;
  redis?: string;
  keystoreKey?: string;
  keystorePath?: string;
  logLevel?: string;
  drainTimeout?: string;
  trustedProxies?: string;
}

/** Which global options were given on the command line (not commander defaults). */
export interface ExplicitGlobals {
  network: boolean;
}

/**
 * The service configuration of `402zk facilitator`: flags, then environment, then file,
 * then defaults, for every setting; and the environment the service is to read its key
 * from. Token amounts in flags are converted with the pool token's decimals (from the
 * deployment record, else read on chain), hence async.
 *
 * @example
 * const { config, env } = await facilitatorConfig({ config: "f.json", fee: "0.001" }, g, { network: false }, process.env);
 */
export async function facilitatorConfig(
  o: FacilitatorFlags,
  g: Pick<GlobalOptions, "network" | "rpc" | "privateKey" | "deployments">,
  explicit: ExplicitGlobals,
  environment: EnvVars,
): Promise<{ config: ServiceConfig; env: EnvVars }> {
  // Loaded here: the rest of the CLI does not pay for the service's modules.
  const { loadServiceConfig } = await import("../service/config.js");
  const env = { ...environment };
  const int = (v: string | undefined, what: string) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new ZkPayError("invalid_argument", `${what} must be a number, got "${v}"`);
    return n;
  };
  if (o.keystoreKey && g.privateKey)
    throw new ZkPayError("invalid_argument", "pass --private-key or --keystore-key, not both");
  // The relayer key, by the same precedence: a flag; $ZK402_RELAYER_KEY (the environment);
  // the file's keystore; $ZK402_PRIVATE_KEY (the CLI's EOA, a default). A key from the
  // flag or the environment replaces a keystore the file names.
  let relayer: Record<string, unknown> | undefined;
  if (o.keystoreKey) relayer = { keystore: { key: o.keystoreKey, path: o.keystorePath } };
  else if (g.privateKey) {
    env.ZK402_RELAYER_KEY = g.privateKey;
    relayer = { keystore: undefined, privateKeyEnv: "ZK402_RELAYER_KEY" };
  }
  const overrides: Record<string, unknown> = {
    rpcUrl: g.rpc,
    pool: o.pool,
    network: explicit.network ? g.network : undefined,
    deploymentsDir: g.deployments,
    host: o.host,
    port: int(o.port, "--port"),
    database: o.db,
    gas: o.maxFeeGwei !== undefined ? { maxFeePerGasGwei: int(o.maxFeeGwei, "--max-fee-gwei") } : undefined,
    batch:
      o.batchWindow !== undefined || o.batchMax !== undefined
        ? { windowMs: int(o.batchWindow, "--batch-window"), maxSize: int(o.batchMax, "--batch-max") }
        : undefined,
    redisUrl: o.redis,
    limits:
      o.trustedProxies !== undefined
        ? {
            trustedProxies: o.trustedProxies
              .split(",")
              .map((x) => x.trim())
              .filter(Boolean),
          }
        : undefined,
    relayer,
    logLevel: o.logLevel,
    shutdownTimeoutMs: o.drainTimeout === undefined ? undefined : int(o.drainTimeout, "--drain-timeout")! * 1000,
  };
  // Fees in base units go in as they are; in tokens they wait for the token's decimals.
  const feeUnits = o.fee === undefined ? undefined : baseUnits(o.fee, "--fee");
  const priceUnits = o.nativePrice === undefined ? undefined : baseUnits(o.nativePrice, "--native-price");
  const config = loadServiceConfig({
    file: o.config,
    env,
    overrides,
    fillDefaults: (c) => {
      // Defaults see what flags, environment and file set: the pool of a named network,
      // that network's default RPC (127.0.0.1:8545 locally, $BASE_SEPOLIA_RPC_URL, ...).
      if (c.pool === undefined && c.network === undefined) c.network = g.network || "localhost";
      if (c.rpcUrl === undefined) {
        const network = typeof c.network === "string" ? c.network : "localhost";
        const rpc = defaultRpc(network, env);
        if (rpc) c.rpcUrl = rpc;
      }
      const r = (c.relayer ?? {}) as { keystore?: unknown; privateKeyEnv?: string };
      const name = r.privateKeyEnv ?? "ZK402_RELAYER_KEY";
      // A key in the environment beats a keystore named by the file (not one named by a flag).
      if (r.keystore && !o.keystoreKey && env[name]) c.relayer = { ...r, keystore: undefined };
      else if (!r.keystore && !env[name] && env.ZK402_PRIVATE_KEY) env[name] = env.ZK402_PRIVATE_KEY;
    },
  });
  // pool and network name one thing, the pool: the highest layer that names it decides
  // (a --network flag is not overruled by the file's pool, nor ZK402_NETWORK by it).
  const top =
    o.pool !== undefined || explicit.network
      ? o.pool
      : env.ZK402_POOL || env.ZK402_NETWORK
        ? env.ZK402_POOL || undefined
        : null;
  if (top !== null && top === undefined) config.pool = undefined;
  if (o.fee !== undefined || o.nativePrice !== undefined) {
    const tokens =
      (feeUnits === undefined && o.fee !== undefined) || (priceUnits === undefined && o.nativePrice !== undefined);
    const decimals = tokens ? await tokenDecimals(config, env) : 0;
    config.fee = {
      ...config.fee,
      ...(o.fee !== undefined ? { min: feeUnits ?? parseAmount(o.fee, decimals, "--fee") } : {}),
      ...(o.nativePrice !== undefined
        ? { nativePrice: priceUnits ?? parseAmount(o.nativePrice, decimals, "--native-price") }
        : {}),
    };
  }
  return { config, env };
}

/** Decimals of the pool's token: the deployment record's, else read from the chain. */
async function tokenDecimals(c: ServiceConfig, env: EnvVars): Promise<number> {
  if (!c.pool && c.network) {
    return loadDeployment(c.network, c.deploymentsDir ?? (env.ZK402_DEPLOYMENTS_DIR || undefined)).token_info.decimals;
  }
  const client = createPublicClient({ transport: http(c.rpcUrl, { retryCount: 1, timeout: 20_000 }) }) as PublicClient;
  try {
    const token = await client.readContract({
      address: c.pool as Address,
      abi: facilitatorAbi,
      functionName: "token",
    });
    return await client.readContract({ address: token, abi: erc20Abi, functionName: "decimals" });
  } catch (err) {
    throw new ZkPayError(
      "rpc_error",
      `cannot read the pool token's decimals for --fee/--native-price in tokens (${(err as Error).message.split("\n")[0]}): ` +
        `write base units instead, e.g. --fee 1000u`,
    );
  }
}
