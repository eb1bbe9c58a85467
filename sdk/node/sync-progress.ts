import type { SyncProgress } from "../client/sync.js";

/**
 * A sync progress line on stderr for `onSyncProgress`: `syncing blocks 1200/5000, 262144
 * leaves`. On a TTY it is redrawn in place and erased at the end; elsewhere (pipes, CI
 * logs) one line is printed per `everyMs` at most. Silent for syncs of one page.
 *
 * @example
 * const line = syncProgressLine();
 * const wallet = await PrivateWallet.open({ ..., onSyncProgress: line.update });
 * await wallet.sync();
 * line.end();
 */
export function syncProgressLine(
  opts: { stream?: NodeJS.WriteStream; tty?: boolean; everyMs?: number; label?: string } = {},
): {
  /** Draws the line for a sync page (pass as `onSyncProgress`). */
  update: (p: SyncProgress) => void;
  /** Erases (TTY) or ends the line. */
  end: () => void;
} {
  const stream = opts.stream ?? process.stderr;
  const tty = opts.tty ?? Boolean(stream.isTTY);
  const everyMs = opts.everyMs ?? 2_000;
  const label = opts.label ?? "syncing";
  let last = 0;
  let pages = 0;
  let drawn = false;
  return {
    update(p: SyncProgress) {
      pages++;
      const done = p.toBlock >= p.latestBlock;
      if (pages === 1 && done) return;
      const now = Date.now();
      if (!tty && !done && now - last < everyMs) return;
      last = now;
      const text = `${label} blocks ${p.toBlock}/${p.latestBlock}, ${p.leaves} leaves`;
      if (tty) {
        stream.write(`\r\x1b[2K${text}`);
        drawn = true;
      } else stream.write(`${text}\n`);
    },
    end() {
      if (tty && drawn) stream.write("\r\x1b[2K");
      drawn = false;
    },
  };
}
