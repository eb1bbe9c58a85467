import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";

import { devPrivateKey } from "../scripts/lib/demo-env.js";
import { ROOT } from "../scripts/lib/paths.js";
import { saveDeployment } from "../sdk/node/deployments.js";
import { account, startEnv, type Env } from "./helpers/x402-env.js";

const EXAMPLES = ["examples/agent.ts", "examples/api-server.ts"];

/** Runs an example with tsx; resolves with its output once `until` appears (or it exits). */
function runExample(file: string, env: Record<string, string>, until?: RegExp) {
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", file], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const done = new Promise<{ out: string; code: number | null }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${file} timed out:\n${out}`)), 180_000);
    const onData = (b: Buffer) => {
      out += b.toString();
      if (until?.test(out)) {
        clearTimeout(timer);
        resolve({ out, code: null });
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ out, code });
    });
  });
  return { child, done };
}

describe("README examples (examples/*.ts): the snippets compile under --strict and run", function () {
  let env: Env;
  let dir: string;

  before(async function () {
    env = await startEnv();
    dir = mkdtempSync(path.join(os.tmpdir(), "402zk-examples-"));
  });

  after(async function () {
    await env?.chain.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("the README shows each example file verbatim", function () {
    const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
    for (const file of EXAMPLES) {
      const src = readFileSync(path.join(ROOT, file), "utf8").trim();
      expect(readme.includes("```ts\n" + src + "\n```"), `${file} is in README.md as a ts block`).to.equal(true);
    }
  });

  it("type-check with tsc --strict against the built package (imports by package name)", function () {
    execFileSync("npx", ["tsc", "-p", "tsconfig.sdk.json"], { cwd: ROOT, stdio: "pipe" });
    execFileSync("npx", ["tsc", "-p", "examples/tsconfig.json"], { cwd: ROOT, stdio: "pipe" });
  });

  it("run: the API server starts, the agent deposits and pays it over x402", async function () {
    this.timeout(300_000);
    saveDeployment(env.record as never, dir);
    await env.mint(account(9).address, 2_000_000n);
    const common = { RPC_URL: env.chain.url, ZK402_NETWORK: env.record.network, ZK402_DEPLOYMENTS_DIR: dir };
    const port = String(40_000 + Math.floor(Math.random() * 10_000));
    const server = runExample(
      "examples/api-server.ts",
      {
        ...common,
        RELAYER_KEY: devPrivateKey(1),
        PAY_TO: account(3).address,
        CHALLENGE_SECRET: "examples-secret-0123456789abcdef",
        PORT: port,
      },
      /listening on/,
    );
    try {
      const up = await server.done;
      expect(up.out, up.out).to.match(/listening on/);
      const agent = runExample("examples/agent.ts", {
        ...common,
        HOME: dir,
        ZK402_SEED: `0x${"3c".repeat(32)}`,
        PAYER_KEY: devPrivateKey(9),
        API_URL: `http://127.0.0.1:${port}/weather`,
      });
      const r = await agent.done;
      expect(r.code, r.out).to.equal(0);
      expect(r.out).to.include('200 {"weather":"sunny"}');
    } finally {
      server.child.kill();
    }
  });
});
