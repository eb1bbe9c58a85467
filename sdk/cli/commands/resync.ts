/**
 * `402zk resync`: drops the cached tree and notes and rebuilds them from the seed and
 * the chain (after a chain reset or a reorg).
 */
import type { Command } from "commander";

import { formatAmount } from "../amount.js";
import type { CommandEnv } from "../command.js";
import { ms, out } from "../output.js";

/** Registers `resync` on the program. */
export function register(program: Command, env: CommandEnv): void {
  program
    .command("resync")
    .description(
      "discard the cached tree and notes (notes.json) and rebuild them from the seed and the chain (after a chain reset or a reorg)",
    )
    .action(async (_o: unknown, cmd: Command) => {
      const ctx = env.ctxOf(cmd);
      const wallet = await ctx.openWallet();
      const t0 = performance.now();
      await wallet.resync();
      const snap = wallet.snapshot();
      out(
        `resynced from block ${ctx.deployment.deploymentBlock} to ${snap.syncedBlock} (${ms(performance.now() - t0)}): ${wallet.treeSize} notes in the tree, ${snap.notes.filter((n) => !n.spent).length} unspent of yours`,
      );
      out(`private balance ${formatAmount(wallet.balance(), ctx.decimals)} ${ctx.symbol}`);
    });
}
