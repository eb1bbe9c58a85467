// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import { PoseidonT3 } from "poseidon-solidity/PoseidonT3.sol";

/// @title LeanIncrementalTree
/// @notice Append-only Poseidon Merkle tree with the exact shape of zk-kit's LeanIMT:
/// the depth grows with the number of leaves, and a node without a right sibling is
/// carried up unchanged instead of being hashed with a zero value. Roots are therefore
/// identical to zk-kit's lean-imt (JS) and to what `LeanMerkleRoot` proves in the
/// circuit. Hashing uses poseidon-solidity's PoseidonT3 (circomlib-compatible).
///
/// Leaves are appended in batches: `insertMany` hashes level by level, so k leaves cost
/// about k + depth hashes instead of about k * depth / 2 one at a time, and a node
/// shared by several new leaves is hashed once.
///
/// Storage: only what a later batch reads, one "side node" per level. Invariant, for
/// every level l where bit l of `size` is 1: sideNodes[l] is the root of the complete
/// subtree at level l with node index (size >> l) - 1. That subtree is exactly the left
/// sibling the next leaf needs at level l (the next leaf's index is `size`, whose bit l
/// is 1, so it is a right child there). Levels whose bit is 0 hold stale values that
/// nothing reads.
library LeanIncrementalTree {
    /// @notice Deepest tree the payment circuit can prove membership in.
    uint256 internal constant MAX_DEPTH = 24;

    /// @notice Appending would exceed `capacity` leaves.
    error LeanIncrementalTreeFull(uint256 size, uint256 adding, uint256 capacity);

    struct Tree {
        // Packed into one slot: both change on every batch.
        uint64 size;
        uint8 depth;
        uint256[MAX_DEPTH + 1] sideNodes;
    }

    /// @notice Appends `leaves[from:to]` in order. The caller guarantees every leaf is
    /// below the SNARK scalar field.
    /// @param capacityLog2 The tree may hold at most 2^capacityLog2 leaves (<= MAX_DEPTH).
    /// @return root Root of the tree after the insertion.
    function insertMany(
        Tree storage self,
        uint256[] memory leaves,
        uint256 from,
        uint256 to,
        uint256 capacityLog2
    ) internal returns (uint256 root) {
        uint256 start = self.size;
        uint256 count = to - from;
        uint256 end = start + count;
        // The circuit proves paths of at most MAX_DEPTH levels; the pool caps lower.
        if (capacityLog2 > MAX_DEPTH || end > 1 << capacityLog2) {
            revert LeanIncrementalTreeFull(start, count, 1 << capacityLog2);
        }
        if (count == 0) revert LeanIncrementalTreeFull(start, 0, 1 << capacityLog2);

        // A LeanIMT with n leaves has depth ceil(log2 n).
        uint256 depth = self.depth;
        while (1 << depth < end) ++depth;

        // nodes[i] is the node at index lo + i of the current level, for the nodes the
        // batch changes: indices lo .. lo + count - 1, where lo = start >> level and the
        // last one is (end - 1) >> level.
        uint256[] memory nodes = new uint256[](count);
        for (uint256 i = 0; i < count; ++i) nodes[i] = leaves[from + i];
        uint256 lo = start;

        for (uint256 level = 0; ; ++level) {
            // The left sibling of node `lo` when `lo` is a right child: complete before
            // this batch, so it is the stored side node (invariant, bit `level` of
            // start is 1 exactly when lo is odd). Read before it is overwritten below.
            uint256 oldSide = lo & 1 == 1 ? self.sideNodes[level] : 0;

            // Restore the invariant for the new size at this level. Node (end >> level)
            // - 1 is complete once the batch is in; when it lies below `lo` the batch did
            // not change it and the stored value is already right.
            uint256 e = end >> level;
            if (e & 1 == 1 && e - 1 >= lo) self.sideNodes[level] = nodes[e - 1 - lo];

            if (level == depth) break;

            // One level up. Parent p has children 2p and 2p + 1.
            uint256 parentLo = lo >> 1;
            uint256 parentHi = (lo + count - 1) >> 1;
            for (uint256 p = parentLo; p <= parentHi; ++p) {
                uint256 left = 2 * p < lo ? oldSide : nodes[2 * p - lo];
                uint256 right = 2 * p + 1;
                // In place: p - parentLo <= 2p - lo, so the slot written was read already.
                // No right sibling (yet): the left child is carried up unchanged.
                nodes[p - parentLo] = right < lo + count ? PoseidonT3.hash([left, nodes[right - lo]]) : left;
            }
            lo = parentLo;
            count = parentHi - parentLo + 1;
        }

        self.size = uint64(end);
        self.depth = uint8(depth);
        root = nodes[0];
    }
}
