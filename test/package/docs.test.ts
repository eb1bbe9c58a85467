import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";

import { expect } from "chai";

import { ROOT } from "../../scripts/lib/paths.js";
import { gas } from "../../scripts/lib/format.js";
import { CONFIRMATIONS, defaultConfirmations } from "../../sdk/core/receipts.js";

const read = (file: string) => readFileSync(path.join(ROOT, file), "utf8");
/** Markdown as one line per paragraph: documented sentences wrap anywhere. */
const flat = (md: string) => md.replace(/\s*\n\s*/g, " ");
const num = (s: string) => Number(s.replace(/,/g, ""));

/** `402zk <args> --help`, from the built CLI. */
function help(...args: string[]): string {
  if (!existsSync(path.join(ROOT, "dist", "cli", "main.js")))
    execFileSync("npx", ["tsc", "-p", "tsconfig.sdk.json"], { cwd: ROOT, stdio: "pipe" });
  return execFileSync(process.execPath, [path.join(ROOT, "bin", "402zk.js"), ...args, "--help"], {
    cwd: ROOT,
    encoding: "utf8",
  });
}

/** The option line of `flag` in a commander help text (with its wrapped continuation). */
function optionLine(text: string, flag: string): string {
  const lines = text.split("\n");
  const i = lines.findIndex((l) => l.trimStart().startsWith(flag));
  expect(i, `${flag} in the help`).to.be.greaterThan(-1);
  let out = lines[i]!;
  for (let j = i + 1; j < lines.length && /^\s{10,}\S/.test(lines[j]!) && !/^\s*-/.test(lines[j]!); j++)
    out += " " + lines[j]!.trim();
  return out;
}

describe("Documented defaults agree with the code (README.md, docs/base-sepolia.md)", function () {
  const readme = flat(read("README.md"));
  const guide = flat(read("docs/base-sepolia.md"));

  it("confirmations: the README's per-chain defaults are defaultConfirmations', and serve/receipt use them", function () {
    this.timeout(60_000);
    const m =
      /default per chain,? `defaultConfirmations`: (\d+) on a local chain, (\d+) on Base Sepolia and Base, (\d+) elsewhere/.exec(
        readme,
      );
    expect(m, "the README states the per-chain confirmation defaults").to.not.equal(null);
    expect(Number(m![1])).to.equal(CONFIRMATIONS[31337]!.minConfirmations);
    expect(Number(m![2])).to.equal(CONFIRMATIONS[84532]!.minConfirmations);
    expect(Number(m![2])).to.equal(CONFIRMATIONS[8453]!.minConfirmations);
    expect(Number(m![3])).to.equal(defaultConfirmations(1).minConfirmations);
    const g = /\*\*(\d+) on Base Sepolia and Base\*\*/.exec(guide);
    expect(g, "the Base Sepolia guide states its default").to.not.equal(null);
    expect(Number(g![1])).to.equal(defaultConfirmations(84532).minConfirmations);
    // `serve` and `receipt` take the chain's default: no fixed flag default (it was "1",
    // so serve on Base Sepolia advertised 1 while the docs said 2).
    for (const cmd of ["serve", "receipt"]) {
      const line = optionLine(help(cmd), "--confirmations");
      expect(line, `${cmd} --confirmations`).to.not.match(/\(default: "\d+"\)/);
      expect(line, `${cmd} --confirmations`).to.match(/default: the chain's/);
    }
  });

  it("gas: the Base Sepolia guide's per-payment figures are bench/results.json's (within 5%)", function () {
    const bench = JSON.parse(read("bench/results.json")) as {
      payGas: number;
      payGasWithFee: number;
      commitGasPerLeaf: Record<string, number>;
    };
    const pay = /one `pay` transaction from the relayer: \*\*~([\d,]+) gas\*\*/.exec(guide);
    expect(pay, "the guide's gas per payment").to.not.equal(null);
    expect(num(pay![1]!)).to.be.closeTo(bench.payGas, Math.round(bench.payGas * 0.05));
    const withFee = /~([\d,]+) with a relayer fee/.exec(guide);
    expect(num(withFee![1]!)).to.be.closeTo(bench.payGasWithFee, Math.round(bench.payGasWithFee * 0.05));
    const commit = /about ([\d,]+) gas per note when 16 are committed together/.exec(guide);
    expect(num(commit![1]!)).to.be.closeTo(
      bench.commitGasPerLeaf["16"]!,
      Math.round(bench.commitGasPerLeaf["16"]! * 0.05),
    );
    const times = /that is ([\d,]+) × 0\.01 gwei/.exec(guide);
    expect(num(times![1]!), "the cost line uses the same figure").to.equal(num(pay![1]!));
  });

  it("ports and fees: the CLI's defaults are the ones the README and the examples use", function () {
    this.timeout(60_000);
    expect(optionLine(help("serve"), "--port")).to.include('(default: "4021")');
    expect(optionLine(help("serve"), "--fee")).to.include('(default: "0")');
    expect(optionLine(help("facilitator"), "--port")).to.include("(default 4022)");
    expect(optionLine(help("facilitator"), "--fee")).to.match(/\(default\s+0\)/);
    // The examples' defaults, and the URLs the README gives for them.
    expect(read("examples/api-server.ts")).to.include("Number(process.env.PORT ?? 4021)");
    expect(read("examples/remote-api.ts")).to.include('process.env.FACILITATOR_URL ?? "http://127.0.0.1:4022"');
    expect(readme).to.include("API_URL=http://127.0.0.1:4021/weather npx tsx examples/agent.ts");
    expect(readme).to.include("facilitator --port 4022");
  });

  it("Node version: README, engines, the preinstall check and .ci/run name the same minimum", function () {
    const pkg = JSON.parse(read("package.json")) as { engines: { node: string }; scripts: Record<string, string> };
    expect(pkg.engines.node).to.equal(">=22.13");
    expect(pkg.scripts.preinstall).to.equal("node scripts/check-node.cjs");
    expect(read("scripts/check-node.cjs")).to.include("const REQUIRED = [22, 13, 0];");
    expect(readme).to.include("Node >= 22.13 (`node --version`)");
    expect(read(".ci/run")).to.match(/REQUIRED_NODE_MAJOR=22\s+REQUIRED_NODE_MINOR=13/);
  });

  it("the demo prints gas as whole numbers with thousands separators (a median of two used to print 395236.5)", function () {
    expect(gas(395236.5)).to.equal("395,237");
    expect(gas(68_228n)).to.equal("68,228");
    expect(gas(999)).to.equal("999");
  });

  it("the README's layout table matches the tree: every path it names exists, and every SDK, test and contract folder is named", function () {
    const readme = read("README.md");
    const section = readme.slice(
      readme.indexOf("## Repository layout"),
      readme.indexOf("\n## ", readme.indexOf("## Repository layout") + 5),
    );
    const rows = section.split("\n").filter((l) => l.startsWith("| `"));
    expect(rows.length, "layout rows").to.be.greaterThan(10);
    // Every `path/` in the first column, and every backticked file or folder in the second
    // that names a place (contains a slash or ends in a source extension) under its row's folder.
    const named = new Set<string>();
    for (const row of rows) {
      const [, first = "", second = ""] = row.split("|");
      const dirs = [...first.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
      for (const d of dirs) {
        expect(existsSync(path.join(ROOT, d)), `layout names ${d}`).to.equal(true);
        named.add(d.replace(/\/$/, ""));
      }
      for (const [, ref] of second.matchAll(/`([^`\s]+\.(?:ts|sol|circom)|[a-z-]+\/)`/g)) {
        // Relative to the row's folder, or to the repository root (`test/package/...`).
        const candidates = [...dirs.map((d) => path.join(ROOT, d, ref!)), path.join(ROOT, ref!)];
        expect(
          candidates.some((c) => existsSync(c)),
          `layout row ${dirs.join(", ")} names ${ref}, which is not there`,
        ).to.equal(true);
      }
    }
    const folders = (dir: string) =>
      readdirSync(path.join(ROOT, dir)).filter((f) => statSync(path.join(ROOT, dir, f)).isDirectory());
    for (const d of folders("sdk").filter((f) => f !== "types"))
      expect(named, `sdk/${d}/ in the layout`).to.include(`sdk/${d}`);
    for (const d of folders("test").filter((f) => f !== "helpers"))
      expect(section, `test/${d}/ in the layout`).to.include(`\`${d}/\``);
    for (const d of folders("contracts"))
      expect(
        [...named].some((n) => n.startsWith(`contracts/${d}`) || (n === "contracts" && section.includes(`\`${d}/`))),
        `contracts/${d}/ in the layout`,
      ).to.equal(true);
  });

  it("timers: challenge lifetime and sync schedule as documented", function () {
    expect(readme).to.include("`challengeTtlSeconds` (default 300");
    expect(read("sdk/server/scheme.ts")).to.include("o.challengeTtlSeconds ?? 300");
    expect(readme).to.include("(default 15 s ± 5 s)");
    const wallet = read("sdk/client/wallet.ts");
    expect(wallet).to.include("const DEFAULT_SYNC_INTERVAL_MS = 15_000;");
    expect(wallet).to.include("const DEFAULT_SYNC_JITTER_MS = 5_000;");
  });
});
