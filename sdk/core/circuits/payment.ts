/**
 * The payment circuit: its witness, its input signals, proving and verifying a payment.
 * The generic Groth16 work is in core/prover.ts; the signal order is the registry's.
 */
import { ZkPayError } from "../errors.js";
import { MAX_TREE_DEPTH, toValue } from "../field.js";
import { commitmentOf, nullifierHashOf, type NoteSecrets } from "../note.js";
import type { MerklePath } from "../tree.js";
import { Groth16Verifier } from "../verifier.js";
import type { CircuitArtifacts } from "./artifacts.js";
import { proveGroth16, verifyGroth16Snarkjs, type ProofProgress } from "../prover.js";
import type { Groth16Proof, SolidityProof } from "./proof.js";
import { PAYMENT_SIGNALS } from "./registry.js";

/** Everything the payment circuit needs. */
export interface PaymentWitness {
  /** The note being spent. */
  note: { value: bigint } & NoteSecrets;
  /** Its inclusion path (from {@link NoteTree.path}). */
  path: MerklePath;
  amount: bigint;
  fee: bigint;
  /** From {@link paymentContext}. */
  context: bigint;
  /** Secrets of the change note. */
  change: NoteSecrets;
}

/** A payment proof with its public signals by name. */
export interface PaymentProofResult {
  proof: SolidityProof;
  nullifierHash: bigint;
  changeCommitment: bigint;
  changeValue: bigint;
  root: bigint;
  treeSize: number;
  /** Public signals in circuit order [nullifierHash, changeCommitment, root, amount, fee, context] (`CIRCUITS.payment.publicSignals`). */
  publicSignals: bigint[];
  timings: { witnessMs: number; proveMs: number };
}

/**
 * The payment circuit's input signals for `w`, as snarkjs takes them (decimal strings).
 * `provePayment` checks `w` first; this only lays it out.
 *
 * @example
 * await snarkjs.wtns.calculate(paymentCircuitInput(w), wasm, wtns);
 */
export function paymentCircuitInput(w: PaymentWitness): Record<string, string | string[]> {
  return {
    root: w.path.root.toString(),
    amount: w.amount.toString(),
    fee: w.fee.toString(),
    context: w.context.toString(),
    value: w.note.value.toString(),
    nullifier: w.note.nullifier.toString(),
    secret: w.note.secret.toString(),
    depth: w.path.depth.toString(),
    indices: w.path.indices.toString(),
    siblings: w.path.siblings.map((s) => s.toString()),
    changeNullifier: w.change.nullifier.toString(),
    changeSecret: w.change.secret.toString(),
  };
}

/**
 * Builds the witness and a Groth16 proof of a payment, client-side.
 *
 * @example
 * const result = await provePayment(witness, artifactsOf("payment"), {
 *   onProgress: (p) => console.log(p.stage, Math.round(p.fraction * 100) + "%"),
 * });
 */
export async function provePayment(
  w: PaymentWitness,
  artifacts: CircuitArtifacts,
  options: { onProgress?: (p: ProofProgress) => void } = {},
): Promise<PaymentProofResult> {
  const value = toValue(w.note.value, "note value");
  const amount = toValue(w.amount, "amount");
  const fee = toValue(w.fee, "fee");
  if (amount + fee > value) {
    throw new ZkPayError("insufficient_private_balance", `note holds ${value}, payment needs ${amount + fee}`, {
      value: value.toString(),
      needed: (amount + fee).toString(),
    });
  }
  if (w.path.siblings.length !== MAX_TREE_DEPTH) {
    throw new ZkPayError("invalid_argument", `path must have ${MAX_TREE_DEPTH} siblings`);
  }
  if (w.change.nullifier === w.note.nullifier) {
    throw new ZkPayError("invalid_argument", "change note must not reuse the spent note's nullifier");
  }
  const changeValue = value - amount - fee;

  const { proof, publicSignals, timings } = await proveGroth16(paymentCircuitInput(w), artifacts, options);
  const expectedNullifierHash = nullifierHashOf(w.note);
  const expectedChange = commitmentOf(changeValue, w.change);
  // The prover computed these; the reference implementation must agree.
  if (
    publicSignals[PAYMENT_SIGNALS.nullifierHash] !== expectedNullifierHash ||
    publicSignals[PAYMENT_SIGNALS.changeCommitment] !== expectedChange
  ) {
    throw new ZkPayError("proving_failed", "circuit outputs differ from the reference implementation");
  }
  return {
    proof,
    nullifierHash: expectedNullifierHash,
    changeCommitment: expectedChange,
    changeValue,
    root: w.path.root,
    treeSize: w.path.treeSize,
    publicSignals,
    timings,
  };
}

/**
 * Verifies a payment proof off-chain (~5 ms, mcl-wasm; see {@link Groth16Verifier}), e.g.
 * before paying gas to settle it. Never throws: a malformed proof or key is simply false.
 * The verifier is prepared once per vkey object.
 *
 * @example
 * const ok = await verifyPaymentProof(vkey, proof, publicSignals);
 */
export async function verifyPaymentProof(
  vkey: unknown,
  proof: SolidityProof,
  publicSignals: readonly bigint[],
): Promise<boolean> {
  let verifier: Groth16Verifier;
  try {
    verifier = await Groth16Verifier.fromVkey(vkey);
  } catch {
    return false;
  }
  return verifier.verify(proof, publicSignals);
}

/**
 * The same check with `snarkjs.groth16.verify` (~15-50 ms): the reference the fast
 * verifier is tested against. One difference: snarkjs reduces point coordinates modulo
 * the base field, so it accepts a valid proof with a coordinate written as x + q, which
 * the on-chain verifier (EIP-197) and {@link verifyPaymentProof} refuse.
 *
 * @example
 * const ok = await verifyPaymentProofSnarkjs(vkey, proof, publicSignals);
 */
export function verifyPaymentProofSnarkjs(
  vkey: unknown,
  proof: SolidityProof | Groth16Proof,
  publicSignals: readonly bigint[],
): Promise<boolean> {
  return verifyGroth16Snarkjs(vkey, proof, publicSignals);
}
