/**
 * Groth16 proof layouts shared by the prover and the verifier (a file of its own so that
 * neither imports the other). Types and pure conversions only: no imports, erasable
 * syntax, so the worker verifier's child process can load the verifier beside it.
 */

/** A Groth16 proof in the layout the Solidity verifier takes. */
export interface SolidityProof {
  pA: [bigint, bigint];
  pB: [[bigint, bigint], [bigint, bigint]];
  pC: [bigint, bigint];
}

/**
 * A Groth16 proof in snarkjs' JSON layout (decimal strings, projective coordinates).
 * Declared here so the SDK's published types do not depend on snarkjs, which ships none.
 */
export interface Groth16Proof {
  pi_a: string[];
  pi_b: string[][];
  pi_c: string[];
  protocol: string;
  curve: string;
}

/** snarkjs proof -> Solidity verifier layout (G2 coordinates swapped). @example toSolidityProof(proof) */
export function toSolidityProof(p: Groth16Proof): SolidityProof {
  return {
    pA: [BigInt(p.pi_a[0]!), BigInt(p.pi_a[1]!)],
    pB: [
      [BigInt(p.pi_b[0]![1]!), BigInt(p.pi_b[0]![0]!)],
      [BigInt(p.pi_b[1]![1]!), BigInt(p.pi_b[1]![0]!)],
    ],
    pC: [BigInt(p.pi_c[0]!), BigInt(p.pi_c[1]!)],
  };
}

/** Solidity layout -> snarkjs proof, for off-chain verification. @example fromSolidityProof(proof) */
export function fromSolidityProof(p: SolidityProof): Groth16Proof {
  return {
    pi_a: [p.pA[0].toString(), p.pA[1].toString(), "1"],
    pi_b: [
      [p.pB[0][1].toString(), p.pB[0][0].toString()],
      [p.pB[1][1].toString(), p.pB[1][0].toString()],
      ["1", "0"],
    ],
    pi_c: [p.pC[0].toString(), p.pC[1].toString(), "1"],
    protocol: "groth16",
    curve: "bn128",
  };
}
