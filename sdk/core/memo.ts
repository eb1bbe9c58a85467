import { bytesToHex, type Hex } from "viem";

import { ZkPayError } from "./errors.js";
import { MAX_VALUE, toBytes32 } from "./field.js";
import { hash3 } from "./poseidon.js";

/**
 * Memo codec. Every note a wallet creates for itself (deposits, change) is published with
 * a 64-byte memo (payee notes carry an encrypted one instead, see note-encryption.ts):
 *
 *   tag (32 bytes) || nonce (16 bytes) || value XOR pad (16 bytes)
 *
 * - `tag` lets the seed's owner recognise its notes in a rescan without trial decryption
 *   (it is a keyed hash only the seed can compute; see WalletKeys).
 * - `nonce` is 128 fresh random bits per memo (a deposit's salt doubles as its nonce).
 * - `pad` = low 128 bits of Poseidon3(blinding, nonce, PAD): keyed by the note's own
 *   blinding (derived from the seed for the wallet's own notes, so only the seed can
 *   compute it) and the nonce. Values are below 2^128, so XOR hides them fully.
 *
 * Why a nonce, and never a pad without one: the same change blinding is reused when a
 * note is proven again (a retry, a restored wallet re-proving a held note), and each of
 * those proofs carries a memo that a server sees. With a pad that depends only on the
 * blinding, two memos for one note would share it, and anyone holding both reads the
 * difference of the hidden values (v1 XOR v2). A fresh nonce makes every pad new.
 *
 * The memo is only a hint: a wallet always checks that the commitment opens with the
 * decoded value before it believes a note is its own.
 */

/** Length in bytes of the memos this SDK writes. */
export const MEMO_LENGTH = 64;

/** Bytes of randomness in each memo (and in each deposit's salt). */
export const MEMO_NONCE_BYTES = 16;

const PURPOSE_PAD = 31n;
const MASK_128 = (1n << 128n) - 1n;

/**
 * 128 random bits from the platform CSPRNG (`globalThis.crypto`, Node and browsers).
 *
 * @example
 * const nonce = randomNonce128();
 */
export function randomNonce128(): bigint {
  const bytes = new Uint8Array(MEMO_NONCE_BYTES);
  globalThis.crypto.getRandomValues(bytes);
  return BigInt(bytesToHex(bytes));
}

/**
 * The one-time pad that hides a note's value in a memo with this nonce.
 *
 * @example
 * const pad = memoPad(blinding, nonce);
 */
export function memoPad(blinding: bigint, nonce: bigint): bigint {
  return hash3(blinding, nonce, PURPOSE_PAD) & MASK_128;
}

/**
 * Builds the 64-byte memo of a note. `nonce` must be fresh for every memo (128 bits).
 *
 * @example
 * const memo = encodeMemo({ tag, blinding, value: 10_000n, nonce: randomNonce128() });
 */
export function encodeMemo(m: { tag: bigint; blinding: bigint; value: bigint; nonce: bigint }): Hex {
  if (m.value < 0n || m.value > MAX_VALUE) throw new ZkPayError("invalid_argument", "memo value must be below 2^128");
  if (m.nonce < 0n || m.nonce > MASK_128) throw new ZkPayError("invalid_argument", "memo nonce must be 128 bits");
  const hex16 = (x: bigint) => x.toString(16).padStart(32, "0");
  return `0x${toBytes32(m.tag).slice(2)}${hex16(m.nonce)}${hex16(m.value ^ memoPad(m.blinding, m.nonce))}`;
}

/** The parts of a 402zk memo, or undefined if `memo` is not one. */
export interface MemoParts {
  tag: bigint;
  nonce: bigint;
  /** value XOR pad */
  masked: bigint;
}

/**
 * Splits a memo into tag, nonce and masked value (undefined if it is not 64 bytes).
 *
 * @example
 * const parts = parseMemo(ev.args.memo);
 */
export function parseMemo(memo: Hex): MemoParts | undefined {
  if (memo.length !== 2 + MEMO_LENGTH * 2) return undefined;
  return {
    tag: BigInt(`0x${memo.slice(2, 66)}`),
    nonce: BigInt(`0x${memo.slice(66, 98)}`),
    masked: BigInt(`0x${memo.slice(98, 130)}`),
  };
}

/** The tag part of a memo, or undefined if it is not a 402zk memo. @example memoTagOf(memo) */
export function memoTagOf(memo: Hex): bigint | undefined {
  return parseMemo(memo)?.tag;
}

/**
 * Reads the value hidden in a memo, given the note's blinding (check the commitment after).
 *
 * @example
 * const value = decodeMemoValue(parseMemo(memo)!, blinding);
 */
export function decodeMemoValue(parts: MemoParts, blinding: bigint): bigint {
  return parts.masked ^ memoPad(blinding, parts.nonce);
}
