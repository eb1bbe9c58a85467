import { expect } from "chai";
import { Redis } from "ioredis";
import { type Address, type Hex } from "viem";

import { facilitatorAbi } from "../../sdk/core/abi.js";
import { isZkPayError } from "../../sdk/core/errors.js";
import { paymentContext } from "../../sdk/core/context.js";
import { shutdownProver } from "../../sdk/core/prover.js";
import { verifyPaymentProof } from "../../sdk/core/circuits/payment.js";
import { type SolidityProof } from "../../sdk/core/circuits/proof.js";
import { WorkerVerifier } from "../../sdk/node/worker-verifier.js";
import { ReceiptChecker } from "../../sdk/core/receipts.js";
import { MemoryReplayStore, RedisReplayStore } from "../../sdk/core/replay.js";
import type { Challenge } from "../../sdk/core/wire.js";
import { FairQueue } from "../../sdk/core/work-queue.js";
import { createZkResourceServer } from "../../sdk/server/resource-server.js";
import { inOrderConcurrently } from "../helpers/parallel.js";
import { startRedis } from "../helpers/redis.js";
import { account, decodeHeader, startEnv, type Env } from "../helpers/x402-env.js";
import { junkPaymentHeader, junkPoints, type JunkRequired } from "../helpers/junk-payment.js";

type Settle = { success: boolean; transaction: string; errorReason?: string; extra?: { receiptId?: string } };
type Required = {
  error?: string;
  resource?: unknown;
  accepts: { scheme: string; maxTimeoutSeconds: number; extra: Record<string, unknown> & { challenge: Challenge } }[];
};
type Api = Awaited<ReturnType<Env["api"]>>;

/**
 * Regression tests for the findings of the independent review (issue 7): each one failed
 * on the tree before the fix. Real chain, real proofs, real HTTP on 127.0.0.1.
 */
describe("security: admission, one payment per note, relayer gas, receipts", function () {
  let env: Env;
  let payee: Address;

  before(async function () {
    env = await startEnv();
    payee = account(3).address;
  });

  after(async function () {
    await env?.chain.close();
    await shutdownProver();
  });

  const rpc = (method: string, params: unknown[] = []) =>
    env.publicClient.request({ method: method as never, params: params as never });

  async function send(api: Api, path: string, header: string, extra: Record<string, string> = {}) {
    const method = path === "/order" || path === "/sms" ? "POST" : "GET";
    const t0 = performance.now();
    const res = await fetch(`${api.url}${path}`, { method, headers: { "PAYMENT-SIGNATURE": header, ...extra } });
    const body = await res.text();
    return {
      status: res.status,
      ms: performance.now() - t0,
      error:
        decodeHeader<Required>(res.headers.get("PAYMENT-REQUIRED"))?.error ??
        decodeHeader<Settle>(res.headers.get("PAYMENT-RESPONSE"))?.errorReason ??
        tryJson(body)?.error,
      body,
      settle: decodeHeader<Settle>(res.headers.get("PAYMENT-RESPONSE")),
      retryAfter: res.headers.get("Retry-After"),
    };
  }

  /** `n` PAYMENT-SIGNATUREs for `path`, each for a fresh challenge, all spending the same note. */
  async function sameNoteHeaders(i: number, n: number, api: Api, path: string) {
    const owner = await env.payer(i, { deposit: 100_000n });
    const init = path === "/order" || path === "/sms" ? { method: "POST" } : undefined;
    // Each of the n wallets, restored from the same seed, sees the note unspent and proves it
    // again. The wallets are independent: their proofs are made two at a time (helpers/parallel).
    const headers = await inOrderConcurrently(
      Array.from({ length: n }, () => async () => {
        const { wallet } = await env.payer(i, { seed: owner.seed });
        await wallet.sync();
        return env.preparedHeader(wallet, `${api.url}${path}`, "server", init);
      }),
    );
    return { headers, owner };
  }

  const relayerNonce = () => env.publicClient.getTransactionCount({ address: account(1).address, blockTag: "pending" });

  describe("finding 4: one note pays for one request at a time", function () {
    let api: Api;
    before(async function () {
      api = await env.api({ payTo: payee });
    });
    after(async () => api?.close());

    it("N concurrent proofs of one note: the handler runs once, the other requests are refused", async function () {
      const { headers } = await sameNoteHeaders(15, 4, api, "/sms");
      const before = await env.system.token.balanceOf(payee);
      const results = await Promise.all(headers.map((h) => send(api, "/sms", h)));
      const ok = results.filter((r) => r.status === 200);
      expect(ok, JSON.stringify(results)).to.have.length(1);
      for (const r of results.filter((x) => x.status !== 200)) {
        expect(r.status).to.equal(402);
        expect(["nullifier_pending", "nullifier_spent"]).to.include(r.error);
      }
      expect(api.sideEffects.sms, "handler runs once").to.equal(1);
      expect(await env.system.token.balanceOf(payee)).to.equal(before + 10_000n);
    });

    it("a route that settles before its handler runs it 0 times when the note is withdrawn meanwhile", async function () {
      const { headers, owner } = await sameNoteHeaders(16, 4, api, "/order");
      const again = await env.payer(16, { seed: owner.seed });
      await again.wallet.sync();
      const smsHeader = await env.preparedHeader(again.wallet, `${api.url}/sms`, "server", { method: "POST" });
      const smsBefore = api.sideEffects.sms;
      const nonce = await relayerNonce();
      const before = await env.system.token.balanceOf(payee);
      // The attacker withdraws the note: its transaction waits in the mempool while the
      // proofs reach the server, which sees the note unspent in the latest block.
      const { wallet } = await env.payer(16, { seed: owner.seed });
      await wallet.sync();
      const p = await wallet.preparePayment({
        payTo: owner.address,
        amount: wallet.balance(),
        expiry: BigInt(Math.floor(Date.now() / 1000) + 600),
      });
      await rpc("evm_setAutomine", [false]);
      try {
        await owner.walletClient.writeContract({
          address: env.pool.facilitator,
          abi: facilitatorAbi,
          functionName: "pay",
          args: [p.proof, p.terms, p.memo, p.payeeMemo],
          account: owner.walletClient.account!,
          chain: owner.walletClient.chain,
        });
        const results = await Promise.all(headers.map((h) => send(api, "/order", h)));
        for (const r of results) {
          expect(r.status, JSON.stringify(r)).to.equal(402);
          expect(["nullifier_pending", "nullifier_spent"]).to.include(r.error);
        }
        expect(api.sideEffects.order, "upfront: the handler never ran").to.equal(0);
        // The default flow runs the handler before settling: a side effect for nothing.
        // This is why side-effecting routes must use paymentFlow "upfront".
        const sms = await send(api, "/sms", smsHeader);
        expect(sms.status).to.equal(402);
        expect(api.sideEffects.sms - smsBefore, "default flow: the handler ran, unpaid").to.equal(1);
        // Simulated against the pending block, no settlement was broadcast.
        expect(await relayerNonce(), "the relayer sent no transaction").to.equal(nonce);
      } finally {
        await rpc("evm_mine");
        await rpc("evm_setAutomine", [true]);
      }
      expect(await env.system.token.balanceOf(payee)).to.equal(before);
    });

    it("a handler that fails releases the note at once for the next payment", async function () {
      // Two proofs of one note for two challenges of GET /flaky, whose handler fails once.
      const { headers } = await sameNoteHeaders(17, 2, api, "/flaky");
      const first = await send(api, "/flaky", headers[0]!);
      expect(first.status).to.equal(500);
      // The failed handler cancelled the first payment and released its claim on the
      // note: the second proof of the same note is accepted at once.
      const second = await send(api, "/flaky", headers[1]!);
      expect(second.status, JSON.stringify(second)).to.equal(200);
      expect(second.settle?.success).to.equal(true);
    });

    it("two instances sharing Redis refuse a second proof of the same note", async function () {
      let redis: Awaited<ReturnType<typeof startRedis>> | undefined;
      const clients: Redis[] = [];
      try {
        redis = await startRedis();
        clients.push(new Redis(redis.url), new Redis(redis.url));
        const secret = "shared-secret-0123456789abcdef";
        const a = await env.api({
          payTo: payee,
          challengeSecret: secret,
          replay: new RedisReplayStore(clients[0]!),
          instances: 2,
        });
        const b = await env.api({
          payTo: payee,
          challengeSecret: secret,
          replay: new RedisReplayStore(clients[1]!),
          instances: 2,
        });
        try {
          const { headers } = await sameNoteHeaders(18, 2, a, "/sms");
          const results = await Promise.all([send(a, "/sms", headers[0]!), send(b, "/sms", headers[1]!)]);
          expect(
            results.filter((r) => r.status === 200),
            JSON.stringify(results),
          ).to.have.length(1);
          expect(a.sideEffects.sms + b.sideEffects.sms).to.equal(1);
        } finally {
          await a.close();
          await b.close();
        }
      } finally {
        await Promise.all(clients.map((c) => c.quit()));
        await redis?.stop();
      }
    });
  });

  describe("finding 5: the relayer does not pay for reverted transactions", function () {
    it("with 1 s interval mining, N proofs of one note make one transaction and no revert", async function () {
      const api = await env.api({ payTo: payee });
      try {
        const { headers } = await sameNoteHeaders(19, 6, api, "/weather");
        const nonce = await relayerNonce();
        await rpc("evm_setAutomine", [false]);
        await rpc("evm_setIntervalMining", [1000]);
        let results: Awaited<ReturnType<typeof send>>[];
        try {
          results = await Promise.all(headers.map((h) => send(api, "/weather", h)));
        } finally {
          await rpc("evm_setIntervalMining", [0]);
          await rpc("evm_setAutomine", [true]);
        }
        expect(
          results.filter((r) => r.status === 200),
          JSON.stringify(results),
        ).to.have.length(1);
        const tx = results.find((r) => r.status === 200)!.settle!.transaction as Hex;
        const rc = await env.publicClient.getTransactionReceipt({ hash: tx });
        expect(rc.status).to.equal("success");
        // One transaction from the relayer, and it succeeded: no gas burnt.
        expect(await relayerNonce()).to.equal(nonce + 1);
      } finally {
        await api.close();
      }
    });
  });

  describe("finding 3: bounded work for unauthenticated callers", function () {
    // Junk proofs claim the pool's current root: make sure the tree is not empty.
    before(async function () {
      await env.payer(6, { deposit: 1_000n });
    });

    /** A junk payment: schema-valid, right terms and challenge, curve points from the vkey. */
    /** The pool's current root and tree size: what a junk proof claims to be against. */
    const readPoolState = () =>
      Promise.all(
        (["currentRoot", "treeSize"] as const).map((functionName) =>
          env.publicClient.readContract({ address: env.pool.facilitator, abi: facilitatorAbi, functionName }),
        ),
      ) as Promise<[bigint, bigint]>;
    let poolState: [bigint, bigint] | undefined;
    async function junkHeader(api: Api, path: string, from: string, reuse?: Required): Promise<string> {
      const required =
        reuse ??
        decodeHeader<Required>(
          (await fetch(`${api.url}${path}`, { headers: { "X-Forwarded-For": from } })).headers.get("PAYMENT-REQUIRED"),
        )!;
      const [root, treeSize] = poolState ?? (await readPoolState());
      return junkPaymentHeader(required as unknown as JunkRequired, junkPoints(env.vkey), root, treeSize);
    }

    it("caps verification attempts per challenge, and refused payments per client (429 + Retry-After)", async function () {
      const api = await env.api({ payTo: payee, trustProxy: true, limits: { maxFailuresPerClient: 6 } });
      try {
        const required = decodeHeader<Required>((await fetch(`${api.url}/weather`)).headers.get("PAYMENT-REQUIRED"))!;
        const errors: (string | undefined)[] = [];
        for (let i = 0; i < 4; i++) {
          errors.push(
            (
              await send(api, "/weather", await junkHeader(api, "/weather", "", required), {
                "X-Forwarded-For": "10.0.0.1",
              })
            ).error,
          );
        }
        expect(errors).to.deep.equal(["invalid_proof", "invalid_proof", "invalid_proof", "too_many_attempts"]);
        // Two more refusals reach the limit of 6 for this client; the seventh is 429.
        for (let i = 0; i < 2; i++)
          await send(api, "/weather", await junkHeader(api, "/weather", "10.0.0.1"), { "X-Forwarded-For": "10.0.0.1" });
        const limited = await send(api, "/weather", await junkHeader(api, "/weather", "10.0.0.1"), {
          "X-Forwarded-For": "10.0.0.1",
        });
        expect(limited.status).to.equal(429);
        expect(limited.error).to.equal("too_many_failures");
        expect(Number(limited.retryAfter)).to.be.greaterThan(0);
        // Another client is not affected.
        const other = await send(api, "/weather", await junkHeader(api, "/weather", "10.0.0.2"), {
          "X-Forwarded-For": "10.0.0.2",
        });
        expect(other.error).to.equal("invalid_proof");
      } finally {
        await api.close();
      }
    });

    it("a bounded junk-proof flood: 0 crashes, every junk request refused with 4xx/503, the honest payment served", async function () {
      this.timeout(180_000);
      const api = await env.api({
        payTo: payee,
        trustProxy: true,
        limits: { maxFailuresPerClient: 5, queue: { concurrency: 2, maxQueued: 16, maxQueuedPerClient: 2 } },
      });
      try {
        const { wallet } = await env.payer(4, { deposit: 1_000_000n });
        const honest = { "X-Forwarded-For": "192.168.7.7" };
        // Unloaded: one honest payment alone (the header prepared beforehand).
        const h1 = await env.preparedHeader(wallet, `${api.url}/weather`);
        const alone = await send(api, "/weather", h1, honest);
        expect(alone.status).to.equal(200);
        await wallet.sync();
        const h2 = await env.preparedHeader(wallet, `${api.url}/weather`);

        poolState = await readPoolState();
        // The flood: 16 attacker addresses, 12 junk proofs each, 64 in flight at once.
        const attackers = Array.from({ length: 16 }, (_, i) => `10.1.0.${i + 1}`);
        const jobs = attackers.flatMap((ip) => Array.from({ length: 12 }, () => ip));
        const statuses: number[] = [];
        let next = 0;
        const worker = async () => {
          while (next < jobs.length) {
            const ip = jobs[next++]!;
            const r = await send(api, "/weather", await junkHeader(api, "/weather", ip), { "X-Forwarded-For": ip });
            statuses.push(r.status);
          }
        };
        const flood = Promise.all(Array.from({ length: 64 }, worker));
        await new Promise((r) => setTimeout(r, 300));
        const underFlood = await send(api, "/weather", h2, honest);
        await flood;

        const count = (s: number) => statuses.filter((x) => x === s).length;
        console.log(
          `      flood: ${jobs.length} junk requests -> ${count(402)} verified and refused, ${count(429)} x 429, ${count(503)} x 503; ` +
            `honest payment ${alone.ms.toFixed(0)} ms alone, ${underFlood.ms.toFixed(0)} ms under the flood ` +
            `(${(underFlood.ms / alone.ms).toFixed(2)}x)`,
        );
        expect(underFlood.status, JSON.stringify(underFlood)).to.equal(200);
        expect(statuses).to.have.length(jobs.length);
        for (const s of statuses) expect([400, 402, 429, 503]).to.include(s);
        // Each attacker address costs at most its failure budget (+ what was in flight).
        expect(count(402)).to.be.at.most(attackers.length * 5);
        // The server is still up and serving.
        expect((await fetch(`${api.url}/weather`)).status).to.equal(402);
      } finally {
        await api.close();
      }
    });

    it("the worker-process verifier gives snarkjs' verdict: valid, tampered, junk points, out-of-range coordinates", async function () {
      const { wallet } = await env.payer(5, { deposit: 20_000n });
      const p = await wallet.preparePayment({
        payTo: payee,
        amount: 1_000n,
        expiry: BigInt(Math.floor(Date.now() / 1000) + 600),
      });
      const context = paymentContext({
        chainId: env.pool.chainId,
        facilitator: env.pool.facilitator,
        terms: p.terms,
        memo: p.memo,
      });
      const levels = await env.publicClient.readContract({
        address: env.pool.facilitator,
        abi: facilitatorAbi,
        functionName: "treeLevels",
      });
      // payment v2: [nullifierHash, payeeCommitment, changeCommitment, root, treeIndex, amount + fee, context].
      const signals = [
        p.proof.nullifierHash,
        p.proof.payeeCommitment,
        p.proof.changeCommitment,
        p.proof.root,
        (p.proof.treeSize - 1n) >> levels,
        1_000n,
        context,
      ];
      const vk = env.vkey as { vk_alpha_1: string[] };
      const g1 = [BigInt(vk.vk_alpha_1[0]!), BigInt(vk.vk_alpha_1[1]!)] as [bigint, bigint];
      const BASE_FIELD = 21888242871839275222246405745257298621291185155802102575757620765025651843297n;
      const cases: [string, SolidityProof, bigint[]][] = [
        ["valid", p.proof, signals],
        ["amount tampered", p.proof, signals.map((x, i) => (i === 5 ? x + 1n : x))],
        ["payee commitment tampered", p.proof, signals.map((x, i) => (i === 1 ? x + 1n : x))],
        ["context tampered", p.proof, signals.map((x, i) => (i === signals.length - 1 ? x + 1n : x))],
        ["points from the vkey", { ...p.proof, pA: g1, pC: g1 }, signals],
        ["pA not on the curve", { ...p.proof, pA: [g1[0], g1[1] + 1n] }, signals],
        ["coordinate >= the field modulus", { ...p.proof, pA: [g1[0] + BASE_FIELD, g1[1]] }, signals],
      ];
      const worker = new WorkerVerifier({ threads: 1 });
      try {
        for (const [name, proof, sig] of cases) {
          const reference = await verifyPaymentProof(env.vkey, proof, sig);
          expect(await worker.verify(env.vkey, proof, sig), name).to.equal(reference);
          expect(reference, name).to.equal(name === "valid");
        }
      } finally {
        await worker.close();
        await wallet.releasePayment(p);
      }
    });

    it("the fair queue refuses past its bounds and serves clients in turn", async function () {
      const q = new FairQueue({ concurrency: 1, maxQueued: 3, maxQueuedPerClient: 2 });
      const order: string[] = [];
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const job = (name: string) => async () => {
        await gate;
        order.push(name);
      };
      const runs = [q.run("a", job("a1")), q.run("a", job("a2")), q.run("a", job("a3")), q.run("b", job("b1"))];
      const over = await q.run("a", job("a4")).catch((e: unknown) => e);
      expect(isZkPayError(over, "server_busy"), String(over)).to.equal(true);
      const c = await q.run("c", job("c1")).catch((e: unknown) => e);
      expect(isZkPayError(c, "server_busy"), "total bound").to.equal(true);
      release();
      await Promise.all(runs);
      // a1 ran first; then one job per client in turn: b1 before a's second waiting job.
      expect(order).to.deep.equal(["a1", "a2", "b1", "a3"]);

      // A client with a clean record (priority 0) goes ahead of one whose proofs failed.
      const p = new FairQueue({ concurrency: 1, maxQueued: 8, maxQueuedPerClient: 4 });
      const seen: string[] = [];
      let open!: () => void;
      const wait = new Promise<void>((r) => (open = r));
      const task = (name: string) => async () => {
        await wait;
        seen.push(name);
      };
      const all = [
        p.run("x", task("x1"), 3),
        p.run("x", task("x2"), 3),
        p.run("y", task("y1"), 5),
        p.run("h", task("h1"), 0),
      ];
      open();
      await Promise.all(all);
      expect(seen).to.deep.equal(["x1", "h1", "x2", "y1"]);

      // A full queue makes room for a clean record by refusing its worst waiting job.
      const f = new FairQueue({ concurrency: 1, maxQueued: 2, maxQueuedPerClient: 2 });
      let go!: () => void;
      const held = new Promise<void>((r) => (go = r));
      const first = f.run("x", () => held, 2);
      const waiting = [f.run("x", async () => "x2", 2), f.run("y", async () => "y1", 5).catch((e: unknown) => e)];
      expect(f.wouldAccept("h", 5), "no better than the worst").to.equal(false);
      const honest = f.run("h", async () => "h1", 0);
      go();
      await first;
      const [x2, y1] = await Promise.all(waiting);
      expect(x2).to.equal("x2");
      expect(isZkPayError(y1, "server_busy"), "the worst job was displaced").to.equal(true);
      expect(await honest).to.equal("h1");
    });
  });

  describe("finding 6: the smaller ones", function () {
    it("refuses to start several instances without a shared replay store", function () {
      const base = {
        pool: { ...env.pool, decimals: 6 },
        publicClient: env.publicClient,
        vkey: env.vkey,
        vkeySha256: env.vkeySha256,
        challengeSecret: "test-secret-0123456789abcdef",
        instances: 2,
      };
      for (const replay of [undefined, new MemoryReplayStore()]) {
        let err: unknown;
        try {
          createZkResourceServer({ ...base, replay });
        } catch (e) {
          err = e;
        }
        expect(isZkPayError(err, "invalid_argument"), String(err)).to.equal(true);
      }
    });

    it("challengeTtlSeconds is the challenge's lifetime", async function () {
      const api = await env.api({ payTo: payee, challengeTtlSeconds: 10 });
      try {
        const required = decodeHeader<Required>((await fetch(`${api.url}/weather`)).headers.get("PAYMENT-REQUIRED"))!;
        const left = required.accepts[0]!.extra.challenge.exp - Math.floor(Date.now() / 1000);
        expect(left).to.be.within(8, 10);
        expect(required.accepts[0]!.maxTimeoutSeconds).to.equal(10);
      } finally {
        await api.close();
      }
    });

    it("client-settled: PAYMENT-RESPONSE names the transaction the chain says, not the client's", async function () {
      const api = await env.api({ payTo: payee });
      try {
        const { wallet } = await env.payer(2, { deposit: 100_000n });
        const header = await env.preparedHeader(wallet, `${api.url}/weather`, "client");
        const decoded = decodeHeader<{ payload: { transaction: Hex } }>(header)!;
        const real = decoded.payload.transaction;
        decoded.payload.transaction = `0x${"ab".repeat(32)}`;
        const r = await send(api, "/weather", Buffer.from(JSON.stringify(decoded)).toString("base64"));
        expect(r.status).to.equal(200);
        expect(r.settle!.transaction).to.equal(real);
      } finally {
        await api.close();
      }
    });

    it("the receipt checker does not cache a payment shallower than its cache depth (a reorg undoes it)", async function () {
      const { wallet } = await env.payer(0, { deposit: 50_000n });
      const checker = new ReceiptChecker({
        publicClient: env.publicClient,
        facilitator: env.pool.facilitator,
        cacheDepth: 3,
      });
      const conditionHash = `0x${"42".repeat(32)}` as Hex;
      const snapshot = await rpc("evm_snapshot");
      const p = await wallet.preparePayment({
        payTo: payee,
        amount: 1_000n,
        conditionHash,
        expiry: BigInt(Math.floor(Date.now() / 1000) + 600),
      });
      await wallet.submitPayment(p);
      const expected = { id: p.receiptId, payTo: payee, amount: 1_000n, conditionHash, minConfirmations: 1 };
      expect((await checker.check(expected)).state).to.equal("paid");
      await rpc("evm_revert", [snapshot]); // the block with the payment is gone
      expect((await checker.check(expected)).state, "not served from cache").to.equal("not_paid");
    });
  });
});

function tryJson(s: string): { error?: string } | undefined {
  try {
    return JSON.parse(s) as { error?: string };
  } catch {
    return undefined;
  }
}
