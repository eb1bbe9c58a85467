pragma circom 2.2.0;

include "circomlib/circuits/poseidon.circom";

// NoteCommitment
// ==============
// A private note is (value, nullifier, secret). Its commitment, the leaf stored in
// the pool's Merkle tree, is built in two layers:
//
//     precommitment = Poseidon(nullifier, secret)
//     commitment    = Poseidon(value, precommitment, NOTE_DOMAIN)      (3 inputs)
//
// The two layers let the pool contract compute a deposit's commitment on chain from
// the public deposit value and an opaque precommitment, so the chain itself vouches
// for the value of every deposited note while nullifier and secret stay private.
// The same layout is used for change notes created inside a payment proof.
//
// Why three inputs: tree nodes are Poseidon(left, right) with two inputs. Poseidon
// with 3 inputs is a different permutation (width 4 instead of 3), so no leaf can
// equal a tree node or be opened as one. With a 2-input commitment a depositor could
// choose precommitment = Poseidon(X, Poseidon(n, s)) (it is opaque to the chain): the
// chain's leaf Poseidon(1, precommitment) would then be the parent of a "note" worth X
// one level below it, and a 1-unit deposit could be spent as X. The arity separation
// closes that door at every level; NOTE_DOMAIN also versions the note format.
template NoteCommitment() {
    // Domain tag and version of note commitments (must equal Facilitator.NOTE_DOMAIN
    // and NOTE_DOMAIN in sdk/core/note.ts).
    var NOTE_DOMAIN = 1;

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

    // 2. Bind the value, under a hash that no tree node can share (see above).
    //    Poseidon is collision resistant, so a commitment opens to exactly one
    //    (value, precommitment) pair.
    commitment <== Poseidon(3)([value, precommitment, NOTE_DOMAIN]);
}
