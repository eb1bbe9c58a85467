// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import { IFacilitator } from "../interfaces/IFacilitator.sol";

/// @title PaymentSignals
/// @notice The one place that knows the order of the payment circuit's public signals.
/// Everything else reads the named fields of `PaymentProof` and `PaymentTerms`.
library PaymentSignals {
    /// @notice Number of public signals of the payment circuit.
    uint256 internal constant COUNT = 6;

    /// @notice Lays out the public signals as snarkjs orders them: outputs first, then
    /// public inputs in declaration order (see circuits/main/payment.circom):
    /// [nullifierHash, changeCommitment, root, amount, fee, context].
    function layout(
        IFacilitator.PaymentProof calldata proof,
        IFacilitator.PaymentTerms calldata terms,
        uint256 context
    ) internal pure returns (uint256[COUNT] memory signals) {
        signals[0] = proof.nullifierHash;
        signals[1] = proof.changeCommitment;
        signals[2] = proof.root;
        signals[3] = terms.amount;
        signals[4] = terms.fee;
        signals[5] = context;
    }
}
