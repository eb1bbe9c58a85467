/**
 * One reason -> HTTP table (core/http.ts) for the payment gate and the facilitator
 * service: every ZkReason has an entry, and both servers answer real refusals (over real
 * HTTP on 127.0.0.1) with the table's status and headers.
 */
import { once } from "node:events";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";

import { HTTPFacilitatorClient } from "@x402/core/server";
import { expect } from "chai";
import express from "express";

import { ZkPayError, ZkReason, type ZkReasonCode } from "../../sdk/core/errors.js";
import {
  REASON_HTTP,
  SESSION_REFUSED_HEADER,
  ZK_REASONS,
  httpAnswerOf,
  httpStatusOf,
  sessionRefusedHeader,
} from "../../sdk/core/http.js";
import { shutdownProver } from "../../sdk/core/prover.js";
import { zkPaymentMiddleware } from "../../sdk/express/index.js";
import { createZkRemoteResourceServer } from "../../sdk/server/remote.js";
import { SESSION_REFUSAL_HEADER } from "../../sdk/session/wire.js";
import { post, startService, type RunningService } from "../helpers/service.js";
import { account, startEnv, type Env } from "../helpers/x402-env.js";

type Answer = { status: number; headers: Headers; body: { error?: string; details?: Record<string, unknown> } };

async function get(url: string, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Answer["body"] };
}

describe("one reason -> HTTP status table (core/http.ts)", function () {
  it("has an entry with a 4xx or 5xx status for every ZkReason", function () {
    const reasons = Object.values(ZkReason) as ZkReasonCode[];
    expect(reasons.length).to.be.greaterThan(50);
    expect([...ZK_REASONS]).to.deep.equal(reasons);
    for (const reason of reasons) {
      const entry = REASON_HTTP[reason];
      expect(entry, reason).to.be.an("object");
      expect(entry.status, reason).to.be.within(400, 599);
      expect(httpStatusOf(reason), reason).to.equal(entry.status);
    }
    // No entry for a reason that does not exist.
    expect(Object.keys(REASON_HTTP).sort()).to.deep.equal([...reasons].sort());
  });

  it("settles the old disagreements and names its headers", function () {
    expect(REASON_HTTP.body_too_large.status).to.equal(413);
    expect(REASON_HTTP.header_too_large.status).to.equal(431);
    expect(REASON_HTTP.too_many_failures.status).to.equal(429);
    expect(REASON_HTTP.rate_limited.status).to.equal(429);
    expect(REASON_HTTP.server_busy.status).to.equal(503);
    expect(REASON_HTTP.facilitator_unavailable.status).to.equal(503);
    expect(REASON_HTTP.unauthorized.status).to.equal(401);
    // Retry-After from details.retryAfterSeconds, whole seconds, at least 1.
    const busy = httpAnswerOf(new ZkPayError("server_busy", "full", { retryAfterSeconds: 2.2 }));
    expect(busy).to.deep.include({ status: 503, headers: { "retry-after": "3" } });
    expect(busy.body).to.include({ error: "server_busy", message: "full" });
    expect(httpAnswerOf(new ZkPayError("too_many_failures", "slow")).headers).to.deep.equal({ "retry-after": "1" });
    expect(httpAnswerOf(new ZkPayError("invalid_payload", "bad")).headers).to.deep.equal({});
    // An oversized body is not read to its end: the connection closes after the answer.
    expect(httpAnswerOf(new ZkPayError("body_too_large", "big")).headers).to.deep.equal({ connection: "close" });
    // The session refusal header: base64 JSON with whether buying again helps.
    expect(SESSION_REFUSED_HEADER).to.equal(SESSION_REFUSAL_HEADER);
    const decode = (h: string) => JSON.parse(atob(h)) as Record<string, unknown>;
    expect(decode(sessionRefusedHeader(new ZkPayError("tier_too_low", "low")))).to.deep.equal({
      error: "tier_too_low",
      message: "low",
      buy: true,
    });
    expect(decode(sessionRefusedHeader(new ZkPayError("stale_presentation", "old"), { now: 7 }))).to.include({
      buy: false,
      now: 7,
    });
  });

  describe("the gate and the facilitator service answer real refusals with the table's status", function () {
    let env: Env;
    let svc: RunningService;
    let api: Awaited<ReturnType<Env["api"]>>;
    let down: { url: string; close: () => Promise<void> };
    const payee = account(3).address;

    before(async function () {
      env = await startEnv();
      svc = await startService(env, { relayerIndex: 5, limits: { burst: 3, perSecond: 0.01 } });
      // One refused payment per client and window: the next one is 429.
      api = await env.api({ payTo: payee, limits: { maxFailuresPerClient: 1 }, trustProxy: true });
      // An API whose remote facilitator does not answer (nothing listens on its port).
      const dead = express().listen(0, "127.0.0.1");
      await once(dead, "listening");
      const deadUrl = `http://127.0.0.1:${(dead.address() as AddressInfo).port}`;
      await new Promise<void>((r) => dead.close(() => r()));
      const { resourceServer, network } = createZkRemoteResourceServer({
        facilitatorClient: new HTTPFacilitatorClient({ url: deadUrl }),
        pool: { chainId: env.pool.chainId, facilitator: env.pool.facilitator, token: env.pool.token, decimals: 6 },
        challengeSecret: "reason-status-secret-0123456789",
        retryAfterSeconds: 4,
      });
      const app = express();
      app.use(
        zkPaymentMiddleware(
          { "GET /paid": { accepts: { scheme: "zk-exact", network, payTo: payee, price: "$0.01" } } },
          resourceServer,
        ),
      );
      app.get("/paid", (_req, res) => res.json({ ok: true }));
      const server: Server = app.listen(0, "127.0.0.1");
      await once(server, "listening");
      down = {
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        close: () => new Promise<void>((r) => server.close(() => r())),
      };
    });

    after(async function () {
      await down?.close();
      await api?.close();
      await svc?.close();
      await env?.chain.close();
      await shutdownProver();
    });

    const expectTable = (a: Answer, reason: ZkReasonCode) => {
      expect(a.body.error).to.equal(reason);
      expect(a.status, reason).to.equal(REASON_HTTP[reason].status);
      if (REASON_HTTP[reason].retryAfter) expect(Number(a.headers.get("retry-after")), reason).to.be.greaterThan(0);
      else expect(a.headers.get("retry-after"), reason).to.equal(null);
    };

    it("gate: malformed (400) and oversized (431) PAYMENT-SIGNATURE, then 429 too_many_failures", async function () {
      const from = { "X-Forwarded-For": "198.51.100.1" };
      const malformed = await get(`${api.url}/weather`, { ...from, "PAYMENT-SIGNATURE": "%%%" });
      expectTable(malformed, "malformed_header");
      // The refused payment counted: this client's budget (1) is spent.
      const limited = await get(`${api.url}/weather`, { ...from, "PAYMENT-SIGNATURE": "%%%" });
      expectTable(limited, "too_many_failures");
      const oversized = await get(`${api.url}/weather`, {
        "X-Forwarded-For": "198.51.100.2",
        "PAYMENT-SIGNATURE": "A".repeat(12_000),
      });
      expectTable(oversized, "header_too_large");
      // An unpaid request is x402's own 402, untouched by the table.
      expect((await fetch(`${api.url}/weather`)).status).to.equal(402);
    });

    it("gate: 503 facilitator_unavailable with the facilitator's Retry-After while it does not answer", async function () {
      const a = await get(`${down.url}/paid`);
      expectTable(a, "facilitator_unavailable");
      expect(a.headers.get("retry-after")).to.equal("4");
      expect(a.body.details).to.deep.equal({ retryAfterSeconds: 4 });
      // A free route is served.
      expect((await fetch(`${down.url}/free`)).status).to.equal(404);
    });

    it("service: 400 invalid_payload, 413 body_too_large, 429 rate_limited", async function () {
      const bad = await post<Answer["body"]>(`${svc.url}/verify`, "{not json");
      expect(bad.body.error).to.equal("invalid_payload");
      expect(bad.status).to.equal(REASON_HTTP.invalid_payload.status);
      // Declared over the limit (64 KiB): refused before it is read, as the table says.
      const big = await fetch(`${svc.url}/settle`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: `{"x":"${"a".repeat(70_000)}"}`,
        signal: AbortSignal.timeout(10_000),
      });
      expectTable(
        { status: big.status, headers: big.headers, body: (await big.json()) as Answer["body"] },
        "body_too_large",
      );
      // burst 3: the requests above spent it (a refused payload costs nothing more here).
      let limited: Answer | undefined;
      for (let i = 0; i < 5 && !limited; i++) {
        const r = await fetch(`${svc.url}/verify`, { method: "POST", body: "{}", signal: AbortSignal.timeout(10_000) });
        if (r.status === 429)
          limited = { status: r.status, headers: r.headers, body: (await r.json()) as Answer["body"] };
        else await r.body?.cancel();
      }
      expect(limited, "429 within the burst").to.not.equal(undefined);
      expectTable(limited!, "rate_limited");
    });
  });
});
