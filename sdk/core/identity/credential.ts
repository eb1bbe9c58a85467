/**
 * Attribute credentials (Verify & Pay, issue #21): an identity issuer's EdDSA-Poseidon
 * signature over a holder key and a few claims (birth date, country, expiry, flags), the
 * holder key, the proof of possession the issuer checks before signing, and the JSON form.
 *
 *     issuerHash = Poseidon3(ATTR_ISSUER_DOMAIN, Ax, Ay)
 *     message    = Poseidon8(ATTR_CREDENTIAL_DOMAIN, Hx, Hy, birthDate, country, expiresAt, flags, serial)
 *     signature  = EdDSA-Poseidon(issuer key, message)
 *
 * The same hashes are in circuits/credential.circom ("Attribute credentials").
 *
 * Browser-safe: no Node imports.
 */
import { inCurve, mulPointEscalar, packPoint, subOrder, unpackPoint } from "@zk-kit/baby-jubjub";
import { derivePublicKey, deriveSecretScalar, signMessage } from "../eddsa-poseidon.cjs";
import { poseidon3 } from "poseidon-lite/poseidon3";
import { poseidon5 } from "poseidon-lite/poseidon5";
import { poseidon8 } from "poseidon-lite/poseidon8";
import { hexToBytes, isHex, type Hex } from "viem";
import { z } from "zod";

import { verifyEdDsaPoseidon, type BabyJubPoint, type EdDsaSignature } from "../eddsa.js";
import { ZkPayError } from "../errors.js";
import { SNARK_SCALAR_FIELD } from "../field.js";
import {
  ATTR_CREDENTIAL_DOMAIN,
  ATTR_ISSUER_DOMAIN,
  ATTR_POP_DOMAIN,
  ATTRIBUTE_CREDENTIAL_VERSION,
  REV_DEPTH,
} from "./constants.js";
import { isValidYmd } from "./dates.js";

/** What an identity issuer attests about a holder. */
export interface AttributeClaims {
  /** Date of birth, YYYYMMDD. */
  birthDate: number;
  /** ISO 3166-1 numeric country code, 1..999. */
  country: number;
  /** Last day the credential is valid, YYYYMMDD. */
  expiresAt: number;
  /** Issuer-defined bit field, below 2^64. */
  flags: bigint;
}

/** A signed attribute credential, as the holder's wallet stores it. */
export interface AttributeCredential {
  version: typeof ATTRIBUTE_CREDENTIAL_VERSION;
  /** The issuer's public key A. */
  issuer: BabyJubPoint;
  /** The holder's public key H = hk*Base8. */
  holder: BabyJubPoint;
  claims: AttributeClaims;
  /** The issuer's serial number, below 2^REV_DEPTH (the key of its revocation tree). */
  serial: number;
  signature: EdDsaSignature;
}

/** A holder's key: the 32-byte private key, its secret scalar hk (< subgroup order) and H = hk*Base8. */
export interface HolderKey {
  privateKey: Uint8Array;
  scalar: bigint;
  publicKey: BabyJubPoint;
}

const MAX_FLAGS = 1n << 64n;
const MAX_SERIAL = 2 ** REV_DEPTH;

/**
 * Points already checked by {@link isSubgroupPoint}: the check is a 251-bit scalar
 * multiplication (~10 ms in JavaScript), and the same few issuer keys are checked every
 * time a trusted-issuer tree is rebuilt. Bounded: cleared when it reaches 1024 entries.
 */
const subgroupChecked = new Map<string, boolean>();

/**
 * True when `p` is a point of BabyJubJub's prime-order subgroup (coordinates in the field,
 * on the curve, l*p = identity): the only points a key or a holder may be.
 */
export function isSubgroupPoint(p: unknown): p is BabyJubPoint {
  try {
    if (!Array.isArray(p) || p.length !== 2) return false;
    const [x, y] = p as unknown[];
    if (typeof x !== "bigint" || typeof y !== "bigint") return false;
    if (x < 0n || x >= SNARK_SCALAR_FIELD || y < 0n || y >= SNARK_SCALAR_FIELD) return false;
    if (!inCurve([x, y])) return false;
    if (x === 0n && y === 1n) return false; // the identity is no key
    const id = `${x}:${y}`;
    const known = subgroupChecked.get(id);
    if (known !== undefined) return known;
    const lp = mulPointEscalar([x, y], subOrder);
    const ok = lp[0] === 0n && lp[1] === 1n;
    if (subgroupChecked.size >= 1024) subgroupChecked.clear();
    subgroupChecked.set(id, ok);
    return ok;
  } catch {
    return false;
  }
}

function checkPoint(p: unknown, field: string): asserts p is BabyJubPoint {
  if (!isSubgroupPoint(p)) {
    throw new ZkPayError("invalid_argument", `${field} is not a point of BabyJubJub's prime-order subgroup`, { field });
  }
}

function checkSerial(serial: unknown): asserts serial is number {
  if (typeof serial !== "number" || !Number.isInteger(serial) || serial < 0 || serial >= MAX_SERIAL) {
    throw new ZkPayError("invalid_argument", `serial must be an integer 0..2^${REV_DEPTH}-1`, { field: "serial" });
  }
}

/**
 * Checks the claims' ranges: real YYYYMMDD dates, a country code 1..999, flags below
 * 2^64. Throws `invalid_argument` naming the field (`details.field`).
 *
 * @example
 * checkClaims({ birthDate: 19900101, country: 276, expiresAt: 20301231, flags: 0n });
 */
export function checkClaims(c: AttributeClaims): void {
  if (c === null || typeof c !== "object") throw new ZkPayError("invalid_argument", "claims must be an object");
  if (!isValidYmd(c.birthDate)) {
    throw new ZkPayError("invalid_argument", "claims.birthDate must be a YYYYMMDD date", { field: "birthDate" });
  }
  if (!isValidYmd(c.expiresAt)) {
    throw new ZkPayError("invalid_argument", "claims.expiresAt must be a YYYYMMDD date", { field: "expiresAt" });
  }
  if (!(typeof c.country === "number" && Number.isInteger(c.country) && c.country >= 1 && c.country <= 999)) {
    throw new ZkPayError("invalid_argument", "claims.country must be an ISO 3166-1 numeric code (1..999)", {
      field: "country",
    });
  }
  if (!(typeof c.flags === "bigint" && c.flags >= 0n && c.flags < MAX_FLAGS)) {
    throw new ZkPayError("invalid_argument", "claims.flags must be a bigint below 2^64", { field: "flags" });
  }
}

/**
 * An issuer key as one field element: Poseidon3(ATTR_ISSUER_DOMAIN, Ax, Ay).
 *
 * @example
 * const id = issuerHashOf(credential.issuer);
 */
export function issuerHashOf(issuer: BabyJubPoint): bigint {
  return poseidon3([ATTR_ISSUER_DOMAIN, issuer[0], issuer[1]]);
}

/**
 * The field element an issuer signs: Poseidon8(ATTR_CREDENTIAL_DOMAIN, Hx, Hy, birthDate,
 * country, expiresAt, flags, serial). Checks the claims and the serial first.
 *
 * @example
 * const m = credentialMessage(holder.publicKey, claims, 7);
 */
export function credentialMessage(holder: BabyJubPoint, claims: AttributeClaims, serial: number): bigint {
  checkClaims(claims);
  checkSerial(serial);
  return poseidon8([
    ATTR_CREDENTIAL_DOMAIN,
    holder[0],
    holder[1],
    BigInt(claims.birthDate),
    BigInt(claims.country),
    BigInt(claims.expiresAt),
    claims.flags,
    BigInt(serial),
  ]);
}

/** A 32-byte EdDSA private key from bytes or hex, else `invalid_argument` naming `field`. */
export function privateKeyBytes(k: Uint8Array | Hex, field: string): Uint8Array {
  if (k instanceof Uint8Array && k.length === 32) return k;
  if (typeof k === "string" && isHex(k) && k.length === 66) return hexToBytes(k);
  throw new ZkPayError("invalid_argument", `${field} must be 32 bytes (a Uint8Array or 0x + 64 hex digits)`, { field });
}

/**
 * Issues a credential: the issuer's EdDSA-Poseidon signature over the holder key, the
 * claims and the serial. The issuer must have checked the holder's proof of possession
 * ({@link verifyPossession}) and that `serial` is fresh for its key.
 *
 * @example
 * const cred = signCredential(issuerSecret, holder.publicKey, claims, 7);
 */
export function signCredential(
  issuerPrivateKey: Uint8Array | Hex,
  holder: BabyJubPoint,
  claims: AttributeClaims,
  serial: number,
): AttributeCredential {
  const sk = privateKeyBytes(issuerPrivateKey, "issuerPrivateKey");
  checkPoint(holder, "holder");
  const message = credentialMessage(holder, claims, serial);
  const issuer = derivePublicKey(sk);
  const sig = signMessage(sk, message);
  return {
    version: ATTRIBUTE_CREDENTIAL_VERSION,
    issuer: [issuer[0], issuer[1]],
    holder: [holder[0], holder[1]],
    claims: { ...claims },
    serial,
    signature: { R8: [sig.R8[0], sig.R8[1]], S: sig.S },
  };
}

/**
 * True when the credential's signature is its issuer's over its holder, claims and serial
 * (the checks circomlib's verifier makes, plus well-formed claims). Never throws.
 *
 * @example
 * if (!verifyCredentialSignature(cred)) throw new Error("forged credential");
 */
export function verifyCredentialSignature(c: AttributeCredential): boolean {
  try {
    if (c.version !== ATTRIBUTE_CREDENTIAL_VERSION) return false;
    if (!isSubgroupPoint(c.issuer) || !isSubgroupPoint(c.holder)) return false;
    return verifyEdDsaPoseidon(c.issuer, credentialMessage(c.holder, c.claims, c.serial), c.signature);
  } catch {
    return false;
  }
}

/**
 * A holder key from a 32-byte secret (the wallet derives it from its seed, domain
 * separated): hk = deriveSecretScalar(secret) and H = derivePublicKey(secret) of
 * @zk-kit/eddsa-poseidon, the key the circuit proves with BabyPbk.
 *
 * @example
 * const holder = holderKeyFromSecret(crypto.getRandomValues(new Uint8Array(32)));
 */
export function holderKeyFromSecret(secret: Uint8Array): HolderKey {
  if (!(secret instanceof Uint8Array) || secret.length !== 32) {
    throw new ZkPayError("invalid_argument", "a holder secret must be 32 bytes", { field: "secret" });
  }
  const privateKey = Uint8Array.from(secret);
  const pub = derivePublicKey(privateKey);
  return { privateKey, scalar: deriveSecretScalar(privateKey), publicKey: [pub[0], pub[1]] };
}

/**
 * The message of a proof of possession: Poseidon5(ATTR_POP_DOMAIN, issuerHash, nonce, Hx, Hy),
 * bound to the issuer and to its fresh nonce, so a signature cannot be replayed to another
 * issuer or another issuance.
 *
 * @example
 * const m = possessionMessage(issuerKey, nonce, holder.publicKey);
 */
export function possessionMessage(issuer: BabyJubPoint, nonce: bigint, holder: BabyJubPoint): bigint {
  if (typeof nonce !== "bigint" || nonce < 0n || nonce >= SNARK_SCALAR_FIELD) {
    throw new ZkPayError("invalid_argument", "nonce must be a field element", { field: "nonce" });
  }
  return poseidon5([ATTR_POP_DOMAIN, issuerHashOf(issuer), nonce, holder[0], holder[1]]);
}

/**
 * The holder's proof of possession for an issuance: its holder key's signature over
 * {@link possessionMessage}.
 *
 * @example
 * const pop = signPossession(holder, issuerKey, nonceFromIssuer);
 */
export function signPossession(holder: HolderKey, issuer: BabyJubPoint, nonce: bigint): EdDsaSignature {
  checkPoint(issuer, "issuer");
  const sig = signMessage(holder.privateKey, possessionMessage(issuer, nonce, holder.publicKey));
  return { R8: [sig.R8[0], sig.R8[1]], S: sig.S };
}

/**
 * The issuer's check of a proof of possession before it signs a credential for `holder`.
 * Never throws.
 *
 * @example
 * if (!verifyPossession(myKey, nonce, holderKey, pop)) throw new Error("no proof of possession");
 */
export function verifyPossession(
  issuer: BabyJubPoint,
  nonce: bigint,
  holder: BabyJubPoint,
  sig: EdDsaSignature,
): boolean {
  try {
    if (!isSubgroupPoint(issuer) || !isSubgroupPoint(holder)) return false;
    return verifyEdDsaPoseidon(holder, possessionMessage(issuer, nonce, holder), sig);
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- JSON form

const Decimal = z.string().regex(/^\d{1,78}$/);
const PointJson = z.object({ x: Decimal, y: Decimal }).strict();

/** JSON form of a point: decimal coordinates. */
export type BabyJubPointJson = z.infer<typeof PointJson>;

/** The JSON form of an {@link AttributeCredential}: bigints as decimal strings. */
export const AttributeCredentialJsonSchema = z
  .object({
    version: z.literal(ATTRIBUTE_CREDENTIAL_VERSION),
    issuer: PointJson,
    holder: PointJson,
    claims: z
      .object({
        birthDate: z.number().int(),
        country: z.number().int(),
        expiresAt: z.number().int(),
        flags: Decimal,
      })
      .strict(),
    serial: z.number().int(),
    signature: z.object({ R8: PointJson, S: Decimal }).strict(),
  })
  .strict();

/** The JSON form of an attribute credential. */
export type AttributeCredentialJson = z.infer<typeof AttributeCredentialJsonSchema>;

/** A point -> `{ x, y }` decimal strings. */
export function pointToJson(p: BabyJubPoint): BabyJubPointJson {
  return { x: p[0].toString(), y: p[1].toString() };
}

/** `{ x, y }` decimal strings -> a point (not yet validated). */
export function pointFromJson(j: BabyJubPointJson): BabyJubPoint {
  return [BigInt(j.x), BigInt(j.y)];
}

/**
 * A credential -> its JSON form.
 *
 * @example
 * localStorage.setItem("cred", JSON.stringify(credentialToJson(cred)));
 */
export function credentialToJson(c: AttributeCredential): AttributeCredentialJson {
  return {
    version: c.version,
    issuer: pointToJson(c.issuer),
    holder: pointToJson(c.holder),
    claims: {
      birthDate: c.claims.birthDate,
      country: c.claims.country,
      expiresAt: c.claims.expiresAt,
      flags: c.claims.flags.toString(),
    },
    serial: c.serial,
    signature: { R8: pointToJson(c.signature.R8), S: c.signature.S.toString() },
  };
}

/**
 * JSON (already parsed) -> a credential. Throws `invalid_argument` on a malformed form,
 * out-of-range claims or serial, or keys that are not subgroup points. Does NOT check the
 * signature (see {@link verifyCredentialSignature}).
 *
 * @example
 * const cred = credentialFromJson(JSON.parse(text));
 */
export function credentialFromJson(j: unknown): AttributeCredential {
  const parsed = AttributeCredentialJsonSchema.safeParse(j);
  if (!parsed.success) {
    throw new ZkPayError("invalid_argument", `malformed attribute credential: ${parsed.error.issues[0]?.message}`, {
      path: parsed.error.issues[0]?.path.join("."),
    });
  }
  const w = parsed.data;
  const c: AttributeCredential = {
    version: w.version,
    issuer: pointFromJson(w.issuer),
    holder: pointFromJson(w.holder),
    claims: {
      birthDate: w.claims.birthDate,
      country: w.claims.country,
      expiresAt: w.claims.expiresAt,
      flags: BigInt(w.claims.flags),
    },
    serial: w.serial,
    signature: { R8: pointFromJson(w.signature.R8), S: BigInt(w.signature.S) },
  };
  checkClaims(c.claims);
  checkSerial(c.serial);
  checkPoint(c.issuer, "issuer");
  checkPoint(c.holder, "holder");
  if (!inCurve([c.signature.R8[0], c.signature.R8[1]]) || c.signature.S >= subOrder) {
    throw new ZkPayError("invalid_argument", "malformed attribute credential: bad signature encoding", {
      field: "signature",
    });
  }
  return c;
}

// ---------------------------------------------------------------- compact key form

function toBase64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64url(s: string): Uint8Array {
  const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
}

/**
 * An issuer key in compact form: base64url (no padding, 43 characters) of the 32-byte
 * little-endian packed point (`packPoint` of @zk-kit/baby-jubjub: y with the sign of x in
 * the top bit, the circomlib/iden3 compression). For configuration files and 402 bodies.
 *
 * @example
 * issuerKeyToString(cred.issuer); // "q0Jv...": 43 characters
 */
export function issuerKeyToString(p: BabyJubPoint): string {
  checkPoint(p, "issuer");
  let packed = packPoint([p[0], p[1]]);
  const bytes = new Uint8Array(32);
  for (let i = 0; i < 32; i++) {
    bytes[i] = Number(packed & 0xffn);
    packed >>= 8n;
  }
  return toBase64url(bytes);
}

/**
 * The inverse of {@link issuerKeyToString}. Throws `invalid_argument` unless `s` is the
 * compact form of a point of the prime-order subgroup.
 *
 * @example
 * const key = issuerKeyFromString(process.env.TRUSTED_ISSUER!);
 */
export function issuerKeyFromString(s: string): BabyJubPoint {
  const bad = () =>
    new ZkPayError("invalid_argument", "an issuer key must be 43 base64url characters (a packed BabyJubJub point)", {
      field: "issuer",
    });
  if (typeof s !== "string" || !/^[A-Za-z0-9_-]{43}$/.test(s)) throw bad();
  const bytes = fromBase64url(s);
  let packed = 0n;
  for (let i = 31; i >= 0; i--) packed = (packed << 8n) | BigInt(bytes[i]!);
  let p: BabyJubPoint | null;
  try {
    const u = unpackPoint(packed);
    p = u ? [u[0], u[1]] : null;
  } catch {
    p = null;
  }
  if (p === null || !isSubgroupPoint(p)) throw bad();
  // One encoding per key: the canonical form must read back to the same string.
  if (issuerKeyToString(p) !== s) throw bad();
  return p;
}
