/**
 * Wallet sync at scale: a wallet joins a pool of 2^18 leaves (a FacilitatorHarness on a
 * local chain served over HTTP), restarts from its persisted tree, and catches up 1,000
 * new leaves. The wallet runs in a child process (the chain stays in this one), so its
 * peak memory is its own: VmHWM from /proc/self/status (peak resident set size). The
 * child runs the SDK compiled to JavaScript (tsc, as published) under plain Node, so
 * the figure is a wallet's and not tsx's (which adds ~35 MiB of its own).
 *
 * Run alone: npx tsx bench/sync.ts [log2 leaves, default 18]
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";

import type { PoolInfo } from "../sdk/client/wallet.js";
import { WalletKeys } from "../sdk/core/keys.js";
import { defaultArtifacts } from "../sdk/node/artifacts.js";
import { ROOT } from "../scripts/lib/paths.js";
const OWN_NOTES = 4;
const NOTE_VALUE = 1_000n;

interface ChildJob {
  url: string;
  pool: PoolInfo;
  seed: `0x${string}`;
  storeFile: string;
  artifacts: { wasm: string; zkey: string };
}

interface ChildResult {
  openMs: number;
  syncMs: number;
  peakMiB: number;
  /** Peak RSS once the SDK is loaded, before the wallet opens. */
  baselineMiB: number;
  /** CPU time of the wallet process during the sync (user + system), ms. */
  syncCpuMs: number;
  balance: string;
  committed: number;
  progressLines: number;
}

/**
 * The wallet process: plain Node on the compiled SDK. Opens the wallet from its file
 * store, syncs once and prints a {@link ChildResult} line.
 */
const CHILD_SOURCE = `
import { readFileSync } from "node:fs";
import { createPublicClient, http } from "viem";
const dist = process.argv[2];
const job = JSON.parse(process.env.BENCH_SYNC_CHILD);
const { PrivateWallet } = await import(dist + "/client/wallet.js");
const { FileNoteStore } = await import(dist + "/node/file-store.js");
const peak = () => {
  const m = /VmHWM:\\s+(\\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
  return m ? Number(m[1]) / 1024 : process.memoryUsage().rss / 2 ** 20;
};
const baselineMiB = peak();
const publicClient = createPublicClient({ transport: http(job.url) });
let progressLines = 0;
const t0 = performance.now();
const wallet = await PrivateWallet.open({
  seed: job.seed,
  pool: job.pool,
  publicClient,
  store: new FileNoteStore(job.storeFile),
  artifacts: job.artifacts,
  sync: { auto: false },
  onSyncProgress: () => progressLines++,
});
const t1 = performance.now();
const cpu = process.cpuUsage();
await wallet.sync();
const t2 = performance.now();
const used = process.cpuUsage(cpu);
await wallet.close();
console.log(JSON.stringify({
  openMs: t1 - t0,
  syncMs: t2 - t1,
  peakMiB: peak(),
  baselineMiB,
  syncCpuMs: (used.user + used.system) / 1000,
  balance: wallet.balance().toString(),
  committed: wallet.treeSize,
  progressLines,
}));
process.exit(0);
`;

/** Compiles the SDK into .cache/bench-sync (inside the repository, so node_modules resolve). */
function buildChild(): { script: string; dist: string } {
  const dir = path.join(ROOT, ".cache", "bench-sync");
  const dist = path.join(dir, "dist");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const tsc = path.join(ROOT, "node_modules", "typescript", "bin", "tsc");
  const r = spawnSync(
    process.execPath,
    [
      tsc,
      "-p",
      path.join(ROOT, "tsconfig.sdk.json"),
      "--outDir",
      dist,
      "--declaration",
      "false",
      "--declarationMap",
      "false",
      "--sourceMap",
      "false",
      "--inlineSources",
      "false",
    ],
    { stdio: "inherit" },
  );
  if (r.status !== 0) throw new Error("tsc failed to compile the SDK for the sync bench");
  const script = path.join(dir, "child.mjs");
  writeFileSync(script, CHILD_SOURCE);
  return { script, dist };
}

function runChild(child: { script: string; dist: string }, job: ChildJob): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [child.script, child.dist], {
      env: { ...process.env, BENCH_SYNC_CHILD: JSON.stringify(job) },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    proc.stdout.on("data", (c: Buffer) => (out += c.toString("utf8")));
    proc.on("error", reject);
    proc.on("exit", (code) => {
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
  const { startBigPool } = await import("../test/helpers/big-pool.js");
  const big = await startBigPool();
  const dir = mkdtempSync(path.join(os.tmpdir(), "402zk-bench-sync-"));
  try {
    const seed = WalletKeys.randomSeed();
    const keys = WalletKeys.fromSeed(seed);
    let t = performance.now();
    await big.fill(leaves, { keys, count: OWN_NOTES, value: NOTE_VALUE });
    log(`  pool of ${leaves} leaves built in ${Math.round(performance.now() - t)} ms`);
    const job: ChildJob = {
      url: big.chain.url,
      pool: big.pool,
      seed,
      storeFile: path.join(dir, "notes.json"),
      artifacts: defaultArtifacts() as ChildJob["artifacts"],
    };
    const child = buildChild();

    const first = await runChild(child, job);
    const expected = (NOTE_VALUE * BigInt(OWN_NOTES)).toString();
    if (first.balance !== expected || first.committed !== leaves) {
      throw new Error(`first sync: balance ${first.balance} (want ${expected}), ${first.committed} leaves`);
    }
    log(
      `  first sync: open ${Math.round(first.openMs)} ms + sync ${Math.round(first.syncMs)} ms ` +
        `(wallet CPU ${Math.round(first.syncCpuMs)} ms), ` +
        `peak ${first.peakMiB.toFixed(0)} MiB (${first.baselineMiB.toFixed(0)} MiB with the SDK loaded), ${first.progressLines} pages`,
    );
    const restart = await runChild(child, job);
    log(
      `  restart: open ${Math.round(restart.openMs)} ms + sync ${Math.round(restart.syncMs)} ms, ` +
        `peak ${restart.peakMiB.toFixed(0)} MiB`,
    );

    t = performance.now();
    const more = big.depositNote(keys, OWN_NOTES, NOTE_VALUE);
    await big.append([more.leaf], more.memo);
    const { randomLeaves } = await import("../test/helpers/big-pool.js");
    await big.append(randomLeaves(999));
    await big.commitAll();
    log(`  1,000 more leaves in ${Math.round(performance.now() - t)} ms`);
    const catchUp = await runChild(child, job);
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
if (isMain) {
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
