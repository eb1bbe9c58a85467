/**
 * `402zk doctor`: checks the network's deployment from here (RPC, chain, trusted setup,
 * contracts, verification key, token domain, ETH for gas, Redis); the checks are in ../doctor.ts.
 */
import type { Command } from "commander";

import { address } from "../args.js";
import type { CommandEnv } from "../command.js";
import { loadAccount, type GlobalOptions } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { out } from "../output.js";

/** Registers `doctor` on the program. */
export function register(program: Command, _env: CommandEnv): void {
  program
    .command("doctor")
    .description(
      "check the network's deployment from here: RPC, chain id, trusted setup, contract code, verification key, token domain, relayer or EOA ETH, Redis",
    )
    .option("--relayer <address>", "relayer whose ETH balance to check (default: your EOA's, if any, as a payer)")
    .option("--redis <url>", "Redis URL to PING (default: $REDIS_URL)")
    .option("--strict", "exit 1 on warnings too (a development setup on a non-local chain)")
    .option("--json", "print the checks as JSON")
    .action(async (o: { relayer?: string; redis?: string; strict?: boolean; json?: boolean }, cmd: Command) => {
      const { doctorVerdict, formatDoctor, runDoctor } = await import("../doctor.js");
      const g = cmd.optsWithGlobals() as GlobalOptions;
      const checks = await runDoctor({
        network: g.network,
        rpc: g.rpc,
        deployments: g.deployments,
        relayer: o.relayer ? address(o.relayer, "--relayer") : undefined,
        eoa: o.relayer ? undefined : loadAccount(g)?.address,
        redis: o.redis ?? process.env.REDIS_URL,
      });
      const { ok, failed } = doctorVerdict(checks, o.strict);
      out(o.json ? JSON.stringify({ ok, exitCode: ok ? EXIT.ok : EXIT.usage, checks }) : formatDoctor(checks));
      if (!ok) {
        const err = new CliError(EXIT.usage, "doctor_failed", `${failed.length} check(s) failed: ${failed.join(", ")}`);
        err.reported = true;
        throw err;
      }
    });
}
