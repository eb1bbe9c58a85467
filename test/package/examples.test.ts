import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { pathToFileURL } from "node:url";

import { HTTPFacilitatorClient } from "@x402/core/server";
import { expect } from "chai";
import { erc20Abi } from "viem";

import { devPrivateKey } from "../../scripts/lib/dev-env.js";
import { ROOT } from "../../scripts/lib/paths.js";
import { isZkPayError } from "../../sdk/core/errors.js";
import { credentialToJson } from "../../sdk/core/identity/credential.js";
import { ymdOf } from "../../sdk/core/identity/rule.js";
import { WalletKeys } from "../../sdk/core/keys.js";
import { acceptCredential, credentialRequest, parseCredentialRequest } from "../../sdk/identity/holder.js";
import { AttributeIssuer } from "../../sdk/identity/issuer.js";
import { FileAttributeCredentialStore } from "../../sdk/node/identity-store.js";
import { saveDeployment } from "../../sdk/node/deployments.js";
import { createZkRemoteResourceServer } from "../../sdk/server/remote.js";
import { serveNext } from "../adapters/servers/next.js";
import { buildCli, withCompileCache } from "../helpers/cli-build.js";
import { startService } from "../helpers/service.js";
import { account, startEnv, type Env } from "../helpers/x402-env.js";

/** The README's TypeScript examples: each one is in README.md verbatim, type-checked and run below. */
export const EXAMPLES = [
  "examples/agent.ts",
  "examples/api-server.ts",
  "examples/session-server.ts",
  "examples/session-client.ts",
  "examples/remote-api.ts",
  "examples/weather-server.ts",
  "examples/api-weather-express.ts",
  "examples/api-weather-hono.ts",
  "examples/next/app/weather/route.ts",
  "examples/age-gated-api.ts",
];

/**
 * Runs an example with tsx; resolves with its output once `until` appears, or when it
 * exits by itself (`code`). A process that neither prints `until` nor exits within
 * `timeoutMs` fails the test: a client that stays alive after its work is a bug.
 */
function runExample(file: string, env: Record<string, string>, until?: RegExp, timeoutMs = 180_000) {
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", file], {
    cwd: ROOT,
    // Node's compile cache (helpers/cli-build): each example otherwise compiles the SDK's
    // dependencies (viem, snarkjs, x402) afresh.
    env: withCompileCache({ ...process.env, ...env }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const done = new Promise<{ out: string; code: number | null }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${file} neither finished nor exited within ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
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

const randomPort = () => String(40_000 + Math.floor(Math.random() * 10_000));

describe("README examples (examples/*.ts): the snippets compile under --strict and run", function () {
  let env: Env;
  let dir: string;
  let common: Record<string, string>;

  before(async function () {
    env = await startEnv();
    dir = mkdtempSync(path.join(os.tmpdir(), "402zk-examples-"));
    // The examples read deployments/<network>.json; this chain's record goes to a directory of its own.
    saveDeployment(env.record as never, dir);
    common = { RPC_URL: env.chain.url, ZK402_NETWORK: env.record.network, ZK402_DEPLOYMENTS_DIR: dir, HOME: dir };
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
    buildCli({ strict: true, stdio: "ignore" }); // dist/ from the current sources (when stale)
    const tsconfig = JSON.parse(readFileSync(path.join(ROOT, "examples", "tsconfig.json"), "utf8")) as {
      include: string[];
    };
    expect(tsconfig.include, "examples/tsconfig.json covers every example").to.deep.equal(["*.ts", "next/**/*.ts"]);
    execFileSync("npx", ["tsc", "-p", "examples/tsconfig.json"], { cwd: ROOT, stdio: "pipe" });
  });

  it("run: the API server starts, agents of two seeds (one HOME) deposit and pay it over x402", async function () {
    this.timeout(300_000);
    await env.mint(account(9).address, 4_000_000n);
    const port = randomPort();
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
      // A second seed in the same HOME gets its own note store (it used to share the first
      // seed's file and fail with note_store_corrupt).
      for (const seed of [`0x${"3c".repeat(32)}`, `0x${"4d".repeat(32)}`]) {
        const agent = runExample("examples/agent.ts", {
          ...common,
          ZK402_SEED: seed,
          PAYER_KEY: devPrivateKey(9),
          API_URL: `http://127.0.0.1:${port}/weather`,
        });
        const r = await agent.done;
        expect(r.code, r.out).to.equal(0);
        expect(r.out).to.include('200 {"weather":"sunny"}');
      }
    } finally {
      server.child.kill();
    }
  });

  it("run: one agent pays the same GET /weather served by Express, by Hono and by a Next route handler", async function () {
    this.timeout(420_000);
    await env.mint(account(10).address, 2_000_000n);
    const config = {
      ...common,
      RELAYER_KEY: devPrivateKey(11),
      PAY_TO: account(5).address,
      CHALLENGE_SECRET: "examples-weather-secret-0123456789",
    };
    const servers = [
      runExample("examples/api-weather-express.ts", { ...config, PORT: randomPort() }, /listening on/),
      runExample("examples/api-weather-hono.ts", { ...config, PORT: randomPort() }, /listening on/),
    ];
    // The Next route is the App Router file itself, run by Next's own dev server (the adapter
    // matrix's fixture app, in this process): it reads its configuration when Next loads it.
    const saved = { ...process.env };
    Object.assign(process.env, config);
    let route: { GET: Parameters<typeof serveNext>[1] };
    try {
      route = (await import(pathToFileURL(path.join(ROOT, "examples/next/app/weather/route.ts")).href)) as typeof route;
    } finally {
      for (const k of Object.keys(config)) if (saved[k] === undefined) delete process.env[k];
      Object.assign(process.env, saved);
    }
    const next = await serveNext(["/weather"], route.GET);
    try {
      const urls: string[] = [];
      for (const s of servers) {
        const up = await s.done;
        expect(up.out, up.out).to.match(/listening on (\S+)/);
        urls.push(/listening on (\S+)/.exec(up.out)![1]!);
      }
      urls.push(next.url);
      // One seed: it deposits once, then pays each server from its notes.
      for (const url of urls) {
        const unpaid = await fetch(`${url}/weather`);
        expect(unpaid.status, url).to.equal(402);
        const agent = runExample("examples/agent.ts", {
          ...common,
          ZK402_SEED: `0x${"8a".repeat(32)}`,
          PAYER_KEY: devPrivateKey(10),
          API_URL: `${url}/weather`,
        });
        const r = await agent.done;
        expect(r.code, `${url}: ${r.out}`).to.equal(0);
        expect(r.out, url).to.include('200 {"weather":"sunny"}');
      }
    } finally {
      for (const s of servers) s.child.kill();
      await next.close();
    }
  });

  it("run: the session server sells a credential, the session client redeems it and exits by itself", async function () {
    this.timeout(300_000);
    await env.mint(account(8).address, 2_000_000n);
    const port = randomPort();
    const server = runExample(
      "examples/session-server.ts",
      {
        ...common,
        RELAYER_KEY: devPrivateKey(2),
        PAY_TO: account(4).address,
        CHALLENGE_SECRET: "examples-session-secret-0123456789",
        SESSION_ISSUER_KEY: `0x${"6f".repeat(32)}`,
        PORT: port,
      },
      /listening on/,
    );
    try {
      const up = await server.done;
      expect(up.out, up.out).to.match(/listening on/);
      // Its 402 offers the day pass next to the per-request price.
      const offered = await fetch(`http://127.0.0.1:${port}/data`);
      expect(offered.status).to.equal(402);
      const terms = JSON.parse(Buffer.from(offered.headers.get("payment-required")!, "base64").toString()) as {
        accepts: { extra?: { session?: { offers: { id: string; price: string }[] } } }[];
      };
      expect(terms.accepts[0]!.extra?.session?.offers, JSON.stringify(terms)).to.deep.include({
        ...terms.accepts[0]!.extra?.session?.offers[0],
        id: "day",
        price: "500000",
      });
      // No `until`: the test waits for the client to exit on its own (it proves the next
      // presentation in the background after its last request, and must still exit).
      const client = runExample(
        "examples/session-client.ts",
        {
          ...common,
          ZK402_SEED: `0x${"5b".repeat(32)}`,
          PAYER_KEY: devPrivateKey(8),
          API_URL: `http://127.0.0.1:${port}/data`,
          REQUESTS: "3",
        },
        undefined,
        120_000,
      );
      const r = await client.done;
      expect(r.code, r.out).to.equal(0);
      const lines = r.out.split("\n").filter((l) => l.startsWith("200 "));
      expect(lines, r.out).to.have.length(3);
      expect(lines[0], r.out).to.include('{"paidBy":"session"}').and.include("bought");
      for (const l of lines.slice(1))
        expect(l, r.out)
          .to.include('{"paidBy":"session"}')
          .and.match(/prepared|proved/);
      expect(r.out)
        .to.match(/offerId: 'day'/)
        .and.match(/remaining: 997/);
    } finally {
      server.child.kill();
    }
  });

  it("run: the remote-facilitator API settles through a real facilitator service; missing config is named", async function () {
    this.timeout(300_000);
    // Missing configuration: a clear message, not a TypeError.
    const bare = runExample("examples/remote-api.ts", { ...common, PAY_TO: account(3).address, CHALLENGE_SECRET: "" });
    const b = await bare.done;
    expect(b.code, b.out).to.not.equal(0);
    expect(b.out).to.include("set CHALLENGE_SECRET").and.not.include("TypeError");
    let caught: unknown;
    try {
      createZkRemoteResourceServer({
        facilitatorClient: new HTTPFacilitatorClient({ url: "http://127.0.0.1:1" }),
        pool: { ...env.pool, decimals: 6 },
        challengeSecret: process.env.ZK402_UNSET_FOR_TEST as string, // undefined, as from a missing variable
      });
    } catch (err) {
      caught = err;
    }
    expect(isZkPayError(caught) && caught.reason, String(caught)).to.equal("invalid_argument");

    const service = await startService(env, { relayerIndex: 5 });
    await env.mint(account(7).address, 2_000_000n);
    const port = randomPort();
    const api = runExample(
      "examples/remote-api.ts",
      {
        ...common,
        FACILITATOR_URL: service.url,
        PAY_TO: account(6).address,
        CHALLENGE_SECRET: "examples-remote-secret-0123456789",
        PORT: port,
      },
      /listening on/,
    );
    try {
      const up = await api.done;
      expect(up.out, up.out).to.match(/listening on/);
      // Its 402 names the configured payee, not a placeholder.
      const res402 = await fetch(`http://127.0.0.1:${port}/weather`);
      expect(res402.status).to.equal(402);
      const required = JSON.parse(Buffer.from(res402.headers.get("payment-required")!, "base64").toString()) as {
        accepts: { payTo: string }[];
      };
      expect(required.accepts[0]!.payTo.toLowerCase()).to.equal(account(6).address.toLowerCase());
      // The header guard answers a malformed payment with 400, before any work.
      const bad = await fetch(`http://127.0.0.1:${port}/weather`, {
        headers: { "PAYMENT-SIGNATURE": "not base64 json" },
      });
      expect(bad.status).to.equal(400);

      const agent = runExample("examples/agent.ts", {
        ...common,
        ZK402_SEED: `0x${"7e".repeat(32)}`,
        PAYER_KEY: devPrivateKey(7),
        API_URL: `http://127.0.0.1:${port}/weather`,
      });
      const r = await agent.done;
      expect(r.code, r.out).to.equal(0);
      expect(r.out).to.include('200 {"weather":"sunny"}');
    } finally {
      api.child.kill();
      await service.close();
    }
  });
  it("run: the age-gated API (Verify & Pay) refuses the agent before it pays until its wallet holds an adult's credential, then serves it", async function () {
    this.timeout(300_000);
    await env.mint(account(12).address, 2_000_000n);
    const issuer = await AttributeIssuer.init(path.join(dir, "issuer"));
    const port = randomPort();
    const server = runExample(
      "examples/age-gated-api.ts",
      {
        ...common,
        RELAYER_KEY: devPrivateKey(13),
        PAY_TO: account(14).address,
        CHALLENGE_SECRET: "examples-age-secret-0123456789abcd",
        ISSUER_KEY: issuer.publicKeyString,
        PORT: port,
      },
      /listening on/,
    );
    const payeeBalance = () =>
      env.publicClient.readContract({
        address: env.pool.token,
        abi: erc20Abi,
        functionName: "balanceOf",
        args: [account(14).address],
      });
    const seed = `0x${"9d".repeat(32)}`;
    const walletDir = path.join(dir, "beer-agent");
    const agent = () =>
      runExample("examples/agent.ts", {
        ...common,
        ZK402_SEED: seed,
        PAYER_KEY: devPrivateKey(12),
        API_URL: `http://127.0.0.1:${port}/beer`,
        WALLET_DIR: walletDir,
      }).done;
    try {
      const up = await server.done;
      expect(up.out, up.out).to.match(/listening on/);
      const unpaid = await fetch(`http://127.0.0.1:${port}/beer`);
      expect(unpaid.status).to.equal(402);
      const required = JSON.parse(Buffer.from(unpaid.headers.get("payment-required")!, "base64").toString()) as {
        extensions?: Record<string, { info: { rule: unknown; serviceId: string } }>;
      };
      expect(required.extensions?.["zk-attribute"]?.info.rule).to.deep.equal({
        minAge: 18,
        countries: { mode: "block", codes: [364, 408] }, // sorted
      });

      // No credential in the wallet: the agent's client refuses before proving; nothing paid.
      const payeeBefore = await payeeBalance();
      const refused = await agent();
      expect(refused.code, refused.out).to.not.equal(0);
      expect(refused.out).to.match(/requires an identity credential \(zk-attribute\) and the wallet holds none/);
      expect(await payeeBalance()).to.equal(payeeBefore);

      // The issuer signs an adult's credential for the agent's holder key (its seed derives it),
      // stored where the agent reads it, as `402zk --wallet <dir> identity add` does.
      const holder = WalletKeys.fromSeed(seed).attributeHolderKey();
      const nonce = await issuer.newNonce();
      const request = parseCredentialRequest(credentialRequest(holder, issuer.publicKeyString, nonce));
      const today = new Date();
      const years = (n: number) => ymdOf(new Date(Date.UTC(today.getUTCFullYear() + n, today.getUTCMonth(), 1)));
      const issued = await issuer.issue({
        ...request,
        claims: { birthDate: years(-30), country: 276, expiresAt: years(2), flags: 0n },
      });
      await new FileAttributeCredentialStore(walletDir).add(acceptCredential(holder, credentialToJson(issued)));
      const served = await agent();
      expect(served.code, served.out).to.equal(0);
      expect(served.out).to.include('200 {"beer":"cold"}');
      expect(await payeeBalance()).to.equal(payeeBefore + 10_000n);
    } finally {
      server.child.kill();
    }
  });
});
