/**
 * `402zk withdraw <amount> --to <address>` (or `--all`): private funds to a public address,
 * proved like a payment and submitted from the EOA, or by a relay (--relay). A payment
 * spends one note, so an amount no single note covers is a chain of withdrawals, one note
 * per transaction, largest first; each transaction is printed as it is mined.
 */
import type { Command } from "commander";
import { zeroAddress } from "viem";

import { RelayClient } from "../../client/relay.js";
import { ZkPayError, isZkPayError } from "../../core/errors.js";
import { formatAmount, parseAmount } from "../amount.js";
import { address } from "../args.js";
import type { CommandEnv } from "../command.js";
import { CliError, EXIT, classify } from "../errors.js";
import { info, ms, out } from "../output.js";
import { progressBar, type ProgressIndicator } from "../progress.js";

/** Flags of `withdraw`. */
interface WithdrawFlags {
  to: string;
  all?: boolean;
  relay?: string;
  maxFee?: string;
}

/** Registers `withdraw` on the program. */
export function register(program: Command, env: CommandEnv): void {
  program
    .command("withdraw")
    .description(
      "send private funds to a public address: any amount up to the balance (one transaction per note when no single note covers it), or --all",
    )
    .argument("[amount]", 'amount in tokens, e.g. "0.5" (or --all)')
    .requiredOption("--to <address>", "recipient")
    .option("--all", "withdraw everything: one transaction per note (empties the wallet)")
    .option("--relay <url>", "a 402zk facilitator submits the withdrawal for its fee: no gas, no EOA of yours on chain")
    .option(
      "--max-fee <amount>",
      "with --relay: largest fee accepted per transaction (default: at most the amount, and at most 0.1 token)",
    )
    .action(async (amountText: string | undefined, o: WithdrawFlags, cmd: Command) => {
      const ctx = env.ctxOf(cmd);
      if (o.all && amountText !== undefined)
        throw new ZkPayError("invalid_argument", "give an amount or --all, not both");
      if (!o.all && amountText === undefined)
        throw new ZkPayError("invalid_argument", "give an amount to withdraw, or --all to empty the wallet");
      const to = address(o.to, "--to");
      // The pool reads a zero payee as a shielded payment: refuse before proving.
      if (to === zeroAddress)
        throw new ZkPayError(
          "invalid_argument",
          "--to is the zero address: the pool refuses it (tokens sent there are lost)",
        );
      const d = ctx.decimals;
      const tokens = (v: bigint) => `${formatAmount(v, d)} ${ctx.symbol}`;
      const amount = amountText === undefined ? undefined : parseAmount(amountText, d);
      if (amount === 0n) throw new ZkPayError("invalid_argument", "amount must be positive");
      const maxFee = o.maxFee === undefined ? undefined : parseAmount(o.maxFee, d, "--max-fee");
      const relay = o.relay ? new RelayClient({ url: o.relay }) : undefined;
      const submitter = relay ? `the relay ${o.relay}` : ctx.requireAccount("withdraw").account.address;
      const wallet = await ctx.openWallet();
      // One bar per transaction: a chained withdrawal proves once per note.
      let bar: ProgressIndicator = progressBar({ label: "proving" });
      const t0 = performance.now();
      let last = t0;
      const landed: string[] = [];
      const common = {
        to,
        relay,
        maxFee,
        onProgress: (p: Parameters<ProgressIndicator["update"]>[0]) => bar.update(p),
        onTransaction: (t: { hash: string; amount: bigint; fee: bigint; index: number; of: number }) => {
          bar.end();
          const now = performance.now();
          landed.push(t.hash);
          // Printed as it lands: if a later transaction fails, the earlier ones are on screen.
          out(
            `tx ${t.index}/${t.of}: ${tokens(t.amount)} to ${to}${t.fee > 0n ? ` (+ fee ${tokens(t.fee)})` : ""}  ${ctx.tx(t.hash)} (${ms(now - last)})`,
          );
          last = now;
          if (t.index < t.of) bar = progressBar({ label: `proving ${t.index + 1}/${t.of}` });
        },
      };
      let r;
      try {
        r = amount === undefined ? await wallet.withdrawAll(common) : await wallet.withdraw({ ...common, amount });
      } catch (err) {
        if (isZkPayError(err, "insufficient_private_balance") && landed.length === 0)
          throw new CliError(EXIT.refused, err.reason, err.message, { cause: err });
        // Sent, then failed (reverted, or its receipt never came): name every transaction sent.
        const sent = ctx
          .sentTransactions()
          .filter((s) => s.at >= t0)
          .map((s) => s.hash)
          .filter((h) => !landed.includes(h));
        if (landed.length > 0 || (sent.length > 0 && !relay)) {
          const c = classify(err);
          const parts = [
            landed.length > 0 ? `${landed.length} withdrawal transaction(s) went through: ${landed.join(", ")}` : "",
            sent.length > 0 && !relay ? `then sent ${sent.map((h) => ctx.tx(h)).join(", ")}` : "",
          ].filter(Boolean);
          throw new CliError(c.code, c.reason, `${c.message} (${parts.join("; ")})`, { cause: err });
        }
        throw err;
      } finally {
        bar.end();
      }
      out(
        `withdrew ${tokens(r.amount)} to ${to} in ${r.transactions.length} transaction${r.transactions.length === 1 ? "" : "s"}${r.fees > 0n ? ` (relayer fees ${tokens(r.fees)})` : ""}`,
      );
      out(`tx ${ctx.tx(r.hash)} (${ms(performance.now() - t0)}), submitted by ${submitter}`);
      out(`private balance ${tokens(wallet.balance())}`);
      info(
        relay
          ? "note: a withdrawal is public (recipient, amount); the relay sent it, so no address of yours is on chain."
          : "note: a withdrawal is public (recipient, amount) and its sender is your EOA; the notes it spent stay unlinked.",
      );
    });
}
