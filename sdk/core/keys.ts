import { x25519 } from "@noble/curves/ed25519.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, hexToBytes, keccak256, type Hex } from "viem";

import { ZkPayError } from "./errors.js";
import { SNARK_SCALAR_FIELD, toBytes32 } from "./field.js";
import { holderKeyFromSecret, type HolderKey } from "./identity/credential.js";
import { decodeMemoValue, encodeMemo, parseMemo, randomNonce128 } from "./memo.js";
import { nullifyingKeyOf, ownerKeyOf, type NoteOpening } from "./note.js";
import { hash2, hash3, hash4 } from "./poseidon.js";
import { encodeShieldedAddress, encodeViewingKey } from "./shielded-address.js";

/**
 * Purposes mixed into every derivation, so each derived value is independent of the
 * others. Each kind of note has its own constants: a deposit blinding, a change blinding
 * and an index blinding can never be the same hash of the same inputs. Hashes of different
 * arity are different functions (Poseidon's capacity encodes the width), so the spending
 * key, Poseidon2(r, 41), cannot equal any Poseidon3/Poseidon4 derivation below.
 */
const PURPOSE = {
  // Index derivation (test harnesses, benchmarks): Poseidon3(r, k, purpose).
  indexBlinding: 2n,
  indexTag: 3n,
  // Deposits: blinding Poseidon4(r, k, salt, purpose); tag Poseidon3(r, k, depositTag).
  depositBlinding: 11n,
  depositTag: 13n,
  // Change notes: Poseidon3(r, parent nullifier hash, purpose).
  changeBlinding: 22n,
  changeTag: 23n,
  // Escrowed payments (proof before pay): Poseidon3(r, parent nullifier hash, purpose) of
  // the note the payment spends: the refund note's blinding and memo tag, and the blinding
  // of the payer's input, so the seed alone finds a refund and decrypts a released result.
  refundBlinding: 24n,
  refundTag: 25n,
  escrowInputBlinding: 26n,
  refundMemoNonce: 27n,
  // Session credentials: Poseidon3(r, salt, purpose), salt 128 random bits per purchase.
  credentialNullifierSeed: 31n,
  credentialBlinding: 32n,
  // The spending key: Poseidon2(r, spendingKey).
  spendingKey: 41n,
  // The attribute-credential holder key (Verify & Pay): Poseidon2(r, attributeHolderKey).
  attributeHolderKey: 51n,
} as const;

/** Domain of the viewing key: sha256(domain || r as 32 bytes big-endian). */
const VIEWING_KEY_DOMAIN = new TextEncoder().encode("402zk/viewing-key/v1");

/**
 * Deterministic key material of a wallet: the seed plus the chain's events rebuild every
 * note it ever owned.
 *
 * Keys (r = the seed's root, never leaves this object):
 *
 * - **spending key** `sk` = Poseidon2(r, 41): the prover's private input; only this wallet.
 * - **nullifying key** `nk` = Poseidon2(sk, 1): computes nullifiers, cannot spend.
 * - **owner key** = Poseidon2(sk, 2): public (in the shielded address); every note the
 *   wallet owns carries it.
 * - **viewing key** `vk` = sha256("402zk/viewing-key/v1" || r): an X25519 secret that
 *   decrypts the payee notes sent to this wallet; an auditor given it lists incoming
 *   payments but holds no spending key. sha256, not Poseidon: X25519 takes 32 arbitrary
 *   bytes, and a hash outside the field keeps it unrelated to every circuit value.
 * - **encryption key** `ek` = X25519(vk, G): public (in the shielded address).
 *
 * Notes the wallet creates for itself, all owned by its owner key:
 *
 * - **Deposit number k** with a fresh random 128-bit `salt` (published in its memo):
 *   blinding = Poseidon4(r, k, salt, 11), tag = Poseidon3(r, k, 13). The index k keeps
 *   the tag findable in a rescan (the wallet looks ahead `depositGapLimit` indices); the
 *   salt makes two deposits that got the same k (two processes sharing a seed, a restore
 *   while a signed deposit is still in flight) different notes.
 * - **The change note of a spent note p**: blinding = Poseidon3(r, h_p, 22), tag =
 *   Poseidon3(r, h_p, 23), where h_p is p's nullifier hash. A nullifier hash is spent at
 *   most once on chain, so p has at most one change note on chain: collisions are
 *   impossible by construction, with no counter to lose in a crash or to share between
 *   processes. A retry that proves the same note again derives the same change blinding,
 *   which is harmless for the same reason (only one of the proofs can settle).
 *
 * @example
 * const keys = WalletKeys.fromSeed("0x" + "11".repeat(32));
 * const salt = randomNonce128();
 * const deposit = { value: 10_000n, owner: keys.ownerKey, blinding: keys.depositBlinding(0, salt) };
 * keys.address(); // "zk4021..."
 */
export class WalletKeys {
  /** The seed reduced into the field; the root of every derivation. */
  readonly #root: bigint;
  readonly #spendingKey: bigint;
  readonly #viewingKey: Uint8Array;
  /** Nullifying key: Poseidon2(sk, 1). Computes nullifiers, cannot spend. */
  readonly nullifyingKey: bigint;
  /** Owner key: Poseidon2(sk, 2). Public; owns every note of this wallet. */
  readonly ownerKey: bigint;
  readonly #encryptionKey: Uint8Array;

  private constructor(root: bigint) {
    this.#root = root;
    this.#spendingKey = hash2(root, PURPOSE.spendingKey);
    this.nullifyingKey = nullifyingKeyOf(this.#spendingKey);
    this.ownerKey = ownerKeyOf(this.#spendingKey);
    this.#viewingKey = sha256(new Uint8Array([...VIEWING_KEY_DOMAIN, ...hexToBytes(toBytes32(root))]));
    this.#encryptionKey = x25519.getPublicKey(this.#viewingKey);
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

  // ---------------------------------------------------------------- keys

  /** X25519 public key of the viewing key (32 bytes, a copy; public, in the shielded address). */
  get encryptionKey(): Uint8Array {
    return this.#encryptionKey.slice();
  }

  /** The spending key: the payment circuit's private input. Never share it. */
  spendingKey(): bigint {
    return this.#spendingKey;
  }

  /** The viewing key (a copy: 32-byte X25519 secret). Decrypts incoming notes; cannot spend. */
  viewingKey(): Uint8Array {
    return this.#viewingKey.slice();
  }

  /** This wallet's shielded address (`zk402...`): where others send it private payments. */
  address(): string {
    return encodeShieldedAddress({ ownerKey: this.ownerKey, encryptionKey: this.#encryptionKey });
  }

  /** The viewing-key string (`zk402view...`) to hand an auditor: lists incoming payments, cannot spend. */
  viewingKeyString(): string {
    return encodeViewingKey({ viewingKey: this.#viewingKey, ownerKey: this.ownerKey });
  }

  /**
   * The holder key of this wallet's attribute credentials (Verify & Pay, 402zk/identity):
   * an EdDSA-Poseidon key whose 32 secret bytes are Poseidon2(r, 51), so a wallet restored
   * from its seed holds the same key and its stored credentials still prove. Its own
   * purpose constant keeps it independent of the spending key (Poseidon2(r, 41)) and every
   * other derivation. The public key goes to identity issuers (in a credential request);
   * the secret never leaves the wallet.
   *
   * @example
   * const holder = WalletKeys.fromSeed(seed).attributeHolderKey();
   * const request = credentialRequest(holder, issuerKey, nonce); // 402zk/identity
   */
  attributeHolderKey(): HolderKey {
    return holderKeyFromSecret(hexToBytes(toBytes32(hash2(this.#root, PURPOSE.attributeHolderKey))));
  }

  // ---------------------------------------------------------------- wallet derivation

  /** Blinding of deposit number `k` made with `salt` (128 random bits, see the class doc). */
  depositBlinding(k: number, salt: bigint): bigint {
    return hash4(this.#root, BigInt(k), salt, PURPOSE.depositBlinding);
  }

  /** Memo tag of deposit number `k` (independent of the salt, so a rescan can look it up). */
  depositTag(k: number): bigint {
    return hash3(this.#root, BigInt(k), PURPOSE.depositTag);
  }

  /** Blinding of the change note created when the note with this nullifier hash is spent. */
  changeBlinding(parentNullifierHash: bigint): bigint {
    return hash3(this.#root, parentNullifierHash, PURPOSE.changeBlinding);
  }

  /** Memo tag of the change note created when the note with this nullifier hash is spent. */
  changeTag(parentNullifierHash: bigint): bigint {
    return hash3(this.#root, parentNullifierHash, PURPOSE.changeTag);
  }

  /** Blinding of the refund note of the escrowed payment that spends the note with this nullifier hash. */
  refundBlinding(parentNullifierHash: bigint): bigint {
    return hash3(this.#root, parentNullifierHash, PURPOSE.refundBlinding);
  }

  /** Memo tag of that refund note. */
  refundTag(parentNullifierHash: bigint): bigint {
    return hash3(this.#root, parentNullifierHash, PURPOSE.refundTag);
  }

  /**
   * Nonce (128 bits) of the refund note's memo: derived, not random, so that a wallet
   * restored from its seed rebuilds the exact memo the statement binds (a note has at most
   * one refund memo on chain, so a derived nonce reveals nothing a random one would hide).
   */
  refundMemoNonce(parentNullifierHash: bigint): bigint {
    return hash3(this.#root, parentNullifierHash, PURPOSE.refundMemoNonce) & ((1n << 128n) - 1n);
  }

  /**
   * Blinding of the input an escrowed payment (spending the note with this nullifier hash)
   * asks a service to compute on: it hides the input in the statement's `inputHash` and
   * keys the pad of the released result, so the seed alone decrypts the result on chain.
   */
  escrowInputBlinding(parentNullifierHash: bigint): bigint {
    return hash3(this.#root, parentNullifierHash, PURPOSE.escrowInputBlinding);
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
   * Blinding of index note `k`: a plain counter derivation for test harnesses and
   * benchmarks that allocate indices themselves. `PrivateWallet` never uses it: a
   * counter alone collides after a restore or between two processes sharing a seed.
   */
  indexBlinding(k: number): bigint {
    return hash3(this.#root, BigInt(k), PURPOSE.indexBlinding);
  }

  /** Opening of index note `k` worth `value`, owned by this wallet (see {@link indexBlinding}). */
  indexNote(k: number, value: bigint): NoteOpening {
    return { value, owner: this.ownerKey, blinding: this.indexBlinding(k) };
  }

  /** A 64-byte memo for index note `k` (fresh nonce each call; see {@link indexBlinding}). */
  encodeMemo(k: number, value: bigint): Hex {
    return encodeMemo({
      tag: hash3(this.#root, BigInt(k), PURPOSE.indexTag),
      blinding: this.indexBlinding(k),
      value,
      nonce: randomNonce128(),
    });
  }

  /** Reads index note `k`'s value from its memo (see {@link indexBlinding}). */
  decodeMemoValue(k: number, memo: Hex): bigint {
    const parts = parseMemo(memo);
    if (!parts) throw new ZkPayError("invalid_argument", "not a 402zk memo (64 bytes)");
    return decodeMemoValue(parts, this.indexBlinding(k));
  }
}
