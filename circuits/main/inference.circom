pragma circom 2.2.0;

include "../inference.circom";

// Inference v1 ("inference-v1"): a 196-25-10 binary-weight MLP (14x14 grey image, 25
// hidden ReLU units, 10 logits) with a committed private model.
// Public signals (snarkjs order: outputs, then public inputs):
// [modelCommitment, inputHash, resultCiphertext, escrowId]
component main {public [escrowId]} = Inference(196, 25, 10);
