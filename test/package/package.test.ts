import { execFile, execFileSync, spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

import { expect } from "chai";

import { devPrivateKey } from "../../scripts/lib/dev-env.js";
import { ROOT } from "../../scripts/lib/paths.js";
import { shutdownProver } from "../../sdk/core/prover.js";
import { distFresh } from "../helpers/cli-build.js";
import { account, startEnv } from "../helpers/x402-env.js";

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
      const target = path.resolve(path.dirname(file), spec.replace(/\.js$/, ".ts").replace(/\.cjs$/, ".cts"));
      for (const s of importsOf(target, seen)) out.add(s);
    } else out.add(spec);
  }
  return out;
}

/** Pack-list entries that are not for users: local chains' records, databases, secrets. */
const notForUsers = (f: string) =>
  /^deployments\/(localhost|hardhat)\.json$/.test(f) ||
  /\.sqlite(-\w+)?$/.test(f) ||
  /(^|\/)\.env(\..*)?$/.test(f) ||
  f.startsWith("docs/api/");

/** The version of the Node at `bin`, or undefined when there is none. */
function nodeVersion(bin: string): string | undefined {
  try {
    return execFileSync(bin, ["--version"], { encoding: "utf8" }).trim();
  } catch {
    return undefined;
  }
}

/** A Node older than 22.13 on this machine (Debian's /usr/bin/node, or $ZK402_OLD_NODE). */
function oldNode(): { bin: string; version: string } | undefined {
  for (const bin of [process.env.ZK402_OLD_NODE, "/usr/bin/node", "/usr/local/bin/node"]) {
    if (!bin) continue;
    const version = nodeVersion(bin);
    const m = version && /^v(\d+)\.(\d+)\./.exec(version);
    if (m && (Number(m[1]) < 22 || (Number(m[1]) === 22 && Number(m[2]) < 13))) return { bin, version: version! };
  }
  return undefined;
}

/**
 * A page's code on 402zk/browser, type-checked in the consumer app: a wallet's seed from
 * the injected provider, the IndexedDB stores, the worker prover and the paywall page.
 */
const BROWSER_PAGE = `import {
  IndexedDbNoteStore,
  IndexedDbSessionStore,
  createWorkerProver,
  deriveSeed,
  mountPaywall,
  workerArtifacts,
  type Eip1193Provider,
  type PaywallPageConfig,
} from "402zk/browser";
import type { NoteStore } from "402zk/client";

export async function open(provider: Eip1193Provider, config: PaywallPageConfig, account: \`0x\${string}\`) {
  const seed: \`0x\${string}\` = await deriveSeed(provider, {
    origin: location.origin,
    chainId: 84532,
    facilitator: account,
    account,
  });
  const notes: NoteStore = new IndexedDbNoteStore(\`402zk-\${seed.slice(2, 10)}\`);
  const sessions = new IndexedDbSessionStore("402zk-sessions");
  const prover = createWorkerProver(config.workerUrl);
  const artifacts = await workerArtifacts("payment", config.artifactsBaseUrl, prover);
  return { notes, sessions, artifacts, mount: () => mountPaywall(provider) };
}
`;

/**
 * Imports 402zk/browser with the page globals trapped: any read of one at import (even a
 * \`typeof\` test) is recorded. Prints what was touched and the types of three exports.
 */
const BROWSER_IMPORT = `
const touched = [];
for (const name of ["window", "document", "indexedDB", "caches", "location", "Worker"]) {
  Object.defineProperty(globalThis, name, { configurable: true, get() { touched.push(name); return undefined; } });
}
const m = await import("402zk/browser");
const exports = Object.fromEntries(["mountPaywall", "deriveSeed", "IndexedDbNoteStore"].map((k) => [k, typeof m[k]]));
console.log(JSON.stringify({ touched, exports }));
`;

describe("SDK packaging", function () {
  it("the client, core, session and browser entry points use no Node-only module (a browser can prove and present)", function () {
    for (const entry of ["sdk/client/index.ts", "sdk/core/index.ts", "sdk/session/index.ts", "sdk/browser/index.ts"]) {
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

  it("the files list packs no local records, databases or secrets, even when they lie in the tree", function () {
    this.timeout(60_000);
    // A scratch package with this package.json and the files a working tree collects
    // (a running local node's record, the facilitator's database, an .env): npm pack's list.
    const dir = mkdtempSync(path.join(os.tmpdir(), "402zk-files-"));
    try {
      copyFileSync(path.join(ROOT, "package.json"), path.join(dir, "package.json"));
      const present = [
        "dist/core/index.js",
        "dist/core/index.js.map",
        "dist/core/index.d.ts.map",
        "bin/402zk.js",
        "scripts/check-node.cjs",
        "scripts/demo/index.ts",
        "circuits/artifacts/payment.wasm",
        "deployments/README.md",
        "deployments/base-sepolia.json",
        "deployments/localhost.json",
        "deployments/hardhat.json",
        "docs/base-sepolia.md",
        "docs/api/index.html",
        "402zk-facilitator.sqlite",
        "dist/facilitator.sqlite-wal",
        "deployments/.env",
        ".env",
        ".env.local",
        "README.md",
      ];
      for (const f of present) {
        mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
        writeFileSync(path.join(dir, f), "{}");
      }
      const out = execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
        cwd: dir,
        encoding: "utf8",
      });
      const files = (JSON.parse(out) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path).sort();
      expect(files).to.deep.equal(
        [
          "README.md",
          "bin/402zk.js",
          "circuits/artifacts/payment.wasm",
          "deployments/README.md",
          "deployments/base-sepolia.json",
          "dist/core/index.js",
          "dist/core/index.js.map",
          "docs/base-sepolia.md",
          "package.json",
          "scripts/check-node.cjs",
        ].sort(),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("install refuses Node < 22.13 with a clear message, also as a consumer's dependency (preinstall)", async function () {
    this.timeout(120_000);
    const old = oldNode();
    if (!old) {
      console.log("      (skipped: no Node older than 22.13 here; set ZK402_OLD_NODE to one)");
      this.skip();
    }
    // The check itself, run by the old Node.
    const direct = spawnSync(old!.bin, [path.join(ROOT, "scripts", "check-node.cjs")], { encoding: "utf8" });
    expect(direct.status, direct.stderr).to.equal(1);
    expect(direct.stderr).to.include(`402zk needs Node >= 22.13 (you have ${old!.version})`);
    // The current Node passes it.
    const ok = spawnSync(process.execPath, [path.join(ROOT, "scripts", "check-node.cjs")], { encoding: "utf8" });
    expect(ok.status, ok.stderr).to.equal(0);

    // A consumer installing the package: npm runs a dependency's preinstall with the `node`
    // on PATH (engines only warns, and engine-strict is the consumer's setting). A package
    // with this package.json's name, preinstall and check script, without dependencies, so
    // that the install needs no registry.
    const work = mkdtempSync(path.join(os.tmpdir(), "402zk-oldnode-"));
    try {
      const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
        name: string;
        version: string;
        engines: unknown;
        scripts: { preinstall: string };
      };
      const lib = path.join(work, "lib");
      mkdirSync(path.join(lib, "scripts"), { recursive: true });
      copyFileSync(path.join(ROOT, "scripts", "check-node.cjs"), path.join(lib, "scripts", "check-node.cjs"));
      writeFileSync(
        path.join(lib, "package.json"),
        JSON.stringify({
          name: pkg.name,
          version: pkg.version,
          engines: pkg.engines,
          scripts: { preinstall: pkg.scripts.preinstall },
          files: ["scripts/check-node.cjs"],
        }),
      );
      const { stdout: packed } = await run("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", work], {
        cwd: lib,
      });
      const tgz = path.join(work, (JSON.parse(packed) as { filename: string }[])[0]!.filename);
      const app = path.join(work, "app");
      mkdirSync(app);
      writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "app", private: true }));
      const pathWithOld = `${path.dirname(old!.bin)}${path.delimiter}${process.env.PATH}`;
      const install = spawnSync("npm", ["install", tgz, "--no-audit", "--no-fund", "--offline"], {
        cwd: app,
        encoding: "utf8",
        env: { ...process.env, PATH: pathWithOld },
      });
      expect(install.status, install.stdout + install.stderr).to.not.equal(0);
      expect(install.stdout + install.stderr).to.include(`402zk needs Node >= 22.13 (you have ${old!.version})`);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it("the packed tarball installs into an empty project; its client, server and CLI run there", async function () {
    this.timeout(600_000);
    const work = mkdtempSync(path.join(os.tmpdir(), "402zk-pack-"));
    const env = await startEnv();
    try {
      // `npm pack` runs `prepare` (the SDK and CLI build) and ships only the `files` list.
      // Its stdout is prepare's output (scripts/build-browser.mjs prints the bundles' sizes)
      // and then npm's JSON, which starts at the first line that opens an array. When dist/
      // already holds what prepare would build from these sources (CI's `npm ci` ran it just
      // before), the pack skips that second identical build (~25 s of tsc): same tarball.
      const ignoreScripts = distFresh() ? ["--ignore-scripts"] : [];
      const { stdout: packed } = await run("npm", ["pack", "--json", ...ignoreScripts, "--pack-destination", work], {
        cwd: ROOT,
      });
      const json = packed.search(/^\[/m);
      expect(json, `npm pack --json printed no JSON:\n${packed}`).to.be.at.least(0);
      const [info] = JSON.parse(packed.slice(json)) as { filename: string; files: { path: string }[] }[];
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
        // The paywall page's bundles (prepare's scripts/build-browser.mjs), which the gate
        // serves from the installed package, and 402zk/browser itself.
        "dist/paywall/paywall.js",
        "dist/paywall/prover-worker.js",
        "dist/browser/index.js",
        "dist/browser/index.d.ts",
      ]);
      // The chunks esbuild split the bundles into ship too: without one the page fails to load.
      for (const entry of ["paywall.js", "prover-worker.js"]) {
        const code = readFileSync(path.join(ROOT, "dist", "paywall", entry), "utf8");
        const chunks = [...code.matchAll(/["']\.\/(chunk-[A-Za-z0-9]+\.js)["']/g)].map((m) => `dist/paywall/${m[1]}`);
        expect(chunks.length, `${entry} imports its chunks`).to.be.greaterThan(0);
        expect(shipped, entry).to.include.members(chunks);
      }
      expect(
        shipped.filter((f) => /^(sdk|test|scripts|contracts)\//.test(f) && f !== "scripts/check-node.cjs"),
        "sources stay out",
      ).to.deep.equal([]);
      expect(shipped, "the preinstall check ships (it runs in consumers' installs)").to.include(
        "scripts/check-node.cjs",
      );
      expect(shipped.filter(notForUsers), "only records and files meant for users").to.deep.equal([]);
      // Source maps: sources inlined, so a stack trace or debugger that follows them needs
      // no sdk/*.ts (not shipped); no declaration maps (they would point at sdk/*.ts).
      expect(shipped.filter((f) => f.endsWith(".d.ts.map"))).to.deep.equal([]);
      const maps = shipped.filter((f) => f.endsWith(".js.map"));
      expect(maps.length, "source maps of dist/").to.be.greaterThan(20);
      for (const m of maps) {
        const map = JSON.parse(readFileSync(path.join(ROOT, m), "utf8")) as {
          sources: string[];
          sourcesContent?: (string | null)[];
        };
        expect(map.sourcesContent?.length, `${m} inlines its sources`).to.equal(map.sources.length);
        expect(
          map.sourcesContent!.every((c) => typeof c === "string" && c.length > 0),
          m,
        ).to.equal(true);
      }

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
      expect(installed).to.include.members(["402zk", "viem", "snarkjs"]);
      expect(installed).to.not.include.members(["hardhat", "tsx", "typescript", "circomlib"]);
      // The frameworks are optional peers: none comes with the package.
      for (const peer of ["express", "hono", "next", "axios"]) expect(installed, peer).to.not.include(peer);
      expect(readdirSync(path.join(app, "node_modules", "@x402"))).to.not.include("express");

      // A consumer's TypeScript: the README's agent, session client and remote-facilitator
      // API type-check with tsc --strict and WITHOUT skipLibCheck, with the package's types
      // as shipped and no ioredis installed (an optional peer the published types must not need).
      expect(existsSync(path.join(app, "node_modules", "ioredis")), "ioredis is not installed").to.equal(false);
      mkdirSync(path.join(app, "node_modules", "@types"), { recursive: true });
      for (const t of ["node", "express"]) {
        // What `npm install -D @types/node @types/express` would add, linked from this checkout.
        const at = path.join(app, "node_modules", "@types", t);
        if (!existsSync(at)) symlinkSync(path.join(ROOT, "node_modules", "@types", t), at, "dir");
      }
      // remote-api.ts is an Express app: what `npm install @x402/express` adds for it (the
      // Hono app below must still load no Express module, though it could resolve this one).
      symlinkSync(
        path.join(ROOT, "node_modules", "@x402", "express"),
        path.join(app, "node_modules", "@x402", "express"),
        "dir",
      );
      for (const f of ["agent.ts", "session-client.ts", "remote-api.ts"]) {
        copyFileSync(path.join(ROOT, "examples", f), path.join(app, f));
      }
      // A page's code on 402zk/browser (DOM types: the tsconfig's lib has them).
      writeFileSync(path.join(app, "page.ts"), BROWSER_PAGE);
      writeFileSync(
        path.join(app, "tsconfig.json"),
        JSON.stringify({
          compilerOptions: {
            target: "ES2023",
            lib: ["ES2023", "DOM"],
            module: "nodenext",
            moduleResolution: "nodenext",
            strict: true,
            skipLibCheck: false,
            noEmit: true,
            types: ["node"],
          },
          include: ["agent.ts", "session-client.ts", "remote-api.ts", "page.ts"],
        }),
      );
      await run(
        process.execPath,
        [path.join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"],
        {
          cwd: app,
        },
      ).catch((err: { stdout?: string }) => {
        throw new Error(`consumer type-check failed:\n${err.stdout ?? String(err)}`);
      });

      // 402zk/browser resolves by its package name and imports in plain Node: nothing runs
      // at import that needs a page (a bundler or a test imports it outside one).
      const { stdout: browserImport } = await run(process.execPath, ["--input-type=module", "-e", BROWSER_IMPORT], {
        cwd: app,
      });
      expect(JSON.parse(browserImport.trim().split("\n").at(-1)!)).to.deep.equal({
        touched: [],
        exports: { mountPaywall: "function", deriveSeed: "function", IndexedDbNoteStore: "function" },
      });

      // The CLI, compiled: no TypeScript loader at run time.
      const { stdout: help } = await run(path.join(app, "node_modules", ".bin", "402zk"), ["--help"], { cwd: app });
      expect(help).to.match(/Usage: 402zk/);
      // `402zk mcp` needs the MCP SDK, an optional peer this app did not install: a clear
      // error naming what to install, not a module-resolution crash.
      const mcp = await run(path.join(app, "node_modules", ".bin", "402zk"), ["mcp"], { cwd: app }).then(
        () => expect.fail("402zk mcp ran without the MCP SDK"),
        (err: { code?: number; stderr?: string }) => err,
      );
      expect(mcp.code).to.not.equal(0);
      expect(mcp.stderr).to.include("npm install @modelcontextprotocol/sdk");

      // A paid API on Hono and an agent paying it, importing 402zk by its package name: the
      // Hono app's own dependencies (what `npm install hono @hono/node-server @x402/hono`
      // would add), linked from this checkout; Express stays out of the app.
      for (const dep of ["hono", "@hono/node-server", "@x402/hono"]) {
        const at = path.join(app, "node_modules", dep);
        mkdirSync(path.dirname(at), { recursive: true });
        if (!existsSync(at)) symlinkSync(path.join(ROOT, "node_modules", dep), at, "dir");
      }
      copyFileSync(path.join(ROOT, "test", "package", "consumer-app.mjs.tmpl"), path.join(app, "main.mjs"));
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
      const result = JSON.parse(stdout.trim().split("\n").at(-1)!) as {
        status: number;
        body: unknown;
        resolved: number;
        express: string[];
      };
      expect(result).to.deep.include({ status: 200, body: { weather: "sunny" } });
      // Every module Node resolved was recorded (hundreds: 402zk, x402, viem, hono, ...);
      // none of them is Express's or @x402/express's.
      expect(result.resolved).to.be.greaterThan(100);
      expect(result.express, "Express modules loaded by a Hono app").to.deep.equal([]);
    } finally {
      await env.chain.close();
      await shutdownProver();
      rmSync(work, { recursive: true, force: true });
    }
  });
});
