import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";

import { x402Client } from "@x402/core/client";
import type { PaymentPayload, PaymentRequired } from "@x402/core/types";
import { expect } from "chai";
import express from "express";
import { erc20Abi, type Address, type Hex } from "viem";

import { derivePublicKey } from "../../sdk/core/eddsa-poseidon.cjs";
import { wrapFetchWithZkPayment } from "../../sdk/client/fetch.js";
import { ZkExactClientScheme, ZkShieldedClientScheme, type ZkClientOptions } from "../../sdk/client/scheme.js";
import type { PreparedPayment } from "../../sdk/client/types.js";
import type { PrivateWallet } from "../../sdk/client/wallet.js";
import type { ZkIdentityOptions } from "../../sdk/client/actions/attribute.js";
import { isZkPayError, ZkPayError } from "../../sdk/core/errors.js";
import {
  holderKeyFromSecret,
  issuerKeyFromString,
  issuerKeyToString,
  signCredential,
  type AttributeClaims,
  type AttributeCredential,
} from "../../sdk/core/identity/credential.js";
import {
  declareZkAttributeExtension,
  ZK_ATTRIBUTE_EXTENSION,
  type ZkAttributeInfo,
} from "../../sdk/core/identity/extension.js";
import { issuersRootOf } from "../../sdk/core/identity/issuers.js";
import { revocationListToJson, RevocationTree, signRevocationList } from "../../sdk/core/identity/revocation.js";
import { ymdOf, type AttributeRule } from "../../sdk/core/identity/rule.js";
import { WalletKeys } from "../../sdk/core/keys.js";
import { shutdownProver } from "../../sdk/core/prover.js";
import { attributeArtifacts } from "../../sdk/node/artifacts.js";
import { zkPaymentMiddleware, zkSessionMiddleware } from "../../sdk/express/index.js";
import { loadPresentationVerificationKey, presentationArtifacts } from "../../sdk/node/artifacts.js";
import { SessionClient } from "../../sdk/session/client.js";
import { SessionService } from "../../sdk/session/service.js";
import { ISSUER_KEY, OFFERS } from "../helpers/session-env.js";
import { ATTRIBUTE_REFUSED_HEADER, AttributeVerifier } from "../../sdk/server/attributes.js";
import { createZkResourceServer } from "../../sdk/server/resource-server.js";
import { account, decodeHeader, startEnv, type Env } from "../helpers/x402-env.js";
import { onOneDay, todayYmd } from "../helpers/utc-day.js";

/**
 * Verify & Pay over real HTTP (issue #21): an Express API whose routes name an attribute
 * rule in their 402 (`declareZkAttributeExtension`), an `AttributeVerifier` trusting two
 * issuers whose revocation lists it reads from files, and payers proving with real
 * attribute and payment proofs on Hardhat's EVM. Refusals the client can foresee are made
 * before anything is proven or paid; the others come from the server, before the payment
 * is verified or settled.
 */

const PRICE = 10_000n;
/** The main verifier's refresh period: a root replaced by a refresh stays acceptable that long. */
const REFRESH_S = 120;
/** Added to the main verifier's clock (to step past a refresh period). */
let skewMs = 0;
/** An issuer's public key from its 32-byte private key (as `402zk issuer init` derives it). */
const issuerKey = (sk: Hex): [bigint, bigint] => {
  const p = derivePublicKey(Buffer.from(sk.slice(2), "hex"));
  return [p[0], p[1]];
};
const ISSUER_A = `0x${"a1".repeat(32)}` as Hex;
const ISSUER_B = `0x${"b2".repeat(32)}` as Hex;
const ISSUER_UNTRUSTED = `0x${"c3".repeat(32)}` as Hex;
const KP = 408; // North Korea: blocked by /beer
const DE = 276;
const yearsAgo = (n: number, dayOffset = 0) => {
  const d = new Date();
  d.setUTCFullYear(d.getUTCFullYear() - n);
  d.setUTCDate(d.getUTCDate() + dayOffset);
  return ymdOf(d);
};
const ADULT: AttributeClaims = { birthDate: yearsAgo(30), country: DE, expiresAt: yearsAgo(-5), flags: 1n };
const BEER: AttributeRule = { minAge: 18, countries: { mode: "block", codes: [KP, 364] } };
const WINE: AttributeRule = { minAge: 21 };

describe("Verify & Pay over HTTP: zk-attribute routes, AttributeVerifier and the client scheme", function () {
  this.timeout(300_000);
  let env: Env;
  let payTo: Address;
  let dir: string;
  let revA: RevocationTree;
  const revFileA = () => path.join(dir, "issuer-a-revocations.json");
  let verifier: AttributeVerifier;
  let url: string;
  const servers: Server[] = [];
  let payer: Awaited<ReturnType<Env["payer"]>>;
  let shieldedKeys: WalletKeys;
  /** Pseudonyms the API saw, per settled request (all it learns about the holder). */
  const seen: { path: string; extensions: unknown }[] = [];

  const balance = (a: Address) =>
    env.publicClient.readContract({ address: env.pool.token, abi: erc20Abi, functionName: "balanceOf", args: [a] });

  /** Issuer A publishes its list, signed (as AttributeIssuer.revocationList() does). */
  async function writeRevocations(): Promise<void> {
    const list = await signRevocationList(ISSUER_A, { revoked: revA.revoked(), updatedAt: Date.now() });
    writeFileSync(revFileA(), JSON.stringify(revocationListToJson(list)));
  }

  /** A credential of `issuer` for `holder` (default: the payer's holder key). */
  function credential(
    issuer: Hex,
    claims: Partial<AttributeClaims> = {},
    serial = 1,
    holder = payer.wallet.attributeHolderKey().publicKey,
  ): AttributeCredential {
    return signCredential(issuer, holder, { ...ADULT, ...claims }, serial);
  }

  function identity(credentials: AttributeCredential[], extra: Partial<ZkIdentityOptions> = {}): ZkIdentityOptions {
    return {
      credentials,
      artifacts: attributeArtifacts(),
      revocationList: async () => JSON.parse((await import("node:fs")).readFileSync(revFileA(), "utf8")),
      ...extra,
    };
  }

  function client(o: Omit<ZkClientOptions, "wallet"> & { wallet?: PrivateWallet }) {
    const opts = { wallet: payer.wallet, ...o } as ZkClientOptions;
    const c = new x402Client()
      .register("eip155:*", new ZkExactClientScheme(opts))
      .register("eip155:*", new ZkShieldedClientScheme(opts));
    c.setSpendControls(false);
    return c;
  }

  /** Pays `path` with `credentials`; the answer and the PAYMENT-SIGNATURE sent. */
  async function pay(p: string, o: Omit<ZkClientOptions, "wallet"> = {}) {
    const headers: string[] = [];
    const rec: typeof fetch = async (input, init) => {
      const req = new Request(input as RequestInfo, init);
      const h = req.headers.get("PAYMENT-SIGNATURE");
      if (h) headers.push(h);
      return fetch(req);
    };
    await payer.wallet.sync();
    const res = await wrapFetchWithZkPayment(rec, client(o))(`${url}${p}`);
    return { res, body: await res.json().catch(() => undefined), header: headers[0] };
  }

  /** The 402 of `path`. */
  async function required(p: string): Promise<PaymentRequired> {
    const res = await fetch(`${url}${p}`);
    expect(res.status).to.equal(402);
    return decodeHeader<PaymentRequired>(res.headers.get("PAYMENT-REQUIRED"))!;
  }

  /**
   * A payment payload for `path` made by the client scheme from `paymentRequired` (as
   * x402Client would), without sending it: tests alter it and send it by hand. The note it
   * spends is held until released.
   */
  async function payload(
    p: string,
    o: { identity?: ZkIdentityOptions; mutate?: (pr: PaymentRequired) => void; settlement?: "server" | "client" } = {},
  ): Promise<{ payload: PaymentPayload; prepared: PreparedPayment }> {
    await payer.wallet.sync();
    const pr = await required(p);
    o.mutate?.(pr);
    let prepared: PreparedPayment | undefined;
    const c = client({ identity: o.identity, settlement: o.settlement, onPrepared: (x) => (prepared = x) });
    const made = await c.createPaymentPayload(pr);
    return { payload: made, prepared: prepared! };
  }

  async function send(p: string, pl: PaymentPayload) {
    const res = await fetch(`${url}${p}`, {
      headers: { "PAYMENT-SIGNATURE": Buffer.from(JSON.stringify(pl)).toString("base64") },
    });
    const refused = res.headers.get(ATTRIBUTE_REFUSED_HEADER);
    return {
      status: res.status,
      body: (await res.json().catch(() => undefined)) as { error?: string } | undefined,
      refused: refused ? (JSON.parse(atob(refused)) as { error: string; message: string }) : undefined,
      required: decodeHeader<PaymentRequired>(res.headers.get("PAYMENT-REQUIRED")),
    };
  }

  async function expectRefusedBeforePaying(credentials: AttributeCredential[], reason: string, p = "/beer") {
    const before = payer.wallet.balance();
    const payeeBefore = await balance(payTo);
    let err: unknown;
    try {
      const r = await pay(p, { identity: identity(credentials) });
      throw new Error(`expected ${reason}, got HTTP ${r.res.status}`);
    } catch (e) {
      err = e;
    }
    // The SDK's fetch wrapper hands back the scheme's own typed error.
    expect(isZkPayError(err, reason as never), String(err)).to.equal(true);
    expect(payer.wallet.balance()).to.equal(before);
    expect(await balance(payTo)).to.equal(payeeBefore);
  }

  before(async function () {
    env = await startEnv();
    payTo = account(4).address;
    dir = mkdtempSync(path.join(os.tmpdir(), "402zk-attr-"));
    revA = await RevocationTree.create([77]);
    await writeRevocations();
    // The API's origin names its pseudonym scope: listen first, mount the routes after.
    const app = express();
    const server = app.listen(0, "127.0.0.1");
    await once(server, "listening");
    servers.push(server);
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    verifier = await AttributeVerifier.create({
      service: url,
      now: () => Date.now() + skewMs,
      issuers: [{ key: issuerKey(ISSUER_A), revocation: revFileA() }, { key: issuerKey(ISSUER_B) }],
      refreshSeconds: REFRESH_S,
    });
    shieldedKeys = WalletKeys.fromSeed(WalletKeys.randomSeed());
    const zk = createZkResourceServer({
      pool: { ...env.pool, decimals: 6 },
      publicClient: env.publicClient,
      walletClient: env.walletClientFor(1),
      vkey: env.vkey,
      vkeySha256: env.vkeySha256,
      challengeSecret: "attribute-http-secret-0123456789",
      payee: { keys: shieldedKeys },
      attributes: verifier,
    });
    zk.resourceServer.onAfterSettle(async (ctx) => {
      seen.push({
        path: new URL(ctx.paymentPayload.resource?.url ?? "http://x/").pathname,
        extensions: ctx.paymentPayload.extensions,
      });
    });
    const price = { amount: PRICE.toString(), asset: env.pool.token };
    const exact = { scheme: "zk-exact", network: zk.network, payTo, price };
    app.use(
      zkPaymentMiddleware(
        {
          "GET /beer": { accepts: exact, extensions: declareZkAttributeExtension(BEER) },
          "GET /beer-too": { accepts: exact, extensions: declareZkAttributeExtension(BEER) },
          "GET /wine": { accepts: exact, extensions: declareZkAttributeExtension(WINE) },
          "GET /shielded-beer": {
            accepts: { scheme: "zk-shielded", network: zk.network, payTo: shieldedKeys.address(), price },
            extensions: declareZkAttributeExtension(BEER),
          },
        },
        zk.resourceServer,
        { schemes: ["zk-exact", "zk-shielded"] },
      ),
    );
    for (const p of ["/beer", "/beer-too", "/wine", "/shielded-beer"])
      app.get(p, (_req, res) => res.json({ served: p }));
    payer = await env.payer(5, { deposit: 40n * PRICE });
  });

  after(async function () {
    verifier?.close();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    await env?.chain.close();
    await shutdownProver();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("names the rule in the 402 as the zk-attribute extension: rule, today, both issuers, their root, the pseudonym scope", async function () {
    const day = todayYmd();
    const pr = await required("/beer");
    const ext = pr.extensions?.[ZK_ATTRIBUTE_EXTENSION] as { info: ZkAttributeInfo; schema: unknown };
    expect(ext.schema).to.be.an("object");
    expect(ext.info.rule).to.deep.equal({ minAge: 18, countries: { mode: "block", codes: [364, KP] } });
    expect([day, todayYmd()]).to.include(ext.info.today);
    expect(ext.info.issuers).to.have.length(2);
    expect(ext.info.issuers[0]!.revocationRoot).to.equal(revA.root().toString());
    expect(ext.info.issuers[1]!.revocationRoot).to.equal("0");
    expect(ext.info.issuersRoot).to.equal(verifier.issuersRoot.toString());
    expect(ext.info.serviceId).to.equal(verifier.serviceId.toString());
  });

  it("serves an adult outside the blocked countries, server-settled: the payee is paid, and the payment reveals no attribute, no issuer, no holder", async function () {
    const cred = credential(ISSUER_B, {}, 5);
    const payeeBefore = await balance(payTo);
    const r = await pay("/beer", { identity: identity([credential(ISSUER_A, { birthDate: yearsAgo(10) }, 3), cred]) });
    expect(r.res.status, JSON.stringify(r.body)).to.equal(200);
    expect(r.body).to.deep.equal({ served: "/beer" });
    expect(await balance(payTo)).to.equal(payeeBefore + PRICE);
    // What the server received: its own requirement echoed, a proof and a pseudonym. Never
    // the birth date, the country, the flags, the serial, the signature or the holder's key;
    // and not which issuer: the requirement lists both trusted issuers, as the 402 did.
    const sent = Buffer.from(r.header!, "base64").toString("utf8");
    for (const secret of [
      String(cred.claims.birthDate),
      cred.issuer[0].toString(),
      cred.holder[0].toString(),
      cred.holder[1].toString(),
      cred.signature.S.toString(),
      cred.signature.R8[0].toString(),
    ]) {
      expect(sent).to.not.include(secret);
    }
    const { info } = (JSON.parse(sent) as PaymentPayload).extensions?.[ZK_ATTRIBUTE_EXTENSION] as {
      info: Record<string, unknown>;
    };
    const { proof: _proof, pseudonym, ...requirement } = info;
    const declared = (await required("/beer")).extensions![ZK_ATTRIBUTE_EXTENSION] as { info: ZkAttributeInfo };
    // The issuer list stays out of the header: its root stands for it.
    const { issuers, ...rest } = declared.info;
    expect(requirement).to.deep.equal(rest);
    expect(issuers.map((i) => i.key)).to.include(issuerKeyToString(cred.issuer));
    expect(sent).to.not.include(issuerKeyToString(cred.issuer));
    expect(sent).to.not.include('"schema"');
    // About 1.5 KB over an ungated payment, whatever the number of trusted issuers.
    expect(r.header!.length).to.be.below(5_000);
    expect(pseudonym).to.match(/^\d+$/);
    expect(seen.at(-1)!.path).to.equal("/beer");
  });

  it("serves a client-settled payment and a zk-shielded one the same way", async function () {
    const creds = [credential(ISSUER_A, {}, 9)];
    const c = await pay("/beer", { identity: identity(creds), settlement: "client" });
    expect(c.res.status, JSON.stringify(c.body)).to.equal(200);
    const before = payer.wallet.balance();
    const s = await pay("/shielded-beer", { identity: identity(creds) });
    expect(s.res.status, JSON.stringify(s.body)).to.equal(200);
    expect(payer.wallet.balance() <= before - PRICE).to.equal(true);
  });

  it("refuses, before proving or paying, each credential that cannot meet the rule, with its own reason", async function () {
    // Eighteen tomorrow: computed for the day the 402 names.
    await onOneDay(() =>
      expectRefusedBeforePaying([credential(ISSUER_A, { birthDate: yearsAgo(18, 1) })], "rule_not_met"),
    );
    await expectRefusedBeforePaying([credential(ISSUER_A, { country: KP })], "rule_not_met");
    await expectRefusedBeforePaying(
      [credential(ISSUER_A, { expiresAt: yearsAgo(0, -1) })],
      "attribute_credential_expired",
    );
    await expectRefusedBeforePaying([credential(ISSUER_A, {}, 77)], "credential_revoked");
    await expectRefusedBeforePaying([credential(ISSUER_UNTRUSTED)], "issuer_not_trusted");
    const tampered = credential(ISSUER_A);
    await expectRefusedBeforePaying(
      [{ ...tampered, claims: { ...tampered.claims, birthDate: yearsAgo(40) } }],
      "attribute_proof_invalid",
    );
    const other = holderKeyFromSecret(new Uint8Array(32).fill(9)).publicKey;
    await expectRefusedBeforePaying([credential(ISSUER_A, {}, 4, other)], "attribute_proof_invalid");
    await expectRefusedBeforePaying([], "attribute_proof_required");
    // A 21+ route refuses a 19-year-old that /beer would serve.
    await expectRefusedBeforePaying([credential(ISSUER_A, { birthDate: yearsAgo(19) })], "rule_not_met", "/wine");
  });

  it("client: refuses, before proving, a 402 that probes (another date), links (another service's or a lasting pseudonym scope), or points its list fetch at a private address", async function () {
    const creds = [credential(ISSUER_A)];
    const before = payer.wallet.balance();
    const probe = async (mutate: (i: ZkAttributeInfo) => void, re: RegExp) => {
      let err: unknown;
      await payload("/beer", {
        identity: identity(creds),
        mutate: (pr) => mutate((pr.extensions![ZK_ATTRIBUTE_EXTENSION] as { info: ZkAttributeInfo }).info),
      }).catch((e: unknown) => (err = e));
      expect(isZkPayError(err, "attribute_proof_invalid"), String(err)).to.equal(true);
      expect((err as Error).message).to.match(re);
    };
    await probe((i) => (i.today = yearsAgo(0, -40)), /not today/);
    await probe((i) => (i.epoch = 1), /lasting identifier/);
    // The same API served on another origin: its 402 scopes the pseudonym to the first.
    const mirror = express();
    mirror.use(
      (req, res) =>
        void fetch(`${url}${req.url}`).then(async (r) =>
          res
            .status(r.status)
            .set(Object.fromEntries((r.headers as unknown as Map<string, string>).entries()))
            .send(Buffer.from(await r.arrayBuffer())),
        ),
    );
    const m = mirror.listen(0, "127.0.0.1");
    await once(m, "listening");
    servers.push(m);
    let err: unknown;
    await wrapFetchWithZkPayment(
      fetch,
      client({ identity: identity(creds) }),
    )(`http://127.0.0.1:${(m.address() as AddressInfo).port}/beer`).catch((e: unknown) => (err = e));
    expect(isZkPayError(err, "attribute_proof_invalid"), String(err)).to.equal(true);
    expect((err as Error).message).to.match(/another service/);
    // A revocation list URL on a private address is never fetched (the default fetcher).
    let refused: unknown;
    await payload("/beer", {
      identity: { credentials: creds, artifacts: attributeArtifacts() },
      mutate: (pr) => {
        const info = (pr.extensions![ZK_ATTRIBUTE_EXTENSION] as { info: ZkAttributeInfo }).info;
        info.issuers[0] = { ...info.issuers[0]!, revocationRoot: "12345", revocationUrl: "http://10.0.0.1/list.json" };
        info.issuersRoot = issuersRootOf(
          info.issuers.map((i) => ({
            publicKey: issuerKeyFromString(i.key),
            revocationRoot: BigInt(i.revocationRoot),
          })),
        ).toString();
      },
    }).catch((e: unknown) => (refused = e));
    expect(isZkPayError(refused, "attribute_proof_invalid"), String(refused)).to.equal(true);
    expect((refused as Error).message).to.match(/https only/);
    expect(payer.wallet.balance()).to.equal(before);
  });

  it("server: a payment without a proof gets 402 attribute_proof_required with the requirement, and nothing is settled", async function () {
    const { payload: pl, prepared } = await payload("/beer", { mutate: (pr) => delete pr.extensions });
    const payeeBefore = await balance(payTo);
    // Echo the declaration as x402 does, without a proof.
    const declared = (await required("/beer")).extensions!;
    const r = await send("/beer", { ...pl, extensions: declared });
    expect(r.status).to.equal(402);
    expect(r.required?.error).to.equal("attribute_proof_required");
    expect(r.required?.extensions?.[ZK_ATTRIBUTE_EXTENSION]).to.be.an("object");
    expect(await balance(payTo)).to.equal(payeeBefore);
    await payer.wallet.releasePayment(prepared);
  });

  it("server: a proof copied onto another payment, or onto another route, is refused (403, with the reason and a message)", async function () {
    const creds = [credential(ISSUER_A)];
    const first = await payload("/beer", { identity: identity(creds) });
    const proofOfFirst = first.payload.extensions![ZK_ATTRIBUTE_EXTENSION];
    await payer.wallet.releasePayment(first.prepared);
    // Another payment to the same route, carrying the first payment's proof.
    const second = await payload("/beer", { mutate: (pr) => delete pr.extensions });
    const r1 = await send("/beer", { ...second.payload, extensions: { [ZK_ATTRIBUTE_EXTENSION]: proofOfFirst } });
    expect(r1.status).to.equal(403);
    expect(r1.body?.error).to.equal("attribute_proof_invalid");
    expect(r1.refused?.message).to.match(/another payment/);
    await payer.wallet.releasePayment(second.prepared);
    // The same rule on another route: the proof's payment answers /beer's challenge.
    const third = await payload("/beer-too", { mutate: (pr) => delete pr.extensions });
    const r2 = await send("/beer-too", { ...third.payload, extensions: { [ZK_ATTRIBUTE_EXTENSION]: proofOfFirst } });
    expect(r2.status).to.equal(403);
    expect(r2.body?.error).to.equal("attribute_proof_invalid");
    await payer.wallet.releasePayment(third.prepared);
    // Another rule: /wine requires 21, the proof proves /beer's rule.
    const fourth = await payload("/wine", { mutate: (pr) => delete pr.extensions });
    const r3 = await send("/wine", { ...fourth.payload, extensions: { [ZK_ATTRIBUTE_EXTENSION]: proofOfFirst } });
    expect(r3.status).to.equal(403);
    expect(r3.body?.error).to.equal("rule_not_met");
    await payer.wallet.releasePayment(fourth.prepared);
  });

  it("server: a proof of a weaker rule is rule_not_met; a proof from an issuer set it does not trust is issuer_not_trusted", async function () {
    // A client that rewrites the 402 to prove minAge 16 instead of 18.
    const weaker = await payload("/beer", {
      identity: identity([credential(ISSUER_A, { birthDate: yearsAgo(17) })]),
      mutate: (pr) => {
        const ext = pr.extensions![ZK_ATTRIBUTE_EXTENSION] as { info: ZkAttributeInfo };
        ext.info.rule = { ...ext.info.rule, minAge: 16 };
      },
    });
    const r1 = await send("/beer", weaker.payload);
    expect(r1.status).to.equal(403);
    expect(r1.body?.error).to.equal("rule_not_met");
    await payer.wallet.releasePayment(weaker.prepared);
    // A client that adds its own issuer to the 402's list and proves with its credential.
    const untrusted = credential(ISSUER_UNTRUSTED);
    const forged = await payload("/beer", {
      identity: identity([untrusted]),
      mutate: (pr) => {
        const ext = pr.extensions![ZK_ATTRIBUTE_EXTENSION] as { info: ZkAttributeInfo };
        ext.info.issuers = [{ key: issuerKeyToString(untrusted.issuer), revocationRoot: "0" }];
        ext.info.issuersRoot = issuersRootOf([{ publicKey: untrusted.issuer, revocationRoot: 0n }]).toString();
      },
    });
    const r2 = await send("/beer", forged.payload);
    expect(r2.status).to.equal(403);
    expect(r2.body?.error).to.equal("issuer_not_trusted");
    await payer.wallet.releasePayment(forged.prepared);
  });

  it("server: a revocation published after the 402 refuses the proof made before it; the client then finds its credential revoked; a list altered to drop it fails its signature", async function () {
    const cred = credential(ISSUER_A, {}, 21);
    const made = await payload("/beer", { identity: identity([cred]) });
    await revA.add(21);
    await writeRevocations();
    await verifier.refresh();
    // Within one refresh period the replaced root is still accepted (a client-settled
    // payment made just before the refresh must not be lost); past it, refused.
    skewMs = (REFRESH_S + 1) * 1000;
    const r = await send("/beer", made.payload).finally(() => (skewMs = 0));
    expect(r.status).to.equal(403);
    expect(r.body?.error).to.equal("attribute_proof_invalid");
    expect(r.refused?.message).to.match(/changed since this 402/);
    await payer.wallet.releasePayment(made.prepared);
    await expectRefusedBeforePaying([cred], "credential_revoked");

    // A mirror (or anyone on the way) that drops serial 21 again must re-root the list, and
    // cannot sign the new root: the refresh refuses it and keeps the list in use.
    const rootBefore = verifier.issuersRoot;
    const published = JSON.parse(readFileSync(revFileA(), "utf8")) as { revoked: string[]; root: string };
    const unrevoked = await RevocationTree.create(published.revoked.filter((x) => x !== "21").map(BigInt));
    writeFileSync(
      revFileA(),
      JSON.stringify({
        ...published,
        revoked: unrevoked.revoked().map(String),
        root: unrevoked.root().toString(),
        updatedAt: Date.now() + 1,
      }),
    );
    try {
      await verifier.refresh();
      expect(verifier.lastError).to.match(/signature/);
      expect(verifier.issuersRoot).to.equal(rootBefore);
    } finally {
      await writeRevocations();
      await verifier.refresh();
    }
    expect(verifier.lastError).to.equal(undefined);
    await expectRefusedBeforePaying([cred], "credential_revoked");
  });

  it("server: malformed zk-attribute extensions get a clear 4xx, never a 500", async function () {
    const base = await payload("/beer", { mutate: (pr) => delete pr.extensions });
    const bad: unknown[] = [
      { info: { proof: { a: ["x"] } } },
      {
        info: {
          ...((await required("/beer")).extensions![ZK_ATTRIBUTE_EXTENSION] as { info: object }).info,
          proof: {
            a: ["1", "2"],
            b: [
              ["1", "2"],
              ["3", "4"],
            ],
            c: ["5", "6"],
          },
          pseudonym: "7",
        },
      },
      { info: { proof: "zzz", pseudonym: [] } },
      "not an object",
      { info: { proof: { a: ["1".repeat(5000), "2"] } } },
    ];
    try {
      for (const ext of bad) {
        const r = await send("/beer", { ...base.payload, extensions: { [ZK_ATTRIBUTE_EXTENSION]: ext } });
        expect(r.status, JSON.stringify(ext).slice(0, 80)).to.be.oneOf([400, 402, 403, 431]);
        const reason = r.body?.error ?? r.required?.error;
        expect(reason, JSON.stringify(ext).slice(0, 80)).to.be.oneOf([
          "attribute_proof_invalid",
          "attribute_proof_required",
          "invalid_payload",
          "malformed_header",
          // x402's own echo check of a declared extension that is not an object
          "extension_echo_mismatch",
          // an extension that makes PAYMENT-SIGNATURE larger than 8 KiB
          "header_too_large",
        ]);
      }
    } finally {
      await payer.wallet.releasePayment(base.prepared);
    }
  });

  it("limits one holder's payments per epoch when the service sets maxPerEpoch (the pseudonym counts them)", async function () {
    const limited = await AttributeVerifier.create({
      service: "http://limited.example",
      issuers: [{ key: issuerKey(ISSUER_A), revocation: revFileA() }],
      maxPerEpoch: 1,
    });
    const held: PreparedPayment[] = [];
    try {
      const creds = [credential(ISSUER_A, {}, 30)];
      const info = limited.info({ minAge: 18 });
      // Two payments from two notes (each held until the end): two nullifiers.
      await env.mint(payer.address, 2n * PRICE);
      await payer.wallet.deposit(2n * PRICE);
      const made = async () => {
        const p = await payload("/beer", {
          identity: identity(creds),
          mutate: (pr) => ((pr.extensions![ZK_ATTRIBUTE_EXTENSION] as { info: ZkAttributeInfo }).info = { ...info }),
        });
        held.push(p.prepared);
        const pl = p.payload;
        const a = (pl.payload as { terms: { conditionHash: Hex } }).terms.conditionHash;
        const n = BigInt((pl.payload as { proof: { nullifierHash: string } }).proof.nullifierHash);
        return { ext: pl.extensions![ZK_ATTRIBUTE_EXTENSION], binding: { conditionHash: a, nullifierHash: n } };
      };
      const one = await made();
      const first = await limited.verify(one.ext, one.binding, { minAge: 18 });
      // Checking the same payment again neither pairs nor counts again.
      expect((await limited.verify(one.ext, one.binding, { minAge: 18 })).uses).to.equal(1);
      const two = await made();
      let err: unknown;
      await limited.verify(two.ext, two.binding, { minAge: 18 }).catch((e: unknown) => (err = e));
      expect(isZkPayError(err, "attribute_limit_reached"), String(err)).to.equal(true);
      expect(first.uses).to.equal(1);
      // Same holder, same service, same epoch: the same pseudonym.
      expect((two.ext as { info: { pseudonym: string } }).info.pseudonym).to.equal(first.pseudonym.toString());
    } finally {
      limited.close();
      for (const p of held) await payer.wallet.releasePayment(p);
    }
  });

  it("sessions: a credential bought with an attribute proof serves the gated route's presentations with no proof each; without a credential nothing is bought", async function () {
    const app = express();
    const server = app.listen(0, "127.0.0.1");
    await once(server, "listening");
    servers.push(server);
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const clubVerifier = await AttributeVerifier.create({
      service: origin,
      issuers: [{ key: issuerKey(ISSUER_A), revocation: revFileA() }, { key: issuerKey(ISSUER_B) }],
    });
    const zk = createZkResourceServer({
      pool: { ...env.pool, decimals: 6 },
      publicClient: env.publicClient,
      walletClient: env.walletClientFor(1),
      vkey: env.vkey,
      vkeySha256: env.vkeySha256,
      challengeSecret: "attribute-session-secret-0123456789",
      verifyIn: "main",
      attributes: clubVerifier,
    });
    const sessions = await SessionService.create({
      issuerKey: ISSUER_KEY,
      offers: OFFERS,
      vkey: loadPresentationVerificationKey(),
      replay: zk.replay,
      pool: { facilitator: env.pool.facilitator, chainId: env.pool.chainId },
      payTo,
      publicClient: env.publicClient,
      challenges: zk.challenges,
    });
    const accepts = {
      scheme: "zk-exact",
      network: zk.network,
      payTo,
      price: { amount: PRICE.toString(), asset: env.pool.token },
    };
    const routes = {
      "GET /club": { accepts, session: { requiredTier: 1 }, extensions: declareZkAttributeExtension({ minAge: 18 }) },
    };
    const o = { network: zk.network, asset: env.pool.token };
    // A session route with a rule while credentials are sold without it: refused when built.
    expect(() => zkSessionMiddleware(routes, zk.resourceServer, sessions, o)).to.throw(
      ZkPayError,
      /sessions.attributeRule/,
    );
    app.use(zkSessionMiddleware(routes, zk.resourceServer, sessions, { ...o, attributeRule: { minAge: 18 } }));
    app.get("/club", (_req, res) => res.json({ club: true, session: res.locals.zkSession ?? null }));
    const club = `${origin}/club`;

    // No identity credential: the purchase is refused before anything is proven or paid.
    await payer.wallet.sync();
    const before = payer.wallet.balance();
    const bare = await SessionClient.open({
      wallet: payer.wallet,
      artifacts: presentationArtifacts(),
      payPerRequest: false,
    });
    let err: unknown;
    await bare.fetch(club).catch((e: unknown) => (err = e));
    expect(isZkPayError(err, "attribute_proof_required"), String(err)).to.equal(true);
    expect(payer.wallet.balance()).to.equal(before);

    // With one: the purchase carries the proof, then each presentation alone is enough.
    const client = await SessionClient.open({
      wallet: payer.wallet,
      artifacts: presentationArtifacts(),
      payPerRequest: false,
      identity: identity([credential(ISSUER_B, {}, 41)]),
    });
    for (let i = 0; i < 2; i++) {
      const res = await client.fetch(club);
      expect(res.status, await res.clone().text()).to.equal(200);
      expect(await res.json()).to.deep.equal({ club: true, session: { requiredTier: 1 } });
      expect(client.lastRequest?.mode).to.equal(i === 0 ? "bought" : "prepared");
    }
    await client.idle();
    clubVerifier.close();
  });

  it("refuses a misconfiguration at start: no issuers, a bad key or origin, a list for another issuer, a rule without a verifier", async function () {
    const fails = async (o: Parameters<typeof AttributeVerifier.create>[0], re: RegExp) => {
      let err: unknown;
      await AttributeVerifier.create(o).catch((e: unknown) => (err = e));
      expect(err).to.be.instanceOf(ZkPayError);
      expect((err as Error).message).to.match(re);
    };
    await fails({ service: "http://x.example", issuers: [] }, /1 to 16/);
    await fails({ service: "not an origin", issuers: [{ key: issuerKey(ISSUER_A) }] }, /origin/);
    await fails({ service: "http://x.example", issuers: [{ key: "not-a-key" }] }, /issuers\[0\]\.key/);
    const otherKey = issuerKey(ISSUER_B);
    await fails(
      { service: "http://x.example", issuers: [{ key: otherKey, revocation: revFileA() }] },
      /another issuer/,
    );
    // A route that names a rule on a server with no verifier is refused when built (fail closed).
    const bare = createZkResourceServer({
      pool: { ...env.pool, decimals: 6 },
      publicClient: env.publicClient,
      vkey: env.vkey,
      vkeySha256: env.vkeySha256,
      challengeSecret: "attribute-bare-secret-0123456789",
    });
    const accepts = { scheme: "zk-exact", network: bare.network, payTo, price: "$0.01" };
    expect(() =>
      zkPaymentMiddleware(
        { "GET /beer": { accepts, extensions: declareZkAttributeExtension(BEER) } },
        bare.resourceServer,
      ),
    ).to.throw(ZkPayError, /no attribute verifier/);
  });
});
