import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { ZkPayError } from "../core/errors.js";

/** A held {@link lockDirectory} lock. */
export interface DirLock {
  readonly file: string;
  /** Releases the lock (idempotent; also done when the process exits). */
  release(): void;
}

interface LockInfo {
  pid: number;
  host: string;
  since: number;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function readInfo(file: string): { text: string; info?: LockInfo } | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  try {
    const info = JSON.parse(text) as LockInfo;
    return typeof info.pid === "number" ? { text, info } : { text };
  } catch {
    return { text };
  }
}

/**
 * Takes an exclusive, cross-process lock on a directory (a wallet folder): a lock file
 * created with O_EXCL holding the owner's pid, host and start time. A lock whose owner
 * process on this host is gone is stale and taken over; a live owner is waited for, at
 * most `timeoutMs`, then `wallet_locked` is thrown naming the owner.
 *
 * @example
 * const lock = await lockDirectory("~/.402zk/base", { timeoutMs: 60_000 });
 * try { ... } finally { lock.release(); }
 */
export async function lockDirectory(
  dir: string,
  opts: { timeoutMs?: number; pollMs?: number; onWait?: (owner: LockInfo | undefined) => void } = {},
): Promise<DirLock> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, "lock");
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const pollMs = opts.pollMs ?? 100;
  const me: LockInfo = { pid: process.pid, host: os.hostname(), since: Date.now() };
  const mine = JSON.stringify(me);
  const start = Date.now();
  let told = false;
  for (;;) {
    try {
      const fd = openSync(file, "wx", 0o600);
      try {
        writeSync(fd, mine);
      } finally {
        closeSync(fd);
      }
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const held = readInfo(file);
    if (!held) continue; // released meanwhile
    const owner = held.info;
    const stale = owner
      ? owner.host === me.host && !alive(owner.pid)
      : // Unreadable content: a writer died between create and write, or is writing now.
        Date.now() - start > 2_000;
    if (stale) {
      // Remove it only if it is still the lock we judged stale.
      if (readInfo(file)?.text === held.text) {
        try {
          unlinkSync(file);
        } catch {
          // another process took it over first
        }
      }
      continue;
    }
    if (Date.now() - start >= timeoutMs) {
      throw new ZkPayError(
        "wallet_locked",
        `the wallet folder ${dir} is in use by another 402zk process` +
          (owner ? ` (pid ${owner.pid} on ${owner.host}, since ${new Date(owner.since).toISOString()})` : "") +
          `; waited ${Math.round(timeoutMs / 1000)} s. Wait for it to finish, or raise --lock-timeout; if no such process runs, remove ${file}`,
        { file, owner },
      );
    }
    if (!told) {
      told = true;
      opts.onWait?.(owner);
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
  let held = true;
  const release = () => {
    if (!held) return;
    held = false;
    process.off("exit", release);
    try {
      if (readFileSync(file, "utf8") === mine) unlinkSync(file);
    } catch {
      // already gone
    }
  };
  process.on("exit", release);
  return { file, release };
}
