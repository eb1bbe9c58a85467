/**
 * `402zk withdraw <amount> --to <address>`: private funds to a public address, proved
 * like a payment and submitted from the EOA, or by a relay (--relay).
 */
import type { Command } from "commander";
import { zeroAddress, type Hex } from "viem";

import { RelayClient } from "../../client/relay.js";
import { ZkPayError, isZkPayError } from "../../core/errors.js";
import { formatAmount, parseAmount } from "../amount.js";
import { address } from "../args.js";
import type { CommandEnv } from "../command.js";
import { CliError, EXIT, classify } from "../errors.js";
import { inTokens, info, ms, out } from "../output.js";
import { progressBar } from "../progress.js";

/** Registers `withdraw` on the program. */
export function register(program: Command, env: CommandEnv): void {
  program
    .command("withdraw")
    .description("send private funds to a public address (proved like a payment, submitted from your EOA)")
    .argument("<amount>", 'amount in tokens, e.g. "0.5"')
    .requiredOption("--to <address>", "recipient")
    .option("--relay <url>", "a 402zk facilitator submits the withdrawal for its fee: no gas, no EOA of yours on chain")
    .option(
      "--max-fee <amount>",
      "with --relay: largest fee accepted (default: at most the amount, and at most 0.1 token)",
    )
    .action(async (amountText: string, o: { to: string; relay?: string; maxFee?: string }, cmd: Command) => {
      const ctx = env.ctxOf(cmd);
      const to = address(o.to, "--to");
      // The pool reverts a zero payee: refuse before proving (and before spending gas on it).
      if (to === zeroAddress)
        throw new ZkPayError(
          "invalid_argument",
          "--to is the zero address: the pool refuses it (tokens sent there are lost)",
        );
      const amount = parseAmount(amountText, ctx.decimals);
      if (amount === 0n) throw new ZkPayError("invalid_argument", "amount must be positive");
      const maxFee = o.maxFee === undefined ? undefined : parseAmount(o.maxFee, ctx.decimals, "--max-fee");
      const relay = o.relay ? new RelayClient({ url: o.relay }) : undefined;
      const submitter = relay ? `the relay ${o.relay}` : ctx.requireAccount("withdraw").account.address;
      const wallet = await ctx.openWallet();
      const bar = progressBar({ label: "proving" });
      const t0 = performance.now();
      let hash: Hex;
      try {
        hash = await wallet.withdraw({ to, amount, onProgress: bar.update, relay, maxFee });
      } catch (err) {
        if (isZkPayError(err, "insufficient_private_balance"))
          throw new CliError(EXIT.refused, err.reason, inTokens(err, ctx), { cause: err });
        // Sent, then failed (reverted, or its receipt never came): name the transaction.
        const sent = ctx.sentTransactions().at(-1);
        if (sent && !relay && sent.at >= t0) {
          const c = classify(err);
          throw new CliError(c.code, c.reason, `${c.message} (withdrawal tx ${ctx.tx(sent.hash)})`, { cause: err });
        }
        throw err;
      } finally {
        bar.end();
      }
      out(`withdrew ${formatAmount(amount, ctx.decimals)} ${ctx.symbol} to ${to}`);
      out(`tx ${ctx.tx(hash)} (${ms(performance.now() - t0)}), submitted by ${submitter}`);
      out(`private balance ${formatAmount(wallet.balance(), ctx.decimals)} ${ctx.symbol}`);
      info(
        relay
          ? "note: a withdrawal is public (recipient, amount); the relay sent it, so no address of yours is on chain."
          : "note: a withdrawal is public (recipient, amount) and its sender is your EOA; the note it spent stays unlinked.",
      );
    });
}
