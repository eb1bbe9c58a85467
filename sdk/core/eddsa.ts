import { Base8, addPoint, inCurve, mulPointEscalar, subOrder } from "@zk-kit/baby-jubjub";
import { poseidon5 } from "poseidon-lite/poseidon5";
import { concatBytes, hexToBytes, keccak256, toBytes, type Hex } from "viem";

import { ZkPayError } from "./errors.js";
import { SNARK_SCALAR_FIELD } from "./field.js";

/** A point of BabyJubJub (twisted Edwards form, coordinates in the BN254 scalar field). */
export type BabyJubPoint = readonly [bigint, bigint];

/** An EdDSA-Poseidon signature: the nonce point R8 and the scalar S < subgroup order. */
export interface EdDsaSignature {
  R8: BabyJubPoint;
  S: bigint;
}

const SCALAR_DOMAIN = new TextEncoder().encode("402zk.eddsa.scalar.v1");
const NONCE_DOMAIN = new TextEncoder().encode("402zk.eddsa.nonce.v1");

/** keccak256 of `parts`, reduced into [1, subOrder - 1] (never zero). */
function scalarOf(...parts: Uint8Array[]): bigint {
  return (BigInt(keccak256(concatBytes(parts))) % (subOrder - 1n)) + 1n;
}

/**
 * An EdDSA-Poseidon signing key over BabyJubJub, the scheme circomlib's
 * `EdDSAPoseidonVerifier` checks: for public key A = a·B8, a signature (R8, S) on a field
 * element M satisfies S·B8 = R8 + 8·h·A with h = Poseidon5(R8.x, R8.y, A.x, A.y, M).
 *
 * The signing scalar is derived from a 32-byte secret (keccak, domain-separated) and
 * the nonce deterministically from the secret and the message (as in RFC 8032), so a
 * signature never depends on a random number generator and signing the same message
 * twice gives the same signature. Signing: S = r + 8·h·a mod l (l the subgroup order).
 *
 * @example
 * const key = EdDsaPoseidonKey.fromSecret("0x" + "42".repeat(32));
 * const sig = key.sign(123n);
 * verifyEdDsaPoseidon(key.publicKey, 123n, sig); // true
 */
export class EdDsaPoseidonKey {
  readonly #scalar: bigint;
  readonly #secret: Uint8Array;
  readonly publicKey: BabyJubPoint;

  private constructor(secret: Uint8Array) {
    this.#secret = secret;
    this.#scalar = scalarOf(SCALAR_DOMAIN, secret);
    this.publicKey = mulPointEscalar(Base8, this.#scalar);
  }

  /** A key from 32 bytes of secret hex (keep it secret; share it between instances of one service). */
  static fromSecret(secret: Hex | string): EdDsaPoseidonKey {
    if (!/^0x[0-9a-fA-F]{64}$/.test(secret)) {
      throw new ZkPayError("invalid_argument", "an issuer key must be 32 bytes of hex (0x + 64 hex digits)");
    }
    return new EdDsaPoseidonKey(hexToBytes(secret as Hex));
  }

  /** Signs the field element `message` (< the BN254 scalar field). */
  sign(message: bigint): EdDsaSignature {
    if (message < 0n || message >= SNARK_SCALAR_FIELD) {
      throw new ZkPayError("invalid_argument", "an EdDSA-Poseidon message must be a field element");
    }
    const r = scalarOf(NONCE_DOMAIN, this.#secret, toBytes(message, { size: 32 }));
    const R8 = mulPointEscalar(Base8, r);
    const h = poseidon5([R8[0], R8[1], this.publicKey[0], this.publicKey[1], message]);
    const S = (r + 8n * (h % subOrder) * this.#scalar) % subOrder;
    return { R8, S };
  }
}

/**
 * Checks an EdDSA-Poseidon signature exactly as circomlib's `EdDSAPoseidonVerifier`
 * does, plus the checks the circuit makes around it (R8 and A on the curve, S below the
 * subgroup order). Never throws: a malformed input is an invalid signature.
 *
 * @example
 * if (!verifyEdDsaPoseidon(issuerKey, message, signature)) throw new Error("bad credential");
 */
export function verifyEdDsaPoseidon(publicKey: BabyJubPoint, message: bigint, sig: EdDsaSignature): boolean {
  try {
    const inField = (x: bigint) => typeof x === "bigint" && x >= 0n && x < SNARK_SCALAR_FIELD;
    if (![publicKey[0], publicKey[1], sig.R8[0], sig.R8[1], message].every(inField)) return false;
    if (typeof sig.S !== "bigint" || sig.S < 0n || sig.S >= subOrder) return false;
    if (!inCurve([publicKey[0], publicKey[1]]) || !inCurve([sig.R8[0], sig.R8[1]])) return false;
    const h = poseidon5([sig.R8[0], sig.R8[1], publicKey[0], publicKey[1], message]);
    const A8 = mulPointEscalar([publicKey[0], publicKey[1]], 8n);
    if (A8[0] === 0n) return false; // small-order key (circomlib refuses it too)
    const left = mulPointEscalar(Base8, sig.S);
    const right = addPoint([sig.R8[0], sig.R8[1]], mulPointEscalar(A8, h));
    return left[0] === right[0] && left[1] === right[1];
  } catch {
    return false;
  }
}
