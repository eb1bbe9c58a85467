/**
 * Wallet sync at scale: a wallet joins a pool of 2^18 leaves (a FacilitatorHarness on a
 * local chain served over HTTP), restarts from its persisted tree, and catches up 1,000
 * new leaves. The wallet runs in a child process (the chain stays in this one), so its
 * peak memory is its own: VmHWM from /proc/self/status (peak resident set size).
 *
 * Run alone: npx tsx scripts/lib/bench-sync.ts [log2 leaves, default 18]
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

import { createPublicClient, http, type PublicClient } from "viem";

import { FileNoteStore } from "../../sdk/node/file-store.js";
import { PrivateWallet, type PoolInfo } from "../../sdk/client/wallet.js";
import { WalletKeys } from "../../sdk/core/keys.js";
import { defaultArtifacts } from "../../sdk/node/artifacts.js";

const HERE = fileURLToPath(import.meta.url);
const OWN_NOTES = 4;
const NOTE_VALUE = 1_000n;

interface ChildJob {
  url: string;
  pool: PoolInfo;
  seed: `0x${string}`;
  storeFile: string;
}

interface ChildResult {
  openMs: number;
  syncMs: number;
  peakMiB: number;
  balance: string;
  committed: number;
  progressLines: number;
}

/** Peak resident set size of this process, MiB (Linux; 0 elsewhere). */
function peakRssMiB(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
    if (m) return Number(m[1]) / 1024;
  } catch {
    // not Linux
  }
  return process.memoryUsage().rss / 2 ** 20;
}

/** In the child: open the wallet from its file store and sync once. */
async function childMain(job: ChildJob): Promise<ChildResult> {
  const publicClient = createPublicClient({ transport: http(job.url) }) as PublicClient;
  let progressLines = 0;
  const t0 = performance.now();
  const wallet = await PrivateWallet.open({
    seed: job.seed,
    pool: job.pool,
    publicClient,
    store: new FileNoteStore(job.storeFile),
    artifacts: defaultArtifacts(),
    sync: { auto: false },
    onSyncProgress: () => progressLines++,
  });
  const t1 = performance.now();
  await wallet.sync();
  const t2 = performance.now();
  await wallet.close();
  return {
    openMs: t1 - t0,
    syncMs: t2 - t1,
    peakMiB: peakRssMiB(),
    balance: wallet.balance().toString(),
    committed: wallet.treeSize,
    progressLines,
  };
}

function runChild(job: ChildJob): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, HERE], {
      env: { ...process.env, BENCH_SYNC_CHILD: JSON.stringify(job) },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString("utf8")));
    child.on("error", reject);
    child.on("exit", (code) => {
      const line = out.trim().split("\n").pop() ?? "";
      if (code !== 0) return reject(new Error(`sync child exited with ${code}: ${out.slice(-500)}`));
      try {
        resolve(JSON.parse(line) as ChildResult);
      } catch {
        reject(new Error(`sync child printed no result: ${out.slice(-500)}`));
      }
    });
  });
}

/**
 * The sync figures at 2^log2Leaves leaves (default 18): first sync (walletSyncMs: open +
 * sync from an empty store; walletSyncPeakMiB: the wallet process's peak RSS), restart
 * (open + sync with nothing new: the tree comes from the store) and catch-up of 1,000
 * new leaves (the sync call after open).
 */
export async function benchSync(opts: { log2Leaves?: number; log?: (line: string) => void } = {}): Promise<{
  walletSyncMs: number;
  walletSyncPeakMiB: number;
  walletRestartMs: number;
  walletCatchUp1000Ms: number;
  leaves: number;
}> {
  const log = opts.log ?? ((l: string) => console.error(l));
  const leaves = 2 ** (opts.log2Leaves ?? 18);
  const { startBigPool } = await import("./big-pool.js");
  const big = await startBigPool();
  const dir = mkdtempSync(path.join(os.tmpdir(), "402zk-bench-sync-"));
  try {
    const seed = WalletKeys.randomSeed();
    const keys = WalletKeys.fromSeed(seed);
    let t = performance.now();
    await big.fill(leaves, { keys, count: OWN_NOTES, value: NOTE_VALUE });
    log(`  pool of ${leaves} leaves built in ${Math.round(performance.now() - t)} ms`);
    const job: ChildJob = { url: big.chain.url, pool: big.pool, seed, storeFile: path.join(dir, "notes.json") };

    const first = await runChild(job);
    const expected = (NOTE_VALUE * BigInt(OWN_NOTES)).toString();
    if (first.balance !== expected || first.committed !== leaves) {
      throw new Error(`first sync: balance ${first.balance} (want ${expected}), ${first.committed} leaves`);
    }
    log(
      `  first sync: open ${Math.round(first.openMs)} ms + sync ${Math.round(first.syncMs)} ms, ` +
        `peak ${first.peakMiB.toFixed(0)} MiB, ${first.progressLines} pages`,
    );
    const restart = await runChild(job);
    log(`  restart: open ${Math.round(restart.openMs)} ms + sync ${Math.round(restart.syncMs)} ms`);

    t = performance.now();
    const more = big.depositNote(keys, OWN_NOTES, NOTE_VALUE);
    await big.append([more.leaf], more.memo);
    const { randomLeaves } = await import("./big-pool.js");
    await big.append(randomLeaves(999));
    await big.commitAll();
    log(`  1,000 more leaves in ${Math.round(performance.now() - t)} ms`);
    const catchUp = await runChild(job);
    const expected2 = (NOTE_VALUE * BigInt(OWN_NOTES + 1)).toString();
    if (catchUp.balance !== expected2 || catchUp.committed !== leaves + 1000) {
      throw new Error(`catch-up: balance ${catchUp.balance} (want ${expected2}), ${catchUp.committed} leaves`);
    }
    log(`  catch-up: open ${Math.round(catchUp.openMs)} ms + sync ${Math.round(catchUp.syncMs)} ms`);
    return {
      walletSyncMs: Math.round(first.openMs + first.syncMs),
      walletSyncPeakMiB: Math.round(first.peakMiB),
      walletRestartMs: Math.round(restart.openMs + restart.syncMs),
      walletCatchUp1000Ms: Math.round(catchUp.syncMs),
      leaves,
    };
  } finally {
    await big.chain.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain && process.env.BENCH_SYNC_CHILD) {
  const job = JSON.parse(process.env.BENCH_SYNC_CHILD) as ChildJob;
  childMain(job).then(
    (r) => {
      console.log(JSON.stringify(r));
      process.exit(0);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
} else if (isMain) {
  const log2 = process.argv[2] ? Number(process.argv[2]) : 18;
  benchSync({ log2Leaves: log2 }).then(
    (r) => {
      console.log(JSON.stringify(r, null, 2));
      process.exit(0);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
