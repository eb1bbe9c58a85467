import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";
import hre from "hardhat";

import { artifactFileNames, CIRCUIT_NAMES, CIRCUITS, type CircuitName } from "../../sdk/core/circuits/registry.js";
import { NETWORKS, type Deployment } from "../../sdk/core/deployment.js";
import { shutdownProver } from "../../sdk/core/prover.js";
import { devAccount, devPrivateKey } from "../../scripts/lib/dev-env.js";
import { startLocalChain } from "../../scripts/lib/local-chain.js";
import { ARTIFACTS_DIR, ROOT } from "../../scripts/lib/paths.js";
import { buildCli, withCompileCache } from "../helpers/cli-build.js";
import { startRedis } from "../helpers/redis.js";
import { collectOutput, type ProcessResult as Run } from "../helpers/process.js";

const BIN = path.join(ROOT, "bin", "402zk.js");
const GUIDE = path.join(ROOT, "docs", "base-sepolia.md");
const BASE_SEPOLIA_USDC = "0x036CbD53842c5426634e7929541eC2318f3dCF7e";

/** The command lines of the guide's ```sh blocks (comments and blank lines dropped). */
function guideCommands(): string[] {
  const md = readFileSync(GUIDE, "utf8");
  const blocks = [...md.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  return blocks
    .flatMap((b) => b.split("\n"))
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
}

describe("one network name everywhere", function () {
  it("Hardhat's network key is the CLI's and the record's: base-sepolia (chain 84532), base (8453)", function () {
    const networks = hre.config.networks as Record<string, { chainId?: number }>;
    expect(networks["base-sepolia"]?.chainId).to.equal(NETWORKS["base-sepolia"]);
    expect(networks.base?.chainId).to.equal(NETWORKS.base);
    expect(networks).to.not.have.property("baseSepolia");
  });

  it("no file of the repository names the camel-case network", function () {
    const files: string[] = ["README.md", "hardhat.config.ts", "package.json"];
    const walk = (dir: string) => {
      for (const f of readdirSync(path.join(ROOT, dir))) {
        const rel = path.join(dir, f);
        if (statSync(path.join(ROOT, rel)).isDirectory()) walk(rel);
        else if (/\.(ts|md|json|js|mjs)$/.test(f)) files.push(rel);
      }
    };
    for (const d of ["docs", "scripts", "sdk", "deployments", "bench"]) if (existsSync(path.join(ROOT, d))) walk(d);
    const offending = files.filter((f) =>
      /--network baseSepolia|\bbaseSepolia:/.test(readFileSync(path.join(ROOT, f), "utf8")),
    );
    expect(offending).to.deep.equal([]);
  });
});

describe("circuit manifests record r1cs and ptau hashes", function () {
  /**
   * Each circuit compiled with circom2 into a temporary folder. The compilations (single-
   * threaded WebAssembly, ~20 s each) start in `before`, as many at once as there are cores,
   * instead of one per test one after the other; each test awaits its own circuit's.
   */
  const compiled = new Map<CircuitName, Promise<string>>();
  const outDirs: string[] = [];
  function circom2(name: CircuitName): Promise<string> {
    const out = mkdtempSync(path.join(os.tmpdir(), "402zk-r1cs-"));
    outDirs.push(out);
    const child = spawn(
      path.join(ROOT, "node_modules", ".bin", "circom2"),
      [CIRCUITS[name].main, "--O2", "--r1cs", "--wasm", "-l", "node_modules", "-o", out],
      { cwd: ROOT, stdio: "ignore" },
    );
    return new Promise<string>((resolve, reject) => {
      child.on("error", reject);
      child.on("close", (code) =>
        code === 0 ? resolve(out) : reject(new Error(`circom2 ${name} exited with ${code}`)),
      );
    });
  }

  before(function () {
    // Lanes of one compilation at a time, one lane per core.
    const lanes = Math.max(1, Math.min(os.availableParallelism(), CIRCUIT_NAMES.length));
    const tails: Promise<unknown>[] = Array.from({ length: lanes }, () => Promise.resolve());
    CIRCUIT_NAMES.forEach((name, i) => {
      const p = tails[i % lanes]!.then(() => circom2(name));
      // Awaited by this circuit's test, which reports a failure; the lane goes on regardless.
      tails[i % lanes] = p.catch(() => {});
      compiled.set(name, p);
    });
  });

  after(function () {
    for (const out of outDirs) rmSync(out, { recursive: true, force: true });
  });

  it("the build script records both for every setup built from now on", function () {
    const build = readFileSync(path.join(ROOT, "scripts", "build-circuits.ts"), "utf8");
    expect(build).to.match(/r1cs: sha256\(r1cs\)/);
    expect(build).to.match(/ptau: sha256\(ptau\)/);
  });

  // Every circuit of the registry, from its manifest <name>.manifest.json.
  for (const name of CIRCUIT_NAMES) {
    describe(name, function () {
      const manifest = JSON.parse(readFileSync(path.join(ARTIFACTS_DIR, artifactFileNames(name).manifest), "utf8"));

      it("records sha256.r1cs, and ptau honestly (null with a note for the development setup)", function () {
        expect(manifest.sha256.r1cs).to.match(/^[0-9a-f]{64}$/);
        expect(manifest.sha256).to.have.property("ptau");
        if (manifest.sha256.ptau === null) {
          expect(manifest.developmentSetup).to.equal(true);
          expect(manifest.notes.ptau).to.match(/not kept/);
        } else {
          expect(manifest.sha256.ptau).to.match(/^[0-9a-f]{64}$/);
        }
      });

      it("the recorded r1cs hash is what the circuit source compiles to (and the wasm matches too)", async function () {
        this.timeout(120_000);
        const main = CIRCUITS[name].main;
        const base = path.basename(main, ".circom");
        const out = await compiled.get(name)!;
        const sha = (f: string) => createHash("sha256").update(readFileSync(f)).digest("hex");
        expect(sha(path.join(out, `${base}_js`, `${base}.wasm`))).to.equal(manifest.sha256.wasm);
        expect(sha(path.join(out, `${base}.r1cs`))).to.equal(manifest.sha256.r1cs);
      });
    });
  }
});

describe("docs/base-sepolia.md, every command, against a local chain 84532 with a USDC-like token", function () {
  let chain: Awaited<ReturnType<typeof startLocalChain>>;
  let redis: Awaited<ReturnType<typeof startRedis>> | undefined;
  let work: string;
  let deployments: string;
  const children: ChildProcess[] = [];
  /** The environment the guide's `export` lines build, plus what points it at the local chain. */
  let env: Record<string, string | undefined>;

  before(async function () {
    this.timeout(300_000);
    // The CLI runs from dist/ (bin/402zk.js): built from the current sources unless it is already.
    buildCli({ strict: true });
    chain = await startLocalChain({ chainId: 84532 });
    // Base Sepolia USDC's address holds a FiatToken-like token (name "USDC", version "2",
    // no eip712Domain()): its code, and its name and symbol slots, copied from a fresh one.
    const fiat = await chain.ethers.deployContract("FiatTokenLike", ["USDC"]);
    await fiat.waitForDeployment();
    const fiatAddress = await fiat.getAddress();
    const rpc = (method: string, params: unknown[]) =>
      chain.provider.request({ method: method as never, params: params as never }) as Promise<string>;
    await rpc("hardhat_setCode", [BASE_SEPOLIA_USDC, await rpc("eth_getCode", [fiatAddress, "latest"])]);
    for (const slot of ["0x3", "0x4"]) {
      const value = await rpc("eth_getStorageAt", [fiatAddress, slot, "latest"]);
      await rpc("hardhat_setStorageAt", [BASE_SEPOLIA_USDC, `0x${"0".repeat(63)}${slot.slice(2)}`, value]);
    }
    const usdc = await chain.ethers.getContractAt("FiatTokenLike", BASE_SEPOLIA_USDC);
    expect(await usdc.name()).to.equal("USDC");
    await (await usdc.mint(devAccount(1).address, 10_000_000n)).wait();
    try {
      redis = await startRedis();
    } catch {
      redis = undefined;
    }
    work = mkdtempSync(path.join(os.tmpdir(), "402zk-guide-"));
    deployments = path.join(work, "deployments");
    mkdirSync(deployments);
    env = withCompileCache({
      ...process.env,
      // The wallet goes to ~/.402zk/base-sepolia: a temporary home.
      HOME: work,
      ZK402_DEPLOYMENTS_DIR: deployments,
      ZK402_SEED: "",
      ZK402_PRIVATE_KEY: "",
      ZK402_NETWORK: "",
      REDIS_URL: redis?.url ?? "",
    });
  });

  after(async function () {
    for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
    await redis?.stop();
    await chain?.close();
    await shutdownProver();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** What the test substitutes for the guide's placeholders: the local chain and dev keys. */
  const local = () => ({
    BASE_SEPOLIA_RPC_URL: chain.url,
    BASE_SEPOLIA_PRIVATE_KEY: devPrivateKey(0),
    RELAYER_KEY: devPrivateKey(2),
    RELAYER_ADDRESS: devAccount(2).address,
    ZK402_PRIVATE_KEY: devPrivateKey(1),
  });

  function spawnLine(line: string): ChildProcess {
    const cmd = line.replace(/\bnpx 402zk\b/g, `node ${BIN}`);
    const child = spawn("bash", ["-c", cmd], {
      cwd: ROOT,
      env: env as NodeJS.ProcessEnv,
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    return child;
  }

  function runLine(line: string): Promise<Run> {
    const child = spawnLine(line);
    return collectOutput(child);
  }

  it("runs the guide from deploy to a paid request, then doctor fails on a wrong chain and a missing contract", async function () {
    this.timeout(600_000);
    const commands = guideCommands();
    expect(commands).to.include(`TOKEN=${BASE_SEPOLIA_USDC} npx hardhat run scripts/deploy.ts --network base-sepolia`);
    const ran: string[] = [];
    let serverUrl: string | undefined;
    for (const line of commands) {
      const exp = /^export (\w+)=(.*)$/.exec(line);
      if (exp) {
        const name = exp[1]!;
        const overrides = local() as Record<string, string>;
        // Placeholders (keys, the public RPC) are replaced by the local chain's; the rest is
        // evaluated as the guide writes it (e.g. the random challenge secret).
        env[name] =
          overrides[name] ??
          execFileSync("bash", ["-c", `printf %s ${exp[2]}`], {
            env: env as NodeJS.ProcessEnv,
            encoding: "utf8",
          }).trim();
        ran.push(line);
        continue;
      }
      if (line.endsWith("&")) {
        const child = spawnLine(line.slice(0, -1).trim());
        let stdout = "";
        let stderr = "";
        child.stdout!.on("data", (b: Buffer) => (stdout += b.toString()));
        child.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
        const deadline = Date.now() + 60_000;
        while (!/example API on (http:\S+)/.test(stdout)) {
          if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${line}: ${stderr}`);
          await new Promise((r) => setTimeout(r, 50));
        }
        serverUrl = /example API on (http:\S+)/.exec(stdout)![1]!;
        ran.push(line);
        continue;
      }
      // The guide's API listens on :4021; so does the one the test started.
      const r = await runLine(line);
      expect(r.code, `${line}\n${r.stdout}\n${r.stderr}`).to.equal(0);
      ran.push(line);
      if (line.includes("scripts/deploy.ts")) {
        const record = JSON.parse(readFileSync(path.join(deployments, "base-sepolia.json"), "utf8")) as Deployment;
        expect(record.chainId).to.equal(84532);
        expect(record.token).to.equal(BASE_SEPOLIA_USDC);
        expect(record.token_info.eip712Version).to.equal("2");
        expect(record.token_info.eip712Name).to.equal("USDC");
      }
      if (line.includes(" doctor")) expect(r.stdout).to.not.contain("FAIL");
      if (line.includes(" pay ")) expect(r.stdout).to.contain("sunny");
    }
    expect(serverUrl).to.contain(":4021");
    expect(ran.some((l) => l.includes(" deposit "))).to.equal(true);
    expect(ran.some((l) => l.includes(" pay "))).to.equal(true);

    // doctor with Redis (when the machine has redis-server): all ok, exit 0.
    if (redis) {
      const r = await runLine(`npx 402zk --network base-sepolia doctor --redis ${redis.url}`);
      expect(r.code, r.stdout + r.stderr).to.equal(0);
      expect(r.stdout).to.match(/ok\s+redis/);
    }
    // A relayer without ETH, and Redis down: both named, exit 1.
    const poor = await runLine(
      `npx 402zk --network base-sepolia doctor --relayer 0x000000000000000000000000000000000000dEaD --redis redis://127.0.0.1:1`,
    );
    expect(poor.code).to.equal(1);
    expect(poor.stdout).to.match(/FAIL\s+relayer balance: .*send it at least/);
    expect(poor.stdout).to.match(/FAIL\s+redis/);

    // The record on another chain: doctor says so, exit 1.
    const record = JSON.parse(readFileSync(path.join(deployments, "base-sepolia.json"), "utf8")) as Deployment;
    const wrongDir = path.join(work, "wrong");
    mkdirSync(wrongDir);
    writeFileSync(path.join(wrongDir, "base-sepolia.json"), JSON.stringify({ ...record, chainId: 8453 }));
    const wrongChain = await runLine(`npx 402zk --network base-sepolia --deployments ${wrongDir} doctor --json`);
    expect(wrongChain.code).to.equal(1);
    const checks = JSON.parse(wrongChain.stdout.trim().split("\n").at(-1)!) as {
      ok: boolean;
      checks: { name: string; ok: boolean; message: string }[];
    };
    expect(checks.ok).to.equal(false);
    expect(checks.checks.find((c) => c.name === "chain id")?.message).to.match(
      /chain 84532, the base-sepolia record on 8453/,
    );

    // A recorded contract without code: named, exit 1.
    writeFileSync(
      path.join(wrongDir, "base-sepolia.json"),
      JSON.stringify({ ...record, verifier: "0x00000000000000000000000000000000000000aa" }),
    );
    const missing = await runLine(`npx 402zk --network base-sepolia --deployments ${wrongDir} doctor`);
    expect(missing.code).to.equal(1);
    expect(missing.stdout).to.match(/FAIL\s+contract code: no code at verifier 0x0+aa/);

    // A recorded verifier that is some other contract: the vkey's constants are not in its code.
    writeFileSync(path.join(wrongDir, "base-sepolia.json"), JSON.stringify({ ...record, verifier: record.poseidonT3 }));
    const otherVerifier = await runLine(`npx 402zk --network base-sepolia --deployments ${wrongDir} doctor`);
    expect(otherVerifier.code).to.equal(1);
    expect(otherVerifier.stdout).to.match(/FAIL\s+pool wiring/);
    expect(otherVerifier.stdout).to.match(/FAIL\s+verifier contract: \d+ vkey constants are missing/);

    // A record whose vkey is not this SDK's.
    writeFileSync(
      path.join(wrongDir, "base-sepolia.json"),
      JSON.stringify({ ...record, circuit: { ...record.circuit, vkeySha256: "00".repeat(32) } }),
    );
    const vk = await runLine(`npx 402zk --network base-sepolia --deployments ${wrongDir} doctor`);
    expect(vk.code).to.equal(1);
    expect(vk.stdout).to.match(/FAIL\s+verification key/);

    // An unreachable RPC.
    const down = await runLine(`npx 402zk --network base-sepolia --rpc http://127.0.0.1:1 doctor`);
    expect(down.code).to.equal(1);
    expect(down.stdout).to.match(/FAIL\s+rpc: http:\/\/127.0.0.1:1 is not reachable/);
  });
});
