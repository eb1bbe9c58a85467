import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";

import { decodePaymentRequiredHeader } from "@x402/core/http";
import { expect } from "chai";
import express from "express";
import type { Address, Hex } from "viem";

import { payForInference } from "../../sdk/client/proof-before-pay.js";
import { ZkPayError } from "../../sdk/core/errors.js";
import { unpackResult } from "../../sdk/core/inference/io.js";
import { infer } from "../../sdk/core/inference/model.js";
import { shutdownProver } from "../../sdk/core/prover.js";
import {
  inferenceArtifacts,
  loadInferenceModel,
  loadInferenceSamples,
  loadInferenceVerificationKey,
} from "../../sdk/node/artifacts.js";
import {
  createProofBeforePay,
  ZK_ESCROW_SCHEME,
  type ProofBeforePay,
  type ProofBeforePayOptions,
  type ProofBeforePayResult,
} from "../../sdk/server/proof-before-pay.js";
import { devPrivateKey } from "../../scripts/lib/dev-env.js";
import { ROOT } from "../../scripts/lib/paths.js";
import { buildCli, withCompileCache } from "../helpers/cli-build.js";
import { collectOutput } from "../helpers/process.js";
import { account, startEnv, type Env } from "../helpers/x402-env.js";

const BIN = path.join(ROOT, "bin", "402zk.js");

const model = loadInferenceModel();
const vkey = loadInferenceVerificationKey();
const artifacts = inferenceArtifacts();
const samples = loadInferenceSamples();
const PRICE = 10_000n;
/** The payment's validity and the escrow's window: short, so that the time travel to the deadline is small. */
const MAX_TIMEOUT = 60;
const DEADLINE = 200;

/** A node:http server listening on 127.0.0.1, port 0 (its handler is added once its URL is known). */
async function listen(): Promise<{ url: string; server: Server }> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

function close(server: Server): Promise<void> {
  return new Promise((r) => server.close(() => r()));
}

/** A plain node:http handler around `handle` (not the route's own `nodeHandler`): for a server that tampers with answers. */
function handlerOf(handle: ProofBeforePay["handle"]): RequestListener {
  return (req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const text = Buffer.concat(chunks).toString("utf8");
      const headers: Record<string, string | undefined> = {};
      for (const [k, v] of Object.entries(req.headers)) headers[k] = Array.isArray(v) ? v[0] : v;
      const a = await handle({ headers, body: text ? JSON.parse(text) : undefined });
      res.writeHead(a.status, { "content-type": "application/json", ...a.headers }).end(JSON.stringify(a.body));
    })().catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: "internal_error", message: (err as Error).message }));
    });
  };
}

/**
 * Proof before pay over real HTTP (issue #20): the `createProofBeforePay` route served by
 * node:http and by Express on 127.0.0.1, paid by `payForInference` with real payment proofs,
 * real inference proofs and the FacilitatorEscrow pool on Hardhat's EVM.
 */
describe("proof before pay over HTTP: createProofBeforePay + payForInference", function () {
  this.timeout(240_000);
  let env: Env;
  let payee: Address;
  let route: ProofBeforePay;
  let nodeUrl: string;
  let expressUrl: string;
  const servers: Server[] = [];

  const tokenBalance = async (a: Address) => BigInt(await env.system.token.balanceOf(a));
  const rpc = (method: string, params: unknown[] = []) =>
    env.chain.provider.request({ method: method as never, params: params as never }) as Promise<unknown>;

  function routeWith(resource: string, extra: Partial<ProofBeforePayOptions> = {}): ProofBeforePay {
    return createProofBeforePay({
      pool: env.pool,
      publicClient: env.publicClient,
      walletClient: env.walletClientFor(1),
      payTo: payee,
      price: PRICE,
      verifier: env.record.escrow!.serviceVerifiers.inference! as Address,
      model,
      artifacts,
      resource,
      maxTimeoutSeconds: MAX_TIMEOUT,
      deadlineSeconds: DEADLINE,
      ...extra,
    });
  }

  /** Serves `make(url)`'s handler on a new node:http server (the route needs its own URL). */
  async function serve(make: (url: string) => RequestListener): Promise<string> {
    const { url, server } = await listen();
    servers.push(server);
    server.on("request", make(`${url}/infer`));
    return `${url}/infer`;
  }

  before(async function () {
    env = await startEnv({ escrow: true });
    payee = account(7).address;
    nodeUrl = await serve((url) => {
      route = routeWith(url);
      return route.nodeHandler();
    });
    const app = express();
    app.post("/infer", express.json(), route.nodeHandler());
    const server = app.listen(0, "127.0.0.1");
    await once(server, "listening");
    servers.push(server);
    expressUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/infer`;
  });

  after(async function () {
    await Promise.all(servers.map(close));
    await env?.chain.close();
    await shutdownProver();
  });

  it("Express: 402 offering zk-escrow, then a verified result, the escrow released and the payee paid", async function () {
    const pixels = samples[0]!.pixels;
    const unpaid = await fetch(expressUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ pixels }),
    });
    expect(unpaid.status).to.equal(402);
    const required = decodePaymentRequiredHeader(unpaid.headers.get("payment-required")!);
    expect(required.accepts.map((a) => a.scheme)).to.deep.equal([ZK_ESCROW_SCHEME]);
    expect(required.accepts[0]!.amount).to.equal(PRICE.toString());
    expect((required.accepts[0]!.extra as { escrow: { modelCommitment: string } }).escrow.modelCommitment).to.equal(
      model.modelCommitment.toString(),
    );

    const { wallet } = await env.payer(2, { deposit: 100_000n });
    const payeeBefore = await tokenBalance(payee);
    const r = await payForInference(wallet, {
      url: expressUrl,
      pixels,
      vkey,
      expectedModelCommitment: model.modelCommitment,
    });
    const expected = [...infer(model, pixels).logits];
    expect(r.verified).to.equal(true);
    expect(r.logits).to.deep.equal(expected);
    expect(r.label).to.equal(expected.indexOf(Math.max(...expected)));
    expect(r.label).to.equal(samples[0]!.label);
    expect(await wallet.escrowStatus(r.escrowId)).to.equal("Released");
    expect(await tokenBalance(payee)).to.equal(payeeBefore + PRICE);
    expect(wallet.balance()).to.equal(100_000n - PRICE);
    expect(wallet.escrows().find((e) => e.id === r.escrowId)?.status).to.equal("released");
    console.log(
      `      proof before pay over HTTP: total ${r.timings.totalMs.toFixed(0)} ms (payment proof ${r.timings.paymentProveMs.toFixed(0)}, server ${r.timings.serverMs.toFixed(0)}, verify ${r.timings.verifyMs.toFixed(0)})`,
    );
  });

  it("a lying API (true proof, rewritten logits): service_proof_invalid, and the true result is on chain", async function () {
    const lyingUrl = await serve(() =>
      handlerOf(async (req) => {
        const a = await route.handle(req);
        if (a.status === 200) {
          const body = a.body as ProofBeforePayResult;
          body.result.logits = body.result.logits.map((x, i) => (i === 0 ? x + 1000 : x));
        }
        return a;
      }),
    );
    const pixels = samples[1]!.pixels;
    const { wallet } = await env.payer(3, { deposit: 50_000n });
    const payeeBefore = await tokenBalance(payee);
    let err: unknown;
    try {
      await payForInference(wallet, { url: lyingUrl, pixels, vkey });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(ZkPayError);
    expect((err as ZkPayError).reason).to.equal("service_proof_invalid");
    const id = (err as ZkPayError).details.escrowId as Hex;
    // The release (with the true result) happened before the lie: the payee is paid, and
    // the payer reads what it paid for from the chain.
    expect(await wallet.escrowStatus(id)).to.equal("Released");
    expect(await tokenBalance(payee)).to.equal(payeeBefore + PRICE);
    const released = await wallet.releasedResult(id);
    expect(released, "the release's event").to.not.equal(undefined);
    expect(unpackResult(released!.packed)).to.deep.equal([...infer(model, pixels).logits]);
  });

  it("bad input never 500s and settles nothing: short body, pixel 300, non-JSON header, zk-exact, another image", async function () {
    const { wallet } = await env.payer(5, { deposit: 30_000n });
    const payeeBefore = await tokenBalance(payee);
    const imageA = samples[4]!.pixels;
    const imageB = samples[6]!.pixels;
    // A real escrowed payment for image A, posted with image B.
    let header: string | undefined;
    const swap: typeof fetch = async (input, init) => {
      const sig = new Headers(init?.headers).get("payment-signature");
      if (!sig) return fetch(input, init);
      header = sig;
      return fetch(input, { ...init, body: JSON.stringify({ pixels: imageB }) });
    };
    let err: unknown;
    try {
      await payForInference(wallet, { url: nodeUrl, pixels: imageA, vkey, fetch: swap });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(ZkPayError);
    const answer = (err as ZkPayError).details.answer as { error: string; message: string; paid?: boolean };
    expect((err as ZkPayError).details.status).to.equal(400);
    expect(answer.error).to.equal("invalid_payload");
    expect(answer.message).to.match(/inputHash/);
    expect(answer.paid).to.equal(undefined);
    const id = (err as ZkPayError).details.escrowId as Hex;
    expect(header, "the paid request was sent").to.be.a("string");

    const post = async (sig: string, body: string) => {
      const res = await fetch(nodeUrl, {
        method: "POST",
        headers: { "content-type": "application/json", "payment-signature": sig },
        body,
      });
      return { status: res.status, body: (await res.json()) as { error?: string; message?: string } };
    };
    const decoded = JSON.parse(Buffer.from(header!, "base64").toString("utf8")) as {
      accepted: { scheme: string };
    };
    const zkExact = Buffer.from(
      JSON.stringify({ ...decoded, accepted: { ...decoded.accepted, scheme: "zk-exact" } }),
    ).toString("base64");
    const cases: [string, string, string, string][] = [
      ["195 pixels", header!, JSON.stringify({ pixels: imageA.slice(1) }), "invalid_argument"],
      [
        "a pixel 300",
        header!,
        JSON.stringify({ pixels: imageA.map((p, i) => (i === 7 ? 300 : p)) }),
        "invalid_argument",
      ],
      ["no pixels", header!, JSON.stringify({ image: imageA }), "invalid_payload"],
      ["a body that is not JSON", header!, "{pixels:", "invalid_payload"],
      [
        "a header that is not base64 JSON",
        "%%not base64 json%%",
        JSON.stringify({ pixels: imageA }),
        "malformed_header",
      ],
      ["a zk-exact payload", zkExact, JSON.stringify({ pixels: imageA }), "unsupported_scheme"],
    ];
    for (const [what, sig, body, reason] of cases) {
      const r = await post(sig, body);
      expect(r.status, `${what}: ${JSON.stringify(r.body)}`).to.be.within(400, 499);
      expect(r.body.error, what).to.equal(reason);
      expect(r.body.message, what).to.be.a("string").and.not.equal("");
    }
    expect(await wallet.escrowStatus(id), "never escrowed").to.equal("None");
    expect(await tokenBalance(payee)).to.equal(payeeBefore);
    expect(wallet.balance(), "the refused payment's note is the wallet's again").to.equal(30_000n);
  });

  it("the CLI: `402zk infer` pays, verifies and prints the verdict; `402zk escrows` lists the escrow released", async function () {
    // The CLI runs from dist/ (bin/402zk.js), built from the current sources unless it is already.
    buildCli({ strict: true });
    const work = mkdtempSync(path.join(os.tmpdir(), "402zk-infer-"));
    try {
      const deployments = path.join(work, "deployments");
      mkdirSync(deployments);
      writeFileSync(path.join(deployments, "hardhat.json"), JSON.stringify(env.record, null, 2));
      const cli = (args: string[]) =>
        collectOutput(
          spawn(
            process.execPath,
            [
              BIN,
              "--network",
              "hardhat",
              "--rpc",
              env.chain.url,
              "--deployments",
              deployments,
              "--wallet",
              path.join(work, "w"),
              ...args,
            ],
            {
              cwd: work,
              env: withCompileCache({ ...process.env, ZK402_PRIVATE_KEY: devPrivateKey(11), ZK402_SEED: "" }),
              stdio: ["ignore", "pipe", "pipe"],
            },
          ),
        );
      await env.mint(account(11).address, 1_000_000n);
      const dep = await cli(["deposit", "0.05"]);
      expect(dep.code, dep.stderr).to.equal(0);
      const before = await tokenBalance(payee);
      const bad = await cli(["infer", nodeUrl]);
      expect(bad.code).to.equal(1);
      expect(bad.stderr).to.match(/invalid_argument: give --sample/);
      const r = await cli(["infer", nodeUrl, "--sample", "3", "--json"]);
      expect(r.code, r.stderr).to.equal(0);
      const v = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as {
        ok: boolean;
        verified: boolean;
        label: number;
        logits: number[];
        escrowId: Hex;
      };
      expect(v.ok && v.verified).to.equal(true);
      expect(v.logits).to.deep.equal(infer(model, samples[3]!.pixels).logits);
      expect(await tokenBalance(payee)).to.equal(before + PRICE);
      const text = await cli(["infer", nodeUrl, "--sample", "0"]);
      expect(text.code, text.stderr).to.equal(0);
      expect(text.stdout).to.match(/verdict\s+VERIFIED/);
      const list = await cli(["escrows", "--json"]);
      expect(list.code, list.stderr).to.equal(0);
      const l = JSON.parse(list.stdout.trim().split("\n").at(-1)!) as { escrows: { id: string; status: string }[] };
      expect(l.escrows.map((e) => e.status)).to.deep.equal(["released", "released"]);
      expect(l.escrows[0]!.id.toLowerCase()).to.equal(v.escrowId.toLowerCase());
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it("a server killed before release: the escrow stays held, and the wallet (and a fresh one from its seed) refunds it after the deadline", async function () {
    const crashUrl = await serve((url) =>
      routeWith(url, {
        beforeRelease: () => {
          throw new Error("killed between proving and releasing");
        },
      }).nodeHandler(),
    );
    // Deposits of exactly the price: the escrowed payment leaves no change, so whatever
    // the wallet can spend afterwards is the refund note.
    // a syncs on a schedule once started (fast here): its refund must come by itself.
    const a = await env.payer(6, { deposit: PRICE, sync: { auto: false, intervalMs: 100, jitterMs: 50 } });
    const b = await env.payer(8, { deposit: PRICE });
    const payeeBefore = await tokenBalance(payee);
    const crash = async (wallet: typeof a.wallet, pixels: number[]) => {
      try {
        await payForInference(wallet, { url: crashUrl, pixels, vkey });
      } catch (e) {
        expect(e).to.be.instanceOf(ZkPayError);
        const err = e as ZkPayError;
        expect(err.details.status).to.equal(502);
        expect((err.details.answer as { paid: boolean }).paid).to.equal(true);
        return err.details.escrowId as Hex;
      }
      throw new Error("the crashed server's answer was accepted");
    };
    const idA = await crash(a.wallet, samples[2]!.pixels);
    const idB = await crash(b.wallet, samples[3]!.pixels);
    for (const id of [idA, idB]) expect(await a.wallet.escrowStatus(id)).to.equal("Held");
    await a.wallet.sync();
    expect(a.wallet.balance(), "held in escrow").to.equal(0n);
    // Before the deadline, nothing is refunded; following it records that it is held.
    const early = await a.wallet.followEscrows();
    expect(early.find((o) => o.id === idA)?.status).to.equal("Held");
    expect(early.find((o) => o.id === idA)?.refundTx).to.equal(undefined);
    expect(a.wallet.escrows().find((e) => e.id === idA)?.status).to.equal("held");

    // To just past both deadlines, read from the escrows themselves (not from the wall clock:
    // the chain's clock is what the pool compares with).
    const deadlines = [a, b].flatMap((w) => w.wallet.escrows().map((e) => BigInt(e.statement.deadline)));
    expect(deadlines).to.have.length(2);
    const latest = (await env.publicClient.getBlock()).timestamp;
    const target = deadlines.reduce((m, d) => (d > m ? d : m), latest) + 1n;
    await rpc("evm_setNextBlockTimestamp", [Number(target)]);
    await rpc("evm_mine");

    // The wallet that paid refunds its escrow by itself: its scheduled sync sees the
    // deadline behind it and refunds (no call from the application).
    a.wallet.startAutoSync();
    const until = Date.now() + 30_000;
    while (a.wallet.escrows().find((e) => e.id === idA)?.status !== "refunded" && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 100));
    }
    a.wallet.stopAutoSync();
    const rec = a.wallet.escrows().find((e) => e.id === idA);
    expect(rec?.status, "refunded by the scheduled sync").to.equal("refunded");
    expect(rec?.tx).to.match(/^0x[0-9a-f]{64}$/);
    expect(await a.wallet.escrowStatus(idA)).to.equal("Refunded");
    expect(a.wallet.escrows().find((e) => e.id === idA)?.status).to.equal("refunded");
    await a.wallet.sync();
    expect(a.wallet.balance(), "the refund (fee 0)").to.equal(PRICE);
    // The refund note is spendable: pay from it (chain time, which the travel moved ahead).
    const to = account(9).address;
    const toBefore = await tokenBalance(to);
    const now = (await env.publicClient.getBlock()).timestamp;
    const p = await a.wallet.preparePayment({ payTo: to, amount: 4_000n, expiry: now + 300n });
    await a.wallet.submitPayment(p);
    expect(await tokenBalance(to)).to.equal(toBefore + 4_000n);
    expect(a.wallet.balance()).to.equal(PRICE - 4_000n);

    // A wallet restored from b's seed into an empty store rebuilds the escrow from
    // EscrowHeld and refunds it.
    const restored = await env.payer(10, { seed: b.seed });
    await restored.wallet.sync();
    expect(restored.wallet.balance(), "held in escrow").to.equal(0n);
    const found = await restored.wallet.followEscrows();
    const ob = found.find((x) => x.id === idB);
    expect(ob?.status, ob?.error?.message).to.equal("Refunded");
    expect(ob?.refundTx).to.match(/^0x[0-9a-f]{64}$/);
    expect(await restored.wallet.escrowStatus(idB)).to.equal("Refunded");
    await restored.wallet.sync();
    expect(restored.wallet.balance()).to.equal(PRICE);
    // Neither escrow paid the API.
    expect(await tokenBalance(payee)).to.equal(payeeBefore);
  });
});
