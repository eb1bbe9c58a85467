/**
 * The inference circuit (`inference-v1`, circuits/inference.circom): its input signals,
 * proving and verifying that `result = model(input)` for proof-before-pay. The model's
 * format and reference inference are in core/inference/model.ts, the input hash and the
 * result's encryption in core/inference/io.ts; the generic Groth16 work is in core/prover.ts.
 *
 * Browser-safe: no Node imports.
 */
import { ZkPayError } from "../errors.js";
import { isFieldElement, SNARK_SCALAR_FIELD } from "../field.js";
import { encryptResult, inputHashOf } from "../inference/io.js";
import { checkPixels, infer, modelCommitmentOf, type InferenceModel } from "../inference/model.js";
import { proveGroth16, verifyGroth16Snarkjs, type ProofProgress } from "../prover.js";
import { Groth16Verifier } from "../verifier.js";
import type { CircuitArtifacts } from "./artifacts.js";
import { fromSolidityProof, type Groth16Proof, type SolidityProof } from "./proof.js";
import { INFERENCE_SIGNALS, namedSignals } from "./registry.js";

/** The inference circuit's public signals by name (`CIRCUITS.inference.publicSignals`). */
export interface InferencePublicSignals {
  /** The model's Poseidon commitment ({@link modelCommitmentOf}), published by the API. */
  readonly modelCommitment: bigint;
  /** The payer's blinded input ({@link inputHashOf}). */
  readonly inputHash: bigint;
  /** The result encrypted to the payer ({@link encryptResult}). */
  readonly resultCiphertext: bigint;
  /** The escrowed payment's nullifier hash (public input). */
  readonly escrowId: bigint;
}

/** A proven inference. */
export interface InferenceProofResult {
  /** The proof in the Solidity verifier's layout (`InferenceVerifier.verifyProof`). */
  readonly proof: SolidityProof;
  /** The same proof in snarkjs' JSON layout (for `snarkjs.groth16.verify` or a wire format). */
  readonly snarkjsProof: Groth16Proof;
  /** The public signals by name. */
  readonly publicSignals: InferencePublicSignals;
  /** The public signals in circuit order [modelCommitment, inputHash, resultCiphertext, escrowId]. */
  readonly publicSignalList: readonly bigint[];
  /** The logits the proof encrypts (the reference inference's, equal to the circuit's). */
  readonly logits: readonly number[];
  readonly timings: { witnessMs: number; proveMs: number };
}

const P = SNARK_SCALAR_FIELD;

function checkField(x: bigint, name: string): void {
  if (typeof x !== "bigint" || !isFieldElement(x)) {
    throw new ZkPayError("invalid_argument", `${name} must be a field element (0 <= x < p)`, { name });
  }
}

/** A bias as the circuit takes it: a field element, negative = p - |b|. */
const biasSignal = (b: number) => (((BigInt(b) % P) + P) % P).toString();

/**
 * The inference circuit's input signals (decimal strings, as snarkjs takes them), named as
 * in circuits/inference.circom. Checks the arguments first (`invalid_argument`): a
 * 196-pixel image of integers 0..255, field-element blinding and escrow id, a valid model.
 *
 * @example
 * await snarkjs.wtns.calculate(inferenceWitness(model, pixels, blinding, escrowId), wasm, wtns);
 */
export function inferenceWitness(
  model: InferenceModel,
  pixels: ArrayLike<number>,
  inputBlinding: bigint,
  escrowId: bigint,
): Record<string, string | string[]> {
  checkPixels(pixels);
  checkField(inputBlinding, "inputBlinding");
  checkField(escrowId, "escrowId");
  modelCommitmentOf(model); // shape and ranges
  return {
    escrowId: escrowId.toString(),
    pixels: Array.from(pixels, (p) => p.toString()),
    inputBlinding: inputBlinding.toString(),
    // 2-D signals row-major and flattened, as snarkjs' witness calculator flattens them.
    w1Bits: model.w1Bits.flat().map(String),
    b1: model.b1.map(biasSignal),
    w2Bits: model.w2Bits.flat().map(String),
    b2: model.b2.map(biasSignal),
  };
}

/**
 * Proves `result = model(pixels)` (the API's side of proof-before-pay): the witness and a
 * Groth16 proof over the inference circuit's artifacts, checked against the SDK's
 * reference (`proving_failed` if the circuit's outputs differ). The model's commitment
 * must be the one the escrow names; the blinding and the escrow id are the payer's.
 *
 * @example
 * const r = await proveInference(artifactsOf("inference"), model, pixels, blinding, escrowId);
 * await escrow.release(r.proof, r.publicSignals.resultCiphertext);
 */
export async function proveInference(
  artifacts: CircuitArtifacts,
  model: InferenceModel,
  pixels: ArrayLike<number>,
  inputBlinding: bigint,
  escrowId: bigint,
  onProgress?: (p: ProofProgress) => void,
): Promise<InferenceProofResult> {
  const input = inferenceWitness(model, pixels, inputBlinding, escrowId);
  const modelCommitment = modelCommitmentOf(model);
  if (modelCommitment !== model.modelCommitment) {
    throw new ZkPayError("invalid_argument", "the model's modelCommitment is not the commitment of its weights");
  }
  const { logits } = infer(model, pixels);
  const expected: InferencePublicSignals = {
    modelCommitment,
    inputHash: inputHashOf(pixels, inputBlinding),
    resultCiphertext: encryptResult(logits, inputBlinding, escrowId),
    escrowId,
  };
  const { proof, publicSignals, timings } = await proveGroth16(input, artifacts, onProgress ? { onProgress } : {});
  const named = namedSignals("inference", publicSignals);
  // The prover computed these; the reference implementation must agree.
  for (const k of Object.keys(expected) as (keyof InferencePublicSignals)[]) {
    if (named[k] !== expected[k]) {
      throw new ZkPayError("proving_failed", `circuit output ${k} differs from the reference implementation`, {
        signal: k,
      });
    }
  }
  return {
    proof,
    snarkjsProof: fromSolidityProof(proof),
    publicSignals: expected,
    publicSignalList: publicSignals,
    logits,
    timings,
  };
}

/** The public signals in circuit order, from a record by name or an array. */
function signalList(s: InferencePublicSignals | readonly bigint[]): bigint[] {
  if (Array.isArray(s)) return [...(s as readonly bigint[])];
  const n = s as InferencePublicSignals;
  const out: bigint[] = [];
  out[INFERENCE_SIGNALS.modelCommitment] = n.modelCommitment;
  out[INFERENCE_SIGNALS.inputHash] = n.inputHash;
  out[INFERENCE_SIGNALS.resultCiphertext] = n.resultCiphertext;
  out[INFERENCE_SIGNALS.escrowId] = n.escrowId;
  return out;
}

/**
 * Verifies an inference proof off chain (~5 ms, mcl-wasm; see {@link Groth16Verifier}):
 * what the payer's client checks before accepting a result, and what the escrow's
 * `InferenceVerifier` checks on chain. Never throws: a malformed proof, key or signal
 * list is simply false.
 *
 * @example
 * const ok = await verifyInferenceProof(vkey, r.proof, r.publicSignals);
 */
export async function verifyInferenceProof(
  vkey: unknown,
  proof: SolidityProof,
  publicSignals: InferencePublicSignals | readonly bigint[],
): Promise<boolean> {
  let verifier: Groth16Verifier;
  let list: bigint[];
  try {
    list = signalList(publicSignals);
    if (list.length !== 4 || list.some((x) => typeof x !== "bigint")) return false;
    verifier = await Groth16Verifier.fromVkey(vkey);
  } catch {
    return false;
  }
  return verifier.verify(proof, list);
}

/**
 * The same check with `snarkjs.groth16.verify` (~15-50 ms), the reference the fast
 * verifier is tested against.
 *
 * @example
 * const ok = await verifyInferenceProofSnarkjs(vkey, r.snarkjsProof, r.publicSignalList);
 */
export function verifyInferenceProofSnarkjs(
  vkey: unknown,
  proof: SolidityProof | Groth16Proof,
  publicSignals: InferencePublicSignals | readonly bigint[],
): Promise<boolean> {
  let list: bigint[];
  try {
    list = signalList(publicSignals);
  } catch {
    return Promise.resolve(false);
  }
  return verifyGroth16Snarkjs(vkey, proof, list);
}
