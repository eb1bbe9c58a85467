pragma circom 2.2.0;

include "circomlib/circuits/poseidon.circom";
include "circomlib/circuits/bitify.circom";

// LeanMerklePath
// ==============
// Recomputes the root of a Lean Incremental Merkle Tree (zk-kit's LeanIMT, mirrored by
// the pool contract's LeanIncrementalTree) from a leaf, its POSITION in the tree and an
// uncompressed path, so that the position can be bound into the note's nullifier.
//
// A LeanIMT has a dynamic depth: at each level, a node that has a right sibling is
// hashed with it, Poseidon(left, right); a node without one (the last node of a level
// with an odd number of nodes) is carried up to the next level unchanged. A right child
// always has a left sibling. The root is the single node of the top level; above the
// tree's real depth every level is a carry.
//
// The path is given per level l in [0, MAX_DEPTH):
//   - bit l of `leafIndex`: our node is the left (0) or the right (1) child;
//   - `hasSibling[l]`: whether our node has a sibling at level l;
//   - `siblings[l]`: that sibling (ignored where hasSibling[l] = 0).
//
// Why the position is sound: for a fixed root, a path that reaches it follows the real
// tree. Claiming a carry where the real tree hashes (or a hash where it carries)
// changes every node above, which then only reaches the root through a Poseidon
// collision or preimage; the direction bits of hashed levels are fixed the same way
// (P(a, b) = P(b, a) only if a = b, i.e. the two subtrees are identical, in which case
// the other position holds an identical note and is a real leaf of its own); the
// direction bits of carried levels are forced to 0 below. So `leafIndex` is the real
// position of a leaf equal to `leaf`, and it does not change as the tree grows (a later
// sibling turns a carry into a hash at the same level without changing the index),
// unlike the compressed index of a LeanIMT proof, which would give one note several
// nullifiers over time.
//
// MAX_DEPTH bounds the tree: 2^MAX_DEPTH leaves.
template LeanMerklePath(MAX_DEPTH) {
    // ---------------------------------------------------------------- inputs
    signal input leaf;
    signal input leafIndex;              // position of the leaf in its tree, < 2^MAX_DEPTH
    signal input hasSibling[MAX_DEPTH];  // 1 where level l hashes, 0 where it carries
    signal input siblings[MAX_DEPTH];

    // ---------------------------------------------------------------- outputs
    signal output root;

    // 1. Decompose the position: each bit is 0 or 1, and leafIndex < 2^MAX_DEPTH (so the
    //    bits are the unique binary form of the position the nullifier binds).
    signal isRight[MAX_DEPTH] <== Num2Bits(MAX_DEPTH)(leafIndex);

    signal nodes[MAX_DEPTH + 1];
    signal swap[MAX_DEPTH];
    signal left[MAX_DEPTH];
    signal right[MAX_DEPTH];
    signal hashed[MAX_DEPTH];
    signal step[MAX_DEPTH];
    nodes[0] <== leaf;
    for (var l = 0; l < MAX_DEPTH; l++) {
        // 2. hasSibling[l] is a boolean.
        hasSibling[l] * (hasSibling[l] - 1) === 0;
        // 3. A right child always has a sibling; equivalently a carried level has
        //    direction 0. Without this, a prover could set the bit of a carried level
        //    freely and give one note 2^(carried levels) positions, i.e. as many
        //    nullifiers, and spend it that many times.
        isRight[l] * (1 - hasSibling[l]) === 0;
        // 4. Order the pair: (node, sibling) for a left child, (sibling, node) for a
        //    right one. swap = isRight * (sibling - node) is the one multiplication
        //    needed; left + right = node + sibling in both cases.
        swap[l] <== isRight[l] * (siblings[l] - nodes[l]);
        left[l] <== nodes[l] + swap[l];
        right[l] <== siblings[l] - swap[l];
        hashed[l] <== Poseidon(2)([left[l], right[l]]);
        // 5. Hash where there is a sibling, carry the node unchanged where there is none.
        step[l] <== hasSibling[l] * (hashed[l] - nodes[l]);
        nodes[l + 1] <== nodes[l] + step[l];
    }
    root <== nodes[MAX_DEPTH];
}
