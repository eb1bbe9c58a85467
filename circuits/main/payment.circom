pragma circom 2.2.0;

include "../payment.circom";

// Payment v2 ("payment-v2"): key-owned notes, one input, payee + change outputs.
// Public signals (snarkjs order: outputs, then public inputs):
// [nullifierHash, payeeCommitment, changeCommitment, root, treeIndex, publicValue, context]
component main {public [root, treeIndex, publicValue, context]} = Payment(24, 128);
