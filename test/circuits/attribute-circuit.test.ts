import { readFileSync } from "node:fs";
import path from "node:path";

import * as iden3 from "@iden3/js-merkletree";
import { expect } from "chai";
import { poseidon8 } from "poseidon-lite/poseidon8";
import * as snarkjs from "snarkjs";
import { bytesToHex } from "viem";

import { ROOT } from "../../scripts/lib/paths.js";
import {
  attributePublicSignals,
  attributeWitness,
  proveAttribute,
  pseudonymOf,
  verifyAttributeProof,
  type AttributeNote,
  type AttributeProveInput,
  type AttributeStatement,
} from "../../sdk/core/circuits/attribute.js";
import { ATTRIBUTE_SIGNALS, CIRCUITS } from "../../sdk/core/circuits/registry.js";
import { EdDsaPoseidonKey } from "../../sdk/core/eddsa.js";
import { isZkPayError } from "../../sdk/core/errors.js";
import { SNARK_SCALAR_FIELD } from "../../sdk/core/field.js";
import { commitmentOf, nullifyingKeyOf, ownerKeyOf } from "../../sdk/core/note.js";
import { hash1, hash4 } from "../../sdk/core/poseidon.js";
import { verifyGroth16Snarkjs, shutdownProver } from "../../sdk/core/prover.js";
import {
  ATTR_CREDENTIAL_DOMAIN,
  REV_DEPTH,
  REV_SMT_LEVELS,
  countryMaskOf,
  holderKeyFromSecret,
  issuerHashOf,
  issuerLeaf,
  issuersRootOf,
  RevocationTree,
  signCredential,
  type AttributeClaims,
  type AttributeCredential,
  type TrustedIssuer,
} from "../../sdk/core/identity/index.js";
import { attributeArtifacts, loadAttributeVerificationKey } from "../../sdk/node/artifacts.js";

// The attribute circuit (attribute-v1, Verify & Pay), tested on its committed artifacts
// against the SDK's reference (core/identity, core/circuits/attribute.ts). Most cases only
// compute a witness (~0.5 s): circom's witness calculator throws "Assert Failed" on the
// first violated `===`, naming the templates and source lines from the innermost outwards,
// so each must-fail case also says WHICH check rejected it. Two full Groth16 proofs check
// the proving and verification keys end to end.

const P = SNARK_SCALAR_FIELD;
const vkey = loadAttributeVerificationKey();
const WASM = path.join(ROOT, "circuits", "artifacts", "attribute.wasm");

// @iden3/js-merkletree used directly (to forge paths the SDK refuses to make); its
// declaration files do not resolve under NodeNext, hence the hand-written shape.
interface SmtHash {
  bigInt(): bigint;
}
interface SmtTree {
  add(k: bigint, v: bigint): Promise<void>;
  root(): Promise<SmtHash>;
  generateProof(
    k: bigint,
    root: SmtHash,
  ): Promise<{ proof: { existence: boolean; nodeAux?: { key: SmtHash; value: SmtHash }; allSiblings(): SmtHash[] } }>;
}
const smt = iden3 as unknown as {
  Merkletree: new (db: unknown, writable: boolean, maxLevels: number) => SmtTree;
  InMemoryDB: new (prefix: Uint8Array) => unknown;
  str2Bytes(s: string): Uint8Array;
};
/** An iden3 tree of `serials` and the raw path of `serial` in it (inclusion or exclusion). */
async function rawPath(serials: number[], serial: bigint) {
  const tree = new smt.Merkletree(new smt.InMemoryDB(smt.str2Bytes("")), true, REV_SMT_LEVELS);
  for (const r of serials) await tree.add(BigInt(r), 1n);
  const { proof } = await tree.generateProof(serial, await tree.root());
  const siblings = proof.allSiblings().map((h) => h.bigInt());
  while (siblings.length < REV_SMT_LEVELS) siblings.push(0n);
  return { existence: proof.existence, siblings, aux: proof.nodeAux };
}

// ------------------------------------------------------------------ the scenario

const secret = (n: number) => new Uint8Array(32).fill(n);
/** Three trusted issuers (the credential's is the middle one) and one nobody trusts. */
const ISSUER_SECRETS = [secret(0x11), secret(0x22), secret(0x33)];
const ROGUE_SECRET = secret(0x44);
const issuerKey = (s: Uint8Array) => EdDsaPoseidonKey.fromSecret(bytesToHex(s)).publicKey;
const HOLDER = holderKeyFromSecret(secret(0x55));
const OTHER_HOLDER = holderKeyFromSecret(secret(0x66));

const CLAIMS: AttributeClaims = { birthDate: 19900615, country: 276, expiresAt: 20301231, flags: 0b1011n };
const SERIAL = 1234;
const TODAY = 20261207;
const FREE_SERIAL = SERIAL + 2; // another serial nobody revoked
const REVOKED = [3, 17, 1235, SERIAL + 2 ** 10, 2 ** REV_DEPTH - 1]; // neighbours of SERIAL's path, and the top serial

const NOTE: AttributeNote = {
  spendingKey: hash1(0xa11cen),
  value: 10_000n,
  blinding: hash1(77n),
  treeIndex: 2n,
  leafIndex: 5n,
};
const nullifierOf = (n: AttributeNote) =>
  hash4(
    nullifyingKeyOf(n.spendingKey),
    commitmentOf({ value: n.value, owner: ownerKeyOf(n.spendingKey), blinding: n.blinding }),
    n.treeIndex,
    n.leafIndex,
  );

interface Scenario {
  input: AttributeProveInput;
  issuers: TrustedIssuer[];
  trees: RevocationTree[];
}

/** The default scenario, with overrides: the credential's issuer index, claims, serial, rule, date. */
async function scenario(
  o: {
    issuer?: number;
    claims?: Partial<AttributeClaims>;
    serial?: number;
    statement?: Partial<AttributeStatement>;
    revoked?: number[];
    holder?: typeof HOLDER;
  } = {},
): Promise<Scenario> {
  const trees = await Promise.all(
    ISSUER_SECRETS.map((_, k) => RevocationTree.create(k === 1 ? (o.revoked ?? REVOKED) : [k])),
  );
  const issuers = ISSUER_SECRETS.map((s, k) => ({ publicKey: issuerKey(s), revocationRoot: trees[k]!.root() }));
  const idx = o.issuer ?? 1;
  const holder = o.holder ?? HOLDER;
  const credential = signCredential(
    ISSUER_SECRETS[idx]!,
    holder.publicKey,
    { ...CLAIMS, ...o.claims },
    o.serial ?? SERIAL,
  );
  const statement: AttributeStatement = {
    context: hash1(0xc0ffeen),
    nullifierHash: nullifierOf(NOTE),
    issuersRoot: issuersRootOf(issuers),
    today: TODAY,
    rule: { minAge: 18, countries: { mode: "block", codes: [408, 364] }, requiredFlags: 0b0011n },
    serviceId: hash1(0x5e5n),
    epoch: 20429n,
    ...o.statement,
  };
  return { input: { credential, holder, issuers, revocation: trees[idx]!, note: NOTE, statement }, issuers, trees };
}

type Input = Record<string, string | string[]>;

/** Computes the witness (throws on a violated constraint). */
async function witness(i: Input): Promise<bigint[]> {
  const w: { type: "mem"; data?: Uint8Array } = { type: "mem" };
  await snarkjs.wtns.calculate(i, WASM, w);
  return snarkjs.wtns.exportJson(w);
}

/** The circuit's public signals out of a witness: [1, pseudonym, public inputs...]. */
const publicOf = (w: bigint[]) => w.slice(1, 1 + CIRCUITS.attribute.publicSignals.length);

/** Asserts the circuit accepts the scenario and its public signals equal the reference. */
async function expectAccepts(s: Scenario): Promise<bigint[]> {
  const w = await witness(await attributeWitness(s.input));
  const pseudonym = pseudonymOf(s.input.holder.scalar, s.input.statement.serviceId, s.input.statement.epoch);
  expect(publicOf(w)).to.deep.equal(attributePublicSignals(s.input.statement, pseudonym));
  return publicOf(w);
}

// ------------------------------------------------------------------ which check fails

function lineOf(file: string, needle: string): number {
  const lines = readFileSync(path.join(ROOT, "circuits", file), "utf8").split("\n");
  const hits = lines.flatMap((l, idx) => (l.includes(needle) ? [idx + 1] : []));
  if (hits.length !== 1) throw new Error(`expected exactly one line with "${needle}" in ${file}, found ${hits.length}`);
  return hits[0]!;
}

/** A check: the Attribute template's line that fails (directly or through a subcomponent), and the innermost template. */
interface Check {
  name: string;
  line: number;
  inner?: string;
}
const check = (name: string, needle: string, inner?: string): Check => ({
  name,
  line: lineOf("attribute.circom", needle),
  ...(inner ? { inner } : {}),
});

const CHECKS = {
  signature: check(
    "issuer signature",
    "EdDSAPoseidonVerifier()(1, Ax, Ay, S, R8x, R8y, message)",
    "ForceEqualIfEnabled",
  ),
  issuersRoot: check("issuer in the trusted set", "computedIssuersRoot === issuersRoot"),
  serialRange: check("serial < 2^REV_DEPTH", "_ = Num2Bits(REV_DEPTH)(serial)", "Num2Bits"),
  isOld0Bit: check("revIsOld0 is a bit", "revIsOld0 * (revIsOld0 - 1) === 0"),
  smtRoot: check("revocation SMT exclusion (root)", "SMTVerifier(SMT_LEVELS)(1, revocationRoot", "ForceEqualIfEnabled"),
  smtKeys: check(
    "revocation SMT exclusion (old key != serial)",
    "SMTVerifier(SMT_LEVELS)(1, revocationRoot",
    "SMTVerifier",
  ),
  minAgeRange: check("minAge < 2^8", "_ = Num2Bits(8)(minAge)", "Num2Bits"),
  countryMode: check("countryMode in {0,1,2}", "modeTimesMinusOne * (countryMode - 2) === 0"),
  age: check("age", "ageOk === 1"),
  expiry: check("not expired", "notExpired === 1"),
  allow: check("country in the allow-list", "isAllow * (1 - countryBit) === 0"),
  block: check("country not in the block-list", "isBlock * countryBit === 0"),
  flags: check("required flags", "requiredBits[f] * (1 - flagBits[f]) === 0"),
  nullifier: check("payment nullifier", "computedNullifier === nullifierHash"),
  hkCanonical: check("hk < subgroup order", "hkBound.out === 0"),
};

/** Asserts the witness calculation rejects `i`, at the check `by`. */
async function expectFails(i: Input, by: Check) {
  let message: string | undefined;
  const consoleError = console.error;
  console.error = () => {}; // the witness calculator prints every failure before throwing
  try {
    await witness(i);
  } catch (err) {
    message = err instanceof Error ? err.message : String(err);
  } finally {
    console.error = consoleError;
  }
  if (message === undefined) {
    throw new Error(`SOUNDNESS: the circuit accepted an input it must reject (expected "${by.name}")`);
  }
  expect(message).to.match(/Assert Failed/);
  expect(message, `expected the "${by.name}" check (Attribute line ${by.line}); got: ${message}`).to.match(
    new RegExp(`Error in template Attribute_\\d+ line: ${by.line}\\b`),
  );
  if (by.inner) {
    expect(
      message.split("\n").find((l) => /Error in template/.test(l)),
      `innermost template of "${by.name}"`,
    ).to.match(new RegExp(`Error in template ${by.inner}_\\d+ line`));
  }
}

/** The SDK's witness of a valid scenario, with raw signal overrides (bypassing the SDK's pre-checks). */
async function tampered(s: Scenario, over: Input): Promise<Input> {
  return { ...(await attributeWitness(s.input)), ...over };
}

/** Expects a typed ZkPayError with `reason` (and a message matching `msg`) from `p`. */
async function refusal(p: Promise<unknown>, reason: string, msg?: RegExp) {
  try {
    await p;
  } catch (err) {
    expect(isZkPayError(err), String(err)).to.equal(true);
    expect((err as { reason: string }).reason, String(err)).to.equal(reason);
    if (msg) expect((err as Error).message).to.match(msg);
    return;
  }
  throw new Error(`expected ${reason}, got success`);
}

const str = (x: bigint | number) => x.toString();

// ------------------------------------------------------------------ tests

describe("Attribute circuit (committed artifacts vs the SDK reference)", function () {
  let base: Scenario;
  before(async function () {
    expect(CIRCUITS.attribute.version).to.equal("attribute-v1");
    expect(CIRCUITS.attribute.params).to.deep.equal({ revDepth: REV_DEPTH, issuerDepth: 4 });
    base = await scenario();
  });

  describe("accepts valid statements; public signals equal the reference", function () {
    it("the middle of three issuers, a block-list rule, required flags, a revocation path ending on another serial", async function () {
      const rev = await base.input.revocation.nonMembership(SERIAL);
      expect(rev.isOld0, "test bug: the path should end on a neighbour's leaf").to.equal(0);
      const pub = await expectAccepts(base);
      expect(pub[ATTRIBUTE_SIGNALS.pseudonym]).to.equal(pseudonymOf(HOLDER.scalar, hash1(0x5e5n), 20429n));
    });

    it("each issuer of the set (index 0, 1, 2): identical public signals (the issuer is hidden)", async function () {
      const pubs = [];
      for (const issuer of [0, 1, 2]) pubs.push(await expectAccepts(await scenario({ issuer, revoked: REVOKED })));
      expect(pubs[0]).to.deep.equal(pubs[1]);
      expect(pubs[2]).to.deep.equal(pubs[1]);
    });

    it("an empty revocation tree (root 0, the path ends in an empty slot)", async function () {
      const s = await scenario({ revoked: [] });
      expect(s.input.revocation.root()).to.equal(0n);
      expect((await s.input.revocation.nonMembership(SERIAL)).isOld0).to.equal(1);
      await expectAccepts(s);
    });

    it("a revocation path ending in an empty slot of a non-empty tree", async function () {
      const s = await scenario({ revoked: [0, 2, 6], serial: 1 });
      expect((await s.input.revocation.nonMembership(1)).isOld0).to.equal(1);
      await expectAccepts(s);
    });

    it("boundaries: the minAge-th birthday today, expiring today, serial 2^REV_DEPTH - 2, all 64 flags", async function () {
      await expectAccepts(
        await scenario({
          claims: { birthDate: 20081207, expiresAt: TODAY, flags: (1n << 64n) - 1n },
          serial: 2 ** REV_DEPTH - 2,
          statement: { rule: { minAge: 18, requiredFlags: (1n << 64n) - 1n } },
        }),
      );
    });

    it("serials that differ only in their top bit coexist in the tree (21 levels for 20-bit serials)", async function () {
      const top = 2 ** (REV_DEPTH - 1);
      const s = await scenario({ revoked: [SERIAL + top, 5, 5 + top], serial: SERIAL });
      await expectAccepts(s);
    });

    it("rule variants: none at all, allow-list holding the country, block-list without it, minAge 255 with an old holder", async function () {
      await expectAccepts(await scenario({ statement: { rule: {} } }));
      await expectAccepts(
        await scenario({ statement: { rule: { countries: { mode: "allow", codes: [250, 276, 40] } } } }),
      );
      await expectAccepts(
        await scenario({ statement: { rule: { countries: { mode: "block", codes: [275, 277, 404] } } } }),
      );
      await expectAccepts(await scenario({ claims: { birthDate: 17000101 }, statement: { rule: { minAge: 255 } } }));
    });

    it("every country code's bit: the first and last of each mask word, and 999", async function () {
      for (const country of [1, 127, 128, 255, 256, 640, 767, 896, 999]) {
        await expectAccepts(
          await scenario({
            claims: { country },
            statement: { rule: { countries: { mode: "allow", codes: [country] } } },
          }),
        );
      }
    });

    it("the pseudonym depends on holder, service and epoch only", async function () {
      const a = await expectAccepts(await scenario({ statement: { context: 1n } }));
      const b = await expectAccepts(await scenario({ statement: { context: 2n } }));
      const otherEpoch = await expectAccepts(await scenario({ statement: { epoch: 20430n } }));
      const otherHolder = await expectAccepts(await scenario({ holder: OTHER_HOLDER }));
      const ps = ATTRIBUTE_SIGNALS.pseudonym;
      expect(a[ps]).to.equal(b[ps]);
      expect(otherEpoch[ps]).to.not.equal(a[ps]);
      expect(otherHolder[ps]).to.not.equal(a[ps]);
    });
  });

  describe("rejects unmet rules", function () {
    it('under age (born 2008-12-08, minAge 18 on 2026-12-07) -> fails at "age"', async function () {
      // The SDK refuses it (rule_not_met): take the witness of the same credential without a rule.
      const s = await scenario({ claims: { birthDate: 20081208 }, statement: { rule: {} } });
      await expectFails(await tampered(s, { minAge: "18" }), CHECKS.age);
    });

    it('blocked country (block mode, the holder\'s code in the list) -> fails at "country not in the block-list"', async function () {
      await expectFails(
        await tampered(base, { countryMode: "2", countryMask: countryMaskOf([276]).map(str) }),
        CHECKS.block,
      );
    });

    it('country not in the allow-list -> fails at "country in the allow-list"', async function () {
      await expectFails(
        await tampered(base, { countryMode: "1", countryMask: countryMaskOf([250, 277, 275, 404]).map(str) }),
        CHECKS.allow,
      );
    });

    it('a missing required flag -> fails at "required flags"', async function () {
      await expectFails(await tampered(base, { requiredFlags: "4" }), CHECKS.flags); // flags 0b1011: bit 2 unset
      await expectFails(await tampered(base, { requiredFlags: str(1n << 63n) }), CHECKS.flags);
    });

    it('expired (today = expiresAt + 1 day) -> fails at "not expired"', async function () {
      await expectFails(await tampered(base, { today: "20310101" }), CHECKS.expiry);
    });

    it('countryMode 3 -> fails at "countryMode in {0,1,2}"', async function () {
      await expectFails(await tampered(base, { countryMode: "3" }), CHECKS.countryMode);
      await expectFails(await tampered(base, { countryMode: str(P - 1n) }), CHECKS.countryMode);
    });

    it('minAge 256 (out of range, with a birth date old enough) -> fails at "minAge < 2^8"', async function () {
      const s = await scenario({ claims: { birthDate: 10000101 } });
      await expectFails(await tampered(s, { minAge: "256" }), CHECKS.minAgeRange);
    });
  });

  describe("rejects forged credentials", function () {
    it('a tampered attribute (birthDate made older, signature kept) -> fails at "issuer signature"', async function () {
      const s = await scenario({ claims: { birthDate: 20100101 }, statement: { rule: {} } }); // too young for 18
      await expectFails(await tampered(s, { birthDate: "19800101", minAge: "18" }), CHECKS.signature);
    });

    it('another tampered claim (country, flags, expiresAt, serial) -> fails at "issuer signature"', async function () {
      await expectFails(await tampered(base, { country: "250" }), CHECKS.signature);
      await expectFails(await tampered(base, { flags: "15" }), CHECKS.signature);
      await expectFails(await tampered(base, { expiresAt: "20401231" }), CHECKS.signature);
      const rev = await base.input.revocation.nonMembership(FREE_SERIAL);
      await expectFails(
        await tampered(base, {
          serial: str(FREE_SERIAL),
          revSiblings: rev.siblings.map(str),
          revOldKey: str(rev.oldKey),
          revOldValue: str(rev.oldValue),
          revIsOld0: str(rev.isOld0),
        }),
        CHECKS.signature,
      );
    });

    it('a credential issued to another holder (the prover\'s own hk) -> fails at "issuer signature"', async function () {
      await expectFails(await tampered(base, { hk: str(OTHER_HOLDER.scalar) }), CHECKS.signature);
    });

    it('hk + subgroup order (same holder key, another pseudonym) -> fails at "hk < subgroup order"', async function () {
      const l = 2736030358979909402780800718157159386076813972158567259200215660948447373041n;
      await expectFails(await tampered(base, { hk: str(HOLDER.scalar + l) }), CHECKS.hkCanonical);
    });

    it('an untrusted issuer (its key not in the set, a member\'s path) -> fails at "issuer in the trusted set"', async function () {
      const rogue = signCredential(ROGUE_SECRET, HOLDER.publicKey, CLAIMS, SERIAL);
      const w = await tampered(base, {
        Ax: str(rogue.issuer[0]),
        Ay: str(rogue.issuer[1]),
        R8x: str(rogue.signature.R8[0]),
        R8y: str(rogue.signature.R8[1]),
        S: str(rogue.signature.S),
      });
      await expectFails(w, CHECKS.issuersRoot);
    });

    it('a trusted issuer\'s key with a stale (older) revocation root -> fails at "issuer in the trusted set"', async function () {
      const stale = await RevocationTree.create(REVOKED.slice(1));
      const rev = await stale.nonMembership(SERIAL);
      await expectFails(
        await tampered(base, {
          revocationRoot: str(stale.root()),
          revSiblings: rev.siblings.map(str),
          revOldKey: str(rev.oldKey),
          revOldValue: str(rev.oldValue),
          revIsOld0: str(rev.isOld0),
        }),
        CHECKS.issuersRoot,
      );
    });

    it('serial >= 2^REV_DEPTH (signed by the issuer, not revoked) -> fails at "serial < 2^REV_DEPTH"', async function () {
      const serial = 2n ** BigInt(REV_DEPTH) + BigInt(SERIAL);
      const key = EdDsaPoseidonKey.fromSecret(bytesToHex(ISSUER_SECRETS[1]!));
      const c = CLAIMS;
      const msg = poseidon8([
        ATTR_CREDENTIAL_DOMAIN,
        HOLDER.publicKey[0],
        HOLDER.publicKey[1],
        BigInt(c.birthDate),
        BigInt(c.country),
        BigInt(c.expiresAt),
        c.flags,
        serial,
      ]);
      const sig = key.sign(msg);
      // Its exclusion path in the issuer's tree, from the library directly (the SDK refuses the serial).
      const p = await rawPath(REVOKED, serial);
      expect(p.existence).to.equal(false);
      await expectFails(
        await tampered(base, {
          serial: str(serial),
          R8x: str(sig.R8[0]),
          R8y: str(sig.R8[1]),
          S: str(sig.S),
          revSiblings: p.siblings.map(str),
          revOldKey: str(p.aux?.key.bigInt() ?? 0n),
          revOldValue: str(p.aux?.value.bigInt() ?? 0n),
          revIsOld0: p.aux ? "0" : "1",
        }),
        CHECKS.serialRange,
      );
    });
  });

  describe("rejects revoked credentials (forged exclusion paths)", function () {
    let revoked: Scenario;
    let inclusion: bigint[];
    before(async function () {
      // The credential's serial is in its issuer's tree.
      revoked = await scenario({ revoked: [...REVOKED, SERIAL] });
      await refusal(attributeWitness(revoked.input), "credential_revoked");
      const p = await rawPath([...REVOKED, SERIAL], BigInt(SERIAL));
      expect(p.existence).to.equal(true);
      inclusion = p.siblings;
    });

    /** The witness of the revoked scenario with the exclusion path replaced. */
    async function withPath(p: {
      siblings: bigint[];
      oldKey: bigint;
      oldValue: bigint;
      isOld0: bigint;
    }): Promise<Input> {
      // Build from a non-revoked twin (same tree root is not needed: the path is forged anyway).
      const twin = await scenario({ revoked: [...REVOKED, SERIAL], serial: FREE_SERIAL });
      const w = await attributeWitness(twin.input);
      const cred = revoked.input.credential;
      return {
        ...w,
        serial: str(SERIAL),
        R8x: str(cred.signature.R8[0]),
        R8y: str(cred.signature.R8[1]),
        S: str(cred.signature.S),
        revSiblings: p.siblings.map(str),
        revOldKey: str(p.oldKey),
        revOldValue: str(p.oldValue),
        revIsOld0: str(p.isOld0),
      };
    }

    it("its own leaf presented as \"another serial's leaf\" -> fails at the SMT's old key != key check", async function () {
      await expectFails(
        await withPath({ siblings: inclusion, oldKey: BigInt(SERIAL), oldValue: 1n, isOld0: 0n }),
        CHECKS.smtKeys,
      );
    });

    it('"an empty slot" along its real path -> fails at the SMT root', async function () {
      await expectFails(await withPath({ siblings: inclusion, oldKey: 0n, oldValue: 0n, isOld0: 1n }), CHECKS.smtRoot);
    });

    it("a neighbour's exclusion path (another unrevoked serial) -> fails at the SMT root", async function () {
      const rev = await revoked.input.revocation.nonMembership(FREE_SERIAL);
      await expectFails(
        await withPath({
          siblings: rev.siblings,
          oldKey: rev.oldKey,
          oldValue: rev.oldValue,
          isOld0: BigInt(rev.isOld0),
        }),
        CHECKS.smtRoot,
      );
    });

    it('its real path cut above its leaf (shorter, "empty" below) -> fails at the SMT root', async function () {
      const cut = inclusion.map((x, k) => (k >= 2 ? 0n : x));
      await expectFails(await withPath({ siblings: cut, oldKey: 0n, oldValue: 0n, isOld0: 1n }), CHECKS.smtRoot);
    });

    it('isOld0 = 2 -> fails at "revIsOld0 is a bit"', async function () {
      await expectFails(
        await withPath({ siblings: inclusion, oldKey: 0n, oldValue: 0n, isOld0: 2n }),
        CHECKS.isOld0Bit,
      );
    });
  });

  describe("binding to the payment: only the payer's note gives the nullifier", function () {
    it('another note of the same key (another blinding) -> fails at "payment nullifier"', async function () {
      await expectFails(await tampered(base, { noteBlinding: str(hash1(78n)) }), CHECKS.nullifier);
    });

    it('another spending key (the same note opening) -> fails at "payment nullifier"', async function () {
      await expectFails(await tampered(base, { spendingKey: str(hash1(0xb0bn)) }), CHECKS.nullifier);
    });

    it('another position (leafIndex + 1, treeIndex + 1) -> fails at "payment nullifier"', async function () {
      await expectFails(await tampered(base, { leafIndex: "6" }), CHECKS.nullifier);
      await expectFails(await tampered(base, { treeIndex: "3" }), CHECKS.nullifier);
    });

    it('another payment\'s nullifier hash as the public input -> fails at "payment nullifier"', async function () {
      await expectFails(await tampered(base, { nullifierHash: str(hash1(999n)) }), CHECKS.nullifier);
    });
  });

  describe("the SDK refuses unprovable statements before proving (typed errors)", function () {
    it("another holder's key: attribute_proof_invalid (credential issued to another holder)", async function () {
      await refusal(
        attributeWitness({ ...base.input, holder: OTHER_HOLDER }),
        "attribute_proof_invalid",
        /another holder/,
      );
    });

    it("a tampered credential: attribute_proof_invalid (signature)", async function () {
      const c: AttributeCredential = { ...base.input.credential, claims: { ...CLAIMS, birthDate: 19800101 } };
      await refusal(attributeWitness({ ...base.input, credential: c }), "attribute_proof_invalid", /signature/);
    });

    it("an issuer outside the list: issuer_not_trusted", async function () {
      const rogue = signCredential(ROGUE_SECRET, HOLDER.publicKey, CLAIMS, SERIAL);
      await refusal(attributeWitness({ ...base.input, credential: rogue }), "issuer_not_trusted");
    });

    it("a revocation tree older than the list's root: attribute_proof_invalid (stale revocation list)", async function () {
      const stale = await RevocationTree.create(REVOKED.slice(1));
      await refusal(attributeWitness({ ...base.input, revocation: stale }), "attribute_proof_invalid", /stale/);
    });

    it("a revoked serial: credential_revoked", async function () {
      const s = await scenario({ revoked: [...REVOKED, SERIAL] });
      await refusal(attributeWitness(s.input), "credential_revoked");
    });

    it("unmet rules: rule_not_met naming the part; expired: attribute_credential_expired", async function () {
      const withRule = (rule: AttributeStatement["rule"], today = TODAY) =>
        attributeWitness({ ...base.input, statement: { ...base.input.statement, rule, today } });
      await refusal(withRule({ minAge: 40 }), "rule_not_met", /age/);
      await refusal(withRule({ countries: { mode: "block", codes: [276] } }), "rule_not_met", /country/);
      await refusal(withRule({ countries: { mode: "allow", codes: [250] } }), "rule_not_met", /country/);
      await refusal(withRule({ requiredFlags: 4n }), "rule_not_met", /flag/);
      await refusal(withRule({}, 20310101), "attribute_credential_expired");
    });

    it("another note or spending key: attribute_proof_invalid (nullifier)", async function () {
      await refusal(
        attributeWitness({ ...base.input, note: { ...NOTE, blinding: hash1(78n) } }),
        "attribute_proof_invalid",
        /nullifier/,
      );
      await refusal(
        attributeWitness({ ...base.input, note: { ...NOTE, spendingKey: hash1(0xb0bn) } }),
        "attribute_proof_invalid",
        /nullifier/,
      );
    });

    it("malformed statements: invalid_argument", async function () {
      const st = base.input.statement;
      await refusal(attributeWitness({ ...base.input, statement: { ...st, context: P } }), "invalid_argument");
      await refusal(attributeWitness({ ...base.input, statement: { ...st, today: 20261301 } }), "invalid_argument");
      await refusal(
        attributeWitness({ ...base.input, statement: { ...st, rule: { minAge: 256 } } }),
        "invalid_argument",
      );
    });
  });

  describe("full Groth16 proofs (proving key + verification key)", function () {
    it("a proof for the middle of three issuers verifies (mcl and snarkjs), hides the issuer, and is bound to its statement", async function () {
      this.timeout(120_000);
      const r = await proveAttribute(attributeArtifacts(), base.input);
      console.log(
        `      attribute proof: witness ${r.timings.witnessMs.toFixed(0)} ms, prove ${r.timings.proveMs.toFixed(0)} ms`,
      );
      const st = base.input.statement;
      const signals = attributePublicSignals(st, r.pseudonym);
      expect(r.publicSignalList).to.deep.equal(signals);
      expect(await verifyAttributeProof(vkey, r.proof, signals)).to.equal(true);
      expect(await verifyGroth16Snarkjs(vkey, r.proof, signals)).to.equal(true);

      // No public signal is the issuer's key, its hash, its leaf or its revocation root.
      const issuer = base.issuers[1]!;
      const secrets = [
        issuer.publicKey[0],
        issuer.publicKey[1],
        issuerHashOf(issuer.publicKey),
        issuerLeaf(issuer),
        issuer.revocationRoot,
        HOLDER.scalar,
        HOLDER.publicKey[0],
        HOLDER.publicKey[1],
        BigInt(SERIAL),
        BigInt(CLAIMS.birthDate),
      ];
      for (const s of r.publicSignalList) expect(secrets).to.not.include(s);

      // Bound to its statement: another context (other terms), another nullifier (other
      // payment), another rule, date, service or epoch does not verify.
      const variants: [string, AttributeStatement][] = [
        ["context", { ...st, context: st.context + 1n }],
        ["nullifierHash", { ...st, nullifierHash: nullifierOf({ ...NOTE, leafIndex: 6n }) }],
        ["minAge", { ...st, rule: { ...st.rule, minAge: 21 } }],
        ["countries", { ...st, rule: { ...st.rule, countries: { mode: "block", codes: [408] } } }],
        ["today", { ...st, today: 20261208 }],
        ["epoch", { ...st, epoch: st.epoch + 1n }],
      ];
      for (const [name, v] of variants) {
        expect(await verifyAttributeProof(vkey, r.proof, attributePublicSignals(v, r.pseudonym)), name).to.equal(false);
      }
      expect(await verifyAttributeProof(vkey, r.proof, attributePublicSignals(st, r.pseudonym + 1n))).to.equal(false);
      expect(
        await verifyGroth16Snarkjs(vkey, r.proof, attributePublicSignals({ ...st, context: 7n }, r.pseudonym)),
      ).to.equal(false);
      // Malformed lists are false, never a throw.
      expect(await verifyAttributeProof(vkey, r.proof, signals.slice(1))).to.equal(false);
      expect(await verifyAttributeProof(vkey, r.proof, [...signals.slice(0, -1), P])).to.equal(false);
      expect(await verifyAttributeProof({}, r.proof, signals)).to.equal(false);
    });

    it("the same holder's credential from the first issuer gives a proof with identical public signals", async function () {
      this.timeout(120_000);
      const s = await scenario({ issuer: 0 });
      const r = await proveAttribute(attributeArtifacts(), s.input);
      const signals = attributePublicSignals(base.input.statement, pseudonymOf(HOLDER.scalar, hash1(0x5e5n), 20429n));
      expect(r.publicSignalList).to.deep.equal(signals);
      expect(await verifyAttributeProof(vkey, r.proof, signals)).to.equal(true);
    });
  });
});

after(async function () {
  await shutdownProver();
});
