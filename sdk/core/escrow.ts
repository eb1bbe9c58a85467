/**
 * Proof before pay (issue #20): the escrow statement a payment binds, its hash and the
 * escrowed payment's context exactly as `FacilitatorEscrow` computes them on chain, the
 * escrow ABI, and the refund note. Browser-safe: no Node imports.
 *
 * An escrowed payment is a transparent payment whose proof's context also binds an
 * {@link EscrowStatement}: which registered service verifier must prove the work, the
 * model the API published, the hash of the payer's input, a deadline and the payer's
 * refund note. The pool holds the amount until a service proof releases it (to `payTo`)
 * or the deadline passes (anyone may then refund it into the refund note).
 */
import { encodeAbiParameters, keccak256, parseAbi, stringToHex, type Address, type Hex } from "viem";
import { z } from "zod";

import type { PaymentTerms } from "./context.js";
import { ZkPayError } from "./errors.js";
import { SNARK_SCALAR_FIELD } from "./field.js";
import { hash1, hash2, hash3 } from "./poseidon.js";

/** The statement of an escrowed payment, as the contract's `EscrowStatement` struct. */
export interface EscrowStatement {
  /** Registered verifier of the service circuit (for the `inference` circuit, its `InferenceVerifier`). */
  verifier: Address;
  /** Commitment to the model the API published (the service circuit's `modelCommitment`). */
  modelCommitment: bigint;
  /** Hash of the payer's input and its blinding (the service circuit's `inputHash`). */
  inputHash: bigint;
  /** Last unix second at which the escrow may be released; refundable after it. */
  deadline: bigint;
  /** `Poseidon2(ownerKey, blinding)` of the payer's refund note. */
  refundPrecommitment: bigint;
  /** keccak256 of the refund note's memo. */
  refundMemoHash: Hex;
}

/**
 * An {@link EscrowStatement} as JSON carries it (numbers as decimal strings): in a
 * `zk-escrow` payment payload and in the wallet's escrow records.
 */
export const EscrowStatementWireSchema = z
  .object({
    verifier: z.string().regex(/^0x[0-9a-fA-F]{40}$/),
    modelCommitment: z.string().regex(/^\d{1,78}$/),
    inputHash: z.string().regex(/^\d{1,78}$/),
    deadline: z.string().regex(/^\d{1,78}$/),
    refundPrecommitment: z.string().regex(/^\d{1,78}$/),
    refundMemoHash: z.string().regex(/^0x[0-9a-fA-F]{64}$/),
  })
  .strict();

/** The JSON form of an {@link EscrowStatement}. */
export type EscrowStatementWire = z.infer<typeof EscrowStatementWireSchema>;

/** Statement -> JSON form. @example payload.statement = statementToWire(prepared.escrow.statement) */
export function statementToWire(s: EscrowStatement): EscrowStatementWire {
  return {
    verifier: s.verifier,
    modelCommitment: s.modelCommitment.toString(),
    inputHash: s.inputHash.toString(),
    deadline: s.deadline.toString(),
    refundPrecommitment: s.refundPrecommitment.toString(),
    refundMemoHash: s.refundMemoHash,
  };
}

/** JSON form (already schema-checked) -> statement. @example const st = statementFromWire(record.statement) */
export function statementFromWire(w: EscrowStatementWire): EscrowStatement {
  return {
    verifier: w.verifier as Address,
    modelCommitment: BigInt(w.modelCommitment),
    inputHash: BigInt(w.inputHash),
    deadline: BigInt(w.deadline),
    refundPrecommitment: BigInt(w.refundPrecommitment),
    refundMemoHash: w.refundMemoHash as Hex,
  };
}

/** `IFacilitatorEscrow.EscrowStatus`, by name. */
export const ESCROW_STATUS = { None: 0, Held: 1, Released: 2, Refunded: 3 } as const;

/** Name of an escrow status. */
export type EscrowStatusName = keyof typeof ESCROW_STATUS;

/** The status name of the contract's enum value `n`. @example escrowStatusName(1) // "Held" */
export function escrowStatusName(n: number): EscrowStatusName {
  const name = (Object.keys(ESCROW_STATUS) as EscrowStatusName[]).find((k) => ESCROW_STATUS[k] === n);
  if (!name) throw new ZkPayError("rpc_error", `unknown escrow status ${n}`);
  return name;
}

const STATEMENT_TAG = keccak256(stringToHex("402zk.escrow.statement.v1"));

const STATEMENT_COMPONENTS = [
  { name: "verifier", type: "address" },
  { name: "modelCommitment", type: "uint256" },
  { name: "inputHash", type: "uint256" },
  { name: "deadline", type: "uint64" },
  { name: "refundPrecommitment", type: "uint256" },
  { name: "refundMemoHash", type: "bytes32" },
] as const;

const TERMS_COMPONENTS = [
  { name: "payTo", type: "address" },
  { name: "amount", type: "uint256" },
  { name: "relayer", type: "address" },
  { name: "fee", type: "uint256" },
  { name: "conditionHash", type: "bytes32" },
  { name: "expiry", type: "uint64" },
] as const;

/**
 * What a payment's context binds for `statement`: keccak256(abi.encode(tag, statement)),
 * as `FacilitatorEscrow.escrowStatementHash`.
 *
 * @example
 * const h = escrowStatementHash(statement);
 */
export function escrowStatementHash(statement: EscrowStatement): Hex {
  return keccak256(
    encodeAbiParameters(
      [{ type: "bytes32" }, { type: "tuple", components: STATEMENT_COMPONENTS }],
      [STATEMENT_TAG, statement],
    ),
  );
}

/**
 * The `context` an escrowed payment's proof binds: the plain payment context's encoding
 * with the statement hash appended (`FacilitatorEscrow.escrowedPaymentContext`). A proof
 * made with it never verifies through `pay` or `payBatch`, so nobody can settle it
 * without the escrow.
 *
 * @example
 * const ctx = escrowedPaymentContext({ chainId, facilitator, terms, memo, statement });
 */
export function escrowedPaymentContext(args: {
  chainId: number | bigint;
  facilitator: Address;
  terms: PaymentTerms;
  memo: Hex;
  statement: EscrowStatement;
}): bigint {
  const encoded = encodeAbiParameters(
    [
      { type: "uint256" },
      { type: "address" },
      { type: "tuple", components: TERMS_COMPONENTS },
      { type: "bytes32" },
      { type: "bytes32" },
      { type: "bytes32" },
    ],
    [
      BigInt(args.chainId),
      args.facilitator,
      args.terms,
      keccak256(args.memo),
      keccak256("0x"),
      escrowStatementHash(args.statement),
    ],
  );
  return BigInt(keccak256(encoded)) % SNARK_SCALAR_FIELD;
}

const RECEIPT_TAG = keccak256(stringToHex("402zk.receipt.extension.v1"));

/**
 * The condition an escrowed payment's receipt (and its `PaymentReceipt` event) records:
 * keccak256(abi.encode(tag, conditionHash, statementHash)), never the plain condition, so
 * a plain receipt check refuses an escrowed payment (`Facilitator._receiptCondition`).
 */
export function escrowReceiptCondition(conditionHash: Hex, statement: EscrowStatement): Hex {
  return keccak256(
    encodeAbiParameters(
      [{ type: "bytes32" }, { type: "bytes32" }, { type: "bytes32" }],
      [RECEIPT_TAG, conditionHash, escrowStatementHash(statement)],
    ),
  );
}

/**
 * The blinding of the payer's input for one escrowed payment: the seed's per-note base
 * (`keys.escrowInputBlinding(parent)`) hashed with the payee and the model, so an API that
 * saw an earlier attempt spending the same note (refused, never settled) cannot decrypt
 * the result of a later escrow with another API or model (#20 audit, L1). Everything it
 * hashes is on chain once the payment is escrowed, so a restored wallet recomputes it.
 */
export function escrowInputBlindingFor(base: bigint, payTo: Address, modelCommitment: bigint): bigint {
  return hash3(base, BigInt(payTo), modelCommitment);
}

/**
 * The one-time pad of a released result: `Poseidon2(inputBlinding, escrowId)`. Every
 * service circuit that releases escrow encrypts its packed result as
 * `(packed + pad) mod p` (see `IServiceVerifier`), so the payer decrypts any of them with
 * its blinding alone. (Here, not in `inference/io.ts`, so that a wallet that only decrypts
 * does not load the inference circuit's hashes.)
 */
export function escrowResultPad(inputBlinding: bigint, escrowId: bigint): bigint {
  return hash2(inputBlinding, escrowId);
}

/**
 * The refund note's commitment, as `refund` computes it on chain:
 * Poseidon1(Poseidon2(amount, refundPrecommitment)), the same function as a deposit's.
 */
export function refundCommitment(amount: bigint, refundPrecommitment: bigint): bigint {
  return hash1(hash2(amount, refundPrecommitment));
}

/**
 * Checks a statement's shape before it is proven or sent (clear errors instead of a
 * revert): field elements in the field, a deadline after the payment's expiry.
 */
export function checkEscrowStatement(statement: EscrowStatement, expiry: bigint): void {
  for (const k of ["modelCommitment", "inputHash", "refundPrecommitment"] as const) {
    const v = statement[k];
    if (typeof v !== "bigint" || v < 0n || v >= SNARK_SCALAR_FIELD) {
      throw new ZkPayError("invalid_argument", `escrow statement: ${k} is not a field element`);
    }
  }
  if (statement.deadline <= expiry) {
    throw new ZkPayError(
      "invalid_argument",
      `escrow statement: the deadline (${statement.deadline}) must be after the payment's expiry (${expiry})`,
    );
  }
}

/** ABI of `FacilitatorEscrow`'s own entry points, views, events and errors (checked against the build by a test). */
export const escrowAbi = parseAbi([
  "struct PaymentProof { uint256[2] pA; uint256[2][2] pB; uint256[2] pC; uint256 root; uint256 treeSize; uint256 nullifierHash; uint256 payeeCommitment; uint256 changeCommitment; }",
  "struct PaymentTerms { address payTo; uint256 amount; address relayer; uint256 fee; bytes32 conditionHash; uint64 expiry; }",
  "struct EscrowStatement { address verifier; uint256 modelCommitment; uint256 inputHash; uint64 deadline; uint256 refundPrecommitment; bytes32 refundMemoHash; }",
  "struct ServiceProof { uint256[2] pA; uint256[2][2] pB; uint256[2] pC; uint256 resultCiphertext; }",
  "function operator() view returns (address)",
  "function isServiceVerifier(address verifier) view returns (bool)",
  "function registerServiceVerifier(address verifier)",
  "function payEscrowed(PaymentProof proof, PaymentTerms terms, bytes memo, bytes payeeMemo, EscrowStatement statement, bytes refundMemo) returns (bytes32 id)",
  "function release(bytes32 id, address payTo, uint256 amount, EscrowStatement statement, ServiceProof serviceProof)",
  "function refund(bytes32 id, address payTo, uint256 amount, EscrowStatement statement, bytes refundMemo) returns (uint256 commitment)",
  "function escrowStatus(bytes32 id) view returns (uint8)",
  "function escrowReceiptCondition(bytes32 conditionHash, bytes32 statementHash) pure returns (bytes32)",
  "function checkEscrowedReceipt(bytes32 id, address payTo, uint256 amount, bytes32 conditionHash, bytes32 statementHash) view returns (uint8 receipt, uint8 escrow)",
  "function escrowStatementHash(EscrowStatement statement) pure returns (bytes32)",
  "function escrowedPaymentContext(PaymentTerms terms, bytes memo, bytes payeeMemo, EscrowStatement statement) view returns (uint256)",
  "event ServiceVerifierRegistered(address indexed verifier)",
  "event EscrowHeld(bytes32 indexed id, bytes32 indexed statementHash, address payTo, uint256 amount, EscrowStatement statement, bytes refundMemo)",
  "event EscrowReleased(bytes32 indexed id, address indexed payTo, uint256 amount, uint256 resultCiphertext)",
  "event EscrowRefunded(bytes32 indexed id, uint256 commitment, uint256 leafIndex)",
  "error EscrowNotOperator(address caller)",
  "error EscrowUnknownVerifier(address verifier)",
  "error EscrowUnsupportedPayment(address payTo, uint256 amount)",
  "error EscrowDeadlineTooSoon(uint64 deadline, uint64 expiry)",
  "error EscrowNotFound(bytes32 id)",
  "error EscrowStatementMismatch(bytes32 id)",
  "error EscrowAlreadyReleased(bytes32 id)",
  "error EscrowAlreadyRefunded(bytes32 id)",
  "error EscrowExpired(bytes32 id, uint64 deadline, uint256 timestamp)",
  "error EscrowRefundTooEarly(bytes32 id, uint64 deadline, uint256 timestamp)",
  "error EscrowInvalidServiceProof(bytes32 id)",
  "error EscrowRefundMemoMismatch(bytes32 id)",
]);
