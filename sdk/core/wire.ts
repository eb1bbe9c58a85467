import { encodePacked, isAddressEqual, keccak256, zeroAddress, type Address, type Hex } from "viem";
import { z } from "zod";

import type { PaymentTerms } from "./context.js";
import { ZkPayError } from "./errors.js";
import { MAX_VALUE, SNARK_SCALAR_FIELD } from "./field.js";
import { EMPTY_NOTE_COMMITMENT } from "./note.js";

/** The x402 scheme name of 402zk's transparent payments: the pool pays `amount` to `payTo` in public. */
export const ZK_SCHEME = "zk-exact";

/**
 * The x402 scheme name of 402zk's shielded payments: `payTo` is the API's shielded address
 * (`zk402...`), and the payment creates a private note for it instead of a transfer, so the
 * chain shows neither payee nor amount. The proof's terms carry `payTo = 0x0…0` and
 * `amount = 0`; the payload adds the payee note's encrypted opening (`payeeMemo`).
 */
export const ZK_SHIELDED_SCHEME = "zk-shielded";

/** Both 402zk scheme names. */
export const ZK_SCHEMES = [ZK_SCHEME, ZK_SHIELDED_SCHEME] as const;

/** One of {@link ZK_SCHEMES}. */
export type ZkSchemeName = (typeof ZK_SCHEMES)[number];

/**
 * Whether `s` names a 402zk scheme (`zk-exact` or `zk-shielded`).
 *
 * @example
 * if (isZkScheme(requirement.scheme)) pay(requirement);
 */
export function isZkScheme(s: unknown): s is ZkSchemeName {
  return s === ZK_SCHEME || s === ZK_SHIELDED_SCHEME;
}

/**
 * Length of a payee memo, bytes (note-encryption.ts's `PAYEE_MEMO_LENGTH`, the contract's
 * `PAYEE_MEMO_LENGTH`): `0x01 ‖ view tag (2) ‖ epk (32) ‖ nonce (24) ‖ ciphertext (112 + 16)`.
 */
export const PAYEE_MEMO_BYTES = 187;

/** Largest PAYMENT-SIGNATURE header the SDK accepts (a zk-exact one is ~3 KB). */
export const MAX_PAYMENT_HEADER_BYTES = 8 * 1024;

const DECIMAL = /^\d{1,78}$/;
const decimal = z.string().regex(DECIMAL, "must be a decimal integer string");
/** `BigInt(v)` where `v` passed `decimal` (refinements run even when the regex failed: never throw). */
const big = (v: string): bigint | undefined => (DECIMAL.test(v) ? BigInt(v) : undefined);
/**
 * A decimal integer string at most `max`. Every number on the wire is bounded by what the
 * contract takes, so an out-of-range value is refused here, naming its field, rather than
 * throwing later in ABI encoding (or being sent at all).
 */
const uintAtMost = (max: bigint, what: string) =>
  decimal.refine((v) => (big(v) ?? 0n) <= max, `must be at most ${what}`);
/** ABI `uint256` (proof coordinates, `treeSize`). */
const uint = uintAtMost((1n << 256n) - 1n, "2^256-1 (uint256)");
/** `PaymentTerms.expiry` is a `uint64`. */
const uint64 = uintAtMost((1n << 64n) - 1n, "2^64-1 (uint64)");
/** Amount and fee: the contract refuses above 2^128-1 (`FacilitatorValueTooLarge`; the circuit's VALUE_BITS). */
const value = uintAtMost(MAX_VALUE, "2^128-1 (the contract's MAX_VALUE)");
/** Public signals (root, nullifier hash, change commitment): `FacilitatorInputOutOfField`. */
const field = decimal.refine((v) => (big(v) ?? 0n) < SNARK_SCALAR_FIELD, "must be below the BN254 scalar field");
/** A JS number sent as an integer (seconds, counts): exact only up to 2^53-1, and a uint64 on chain. */
const safeInt = z.number().int().max(Number.MAX_SAFE_INTEGER);
const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, "must be a 20-byte hex address");
const bytes32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/, "must be 32 bytes of hex");
const hex = z.string().regex(/^0x([0-9a-fA-F]{2})*$/, "must be hex bytes");
/**
 * A payee memo: hex, bounded. Its exact length ({@link PAYEE_MEMO_BYTES}) is the payee's
 * check (`payee_note_invalid`, a malformed note) and the pool's (`checkPayable`).
 */
const payeeMemo = hex.max(2 + 2 * 512, "must be at most 512 bytes");

/** A per-request server challenge; its hash is the payment's `conditionHash`. */
export const ChallengeSchema = z.object({
  id: z.string().regex(/^0x[0-9a-fA-F]{32}$/, "must be 16 bytes of hex"),
  exp: safeInt.positive(),
  mac: bytes32,
});
/** A 402 challenge `{ id, exp, mac }`: the server's HMAC over the terms it issued it for, so it needs no state to recognise it. */
export type Challenge = z.infer<typeof ChallengeSchema>;

/** How a zk-exact payment reaches the chain. */
export const SettlementModeSchema = z.enum(["server", "client"]);
/** Who submits a payment: `"server"` (the API's relayer) or `"client"` (the payer, who then sends the receipt id). */
export type SettlementMode = z.infer<typeof SettlementModeSchema>;

/** `PaymentRequirements.extra` of a zk-exact requirement. */
export const ZkRequirementExtraSchema = z.object({
  facilitator: address,
  /** Relayer the server settles with (server mode); receives `fee`. */
  relayer: address,
  /** Fee the server charges to submit the transaction (server mode), base units. */
  fee: value,
  settlement: z.array(SettlementModeSchema).min(1),
  minConfirmations: safeInt.nonnegative(),
  vkeySha256: z.string(),
  challenge: ChallengeSchema,
  /**
   * Set when this requirement sells a session credential (see `402zk/session`): the
   * payment must carry the holder commitment the credential will be issued to, and its
   * `conditionHash` binds it ({@link conditionHashFor}).
   */
  credential: z.object({ offerId: z.string() }).passthrough().optional(),
});
/** `extra` of a zk-exact payment requirement: pool, relayer, fee, challenge and accepted settlement modes (`ZkRequirementExtraSchema`). */
export type ZkRequirementExtra = z.infer<typeof ZkRequirementExtraSchema>;

/** PaymentTerms on the wire (decimal strings for integers). */
export const WireTermsSchema = z.object({
  payTo: address,
  amount: value,
  relayer: address,
  fee: value,
  conditionHash: bytes32,
  expiry: uint64,
});

/**
 * What a payment that buys a session credential adds to its payload: the holder
 * commitment (a field element, decimal) the service signs the credential over.
 */
export const CredentialPurchaseSchema = z.object({
  commitment: field,
});

/** `PaymentPayload.payload` for zk-exact: a proof to settle, or a receipt. */
export const ZkPaymentPayloadSchema = z.discriminatedUnion("settlement", [
  z.object({
    settlement: z.literal("server"),
    proof: z.object({
      pA: z.tuple([uint, uint]),
      pB: z.tuple([z.tuple([uint, uint]), z.tuple([uint, uint])]),
      pC: z.tuple([uint, uint]),
      root: field,
      treeSize: uint,
      nullifierHash: field,
      /** The payee note's commitment (zk-shielded); the zero opening's for zk-exact, which the pool ignores. */
      payeeCommitment: field,
      changeCommitment: field,
    }),
    terms: WireTermsSchema,
    // The contract's MAX_MEMO_LENGTH (`FacilitatorMemoTooLong`): 512 bytes.
    memo: hex.max(2 + 2 * 512, "must be at most 512 bytes (the contract's MAX_MEMO_LENGTH)"),
    /**
     * The payer asks for its change note to be committed in the settling transaction
     * (spendable in the next block) rather than by the facilitator's next batch window:
     * set when the change is the payer's only spendable note. Not bound into the proof:
     * a request, honoured by settling through `payBatch`.
     */
    commitChange: z.boolean().optional(),
    /**
     * zk-shielded: the payee note's opening encrypted to the payee (note-encryption.ts),
     * bound into the proof's context and stored on chain as the payee leaf's memo. Absent
     * for zk-exact.
     */
    payeeMemo: payeeMemo.optional(),
    credential: CredentialPurchaseSchema.optional(),
  }),
  z.object({
    settlement: z.literal("client"),
    receiptId: bytes32,
    transaction: bytes32,
    terms: WireTermsSchema,
    /** zk-shielded: the payee memo of the payment on chain, for the API to open. */
    payeeMemo: payeeMemo.optional(),
    /** zk-shielded: the payee note's commitment (`checkShieldedReceipt` binds it). */
    payeeCommitment: field.optional(),
    credential: CredentialPurchaseSchema.optional(),
  }),
]);
/** `payload` of a zk-exact `PAYMENT-SIGNATURE`: the proof with its public signals and terms (`ZkPaymentPayloadSchema`). */
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
  payeeCommitment: bigint;
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
    payeeCommitment: s(p.payeeCommitment),
    changeCommitment: s(p.changeCommitment),
  };
}

/**
 * Payment terms -> wire form (amounts and expiry as decimal strings).
 *
 * @example
 * const terms = termsToWire(prepared.terms);
 */
export function termsToWire(t: PaymentTerms): ZkServerPayload["terms"] {
  return {
    payTo: t.payTo,
    amount: t.amount.toString(),
    relayer: t.relayer,
    fee: t.fee.toString(),
    conditionHash: t.conditionHash,
    expiry: t.expiry.toString(),
  };
}

/** A server-settled payload (proof, terms, memo and, shielded, the payee memo, as the relayer submits them). */
export type ZkServerPayload = Extract<ZkPaymentPayload, { settlement: "server" }>;

/**
 * A prepared payment -> its server-settled wire payload (terms as decimal strings): what
 * the client scheme sends in PAYMENT-SIGNATURE and `RelayClient` posts to `/relay`.
 *
 * @example
 * const payload = serverPayloadToWire(prepared);
 */
export function serverPayloadToWire(p: {
  proof: ProofStruct;
  terms: PaymentTerms;
  memo: Hex;
  /** The payee memo of a shielded payment; absent or "0x" for a transparent one. */
  payeeMemo?: Hex;
  commitChange?: boolean;
}): ZkServerPayload {
  return {
    settlement: "server",
    proof: proofToWire(p.proof),
    terms: termsToWire(p.terms),
    memo: p.memo,
    ...(p.payeeMemo !== undefined && p.payeeMemo !== "0x" ? { payeeMemo: p.payeeMemo } : {}),
    // Ask for the change to be committed by the settling transaction.
    ...(p.commitChange ? { commitChange: true } : {}),
  };
}

/**
 * The payee memo a payload's payment was proven with: its `payeeMemo`, or "0x" (a
 * transparent payment's, which the contract requires to be empty).
 *
 * @example
 * const ctx = paymentContext({ chainId, facilitator, terms, memo, payeeMemo: payeeMemoOf(payload) });
 */
export function payeeMemoOf(p: { payeeMemo?: string }): Hex {
  return (p.payeeMemo ?? "0x") as Hex;
}

/**
 * Whether a payment's terms are shielded: the contract's rule, `terms.payTo == address(0)`.
 *
 * @example
 * isShieldedTerms(prepared.terms); // true for a zk-shielded payment
 */
export function isShieldedTerms(t: { payTo: string }): boolean {
  return /^0x0{40}$/i.test(t.payTo);
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
    payeeCommitment: b(w.payeeCommitment),
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

/** The parts of an x402 requirement a 402zk payment's terms must match. */
export interface RequirementTerms {
  /** `zk-shielded` makes `payTo` a shielded address; anything else is checked as `zk-exact`. */
  scheme?: string;
  payTo: string;
  amount: string;
  extra?: Record<string, unknown>;
}

/** A shielded address's shape (bech32m, prefix `zk402`); shielded-address.ts parses it fully. */
const SHIELDED_ADDRESS = /^zk4021[02-9ac-hj-np-z]{100,200}$/;

/**
 * Checks that a payment's terms are exactly what `req` asks for and that its
 * `conditionHash` is the hash of `challenge` (the one the payment answers: the payload's
 * `accepted.extra.challenge`, whose MAC the resource server checks): payee, amount,
 * condition (binding the credential commitment when `req` sells one) and, for a proof,
 * an expiry equal to the challenge's. Pure and cheap: the resource server's guard and the
 * facilitator both run it before anything else, so a payment made for one request (or
 * relayed to any payee) never passes for another. Returns the expected condition hash;
 * throws `ZkPayError` (`requirements_mismatch`, or `invalid_payload` for a requirement
 * that is not one).
 *
 * @example
 * const conditionHash = checkTermsMatch(payload, requirements, extra.challenge);
 */
export function checkTermsMatch(p: ZkPaymentPayload, req: RequirementTerms, challenge: Challenge): Hex {
  const shielded = req.scheme === ZK_SHIELDED_SCHEME;
  // The requirement may come from the network (the facilitator service): check its shape.
  if (shielded) {
    if (typeof req.payTo !== "string" || !SHIELDED_ADDRESS.test(req.payTo)) {
      throw new ZkPayError("invalid_payload", "paymentRequirements.payTo: must be a shielded address (zk402...)");
    }
  } else if (typeof req.payTo !== "string" || !/^0x[0-9a-fA-F]{40}$/.test(req.payTo)) {
    throw new ZkPayError("invalid_payload", "paymentRequirements.payTo: must be a 20-byte hex address");
  }
  if (typeof req.amount !== "string" || !DECIMAL.test(req.amount)) {
    throw new ZkPayError("invalid_payload", "paymentRequirements.amount: must be a decimal integer string");
  }
  // A requirement that sells a session credential binds the holder commitment into the
  // condition (see conditionHashFor); a payment without one could not be issued to anyone.
  const sellsCredential = (req.extra as { credential?: unknown } | undefined)?.credential !== undefined;
  if (sellsCredential && p.credential === undefined) {
    throw new ZkPayError(
      "invalid_payload",
      "this requirement sells a session credential: payload.credential is missing",
    );
  }
  const conditionHash = conditionHashFor(challenge, sellsCredential ? p.credential?.commitment : undefined);
  if (shielded) {
    // A shielded payment pays nothing in public: the price travels in the payee note,
    // which only the API can open (it checks the value before the proof is verified).
    if (!isShieldedTerms(p.terms) || BigInt(p.terms.amount) !== 0n) {
      throw new ZkPayError(
        "requirements_mismatch",
        "a zk-shielded payment's terms pay nothing in public (payTo 0x0, amount 0)",
        { payTo: zeroAddress, amount: "0" },
      );
    }
    if (p.payeeMemo === undefined) {
      throw new ZkPayError("invalid_payload", "payload.payeeMemo: a zk-shielded payment carries its payee memo");
    }
    if (p.settlement === "client" && p.payeeCommitment === undefined) {
      throw new ZkPayError("invalid_payload", "payload.payeeCommitment: a client-settled zk-shielded payment names it");
    }
  } else {
    if (!isAddressEqual(p.terms.payTo as Address, req.payTo as Address)) {
      throw new ZkPayError("requirements_mismatch", "payTo differs from the requirement", { payTo: req.payTo });
    }
    if (BigInt(p.terms.amount) !== BigInt(req.amount)) {
      throw new ZkPayError("requirements_mismatch", "amount differs from the requirement", { amount: req.amount });
    }
    // A transparent payment's payee memo must be empty (`FacilitatorPayeeMemo(length)`).
    if (p.payeeMemo !== undefined || (p.settlement === "client" && p.payeeCommitment !== undefined)) {
      throw new ZkPayError("invalid_payload", "payload.payeeMemo: a zk-exact payment has no payee note");
    }
  }
  if (p.terms.conditionHash.toLowerCase() !== conditionHash) {
    throw new ZkPayError("requirements_mismatch", "conditionHash is not the hash of this request's challenge");
  }
  // A proof signs up to an expiry (the contract checks it); it must be the challenge's.
  if (p.settlement === "server" && BigInt(p.terms.expiry) !== BigInt(challenge.exp)) {
    throw new ZkPayError("requirements_mismatch", "expiry differs from the challenge's");
  }
  return conditionHash;
}

/**
 * The checks `Facilitator._checkPayment` makes that need no chain state, on terms that
 * passed {@link ZkPaymentPayloadSchema} (which bounds amount, fee, memo and the public
 * signals the same way): a payment the contract would refuse is refused before it is
 * accepted, so it never reaches a transaction (where one bad item reverts a whole
 * `payBatch`). The chain's own checks (expiry against block time, root, nullifier, proof)
 * are the facilitator's. Throws `ZkPayError("invalid_payload")` naming the field.
 *
 * @example
 * checkPayable(payload);
 */
export function checkPayable(p: Extract<ZkPaymentPayload, { settlement: "server" }>): void {
  const { terms, memo, proof } = p;
  // Shielded iff `terms.payTo == address(0)`: then `terms.amount` must be 0
  // (`FacilitatorShieldedAmount`) and the payee memo PAYEE_MEMO_LENGTH bytes; a
  // transparent payment's payee memo must be empty (`FacilitatorPayeeMemo(length)`).
  const payeeMemoBytes = (payeeMemoOf(p).length - 2) / 2;
  if (isShieldedTerms(terms)) {
    if (BigInt(terms.amount) !== 0n) {
      throw new ZkPayError("invalid_payload", "terms.amount: a shielded payment (payTo 0x0) pays nothing in public");
    }
    if (payeeMemoBytes !== PAYEE_MEMO_BYTES) {
      throw new ZkPayError("invalid_payload", `payeeMemo: a shielded payment's is ${PAYEE_MEMO_BYTES} bytes`);
    }
  } else {
    if (payeeMemoBytes !== 0) throw new ZkPayError("invalid_payload", "payeeMemo: a transparent payment has none");
    // `if (proof.payeeCommitment != EMPTY_NOTE_COMMITMENT) revert FacilitatorTransparentPayeeNote`.
    if (BigInt(proof.payeeCommitment) !== EMPTY_NOTE_COMMITMENT) {
      throw new ZkPayError(
        "invalid_payload",
        "proof.payeeCommitment: a transparent payment's payee note is the empty note",
      );
    }
  }
  // `if (terms.fee != 0 && terms.relayer == address(0)) revert FacilitatorFeeWithoutRelayer(fee)`.
  if (BigInt(terms.fee) !== 0n && isAddressEqual(terms.relayer as Address, zeroAddress)) {
    throw new ZkPayError("invalid_payload", "terms.relayer: a fee needs a relayer (the zero address would burn it)");
  }
  // `if (terms.amount > MAX_VALUE)` / `if (terms.fee > MAX_VALUE) revert FacilitatorValueTooLarge`.
  if (BigInt(terms.amount) > MAX_VALUE || BigInt(terms.fee) > MAX_VALUE) {
    throw new ZkPayError("invalid_payload", "terms.amount / terms.fee: above 2^128-1 (the contract's MAX_VALUE)");
  }
  // `if (memo.length > MAX_MEMO_LENGTH) revert FacilitatorMemoTooLong`.
  if ((memo.length - 2) / 2 > 512) {
    throw new ZkPayError("invalid_payload", "memo: longer than 512 bytes (the contract's MAX_MEMO_LENGTH)");
  }
  // `if (proof.nullifierHash / payeeCommitment / changeCommitment / root >= SNARK_SCALAR_FIELD) revert FacilitatorInputOutOfField`.
  for (const k of ["nullifierHash", "payeeCommitment", "changeCommitment", "root"] as const) {
    if (BigInt(proof[k]) >= SNARK_SCALAR_FIELD) {
      throw new ZkPayError("invalid_payload", `proof.${k}: not below the BN254 scalar field`);
    }
  }
}
