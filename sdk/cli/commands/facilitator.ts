/**
 * `402zk facilitator`: runs the facilitator + relayer service (402zk/service). Flags,
 * environment, file and defaults are merged by facilitatorConfig (../facilitator.ts);
 * the service module is loaded only when this command runs.
 */
import type { Command } from "commander";

import type { CommandEnv } from "../command.js";
import type { GlobalOptions } from "../context.js";
import { facilitatorConfig, type FacilitatorFlags } from "../facilitator.js";

/** Registers `facilitator` on the program. */
export function register(program: Command, env: CommandEnv): void {
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
    .option("--fee <amount>", 'smallest relayer fee, in tokens ("0.001") or base units ("1000u") (default 0)')
    .option(
      "--native-price <amount>",
      'price of 1 ETH in tokens ("3000") or base units ("3000000000u"): the fee then covers gas, checked per transaction',
    )
    .option("--max-fee-gwei <gwei>", "cap on maxFeePerGas (default 50)")
    .option("--batch-window <ms>", "payments within this window share one payBatch (default 50)")
    .option("--batch-max <n>", "most payments per payBatch, 1 = no batching (default 16)")
    .option("--redis <url>", "Redis shared by several instances (default: $ZK402_REDIS_URL)")
    .option("--keystore-key <name>", "relayer key from the Hardhat keystore (password in $ZK402_KEYSTORE_PASSWORD)")
    .option("--keystore-path <file>", "Hardhat keystore file (default: Hardhat's own)")
    .option("--log-level <level>", "debug, info, warn or error (default info)")
    .option("--drain-timeout <seconds>", "on SIGINT/SIGTERM, how long settlements in flight may take")
    .option(
      "--trusted-proxies <list>",
      "reverse proxies in front of the service, comma-separated addresses or CIDR blocks (127.0.0.1,10.0.0.0/8): " +
        "the caller is the right-most X-Forwarded-For entry not in it (default none: the socket peer)",
    )
    .action(async (o: FacilitatorFlags, cmd: Command) => {
      const { runFacilitator } = await import("../../service/index.js");
      const g = cmd.optsWithGlobals() as GlobalOptions;
      const explicit = { network: cmd.getOptionValueSourceWithGlobals?.("network") === "cli" };
      const { config, env: serviceEnv } = await facilitatorConfig(o, g, explicit, process.env);
      const running = await runFacilitator(config, { env: serviceEnv });
      process.stderr.write(
        `402zk facilitator on ${running.url} (relayer ${running.relayer}, fee ${running.service.fees.fee} base units, ${running.service.network})\n`,
      );
      await env.onServe(async () => {
        await running.close();
      });
    });
}
