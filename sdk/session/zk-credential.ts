import type { ClientExtension } from "@x402/core/client";
import type { PaymentPayload, PaymentRequired } from "@x402/core/types";
import { z } from "zod";

import { ZkPayError } from "../core/errors.js";
import { SNARK_SCALAR_FIELD } from "../core/field.js";
import { serviceIdOf } from "./credential.js";
import { CredentialWireSchema, type CredentialWire, type Presentation, type SessionInfo } from "./wire.js";

/**
 * Session credentials through x402's extension mechanism, as the public ZK-credential spec
 * for x402 lays them out (extension id `zk-credential`, version 0.1.0; README "Session
 * credentials through the zk-credential extension" maps every field):
 *
 * - issuance: the 402 declares `extensions["zk-credential"]` (`{ info, schema }`), the
 *   payer adds `info.commitment` to its payment payload's echo of it, and the credential
 *   comes back in `SettleResponse.extensions["zk-credential"].credential` (PAYMENT-RESPONSE);
 * - redemption: a JSON body `{ x402_zk_credential: {...}, payload: <app body> }`.
 *
 * Browser-safe: no Node imports.
 */

/** The extension's key in `PaymentRequired.extensions`, `PaymentPayload.extensions` and `SettleResponse.extensions`. */
export const ZK_CREDENTIAL_EXTENSION = "zk-credential";
/** The spec version this implementation speaks. */
export const ZK_CREDENTIAL_VERSION = "0.1.0";
/** The request body field of a presentation in the spec's envelope. */
export const ZK_CREDENTIAL_ENVELOPE_FIELD = "x402_zk_credential";
/**
 * 402zk's credential suite, named as the spec names suites (commitment, signature, hash,
 * proof system) plus the circuit: Poseidon holder commitment, EdDSA-Poseidon signature on
 * Baby Jubjub, Poseidon hashes, Groth16 over BN254 with 402zk's presentation circuit (v1,
 * circuits/main/presentation.circom, its verification key in the route's terms).
 */
export const ZK_CREDENTIAL_SUITE = "poseidon-eddsa-poseidon-groth16-402zk-v1";
/** Every suite this server verifies (the spec's UltraHonk suites are not among them; see README). */
export const ZK_CREDENTIAL_SUITES: readonly string[] = [ZK_CREDENTIAL_SUITE];
/** Largest `x402_zk_credential` object accepted, bytes of JSON (a real one is ~0.6 KB). */
export const MAX_ZK_CREDENTIAL_ENVELOPE_BYTES = 4096;

// ---------------------------------------------------------------------------------------
// Encoding: base64url without padding (spec §6.3), field elements as 32 bytes big-endian.

const B64URL = /^[A-Za-z0-9_-]*$/;

function bytesToB64u(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function b64uToBytes(s: string, what: string, reason: "invalid_payload" | "invalid_presentation"): Uint8Array {
  // A base64url string of n bytes has no padding and a length that is not 1 mod 4.
  if (!B64URL.test(s) || s.length % 4 === 1) throw new ZkPayError(reason, `${what} is not base64url`);
  const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (s.length % 4)) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function uintToBytes(v: bigint, size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = size - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

function bytesToUint(b: Uint8Array): bigint {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v;
}

/** Field elements as base64url of 32 bytes big-endian. @example fieldToBase64url(5n) */
export function fieldToBase64url(...values: bigint[]): string {
  const out = new Uint8Array(32 * values.length);
  values.forEach((v, i) => out.set(uintToBytes(v, 32), 32 * i));
  return bytesToB64u(out);
}

/**
 * base64url of `count` 32-byte big-endian words -> the words. Throws `reason` naming `what`
 * unless it is exactly that long (and, with `field`, every word is below the BN254 scalar field).
 */
function wordsOf(
  s: string,
  count: number,
  what: string,
  reason: "invalid_payload" | "invalid_presentation",
  field = true,
): bigint[] {
  // Bounded before decoding: a megabyte of base64 is refused without being decoded.
  if (s.length > Math.ceil((32 * count * 4) / 3)) {
    throw new ZkPayError(reason, `${what} must be ${32 * count} bytes, got ${s.length} characters of base64url`);
  }
  const bytes = b64uToBytes(s, what, reason);
  if (bytes.length !== 32 * count) {
    throw new ZkPayError(reason, `${what} must be ${32 * count} bytes, got ${bytes.length}`);
  }
  const words = Array.from({ length: count }, (_, i) => bytesToUint(bytes.subarray(32 * i, 32 * i + 32)));
  if (field && words.some((w) => w >= SNARK_SCALAR_FIELD)) {
    throw new ZkPayError(reason, `${what} is not a BN254 field element`);
  }
  return words;
}

/**
 * A suite-typed value `<suite>:<base64url>` (spec §13.2) -> its suite and payload. Throws
 * `unsupported_suite` for a suite this server does not verify (naming those it does).
 */
function suiteTyped(v: unknown, what: string, reason: "invalid_payload" | "invalid_presentation") {
  if (typeof v !== "string") throw new ZkPayError(reason, `${what} must be a string "<suite>:<base64url>"`);
  if (v.length > 256) throw new ZkPayError(reason, `${what} is ${v.length} characters, at most 256`);
  const i = v.lastIndexOf(":");
  if (i <= 0) throw new ZkPayError(reason, `${what} must be a suite-typed string "<suite>:<base64url>"`);
  const suite = v.slice(0, i);
  checkZkCredentialSuite(suite);
  return v.slice(i + 1);
}

/**
 * Throws `unsupported_suite` (HTTP 400) unless `suite` is one this server verifies; the
 * error names the suites it supports (`details.supportedSuites`).
 *
 * @example
 * checkZkCredentialSuite("pedersen-schnorr-poseidon-ultrahonk"); // throws
 */
export function checkZkCredentialSuite(suite: unknown): void {
  if (typeof suite === "string" && ZK_CREDENTIAL_SUITES.includes(suite)) return;
  throw new ZkPayError(
    "unsupported_suite",
    `zk-credential suite ${JSON.stringify(typeof suite === "string" ? suite.slice(0, 100) : suite)} is not ` +
      `supported here; supported suites: ${ZK_CREDENTIAL_SUITES.join(", ")}`,
    { supportedSuites: [...ZK_CREDENTIAL_SUITES] },
  );
}

/** Throws `unsupported_version` (HTTP 400) unless `v` is the spec version this server speaks. */
function checkVersion(v: unknown): void {
  if (v === ZK_CREDENTIAL_VERSION) return;
  throw new ZkPayError(
    "unsupported_version",
    `zk-credential version ${JSON.stringify(typeof v === "string" ? v.slice(0, 20) : v)} is not supported; ` +
      `this server speaks ${ZK_CREDENTIAL_VERSION}`,
    { supportedVersions: [ZK_CREDENTIAL_VERSION] },
  );
}

/** A holder commitment as the spec carries it: `<suite>:<base64url(32 bytes big-endian)>`. @example encodeHolderCommitment(c) */
export function encodeHolderCommitment(commitment: bigint): string {
  return `${ZK_CREDENTIAL_SUITE}:${fieldToBase64url(commitment)}`;
}

/**
 * A suite-typed holder commitment -> the field element. Throws `invalid_payload` (not a
 * string, not base64url, not 32 bytes, not below the field) or `unsupported_suite`.
 *
 * @example
 * const c = decodeHolderCommitment(info.commitment);
 */
export function decodeHolderCommitment(v: unknown): bigint {
  const what = `extensions["${ZK_CREDENTIAL_EXTENSION}"].info.commitment`;
  return wordsOf(suiteTyped(v, what, "invalid_payload"), 1, what, "invalid_payload")[0]!;
}

// ---------------------------------------------------------------------------------------
// The 402's declaration.

/** An offer as the declaration lists it (the service's terms, spec-style names). */
export interface ZkCredentialOffer {
  id: string;
  tier: number;
  /** The credential's presentations (the spec's `identity_limit`). */
  identity_limit: number;
  duration_seconds: number;
  /** Base units of the pool token (decimal string). */
  price: string;
  /** Where it is bought (POST): pay this route's 402 with `info.commitment`. */
  purchase_path: string;
}

/** `info` of the `zk-credential` declaration in a 402. */
export interface ZkCredentialInfo {
  version: string;
  credential_suites: string[];
  issuer_suite: string;
  /** base64url of the issuer's Baby Jubjub public key, x ‖ y (64 bytes). */
  issuer_pubkey: string;
  /** base64url of the service id (32 bytes): Poseidon of the issuer key (402zk's serviceId). */
  service_id: string;
  max_credential_ttl: number;
  /** Granularity of `current_time`, seconds: prove with a multiple of it. */
  time_step: number;
  offers: ZkCredentialOffer[];
  /** Set on a purchase route: the offer a payment on it buys. */
  offer_id?: string;
  /** Where a paid purchase whose credential was lost is re-issued (POST; see README). */
  recover_path: string;
}

/** The `zk-credential` declaration of a route: `{ info, schema }` as x402 extensions are declared. */
export interface ZkCredentialDeclaration {
  info: ZkCredentialInfo;
  schema: Record<string, unknown>;
}

/**
 * The `extensions` entry of a route that sells (or accepts) session credentials, from the
 * service's terms: spread it into the route's `extensions`, as `declareDiscoveryExtension`
 * of `@x402/extensions/bazaar` is. `offerId` marks a purchase route (the offer its payment
 * buys). The session gate declares it on every purchase and session route itself.
 *
 * @example
 * const route = { accepts, extensions: { ...declareZkCredentialExtension(sessions.info(), "day") } };
 */
export function declareZkCredentialExtension(
  info: SessionInfo,
  offerId?: string,
): { [ZK_CREDENTIAL_EXTENSION]: ZkCredentialDeclaration } {
  const issuer: [bigint, bigint] = [BigInt(info.issuer[0]), BigInt(info.issuer[1])];
  return {
    [ZK_CREDENTIAL_EXTENSION]: {
      info: {
        version: ZK_CREDENTIAL_VERSION,
        credential_suites: [...ZK_CREDENTIAL_SUITES],
        issuer_suite: ZK_CREDENTIAL_SUITE,
        issuer_pubkey: fieldToBase64url(...issuer),
        service_id: fieldToBase64url(BigInt(info.serviceId)),
        max_credential_ttl: Math.max(...info.offers.map((o) => o.durationSeconds)) + info.timeStep,
        time_step: info.timeStep,
        offers: info.offers.map((o) => ({
          id: o.id,
          tier: o.tier,
          identity_limit: o.maxPresentations,
          duration_seconds: o.durationSeconds,
          price: o.price,
          purchase_path: o.purchasePath,
        })),
        ...(offerId !== undefined ? { offer_id: offerId } : {}),
        recover_path: info.recoverPath,
      },
      schema: {
        $schema: "https://json-schema.org/draft/2020-12/schema",
        type: "object",
        properties: {
          commitment: {
            type: "string",
            description: `Suite-typed holder commitment: '${ZK_CREDENTIAL_SUITE}:<base64url(32 bytes)>'`,
          },
        },
      },
    },
  };
}

// ---------------------------------------------------------------------------------------
// The payment payload's part.

/** What a payment payload's `extensions["zk-credential"]` asks for. */
export interface ZkCredentialRequest {
  commitment: bigint;
  /** `info.offer_id` as the payer echoed it (on a purchase route, the route's offer). */
  offerId?: string;
}

/**
 * The credential a payment asks for through the extension, or undefined when its
 * `extensions` carry no `zk-credential` commitment (a plain echo of the declaration asks
 * for nothing). Throws a `ZkPayError` (HTTP 400) for malformed extension data:
 * `invalid_payload`, `unsupported_version`, `unsupported_suite` (suite).
 *
 * @example
 * const asked = zkCredentialRequestOf(paymentPayload.extensions);
 */
export function zkCredentialRequestOf(extensions: unknown): ZkCredentialRequest | undefined {
  if (extensions === undefined || extensions === null) return undefined;
  if (typeof extensions !== "object" || Array.isArray(extensions)) {
    throw new ZkPayError("invalid_payload", "extensions must be an object");
  }
  const ext = (extensions as Record<string, unknown>)[ZK_CREDENTIAL_EXTENSION];
  if (ext === undefined) return undefined;
  const where = `extensions["${ZK_CREDENTIAL_EXTENSION}"]`;
  if (ext === null || typeof ext !== "object" || Array.isArray(ext)) {
    throw new ZkPayError("invalid_payload", `${where} must be an object`);
  }
  const info = (ext as { info?: unknown }).info;
  if (info === undefined) return undefined;
  if (info === null || typeof info !== "object" || Array.isArray(info)) {
    throw new ZkPayError("invalid_payload", `${where}.info must be an object`);
  }
  const i = info as Record<string, unknown>;
  if (i.commitment === undefined) return undefined;
  // A commitment asks for a credential: the terms it is asked under must be ours.
  if (i.version !== undefined) checkVersion(i.version);
  if (i.issuer_suite !== undefined) checkZkCredentialSuite(i.issuer_suite);
  const commitment = decodeHolderCommitment(i.commitment);
  if (i.offer_id !== undefined && (typeof i.offer_id !== "string" || i.offer_id.length > 64)) {
    throw new ZkPayError("invalid_payload", `${where}.info.offer_id must be an offer id (a short string)`);
  }
  return { commitment, offerId: i.offer_id as string | undefined };
}

// ---------------------------------------------------------------------------------------
// The credential in the settlement response.

/** A credential as `SettleResponse.extensions["zk-credential"].credential` carries it. */
export interface ZkCredentialWire {
  suite: string;
  /** base64url (32 bytes): 402zk's serviceId. */
  service_id: string;
  tier: number;
  /** The credential's presentations (402zk's maxPresentations). */
  identity_limit: number;
  /** Unix seconds; signed, and a private input of the presentation (issuedAt <= now). */
  issued_at: number;
  expires_at: number;
  /** Suite-typed holder commitment (echoed). */
  commitment: string;
  /** Suite-typed EdDSA-Poseidon signature: R8.x ‖ R8.y ‖ S (96 bytes). */
  signature: string;
  /** base64url of the issuer key, x ‖ y (64 bytes). */
  issuer_pubkey: string;
  offer_id: string;
  /** The payment's receipt id (its nullifier hash): what a recovery names. */
  receipt_id: string;
}

/** What the `zk-credential` entry of a settlement response holds: the credential, or why it is missing. */
export type ZkCredentialSettlement =
  { credential: ZkCredentialWire } | { error: string; message: string; receipt_id?: string; recover_path: string };

/** 402zk's credential wire form -> the spec's. @example zkCredentialOf(credentialWire) */
export function zkCredentialOf(c: CredentialWire): ZkCredentialWire {
  const b = BigInt;
  return {
    suite: ZK_CREDENTIAL_SUITE,
    service_id: fieldToBase64url(b(c.serviceId)),
    tier: c.tier,
    identity_limit: c.maxPresentations,
    issued_at: c.issuedAt,
    expires_at: c.expiresAt,
    commitment: encodeHolderCommitment(b(c.holderCommitment)),
    signature: `${ZK_CREDENTIAL_SUITE}:${fieldToBase64url(b(c.signature.R8[0]), b(c.signature.R8[1]), b(c.signature.S))}`,
    issuer_pubkey: fieldToBase64url(b(c.issuer[0]), b(c.issuer[1])),
    offer_id: c.offerId,
    receipt_id: c.receiptId,
  };
}

const ZkCredentialWireSchema = z.object({
  suite: z.string().max(100),
  service_id: z.string().max(64),
  tier: z.number(),
  identity_limit: z.number(),
  issued_at: z.number(),
  expires_at: z.number(),
  commitment: z.string().max(256),
  signature: z.string().max(256),
  issuer_pubkey: z.string().max(100),
  offer_id: z.string().max(64),
  receipt_id: z.string(),
});

/**
 * The spec's credential -> 402zk's wire form (the one {@link credentialFromWire} and the
 * session store read). Throws `invalid_payload` naming the first bad field, or
 * `unsupported_suite` for another suite. Checks shape only: verify the signature
 * (`credentialSignatureValid`) before trusting it.
 *
 * @example
 * const wire = credentialWireOf(settle.extensions["zk-credential"].credential);
 */
export function credentialWireOf(raw: unknown): CredentialWire {
  const r = ZkCredentialWireSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new ZkPayError("invalid_payload", `credential.${issue?.path.join(".")}: ${issue?.message}`);
  }
  const c = r.data;
  checkZkCredentialSuite(c.suite);
  const [serviceId] = wordsOf(c.service_id, 1, "credential.service_id", "invalid_payload");
  const [ax, ay] = wordsOf(c.issuer_pubkey, 2, "credential.issuer_pubkey", "invalid_payload");
  const [r8x, r8y, s] = wordsOf(
    suiteTyped(c.signature, "credential.signature", "invalid_payload"),
    3,
    "credential.signature",
    "invalid_payload",
    false,
  );
  const wire = {
    v: 1,
    offerId: c.offer_id,
    serviceId: serviceId!.toString(),
    tier: c.tier,
    issuedAt: c.issued_at,
    expiresAt: c.expires_at,
    maxPresentations: c.identity_limit,
    holderCommitment: decodeHolderCommitment(c.commitment).toString(),
    issuer: [ax!.toString(), ay!.toString()],
    signature: { R8: [r8x!.toString(), r8y!.toString()], S: s!.toString() },
    receiptId: c.receipt_id,
  };
  const checked = CredentialWireSchema.safeParse(wire);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    throw new ZkPayError("invalid_payload", `credential.${issue?.path.join(".")}: ${issue?.message}`);
  }
  return checked.data;
}

/**
 * The `zk-credential` entry of a `PAYMENT-RESPONSE` header (base64 JSON `SettleResponse`):
 * the credential in 402zk's wire form, or the issuance error the server reported (the
 * payment settled: recover it at `recover_path`), or undefined when the settlement
 * carries none. Throws `invalid_payload` for a header that is not a settlement response.
 *
 * @example
 * const got = zkCredentialFromPaymentResponse(res.headers.get("PAYMENT-RESPONSE"));
 * if (got?.credential) store(got.credential);
 */
export function zkCredentialFromPaymentResponse(
  header: string | null | undefined,
): { credential: CredentialWire } | { error: { error: string; message: string; recover_path?: string } } | undefined {
  if (!header) return undefined;
  let settle: { extensions?: Record<string, unknown> };
  try {
    settle = JSON.parse(atob(header)) as typeof settle;
  } catch {
    throw new ZkPayError("invalid_payload", "PAYMENT-RESPONSE is not base64 JSON");
  }
  const entry = settle?.extensions?.[ZK_CREDENTIAL_EXTENSION] as Record<string, unknown> | undefined;
  if (!entry || typeof entry !== "object") return undefined;
  if (entry.credential !== undefined) return { credential: credentialWireOf(entry.credential) };
  if (typeof entry.error === "string") {
    return {
      error: {
        error: entry.error,
        message: String(entry.message ?? ""),
        recover_path: typeof entry.recover_path === "string" ? entry.recover_path : undefined,
      },
    };
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------
// Client side: the payment payload's extension.

/**
 * An x402 client extension (`x402Client.registerExtension`) that asks for the credential
 * through the extension: when the 402 declares `zk-credential` and the scheme's payload
 * buys a credential (402zk's zk-exact / zk-shielded put the holder commitment their proof
 * binds in `payload.credential`), it adds that commitment to the echoed declaration as
 * `info.commitment`. Read the credential with {@link zkCredentialFromPaymentResponse}.
 *
 * @example
 * const client = new x402Client().register("eip155:*", new ZkExactClientScheme({ wallet, credentials }));
 * client.registerExtension(zkCredentialClientExtension());
 */
export function zkCredentialClientExtension(): ClientExtension {
  return {
    key: ZK_CREDENTIAL_EXTENSION,
    enrichPaymentPayload: async (payload: PaymentPayload, required: PaymentRequired): Promise<PaymentPayload> => {
      const declared = required.extensions?.[ZK_CREDENTIAL_EXTENSION] as ZkCredentialDeclaration | undefined;
      const commitment = (payload.payload as { credential?: { commitment?: unknown } }).credential?.commitment;
      if (!declared?.info || typeof commitment !== "string") return payload;
      const echoed = (payload.extensions?.[ZK_CREDENTIAL_EXTENSION] ?? declared) as ZkCredentialDeclaration;
      return {
        ...payload,
        extensions: {
          ...payload.extensions,
          [ZK_CREDENTIAL_EXTENSION]: {
            ...echoed,
            info: { ...echoed.info, commitment: encodeHolderCommitment(BigInt(commitment)) },
          },
        },
      };
    },
  };
}

// ---------------------------------------------------------------------------------------
// Redemption: the body envelope.

/** The spec's presentation envelope (`x402_zk_credential`). */
export interface ZkCredentialEnvelope {
  version: string;
  suite: string;
  /** base64url of the issuer key, x ‖ y (64 bytes). */
  issuer_pubkey: string;
  /** base64url of the Groth16 proof in the Solidity verifier's layout: pA ‖ pB ‖ pC, 8 words of 32 bytes. */
  proof: string;
  /** The presentation's `now`: a multiple of the service's time step. */
  current_time: number;
  public_outputs: {
    /** base64url (32 bytes): the presentation's origin token. */
    origin_token: string;
    /** The tier the presentation proves (the route's required tier; the credential's is at least it). */
    tier: number;
  };
}

/**
 * A presentation -> the spec's envelope; send `{ [ZK_CREDENTIAL_ENVELOPE_FIELD]: envelope,
 * payload }` as the JSON body. The presentation's `originId` (402zk's service id) and
 * `context` (0, or the request binding) are not sent: the server derives them.
 *
 * @example
 * const body = { x402_zk_credential: presentationToEnvelope(p, issuer), payload: null };
 */
export function presentationToEnvelope(p: Presentation, issuer: readonly [bigint, bigint]): ZkCredentialEnvelope {
  const { pA, pB, pC } = p.proof;
  return {
    version: ZK_CREDENTIAL_VERSION,
    suite: ZK_CREDENTIAL_SUITE,
    issuer_pubkey: fieldToBase64url(issuer[0], issuer[1]),
    proof: fieldToBase64url(pA[0], pA[1], pB[0][0], pB[0][1], pB[1][0], pB[1][1], pC[0], pC[1]),
    current_time: p.now,
    public_outputs: { origin_token: fieldToBase64url(p.originToken), tier: p.requiredTier },
  };
}

/**
 * An `x402_zk_credential` value -> a presentation whose `originId` and `context` are left
 * 0 for the server to fill in (they are its own, never the client's). Checks in the spec's
 * order, cheapest first: `unsupported_suite` (suite, naming the supported ones),
 * `unsupported_version`, then `invalid_presentation` naming the first bad field.
 *
 * @example
 * const p = presentationFromEnvelope(body.x402_zk_credential);
 */
export function presentationFromEnvelope(raw: unknown): Presentation {
  const where = ZK_CREDENTIAL_ENVELOPE_FIELD;
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new ZkPayError("invalid_presentation", `${where} must be an object`);
  }
  const e = raw as Record<string, unknown>;
  checkZkCredentialSuite(e.suite);
  checkVersion(e.version);
  const str = (v: unknown, name: string): string => {
    if (typeof v !== "string") throw new ZkPayError("invalid_presentation", `${where}.${name} must be a string`);
    return v;
  };
  const uint = (v: unknown, bits: number, name: string): number => {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0 || v >= 2 ** bits) {
      throw new ZkPayError("invalid_presentation", `${where}.${name} must be an integer in [0, 2^${bits})`);
    }
    return v;
  };
  const [ax, ay] = wordsOf(str(e.issuer_pubkey, "issuer_pubkey"), 2, `${where}.issuer_pubkey`, "invalid_presentation");
  // Proof coordinates are base-field elements (not scalars): any 32-byte word decodes; the
  // verifier refuses points that are not on the curve.
  const w = wordsOf(str(e.proof, "proof"), 8, `${where}.proof`, "invalid_presentation", false);
  const now = uint(e.current_time, 40, "current_time");
  const out = e.public_outputs;
  if (out === null || typeof out !== "object" || Array.isArray(out)) {
    throw new ZkPayError("invalid_presentation", `${where}.public_outputs must be an object`);
  }
  const o = out as Record<string, unknown>;
  const [originToken] = wordsOf(
    str(o.origin_token, "public_outputs.origin_token"),
    1,
    `${where}.public_outputs.origin_token`,
    "invalid_presentation",
  );
  const tier = uint(o.tier, 16, "public_outputs.tier");
  return {
    proof: {
      pA: [w[0]!, w[1]!],
      pB: [
        [w[2]!, w[3]!],
        [w[4]!, w[5]!],
      ],
      pC: [w[6]!, w[7]!],
    },
    originToken: originToken!,
    // The issuer key names the service (serviceId = Poseidon of it): a key that is not the
    // service's gives another serviceId, refused as wrong_service before any pairing.
    serviceId: serviceIdOf([ax!, ay!]),
    requiredTier: tier,
    now,
    originId: 0n,
    context: 0n,
  };
}
