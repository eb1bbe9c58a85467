#!/usr/bin/env node
/**
 * `npm test`: the whole suite as two Hardhat mocha processes side by side, or the files
 * given on the command line in one (`npm test -- test/contracts/escrow.test.ts`).
 *
 * Why two: a test file spends much of its time waiting (a spawned CLI starting, a chain
 * mining, Chromium, HTTP round trips) or on one core (Hardhat's EVM, witness generation),
 * so a second process fills the other core; proofs already use both. Files are dealt to
 * the two shards by their measured weight (WEIGHTS, seconds on 2 cores; others count as
 * DEFAULT_WEIGHT), heaviest first, each to the lighter shard. Each file still runs whole in
 * one process, with its own chain, servers and temp folders, as it does alone.
 *
 * ZK402_TEST_SHARDS=1 runs everything in one process (the old `hardhat test mocha`);
 * ZK402_TEST_DIR=test/<folder> shards that folder only.
 * Lines are prefixed with their shard ([1] / [2]); the exit code is the worse of the two.
 */
import { spawn, spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const HARDHAT = path.join(ROOT, "node_modules", "hardhat", "dist", "src", "cli.js");

/**
 * Seconds per file on 2 cores: the sum of its tests' durations in an idle fresh-clone CI run
 * (2026-12-08, spec reporter) plus 2 s of hooks; refresh when they drift (the shards should
 * end within a minute of each other).
 */
const WEIGHTS = {
  "test/cli/cli.test.ts": 230,
  "test/package/examples.test.ts": 138,
  "test/contracts/scale.test.ts": 134,
  "test/session/session.test.ts": 123,
  "test/client/wallet.test.ts": 110,
  "test/server/attribute-http.test.ts": 99,
  "test/adapters/matrix.test.ts": 91,
  "test/service/http.test.ts": 89,
  "test/package/package.test.ts": 86,
  "test/server/security.test.ts": 81,
  "test/cli/network-path.test.ts": 79,
  "test/fuzz/fuzz.test.ts": 73,
  "test/circuits/attribute-circuit.test.ts": 68,
  "test/cli/issuer-cli.test.ts": 67,
  "test/contracts/shielded.test.ts": 66,
  "test/server/x402.test.ts": 64,
  "test/server/escrow-http.test.ts": 61,
  "test/client/shielded.test.ts": 58,
  "test/contracts/facilitator-contract.test.ts": 49,
  "test/server/shielded.test.ts": 47,
  "test/cli/operator.test.ts": 45,
  "test/circuits/presentation-circuit.test.ts": 38,
  "test/circuits/payment-circuit.test.ts": 37,
  "test/circuits/inference-circuit.test.ts": 35,
  "test/mcp/mcp.test.ts": 35,
  "test/browser/browser.test.ts": 33,
  "test/service/relayer.test.ts": 30,
  "test/facilitator/batching.test.ts": 29,
  "test/core/notes.test.ts": 28,
  "test/core/verifier.test.ts": 24,
  "test/service/discovery.test.ts": 23,
  "test/contracts/escrow.test.ts": 21,
  "test/contracts/payout-hook.test.ts": 21,
  "test/contracts/root-history.test.ts": 17,
  "test/server/proxy.test.ts": 17,
  "test/identity/issuer.test.ts": 13,
  "test/service/security.test.ts": 13,
  "test/circuits/artifacts.test.ts": 12,
  "test/client/payer-caps.test.ts": 12,
  "test/session/zk-credential.test.ts": 12,
  "test/adapters/axios.test.ts": 11,
  "test/package/docs.test.ts": 11,
  "test/service/process.test.ts": 10,
};
const DEFAULT_WEIGHT = 8;

function testFiles(dir) {
  const out = [];
  for (const e of readdirSync(dir)) {
    const p = path.join(dir, e);
    if (statSync(p).isDirectory()) out.push(...testFiles(p));
    else if (e.endsWith(".test.ts")) out.push(path.relative(ROOT, p).split(path.sep).join("/"));
  }
  return out.sort();
}

function hardhat(args, opts = {}) {
  return spawn(process.execPath, [HARDHAT, ...args], { cwd: ROOT, stdio: opts.stdio ?? "inherit", env: process.env });
}

const wait = (child) =>
  new Promise((resolve) => child.on("close", (code, signal) => resolve(code ?? (signal ? 1 : 0))));

const args = process.argv.slice(2);
const shards = Number(process.env.ZK402_TEST_SHARDS ?? 2);
if (args.length > 0 || !(shards > 1)) {
  process.exit(await wait(hardhat(["test", "mocha", ...args])));
}

// Compile once, before the shards: two processes compiling at once would race on artifacts/.
const build = spawnSync(process.execPath, [HARDHAT, "build"], { cwd: ROOT, stdio: "inherit" });
if (build.status !== 0) process.exit(build.status ?? 1);

// ZK402_TEST_DIR=test/contracts shards one folder only.
const files = testFiles(path.join(ROOT, process.env.ZK402_TEST_DIR ?? "test"));
const weight = (f) => WEIGHTS[f] ?? DEFAULT_WEIGHT;
const bins = Array.from({ length: shards }, () => ({ files: [], load: 0 }));
for (const f of [...files].sort((a, b) => weight(b) - weight(a) || a.localeCompare(b))) {
  const bin = bins.reduce((m, b) => (b.load < m.load ? b : m));
  bin.files.push(f);
  bin.load += weight(f);
}
console.log(`npm test: ${files.length} files in ${shards} processes`);
bins.forEach((b, i) => console.log(`  [${i + 1}] ${b.files.length} files, ~${b.load} s`));

const started = Date.now();
const codes = await Promise.all(
  bins.map(async (b, i) => {
    const child = hardhat(["test", "mocha", ...b.files.sort()], { stdio: ["ignore", "pipe", "pipe"] });
    const prefix = `[${i + 1}] `;
    for (const stream of [child.stdout, child.stderr]) {
      let rest = "";
      stream.setEncoding("utf8");
      stream.on("data", (chunk) => {
        const lines = (rest + chunk).split("\n");
        rest = lines.pop();
        for (const l of lines) (stream === child.stderr ? process.stderr : process.stdout).write(prefix + l + "\n");
      });
      stream.on("end", () => {
        if (rest) process.stdout.write(prefix + rest + "\n");
      });
    }
    const code = await wait(child);
    console.log(`${prefix}exited ${code} after ${((Date.now() - started) / 1000).toFixed(0)} s`);
    return code;
  }),
);
const failed = codes.filter((c) => c !== 0).length;
console.log(
  `npm test: ${failed === 0 ? "both shards passed" : `${failed} shard(s) failed`} in ${((Date.now() - started) / 1000).toFixed(0)} s`,
);
process.exit(failed === 0 ? 0 : 1);
