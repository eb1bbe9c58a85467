// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title IPaymentVerifier
/// @notice Groth16 verifier of the 402zk payment circuit. The implementation is the
/// contract exported by `snarkjs zkey export solidityverifier` (see
/// `scripts/build-circuits.ts`); it is injected into the Facilitator at construction.
interface IPaymentVerifier {
    /// @notice Checks a Groth16 proof against the circuit's verification key.
    /// @param pA Proof point A (G1).
    /// @param pB Proof point B (G2), coordinates in the order snarkjs exports for Solidity.
    /// @param pC Proof point C (G1).
    /// @param pubSignals Public signals in circuit order:
    /// [nullifierHash, payeeCommitment, changeCommitment, root, treeIndex, publicValue, context]
    /// (PaymentSignals.layout).
    /// @return True when the proof is valid for these public signals.
    function verifyProof(
        uint256[2] calldata pA,
        uint256[2][2] calldata pB,
        uint256[2] calldata pC,
        uint256[7] calldata pubSignals
    ) external view returns (bool);
}
