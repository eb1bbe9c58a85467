import { bytesToHex, hexToBytes, keccak256, type Hex } from "viem";

import { ZkPayError } from "./errors.js";
import { SNARK_SCALAR_FIELD } from "./field.js";
import { decodeMemoValue, encodeMemo, parseMemo, randomNonce128 } from "./memo.js";
import type { NoteSecrets } from "./note.js";
import { hash3, hash4 } from "./poseidon.js";

/**
 * Purposes mixed into every derivation, so each derived value is independent of the
 * others. Each kind of note has its own constants: a deposit secret, a change secret and
 * an index secret can never be the same hash of the same inputs.
 */
const PURPOSE = {
  // Index derivation (test harnesses, benchmarks): Poseidon3(r, k, purpose).
  indexNullifier: 1n,
  indexSecret: 2n,
  indexTag: 3n,
  // Deposits: Poseidon4(r, k, salt, purpose); tag Poseidon3(r, k, depositTag).
  depositNullifier: 11n,
  depositSecret: 12n,
  depositTag: 13n,
  // Change notes: Poseidon3(r, parent nullifier, purpose).
  changeNullifier: 21n,
  changeSecret: 22n,
  changeTag: 23n,
  // Session credentials: Poseidon3(r, salt, purpose), salt 128 random bits per purchase.
  credentialNullifierSeed: 31n,
  credentialBlinding: 32n,
} as const;

/**
 * Deterministic key material of a wallet: the seed plus the chain's events rebuild every
 * note it ever created.
 *
 * How notes are derived (r = the seed's root, never leaves this object):
 *
 * - **Deposit number k** with a fresh random 128-bit `salt` (published in its memo):
 *   nullifier/secret = Poseidon4(r, k, salt, purpose), tag = Poseidon3(r, k, TAG).
 *   The index k keeps the tag findable in a rescan (the wallet looks ahead
 *   `depositGapLimit` indices); the salt makes two deposits that got the same k (two
 *   processes sharing a seed, a restore while a signed deposit is still in flight)
 *   different notes with different nullifiers. Without it they would share a nullifier,
 *   and spending one would make the other unspendable for ever.
 * - **The change note of a spent note p**: nullifier/secret = Poseidon3(r, n_p, purpose),
 *   tag = Poseidon3(r, n_p, TAG), where n_p is p's nullifier. A note is spent at most
 *   once on chain, so it has at most one change note on chain: collisions are impossible
 *   by construction, with no counter to lose in a crash or to share between processes. A
 *   retry that proves the same note again derives the same change secrets, which is
 *   harmless for the same reason (only one of the proofs can settle).
 *
 * @example
 * const keys = WalletKeys.fromSeed("0x" + "11".repeat(32));
 * const salt = randomNonce128();
 * const deposit = keys.depositSecrets(0, salt);
 * const change = keys.changeSecrets(deposit);
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

  // ---------------------------------------------------------------- wallet derivation

  /** Secrets of deposit number `k` made with `salt` (128 random bits, see the class doc). */
  depositSecrets(k: number, salt: bigint): NoteSecrets {
    const kk = BigInt(k);
    return {
      nullifier: hash4(this.#root, kk, salt, PURPOSE.depositNullifier),
      secret: hash4(this.#root, kk, salt, PURPOSE.depositSecret),
    };
  }

  /** Memo tag of deposit number `k` (independent of the salt, so a rescan can look it up). */
  depositTag(k: number): bigint {
    return hash3(this.#root, BigInt(k), PURPOSE.depositTag);
  }

  /** Secrets of the change note created when `parent` is spent. */
  changeSecrets(parent: NoteSecrets): NoteSecrets {
    return {
      nullifier: hash3(this.#root, parent.nullifier, PURPOSE.changeNullifier),
      secret: hash3(this.#root, parent.nullifier, PURPOSE.changeSecret),
    };
  }

  /** Memo tag of the change note created when `parent` is spent. */
  childTag(parent: NoteSecrets): bigint {
    return hash3(this.#root, parent.nullifier, PURPOSE.changeTag);
  }

  /**
   * Holder secrets of a session credential bought with `salt` (128 random bits, stored
   * with the purchase before it is paid). The salt, as for deposits, keeps two purchases
   * by processes sharing a seed apart; the seed plus the stored salt re-derive both
   * secrets after a crash.
   */
  credentialSecrets(salt: bigint): { nullifierSeed: bigint; blinding: bigint } {
    return {
      nullifierSeed: hash3(this.#root, salt, PURPOSE.credentialNullifierSeed),
      blinding: hash3(this.#root, salt, PURPOSE.credentialBlinding),
    };
  }

  // ---------------------------------------------------------------- index derivation

  /**
   * Secrets of index note `k`: a plain counter derivation for test harnesses and
   * benchmarks that allocate indices themselves. `PrivateWallet` never uses it: a
   * counter alone collides after a restore or between two processes sharing a seed.
   */
  noteSecrets(k: number): NoteSecrets {
    const kk = BigInt(k);
    return {
      nullifier: hash3(this.#root, kk, PURPOSE.indexNullifier),
      secret: hash3(this.#root, kk, PURPOSE.indexSecret),
    };
  }

  /** A 64-byte memo for index note `k` (fresh nonce each call; see {@link noteSecrets}). */
  encodeMemo(k: number, value: bigint): Hex {
    return encodeMemo({
      tag: hash3(this.#root, BigInt(k), PURPOSE.indexTag),
      secrets: this.noteSecrets(k),
      value,
      nonce: randomNonce128(),
    });
  }

  /** Reads index note `k`'s value from its memo (see {@link noteSecrets}). */
  decodeMemoValue(k: number, memo: Hex): bigint {
    const parts = parseMemo(memo);
    if (!parts) throw new ZkPayError("invalid_argument", "not a 402zk memo (64 bytes)");
    return decodeMemoValue(parts, this.noteSecrets(k));
  }
}
