import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { expect } from "chai";

import { devPrivateKey } from "../../scripts/lib/dev-env.js";
import { ROOT } from "../../scripts/lib/paths.js";
import { parseAmount } from "../../sdk/cli/amount.js";
import { shutdownProver } from "../../sdk/core/prover.js";
import { DailySpend, SPEND_FILE, utcDay } from "../../sdk/mcp/index.js";
import { buildCli, withCompileCache } from "../helpers/cli-build.js";
import { collectOutput } from "../helpers/process.js";
import { sessionApi } from "../helpers/session-env.js";
import { account, startEnv, type Env } from "../helpers/x402-env.js";
import { clearOfMidnight } from "../helpers/utc-day.js";

const BIN = path.join(ROOT, "bin", "402zk.js");
const USDC = 1_000_000n;
const PAYER = 6;

/** One spawned `402zk mcp` and the SDK's client talking to it over stdio. */
interface McpSession {
  client: Client;
  /** Errors of the client's transport: a line on stdout that is not JSON-RPC lands here. */
  errors: Error[];
  stderr: () => string;
  call(name: string, args?: Record<string, unknown>): Promise<CallToolResult>;
  close(): Promise<void>;
}

const text = (r: CallToolResult): string => (r.content[0] as { type: "text"; text: string }).text;
/** Token units ("0.99") as base units. */
const units = (v: unknown): bigint => parseAmount(String(v), 6);
const json = (r: CallToolResult) => JSON.parse(text(r)) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe("402zk mcp (spawned, the MCP SDK's client over stdio, real chain, real proofs)", function () {
  let env: Env;
  let work: string;
  let deployments: string;
  let api: Awaited<ReturnType<Env["api"]>>;
  let plain: { server: Server; url: string };
  const sessions: McpSession[] = [];

  before(async function () {
    this.timeout(300_000);
    // `402zk` runs from dist/ (bin/402zk.js): built from the current sources when stale.
    buildCli();
    env = await startEnv();
    work = mkdtempSync(path.join(os.tmpdir(), "402zk-mcp-"));
    deployments = path.join(work, "deployments");
    mkdirSync(deployments);
    writeFileSync(path.join(deployments, "hardhat.json"), JSON.stringify(env.record, null, 2));
    // GET /weather costs 0.01, GET /premium 0.05 (zk-exact).
    api = await env.api({ payTo: account(3).address, price: 10_000n });
    const server = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("free content");
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    plain = { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
    await env.mint(account(PAYER).address, 5n * USDC);
  });

  after(async function () {
    for (const s of sessions) await s.close().catch(() => {});
    await api?.close();
    if (plain) {
      plain.server.closeAllConnections();
      await new Promise<void>((r) => plain.server.close(() => r()));
    }
    await env?.chain.close();
    await shutdownProver();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** The global flags of a `402zk` process on wallet folder `wallet` against the test chain. */
  const globals = (wallet: string) => [
    "--network",
    "hardhat",
    "--rpc",
    env.chain.url,
    "--deployments",
    deployments,
    "--wallet",
    path.join(work, wallet),
  ];

  /** Spawns `402zk mcp <args>` on wallet folder `wallet` and connects the SDK's client. */
  async function mcp(args: string[], wallet = "payer"): Promise<McpSession> {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [BIN, ...globals(wallet), "mcp", ...args],
      cwd: work,
      // With Node's compile cache (helpers/cli-build), as the CLI suites spawn 402zk.
      env: withCompileCache({
        PATH: process.env.PATH ?? "",
        HOME: work,
        ZK402_PRIVATE_KEY: devPrivateKey(PAYER),
      }),
      stderr: "pipe",
    });
    let stderr = "";
    transport.stderr?.on("data", (b: Buffer) => (stderr += b.toString()));
    const client = new Client({ name: "402zk-test", version: "1.0.0" });
    const errors: Error[] = [];
    client.onerror = (e) => errors.push(e);
    await client.connect(transport);
    const s: McpSession = {
      client,
      errors,
      stderr: () => stderr,
      call: async (name, a = {}) => (await client.callTool({ name, arguments: a })) as CallToolResult,
      close: () => client.close(),
    };
    sessions.push(s);
    return s;
  }

  const blockNumber = async () => Number(await env.publicClient.getBlockNumber());

  it("the day's spend file: totals per UTC day, written by rename (no temporary left), a torn file refused rather than read as zero", function () {
    const dir = mkdtempSync(path.join(work, "spend-"));
    const spend = new DailySpend(path.join(dir, SPEND_FILE));
    expect(spend.spentOn("2026-12-07")).to.equal(0n);
    expect(spend.add("2026-12-07", 10_000n)).to.equal(10_000n);
    expect(spend.add("2026-12-07", 5_000n)).to.equal(15_000n);
    spend.add("2026-12-08", 1n);
    expect(new DailySpend(path.join(dir, SPEND_FILE)).spentOn("2026-12-07")).to.equal(15_000n);
    expect(readdirSync(dir)).to.deep.equal([SPEND_FILE]);
    for (let d = 1; d <= 9; d++) spend.add(`2027-01-0${d}`, 1n);
    expect(Object.keys((JSON.parse(readFileSync(spend.file, "utf8")) as { days: object }).days)).to.have.length(7);
    writeFileSync(spend.file, '{"version":1,"days":{"2026-12-07":"15');
    expect(() => spend.spentOn("2026-12-07")).to.throw(/cannot be read.*no payment is made/);
  });

  it("tools/list: fetch_paid, balance, credentials and deposit, with their input schemas; no tool takes a key", async function () {
    const s = await mcp([]);
    const { tools } = await s.client.listTools();
    expect(tools.map((t) => t.name).sort()).to.deep.equal(["balance", "credentials", "deposit", "fetch_paid"]);
    const fetchPaid = tools.find((t) => t.name === "fetch_paid")!;
    expect(fetchPaid.description)
      .to.match(/402/)
      .and.match(/per-call limit/);
    expect(fetchPaid.inputSchema.required).to.deep.equal(["url"]);
    expect(Object.keys(fetchPaid.inputSchema.properties ?? {}).sort()).to.deep.equal([
      "body",
      "headers",
      "method",
      "url",
    ]);
    expect((fetchPaid.inputSchema.properties!.method as { enum: string[] }).enum).to.include.members(["GET", "POST"]);
    expect(tools.find((t) => t.name === "deposit")!.inputSchema.required).to.deep.equal(["amount"]);
    for (const t of tools) {
      const props = JSON.stringify(t.inputSchema.properties ?? {});
      expect(props, t.name).to.not.match(/seed|private|key|secret|viewing/i);
    }
    // Deposits are off without --allow-deposit.
    const dep = await s.call("deposit", { amount: "1" });
    expect(dep.isError).to.equal(true);
    expect(text(dep)).to.match(/^deposit_disabled: .*--allow-deposit/);
    await s.close();
    expect(s.errors).to.deep.equal([]);
  });

  it("deposit then balance; fetch_paid pays 0.01 twice (body, receipt, balance down by the price); above --max-per-call refused with nothing paid; --max-per-day reached and still counted after a restart; a free URL is not paid; bad input is a tool error; stdout carries JSON-RPC only", async function () {
    // The day's limit is counted across two server processes: run it all on one UTC day.
    this.timeout(240_000 + 181_000);
    await clearOfMidnight(180_000);
    this.timeout(240_000); // (restarts the timer)
    const limits = ["--max-per-call", "0.04", "--max-per-day", "0.025", "--allow-deposit", "--max-deposit", "2"];
    let s = await mcp(limits);

    // Deposits: the cap, a bad amount, then a real one.
    const tooBig = await s.call("deposit", { amount: "3" });
    expect(tooBig.isError).to.equal(true);
    expect(text(tooBig)).to.match(/--max-deposit/);
    const bad = await s.call("deposit", { amount: "lots" });
    expect(bad.isError).to.equal(true);
    expect(text(bad)).to.match(/^invalid_argument: amount must be a non-negative decimal number/);
    const dep = await s.call("deposit", { amount: "1" });
    expect(dep.isError, text(dep)).to.not.equal(true);
    expect(json(dep)).to.include({ deposited: "1.00", token: "USDC" });
    expect(json(dep).transaction).to.match(/^0x[0-9a-f]{64}$/);

    const bal0 = json(await s.call("balance"));
    expect(bal0.private).to.equal("1.00");
    expect(bal0.public).to.equal("4.00");
    expect(bal0.limits).to.include({ maxPerCall: "0.04 USDC", maxPerDay: "0.025 USDC", spentToday: "0.00 USDC" });

    // A paid route: served, paid, the balance down by what was paid.
    const p1 = await s.call("fetch_paid", { url: `${api.url}/weather` });
    expect(p1.isError, text(p1)).to.not.equal(true);
    const r1 = json(p1);
    expect(r1.status).to.equal(200);
    expect(r1.contentType).to.match(/application\/json/);
    expect(JSON.parse(r1.body as string)).to.include({ weather: "sunny" });
    expect(r1.payment).to.include({ paid: true, via: "zk-exact", amount: "0.01", token: "USDC", settled: true });
    expect(r1.payment.receiptId).to.match(/^0x[0-9a-f]{64}$/);
    const total1 = units(r1.payment.total);
    const bal1 = json(await s.call("balance"));
    expect(units(bal1.private)).to.equal(USDC - total1);

    // A second call pays again (a new receipt).
    const r2 = json(await s.call("fetch_paid", { url: `${api.url}/weather`, method: "GET" }));
    expect(r2.status).to.equal(200);
    expect(r2.payment.paid).to.equal(true);
    expect(r2.payment.receiptId).to.not.equal(r1.payment.receiptId);
    const spent = total1 + units(r2.payment.total);
    expect(units(r2.limits.spentToday.replace(" USDC", ""))).to.equal(spent);

    // 0.05 > --max-per-call 0.04: refused before proving; nothing paid, no transaction, not served.
    const served = api.served();
    const block = await blockNumber();
    const before = json(await s.call("balance")).private as string;
    const big = await s.call("fetch_paid", { url: `${api.url}/premium` });
    expect(big.isError).to.equal(true);
    expect(text(big)).to.match(/^spend_limit: .*asks 0\.05 USDC.*per-call limit of 0\.04 USDC \(--max-per-call\)/);
    expect(await blockNumber()).to.equal(block);
    expect(api.served()).to.equal(served);
    expect(json(await s.call("balance")).private).to.equal(before);

    // 0.02 spent of 0.025: the next 0.01 would pass the day's limit.
    const day = await s.call("fetch_paid", { url: `${api.url}/weather` });
    expect(day.isError).to.equal(true);
    expect(text(day)).to.match(/^spend_limit: .*left of the per-day limit of 0\.025 USDC \(--max-per-day/);
    expect(await blockNumber()).to.equal(block);

    // Not a 402: returned as is, nothing paid.
    const free = json(await s.call("fetch_paid", { url: `${plain.url}/anything` }));
    expect(free).to.include({ status: 200, contentType: "text/plain", body: "free content", bodyTruncated: false });
    expect(free.payment).to.deep.equal({ paid: false });

    // Bad input: tool errors, and the server goes on.
    for (const [a, re] of [
      [{ url: "not a url" }, /^invalid_argument: not a URL/],
      [{ url: "file:///etc/passwd" }, /^invalid_argument: only http:\/\/ and https:\/\//],
      [{ url: `${api.url}/weather`, method: "FETCH" }, /method/i],
      [{ url: `${api.url}/weather`, method: "GET", body: "x" }, /^invalid_argument: a GET request has no body/],
      [{ url: `${api.url}/weather`, headers: { "payment-signature": "x" } }, /payment header/],
    ] as const) {
      const r = await s.call("fetch_paid", a);
      expect(r.isError, JSON.stringify(a)).to.equal(true);
      expect(text(r), JSON.stringify(a)).to.match(re);
    }
    expect(json(await s.call("credentials"))).to.deep.equal({ credentials: [], pending: [] });
    await s.close();
    expect(s.errors, s.stderr()).to.deep.equal([]);
    // Progress went to stderr.
    expect(s.stderr())
      .to.match(/402zk mcp on stdio/)
      .and.match(/proving/);

    // The day's spend is on disk, and a restarted server still counts it.
    const file = JSON.parse(readFileSync(path.join(work, "payer", SPEND_FILE), "utf8")) as {
      days: Record<string, string>;
    };
    expect(file.days[utcDay(new Date())]).to.equal(spent.toString());
    s = await mcp(limits);
    const again = await s.call("fetch_paid", { url: `${api.url}/weather` });
    expect(again.isError).to.equal(true);
    expect(text(again)).to.match(/per-day limit/);
    expect(await blockNumber()).to.equal(block);
    await s.close();
    expect(s.errors).to.deep.equal([]);
  });

  it("fetch_paid presents a session credential the wallet holds (bought with 402zk pay --session while the server runs): nothing paid, not counted, even with the day's limit at 0", async function () {
    this.timeout(120_000);
    const shop = await sessionApi(env, { payTo: account(3).address });
    try {
      const s = await mcp(["--max-per-day", "0", "--allow-deposit"], "holder");
      expect(json(await s.call("deposit", { amount: "0.5" })).deposited).to.equal("0.50");
      // The server holds the wallet folder only during a tool call: the CLI uses it in between.
      const cli = spawn(
        process.execPath,
        [BIN, ...globals("holder"), "pay", "--session", "--offer", "basic", `${shop.url}/data`],
        {
          cwd: work,
          env: withCompileCache({ ...process.env, HOME: work, ZK402_SEED: "", ZK402_PRIVATE_KEY: "" }),
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      const bought = await collectOutput(cli);
      expect(bought.code, bought.stderr).to.equal(0);
      const creds = json(await s.call("credentials"));
      expect(creds.credentials).to.have.length(1);
      expect(creds.credentials[0]).to.include({ origin: shop.url, offerId: "basic", remaining: 2 });

      const block = await blockNumber();
      const r = json(await s.call("fetch_paid", { url: `${shop.url}/data` }));
      expect(r.status).to.equal(200);
      expect(JSON.parse(r.body as string)).to.include({ data: "ok" });
      expect(r.payment).to.deep.equal({ paid: false, via: "session", presentationsLeft: 1 });
      expect(r.limits.spentToday).to.equal("0.00 USDC");
      expect(await blockNumber()).to.equal(block);
      expect(shop.served.data).to.equal(2);
      // A route the credential does not serve is a payment: refused by the day's limit of 0.
      const plainRoute = await s.call("fetch_paid", { url: `${shop.url}/plain` });
      expect(plainRoute.isError).to.equal(true);
      expect(text(plainRoute)).to.match(/per-day limit of 0\.00 USDC/);
      await s.close();
      expect(s.errors).to.deep.equal([]);
    } finally {
      await shop.close();
    }
  });
});
