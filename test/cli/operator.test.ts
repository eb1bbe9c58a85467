import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import net, { type AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";

import { HTTPFacilitatorClient } from "@x402/core/server";
import { expect } from "chai";
import express from "express";
import type { Address } from "viem";

import {
  ALLOW_DEVELOPMENT_SETUP_ENV,
  ALLOW_DEVELOPMENT_SETUP_VALUE,
  artifactsCircuitVersion,
  circuitVersionCheck,
  developmentSetupRisk,
  doctorVerdict,
  type DoctorCheck,
} from "../../sdk/cli/doctor.js";
import { facilitatorConfig, type FacilitatorFlags } from "../../sdk/cli/facilitator.js";
import type { Deployment } from "../../sdk/core/deployment.js";
import { shutdownProver } from "../../sdk/core/prover.js";
import { zkPaymentMiddleware } from "../../sdk/express/index.js";
import { createZkRemoteResourceServer } from "../../sdk/server/remote.js";
import type { EnvVars, ServiceConfig } from "../../sdk/service/config.js";
import { developmentSetupDecision } from "../../scripts/lib/deploy.js";
import { devAccount, devPrivateKey } from "../../scripts/lib/dev-env.js";
import { startLocalChain } from "../../scripts/lib/local-chain.js";
import { ROOT } from "../../scripts/lib/paths.js";
import { buildCli, withCompileCache } from "../helpers/cli-build.js";
import { collectOutput, type ProcessResult } from "../helpers/process.js";
import { spawnFacilitator, tempDir } from "../helpers/service.js";
import { account, startEnv, type Env } from "../helpers/x402-env.js";

const BIN = path.join(ROOT, "bin", "402zk.js");

/**
 * The environment of a child process, without this machine's 402zk and npm settings (typed
 * for spawn: Next's types make NODE_ENV a required key of NodeJS.ProcessEnv).
 */
function cleanEnv(extra: EnvVars = {}): NodeJS.ProcessEnv {
  const env: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(ZK402_|npm_|BASE_|TOKEN|PREWARM|REDIS_URL|DEPLOY_TIMEOUT)/.test(k)) env[k] = v;
  }
  return withCompileCache({ ...env, ...extra }) as NodeJS.ProcessEnv;
}

/** A TCP port nobody listens on (yet). */
async function freePort(): Promise<number> {
  const s = net.createServer();
  s.listen(0, "127.0.0.1");
  await once(s, "listening");
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

describe("operators (#17): deploy, doctor, facilitator configuration, signals, deployment files", function () {
  let chain: Awaited<ReturnType<typeof startLocalChain>>;
  let work: string;
  let deployments: string;
  let record: Deployment;
  const children: ChildProcess[] = [];

  before(async function () {
    this.timeout(300_000);
    buildCli({ stdio: "ignore" });
    // A public chain id (Base Sepolia's), so that the deploy script treats it as not local.
    chain = await startLocalChain({ chainId: 84532 });
    work = mkdtempSync(path.join(os.tmpdir(), "402zk-operator-"));
    deployments = path.join(work, "deployments");
    mkdirSync(deployments);
  });

  after(async function () {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    await chain?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const nonce = async (a: Address) =>
    Number(await chain.provider.request({ method: "eth_getTransactionCount", params: [a, "latest"] }));
  const blockNumber = async () => Number(await chain.provider.request({ method: "eth_blockNumber" }));

  function runDeploy(extra: EnvVars): Promise<ProcessResult> {
    const child = spawn("npx", ["hardhat", "run", "scripts/deploy.ts", "--network", "base-sepolia"], {
      cwd: ROOT,
      env: cleanEnv({
        BASE_SEPOLIA_RPC_URL: chain.url,
        BASE_SEPOLIA_PRIVATE_KEY: devPrivateKey(0),
        ZK402_DEPLOYMENTS_DIR: deployments,
        PREWARM: "0",
        ROOT_HISTORY: "64",
        ...extra,
      }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    return collectOutput(child);
  }

  function runCli(args: string[], env: EnvVars = {}): Promise<ProcessResult> {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: cleanEnv({ HOME: work, ...env }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    return collectOutput(child);
  }

  it("deploy decision: a development setup goes to local chains only, elsewhere only with the flag that names the risk", function () {
    for (const chainId of [31337, 1337]) {
      expect(developmentSetupDecision({ chainId, developmentSetup: true })).to.deep.equal({ deploy: true });
      expect(developmentSetupRisk(chainId, true)).to.equal(undefined);
    }
    for (const chainId of [84532, 8453, 1]) {
      const refused = developmentSetupDecision({ chainId, developmentSetup: true });
      expect(refused.deploy).to.equal(false);
      if (!refused.deploy) {
        expect(refused.reason).to.contain(`chain ${chainId}`);
        expect(refused.reason).to.contain(`${ALLOW_DEVELOPMENT_SETUP_ENV}=${ALLOW_DEVELOPMENT_SETUP_VALUE}`);
        expect(refused.reason).to.contain("Nothing was sent");
      }
      // A flag that does not name the risk is no consent.
      const vague = developmentSetupDecision({ chainId, developmentSetup: true, allow: "1" });
      expect(vague.deploy).to.equal(false);
      if (!vague.deploy) expect(vague.reason).to.contain('it is set to "1"');
      const allowed = developmentSetupDecision({
        chainId,
        developmentSetup: true,
        allow: ALLOW_DEVELOPMENT_SETUP_VALUE,
      });
      expect(allowed.deploy).to.equal(true);
      if (allowed.deploy) expect(allowed.warning).to.match(/^WARNING: .*DEVELOPMENT setup/);
      // A real ceremony's keys deploy anywhere, without a word.
      expect(developmentSetupDecision({ chainId, developmentSetup: false })).to.deep.equal({ deploy: true });
    }
  });

  it("scripts/deploy.ts on chain 84532: refused without the flag, a TOKEN without code refused before sending, then deploys with progress", async function () {
    this.timeout(300_000);
    const deployer = devAccount(0).address as Address;
    // A USDC-like token (name "USDC", version "2", no eip712Domain()), deployed by another key.
    const [, other] = await chain.ethers.getSigners();
    const usdc = await chain.ethers.deployContract("FiatTokenLike", ["USDC"], other);
    await usdc.waitForDeployment();
    const usdcAddress = await usdc.getAddress();

    // 1. The development setup on a chain that is not local: refused, nothing sent.
    let n0 = await nonce(deployer);
    let b0 = await blockNumber();
    const refused = await runDeploy({ TOKEN: usdcAddress });
    expect(refused.code, refused.stderr).to.equal(1);
    expect(refused.stderr).to.contain("refusing to deploy: chain 84532 is not a local chain");
    expect(refused.stderr).to.contain(`${ALLOW_DEVELOPMENT_SETUP_ENV}=${ALLOW_DEVELOPMENT_SETUP_VALUE}`);
    expect(await nonce(deployer)).to.equal(n0);
    expect(await blockNumber()).to.equal(b0);

    // 2. A TOKEN address without code: a clear error at once, nothing sent (no 5-minute poll).
    const noCode = "0x00000000000000000000000000000000DeaDBeef";
    const t0 = Date.now();
    const bad = await runDeploy({ TOKEN: noCode, [ALLOW_DEVELOPMENT_SETUP_ENV]: ALLOW_DEVELOPMENT_SETUP_VALUE });
    expect(bad.code, bad.stderr).to.equal(1);
    expect(bad.stderr).to.contain(`TOKEN ${noCode} has no contract code on chain 84532`);
    expect(bad.stderr).to.contain("Nothing was sent");
    expect(bad.stderr).to.not.contain("sent 0x");
    expect(Date.now() - t0).to.be.lessThan(120_000);
    expect(await nonce(deployer)).to.equal(n0);
    expect(await blockNumber()).to.equal(b0);
    expect(existsSync(path.join(deployments, "base-sepolia.json"))).to.equal(false);

    // 3. A real token and the flag: every step printed with its transaction hash.
    n0 = await nonce(deployer);
    b0 = await blockNumber();
    const ok = await runDeploy({ TOKEN: usdcAddress, [ALLOW_DEVELOPMENT_SETUP_ENV]: ALLOW_DEVELOPMENT_SETUP_VALUE });
    expect(ok.code, ok.stderr).to.equal(0);
    expect(ok.stderr).to.match(/WARNING: chain 84532 is not a local chain/);
    expect(ok.stderr).to.contain(`token ${usdcAddress}: USDC`);
    expect(ok.stderr).to.contain("EIP-712 USDC / version 2");
    const sent = [...ok.stderr.matchAll(/^(\S+): sent (0x[0-9a-f]{64}) https:\/\/sepolia\.basescan\.org\/tx\/\2$/gm)];
    expect(sent.map((m) => m[1])).to.deep.equal([
      "PoseidonT3",
      "PoseidonT2",
      "PaymentVerifier",
      "PaymentBatchVerifier",
      "Facilitator",
    ]);
    // Each printed hash is a mined transaction of the deployer's.
    for (const m of sent) {
      const tx = (await chain.provider.request({
        method: "eth_getTransactionByHash",
        params: [m[2] as `0x${string}`],
      })) as {
        from: string;
      };
      expect(tx.from.toLowerCase()).to.equal(deployer.toLowerCase());
    }
    expect(await nonce(deployer)).to.equal(n0 + sent.length);
    record = JSON.parse(readFileSync(path.join(deployments, "base-sepolia.json"), "utf8")) as Deployment;
    expect(record.chainId).to.equal(84532);
    expect(record.token).to.equal(usdcAddress);
    expect(record.circuit.developmentSetup).to.equal(true);
    expect(await blockNumber()).to.be.greaterThan(b0);
  });

  it("doctor: a development setup on a non-local chain is a WARN line (exit 0), a failure with --strict; a payer's EOA is not called relayer", async function () {
    this.timeout(120_000);
    expect(record, "the deploy test ran first").to.not.equal(undefined);
    const base = ["--network", "base-sepolia", "--rpc", chain.url, "--deployments", deployments, "doctor"];
    const plain = await runCli(base, { ZK402_PRIVATE_KEY: devPrivateKey(1) });
    expect(plain.code, plain.stdout + plain.stderr).to.equal(0);
    expect(plain.stdout).to.match(/^WARN {2}trusted setup: chain 84532 is not a local chain .*DEVELOPMENT setup/m);
    expect(plain.stdout).to.not.contain("FAIL");
    // The CLI's own key is a payer's: named "EOA", never "relayer".
    const eoaLine = plain.stdout.split("\n").find((l) => l.includes(devAccount(1).address));
    expect(eoaLine).to.match(/^ok {4}EOA balance: your EOA 0x/);
    expect(eoaLine).to.not.match(/relayer/i);
    const relayer = await runCli([...base, "--relayer", devAccount(2).address]);
    expect(relayer.stdout).to.match(/^ok {4}relayer balance: relayer 0x/m);

    const strict = await runCli([...base, "--strict", "--json"]);
    expect(strict.code).to.equal(1);
    const json = JSON.parse(strict.stdout) as { ok: boolean; checks: DoctorCheck[] };
    expect(json.ok).to.equal(false);
    expect(json.checks.find((c) => c.name === "trusted setup")).to.include({ ok: true, warn: true });
    expect(strict.stderr).to.contain("1 check(s) failed: trusted setup");
    // The verdict alone: warnings fail only when strict.
    expect(doctorVerdict(json.checks).ok).to.equal(true);
    expect(doctorVerdict(json.checks, true)).to.deep.equal({ ok: false, failed: ["trusted setup"] });
  });

  it("doctor names the circuit version of the record and of the SDK's artifacts, and warns when they differ", async function () {
    this.timeout(120_000);
    expect(record, "the deploy test ran first").to.not.equal(undefined);
    const artifacts = artifactsCircuitVersion();
    expect(artifacts, "the artifacts name their version").to.equal("payment-v2");
    // The deploy script records the artifacts' version.
    expect(record.circuit.version).to.equal(artifacts);
    const args = (network: string) => [
      "--network",
      network,
      "--rpc",
      chain.url,
      "--deployments",
      deployments,
      "doctor",
    ];
    const same = await runCli(args("base-sepolia"));
    expect(same.code, same.stdout + same.stderr).to.equal(0);
    expect(same.stdout).to.match(/^ok {4}circuit version: deployment and SDK artifacts are both payment-v2$/m);

    // The same pool recorded as deployed for the first circuit, and a record naming none.
    const older = { ...record, network: "older", circuit: { ...record.circuit, version: "payment-v1" } };
    writeFileSync(path.join(deployments, "older.json"), JSON.stringify(older, null, 2));
    const { version: _omitted, ...unversioned } = record.circuit;
    writeFileSync(
      path.join(deployments, "unversioned.json"),
      JSON.stringify({ ...record, network: "unversioned", circuit: unversioned }, null, 2),
    );
    for (const [network, named] of [
      ["older", /the deployment was made for payment-v1, this SDK's artifacts are payment-v2/],
      [
        "unversioned",
        /the deployment was made for payment-v1 \(the record names none[^)]*\), this SDK's artifacts are payment-v2/,
      ],
    ] as const) {
      const r = await runCli([...args(network), "--json"]);
      expect(r.code, r.stdout + r.stderr).to.equal(0);
      const checks = (JSON.parse(r.stdout) as { checks: DoctorCheck[] }).checks;
      const c = checks.find((x) => x.name === "circuit version");
      expect(c, network).to.include({ ok: true, warn: true });
      expect(c!.message, network).to.match(named);
      expect(doctorVerdict(checks, true).failed, network).to.deep.equal(["trusted setup", "circuit version"]);
    }
    expect(circuitVersionCheck("payment-v2", "payment-v2").warn).to.equal(undefined);
    expect(circuitVersionCheck("payment-v1", "payment-v2").warn).to.equal(true);
  });

  describe("402zk facilitator configuration", function () {
    const A1 = "0x1111111111111111111111111111111111111111";
    const A2 = "0x2222222222222222222222222222222222222222";
    const A3 = "0x3333333333333333333333333333333333333333";
    const key = (i: number) => devPrivateKey(i);
    type Layer = "file" | "env" | "flag";
    interface Row {
      name: string;
      file?: Record<string, unknown>;
      env?: EnvVars;
      flag?: {
        o?: FacilitatorFlags;
        g?: { network?: string; rpc?: string; privateKey?: string; deployments?: string };
      };
      /** Present in every case (e.g. the CLI's own key, a default). */
      always?: EnvVars;
      get: (c: ServiceConfig, env: EnvVars) => unknown;
      expect: { default: unknown; file?: unknown; env?: unknown; flag?: unknown };
    }
    const rows: Row[] = [
      {
        name: "rpcUrl",
        file: { rpcUrl: "http://file:1" },
        env: { ZK402_RPC_URL: "http://env:1" },
        flag: { g: { rpc: "http://flag:1" } },
        get: (c) => c.rpcUrl,
        expect: { default: "http://127.0.0.1:8545", file: "http://file:1", env: "http://env:1", flag: "http://flag:1" },
      },
      {
        name: "pool",
        file: { pool: A1 },
        env: { ZK402_POOL: A2 },
        flag: { o: { pool: A3 } },
        get: (c) => c.pool,
        expect: { default: undefined, file: A1, env: A2, flag: A3 },
      },
      {
        name: "network",
        // Networks with a default RPC (a record of another name needs --rpc).
        always: { BASE_SEPOLIA_RPC_URL: "http://base-sepolia:1", BASE_RPC_URL: "http://base:1" },
        file: { network: "hardhat" },
        env: { ZK402_NETWORK: "base-sepolia" },
        flag: { g: { network: "base" } },
        get: (c) => `${c.network} ${c.rpcUrl}`,
        expect: {
          default: "localhost http://127.0.0.1:8545",
          file: "hardhat http://127.0.0.1:8545",
          env: "base-sepolia http://base-sepolia:1",
          flag: "base http://base:1",
        },
      },
      {
        name: "deploymentsDir",
        file: { deploymentsDir: "/file" },
        env: { ZK402_DEPLOYMENTS_DIR: "/env" },
        flag: { g: { deployments: "/flag" } },
        get: (c) => c.deploymentsDir,
        expect: { default: undefined, file: "/file", env: "/env", flag: "/flag" },
      },
      {
        name: "host",
        file: { host: "10.0.0.1" },
        env: { ZK402_HOST: "10.0.0.2" },
        flag: { o: { host: "10.0.0.3" } },
        get: (c) => c.host,
        expect: { default: "127.0.0.1", file: "10.0.0.1", env: "10.0.0.2", flag: "10.0.0.3" },
      },
      {
        name: "port",
        file: { port: 7001 },
        env: { ZK402_PORT: "7002" },
        flag: { o: { port: "7003" } },
        get: (c) => c.port,
        expect: { default: 4022, file: 7001, env: 7002, flag: 7003 },
      },
      {
        name: "database",
        file: { database: "/file.sqlite" },
        env: { ZK402_DB: "/env.sqlite" },
        flag: { o: { db: "/flag.sqlite" } },
        get: (c) => c.database,
        expect: {
          default: "./402zk-facilitator.sqlite",
          file: "/file.sqlite",
          env: "/env.sqlite",
          flag: "/flag.sqlite",
        },
      },
      {
        name: "fee.min",
        file: { fee: { min: "1" } },
        env: { ZK402_FEE: "2" },
        flag: { o: { fee: "3u" } },
        get: (c) => c.fee.min,
        expect: { default: 0n, file: 1n, env: 2n, flag: 3n },
      },
      {
        name: "fee.nativePrice",
        file: { fee: { nativePrice: 10 } },
        env: { ZK402_NATIVE_PRICE: "20" },
        flag: { o: { nativePrice: "30u" } },
        get: (c) => c.fee.nativePrice,
        expect: { default: undefined, file: 10n, env: 20n, flag: 30n },
      },
      {
        name: "gas.maxFeePerGasGwei",
        file: { gas: { maxFeePerGasGwei: 1 } },
        env: { ZK402_MAX_FEE_GWEI: "2" },
        flag: { o: { maxFeeGwei: "3" } },
        get: (c) => c.gas.maxFeePerGasGwei,
        expect: { default: 50, file: 1, env: 2, flag: 3 },
      },
      {
        name: "batch.windowMs",
        file: { batch: { windowMs: 10 } },
        flag: { o: { batchWindow: "30" } },
        get: (c) => c.batch.windowMs,
        expect: { default: undefined, file: 10, flag: 30 },
      },
      {
        name: "batch.maxSize",
        file: { batch: { maxSize: 2 } },
        flag: { o: { batchMax: "3" } },
        get: (c) => c.batch.maxSize,
        expect: { default: undefined, file: 2, flag: 3 },
      },
      {
        name: "redisUrl",
        file: { redisUrl: "redis://file:6379" },
        env: { ZK402_REDIS_URL: "redis://env:6379" },
        flag: { o: { redis: "redis://flag:6379" } },
        get: (c) => c.redisUrl,
        expect: { default: undefined, file: "redis://file:6379", env: "redis://env:6379", flag: "redis://flag:6379" },
      },
      {
        name: "logLevel",
        file: { logLevel: "debug" },
        env: { ZK402_LOG_LEVEL: "warn" },
        flag: { o: { logLevel: "error" } },
        get: (c) => c.logLevel,
        expect: { default: "info", file: "debug", env: "warn", flag: "error" },
      },
      {
        name: "shutdownTimeoutMs",
        file: { shutdownTimeoutMs: 1000 },
        flag: { o: { drainTimeout: "3" } },
        get: (c) => c.shutdownTimeoutMs,
        expect: { default: 30_000, file: 1000, flag: 3000 },
      },
      {
        name: "apiKeys",
        file: { apiKeys: ["file-key-0123456789abcdef"] },
        env: { ZK402_API_KEYS: "env-key-0123456789abcdef" },
        get: (c) => c.apiKeys,
        expect: { default: [], file: ["file-key-0123456789abcdef"], env: ["env-key-0123456789abcdef"] },
      },
      {
        name: "relayer key (--private-key)",
        always: { ZK402_PRIVATE_KEY: key(0) },
        file: { relayer: { keystore: { key: "FILE_KEY" } } },
        env: { ZK402_RELAYER_KEY: key(2) },
        flag: { g: { privateKey: key(3) } },
        get: (c, env) => (c.relayer.keystore ? `keystore ${c.relayer.keystore.key}` : env[c.relayer.privateKeyEnv]),
        expect: { default: key(0), file: "keystore FILE_KEY", env: key(2), flag: key(3) },
      },
      {
        name: "relayer key (--keystore-key)",
        always: { ZK402_PRIVATE_KEY: key(0) },
        file: { relayer: { keystore: { key: "FILE_KEY" } } },
        env: { ZK402_RELAYER_KEY: key(2) },
        flag: { o: { keystoreKey: "FLAG_KEY" } },
        get: (c, env) => (c.relayer.keystore ? `keystore ${c.relayer.keystore.key}` : env[c.relayer.privateKeyEnv]),
        expect: { default: key(0), file: "keystore FILE_KEY", env: key(2), flag: "keystore FLAG_KEY" },
      },
    ];
    const subsets: Layer[][] = [
      [],
      ["file"],
      ["env"],
      ["flag"],
      ["file", "env"],
      ["file", "flag"],
      ["env", "flag"],
      ["file", "env", "flag"],
    ];

    it("flags > environment > file > defaults, for every setting (every combination of layers)", async function () {
      const dir = tempDir("402zk-facilitator-config-");
      let cases = 0;
      for (const row of rows) {
        for (const layers of subsets) {
          if (layers.some((l) => row[l] === undefined)) continue;
          let file: string | undefined;
          if (layers.includes("file")) {
            file = path.join(dir, `${cases}.json`);
            writeFileSync(file, JSON.stringify(row.file));
          }
          const env: EnvVars = { ...row.always, ...(layers.includes("env") ? row.env : {}) };
          const flag = layers.includes("flag") ? row.flag! : {};
          // As commander hands them over: --network defaults to $ZK402_NETWORK, else localhost.
          const g = { network: env.ZK402_NETWORK ?? "localhost", ...flag.g };
          const { config, env: serviceEnv } = await facilitatorConfig(
            { config: file, ...flag.o },
            g,
            { network: flag.g?.network !== undefined },
            env,
          );
          const top = (["flag", "env", "file"] as const).find((l) => layers.includes(l));
          const want = top ? row.expect[top] : row.expect.default;
          expect(row.get(config, serviceEnv), `${row.name} from ${layers.join("+") || "defaults"}`).to.deep.equal(want);
          cases++;
        }
      }
      expect(cases).to.equal(rows.length * 8 - 4 * 3 - 1 * 4);
    });

    it("defaults see the layers above: the file's network picks its default RPC, which the file's rpcUrl overrides; a network flag overrides the file's pool", async function () {
      const dir = tempDir("402zk-facilitator-config-");
      const file = (o: Record<string, unknown>) => {
        const f = path.join(dir, `${Math.random().toString(36).slice(2)}.json`);
        writeFileSync(f, JSON.stringify(o));
        return f;
      };
      const g = { network: "localhost" };
      const env = { BASE_SEPOLIA_RPC_URL: "http://base-sepolia-default:1" };
      const viaNetwork = await facilitatorConfig(
        { config: file({ network: "base-sepolia" }) },
        g,
        { network: false },
        env,
      );
      expect(viaNetwork.config.rpcUrl).to.equal("http://base-sepolia-default:1");
      // The reported bug: the file's rpcUrl lost to the CLI's default RPC.
      const fromFile = await facilitatorConfig(
        { config: file({ network: "base-sepolia", rpcUrl: "http://file:1" }) },
        g,
        { network: false },
        env,
      );
      expect(fromFile.config.rpcUrl).to.equal("http://file:1");
      const fileLocal = await facilitatorConfig(
        { config: file({ rpcUrl: "http://file:2", pool: A1 }) },
        g,
        { network: false },
        {},
      );
      expect(fileLocal.config.rpcUrl).to.equal("http://file:2");
      expect(fileLocal.config.pool).to.equal(A1);
      // pool and network name one thing: the highest layer naming it decides.
      const flagNetwork = await facilitatorConfig(
        { config: file({ pool: A1 }) },
        { network: "base-sepolia" },
        { network: true },
        env,
      );
      expect(flagNetwork.config.pool).to.equal(undefined);
      expect(flagNetwork.config.network).to.equal("base-sepolia");
      const envNetwork = await facilitatorConfig(
        { config: file({ pool: A1 }) },
        { network: "hardhat" },
        { network: false },
        { ZK402_NETWORK: "hardhat" },
      );
      expect(envNetwork.config.pool).to.equal(undefined);
      expect(envNetwork.config.network).to.equal("hardhat");
      // Both key flags: refused.
      let both: unknown;
      await facilitatorConfig(
        { keystoreKey: "K" },
        { network: "localhost", privateKey: key(1) },
        { network: false },
        {},
      ).catch((e: unknown) => (both = e));
      expect(String(both)).to.contain("not both");
    });

    it("--fee and --native-price take the CLI's amount grammar: tokens (the pool token's decimals), or base units with u", async function () {
      expect(record, "the deploy test ran first").to.not.equal(undefined);
      const g = { network: "localhost", rpc: chain.url };
      // The pool's token read on chain (6 decimals).
      const tokens = await facilitatorConfig(
        { pool: record.facilitator, fee: "0.001", nativePrice: "3000" },
        g,
        { network: false },
        {},
      );
      expect(tokens.config.fee.min).to.equal(1000n);
      expect(tokens.config.fee.nativePrice).to.equal(3_000_000_000n);
      // From the deployment record.
      const viaRecord = await facilitatorConfig(
        { fee: "$0.25" },
        { network: "base-sepolia", deployments },
        { network: true },
        { BASE_SEPOLIA_RPC_URL: chain.url },
      );
      expect(viaRecord.config.fee.min).to.equal(250_000n);
      const units = await facilitatorConfig(
        { pool: record.facilitator, fee: "1000u" },
        { network: "localhost", rpc: "http://127.0.0.1:1" },
        { network: false },
        {},
      );
      expect(units.config.fee.min).to.equal(1000n);
      let tooFine: unknown;
      await facilitatorConfig({ pool: record.facilitator, fee: "0.0000001" }, g, { network: false }, {}).catch(
        (e: unknown) => (tooFine = e),
      );
      expect(String(tooFine)).to.match(/--fee "0.0000001" has more than 6 decimals/);
      let fractionalUnits: unknown;
      await facilitatorConfig({ pool: record.facilitator, fee: "1.5u" }, g, { network: false }, {}).catch(
        (e: unknown) => (fractionalUnits = e),
      );
      expect(String(fractionalUnits)).to.match(/base units \("u"\) must be a whole number/);
    });

    it("402zk facilitator --config FILE: the service uses the file's rpcUrl, and --fee in tokens", async function () {
      this.timeout(120_000);
      expect(record, "the deploy test ran first").to.not.equal(undefined);
      const file = path.join(work, "facilitator.json");
      writeFileSync(
        file,
        JSON.stringify({ rpcUrl: chain.url, pool: record.facilitator, port: 0, database: path.join(work, "f.sqlite") }),
      );
      const child = spawn(process.execPath, [BIN, "facilitator", "--config", file, "--fee", "0.002"], {
        cwd: ROOT,
        env: cleanEnv({ ZK402_RELAYER_KEY: devPrivateKey(7) }),
        stdio: ["ignore", "pipe", "pipe"],
      });
      children.push(child);
      const out = collectOutput(child);
      let stdout = "";
      child.stdout!.on("data", (b: Buffer) => (stdout += b.toString()));
      const deadline = Date.now() + 60_000;
      let url: string | undefined;
      while (!url) {
        const m = /"msg":"listening"[^\n]*"url":"(http[^"]+)"/.exec(stdout);
        if (m) url = m[1];
        else if (child.exitCode !== null || Date.now() > deadline) throw new Error(`no start: ${(await out).stderr}`);
        else await new Promise((r) => setTimeout(r, 50));
      }
      const supported = (await (await fetch(`${url}/supported`)).json()) as {
        kinds: { network: string; extra: { fee: string; pool?: string } }[];
      };
      expect(supported.kinds[0]!.network).to.equal("eip155:84532");
      expect(supported.kinds[0]!.extra.fee).to.equal("2000");
      child.kill("SIGTERM");
      expect((await out).code).to.equal(0);
    });
  });

  it("`kill` on npx's shell stops `402zk serve`: the port closes (npm forwards the signal to sh only)", async function () {
    this.timeout(120_000);
    expect(record, "the deploy test ran first").to.not.equal(undefined);
    const port = await freePort();
    // What `npx 402zk serve` runs: npm -> sh -c "402zk ..." -> node bin/402zk.js, with
    // npm's environment; npm forwards SIGTERM to the shell, which does not pass it on.
    const cmd = [process.execPath, BIN, "--network", "base-sepolia", "--rpc", chain.url, "--deployments", deployments]
      .concat(["serve", "--port", String(port), "--pay-to", devAccount(3).address])
      .map((a) => `'${a}'`)
      .join(" ");
    const shell = spawn("sh", ["-c", cmd], {
      cwd: ROOT,
      env: cleanEnv({ HOME: work, npm_lifecycle_event: "npx", npm_command: "exec" }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(shell);
    let stdout = "";
    shell.stdout!.on("data", (b: Buffer) => (stdout += b.toString()));
    const deadline = Date.now() + 60_000;
    while (!stdout.includes("example API on")) {
      if (shell.exitCode !== null || Date.now() > deadline) throw new Error(`serve did not start: ${stdout}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await listening(port)).to.equal(true);
    // The shell forked node (it did not exec it): killing the shell orphans the server.
    const kids = spawnSync("ps", ["-o", "pid=", "--ppid", String(shell.pid)], { encoding: "utf8" }).stdout.trim();
    expect(kids, "sh -c runs node as its child, as under npm").to.match(/^\d+$/);
    shell.kill("SIGTERM");
    const t0 = Date.now();
    while ((await listening(port)) && Date.now() - t0 < 8_000) await new Promise((r) => setTimeout(r, 100));
    const stillListening = await listening(port);
    if (stillListening) process.kill(Number(kids), "SIGKILL");
    expect(stillListening, "the server still listens after its npx parent was killed").to.equal(false);
  });

  describe("deploy/: Dockerfile and systemd unit", function () {
    const dockerfile = path.join(ROOT, "deploy", "Dockerfile");
    const unit = path.join(ROOT, "deploy", "402zk-facilitator.service");

    it("Dockerfile: Debian Node 22 image, non-root user, HEALTHCHECK on /health, no secrets baked in; built and started where docker runs", async function () {
      this.timeout(600_000);
      const text = readFileSync(dockerfile, "utf8");
      // Instructions, with continuation lines joined and comments dropped.
      const instructions = text
        .replace(/\\\n/g, " ")
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith("#"))
        .map((l) => {
          const m = /^(\w+)\s+(.*)$/.exec(l)!;
          return { op: m[1]!.toUpperCase(), args: m[2]! };
        });
      const froms = instructions.filter((i) => i.op === "FROM").map((i) => i.args.split(/\s+/)[0]!);
      expect(froms.length).to.be.greaterThan(0);
      for (const f of froms) expect(f).to.match(/^node:22(\.\d+)*-(bookworm|trixie)(-slim)?$/);
      const finalStage = instructions.slice(instructions.map((i) => i.op).lastIndexOf("FROM"));
      const users = finalStage.filter((i) => i.op === "USER").map((i) => i.args.trim());
      expect(users.length, "the final stage sets USER").to.be.greaterThan(0);
      expect(users.at(-1)).to.not.match(/^(root|0)(:|$)/);
      const health = finalStage.find((i) => i.op === "HEALTHCHECK");
      expect(health?.args).to.match(/CMD .*\/health/);
      const entry = finalStage.find((i) => i.op === "ENTRYPOINT")?.args ?? "";
      expect(entry).to.contain("bin/402zk.js").and.to.contain("facilitator");
      // No key, secret or password in ENV/ARG, and no key material anywhere in the file.
      for (const i of instructions.filter((x) => x.op === "ENV" || x.op === "ARG"))
        expect(i.args).to.not.match(/KEY|SECRET|PASSWORD|TOKEN/i);
      expect(text).to.not.match(/0x[0-9a-fA-F]{64}/);
      const copied = instructions.filter((i) => i.op === "COPY" || i.op === "ADD").map((i) => i.args);
      for (const c of copied) expect(c).to.not.match(/\.env|\.sqlite|keystore/);
      const ignore = readFileSync(path.join(ROOT, "deploy", "Dockerfile.dockerignore"), "utf8");
      expect(ignore).to.match(/^\*\*\/\.env\*$/m);

      // Build and start it where a Docker daemon answers; say why not otherwise.
      const info = spawnSync("docker", ["info", "--format", "{{.ServerVersion}}"], {
        encoding: "utf8",
        timeout: 20_000,
      });
      if (info.status !== 0) {
        console.log(
          `      (docker build/run skipped: ${info.error ? `no docker CLI (${info.error.message})` : `no Docker daemon: ${(info.stderr || "").trim().split("\n")[0]}`})`,
        );
        return;
      }
      const tag = `402zk-facilitator-test:${process.pid}`;
      const build = spawnSync("docker", ["build", "-f", dockerfile, "-t", tag, ROOT], {
        encoding: "utf8",
        timeout: 540_000,
      });
      if (build.status !== 0 && /pull|resolve|network|registry|dial tcp/i.test(build.stderr)) {
        console.log(
          `      (docker run skipped: the image cannot be built here: ${build.stderr.trim().split("\n").at(-1)})`,
        );
        return;
      }
      expect(build.status, build.stderr).to.equal(0);
      const user = spawnSync("docker", ["run", "--rm", "--entrypoint", "id", tag, "-u"], { encoding: "utf8" });
      expect(user.stdout.trim()).to.not.equal("0");
      const help = spawnSync("docker", ["run", "--rm", tag, "--help"], { encoding: "utf8" });
      expect(help.stdout).to.contain("facilitator");
      spawnSync("docker", ["rmi", tag]);
    });

    it("systemd unit: systemd-analyze verify is clean; non-root, restarts on failure, keys from an environment file, hardened; its ExecStart starts the service", async function () {
      this.timeout(120_000);
      const text = readFileSync(unit, "utf8");
      const settings = new Map<string, string[]>();
      for (const line of text.split("\n")) {
        const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
        if (m) settings.set(m[1]!, [...(settings.get(m[1]!) ?? []), m[2]!]);
      }
      const one = (k: string) => settings.get(k)?.at(-1);
      expect(one("DynamicUser") === "yes" || (one("User") !== undefined && one("User") !== "root")).to.equal(true);
      expect(one("Restart")).to.equal("on-failure");
      expect(one("EnvironmentFile")).to.match(/^-?\/etc\/402zk\/.+\.env$/);
      for (const k of ["NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "RestrictSUIDSGID"])
        expect(one(k), k).to.not.equal(undefined);
      expect(one("CapabilityBoundingSet")).to.equal("");
      // V8's JIT needs writable executable memory.
      expect(one("MemoryDenyWriteExecute")).to.equal(undefined);
      expect(text).to.not.match(/0x[0-9a-fA-F]{64}/);

      const verify = spawnSync("systemd-analyze", ["verify", unit], { encoding: "utf8", timeout: 60_000 });
      if (verify.error) {
        console.log(`      (systemd-analyze verify skipped: ${verify.error.message})`);
      } else {
        // It reports bad settings as warnings with exit 0: any line about the unit fails.
        const about = `${verify.stdout}${verify.stderr}`.split("\n").filter((l) => l.includes("402zk-facilitator"));
        expect(verify.status, verify.stderr).to.equal(0);
        expect(about, about.join("\n")).to.deep.equal([]);
      }
      const pid1 = existsSync("/proc/1/comm") ? readFileSync("/proc/1/comm", "utf8").trim() : "?";
      if (pid1 !== "systemd")
        console.log(`      (systemctl start skipped: PID 1 is ${pid1}, not systemd; running its ExecStart)`);

      // Its ExecStart (the repository for /opt/402zk, a temporary /etc/402zk) starts the service.
      expect(record, "the deploy test ran first").to.not.equal(undefined);
      const etc = path.join(work, "etc-402zk");
      mkdirSync(etc, { recursive: true });
      const state = path.join(work, "var-lib-402zk");
      mkdirSync(state, { recursive: true });
      const port = await freePort();
      writeFileSync(
        path.join(etc, "facilitator.json"),
        JSON.stringify({ rpcUrl: chain.url, pool: record.facilitator, port }),
      );
      writeFileSync(path.join(etc, "facilitator.env"), `ZK402_RELAYER_KEY=${devPrivateKey(8)}\n`);
      const exec = one("ExecStart")!.replaceAll("/opt/402zk", ROOT).replaceAll("/etc/402zk", etc).split(/\s+/);
      const envFile = Object.fromEntries(
        readFileSync(one("EnvironmentFile")!.replace("/etc/402zk", etc), "utf8")
          .split("\n")
          .filter((l) => l.includes("="))
          .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
      );
      const unitEnv = Object.fromEntries(
        (settings.get("Environment") ?? []).map((e) => [
          e.slice(0, e.indexOf("=")),
          e.slice(e.indexOf("=") + 1).replaceAll("/var/lib/402zk", state),
        ]),
      );
      const child = spawn(exec[0]!, exec.slice(1), {
        cwd: state,
        env: cleanEnv({ ...envFile, ...unitEnv }),
        stdio: ["ignore", "pipe", "pipe"],
      });
      children.push(child);
      const out = collectOutput(child);
      const t0 = Date.now();
      let health: Response | undefined;
      while (!health && Date.now() - t0 < 60_000) {
        health = await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined);
        if (!health) await new Promise((r) => setTimeout(r, 200));
        if (child.exitCode !== null) break;
      }
      expect(health?.status, "the unit's ExecStart serves /health").to.equal(200);
      expect(existsSync(path.join(state, "402zk-facilitator.sqlite"))).to.equal(true);
      child.kill(one("KillSignal") as NodeJS.Signals);
      expect((await out).code).to.equal(0);
    });
  });
});

describe("a resource server whose remote facilitator is down at start-up (#17)", function () {
  let env: Env;
  const closers: (() => Promise<unknown>)[] = [];

  before(async function () {
    this.timeout(300_000);
    buildCli({ stdio: "ignore" });
    env = await startEnv();
  });

  after(async function () {
    for (const c of closers.reverse()) await c().catch(() => {});
    await env?.chain.close();
    await shutdownProver();
  });

  it("starts, answers 503 with Retry-After while the facilitator is unreachable, then a paid request succeeds without a restart", async function () {
    this.timeout(240_000);
    const { wallet } = await env.payer(13, { deposit: 100_000n });
    const port = await freePort();
    const facilitatorUrl = `http://127.0.0.1:${port}`;
    const { resourceServer, network, health } = createZkRemoteResourceServer({
      facilitatorClient: new HTTPFacilitatorClient({ url: facilitatorUrl }),
      pool: { ...env.pool, decimals: 6 },
      challengeSecret: "remote-start-up-secret-0123456789",
      retryAfterSeconds: 1,
    });
    const app = express();
    app.get("/free", (_req, res) => res.json({ free: true }));
    app.use(
      zkPaymentMiddleware(
        {
          "GET /weather": {
            accepts: {
              scheme: "zk-exact",
              network,
              payTo: account(3).address,
              price: { amount: "10000", asset: env.pool.token },
            },
          },
        },
        resourceServer,
      ),
    );
    app.get("/weather", (_req, res) => res.json({ weather: "sunny" }));
    const server: Server = createServer(app).listen(0, "127.0.0.1");
    await once(server, "listening");
    closers.push(() => new Promise<void>((r) => server.close(() => r())));
    const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    // The facilitator is not running: 503 + Retry-After on the paid route, every time.
    for (let i = 0; i < 3; i++) {
      const r = await fetch(`${api}/weather`);
      expect(r.status).to.equal(503);
      expect(r.headers.get("retry-after")).to.equal("1");
      const body = (await r.json()) as { error: string; message: string };
      expect(body.error).to.equal("facilitator_unavailable");
      expect(body.message).to.contain("retry in 1 s");
    }
    expect(health.up).to.equal(false);
    // Free routes are served meanwhile.
    expect((await fetch(`${api}/free`)).status).to.equal(200);

    // The real facilitator service (the CLI) starts on that port; the API is not restarted.
    const f = await spawnFacilitator(env, {
      db: path.join(tempDir(), "facilitator.sqlite"),
      relayerIndex: 9,
      extra: ["--port", String(port)],
      envVars: withCompileCache({}),
    });
    closers.push(async () => {
      f.child.kill("SIGTERM");
      await f.exited;
    });
    await new Promise((r) => setTimeout(r, 1_100)); // Retry-After
    const unpaid = await fetch(`${api}/weather`);
    expect(unpaid.status).to.equal(402);
    const paid = await env.payingFetch(wallet).fetch(`${api}/weather`);
    expect(paid.status).to.equal(200);
    expect(await paid.json()).to.deep.equal({ weather: "sunny" });
    expect(health.up).to.equal(true);
  });
});
