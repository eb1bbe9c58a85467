pragma circom 2.2.0;

include "../payment.circom";

// Production instance of the payment circuit.
//
// MAX_DEPTH = 32: every payment appends a change note, so the tree's capacity is spent
// by payments, not by users. 2^20 (~1M) notes would run out after a million payments;
// 2^32 (~4.3 billion) will not. Each level costs ~245 constraints (one Poseidon(2)),
// about 3% of proving time per 4 levels, and nothing on chain: the contract's LeanIMT
// only hashes the levels the tree actually has.
//
// VALUE_BITS = 128: token amounts are uint128 in the contract; USDC's whole supply
// is below 2^57 base units.
//
// Public signals, in the order snarkjs lays them out (outputs first):
//   [nullifierHash, changeCommitment, root, amount, fee, context]
component main {public [root, amount, fee, context]} = Payment(32, 128);
