import { encodePacked, keccak256, type Hex } from "viem";
import { z } from "zod";

import { SNARK_SCALAR_FIELD } from "./field.js";

/** The x402 scheme name of 402zk payments. */
export const ZK_SCHEME = "zk-exact";

/** Largest PAYMENT-SIGNATURE header the SDK accepts (a zk-exact one is ~3 KB). */
export const MAX_PAYMENT_HEADER_BYTES = 8 * 1024;

const uint = z.string().regex(/^\d{1,78}$/, "must be a decimal integer string");
const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, "must be a 20-byte hex address");
const bytes32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/, "must be 32 bytes of hex");
const hex = z.string().regex(/^0x([0-9a-fA-F]{2})*$/, "must be hex bytes");

/** A per-request server challenge; its hash is the payment's `conditionHash`. */
export const ChallengeSchema = z.object({
  id: z.string().regex(/^0x[0-9a-fA-F]{32}$/, "must be 16 bytes of hex"),
  exp: z.number().int().positive(),
  mac: bytes32,
});
export type Challenge = z.infer<typeof ChallengeSchema>;

/** How a zk-exact payment reaches the chain. */
export const SettlementModeSchema = z.enum(["server", "client"]);
export type SettlementMode = z.infer<typeof SettlementModeSchema>;

/** `PaymentRequirements.extra` of a zk-exact requirement. */
export const ZkRequirementExtraSchema = z.object({
  facilitator: address,
  /** Relayer the server settles with (server mode); receives `fee`. */
  relayer: address,
  /** Fee the server charges to submit the transaction (server mode), base units. */
  fee: uint,
  settlement: z.array(SettlementModeSchema).min(1),
  minConfirmations: z.number().int().nonnegative(),
  vkeySha256: z.string(),
  challenge: ChallengeSchema,
  /**
   * Set when this requirement sells a session credential (see `402zk/session`): the
   * payment must carry the holder commitment the credential will be issued to, and its
   * `conditionHash` binds it ({@link conditionHashFor}).
   */
  credential: z.object({ offerId: z.string() }).passthrough().optional(),
});
export type ZkRequirementExtra = z.infer<typeof ZkRequirementExtraSchema>;

/** PaymentTerms on the wire (decimal strings for integers). */
export const WireTermsSchema = z.object({
  payTo: address,
  amount: uint,
  relayer: address,
  fee: uint,
  conditionHash: bytes32,
  expiry: uint,
});

/**
 * What a payment that buys a session credential adds to its payload: the holder
 * commitment (a field element, decimal) the service signs the credential over.
 */
export const CredentialPurchaseSchema = z.object({
  commitment: uint.refine((v) => BigInt(v) < SNARK_SCALAR_FIELD, "must be below the BN254 scalar field"),
});

/** `PaymentPayload.payload` for zk-exact: a proof to settle, or a receipt. */
export const ZkPaymentPayloadSchema = z.discriminatedUnion("settlement", [
  z.object({
    settlement: z.literal("server"),
    proof: z.object({
      pA: z.tuple([uint, uint]),
      pB: z.tuple([z.tuple([uint, uint]), z.tuple([uint, uint])]),
      pC: z.tuple([uint, uint]),
      root: uint,
      treeSize: uint,
      nullifierHash: uint,
      changeCommitment: uint,
    }),
    terms: WireTermsSchema,
    memo: hex.max(2 + 2 * 512),
    /**
     * The payer asks for its change note to be committed in the settling transaction
     * (spendable in the next block) rather than by the facilitator's next batch window:
     * set when the change is the payer's only spendable note. Not bound into the proof:
     * a request, honoured by settling through `payBatch`.
     */
    commitChange: z.boolean().optional(),
    credential: CredentialPurchaseSchema.optional(),
  }),
  z.object({
    settlement: z.literal("client"),
    receiptId: bytes32,
    transaction: bytes32,
    terms: WireTermsSchema,
    credential: CredentialPurchaseSchema.optional(),
  }),
]);
export type ZkPaymentPayload = z.infer<typeof ZkPaymentPayloadSchema>;

/** A proof on the wire: the server-settled payload's `proof` (decimal strings). */
export type WireProof = Extract<ZkPaymentPayload, { settlement: "server" }>["proof"];

/** The contract's `PaymentProof` struct in bigints (as `PreparedPayment.proof`). */
export interface ProofStruct {
  pA: [bigint, bigint];
  pB: [[bigint, bigint], [bigint, bigint]];
  pC: [bigint, bigint];
  root: bigint;
  treeSize: bigint;
  nullifierHash: bigint;
  changeCommitment: bigint;
}

/**
 * Contract proof struct -> wire form (decimal strings, JSON-safe).
 *
 * @example
 * const wire = proofToWire(prepared.proof);
 */
export function proofToWire(p: ProofStruct): WireProof {
  const s = (x: bigint) => x.toString();
  return {
    pA: [s(p.pA[0]), s(p.pA[1])],
    pB: [
      [s(p.pB[0][0]), s(p.pB[0][1])],
      [s(p.pB[1][0]), s(p.pB[1][1])],
    ],
    pC: [s(p.pC[0]), s(p.pC[1])],
    root: s(p.root),
    treeSize: s(p.treeSize),
    nullifierHash: s(p.nullifierHash),
    changeCommitment: s(p.changeCommitment),
  };
}

/**
 * Wire form (already schema-checked) -> contract proof struct.
 *
 * @example
 * const proof = proofFromWire(payload.proof);
 */
export function proofFromWire(w: WireProof): ProofStruct {
  const b = BigInt;
  return {
    pA: [b(w.pA[0]), b(w.pA[1])],
    pB: [
      [b(w.pB[0][0]), b(w.pB[0][1])],
      [b(w.pB[1][0]), b(w.pB[1][1])],
    ],
    pC: [b(w.pC[0]), b(w.pC[1])],
    root: b(w.root),
    treeSize: b(w.treeSize),
    nullifierHash: b(w.nullifierHash),
    changeCommitment: b(w.changeCommitment),
  };
}

/**
 * The `conditionHash` a payment for this challenge must carry.
 *
 * @example
 * const conditionHash = conditionHashOf(extra.challenge);
 */
export function conditionHashOf(c: Challenge): Hex {
  return keccak256(
    encodePacked(
      ["string", "bytes16", "uint64", "bytes32"],
      ["402zk.condition.v1", c.id as Hex, BigInt(c.exp), c.mac as Hex],
    ),
  );
}

/**
 * The `conditionHash` of a payment for this challenge that buys a session credential for
 * `holderCommitment` (or, without one, {@link conditionHashOf}). Binding the commitment
 * into the proof's context means nobody who sees the payment (a relayer, a facilitator,
 * an observer of the chain) can have the credential issued to a commitment of their own:
 * the on-chain receipt names exactly one holder.
 *
 * @example
 * const conditionHash = conditionHashFor(extra.challenge, commitment);
 */
export function conditionHashFor(c: Challenge, holderCommitment?: bigint | string): Hex {
  const base = conditionHashOf(c);
  if (holderCommitment === undefined) return base;
  return keccak256(
    encodePacked(["string", "bytes32", "uint256"], ["402zk.credential-purchase.v1", base, BigInt(holderCommitment)]),
  );
}

/**
 * The route a requirement belongs to: `extra.route`, set per route by
 * `zkPaymentMiddleware` (or by hand in a route's `extra`), "" if absent.
 *
 * @example
 * routeOf(requirements); // "GET /weather"
 */
export function routeOf(req: { extra?: Record<string, unknown> }): string {
  const r = req.extra?.route;
  return typeof r === "string" ? r : "";
}
