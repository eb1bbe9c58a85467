// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title IPaymentBatchVerifier
/// @notice Batched Groth16 verification for the payment circuit (see Groth16Batch).
interface IPaymentBatchVerifier {
    /// @notice True when every proof verifies for its public signals.
    /// @param proofs Each [pA.x, pA.y, pB[0][0], pB[0][1], pB[1][0], pB[1][1], pC.x, pC.y].
    /// @param publicSignals Signals proof after proof, in the circuit's order
    /// (PaymentSignals.COUNT per proof).
    function verifyBatch(uint256[8][] calldata proofs, uint256[] calldata publicSignals) external view returns (bool);
}
