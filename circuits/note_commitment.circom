pragma circom 2.2.0;

include "circomlib/circuits/poseidon.circom";

// NoteCommitment
// ==============
// A private note is (value, owner, blinding): `owner` is the owner key of whoever can
// spend it (OwnerKeys below), `blinding` a random field element that hides the other
// two. Its commitment, the leaf stored in the pool's Merkle tree, is built in two layers:
//
//     precommitment = Poseidon(owner, blinding)
//     commitment    = Poseidon1(Poseidon(value, precommitment))     (outer hash: 1 input)
//
// The two layers let the pool contract compute a deposit's commitment on chain from
// the public deposit value and an opaque precommitment, so the chain itself vouches
// for the value of every deposited note while owner and blinding stay private. The
// same layout is used for the notes a payment creates (payee and change).
//
// Why the outer 1-input hash: tree nodes are Poseidon(left, right) with two inputs.
// Poseidon with 1 input is a different permutation (width 2 instead of 3), so no leaf
// can equal a tree node, and no path can pass "through" a leaf to a note below it.
// With a bare 2-input commitment Poseidon(value, precommitment) a depositor could
// choose precommitment = Poseidon(X, Poseidon(o, b)) (it is opaque to the chain): the
// chain's leaf Poseidon(1, precommitment) would then be the parent of a "note" worth X
// one level below it, and a 1-unit deposit could be spent as X. (A 3-input commitment
// separates the same way but costs ~70k gas on chain with poseidon-solidity's T4; the
// T2 wrap costs ~10k.)
template NoteCommitment() {
    // ---------------------------------------------------------------- inputs
    signal input value;      // note value in token base units (range-checked by the caller)
    signal input owner;      // owner key of the note's owner
    signal input blinding;   // random, never revealed

    // ---------------------------------------------------------------- outputs
    signal output commitment;

    // 1. Hide the owner behind the blinding.
    signal precommitment <== Poseidon(2)([owner, blinding]);

    // 2. Bind the value, then wrap it in a hash no tree node can share (see above).
    //    Poseidon is collision resistant, so a commitment opens to exactly one
    //    (value, owner, blinding).
    signal valueBound <== Poseidon(2)([value, precommitment]);
    commitment <== Poseidon(1)([valueBound]);
}

// OwnerKeys
// =========
// The keys a spending key gives, with Poseidon only (Tornado Nova's choice of
// publicKey = Poseidon(privateKey)): no elliptic-curve arithmetic in the circuit, which
// would cost thousands of constraints per payment for a signature nothing here needs
// (whoever proves knowledge of the spending key is the owner; proofs are made on the
// owner's device).
//
//     nullifyingKey = Poseidon(spendingKey, 1)   computes nullifiers: sees spends, cannot spend
//     ownerKey      = Poseidon(spendingKey, 2)   public, in the shielded address
//
// The second inputs 1 and 2 separate the two domains: neither key can be computed from
// the other, and the spending key from neither (Poseidon is one-way).
template OwnerKeys() {
    signal input spendingKey;
    signal output nullifyingKey;
    signal output ownerKey;

    nullifyingKey <== Poseidon(2)([spendingKey, 1]);
    ownerKey <== Poseidon(2)([spendingKey, 2]);
}
