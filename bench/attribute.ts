/**
 * Benchmark section `attribute` (issue #21, Verify & Pay). Every figure sits next to its
 * baseline measured in the same section run, on the same machine, in the same process:
 *
 * - The attribute circuit: `attributeConstraints` (its manifest) beside the payment
 *   circuit's (`attributePaymentConstraints`).
 * - Proving, artifacts in memory: `attributeProveMs` (median witness + Groth16 prove of
 *   `proves` attribute proofs) beside `attributePaymentProveMs` (median of as many payment
 *   proofs, the same witnesses as the verify section's, bench/verify.ts), interleaved: each
 *   attribute proof is bound to the payment proof made just before it (its nullifier and a
 *   condition hash), as a wallet makes them. `attributeProveRatio` = the two medians' ratio
 *   (target <= 1.5).
 * - Off-chain verification: `attributeVerifyMs` (median of `verifies` calls of the SDK's
 *   fast verifier `verifyAttributeProof`) beside `attributePaymentVerifyMs` (the same number
 *   of `Groth16Verifier.verify` calls on payment proofs, as the verify section's
 *   verifyMsMedian).
 * - End to end over real HTTP on 127.0.0.1: one Express API (`createZkResourceServer` with an
 *   `AttributeVerifier`, Hardhat's in-process EVM served as JSON-RPC) with an age-gated route
 *   (18+, two countries blocked) and an ungated one at the same price; one payer wallet pays
 *   each `e2eRuns` times, interleaved, server-settled, from the first request (the 402) to the
 *   paid 200: `attributeGatedE2EMs` beside `attributeUngatedE2EMs`, and the size of the
 *   PAYMENT-SIGNATURE header sent (`attributeHeaderBytes` beside `attributeUngatedHeaderBytes`).
 *   The client fetches the issuer's revocation list over HTTP on every gated request (as a
 *   client without a cache does), so its cost is in the gated figure.
 *
 * Every outcome is checked (the proofs verify, a proof bound to another payment does not,
 * each paid request answers 200 and settles, the payee receives the price), so a broken
 * flow fails the section instead of timing it.
 */
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";

import { x402Client } from "@x402/core/client";
import { decodePaymentResponseHeader } from "@x402/core/http";
import { wrapFetchWithPayment } from "@x402/fetch";
import express from "express";
import { keccak256, toBytes, type Address, type Hex } from "viem";

import { ZkExactClientScheme } from "../sdk/client/scheme.js";
import { MemoryNoteStore } from "../sdk/client/store.js";
import { PrivateWallet } from "../sdk/client/wallet.js";
import { erc20Abi } from "../sdk/core/abi.js";
import { preloadArtifacts } from "../sdk/core/circuits/artifacts.js";
import {
  attributePublicSignals,
  proveAttribute,
  verifyAttributeProof,
  type AttributeStatement,
} from "../sdk/core/circuits/attribute.js";
import { provePayment, type PaymentProofResult } from "../sdk/core/circuits/payment.js";
import { artifactFileNames } from "../sdk/core/circuits/registry.js";
import { EdDsaPoseidonKey } from "../sdk/core/eddsa.js";
import { SNARK_SCALAR_FIELD } from "../sdk/core/field.js";
import { signCredential, type AttributeClaims } from "../sdk/core/identity/credential.js";
import { declareZkAttributeExtension, ZK_ATTRIBUTE_EXTENSION } from "../sdk/core/identity/extension.js";
import { issuersRootOf, type TrustedIssuer } from "../sdk/core/identity/issuers.js";
import { revocationListToJson, RevocationTree, signRevocationList } from "../sdk/core/identity/revocation.js";
import { ymdOf, type AttributeRule } from "../sdk/core/identity/rule.js";
import { WalletKeys } from "../sdk/core/keys.js";
import { Groth16Verifier } from "../sdk/core/verifier.js";
import { zkPaymentMiddleware } from "../sdk/express/index.js";
import {
  artifactsOf,
  attributeArtifacts,
  defaultArtifacts,
  loadAttributeVerificationKey,
  loadVerificationKey,
  verificationKeyOf,
} from "../sdk/node/artifacts.js";
import { AttributeVerifier, attributeServiceId } from "../sdk/server/attributes.js";
import { createZkResourceServer } from "../sdk/server/resource-server.js";
import { devAccount, startDemoChain } from "../scripts/lib/dev-env.js";
import { ARTIFACTS_DIR } from "../scripts/lib/paths.js";
import { fmtInt, median, round, table } from "./util.js";
import { benchPaymentWitnesses } from "./verify.js";

export interface AttributeBenchOptions {
  /** Attribute proofs and payment proofs timed (medians; >= 5). */
  proves?: number;
  /** Verifications timed of each kind (medians). */
  verifies?: number;
  /** Gated and ungated paid HTTP requests timed (medians; >= 3). */
  e2eRuns?: number;
  log?: (msg: string) => void;
}

const DEFAULTS: Required<Omit<AttributeBenchOptions, "log">> = { proves: 5, verifies: 50, e2eRuns: 3 };

/** The route's rule: 18 or older, not in North Korea (408) or Iran (364). */
const RULE: AttributeRule = { minAge: 18, countries: { mode: "block", codes: [408, 364] } };
/** The bench issuer's private key (a fixed test key: figures do not depend on it). */
const ISSUER_SK = `0x${"a1".repeat(32)}` as Hex;
/** A serial the issuer revoked: its revocation root is not 0, so proofs show a real non-membership. */
const REVOKED_SERIAL = 77;
const PRICE = 10_000n;
/** Dev accounts of the e2e part (on its own chain): the API's relayer, the payer, the payee. */
const ACCOUNTS = { relayer: 1, payer: 2, payee: 3 } as const;

/** YYYYMMDD `years` years before today (negative: after). */
function yearsAgo(years: number): number {
  const d = new Date();
  d.setUTCFullYear(d.getUTCFullYear() - years);
  return ymdOf(d);
}

/** An adult's claims, in a country the rule does not block (Germany). */
const ADULT: AttributeClaims = { birthDate: yearsAgo(30), country: 276, expiresAt: yearsAgo(-5), flags: 1n };

/** Milliseconds of a proof's witness and Groth16 steps. */
const proofMs = (r: { timings: { witnessMs: number; proveMs: number } }) => r.timings.witnessMs + r.timings.proveMs;

/**
 * Measures Verify & Pay (see the module's notes).
 *
 * @example
 * const r = await benchAttribute({ log: console.log });
 * r.attributeProveRatio; // attribute proof / payment proof, same run
 */
export async function benchAttribute(options: AttributeBenchOptions = {}) {
  const o = { ...DEFAULTS, ...options };
  const log = options.log ?? (() => {});
  if (o.proves < 5) throw new Error("bench attribute: at least 5 proofs (attributeProveMs is a median of 5)");
  if (o.e2eRuns < 3) throw new Error("bench attribute: at least 3 paid requests of each kind");

  // ------------------------------------------------------------------ circuits
  type Manifest = { constraints: number; version?: string; developmentSetup?: boolean };
  const manifestOf = (name: "attribute" | "payment") =>
    JSON.parse(readFileSync(path.join(ARTIFACTS_DIR, artifactFileNames(name).manifest), "utf8")) as Manifest;
  const manifest = manifestOf("attribute");
  const paymentManifest = manifestOf("payment");

  const proofs = await benchProofs(o, log);
  const e2e = await benchHttp(o, log);

  return {
    attributeConstraints: manifest.constraints,
    attributePaymentConstraints: paymentManifest.constraints,
    attributeCircuitVersion: manifest.version,
    attributeDevelopmentSetup: manifest.developmentSetup,
    ...proofs,
    ...e2e,
  };
}

/** Proving and verification, attribute beside payment. */
async function benchProofs(o: Required<Omit<AttributeBenchOptions, "log">>, log: (msg: string) => void) {
  const paymentArtifacts = artifactsOf("payment");
  const attrArtifacts = attributeArtifacts();
  const { vkey: paymentVkey } = verificationKeyOf("payment");
  const attributeVkey = loadAttributeVerificationKey();
  await preloadArtifacts(paymentArtifacts);
  await preloadArtifacts(attrArtifacts);

  // The holder: a wallet's holder key, and the wallet key the payment witnesses spend with
  // (benchPaymentWitnesses' notes are owned by it; the attribute proof recomputes the note's
  // nullifier from its spending key).
  const holder = WalletKeys.fromSeed(`0x${"be".repeat(32)}`).attributeHolderKey();
  const credential = signCredential(ISSUER_SK, holder.publicKey, ADULT, 5);
  const revocation = await RevocationTree.create([REVOKED_SERIAL]);
  // Two trusted issuers, the credential's first: the proof hides which.
  const other = EdDsaPoseidonKey.fromSecret(`0x${"b2".repeat(32)}`).publicKey;
  const issuers: TrustedIssuer[] = [
    { publicKey: credential.issuer, revocationRoot: revocation.root() },
    { publicKey: other, revocationRoot: 0n },
  ];
  const issuersRoot = issuersRootOf(issuers);
  const serviceId = attributeServiceId("https://bench.example");
  const today = ymdOf(new Date());
  const epoch = BigInt(Math.floor(Date.now() / 86_400_000));
  const witnessOf = benchPaymentWitnesses();

  const statementOf = (i: number, nullifierHash: bigint): AttributeStatement => ({
    context: BigInt(keccak256(toBytes(`GET /beer ${i}`))) % SNARK_SCALAR_FIELD,
    nullifierHash,
    issuersRoot,
    today,
    rule: RULE,
    serviceId,
    epoch,
  });
  /** A payment proof, then the attribute proof bound to it (as the wallet makes them). */
  async function provePair(i: number) {
    const w = witnessOf(i);
    const payment = await provePayment(w, paymentArtifacts);
    const statement = statementOf(i, payment.nullifierHash);
    const t0 = performance.now();
    const attribute = await proveAttribute(attrArtifacts, {
      credential,
      holder,
      issuers,
      revocation,
      note: {
        spendingKey: w.spendingKey,
        value: w.note.value,
        blinding: w.note.blinding,
        treeIndex: BigInt(w.position.treeIndex),
        leafIndex: BigInt(w.position.leafIndex),
      },
      statement,
    });
    const wallMs = performance.now() - t0;
    return { payment, attribute, statement, wallMs };
  }

  // Untimed: the first attribute proof of the process (cold: curve setup, JIT), and one of each.
  const cold = await provePair(0);
  log(`first (cold) pair: payment ${round(proofMs(cold.payment))} ms, attribute ${round(cold.wallMs)} ms`);

  const payments: PaymentProofResult[] = [];
  const pairs: Awaited<ReturnType<typeof provePair>>[] = [];
  for (let i = 1; i <= o.proves; i++) {
    const p = await provePair(i);
    payments.push(p.payment);
    pairs.push(p);
    log(`  ${i}: payment ${round(proofMs(p.payment))} ms, attribute ${round(proofMs(p.attribute))} ms`);
  }
  const attributeProveMs = median(pairs.map((p) => proofMs(p.attribute)));
  const attributePaymentProveMs = median(payments.map(proofMs));

  // Verification: every proof verifies for its own payment, and not for another's.
  const signalsOf = (p: (typeof pairs)[number]) => attributePublicSignals(p.statement, p.attribute.pseudonym);
  for (const p of pairs) {
    if (!(await verifyAttributeProof(attributeVkey, p.attribute.proof, signalsOf(p)))) {
      throw new Error("bench attribute: a valid attribute proof did not verify");
    }
  }
  const [a, b] = pairs as [(typeof pairs)[number], (typeof pairs)[number]];
  const copied = attributePublicSignals(
    { ...a.statement, nullifierHash: b.payment.nullifierHash },
    a.attribute.pseudonym,
  );
  if (await verifyAttributeProof(attributeVkey, a.attribute.proof, copied)) {
    throw new Error("bench attribute: an attribute proof verified for another payment's nullifier");
  }
  const paymentVerifier = await Groth16Verifier.fromVkey(paymentVkey);
  // JIT and curve warm-up of both verifiers.
  for (let i = 0; i < 5; i++) {
    await verifyAttributeProof(attributeVkey, a.attribute.proof, signalsOf(a));
    paymentVerifier.verify(payments[0]!.proof, payments[0]!.publicSignals);
  }
  const attrTimes: number[] = [];
  const payTimes: number[] = [];
  // Interleaved, so that load drift hits both alike.
  for (let i = 0; i < o.verifies; i++) {
    const p = pairs[i % pairs.length]!;
    const signals = signalsOf(p);
    const t0 = performance.now();
    const okA = await verifyAttributeProof(attributeVkey, p.attribute.proof, signals);
    attrTimes.push(performance.now() - t0);
    const q = payments[i % payments.length]!;
    const t1 = performance.now();
    const okP = paymentVerifier.verify(q.proof, q.publicSignals);
    payTimes.push(performance.now() - t1);
    if (!okA || !okP) throw new Error("bench attribute: a valid proof did not verify");
  }
  log(
    `prove median: attribute ${round(attributeProveMs)} ms, payment ${round(attributePaymentProveMs)} ms; ` +
      `verify median: attribute ${round(median(attrTimes), 2)} ms, payment ${round(median(payTimes), 2)} ms`,
  );
  return {
    attributeProveMs: round(attributeProveMs),
    attributeWitnessMs: round(median(pairs.map((p) => p.attribute.timings.witnessMs))),
    // With the input's preparation (credential check, revocation and issuer paths) around the proof.
    attributeProveWallMs: round(median(pairs.map((p) => p.wallMs))),
    attributeProveColdMs: round(cold.wallMs),
    attributePaymentProveMs: round(attributePaymentProveMs),
    attributeProveRuns: pairs.length,
    attributeProveRatio: round(attributeProveMs / attributePaymentProveMs, 2),
    // The median of each pair's ratio (a payment proof and the attribute proof made right
    // after it): steadier than the ratio of the medians when other work loads the machine.
    attributeProveRatioPaired: round(median(pairs.map((p) => proofMs(p.attribute) / proofMs(p.payment))), 2),
    attributeVerifyMs: round(median(attrTimes), 2),
    attributePaymentVerifyMs: round(median(payTimes), 2),
    attributeVerifyRuns: attrTimes.length,
  };
}

/** Gated and ungated paid requests over HTTP on one API. */
async function benchHttp(o: Required<Omit<AttributeBenchOptions, "log">>, log: (msg: string) => void) {
  const env = await startDemoChain();
  const servers: Server[] = [];
  let verifier: AttributeVerifier | undefined;
  let wallet: PrivateWallet | undefined;
  try {
    // The issuer's revocation list, served over HTTP as an issuer publishes it.
    const revocation = await RevocationTree.create([REVOKED_SERIAL]);
    const issuerKey = EdDsaPoseidonKey.fromSecret(ISSUER_SK).publicKey;
    const listJson = JSON.stringify(
      revocationListToJson(
        await signRevocationList(ISSUER_SK, { revoked: revocation.revoked(), updatedAt: Date.now() }),
      ),
    );
    const issuerServer = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" }).end(listJson);
    });
    issuerServer.listen(0, "127.0.0.1");
    await once(issuerServer, "listening");
    servers.push(issuerServer);
    const revocationUrl = `http://127.0.0.1:${(issuerServer.address() as AddressInfo).port}/revocations.json`;

    // The API's origin is its pseudonym scope: listen first, mount the routes after.
    const app = express();
    const api = app.listen(0, "127.0.0.1");
    await once(api, "listening");
    servers.push(api);
    const url = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
    verifier = await AttributeVerifier.create({
      service: url,
      issuers: [{ key: issuerKey, revocation: revocationUrl }],
    });
    const { vkey, vkeySha256 } = loadVerificationKey();
    const zk = createZkResourceServer({
      pool: env.pool,
      publicClient: env.publicClient,
      walletClient: env.walletClientFor(ACCOUNTS.relayer),
      vkey,
      vkeySha256,
      challengeSecret: "bench-attribute-secret-0123456789",
      attributes: verifier,
    });
    const payTo = devAccount(ACCOUNTS.payee).address as Address;
    const accepts = {
      scheme: "zk-exact",
      network: zk.network,
      payTo,
      price: { amount: PRICE.toString(), asset: env.pool.token },
    };
    app.use(
      zkPaymentMiddleware(
        {
          "GET /beer": { accepts, extensions: declareZkAttributeExtension(RULE) },
          "GET /water": { accepts },
        },
        zk.resourceServer,
      ),
    );
    app.get("/beer", (_req, res) => res.json({ served: "beer" }));
    app.get("/water", (_req, res) => res.json({ served: "water" }));

    // The payer: one deposit, enough for every request (warm-ups included).
    const payer = devAccount(ACCOUNTS.payer);
    const requests = 2 * (o.e2eRuns + 1);
    const deposit = PRICE * BigInt(requests) * 2n;
    await env.waitOk(
      await env.walletClientFor(ACCOUNTS.payer).writeContract({
        address: env.pool.token,
        abi: erc20Abi,
        functionName: "mint",
        args: [payer.address, deposit],
        account: payer,
        chain: env.viemChain,
      }),
    );
    wallet = await PrivateWallet.open({
      seed: WalletKeys.randomSeed(),
      pool: env.pool,
      publicClient: env.publicClient,
      walletClient: env.walletClientFor(ACCOUNTS.payer),
      store: new MemoryNoteStore(),
      artifacts: defaultArtifacts(),
      sync: { auto: false },
    });
    await wallet.deposit(deposit);
    const credential = signCredential(ISSUER_SK, wallet.attributeHolderKey().publicKey, ADULT, 5);

    const client = new x402Client().register(
      "eip155:*",
      new ZkExactClientScheme({
        wallet,
        settlement: "server",
        identity: { credentials: [credential], artifacts: attributeArtifacts() },
      }),
    );
    client.setSpendControls(false);
    const balance = () =>
      env.publicClient.readContract({
        address: env.pool.token,
        abi: erc20Abi,
        functionName: "balanceOf",
        args: [payTo],
      });

    /** One paid request, from the 402 to the paid 200, checked: served, settled, payee paid. */
    async function paid(route: "/beer" | "/water") {
      const headers: string[] = [];
      const recording: typeof fetch = async (input, init) => {
        const req = new Request(input as RequestInfo, init);
        const h = req.headers.get("PAYMENT-SIGNATURE");
        if (h) headers.push(h);
        return fetch(req);
      };
      const before = await balance();
      const t0 = performance.now();
      const res = await wrapFetchWithPayment(recording, client)(`${url}${route}`);
      const body = await res.text();
      const ms = performance.now() - t0;
      const settled = res.headers.get("PAYMENT-RESPONSE");
      if (res.status !== 200 || !settled || !decodePaymentResponseHeader(settled).success) {
        throw new Error(`bench attribute: GET ${route} answered HTTP ${res.status} ${body.slice(0, 200)}`);
      }
      if (body !== JSON.stringify({ served: route.slice(1) }))
        throw new Error(`bench attribute: GET ${route}: ${body}`);
      const got = (await balance()) - before;
      if (got !== PRICE) throw new Error(`bench attribute: GET ${route}: the payee got ${got}, not ${PRICE}`);
      if (headers.length !== 1) throw new Error(`bench attribute: GET ${route} sent ${headers.length} payments`);
      const sent = JSON.parse(Buffer.from(headers[0]!, "base64").toString("utf8")) as {
        extensions?: Record<string, { info?: { proof?: unknown } }>;
      };
      const proved = sent.extensions?.[ZK_ATTRIBUTE_EXTENSION]?.info?.proof !== undefined;
      if (proved !== (route === "/beer"))
        throw new Error(`bench attribute: GET ${route}: attribute proof sent: ${proved}`);
      return { ms, headerBytes: Buffer.byteLength(headers[0]!) };
    }

    // Untimed warm-up of each (the wallet's first sync, connections, the verifier's JIT).
    await paid("/water");
    await paid("/beer");
    const gated: { ms: number; headerBytes: number }[] = [];
    const ungated: { ms: number; headerBytes: number }[] = [];
    for (let i = 0; i < o.e2eRuns; i++) {
      ungated.push(await paid("/water"));
      gated.push(await paid("/beer"));
      log(`  round ${i + 1}: ungated ${fmtInt(ungated[i]!.ms)} ms, gated ${fmtInt(gated[i]!.ms)} ms`);
    }
    const gatedMs = median(gated.map((r) => r.ms));
    const ungatedMs = median(ungated.map((r) => r.ms));
    return {
      attributeGatedE2EMs: round(gatedMs),
      attributeUngatedE2EMs: round(ungatedMs),
      attributeGatedVsUngatedRatio: round(gatedMs / ungatedMs, 2),
      attributeE2ERuns: gated.length,
      attributeHeaderBytes: Math.round(median(gated.map((r) => r.headerBytes))),
      attributeUngatedHeaderBytes: Math.round(median(ungated.map((r) => r.headerBytes))),
    };
  } finally {
    verifier?.close();
    await wallet?.close();
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
    await env.close();
  }
}

/** The section's figures as returned by {@link benchAttribute}. */
export type AttributeBenchResult = Awaited<ReturnType<typeof benchAttribute>>;

/**
 * The section's table: each figure beside its same-run baseline.
 *
 * @example
 * console.log(reportAttribute(await benchAttribute()));
 */
export function reportAttribute(r: Record<string, unknown>): string {
  const x = r as Partial<AttributeBenchResult>;
  const g = (v: number | undefined) => (v === undefined ? "-" : fmtInt(v));
  const ms = (v: number | undefined, d = 1) => (v === undefined ? "-" : v.toFixed(d));
  const ratio = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined || b === 0 ? "-" : `x${(a / b).toFixed(2)}`;
  return [
    "Verify & Pay (bench/attribute.ts, #21): the attribute proof beside the payment proof, same run",
    table(
      ["figure", "attribute", "baseline (payment)", "ratio"],
      [
        [
          "constraints",
          g(x.attributeConstraints),
          g(x.attributePaymentConstraints),
          ratio(x.attributeConstraints, x.attributePaymentConstraints),
        ],
        [
          `prove ms, witness + Groth16, in memory (median of ${x.attributeProveRuns ?? "-"}; target <= 1.5x)`,
          ms(x.attributeProveMs),
          ms(x.attributePaymentProveMs),
          x.attributeProveRatio === undefined ? "-" : `x${x.attributeProveRatio.toFixed(2)}`,
        ],
        [
          "  median of each pair's ratio (payment proof, then its attribute proof)",
          "",
          "",
          x.attributeProveRatioPaired === undefined ? "-" : `x${x.attributeProveRatioPaired.toFixed(2)}`,
        ],
        ["  witness ms (median)", ms(x.attributeWitnessMs), "", ""],
        ["  with the input's preparation (median)", ms(x.attributeProveWallMs), "", ""],
        ["  first attribute proof of the section (cold)", ms(x.attributeProveColdMs), "", ""],
        [
          `verify ms, verifyAttributeProof / Groth16Verifier (median of ${x.attributeVerifyRuns ?? "-"})`,
          ms(x.attributeVerifyMs, 2),
          ms(x.attributePaymentVerifyMs, 2),
          ratio(x.attributeVerifyMs, x.attributePaymentVerifyMs),
        ],
      ],
    ),
    "",
    "Paid requests over HTTP on 127.0.0.1, one API, server-settled: age-gated route vs ungated route",
    table(
      ["figure", "gated (18+, 2 countries blocked)", "ungated", "ratio"],
      [
        [
          `402 -> paid 200, ms (median of ${x.attributeE2ERuns ?? "-"})`,
          ms(x.attributeGatedE2EMs),
          ms(x.attributeUngatedE2EMs),
          ratio(x.attributeGatedE2EMs, x.attributeUngatedE2EMs),
        ],
        [
          "PAYMENT-SIGNATURE header, bytes",
          g(x.attributeHeaderBytes),
          g(x.attributeUngatedHeaderBytes),
          ratio(x.attributeHeaderBytes, x.attributeUngatedHeaderBytes),
        ],
      ],
    ),
  ].join("\n");
}
