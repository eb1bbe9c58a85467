pragma circom 2.2.0;

include "circomlib/circuits/poseidon.circom";

// NoteCommitment
// ==============
// A private note is (value, nullifier, secret). Its commitment, the leaf stored in
// the pool's Merkle tree, is built in two layers:
//
//     precommitment = Poseidon(nullifier, secret)
//     commitment    = Poseidon1(Poseidon(value, precommitment))     (outer hash: 1 input)
//
// The two layers let the pool contract compute a deposit's commitment on chain from
// the public deposit value and an opaque precommitment, so the chain itself vouches
// for the value of every deposited note while nullifier and secret stay private.
// The same layout is used for change notes created inside a payment proof.
//
// Why the outer 1-input hash: tree nodes are Poseidon(left, right) with two inputs.
// Poseidon with 1 input is a different permutation (width 2 instead of 3), so no leaf
// can equal a tree node, and no path can pass "through" a leaf to a note below it.
// With a bare 2-input commitment Poseidon(value, precommitment) a depositor could
// choose precommitment = Poseidon(X, Poseidon(n, s)) (it is opaque to the chain): the
// chain's leaf Poseidon(1, precommitment) would then be the parent of a "note" worth X
// one level below it, and a 1-unit deposit could be spent as X. (A 3-input commitment
// separates the same way but costs ~70k gas on chain with poseidon-solidity's T4; the
// T2 wrap costs ~10k.)
template NoteCommitment() {
    // ---------------------------------------------------------------- inputs
    signal input value;      // note value in token base units (range-checked by the caller)
    signal input nullifier;  // secret whose hash is revealed when the note is spent
    signal input secret;     // blinding secret, never revealed

    // ---------------------------------------------------------------- outputs
    signal output precommitment;
    signal output commitment;

    // 1. Hash the two secrets: without both of them the commitment cannot be linked
    //    to the nullifier hash published when the note is spent.
    precommitment <== Poseidon(2)([nullifier, secret]);

    // 2. Bind the value, then wrap it in a hash no tree node can share (see above).
    //    Poseidon is collision resistant, so a commitment opens to exactly one
    //    (value, precommitment) pair.
    signal valueBound <== Poseidon(2)([value, precommitment]);
    commitment <== Poseidon(1)([valueBound]);
}
