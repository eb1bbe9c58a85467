import { createPublicClient, getAddress, http, type Address, type PublicClient } from "viem";

import { ZkPayError } from "../core/errors.js";
import { loadVerificationKey } from "../node/artifacts.js";
import { loadDeployment } from "../node/deployments.js";
import { gasPolicyOf, type ServiceConfig, type EnvVars } from "./config.js";
import { RedisDiscoveryCatalog, type DiscoveryCatalog } from "./discovery.js";
import { startFacilitatorServer } from "./http.js";
import { loadRelayerAccount } from "./keys.js";
import { jsonLogger, type Logger } from "./logger.js";
import { FacilitatorService } from "./service.js";
import { RedisSettlementRegistry, type SettlementRegistry } from "./shared.js";
import { ServiceStore } from "./store.js";

/**
 * Everything `402zk facilitator` starts, from a {@link ServiceConfig}: the RPC client, the
 * relayer account (Hardhat keystore or environment), the pool (config or deployment
 * record), the SQLite store, the shared registry and bazaar catalogue (Redis, if configured), the service and
 * its HTTP server. `close()` shuts down gracefully.
 *
 * @example
 * const running = await runFacilitator(loadServiceConfig({ file: "facilitator.json" }));
 * process.on("SIGTERM", () => void running.close());
 */
export async function runFacilitator(config: ServiceConfig, o: { env?: EnvVars; log?: Logger } = {}) {
  const env = o.env ?? process.env;
  const log = o.log ?? jsonLogger({ level: config.logLevel });
  const account = await loadRelayerAccount(config, env);
  const publicClient = createPublicClient({
    transport: http(config.rpcUrl, { retryCount: 2, timeout: 20_000 }),
    pollingInterval: Math.min(1000, config.pollMs),
  }) as PublicClient;
  const chainId = await publicClient.getChainId().catch((err: unknown) => {
    throw new ZkPayError("rpc_error", `cannot reach ${config.rpcUrl}: ${(err as Error).message}`);
  });
  let pool: Address;
  const minConfirmations = config.minConfirmations;
  if (config.pool) pool = getAddress(config.pool);
  else if (config.network) {
    const d = loadDeployment(config.network, config.deploymentsDir ?? env.ZK402_DEPLOYMENTS_DIR ?? undefined);
    if (d.chainId !== chainId) {
      throw new ZkPayError(
        "chain_mismatch",
        `deployment ${config.network} is on chain ${d.chainId}, the RPC on ${chainId}`,
      );
    }
    pool = getAddress(d.facilitator);
  } else {
    throw new ZkPayError("invalid_argument", "name the pool: pool (address) or network (a deployment record)");
  }
  let registry: SettlementRegistry | undefined;
  let discovery: DiscoveryCatalog | undefined;
  let redisClose: (() => Promise<unknown>) | undefined;
  if (config.redisUrl) {
    const { Redis } = await import("ioredis");
    const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 2, lazyConnect: true });
    await redis.connect().catch((err: unknown) => {
      throw new ZkPayError("rpc_error", `cannot reach Redis at ${config.redisUrl}: ${(err as Error).message}`);
    });
    registry = new RedisSettlementRegistry(redis);
    // One bazaar catalogue for every instance behind the URL.
    discovery = new RedisDiscoveryCatalog(redis);
    redisClose = () => redis.quit();
  }
  const { vkey, vkeySha256 } = loadVerificationKey();
  const store = new ServiceStore(config.database);
  const gas = gasPolicyOf(config);
  const service = new FacilitatorService({
    publicClient,
    account,
    feeRecipient: config.relayer.feeRecipient ? getAddress(config.relayer.feeRecipient) : undefined,
    pool: { chainId, facilitator: pool },
    vkey,
    vkeySha256,
    store,
    gas,
    fees: {
      minFee: config.fee.min,
      nativePrice: config.fee.nativePrice,
      gasPerPayment: config.fee.gasPerPayment,
      marginBps: config.fee.marginBps,
    },
    batch: config.batch,
    minConfirmations,
    registry,
    discovery,
    instanceId: config.instanceId,
    log,
    pollMs: config.pollMs,
  });
  try {
    await service.start();
  } catch (err) {
    store.close();
    await redisClose?.();
    throw err;
  }
  const server = await startFacilitatorServer(service, {
    host: config.host,
    port: config.port,
    apiKeys: config.apiKeys,
    limits: config.limits,
    log,
  });
  let closing: Promise<boolean> | undefined;
  return {
    service,
    server,
    url: server.url,
    relayer: account.address,
    /** Graceful shutdown: refuse new work, finish settlements in flight, close the database. */
    close(timeoutMs = config.shutdownTimeoutMs): Promise<boolean> {
      closing ??= (async () => {
        const drained = await server.close(timeoutMs);
        await redisClose?.().catch(() => {});
        return drained;
      })();
      return closing;
    },
  };
}

/** A facilitator service started by `runFacilitator`: its service, server and `close`. */
export type RunningFacilitator = Awaited<ReturnType<typeof runFacilitator>>;
