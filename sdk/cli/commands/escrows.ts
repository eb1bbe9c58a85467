/**
 * `402zk escrows`: lists this wallet's escrowed payments (proof before pay, `402zk infer`)
 * and refunds, into a private note, every one still held after its deadline: what an API
 * that never delivered (crashed, could not prove in time) leaves behind. A wallet restored
 * from its seed finds its escrows again from the chain.
 */
import type { Command } from "commander";

import { formatAmount } from "../amount.js";
import type { CommandEnv } from "../command.js";
import { clock, out } from "../output.js";

/** Registers `escrows` on the program. */
export function register(program: Command, env: CommandEnv): void {
  program
    .command("escrows")
    .description("list this wallet's escrowed payments, and refund every one still held after its deadline")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const ctx = env.ctxOf(cmd);
      const wallet = await ctx.openWallet();
      await wallet.sync();
      const outcomes = await wallet.followEscrows();
      if (outcomes.some((x) => x.refundTx)) await wallet.sync();
      const byId = new Map(outcomes.map((x) => [x.id.toLowerCase(), x]));
      const rows = wallet.escrows().map((e) => {
        const now = byId.get(e.id.toLowerCase());
        return {
          id: e.id,
          payTo: e.payTo,
          amount: e.amount,
          deadline: Number(e.statement.deadline),
          status: e.status,
          refundTx: now?.refundTx,
          error: now?.error ? { reason: now.error.reason, message: now.error.message } : undefined,
        };
      });
      if (o.json) {
        out(JSON.stringify({ ok: true, escrows: rows, private: wallet.balance().toString() }));
        return;
      }
      if (rows.length === 0) out("no escrowed payments");
      for (const r of rows) {
        out(
          `${r.id.slice(0, 10)}…  ${formatAmount(BigInt(r.amount), ctx.decimals)} ${ctx.symbol} to ${r.payTo}  ${r.status}` +
            (r.status === "held" ? ` (refundable after ${clock(r.deadline)})` : "") +
            (r.refundTx ? `  refunded now: ${ctx.tx(r.refundTx)}` : "") +
            (r.error ? `  refund failed: ${r.error.reason}: ${r.error.message}` : ""),
        );
      }
      out(`private balance ${formatAmount(wallet.balance(), ctx.decimals)} ${ctx.symbol}`);
    });
}
