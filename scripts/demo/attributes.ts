/**
 * Step 11 of `npm run demo`: Verify & Pay (issue #21). An identity provider issues the
 * agent's wallet a credential (birth date, country) bound to its holder key, after checking
 * the wallet's proof of possession; an age-gated API (GET /beer: 18+, not from North Korea
 * or Iran) trusts that issuer. The agent proves in zero knowledge that its credential meets
 * the rule, bound to the very payment it makes: the API learns that the rule holds and a
 * pseudonym, nothing else. A payment without the proof is refused before anything is
 * settled; a minor's credential is refused by the agent's own client before it pays.
 */
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";

import { x402Client } from "@x402/core/client";
import { decodePaymentRequiredHeader, decodePaymentResponseHeader } from "@x402/core/http";
import type { PaymentPayload, PaymentRequired } from "@x402/core/types";
import { wrapFetchWithPayment } from "@x402/fetch";
import express from "express";
import { erc20Abi, type Address } from "viem";

import type { ZkIdentityOptions } from "../../sdk/client/actions/attribute.js";
import { ZkExactClientScheme } from "../../sdk/client/scheme.js";
import type { PreparedPayment } from "../../sdk/client/types.js";
import type { PrivateWallet } from "../../sdk/client/wallet.js";
import { isZkPayError, type ZkPayError } from "../../sdk/core/errors.js";
import { credentialToJson, type AttributeClaims } from "../../sdk/core/identity/credential.js";
import { declareZkAttributeExtension, ZK_ATTRIBUTE_EXTENSION } from "../../sdk/core/identity/extension.js";
import { ymdOf, type AttributeRule } from "../../sdk/core/identity/rule.js";
import { zkPaymentMiddleware } from "../../sdk/express/index.js";
import { acceptCredential, credentialRequest, parseCredentialRequest } from "../../sdk/identity/holder.js";
import { AttributeIssuer } from "../../sdk/identity/issuer.js";
import { attributeArtifacts, loadVerificationKey } from "../../sdk/node/artifacts.js";
import { ATTRIBUTE_REFUSED_HEADER, AttributeVerifier } from "../../sdk/server/attributes.js";
import { createZkResourceServer } from "../../sdk/server/resource-server.js";
import { devAccount, type DemoChain } from "../lib/dev-env.js";
import { ms } from "../lib/format.js";
import { short } from "./observer.js";

/** What {@link demoAttributes} needs from the rest of the demo. */
export interface AttributesDemoOptions {
  env: DemoChain;
  /** The agent's private wallet (its seed derives the holder key the credential is bound to). */
  wallet: PrivateWallet;
  fmt: (v: bigint) => string;
  log: (s?: string) => void;
}

/** Dev accounts of the beer shop: its relayer (settles) and its payee. Not used by other steps. */
const SHOP = { relayer: 9, payee: 10 } as const;
const PRICE = 10_000n; // 0.01 USDC
const KP = 408; // North Korea
const IR = 364; // Iran
const DE = 276; // Germany
const RULE: AttributeRule = { minAge: 18, countries: { mode: "block", codes: [KP, IR] } };

/** YYYYMMDD `years` years before today (negative: after). */
function yearsAgo(years: number): number {
  const d = new Date();
  d.setUTCFullYear(d.getUTCFullYear() - years);
  return ymdOf(d);
}

async function listen(server: Server): Promise<string> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
}

/**
 * Runs the Verify & Pay step and prints it.
 *
 * @example
 * await demoAttributes({ env, wallet, fmt, log });
 */
export async function demoAttributes(o: AttributesDemoOptions): Promise<void> {
  const { env, wallet, fmt, log } = o;
  const dir = mkdtempSync(path.join(os.tmpdir(), "402zk-demo-issuer-"));
  const servers: Server[] = [];
  let verifier: AttributeVerifier | undefined;
  try {
    // ---------------------------------------------------------------- the issuer
    const issuer = await AttributeIssuer.init(dir);
    const holder = wallet.attributeHolderKey();
    /** One issuance: nonce -> the holder's signed request -> the issuer's checks and signature -> the holder's check. */
    const issueTo = async (claims: AttributeClaims) => {
      const nonce = await issuer.newNonce();
      const request = credentialRequest(holder, issuer.publicKeyString, nonce);
      const issued = await issuer.issue({ ...parseCredentialRequest(request), claims });
      return acceptCredential(holder, credentialToJson(issued), { issuer: issuer.publicKey });
    };
    const adult = await issueTo({ birthDate: yearsAgo(30), country: DE, expiresAt: yearsAgo(-2), flags: 0n });
    // Another credential of the same holder, revoked: the published list is not empty, so
    // the wallet and the API both work from a real revocation list.
    const lost = await issueTo({ birthDate: yearsAgo(30), country: DE, expiresAt: yearsAgo(-2), flags: 0n });
    await issuer.revoke(lost.serial);
    const issuerServer = createServer(issuer.serveRevocationList());
    servers.push(issuerServer);
    const revocationUrl = `${await listen(issuerServer)}/revocations.json`;
    log(`  identity provider ${issuer.publicKeyString.slice(0, 24)}... (AttributeIssuer in ${dir})`);
    log(
      `    issues credential #${adult.serial} to the agent's holder key ${short(`0x${holder.publicKey[0].toString(16)}`, 6)} after checking its proof of possession`,
    );
    log(`    (born ${adult.claims.birthDate}, country ${adult.claims.country}, valid until ${adult.claims.expiresAt})`);
    log(`    revoked credential #${lost.serial}; its revocation list is served at ${revocationUrl}`);

    // ---------------------------------------------------------------- the API
    // The API's origin is its pseudonym scope (payers check it): listen first, mount after.
    const app = express();
    app.disable("x-powered-by");
    const api = app.listen(0, "127.0.0.1");
    await once(api, "listening");
    servers.push(api);
    const origin = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
    verifier = await AttributeVerifier.create({
      service: origin,
      issuers: [{ key: issuer.publicKeyString, revocation: revocationUrl }],
    });
    const { vkey, vkeySha256 } = loadVerificationKey();
    // Step 10 moved the local chain's clock to an escrow's deadline, ahead of this machine's
    // clock, and a payment expires by the chain's clock: the 402's lifetime (300 s by
    // default) covers the gap, or every payment here would be expired when mined.
    const chainNow = Number((await env.publicClient.getBlock()).timestamp);
    const ttl = 300 + Math.max(0, chainNow - Math.floor(Date.now() / 1000));
    const zk = createZkResourceServer({
      pool: env.pool,
      publicClient: env.publicClient,
      walletClient: env.walletClientFor(SHOP.relayer),
      vkey,
      vkeySha256,
      challengeSecret: `demo-attributes-${Date.now()}-0123456789`,
      attributes: verifier,
      challengeTtlSeconds: ttl,
    });
    // What the API learns of each paid request: its zk-attribute extension, once verified.
    const learned: { pseudonym?: string; keys: string[] }[] = [];
    zk.resourceServer.onAfterSettle(async (ctx) => {
      const info = (ctx.paymentPayload.extensions?.[ZK_ATTRIBUTE_EXTENSION] as { info?: Record<string, unknown> })
        ?.info;
      learned.push({ pseudonym: info?.pseudonym as string | undefined, keys: Object.keys(info ?? {}) });
    });
    const payTo = devAccount(SHOP.payee).address as Address;
    app.use(
      zkPaymentMiddleware(
        {
          "GET /beer": {
            accepts: {
              scheme: "zk-exact",
              network: zk.network,
              payTo,
              price: { amount: PRICE.toString(), asset: env.pool.token },
              maxTimeoutSeconds: ttl,
            },
            extensions: declareZkAttributeExtension(RULE),
          },
        },
        zk.resourceServer,
      ),
    );
    app.get("/beer", (_req, res) => res.json({ served: "one cold beer" }));
    const url = `${origin}/beer`;
    log(`  age-gated API ${url}: zk-exact ${fmt(PRICE)}, rule 18+ and not in KP (408) or IR (364)`);

    const payeeBalance = () =>
      env.publicClient.readContract({
        address: env.pool.token,
        abi: erc20Abi,
        functionName: "balanceOf",
        args: [payTo],
      });
    const identity = (credentials: ZkIdentityOptions["credentials"], onProgress?: ZkIdentityOptions["onProgress"]) => ({
      credentials,
      artifacts: attributeArtifacts(),
      ...(onProgress && { onProgress }),
    });
    const clientWith = (id?: ZkIdentityOptions, onPrepared?: (p: PreparedPayment) => void) => {
      const c = new x402Client().register(
        "eip155:*",
        new ZkExactClientScheme({ wallet, settlement: "server", identity: id, onPrepared }),
      );
      c.setSpendControls(false);
      return c;
    };
    const required = async (): Promise<PaymentRequired> => {
      const res = await fetch(url);
      await res.arrayBuffer();
      const h = res.headers.get("PAYMENT-REQUIRED");
      if (res.status !== 402 || !h) throw new Error(`GET /beer: expected a 402, got HTTP ${res.status}`);
      return decodePaymentRequiredHeader(h);
    };

    // ---------------------------------------------------------------- 1. no proof
    {
      // A payment made as a client unaware of the rule would make it: the 402 without its
      // zk-attribute declaration, then sent with the declaration echoed and no proof.
      const pr = await required();
      const declared = pr.extensions;
      delete pr.extensions;
      let prepared: PreparedPayment | undefined;
      const payload: PaymentPayload = await clientWith(undefined, (p) => (prepared = p)).createPaymentPayload(pr);
      const before = await payeeBalance();
      const res = await fetch(url, {
        headers: {
          "PAYMENT-SIGNATURE": Buffer.from(JSON.stringify({ ...payload, extensions: declared })).toString("base64"),
        },
      });
      await res.arrayBuffer();
      const h = res.headers.get("PAYMENT-REQUIRED");
      const reason = h ? decodePaymentRequiredHeader(h).error : undefined;
      const after = await payeeBalance();
      if (res.status !== 402 || reason !== "attribute_proof_required" || after !== before) {
        throw new Error(`a payment without a proof: HTTP ${res.status} ${reason ?? ""}, payee +${after - before}`);
      }
      if (prepared) await wallet.releasePayment(prepared);
      log(
        `  1. a payment without an attribute proof: HTTP 402 ${reason}; nothing settled (payee +${fmt(after - before)}),`,
      );
      log(`     the agent releases the note it had set aside (private balance ${fmt(wallet.balance())})`);
    }

    // ---------------------------------------------------------------- 2. with the credential
    {
      let proveStart = 0;
      let proveMs = 0;
      const onProgress: ZkIdentityOptions["onProgress"] = (p) => {
        if (proveStart === 0) proveStart = performance.now();
        if (p.stage === "done") proveMs = performance.now() - proveStart;
      };
      const headers: string[] = [];
      const recording: typeof fetch = async (input, init) => {
        const req = new Request(input as RequestInfo, init);
        const h = req.headers.get("PAYMENT-SIGNATURE");
        if (h) headers.push(h);
        return fetch(req);
      };
      const before = await payeeBalance();
      const t0 = performance.now();
      const res = await wrapFetchWithPayment(recording, clientWith(identity([adult], onProgress)))(url);
      const body = await res.text();
      const totalMs = performance.now() - t0;
      const settle = res.headers.get("PAYMENT-RESPONSE");
      const got = (await payeeBalance()) - before;
      if (res.status !== 200 || !settle || !decodePaymentResponseHeader(settle).success || got !== PRICE) {
        const h = res.headers.get("PAYMENT-REQUIRED");
        const reason = h ? decodePaymentRequiredHeader(h).error : res.headers.get(ATTRIBUTE_REFUSED_HEADER);
        throw new Error(
          `the paid request with the credential: HTTP ${res.status} ${reason ?? ""} ${body.slice(0, 200)}, payee +${got}`,
        );
      }
      const seen = learned.at(-1);
      if (!seen?.pseudonym) throw new Error("the API settled a /beer payment without an attribute proof");
      const sent = Buffer.from(headers[0] ?? "", "base64").toString("utf8");
      for (const secret of [String(adult.claims.birthDate), adult.holder[0].toString(), adult.issuer[0].toString()]) {
        if (sent.includes(secret)) throw new Error("the payment carries an attribute of the credential in the clear");
      }
      log(
        `  2. the same request with the credential: HTTP ${res.status} ${body} in ${ms(totalMs)}; payee +${fmt(got)}`,
      );
      log(
        `     the API learned: rule holds (18+, not in KP/IR), pseudonym ${short(`0x${BigInt(seen.pseudonym).toString(16)}`, 8)}, nothing else`,
      );
      log(`     (not the birth date, the country, the serial, the issuer among those it trusts, nor the holder key)`);
      log(
        `     attribute proof ${ms(proveMs)} (made beside the payment proof, sharing the cores); PAYMENT-SIGNATURE ${(headers[0]?.length ?? 0).toLocaleString("en-US")} bytes`,
      );
    }

    // ---------------------------------------------------------------- 3. a minor
    {
      const minor = await issueTo({ birthDate: yearsAgo(16), country: DE, expiresAt: yearsAgo(-2), flags: 0n });
      const before = wallet.balance();
      const payeeBefore = await payeeBalance();
      let refused: ZkPayError | undefined;
      try {
        // What the x402 fetch wrapper does on a 402, without the wrapper (it keeps only the
        // message of the client's error; the reason is what the demo shows).
        await clientWith(identity([minor])).createPaymentPayload(await required());
        throw new Error("a minor's credential was accepted by the client");
      } catch (err) {
        if (!isZkPayError(err, "rule_not_met")) throw err;
        refused = err;
      }
      if (wallet.balance() !== before || (await payeeBalance()) !== payeeBefore) {
        throw new Error("a refused request moved money");
      }
      log(
        `  3. a minor's credential (#${minor.serial}, born ${minor.claims.birthDate}): the agent's client refuses before`,
      );
      log(
        `     proving or paying: ${refused.reason} (${refused.message}); private balance unchanged (${fmt(wallet.balance())})`,
      );
    }
  } finally {
    verifier?.close();
    for (const s of servers) await close(s);
    rmSync(dir, { recursive: true, force: true });
  }
}
