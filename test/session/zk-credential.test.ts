import { once } from "node:events";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";

import type { PaymentPayload, PaymentRequired, PaymentRequirements } from "@x402/core/types";
import { x402Client } from "@x402/core/client";
import { wrapFetchWithPayment } from "@x402/fetch";
import { expect } from "chai";
import express from "express";
import { getAddress, toHex, type Address, type Hex } from "viem";

import { ZkExactClientScheme } from "../../sdk/client/scheme.js";
import type { PrivateWallet } from "../../sdk/client/wallet.js";
import { shutdownProver } from "../../sdk/core/prover.js";
import { MemoryReplayStore } from "../../sdk/core/replay.js";
import { conditionHashFor, serverPayloadToWire, type ZkRequirementExtra } from "../../sdk/core/wire.js";
import { zkSessionMiddleware } from "../../sdk/express/index.js";
import { loadPresentationVerificationKey, presentationArtifacts } from "../../sdk/node/artifacts.js";
import { createZkResourceServer } from "../../sdk/server/resource-server.js";
import { credentialSignatureValid, holderCommitmentOf, type Credential } from "../../sdk/session/credential.js";
import { requestContext } from "../../sdk/session/context.js";
import { provePresentation } from "../../sdk/session/prove.js";
import { SessionService, type SessionOfferConfig } from "../../sdk/session/service.js";
import { MemorySessionStore } from "../../sdk/session/store.js";
import { SESSION_REFUSAL_HEADER, credentialFromWire, type SessionRefusal } from "../../sdk/session/wire.js";
import {
  ZK_CREDENTIAL_ENVELOPE_FIELD,
  ZK_CREDENTIAL_EXTENSION,
  ZK_CREDENTIAL_SUITE,
  ZK_CREDENTIAL_VERSION,
  credentialWireOf,
  encodeHolderCommitment,
  fieldToBase64url,
  presentationToEnvelope,
  zkCredentialClientExtension,
  zkCredentialFromPaymentResponse,
  type ZkCredentialDeclaration,
  type ZkCredentialEnvelope,
} from "../../sdk/session/zk-credential.js";
import { ISSUER_KEY, sessionClient } from "../helpers/session-env.js";
import { account, decodeHeader, startEnv, type Env } from "../helpers/x402-env.js";

/** The offers of the test service (small bundles: every presentation is a real proof). */
const OFFERS: SessionOfferConfig[] = [
  { id: "basic", tier: 1, durationSeconds: 3600, maxPresentations: 3, price: 30_000n },
  { id: "pro", tier: 2, durationSeconds: 3600, maxPresentations: 10, price: 200_000n },
];
const PURCHASE = `/.well-known/402zk/sessions/buy/basic`;
const RECOVER = `/.well-known/402zk/sessions/recover`;

/**
 * A session API on 127.0.0.1: GET /data (tier 1, today's header), POST /report (tier 1,
 * for the spec's body envelope) and POST /order (tier 1, presentations bound to the
 * request); credentials sold at the purchase routes, which declare `zk-credential`.
 */
async function credentialApi(env: Env, o: { payTo: Address; relayerIndex: number; minConfirmations?: number }) {
  const replay = new MemoryReplayStore();
  const zk = createZkResourceServer({
    pool: { ...env.pool, decimals: 6 },
    publicClient: env.publicClient,
    walletClient: env.walletClientFor(o.relayerIndex),
    vkey: env.vkey,
    vkeySha256: env.vkeySha256,
    challengeSecret: "zk-credential-test-secret-0123456789",
    replay,
    verifyIn: "main",
  });
  const sessions = await SessionService.create({
    issuerKey: ISSUER_KEY,
    offers: OFFERS,
    vkey: loadPresentationVerificationKey(),
    replay,
    pool: { facilitator: env.pool.facilitator, chainId: env.pool.chainId },
    payTo: o.payTo,
    publicClient: env.publicClient,
    challenges: zk.challenges,
    minConfirmations: o.minConfirmations,
  });
  const accepts = {
    scheme: "zk-exact",
    network: zk.network,
    payTo: o.payTo,
    price: { amount: "10000", asset: env.pool.token },
  };
  const seen: { path: string; body: unknown; session: unknown }[] = [];
  const app = express();
  app.use(
    zkSessionMiddleware(
      {
        "GET /data": { accepts, session: { requiredTier: 1 } },
        "POST /report": { accepts, session: { requiredTier: 1 } },
        "POST /order": { accepts, session: { requiredTier: 1, bindRequest: true } },
      },
      zk.resourceServer,
      sessions,
      { network: zk.network, asset: env.pool.token },
    ),
  );
  app.use(express.json());
  const handler: express.RequestHandler = (req, res) => {
    seen.push({ path: req.path, body: req.body ?? null, session: res.locals.zkSession ?? null });
    res.json({ ok: true, path: req.path });
  };
  app.get("/data", handler);
  app.post("/report", handler);
  app.post("/order", handler);
  const server: Server = app.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    sessions,
    seen,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

type Api = Awaited<ReturnType<typeof credentialApi>>;

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64");

/**
 * A payment for the "basic" offer built by hand, as a client written to the spec does: the
 * 402 read with fetch, the zk-exact payload proven with the SDK's wallet (its condition
 * binds the holder commitment), the extension echoed with `info.commitment` added.
 */
async function handMadePurchase(api: Api, wallet: PrivateWallet) {
  const res = await fetch(`${api.url}${PURCHASE}`, { method: "POST" });
  expect(res.status).to.equal(402);
  const required = decodeHeader<PaymentRequired>(res.headers.get("PAYMENT-REQUIRED"))!;
  const declared = required.extensions?.[ZK_CREDENTIAL_EXTENSION] as ZkCredentialDeclaration;
  const accepted = required.accepts[0] as PaymentRequirements;
  const x = accepted.extra as unknown as ZkRequirementExtra;
  const salt = 0x5a17n + BigInt(Date.now());
  const holder = wallet.credentialSecrets(salt);
  const commitment = holderCommitmentOf(holder);
  const prepared = await wallet.preparePayment({
    payTo: getAddress(accepted.payTo),
    amount: BigInt(accepted.amount),
    fee: BigInt(x.fee),
    relayer: getAddress(x.relayer),
    conditionHash: conditionHashFor(x.challenge, commitment),
    expiry: BigInt(x.challenge.exp),
  });
  const base: PaymentPayload = {
    x402Version: 2,
    resource: required.resource,
    accepted,
    payload: { ...serverPayloadToWire(prepared), credential: { commitment: commitment.toString() } },
  };
  /** The payment with the declaration echoed, `info` changed by `info` (and `ext` replacing the whole entry). */
  const withInfo = (info: Record<string, unknown>, ext?: unknown): PaymentPayload => ({
    ...base,
    extensions: {
      [ZK_CREDENTIAL_EXTENSION]: ext !== undefined ? ext : { ...declared, info: { ...declared.info, ...info } },
    },
  });
  return { declared, accepted, holder, salt, commitment, prepared, withInfo, challenge: x.challenge };
}

function pay(api: Api, path: string, payment: PaymentPayload | Record<string, unknown>) {
  return fetch(`${api.url}${path}`, { method: "POST", headers: { "PAYMENT-SIGNATURE": b64(payment) } });
}

/** A presentation in the spec's envelope, posted as JSON with the application body in `payload`. */
function present(api: Api, path: string, envelope: ZkCredentialEnvelope | Record<string, unknown>, payload: unknown) {
  return fetch(`${api.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ [ZK_CREDENTIAL_ENVELOPE_FIELD]: envelope, payload }),
  });
}

describe("session credentials through x402's zk-credential extension (spec v0.1.0)", function () {
  let env: Env;
  let api: Api;
  const payee = account(5).address;

  before(async function () {
    env = await startEnv();
    api = await credentialApi(env, { payTo: payee, relayerIndex: 1 });
  });

  after(async function () {
    await api?.close();
    await env?.chain.close();
    await shutdownProver();
  });

  it("a purchase route's 402 declares zk-credential: version, suite, issuer key, service id, the offer it sells", async function () {
    const res = await fetch(`${api.url}${PURCHASE}`, { method: "POST" });
    expect(res.status).to.equal(402);
    const required = decodeHeader<PaymentRequired>(res.headers.get("PAYMENT-REQUIRED"))!;
    const declared = required.extensions?.[ZK_CREDENTIAL_EXTENSION] as ZkCredentialDeclaration;
    expect(declared.info).to.include({
      version: ZK_CREDENTIAL_VERSION,
      issuer_suite: ZK_CREDENTIAL_SUITE,
      issuer_pubkey: fieldToBase64url(...api.sessions.issuerPublicKey),
      service_id: fieldToBase64url(api.sessions.serviceId),
      offer_id: "basic",
      recover_path: RECOVER,
    });
    expect(declared.info.credential_suites).to.deep.equal([ZK_CREDENTIAL_SUITE]);
    expect(declared.info.offers.map((o) => [o.id, o.identity_limit, o.price])).to.deep.equal([
      ["basic", 3, "30000"],
      ["pro", 10, "200000"],
    ]);
    expect(declared.schema).to.have.nested.property("properties.commitment.type", "string");
  });

  it("a spec client buys through the extension (malformed extension data first: 400, nothing taken), reads the credential from PAYMENT-RESPONSE, recovers it, and presents it N times in the body envelope", async function () {
    const { wallet } = await env.payer(11, { deposit: 1_000_000n });
    const p = await handMadePurchase(api, wallet);
    const before = await env.system.token.balanceOf(payee);
    const other = holderCommitmentOf(wallet.credentialSecrets(99n));
    const good = encodeHolderCommitment(p.commitment);
    const refusals: [string, PaymentPayload, number, string, RegExp][] = [
      [
        "another suite",
        p.withInfo({ commitment: `pedersen-schnorr-poseidon-ultrahonk:${fieldToBase64url(p.commitment)}` }),
        400,
        "unsupported_suite",
        new RegExp(ZK_CREDENTIAL_SUITE),
      ],
      [
        "not a field element",
        p.withInfo({ commitment: `${ZK_CREDENTIAL_SUITE}:${fieldToBase64url((1n << 256n) - 1n)}` }),
        400,
        "invalid_payload",
        /not a BN254 field element/,
      ],
      [
        "40 bytes",
        p.withInfo({ commitment: `${ZK_CREDENTIAL_SUITE}:${Buffer.alloc(40, 1).toString("base64url")}` }),
        400,
        "invalid_payload",
        /must be 32 bytes/,
      ],
      [
        "huge",
        p.withInfo({ commitment: `${ZK_CREDENTIAL_SUITE}:${"A".repeat(1500)}` }),
        400,
        "invalid_payload",
        /at most 256/,
      ],
      [
        "not base64url",
        p.withInfo({ commitment: `${ZK_CREDENTIAL_SUITE}:$$$$` }),
        400,
        "invalid_payload",
        /not base64url/,
      ],
      ["a number", p.withInfo({ commitment: 12345 }), 400, "invalid_payload", /must be a string/],
      ["info not an object", p.withInfo({}, { info: "commitment" }), 400, "invalid_payload", /info must be an object/],
      ["entry not an object", p.withInfo({}, [good]), 400, "invalid_payload", /must be an object/],
      ["another version", p.withInfo({ commitment: good, version: "9.9.9" }), 400, "unsupported_version", /0\.1\.0/],
      [
        "another offer",
        p.withInfo({ commitment: good, offer_id: "pro" }),
        400,
        "invalid_payload",
        /sells offer basic, not pro/,
      ],
      [
        "not the proof's commitment",
        p.withInfo({ commitment: encodeHolderCommitment(other) }),
        400,
        "invalid_payload",
        /the payment's proof binds/,
      ],
    ];
    for (const [what, payment, status, reason, message] of refusals) {
      const res = await pay(api, PURCHASE, payment);
      const body = (await res.json()) as { error: string; message: string; details?: Record<string, unknown> };
      expect(res.status, what).to.equal(status);
      expect(body.error, what).to.equal(reason);
      expect(body.message, what).to.match(message);
      if (reason === "unsupported_suite") expect(body.details?.supportedSuites).to.deep.equal([ZK_CREDENTIAL_SUITE]);
    }
    // A commitment on a route that sells no credential: 400, naming where they are sold.
    const elsewhere = await pay(api, "/report", p.withInfo({ commitment: good }));
    expect(elsewhere.status).to.equal(400);
    expect(((await elsewhere.json()) as { message: string }).message).to.include(PURCHASE);
    // None of them was settled: the payee has nothing, and the same proof still pays.
    expect(await env.system.token.balanceOf(payee)).to.equal(before);

    const res = await pay(api, PURCHASE, p.withInfo({ commitment: good }));
    expect(res.status).to.equal(200);
    expect(await env.system.token.balanceOf(payee)).to.equal(before + OFFERS[0]!.price);
    const settle = decodeHeader<{
      success: boolean;
      extensions?: Record<string, { credential?: Record<string, unknown> }>;
    }>(res.headers.get("PAYMENT-RESPONSE"))!;
    expect(settle.success).to.equal(true);
    const spec = settle.extensions?.[ZK_CREDENTIAL_EXTENSION]?.credential;
    expect(spec).to.include({
      suite: ZK_CREDENTIAL_SUITE,
      tier: 1,
      identity_limit: 3,
      commitment: good,
      offer_id: "basic",
    });
    const receiptId = toHex(p.prepared.proof.nullifierHash, { size: 32 });
    expect(spec?.receipt_id).to.equal(receiptId);
    // The issuer's signature verifies, over the commitment this client holds.
    const wire = credentialWireOf(spec);
    const credential: Credential = credentialFromWire(wire);
    expect(credentialSignatureValid(credential)).to.equal(true);
    expect(credential.holderCommitment).to.equal(p.commitment);
    expect(zkCredentialFromPaymentResponse(res.headers.get("PAYMENT-RESPONSE"))).to.deep.equal({ credential: wire });
    // The purchase's body is the same credential (one issuance), in today's wire form.
    expect(await res.json()).to.deep.equal(wire);

    // Lost answer: today's recover path re-issues it, the receipt id being the nullifier hash.
    const recovered = await fetch(`${api.url}${RECOVER}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        offerId: "basic",
        holderCommitment: p.commitment.toString(),
        receiptId,
        challenge: p.challenge,
      }),
    });
    expect(recovered.status).to.equal(200);
    expect(await recovered.json()).to.deep.equal(wire);

    // Redemption in the envelope, N = 3 times: twice on a route that binds nothing, once on
    // one that binds the request (its context covers the envelope's payload).
    const issuer = api.sessions.issuerPublicKey;
    const prove = (index: number, context: bigint) =>
      provePresentation(
        {
          credential,
          holder: p.holder,
          index,
          requiredTier: 1,
          now: api.sessions.currentTime(),
          originId: credential.serviceId,
          context,
        },
        presentationArtifacts(),
      );
    const first = presentationToEnvelope(await prove(0, 0n), issuer);
    const r0 = await present(api, "/report", first, { q: 0 });
    expect(r0.status).to.equal(200);
    expect(api.seen.at(-1)).to.deep.equal({ path: "/report", body: { q: 0 }, session: { requiredTier: 1 } });
    const r1 = await present(api, "/report", presentationToEnvelope(await prove(1, 0n), issuer), null);
    expect(r1.status).to.equal(200);
    expect(api.seen.at(-1)).to.deep.equal({ path: "/report", body: null, session: { requiredTier: 1 } });
    const order = { item: 7, qty: 2 };
    const bound = presentationToEnvelope(
      await prove(2, requestContext("POST", "/order", JSON.stringify(order))),
      issuer,
    );
    const r2 = await present(api, "/order", bound, order);
    expect(r2.status).to.equal(200);
    expect(api.seen.at(-1)).to.deep.equal({ path: "/order", body: order, session: { requiredTier: 1 } });

    // A presentation used once is refused (the spec's rate limit: one-time tokens).
    const again = await present(api, "/report", first, { q: 0 });
    expect(again.status).to.equal(402);
    expect(decodeHeader<SessionRefusal>(again.headers.get(SESSION_REFUSAL_HEADER))?.error).to.equal(
      "origin_token_replayed",
    );
    // Another suite or version: 400 naming what is supported, before any verification.
    const ultra = await present(api, "/report", { ...first, suite: "pedersen-schnorr-poseidon-ultrahonk" }, null);
    expect(ultra.status).to.equal(400);
    const ultraBody = (await ultra.json()) as { error: string; message: string; details: Record<string, unknown> };
    expect(ultraBody.error).to.equal("unsupported_suite");
    expect(ultraBody.message).to.include(ZK_CREDENTIAL_SUITE);
    expect(ultraBody.details.supportedSuites).to.deep.equal([ZK_CREDENTIAL_SUITE]);
    const v2 = await present(api, "/report", { ...first, version: "0.2.0" }, null);
    expect(v2.status).to.equal(400);
    expect(((await v2.json()) as { error: string }).error).to.equal("unsupported_version");
    // Malformed fields: 400 naming the field.
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ ...first, proof: first.proof.slice(0, 40) }, /proof must be 256 bytes/],
      [{ ...first, current_time: "now" }, /current_time/],
      [{ ...first, public_outputs: { ...first.public_outputs, origin_token: 5 } }, /origin_token must be a string/],
      [{ ...first, issuer_pubkey: "A".repeat(5000) }, /at most 4096/],
    ];
    for (const [envelope, message] of bad) {
      const r = await present(api, "/report", envelope, null);
      expect(r.status, String(message)).to.equal(400);
      expect(((await r.json()) as { message: string }).message).to.match(message);
    }
    // Another issuer key names another service: refused, not verified.
    const stranger = await present(api, "/report", { ...first, issuer_pubkey: fieldToBase64url(1n, 2n) }, null);
    expect(stranger.status).to.equal(402);
    expect(decodeHeader<SessionRefusal>(stranger.headers.get(SESSION_REFUSAL_HEADER))?.error).to.equal("wrong_service");
    expect(api.seen).to.have.length(3);
  });

  it("SessionClient buys through the extension (the credential read from PAYMENT-RESPONSE) and presents it with today's zk-session header", async function () {
    const { wallet } = await env.payer(12, { deposit: 1_000_000n });
    const responses: (string | null)[] = [];
    const recording: typeof fetch = async (input, init) => {
      const res = await fetch(input as RequestInfo, init);
      if (String(input instanceof Request ? input.url : input).includes(PURCHASE)) {
        responses.push(res.headers.get("PAYMENT-RESPONSE"));
      }
      return res;
    };
    const store = new MemorySessionStore();
    const client = await sessionClient(wallet, {
      store,
      fetch: recording,
      issuance: "extension",
      buy: (offers) => offers.find((o) => o.id === "basic"),
      payPerRequest: false,
      prepareAhead: false,
    });
    const res = await client.fetch(`${api.url}/data`);
    expect(res.status).to.equal(200);
    expect(client.lastRequest?.mode).to.equal("bought");
    expect(api.seen.at(-1)).to.deep.include({ path: "/data", session: { requiredTier: 1 } });
    const got = zkCredentialFromPaymentResponse(responses.find((h) => h !== null));
    expect(got && "credential" in got).to.equal(true);
    const stored = (await store.load())!.credentials;
    expect(stored).to.have.length(1);
    expect(stored[0]!.receiptId).to.equal((got as { credential: { receiptId: string } }).credential.receiptId);
    expect(client.credentials()[0]).to.include({ offerId: "basic", remaining: 2 });
  });

  it("a plain x402 client (@x402/fetch, zk-exact, zkCredentialClientExtension): a settled purchase whose issuance fails says so in PAYMENT-RESPONSE and is recovered by its receipt id", async function () {
    // The service wants 2 confirmations: issuance right after settlement is refused (the
    // chain has 1), the money has left.
    const slow = await credentialApi(env, { payTo: account(6).address, relayerIndex: 2, minConfirmations: 2 });
    try {
      const { wallet } = await env.payer(13, { deposit: 1_000_000n });
      const commitment = holderCommitmentOf(wallet.credentialSecrets(4242n));
      const purchase: { challenge?: unknown; receiptId?: Hex } = {};
      const client = new x402Client().register(
        "eip155:*",
        new ZkExactClientScheme({
          wallet,
          credentials: {
            holderCommitmentFor: async (req) => {
              purchase.challenge = req.extra.challenge;
              return commitment;
            },
            onPaymentPrepared: async (receiptId) => void (purchase.receiptId = receiptId),
          },
        }),
      );
      client.setSpendControls(false);
      client.registerExtension(zkCredentialClientExtension());
      const sent: string[] = [];
      const recording: typeof fetch = async (input, init) => {
        const sig = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined)).get(
          "PAYMENT-SIGNATURE",
        );
        if (sig) sent.push(sig);
        return fetch(input, init);
      };
      const res = await wrapFetchWithPayment(recording, client)(`${slow.url}${PURCHASE}`, { method: "POST" });
      // The extension put the commitment the proof binds into the echoed declaration.
      const payment = decodeHeader<PaymentPayload>(sent[0] ?? null)!;
      expect(
        (payment.extensions?.[ZK_CREDENTIAL_EXTENSION] as ZkCredentialDeclaration & { info: { commitment?: string } })
          .info.commitment,
      ).to.equal(encodeHolderCommitment(commitment));
      expect(res.status).to.equal(502);
      const body = (await res.json()) as { error: string; paid: boolean; recover: string };
      expect(body).to.include({ error: "issuance_refused", paid: true, recover: RECOVER });
      const receiptId = purchase.receiptId!;
      const settle = decodeHeader<{ extensions?: Record<string, Record<string, unknown>> }>(
        res.headers.get("PAYMENT-RESPONSE"),
      );
      expect(settle?.extensions?.[ZK_CREDENTIAL_EXTENSION]).to.include({
        error: "issuance_refused",
        receipt_id: receiptId,
        recover_path: RECOVER,
      });
      expect(zkCredentialFromPaymentResponse(res.headers.get("PAYMENT-RESPONSE"))).to.have.nested.property(
        "error.recover_path",
        RECOVER,
      );
      expect(await env.system.token.balanceOf(account(6).address)).to.equal(OFFERS[0]!.price);
      await env.chain.provider.request({ method: "hardhat_mine" as never, params: ["0x1"] as never });
      const recovered = await fetch(`${slow.url}${RECOVER}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          offerId: "basic",
          holderCommitment: commitment.toString(),
          receiptId,
          challenge: purchase.challenge,
        }),
      });
      expect(recovered.status).to.equal(200);
      const c = credentialFromWire(await recovered.json());
      expect(credentialSignatureValid(c)).to.equal(true);
      expect(c.holderCommitment).to.equal(commitment);
      expect(c.receiptId).to.equal(receiptId);
    } finally {
      await slow.close();
    }
  });
});
