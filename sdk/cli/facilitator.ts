/**
 * `402zk facilitator`: the non-custodial facilitator and relayer service (402zk/service)
 * from the command line. Configuration: a JSON file (--config or $ZK402_FACILITATOR_CONFIG),
 * then the environment, then these flags; the relayer key from $ZK402_RELAYER_KEY (or the
 * global --private-key / $ZK402_PRIVATE_KEY), or a Hardhat keystore (--keystore-key).
 * Logs are JSON lines on stdout. SIGINT/SIGTERM: stop accepting, finish settlements in
 * flight (at most shutdownTimeoutMs), exit.
 */
import type { Command } from "commander";

import { defaultRpc, type GlobalOptions } from "./context.js";

/** Options of the facilitator command. */
interface FacilitatorFlags {
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
}

/** Registers `facilitator` on the program; `onServe` waits for a signal and then runs `close`. */
export function registerFacilitatorCommand(
  program: Command,
  onServe: (close: () => Promise<void>) => Promise<void>,
): void {
  program
    .command("facilitator")
    .description(
      "run the 402zk facilitator + relayer service: x402 POST /verify, POST /settle, GET /supported, POST /relay, /health, /metrics",
    )
    .option("--config <file>", "JSON config file (default: $ZK402_FACILITATOR_CONFIG)")
    .option("--host <host>", "interface to listen on (default 127.0.0.1)")
    .option("--port <port>", "port, 0 = random (default 4022)")
    .option("--db <file>", "SQLite database (default ./402zk-facilitator.sqlite)")
    .option("--pool <address>", "pool (Facilitator contract) address, instead of the --network deployment record")
    .option("--fee <units>", "smallest relayer fee, token base units (default 0)")
    .option(
      "--native-price <units>",
      "price of 1 ETH in token base units: the fee then covers gas, checked per transaction",
    )
    .option("--max-fee-gwei <gwei>", "cap on maxFeePerGas (default 50)")
    .option("--batch-window <ms>", "payments within this window share one payBatch (default 50)")
    .option("--batch-max <n>", "most payments per payBatch, 1 = no batching (default 16)")
    .option("--redis <url>", "Redis shared by several instances (default: $ZK402_REDIS_URL)")
    .option("--keystore-key <name>", "relayer key from the Hardhat keystore (password in $ZK402_KEYSTORE_PASSWORD)")
    .option("--keystore-path <file>", "Hardhat keystore file (default: Hardhat's own)")
    .option("--log-level <level>", "debug, info, warn or error (default info)")
    .option("--drain-timeout <seconds>", "on SIGINT/SIGTERM, how long settlements in flight may take")
    .action(async (o: FacilitatorFlags, cmd: Command) => {
      // Loaded here: the rest of the CLI does not pay for the service's modules.
      const { loadServiceConfig, runFacilitator } = await import("../service/index.js");
      const g = cmd.optsWithGlobals() as GlobalOptions;
      const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
      const env = { ...process.env };
      // The relayer key: $ZK402_RELAYER_KEY, else the CLI's EOA.
      env.ZK402_RELAYER_KEY ??= g.privateKey ?? process.env.ZK402_PRIVATE_KEY;
      const networkExplicit = cmd.getOptionValueSourceWithGlobals?.("network") !== "default";
      const fileOrEnv = loadServiceConfigSafe(loadServiceConfig, o.config, env);
      const config = loadServiceConfig({
        file: o.config,
        env,
        overrides: {
          rpcUrl: g.rpc ?? fileOrEnv?.rpcUrl ?? defaultRpc(g.network ?? "localhost", env),
          pool: o.pool,
          network: o.pool || (!networkExplicit && (fileOrEnv?.pool || fileOrEnv?.network)) ? undefined : g.network,
          deploymentsDir: g.deployments,
          host: o.host,
          port: num(o.port),
          database: o.db,
          fee:
            o.fee !== undefined || o.nativePrice !== undefined ? { min: o.fee, nativePrice: o.nativePrice } : undefined,
          gas: o.maxFeeGwei !== undefined ? { maxFeePerGasGwei: num(o.maxFeeGwei) } : undefined,
          batch:
            o.batchWindow !== undefined || o.batchMax !== undefined
              ? { windowMs: num(o.batchWindow), maxSize: num(o.batchMax) }
              : undefined,
          redisUrl: o.redis,
          relayer: o.keystoreKey ? { keystore: { key: o.keystoreKey, path: o.keystorePath } } : undefined,
          logLevel: o.logLevel,
          shutdownTimeoutMs: o.drainTimeout === undefined ? undefined : Number(o.drainTimeout) * 1000,
        },
      });
      const running = await runFacilitator(config, { env });
      process.stderr.write(
        `402zk facilitator on ${running.url} (relayer ${running.relayer}, fee ${running.service.fees.fee}, ${running.service.network})\n`,
      );
      await onServe(async () => {
        await running.close();
      });
    });
}

const UNSET = "http://rpc-url-unset.invalid";

/** The file + environment part of the config, if it parses on its own (to tell what the flags must fill). */
function loadServiceConfigSafe(
  load: (o: { file?: string; env?: NodeJS.ProcessEnv }) => { rpcUrl: string; pool?: string; network?: string },
  file: string | undefined,
  env: NodeJS.ProcessEnv,
): { rpcUrl?: string; pool?: string; network?: string } | undefined {
  try {
    const c = load({ file, env: { ...env, ZK402_RPC_URL: env.ZK402_RPC_URL ?? UNSET } });
    return { ...c, rpcUrl: c.rpcUrl === UNSET ? undefined : c.rpcUrl };
  } catch {
    return undefined;
  }
}
