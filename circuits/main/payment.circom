pragma circom 2.2.0;

include "../payment.circom";

// Production instance of the payment circuit.
//
// MAX_DEPTH = 24: one tree holds 2^24 (16.7M) notes; when it is full the contract
// starts a next tree (a rollover) and keeps the full tree's final root valid for ever,
// so capacity is unbounded while every proof stays a depth-24 path. Each level costs
// ~245 constraints (one Poseidon(2)); at depth 24 the circuit has ~8.0k constraints
// and, with its 6 public signals, fits snarkjs' 2^13 FFT domain (depth 32 needed 2^14
// and proved ~2.5x slower). Nothing on chain depends on MAX_DEPTH beyond the bound:
// the contract's LeanIMT hashes only the levels a tree actually has.
//
// VALUE_BITS = 128: token amounts are uint128 in the contract; USDC's whole supply
// is below 2^57 base units.
//
// Public signals, in the order snarkjs lays them out (outputs first):
//   [nullifierHash, changeCommitment, root, amount, fee, context]
component main {public [root, amount, fee, context]} = Payment(24, 128);
