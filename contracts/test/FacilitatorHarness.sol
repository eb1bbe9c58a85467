// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import { IERC20 } from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import { Facilitator } from "../Facilitator.sol";
import { IPaymentBatchVerifier } from "../interfaces/IPaymentBatchVerifier.sol";
import { IPaymentVerifier } from "../interfaces/IPaymentVerifier.sol";
import { ISanctionsList } from "../interfaces/ISanctionsList.sol";
import { LeanIncrementalTree } from "../libraries/LeanIncrementalTree.sol";

/// @title FacilitatorHarness
/// @notice TEST ONLY. A Facilitator whose tree state can be written directly, to build
/// pools of 2^16 .. 2^24 leaves in seconds (their state computed off-chain) for gas and
/// sync measurements. It adds no storage, so its layout is the Facilitator's: tests may
/// swap in the real Facilitator's runtime code (hardhat_setCode) after loading the state,
/// so that the calls they measure run the production bytecode.
contract FacilitatorHarness is Facilitator {
    constructor(
        IERC20 token_,
        IPaymentVerifier verifier_,
        IPaymentBatchVerifier batchVerifier_,
        uint256 rootHistorySize_,
        uint256 treeLevels_,
        ISanctionsList sanctionsList_
    ) Facilitator(token_, verifier_, batchVerifier_, rootHistorySize_, treeLevels_, sanctionsList_) {}

    /// @notice Emits `LeafInserted` for `leaves` at the next indices and counts them as
    /// appended, without queueing or hashing them: `harnessSetTree` must follow, with
    /// the tree state these leaves produce.
    function harnessAppendLeaves(uint256[] calldata leaves, bytes calldata memo) external {
        uint256 index = _counters.leafCount;
        for (uint256 i = 0; i < leaves.length; ++i) emit LeafInserted(index + i, leaves[i], memo);
        _counters.leafCount = uint64(index + leaves.length);
    }

    /// @notice Counts `count` leaves as appended without events (pools whose leaves no
    /// client needs to see, e.g. gas measurements at 2^24 leaves).
    function harnessSkipLeaves(uint256 count) external {
        _counters.leafCount += uint64(count);
    }

    /// @notice Writes the committed state: `committedSize` leaves in all, the current
    /// tree's `depth`, its side nodes (LeanIncrementalTree's invariant) and its `root`.
    /// When committedSize fills a tree exactly, `root` becomes that tree's final root
    /// and the next tree starts empty. Earlier full trees need `harnessSetFinalRoot`.
    function harnessSetTree(uint256 committedSize, uint256 depth, uint256[] calldata sideNodes, uint256 root) external {
        require(committedSize <= _counters.leafCount, "harness: commit beyond appended leaves");
        require(sideNodes.length <= LeanIncrementalTree.MAX_DEPTH + 1, "harness: too many side nodes");
        uint256 capacity = 1 << treeLevels;
        uint256 t = committedSize / capacity;
        uint256 local = committedSize - t * capacity;
        if (local == 0 && committedSize > 0) {
            _finalRoots[t - 1] = root;
            _tree.size = 0;
            _tree.depth = 0;
        } else {
            _tree.size = uint64(local);
            _tree.depth = uint8(depth);
            for (uint256 i = 0; i < sideNodes.length; ++i) _tree.sideNodes[i] = sideNodes[i];
        }
        _counters.committed = uint64(committedSize);
        _counters.treeIndex = uint64(t);
        _roots[committedSize % rootHistorySize] = root;
        // isKnownRoot accepts a history root only at the size it was recorded at.
        _rootSizes[committedSize % rootHistorySize] = committedSize;
    }

    /// @notice Writes the final root of full tree `t`.
    function harnessSetFinalRoot(uint256 t, uint256 root) external {
        _finalRoots[t] = root;
    }
}
