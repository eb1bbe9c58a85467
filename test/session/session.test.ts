import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { expect } from "chai";
import { Redis } from "ioredis";
import type { Address, Hex } from "viem";

import type { PrivateWallet } from "../../sdk/client/wallet.js";
import { WalletKeys } from "../../sdk/core/keys.js";
import { shutdownProver } from "../../sdk/core/prover.js";
import { RedisReplayStore } from "../../sdk/core/replay.js";
import { presentationArtifacts } from "../../sdk/node/artifacts.js";
import { FileSessionStore } from "../../sdk/node/session-store.js";
import type { SessionClient } from "../../sdk/session/client.js";
import { holderCommitmentOf } from "../../sdk/session/credential.js";
import { provePresentation } from "../../sdk/session/prove.js";
import { MemorySessionStore, type SessionStore } from "../../sdk/session/store.js";
import {
  SESSION_HEADER,
  SESSION_REFUSAL_HEADER,
  credentialFromWire,
  encodePresentation,
  presentationToWire,
  type SessionRefusal,
} from "../../sdk/session/wire.js";
import { startRedis } from "../helpers/redis.js";
import { OFFERS, sessionApi, sessionClient } from "../helpers/session-env.js";
import { account, decodeHeader, startEnv, type Env } from "../helpers/x402-env.js";

type Api = Awaited<ReturnType<typeof sessionApi>>;

/** The refusal a 402 carries in `zk-session-refused`. */
function refusalOf(res: Response): SessionRefusal | undefined {
  return decodeHeader<SessionRefusal>(res.headers.get(SESSION_REFUSAL_HEADER));
}

/** A fetch that records the `zk-session` headers and bodies it sends. */
function recorder() {
  const sent: { url: string; header: string | null; body: string | null }[] = [];
  const fetchFn: typeof fetch = async (input, init) => {
    const req = new Request(input as RequestInfo, init);
    const body = init?.body === undefined || init.body === null ? null : String(init.body);
    sent.push({ url: req.url, header: req.headers.get(SESSION_HEADER), body });
    return fetch(req);
  };
  return { sent, fetch: fetchFn };
}

/** Proves a presentation of the first stored credential directly (bypassing the client's choices). */
async function presentDirectly(
  store: SessionStore,
  wallet: PrivateWallet,
  o: { index?: number; now: number; requiredTier: number; context?: bigint; offerId?: string },
) {
  const state = (await store.load())!;
  const stored = state.credentials.find((c) => !o.offerId || c.offerId === o.offerId)!;
  const credential = credentialFromWire(stored);
  return provePresentation(
    {
      credential,
      holder: wallet.credentialSecrets(BigInt(stored.salt)),
      index: o.index ?? stored.nextIndex,
      requiredTier: o.requiredTier,
      now: o.now,
      originId: credential.serviceId,
      context: o.context ?? 0n,
    },
    presentationArtifacts(),
  );
}

describe("session credentials over real HTTP: buy once, redeem many times", function () {
  let env: Env;
  let payee: Address;
  let api: Api;
  /** A client holding a used "basic" credential, shared by the refusal tests. */
  let holder: { wallet: PrivateWallet; client: SessionClient; store: MemorySessionStore };

  before(async function () {
    env = await startEnv();
    payee = account(4).address;
    api = await sessionApi(env, { payTo: payee });
  });

  after(async function () {
    await api?.close();
    await env?.chain.close();
    await shutdownProver();
  });

  it("buys a credential on the first 402 and redeems it N times; the N+1-th is not served by it", async function () {
    const { wallet } = await env.payer(12, { deposit: 2_000_000n });
    const before = await env.system.token.balanceOf(payee);
    const store = new MemorySessionStore();
    const client = await sessionClient(wallet, {
      store,
      buy: (offers) => offers.find((o) => o.id === "basic"),
      payPerRequest: false,
    });
    holder = { wallet, client, store };
    const first = await client.fetch(`${api.url}/data`);
    expect(first.status).to.equal(200);
    expect(client.lastRequest?.mode).to.equal("bought");
    expect(await env.system.token.balanceOf(payee)).to.equal(before + OFFERS[0]!.price);
    for (let i = 1; i < OFFERS[0]!.maxPresentations; i++) {
      const res = await client.fetch(`${api.url}/data`);
      expect(res.status).to.equal(200);
      expect(await res.json()).to.deep.include({ data: "ok", session: { requiredTier: 1 } });
    }
    // Paid once: the payee got the credential's price and nothing per request.
    expect(await env.system.token.balanceOf(payee)).to.equal(before + OFFERS[0]!.price);
    expect(api.served.data).to.equal(OFFERS[0]!.maxPresentations);
    expect(client.credentials()).to.have.length(1);
    expect(client.credentials()[0]).to.include({ offerId: "basic", tier: 1, remaining: 0, expired: false });
    // The N+1-th: no presentation index is left, so the circuit cannot be satisfied ...
    let err: unknown;
    try {
      await presentDirectly(store, wallet, { index: 3, now: api.sessions.currentTime(), requiredTier: 1 });
    } catch (e) {
      err = e;
    }
    expect(err).to.have.property("reason", "presentations_exhausted");
    // ... and a client that may neither buy nor pay per request says so.
    const noBuy = await sessionClient(wallet, { store, buy: "never", payPerRequest: false });
    err = undefined;
    try {
      await noBuy.fetch(`${api.url}/data`);
    } catch (e) {
      err = e;
    }
    expect(err).to.have.property("reason", "no_credential");
  });

  it("buys again automatically when the credential is exhausted", async function () {
    const { wallet } = await env.payer(13, { deposit: 2_000_000n });
    const client = await sessionClient(wallet, { buy: (offers) => offers.find((o) => o.id === "basic") });
    const before = await env.system.token.balanceOf(payee);
    for (let i = 0; i < OFFERS[0]!.maxPresentations + 1; i++) {
      expect((await client.fetch(`${api.url}/data`)).status).to.equal(200);
    }
    expect(client.lastRequest?.mode).to.equal("bought");
    expect(client.credentials().map((c) => c.remaining)).to.deep.equal([0, OFFERS[0]!.maxPresentations - 1]);
    expect(await env.system.token.balanceOf(payee)).to.equal(before + 2n * OFFERS[0]!.price);
    // A route that sells no sessions is paid per request; no presentation is spent on it.
    expect((await client.fetch(`${api.url}/plain`)).status).to.equal(200);
    expect(client.lastRequest?.mode).to.equal("paid");
    expect(client.credentials().map((c) => c.remaining)).to.deep.equal([0, OFFERS[0]!.maxPresentations - 1]);
  });

  it("refuses the same presentation replayed (origin_token_replayed), before and after it was used", async function () {
    const { wallet } = await env.payer(14, { deposit: 2_000_000n });
    const rec = recorder();
    const client = await sessionClient(wallet, { fetch: rec.fetch, prepareAhead: false });
    expect((await client.fetch(`${api.url}/data`)).status).to.equal(200);
    const header = rec.sent.findLast((s) => s.header)!.header!;
    const served = api.served.data;
    const again = await fetch(`${api.url}/data`, { headers: { [SESSION_HEADER]: header } });
    expect(again.status).to.equal(402);
    expect(refusalOf(again)).to.include({ error: "origin_token_replayed", buy: false });
    expect(api.served.data).to.equal(served);
  });

  it("refuses a credential of another service (wrong_service) and a lower tier (tier_too_low)", async function () {
    const other = await sessionApi(env, { payTo: payee, issuerKey: ("0x" + "77".repeat(32)) as Hex });
    try {
      const now = api.sessions.currentTime();
      const p = await presentDirectly(holder.store, holder.wallet, { index: 0, now, requiredTier: 1 });
      const res = await fetch(`${other.url}/data`, { headers: { [SESSION_HEADER]: encodePresentation(p) } });
      expect(res.status).to.equal(402);
      expect(refusalOf(res)).to.include({ error: "wrong_service" });
      expect(other.served.data).to.equal(0);
      // A tier-1 credential cannot prove tier 2 ...
      let err: unknown;
      try {
        await presentDirectly(holder.store, holder.wallet, { index: 1, now, requiredTier: 2 });
      } catch (e) {
        err = e;
      }
      expect(err).to.have.property("reason", "tier_too_low");
      // ... and a tier-1 presentation is refused by a tier-2 route.
      const low = await fetch(`${api.url}/premium`, { headers: { [SESSION_HEADER]: encodePresentation(p) } });
      expect(low.status).to.equal(402);
      expect(refusalOf(low)).to.include({ error: "tier_too_low", buy: true });
      // The route is x402's own match (case folding, trailing slash), not a second matcher's.
      for (const variant of ["/PREMIUM", "/premium/", "/Premium"]) {
        const r = await fetch(`${api.url}${variant}`, { headers: { [SESSION_HEADER]: encodePresentation(p) } });
        expect(r.status, variant).to.equal(402);
        expect(refusalOf(r), variant).to.include({ error: "tier_too_low" });
      }
      // A presentation on a pay-per-request route buys nothing.
      const plainBefore = api.served.plain;
      const plain = await fetch(`${api.url}/plain`, { headers: { [SESSION_HEADER]: encodePresentation(p) } });
      expect(plain.status).to.equal(402);
      expect(api.served.premium).to.equal(0);
      expect(api.served.plain).to.equal(plainBefore);
    } finally {
      await other.close();
    }
  });

  it("a client with a lower-tier credential buys the higher tier for a premium route", async function () {
    const { wallet } = await env.payer(15, { deposit: 2_000_000n });
    const client = await sessionClient(wallet, { buy: (offers) => offers.find((o) => o.id === "basic") });
    expect((await client.fetch(`${api.url}/data`)).status).to.equal(200);
    const pro = await sessionClient(wallet, { buy: (offers) => offers.find((o) => o.tier >= 2) });
    expect((await pro.fetch(`${api.url}/premium`)).status).to.equal(200);
    expect(pro.credentials()[0]).to.include({ offerId: "pro", tier: 2 });
    // A tier-2 credential also serves the tier-1 route (it proves tier >= 1 there).
    expect((await pro.fetch(`${api.url}/data`)).status).to.equal(200);
  });

  it("refuses an expired credential and a stale presentation", async function () {
    let offset = 0;
    const clock = () => Math.floor(Date.now() / 1000) + offset;
    const timed = await sessionApi(env, { payTo: payee, now: clock, issuerKey: ("0x" + "33".repeat(32)) as Hex });
    try {
      const { wallet } = await env.payer(16, { deposit: 2_000_000n });
      const store = new MemorySessionStore();
      const client = await sessionClient(wallet, {
        store,
        now: clock,
        buy: (offers) => offers.find((o) => o.id === "pro"),
        prepareAhead: false,
      });
      expect((await client.fetch(`${timed.url}/data`)).status).to.equal(200);
      // A presentation proved now, kept for later.
      const kept = await presentDirectly(store, wallet, { now: timed.sessions.currentTime(), requiredTier: 1 });
      // Two time steps later it is stale.
      offset += 2 * timed.sessions.timeStep;
      const stale = await fetch(`${timed.url}/data`, { headers: { [SESSION_HEADER]: encodePresentation(kept) } });
      expect(stale.status).to.equal(402);
      expect(refusalOf(stale)).to.include({ error: "stale_presentation" });
      // Past its expiry the credential cannot be presented at all ...
      offset += OFFERS[1]!.durationSeconds;
      expect(client.credentials()[0]).to.include({ expired: true });
      let err: unknown;
      try {
        await presentDirectly(store, wallet, { now: timed.sessions.currentTime(), requiredTier: 1 });
      } catch (e) {
        err = e;
      }
      expect(err).to.have.property("reason", "credential_expired");
      // ... and the client does not send it: without buying or paying it has nothing to offer.
      const expiredClient = await sessionClient(wallet, { store, now: clock, buy: "never", payPerRequest: false });
      err = undefined;
      try {
        await expiredClient.fetch(`${timed.url}/data`);
      } catch (e) {
        err = e;
      }
      expect(err).to.have.property("reason", "no_credential");
    } finally {
      await timed.close();
    }
  });

  it("refuses terms inflated by the payer at issuance: another offer, another holder, an unbound commitment", async function () {
    const { wallet } = await env.payer(17, { deposit: 2_000_000n });
    const store = new MemorySessionStore();
    const client = await sessionClient(wallet, { store, buy: (offers) => offers.find((o) => o.id === "basic") });
    expect((await client.fetch(`${api.url}/data`)).status).to.equal(200);
    const stored = (await store.load())!.credentials[0]!;
    // The service signed exactly the offer's terms, whatever the payer sent.
    expect(stored).to.include({ tier: 1, maxPresentations: 3 });
    expect(stored.expiresAt - stored.issuedAt).to.equal(3600 + api.sessions.timeStep);
    // Recovery needs the purchase's challenge: read it back from a fresh purchase record.
    const challengeRes = await fetch(`${api.url}${api.sessions.purchasePath("basic")}`, { method: "POST" });
    expect(challengeRes.status).to.equal(402);
    const recover = (body: unknown) =>
      fetch(`${api.url}/.well-known/402zk/sessions/recover`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    // A basic payment cannot be re-issued as "pro" (the challenge's MAC binds the purchase route and price) ...
    const fakeChallenge = { id: "0x" + "00".repeat(16), exp: 9_999_999_999, mac: "0x" + "00".repeat(32) };
    const asPro = await recover({
      offerId: "pro",
      holderCommitment: stored.holderCommitment,
      receiptId: stored.receiptId,
      challenge: fakeChallenge,
    });
    expect(asPro.status).to.equal(409);
    expect(await asPro.json()).to.have.property("error", "issuance_refused");
    // ... nor to another holder commitment, nor can someone who only saw the receipt claim it.
    const thief = WalletKeys.fromSeed(WalletKeys.randomSeed()).credentialSecrets(1n);
    const stolen = await recover({
      offerId: "basic",
      holderCommitment: holderCommitmentOf(thief).toString(),
      receiptId: stored.receiptId,
      challenge: fakeChallenge,
    });
    expect(stolen.status).to.equal(409);
    // A purchase whose payload names another commitment than the proof's condition binds is refused.
    const swap: typeof fetch = async (input, init) => {
      const req = new Request(input as RequestInfo, init);
      const sig = req.headers.get("PAYMENT-SIGNATURE");
      if (!sig) return fetch(req);
      const decoded = JSON.parse(atob(sig)) as { payload: { credential: { commitment: string } } };
      decoded.payload.credential.commitment = holderCommitmentOf(thief).toString();
      const headers = new Headers(req.headers);
      headers.set("PAYMENT-SIGNATURE", btoa(JSON.stringify(decoded)));
      return fetch(req.url, { method: req.method, headers });
    };
    const { wallet: w2 } = await env.payer(18, { deposit: 2_000_000n });
    const swapping = await sessionClient(w2, { fetch: swap, buy: (offers) => offers.find((o) => o.id === "basic") });
    const before = await env.system.token.balanceOf(payee);
    let err: unknown;
    try {
      await swapping.fetch(`${api.url}/data`);
    } catch (e) {
      err = e;
    }
    expect(err).to.have.property("reason", "issuance_refused");
    expect(await env.system.token.balanceOf(payee)).to.equal(before); // nothing was settled
  });

  it("binds presentations to the request on a state-changing route (header and body transports)", async function () {
    const { wallet } = await env.payer(19, { deposit: 2_000_000n });
    const store = new MemorySessionStore();
    const client = await sessionClient(wallet, { store, buy: (offers) => offers.find((o) => o.id === "pro") });
    const body = JSON.stringify({ item: 7 });
    const headers = { "content-type": "application/json" };
    const ok = await client.fetch(`${api.url}/order`, { method: "POST", body, headers });
    expect(ok.status).to.equal(200);
    expect(await ok.json()).to.deep.equal({ ordered: { item: 7 } });
    // A presentation bound to {item: 7} does not buy {item: 8}.
    const { requestContext } = await import("../../sdk/session/context.js");
    const now = api.sessions.currentTime();
    const p = await presentDirectly(store, wallet, {
      now,
      requiredTier: 1,
      context: requestContext("POST", "/order", body),
    });
    const orders = api.served.order;
    const tampered = await fetch(`${api.url}/order`, {
      method: "POST",
      headers: { ...headers, [SESSION_HEADER]: encodePresentation(p) },
      body: JSON.stringify({ item: 8 }),
    });
    expect(tampered.status).to.equal(402);
    expect(refusalOf(tampered)).to.include({ error: "context_mismatch" });
    expect(api.served.order).to.equal(orders);
    // The token was not burnt by the refused request: the right body still works.
    const right = await fetch(`${api.url}/order`, {
      method: "POST",
      headers: { ...headers, [SESSION_HEADER]: encodePresentation(p) },
      body,
    });
    expect(right.status).to.equal(200);
    // The body transport: the presentation travels as `zk_session`, the handler never sees it.
    const viaBody = await sessionClient(wallet, { store, transport: "body" });
    const res = await viaBody.fetch(`${api.url}/order`, { method: "POST", body: JSON.stringify({ item: 9 }), headers });
    expect(res.status).to.equal(200);
    expect(await res.json()).to.deep.equal({ ordered: { item: 9 } });
    expect(api.orders.at(-1)).to.deep.equal({ item: 9 });
  });

  it("two redemptions by the same client share nothing but service, tier bound and coarse time", async function () {
    const { wallet } = await env.payer(11, { deposit: 2_000_000n });
    const rec = recorder();
    const sessionStore = new MemorySessionStore();
    const client = await sessionClient(wallet, {
      store: sessionStore,
      fetch: rec.fetch,
      buy: (offers) => offers.find((o) => o.id === "pro"),
    });
    for (let i = 0; i < 3; i++) expect((await client.fetch(`${api.url}/data`)).status).to.equal(200);
    const shown = rec.sent.filter((s) => s.header).map((s) => JSON.parse(atob(s.header!)) as Record<string, unknown>);
    expect(shown).to.have.length(3);
    const [a, b] = shown.slice(-2) as [Record<string, unknown>, Record<string, unknown>];
    const shared = Object.keys(a).filter((k) => JSON.stringify(a[k]) === JSON.stringify(b[k]));
    expect(shared.sort()).to.deep.equal(["context", "now", "originId", "requiredTier", "serviceId", "v"]);
    expect(a.context).to.equal("0");
    // Nothing the issuer saw at issuance appears in a presentation.
    // (issuedAt is rounded to the time step, so within the step of the purchase `now`
    // equals it: that says no more than the time of the request itself.)
    const stored = (await sessionStore.load())!.credentials[0]!;
    const text = JSON.stringify(shown);
    for (const secretish of [stored.receiptId, stored.holderCommitment, String(stored.expiresAt), stored.signature.S]) {
      expect(text).to.not.include(secretish);
    }
  });

  it("answers malformed headers and bodies with a clear 4xx, never a 500", async function () {
    const cases: [string, RequestInit, number, string][] = [
      ["not base64", { headers: { [SESSION_HEADER]: "!!!" } }, 400, "malformed_header"],
      ["base64 of text", { headers: { [SESSION_HEADER]: btoa("hello!") } }, 400, "malformed_header"],
      ["empty object", { headers: { [SESSION_HEADER]: btoa("{}") } }, 400, "invalid_presentation"],
      ["too large", { headers: { [SESSION_HEADER]: "A".repeat(8000) } }, 431, "header_too_large"],
      [
        "tier out of range",
        { headers: { [SESSION_HEADER]: btoa(JSON.stringify({ v: 1, requiredTier: 1e9 })) } },
        400,
        "invalid_presentation",
      ],
    ];
    for (const [name, init, status, reason] of cases) {
      const res = await fetch(`${api.url}/data`, init);
      expect(res.status, name).to.equal(status);
      expect(await res.json(), name).to.have.property("error", reason);
    }
    const post = (body: string, extra: Record<string, string> = {}) =>
      fetch(`${api.url}/order`, { method: "POST", headers: { "content-type": "application/json", ...extra }, body });
    const bad: [string, Response, number, string][] = [
      ["invalid JSON body", await post("{not json"), 400, "invalid_payload"],
      ["zk_session not an object", await post(JSON.stringify({ zk_session: 5 })), 400, "invalid_presentation"],
      ["zk_session missing fields", await post(JSON.stringify({ zk_session: { v: 1 } })), 400, "invalid_presentation"],
      [
        "header and body both",
        await post(JSON.stringify({ zk_session: { v: 1 } }), { [SESSION_HEADER]: btoa("{}") }),
        400,
        "malformed_header",
      ],
    ];
    for (const [name, res, status, reason] of bad) {
      expect(res.status, name).to.equal(status);
      expect(await res.json(), name).to.have.property("error", reason);
    }
    const recover = await fetch(`${api.url}/.well-known/402zk/sessions/recover`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(recover.status).to.equal(400);
    const info = await fetch(`${api.url}/.well-known/402zk/sessions`);
    expect(info.status).to.equal(200);
    expect(await info.json()).to.have.property("serviceId", api.sessions.serviceId.toString());
  });

  it("throttles a client whose presentations keep failing (429 before any pairing)", async function () {
    const strict = await sessionApi(env, {
      payTo: payee,
      limits: { maxFailuresPerClient: 3, failureWindowSeconds: 60 },
    });
    try {
      const now = strict.sessions.currentTime();
      const p = await presentDirectly(holder.store, holder.wallet, { index: 0, now, requiredTier: 1 });
      // A well-formed presentation for this service whose proof is wrong (another context).
      const forged = encodePresentation({ ...p, context: p.context + 1n });
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) {
        const res = await fetch(`${strict.url}/data`, { headers: { [SESSION_HEADER]: forged } });
        statuses.push(res.status);
        if (res.status === 402) expect(refusalOf(res)).to.include({ error: "invalid_presentation" });
        if (res.status === 429) {
          expect(await res.json()).to.have.property("error", "too_many_failures");
          expect(Number(res.headers.get("retry-after"))).to.be.greaterThan(0);
        }
      }
      expect(statuses).to.deep.equal([402, 402, 402, 429, 429]);
      expect(strict.served.data).to.equal(0);
    } finally {
      await strict.close();
    }
  });

  it("a body presentation is checked like a header one, and a valid presentation in the body is accepted", async function () {
    const now = api.sessions.currentTime();
    const { wallet } = await env.payer(2, { deposit: 2_000_000n });
    const store = new MemorySessionStore();
    const client = await sessionClient(wallet, { store, buy: (offers) => offers.find((o) => o.id === "pro") });
    expect((await client.fetch(`${api.url}/data`)).status).to.equal(200);
    const { requestContext } = await import("../../sdk/session/context.js");
    const body = { item: 1 };
    const p = await presentDirectly(store, wallet, {
      now,
      requiredTier: 1,
      context: requestContext("POST", "/order", JSON.stringify(body)),
    });
    const res = await fetch(`${api.url}/order`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...body, zk_session: presentationToWire(p) }),
    });
    expect(res.status).to.equal(200);
    expect(await res.json()).to.deep.equal({ ordered: body });
  });
});

describe("session credentials across instances and crashes", function () {
  let env: Env;
  let payee: Address;
  let redis: Awaited<ReturnType<typeof startRedis>>;
  const clients: Redis[] = [];

  before(async function () {
    env = await startEnv();
    payee = account(5).address;
    redis = await startRedis();
  });

  after(async function () {
    for (const c of clients) c.disconnect();
    await redis?.stop();
    await env?.chain.close();
    await shutdownProver();
  });

  it("two server instances sharing Redis accept a credential bought at either, and refuse a replay at the other", async function () {
    const prefix = `sess-${Date.now()}:`;
    const shared = () => {
      const c = new Redis(redis.url, { maxRetriesPerRequest: 1 });
      clients.push(c);
      return new RedisReplayStore(c, { prefix });
    };
    const a = await sessionApi(env, { payTo: payee, replay: shared(), instances: 2 });
    const b = await sessionApi(env, { payTo: payee, replay: shared(), instances: 2, relayerIndex: 6 });
    try {
      const { wallet } = await env.payer(7, { deposit: 2_000_000n });
      const rec = recorder();
      const sessionStore = new MemorySessionStore();
      const client = await sessionClient(wallet, {
        store: sessionStore,
        fetch: rec.fetch,
        prepareAhead: false,
        buy: (offers) => offers.find((o) => o.id === "pro"),
      });
      expect((await client.fetch(`${a.url}/data`)).status).to.equal(200);
      const header = rec.sent.findLast((s) => s.header)!.header!;
      // Instance B has seen the token through Redis.
      const replay = await fetch(`${b.url}/data`, { headers: { [SESSION_HEADER]: header } });
      expect(replay.status).to.equal(402);
      expect(refusalOf(replay)).to.include({ error: "origin_token_replayed" });
      // The same credential presents at B too (one service: same key, same challenge secret).
      const p = await presentDirectly(sessionStore, wallet, { now: b.sessions.currentTime(), requiredTier: 1 });
      const direct = await fetch(`${b.url}/data`, { headers: { [SESSION_HEADER]: encodePresentation(p) } });
      expect(direct.status).to.equal(200);
      // An in-memory store for two instances is refused at construction.
      let err: unknown;
      try {
        await sessionApi(env, { payTo: payee, instances: 2 });
      } catch (e) {
        err = e;
      }
      expect(err).to.have.property("reason", "invalid_argument");
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("a client killed (SIGKILL) after paying for a credential recovers it from its store and the chain", async function () {
    const api = await sessionApi(env, { payTo: payee });
    const dir = mkdtempSync(path.join(tmpdir(), "402zk-session-crash-"));
    try {
      const seed = WalletKeys.randomSeed();
      const { wallet } = await env.payer(8, { deposit: 2_000_000n, seed });
      await wallet.close();
      const before = await env.system.token.balanceOf(payee);
      const child = spawn(process.execPath, ["--import", "tsx", "test/helpers/crash-session-buyer.ts"], {
        env: {
          ...process.env,
          CRASH_CFG: JSON.stringify({
            url: env.chain.url,
            pool: env.pool,
            seed,
            notes: path.join(dir, "notes.json"),
            sessions: path.join(dir, "sessions.json"),
            accountIndex: 8,
            api: api.url,
          }),
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      let errOut = "";
      child.stderr.on("data", (d: Buffer) => (errOut += d.toString()));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`child never paid: ${out}${errOut}`)), 120_000);
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          if (out.includes("PAID")) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.on("exit", (code) => {
          clearTimeout(timer);
          reject(new Error(`child exited ${code} before paying: ${out}${errOut}`));
        });
      });
      child.removeAllListeners("exit");
      child.kill("SIGKILL");
      await new Promise((r) => child.once("exit", r));
      expect(out).to.include("PAID 200");
      expect(await env.system.token.balanceOf(payee)).to.equal(before + OFFERS[0]!.price);
      // The killed process stored the purchase (with its receipt) but never the credential.
      const file = new FileSessionStore(path.join(dir, "sessions.json"));
      const state = (await file.load())!;
      expect(state.credentials).to.have.length(0);
      expect(state.pending).to.have.length(1);
      expect(state.pending[0]!.receiptId).to.match(/^0x[0-9a-f]{64}$/);
      // Restart: the seed and the store recover the credential; it presents.
      const { wallet: again } = await env.payer(8, { seed });
      const client = await sessionClient(again, { store: file, buy: "never", payPerRequest: false });
      expect(client.pendingPurchases()).to.have.length(0);
      expect(client.credentials()).to.have.length(1);
      expect(client.credentials()[0]).to.include({ offerId: "basic", remaining: 3 });
      expect((await client.fetch(`${api.url}/data`)).status).to.equal(200);
      expect(client.remaining(api.url)).to.equal(2);
    } finally {
      await api.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
