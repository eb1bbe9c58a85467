import type { PaymentPayload, PaymentRequirements } from "@x402/core/types";
import { expect } from "chai";
import { createPublicClient, http, zeroAddress, type Address, type Hex, type PublicClient } from "viem";

import { RelayClient } from "../../sdk/client/relay.js";
import type { PrivateWallet } from "../../sdk/client/wallet.js";
import { MAX_VALUE, SNARK_SCALAR_FIELD, toBytes32 } from "../../sdk/core/field.js";
import { shutdownProver } from "../../sdk/core/prover.js";
import { ZkPaymentPayloadSchema, serverPayloadToWire, type ZkPaymentPayload } from "../../sdk/core/wire.js";
import { post, remoteApi, startService, type RunningService } from "../helpers/service.js";
import { account, decodeHeader, startEnv, type Env } from "../helpers/x402-env.js";

type Settle = { success: boolean; transaction: string; errorReason?: string; errorMessage?: string };
type Verify = { isValid: boolean; invalidReason?: string; invalidMessage?: string };
type Required = { error?: string; accepts: PaymentRequirements[] };

const PRICE_1 = 10_000n; // 0.01 of a 6-decimal token
const PRICE_2 = 1_000_000n; // 1.00

/** A JSON document edited in place by the tests (any shape). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = Record<string, any>;

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64");

/**
 * Issue #16 findings 1, 5 and 6 against the facilitator service on 127.0.0.1, and resource
 * servers built with createZkRemoteResourceServer + x402's HTTPFacilitatorClient: real
 * proofs, real HTTP, the chain on Hardhat's EVM. Each attack is refused at the API (the
 * ChallengeGuard) and, with the guard bypassed, at the service on its own.
 */
describe("facilitator service security: a stored payment answers only for its own request (#16)", function () {
  let env: Env;
  let svc: RunningService;
  let api1: Awaited<ReturnType<typeof remoteApi>>;
  let api2: Awaited<ReturnType<typeof remoteApi>>;
  let payer: { wallet: PrivateWallet; address: Address };
  const payee1 = account(3).address;
  const payee2 = account(4).address;
  const attacker = account(9).address;
  const relayer = account(5).address;
  /** JSON-RPC methods the service sent to the chain, in order. */
  const rpcCalls: string[] = [];
  /** The payment the attacker made honestly, once, to API 1 (the x402 PaymentPayload it sent). */
  let paid: { payload: PaymentPayload; transaction: Hex };

  before(async function () {
    env = await startEnv();
    // The service reads the chain through a client that records every request it makes.
    const counting = createPublicClient({
      chain: env.publicClient.chain,
      transport: http(env.chain.url, {
        onFetchRequest: async (_req, init) => {
          const body = JSON.parse(String(init.body)) as { method: string } | { method: string }[];
          for (const m of Array.isArray(body) ? body : [body]) rpcCalls.push(m.method);
        },
      }),
      pollingInterval: 50,
    }) as PublicClient;
    // A budget no test here exhausts: the cost limiter is not what these tests are about.
    svc = await startService({ ...env, publicClient: counting }, { relayerIndex: 5, limits: { burst: 100_000 } });
    api1 = await remoteApi(env, { facilitatorUrl: svc.url, payTo: payee1, price: PRICE_1 });
    api2 = await remoteApi(env, { facilitatorUrl: svc.url, payTo: payee2, price: PRICE_2 });
    const p = await env.payer(12);
    await env.mint(p.address, 4n * 2_000_000n);
    for (let i = 0; i < 4; i++) await p.wallet.deposit(2_000_000n);
    payer = { wallet: p.wallet, address: p.address };
  });

  after(async function () {
    await api1?.close();
    await api2?.close();
    await svc?.close();
    await env?.chain.close();
    await shutdownProver();
  });

  const balance = (a: Address) => env.system.token.balanceOf(a) as Promise<bigint>;
  const relayerNonce = () => env.publicClient.getTransactionCount({ address: relayer, blockTag: "pending" });
  /** A fresh 402 from `api`: the requirement a new request must pay (a new challenge). */
  const fresh402 = async (api: { url: string }): Promise<PaymentRequirements> => {
    const res = await fetch(`${api.url}/weather`);
    expect(res.status).to.equal(402);
    return decodeHeader<Required>(res.headers.get("PAYMENT-REQUIRED"))!.accepts[0]!;
  };
  /** `payload` presented to `api` as the answer to a fresh 402 of its own. */
  const present = async (api: { url: string }, payload: unknown) => {
    const accepted = await fresh402(api);
    const res = await fetch(`${api.url}/weather`, {
      headers: { "PAYMENT-SIGNATURE": b64({ x402Version: 2, accepted, payload }) },
    });
    return { res, accepted, error: decodeHeader<Required>(res.headers.get("PAYMENT-REQUIRED"))?.error };
  };
  /** Requests the service answered on `path`, from its own metrics. */
  const served = async (path: string): Promise<number> => {
    const text = await (await fetch(`${svc.url}/metrics`)).text();
    let n = 0;
    for (const m of text.matchAll(/zk402_http_requests_total\{([^}]*)\} (\d+)/g)) {
      if (m[1]!.includes(`path="${path}"`)) n += Number(m[2]);
    }
    return n;
  };
  const chainState = async () => ({
    payee1: await balance(payee1),
    payee2: await balance(payee2),
    attacker: await balance(attacker),
    nonce: await relayerNonce(),
  });

  it("pays API 1 once honestly (the payment the attacks below reuse)", async function () {
    const before = await balance(payee1);
    const { fetch: paidFetch, sent } = env.payingFetch(payer.wallet, "server");
    const res = await paidFetch(`${api1.url}/weather`);
    expect(res.status).to.equal(200);
    const settle = decodeHeader<Settle>(res.headers.get("PAYMENT-RESPONSE"))!;
    expect(settle.success).to.equal(true);
    expect(await balance(payee1)).to.equal(before + PRICE_1);
    const header = sent.find((s) => s.paymentSignature)!.paymentSignature!;
    paid = { payload: decodeHeader<PaymentPayload>(header)!, transaction: settle.transaction as Hex };
    expect(api1.served()).to.equal(1);
  });

  it("attack 1: the old payload with every later 402 of the same API is refused; served once, paid once", async function () {
    const state = await chainState();
    const forwarded = (await served("/verify")) + (await served("/settle"));
    for (let i = 0; i < 3; i++) {
      const { res, error } = await present(api1, paid.payload.payload);
      expect(res.status).to.equal(402);
      // The guard: the payload's conditionHash is not the hash of this request's challenge.
      expect(error).to.equal("requirements_mismatch");
    }
    expect(api1.served(), "the handler never ran again").to.equal(1);
    expect(await chainState()).to.deep.equal(state);
    // Refused by the API's guard: nothing was forwarded to the service.
    expect((await served("/verify")) + (await served("/settle")), "refused by the guard").to.equal(forwarded);
  });

  it("attack 2: the payment of 0.01 to API 1, presented to API 2 (another payee, price 1.00), is refused", async function () {
    const state = await chainState();
    const forwarded = (await served("/verify")) + (await served("/settle"));
    const { res, error } = await present(api2, paid.payload.payload);
    expect(res.status).to.equal(402);
    expect(error).to.equal("requirements_mismatch");
    expect(api2.served()).to.equal(0);
    expect(await chainState()).to.deep.equal(state);
    expect((await served("/verify")) + (await served("/settle")), "refused by the guard").to.equal(forwarded);
  });

  let relayed: ZkPaymentPayload;

  it("attack 3: 1 unit paid to the attacker through the public /relay, then presented to an API, is refused", async function () {
    const latest = await env.publicClient.getBlock();
    const p = await payer.wallet.preparePayment({
      payTo: attacker,
      amount: 1n,
      fee: 0n,
      relayer,
      conditionHash: toBytes32(123456789n),
      expiry: latest.timestamp + 3600n,
    });
    const before = await balance(attacker);
    await new RelayClient({ url: svc.url }).submit(p);
    expect(await balance(attacker)).to.equal(before + 1n);
    relayed = serverPayloadToWire(p);
    const state = await chainState();
    const forwarded = (await served("/verify")) + (await served("/settle"));
    for (const api of [api1, api2]) {
      const { res, error } = await present(api, relayed);
      expect(res.status).to.equal(402);
      expect(error).to.equal("requirements_mismatch");
      expect(api.served()).to.equal(api === api1 ? 1 : 0);
    }
    expect(await chainState()).to.deep.equal(state);
    expect((await served("/verify")) + (await served("/settle")), "refused by the guard").to.equal(forwarded);
  });

  it("with the guard bypassed, the service alone refuses each attack at /verify and /settle, and still answers the same request", async function () {
    const state = await chainState();
    const cases: [string, { url: string }, unknown, string][] = [
      ["old payload, later 402 of API 1", api1, paid.payload.payload, "conditionHash"],
      ["API 1's payment at API 2", api2, paid.payload.payload, "payTo"],
      ["relayed to the attacker, at API 1", api1, relayed, "payTo"],
      ["relayed to the attacker, at API 2", api2, relayed, "payTo"],
    ];
    for (const [label, api, payload, field] of cases) {
      const req = await fresh402(api);
      const body = {
        x402Version: 2,
        paymentPayload: { x402Version: 2, accepted: req, payload },
        paymentRequirements: req,
      };
      const v = await post<Verify>(`${svc.url}/verify`, body);
      expect(v.status, label).to.equal(200);
      expect(v.body, label).to.include({ isValid: false, invalidReason: "requirements_mismatch" });
      expect(v.body.invalidMessage, label).to.include(field);
      const s = await post<Settle>(`${svc.url}/settle`, body);
      expect(s.body, label).to.include({ success: false, errorReason: "requirements_mismatch", transaction: "" });
    }
    expect(await chainState()).to.deep.equal(state);
    // The same request again (a caller that lost the answer): the stored answer, same transaction.
    const same = { x402Version: 2, paymentPayload: paid.payload, paymentRequirements: paid.payload.accepted };
    expect((await post<Verify>(`${svc.url}/verify`, same)).body).to.deep.equal({ isValid: true });
    const again = await post<Settle>(`${svc.url}/settle`, same);
    expect(again.body).to.include({ success: true, transaction: paid.transaction });
    expect(await chainState()).to.deep.equal(state);
  });

  let zeroPayee: ZkPaymentPayload;

  it("finding 5: /relay with payTo = 0 and a public amount (a real proof) is refused with its reason before any chain read; nothing sent", async function () {
    // payTo = 0 names a shielded payment since payment-v2 (#19), which pays nothing in
    // public: the wallet refuses to build one with an amount, so the payer edits the wire.
    const latest = await env.publicClient.getBlock();
    const p = await payer.wallet.preparePayment({
      payTo: payee1,
      amount: 1n,
      fee: 0n,
      relayer,
      expiry: latest.timestamp + 3600n,
    });
    const wire = serverPayloadToWire(p);
    zeroPayee = { ...wire, terms: { ...wire.terms, payTo: zeroAddress } };
    const nonce = await relayerNonce();
    const rows = svc.service.health().payments;
    rpcCalls.length = 0;
    const r = await post<Settle & { receiptId?: string }>(`${svc.url}/relay`, { x402Version: 2, payload: zeroPayee });
    expect(r.status).to.equal(200);
    expect(r.body).to.include({ success: false, errorReason: "invalid_payload", transaction: "" });
    expect(r.body.errorMessage).to.include("terms.amount").and.include("shielded");
    expect(rpcCalls.filter((m) => m !== "eth_getBalance")).to.deep.equal([]);
    expect(svc.store.getPayment(p.receiptId)).to.equal(undefined);
    expect(svc.service.health().payments).to.deep.equal(rows);
    expect(await relayerNonce()).to.equal(nonce);
  });

  it("finding 6: every number just above what the contract takes is a 400 naming the field, with no chain read", async function () {
    const r = SNARK_SCALAR_FIELD.toString();
    const u256 = (1n << 256n).toString();
    const edits: [string, (p: Loose) => void][] = [
      ["terms.amount", (p) => (p.terms.amount = (MAX_VALUE + 1n).toString())],
      ["terms.fee", (p) => (p.terms.fee = (MAX_VALUE + 1n).toString())],
      ["terms.expiry", (p) => (p.terms.expiry = (1n << 64n).toString())],
      ["proof.root", (p) => (p.proof.root = r)],
      ["proof.nullifierHash", (p) => (p.proof.nullifierHash = r)],
      ["proof.changeCommitment", (p) => (p.proof.changeCommitment = r)],
      ["proof.treeSize", (p) => (p.proof.treeSize = u256)],
      ["proof.pA.0", (p) => (p.proof.pA[0] = u256)],
      ["proof.pB.1.0", (p) => (p.proof.pB[1][0] = u256)],
      ["proof.pC.1", (p) => (p.proof.pC[1] = u256)],
      ["memo", (p) => (p.memo = `0x${"ab".repeat(513)}`)],
    ];
    const base = { ...zeroPayee, terms: { ...zeroPayee.terms, payTo: payee1 } };
    const errorsBefore = svc.lines.filter((l) => l.level === "error").length;
    rpcCalls.length = 0;
    for (const [field, edit] of edits) {
      const payload = JSON.parse(JSON.stringify(base)) as Loose;
      edit(payload);
      const res = await post<{ error: string; message: string }>(`${svc.url}/relay`, { x402Version: 2, payload });
      expect(res.status, field).to.equal(400);
      expect(res.body.error, field).to.equal("invalid_payload");
      expect(res.body.message, field).to.match(new RegExp(`^payload\\.${field.replace(/\./g, "\\.")}: `));
    }
    // The same bounds at /verify and /settle (an x402 refusal, 200), plus the challenge's
    // expiry (a uint64) and a requirement amount that is not a number.
    const req = await fresh402(api1);
    const verifyEdits: [string, (pp: Loose, rq: Loose) => void][] = [
      ["payload.terms.expiry", (pp) => (pp.payload.terms.expiry = (1n << 64n).toString())],
      ["payload.terms.amount", (pp) => (pp.payload.terms.amount = u256 + "0")],
      ["accepted.extra.challenge.exp", (pp) => (pp.accepted.extra.challenge.exp = 2 ** 64)],
      ["paymentRequirements.amount", (_pp, rq) => (rq.amount = "12abc")],
      // Not a number at all: the schema says so (it used to throw from inside its own refinement).
      ["payload.credential.commitment", (pp) => (pp.payload.credential = { commitment: "12abc" })],
    ];
    for (const [field, edit] of verifyEdits) {
      const pp = JSON.parse(JSON.stringify({ x402Version: 2, accepted: req, payload: base })) as Loose;
      const rq = JSON.parse(JSON.stringify(req)) as Loose;
      edit(pp, rq);
      for (const path of ["/verify", "/settle"]) {
        const res = await post<Verify & Settle>(`${svc.url}${path}`, {
          x402Version: 2,
          paymentPayload: pp,
          paymentRequirements: rq,
        });
        expect(res.status, `${path} ${field}`).to.equal(200);
        const reason = path === "/verify" ? res.body.invalidReason : res.body.errorReason;
        const message = path === "/verify" ? res.body.invalidMessage : res.body.errorMessage;
        expect(reason, `${path} ${field}`).to.equal("invalid_payload");
        expect(message, `${path} ${field}`).to.match(new RegExp(`^${field.replace(/\./g, "\\.")}: `));
      }
    }
    expect(
      rpcCalls.filter((m) => m !== "eth_getBalance"),
      "no chain read",
    ).to.deep.equal([]);
    expect(svc.lines.filter((l) => l.level === "error")).to.have.length(errorsBefore);
    // The bounds are the contract's, not tighter: each value at its bound is well-formed.
    const atBound = JSON.parse(JSON.stringify(base)) as Loose;
    atBound.terms.amount = atBound.terms.fee = MAX_VALUE.toString();
    atBound.terms.expiry = ((1n << 64n) - 1n).toString();
    atBound.proof.root = (SNARK_SCALAR_FIELD - 1n).toString();
    atBound.proof.treeSize = atBound.proof.pA[0] = ((1n << 256n) - 1n).toString();
    atBound.memo = `0x${"ab".repeat(512)}`;
    expect(ZkPaymentPayloadSchema.safeParse(atBound).success).to.equal(true);
  });
});
