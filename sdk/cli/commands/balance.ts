/**
 * `402zk balance`: syncs the wallet, then prints the private balance (spendable, pending,
 * reserved by payments in flight), what it received from shielded payments (an API's
 * revenue, found by trial decryption with its viewing key), the EOA's public balance and
 * the pool; or JSON.
 */
import type { Command } from "commander";
import type { Address } from "viem";

import { erc20Abi } from "../../core/abi.js";
import type { StoredNote } from "../../client/store.js";
import { caip2 } from "../../core/deployment.js";
import { formatAmount } from "../amount.js";
import type { CommandEnv } from "../command.js";
import { clock, out } from "../output.js";
import type { PrivateWallet } from "../../client/wallet.js";
import type { CliContext } from "../context.js";

/**
 * What `402zk balance --json` prints (amounts in base units, as strings), from a wallet the
 * caller has synced: also the `balance` tool of `402zk mcp`.
 *
 * @example
 * const wallet = await ctx.openWallet(); await wallet.sync();
 * const r = await balanceReport(ctx, wallet); // r.spendable, r.pendingValue, r.received.total
 */
export async function balanceReport(ctx: CliContext, wallet: PrivateWallet) {
  const snap = wallet.snapshot();
  const unspent = snap.notes.filter((n) => !n.spent && BigInt(n.value) > 0n);
  const b = wallet.balances();
  const sum = (ns: StoredNote[]) => ns.reduce((s, n) => s + BigInt(n.value), 0n);
  // Notes other wallets paid to this one (zk-shielded): the revenue of an API's wallet,
  // whether or not it has spent or withdrawn them since.
  const received = snap.notes.filter((n) => n.origin.kind === "received" && BigInt(n.value) > 0n);
  const receivedUnspent = received.filter((n) => !n.spent);
  const times = received.flatMap((n) => (n.origin.kind === "received" ? [n.origin.time] : []));
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
  return {
    network: ctx.network,
    pool: ctx.deployment.facilitator,
    token: ctx.deployment.token,
    decimals: ctx.decimals,
    private: wallet.balance().toString(),
    // private = spendable + pending; reserved is held by payments in flight (not in private).
    spendable: b.spendable.toString(),
    pendingValue: b.pending.toString(),
    reserved: pendingValue.toString(),
    received: {
      total: sum(received).toString(),
      unspent: sum(receivedUnspent).toString(),
      payments: received.length,
      unspentNotes: receivedUnspent.length,
      first: times.length > 0 ? Math.min(...times) : undefined,
      last: times.length > 0 ? Math.max(...times) : undefined,
    },
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
  };
}

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
      const r = await balanceReport(ctx, wallet);
      if (o.json) {
        out(JSON.stringify(r));
        return;
      }
      const d = ctx.decimals;
      const tokens = (v: string) => `${formatAmount(BigInt(v), d)} ${ctx.symbol}`;
      out(`private balance  ${tokens(r.private)}  (${r.notes} unspent note${r.notes === 1 ? "" : "s"})`);
      out(`spendable        ${tokens(r.spendable)}  (committed notes no payment holds)`);
      if (BigInt(r.pendingValue) > 0n)
        out(
          `pending          ${tokens(r.pendingValue)}  (queued notes and change of settled payments: spendable after the next commit or sync)`,
        );
      const rc = r.received;
      if (rc.payments > 0) {
        out(
          `received         ${tokens(rc.total)}  (revenue: ${rc.payments} shielded payment${rc.payments === 1 ? "" : "s"}, the last at ${clock(rc.last!)}; ${formatAmount(BigInt(rc.unspent), d)} of it unspent, in ${rc.unspentNotes} note${rc.unspentNotes === 1 ? "" : "s"})`,
        );
      }
      if (r.pending > 0) {
        const until = Math.max(...r.reservations.map((p) => p.until));
        out(
          `reserved         ${tokens(r.reserved)}  (${r.pending} payment(s) in flight, released at ${clock(until)} unless their receipt appears on chain first)`,
        );
      }
      if (r.eoa && r.public !== undefined) {
        out(`public balance   ${tokens(r.public)}  (EOA ${r.eoa})`);
      }
      out(
        `pool             ${ctx.deployment.facilitator} on ${ctx.network} (${caip2(ctx.deployment.chainId)}), ${r.treeSize} notes in the tree`,
      );
      out(`wallet           ${ctx.walletDir} (synced to block ${r.syncedBlock})`);
    });
}
