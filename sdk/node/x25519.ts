import { createHash, createPrivateKey, createPublicKey, diffieHellman, type KeyObject } from "node:crypto";

import type { X25519Fn } from "../core/note-encryption.js";

/**
 * X25519 through node:crypto (OpenSSL): ~48 us a shared secret against ~1.1 ms for
 * @noble/curves, which is what makes trial-decrypting every payee memo of a large pool
 * affordable (`payeeScanMs`). Same function (RFC 7748: both clamp the secret and mask the
 * public key's top bit), so both give the same bytes; test/core/note-encryption.test.ts
 * checks it.
 *
 * The secret goes in as PKCS#8 DER (X25519 OID 1.3.101.110), the public key as a JWK. The private
 * KeyObject of a secret is cached (a wallet scans with one viewing key), keyed by the
 * secret's sha256, never by the secret itself.
 *
 * @example
 * const note = decryptNote(keys.viewingKey(), memo, nodeX25519);
 */
export const nodeX25519: X25519Fn = (secret, publicKey) => {
  if (secret.length !== 32 || publicKey.length !== 32) throw new Error("X25519 keys are 32 bytes");
  const privateKey = privateKeyOf(secret);
  // JWK, not SPKI DER, for the public key: half the parsing cost (~17 us against ~34 us),
  // and this runs once per memo scanned.
  const pub = createPublicKey({
    key: { kty: "OKP", crv: "X25519", x: Buffer.from(publicKey).toString("base64url") },
    format: "jwk",
  });
  // Throws on a low-order public key (OpenSSL refuses an all-zero shared secret).
  const shared = diffieHellman({ privateKey, publicKey: pub });
  return new Uint8Array(shared.buffer, shared.byteOffset, shared.byteLength);
};

/** DER header of a PKCS#8 X25519 private key (RFC 8410), followed by the 32-byte secret. */
const PKCS8_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");

const privateKeys = new Map<string, KeyObject>();

function privateKeyOf(secret: Uint8Array): KeyObject {
  const id = createHash("sha256").update(secret).digest("hex");
  let key = privateKeys.get(id);
  if (!key) {
    key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, secret]), format: "der", type: "pkcs8" });
    // A handful of viewing keys per process at most; bound it anyway.
    if (privateKeys.size >= 16) privateKeys.delete(privateKeys.keys().next().value!);
    privateKeys.set(id, key);
  }
  return key;
}
