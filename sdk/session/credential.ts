import { poseidon3 } from "poseidon-lite/poseidon3";
import { poseidon4 } from "poseidon-lite/poseidon4";
import { poseidon7 } from "poseidon-lite/poseidon7";

import type { BabyJubPoint, EdDsaSignature } from "../core/eddsa.js";
import { verifyEdDsaPoseidon } from "../core/eddsa.js";
import { ZkPayError } from "../core/errors.js";
import { SNARK_SCALAR_FIELD } from "../core/field.js";

/**
 * Domain constants of credential hashes: the ASCII bytes of each name read as a
 * big-endian integer, exactly the values in circuits/credential.circom.
 */
export const CREDENTIAL_DOMAINS = {
  service: asciiToField("402zk.service.v1"),
  credential: asciiToField("402zk.credential.v1"),
  holder: asciiToField("402zk.credential-secret.v1"),
  originToken: asciiToField("402zk.origin-token.v1"),
} as const;

/** Bit widths of the production presentation circuit (circuits/main/presentation.circom). */
export const CREDENTIAL_LIMITS = {
  /** Tiers are 0..2^16-1. */
  tierBits: 16,
  /** Unix times in seconds are below 2^40. */
  timeBits: 40,
  /** Presentation counts are below 2^32. */
  countBits: 32,
} as const;

/** The terms a service sells and signs. */
export interface CredentialTerms {
  serviceId: bigint;
  tier: number;
  /** Unix seconds. */
  issuedAt: number;
  /** Unix seconds; presentations are accepted while `now < expiresAt`. */
  expiresAt: number;
  maxPresentations: number;
}

/** The holder's secrets (derived from the wallet seed, see `WalletKeys.credentialSecrets`). */
export interface HolderSecrets {
  nullifierSeed: bigint;
  blinding: bigint;
}

/** A credential as the holder keeps it: terms, the commitment it was issued to, the issuer's signature. */
export interface Credential extends CredentialTerms {
  holderCommitment: bigint;
  issuer: BabyJubPoint;
  signature: EdDsaSignature;
}

function asciiToField(s: string): bigint {
  let v = 0n;
  for (const b of new TextEncoder().encode(s)) v = (v << 8n) | BigInt(b);
  return v;
}

/**
 * A service's id: Poseidon3(SERVICE_DOMAIN, A.x, A.y) of its issuer key, so a public
 * service id names exactly one key.
 *
 * @example
 * const serviceId = serviceIdOf(issuerKey.publicKey);
 */
export function serviceIdOf(issuer: BabyJubPoint): bigint {
  return poseidon3([CREDENTIAL_DOMAINS.service, issuer[0], issuer[1]]);
}

/**
 * The commitment a credential is issued to: Poseidon3(HOLDER_DOMAIN, nullifierSeed,
 * blinding). The issuer sees only this value.
 *
 * @example
 * const commitment = holderCommitmentOf(keys.credentialSecrets(salt));
 */
export function holderCommitmentOf(h: HolderSecrets): bigint {
  return poseidon3([CREDENTIAL_DOMAINS.holder, h.nullifierSeed, h.blinding]);
}

/**
 * The field element an issuer signs: Poseidon7(CREDENTIAL_DOMAIN, serviceId, tier,
 * issuedAt, expiresAt, maxPresentations, holderCommitment).
 *
 * @example
 * const m = credentialMessage(terms, commitment);
 */
export function credentialMessage(t: CredentialTerms, holderCommitment: bigint): bigint {
  checkTerms(t);
  return poseidon7([
    CREDENTIAL_DOMAINS.credential,
    t.serviceId,
    BigInt(t.tier),
    BigInt(t.issuedAt),
    BigInt(t.expiresAt),
    BigInt(t.maxPresentations),
    holderCommitment,
  ]);
}

/**
 * Presentation number `index` of a credential at `originId`: Poseidon4(ORIGIN_TOKEN_DOMAIN,
 * nullifierSeed, originId, index). The server refuses a token it has seen.
 *
 * @example
 * const token = originTokenOf(secrets.nullifierSeed, originId, 0);
 */
export function originTokenOf(nullifierSeed: bigint, originId: bigint, index: number): bigint {
  return poseidon4([CREDENTIAL_DOMAINS.originToken, nullifierSeed, originId, BigInt(index)]);
}

/**
 * Throws `invalid_argument` unless the terms fit the circuit's bit widths (and make
 * sense: at least one presentation, expiry after issuance).
 *
 * @example
 * checkTerms({ serviceId, tier: 1, issuedAt, expiresAt, maxPresentations: 100 });
 */
export function checkTerms(t: CredentialTerms): void {
  const uint = (v: number, bits: number, name: string) => {
    if (!Number.isSafeInteger(v) || v < 0 || BigInt(v) >= 1n << BigInt(bits)) {
      throw new ZkPayError("invalid_argument", `${name} must be an integer in [0, 2^${bits}), got ${v}`);
    }
  };
  if (typeof t.serviceId !== "bigint" || t.serviceId < 0n || t.serviceId >= SNARK_SCALAR_FIELD) {
    throw new ZkPayError("invalid_argument", "serviceId must be a field element");
  }
  uint(t.tier, CREDENTIAL_LIMITS.tierBits, "tier");
  uint(t.issuedAt, CREDENTIAL_LIMITS.timeBits, "issuedAt");
  uint(t.expiresAt, CREDENTIAL_LIMITS.timeBits, "expiresAt");
  uint(t.maxPresentations, CREDENTIAL_LIMITS.countBits, "maxPresentations");
  if (t.maxPresentations < 1) throw new ZkPayError("invalid_argument", "maxPresentations must be at least 1");
  if (t.expiresAt <= t.issuedAt) throw new ZkPayError("invalid_argument", "expiresAt must be after issuedAt");
}

/**
 * Whether `c` carries a valid signature of its issuer over its terms, and its service id
 * is its issuer's. A holder checks this before storing a credential.
 *
 * @example
 * if (!credentialSignatureValid(credential)) throw new Error("the service signed garbage");
 */
export function credentialSignatureValid(c: Credential): boolean {
  try {
    if (serviceIdOf(c.issuer) !== c.serviceId) return false;
    return verifyEdDsaPoseidon(c.issuer, credentialMessage(c, c.holderCommitment), c.signature);
  } catch {
    return false;
  }
}
