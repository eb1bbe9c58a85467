/**
 * Benchmark entry point: `npm run bench` (tsx scripts/bench.ts).
 *
 * Runs each section below in order on one Hardhat in-process chain (EDR), prints its
 * tables and writes all results, merged into one flat record, to bench/results.json
 * (overwritten on every run). To add figures (e.g. end-to-end HTTP timings), write a
 * `BenchSection` whose `run` returns a record of new keys and append it to SECTIONS;
 * duplicate keys across sections are an error.
 *
 * Options: --no-build (or BENCH_NO_BUILD=1) skips `hardhat build` before the run.
 */
import { execSync } from "node:child_process";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";

import type { HardhatEthers } from "@nomicfoundation/hardhat-ethers/types";
import hre from "hardhat";

import { shutdownProver } from "../sdk/core/prover.js";
import { benchE2E, reportE2E } from "./lib/bench-e2e.js";
import { benchProtocol, reportProtocol } from "./lib/bench-protocol.js";
import { benchSecurity, reportSecurity } from "./lib/bench-security.js";
import { table } from "./lib/bench-util.js";
import { ARTIFACTS_DIR, ROOT } from "./lib/paths.js";

/** What every section gets: one chain shared by all of them. */
export interface BenchContext {
  ethers: HardhatEthers;
  /** Hardhat network the chain was created from, with its chain type and hardfork. */
  network: { name: string; chainType?: string; hardfork?: string };
  log: (msg: string) => void;
}

/** One part of the benchmark: measures, returns new result keys, optionally prints them. */
export interface BenchSection {
  name: string;
  run: (ctx: BenchContext) => Promise<Record<string, unknown>>;
  report?: (results: Record<string, unknown>) => string;
}

/** Targets the project set itself; a measured value at or below the target passes. */
export const TARGETS = { payGas: 450_000, proveMsMedian: 2_500 } as const;

const RESULTS_FILE = path.join(ROOT, "bench", "results.json");

function packageVersion(name: string): string | undefined {
  try {
    return (
      JSON.parse(readFileSync(path.join(ROOT, "node_modules", name, "package.json"), "utf8")) as { version: string }
    ).version;
  } catch {
    return undefined;
  }
}

const environment: BenchSection = {
  name: "environment",
  async run({ ethers, network }) {
    let commit: string | undefined;
    try {
      commit = execSync("git rev-parse --short HEAD", { cwd: ROOT, stdio: ["ignore", "pipe", "ignore"] })
        .toString()
        .trim();
    } catch {
      commit = undefined;
    }
    return {
      date: new Date().toISOString(),
      node: process.version,
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? "unknown",
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      platform: `${os.platform()} ${os.arch()}`,
      evm: (await ethers.provider.send("web3_clientVersion", [])) as string,
      network: network.name,
      chainType: network.chainType,
      hardfork: network.hardfork,
      chainId: Number((await ethers.provider.getNetwork()).chainId),
      versions: {
        hardhat: packageVersion("hardhat"),
        snarkjs: packageVersion("snarkjs"),
        ethers: packageVersion("ethers"),
      },
      gitCommit: commit,
    };
  },
};

const circuit: BenchSection = {
  name: "circuit",
  async run() {
    const manifest = JSON.parse(readFileSync(path.join(ARTIFACTS_DIR, "manifest.json"), "utf8")) as {
      constraints: number;
      maxDepth: number;
      publicSignals: string[];
      developmentSetup: boolean;
    };
    return {
      constraints: manifest.constraints,
      circuitMaxDepth: manifest.maxDepth,
      publicSignals: manifest.publicSignals.length,
      developmentSetup: manifest.developmentSetup,
      zkeyBytes: statSync(path.join(ARTIFACTS_DIR, "payment.zkey")).size,
      wasmBytes: statSync(path.join(ARTIFACTS_DIR, "payment.wasm")).size,
    };
  },
};

const protocol: BenchSection = {
  name: "protocol",
  run: ({ ethers, log }) => benchProtocol(ethers, { log }),
  report: reportProtocol,
};

const e2e: BenchSection = {
  name: "e2e",
  run: ({ log }) => benchE2E({ log }),
  report: reportE2E,
};

const security: BenchSection = {
  name: "security",
  run: ({ log }) => benchSecurity({ log }),
  report: reportSecurity,
};

export const SECTIONS: BenchSection[] = [environment, circuit, protocol, e2e, security];

function targetsOf(r: Record<string, unknown>) {
  const met = {
    payGas: typeof r.payGas === "number" && r.payGas <= TARGETS.payGas,
    proveMsMedian: typeof r.proveMsMedian === "number" && r.proveMsMedian <= TARGETS.proveMsMedian,
  };
  return { targets: { ...TARGETS }, targetsMet: { ...met, all: met.payGas && met.proveMsMedian } };
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const log = (msg: string) => console.log(msg);
  if (!process.argv.includes("--no-build") && process.env.BENCH_NO_BUILD !== "1") {
    // What `hardhat run` would do: the measured bytecode must match the sources.
    await hre.tasks.getTask("build").run({ quiet: true });
  }
  const conn = await hre.network.create();
  const cfg = conn.networkConfig as { chainType?: string; hardfork?: string };
  const ctx: BenchContext = {
    ethers: conn.ethers,
    network: { name: conn.networkName, chainType: cfg.chainType, hardfork: cfg.hardfork },
    log,
  };

  const results: Record<string, unknown> = {};
  const reports: string[] = [];
  for (const section of SECTIONS) {
    const ts = performance.now();
    log(`== ${section.name}`);
    const r = await section.run(ctx);
    for (const k of Object.keys(r)) {
      if (k in results) throw new Error(`section ${section.name} redefines result key "${k}"`);
    }
    Object.assign(results, r);
    if (section.report) reports.push(section.report(r));
    log(`   (${Math.round(performance.now() - ts)} ms)`);
  }
  Object.assign(results, targetsOf(results), { totalMs: Math.round(performance.now() - t0) });

  console.log("");
  console.log(
    `402zk benchmark, ${results.date}: node ${results.node}, ${results.cpus} x ${results.cpuModel}, ` +
      `${results.evm} (${results.hardfork}), circuit ${results.constraints} constraints`,
  );
  console.log("");
  for (const r of reports) console.log(`${r}\n`);
  const met = results.targetsMet as Record<string, boolean>;
  console.log("Targets");
  console.log(
    table(
      ["target", "limit", "measured", "result"],
      [
        ["payGas (median, fee = 0)", String(TARGETS.payGas), String(results.payGas), met.payGas ? "PASS" : "FAIL"],
        [
          "proveMsMedian",
          String(TARGETS.proveMsMedian),
          String(results.proveMsMedian),
          met.proveMsMedian ? "PASS" : "FAIL",
        ],
      ],
    ),
  );

  mkdirSync(path.dirname(RESULTS_FILE), { recursive: true });
  writeFileSync(RESULTS_FILE, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nwrote ${path.relative(ROOT, RESULTS_FILE)} (${Math.round((performance.now() - t0) / 1000)} s total)`);
}

// Run only when executed (tsx scripts/bench.ts), not when imported for its types.
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  try {
    await main();
    await shutdownProver();
    // snarkjs workers and the EDR provider keep handles open.
    process.exit(0);
  } catch (err) {
    console.error(err);
    await shutdownProver().catch(() => {});
    process.exit(1);
  }
}
