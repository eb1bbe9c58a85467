import { x402Client } from "@x402/core/client";
import type { PaymentPayload, PaymentRequirements } from "@x402/core/types";
import { wrapFetchWithPayment } from "@x402/fetch";
import { expect } from "chai";
import { Redis } from "ioredis";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import type { Address, Hex } from "viem";

import { RelayClient } from "../../sdk/client/relay.js";
import { ZkExactClientScheme } from "../../sdk/client/scheme.js";
import type { PrivateWallet } from "../../sdk/client/wallet.js";
import { facilitatorAbi } from "../../sdk/core/abi.js";
import { shutdownProver } from "../../sdk/core/prover.js";
import { RedisSettlementRegistry } from "../../sdk/service/shared.js";
import { devPrivateKey } from "../../scripts/lib/dev-env.js";
import { inOrderConcurrently } from "../helpers/parallel.js";
import { startRedis } from "../helpers/redis.js";
import { post, preparedPayment, remoteApi, startService, txsFrom, type RunningService } from "../helpers/service.js";
import { account, decodeHeader, startEnv, type Env } from "../helpers/x402-env.js";

type Settle = {
  success: boolean;
  transaction: string;
  network: string;
  errorReason?: string;
  errorMessage?: string;
  extra?: { receiptId?: string; batchSize?: number };
};
type Verify = { isValid: boolean; invalidReason?: string; invalidMessage?: string };
type Payment = { paymentPayload: PaymentPayload; paymentRequirements: PaymentRequirements };

const PRICE = 10_000n;

/** A copy of `p` with its requirement (and the payload's echo of it, and its terms) edited. */
function edited(p: Payment, edit: (req: Record<string, unknown>, terms: Record<string, unknown>) => void): Payment {
  const copy = JSON.parse(JSON.stringify(p)) as Payment;
  const terms = (copy.paymentPayload.payload as { terms: Record<string, unknown> }).terms;
  edit(copy.paymentRequirements as unknown as Record<string, unknown>, terms);
  copy.paymentPayload.accepted = copy.paymentRequirements;
  return copy;
}

describe("402zk facilitator service: x402 /verify, /settle, /supported and /relay over HTTP", function () {
  let env: Env;
  let svc: RunningService;
  let api: Awaited<ReturnType<typeof remoteApi>>;
  let payer: { wallet: PrivateWallet; address: Address };
  const payee = account(3).address;
  const relayer = account(5).address;
  let redis: Awaited<ReturnType<typeof startRedis>>;
  const others: { close: () => Promise<unknown> }[] = [];

  before(async function () {
    env = await startEnv();
    redis = await startRedis();
    svc = await startService(env, { relayerIndex: 5 });
    api = await remoteApi(env, { facilitatorUrl: svc.url, payTo: payee, price: PRICE });
    // One payer, many notes: each payment below spends a note of its own.
    const p = await env.payer(12);
    await env.mint(p.address, 70n * 100_000n);
    for (let i = 0; i < 66; i++) await p.wallet.deposit(100_000n);
    payer = { wallet: p.wallet, address: p.address };
  });

  after(async function () {
    for (const o of others.reverse()) await o.close().catch(() => {});
    await api?.close();
    await svc?.close();
    await env?.chain.close();
    await redis?.stop();
    await shutdownProver();
  });

  const rpc = (method: string, params: unknown[] = []) =>
    env.chain.provider.request({ method: method as never, params: params as never });

  let unsettledPayment: Promise<Payment> | undefined;
  /**
   * A payment to `api` that no test settles (it is only verified, edited or taken apart):
   * proved once for the refusal tests that need a valid proof but do not test proving.
   */
  const unsettled = () => (unsettledPayment ??= preparedPayment(env, payer.wallet, api.url));

  it("GET /supported answers x402's SupportedResponse: zk-exact and zk-shielded on this chain, the relayer and its fee", async function () {
    const res = await fetch(`${svc.url}/supported`);
    expect(res.status).to.equal(200);
    const s = (await res.json()) as {
      kinds: { x402Version: number; scheme: string; network: string; extra: Record<string, unknown> }[];
      extensions: string[];
      signers: Record<string, string[]>;
    };
    // Both schemes, settled alike: zk-shielded's payee notes are opened by the API, not here.
    expect(s.kinds.map((k) => k.scheme)).to.deep.equal(["zk-exact", "zk-shielded"]);
    for (const kind of s.kinds) {
      expect(kind).to.include({ x402Version: 2, network: "eip155:31337" });
      expect(kind.extra).to.include({ relayer, fee: "0", facilitator: env.pool.facilitator });
      expect(kind.extra.settlement).to.deep.equal(["server", "client"]);
    }
    // x402's bazaar: the service catalogues the discoverable resources it settles (GET /discovery/resources).
    expect(s.extensions).to.deep.equal(["bazaar"]);
    expect(Object.values(s.signers).flat()).to.include(relayer);
    const health = (await (await fetch(`${svc.url}/health`)).json()) as Record<string, unknown>;
    expect(health).to.include({ status: "ok", relayer });
  });

  it("an @x402/express app with new HTTPFacilitatorClient({ url }) is paid through @x402/fetch; the relayer submits", async function () {
    const before = await env.system.token.balanceOf(payee);
    const { fetch: paidFetch } = env.payingFetch(payer.wallet, "server");
    const res = await paidFetch(`${api.url}/weather`);
    expect(res.status, JSON.stringify(decodeHeader(res.headers.get("PAYMENT-REQUIRED"))?.error)).to.equal(200);
    expect(await res.json()).to.have.property("weather", "sunny");
    const settle = decodeHeader<Settle>(res.headers.get("PAYMENT-RESPONSE"))!;
    expect(settle.success).to.equal(true);
    const tx = await env.publicClient.getTransaction({ hash: settle.transaction as Hex });
    expect(tx.from.toLowerCase()).to.equal(relayer.toLowerCase());
    expect(await env.system.token.balanceOf(payee)).to.equal(before + PRICE);
    const metrics = await (await fetch(`${svc.url}/metrics`)).text();
    expect(metrics).to.match(/zk402_settled_total\{source="settle"\} 1/);
    expect(metrics).to.match(/zk402_relayer_balance_wei \d/);
  });

  it("a redirected or re-priced proof is refused with a reason, and nothing is sent", async function () {
    const p = await unsettled();
    const nonce = await env.publicClient.getTransactionCount({ address: relayer });
    // Re-priced: the server's requirement asks for more than the proof pays.
    const repriced = edited(p, (req) => (req.amount = (PRICE * 2n).toString()));
    const v1 = await post<Verify>(`${svc.url}/verify`, { x402Version: 2, ...repriced });
    expect(v1.status).to.equal(200);
    expect(v1.body).to.include({ isValid: false, invalidReason: "requirements_mismatch" });
    // Redirected: someone rewrites payee in the requirement and the terms; the proof binds the payee.
    const thief = account(9).address;
    const redirected = edited(p, (req, terms) => {
      req.payTo = thief;
      terms.payTo = thief;
    });
    const v2 = await post<Verify>(`${svc.url}/verify`, { x402Version: 2, ...redirected });
    expect(v2.body).to.include({ isValid: false, invalidReason: "invalid_proof" });
    const s2 = await post<Settle>(`${svc.url}/settle`, { x402Version: 2, ...redirected });
    expect(s2.body).to.include({ success: false, errorReason: "invalid_proof", transaction: "" });
    // A fee below the published one.
    const cheap = edited(p, (_req, terms) => (terms.relayer = account(9).address));
    const v3 = await post<Verify>(`${svc.url}/verify`, { x402Version: 2, ...cheap });
    expect(v3.body).to.include({ isValid: false, invalidReason: "requirements_mismatch" });
    expect(await env.publicClient.getTransactionCount({ address: relayer })).to.equal(nonce);
    // The resource server's own check: a forged challenge never reaches the service.
    const forged = edited(p, (req) => {
      const c = (req.extra as { challenge: { mac: string } }).challenge;
      c.mac = `0x${"11".repeat(32)}`;
    });
    const g = await api.guard.verify(forged.paymentPayload, forged.paymentRequirements);
    expect(g).to.include({ isValid: false, invalidReason: "invalid_challenge" });
    // The untouched payment is valid.
    const ok = await post<Verify>(`${svc.url}/verify`, { x402Version: 2, ...p });
    expect(ok.body).to.deep.equal({ isValid: true });
  });

  it("malformed bodies get 400 with a reason, never a 500", async function () {
    const p = await unsettled().catch(() => undefined);
    const cases: [string, string, string | object][] = [
      ["/verify", "not json", "{"],
      ["/verify", "empty object", {}],
      ["/settle", "version only", { x402Version: 2 }],
      ["/settle", "empty payload and requirements", { x402Version: 2, paymentPayload: {}, paymentRequirements: {} }],
      ["/verify", "array", [1, 2, 3]],
      [
        "/verify",
        "string version",
        { x402Version: "2", paymentPayload: p?.paymentPayload, paymentRequirements: p?.paymentRequirements },
      ],
      ["/relay", "no payload", {}],
      ["/relay", "payload of the wrong shape", { payload: { settlement: "server", proof: { pA: ["x"] } } }],
      [
        "/relay",
        "a receipt instead of a proof",
        { payload: { settlement: "client", receiptId: `0x${"00".repeat(32)}` } },
      ],
      ["/relay", "null", "null"],
    ];
    for (const [path, label, body] of cases) {
      const r = await post<{ error?: string; message?: string }>(`${svc.url}${path}`, body);
      expect(r.status, `${path} ${label}`).to.equal(400);
      expect(r.body.error, `${path} ${label}`).to.equal("invalid_payload");
      expect(r.body.message, `${path} ${label}`).to.be.a("string").and.not.equal("");
    }
    const big = await post<{ error?: string }>(`${svc.url}/settle`, `{"x":"${"a".repeat(70_000)}"}`);
    expect(big.status).to.equal(413);
    expect(big.body.error).to.equal("body_too_large"); // one reason table (core/http.ts) with the payment gate
    expect((await fetch(`${svc.url}/settle`)).status).to.equal(405);
    expect((await fetch(`${svc.url}/nope`)).status).to.equal(404);
    // A valid envelope whose zk-exact payload is junk: a refused payment (200, isValid false), not a 500.
    if (p) {
      const junk = JSON.parse(JSON.stringify(p)) as Payment;
      (junk.paymentPayload.payload as Record<string, unknown>).proof = { pA: ["1"] };
      const r = await post<Verify>(`${svc.url}/verify`, { x402Version: 2, ...junk });
      expect(r.status).to.equal(200);
      expect(r.body).to.include({ isValid: false, invalidReason: "invalid_payload" });
    }
  });

  it("the same settle requested 20 times at once, across two instances sharing Redis, makes exactly one transaction", async function () {
    const feeRecipient = account(8).address;
    const r1 = new Redis(redis.url);
    const r2 = new Redis(redis.url);
    others.push({ close: () => r1.quit() }, { close: () => r2.quit() });
    const a = await startService(env, {
      relayerIndex: 6,
      feeRecipient,
      registry: new RedisSettlementRegistry(r1),
      instanceId: "a",
    });
    const b = await startService(env, {
      relayerIndex: 7,
      feeRecipient,
      registry: new RedisSettlementRegistry(r2),
      instanceId: "b",
    });
    others.push(a, b);
    const apiA = await remoteApi(env, { facilitatorUrl: a.url, payTo: payee, price: PRICE });
    others.push(apiA);
    const p = await preparedPayment(env, payer.wallet, apiA.url);
    const block = await env.publicClient.getBlockNumber();
    const body = { x402Version: 2, ...p };
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => post<Settle>(`${(i % 2 === 0 ? a : b).url}/settle`, body)),
    );
    for (const r of answers) {
      expect(r.status).to.equal(200);
      expect(r.body.success, JSON.stringify(r.body)).to.equal(true);
    }
    const hashes = new Set(answers.map((r) => r.body.transaction));
    expect([...hashes]).to.have.length(1);
    const sent = [
      ...(await txsFrom(env, account(6).address, block)),
      ...(await txsFrom(env, account(7).address, block)),
    ];
    expect(sent.map((t) => t.hash)).to.deep.equal([...hashes]);
    // Later retries (a client that lost the answer) get the same transaction from the database.
    const again = await post<Settle>(`${b.url}/settle`, body);
    expect(again.body).to.include({ success: true, transaction: [...hashes][0] });
    // The fee went to the shared recipient, not to either signer.
    const log = await env.publicClient.getContractEvents({
      address: env.pool.facilitator,
      abi: facilitatorAbi,
      eventName: "PaymentReceipt",
      fromBlock: block + 1n,
    });
    expect(log).to.have.length(1);
    expect((log[0]!.args as { relayer: Address }).relayer).to.equal(feeRecipient);
  });

  it("24 different payments settled at once all land, from consecutive nonces, none twice", async function () {
    this.timeout(600_000);
    const N = 24;
    const s = await startService(env, { relayerIndex: 15, batch: { maxSize: 1, windowMs: 0 } });
    others.push(s);
    // Six times the verifier's concurrency (4) settling at once. 24 proofs can outlast a
    // 300 s challenge on two loaded cores.
    const apiS = await remoteApi(env, { facilitatorUrl: s.url, payTo: payee, price: PRICE, ttlSeconds: 3600 });
    others.push(apiS);
    // Independent payments (each spends its own note: the wallet holds a note while it is
    // proven), made two at a time (helpers/parallel): one proof leaves a core idle between
    // snarkjs' multi-threaded steps.
    const payments: Payment[] = await inOrderConcurrently(
      Array.from({ length: N }, () => () => preparedPayment(env, payer.wallet, apiS.url)),
    );
    const signer = account(15).address;
    const nonce0 = await env.publicClient.getTransactionCount({ address: signer });
    const block = await env.publicClient.getBlockNumber();
    const answers = await Promise.all(payments.map((p) => post<Settle>(`${s.url}/settle`, { x402Version: 2, ...p })));
    for (const r of answers) expect(r.body.success, JSON.stringify(r.body)).to.equal(true);
    const sent = await txsFrom(env, signer, block);
    expect(sent).to.have.length(N);
    expect(sent.map((t) => t.nonce).sort((x, y) => x - y)).to.deep.equal(
      Array.from({ length: N }, (_, i) => nonce0 + i),
    );
    expect(new Set(answers.map((r) => r.body.transaction)).size).to.equal(N);
    expect(await env.publicClient.getTransactionCount({ address: signer, blockTag: "pending" })).to.equal(nonce0 + N);
    const health = (await (await fetch(`${s.url}/health`)).json()) as { payments: Record<string, number> };
    expect(health.payments).to.include({ settled: N, accepted: 0, submitted: 0, failed: 0 });
  });

  it("payments arriving in one window share one payBatch (the batching hook)", async function () {
    const s = await startService(env, { relayerIndex: 16, batch: { windowMs: 200, maxSize: 16 } });
    others.push(s);
    const apiS = await remoteApi(env, { facilitatorUrl: s.url, payTo: payee, price: PRICE });
    others.push(apiS);
    const payments = await inOrderConcurrently(
      Array.from({ length: 3 }, () => () => preparedPayment(env, payer.wallet, apiS.url)),
    );
    const answers = await Promise.all(payments.map((p) => post<Settle>(`${s.url}/settle`, { x402Version: 2, ...p })));
    for (const r of answers) expect(r.body.success).to.equal(true);
    expect(new Set(answers.map((r) => r.body.transaction)).size).to.equal(1);
    expect(answers[0]!.body.extra?.batchSize).to.equal(3);
  });

  it("a stuck transaction is replaced with a higher fee at the same nonce, and the payment settles by the replacement", async function () {
    const s = await startService(env, { relayerIndex: 17, gas: { replaceAfterMs: 300 } });
    others.push(s);
    const apiS = await remoteApi(env, { facilitatorUrl: s.url, payTo: payee, price: PRICE });
    others.push(apiS);
    const p = await preparedPayment(env, payer.wallet, apiS.url);
    await rpc("evm_setAutomine", [false]);
    let answer: Promise<{ body: Settle }>;
    try {
      answer = post<Settle>(`${s.url}/settle`, { x402Version: 2, ...p });
      const t0 = Date.now();
      while (s.service.relayer.stats.replaced < 1 && Date.now() - t0 < 20_000)
        await new Promise((r) => setTimeout(r, 50));
      expect(s.service.relayer.stats.replaced).to.be.greaterThanOrEqual(1);
      // Wait until the node holds the replacement (it replaced the first attempt in its mempool).
      const replacement = () => s.store.txsAt(s.service.relayer.nextNonce - 1).find((t) => t.attempt >= 1);
      while (Date.now() - t0 < 20_000) {
        const r = replacement();
        if (r && (await env.publicClient.getTransaction({ hash: r.hash as Hex }).catch(() => undefined))) break;
        await new Promise((res) => setTimeout(res, 50));
      }
    } finally {
      await rpc("evm_setAutomine", [true]);
    }
    await rpc("evm_mine");
    const r = await answer;
    expect(r.body.success, JSON.stringify(r.body)).to.equal(true);
    const attempts = s.store.txsAt(s.store.getTx(r.body.transaction)!.nonce);
    expect(attempts.length).to.be.greaterThanOrEqual(2);
    const mined = attempts.find((t) => t.state === "mined")!;
    expect(mined.hash).to.equal(r.body.transaction);
    expect(BigInt(mined.maxFeePerGas) > BigInt(attempts[0]!.maxFeePerGas), JSON.stringify(attempts)).to.equal(true);
    const tx = await env.publicClient.getTransaction({ hash: mined.hash as Hex });
    expect(tx.nonce).to.equal(attempts[0]!.nonce);
  });

  it("gas above the cap, then an unfunded relayer: refused with their reasons, nothing sent; settles once funded", async function () {
    const p = await preparedPayment(env, payer.wallet, api.url);
    const body = { x402Version: 2, ...p };
    // The pool pays the fee to account 5 (the requirement's relayer): these instances publish it too.
    const capped = await startService(env, { relayerIndex: 18, feeRecipient: relayer, gas: { maxFeePerGas: 1n } });
    others.push(capped);
    const r1 = await post<Settle>(`${capped.url}/settle`, body);
    expect(r1.body).to.include({ success: false, errorReason: "gas_price_too_high", transaction: "" });
    // A relayer with no ETH at all.
    const key = generatePrivateKey();
    const empty = privateKeyToAccount(key);
    const poor = await startServiceWith(env, key, relayer);
    others.push(poor);
    const r2 = await post<Settle>(`${poor.url}/settle`, body);
    expect(r2.body).to.include({ success: false, errorReason: "relayer_unfunded", transaction: "" });
    expect(r2.body.errorMessage).to.match(/holds 0 wei/);
    const health = (await (await fetch(`${poor.url}/health`)).json()) as Record<string, unknown>;
    expect(health).to.include({ status: "degraded", lowBalance: true });
    expect(await env.publicClient.getTransactionCount({ address: empty.address })).to.equal(0);
    // Funded, the same request goes through (the refusal was not final).
    await rpc("hardhat_setBalance", [empty.address, "0xDE0B6B3A7640000"]);
    const r3 = await post<Settle>(`${poor.url}/settle`, body);
    expect(r3.body.success, JSON.stringify(r3.body)).to.equal(true);
    expect((await env.publicClient.getTransaction({ hash: r3.body.transaction as Hex })).from.toLowerCase()).to.equal(
      empty.address.toLowerCase(),
    );
  });

  it("a payer relays a client-settled payment and a withdrawal: its own address appears nowhere in the transactions", async function () {
    const relay = new RelayClient({ url: svc.url });
    const client = new x402Client().register(
      "eip155:*",
      new ZkExactClientScheme({ wallet: payer.wallet, settlement: "client", relay }),
    );
    client.setSpendControls(false);
    const res = await wrapFetchWithPayment(fetch, client)(`${api.url}/weather`);
    expect(res.status).to.equal(200);
    const settle = decodeHeader<Settle>(res.headers.get("PAYMENT-RESPONSE"))!;
    expect(settle.success).to.equal(true);
    const to = account(19).address;
    const before = await env.system.token.balanceOf(to);
    const { hash: withdrawal } = await payer.wallet.withdraw({ to, amount: 5_000n, relay });
    expect(await env.system.token.balanceOf(to)).to.equal(before + 5_000n);
    const me = payer.address.toLowerCase().slice(2);
    for (const hash of [settle.transaction as Hex, withdrawal]) {
      const tx = await env.publicClient.getTransaction({ hash });
      const rc = await env.publicClient.getTransactionReceipt({ hash });
      expect(tx.from.toLowerCase()).to.equal(relayer.toLowerCase());
      const everything = JSON.stringify([tx, rc.logs], (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
      expect(everything.toLowerCase()).to.not.include(me);
    }
  });

  it("griefing: a payment whose note is spent in the mempool is simulated out (no gas spent); refused callers are rate-limited", async function () {
    const p = await preparedPayment(env, payer.wallet, api.url);
    const sp = p.paymentPayload.payload as {
      proof: Record<string, unknown>;
      terms: Record<string, string>;
      memo: Hex;
    };
    const { proofFromWire } = await import("../../sdk/core/wire.js");
    const proof = proofFromWire(sp.proof as never);
    const terms = {
      payTo: sp.terms.payTo as Address,
      amount: BigInt(sp.terms.amount!),
      relayer: sp.terms.relayer as Address,
      fee: BigInt(sp.terms.fee!),
      conditionHash: sp.terms.conditionHash as Hex,
      expiry: BigInt(sp.terms.expiry!),
    };
    const nonce = await env.publicClient.getTransactionCount({ address: relayer, blockTag: "pending" });
    await rpc("evm_setAutomine", [false]);
    try {
      // Someone else submits the same proof first; it sits in the mempool.
      await env.walletClientFor(13).writeContract({
        address: env.pool.facilitator,
        abi: facilitatorAbi,
        functionName: "pay",
        args: [proof, terms, sp.memo, "0x"],
        gas: 2_000_000n,
        chain: env.walletClientFor(13).chain,
        account: account(13),
      });
      const r = await post<Settle>(`${svc.url}/settle`, { x402Version: 2, ...p });
      expect(r.body).to.include({ success: false, errorReason: "nullifier_spent", transaction: "" });
      expect(await env.publicClient.getTransactionCount({ address: relayer, blockTag: "pending" })).to.equal(nonce);
    } finally {
      await rpc("evm_setAutomine", [true]);
      await rpc("evm_mine");
    }
    // A caller sending refused payments runs out of budget: 429 with Retry-After.
    const strict = await startService(env, { relayerIndex: 5, limits: { burst: 12, perSecond: 0.01 } });
    others.push(strict);
    const bad = edited(p, (req) => (req.amount = "1"));
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await post(`${strict.url}/verify`, { x402Version: 2, ...bad })).status);
    expect(statuses.slice(0, 2)).to.deep.equal([200, 200]);
    expect(statuses[3]).to.equal(429);
    const limited = await fetch(`${strict.url}/verify`, { method: "POST", body: "{}" });
    expect(limited.status).to.equal(429);
    expect(limited.headers.get("retry-after")).to.match(/^\d+$/);
    expect(((await limited.json()) as { error: string }).error).to.equal("rate_limited");
  });

  it("API keys (createAuthHeaders) guard /verify and /settle when configured", async function () {
    const key = "k".repeat(32);
    const s = await startService(env, { relayerIndex: 5, apiKeys: [key] });
    others.push(s);
    const open = await post<{ error: string }>(`${s.url}/verify`, { x402Version: 2 });
    expect(open.status).to.equal(401);
    expect(open.body.error).to.equal("unauthorized");
    const withKey = await post(`${s.url}/verify`, { x402Version: 2 }, { authorization: `Bearer ${key}` });
    expect(withKey.status).to.equal(400);
    // Through HTTPFacilitatorClient's createAuthHeaders, an @x402/express app gets its 402 and supported kinds.
    const apiK = await remoteApi(env, { facilitatorUrl: s.url, payTo: payee, apiKey: key });
    others.push(apiK);
    expect((await fetch(`${apiK.url}/weather`)).status).to.equal(402);
    expect((await fetch(`${s.url}/supported`)).status).to.equal(200);
  });

  it("structured JSON logs carry ids and hashes, never the relayer's key", function () {
    expect(svc.lines.length).to.be.greaterThan(5);
    const text = JSON.stringify(svc.lines);
    for (const i of [5, 6, 7, 15, 16, 17, 18]) expect(text).to.not.include(devPrivateKey(i).slice(2));
    expect(svc.lines.some((l) => l.msg === "settled" && typeof l.tx === "string")).to.equal(true);
    for (const l of svc.lines) expect(l).to.have.keys(Object.keys(l)).and.to.include.keys("time", "level", "msg");
  });
});

/** The service with a relayer key that is not a dev account (startService takes dev indices). */
async function startServiceWith(env: Env, key: Hex, feeRecipient: Address) {
  const { ServiceStore } = await import("../../sdk/service/store.js");
  const { FacilitatorService } = await import("../../sdk/service/service.js");
  const { startFacilitatorServer } = await import("../../sdk/service/http.js");
  const { tempDir } = await import("../helpers/service.js");
  const path = await import("node:path");
  const { parseGwei } = await import("viem");
  const store = new ServiceStore(path.join(tempDir(), "f.sqlite"));
  const service = new FacilitatorService({
    publicClient: env.publicClient,
    account: privateKeyToAccount(key),
    feeRecipient,
    pool: { chainId: env.pool.chainId, facilitator: env.pool.facilitator },
    vkey: env.vkey,
    vkeySha256: env.vkeySha256,
    store,
    gas: { maxFeePerGas: parseGwei("500") },
    batch: { commitAfterMs: -1 },
    pollMs: 25,
  });
  await service.start();
  const server = await startFacilitatorServer(service, { port: 0 });
  return { url: server.url, close: () => server.close(5_000) };
}
