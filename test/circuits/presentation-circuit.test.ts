import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";

import { Base8, mulPointEscalar, subOrder } from "@zk-kit/baby-jubjub";
import { expect } from "chai";
import { poseidon7 } from "poseidon-lite";
import * as snarkjs from "snarkjs";

import { ROOT } from "../../scripts/lib/paths.js";
import { EdDsaPoseidonKey, verifyEdDsaPoseidon, type BabyJubPoint } from "../../sdk/core/eddsa.js";
import { isZkPayError } from "../../sdk/core/errors.js";
import { SNARK_SCALAR_FIELD } from "../../sdk/core/field.js";
import { WalletKeys } from "../../sdk/core/keys.js";
import { commitmentOf, nullifierHashOf, nullifyingKeyOf, ownerKeyOf, precommitmentOf } from "../../sdk/core/note.js";
import { hash1, hash2 } from "../../sdk/core/poseidon.js";
import { fromSolidityProof, type Groth16Proof, type SolidityProof } from "../../sdk/core/circuits/proof.js";
import { shutdownProver } from "../../sdk/core/prover.js";
import { verifyPaymentProofSnarkjs } from "../../sdk/core/circuits/payment.js";
import { Groth16Verifier, type Groth16BatchItem } from "../../sdk/core/verifier.js";
import {
  CREDENTIAL_DOMAINS,
  CREDENTIAL_LIMITS,
  credentialMessage,
  credentialSignatureValid,
  holderCommitmentOf,
  originTokenOf,
  serviceIdOf,
  type Credential,
  type CredentialTerms,
  type HolderSecrets,
} from "../../sdk/session/credential.js";
import { presentationCircuitInput, provePresentation, type PresentationWitness } from "../../sdk/session/prove.js";
import { presentationSignals, type Presentation } from "../../sdk/session/wire.js";
import { inOrderConcurrently } from "../helpers/parallel.js";

// The session-credential presentation circuit, tested directly on its committed
// artifacts (circuits/artifacts/presentation.*) against the SDK's reference
// implementation (sdk/session/credential.ts, sdk/core/eddsa.ts), with the discipline of
// test/circuits/payment-circuit.test.ts and test/core/verifier.test.ts for payments:
//   - must-fail cases only compute a witness (snarkjs.wtns.calculate on
//     presentationCircuitInput(...) with fields overridden, bypassing provePresentation's
//     client-side pre-checks) and assert it throws "Assert Failed" *at the check that
//     must reject it*: circom names the failing template and source line, from the
//     innermost template outwards, and the lines are looked up in the sources by text;
//   - a handful of real proofs, made once, feed the verifier vectors: the fast mcl
//     verifier and snarkjs must agree, except where snarkjs reduces point coordinates
//     mod q (documented as in test/core/verifier.test.ts).

const P = SNARK_SCALAR_FIELD; // BN254 scalar field r: public signals and circuit values live mod r
const Q = 21888242871839275222246405745257275088696311157297823662689037894645226208583n; // base field q
const L = subOrder; // BabyJubJub prime subgroup order l

const DIR = path.join(ROOT, "circuits", "artifacts");
const ARTIFACTS = { wasm: path.join(DIR, "presentation.wasm"), zkey: path.join(DIR, "presentation.zkey") };
const VKEY: unknown = JSON.parse(readFileSync(path.join(DIR, "presentation.vkey.json"), "utf8"));
const PAYMENT_VKEY: unknown = JSON.parse(readFileSync(path.join(DIR, "payment.vkey.json"), "utf8"));
const MANIFEST = JSON.parse(readFileSync(path.join(DIR, "presentation.manifest.json"), "utf8")) as {
  tierBits: number;
  timeBits: number;
  countBits: number;
  publicSignals: string[];
  sha256: { wasm: string; zkey: string; vkey: string };
};
const NAMES = ["originToken", "serviceId", "requiredTier", "now", "originId", "context"];

// ------------------------------------------------------------------ scenario

const ISSUER = EdDsaPoseidonKey.fromSecret("0x" + "a1".repeat(32));
const OTHER = EdDsaPoseidonKey.fromSecret("0x" + "b2".repeat(32));
const WALLET = WalletKeys.fromSeed("0x" + "11".repeat(32));
const HOLDER = WALLET.credentialSecrets(0x1234_5678n);
const HOLDER2 = WALLET.credentialSecrets(0x9abc_def0n); // another purchase by the same wallet

const ISSUED = 1_767_225_600; // 2026-01-01T00:00:00Z
const TERMS: CredentialTerms = {
  serviceId: serviceIdOf(ISSUER.publicKey),
  tier: 3,
  issuedAt: ISSUED,
  expiresAt: ISSUED + 86_400,
  maxPresentations: 10,
};
const NOW = ISSUED + 3_600;
const ORIGIN = hash2(0x0815n, 1n);
const ORIGIN2 = hash2(0x0815n, 2n);
const CONTEXT = hash2(0x402n, 0x5e55n);

/** A credential as `key` issues it (the SDK path: checkTerms + credentialMessage + sign). */
function issue(key: EdDsaPoseidonKey, terms: CredentialTerms, holder: HolderSecrets): Credential {
  const holderCommitment = holderCommitmentOf(holder);
  return {
    ...terms,
    holderCommitment,
    issuer: key.publicKey,
    signature: key.sign(credentialMessage(terms, holderCommitment)),
  };
}

const CRED = issue(ISSUER, TERMS, HOLDER);
const OTHER_CRED = issue(OTHER, { ...TERMS, serviceId: serviceIdOf(OTHER.publicKey) }, HOLDER2);

/** The default presentation: CRED, index 0, route tier 1, at ORIGIN. */
const W0: PresentationWitness = {
  credential: CRED,
  holder: HOLDER,
  index: 0,
  requiredTier: 1,
  now: NOW,
  originId: ORIGIN,
  context: CONTEXT,
};

// ------------------------------------------------------------------ circuit input

const SIGNALS = [
  "serviceId",
  "requiredTier",
  "now",
  "originId",
  "context",
  "Ax",
  "Ay",
  "R8x",
  "R8y",
  "S",
  "tier",
  "issuedAt",
  "expiresAt",
  "maxPresentations",
  "nullifierSeed",
  "blinding",
  "index",
] as const;
type SignalName = (typeof SIGNALS)[number];
type Over = Partial<Record<SignalName, bigint | number>>;
type Input = Record<SignalName, string>;

/** presentationCircuitInput(w) with any signal overridden (values the SDK's types could not even hold). */
function input(over: Over = {}, w: PresentationWitness = W0): Input {
  const base = presentationCircuitInput(w) as Input;
  for (const [k, v] of Object.entries(over)) base[k as SignalName] = String(v);
  return base;
}

/** Raw terms, as bigints: an issuer could sign anything, including what checkTerms refuses. */
interface RawTerms {
  serviceId: bigint;
  tier: bigint;
  issuedAt: bigint;
  expiresAt: bigint;
  maxPresentations: bigint;
}
const rawOf = (t: CredentialTerms): RawTerms => ({
  serviceId: t.serviceId,
  tier: BigInt(t.tier),
  issuedAt: BigInt(t.issuedAt),
  expiresAt: BigInt(t.expiresAt),
  maxPresentations: BigInt(t.maxPresentations),
});

/** The credential message without checkTerms (must equal credentialMessage on valid terms). */
function rawMessage(t: RawTerms, holderCommitment: bigint): bigint {
  return poseidon7([
    CREDENTIAL_DOMAINS.credential,
    t.serviceId,
    t.tier,
    t.issuedAt,
    t.expiresAt,
    t.maxPresentations,
    holderCommitment,
  ]);
}

/** Overrides for a credential `key` really signed over raw terms `t` (to `holder`). */
function signedOver(key: EdDsaPoseidonKey, t: RawTerms, holder: HolderSecrets = HOLDER): Over {
  const sig = key.sign(rawMessage(t, holderCommitmentOf(holder)));
  return {
    serviceId: t.serviceId,
    Ax: key.publicKey[0],
    Ay: key.publicKey[1],
    R8x: sig.R8[0],
    R8y: sig.R8[1],
    S: sig.S,
    tier: t.tier,
    issuedAt: t.issuedAt,
    expiresAt: t.expiresAt,
    maxPresentations: t.maxPresentations,
    nullifierSeed: holder.nullifierSeed,
    blinding: holder.blinding,
  };
}

/** The issuer's real signature over raw terms (TERMS with `t` overridden), for CRED's holder. */
const signedTerms = (t: Partial<RawTerms>): Over => signedOver(ISSUER, { ...rawOf(TERMS), ...t });

type Wtns = { type: "mem"; data?: Uint8Array };

/** Computes the witness (throws on a violated constraint). Layout: [1, originToken, serviceId, requiredTier, now, originId, context, ...]. */
async function witness(i: Input): Promise<bigint[]> {
  const w: Wtns = { type: "mem" };
  await snarkjs.wtns.calculate(i, ARTIFACTS.wasm, w);
  return snarkjs.wtns.exportJson(w);
}

/** Asserts the circuit accepts `i`, its token equals originTokenOf and it echoes the public inputs. */
async function expectAccepts(i: Input): Promise<bigint> {
  const w = await witness(i);
  const token = originTokenOf(BigInt(i.nullifierSeed), BigInt(i.originId), Number(i.index));
  expect(w[1], "originToken = originTokenOf(nullifierSeed, originId, index)").to.equal(token);
  expect(w.slice(2, 7)).to.deep.equal(
    [i.serviceId, i.requiredTier, i.now, i.originId, i.context].map((x) => BigInt(x) % P),
  );
  return token;
}

// ------------------------------------------------------------------ which check fails

const CIRCOMLIB = path.join(ROOT, "node_modules", "circomlib", "circuits");

function lineOf(file: string, needle: string): number {
  const lines = readFileSync(file, "utf8").split("\n");
  const hits = lines.flatMap((l, idx) => (l.includes(needle) ? [idx + 1] : []));
  if (hits.length !== 1) throw new Error(`expected exactly one line with "${needle}" in ${file}, found ${hits.length}`);
  return hits[0]!;
}

interface Frame {
  template: string;
  line: number;
}
interface Check {
  name: string;
  frames: Frame[];
}
const pres = (needle: string): Frame => ({
  template: "Presentation",
  line: lineOf(path.join(ROOT, "circuits", "presentation.circom"), needle),
});
const lib = (template: string, file: string, needle: string): Frame => ({
  template,
  line: lineOf(path.join(CIRCOMLIB, file), needle),
});
const NUM2BITS = lib("Num2Bits", "bitify.circom", "lc1 === in;");
const EDDSA_CALL = pres("EdDSAPoseidonVerifier()(1, Ax, Ay, S, R8x, R8y, message);");
const range = (name: string, needle: string): Check => ({ name: `${name} range`, frames: [NUM2BITS, pres(needle)] });

const CHECKS = {
  serviceId: { name: "serviceId names the issuer key", frames: [pres("computedServiceId === serviceId;")] },
  r8OnCurve: {
    name: "R8 on the curve",
    frames: [lib("BabyCheck", "babyjub.circom", "a*x2 + y2 === 1 + d*x2*y2;"), pres("BabyCheck()(R8x, R8y);")],
  },
  signature: {
    name: "signature equation S*B8 = R8 + 8*h*A",
    frames: [
      lib("ForceEqualIfEnabled", "comparators.circom", "(1 - isz.out)*enabled === 0;"),
      lib("EdDSAPoseidonVerifier", "eddsaposeidon.circom", "eqCheckX.in[1] <== addRight.xout;"),
      EDDSA_CALL,
    ],
  },
  sBelowOrder: {
    name: "S < subgroup order",
    frames: [lib("EdDSAPoseidonVerifier", "eddsaposeidon.circom", "compConstant.out*enabled === 0;"), EDDSA_CALL],
  },
  sBits: {
    name: "S fits 253 bits",
    frames: [NUM2BITS, lib("EdDSAPoseidonVerifier", "eddsaposeidon.circom", "snum2bits.in <== S;"), EDDSA_CALL],
  },
  keyNotSmallOrder: {
    name: "issuer key not of small order",
    frames: [lib("EdDSAPoseidonVerifier", "eddsaposeidon.circom", "isZero.out*enabled === 0;"), EDDSA_CALL],
  },
  tierRange: range("tier", "Num2Bits(TIER_BITS)(tier)"),
  requiredTierRange: range("requiredTier", "Num2Bits(TIER_BITS)(requiredTier)"),
  issuedAtRange: range("issuedAt", "Num2Bits(TIME_BITS)(issuedAt)"),
  expiresAtRange: range("expiresAt", "Num2Bits(TIME_BITS)(expiresAt)"),
  nowRange: range("now", "Num2Bits(TIME_BITS)(now)"),
  maxRange: range("maxPresentations", "Num2Bits(COUNT_BITS)(maxPresentations)"),
  indexRange: range("index", "Num2Bits(COUNT_BITS)(index)"),
  tier: { name: "tier >= requiredTier", frames: [pres("tierOk === 1;")] },
  started: { name: "issuedAt <= now", frames: [pres("started === 1;")] },
  notExpired: { name: "now < expiresAt", frames: [pres("notExpired === 1;")] },
  index: { name: "index < maxPresentations", frames: [pres("indexOk === 1;")] },
} satisfies Record<string, Check>;

/** Asserts the witness calculation rejects `i` with an Assert, at the check `by` (every frame, in order). */
async function expectFails(i: Input, by: Check) {
  let message: string | undefined;
  // The witness calculator console.error()s every failure before throwing.
  const consoleError = console.error;
  console.error = () => {};
  try {
    await witness(i);
  } catch (err) {
    message = err instanceof Error ? err.message : String(err);
  } finally {
    console.error = consoleError;
  }
  if (message === undefined) {
    throw new Error(
      `SOUNDNESS: the circuit accepted an input it must reject (expected "${by.name}"):\n${JSON.stringify(i)}`,
    );
  }
  expect(message).to.match(/Assert Failed/);
  const frames = by.frames.map((f) => `Error in template ${f.template}_\\d+ line: ${f.line}\\b`).join("[^]*");
  expect(message, `expected the "${by.name}" check to reject; got: ${message}`).to.match(new RegExp(frames));
}

// ------------------------------------------------------------------ tests

describe("Presentation circuit (committed artifacts vs the SDK reference)", function () {
  this.timeout(120_000);

  describe("artifacts, constants and layout", function () {
    it("domain constants in credential.circom equal CREDENTIAL_DOMAINS (and the documented ASCII names)", function () {
      const src = readFileSync(path.join(ROOT, "circuits", "credential.circom"), "utf8");
      const found = Object.fromEntries(
        [...src.matchAll(/function (\w+)_DOMAIN\(\) \{ return (\d+); \}/g)].map((m) => [m[1]!, BigInt(m[2]!)]),
      );
      expect(found).to.deep.equal({
        SERVICE: CREDENTIAL_DOMAINS.service,
        CREDENTIAL: CREDENTIAL_DOMAINS.credential,
        HOLDER: CREDENTIAL_DOMAINS.holder,
        ORIGIN_TOKEN: CREDENTIAL_DOMAINS.originToken,
      });
      const ascii = (s: string) => BigInt("0x" + Buffer.from(s, "ascii").toString("hex"));
      expect(CREDENTIAL_DOMAINS).to.deep.equal({
        service: ascii("402zk.service.v1"),
        credential: ascii("402zk.credential.v1"),
        holder: ascii("402zk.credential-secret.v1"),
        originToken: ascii("402zk.origin-token.v1"),
      });
      expect(new Set(Object.values(CREDENTIAL_DOMAINS)).size).to.equal(4);
    });

    it("main instance is Presentation(16, 40, 32) = CREDENTIAL_LIMITS = manifest; public signals in the documented order", function () {
      const main = readFileSync(path.join(ROOT, "circuits", "main", "presentation.circom"), "utf8");
      const m = /component main \{public \[([^\]]*)\]\} = Presentation\((\d+), (\d+), (\d+)\);/.exec(main);
      expect(m, "main component").to.not.equal(null);
      expect(m![1]!.split(",").map((s) => s.trim())).to.deep.equal(NAMES.slice(1));
      const bits = { tierBits: Number(m![2]), timeBits: Number(m![3]), countBits: Number(m![4]) };
      expect(bits).to.deep.equal({ ...CREDENTIAL_LIMITS });
      expect(bits).to.deep.equal({
        tierBits: MANIFEST.tierBits,
        timeBits: MANIFEST.timeBits,
        countBits: MANIFEST.countBits,
      });
      expect(MANIFEST.publicSignals).to.deep.equal(NAMES);
      expect((VKEY as { nPublic: number }).nPublic).to.equal(6);
      // presentationCircuitInput lays out exactly the circuit's inputs.
      expect(Object.keys(presentationCircuitInput(W0)).sort()).to.deep.equal([...SIGNALS].sort());
    });

    it("the committed artifacts are the ones the manifest describes", function () {
      const sha = (f: string) =>
        createHash("sha256")
          .update(readFileSync(path.join(DIR, f)))
          .digest("hex");
      expect(sha("presentation.wasm")).to.equal(MANIFEST.sha256.wasm);
      expect(sha("presentation.zkey")).to.equal(MANIFEST.sha256.zkey);
      expect(sha("presentation.vkey.json")).to.equal(MANIFEST.sha256.vkey);
    });

    it("the test scenario is what the tests assume (valid signatures, raw message = credentialMessage)", function () {
      expect(credentialSignatureValid(CRED)).to.equal(true);
      expect(credentialSignatureValid(OTHER_CRED)).to.equal(true);
      expect(rawMessage(rawOf(TERMS), CRED.holderCommitment)).to.equal(credentialMessage(TERMS, CRED.holderCommitment));
      expect(HOLDER.nullifierSeed).to.not.equal(HOLDER2.nullifierSeed);
      // Distinct values, so the unlinkability checks below mean something.
      const privateValues = [TERMS.tier, TERMS.issuedAt, TERMS.expiresAt, TERMS.maxPresentations].map(BigInt);
      for (const v of [BigInt(W0.requiredTier), BigInt(W0.now)]) expect(privateValues).to.not.include(v);
    });
  });

  describe("accepts valid presentations; the token equals originTokenOf", function () {
    const cases: [string, Input][] = [
      ["default (tier 3 >= 1, index 0 of 10)", input()],
      ["tier = requiredTier", input({ requiredTier: TERMS.tier })],
      ["requiredTier = 0", input({ requiredTier: 0 })],
      ["now = issuedAt (first second)", input({ now: TERMS.issuedAt })],
      ["now = expiresAt - 1 (last second)", input({ now: TERMS.expiresAt - 1 })],
      ["index = maxPresentations - 1 (last presentation)", input({ index: TERMS.maxPresentations - 1 })],
      ["context = 0, originId = 0", input({ context: 0n, originId: 0n })],
      ["context = originId = r - 1", input({ context: P - 1n, originId: P - 1n })],
      [
        "another issuer's credential, for its own service",
        input({}, { ...W0, credential: OTHER_CRED, holder: HOLDER2 }),
      ],
      [
        "extreme terms: tier 2^16-1, issuedAt 0, expiresAt 2^40-1, max 2^32-1, index 2^32-2",
        input({
          ...signedTerms({
            tier: 65_535n,
            issuedAt: 0n,
            expiresAt: (1n << 40n) - 1n,
            maxPresentations: (1n << 32n) - 1n,
          }),
          requiredTier: 65_535,
          now: (1n << 40n) - 2n,
          index: (1n << 32n) - 2n,
        }),
      ],
      ["maxPresentations = 1, index 0", input(signedTerms({ maxPresentations: 1n }))],
    ];
    for (const [label, i] of cases) {
      it(label, async function () {
        await expectAccepts(i);
      });
    }

    it("tokens differ per index and per origin, and equal the reference at each", async function () {
      const tokens = new Set<bigint>();
      for (const [index, originId] of [
        [0, ORIGIN],
        [1, ORIGIN],
        [2, ORIGIN],
        [0, ORIGIN2],
      ] as const) {
        tokens.add(await expectAccepts(input({ index, originId })));
      }
      expect(tokens.size).to.equal(4);
    });
  });

  describe("presentation count: index < maxPresentations, range-checked", function () {
    const cases: [string, Input, Check][] = [
      ["index = maxPresentations", input({ index: TERMS.maxPresentations }), CHECKS.index],
      ["index = maxPresentations + 1", input({ index: TERMS.maxPresentations + 1 }), CHECKS.index],
      ["index = 2^32 - 1 (in range, far above max)", input({ index: (1n << 32n) - 1n }), CHECKS.index],
      ["index = 2^32", input({ index: 1n << 32n }), CHECKS.indexRange],
      // Without the range check LessThan(32) would take r - 1 (that is, -1) for less than
      // 10 (it tests bit 32 of index + 2^32 - max = 2^32 - 11): a fresh token per "index".
      [
        "index = r - 1 (-1: would alias below max without the range check)",
        input({ index: P - 1n }),
        CHECKS.indexRange,
      ],
      ["index = r - 2^32", input({ index: P - (1n << 32n) }), CHECKS.indexRange],
      [
        "maxPresentations = 0 (signed by the issuer), index 0",
        input(signedTerms({ maxPresentations: 0n })),
        CHECKS.index,
      ],
      [
        "maxPresentations = 2^32 (signed by the issuer)",
        input(signedTerms({ maxPresentations: 1n << 32n })),
        CHECKS.maxRange,
      ],
    ];
    for (const [label, i, by] of cases) {
      it(`${label} -> fails at "${by.name}"`, async function () {
        await expectFails(i, by);
      });
    }
  });

  describe("validity window: issuedAt <= now < expiresAt, range-checked", function () {
    const cases: [string, Input, Check][] = [
      ["now = expiresAt", input({ now: TERMS.expiresAt }), CHECKS.notExpired],
      ["now = expiresAt + 1", input({ now: TERMS.expiresAt + 1 }), CHECKS.notExpired],
      ["now = expiresAt + one year", input({ now: TERMS.expiresAt + 365 * 86_400 }), CHECKS.notExpired],
      ["now = issuedAt - 1", input({ now: TERMS.issuedAt - 1 }), CHECKS.started],
      ["now = 0", input({ now: 0 }), CHECKS.started],
      ["now = 2^40", input({ now: 1n << 40n }), CHECKS.nowRange],
      ["now = r - 1", input({ now: P - 1n }), CHECKS.nowRange],
      [
        "expiresAt = issuedAt (signed): no now works (now = issuedAt)",
        input({ ...signedTerms({ expiresAt: BigInt(TERMS.issuedAt) }), now: TERMS.issuedAt }),
        CHECKS.notExpired,
      ],
      ["expiresAt = 2^40 (signed by the issuer)", input(signedTerms({ expiresAt: 1n << 40n })), CHECKS.expiresAtRange],
      [
        "issuedAt = r - 1 (signed by the issuer: -1, before any now)",
        input(signedTerms({ issuedAt: P - 1n })),
        CHECKS.issuedAtRange,
      ],
    ];
    for (const [label, i, by] of cases) {
      it(`${label} -> fails at "${by.name}"`, async function () {
        await expectFails(i, by);
      });
    }
  });

  describe("tier: tier >= requiredTier, range-checked", function () {
    const cases: [string, Input, Check][] = [
      ["requiredTier = tier + 1", input({ requiredTier: TERMS.tier + 1 }), CHECKS.tier],
      ["requiredTier = 2^16 - 1", input({ requiredTier: 65_535 }), CHECKS.tier],
      ["requiredTier = 2^16", input({ requiredTier: 1n << 16n }), CHECKS.requiredTierRange],
      [
        "requiredTier = 2^16 against a tier-65535 credential",
        input({ ...signedTerms({ tier: 65_535n }), requiredTier: 1n << 16n }),
        CHECKS.requiredTierRange,
      ],
      ["requiredTier = r - 1", input({ requiredTier: P - 1n }), CHECKS.requiredTierRange],
      ["tier = 2^16 (signed by the issuer)", input(signedTerms({ tier: 1n << 16n })), CHECKS.tierRange],
      ["tier = r - 1 (signed by the issuer)", input(signedTerms({ tier: P - 1n })), CHECKS.tierRange],
    ];
    for (const [label, i, by] of cases) {
      it(`${label} -> fails at "${by.name}"`, async function () {
        await expectFails(i, by);
      });
    }
  });

  describe("issuer key, service id and signature", function () {
    const sig = CRED.signature;
    const otherSigned = signedOver(OTHER, rawOf(OTHER_CRED), HOLDER); // OTHER's credential for its own service
    const otherClaimsIssuer = signedOver(OTHER, rawOf(TERMS), HOLDER); // OTHER signs terms naming ISSUER's service
    const negR8: BabyJubPoint = [(P - sig.R8[0]) % P, sig.R8[1]]; // -R8: on the curve
    const cases: [string, Input, Check][] = [
      ["serviceId of another key", input({ serviceId: serviceIdOf(OTHER.publicKey) }), CHECKS.serviceId],
      ["serviceId + 1", input({ serviceId: TERMS.serviceId + 1n }), CHECKS.serviceId],
      [
        "another key's credential (its own serviceId signed), presented under the first service",
        input({ ...otherSigned, serviceId: TERMS.serviceId }),
        CHECKS.serviceId,
      ],
      [
        "another key signs terms naming the first service, presented with its own key",
        input(otherClaimsIssuer),
        CHECKS.serviceId,
      ],
      [
        "another key signs terms naming the first service, presented with the first key",
        input({ ...otherClaimsIssuer, Ax: ISSUER.publicKey[0], Ay: ISSUER.publicKey[1] }),
        CHECKS.signature,
      ],
      ["S + 1", input({ S: sig.S + 1n }), CHECKS.signature],
      ["S = 0", input({ S: 0n }), CHECKS.signature],
      ["S = l - 1", input({ S: L - 1n }), CHECKS.signature],
      ["S + l (same S*B8: the malleated signature)", input({ S: sig.S + L }), CHECKS.sBelowOrder],
      ["S = l", input({ S: L }), CHECKS.sBelowOrder],
      ["S = 2^253", input({ S: 1n << 253n }), CHECKS.sBits],
      ["R8x + 1 (off the curve)", input({ R8x: sig.R8[0] + 1n }), CHECKS.r8OnCurve],
      ["R8y + 1 (off the curve)", input({ R8y: sig.R8[1] + 1n }), CHECKS.r8OnCurve],
      ["R8 = (0, 0) (off the curve)", input({ R8x: 0n, R8y: 0n }), CHECKS.r8OnCurve],
      ["R8 = -R8 (on the curve)", input({ R8x: negR8[0], R8y: negR8[1] }), CHECKS.signature],
      ["R8 = B8 (on the curve)", input({ R8x: Base8[0], R8y: Base8[1] }), CHECKS.signature],
      [
        "R8 of another credential's signature",
        input({ R8x: OTHER_CRED.signature.R8[0], R8y: OTHER_CRED.signature.R8[1] }),
        CHECKS.signature,
      ],
      [
        "R8 and S of another credential's signature",
        input({ R8x: OTHER_CRED.signature.R8[0], R8y: OTHER_CRED.signature.R8[1], S: OTHER_CRED.signature.S }),
        CHECKS.signature,
      ],
      ["tier + 1 (unsigned)", input({ tier: TERMS.tier + 1 }), CHECKS.signature],
      ["expiresAt + 1 (unsigned)", input({ expiresAt: TERMS.expiresAt + 1 }), CHECKS.signature],
      ["maxPresentations + 1 (unsigned)", input({ maxPresentations: TERMS.maxPresentations + 1 }), CHECKS.signature],
      ["issuedAt - 1 (unsigned)", input({ issuedAt: TERMS.issuedAt - 1 }), CHECKS.signature],
      ["nullifierSeed + 1", input({ nullifierSeed: HOLDER.nullifierSeed + 1n }), CHECKS.signature],
      ["blinding + 1", input({ blinding: HOLDER.blinding + 1n }), CHECKS.signature],
      [
        "nullifierSeed and blinding swapped",
        input({ nullifierSeed: HOLDER.blinding, blinding: HOLDER.nullifierSeed }),
        CHECKS.signature,
      ],
      [
        "another purchase's holder secrets (same wallet)",
        input({ nullifierSeed: HOLDER2.nullifierSeed, blinding: HOLDER2.blinding }),
        CHECKS.signature,
      ],
      [
        "only the nullifierSeed of another purchase (its tokens), own blinding",
        input({ nullifierSeed: HOLDER2.nullifierSeed }),
        CHECKS.signature,
      ],
    ];
    for (const [label, i, by] of cases) {
      it(`${label} -> fails at "${by.name}"`, async function () {
        await expectFails(i, by);
      });
    }

    it("S + l is the same point S*B8 (why the S < l check matters), and the JS verifier refuses it too", function () {
      expect(mulPointEscalar(Base8, sig.S + L)).to.deep.equal(mulPointEscalar(Base8, sig.S));
      const m = credentialMessage(TERMS, CRED.holderCommitment);
      expect(verifyEdDsaPoseidon(CRED.issuer, m, sig)).to.equal(true);
      expect(verifyEdDsaPoseidon(CRED.issuer, m, { ...sig, S: sig.S + L })).to.equal(false);
      expect(verifyEdDsaPoseidon(CRED.issuer, m, { ...sig, R8: [sig.R8[0] + 1n, sig.R8[1]] })).to.equal(false);
      // The JS reference refuses the tampered credentials the circuit refuses.
      for (const c of [
        { ...CRED, tier: CRED.tier + 1 },
        { ...CRED, expiresAt: CRED.expiresAt + 1 },
        { ...CRED, maxPresentations: CRED.maxPresentations + 1 },
        { ...CRED, issuedAt: CRED.issuedAt - 1 },
        { ...CRED, serviceId: serviceIdOf(OTHER.publicKey) },
        { ...CRED, issuer: OTHER.publicKey },
        { ...CRED, holderCommitment: holderCommitmentOf(HOLDER2) },
      ]) {
        expect(credentialSignatureValid(c)).to.equal(false);
      }
    });

    it('a small-order issuer key (identity, or order 2) with a "signature" R8 = S*B8 -> fails at "issuer key not of small order"', async function () {
      // With 8*A = 0 the equation S*B8 = R8 + 8*h*A holds for any message once R8 = S*B8:
      // anyone could mint credentials for such a "service". circomlib refuses the key.
      const S = 123_456_789n;
      const R8 = mulPointEscalar(Base8, S);
      for (const A of [
        [0n, 1n],
        [0n, P - 1n],
      ] as BabyJubPoint[]) {
        await expectFails(
          input({ serviceId: serviceIdOf(A), Ax: A[0], Ay: A[1], R8x: R8[0], R8y: R8[1], S }),
          CHECKS.keyNotSmallOrder,
        );
      }
    });
  });

  describe("a payment note cannot be presented (domain separation)", function () {
    // Notes hash with Poseidon1/Poseidon2/Poseidon4 and no domain constant: commitment =
    // Poseidon1(Poseidon2(value, Poseidon2(owner, blinding))), owner = Poseidon2(sk, 2),
    // nullifierHash = Poseidon4(Poseidon2(sk, 1), commitment, tree, leaf). The circuit
    // derives the holder commitment as Poseidon3(HOLDER_DOMAIN, nullifierSeed, blinding)
    // and needs the issuer's signature over Poseidon7(CREDENTIAL_DOMAIN, ...) of it: a
    // note's opening and keys give neither, and even a signature by the real issuer over
    // a note value (or a credential issued *to* a note value) cannot be opened by the
    // note's owner.
    const sk = hash1(4242n);
    const note = { value: 10_000n, owner: ownerKeyOf(sk), blinding: hash1(4343n) };
    const noteValues = {
      commitment: commitmentOf(note),
      precommitment: precommitmentOf(note.owner, note.blinding),
      nullifierHash: nullifierHashOf(nullifyingKeyOf(sk), commitmentOf(note), { treeIndex: 0, leafIndex: 0 }),
      owner: note.owner,
    };
    const asHolder = { nullifierSeed: sk, blinding: note.blinding };

    it("no note hash equals the holder commitment or origin token of the note's secrets", function () {
      const credentialSide = [
        holderCommitmentOf(asHolder),
        holderCommitmentOf({ nullifierSeed: note.value, blinding: noteValues.precommitment }),
        originTokenOf(sk, ORIGIN, 0),
        rawMessage(rawOf(TERMS), holderCommitmentOf(asHolder)),
      ];
      for (const v of Object.values(noteValues)) expect(credentialSide).to.not.include(v);
    });

    const forNote = (signature: { R8: BabyJubPoint; S: bigint }, holder = asHolder): Input =>
      input({
        R8x: signature.R8[0],
        R8y: signature.R8[1],
        S: signature.S,
        nullifierSeed: holder.nullifierSeed,
        blinding: holder.blinding,
      });
    const cases: [string, () => Input][] = [
      [
        "the note's secrets as holder secrets, with a real credential's signature (another holder's)",
        () => forNote(CRED.signature),
      ],
      ["the note's secrets, no signature at all (R8 = identity, S = 0)", () => forNote({ R8: [0n, 1n], S: 0n })],
      [
        "the issuer's signature over the note commitment itself, opened with the note's secrets",
        () => forNote(ISSUER.sign(noteValues.commitment)),
      ],
      [
        "the issuer's signature over the nullifier hash itself, opened with the note's secrets",
        () => forNote(ISSUER.sign(noteValues.nullifierHash)),
      ],
      [
        "a credential issued to the note commitment as holderCommitment, opened with (nullifier, secret)",
        () => forNote(ISSUER.sign(rawMessage(rawOf(TERMS), noteValues.commitment))),
      ],
      [
        "a credential issued to the note commitment, opened with (value, precommitment)",
        () =>
          forNote(ISSUER.sign(rawMessage(rawOf(TERMS), noteValues.commitment)), {
            nullifierSeed: note.value,
            blinding: noteValues.precommitment,
          }),
      ],
      [
        "a credential issued to the nullifier hash as holderCommitment, opened with (spending key, 0)",
        () =>
          forNote(ISSUER.sign(rawMessage(rawOf(TERMS), noteValues.nullifierHash)), {
            nullifierSeed: sk,
            blinding: 0n,
          }),
      ],
    ];
    for (const [label, make] of cases) {
      it(`${label} -> fails at "${CHECKS.signature.name}"`, async function () {
        await expectFails(make(), CHECKS.signature);
      });
    }
  });

  describe("the SDK's pre-checks refuse the same cases before proving", function () {
    it("presentations_exhausted, credential_expired, invalid_argument, tier_too_low", async function () {
      const cases: [string, PresentationWitness, string][] = [
        ["index = max", { ...W0, index: TERMS.maxPresentations }, "presentations_exhausted"],
        ["now = expiresAt", { ...W0, now: TERMS.expiresAt }, "credential_expired"],
        ["now < issuedAt", { ...W0, now: TERMS.issuedAt - 1 }, "invalid_argument"],
        ["tier < requiredTier", { ...W0, requiredTier: TERMS.tier + 1 }, "tier_too_low"],
        ["wrong holder secrets", { ...W0, holder: HOLDER2 }, "invalid_argument"],
      ];
      for (const [label, w, code] of cases) {
        const err = await provePresentation(w, ARTIFACTS).catch((e: unknown) => e);
        expect(isZkPayError(err, code as Parameters<typeof isZkPayError>[1]), `${label}: ${String(err)}`).to.equal(
          true,
        );
      }
    });
  });
});

describe("Presentation proofs: fast verifier (mcl-wasm) vs snarkjs", function () {
  this.timeout(180_000);
  let verifier: Groth16Verifier;
  /** p[0]: CRED index 0; p[1]: index 1 (same origin, time, context); p[2]: OTHER_CRED; p[3]: boundary terms. */
  let p: Presentation[];
  let signals: bigint[][];
  const WITNESSES: PresentationWitness[] = [
    W0,
    { ...W0, index: 1 },
    { ...W0, credential: OTHER_CRED, holder: HOLDER2, requiredTier: 0, now: NOW + 60, originId: ORIGIN2, context: 0n },
    {
      ...W0,
      index: TERMS.maxPresentations - 1,
      requiredTier: TERMS.tier,
      now: TERMS.expiresAt - 1,
      context: P - 1n,
    },
  ];

  before(async function () {
    // Independent proofs, made two at a time (helpers/parallel).
    p = await inOrderConcurrently(WITNESSES.map((w) => () => provePresentation(w, ARTIFACTS)));
    signals = p.map(presentationSignals);
    verifier = await Groth16Verifier.fromVkey(VKEY);
  });

  after(async function () {
    await shutdownProver();
  });

  /** The fast verifier gives `expected`, snarkjs gives `reference` (default: the same). */
  async function agree(
    name: string,
    proof: SolidityProof,
    s: readonly bigint[],
    expected: boolean,
    reference = expected,
  ) {
    // verifyPaymentProofSnarkjs is plain snarkjs.groth16.verify for any vkey.
    expect(await verifyPaymentProofSnarkjs(VKEY, proof, s), `${name}: snarkjs`).to.equal(reference);
    expect(verifier.verify(proof, s), `${name}: fast`).to.equal(expected);
  }

  it("valid presentations verify (fast and snarkjs); signals are [originToken = originTokenOf, serviceId, requiredTier, now, originId, context]", async function () {
    expect(verifier.nPublic).to.equal(6);
    for (let i = 0; i < p.length; i++) {
      const w = WITNESSES[i]!;
      expect(signals[i]).to.deep.equal([
        originTokenOf(w.holder.nullifierSeed, w.originId, w.index),
        w.credential.serviceId,
        BigInt(w.requiredTier),
        BigInt(w.now),
        w.originId,
        w.context,
      ]);
      await agree(`proof ${i}`, p[i]!.proof, signals[i]!, true);
    }
    // The circuit's own output (from the witness) is the reference token too.
    const w = await witness(input());
    expect(w[1]).to.equal(signals[0]![0]);
  });

  it("rejects each public signal tampered: +1, and a plausible substitute", async function () {
    const proof = p[0]!.proof;
    const s = signals[0]!;
    const substitutes: bigint[] = [
      signals[1]![0]!, // the token of presentation 1: replaying proof 0 under a fresh token
      serviceIdOf(OTHER.publicKey),
      0n, // a lower route tier
      s[3]! + 60n, // the next time step
      ORIGIN2, // another origin (its own replay store)
      0n, // no context binding
    ];
    for (let i = 0; i < 6; i++) {
      const plus = [...s];
      plus[i] = (plus[i]! + 1n) % P;
      await agree(`${NAMES[i]} + 1`, proof, plus, false);
      const sub = [...s];
      sub[i] = substitutes[i]!;
      expect(sub[i], `test bug: substitute for ${NAMES[i]} is the original`).to.not.equal(s[i]);
      await agree(`${NAMES[i]} substituted`, proof, sub, false);
    }
    await agree("signals of presentation 1 with proof 0", proof, signals[1]!, false);
    await agree("signals of another credential's proof", proof, signals[2]!, false);
  });

  it("rejects signals >= r (the same value mod r), negative signals and wrong signal counts", async function () {
    const proof = p[0]!.proof;
    const s = signals[0]!;
    for (let i = 0; i < 6; i++) {
      const big = [...s];
      big[i] = big[i]! + P;
      await agree(`${NAMES[i]} + r`, proof, big, false);
    }
    const neg = [...s];
    neg[2] = -1n;
    await agree("negative requiredTier", proof, neg, false);
    await agree("5 signals", proof, s.slice(0, 5), false);
    await agree("7 signals", proof, [...s, 0n], false);
    await agree("no signals", proof, [], false);
  });

  it("rejects coordinates >= q (snarkjs reduces them mod q and accepts; EIP-197 and the fast verifier refuse)", async function () {
    const proof = p[0]!.proof;
    const s = signals[0]!;
    const coords: [string, (x: SolidityProof, d: bigint) => SolidityProof, (x: SolidityProof) => bigint][] = [
      ["pA.x", (x, d) => ({ ...x, pA: [x.pA[0] + d, x.pA[1]] }), (x) => x.pA[0]],
      ["pA.y", (x, d) => ({ ...x, pA: [x.pA[0], x.pA[1] + d] }), (x) => x.pA[1]],
      ["pC.x", (x, d) => ({ ...x, pC: [x.pC[0] + d, x.pC[1]] }), (x) => x.pC[0]],
      ["pC.y", (x, d) => ({ ...x, pC: [x.pC[0], x.pC[1] + d] }), (x) => x.pC[1]],
      ["pB.x1", (x, d) => ({ ...x, pB: [[x.pB[0][0] + d, x.pB[0][1]], x.pB[1]] }), (x) => x.pB[0][0]],
      ["pB.x0", (x, d) => ({ ...x, pB: [[x.pB[0][0], x.pB[0][1] + d], x.pB[1]] }), (x) => x.pB[0][1]],
      ["pB.y1", (x, d) => ({ ...x, pB: [x.pB[0], [x.pB[1][0] + d, x.pB[1][1]]] }), (x) => x.pB[1][0]],
      ["pB.y0", (x, d) => ({ ...x, pB: [x.pB[0], [x.pB[1][0], x.pB[1][1] + d]] }), (x) => x.pB[1][1]],
    ];
    for (const [name, f, coordOf] of coords) {
      // The same point with the coordinate written as c + q: a malleated valid proof.
      // Known disagreement (as for payments): snarkjs reduces mod q and accepts it.
      await agree(`${name} + q`, f(proof, Q), s, false, true);
      expect(verifier.verify(fromSolidityProof(f(proof, Q)), s), `${name} + q (snarkjs layout)`).to.equal(false);
      // Exactly q (0 mod q): another point, refused by both.
      await agree(`${name} = q`, f(proof, Q - coordOf(proof)), s, false);
    }
  });

  it("rejects points off the curve, points at infinity and points of other proofs or keys", async function () {
    const proof = p[0]!.proof;
    const s = signals[0]!;
    await agree("A off the curve", { ...proof, pA: [proof.pA[0], proof.pA[1] + 1n] }, s, false);
    await agree("C off the curve", { ...proof, pC: [proof.pC[0], proof.pC[1] + 1n] }, s, false);
    await agree("B off the twist", { ...proof, pB: [proof.pB[0], [proof.pB[1][0] + 1n, proof.pB[1][1]]] }, s, false);
    await agree("A = (0, 0)", { ...proof, pA: [0n, 0n] }, s, false);
    await agree("C = (0, 0)", { ...proof, pC: [0n, 0n] }, s, false);
    await agree(
      "B = 0",
      {
        ...proof,
        pB: [
          [0n, 0n],
          [0n, 0n],
        ],
      },
      s,
      false,
    );
    // Infinity in snarkjs' projective layout (z = 0).
    const sp = fromSolidityProof(proof);
    for (const [name, bad] of [
      ["pi_a z = 0", { ...sp, pi_a: ["0", "1", "0"] }],
      ["pi_c z = 0", { ...sp, pi_c: ["0", "1", "0"] }],
    ] as [string, Groth16Proof][]) {
      expect(await verifyPaymentProofSnarkjs(VKEY, bad, s), `${name}: snarkjs`).to.equal(false);
      expect(verifier.verify(bad, s), `${name}: fast`).to.equal(false);
    }
    await agree("B of presentation 1's proof", { ...proof, pB: p[1]!.proof.pB }, s, false);
    await agree("C of presentation 1's proof", { ...proof, pC: p[1]!.proof.pC }, s, false);
    const vk = VKEY as { vk_alpha_1: string[] };
    const alpha: [bigint, bigint] = [BigInt(vk.vk_alpha_1[0]!), BigInt(vk.vk_alpha_1[1]!)];
    await agree("points from the vkey", { ...proof, pA: alpha, pC: alpha }, s, false);
  });

  it("a presentation proof does not verify under the payment key (padded to its 7 public signals)", async function () {
    const payment = await Groth16Verifier.fromVkey(PAYMENT_VKEY);
    expect(payment.nPublic).to.equal(7);
    // The wrong count alone is refused; padded to the payment's count it is still false.
    expect(payment.verify(p[0]!.proof, signals[0]!)).to.equal(false);
    const padded = [...signals[0]!, 0n];
    expect(payment.verify(p[0]!.proof, padded)).to.equal(false);
    expect(await verifyPaymentProofSnarkjs(PAYMENT_VKEY, p[0]!.proof, padded)).to.equal(false);
  });

  it("batches: 4 valid are true; one tampered at any position is false and pinpointed", function () {
    const valid: Groth16BatchItem[] = p.map((x, i) => ({ proof: x.proof, publicSignals: signals[i]! }));
    expect(verifier.verifyBatch(valid)).to.equal(true);
    expect(verifier.verifyBatchDetailed(valid)).to.deep.equal([true, true, true, true]);
    for (let at = 0; at < 4; at++) {
      const item = valid[at]!;
      const proof = item.proof as SolidityProof;
      const s = item.publicSignals as bigint[];
      const bad: [string, Groth16BatchItem][] = [
        ["token of another index", { proof, publicSignals: [signals[(at + 1) % 4]![0]!, ...s.slice(1)] }],
        ["context + 1", { proof, publicSignals: s.map((x, i) => (i === 5 ? (x + 1n) % P : x)) }],
        ["C of another proof", { proof: { ...proof, pC: p[(at + 1) % 4]!.proof.pC }, publicSignals: s }],
        ["coordinate + q", { proof: { ...proof, pA: [proof.pA[0] + Q, proof.pA[1]] }, publicSignals: s }],
        ["signal >= r", { proof, publicSignals: s.map((x, i) => (i === 1 ? x + P : x)) }],
      ];
      for (const [name, b] of bad) {
        const batch = [...valid];
        batch[at] = b;
        expect(verifier.verifyBatch(batch), `${name} at ${at}`).to.equal(false);
        expect(verifier.verifyBatchDetailed(batch), `${name} at ${at}: detailed`).to.deep.equal(
          batch.map((_, i) => i !== at),
        );
      }
    }
  });

  it("unlinkability: two presentations of one credential share only the route's public values; no issuance value is public", function () {
    const [s0, s1] = [signals[0]!, signals[1]!];
    // Tokens differ; everything else is the route's / client's public choice.
    expect(s0[0]).to.not.equal(s1[0]);
    expect(s0.slice(1)).to.deep.equal(s1.slice(1));
    expect(s0.slice(1)).to.deep.equal([TERMS.serviceId, BigInt(W0.requiredTier), BigInt(W0.now), ORIGIN, CONTEXT]);
    // What the issuer saw at issuance (and the holder's secrets) appears in no public signal.
    const sig = CRED.signature;
    const hidden = {
      holderCommitment: CRED.holderCommitment,
      issuedAt: BigInt(CRED.issuedAt),
      expiresAt: BigInt(CRED.expiresAt),
      tier: BigInt(CRED.tier),
      maxPresentations: BigInt(CRED.maxPresentations),
      message: credentialMessage(TERMS, CRED.holderCommitment),
      R8x: sig.R8[0],
      R8y: sig.R8[1],
      S: sig.S,
      nullifierSeed: HOLDER.nullifierSeed,
      blinding: HOLDER.blinding,
    };
    for (const [name, v] of Object.entries(hidden)) {
      expect([...s0, ...s1], `${name} must not be public`).to.not.include(v);
    }
    // The issuer cannot compute the tokens from what it saw (the commitment instead of the seed).
    for (let i = 0; i < CRED.maxPresentations; i++) {
      expect([s0[0], s1[0]]).to.not.include(originTokenOf(CRED.holderCommitment, ORIGIN, i));
    }
    // The proofs themselves are fresh randomness: no coordinate in common.
    const coords = (x: SolidityProof) => [...x.pA, ...x.pB.flat(), ...x.pC];
    const c1 = new Set(coords(p[1]!.proof));
    for (const c of coords(p[0]!.proof)) expect(c1.has(c)).to.equal(false);
  });
});
