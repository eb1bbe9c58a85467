/**
 * `402zk`: a command-line private wallet and example paid API for 402zk.
 *
 *   402zk --network localhost deposit 2
 *   402zk balance
 *   402zk pay http://127.0.0.1:4021/weather
 *   402zk withdraw 0.5 --to 0x...        (or --all)
 *   402zk address                        (the shielded address an API is paid at; --viewing-key for an auditor)
 *   402zk audit --viewing-key zk402view1...
 *   402zk receipt <id> --pay-to 0x... --amount 0.01 --condition 0x...
 *   402zk serve --port 4021 --price 0.01
 *   402zk mcp --max-per-call 0.05 --max-per-day 1   (an MCP server on stdio for agents)
 *
 * Run `402zk --help` for the options and the exit codes.
 */
import { createRequire } from "node:module";

import { Command, CommanderError, Option } from "commander";

import { shutdownProver } from "../core/prover.js";
import type { CommandEnv, RegisterCommand } from "./command.js";
import type { sessionOffer as SessionOfferFn } from "./commands/serve.js";
import { createContext, type CliContext, type GlobalOptions } from "./context.js";
import { CliError, EXIT, EXIT_CODES_HELP, classify } from "./errors.js";
import { waitForSignal } from "./signals.js";

// Moved beside the commands that use them; still exported here for existing importers.
export { requestInit } from "./request.js";

/** `sessionOffer` of `402zk serve` (loaded on demand, like the commands). */
export async function sessionOffer(
  ...args: Parameters<typeof SessionOfferFn>
): Promise<ReturnType<typeof SessionOfferFn>> {
  return (await import("./commands/serve.js")).sessionOffer(...args);
}

/**
 * The commands, in the order `402zk --help` lists them, each loaded only when needed: a run
 * of one command imports that command's module alone (each pulls in much of the SDK; loading
 * all of them cost ~1.5 s of CPU per start), `--help` or an unknown command loads them all.
 */
const COMMANDS: Readonly<Record<string, () => Promise<{ register: RegisterCommand }>>> = {
  deposit: () => import("./commands/deposit.js"),
  balance: () => import("./commands/balance.js"),
  resync: () => import("./commands/resync.js"),
  address: () => import("./commands/address.js"),
  pay: () => import("./commands/pay.js"),
  withdraw: () => import("./commands/withdraw.js"),
  receipt: () => import("./commands/receipt.js"),
  audit: () => import("./commands/audit.js"),
  serve: () => import("./commands/serve.js"),
  facilitator: () => import("./commands/facilitator.js"),
  credentials: () => import("./commands/credentials.js"),
  infer: () => import("./commands/infer.js"),
  escrows: () => import("./commands/escrows.js"),
  issuer: () => import("./commands/issuer.js"),
  identity: () => import("./commands/identity.js"),
  mcp: () => import("./commands/mcp.js"),
  doctor: () => import("./commands/doctor.js"),
};

/** Global options that take a value (`--network x`), to find the command name in argv. */
const VALUE_OPTIONS = new Set([
  "--network",
  "--rpc",
  "--wallet",
  "--private-key",
  "--mode",
  "--log-chunk",
  "--deployments",
  "--lock-timeout",
]);

/**
 * The command `argv` runs (its first word that is neither an option nor a global option's
 * value), when it is one of the CLI's; undefined for `--help`, `help`, `--version` or a typo
 * (all commands are then registered, so help and "unknown command" stay complete).
 */
export function commandOf(argv: readonly string[]): string | undefined {
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") return undefined;
    if (a.startsWith("-")) {
      if (VALUE_OPTIONS.has(a)) i++;
      continue;
    }
    return Object.hasOwn(COMMANDS, a) ? a : undefined;
  }
  return undefined;
}

function packageVersion(): string {
  try {
    return (createRequire(import.meta.url)("../../package.json") as { version: string }).version;
  } catch {
    return "unknown";
  }
}

/**
 * Builds the commander program: the global options, the help text, and the commands of
 * commands/ (every one, or only `only`, which is all a run of that command needs). `onServe` is how serving commands wait (default: until a signal); each
 * context a command creates is pushed on `contexts`, for the caller to release.
 *
 * @example
 * await (await buildProgram()).parseAsync(["node", "402zk", "balance"]);
 */
export async function buildProgram(
  onServe: (close: () => Promise<void>) => Promise<void> = waitForSignal,
  contexts: CliContext[] = [],
  only?: string,
): Promise<Command> {
  const program = new Command("402zk");
  program
    .version(packageVersion(), "-V, --version")
    .description("Private x402 payments: a shielded-pool wallet (deposit, pay, withdraw) and an example paid API.")
    .option(
      "--network <name>",
      "network: any record <name>.json in the deployments directory (localhost, hardhat, base-sepolia, base, or your own)",
      process.env.ZK402_NETWORK ?? "localhost",
    )
    .option(
      "--rpc <url>",
      "JSON-RPC URL (default: http://127.0.0.1:8545 locally, $BASE_SEPOLIA_RPC_URL / $BASE_RPC_URL on Base)",
    )
    .option("--wallet <dir>", "wallet directory holding seed and notes.json (default: ~/.402zk/<network>)")
    .option(
      "--private-key <hex>",
      "EOA for gas and deposits (default: $ZK402_PRIVATE_KEY; prefer the env: argv is visible to other users)",
    )
    .addOption(
      new Option(
        "--mode <mode>",
        "settlement of payments: server (the API's relayer submits) or client (your EOA submits)",
      )
        .choices(["server", "client"])
        .default("server"),
    )
    .option("--log-chunk <blocks>", "blocks per eth_getLogs request while syncing (lower it for capped public RPCs)")
    .option(
      "--deployments <dir>",
      "directory of deployment records <network>.json (default: $ZK402_DEPLOYMENTS_DIR, else the package's deployments/)",
    )
    .option(
      "--lock-timeout <seconds>",
      "how long to wait for another 402zk command using the same wallet folder",
      process.env.ZK402_LOCK_TIMEOUT ?? "120",
    )
    .option("-v, --verbose", "print stack traces on errors")
    .addHelpText(
      "after",
      `
Environment:
  ZK402_SEED           wallet seed (0x + 64 hex digits); else <wallet>/seed, created with mode 0600
                       (serve --shielded is paid at this seed's shielded address)
  ZK402_PRIVATE_KEY    EOA private key (same as --private-key)
  ZK402_NETWORK        default --network
  ZK402_DEPLOYMENTS_DIR  default --deployments
  ZK402_LOCK_TIMEOUT   default --lock-timeout (seconds)
  ZK402_CHALLENGE_SECRET  challenge HMAC key of "serve" (share it between instances)

${EXIT_CODES_HELP}`,
    )
    .showHelpAfterError("(run 402zk --help for usage)")
    .exitOverride();

  const ctxOf = (cmd: Command): CliContext => {
    const ctx = createContext(cmd.optsWithGlobals() as GlobalOptions);
    contexts.push(ctx);
    return ctx;
  };

  const env: CommandEnv = { ctxOf, onServe };
  const names = only !== undefined && Object.hasOwn(COMMANDS, only) ? [only] : Object.keys(COMMANDS);
  const modules = await Promise.all(names.map((n) => COMMANDS[n]!()));
  for (const m of modules) m.register(program, env);
  return program;
}

/**
 * Runs the CLI and returns its exit code (never throws, never exits the process).
 *
 * @example
 * process.exit(await run(process.argv));
 */
export async function run(argv: string[] = process.argv): Promise<number> {
  const contexts: CliContext[] = [];
  const verbose = argv.includes("--verbose") || argv.includes("-v");
  try {
    const program = await buildProgram(waitForSignal, contexts, commandOf(argv));
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; usage errors were already printed by commander.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    const c = classify(err);
    process.stderr.write(`error: ${c.reason}: ${c.message}\n`);
    if (argv.includes("--json") && !(err instanceof CliError && err.reported)) {
      process.stdout.write(
        `${JSON.stringify({ ok: false, exitCode: c.code, error: { reason: c.reason, message: c.message } })}\n`,
      );
    }
    if (verbose && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    return c.code;
  } finally {
    for (const ctx of contexts) ctx.releaseWallet();
    await shutdownProver().catch(() => {});
  }
}
