pragma circom 2.2.0;

include "circomlib/circuits/poseidon.circom";
include "circomlib/circuits/bitify.circom";
include "./note_commitment.circom";
include "./lean_merkle_path.circom";

// Payment (v2: key-owned notes, one input, two outputs)
// ====================================================
// Spends one private note of the shielded pool and proves, without revealing which
// note it is or who owns it:
//   - the prover knows the spending key of the note's owner;
//   - the note is the leaf at position (treeIndex, leafIndex) of the tree whose root is
//     the public `root`;
//   - `nullifierHash` is the note's one-time spend tag, bound to the owner's nullifying
//     key and to the note's position (the contract refuses a second spend of a tag);
//   - the note's value is split exactly into the public `publicValue` (what leaves the
//     pool in the clear: the transparent payee's amount plus the relayer's fee), a PAYEE
//     note and a CHANGE note, each created here and published only as a commitment;
//   - the proof is bound to `context`, a hash the contract computes from everything
//     else the call decides (chain id, pool address, payee or none, relayer, fee,
//     condition hash, expiry, both memos), so a copied proof cannot be redirected,
//     replayed elsewhere, or given another payee ciphertext.
//
// One circuit serves both payment modes:
//   - transparent (x402 scheme zk-exact): the amount goes to a public address; the payee
//     note must be the empty note Commit(0, 0, 0), which the contract checks and never
//     appends (collision resistance then forces payeeValue = 0);
//   - shielded (zk-shielded): the contract forces the public amount to 0, so publicValue
//     is the fee alone; the payee note (value = price, owner = the API's owner key) is
//     appended to the tree, so the chain sees neither who was paid nor how much.
//
// Why one `publicValue` and not `amount` and `fee`: the balance only needs their sum,
// and the split is fixed by `context` (a hash of the terms, amount and fee included), so
// a relayer cannot move value between them. One public input less is one elliptic-curve
// multiplication less in every on-chain verification (~6.2k gas).
//
// Why one input: two inputs would let a payment merge notes, but prove two Merkle paths
// (~1.6x the constraints and proving time measured for this circuit). A wallet pays
// with one note and withdraws any amount as several withdrawals.
//
// MAX_DEPTH:  tree capacity is 2^MAX_DEPTH notes.
// VALUE_BITS: every value is below 2^VALUE_BITS; must leave headroom below the
//             ~2^253.6 field size (see step 3).
template Payment(MAX_DEPTH, VALUE_BITS) {
    assert(VALUE_BITS <= 240);

    // ================================================================ public inputs
    signal input root;             // a recent root of the pool's tree number treeIndex
    signal input treeIndex;        // which of the pool's trees (computed by the contract)
    signal input publicValue;      // amount + fee, computed by the contract from the terms
    signal input context;          // hash of the call's remaining arguments, mod p

    // ================================================================ private inputs
    // The note being spent, and its owner's spending key.
    signal input value;
    signal input blinding;
    signal input spendingKey;
    // Its position in the tree and its uncompressed path (see lean_merkle_path.circom).
    signal input leafIndex;
    signal input hasSibling[MAX_DEPTH];
    signal input siblings[MAX_DEPTH];
    // The payee note (zeros for a transparent payment).
    signal input payeeValue;
    signal input payeeOwner;
    signal input payeeBlinding;
    // The change note's blinding (its value and owner are derived below).
    signal input changeBlinding;

    // ================================================================ outputs
    signal output nullifierHash;
    signal output payeeCommitment;
    signal output changeCommitment;

    // 1. Keys: ownership is knowledge of the spending key behind the note's owner key.
    component keys = OwnerKeys();
    keys.spendingKey <== spendingKey;

    // 2. Recompute the spent note's commitment, owned by that key: a note created for
    //    someone else (another owner key) gives another commitment, which is not in the
    //    tree, so its creator cannot spend it without the owner's spending key.
    signal spentCommitment <== NoteCommitment()(value, keys.ownerKey, blinding);

    // 3. Range checks and balance. The spent value, the payee value and the change are
    //    below 2^VALUE_BITS; publicValue (a sum of two values the contract bounds by
    //    2^128 each) below 2^(VALUE_BITS+1): the circuit must not rely on the contract for
    //    it. change = value - publicValue - payeeValue: when the parts exceed the value,
    //    the field wraps it to p - k with 0 < k < 2^(VALUE_BITS+2), far above
    //    2^VALUE_BITS (VALUE_BITS <= 240), so Num2Bits rejects it. Leaves and tree nodes
    //    are different functions (see note_commitment.circom), so the value range check
    //    of the spent note cannot be dodged by opening a tree node.
    _ = Num2Bits(VALUE_BITS)(value);
    _ = Num2Bits(VALUE_BITS + 1)(publicValue);
    _ = Num2Bits(VALUE_BITS)(payeeValue);
    signal change <== value - publicValue - payeeValue;
    _ = Num2Bits(VALUE_BITS)(change);

    // 4. (No mode constraint: a transparent payment's payee note must be the empty note,
    //    which the contract checks against the public payeeCommitment; a shielded one's
    //    public amount must be 0, which the contract checks on the terms.)

    // 5. Membership at a position: the commitment is the leaf at leafIndex of the tree
    //    whose root is public (leafIndex < 2^MAX_DEPTH is enforced inside).
    signal computedRoot <== LeanMerklePath(MAX_DEPTH)(spentCommitment, leafIndex, hasSibling, siblings);
    computedRoot === root;

    // 6. Spend tag: needs the nullifying key (so only the owner, or whoever the owner
    //    gave that key, can compute it from the chain) and binds the commitment and its
    //    position (treeIndex, leafIndex), so two notes with equal commitments at two
    //    positions have two tags, and a note keeps one tag as the tree grows (the
    //    position, unlike a LeanIMT proof's compressed path, never changes). treeIndex
    //    is a public input the contract derives from the root's tree size.
    nullifierHash <== Poseidon(4)([keys.nullifyingKey, spentCommitment, treeIndex, leafIndex]);

    // 7. The payee note: value, owner and blinding are the payer's choice; the payee's
    //    server opens it from the encrypted memo and checks the owner and the value
    //    against its own key and price before it accepts the payment.
    payeeCommitment <== NoteCommitment()(payeeValue, payeeOwner, payeeBlinding);

    // 8. The change note always returns to the spender (owner = the spent note's owner
    //    key), so a payment can only move value to the payee and the relayer.
    changeCommitment <== NoteCommitment()(change, keys.ownerKey, changeBlinding);

    // 9. Bind the context. A public input is already part of the Groth16 statement,
    //    but a signal that appears in no constraint is easy to lose in optimisation;
    //    this quadratic constraint keeps `context` in the constraint system so a proof
    //    verifies for exactly one context. treeIndex is bound by step 6, publicValue by
    //    step 3.
    signal contextSquare <== context * context;
}
