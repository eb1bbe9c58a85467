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
/// Why not zk-kit's lean-imt.sol itself: its `_insert` also writes a leaf => index
/// mapping (a fresh slot, ~22.1k gas, every insert) that payments never read, and it
/// stores the carried node at every level whose index bit is 0 and the root on top
/// (~5k gas each). This version keeps only what a later insert reads: one side node
/// per insert, namely the root of the subtree the new leaf completes. At ~1,000 leaves
/// that saves about 40k gas per insert; the hashes performed are the same.
library LeanIncrementalTree {
    /// @notice Deepest tree the payment circuit can prove membership in.
    uint256 internal constant MAX_DEPTH = 32;

    /// @notice The tree holds 2^MAX_DEPTH leaves.
    error LeanIncrementalTreeFull(uint256 size);

    struct Tree {
        // Packed into one slot: both change on every insert.
        uint64 size;
        uint8 depth;
        // sideNodes[level] = root of the last complete subtree of height `level`, i.e.
        // the left sibling a later leaf will need at that level.
        uint256[MAX_DEPTH + 1] sideNodes;
    }

    /// @notice Appends `leaf`. The caller guarantees leaf < SNARK scalar field.
    /// @return index Position of the new leaf.
    /// @return root Root of the tree after the insertion.
    function insert(Tree storage self, uint256 leaf) internal returns (uint256 index, uint256 root) {
        index = self.size;
        // The circuit proves paths of at most MAX_DEPTH levels.
        if (index >= 1 << MAX_DEPTH) revert LeanIncrementalTreeFull(index);

        uint256 depth = self.depth;
        // Leaf number index + 1 no longer fits in 2^depth leaves: the tree grows a level.
        if (1 << depth < index + 1) {
            ++depth;
        }

        uint256 node = leaf;
        bool stored = false;
        for (uint256 level = 0; level < depth;) {
            if ((index >> level) & 1 == 1) {
                // Our node is a right child: its left sibling is complete and stored.
                node = PoseidonT3.hash([self.sideNodes[level], node]);
            } else if (!stored) {
                // First level where our node is a left child: every bit below is 1, so
                // this leaf completes the subtree `node` roots. A later leaf will read it
                // as its left sibling. Higher left-child levels are still partial and
                // will be recomputed by later inserts, so they are not stored.
                self.sideNodes[level] = node;
                stored = true;
            }
            // Otherwise a left child with no right sibling yet: carried up unchanged.
            unchecked {
                ++level;
            }
        }
        // No zero bit below `depth`: the tree is now complete (size is a power of two),
        // and its root is the left sibling of whatever comes next at level `depth`.
        if (!stored) {
            self.sideNodes[depth] = node;
        }

        self.size = uint64(index + 1);
        self.depth = uint8(depth);
        root = node;
    }
}
