/**
 * `402zk credentials`: lists the session credentials `pay --session` bought and the
 * purchases not yet issued, from `<wallet>/sessions.json`.
 */
import type { Command } from "commander";

import { FileSessionStore } from "../../node/session-store.js";
import { summarizeCredentials } from "../../session/store.js";
import type { CommandEnv } from "../command.js";
import { info, isoSeconds, out } from "../output.js";
import { sessionStoreFile } from "../sessions.js";

/**
 * What `402zk credentials --json` prints: the credentials of `<wallet>/sessions.json` with
 * their presentations left, and the purchases not yet issued. No RPC, no wallet lock; also
 * the `credentials` tool of `402zk mcp`.
 *
 * @example
 * const r = await credentialsReport(ctx.walletDir); // r.credentials[0].remaining
 */
export async function credentialsReport(walletDir: string) {
  const file = sessionStoreFile(walletDir);
  const state = await new FileSessionStore(file).load();
  const creds = state ? summarizeCredentials(state) : [];
  const pending = state?.pending ?? [];
  return {
    ok: true,
    file,
    credentials: creds,
    pending: pending.map((p) => ({
      origin: p.origin,
      offerId: p.offerId,
      createdAt: p.createdAt,
      // The receipt id is saved right before the payment is sent: it may or may not have settled.
      paymentSent: p.receiptId !== undefined,
      receiptId: p.receiptId,
    })),
  };
}

/** Registers `credentials`: lists `<wallet>/sessions.json` (no RPC, no wallet lock). */
export function register(program: Command, env: CommandEnv): void {
  program
    .command("credentials")
    .description(
      "list the session credentials bought with pay --session (origin, offer, tier, expiry, presentations left) and purchases not yet issued",
    )
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const ctx = env.ctxOf(cmd);
      const r = await credentialsReport(ctx.walletDir);
      const { file, credentials: creds, pending } = r;
      if (o.json) {
        out(JSON.stringify(r));
        return;
      }
      if (creds.length === 0 && pending.length === 0) {
        out(`no session credentials in ${file}`);
        return;
      }
      if (creds.length > 0) {
        const rows = creds.map((c) => [
          c.origin,
          c.offerId,
          String(c.tier),
          `${isoSeconds(c.expiresAt)}${c.expired ? " (expired)" : ""}`,
          `${c.remaining}/${c.maxPresentations}`,
        ]);
        const head = ["origin", "offer", "tier", "expires", "left"];
        const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
        const line = (cells: string[]) =>
          cells
            .map((cell, i) => cell.padEnd(widths[i]!))
            .join("  ")
            .trimEnd();
        out(line(head));
        for (const r of rows) out(line(r));
      }
      if (pending.length > 0) {
        out(`${pending.length} purchase(s) not yet issued:`);
        for (const p of pending) {
          out(
            `  ${p.origin} "${p.offerId}" started ${isoSeconds(p.createdAt)}: ` +
              (p.paymentSent
                ? `payment sent (receipt ${p.receiptId}); the next 402zk pay --session to ${p.origin} recovers the credential if it settled`
                : "not paid; dropped once its challenge expired"),
          );
        }
      }
      info(`store ${file}`);
    });
}
