/**
 * `402zk deposit <amount>`: tokens from the EOA into a new private note (approve + deposit,
 * EIP-2612 permit or EIP-3009 authorization).
 */
import type { Command } from "commander";
import type { Address } from "viem";

import type { DepositMethod } from "../../client/wallet.js";
import { erc20Abi } from "../../core/abi.js";
import { ZkPayError } from "../../core/errors.js";
import { formatAmount, parseAmount } from "../amount.js";
import type { CommandEnv } from "../command.js";
import type { CliContext } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { info, ms, out } from "../output.js";

/**
 * Deposits `value` base units from the context's EOA into a new private note, after
 * checking that the EOA holds them (`insufficient_public_balance`): the engine of
 * `402zk deposit`, also the `deposit` tool of `402zk mcp`.
 *
 * @example
 * const { result, account } = await depositFromEoa(ctx, 2_000_000n, "approve");
 * console.log(result.hash, result.leafIndex);
 */
export async function depositFromEoa(ctx: CliContext, value: bigint, method: DepositMethod = "approve") {
  const { account } = ctx.requireAccount("deposit");
  if (value === 0n) throw new ZkPayError("invalid_argument", "amount must be positive");
  const publicBalance = await ctx.publicClient.readContract({
    address: ctx.deployment.token as Address,
    abi: erc20Abi,
    functionName: "balanceOf",
    args: [account.address],
  });
  if (publicBalance < value) {
    throw new CliError(
      EXIT.refused,
      "insufficient_public_balance",
      `${account.address} holds ${formatAmount(publicBalance, ctx.decimals)} ${ctx.symbol}, cannot deposit ${formatAmount(value, ctx.decimals)}`,
    );
  }
  const wallet = await ctx.openWallet();
  const result = await wallet.deposit(value, { method });
  return { result, account, wallet };
}

/** Registers `deposit` on the program. */
export function register(program: Command, env: CommandEnv): void {
  program
    .command("deposit")
    .description("move tokens from your EOA into a new private note")
    .argument("<amount>", 'amount in tokens, e.g. "2" or "0.5"')
    .option(
      "--method <method>",
      "approve (approve + deposit, 2 txs), permit (EIP-2612, 1 tx) or authorization (EIP-3009, 1 tx)",
      "approve",
    )
    .action(async (amountText: string, o: { method: string }, cmd: Command) => {
      if (!["approve", "permit", "authorization"].includes(o.method)) {
        throw new ZkPayError("invalid_argument", `--method must be approve, permit or authorization, not ${o.method}`);
      }
      const ctx = env.ctxOf(cmd);
      ctx.requireAccount("deposit");
      const value = parseAmount(amountText, ctx.decimals);
      const t0 = performance.now();
      const { result: r, account, wallet } = await depositFromEoa(ctx, value, o.method as DepositMethod);
      out(
        `deposited ${formatAmount(value, ctx.decimals)} ${ctx.symbol} from ${account.address} into private note #${r.leafIndex}`,
      );
      out(`tx ${ctx.tx(r.hash)} (${ms(performance.now() - t0)})`);
      if (r.synced) out(`private balance ${formatAmount(wallet.balance(), ctx.decimals)} ${ctx.symbol}`);
      else
        info(
          `warning: ${r.warning?.reason ?? "sync_failed"}: ${r.warning?.message ?? "sync failed"}; the deposit is on chain, do not repeat it: run 402zk balance (or 402zk resync) to see it`,
        );
      info("note: deposits are public (depositor, amount); what stays private is which later payment spends them.");
    });
}
