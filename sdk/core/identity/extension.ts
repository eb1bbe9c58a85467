/**
 * The `zk-attribute` x402 extension: how a route's 402 names an attribute rule (age,
 * country, flags), and how a payment carries the zero-knowledge proof that the payer's
 * identity credential meets it. Wire spec (also in the README, "Verify & Pay"):
 *
 * In `PaymentRequired.extensions["zk-attribute"]` (declared per route with
 * {@link declareZkAttributeExtension}, filled by the server on every 402):
 * ```
 * { info: { version: "402zk-attr-v1", circuit: "attribute-v1",
 *           rule: { minAge?, countries?: { mode: "allow" | "block", codes: [ISO 3166-1 numeric] }, requiredFlags? },
 *           today: 20261207,                  // YYYYMMDD (UTC) the rule is checked at
 *           issuers: [{ key, revocationRoot, revocationUrl? }],  // the trusted issuers, in tree order
 *           issuersRoot,                      // LeanIMT root over Poseidon(domain, Ax, Ay, revocationRoot)
 *           serviceId, epoch, maxPerEpoch? }, // the per-service pseudonym's scope and limit
 *   schema: { JSON Schema of info } }
 * ```
 * In `PaymentPayload.extensions["zk-attribute"]`: the same `info` as proved (echoed) without
 * `issuers` (`issuersRoot` stands for them), plus `proof` (Groth16, the Solidity verifier's
 * layout, decimal strings) and `pseudonym`; no `schema`. The
 * proof's other public inputs are not sent: the server takes them from its own rule and
 * state and from the payment (its `conditionHash` and nullifier hash), so a proof verifies
 * only for this payment, this route's rule, today and the server's current issuer set.
 *
 * Browser-safe: no Node imports.
 */
import { keccak256, toBytes } from "viem";
import { z } from "zod";

import { ZkPayError } from "../errors.js";
import { SNARK_SCALAR_FIELD } from "../field.js";
import type { SolidityProof } from "../circuits/proof.js";
import { ymdOf, type AttributeRule } from "./rule.js";

/** Key of the extension in `PaymentRequired.extensions` and `PaymentPayload.extensions`. */
export const ZK_ATTRIBUTE_EXTENSION = "zk-attribute";
/** Version of the credential format and of this wire form. */
export const ZK_ATTRIBUTE_VERSION = "402zk-attr-v1";
/** The circuit (registry version) the proof is made with. */
export const ZK_ATTRIBUTE_CIRCUIT = "attribute-v1";
/** Fields of `info` the server fills on every 402 (they change over time): excluded from x402's echo check. */
export const ZK_ATTRIBUTE_DYNAMIC_FIELDS = ["today", "issuers", "issuersRoot", "serviceId", "epoch", "maxPerEpoch"];

/** Canonical decimals only (no leading zeros): one spelling per value. */
const decimal = z.string().regex(/^(0|[1-9]\d{0,77})$/, "must be a decimal integer string without leading zeros");
const field = decimal.refine((v) => BigInt(v) < SNARK_SCALAR_FIELD, "must be below the BN254 scalar field");
const ymd = z.number().int().min(19000101).max(99991231);

/** A rule on the wire. Codes: ISO 3166-1 numeric (1..999); flags: a decimal bit mask below 2^64. */
export const AttributeRuleWireSchema = z
  .object({
    minAge: z.number().int().min(0).max(255).optional(),
    countries: z
      .object({
        mode: z.enum(["allow", "block"]),
        codes: z.array(z.number().int().min(1).max(999)).min(1).max(999),
      })
      .strict()
      .optional(),
    requiredFlags: decimal.refine((v) => BigInt(v) < 1n << 64n, "must be below 2^64").optional(),
  })
  .strict();
/** An {@link AttributeRule} as JSON. */
export type AttributeRuleWire = z.infer<typeof AttributeRuleWireSchema>;

/** One trusted issuer as the 402 lists it. */
export const TrustedIssuerWireSchema = z
  .object({
    /** The issuer's public key (`issuerKeyToString`). */
    key: z.string().min(1).max(200),
    /** Root of its revocation tree (decimal; "0" when nothing is revoked). */
    revocationRoot: field,
    /** Where the issuer publishes its revocation list (the client fetches it to prove non-revocation). */
    revocationUrl: z.string().url().max(2048).optional(),
  })
  .strict();

/** `info` of the declaration a 402 carries. */
export const ZkAttributeInfoSchema = z.object({
  version: z.literal(ZK_ATTRIBUTE_VERSION),
  circuit: z.literal(ZK_ATTRIBUTE_CIRCUIT),
  rule: AttributeRuleWireSchema,
  today: ymd,
  issuers: z.array(TrustedIssuerWireSchema).min(1).max(16),
  issuersRoot: field,
  serviceId: field,
  epoch: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  maxPerEpoch: z.number().int().positive().optional(),
});
/** The requirement a route's 402 names. */
export type ZkAttributeInfo = z.infer<typeof ZkAttributeInfoSchema>;

const uint = decimal;
/** A Groth16 proof in the Solidity verifier's layout, decimal strings. */
export const AttributeProofWireSchema = z
  .object({
    a: z.tuple([uint, uint]),
    b: z.tuple([z.tuple([uint, uint]), z.tuple([uint, uint])]),
    c: z.tuple([uint, uint]),
  })
  .strict();

/**
 * `info` of the extension in a payment: the requirement as proved, without the issuer list
 * (its root stands for it: the payment header stays small with 16 trusted issuers), the
 * proof and the pseudonym.
 */
export const ZkAttributePaymentInfoSchema = ZkAttributeInfoSchema.omit({ issuers: true, maxPerEpoch: true }).extend({
  proof: AttributeProofWireSchema,
  pseudonym: field,
});
/** What a payment carries in `extensions["zk-attribute"].info`. */
export type ZkAttributePaymentInfo = z.infer<typeof ZkAttributePaymentInfoSchema>;

/** JSON Schema of the declaration's `info`, published with it (as `@x402/extensions` declares its own). */
export const ZK_ATTRIBUTE_INFO_JSON_SCHEMA = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  type: "object",
  required: ["version", "circuit", "rule", "today", "issuers", "issuersRoot", "serviceId", "epoch"],
  properties: {
    version: { const: ZK_ATTRIBUTE_VERSION },
    circuit: { const: ZK_ATTRIBUTE_CIRCUIT },
    rule: {
      type: "object",
      properties: {
        minAge: { type: "integer", minimum: 0, maximum: 255 },
        countries: {
          type: "object",
          required: ["mode", "codes"],
          properties: {
            mode: { enum: ["allow", "block"] },
            codes: { type: "array", items: { type: "integer", minimum: 1, maximum: 999 } },
          },
        },
        requiredFlags: { type: "string", pattern: "^[0-9]+$" },
      },
    },
    today: { type: "integer", description: "YYYYMMDD (UTC)" },
    issuers: {
      type: "array",
      items: {
        type: "object",
        required: ["key", "revocationRoot"],
        properties: {
          key: { type: "string" },
          revocationRoot: { type: "string", pattern: "^[0-9]+$" },
          revocationUrl: { type: "string", format: "uri" },
        },
      },
    },
    issuersRoot: { type: "string", pattern: "^[0-9]+$" },
    serviceId: { type: "string", pattern: "^[0-9]+$" },
    epoch: { type: "integer", minimum: 0 },
    maxPerEpoch: { type: "integer", minimum: 1 },
    proof: { type: "object", description: "payment only: Groth16 proof {a, b, c}" },
    pseudonym: { type: "string", description: "payment only: Poseidon(domain, holder, serviceId, epoch)" },
  },
} as const;

/** A proof (Solidity layout) -> its wire form. @example attributeProofToWire(toSolidityProof(r.proof)) */
export function attributeProofToWire(p: SolidityProof): z.infer<typeof AttributeProofWireSchema> {
  const s = (x: bigint) => x.toString();
  return {
    a: [s(p.pA[0]), s(p.pA[1])],
    b: [
      [s(p.pB[0][0]), s(p.pB[0][1])],
      [s(p.pB[1][0]), s(p.pB[1][1])],
    ],
    c: [s(p.pC[0]), s(p.pC[1])],
  };
}

/** The wire form -> a proof in the Solidity layout. @example attributeProofFromWire(info.proof) */
export function attributeProofFromWire(w: z.infer<typeof AttributeProofWireSchema>): SolidityProof {
  const b = BigInt;
  return {
    pA: [b(w.a[0]), b(w.a[1])],
    pB: [
      [b(w.b[0][0]), b(w.b[0][1])],
      [b(w.b[1][0]), b(w.b[1][1])],
    ],
    pC: [b(w.c[0]), b(w.c[1])],
  };
}

/** An {@link AttributeRule} -> its wire form (codes sorted and deduplicated). */
export function ruleToWire(rule: AttributeRule): AttributeRuleWire {
  const out: AttributeRuleWire = {};
  if (rule.minAge !== undefined && rule.minAge !== 0) out.minAge = rule.minAge;
  if (rule.countries) {
    out.countries = { mode: rule.countries.mode, codes: [...new Set(rule.countries.codes)].sort((a, b) => a - b) };
  }
  if (rule.requiredFlags !== undefined && rule.requiredFlags !== 0n) out.requiredFlags = rule.requiredFlags.toString();
  const parsed = AttributeRuleWireSchema.safeParse(out);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ZkPayError("invalid_argument", `attribute rule: ${issue?.path.join(".")}: ${issue?.message}`);
  }
  return parsed.data;
}

/** The wire form -> an {@link AttributeRule}. */
export function ruleFromWire(w: AttributeRuleWire): AttributeRule {
  return {
    ...(w.minAge !== undefined ? { minAge: w.minAge } : {}),
    ...(w.countries ? { countries: { mode: w.countries.mode, codes: [...w.countries.codes] } } : {}),
    ...(w.requiredFlags !== undefined ? { requiredFlags: BigInt(w.requiredFlags) } : {}),
  };
}

/** True when two rules are the same requirement (order of country codes aside). */
export function sameRule(a: AttributeRuleWire, b: AttributeRuleWire): boolean {
  return JSON.stringify(ruleToWire(ruleFromWire(a))) === JSON.stringify(ruleToWire(ruleFromWire(b)));
}

/**
 * Declares a route's attribute rule, the way `@x402/extensions` declares its own: spread it
 * into the route's `extensions`. The server (its attribute verifier, see
 * `createZkResourceServer({ attributes })`) fills the date, the issuers and the pseudonym
 * scope on every 402, and refuses a payment without a valid proof for this rule.
 *
 * @example
 * const routes = {
 *   "GET /beer": { accepts, extensions: declareZkAttributeExtension({ minAge: 18, countries: { mode: "block", codes: [408] } }) },
 * };
 */
export function declareZkAttributeExtension(rule: AttributeRule): Record<string, unknown> {
  return {
    [ZK_ATTRIBUTE_EXTENSION]: {
      info: { version: ZK_ATTRIBUTE_VERSION, circuit: ZK_ATTRIBUTE_CIRCUIT, rule: ruleToWire(rule) },
      schema: ZK_ATTRIBUTE_INFO_JSON_SCHEMA,
    },
  };
}

/** The rule a route's declaration names (before the server fills the rest); undefined if it declares none. */
export function declaredRuleOf(extensions: Record<string, unknown> | undefined): AttributeRuleWire | undefined {
  const decl = extensions?.[ZK_ATTRIBUTE_EXTENSION] as { info?: { rule?: unknown } } | undefined;
  if (decl === undefined) return undefined;
  const r = AttributeRuleWireSchema.safeParse(decl?.info?.rule);
  if (!r.success) {
    throw new ZkPayError("invalid_argument", `zk-attribute declaration: bad rule (${r.error.issues[0]?.message})`);
  }
  return r.data;
}

/**
 * Parses a 402's `zk-attribute` declaration (`PaymentRequired.extensions[...]`): the
 * requirement, or a typed error naming the field (`invalid_payload`).
 *
 * @example
 * const info = parseAttributeRequirement(paymentRequired.extensions?.["zk-attribute"]);
 */
export function parseAttributeRequirement(declaration: unknown): ZkAttributeInfo {
  const info = (declaration as { info?: unknown } | undefined)?.info;
  const r = ZkAttributeInfoSchema.safeParse(info);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new ZkPayError(
      "invalid_payload",
      `zk-attribute requirement: info.${issue?.path.join(".")}: ${issue?.message}`,
    );
  }
  return r.data;
}

/**
 * Parses the `zk-attribute` extension of a payment: its info with proof and pseudonym, or
 * `attribute_proof_required` when absent, `attribute_proof_invalid` naming the field when
 * malformed.
 *
 * @example
 * const info = parseAttributePayment(paymentPayload.extensions?.["zk-attribute"]);
 */
export function parseAttributePayment(ext: unknown): ZkAttributePaymentInfo {
  const info = (ext as { info?: unknown } | undefined)?.info;
  if (ext === undefined || ext === null || info === undefined || (info as { proof?: unknown }).proof === undefined) {
    throw new ZkPayError(
      "attribute_proof_required",
      "this route requires a zk-attribute proof (see the 402's extensions) and the payment carries none",
    );
  }
  const r = ZkAttributePaymentInfoSchema.safeParse(info);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new ZkPayError(
      "attribute_proof_invalid",
      `zk-attribute extension: info.${issue?.path.join(".")}: ${issue?.message}`,
    );
  }
  return r.data;
}

const SERVICE_DOMAIN = "402zk.attr-service.v1";
/** The pseudonym epoch: one UTC day, for every service (a protocol constant clients check). */
export const ATTRIBUTE_EPOCH_SECONDS = 86_400;
/**
 * Seconds after midnight (UTC) during which the day before still counts as today (for the
 * rule's date and the epoch), on both sides: a client-settled payment reaches the server
 * some time after it was proven.
 */
export const ATTRIBUTE_DAY_GRACE_SECONDS = 900;

/**
 * The pseudonym scope of an API: `keccak256("402zk.attr-service.v1" ‖ origin) mod p`, the
 * origin normalised as WHATWG URL does (`https://api.example.com`, default port dropped).
 * The server names it in its 402; the client recomputes it from the URL it pays.
 *
 * @example
 * attributeServiceId("https://api.example.com");
 */
export function attributeServiceId(origin: string): bigint {
  let normal: string;
  try {
    normal = new URL(origin).origin;
  } catch {
    throw new ZkPayError(
      "invalid_argument",
      `attributes.service must be the API's origin (https://host[:port]), got ${origin}`,
    );
  }
  if (normal === "null") throw new ZkPayError("invalid_argument", `attributes.service: ${origin} has no origin`);
  return BigInt(keccak256(toBytes(`${SERVICE_DOMAIN}${normal}`))) % SNARK_SCALAR_FIELD;
}

/** The pseudonym epoch at unix time `ms` (the UTC day number). @example attributeEpoch(Date.now()) */
export function attributeEpoch(ms: number): number {
  return Math.floor(ms / 1000 / ATTRIBUTE_EPOCH_SECONDS);
}

/**
 * The checks a payer makes on a 402's requirement before proving anything, so that an API
 * cannot use attribute proofs to learn more than "the rule holds today":
 * - the date is today (UTC; yesterday within the grace after midnight): an API that moved
 *   the date (or varied the rule) across 402s could otherwise binary-search a birth date;
 * - the epoch is today's day number: a fixed or far epoch would make the pseudonym a
 *   permanent identifier;
 * - with `origin` (the URL being paid), the service id is that origin's: an API cannot
 *   borrow another API's scope to link its holders' pseudonyms across services.
 * Throws `attribute_proof_invalid` naming what is wrong.
 *
 * @example
 * checkAttributeRequirement(info, { origin: new URL(url).origin });
 */
export function checkAttributeRequirement(info: ZkAttributeInfo, o: { origin?: string; now?: number } = {}): void {
  const now = o.now ?? Date.now();
  const earlier = now - ATTRIBUTE_DAY_GRACE_SECONDS * 1000;
  if (info.today !== ymdOf(new Date(now)) && info.today !== ymdOf(new Date(earlier))) {
    throw new ZkPayError(
      "attribute_proof_invalid",
      `the 402 asks to prove its rule at ${info.today}, not today (${ymdOf(new Date(now))}): refused, an API must not probe your attributes at other dates`,
    );
  }
  if (info.epoch !== attributeEpoch(now) && info.epoch !== attributeEpoch(earlier)) {
    throw new ZkPayError(
      "attribute_proof_invalid",
      `the 402 scopes the pseudonym to epoch ${info.epoch}, not today's (${attributeEpoch(now)}): refused, it would make the pseudonym a lasting identifier`,
    );
  }
  if (o.origin !== undefined && BigInt(info.serviceId) !== attributeServiceId(o.origin)) {
    throw new ZkPayError(
      "attribute_proof_invalid",
      `the 402 scopes the pseudonym to another service than ${o.origin}: refused, it would link your payments across services`,
    );
  }
}
