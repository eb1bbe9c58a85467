import { z } from "zod";

import { ZkPayError } from "../core/errors.js";
import { SNARK_SCALAR_FIELD } from "../core/field.js";
import type { SolidityProof } from "../core/circuits/proof.js";
import type { Credential } from "./credential.js";

/**
 * Wire format of session credentials (see README "Session credentials: wire format").
 * Integers that may exceed 2^53 travel as decimal strings; small ones (tiers, times,
 * counts) as JSON numbers.
 */

/** Request header carrying a presentation: base64 of its JSON. */
export const SESSION_HEADER = "zk-session";
/** JSON body field carrying the same object (for clients with header limits). */
export const SESSION_BODY_FIELD = "zk_session";
/** Response header of a refused presentation: base64 JSON `SessionRefusal`. */
export const SESSION_REFUSAL_HEADER = "zk-session-refused";
/** Largest presentation accepted, header or body (a real one is ~1.1 KB of base64). */
export const MAX_PRESENTATION_BYTES = 4096;
/** Where a session service publishes its terms (GET) and sells / recovers credentials (POST). */
export const SESSION_WELL_KNOWN = "/.well-known/402zk/sessions";

const uint = z.string().regex(/^\d{1,78}$/, "must be a decimal integer string");
const smallUint = (bits: number) =>
  z
    .number()
    .int()
    .nonnegative()
    .refine((v) => v < 2 ** bits, `must be below 2^${bits}`);
const point = z.tuple([uint, uint]);
// zod runs a refinement even when the regex before it failed: BigInt("a") would throw (a
// 500 on POST .../recover), so a non-decimal string is left to the regex's own message.
const fieldElement = uint.refine(
  (v) => !/^\d{1,78}$/.test(v) || BigInt(v) < SNARK_SCALAR_FIELD,
  "must be below the BN254 scalar field",
);

/** One presentation on the wire. */
export const PresentationWireSchema = z.object({
  v: z.literal(1),
  pA: point,
  pB: z.tuple([point, point]),
  pC: point,
  originToken: uint,
  serviceId: uint,
  requiredTier: smallUint(16),
  now: smallUint(40),
  originId: uint,
  context: uint,
});
/** A presentation as sent in the `zk-session` header or body field (wire format v1). */
export type PresentationWire = z.infer<typeof PresentationWireSchema>;

/** A credential offer: what one purchase buys, and its price. */
export const SessionOfferSchema = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, "must be a short lowercase slug"),
  tier: smallUint(16),
  durationSeconds: z.number().int().positive(),
  maxPresentations: z.number().int().positive(),
  /** Price in the pool token's base units (decimal string). */
  price: uint,
  /** The paid route that sells it (POST). */
  purchasePath: z.string().startsWith("/"),
});
/** One offer of a session service: tier, duration, presentations, price and its purchase path. */
export type SessionOffer = z.infer<typeof SessionOfferSchema>;

/**
 * A session service's public terms: in `extra.session` of a session route's zk-exact
 * option (so a 402 offers both pay-per-request and credentials) and at
 * GET {@link SESSION_WELL_KNOWN}.
 */
export const SessionInfoSchema = z.object({
  v: z.literal(1),
  serviceId: uint,
  issuer: point,
  originId: uint,
  /** Granularity of `now` in seconds: the server accepts its current step and the previous one. */
  timeStep: z.number().int().positive(),
  /** The tier this route requires (0 when the info is not for a route). */
  requiredTier: smallUint(16),
  /** Whether this route needs a presentation bound to the request (method, path, body). */
  bindRequest: z.boolean(),
  offers: z.array(SessionOfferSchema),
  /** Where a paid-but-unissued purchase is recovered (POST). */
  recoverPath: z.string().startsWith("/"),
});
/** A service's public session terms (`extra.session` of a 402, and `GET /.well-known/402zk/sessions`). */
export type SessionInfo = z.infer<typeof SessionInfoSchema>;

/** A credential as the issuer returns it. */
export const CredentialWireSchema = z.object({
  v: z.literal(1),
  offerId: z.string(),
  serviceId: uint,
  tier: smallUint(16),
  issuedAt: smallUint(40),
  expiresAt: smallUint(40),
  maxPresentations: smallUint(32),
  holderCommitment: uint,
  issuer: point,
  signature: z.object({ R8: point, S: uint }),
  /** The payment that bought it (its nullifier hash, the Facilitator's receipt id). */
  receiptId: z.string().regex(/^0x[0-9a-fA-F]{64}$/),
});
/** A signed credential as a purchase or a recovery returns it. */
export type CredentialWire = z.infer<typeof CredentialWireSchema>;

/** Body of POST {@link SESSION_WELL_KNOWN}/recover: re-issue a paid purchase. */
export const RecoverRequestSchema = z.object({
  offerId: z.string().max(64),
  holderCommitment: fieldElement,
  receiptId: z.string().regex(/^0x[0-9a-fA-F]{64}$/),
  /** The challenge of the 402 the purchase paid (its MAC proves the server issued it). */
  challenge: z.object({ id: z.string(), exp: z.number().int().positive(), mac: z.string() }),
  /** A shielded purchase: its payee note's memo (the service opens it) and commitment. */
  payeeMemo: z
    .string()
    .regex(/^0x[0-9a-fA-F]{0,1024}$/)
    .optional(),
  payeeCommitment: fieldElement.optional(),
});
/** Body of `POST /.well-known/402zk/sessions/recover`: the purchase whose credential was lost. */
export type RecoverRequest = z.infer<typeof RecoverRequestSchema>;

/** Body (and `zk-session-refused` header) of a refused presentation. */
export interface SessionRefusal {
  error: string;
  message: string;
  /** Whether buying a new credential can help (expired, exhausted, tier too low). */
  buy: boolean;
  /** With `stale_presentation`: the server's current time step, to prove with. */
  now?: number;
}

/** Credential -> wire. @example credentialToWire(c, "day", receiptId) */
export function credentialToWire(c: Credential, offerId: string, receiptId: string): CredentialWire {
  return {
    v: 1,
    offerId,
    serviceId: c.serviceId.toString(),
    tier: c.tier,
    issuedAt: c.issuedAt,
    expiresAt: c.expiresAt,
    maxPresentations: c.maxPresentations,
    holderCommitment: c.holderCommitment.toString(),
    issuer: [c.issuer[0].toString(), c.issuer[1].toString()],
    signature: { R8: [c.signature.R8[0].toString(), c.signature.R8[1].toString()], S: c.signature.S.toString() },
    receiptId,
  };
}

/** Wire -> credential (schema-checked). @example const c = credentialFromWire(body) */
export function credentialFromWire(raw: unknown): Credential & { offerId: string; receiptId: string } {
  const r = CredentialWireSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new ZkPayError("invalid_payload", `credential.${issue?.path.join(".")}: ${issue?.message}`);
  }
  const w = r.data;
  return {
    offerId: w.offerId,
    receiptId: w.receiptId,
    serviceId: BigInt(w.serviceId),
    tier: w.tier,
    issuedAt: w.issuedAt,
    expiresAt: w.expiresAt,
    maxPresentations: w.maxPresentations,
    holderCommitment: BigInt(w.holderCommitment),
    issuer: [BigInt(w.issuer[0]), BigInt(w.issuer[1])],
    signature: { R8: [BigInt(w.signature.R8[0]), BigInt(w.signature.R8[1])], S: BigInt(w.signature.S) },
  };
}

/** A presentation with its public values by name. */
export interface Presentation {
  proof: SolidityProof;
  originToken: bigint;
  serviceId: bigint;
  requiredTier: number;
  now: number;
  originId: bigint;
  context: bigint;
}

/**
 * The public signals of a presentation in circuit order: [originToken, serviceId,
 * requiredTier, now, originId, context]. The one place that knows the order.
 *
 * @example
 * verifier.verify(p.proof, presentationSignals(p));
 */
export function presentationSignals(p: Presentation): bigint[] {
  return [p.originToken, p.serviceId, BigInt(p.requiredTier), BigInt(p.now), p.originId, p.context];
}

/** Presentation -> wire object. @example presentationToWire(p) */
export function presentationToWire(p: Presentation): PresentationWire {
  const s = (x: bigint) => x.toString();
  return {
    v: 1,
    pA: [s(p.proof.pA[0]), s(p.proof.pA[1])],
    pB: [
      [s(p.proof.pB[0][0]), s(p.proof.pB[0][1])],
      [s(p.proof.pB[1][0]), s(p.proof.pB[1][1])],
    ],
    pC: [s(p.proof.pC[0]), s(p.proof.pC[1])],
    originToken: s(p.originToken),
    serviceId: s(p.serviceId),
    requiredTier: p.requiredTier,
    now: p.now,
    originId: s(p.originId),
    context: s(p.context),
  };
}

/** Presentation -> `zk-session` header value (base64 JSON). @example headers["zk-session"] = encodePresentation(p) */
export function encodePresentation(p: Presentation): string {
  // The JSON is ASCII (digits, names), so btoa is exact; browser-safe, no Buffer.
  return btoa(JSON.stringify(presentationToWire(p)));
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * `zk-session` header value -> presentation. Throws `malformed_header` (not base64 JSON,
 * too large) or `invalid_presentation` (fields).
 *
 * @example
 * const p = decodePresentationHeader(req.headers["zk-session"]);
 */
export function decodePresentationHeader(header: string): Presentation {
  if (header.length > MAX_PRESENTATION_BYTES) {
    throw new ZkPayError(
      "header_too_large",
      `${SESSION_HEADER} is ${header.length} bytes, the limit is ${MAX_PRESENTATION_BYTES}`,
    );
  }
  if (header.length === 0 || header.length % 4 !== 0 || !BASE64.test(header)) {
    throw new ZkPayError("malformed_header", `${SESSION_HEADER} is not base64`);
  }
  let decoded: unknown;
  try {
    decoded = JSON.parse(atob(header));
  } catch {
    throw new ZkPayError("malformed_header", `${SESSION_HEADER} is not base64-encoded JSON`);
  }
  return presentationFromWire(decoded);
}

/**
 * Wire object (from the header's JSON or the body field) -> presentation. Throws
 * `invalid_presentation` naming the first problem.
 *
 * @example
 * const p = presentationFromWire(JSON.parse(atob(header)));
 */
export function presentationFromWire(raw: unknown): Presentation {
  const r = PresentationWireSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new ZkPayError("invalid_presentation", `zk_session.${issue?.path.join(".")}: ${issue?.message}`);
  }
  const w = r.data;
  const b = BigInt;
  return {
    proof: {
      pA: [b(w.pA[0]), b(w.pA[1])],
      pB: [
        [b(w.pB[0][0]), b(w.pB[0][1])],
        [b(w.pB[1][0]), b(w.pB[1][1])],
      ],
      pC: [b(w.pC[0]), b(w.pC[1])],
    },
    originToken: b(w.originToken),
    serviceId: b(w.serviceId),
    requiredTier: w.requiredTier,
    now: w.now,
    originId: b(w.originId),
    context: b(w.context),
  };
}
