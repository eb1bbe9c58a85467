// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import { IERC20 } from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import { Facilitator } from "../Facilitator.sol";
import { IPaymentBatchVerifier } from "../interfaces/IPaymentBatchVerifier.sol";
import { IPaymentVerifier } from "../interfaces/IPaymentVerifier.sol";
import { ISanctionsList } from "../interfaces/ISanctionsList.sol";

/// @title PayoutHookFacilitator
/// @notice TEST ONLY. A Facilitator that overrides the {Facilitator-_payout} hook the way
/// an escrow extension would: it holds `heldPercent` of every payee's amount in the pool,
/// credited to the payment's id, and lets the pool transfer the rest. Tests use it to
/// check that every path that settles a payment goes through the hook: a path that
/// bypassed it would pay the payee in full and credit nothing.
contract PayoutHookFacilitator is Facilitator {
    /// @notice Share of each payee amount the hook holds back (0 .. 100).
    uint256 public heldPercent;

    /// @notice Amount held for each payment id.
    mapping(bytes32 id => uint256 amount) public held;

    /// @notice Sum of `held`, which the pool's token balance must cover.
    uint256 public heldTotal;

    /// @notice Number of times the hook ran.
    uint256 public payouts;

    /// @notice `setHeldPercent` was given more than 100.
    error HeldPercentAbove100(uint256 percent);

    /// @notice Emitted by the hook for every payment it sees.
    event PayoutHooked(bytes32 indexed id, address indexed payTo, uint256 amount, uint256 held);

    constructor(
        IERC20 token_,
        IPaymentVerifier verifier_,
        IPaymentBatchVerifier batchVerifier_,
        uint256 rootHistorySize_,
        uint256 treeLevels_,
        ISanctionsList sanctionsList_
    ) Facilitator(token_, verifier_, batchVerifier_, rootHistorySize_, treeLevels_, sanctionsList_) {}

    /// @notice Sets the share of each later payment the hook holds (test setup only).
    function setHeldPercent(uint256 percent) external {
        if (percent > 100) revert HeldPercentAbove100(percent);
        heldPercent = percent;
    }

    /// @inheritdoc Facilitator
    function _payout(bytes32 id, PaymentTerms calldata terms) internal override returns (uint256 toPayee) {
        uint256 keep = (terms.amount * heldPercent) / 100;
        held[id] += keep;
        heldTotal += keep;
        ++payouts;
        emit PayoutHooked(id, terms.payTo, terms.amount, keep);
        return terms.amount - keep;
    }
}
