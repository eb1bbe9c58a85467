import { execFile, execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

import { expect } from "chai";

import { devPrivateKey } from "../scripts/lib/demo-env.js";
import { ROOT } from "../scripts/lib/paths.js";
import { shutdownProver } from "../sdk/core/prover.js";
import { account, startEnv } from "./helpers/x402-env.js";

const run = promisify(execFile);

/** Every relative import of a source file, followed recursively. */
function importsOf(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return new Set();
  seen.add(file);
  const out = new Set<string>();
  const src = readFileSync(file, "utf8");
  for (const m of src.matchAll(/(?:import|export)[^'"]*from\s+["']([^"']+)["']/g)) {
    const spec = m[1]!;
    if (spec.startsWith(".")) {
      const target = path.resolve(path.dirname(file), spec.replace(/\.js$/, ".ts"));
      for (const s of importsOf(target, seen)) out.add(s);
    } else out.add(spec);
  }
  return out;
}

describe("SDK packaging", function () {
  it("the client, core and session entry points use no Node-only module (a browser can prove and present)", function () {
    for (const entry of ["sdk/client/index.ts", "sdk/core/index.ts", "sdk/session/index.ts"]) {
      const specs = [...importsOf(path.join(ROOT, entry))];
      const nodeOnly = specs.filter(
        (s) => s.startsWith("node:") || ["fs", "path", "crypto", "os", "ioredis", "express"].includes(s),
      );
      expect(nodeOnly, entry).to.deep.equal([]);
    }
  });

  it("every subpath export is built ESM with types and loads in plain Node (no TypeScript loader)", function () {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
      name: string;
      exports: Record<string, { types: string; import: string }>;
    };
    if (!existsSync(path.join(ROOT, "dist"))) execFileSync("npx", ["tsc", "-p", "tsconfig.sdk.json"], { cwd: ROOT });
    for (const [sub, target] of Object.entries(pkg.exports)) {
      expect(existsSync(path.join(ROOT, target.types)), `${sub} types`).to.equal(true);
      expect(existsSync(path.join(ROOT, target.import)), `${sub} js`).to.equal(true);
    }
    // Import each entry point by its package name, as a user would, in a fresh plain Node.
    const script = Object.keys(pkg.exports)
      .map(
        (sub) =>
          `const m${sub.slice(2)} = await import("${pkg.name}/${sub.slice(2)}"); if (!Object.keys(m${sub.slice(2)}).length) throw new Error("${sub} is empty");`,
      )
      .join("\n");
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", `${script}\nconsole.log("ok")`], {
      cwd: ROOT,
      encoding: "utf8",
    });
    expect(out.trim()).to.equal("ok");
    expect(readdirSync(path.join(ROOT, "dist"))).to.include.members([
      "client",
      "server",
      "facilitator",
      "express",
      "node",
      "core",
    ]);
  });

  it("the packed tarball installs into an empty project; its client, server and CLI run there", async function () {
    this.timeout(600_000);
    const work = mkdtempSync(path.join(os.tmpdir(), "402zk-pack-"));
    const env = await startEnv();
    try {
      // `npm pack` runs `prepare` (the SDK and CLI build) and ships only the `files` list.
      const { stdout: packed } = await run("npm", ["pack", "--json", "--pack-destination", work], { cwd: ROOT });
      const [info] = JSON.parse(packed) as { filename: string; files: { path: string }[] }[];
      const shipped = info!.files.map((f) => f.path);
      expect(shipped).to.include.members([
        "bin/402zk.js",
        "dist/cli/main.js",
        "dist/client/index.js",
        "dist/client/index.d.ts",
        "circuits/artifacts/payment.wasm",
        "circuits/artifacts/payment.zkey",
        "circuits/artifacts/payment.vkey.json",
        "docs/base-sepolia.md",
      ]);
      expect(
        shipped.filter((f) => /^(sdk|test|scripts|contracts)\//.test(f)),
        "sources stay out",
      ).to.deep.equal([]);

      const app = path.join(work, "app");
      execFileSync("mkdir", ["-p", app]);
      writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
      await run(
        "npm",
        ["install", path.join(work, info!.filename), "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"],
        { cwd: app },
      );
      // What the SDK needs at run time, and nothing that only builds it.
      const installed = readdirSync(path.join(app, "node_modules"));
      expect(installed).to.include.members(["402zk", "viem", "snarkjs", "express"]);
      expect(installed).to.not.include.members(["hardhat", "tsx", "typescript", "circomlib"]);

      // The CLI, compiled: no TypeScript loader at run time.
      const { stdout: help } = await run(path.join(app, "node_modules", ".bin", "402zk"), ["--help"], { cwd: app });
      expect(help).to.match(/Usage: 402zk/);

      // A paid API and an agent paying it, importing 402zk by its package name.
      copyFileSync(path.join(ROOT, "scripts", "lib", "consumer-app.mjs"), path.join(app, "main.mjs"));
      await env.mint(account(9).address, 50_000n);
      const { stdout } = await run(process.execPath, ["main.mjs"], {
        cwd: app,
        env: {
          ...process.env,
          RPC_URL: env.chain.url,
          POOL: JSON.stringify(env.pool),
          PAYER_KEY: devPrivateKey(9),
          RELAYER_KEY: devPrivateKey(2),
          PAY_TO: account(3).address,
        },
      });
      expect(JSON.parse(stdout.trim().split("\n").at(-1)!)).to.deep.equal({ status: 200, body: { weather: "sunny" } });
    } finally {
      await env.chain.close();
      await shutdownProver();
      rmSync(work, { recursive: true, force: true });
    }
  });
});
