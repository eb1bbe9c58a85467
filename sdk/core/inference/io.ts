/**
 * The inference circuit's input and output encodings (circuits/inference.circom): the
 * payer's blinded input hash, the packed result and its encryption to the payer (the
 * ciphertext the escrow's release publishes on chain).
 *
 * Browser-safe: no Node imports.
 */
import { poseidon8 } from "poseidon-lite/poseidon8";

import { ZkPayError } from "../errors.js";
import { isFieldElement, SNARK_SCALAR_FIELD } from "../field.js";
import { escrowResultPad } from "../escrow.js";
import { checkPixels, INFERENCE_SHAPE } from "./model.js";

/** Pixels (bytes) per input-hash word: 31 bytes = 248 bits < 254. */
const PIXELS_PER_WORD = 31;
/** Bits per logit in the packed result. */
const LOGIT_BITS = 24n;
/** Offset that makes a logit non-negative: |logit| < 2^22 <= 2^23 by the circuit's bounds. */
const LOGIT_OFFSET = 1n << 23n;

const P = SNARK_SCALAR_FIELD;

function checkField(x: bigint, name: string): void {
  if (typeof x !== "bigint" || !isFieldElement(x)) {
    throw new ZkPayError("invalid_argument", `${name} must be a field element (0 <= x < p)`, { name });
  }
}

/**
 * The pixels packed 31 per word, little-endian (word m = sum_b pixels[31 m + b] * 256^b):
 * 196 pixels -> 7 words, the last holding 10. The circuit's `InputHash` packing.
 *
 * @example
 * packPixels(pixels).length; // 7
 */
export function packPixels(pixels: ArrayLike<number>): bigint[] {
  checkPixels(pixels);
  const words: bigint[] = [];
  for (let m = 0; m < pixels.length; m += PIXELS_PER_WORD) {
    let w = 0n;
    for (let b = Math.min(pixels.length, m + PIXELS_PER_WORD) - 1; b >= m; b--) w = (w << 8n) | BigInt(pixels[b]!);
    words.push(w);
  }
  return words;
}

/**
 * The payer's input as the escrow's statement names it:
 * `inputHash = Poseidon8(packPixels(pixels), inputBlinding)`. The blinding (a random field
 * element the payer keeps) hides the image on chain; the payer gives image and blinding to
 * the API, which proves with them.
 *
 * @example
 * const inputHash = inputHashOf(pixels, blinding);
 */
export function inputHashOf(pixels: ArrayLike<number>, inputBlinding: bigint): bigint {
  checkField(inputBlinding, "inputBlinding");
  const words = packPixels(pixels);
  if (words.length !== 7) throw new ZkPayError("invalid_argument", `expected 7 pixel words, got ${words.length}`);
  return poseidon8([...words, inputBlinding]);
}

/**
 * The logits packed into one field element:
 * `sum_k (logit_k + 2^23) * 2^(24 k)` (10 x 24 bits = 240 bits, below p). Throws
 * `invalid_argument` for a logit outside [-2^23, 2^23) or a count other than 10.
 *
 * @example
 * unpackResult(packResult(logits)); // logits
 */
export function packResult(logits: readonly number[]): bigint {
  if (logits.length !== INFERENCE_SHAPE.outputs) {
    throw new ZkPayError("invalid_argument", `a result has ${INFERENCE_SHAPE.outputs} logits, got ${logits.length}`);
  }
  let packed = 0n;
  for (let k = logits.length - 1; k >= 0; k--) {
    const l = logits[k]!;
    if (!Number.isSafeInteger(l) || l < -(2 ** 23) || l >= 2 ** 23) {
      throw new ZkPayError("invalid_argument", `logit ${k} must be an integer in [-2^23, 2^23), got ${l}`, {
        index: k,
      });
    }
    packed = (packed << LOGIT_BITS) | (BigInt(l) + LOGIT_OFFSET);
  }
  return packed;
}

/**
 * The logits of a packed result ({@link packResult}'s inverse). Throws `invalid_argument`
 * when `packed` has more than 240 bits: not a packed result (e.g. a ciphertext decrypted
 * with the wrong blinding or escrow id, which gives a uniformly random field element).
 *
 * @example
 * const logits = unpackResult(packed);
 */
export function unpackResult(packed: bigint): number[] {
  const bits = LOGIT_BITS * BigInt(INFERENCE_SHAPE.outputs);
  if (typeof packed !== "bigint" || packed < 0n || packed >= 1n << bits) {
    throw new ZkPayError("invalid_argument", "not a packed inference result (over 240 bits: wrong key?)");
  }
  const logits: number[] = [];
  const mask = (1n << LOGIT_BITS) - 1n;
  for (let k = 0; k < INFERENCE_SHAPE.outputs; k++) {
    logits.push(Number(((packed >> (LOGIT_BITS * BigInt(k))) & mask) - LOGIT_OFFSET));
  }
  return logits;
}

/**
 * The one-time pad of a result: `Poseidon2(inputBlinding, escrowId)`. Only the holders of
 * the blinding (the payer, and the API it gave it to) can compute it; a new escrow gives a
 * new pad.
 *
 * @example
 * const pad = resultPad(blinding, escrowId);
 */
export function resultPad(inputBlinding: bigint, escrowId: bigint): bigint {
  checkField(inputBlinding, "inputBlinding");
  checkField(escrowId, "escrowId");
  return escrowResultPad(inputBlinding, escrowId);
}

/**
 * The result's ciphertext, as the circuit outputs it and the release publishes it:
 * `(packResult(logits) + resultPad(inputBlinding, escrowId)) mod p`.
 *
 * @example
 * const ct = encryptResult(logits, blinding, escrowId);
 */
export function encryptResult(logits: readonly number[], inputBlinding: bigint, escrowId: bigint): bigint {
  return (packResult(logits) + resultPad(inputBlinding, escrowId)) % P;
}

/**
 * The logits in a result ciphertext (read from the proof's public signals or from the
 * chain's release event). Throws `invalid_argument` when the ciphertext does not decrypt
 * to a packed result under this blinding and escrow id.
 *
 * @example
 * const logits = decryptResult(ct, blinding, escrowId);
 * const digit = argmax(logits);
 */
export function decryptResult(ciphertext: bigint, inputBlinding: bigint, escrowId: bigint): number[] {
  checkField(ciphertext, "resultCiphertext");
  return unpackResult((ciphertext - resultPad(inputBlinding, escrowId) + P) % P);
}

/**
 * Index of the largest logit (the first one on a tie): the predicted class.
 *
 * @example
 * argmax([3, 9, -1]); // 1
 */
export function argmax(logits: readonly number[]): number {
  if (logits.length === 0) throw new ZkPayError("invalid_argument", "argmax of no logits");
  let best = 0;
  for (let k = 1; k < logits.length; k++) if (logits[k]! > logits[best]!) best = k;
  return best;
}
