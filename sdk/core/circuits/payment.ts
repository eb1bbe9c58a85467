/**
 * The payment circuit: its witness, its input signals, proving and verifying a payment.
 * The generic Groth16 work is in core/prover.ts; the signal order is the registry's.
 */
import { ZkPayError } from "../errors.js";
import { isFieldElement, MAX_TREE_DEPTH, toValue } from "../field.js";
import { commitmentOf, nullifierHashOf, nullifyingKeyOf, ownerKeyOf, type NoteOpening } from "../note.js";
import { hash2 } from "../poseidon.js";
import type { MerklePath } from "../tree.js";
import { Groth16Verifier } from "../verifier.js";
import type { CircuitArtifacts } from "./artifacts.js";
import { proveGroth16, verifyGroth16Snarkjs, type ProofProgress } from "../prover.js";
import type { ProofStruct } from "../wire.js";
import type { Groth16Proof, SolidityProof } from "./proof.js";
import { PAYMENT_SIGNALS } from "./registry.js";

/**
 * Everything the payment circuit (`payment-v2`, 1 input note, 2 output notes) needs.
 *
 * `note.value = amount + fee + payee.value + change`. A transparent payment (zk-exact)
 * pays `amount` in public and sets `payee` to the zero opening {0, 0, 0}; a shielded one
 * (zk-shielded) has `amount = 0` and the price in `payee.value`. The change note goes
 * back to the spender (owner = the spent note's owner key) with `changeBlinding`.
 */
export interface PaymentWitness {
  /** The note being spent, owned by {@link ownerKeyOf}(spendingKey). */
  note: NoteOpening;
  /** The owner's spending key (private input; never leaves the prover). */
  spendingKey: bigint;
  /** Where the note is ({@link notePosition} of its global leaf index); must be `path`'s. */
  position: { treeIndex: number; leafIndex: number };
  /** Its inclusion path (from {@link NoteTree.path}: carries hasSibling[24] and siblings[24]). */
  path: MerklePath;
  amount: bigint;
  fee: bigint;
  /** From {@link paymentContext}. */
  context: bigint;
  /** The payee note's opening; the zero opening {0, 0, 0} for a transparent payment. */
  payee: NoteOpening;
  /** Blinding of the change note (from {@link WalletKeys.changeBlinding}). */
  changeBlinding: bigint;
}

/** The payee opening of a transparent payment: worthless, and ignored by the contract. */
export const ZERO_PAYEE: Readonly<NoteOpening> = Object.freeze({ value: 0n, owner: 0n, blinding: 0n });

/** A payment proof with its public signals by name. */
export interface PaymentProofResult {
  proof: SolidityProof;
  nullifierHash: bigint;
  payeeCommitment: bigint;
  changeCommitment: bigint;
  changeValue: bigint;
  root: bigint;
  treeSize: number;
  treeIndex: number;
  /**
   * Public signals in circuit order [nullifierHash, payeeCommitment, changeCommitment,
   * root, treeIndex, publicValue = amount + fee, context] (`CIRCUITS.payment.publicSignals`).
   */
  publicSignals: bigint[];
  timings: { witnessMs: number; proveMs: number };
}

/**
 * The contract's `PaymentProof` struct of a proven payment: the proof points with the
 * public signals the contract takes (the rest it derives: `treeIndex` from `treeSize`,
 * `publicValue` and `context` from the terms).
 *
 * @example
 * await facilitator.write.pay([proofStructOf(result), terms, memo, payeeMemo]);
 */
export function proofStructOf(r: PaymentProofResult): ProofStruct {
  return {
    pA: r.proof.pA,
    pB: r.proof.pB,
    pC: r.proof.pC,
    root: r.root,
    treeSize: BigInt(r.treeSize),
    nullifierHash: r.nullifierHash,
    payeeCommitment: r.payeeCommitment,
    changeCommitment: r.changeCommitment,
  };
}

/**
 * The payment circuit's input signals for `w`, as snarkjs takes them (decimal strings),
 * named as in circuits/payment.circom. `provePayment` checks `w` first; this only lays
 * it out.
 *
 * @example
 * await snarkjs.wtns.calculate(paymentCircuitInput(w), wasm, wtns);
 */
export function paymentCircuitInput(w: PaymentWitness): Record<string, string | string[]> {
  return {
    root: w.path.root.toString(),
    treeIndex: w.position.treeIndex.toString(),
    // amount + fee: the circuit's one public value; the split is in `context` (the terms).
    publicValue: (w.amount + w.fee).toString(),
    context: w.context.toString(),
    value: w.note.value.toString(),
    blinding: w.note.blinding.toString(),
    spendingKey: w.spendingKey.toString(),
    leafIndex: w.position.leafIndex.toString(),
    hasSibling: w.path.hasSibling.map((h) => (h ? "1" : "0")),
    siblings: w.path.siblings.map((s) => s.toString()),
    payeeValue: w.payee.value.toString(),
    payeeOwner: w.payee.owner.toString(),
    payeeBlinding: w.payee.blinding.toString(),
    changeBlinding: w.changeBlinding.toString(),
  };
}

/**
 * Root of the LeanIMT path from `leaf`, as the circuit computes it (LeanMerklePath):
 * per level, hash with the sibling (ordered by the position's bit) or carry the node up.
 */
function pathRoot(leaf: bigint, leafIndex: number, path: MerklePath): bigint {
  let node = leaf;
  for (let l = 0; l < MAX_TREE_DEPTH; l++) {
    if (!path.hasSibling[l]) continue;
    const right = Math.floor(leafIndex / 2 ** l) % 2 === 1;
    node = right ? hash2(path.siblings[l]!, node) : hash2(node, path.siblings[l]!);
  }
  return node;
}

/**
 * Checks a witness before proving, with typed errors (a wrong witness would otherwise fail
 * deep in the witness calculator as an anonymous assertion): ranges, ownership, balance,
 * one mode per payment, the path's shape and that it leads to its root.
 */
function checkWitness(w: PaymentWitness): bigint {
  const bad = (msg: string, details: Record<string, unknown> = {}) => new ZkPayError("invalid_argument", msg, details);
  const value = toValue(w.note.value, "note value");
  const amount = toValue(w.amount, "amount");
  const fee = toValue(w.fee, "fee");
  const payeeValue = toValue(w.payee.value, "payee value");
  for (const [name, x] of [
    ["note blinding", w.note.blinding],
    ["note owner", w.note.owner],
    ["spending key", w.spendingKey],
    ["payee owner", w.payee.owner],
    ["payee blinding", w.payee.blinding],
    ["change blinding", w.changeBlinding],
    ["context", w.context],
  ] as const) {
    if (typeof x !== "bigint" || !isFieldElement(x)) throw bad(`${name} must be a field element`);
  }
  // A transparent payment's payee note must be the empty note (the contract refuses any
  // other, `FacilitatorTransparentPayeeNote`) and a shielded one pays no public amount
  // (`FacilitatorShieldedAmount`): a witness with both could never settle.
  if (amount !== 0n && payeeValue !== 0n) {
    throw bad("a payment pays either in public (amount) or into a payee note (payee value), not both", {
      amount: amount.toString(),
      payeeValue: payeeValue.toString(),
    });
  }
  const needed = amount + fee + payeeValue;
  if (needed > value) {
    throw new ZkPayError("insufficient_private_balance", `note holds ${value}, payment needs ${needed}`, {
      value: value.toString(),
      needed: needed.toString(),
    });
  }
  if (w.note.owner !== ownerKeyOf(w.spendingKey)) {
    throw bad("the note is not owned by this spending key");
  }
  const { path, position } = w;
  if (path.hasSibling?.length !== MAX_TREE_DEPTH || path.siblings?.length !== MAX_TREE_DEPTH) {
    throw bad(`path must have ${MAX_TREE_DEPTH} levels (hasSibling and siblings)`);
  }
  if (
    !Number.isSafeInteger(position.leafIndex) ||
    position.leafIndex < 0 ||
    position.leafIndex >= 2 ** MAX_TREE_DEPTH ||
    !Number.isSafeInteger(position.treeIndex) ||
    position.treeIndex < 0
  ) {
    throw bad(`note position out of range (tree ${position.treeIndex}, leaf ${position.leafIndex})`);
  }
  if (position.leafIndex !== path.leafIndex || position.treeIndex !== path.treeIndex) {
    throw bad(
      `position (tree ${position.treeIndex}, leaf ${position.leafIndex}) is not the path's ` +
        `(tree ${path.treeIndex}, leaf ${path.leafIndex})`,
    );
  }
  if (pathRoot(commitmentOf(w.note), position.leafIndex, path) !== path.root) {
    throw bad("the path does not lead from the note's commitment to its root (wrong note or tree)");
  }
  return value - needed;
}

/**
 * Builds the witness and a Groth16 proof of a payment, client-side. Checks the witness
 * first (typed errors: `insufficient_private_balance`, `invalid_argument`) and the
 * circuit's three outputs against the reference functions after (`proving_failed`).
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
  const changeValue = checkWitness(w);
  const owner = ownerKeyOf(w.spendingKey);
  const expectedNullifierHash = nullifierHashOf(nullifyingKeyOf(w.spendingKey), commitmentOf(w.note), w.position);
  const expectedPayee = commitmentOf(w.payee);
  const expectedChange = commitmentOf({ value: changeValue, owner, blinding: w.changeBlinding });

  const { proof, publicSignals, timings } = await proveGroth16(paymentCircuitInput(w), artifacts, options);
  // The prover computed these; the reference implementation must agree.
  if (
    publicSignals[PAYMENT_SIGNALS.nullifierHash] !== expectedNullifierHash ||
    publicSignals[PAYMENT_SIGNALS.payeeCommitment] !== expectedPayee ||
    publicSignals[PAYMENT_SIGNALS.changeCommitment] !== expectedChange
  ) {
    throw new ZkPayError("proving_failed", "circuit outputs differ from the reference implementation");
  }
  return {
    proof,
    nullifierHash: expectedNullifierHash,
    payeeCommitment: expectedPayee,
    changeCommitment: expectedChange,
    changeValue,
    root: w.path.root,
    treeSize: w.path.treeSize,
    treeIndex: w.position.treeIndex,
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
