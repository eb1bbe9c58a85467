/**
 * Payee note delivery (issue #19): the opening of a payee note, encrypted to the payee's
 * X25519 encryption key. The same bytes travel in the x402 payload (the resource server
 * decrypts them before it settles) and go on chain as the payee leaf's memo (the payee's
 * wallet finds its notes by trial decryption); the payment's context binds them, so
 * nobody can swap them.
 *
 * ECIES over X25519 + HKDF-SHA256 + XChaCha20-Poly1305 (@noble/curves, @noble/hashes,
 * @noble/ciphers: audited, no hand-written primitives):
 *
 *   esk  = fresh random X25519 secret, epk = X25519(esk, G)
 *   s    = X25519(esk, ek)
 *   okm  = HKDF-SHA256(ikm = s, salt = epk || ek, info = "402zk/note/v1", 34 bytes)
 *   tag2 = okm[0..2] (view tag), key = okm[2..34]
 *   ct   = XChaCha20-Poly1305(key, nonce (24 random bytes), plaintext, aad = 0x01 || epk)
 *   memo = 0x01 || tag2 || epk (32) || nonce (24) || ct (112 + 16)      (187 bytes)
 *
 * Plaintext (112 bytes): value (16 BE) || blinding (32 BE) || owner (32 BE) || conditionHash (32).
 *
 * Why each part:
 * - A fresh `esk` per note gives a fresh key per note, so the nonce never repeats under a
 *   key; the random 24-byte XChaCha nonce is a second guard (safe at random).
 * - `epk || ek` in the HKDF salt binds the key to both public keys (no key reuse across
 *   recipients, no epk substitution that maps to the same shared secret, e.g. a low-order
 *   twin); the version byte and epk are also the AEAD's associated data.
 * - The 2-byte view tag lets a scanning wallet skip the AEAD for 65535/65536 of the memos
 *   that are not its own after one X25519 (the expensive step); it leaks nothing about
 *   the plaintext, and the AEAD still authenticates every memo it keeps.
 * - The owner inside the plaintext lets the receiver check the note is owned by its key
 *   (the server compares it with its owner key and the commitment with the proof's).
 */
import { x25519 } from "@noble/curves/ed25519.js";
import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { expand, extract } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, hexToBytes, type Hex } from "viem";

import { ZkPayError } from "./errors.js";
import { MAX_VALUE, SNARK_SCALAR_FIELD, toBytes32 } from "./field.js";

/**
 * An X25519 function: the shared secret of `secret` (32 bytes) and `publicKey` (32
 * bytes). Core uses @noble/curves (browser-safe, ~1.1 ms); on Node pass `nodeX25519`
 * from 402zk/node (OpenSSL, ~50 us) when scanning many memos. It may throw on a
 * low-order public key (an all-zero secret); decryption treats that as "not ours".
 */
export type X25519Fn = (secret: Uint8Array, publicKey: Uint8Array) => Uint8Array;

/** The opening of a payee note and the condition it pays for (the memo's plaintext). */
export interface PayeeNotePlaintext {
  /** Tokens in the note (below 2^128). */
  value: bigint;
  /** The note's blinding (a field element). */
  blinding: bigint;
  /** The note's owner key (a field element; the payee's). */
  owner: bigint;
  /** The x402 challenge's condition hash this payment answers (32 bytes). */
  conditionHash: Hex;
}

/** Version byte of the payee memo format. */
export const PAYEE_MEMO_VERSION = 1;
/** Length of a payee memo in bytes: 1 + 2 + 32 + 24 + 112 + 16. */
export const PAYEE_MEMO_LENGTH = 187;

const PLAINTEXT_LENGTH = 112;
const INFO = new TextEncoder().encode("402zk/note/v1");
const EPK_AT = 3;
const NONCE_AT = EPK_AT + 32;
const CT_AT = NONCE_AT + 24;

/** @noble/curves' X25519: the default (browser-safe). */
const nobleX25519: X25519Fn = (secret, publicKey) => x25519.getSharedSecret(secret, publicKey);

/** HKDF-Extract of a shared secret with salt epk || ek (the pseudorandom key of the format above). */
function prkOf(shared: Uint8Array, epk: Uint8Array, ek: Uint8Array): Uint8Array {
  const salt = new Uint8Array(64);
  salt.set(epk, 0);
  salt.set(ek, 32);
  return extract(sha256, shared, salt);
}

/** okm = HKDF-Expand(prk, info, 34): view tag okm[0..2], AEAD key okm[2..34]. */
function deriveKeys(prk: Uint8Array): { tag: Uint8Array; key: Uint8Array } {
  const okm = expand(sha256, prk, INFO, 34);
  return { tag: okm.subarray(0, 2), key: okm.subarray(2, 34) };
}

/**
 * Just the view tag: HKDF-Expand's output is a prefix of the longer one (same first
 * block), so a 2-byte expand equals okm[0..2] at one HMAC less than the full 34 bytes.
 */
function viewTag(prk: Uint8Array): Uint8Array {
  return expand(sha256, prk, INFO, 2);
}

function aad(epk: Uint8Array): Uint8Array {
  const out = new Uint8Array(33);
  out[0] = PAYEE_MEMO_VERSION;
  out.set(epk, 1);
  return out;
}

/**
 * Encrypts a payee note's opening to the payee's encryption key (`ek`, from its shielded
 * address). Fresh randomness each call: two calls give two different memos. Throws
 * `invalid_argument` for an opening outside its ranges and `invalid_shielded_address`
 * for an encryption key that is not a usable X25519 public key.
 *
 * @example
 * const { ownerKey, encryptionKey } = parseShieldedAddress(requirement.payTo);
 * const payeeMemo = encryptNote(encryptionKey, { value: price, blinding, owner: ownerKey, conditionHash });
 */
export function encryptNote(ek: Uint8Array, p: PayeeNotePlaintext): Hex {
  if (!(ek instanceof Uint8Array) || ek.length !== 32) {
    throw new ZkPayError("invalid_shielded_address", "encryption key must be 32 bytes");
  }
  if (typeof p.value !== "bigint" || p.value < 0n || p.value > MAX_VALUE) {
    throw new ZkPayError("invalid_argument", "note value must be an integer in [0, 2^128)");
  }
  for (const [name, x] of [
    ["blinding", p.blinding],
    ["owner", p.owner],
  ] as const) {
    if (typeof x !== "bigint" || x < 0n || x >= SNARK_SCALAR_FIELD) {
      throw new ZkPayError("invalid_argument", `note ${name} must be a field element`);
    }
  }
  if (typeof p.conditionHash !== "string" || !/^0x[0-9a-fA-F]{64}$/.test(p.conditionHash)) {
    throw new ZkPayError("invalid_argument", "conditionHash must be 32 bytes of hex");
  }
  const plaintext = new Uint8Array(PLAINTEXT_LENGTH);
  plaintext.set(hexToBytes(toBytes32(p.value)).subarray(16), 0);
  plaintext.set(hexToBytes(toBytes32(p.blinding)), 16);
  plaintext.set(hexToBytes(toBytes32(p.owner)), 48);
  plaintext.set(hexToBytes(p.conditionHash), 80);

  const esk = x25519.utils.randomSecretKey();
  const epk = x25519.getPublicKey(esk);
  let shared: Uint8Array;
  try {
    shared = x25519.getSharedSecret(esk, ek);
  } catch {
    // noble refuses a low-order key (the shared secret would be 0: anyone could read it).
    throw new ZkPayError("invalid_shielded_address", "encryption key is not a usable X25519 public key");
  }
  const { tag, key } = deriveKeys(prkOf(shared, epk, ek));
  const nonce = new Uint8Array(24);
  globalThis.crypto.getRandomValues(nonce);
  const ct = xchacha20poly1305(key, nonce, aad(epk)).encrypt(plaintext);

  const memo = new Uint8Array(PAYEE_MEMO_LENGTH);
  memo[0] = PAYEE_MEMO_VERSION;
  memo.set(tag, 1);
  memo.set(epk, EPK_AT);
  memo.set(nonce, NONCE_AT);
  memo.set(ct, CT_AT);
  esk.fill(0);
  return bytesToHex(memo);
}

/** Bounded cache of encryption keys by viewing key (sha256 of it as the map key, never the secret). */
const ekCache = new Map<string, Uint8Array>();

function encryptionKeyOf(vk: Uint8Array, x: X25519Fn): Uint8Array {
  const id = bytesToHex(sha256(vk));
  let ek = ekCache.get(id);
  if (!ek) {
    // X25519(vk, 9) = the public key; through `x` so that nodeX25519 speeds this up too.
    ek = x(vk, x25519.GuBytes);
    if (ekCache.size >= 16) ekCache.delete(ekCache.keys().next().value!);
    ekCache.set(id, ek);
  }
  return ek;
}

/**
 * Decrypts a payee memo with a viewing key. Returns undefined for anything that is not a
 * note for this key: another key's memo, a malformed one (not hex, wrong length or
 * version, a view tag or AEAD tag that does not match, a plaintext out of range). Never
 * throws. The caller still checks `owner` against its owner key and the commitment
 * against the leaf or the proof: decryption proves only who the sender encrypted to.
 *
 * Cost: one X25519 (pass `nodeX25519` on Node) and one HKDF per memo; the AEAD runs only
 * when the 2-byte view tag matches.
 *
 * @example
 * const note = decryptNote(keys.viewingKey(), payload.payeeMemo, nodeX25519);
 * if (!note || note.owner !== keys.ownerKey) throw new ZkPayError("payee_note_not_ours", "...");
 */
export function decryptNote(
  vk: Uint8Array,
  memo: Hex,
  x25519Fn: X25519Fn = nobleX25519,
): PayeeNotePlaintext | undefined {
  try {
    if (!(vk instanceof Uint8Array) || vk.length !== 32) return undefined;
    if (typeof memo !== "string" || memo.length !== 2 + PAYEE_MEMO_LENGTH * 2 || !/^0x[0-9a-fA-F]*$/.test(memo)) {
      return undefined;
    }
    const bytes = hexToBytes(memo);
    if (bytes[0] !== PAYEE_MEMO_VERSION) return undefined;
    const epk = bytes.subarray(EPK_AT, NONCE_AT);
    const shared = x25519Fn(vk, epk);
    if (!(shared instanceof Uint8Array) || shared.length !== 32 || shared.every((b) => b === 0)) return undefined;
    const prk = prkOf(shared, epk, encryptionKeyOf(vk, x25519Fn));
    const tag = viewTag(prk);
    if (tag[0] !== bytes[1] || tag[1] !== bytes[2]) return undefined;
    const { key } = deriveKeys(prk);
    const plaintext = xchacha20poly1305(key, bytes.subarray(NONCE_AT, CT_AT), aad(epk)).decrypt(bytes.subarray(CT_AT));
    if (plaintext.length !== PLAINTEXT_LENGTH) return undefined;
    const value = BigInt(bytesToHex(plaintext.subarray(0, 16)));
    const blinding = BigInt(bytesToHex(plaintext.subarray(16, 48)));
    const owner = BigInt(bytesToHex(plaintext.subarray(48, 80)));
    // Authentic but out of range: only a buggy or hostile sender writes this; no note opens with it.
    if (blinding >= SNARK_SCALAR_FIELD || owner >= SNARK_SCALAR_FIELD) return undefined;
    return { value, blinding, owner, conditionHash: bytesToHex(plaintext.subarray(80, 112)) };
  } catch {
    // A throwing X25519 (low-order epk), a failed AEAD tag: not a note for this key.
    return undefined;
  }
}
