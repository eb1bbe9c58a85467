// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import { IFacilitator } from "../interfaces/IFacilitator.sol";

/// @title PaymentSignals
/// @notice The one place that knows the order of the payment circuit's public signals.
/// Everything else reads the named fields of `PaymentProof` and `PaymentTerms`.
library PaymentSignals {
    /// @notice Number of public signals of the payment circuit (`payment-v2`).
    uint256 internal constant COUNT = 7;

    /// @notice Lays out the public signals as snarkjs orders them: outputs first, then
    /// public inputs in declaration order (see circuits/payment.circom):
    /// [nullifierHash, payeeCommitment, changeCommitment, root, treeIndex, publicValue, context],
    /// where publicValue = amount + fee: the circuit only needs their sum, and the split is
    /// bound by `context` (a hash of the terms). Each is below 2^128 (`_checkPayment`), so
    /// the sum cannot overflow and stays below the circuit's 2^129 range check.
    /// @dev `treeIndex` is never supplied by the caller: it is the tree that `root` belongs
    /// to, derived from `proof.treeSize` (the committed leaf count when `root` was current,
    /// which the caller has already checked with `isKnownRoot`, so it is at least 1). The
    /// nullifier hash binds the spent note's position (treeIndex, leafIndex); were treeIndex
    /// free, one note could be given as many nullifiers as there are trees and be spent
    /// once per tree. A root of tree t always has treeSize in (t * 2^levels, (t + 1) * 2^levels],
    /// so (treeSize - 1) >> levels is t, the final root of a full tree included.
    /// @param proof The proof and its caller-supplied public values.
    /// @param terms The payment's terms (amount + fee is a signal; all of them are in `context`).
    /// @param context The payment's context (`Facilitator.paymentContext`).
    /// @param treeLevels Levels of each tree of the pool (`INotePool.treeLevels`).
    /// @return signals The seven public signals in circuit order.
    function layout(
        IFacilitator.PaymentProof calldata proof,
        IFacilitator.PaymentTerms calldata terms,
        uint256 context,
        uint256 treeLevels
    ) internal pure returns (uint256[COUNT] memory signals) {
        signals[0] = proof.nullifierHash;
        signals[1] = proof.payeeCommitment;
        signals[2] = proof.changeCommitment;
        signals[3] = proof.root;
        signals[4] = (proof.treeSize - 1) >> treeLevels;
        signals[5] = terms.amount + terms.fee;
        signals[6] = context;
    }
}
