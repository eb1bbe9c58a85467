import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";
import { getAddress } from "viem";

import { devPrivateKey } from "../scripts/lib/demo-env.js";
import { ROOT } from "../scripts/lib/paths.js";
import { parseAmount } from "../sdk/cli/amount.js";
import { payWithZk } from "../sdk/cli/pay.js";
import { parseUserAddress } from "../sdk/core/address.js";
import { isZkPayError } from "../sdk/core/errors.js";
import { shutdownProver } from "../sdk/core/prover.js";
import { account, startEnv, type Env } from "./helpers/x402-env.js";
import { collectOutput, type ProcessResult as CliResult } from "./helpers/process.js";
import { sessionApi } from "./helpers/session-env.js";

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
    // The CLI runs from dist/ (bin/402zk.js): build it from the current sources.
    execFileSync("npx", ["tsc", "-p", "tsconfig.sdk.json"], { cwd: ROOT, stdio: "inherit" });
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
    o: { wallet?: string; key?: number; rpc?: string; env?: NodeJS.ProcessEnv; deployments?: boolean } = {},
  ): Promise<CliResult> {
    const child = spawnCli(args, o);
    return collectOutput(child);
  }

  function spawnCli(
    args: string[],
    o: { wallet?: string; key?: number; rpc?: string; env?: NodeJS.ProcessEnv; deployments?: boolean } = {},
  ): ChildProcess {
    const global = ["--network", "hardhat", "--rpc", o.rpc ?? env.chain.url];
    if (o.deployments !== false) global.push("--deployments", deployments);
    if (o.wallet) global.push("--wallet", path.join(work, o.wallet));
    const child = spawn(process.execPath, [BIN, ...global, ...args], {
      cwd: work,
      env: {
        ...process.env,
        ZK402_PRIVATE_KEY: o.key === undefined ? "" : devPrivateKey(o.key),
        ZK402_SEED: "",
        ...o.env,
      },
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
      expect(r.stderr).to.match(/reserved until \d\d:\d\d(:\d\d)? UTC \(or until receipt 0x[0-9a-f]{64} appears/);
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
