/**
 * `402zk balance`: syncs the wallet, then prints the private balance (notes, queued,
 * reserved by payments in flight), the EOA's public balance and the pool; or JSON.
 */
import type { Command } from "commander";
import type { Address } from "viem";

import { erc20Abi } from "../../core/abi.js";
import { caip2 } from "../../core/deployment.js";
import { formatAmount } from "../amount.js";
import type { CommandEnv } from "../command.js";
import { clock, out } from "../output.js";

/** Registers `balance` on the program. */
export function register(program: Command, env: CommandEnv): void {
  program
    .command("balance")
    .description("sync the wallet with the chain and show the private (and public) balance")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const ctx = env.ctxOf(cmd);
      const wallet = await ctx.openWallet();
      await wallet.sync();
      const snap = wallet.snapshot();
      const unspent = snap.notes.filter((n) => !n.spent && BigInt(n.value) > 0n);
      const pendingValue = snap.pending.reduce(
        (s, p) => s + BigInt(snap.notes.find((n) => n.nullifierHash === p.nullifierHash)?.value ?? "0"),
        0n,
      );
      const publicBalance = ctx.account
        ? await ctx.publicClient.readContract({
            address: ctx.deployment.token as Address,
            abi: erc20Abi,
            functionName: "balanceOf",
            args: [ctx.account.address],
          })
        : undefined;
      const d = ctx.decimals;
      if (o.json) {
        out(
          JSON.stringify({
            network: ctx.network,
            pool: ctx.deployment.facilitator,
            token: ctx.deployment.token,
            decimals: d,
            private: wallet.balance().toString(),
            reserved: pendingValue.toString(),
            reservations: snap.pending.map((p) => ({
              receiptId: `0x${BigInt(p.nullifierHash).toString(16).padStart(64, "0")}`,
              value: snap.notes.find((n) => n.nullifierHash === p.nullifierHash)?.value ?? "0",
              until: p.expiry,
              untilIso: new Date(p.expiry * 1000).toISOString(),
            })),
            notes: unspent.length,
            // Notes the pool has appended but not yet committed to a tree: part of
            // `private`, spendable once a batch or a commit includes them.
            queued: wallet
              .queuedNotes()
              .reduce((s, n) => s + BigInt(n.value), 0n)
              .toString(),
            pending: snap.pending.length,
            treeSize: wallet.treeSize,
            syncedBlock: snap.syncedBlock,
            eoa: ctx.account?.address,
            public: publicBalance?.toString(),
          }),
        );
        return;
      }
      out(
        `private balance  ${formatAmount(wallet.balance(), d)} ${ctx.symbol}  (${unspent.length} unspent note${unspent.length === 1 ? "" : "s"})`,
      );
      const queued = wallet.queuedNotes();
      if (queued.length > 0) {
        const v = queued.reduce((s, n) => s + BigInt(n.value), 0n);
        out(
          `queued           ${formatAmount(v, d)} ${ctx.symbol}  (${queued.length} note(s) appended but not yet committed to the tree: spendable after the pool's next batch or commit)`,
        );
      }
      if (snap.pending.length > 0) {
        const until = Math.max(...snap.pending.map((p) => p.expiry));
        out(
          `reserved         ${formatAmount(pendingValue, d)} ${ctx.symbol}  (${snap.pending.length} payment(s) in flight, released at ${clock(until)} unless their receipt appears on chain first)`,
        );
      }
      if (ctx.account && publicBalance !== undefined) {
        out(`public balance   ${formatAmount(publicBalance, d)} ${ctx.symbol}  (EOA ${ctx.account.address})`);
      }
      out(
        `pool             ${ctx.deployment.facilitator} on ${ctx.network} (${caip2(ctx.deployment.chainId)}), ${wallet.treeSize} notes in the tree`,
      );
      out(`wallet           ${ctx.walletDir} (synced to block ${snap.syncedBlock})`);
    });
}
