/**
 * Shielded addresses (issue #19): where a payer sends a private payment. One string holds
 * the payee's owner key (who can spend the note) and its X25519 encryption key (who can
 * read the note's opening), with bech32m's checksum (BIP-350: detects any error of up to
 * 4 characters) and a human-readable prefix so that a mistyped or truncated address, or a
 * viewing key pasted where an address belongs, is refused before any money moves.
 *
 *   address     = bech32m("zk402",     0x00 || ownerKey (32 bytes BE) || encryptionKey (32))
 *   viewing key = bech32m("zk402view", 0x00 || viewingKey (32)        || ownerKey (32 BE))
 *
 * The leading byte is a version: a future format gets another, and this code refuses it
 * rather than misreading it. Browser-safe (@scure/base only).
 */
import { bech32m } from "@scure/base";
import { bytesToHex, hexToBytes } from "viem";

import { ZkPayError } from "./errors.js";
import { SNARK_SCALAR_FIELD, toBytes32 } from "./field.js";

/** Human-readable prefix of a shielded address. */
export const SHIELDED_ADDRESS_PREFIX = "zk402";
/** Human-readable prefix of a viewing-key string. */
export const VIEWING_KEY_PREFIX = "zk402view";
/** The one version byte this SDK writes and reads. */
export const SHIELDED_ADDRESS_VERSION = 0;

/** 1 version byte + two 32-byte keys. */
const DATA_BYTES = 65;
/**
 * bech32's default limit is 90 characters (BIP-173); 65 bytes need 104 data characters
 * plus prefix, separator and checksum. The checksum's guarantees hold up to 1023.
 */
const LIMIT = 200;

/** The public half of a wallet's keys, as a shielded address carries it. */
export interface ShieldedAddress {
  /** Owner key: notes owned by it are spendable only with the matching spending key. */
  ownerKey: bigint;
  /** X25519 public key the payee note's opening is encrypted to (32 bytes). */
  encryptionKey: Uint8Array;
}

/** A viewing key as handed to an auditor: decrypts incoming notes, cannot spend. */
export interface ViewingKey {
  /** X25519 secret (32 bytes). */
  viewingKey: Uint8Array;
  /** The wallet's owner key (the auditor keeps only notes owned by it). */
  ownerKey: bigint;
}

function encode(prefix: string, a: Uint8Array, b: Uint8Array, what: string): string {
  if (a.length !== 32 || b.length !== 32) throw new ZkPayError("invalid_argument", `${what}: keys must be 32 bytes`);
  const data = new Uint8Array(DATA_BYTES);
  data[0] = SHIELDED_ADDRESS_VERSION;
  data.set(a, 1);
  data.set(b, 33);
  return bech32m.encode(prefix, bech32m.toWords(data), LIMIT);
}

function fieldBytes(x: bigint, what: string): Uint8Array {
  if (typeof x !== "bigint" || x < 0n || x >= SNARK_SCALAR_FIELD) {
    throw new ZkPayError("invalid_argument", `${what}: owner key must be a field element`);
  }
  return hexToBytes(toBytes32(x));
}

/**
 * Decodes a bech32m string with `prefix` into its two 32-byte keys, refusing with `reason`
 * and a message naming the problem: prefix, checksum (any corrupted character), length,
 * version.
 */
function decode(
  s: unknown,
  prefix: string,
  what: string,
  reason: "invalid_shielded_address" | "invalid_argument",
): [Uint8Array, Uint8Array] {
  const bad = (problem: string, why: string) => new ZkPayError(reason, `not a ${what}: ${why}`, { problem });
  if (typeof s !== "string") throw bad("type", "not a string");
  if (s.length > LIMIT) throw bad("length", `${s.length} characters (at most ${LIMIT})`);
  // The separator is the last "1" (the data alphabet has none).
  const sep = s.lastIndexOf("1");
  const hrp = sep < 0 ? "" : s.slice(0, sep).toLowerCase();
  if (hrp !== prefix) {
    // Name a short wrong prefix; never echo a long one (it may be a pasted secret).
    const got = sep < 0 ? "no separator" : hrp.length <= 12 ? `"${hrp}1"` : "another prefix";
    throw bad("prefix", `prefix must be "${prefix}1", got ${got}`);
  }
  let words: number[];
  try {
    ({ words } = bech32m.decode(s as `${string}1${string}`, LIMIT));
  } catch {
    // Not the library's message: it quotes the input, which for a viewing key is a secret.
    throw bad("checksum", "bad checksum, a mistyped, missing or extra character, or mixed case");
  }
  let data: Uint8Array;
  try {
    data = bech32m.fromWords(words);
  } catch {
    throw bad("length", "data does not end on a byte boundary");
  }
  if (data.length !== DATA_BYTES) throw bad("length", `${data.length} bytes of data, expected ${DATA_BYTES}`);
  if (data[0] !== SHIELDED_ADDRESS_VERSION) {
    throw bad("version", `version ${data[0]} (this SDK reads version ${SHIELDED_ADDRESS_VERSION})`);
  }
  return [data.slice(1, 33), data.slice(33, 65)];
}

function ownerKeyFrom(bytes: Uint8Array, bad: (why: string) => ZkPayError): bigint {
  const ownerKey = BigInt(bytesToHex(bytes));
  // A value at or above the field order cannot be a circuit signal: no note could carry it.
  if (ownerKey >= SNARK_SCALAR_FIELD) throw bad("owner key is not below the BN254 field order");
  return ownerKey;
}

/**
 * The shielded address (`zk4021...`) of an owner key and an encryption key.
 *
 * @example
 * const addr = encodeShieldedAddress({ ownerKey: keys.ownerKey, encryptionKey: keys.encryptionKey });
 */
export function encodeShieldedAddress(a: ShieldedAddress): string {
  return encode(
    SHIELDED_ADDRESS_PREFIX,
    fieldBytes(a.ownerKey, "shielded address"),
    a.encryptionKey,
    "shielded address",
  );
}

/**
 * Reads a shielded address. Throws `ZkPayError("invalid_shielded_address")` whose message
 * (and `details.problem`) names the problem: prefix, checksum, length, version, owner key.
 * Upper-case addresses are accepted (bech32 allows one case throughout, not a mix).
 *
 * @example
 * const { ownerKey, encryptionKey } = parseShieldedAddress(requirement.payTo);
 */
export function parseShieldedAddress(s: string): ShieldedAddress {
  const [owner, encryptionKey] = decode(s, SHIELDED_ADDRESS_PREFIX, "shielded address", "invalid_shielded_address");
  const ownerKey = ownerKeyFrom(
    owner,
    (why) => new ZkPayError("invalid_shielded_address", `not a shielded address: ${why}`, { problem: "ownerKey" }),
  );
  return { ownerKey, encryptionKey };
}

/**
 * True when `s` is a valid shielded address. Never throws.
 *
 * @example
 * if (isShieldedAddress(payTo)) scheme = "zk-shielded";
 */
export function isShieldedAddress(s: unknown): s is string {
  try {
    parseShieldedAddress(s as string);
    return true;
  } catch {
    return false;
  }
}

/**
 * The viewing-key string (`zk402view1...`) an auditor is given: it decrypts the wallet's
 * incoming notes and checks their owner, and cannot spend (no spending key in it).
 *
 * @example
 * const s = encodeViewingKey({ viewingKey: keys.viewingKey(), ownerKey: keys.ownerKey });
 */
export function encodeViewingKey(v: ViewingKey): string {
  return encode(VIEWING_KEY_PREFIX, v.viewingKey, fieldBytes(v.ownerKey, "viewing key"), "viewing key");
}

/**
 * Reads a viewing-key string. Throws `ZkPayError("invalid_argument")` naming the problem
 * (prefix, checksum, length, version, owner key), never echoing the key itself.
 *
 * @example
 * const { viewingKey, ownerKey } = parseViewingKey(process.env.VIEWING_KEY!);
 */
export function parseViewingKey(s: string): ViewingKey {
  const [viewingKey, owner] = decode(s, VIEWING_KEY_PREFIX, "402zk viewing key", "invalid_argument");
  const ownerKey = ownerKeyFrom(
    owner,
    (why) => new ZkPayError("invalid_argument", `not a 402zk viewing key: ${why}`, { problem: "ownerKey" }),
  );
  return { viewingKey, ownerKey };
}
