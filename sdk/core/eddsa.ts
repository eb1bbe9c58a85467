import { inCurve, mulPointEscalar, subOrder } from "@zk-kit/baby-jubjub";
import { derivePublicKey, signMessage, verifySignature } from "./eddsa-poseidon.cjs";
import { hexToBytes, type Hex } from "viem";

import { ZkPayError } from "./errors.js";
import { SNARK_SCALAR_FIELD } from "./field.js";

/** A point of BabyJubJub (twisted Edwards form, coordinates in the BN254 scalar field). */
export type BabyJubPoint = readonly [bigint, bigint];

/** An EdDSA-Poseidon signature: the nonce point R8 and the scalar S < subgroup order. */
export interface EdDsaSignature {
  R8: BabyJubPoint;
  S: bigint;
}

/**
 * An EdDSA-Poseidon signing key over BabyJubJub, the scheme circomlib's
 * `EdDSAPoseidonVerifier` checks: for public key A, a signature (R8, S) on a field
 * element M satisfies S·B8 = R8 + 8·h·A with h = Poseidon5(R8.x, R8.y, A.x, A.y, M).
 *
 * Key derivation and signing are `@zk-kit/eddsa-poseidon`'s (the same as circomlibjs:
 * the scalar is the pruned first half of blake512(secret), the nonce blake512 of its
 * second half and the message), so a signature never depends on a random number
 * generator and signing the same message twice gives the same signature. The 32
 * secret bytes are handed to the library as bytes, never as the hex string (the
 * library would read a string as UTF-8 text and derive another key).
 *
 * @example
 * const key = EdDsaPoseidonKey.fromSecret("0x" + "42".repeat(32));
 * const sig = key.sign(123n);
 * verifyEdDsaPoseidon(key.publicKey, 123n, sig); // true
 */
export class EdDsaPoseidonKey {
  readonly #secret: Uint8Array;
  readonly publicKey: BabyJubPoint;

  private constructor(secret: Uint8Array) {
    this.#secret = secret;
    this.publicKey = derivePublicKey(secret);
  }

  /**
   * A key from 32 bytes of secret hex (keep it secret; share it between instances of one service).
   *
   * @example
   * const issuer = EdDsaPoseidonKey.fromSecret(process.env.ISSUER_KEY!);
   */
  static fromSecret(secret: Hex | string): EdDsaPoseidonKey {
    if (!/^0x[0-9a-fA-F]{64}$/.test(secret)) {
      throw new ZkPayError("invalid_argument", "an issuer key must be 32 bytes of hex (0x + 64 hex digits)");
    }
    return new EdDsaPoseidonKey(hexToBytes(secret as Hex));
  }

  /**
   * Signs the field element `message` (< the BN254 scalar field).
   *
   * @example
   * const { R8, S } = key.sign(credentialMessage(terms, holderCommitment));
   */
  sign(message: bigint): EdDsaSignature {
    // The library would accept a larger number and sign it as is, a signature the
    // circuit (whose inputs are field elements) could never check: refuse it here.
    if (typeof message !== "bigint" || message < 0n || message >= SNARK_SCALAR_FIELD) {
      throw new ZkPayError("invalid_argument", "an EdDSA-Poseidon message must be a field element");
    }
    const { R8, S } = signMessage(this.#secret, message);
    return { R8: [R8[0], R8[1]], S };
  }
}

/**
 * Checks an EdDSA-Poseidon signature exactly as circomlib's `EdDSAPoseidonVerifier`
 * does (the equation is `@zk-kit/eddsa-poseidon`'s `verifySignature`), plus the checks
 * the circuit makes around it: every coordinate and the message in the field, R8 and A
 * on the curve, S below the subgroup order (else S + l would be a second signature) and
 * A not of small order (with 8·A = 0 any R8 = S·B8 "signs" every message; circomlib
 * refuses such a key, the library does not). Never throws: a malformed input is an
 * invalid signature.
 *
 * @example
 * if (!verifyEdDsaPoseidon(issuerKey, message, signature)) throw new Error("bad credential");
 */
export function verifyEdDsaPoseidon(publicKey: BabyJubPoint, message: bigint, sig: EdDsaSignature): boolean {
  try {
    const inField = (x: bigint) => typeof x === "bigint" && x >= 0n && x < SNARK_SCALAR_FIELD;
    if (![publicKey[0], publicKey[1], sig.R8[0], sig.R8[1], message].every(inField)) return false;
    if (typeof sig.S !== "bigint" || sig.S < 0n || sig.S >= subOrder) return false;
    const A: [bigint, bigint] = [publicKey[0], publicKey[1]];
    const R8: [bigint, bigint] = [sig.R8[0], sig.R8[1]];
    if (!inCurve(A) || !inCurve(R8)) return false;
    if (mulPointEscalar(A, 8n)[0] === 0n) return false; // small-order key
    return verifySignature(message, { R8, S: sig.S }, A);
  } catch {
    return false;
  }
}
