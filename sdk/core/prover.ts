/**
 * The prover's names where they were before the circuit registry (#18), so that existing
 * imports of core/prover.js keep working. New code imports them from their files:
 *
 * - generic Groth16 proving, progress, `shutdownProver`: core/circuits/groth16.ts
 * - artifacts, their loaders and cache, `preloadArtifacts`: core/circuits/artifacts.ts
 * - proof layouts and conversions: core/circuits/proof.ts
 * - the payment circuit (witness, input, prove, verify): core/circuits/payment.ts
 *
 * Re-exports only: the generic prover lives in circuits/groth16.ts rather than here so that
 * circuits/payment.ts can use it without an import cycle through these re-exports.
 */
export * from "./circuits/groth16.js";
export {
  artifactBytes,
  fetchArtifact,
  preloadArtifacts,
  type ArtifactReader,
  type CircuitArtifacts,
} from "./circuits/artifacts.js";
export { fromSolidityProof, toSolidityProof, type Groth16Proof, type SolidityProof } from "./circuits/proof.js";
export {
  paymentCircuitInput,
  provePayment,
  verifyPaymentProof,
  verifyPaymentProofSnarkjs,
  type PaymentProofResult,
  type PaymentWitness,
} from "./circuits/payment.js";
