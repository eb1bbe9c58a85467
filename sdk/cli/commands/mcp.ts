/**
 * `402zk mcp`: an MCP server on stdio (createPayerMcpServer in ../../mcp/) whose tools pay
 * 402zk APIs from this wallet within `--max-per-call` / `--max-per-day`. stdout is the
 * JSON-RPC channel: everything else (sync and proving progress, notes) goes to stderr.
 */
import type { Command } from "commander";

import { ZkPayError } from "../../core/errors.js";
import { SPEND_FILE } from "../../mcp/spend.js";
import { formatAmount, parseAmount } from "../amount.js";
import type { CommandEnv } from "../command.js";
import { createContext, type GlobalOptions } from "../context.js";
import { info } from "../output.js";

/** Flags of `mcp`. */
interface McpFlags {
  maxPerCall: string;
  maxPerDay: string;
  allowDeposit?: boolean;
  maxDeposit?: string;
  timeout: string;
}

/** Registers `mcp` on the program. */
export function register(program: Command, env: CommandEnv): void {
  program
    .command("mcp")
    .description(
      "run an MCP server on stdio: tools fetch_paid, balance, credentials, deposit let an agent pay 402zk APIs from this wallet, within limits it cannot change",
    )
    .option(
      "--max-per-call <amount>",
      "the most one payment may cost, price + relayer fee, in tokens (env ZK402_MCP_MAX_PER_CALL)",
      process.env.ZK402_MCP_MAX_PER_CALL ?? "0.10",
    )
    .option(
      "--max-per-day <amount>",
      `the most the payments of one UTC day may cost together, kept in <wallet>/${SPEND_FILE} across restarts (env ZK402_MCP_MAX_PER_DAY)`,
      process.env.ZK402_MCP_MAX_PER_DAY ?? "1",
    )
    .option("--allow-deposit", "enable the deposit tool (default: disabled); it deposits from the EOA of --private-key")
    .option("--max-deposit <amount>", "with --allow-deposit: the most one deposit may move (default: no limit)")
    .option("--timeout <seconds>", "give up one paid exchange after this long", "120")
    .addHelpText(
      "after",
      `
The limits are in token units and are fixed for the life of the server: no tool can change
them. A payment above --max-per-call, or one that would take the UTC day's total above
--max-per-day, is refused before anything is proven or sent. Tools never take or return a
seed, a private key or a viewing key: the wallet comes from --wallet / ZK402_SEED and the
EOA from ZK402_PRIVATE_KEY, as for every other command.

An MCP client's configuration, e.g.:
  {"command": "npx", "args": ["402zk", "--network", "base-sepolia", "mcp", "--max-per-call", "0.05"],
   "env": {"BASE_SEPOLIA_RPC_URL": "https://..."}}`,
    )
    .action(async (o: McpFlags, cmd: Command) => {
      // stdout carries JSON-RPC only: anything a library logs goes to stderr.
      console.log = console.error;
      console.info = console.error;
      console.debug = console.error;
      // First, before any configuration is read. Loaded here, not with the other commands:
      // only `mcp` needs the MCP SDK, an optional peer of 402zk (it brings an HTTP stack
      // that apps which never run `mcp` do not need).
      const { StdioServerTransport } = await import("@modelcontextprotocol/sdk/server/stdio.js").catch(
        (err: unknown) => {
          throw new ZkPayError(
            "dependency_missing",
            "402zk mcp needs the MCP SDK, an optional peer of 402zk: npm install @modelcontextprotocol/sdk@^1.32",
            { cause: (err as Error).message },
          );
        },
      );
      const { createPayerMcpServer } = await import("../../mcp/server.js");
      const opts = cmd.optsWithGlobals() as GlobalOptions;
      // The configuration is checked once at start (network, deployment, amounts).
      const ctx = env.ctxOf(cmd);
      const d = ctx.decimals;
      const maxPerCall = parseAmount(o.maxPerCall, d, "--max-per-call");
      const maxPerDay = parseAmount(o.maxPerDay, d, "--max-per-day");
      const maxDeposit = o.maxDeposit === undefined ? undefined : parseAmount(o.maxDeposit, d, "--max-deposit");
      if (maxDeposit !== undefined && !o.allowDeposit)
        throw new ZkPayError("invalid_argument", "--max-deposit applies with --allow-deposit only");
      const timeoutS = Number(o.timeout);
      if (!(Number.isFinite(timeoutS) && timeoutS > 0))
        throw new ZkPayError("invalid_argument", "--timeout must be a positive number of seconds");
      const server = createPayerMcpServer({
        context: () => createContext(opts),
        limits: { maxPerCall, maxPerDay },
        deposit: { allowed: o.allowDeposit === true, max: maxDeposit },
        timeoutMs: timeoutS * 1000,
      });
      const t = (v: bigint) => `${formatAmount(v, d)} ${ctx.symbol}`;
      info(
        `402zk mcp on stdio: ${ctx.network}, wallet ${ctx.walletDir}; limits ${t(maxPerCall)} per call, ${t(maxPerDay)} per UTC day; ` +
          `deposit ${o.allowDeposit ? (maxDeposit !== undefined ? `up to ${t(maxDeposit)}` : "enabled") : "disabled"}`,
      );
      const transport = new StdioServerTransport();
      const closed = new Promise<void>((resolve) => {
        transport.onclose = () => resolve();
        process.stdin.once("end", () => resolve());
      });
      await server.connect(transport);
      // Serve until the client closes stdin, or a signal; then stop.
      await Promise.race([closed, env.onServe(async () => {})]);
      await server.close().catch(() => {});
    });
}
