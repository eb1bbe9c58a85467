/**
 * Fuzz harness (issue #16, hardening): property-based (fast-check), seeded, over every
 * wire decoder in-process and every HTTP entry point over real HTTP on 127.0.0.1:
 *
 *  - PAYMENT-SIGNATURE on an express API built with the SDK (zkPaymentMiddleware);
 *  - the `zk-session` header and the `zk_session` JSON body field (zkSessionMiddleware);
 *  - the facilitator service's POST /verify, /settle and /relay.
 *
 * Every input starts from a VALID wire object made once per run from real proofs (one
 * payment header, one presentation, one service payment) and is mutated structurally
 * (test/helpers/fuzz-gen.ts): wrong types, 2^64 / 2^256 / field edges, negatives, hex of
 * the wrong length, deep nesting, long and unicode strings, missing and extra fields,
 * `__proto__` keys, broken base64 and JSON, oversize values.
 *
 * Properties: no answer is a 5xx, every request is answered (no crash: the connection
 * never fails, and the server still answers a plain request afterwards), every request
 * is answered within REQUEST_TIMEOUT_MS (no hang), and no promise rejection goes
 * unhandled in the process. Decoders in-process: they return or refuse with a typed
 * error, never throw anything else, and what they accept is usable downstream (ABI
 * encoding, BigInt conversion, hashing).
 *
 * Split (CI time: the servers and the client share this process): per entry point,
 * FUZZ_RUNS (default 10,000) inputs go through the decoders that entry point runs,
 * in-process (the bulk, ~1 s each), and FUZZ_HTTP_RUNS (default a quarter of FUZZ_RUNS,
 * 2,500) inputs from the same generators go over real HTTP (keep-alive, BATCH requests in
 * flight) to the running servers: 12,500 per entry point. The seed is printed;
 * `FUZZ_SEED=<n>` reproduces a run, `FUZZ_RUNS` / `FUZZ_HTTP_RUNS` scale it, and a failing
 * case is printed with its seed and fast-check path (`FUZZ_PATH` replays just that case).
 */
import { Agent, request as httpRequest } from "node:http";

import { expect } from "chai";
import { PaymentPayloadV2Schema, PaymentRequirementsV2Schema } from "@x402/core/schemas";
import fc from "fast-check";
import { encodeFunctionData, getAddress, type Address, type Hex } from "viem";

import { facilitatorAbi } from "../../sdk/core/abi.js";
import { isZkPayError } from "../../sdk/core/errors.js";
import { shutdownProver } from "../../sdk/core/prover.js";
import {
  ChallengeSchema,
  MAX_PAYMENT_HEADER_BYTES,
  ZkPaymentPayloadSchema,
  ZkRequirementExtraSchema,
  conditionHashOf,
  payeeMemoOf,
  proofFromWire,
} from "../../sdk/core/wire.js";
import { presentationArtifacts } from "../../sdk/node/artifacts.js";
import { requestContext } from "../../sdk/session/context.js";
import { provePresentation } from "../../sdk/session/prove.js";
import { MemorySessionStore } from "../../sdk/session/store.js";
import {
  MAX_PRESENTATION_BYTES,
  RecoverRequestSchema,
  SESSION_HEADER,
  SESSION_REFUSAL_HEADER,
  SESSION_WELL_KNOWN,
  SessionInfoSchema,
  credentialFromWire,
  decodePresentationHeader,
  presentationFromWire,
  presentationSignals,
  presentationToWire,
} from "../../sdk/session/wire.js";
import { base64JsonHeader, jsonBody, mutatedJson, viaJson, type Json } from "../helpers/fuzz-gen.js";
import { preparedPayment, remoteApi, startService, type RunningService } from "../helpers/service.js";
import { sessionApi, sessionClient } from "../helpers/session-env.js";
import { account, decodeHeader, startEnv, type Env } from "../helpers/x402-env.js";

const DEFAULT_SEED = 402_016;
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : DEFAULT_SEED;
/** Inputs per entry point through its decoders in-process (the bulk). */
const RUNS = process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : 10_000;
/** Inputs per entry point over real HTTP (a quarter of RUNS by default: CI time). */
const HTTP_RUNS = process.env.FUZZ_HTTP_RUNS ? Number(process.env.FUZZ_HTTP_RUNS) : Math.ceil(RUNS / 4);
/** Requests in flight at once per entry point (one fast-check run sends one batch). */
const BATCH = 16;
/** Longest an answer may take: a request still unanswered after this is a hang. */
const REQUEST_TIMEOUT_MS = 15_000;
/** Largest JSON body zkSessionMiddleware reads itself (sdk/express/session.ts). */
const SESSION_MAX_BODY = 1024 * 1024;
/** The facilitator service's default body limit (sdk/service/http.ts). */
const SERVICE_MAX_BODY = 64 * 1024;

/** Limits that never refuse the fuzzer for its volume: every input reaches the decoders. */
const OPEN_LIMITS = {
  maxFailuresPerClient: 1_000_000_000,
  queue: { concurrency: 2, maxQueued: 100_000, maxQueuedPerClient: 100_000 },
};

interface Answer {
  status: number;
  reason: string;
  ms: number;
}

/** One HTTP request on a keep-alive agent; rejects on a connection failure or after REQUEST_TIMEOUT_MS. */
function send(
  agent: Agent,
  url: string,
  o: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  const t0 = performance.now();
  return new Promise<Answer>((resolve, reject) => {
    const body = o.body === undefined ? undefined : Buffer.from(o.body, "utf8");
    const req = httpRequest(
      url,
      {
        agent,
        method: o.method ?? "GET",
        headers: { ...o.headers, ...(body ? { "content-length": String(body.length) } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({ status: res.statusCode ?? 0, reason: reasonOf(res.headers, text), ms: performance.now() - t0 });
        });
      },
    );
    req.setTimeout(REQUEST_TIMEOUT_MS, () =>
      req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms (hang)`)),
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** The stable reason of an answer: JSON `error`, x402's PAYMENT-REQUIRED error, or a session refusal. */
function reasonOf(headers: Record<string, string | string[] | undefined>, body: string): string {
  const one = (h: string | string[] | undefined) => (Array.isArray(h) ? h[0] : h);
  try {
    const refused = decodeHeader<{ error?: string }>(one(headers[SESSION_REFUSAL_HEADER]) ?? null);
    if (refused?.error) return `session:${refused.error}`;
  } catch {
    /* not ours */
  }
  try {
    const required = decodeHeader<{ error?: string }>(one(headers["payment-required"]) ?? null);
    if (required?.error) return `x402:${required.error.split(":")[0]}`;
  } catch {
    /* not JSON */
  }
  try {
    const j = JSON.parse(body) as {
      error?: unknown;
      invalidReason?: unknown;
      errorReason?: unknown;
      isValid?: unknown;
      success?: unknown;
    };
    const r = j.error ?? j.invalidReason ?? j.errorReason;
    if (typeof r === "string") return r;
    if (j.isValid === true || j.success === true) return "ok";
  } catch {
    /* not JSON */
  }
  return "-";
}

/** A short, printable form of a fuzz input for a failure message. */
function show(x: unknown): string {
  const s = typeof x === "string" ? x : JSON.stringify(x);
  return s.length > 600 ? `${s.slice(0, 600)}... (${s.length} chars)` : s;
}

describe("fuzz: wire decoders and HTTP entry points (issue #16)", function () {
  let env: Env;
  let payTo: Address;
  let api: Awaited<ReturnType<Env["api"]>>;
  let sessions: Awaited<ReturnType<typeof sessionApi>>;
  let service: RunningService;
  let remote: Awaited<ReturnType<typeof remoteApi>>;
  /** Valid inputs, one per kind, from real proofs. */
  const valid = {} as {
    paymentHeader: Json;
    presentation: Json;
    orderBody: Record<string, Json>;
    credential: Json;
    recover: Json;
    sessionInfo: Json;
    envelope: Record<string, Json>;
    relay: Json;
  };
  const agent = new Agent({ keepAlive: true, maxSockets: BATCH });
  const rejections: unknown[] = [];
  const onRejection = (r: unknown) => rejections.push(r);
  const fcParams = (numRuns: number): fc.Parameters<unknown> => ({
    seed: SEED,
    numRuns,
    // Reproduce one failing case: FUZZ_SEED and the printed path.
    ...(process.env.FUZZ_PATH ? { path: process.env.FUZZ_PATH } : {}),
  });

  before(async function () {
    console.log(
      `      fuzz seed ${SEED} (FUZZ_SEED to reproduce); per entry point ${RUNS} inputs in-process (FUZZ_RUNS) ` +
        `and ${HTTP_RUNS} over HTTP (FUZZ_HTTP_RUNS)`,
    );
    process.on("unhandledRejection", onRejection);
    const t0 = performance.now();
    env = await startEnv();
    payTo = account(4).address;

    // PAYMENT-SIGNATURE: one real server-settled payment for GET /weather.
    api = await env.api({ payTo, limits: OPEN_LIMITS, challengeTtlSeconds: 3600 });
    const p1 = await env.payer(13, { deposit: 1_000_000n });
    valid.paymentHeader = decodeHeader<Json>(await env.preparedHeader(p1.wallet, `${api.url}/weather`))!;

    // Sessions: buy a credential (one payment proof, one presentation), then prove one
    // presentation bound to POST /order {item: 7}. The service's clock is frozen so the
    // presentation stays current for the whole run (its checks run to the pairing).
    const frozen = Math.floor(Date.now() / 1000);
    sessions = await sessionApi(env, { payTo, limits: OPEN_LIMITS, now: () => frozen });
    const p2 = await env.payer(14, { deposit: 2_000_000n });
    const store = new MemorySessionStore();
    const client = await sessionClient(p2.wallet, {
      store,
      buy: (offers) => offers.find((o) => o.id === "pro"),
      payPerRequest: false,
    });
    const bought = await client.fetch(`${sessions.url}/data`);
    expect(bought.status, `the fixture's credential purchase: ${await bought.text()}`).to.equal(200);
    expect(client.lastRequest?.mode, "the fixture's credential purchase").to.equal("bought");
    const stored = (await store.load())!.credentials[0]!;
    const credential = credentialFromWire(stored);
    const orderBody = { item: 7 };
    const presentation = await provePresentation(
      {
        credential,
        holder: p2.wallet.credentialSecrets(BigInt(stored.salt)),
        index: stored.nextIndex,
        requiredTier: 1,
        now: sessions.sessions.currentTime(),
        originId: credential.serviceId,
        context: requestContext("POST", "/order", JSON.stringify(orderBody)),
      },
      presentationArtifacts(),
    );
    valid.presentation = presentationToWire(presentation) as unknown as Json;
    valid.orderBody = { ...orderBody, zk_session: valid.presentation };
    const { nextIndex: _n, salt: _s, origin: _o, ...credentialWire } = stored as unknown as Record<string, Json>;
    valid.credential = credentialWire;
    valid.sessionInfo = sessions.sessions.info({ requiredTier: 1 }) as unknown as Json;
    valid.recover = {
      offerId: "pro",
      holderCommitment: stored.holderCommitment,
      receiptId: stored.receiptId,
      challenge: { id: `0x${"11".repeat(16)}`, exp: frozen + 60, mac: `0x${"22".repeat(32)}` },
    };

    // The facilitator service: one real payment prepared for an API that uses it.
    service = await startService(env, { limits: { burst: 1e12, perSecond: 1e12 } });
    remote = await remoteApi(env, { facilitatorUrl: service.url, payTo });
    const p3 = await env.payer(15, { deposit: 1_000_000n });
    const { paymentPayload, paymentRequirements } = await preparedPayment(env, p3.wallet, remote.url);
    valid.envelope = {
      x402Version: 2,
      paymentPayload: paymentPayload as unknown as Json,
      paymentRequirements: paymentRequirements as unknown as Json,
    };
    valid.relay = { x402Version: 2, payload: paymentPayload.payload as unknown as Json };
    console.log(`      fixtures (3 payment proofs, 2 presentations) in ${Math.round(performance.now() - t0)} ms`);
  });

  after(async function () {
    process.off("unhandledRejection", onRejection);
    agent.destroy();
    await remote?.close();
    await service?.close();
    await sessions?.close();
    await api?.close();
    await env?.chain.close();
    await shutdownProver();
  });

  /** Fails with what went unhandled since the last check. */
  function expectNoUnhandledRejections(): void {
    const seen = rejections.splice(0);
    expect(
      seen.map((r) => (r instanceof Error ? (r.stack ?? r.message) : String(r))),
      "unhandled rejections",
    ).to.deep.equal([]);
  }

  // ------------------------------------------------------------------ in-process decoders

  /**
   * A decoder either accepts (returns) or refuses with a ZkPayError / a zod failure; it
   * never throws anything else (TypeError, RangeError, SyntaxError) and never takes long.
   */
  function decoderProperty<T>(name: string, arb: fc.Arbitrary<T>, decode: (x: T) => void): void {
    const slow: string[] = [];
    fc.assert(
      fc.property(arb, (x) => {
        const t0 = performance.now();
        try {
          decode(x);
        } catch (err) {
          if (!isZkPayError(err)) throw new Error(`${name} threw ${String(err)} for ${show(x)}`, { cause: err });
        }
        const ms = performance.now() - t0;
        if (ms > 200) slow.push(`${Math.round(ms)} ms for ${show(x)}`);
      }),
      fcParams(RUNS),
    );
    expect(slow, `${name}: inputs that took over 200 ms`).to.deep.equal([]);
  }

  /** What a server does first with a base64 JSON header: undefined where it answers 400 malformed_header. */
  function base64Json(h: string): unknown {
    try {
      return JSON.parse(Buffer.from(h, "base64").toString("utf8"));
    } catch {
      return undefined;
    }
  }

  /**
   * What settlement does with an accepted server-settled payload (sdk/service/settler.ts,
   * sdk/facilitator/scheme.ts: getAddress, BigInt, proofFromWire, ABI encoding): a number
   * out of the contract's range, or an address getAddress refuses, throws here.
   */
  function settleable(payload: unknown): void {
    const r = ZkPaymentPayloadSchema.safeParse(payload);
    if (!r.success) return;
    if (r.data.credential) BigInt(r.data.credential.commitment);
    if (r.data.settlement !== "server") return;
    const t = r.data.terms;
    encodeFunctionData({
      abi: facilitatorAbi,
      functionName: "pay",
      args: [
        proofFromWire(r.data.proof),
        {
          payTo: getAddress(t.payTo),
          amount: BigInt(t.amount),
          relayer: getAddress(t.relayer),
          fee: BigInt(t.fee),
          conditionHash: t.conditionHash as Hex,
          expiry: BigInt(t.expiry),
        },
        r.data.memo as Hex,
        payeeMemoOf(r.data),
      ],
    });
  }

  describe(`in-process decoders, by entry point (${RUNS} inputs each)`, function () {
    it("PAYMENT-SIGNATURE: the payload schema refuses or yields a payment that converts and ABI-encodes", function () {
      // With the optional `credential` of a session purchase, so that it is fuzzed too.
      const header = valid.paymentHeader as { payload: Record<string, Json> } & Record<string, Json>;
      const base = { ...header, payload: { ...header.payload, credential: { commitment: "7" } } };
      decoderProperty(
        "PAYMENT-SIGNATURE payload",
        base64JsonHeader(base, { maxBytes: MAX_PAYMENT_HEADER_BYTES }),
        (h) => {
          const decoded = base64Json(h) as { payload?: unknown } | null | undefined;
          if (decoded !== null && typeof decoded === "object") settleable(decoded.payload);
        },
      );
      // A 402's extra, read by payers: an accepted challenge hashes.
      decoderProperty("ZkRequirementExtraSchema", mutatedJson(header.accepted!).map(viaJson), (x) => {
        const extra = (x as { extra?: unknown } | null)?.extra;
        const r = ZkRequirementExtraSchema.safeParse(extra);
        if (r.success) conditionHashOf(r.data.challenge);
        const c = ChallengeSchema.safeParse((extra as { challenge?: unknown } | null)?.challenge);
        if (c.success) conditionHashOf(c.data);
      });
    });

    it("zk-session header: decodePresentationHeader refuses with a typed error or yields public signals", function () {
      decoderProperty(
        "decodePresentationHeader",
        base64JsonHeader(valid.presentation, { maxBytes: MAX_PRESENTATION_BYTES }),
        (h) => {
          presentationSignals(decodePresentationHeader(h));
        },
      );
    });

    it("zk_session body: presentationFromWire on the body's field refuses with a typed error or yields public signals", function () {
      decoderProperty("presentationFromWire", jsonBody(valid.orderBody, { maxBytes: 64 * 1024 }), (text) => {
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          return; // 400 invalid_payload
        }
        const field =
          body !== null && typeof body === "object" ? (body as Record<string, unknown>).zk_session : undefined;
        if (field !== undefined) presentationSignals(presentationFromWire(field));
      });
    });

    it("service /verify and /settle: x402's envelope schemas, then the zk-exact payload", function () {
      decoderProperty("service envelope", jsonBody(valid.envelope, { maxBytes: SERVICE_MAX_BODY }), (text) => {
        let body: { paymentPayload?: unknown; paymentRequirements?: unknown } | undefined;
        try {
          body = JSON.parse(text) as typeof body;
        } catch {
          return; // 400
        }
        if (body === null || typeof body !== "object") return;
        PaymentRequirementsV2Schema.safeParse(body.paymentRequirements);
        const pp = PaymentPayloadV2Schema.safeParse(body.paymentPayload);
        if (pp.success) settleable(pp.data.payload);
      });
    });

    it("service /relay: the zk-exact payload", function () {
      decoderProperty("relay body", mutatedJson(valid.relay).map(viaJson), (x) => {
        settleable((x as { payload?: unknown } | null)?.payload);
      });
    });

    it("session recovery, stored credentials, session terms: typed refusals only", function () {
      decoderProperty("RecoverRequestSchema", mutatedJson(valid.recover).map(viaJson), (x) => {
        const r = RecoverRequestSchema.safeParse(x);
        if (r.success) BigInt(r.data.holderCommitment);
      });
      decoderProperty("credentialFromWire", mutatedJson(valid.credential).map(viaJson), (x) => {
        credentialFromWire(x);
      });
      decoderProperty("SessionInfoSchema", mutatedJson(valid.sessionInfo).map(viaJson), (x) => {
        SessionInfoSchema.safeParse(x);
      });
    });
  });

  // ------------------------------------------------------------------ HTTP entry points

  /**
   * Sends RUNS generated requests to one entry point, BATCH at a time over keep-alive
   * connections, and checks: no 5xx, every request answered in time, no unhandled
   * rejection; then that the server still answers `alive`. Returns the answers' histogram
   * (status and reason), which must show that inputs got past the first checks.
   */
  async function httpProperty<T>(
    name: string,
    arb: fc.Arbitrary<T>,
    toRequest: (x: T) => { url: string; method?: string; headers?: Record<string, string>; body?: string },
    alive: () => Promise<unknown>,
  ): Promise<Record<string, number>> {
    const histogram: Record<string, number> = {};
    let slowest = 0;
    const t0 = performance.now();
    await fc.assert(
      fc.asyncProperty(fc.array(arb, { minLength: BATCH, maxLength: BATCH }), async (inputs) => {
        const answers = await Promise.all(
          inputs.map(async (x) => {
            const r = toRequest(x);
            try {
              return { x, a: await send(agent, r.url, r) };
            } catch (err) {
              return { x, err: err instanceof Error ? err.message : String(err) };
            }
          }),
        );
        for (const { x, a, err } of answers) {
          if (err !== undefined) throw new Error(`${name}: no answer (${err}) to ${show(x)}`);
          if (a!.status >= 500) throw new Error(`${name}: HTTP ${a!.status} ${a!.reason} for ${show(x)}`);
          const key = `${a!.status} ${a!.reason}`;
          histogram[key] = (histogram[key] ?? 0) + 1;
          slowest = Math.max(slowest, a!.ms);
        }
      }),
      fcParams(Math.ceil(HTTP_RUNS / BATCH)),
    );
    const sent = Object.values(histogram).reduce((a, b) => a + b, 0);
    console.log(
      `      ${name}: ${sent} requests in ${Math.round(performance.now() - t0)} ms, slowest ${Math.round(slowest)} ms; ` +
        Object.entries(histogram)
          .sort((a, b) => b[1] - a[1])
          .map(([k, v]) => `${k} x${v}`)
          .join(", "),
    );
    expectNoUnhandledRejections();
    await alive();
    return histogram;
  }

  const count = (h: Record<string, number>, prefix: string) =>
    Object.entries(h)
      .filter(([k]) => k.startsWith(prefix))
      .reduce((a, [, v]) => a + v, 0);

  describe(`HTTP entry points (${HTTP_RUNS} requests each)`, function () {
    it("PAYMENT-SIGNATURE on an SDK express API: no 5xx, no crash, no hang", async function () {
      const url = `${api.url}/weather`;
      const h = await httpProperty(
        "PAYMENT-SIGNATURE",
        base64JsonHeader(valid.paymentHeader, { maxBytes: MAX_PAYMENT_HEADER_BYTES }),
        (header) => ({ url, headers: { "PAYMENT-SIGNATURE": header } }),
        async () => expect((await send(agent, url)).status, "a plain request after the fuzz").to.equal(402),
      );
      // Structure-aware: inputs passed the header guard and were refused by x402 / the scheme.
      expect(count(h, "400 "), "refused by the header guard").to.be.greaterThan(0);
      expect(count(h, "402 "), "refused after decoding").to.be.greaterThan(0);
    });

    it("zk-session header on a session route: no 5xx, no crash, no hang", async function () {
      const url = `${sessions.url}/data`;
      const h = await httpProperty(
        "zk-session header",
        base64JsonHeader(valid.presentation, { maxBytes: MAX_PRESENTATION_BYTES }),
        (header) => ({ url, headers: { [SESSION_HEADER]: header } }),
        async () => expect((await send(agent, url)).status, "a plain request after the fuzz").to.equal(402),
      );
      expect(count(h, "400 "), "malformed presentations").to.be.greaterThan(0);
      expect(count(h, "402 session:"), "presentations refused after decoding").to.be.greaterThan(0);
    });

    it("zk_session in a JSON body on a request-bound route: no 5xx, no crash, no hang", async function () {
      const url = `${sessions.url}/order`;
      const types = ["application/json", "application/json; charset=utf-8", "text/plain", "application/x-json-ish"];
      const h = await httpProperty(
        "zk_session body",
        fc.tuple(jsonBody(valid.orderBody, { maxBytes: SESSION_MAX_BODY }), fc.constantFrom(0, 0, 0, 0, 1, 2, 3)),
        ([body, t]) => ({ url, method: "POST", headers: { "content-type": types[t]! }, body }),
        async () =>
          expect((await send(agent, url, { method: "POST" })).status, "a plain request after the fuzz").to.equal(402),
      );
      expect(count(h, "400 "), "malformed bodies").to.be.greaterThan(0);
      expect(count(h, "402 session:"), "presentations refused after decoding").to.be.greaterThan(0);
    });

    it("session recovery POST /.well-known/402zk/sessions/recover: no 5xx, no crash, no hang", async function () {
      const url = `${sessions.url}${SESSION_WELL_KNOWN}/recover`;
      const h = await httpProperty(
        "sessions/recover",
        jsonBody(valid.recover, { maxBytes: SESSION_MAX_BODY }),
        (body) => ({ url, method: "POST", headers: { "content-type": "application/json" }, body }),
        async () => expect((await send(agent, `${sessions.url}${SESSION_WELL_KNOWN}`)).status).to.equal(200),
      );
      expect(count(h, "400 invalid_payload"), "refused by the schema").to.be.greaterThan(0);
      // Decoded, then refused by the issuance checks (the challenge's MAC is not the server's).
      expect(count(h, "409 "), "refused after decoding").to.be.greaterThan(0);
    });

    for (const path of ["/verify", "/settle", "/relay"] as const) {
      it(`facilitator service POST ${path}: no 5xx, no crash, no hang`, async function () {
        const base = path === "/relay" ? valid.relay : valid.envelope;
        const h = await httpProperty(
          `service ${path}`,
          jsonBody(base, { maxBytes: SERVICE_MAX_BODY }),
          (body) => ({
            url: `${service.url}${path}`,
            method: "POST",
            headers: { "content-type": "application/json" },
            body,
          }),
          async () => {
            const health = await send(agent, `${service.url}/health`);
            expect(health.status, "GET /health after the fuzz").to.equal(200);
          },
        );
        expect(count(h, "400 "), "refused by the schemas").to.be.greaterThan(0);
        // Decoded and refused by the payment checks (200 with isValid/success false).
        expect(count(h, "200 "), "refused after decoding").to.be.greaterThan(0);
        expect(
          service.lines.filter((l) => l.level === "error").map((l) => l.msg),
          "error-level log lines",
        ).to.deep.equal([]);
      });
    }
  });
});
