/**
 * Constants of Verify & Pay's attribute credentials (issue #21): tree sizes and the
 * domain constants of every attribute-credential hash. The domains are the ASCII bytes of
 * each name read as a big-endian integer, exactly the values in circuits/credential.circom
 * (a test checks they agree).
 *
 * Browser-safe: no Node imports.
 */

/**
 * Serials are below 2^REV_DEPTH. The revocation tree is a circomlib sparse Merkle tree of
 * REV_DEPTH + 1 levels ({@link REV_SMT_LEVELS}): circomlib's `SMTVerifier(n)` needs its
 * last sibling to be 0, so leaves sit at most at level n - 1 and only n - 1 key bits
 * separate leaves.
 */
export const REV_DEPTH = 20;

/** Levels of the revocation SMT (the circuit's `SMTVerifier` and the iden3 tree's maxLevels). */
export const REV_SMT_LEVELS = REV_DEPTH + 1;

/** Depth of the trusted-issuer LeanIMT path in the circuit. */
export const ISSUER_DEPTH = 4;

/** At most 2^ISSUER_DEPTH trusted issuers per API. */
export const MAX_TRUSTED_ISSUERS = 2 ** ISSUER_DEPTH;

/** Version tag of an attribute credential's JSON form. */
export const ATTRIBUTE_CREDENTIAL_VERSION = "402zk-attr-v1" as const;

/** ASCII bytes of `s` read as a big-endian integer (how every domain constant is made). */
function asciiToField(s: string): bigint {
  let x = 0n;
  for (const byte of new TextEncoder().encode(s)) x = (x << 8n) | BigInt(byte);
  return x;
}

/** "402zk.attr-issuer.v1": issuerHash = Poseidon3(d, Ax, Ay), issuerLeaf = Poseidon4(d, Ax, Ay, revocationRoot). */
export const ATTR_ISSUER_DOMAIN: bigint = asciiToField("402zk.attr-issuer.v1");
/** "402zk.attr-credential.v1": the signed message Poseidon8(d, Hx, Hy, birthDate, country, expiresAt, flags, serial). */
export const ATTR_CREDENTIAL_DOMAIN: bigint = asciiToField("402zk.attr-credential.v1");
/** "402zk.attr-pseudonym.v1": pseudonym = Poseidon4(d, hk, serviceId, epoch). */
export const ATTR_PSEUDONYM_DOMAIN: bigint = asciiToField("402zk.attr-pseudonym.v1");
/** "402zk.attr-pop.v1": proof of possession at issuance, Poseidon5(d, issuerHash, nonce, Hx, Hy) (off circuit). */
export const ATTR_POP_DOMAIN: bigint = asciiToField("402zk.attr-pop.v1");
/** "402zk.attr-revocation.v1": a revocation list's signed message, Poseidon3(d, root, updatedAt) (off circuit). */
export const ATTR_REVOCATION_DOMAIN: bigint = asciiToField("402zk.attr-revocation.v1");
