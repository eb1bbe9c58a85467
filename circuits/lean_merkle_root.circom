pragma circom 2.2.0;

include "circomlib/circuits/poseidon.circom";
include "circomlib/circuits/bitify.circom";
include "circomlib/circuits/comparators.circom";

// LeanMerkleRoot
// ==============
// Recomputes the root of a Lean Incremental Merkle Tree (the structure of zk-kit's
// LeanIMT, mirrored by the pool contract) from a leaf and its inclusion path.
//
// A LeanIMT has a dynamic depth: a node without a right sibling is carried up to the
// next level unchanged instead of being hashed with a zero value. An inclusion proof
// therefore lists only the levels where a sibling exists: `depth` siblings, and the
// bits of `indices` saying at each of those levels whether our node is the left (0)
// or right (1) child. Level i of the proof is hashed only if i < depth; the root is
// the node reached after exactly `depth` hashes.
//
// MAX_DEPTH bounds the tree: 2^MAX_DEPTH leaves.
template LeanMerkleRoot(MAX_DEPTH) {
    // ---------------------------------------------------------------- inputs
    signal input leaf;
    signal input depth;                 // number of siblings actually used, 0..MAX_DEPTH
    signal input indices;               // path directions, bit i for level i
    signal input siblings[MAX_DEPTH];   // siblings for levels 0..depth-1, anything above

    // ---------------------------------------------------------------- outputs
    signal output root;

    // 1. depth must lie in [0, MAX_DEPTH]. LessEqThan(n) is only sound for inputs
    //    below 2^n, so depth is first decomposed into n bits, which enforces that.
    var DEPTH_BITS = 1;
    while ((1 << DEPTH_BITS) <= MAX_DEPTH) {
        DEPTH_BITS++;
    }
    _ = Num2Bits(DEPTH_BITS)(depth);
    signal depthOk <== LessEqThan(DEPTH_BITS)([depth, MAX_DEPTH]);
    depthOk === 1;

    // 2. Split the path into bits. Num2Bits constrains every bit to be 0 or 1, which the
    //    multiplexer below relies on: a non-boolean selector would mix node and sibling.
    signal pathBits[MAX_DEPTH] <== Num2Bits(MAX_DEPTH)(indices);

    // 3. Hash up the tree. nodes[i] is the candidate root if the tree has depth i.
    //    left/right put the current node on the side named by the path bit:
    //      bit 0: (node, sibling)    bit 1: (sibling, node)
    //    with one multiplication: swap = bit * (sibling - node).
    signal nodes[MAX_DEPTH + 1];
    signal swap[MAX_DEPTH];
    signal left[MAX_DEPTH];
    signal right[MAX_DEPTH];
    nodes[0] <== leaf;
    for (var i = 0; i < MAX_DEPTH; i++) {
        swap[i] <== pathBits[i] * (siblings[i] - nodes[i]);
        left[i] <== nodes[i] + swap[i];
        right[i] <== siblings[i] - swap[i];
        nodes[i + 1] <== Poseidon(2)([left[i], right[i]]);
    }

    // 4. Select nodes[depth]. Exactly one isAtDepth[i] is 1 because depth is in
    //    [0, MAX_DEPTH] (step 1), so the sum below equals that one node and cannot be
    //    a mix of several levels.
    signal isAtDepth[MAX_DEPTH + 1];
    signal picked[MAX_DEPTH + 1];
    var sum = 0;
    for (var i = 0; i <= MAX_DEPTH; i++) {
        isAtDepth[i] <== IsEqual()([depth, i]);
        picked[i] <== isAtDepth[i] * nodes[i];
        sum += picked[i];
    }
    root <== sum;
}
