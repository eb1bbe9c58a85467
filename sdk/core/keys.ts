import { bytesToHex, hexToBytes, keccak256, type Hex } from "viem";

import { ZkPayError } from "./errors.js";
import { SNARK_SCALAR_FIELD, toBytes32 } from "./field.js";
import { hash3 } from "./poseidon.js";
import type { NoteSecrets } from "./note.js";

/** Purposes mixed into the derivation so each derived value is independent. */
const PURPOSE = { nullifier: 1n, secret: 2n, tag: 3n, pad: 4n } as const;

/**
 * Deterministic key material of a wallet. Every note the wallet ever creates is note
 * number k of its seed, so the seed plus the chain's events rebuild the whole wallet.
 *
 * @example
 * const keys = WalletKeys.fromSeed("0x" + "11".repeat(32));
 * const { nullifier, secret } = keys.noteSecrets(0);
 */
export class WalletKeys {
  /** The seed reduced into the field; the root of every derivation. */
  readonly #root: bigint;

  private constructor(root: bigint) {
    this.#root = root;
  }

  /** Builds keys from a 32-byte hex seed (keep it secret, back it up). */
  static fromSeed(seed: Hex | string): WalletKeys {
    if (!/^0x[0-9a-fA-F]{64}$/.test(seed)) {
      throw new ZkPayError("invalid_argument", "seed must be 32 bytes of hex (0x + 64 hex digits)");
    }
    // Domain-separate the seed from any other use of the same bytes.
    const root =
      BigInt(keccak256(new Uint8Array([...new TextEncoder().encode("402zk/seed/v1"), ...hexToBytes(seed as Hex)]))) %
      SNARK_SCALAR_FIELD;
    return new WalletKeys(root);
  }

  /** A fresh random seed from the platform CSPRNG (Node or browser). */
  static randomSeed(): Hex {
    const bytes = new Uint8Array(32);
    globalThis.crypto.getRandomValues(bytes);
    return bytesToHex(bytes);
  }

  /** Secrets of note number `k`. */
  noteSecrets(k: number): NoteSecrets {
    const kk = BigInt(k);
    return { nullifier: hash3(this.#root, kk, PURPOSE.nullifier), secret: hash3(this.#root, kk, PURPOSE.secret) };
  }

  /** Public tag that marks note `k`'s memo, so a rescan finds it without trial decryption. */
  memoTag(k: number): bigint {
    return hash3(this.#root, BigInt(k), PURPOSE.tag);
  }

  /** One-time pad that hides note `k`'s value in its memo. */
  memoPad(k: number): bigint {
    return hash3(this.#root, BigInt(k), PURPOSE.pad);
  }

  /**
   * The 64-byte memo published with note `k`: tag || (value + pad mod p).
   * Only the seed's owner can find the note (tag) or read its value (pad).
   */
  encodeMemo(k: number, value: bigint): Hex {
    const enc = (value + this.memoPad(k)) % SNARK_SCALAR_FIELD;
    return `0x${toBytes32(this.memoTag(k)).slice(2)}${toBytes32(enc).slice(2)}`;
  }

  /** Reads note `k`'s value from its memo. */
  decodeMemoValue(k: number, memo: Hex): bigint {
    const enc = BigInt(`0x${memo.slice(66, 130)}`);
    return (enc - this.memoPad(k) + SNARK_SCALAR_FIELD) % SNARK_SCALAR_FIELD;
  }
}

/** Length in bytes of the memos this SDK writes. */
export const MEMO_LENGTH = 64;

/** The tag part of a memo, or undefined if it is not a 402zk memo. @example memoTagOf(memo) */
export function memoTagOf(memo: Hex): bigint | undefined {
  if (memo.length !== 2 + MEMO_LENGTH * 2) return undefined;
  return BigInt(`0x${memo.slice(2, 66)}`);
}
