pragma circom 2.2.0;

include "circomlib/circuits/poseidon.circom";

// NoteCommitment
// ==============
// A private note is (value, nullifier, secret). Its commitment, the leaf stored in
// the pool's Merkle tree, is built in two layers:
//
//     precommitment = Poseidon(nullifier, secret)
//     commitment    = Poseidon(value, precommitment)
//
// The two layers let the pool contract compute a deposit's commitment on chain from
// the public deposit value and an opaque precommitment, so the chain itself vouches
// for the value of every deposited note while nullifier and secret stay private.
// The same layout is used for change notes created inside a payment proof.
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

    // 2. Bind the value. Poseidon(2) is collision resistant, so a given commitment
    //    opens to exactly one (value, precommitment) pair.
    commitment <== Poseidon(2)([value, precommitment]);
}
