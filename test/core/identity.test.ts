import { readFileSync } from "node:fs";
import path from "node:path";

import { Base8, mulPointEscalar, subOrder } from "@zk-kit/baby-jubjub";
import { LeanIMT } from "@zk-kit/lean-imt";
import { expect } from "chai";
import { poseidon2 } from "poseidon-lite/poseidon2";
import { poseidon3 } from "poseidon-lite/poseidon3";
import { poseidon4 } from "poseidon-lite/poseidon4";
import { poseidon8 } from "poseidon-lite/poseidon8";

import { ROOT } from "../../scripts/lib/paths.js";
import { CIRCUITS } from "../../sdk/core/circuits/registry.js";
import { derivePublicKey } from "../../sdk/core/eddsa-poseidon.cjs";
import { verifyEdDsaPoseidon, type BabyJubPoint } from "../../sdk/core/eddsa.js";
import { isZkPayError } from "../../sdk/core/errors.js";
import {
  ATTR_CREDENTIAL_DOMAIN,
  ATTR_ISSUER_DOMAIN,
  ATTR_POP_DOMAIN,
  ATTR_REVOCATION_DOMAIN,
  ATTR_PSEUDONYM_DOMAIN,
  ATTRIBUTE_CREDENTIAL_VERSION,
  ISSUER_DEPTH,
  MAX_TRUSTED_ISSUERS,
  REV_DEPTH,
  REV_SMT_LEVELS,
  checkClaims,
  checkRule,
  countryMaskOf,
  credentialFromJson,
  credentialMessage,
  credentialToJson,
  holderKeyFromSecret,
  isValidYmd,
  issuerHashOf,
  issuerKeyFromString,
  issuerKeyToString,
  issuerLeaf,
  issuerMembership,
  issuersRootOf,
  possessionMessage,
  revocationListFromJson,
  revocationListToJson,
  signRevocationList,
  verifyRevocationListSignature,
  RevocationTree,
  ruleSignals,
  signCredential,
  signPossession,
  verifyCredentialSignature,
  verifyPossession,
  ymdOf,
  type AttributeClaims,
  type AttributeCredential,
  type TrustedIssuer,
} from "../../sdk/core/identity/index.js";
import { revocationRootOf } from "../helpers/smt-reference.js";

// Unit tests of Verify & Pay's identity primitives (core/identity). The circuit-level
// agreement (the circuit accepts exactly what these compute) is in
// test/circuits/attribute-circuit.test.ts.

const secret = (n: number) => new Uint8Array(32).fill(n);
const ISSUER_SK = secret(0x11);
const HOLDER = holderKeyFromSecret(secret(0x55));
const OTHER = holderKeyFromSecret(secret(0x66));
const CLAIMS: AttributeClaims = { birthDate: 19900615, country: 276, expiresAt: 20301231, flags: 0b1011n };

function refuses(f: () => unknown, reason: string, msg?: RegExp): void {
  try {
    f();
  } catch (err) {
    expect(isZkPayError(err), String(err)).to.equal(true);
    expect((err as { reason: string }).reason, String(err)).to.equal(reason);
    if (msg) expect((err as Error).message).to.match(msg);
    return;
  }
  throw new Error(`expected ${reason}, got success`);
}

async function refusesAsync(p: Promise<unknown>, reason: string, msg?: RegExp): Promise<void> {
  try {
    await p;
  } catch (err) {
    expect(isZkPayError(err), String(err)).to.equal(true);
    expect((err as { reason: string }).reason).to.equal(reason);
    if (msg) expect((err as Error).message).to.match(msg);
    return;
  }
  throw new Error(`expected ${reason}, got success`);
}

const ascii = (s: string) => BigInt("0x" + Buffer.from(s, "ascii").toString("hex"));

describe("identity primitives (core/identity)", function () {
  describe("constants", function () {
    it("domains are the documented ASCII names, equal to circuits/credential.circom's", function () {
      expect(ATTR_ISSUER_DOMAIN).to.equal(ascii("402zk.attr-issuer.v1"));
      expect(ATTR_CREDENTIAL_DOMAIN).to.equal(ascii("402zk.attr-credential.v1"));
      expect(ATTR_PSEUDONYM_DOMAIN).to.equal(ascii("402zk.attr-pseudonym.v1"));
      expect(ATTR_POP_DOMAIN).to.equal(ascii("402zk.attr-pop.v1"));
      expect(ATTR_REVOCATION_DOMAIN).to.equal(ascii("402zk.attr-revocation.v1"));
      const src = readFileSync(path.join(ROOT, "circuits", "credential.circom"), "utf8");
      const found = Object.fromEntries(
        [...src.matchAll(/function (ATTR_\w+_DOMAIN)\(\) \{\s*return (\d+);\s*\}/g)].map((m) => [m[1]!, BigInt(m[2]!)]),
      );
      expect(found).to.deep.equal({ ATTR_ISSUER_DOMAIN, ATTR_CREDENTIAL_DOMAIN, ATTR_PSEUDONYM_DOMAIN });
      expect(
        new Set([
          ATTR_ISSUER_DOMAIN,
          ATTR_CREDENTIAL_DOMAIN,
          ATTR_PSEUDONYM_DOMAIN,
          ATTR_POP_DOMAIN,
          ATTR_REVOCATION_DOMAIN,
        ]).size,
      ).to.equal(5);
    });

    it("tree sizes equal the main circuit's parameters and the registry's", function () {
      const main = readFileSync(path.join(ROOT, "circuits", "main", "attribute.circom"), "utf8");
      const m = /= Attribute\((\d+), (\d+)\);/.exec(main);
      expect(m && [Number(m[1]), Number(m[2])]).to.deep.equal([REV_DEPTH, ISSUER_DEPTH]);
      expect(CIRCUITS.attribute.params).to.deep.equal({ revDepth: REV_DEPTH, issuerDepth: ISSUER_DEPTH });
      expect(REV_SMT_LEVELS).to.equal(REV_DEPTH + 1);
      expect(MAX_TRUSTED_ISSUERS).to.equal(2 ** ISSUER_DEPTH);
      expect(ATTRIBUTE_CREDENTIAL_VERSION).to.equal("402zk-attr-v1");
    });
  });

  describe("credentials", function () {
    const cred = signCredential(ISSUER_SK, HOLDER.publicKey, CLAIMS, 42);

    it("signs Poseidon8(domain, H, claims, serial) with the issuer key; the signature verifies", function () {
      const msg = poseidon8([ATTR_CREDENTIAL_DOMAIN, ...HOLDER.publicKey, 19900615n, 276n, 20301231n, 0b1011n, 42n]);
      expect(credentialMessage(HOLDER.publicKey, CLAIMS, 42)).to.equal(msg);
      expect(verifyEdDsaPoseidon(cred.issuer, msg, cred.signature)).to.equal(true);
      expect(verifyCredentialSignature(cred)).to.equal(true);
      expect(cred.version).to.equal("402zk-attr-v1");
      expect(issuerHashOf(cred.issuer)).to.equal(poseidon3([ATTR_ISSUER_DOMAIN, ...cred.issuer]));
      // A hex private key gives the same issuer.
      const hex = `0x${"11".repeat(32)}` as const;
      expect(signCredential(hex, HOLDER.publicKey, CLAIMS, 42)).to.deep.equal(cred);
    });

    it("any changed field fails verification (never throws)", function () {
      const variants: AttributeCredential[] = [
        { ...cred, claims: { ...CLAIMS, birthDate: 19800615 } },
        { ...cred, claims: { ...CLAIMS, country: 250 } },
        { ...cred, claims: { ...CLAIMS, expiresAt: 20401231 } },
        { ...cred, claims: { ...CLAIMS, flags: 0b1111n } },
        { ...cred, serial: 43 },
        { ...cred, holder: OTHER.publicKey },
        { ...cred, issuer: OTHER.publicKey },
        { ...cred, signature: { ...cred.signature, S: cred.signature.S + 1n } },
        { ...cred, signature: { ...cred.signature, S: cred.signature.S + subOrder } }, // malleated S
        { ...cred, claims: { ...CLAIMS, birthDate: 19901345 } }, // not a date
        { ...cred, serial: 2 ** REV_DEPTH },
        { ...cred, issuer: [0n, 1n] }, // identity
        { ...cred, holder: [1n, 2n] }, // off curve
        { ...cred, version: "402zk-attr-v0" as "402zk-attr-v1" },
      ];
      for (const v of variants)
        expect(verifyCredentialSignature(v), JSON.stringify(credentialToJson(cred))).to.equal(false);
      expect(verifyCredentialSignature(null as unknown as AttributeCredential)).to.equal(false);
    });

    it("checkClaims names the bad field", function () {
      const bad: [Partial<AttributeClaims>, string][] = [
        [{ birthDate: 19900230 }, "birthDate"],
        [{ birthDate: 1990061 }, "birthDate"],
        [{ expiresAt: 20301232 }, "expiresAt"],
        [{ country: 0 }, "country"],
        [{ country: 1000 }, "country"],
        [{ country: 1.5 }, "country"],
        [{ flags: 1n << 64n }, "flags"],
        [{ flags: -1n }, "flags"],
        [{ flags: 3 as unknown as bigint }, "flags"],
      ];
      for (const [over, field] of bad) {
        try {
          checkClaims({ ...CLAIMS, ...over });
          throw new Error(`accepted ${field}`);
        } catch (err) {
          expect(isZkPayError(err), String(err)).to.equal(true);
          expect((err as { reason: string; details: { field: string } }).details.field).to.equal(field);
        }
      }
      checkClaims({ ...CLAIMS, birthDate: 20000229, flags: (1n << 64n) - 1n, country: 999 });
    });

    it("signCredential refuses bad keys, holders, claims and serials", function () {
      refuses(() => signCredential(secret(1).slice(1), HOLDER.publicKey, CLAIMS, 1), "invalid_argument", /32 bytes/);
      refuses(() => signCredential("0x11" as `0x${string}`, HOLDER.publicKey, CLAIMS, 1), "invalid_argument");
      refuses(() => signCredential(ISSUER_SK, [1n, 2n], CLAIMS, 1), "invalid_argument", /holder/);
      // A point of small order (on the curve, not in the subgroup) is no holder key.
      const smallOrder: BabyJubPoint = [
        0n,
        21888242871839275222246405745257275088548364400416034343698204186575808495616n,
      ];
      refuses(() => signCredential(ISSUER_SK, smallOrder, CLAIMS, 1), "invalid_argument", /holder/);
      refuses(() => signCredential(ISSUER_SK, HOLDER.publicKey, { ...CLAIMS, country: 0 }, 1), "invalid_argument");
      refuses(() => signCredential(ISSUER_SK, HOLDER.publicKey, CLAIMS, 2 ** REV_DEPTH), "invalid_argument", /serial/);
      refuses(() => signCredential(ISSUER_SK, HOLDER.publicKey, CLAIMS, -1), "invalid_argument", /serial/);
      signCredential(ISSUER_SK, HOLDER.publicKey, CLAIMS, 2 ** REV_DEPTH - 1);
    });

    it("JSON round trip (decimal strings), and typed errors for bad JSON", function () {
      const json = JSON.parse(JSON.stringify(credentialToJson(cred)));
      expect(json.claims.flags).to.equal("11");
      expect(typeof json.signature.S).to.equal("string");
      const back = credentialFromJson(json);
      expect(back).to.deep.equal(cred);
      expect(verifyCredentialSignature(back)).to.equal(true);
      const bad: unknown[] = [
        null,
        "x",
        { ...json, version: "402zk-attr-v2" },
        { ...json, extra: 1 },
        { ...json, serial: 2 ** REV_DEPTH },
        { ...json, serial: "42" },
        { ...json, claims: { ...json.claims, flags: "0x10" } },
        { ...json, claims: { ...json.claims, flags: String(1n << 64n) } },
        { ...json, claims: { ...json.claims, birthDate: 19900631 } },
        { ...json, holder: { x: "1", y: "2" } },
        { ...json, issuer: { x: json.issuer.x } },
        { ...json, signature: { ...json.signature, S: String(subOrder) } },
        { ...json, signature: { ...json.signature, R8: { x: "1", y: "2" } } },
      ];
      for (const b of bad) refuses(() => credentialFromJson(b), "invalid_argument");
    });

    it("compact issuer keys: 43 base64url characters of the packed point, round trip, one encoding per key", function () {
      const s = issuerKeyToString(cred.issuer);
      expect(s).to.match(/^[A-Za-z0-9_-]{43}$/);
      expect(issuerKeyFromString(s)).to.deep.equal(cred.issuer);
      expect(issuerKeyFromString(issuerKeyToString(HOLDER.publicKey))).to.deep.equal(HOLDER.publicKey);
      for (const bad of ["", s.slice(1), s + "A", s.replace(/^./, "+"), "A".repeat(43), "_".repeat(43)]) {
        refuses(() => issuerKeyFromString(bad), "invalid_argument");
      }
      // The 43rd character carries 2 spare bits: a non-canonical spelling is refused.
      const last = s[42]!;
      const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
      const twin = s.slice(0, 42) + alphabet[alphabet.indexOf(last) ^ 1];
      refuses(() => issuerKeyFromString(twin), "invalid_argument");
      refuses(() => issuerKeyToString([1n, 2n]), "invalid_argument");
    });
  });

  describe("holder keys and proof of possession", function () {
    it("hk = deriveSecretScalar(secret) < l, H = hk*Base8; 32 bytes only", function () {
      expect(HOLDER.scalar > 0n && HOLDER.scalar < subOrder).to.equal(true);
      expect(mulPointEscalar(Base8, HOLDER.scalar)).to.deep.equal([...HOLDER.publicKey]);
      expect(holderKeyFromSecret(secret(0x55))).to.deep.equal(HOLDER);
      expect(OTHER.publicKey).to.not.deep.equal(HOLDER.publicKey);
      refuses(() => holderKeyFromSecret(new Uint8Array(31)), "invalid_argument");
      refuses(() => holderKeyFromSecret("00".repeat(32) as unknown as Uint8Array), "invalid_argument");
    });

    it("the holder signs Poseidon5(POP domain, issuerHash, nonce, H); bound to issuer, nonce and holder", function () {
      const issuer = signCredential(ISSUER_SK, HOLDER.publicKey, CLAIMS, 1).issuer;
      const pop = signPossession(HOLDER, issuer, 7n);
      expect(verifyPossession(issuer, 7n, HOLDER.publicKey, pop)).to.equal(true);
      expect(verifyEdDsaPoseidon(HOLDER.publicKey, possessionMessage(issuer, 7n, HOLDER.publicKey), pop)).to.equal(
        true,
      );
      expect(verifyPossession(issuer, 8n, HOLDER.publicKey, pop)).to.equal(false);
      expect(verifyPossession(OTHER.publicKey, 7n, HOLDER.publicKey, pop)).to.equal(false);
      expect(verifyPossession(issuer, 7n, OTHER.publicKey, pop)).to.equal(false);
      // Someone else's key cannot make it.
      expect(verifyPossession(issuer, 7n, HOLDER.publicKey, signPossession(OTHER, issuer, 7n))).to.equal(false);
      expect(verifyPossession(issuer, -1n, HOLDER.publicKey, pop)).to.equal(false);
      refuses(() => possessionMessage(issuer, 1n << 254n, HOLDER.publicKey), "invalid_argument");
    });
  });

  describe("revocation tree (iden3 SMT, circomlib hashing)", function () {
    /** The root an SMTVerifier(REV_SMT_LEVELS) exclusion check recomputes from a path (fnc = 1). */
    function rootFromExclusion(serial: bigint, p: Awaited<ReturnType<RevocationTree["nonMembership"]>>): bigint {
      // The deepest non-zero sibling fixes the leaf's level (circomlib's SMTLevIns).
      let depth = 0;
      p.siblings.forEach((s, k) => {
        if (s !== 0n) depth = k + 1;
      });
      let node = p.isOld0 ? 0n : poseidon3([p.oldKey, p.oldValue, 1n]);
      if (!p.isOld0) {
        // The old leaf shares serial's bits below its level, and is another key.
        expect(p.oldKey).to.not.equal(serial);
        expect(p.oldKey & ((1n << BigInt(depth)) - 1n)).to.equal(serial & ((1n << BigInt(depth)) - 1n));
      }
      for (let k = depth - 1; k >= 0; k--) {
        const right = (serial >> BigInt(k)) & 1n;
        node = right ? poseidon2([p.siblings[k]!, node]) : poseidon2([node, p.siblings[k]!]);
      }
      return node;
    }

    it("root: empty 0, one serial Poseidon3(k, 1, 1), else Poseidon2 nodes; equals the synchronous revocationRootOf", async function () {
      expect((await RevocationTree.create()).root()).to.equal(0n);
      expect(revocationRootOf([])).to.equal(0n);
      expect((await RevocationTree.create([5])).root()).to.equal(poseidon3([5n, 1n, 1n]));
      // 1 (bit 0 = 1) and 2 (bit 0 = 0) split at level 0.
      expect((await RevocationTree.create([1, 2])).root()).to.equal(
        poseidon2([poseidon3([2n, 1n, 1n]), poseidon3([1n, 1n, 1n])]),
      );
      let seed = 12345;
      const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % 2 ** REV_DEPTH;
      for (let n = 0; n < 6; n++) {
        const serials = Array.from({ length: 1 + n * 7 }, rnd);
        const t = await RevocationTree.create(serials);
        expect(t.root(), `set ${n}`).to.equal(revocationRootOf(serials));
      }
    });

    it("serials equal in their low 19 bits coexist (21 levels); the exclusion paths recompute the root", async function () {
      const top = 2 ** (REV_DEPTH - 1);
      const serials = [5, 5 + top, 0, top, 2 ** REV_DEPTH - 1, 2 ** REV_DEPTH - 1 - top, 1234, 77];
      const t = await RevocationTree.create(serials);
      expect(t.root()).to.equal(revocationRootOf(serials));
      for (const s of [1n, 2n, 6n, 7n + BigInt(top), 1235n, 13n, BigInt(top) + 1n]) {
        const p = await t.nonMembership(s);
        expect(p.siblings).to.have.length(REV_SMT_LEVELS);
        expect(p.siblings[REV_SMT_LEVELS - 1]).to.equal(0n); // circomlib: the last level has no sibling
        expect(rootFromExclusion(s, p), `serial ${s}`).to.equal(t.root());
      }
    });

    it("has / add / revoked; a revoked serial has no exclusion path (credential_revoked); bad serials are invalid_argument", async function () {
      const t = await RevocationTree.create([3n, 17, 3]);
      expect(t.revoked()).to.deep.equal([3n, 17n]);
      expect(t.has(3)).to.equal(true);
      expect(t.has(4n)).to.equal(false);
      const before = t.root();
      await t.add(17);
      expect(t.root()).to.equal(before);
      await t.add(4);
      expect(t.revoked()).to.deep.equal([3n, 4n, 17n]);
      expect(t.root()).to.equal(revocationRootOf([3, 4, 17]));
      await refusesAsync(t.nonMembership(4), "credential_revoked");
      await refusesAsync(t.add(2 ** REV_DEPTH), "invalid_argument");
      await refusesAsync(t.add(-1), "invalid_argument");
      await refusesAsync(t.add(1.5), "invalid_argument");
      await refusesAsync(RevocationTree.create([2n ** 64n]), "invalid_argument");
      refuses(() => revocationRootOf([2 ** REV_DEPTH]), "invalid_argument");
    });

    it("revocation list JSON: signed by its issuer, round trip; a root that is not the serials' root, an altered or unsigned list, or malformed JSON, is invalid_argument", async function () {
      const issuer = derivePublicKey(ISSUER_SK);
      const list = await signRevocationList(ISSUER_SK, { revoked: [9, 2, 700000], updatedAt: 1_700_000_000_000 });
      expect(list.issuer).to.deep.equal([issuer[0], issuer[1]]);
      expect(list.root).to.equal(revocationRootOf([2, 9, 700000]));
      expect(verifyRevocationListSignature(list)).to.equal(true);
      const json = JSON.parse(JSON.stringify(revocationListToJson(list)));
      expect(json.revoked).to.deep.equal(["2", "9", "700000"]);
      expect(await revocationListFromJson(json)).to.deep.equal(list);
      // Order and duplicates in the published list do not matter.
      expect(await revocationListFromJson({ ...json, revoked: ["700000", "9", "2", "9"] })).to.deep.equal(list);
      await refusesAsync(revocationListFromJson({ ...json, revoked: ["2", "9"] }), "invalid_argument", /root/);
      await refusesAsync(revocationListFromJson({ ...json, revoked: [String(2 ** REV_DEPTH)] }), "invalid_argument");
      await refusesAsync(revocationListFromJson({ ...json, revoked: [9] }), "invalid_argument");
      await refusesAsync(revocationListFromJson(null), "invalid_argument");
      // A mirror that drops a revoked serial must also change the root and sign it: it cannot.
      const dropped = await signRevocationList(ISSUER_SK, { revoked: [2, 9], updatedAt: list.updatedAt });
      await refusesAsync(
        revocationListFromJson({ ...json, revoked: ["2", "9"], root: dropped.root.toString() }),
        "invalid_argument",
        /signature/,
      );
      // Nor can it move updatedAt (the verifier orders lists by it) or claim another issuer.
      await refusesAsync(
        revocationListFromJson({ ...json, updatedAt: json.updatedAt + 1 }),
        "invalid_argument",
        /signature/,
      );
      const other = holderKeyFromSecret(secret(0x12)).publicKey;
      await refusesAsync(
        revocationListFromJson({ ...json, issuer: { x: other[0].toString(), y: other[1].toString() } }),
        "invalid_argument",
        /signature/,
      );
      await refusesAsync(revocationListFromJson({ ...json, issuer: { x: "1", y: "2" } }), "invalid_argument", /issuer/);
      // Unsigned (the format before signatures) or a signature of other bytes: refused.
      const { signature: _unsigned, ...bare } = json as { signature: unknown };
      await refusesAsync(revocationListFromJson(bare), "invalid_argument", /signature/);
      await refusesAsync(
        revocationListFromJson({ ...json, signature: { ...json.signature, S: "1" } }),
        "invalid_argument",
        /signature/,
      );
      await refusesAsync(revocationListFromJson({ ...json, updatedAt: -1 }), "invalid_argument");
      // The empty list is signed too.
      const empty = await signRevocationList(ISSUER_SK, { revoked: [], updatedAt: 0 });
      expect((await revocationListFromJson(revocationListToJson(empty))).root).to.equal(0n);
      await refusesAsync(signRevocationList(ISSUER_SK, { revoked: [], updatedAt: -1 }), "invalid_argument");
      await refusesAsync(signRevocationList(new Uint8Array(31), { revoked: [], updatedAt: 0 }), "invalid_argument");
    });
  });

  describe("trusted issuers (LeanIMT of Poseidon4 leaves)", function () {
    const issuers: TrustedIssuer[] = Array.from({ length: MAX_TRUSTED_ISSUERS }, (_, k) => ({
      publicKey: holderKeyFromSecret(secret(0x80 + k)).publicKey,
      revocationRoot: BigInt(k * 3),
    }));

    it("leaf = Poseidon4(issuer domain, Ax, Ay, revocationRoot); root = @zk-kit/lean-imt's", function () {
      const i = issuers[0]!;
      expect(issuerLeaf(i)).to.equal(poseidon4([ATTR_ISSUER_DOMAIN, ...i.publicKey, 0n]));
      expect(issuersRootOf([i])).to.equal(issuerLeaf(i)); // one leaf: the root is the leaf
      for (const n of [1, 2, 3, 5, 8, 16]) {
        const list = issuers.slice(0, n);
        const ref = new LeanIMT<bigint>((a, b) => poseidon2([a, b]), list.map(issuerLeaf));
        expect(issuersRootOf(list), `${n} issuers`).to.equal(ref.root);
      }
      // The revocation root is part of the leaf.
      expect(issuersRootOf([{ ...i, revocationRoot: 1n }])).to.not.equal(issuersRootOf([i]));
    });

    it("every member's uncompressed path (as LeanMerklePath takes it) recomputes the root, for every list size", function () {
      for (let n = 1; n <= MAX_TRUSTED_ISSUERS; n++) {
        const list = issuers.slice(0, n);
        const root = issuersRootOf(list);
        for (let idx = 0; idx < n; idx++) {
          const p = issuerMembership(list, idx);
          expect(p.index).to.equal(idx);
          expect(p.hasSibling).to.have.length(ISSUER_DEPTH);
          expect(p.siblings).to.have.length(ISSUER_DEPTH);
          let node = issuerLeaf(list[idx]!);
          for (let l = 0; l < ISSUER_DEPTH; l++) {
            const right = (idx >> l) & 1;
            if (right) expect(p.hasSibling[l], "a right child has a sibling").to.equal(1);
            if (p.hasSibling[l]) node = right ? poseidon2([p.siblings[l]!, node]) : poseidon2([node, p.siblings[l]!]);
            else expect(p.siblings[l]).to.equal(0n);
          }
          expect(node, `${n} issuers, index ${idx}`).to.equal(root);
        }
      }
    });

    it("an empty list, more than 16, a duplicate, a bad key or root, or an index outside: invalid_argument", function () {
      refuses(() => issuersRootOf([]), "invalid_argument");
      refuses(() => issuersRootOf([...issuers, issuers[0]!]), "invalid_argument", /16/);
      refuses(() => issuersRootOf([issuers[0]!, issuers[1]!, issuers[0]!]), "invalid_argument", /twice/);
      refuses(() => issuersRootOf([{ publicKey: [1n, 2n], revocationRoot: 0n }]), "invalid_argument");
      refuses(() => issuersRootOf([{ ...issuers[0]!, revocationRoot: -1n }]), "invalid_argument");
      refuses(() => issuerMembership(issuers.slice(0, 3), 3), "invalid_argument");
      refuses(() => issuerMembership(issuers.slice(0, 3), -1), "invalid_argument");
    });
  });

  describe("rules", function () {
    it("country mask: bit (code mod 128) of word (code div 128); codes 1..999 only", function () {
      const m = countryMaskOf([1, 127, 128, 276, 999]);
      expect(m).to.have.length(8);
      expect(m[0]).to.equal((1n << 1n) | (1n << 127n));
      expect(m[1]).to.equal(1n);
      expect(m[2]).to.equal(1n << 20n); // 276 = 2*128 + 20
      expect(m[7]).to.equal(1n << 103n); // 999 = 7*128 + 103
      expect(m[3]! | m[4]! | m[5]! | m[6]!).to.equal(0n);
      expect(countryMaskOf([])).to.deep.equal(new Array(8).fill(0n));
      for (const bad of [0, 1000, -4, 2.5, NaN]) refuses(() => countryMaskOf([bad]), "invalid_argument");
    });

    it("ruleSignals: modes 0/1/2, defaults, range checks", function () {
      expect(ruleSignals({})).to.deep.equal({
        minAge: 0,
        countryMode: 0,
        countryMask: new Array(8).fill(0n),
        requiredFlags: 0n,
      });
      const r = ruleSignals({ minAge: 21, countries: { mode: "allow", codes: [276] }, requiredFlags: 5n });
      expect([r.minAge, r.countryMode, r.countryMask[2], r.requiredFlags]).to.deep.equal([21, 1, 1n << 20n, 5n]);
      expect(ruleSignals({ countries: { mode: "block", codes: [] } }).countryMode).to.equal(2);
      refuses(() => ruleSignals({ minAge: 256 }), "invalid_argument");
      refuses(() => ruleSignals({ minAge: -1 }), "invalid_argument");
      refuses(() => ruleSignals({ requiredFlags: 1n << 64n }), "invalid_argument");
      refuses(() => ruleSignals({ countries: { mode: "deny" as "allow", codes: [] } }), "invalid_argument");
    });

    it("dates: ymdOf (UTC) and isValidYmd (leap years)", function () {
      expect(ymdOf(new Date("2026-12-07T23:59:59Z"))).to.equal(20261207);
      expect(ymdOf(new Date("2024-02-29T00:00:00Z"))).to.equal(20240229);
      refuses(() => ymdOf(new Date("nope")), "invalid_argument");
      for (const ok of [20240229, 20000229, 19991231, 10101]) expect(isValidYmd(ok), String(ok)).to.equal(true);
      for (const bad of [20230229, 19000229, 20241301, 20240100, 20240431, 2024123, 20241231.5, 100000101]) {
        expect(isValidYmd(bad), String(bad)).to.equal(false);
      }
    });

    it("checkRule: reasons and the part named", function () {
      const today = 20261207;
      const fails = (
        c: Partial<AttributeClaims>,
        rule: Parameters<typeof checkRule>[1],
        reason: string,
        part?: string,
      ) => {
        try {
          checkRule({ ...CLAIMS, ...c }, rule, today);
          throw new Error("accepted");
        } catch (err) {
          expect(isZkPayError(err), String(err)).to.equal(true);
          expect((err as { reason: string }).reason).to.equal(reason);
          if (part) {
            expect((err as { details: { part: string } }).details.part).to.equal(part);
            expect((err as Error).message).to.include(part);
          }
        }
      };
      checkRule(CLAIMS, { minAge: 36, countries: { mode: "allow", codes: [276] }, requiredFlags: 0b1011n }, today);
      checkRule({ ...CLAIMS, birthDate: 20081207 }, { minAge: 18 }, today); // 18th birthday today
      checkRule({ ...CLAIMS, expiresAt: today }, {}, today); // expires today: still valid
      fails({ birthDate: 20081208 }, { minAge: 18 }, "rule_not_met", "age");
      fails({}, { minAge: 37 }, "rule_not_met", "age");
      fails({}, { countries: { mode: "allow", codes: [250] } }, "rule_not_met", "country");
      fails({}, { countries: { mode: "block", codes: [276] } }, "rule_not_met", "country");
      fails({}, { requiredFlags: 0b0100n }, "rule_not_met", "flags");
      fails({ expiresAt: 20261206 }, {}, "attribute_credential_expired");
      fails({}, { minAge: 300 }, "invalid_argument");
      expect(() => checkRule(CLAIMS, {}, 20261301)).to.throw(/YYYYMMDD/);
    });
  });
});
