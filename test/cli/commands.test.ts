/**
 * The CLI's layout (#18): one file per command under sdk/cli/commands/, each registering
 * exactly the command it is named after; main.ts only wires them, in the order of
 * `402zk --help`; and no other SDK folder imports the CLI. No chain, no proofs.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

import { expect } from "chai";
import { Command } from "commander";

import type { CommandEnv, RegisterCommand } from "../../sdk/cli/command.js";
import { buildProgram, commandOf } from "../../sdk/cli/main.js";
import { OP_STACK_CHAINS } from "../../sdk/cli/context.js";
import { clock } from "../../sdk/cli/output.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const SDK = path.join(ROOT, "sdk");
const COMMANDS_DIR = path.join(SDK, "cli", "commands");

/** A CommandEnv that fails loudly if registering a command already used it. */
const env: CommandEnv = {
  ctxOf: () => {
    throw new Error("ctxOf called while registering");
  },
  onServe: () => Promise.reject(new Error("onServe called while registering")),
};

/** Every .ts file under `dir`, recursively. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith(".ts") ? [path.join(dir, e.name)] : [],
  );
}

describe("402zk CLI layout (one file per command)", function () {
  const files = readdirSync(COMMANDS_DIR)
    .filter((f) => f.endsWith(".ts"))
    .sort();

  it("each commands/<name>.ts registers exactly the command <name>, and only when called", async function () {
    expect(files.length).to.be.greaterThan(5);
    for (const file of files) {
      const mod = (await import(pathToFileURL(path.join(COMMANDS_DIR, file)).href)) as { register?: RegisterCommand };
      expect(mod.register, `${file} exports register(program, env)`).to.be.a("function");
      const program = new Command("402zk");
      expect(program.commands).to.have.length(0);
      mod.register!(program, env);
      expect(
        program.commands.map((c) => c.name()),
        file,
      ).to.deep.equal([path.basename(file, ".ts")]);
    }
  });

  it("main.ts wires every command file, in the order of --help, and defines none inline", async function () {
    const names = (await buildProgram()).commands.map((c) => c.name());
    expect(names).to.deep.equal([
      "deposit",
      "balance",
      "resync",
      "address",
      "pay",
      "withdraw",
      "receipt",
      "audit",
      "serve",
      "facilitator",
      "credentials",
      "infer",
      "escrows",
      "issuer",
      "identity",
      "mcp",
      "doctor",
    ]);
    expect([...names].sort()).to.deep.equal(files.map((f) => path.basename(f, ".ts")));
    const main = readFileSync(path.join(SDK, "cli", "main.ts"), "utf8");
    expect(main, "main.ts adds no command itself").not.to.match(/\.command\(/);
  });

  it("a run registers only the command it runs (commandOf); help, --version and typos get them all", async function () {
    const argv = (...a: string[]) => ["node", "402zk", ...a];
    expect(commandOf(argv("--network", "localhost", "deposit", "2"))).to.equal("deposit");
    expect(commandOf(argv("--mode", "client", "--rpc", "http://x", "pay", "http://api"))).to.equal("pay");
    expect(commandOf(argv("-v", "balance", "--json"))).to.equal("balance");
    expect(commandOf(argv("--help"))).to.equal(undefined);
    expect(commandOf(argv("help", "pay"))).to.equal(undefined);
    expect(commandOf(argv("depositt", "2"))).to.equal(undefined);
    expect(commandOf(argv("--network", "pay"))).to.equal(undefined);
    const one = await buildProgram(undefined, [], "withdraw");
    expect(one.commands.map((c) => c.name())).to.deep.equal(["withdraw"]);
    const all = await buildProgram(undefined, [], "nope");
    expect(all.commands).to.have.length(17);
  });

  it("no SDK folder but the CLI and its MCP server (sdk/mcp, over the CLI's engines) imports from sdk/cli", function () {
    const offenders: string[] = [];
    for (const file of sources(SDK)) {
      const rel = path.relative(SDK, file);
      if (rel.startsWith(`cli${path.sep}`) || rel.startsWith(`mcp${path.sep}`)) continue;
      const text = readFileSync(file, "utf8");
      for (const m of text.matchAll(/(?:from|import)\s*\(?\s*["']([^"']+)["']/g)) {
        const target = path.resolve(path.dirname(file), m[1]!);
        if (m[1]!.startsWith(".") && path.relative(SDK, target).split(path.sep)[0] === "cli")
          offenders.push(`${rel} -> ${m[1]}`);
      }
    }
    expect(offenders).to.deep.equal([]);
  });
});

describe("402zk CLI output: times", function () {
  it("clock: today as HH:MM:SS UTC; another day with its date, in the same form (a reservation past midnight)", function () {
    const now = Math.floor(Date.now() / 1000);
    const iso = new Date(now * 1000).toISOString();
    const time = `${iso.slice(11, 19)} UTC`;
    // Today (or, read in the very second a UTC day ends, with its date).
    expect(clock(now)).to.be.oneOf([time, `${iso.slice(0, 10)} ${time}`]);
    expect(clock(1798761600)).to.equal("2027-01-01 00:00:00 UTC");
    expect(clock(now + 86_400)).to.match(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
  });
});

describe("402zk CLI chains (without loading viem/chains at start)", function () {
  it("Base and Base Sepolia agree with viem's definitions: id, name, currency, explorer, OP-stack formatters, serializers and fees", async function () {
    const viemChains = await import("viem/chains");
    for (const v of [viemChains.base, viemChains.baseSepolia]) {
      const mine = OP_STACK_CHAINS[v.id]!;
      expect(mine, v.name).to.not.equal(undefined);
      expect({
        id: mine.id,
        name: mine.name,
        nativeCurrency: mine.nativeCurrency,
        testnet: mine.testnet,
      }).to.deep.equal({
        id: v.id,
        name: v.name,
        nativeCurrency: v.nativeCurrency,
        testnet: v.testnet,
      });
      expect(mine.blockExplorers).to.deep.equal(v.blockExplorers);
      expect(mine.sourceId).to.equal(v.sourceId);
      // The same functions, not look-alikes: both come from viem's op-stack chainConfig.
      expect(mine.formatters).to.equal(v.formatters);
      expect(mine.serializers).to.equal(v.serializers);
      expect(mine.fees).to.equal(v.fees);
    }
  });
});
