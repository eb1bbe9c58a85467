import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";
import express from "express";
import { erc20Abi, getAddress, parseEventLogs, zeroAddress } from "viem";

import { devPrivateKey } from "../../scripts/lib/dev-env.js";
import { ROOT } from "../../scripts/lib/paths.js";
import { parseAmount } from "../../sdk/cli/amount.js";
import { formatTx } from "../../sdk/cli/context.js";
import { payWithZk } from "../../sdk/cli/pay.js";
import { parseUserAddress } from "../../sdk/core/address.js";
import { facilitatorAbi } from "../../sdk/core/abi.js";
import { explorerTxUrl } from "../../sdk/core/deployment.js";
import { isZkPayError } from "../../sdk/core/errors.js";
import { WalletKeys } from "../../sdk/core/keys.js";
import { shutdownProver } from "../../sdk/core/prover.js";
import { parseShieldedAddress, parseViewingKey } from "../../sdk/core/shielded-address.js";
import { zkPaymentMiddleware } from "../../sdk/express/index.js";
import { buildCli, withCompileCache } from "../helpers/cli-build.js";
import { inOrderConcurrently } from "../helpers/parallel.js";
import { account, startEnv, type Env } from "../helpers/x402-env.js";
import { collectOutput, type ProcessResult as CliResult } from "../helpers/process.js";
import { sessionApi } from "../helpers/session-env.js";
import type { EnvVars } from "../../sdk/service/config.js";

const BIN = path.join(ROOT, "bin", "402zk.js");
const USDC = 1_000_000n;

/** A mixed-case address with one letter's case flipped: a failing EIP-55 checksum. */
function badChecksum(a: string): string {
  const c = getAddress(a);
  const i = [...c].findIndex((ch, k) => k > 1 && /[a-fA-F]/.test(ch));
  const ch = c[i]!;
  return c.slice(0, i) + (ch === ch.toUpperCase() ? ch.toLowerCase() : ch.toUpperCase()) + c.slice(i + 1);
}

/** Starts a plain HTTP server on 127.0.0.1. */
async function listen(handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const closeServer = (s: Server) =>
  new Promise<void>((r) => {
    s.closeAllConnections();
    s.close(() => r());
  });

describe("402zk CLI (spawned, real chain, real proofs)", function () {
  let env: Env;
  let work: string;
  let deployments: string;
  const servers: Server[] = [];
  const children: ChildProcess[] = [];

  before(async function () {
    this.timeout(300_000);
    // The CLI runs from dist/ (bin/402zk.js): built from the current sources unless it is already.
    buildCli({ strict: true });
    env = await startEnv();
    work = mkdtempSync(path.join(os.tmpdir(), "402zk-cli-"));
    deployments = path.join(work, "deployments");
    mkdirSync(deployments);
    writeFileSync(path.join(deployments, "hardhat.json"), JSON.stringify(env.record, null, 2));
  });

  after(async function () {
    for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
    await Promise.all(servers.map(closeServer));
    await env?.chain.close();
    await shutdownProver();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** Runs the CLI with wallet folder `wallet` against the test chain. */
  function cli(
    args: string[],
    o: { wallet?: string; key?: number; rpc?: string; env?: EnvVars; deployments?: boolean } = {},
  ): Promise<CliResult> {
    const child = spawnCli(args, o);
    return collectOutput(child);
  }

  function spawnCli(
    args: string[],
    o: { wallet?: string; key?: number; rpc?: string; env?: EnvVars; deployments?: boolean } = {},
  ): ChildProcess {
    const global = ["--network", "hardhat", "--rpc", o.rpc ?? env.chain.url];
    if (o.deployments !== false) global.push("--deployments", deployments);
    if (o.wallet) global.push("--wallet", path.join(work, o.wallet));
    const child = spawn(process.execPath, [BIN, ...global, ...args], {
      cwd: work,
      env: withCompileCache({
        ...process.env,
        ZK402_PRIVATE_KEY: o.key === undefined ? "" : devPrivateKey(o.key),
        ZK402_SEED: "",
        ...o.env,
      }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    return child;
  }

  const json = (r: CliResult) => JSON.parse(r.stdout.trim().split("\n").at(-1)!) as Record<string, unknown>;
  const rpc = (method: string, params: unknown[] = []) =>
    env.chain.provider.request({ method: method as never, params: params as never }) as Promise<unknown>;

  // ------------------------------------------------------------------ arguments

  it("parses one amount grammar everywhere: .5, 5., 0.5 and 5", function () {
    expect(parseAmount(".5", 6)).to.equal(500_000n);
    expect(parseAmount("5.", 6)).to.equal(5_000_000n);
    expect(parseAmount("0.5", 6)).to.equal(500_000n);
    expect(parseAmount("$2 USDC", 6)).to.equal(2_000_000n);
    for (const bad of [".", "", "1.2.3", "-1", "1e3"]) expect(() => parseAmount(bad, 6), bad).to.throw(/amount/);
  });

  it("refuses addresses with a wrong EIP-55 checksum (CLI flags and SDK), accepts all-lower/all-upper", async function () {
    const good = account(3).address;
    const bad = badChecksum(good);
    expect(parseUserAddress(good.toLowerCase(), "x")).to.equal(good);
    expect(parseUserAddress(`0x${good.slice(2).toUpperCase()}`, "x")).to.equal(good);
    expect(() => parseUserAddress(bad, "--to")).to.throw(/checksum/);

    await env.mint(account(4).address, 2n * USDC);
    const w = await cli(["deposit", ".5"], { wallet: "addr", key: 4 });
    expect(w.code, w.stderr).to.equal(0);
    const r = await cli(["withdraw", "0.1", "--to", bad], { wallet: "addr", key: 4 });
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stderr).to.match(/invalid_argument: --to .*checksum/);
    const s = await cli(["serve", "--port", "0", "--pay-to", bad], { key: 2 });
    expect(s.code, s.stderr).to.equal(1);
    expect(s.stderr).to.match(/--pay-to .*checksum/);
    const ok = await cli(["withdraw", ".1", "--to", good.toLowerCase()], { wallet: "addr", key: 4 });
    expect(ok.code, ok.stderr).to.equal(0);
    expect(ok.stdout).to.contain(`to ${good}`);

    // SDK: wallet.withdraw and preparePayment take user addresses too.
    const { wallet } = await env.payer(5, { deposit: 100_000n });
    const err = await wallet.withdraw({ to: bad as `0x${string}`, amount: 1n }).catch((e: unknown) => e);
    expect(isZkPayError(err, "invalid_argument") && /checksum/.test(err.message), String(err)).to.equal(true);
  });

  it("reads deployment records from --deployments or ZK402_DEPLOYMENTS_DIR", async function () {
    const viaEnv = await cli(["balance", "--json"], {
      wallet: "dep",
      deployments: false,
      env: { ZK402_DEPLOYMENTS_DIR: deployments },
    });
    expect(viaEnv.code, viaEnv.stderr).to.equal(0);
    expect(json(viaEnv).pool).to.equal(env.record.facilitator);
    const missing = await cli(["balance"], { wallet: "dep", deployments: false, env: { ZK402_DEPLOYMENTS_DIR: work } });
    expect(missing.code).to.equal(1);
    expect(missing.stderr).to.contain("deployment_not_found").and.contain(path.join(work, "hardhat.json"));
  });

  // ------------------------------------------------------------------ money and state

  it("reports a mined deposit as landed when syncing after it fails, and resync recovers", async function () {
    // An RPC proxy that fails every log query while `failLogs` is set.
    let failLogs = false;
    const proxy = await listen((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        if (failLogs && body.includes("eth_getLogs")) {
          res.writeHead(503).end("logs are down");
          return;
        }
        void fetch(env.chain.url, { method: "POST", headers: { "content-type": "application/json" }, body })
          .then(async (r) => res.writeHead(r.status, { "content-type": "application/json" }).end(await r.text()))
          .catch(() => res.writeHead(502).end());
      });
    });
    servers.push(proxy.server);
    await env.mint(account(6).address, 3n * USDC);
    failLogs = true;
    const d = await cli(["deposit", "1"], { wallet: "flaky", key: 6, rpc: proxy.url });
    failLogs = false;
    expect(d.code, d.stderr).to.equal(0);
    expect(d.stdout).to.match(/deposited 1\.00 \w+ .* into private note #\d+/);
    expect(d.stdout).to.match(/tx 0x[0-9a-f]{64}/);
    expect(d.stderr).to.match(/warning: .*the deposit landed/);
    const r = await cli(["resync"], { wallet: "flaky", key: 6 });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain("private balance 1.00");
  });

  it("after a chain reset, a deposit is reported as landed and the wallet resyncs from the seed", async function () {
    await env.mint(account(7).address, 5n * USDC);
    const snapshot = await rpc("evm_snapshot");
    const first = await cli(["deposit", "1"], { wallet: "reset", key: 7 });
    expect(first.code, first.stderr).to.equal(0);
    // The chain forgets that deposit (like a restarted local node) and moves on without it.
    await rpc("evm_revert", [snapshot]);
    await env.payer(8, { deposit: 70_000n });
    const second = await cli(["deposit", "2"], { wallet: "reset", key: 7 });
    expect(second.code, second.stderr).to.equal(0);
    expect(second.stdout).to.match(/deposited 2\.00 .* into private note/);
    expect(second.stderr).to.contain("chain_reset");
    expect(second.stdout).to.contain("private balance 2.00");
    const b = await cli(["balance", "--json"], { wallet: "reset", key: 7 });
    expect(b.code, b.stderr).to.equal(0);
    expect(json(b).private).to.equal((2n * USDC).toString());
  });

  it("two payments at once on one wallet folder both succeed (the folder is locked), --json agrees with the exit code", async function () {
    await env.mint(account(10).address, 2n * USDC);
    const dep = await cli(["deposit", "1"], { wallet: "twice", key: 10 });
    expect(dep.code, dep.stderr).to.equal(0);
    const api = await env.api({ payTo: account(3).address });
    try {
      const [a, b] = await Promise.all([
        cli(["pay", `${api.url}/weather`, "--json"], { wallet: "twice" }),
        cli(["pay", `${api.url}/weather`, "--json"], { wallet: "twice" }),
      ]);
      for (const r of [a, b]) {
        const j = json(r);
        expect(j.exitCode, r.stderr).to.equal(r.code);
        expect(j.ok).to.equal(r.code === 0);
        expect(r.code, r.stderr).to.equal(0);
        expect(j.paid).to.equal(true);
        expect(j.settled).to.equal(true);
      }
      expect(a.stderr + b.stderr).to.contain("waiting for another 402zk command");
    } finally {
      await api.close();
    }
  });

  // ------------------------------------------------------------------ manners

  it("speaks in tokens when no note covers a payment, and says what to do", async function () {
    await env.mint(account(12).address, USDC);
    expect((await cli(["deposit", "1"], { wallet: "poor", key: 12 })).code).to.equal(0);
    const api = await env.api({ payTo: account(3).address, price: 2n * USDC });
    try {
      const r = await cli(["pay", `${api.url}/weather`, "--max", "5", "--json"], { wallet: "poor" });
      expect(r.code).to.equal(2);
      expect(r.stderr).to.match(
        /insufficient_private_balance: no single private note covers 2\.00 \w+ \(largest note 1\.00 \w+, balance 1\.00 \w+\).*402zk deposit 2/,
      );
      expect(json(r)).to.deep.include({ ok: false, exitCode: 2 });
    } finally {
      await api.close();
    }
  });

  it("a 402 that is not x402 v2 is not_x402 or malformed_header, not unsupported_scheme", async function () {
    const plain = await listen((req, res) => {
      if (req.url === "/garbage") res.writeHead(402, { "PAYMENT-REQUIRED": "%%%not-base64%%%" }).end();
      else res.writeHead(402, { "content-type": "text/plain" }).end("pay me");
    });
    servers.push(plain.server);
    const a = await cli(["pay", `${plain.url}/x`, "--json"], { wallet: "other" });
    expect(a.code, a.stderr).to.equal(2);
    expect(a.stderr).to.contain("error: not_x402:");
    expect(json(a)).to.deep.include({ ok: false, exitCode: 2 });
    const b = await cli(["pay", `${plain.url}/garbage`], { wallet: "other" });
    expect(b.code, b.stderr).to.equal(2);
    expect(b.stderr).to.contain("error: malformed_header:");
  });

  it("pay --timeout gives up on a server that never answers (exit 3)", async function () {
    const hang = await listen(() => {});
    servers.push(hang.server);
    const t0 = Date.now();
    const r = await cli(["pay", `${hang.url}/weather`, "--timeout", "1"], { wallet: "other" });
    expect(r.code, r.stderr).to.equal(3);
    expect(r.stderr).to.match(/timed out/);
    expect(Date.now() - t0).to.be.below(15_000);
  });

  it("serve: a port in use is a configuration error (exit 1)", async function () {
    const busy = await listen(() => {});
    servers.push(busy.server);
    const port = String((busy.server.address() as AddressInfo).port);
    const r = await cli(["serve", "--port", port, "--pay-to", account(3).address]);
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stderr).to.contain("port_unavailable");
  });

  it("serve finishes a paid request in flight on SIGTERM, then exits 0", async function () {
    const child = spawnCli(["serve", "--port", "0", "--price", ".01"], { key: 2 });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
    while (!/example API on (http:\S+)/.test(stdout)) {
      if (child.exitCode !== null) throw new Error(`serve exited: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const url = /example API on (http:\S+)/.exec(stdout)![1]!;
    const { wallet } = await env.payer(13, { deposit: 100_000n });
    // Signal the server right after the paid request left: it is being verified and settled.
    const signalling: typeof fetch = async (input, init) => {
      const req = new Request(input as RequestInfo, init);
      if (req.headers.get("PAYMENT-SIGNATURE")) setTimeout(() => child.kill("SIGTERM"), 30);
      return fetch(req);
    };
    const r = await payWithZk(`${url}/weather`, { wallet, fetch: signalling });
    expect(r.status, r.body).to.equal(200);
    expect(r.settled).to.equal(true);
    expect(await exited).to.equal(0);
    expect(stderr).to.contain("stopping");
    // Stopped: nothing listens any more.
    const err = await fetch(`${url}/weather`).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(Error);
  });

  it("pay --session buys a credential on the first 402, presents it on the next, and credentials lists it", async function () {
    await env.mint(account(14).address, USDC);
    expect((await cli(["deposit", "1"], { wallet: "session", key: 14 })).code).to.equal(0);
    const api = await sessionApi(env, { payTo: account(3).address });
    try {
      const none = await cli(["credentials"], { wallet: "session" });
      expect(none.code, none.stderr).to.equal(0);
      expect(none.stdout).to.contain("no session credentials");
      const first = await cli(["pay", `${api.url}/data`, "--session", "--offer", "basic", "--json"], {
        wallet: "session",
      });
      expect(first.code, first.stderr).to.equal(0);
      const j = json(first);
      expect(j).to.deep.include({ ok: true, status: 200, mode: "bought", remaining: 2 });
      expect((j.bought as { offerId: string }).offerId).to.equal("basic");
      const second = await cli(["pay", `${api.url}/data`, "--session"], { wallet: "session" });
      expect(second.code, second.stderr).to.equal(0);
      expect(JSON.parse(second.stdout)).to.deep.include({ data: "ok" });
      expect(second.stderr).to.contain("presented a session credential").and.contain("1 presentation(s) left");
      expect(api.served.data).to.equal(2);
      const list = await cli(["credentials"], { wallet: "session" });
      expect(list.stdout)
        .to.contain(api.url)
        .and.match(/basic\s+1\s+\S+\s+1\/3/);
      const listed = json(await cli(["credentials", "--json"], { wallet: "session" }));
      expect(listed.credentials).to.have.length(1);
      expect(listed.pending).to.deep.equal([]);
      // A route that sells no credential is refused, never paid per request behind --max's back.
      const plain = await cli(["pay", `${api.url}/plain`, "--session"], { wallet: "session" });
      expect(plain.code, plain.stderr).to.equal(2);
      expect(plain.stderr).to.contain("no_session_offered");
      expect(api.served.plain).to.equal(0);
      const after = json(await cli(["credentials", "--json"], { wallet: "session" }));
      expect((after.credentials as { remaining: number }[])[0]!.remaining, "no presentation spent on /plain").to.equal(
        1,
      );
    } finally {
      await api.close();
    }
  });

  // ------------------------------------------------------------------ #17: payment paths

  it("links transaction hashes to the explorer on public chains only (one table in core/deployment)", function () {
    const h = `0x${"ab".repeat(32)}`;
    expect(explorerTxUrl(84532, h)).to.equal(`https://sepolia.basescan.org/tx/${h}`);
    expect(explorerTxUrl(8453, h)).to.equal(`https://basescan.org/tx/${h}`);
    expect(explorerTxUrl(31337, h)).to.equal(undefined);
    expect(formatTx(84532, h)).to.equal(`${h} https://sepolia.basescan.org/tx/${h}`);
    expect(formatTx(8453, h)).to.equal(`${h} https://basescan.org/tx/${h}`);
    expect(formatTx(31337, h)).to.equal(h);
  });

  it("--network takes any record in the deployments directory; a missing one lists the records found", async function () {
    const dir = path.join(work, "custom-deployments");
    mkdirSync(dir);
    writeFileSync(path.join(dir, "devnet.json"), JSON.stringify({ ...env.record, network: "devnet" }, null, 2));
    writeFileSync(path.join(dir, "staging-l2.json"), JSON.stringify({ ...env.record, network: "staging-l2" }, null, 2));
    const ok = await cli(["--network", "devnet", "--deployments", dir, "balance", "--json"], { wallet: "devnet" });
    expect(ok.code, ok.stderr).to.equal(0);
    expect(json(ok)).to.deep.include({ network: "devnet", pool: env.record.facilitator });
    const missing = await cli(["--network", "nope", "--deployments", dir, "balance"], { wallet: "devnet" });
    expect(missing.code, missing.stderr).to.equal(1);
    expect(missing.stderr).to.contain("deployment_not_found").and.contain(`records in ${dir}: devnet, staging-l2`);
  });

  // ------------------------------------------------------------------ shielded payments (#19)

  /** The token balance of `a` (public). */
  const tokenBalance = (a: `0x${string}`) =>
    env.publicClient.readContract({
      address: env.pool.token,
      abi: erc20Abi,
      functionName: "balanceOf",
      args: [a],
    });

  /** Spawns `serve` and waits for its first lines; returns its URL, output and a stop function. */
  async function startServe(args: string[], o: Parameters<typeof spawnCli>[1]) {
    const child = spawnCli(["serve", "--port", "0", ...args], o);
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
    while (!/settlement: /.test(stdout)) {
      if (child.exitCode !== null) throw new Error(`serve exited: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return {
      url: /example API on (http:\S+)/.exec(stdout)![1]!,
      stdout: () => stdout,
      stderr: () => stderr,
      stop: async () => {
        child.kill("SIGTERM");
        return exited;
      },
    };
  }

  it("address prints the seed's shielded address; --viewing-key the auditor's key, with a warning that it reveals incoming payments", async function () {
    const seed = WalletKeys.randomSeed();
    const keys = WalletKeys.fromSeed(seed);
    // No chain needed: an address is the seed's alone (a missing record does not matter).
    const a = await cli(["address"], { wallet: "addr-only", deployments: false, env: { ZK402_SEED: seed } });
    expect(a.code, a.stderr).to.equal(0);
    const address = a.stdout.trim();
    expect(address).to.match(/^zk4021[02-9ac-hj-np-z]+$/);
    expect(address).to.equal(keys.address());
    const parsed = parseShieldedAddress(address);
    expect(parsed.ownerKey).to.equal(keys.ownerKey);
    expect(Buffer.from(parsed.encryptionKey).equals(Buffer.from(keys.encryptionKey))).to.equal(true);
    expect(a.stderr, "an address is public: no warning").to.not.contain("warning");

    const v = await cli(["address", "--viewing-key", "--json"], { wallet: "addr-only", env: { ZK402_SEED: seed } });
    expect(v.code, v.stderr).to.equal(0);
    const j = json(v) as { address: string; viewingKey: string };
    expect(j.address).to.equal(address);
    const vk = parseViewingKey(j.viewingKey);
    expect(Buffer.from(vk.viewingKey).equals(Buffer.from(keys.viewingKey()))).to.equal(true);
    expect(vk.ownerKey).to.equal(keys.ownerKey);
    expect(v.stderr).to.match(
      /warning: this viewing key reveals every payment this wallet receives.* It cannot spend\./,
    );
    // The viewing key holds no spending key: not the spending key, nor the nullifying key, in any form.
    for (const secret of [keys.spendingKey(), keys.nullifyingKey])
      expect(j.viewingKey.toLowerCase()).to.not.contain(secret.toString(16));

    // Without ZK402_SEED: a seed file is created (0600) in the wallet folder, and the address is stable.
    const first = await cli(["address"], { wallet: "addr-file" });
    const again = await cli(["address"], { wallet: "addr-file" });
    expect(first.stderr).to.contain("created a new wallet seed");
    expect(statSync(path.join(work, "addr-file", "seed")).mode & 0o777).to.equal(0o600);
    expect(again.stdout).to.equal(first.stdout);
  });

  it("serve --shielded is paid zk-shielded: the chain shows neither payee nor amount; balance, audit --viewing-key and withdraw --all see and move the revenue", async function () {
    this.timeout(300_000);
    const apiSeed = WalletKeys.randomSeed();
    const apiKeys = WalletKeys.fromSeed(apiSeed);
    const apiEnv = { ZK402_SEED: apiSeed };
    // A shielded --pay-to needs its viewing key: the server opens the notes paid to it.
    const noKey = await cli(["serve", "--port", "0", "--pay-to", apiKeys.address()], { key: 2 });
    expect(noKey.code).to.equal(1);
    expect(noKey.stderr).to.contain("needs its --viewing-key");
    const serve = await startServe(["--price", ".01", "--shielded"], { key: 2, wallet: "api-shielded", env: apiEnv });
    const conditions: string[] = [];
    let firstId = "";
    let firstCommitment = "";
    let firstMemo = "";
    let printedCheck: string[] = [];
    try {
      expect(serve.stdout()).to.contain(`(zk-shielded, eip155:31337) -> ${apiKeys.address()}`);
      await env.mint(account(8).address, USDC);
      const dep = await cli(["deposit", ".5"], { wallet: "shielded-payer", key: 8 });
      expect(dep.code, dep.stderr).to.equal(0);
      {
        // The first payment with --json: receipt id, payee commitment and payee memo.
        const p = await cli(["pay", `${serve.url}/weather`, "--json"], { wallet: "shielded-payer" });
        expect(p.code, p.stderr).to.equal(0);
        const j = json(p);
        expect(j).to.deep.include({ ok: true, status: 200, scheme: "zk-shielded", payTo: apiKeys.address() });
        expect(j.amount).to.equal("10000");
        expect(JSON.parse(j.body as string)).to.deep.include({ paidWith: "zk-shielded" });
        conditions.push(j.conditionHash as string);
        firstId = j.receiptId as string;
        firstCommitment = j.payeeCommitment as string;
        firstMemo = j.payeeMemo as string;
        expect((firstMemo.length - 2) / 2).to.equal(187);
        // The transaction, as any observer reads it: a shielded receipt, no payee, no amount,
        // no token leaving the pool (no fee), two leaves (payee note with its 187-byte memo, change).
        const rc = await env.publicClient.getTransactionReceipt({ hash: j.transaction as `0x${string}` });
        const events = parseEventLogs({ abi: [...facilitatorAbi, ...erc20Abi], logs: rc.logs });
        const names = events.map((e) => e.eventName);
        expect(names).to.include("ShieldedPaymentReceipt");
        expect(names).to.not.include("PaymentReceipt");
        expect(names).to.not.include("Transfer");
        const memos = events.flatMap((e) => (e.eventName === "LeafInserted" ? [(e.args.memo.length - 2) / 2] : []));
        expect(memos).to.have.length(2);
        expect(memos[0]).to.equal(187);
        const raw = JSON.stringify(rc.logs, (_k, x: unknown) =>
          typeof x === "bigint" ? x.toString() : x,
        ).toLowerCase();
        expect(raw, "the payee's owner key is in no log").to.not.contain(apiKeys.ownerKey.toString(16));
      }
      // The second payment in text mode: it prints the full receipt check command, memo included.
      const text = await cli(["pay", `${serve.url}/weather`], { wallet: "shielded-payer" });
      expect(text.code, text.stderr).to.equal(0);
      const check = /^check: 402zk --network hardhat (receipt .*)$/m.exec(text.stderr);
      expect(check, text.stderr).to.not.equal(null);
      printedCheck = check![1]!.split(" ");
      expect(printedCheck).to.include.members(["--payee-commitment", "--condition", "--payee-memo"]);
      expect(printedCheck[printedCheck.indexOf("--payee-memo") + 1]).to.match(/^0x[0-9a-f]{374}$/);
      conditions.push(printedCheck[printedCheck.indexOf("--condition") + 1]!);
    } finally {
      expect(await serve.stop()).to.equal(0);
    }

    // The receipt and audit commands below only read the chain (no wallet folder): they run
    // side by side (helpers/parallel), each checked as before.
    const expected = ["--payee-commitment", firstCommitment, "--condition", conditions[0]!];
    // Another payee memo (the second payment's, a valid memo of ours).
    const otherMemo = printedCheck[printedCheck.indexOf("--payee-memo") + 1]!;
    const badMemoArgs = [expected, [...expected, "--payee-memo", "0x1234"]];
    const viewingKey = apiKeys.viewingKeyString();
    const [byId, checked, printed, wrong, wrongMemo, badMemo0, badMemo1, audit, text, other, bad] =
      await inOrderConcurrently([
        () => cli(["receipt", firstId]),
        () => cli(["receipt", firstId, ...expected, "--payee-memo", firstMemo]),
        () => cli(printedCheck),
        () => cli(["receipt", firstId, ...expected.slice(2), "--payee-commitment", "12345", "--payee-memo", firstMemo]),
        () => cli(["receipt", firstId, ...expected, "--payee-memo", otherMemo]),
        () => cli(["receipt", firstId, ...badMemoArgs[0]!]),
        () => cli(["receipt", firstId, ...badMemoArgs[1]!]),
        () => cli(["audit", "--viewing-key", viewingKey, "--json"]),
        () => cli(["audit"], { env: { ZK402_VIEWING_KEY: viewingKey } }),
        () => cli(["audit", "--viewing-key", WalletKeys.fromSeed(WalletKeys.randomSeed()).viewingKeyString()]),
        () => cli(["audit", "--viewing-key", apiKeys.address()]),
      ]);
    // receipt: by id alone it says shielded; against the payee note and condition it is paid; another note is a mismatch.
    expect(byId.code, byId.stderr).to.equal(0);
    expect(byId.stdout).to.match(/^paid: zk-shielded \(payee and amount hidden\), payee note \d+/);
    expect(checked.code, checked.stderr).to.equal(0);
    // The command `pay` printed for the second payment checks out as printed.
    expect(printed.code, printed.stderr).to.equal(0);
    expect(printed.stdout).to.match(/^paid: /);
    expect(wrong.code).to.equal(2);
    expect(wrong.stderr).to.contain("receipt_mismatch");
    // Another payee memo is a mismatch: the receipt binds the memo that went on chain with
    // this note (audit F2).
    expect(wrongMemo.code).to.equal(2);
    expect(wrongMemo.stderr).to.contain("receipt_mismatch");
    // Without --payee-memo, or with one that is not 187 bytes of hex: refused by name.
    for (const [i, r] of [badMemo0, badMemo1].entries()) {
      expect(r.code, badMemoArgs[i]!.join(" ")).to.equal(1);
      expect(r.stderr).to.contain("invalid_argument");
    }

    // The auditor: the viewing key lists both payments (time, amount, condition) from the chain.
    expect(audit.code, audit.stderr).to.equal(0);
    const aj = json(audit) as { total: string; payments: { amount: string; conditionHash: string; time: number }[] };
    expect(aj.total).to.equal("20000");
    expect(aj.payments.map((x) => x.amount)).to.deep.equal(["10000", "10000"]);
    expect(aj.payments.map((x) => x.conditionHash.toLowerCase())).to.deep.equal(conditions.map((c) => c.toLowerCase()));
    for (const x of aj.payments) expect(x.time).to.be.a("number");
    expect(text.code, text.stderr).to.equal(0);
    expect(text.stdout).to.contain("2 payments, 0.02");
    expect(text.stderr).to.contain("cannot spend");
    // Another wallet's viewing key lists nothing; an address is not a viewing key.
    expect(other.stdout).to.contain("0 payments");
    expect(bad.code).to.equal(1);
    expect(bad.stderr).to.not.contain(apiKeys.address());

    // The API's wallet finds its revenue from the seed and the chain (a fresh folder: restored).
    // Two wallet folders: synced side by side.
    const folders = ["api-shielded", "api-restored"];
    const balances = await inOrderConcurrently(
      folders.map((folder) => () => cli(["balance", "--json"], { wallet: folder, env: apiEnv })),
    );
    for (const [i, folder] of folders.entries()) {
      const b = balances[i]!;
      expect(b.code, b.stderr).to.equal(0);
      const bj = json(b) as { private: string; received: { total: string; unspent: string; payments: number } };
      expect(bj.private, folder).to.equal("20000");
      expect(bj.received, folder).to.deep.include({ total: "20000", unspent: "20000", payments: 2 });
    }
    const human = await cli(["balance"], { wallet: "api-shielded", env: apiEnv });
    expect(human.stdout).to.match(/^received +0\.02 \w+ +\(revenue: 2 shielded payments/m);

    // withdraw --all empties it: one transaction per note, each printed as it lands.
    const to = account(11).address;
    const before = await tokenBalance(to);
    const w = await cli(["withdraw", "--all", "--to", to], { wallet: "api-shielded", key: 11, env: apiEnv });
    expect(w.code, w.stderr).to.equal(0);
    expect(w.stdout).to.match(/^tx 1\/2: 0\.01 \w+ to 0x[0-9a-fA-F]{40} +0x[0-9a-f]{64}/m);
    expect(w.stdout).to.match(/^tx 2\/2: 0\.01 /m);
    expect(w.stdout).to.contain("withdrew 0.02").and.contain("in 2 transactions");
    expect(w.stdout).to.match(/^private balance 0\.00 /m);
    expect((await tokenBalance(to)) - before).to.equal(20_000n);
    const after = json(await cli(["balance", "--json"], { wallet: "api-shielded", env: apiEnv })) as {
      private: string;
      received: { total: string; unspent: string };
    };
    expect(after.private).to.equal("0");
    expect(after.received).to.deep.include({ total: "20000", unspent: "0" });
  });

  it("withdraw <amount> chains one transaction per note when no note covers it; --all empties the wallet", async function () {
    this.timeout(240_000);
    await env.mint(account(10).address, USDC);
    for (const v of [".5", ".3"]) {
      const d = await cli(["deposit", v], { wallet: "chain", key: 10 });
      expect(d.code, d.stderr).to.equal(0);
    }
    const to = account(12).address;
    const before = await tokenBalance(to);
    const both = await cli(["withdraw", ".1", "--all", "--to", to], { wallet: "chain", key: 10 });
    expect(both.code).to.equal(1);
    expect(both.stderr).to.contain("not both");
    const tooMuch = await cli(["withdraw", "0.9", "--to", to], { wallet: "chain", key: 10 });
    expect(tooMuch.code).to.equal(2);
    expect(tooMuch.stderr).to.contain("insufficient_private_balance");

    // 0.7 from notes of 0.5 and 0.3: the 0.5 whole, then 0.2 of the 0.3 (its 0.1 change stays).
    const w = await cli(["withdraw", ".7", "--to", to], { wallet: "chain", key: 10 });
    expect(w.code, w.stderr).to.equal(0);
    expect(w.stdout).to.match(/^tx 1\/2: 0\.50 \w+ to /m);
    expect(w.stdout).to.match(/^tx 2\/2: 0\.20 \w+ to /m);
    expect(w.stdout).to.contain("withdrew 0.70").and.contain("in 2 transactions");
    expect((await tokenBalance(to)) - before).to.equal(700_000n);
    expect(json(await cli(["balance", "--json"], { wallet: "chain", key: 10 })).private).to.equal("100000");

    const all = await cli(["withdraw", "--all", "--to", to], { wallet: "chain", key: 10 });
    expect(all.code, all.stderr).to.equal(0);
    expect(all.stdout).to.match(/^tx 1\/1: 0\.10 /m);
    expect((await tokenBalance(to)) - before).to.equal(800_000n);
    expect(json(await cli(["balance", "--json"], { wallet: "chain", key: 10 })).private).to.equal("0");
    const empty = await cli(["withdraw", "--all", "--to", to], { wallet: "chain", key: 10 });
    expect(empty.code).to.equal(2);
    expect(empty.stderr).to.contain("insufficient_private_balance");
  });

  it("withdraw to the zero address is refused before proving (CLI and SDK)", async function () {
    await env.mint(account(16).address, USDC);
    expect((await cli(["deposit", "1"], { wallet: "zero", key: 16 })).code).to.equal(0);
    const r = await cli(["withdraw", "0.5", "--to", zeroAddress], { wallet: "zero", key: 16 });
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stderr).to.match(/invalid_argument: --to is the zero address/);
    expect(r.stderr).to.not.contain("proving");
    const bal = await cli(["balance", "--json"], { wallet: "zero" });
    expect(bal.code, bal.stderr).to.equal(0);
    expect(json(bal)).to.deep.include({ private: USDC.toString(), reserved: "0" });
    const { wallet } = await env.payer(17, { deposit: 100_000n });
    let proved = false;
    const err = await wallet
      .withdraw({ to: zeroAddress, amount: 1n, onProgress: () => (proved = true) })
      .catch((e: unknown) => e);
    expect(isZkPayError(err, "invalid_argument") && /zero address/.test(err.message), String(err)).to.equal(true);
    expect(proved, "no proof was made").to.equal(false);
  });

  it("pay --max covers amount + fee; a fee is printed before proving; the default fee limit refuses a fee above the price", async function () {
    await env.mint(account(18).address, USDC);
    expect((await cli(["deposit", "1"], { wallet: "fee", key: 18 })).code).to.equal(0);
    // Price 0.01 inside --max 0.02, but a relayer fee of 0.02 makes it 0.03.
    const api = await env.api({ payTo: account(3).address, fee: 20_000n });
    try {
      const url = `${api.url}/weather`;
      const over = await cli(["pay", url, "--max", "0.02", "--max-fee", "0.05", "--json"], { wallet: "fee" });
      expect(over.code, over.stderr).to.equal(2);
      expect(over.stderr).to.match(/error: fee_too_high: .*0\.01.* fee of 0\.02.* 0\.03.*above your cap of 0\.02/);
      expect(over.stderr).to.not.contain("proving");
      expect(json(over)).to.deep.include({ ok: false, exitCode: 2 });
      // By default a fee may not exceed the price it comes with.
      const dflt = await cli(["pay", url, "--max", "1"], { wallet: "fee" });
      expect(dflt.code, dflt.stderr).to.equal(2);
      expect(dflt.stderr).to.match(/error: fee_too_high: .*--max-fee raises the fee limit/);
      expect(api.served(), "nothing served").to.equal(0);
      const held = json(await cli(["balance", "--json"], { wallet: "fee" }));
      expect(held, "nothing paid, nothing reserved").to.deep.include({ private: USDC.toString(), reserved: "0" });
      // Within both limits: paid, and the fee was said before the proof was made.
      const ok = await cli(["pay", url, "--max", "0.03", "--max-fee", "0.02"], { wallet: "fee" });
      expect(ok.code, ok.stderr).to.equal(0);
      const said = ok.stderr.indexOf("relayer fee 0.02");
      expect(said, ok.stderr).to.be.greaterThan(-1);
      expect(ok.stderr).to.match(
        /paying 0\.01 \w+ to 0x[0-9a-fA-F]{40} \+ relayer fee 0\.02 \w+ to 0x[0-9a-fA-F]{40} = 0\.03/,
      );
      expect(said, "fee before proving").to.be.below(ok.stderr.indexOf("proving"));
      expect(api.served()).to.equal(1);
    } finally {
      await api.close();
    }
  });

  it("pay -X/-d/-H sends method, body and headers, and the paid retry repeats them", async function () {
    await env.mint(account(19).address, USDC);
    expect((await cli(["deposit", "1"], { wallet: "post", key: 19 })).code).to.equal(0);
    const api = await env.api({ payTo: account(3).address });
    const seen: { method: string; order?: string; type?: string; body: string; paid: boolean }[] = [];
    const app = express();
    app.use(express.text({ type: "*/*" }), (req, _res, next) => {
      seen.push({
        method: req.method,
        order: req.headers["x-order"] as string | undefined,
        type: req.headers["content-type"],
        body: typeof req.body === "string" ? req.body : "",
        paid: req.headers["payment-signature"] !== undefined,
      });
      next();
    });
    const accepts = {
      scheme: "zk-exact",
      network: api.network,
      payTo: account(3).address,
      price: { amount: "10000", asset: env.pool.token },
      extra: { paymentFlow: "upfront" },
    };
    app.use(zkPaymentMiddleware({ "PUT /orders": { accepts } }, api.resourceServer));
    app.put("/orders", (req, res) => res.json({ placed: JSON.parse(req.body as string) as unknown }));
    const server = app.listen(0, "127.0.0.1");
    await once(server, "listening");
    servers.push(server);
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/orders`;
    try {
      const r = await cli(
        [
          "pay",
          url,
          "-X",
          "PUT",
          "-d",
          '{"sku":"a1","qty":2}',
          "-H",
          "Content-Type: application/json",
          "-H",
          "X-Order: 7",
        ],
        { wallet: "post" },
      );
      expect(r.code, r.stderr).to.equal(0);
      expect(JSON.parse(r.stdout)).to.deep.equal({ placed: { sku: "a1", qty: 2 } });
      expect(seen.map((x) => x.paid)).to.deep.equal([false, true]);
      for (const x of seen)
        expect(x).to.deep.include({
          method: "PUT",
          order: "7",
          type: "application/json",
          body: '{"sku":"a1","qty":2}',
        });
      // -d alone is a POST, as with curl; a body on GET is refused before anything is sent.
      const get = await cli(["pay", url, "-X", "GET", "-d", "x=1"], { wallet: "post" });
      expect(get.code, get.stderr).to.equal(1);
      expect(get.stderr).to.contain("invalid_argument: -d with -X GET");
      const bad = await cli(["pay", url, "-H", "no colon"], { wallet: "post" });
      expect(bad.code).to.equal(1);
      expect(bad.stderr).to.contain('-H "no colon" is not "Name: value"');
      expect(seen).to.have.length(2);
    } finally {
      await api.close();
    }
  });

  it("serve --sessions sells credentials (issuer key created 0600 in --state) that pay --session buys and presents, GET and POST", async function () {
    const state = path.join(work, "serve-state");
    const child = spawnCli(["serve", "--port", "0", "--price", ".01", "--sessions", "--state", state], { key: 2 });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
    while (!/session "basic"/.test(stdout)) {
      if (child.exitCode !== null) throw new Error(`serve exited: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    try {
      const url = /example API on (http:\S+)/.exec(stdout)![1]!;
      expect(stdout).to.match(/session "basic": 10 requests within 1 h for 0\.05 \w+ \(POST http:\S+\/\S+basic/);
      expect(stderr).to.contain("created a session issuer key");
      expect(statSync(path.join(state, "issuer-key")).mode & 0o777).to.equal(0o600);
      await env.mint(account(9).address, USDC);
      expect((await cli(["deposit", "1"], { wallet: "serve-session", key: 9 })).code).to.equal(0);
      const first = await cli(["pay", `${url}/weather`, "--session", "--json"], { wallet: "serve-session" });
      expect(first.code, first.stderr).to.equal(0);
      const j = json(first);
      expect(j).to.deep.include({ ok: true, status: 200, mode: "bought", remaining: 9 });
      expect(JSON.parse(j.body as string)).to.deep.include({ paidWith: "session" });
      // A state-changing route: the presentation is bound to this method, path and body.
      const order = await cli(
        ["pay", `${url}/order`, "--session", "-d", '{"sku":"b2"}', "-H", "content-type: application/json"],
        { wallet: "serve-session" },
      );
      expect(order.code, order.stderr).to.equal(0);
      expect(JSON.parse(order.stdout)).to.deep.include({ ordered: { sku: "b2" }, paidWith: "session" });
      expect(order.stderr).to.contain("presented a session credential").and.contain("8 presentation(s) left");
      // Without --session the same routes are still paid per request.
      const plain = await cli(["pay", `${url}/order`, "-d", '{"sku":"c3"}', "-H", "content-type: application/json"], {
        wallet: "serve-session",
      });
      expect(plain.code, plain.stderr).to.equal(0);
      expect(JSON.parse(plain.stdout)).to.deep.include({ ordered: { sku: "c3" }, paidWith: "zk-exact" });
    } finally {
      child.kill("SIGTERM");
      expect(await exited).to.equal(0);
    }
  });

  it("pay --mode client --timeout bounds a slow confirmation: payment_unconfirmed with tx, receipt and reserved until; receipt <id> finds it", async function () {
    this.timeout(100_000);
    await env.mint(account(15).address, USDC);
    expect((await cli(["deposit", "1"], { wallet: "slow", key: 15 })).code).to.equal(0);
    // The server wants 2 confirmations; the local chain mines a block per transaction, so the
    // second confirmation never comes while the CLI waits.
    const api = await env.api({ payTo: account(3).address, minConfirmations: 2 });
    try {
      const t0 = Date.now();
      const r = await cli(["--mode", "client", "pay", `${api.url}/weather`, "--timeout", "15"], {
        wallet: "slow",
        key: 15,
      });
      const took = Date.now() - t0;
      expect(r.code, r.stderr).to.equal(3);
      expect(took, "--timeout bounds the exchange").to.be.below(50_000);
      expect(r.stderr).to.match(
        /error: payment_unconfirmed: payment submitted \(tx 0x[0-9a-f]{64}\) and mined in block \d+/,
      );
      expect(r.stderr).to.not.match(/unexpected_error|nothing was paid/);
      const id = /Receipt (0x[0-9a-f]{64})/.exec(r.stderr)?.[1];
      expect(id, r.stderr).to.be.a("string");
      expect(r.stderr).to.match(/reserved until (\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d UTC/);
      expect(r.stderr).to.contain(`402zk --network hardhat receipt ${id}`);
      expect(r.stderr, "no explorer on a local chain").to.not.contain("https://");
      expect(api.served(), "the server never saw the receipt").to.equal(0);
      // Later, the user checks: one more block gives the second confirmation.
      await rpc("evm_mine");
      // Three reads of the chain and one of the wallet folder, side by side (helpers/parallel).
      const [check, text, balance, none] = await inOrderConcurrently([
        () => cli(["receipt", id!, "--confirmations", "2", "--json"]),
        () => cli(["receipt", id!]),
        () => cli(["balance", "--json"], { wallet: "slow" }),
        () => cli(["receipt", `0x${"12".repeat(32)}`]),
      ]);
      expect(check.code, check.stderr).to.equal(0);
      expect(json(check)).to.deep.include({
        state: "paid",
        confirmations: 2,
        payTo: account(3).address,
        amount: "10000",
        fee: "0",
      });
      expect(text.stdout).to.match(
        /paid: 0\.01 \w+ to 0x[0-9a-fA-F]{40}, block \d+, 2 confirmation\(s\)\ntx 0x[0-9a-f]{64}\n/,
      );
      // The wallet counts the payment as made: the note is spent, its change is the balance.
      const b = json(balance);
      expect(b).to.deep.include({ private: (USDC - 10_000n).toString(), reserved: "0" });
      expect(none.code).to.equal(2);
      expect(none.stderr).to.contain("receipt_not_found");
    } finally {
      await api.close();
    }
  });

  it("SIGINT while the paid response is pending prints what was sent and how to check it; the payment settles and receipt <id> finds it", async function () {
    this.timeout(90_000);
    await env.mint(account(18).address, USDC);
    expect((await cli(["deposit", "1"], { wallet: "sigint", key: 18 })).code).to.equal(0);
    const api = await env.api({ payTo: account(3).address });
    let child: ChildProcess | undefined;
    let exited: Promise<number | null> | undefined;
    let forwarded: Promise<number> | undefined;
    // A slow API: the paid request is held until the CLI was interrupted and exited, then served.
    const slow = await listen((req, res) => {
      const sig = req.headers["payment-signature"] as string | undefined;
      const headers: Record<string, string> = sig ? { "payment-signature": sig } : {};
      const answer = async () => {
        if (sig) {
          child!.kill("SIGINT");
          await exited;
        }
        const r = await fetch(`${api.url}${req.url}`, { headers });
        const out: Record<string, string> = {};
        r.headers.forEach((v, k) => {
          if (k !== "content-length" && k !== "transfer-encoding") out[k] = v;
        });
        res.writeHead(r.status, out).end(await r.text());
        return r.status;
      };
      const p = answer().catch(() => 0);
      if (sig) forwarded = p;
    });
    servers.push(slow.server);
    try {
      child = spawnCli(["pay", `${slow.url}/weather`], { wallet: "sigint" });
      const result = collectOutput(child);
      exited = result.then((x) => x.code);
      const r = await result;
      expect(r.code, r.stderr).to.equal(130);
      expect(r.stderr).to.match(/error: payment_unconfirmed: payment sent, but no response came back \(interrupted\)/);
      const id = /Receipt (0x[0-9a-f]{64})/.exec(r.stderr)?.[1];
      expect(id, r.stderr).to.be.a("string");
      expect(r.stderr).to.match(/reserved until (\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d UTC/);
      expect(r.stderr).to.contain(`402zk --network hardhat receipt ${id}`);
      // The server had the proof: it settles it after the CLI is gone.
      expect(await forwarded).to.equal(200);
      const check = await cli(["receipt", id!, "--json"]);
      expect(check.code, check.stderr).to.equal(0);
      expect(json(check)).to.deep.include({ state: "paid", payTo: account(3).address, amount: "10000" });
    } finally {
      await api.close();
    }
  });

  // Last: it moves the chain's clock an hour ahead.
  it("a paid request whose response was lost says the payment was sent and until when the note is reserved; expiry releases it", async function () {
    await env.mint(account(11).address, USDC);
    expect((await cli(["deposit", "1"], { wallet: "lost", key: 11 })).code).to.equal(0);
    const api = await env.api({ payTo: account(3).address });
    // A server that dies with the proof in hand: the 402 is real, the paid request gets no answer.
    const dying = await listen((req, res) => {
      if (req.headers["payment-signature"]) {
        req.socket.destroy();
        return;
      }
      void fetch(`${api.url}${req.url}`).then(async (r) => {
        const headers: Record<string, string> = {};
        r.headers.forEach((v, k) => {
          if (k !== "content-length" && k !== "transfer-encoding") headers[k] = v;
        });
        res.writeHead(r.status, headers);
        res.end(await r.text());
      });
    });
    servers.push(dying.server);
    try {
      const r = await cli(["pay", `${dying.url}/weather`], { wallet: "lost" });
      expect(r.code, r.stderr).to.equal(3);
      expect(r.stderr).to.match(/payment_unconfirmed: payment sent/);
      expect(r.stderr).to.match(
        /reserved until (\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d UTC \(or until receipt 0x[0-9a-f]{64} appears/,
      );
      expect(r.stderr).to.not.match(/network_error/);
      const held = await cli(["balance", "--json"], { wallet: "lost" });
      const j = json(held) as { reserved: string; private: string; reservations: { until: number }[] };
      expect(j.reserved).to.equal(USDC.toString());
      expect(j.private).to.equal("0");
      expect(j.reservations[0]!.until).to.be.a("number");
      const text = await cli(["balance"], { wallet: "lost" });
      expect(text.stdout).to.match(/reserved\s+1\.00 .*released at \d\d:\d\d/);
      // Past the payment's expiry the chain shows the note unspent: the next sync releases it.
      await rpc("evm_increaseTime", [3600]);
      await rpc("evm_mine");
      const freed = json(await cli(["balance", "--json"], { wallet: "lost" }));
      expect(freed.reserved).to.equal("0");
      expect(freed.private).to.equal(USDC.toString());
    } finally {
      await api.close();
    }
  });
});
