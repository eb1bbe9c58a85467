pragma circom 2.2.0;

include "circomlib/circuits/poseidon.circom";
include "circomlib/circuits/bitify.circom";
include "circomlib/circuits/comparators.circom";
include "./note_commitment.circom";
include "./lean_merkle_root.circom";

// Payment
// =======
// Spends one private note of the shielded pool and proves, without revealing which
// note it is:
//   - the note is a leaf of the pool's Merkle tree with the public `root`;
//   - `nullifierHash` is the note's one-time spend tag (the contract refuses a second
//     spend of the same tag);
//   - `amount` (to the payee) plus `fee` (to the transaction submitter) is at most the
//     note's value, and the rest is locked in a new private change note whose
//     commitment `changeCommitment` the contract appends to the tree;
//   - the proof is bound to `context`, a hash the contract computes from everything
//     else the call decides (chain id, pool address, payee, relayer, fee, condition
//     hash, expiry, memo), so a copied proof cannot be redirected or replayed.
//
// MAX_DEPTH:  tree capacity is 2^MAX_DEPTH notes.
// VALUE_BITS: every value is below 2^VALUE_BITS; must leave headroom below the
//             ~2^253.6 field size (see step 2).
template Payment(MAX_DEPTH, VALUE_BITS) {
    assert(VALUE_BITS <= 240);

    // ================================================================ public inputs
    signal input root;             // a recent root of the pool's tree
    signal input amount;           // paid to the payee
    signal input fee;              // paid to the relayer that submits the transaction
    signal input context;          // hash of the call's remaining arguments, mod p

    // ================================================================ private inputs
    // The note being spent.
    signal input value;
    signal input nullifier;
    signal input secret;
    // Its inclusion path in the LeanIMT (see lean_merkle_root.circom).
    signal input depth;
    signal input indices;
    signal input siblings[MAX_DEPTH];
    // Secrets of the change note (its value is derived below).
    signal input changeNullifier;
    signal input changeSecret;

    // ================================================================ outputs
    signal output nullifierHash;
    signal output changeCommitment;

    // 1. Range-check the spent value and both public amounts. The contract also
    //    refuses amounts >= 2^VALUE_BITS, but the circuit must not rely on it.
    //
    //    Leaves and tree nodes are already different functions (an outer 1-input and a
    //    2-input Poseidon, see note_commitment.circom), so no tree node can be opened as
    //    a note.
    //    Checking `value` keeps every note, deposited or change, inside the range the
    //    balance check below assumes, whatever a future change to the leaf format does.
    _ = Num2Bits(VALUE_BITS)(value);
    _ = Num2Bits(VALUE_BITS)(amount);
    _ = Num2Bits(VALUE_BITS)(fee);

    // 2. Balance: change = value - amount - fee, and change must fit in VALUE_BITS.
    //    In the field a negative result wraps to p - k with 0 < k < 2^(VALUE_BITS+1),
    //    which is far above 2^VALUE_BITS (VALUE_BITS <= 240), so Num2Bits rejects any
    //    payment whose amount + fee exceeds the note's value.
    signal change <== value - amount - fee;
    _ = Num2Bits(VALUE_BITS)(change);

    // 3. Recompute the spent note's commitment from its opening.
    component note = NoteCommitment();
    note.value <== value;
    note.nullifier <== nullifier;
    note.secret <== secret;

    // 4. Membership: the commitment is a leaf of the tree whose root is public.
    signal computedRoot <== LeanMerkleRoot(MAX_DEPTH)(note.commitment, depth, indices, siblings);
    computedRoot === root;

    // 5. Spend tag. It depends only on the note's nullifier, so every proof that spends
    //    this note publishes the same tag, while nobody without the nullifier can
    //    compute it from the commitment (Poseidon is one-way).
    nullifierHash <== Poseidon(1)([nullifier]);

    // 6. The change note must get a fresh nullifier. Reusing the spent one would give
    //    the change note an already-spent tag and lock its funds for ever.
    signal sameNullifier <== IsZero()(changeNullifier - nullifier);
    sameNullifier === 0;

    // 7. Commit to the change note; only its commitment leaves the circuit.
    component changeNote = NoteCommitment();
    changeNote.value <== change;
    changeNote.nullifier <== changeNullifier;
    changeNote.secret <== changeSecret;
    changeCommitment <== changeNote.commitment;

    // 8. Bind the context. A public input is already part of the Groth16 statement,
    //    but a signal that appears in no constraint is easy to lose in optimisation;
    //    this quadratic constraint keeps `context` in the constraint system so a proof
    //    verifies for exactly one context.
    signal contextSquare <== context * context;
}
