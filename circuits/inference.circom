pragma circom 2.2.0;

include "circomlib/circuits/poseidon.circom";
include "circomlib/circuits/bitify.circom";
include "circomlib-ml/circuits/Dense.circom";

// Inference (v1, "inference-v1"): proof-before-pay's service circuit
// ===================================================================
// Proves that `result = model(input)` for a small binary-weight MLP whose weights stay
// private and are bound by a published Poseidon commitment, on the payer's input (bound
// by its blinded hash), and encrypts the result to the payer for the escrow's release.
//
// Model (N_IN-N_HIDDEN-N_OUT; the registry's instance is 196-25-10, a 14x14 grey image):
//     hidden_i = ReLU( sum_j W1[i][j] * pixel_j + b1_i )
//     logit_k  =       sum_i W2[k][i] * hidden_i + b2_k
// with BINARY weights W = 2*bit - 1 in {-1, +1} (the bits are the private inputs) and
// integer biases in [-2^15, 2^15) (field elements: a negative bias is p - |b|). No
// scale, no rounding: the circuit computes the exact integers, which the SDK's reference
// `infer` (sdk/core/inference/model.ts) reproduces.
//
// Bounds (what keeps every integer far below p, so field arithmetic is integer
// arithmetic, and what the bounded ReLU and the result packing rely on):
//   pixels in [0, 2^8) (range-checked), weights in {-1, +1} (bits boolean-checked),
//   biases in [-2^15, 2^15) (range-checked to 16 bits after an offset of 2^15):
//     |hidden pre-activation| <= 196 * 255 + 2^15 = 82,748 < 2^17
//     |logit| <= 25 * 82,747 + 2^15 = 2,101,443 < 2^22 (a little over 2^21)
//   so `logit + 2^23` lies in [0, 2^24): 24 bits per logit in the packed result, by
//   construction (no range check needed, it cannot be violated).
//
// Public signals (snarkjs order: outputs, then public inputs):
//   [modelCommitment, inputHash, resultCiphertext, escrowId]
//
//   modelCommitment  = Poseidon chain over the packed model (ModelCommitment below):
//                      the API publishes it; the escrow's statement names it.
//   inputHash        = Poseidon8(7 pixel words, inputBlinding) (InputHash below): the
//                      payer's input, hidden by the blinding, named by the statement.
//   resultCiphertext = packedResult + Poseidon2(inputBlinding, escrowId) (mod p), with
//                      packedResult = sum_k (logit_k + 2^23) * 2^(24 k) (240 bits).
//                      The release publishes it on chain: a payer that knows its
//                      blinding reads its result there even if the API stops answering.
//   escrowId         = the escrowed payment's nullifier hash (public input): it keys the
//                      result's pad, so a proof made for one escrow encrypts nothing
//                      useful for another and the contract refuses it (the statement
//                      check). Like every public input it is also bound by snarkjs'
//                      public-input rows of the proving key, and a proof verified with
//                      another escrowId does not verify.

// Bounded ReLU: out = max(in, 0), for |in| < 2^BITS (the caller's bound, see above).
// circomlib-ml's ReLU decides the sign over the whole field (Num2Bits(254) + Sign, ~260
// constraints); with the bound known, in + 2^BITS lies in [0, 2^(BITS+1)) and its top bit
// is the sign: 1 iff in >= 0. BITS + 1 boolean constraints + 1 product.
template BoundedReLU(BITS) {
    signal input in;
    signal output out;

    // Num2Bits constrains in + 2^BITS to BITS + 1 bits (each bit boolean, the weighted
    // sum equal to its input): the decomposition is unique, so `positive` is forced.
    // An honest hidden value always satisfies it (|in| < 2^BITS by the bounds above).
    signal bits[BITS + 1] <== Num2Bits(BITS + 1)(in + (1 << BITS));
    signal positive <== bits[BITS];
    out <== in * positive;
}

// A field element packed from `n` values of `width` bits each, little-endian:
// sum_k in[k] * 2^(width * k). Linear: no constraint of its own; injective because the
// caller range-checks every value to `width` bits and n * width < 254.
function packWeight(width, k) {
    return 1 << (width * k);
}

// ModelCommitment
// ---------------
// Binds the whole model in one field element. The layout (also in
// sdk/core/inference/model.ts, `modelWords`):
//   weight words: the bits of W1 row-major (w1Bits[0][0], w1Bits[0][1], ...,
//     w1Bits[N_HIDDEN-1][N_IN-1]) then W2 row-major, as one bit string packed
//     little-endian 250 bits per word (bit t of the string is bit t mod 250 of word
//     t div 250); 196*25 + 25*10 = 5,150 bits -> 21 words (the last holds 150 bits).
//   bias words: b1 then b2, each offset to the 16-bit limb b + 2^15, packed 15 limbs
//     (240 bits) per word, little-endian; 35 limbs -> 3 words (15, 15, 5).
//   commitment: a Poseidon chain over the words, 15 words per link:
//     h_0 = MODEL_TAG, h_{c+1} = Poseidon(h_c, words[15c .. 15c+14])  (the last link
//     takes the remaining words: Poseidon16 then Poseidon10 for 24 words).
//   MODEL_TAG = the ASCII bytes of "402zk.inference-v1.model" read as a big-endian
//     integer: domain separation from every other hash of the SDK (no other hash starts
//     from it), and a new tag for any new statement version.
// Injective: every bit is boolean-checked and every limb range-checked (by the caller,
// Inference below) so no two models give the same words; the number of words is fixed
// by the template parameters.
template ModelCommitment(N_IN, N_HIDDEN, N_OUT) {
    signal input w1Bits[N_HIDDEN][N_IN];   // boolean (checked by the caller)
    signal input w2Bits[N_OUT][N_HIDDEN];  // boolean (checked by the caller)
    signal input biasLimbs[N_HIDDEN + N_OUT]; // b + 2^15 in [0, 2^16) (checked by the caller)
    signal output commitment;

    var BITS_PER_WORD = 250;
    var LIMBS_PER_WORD = 15;
    var N_BITS = N_HIDDEN * N_IN + N_OUT * N_HIDDEN;
    var N_LIMBS = N_HIDDEN + N_OUT;
    var N_BIT_WORDS = (N_BITS + BITS_PER_WORD - 1) \ BITS_PER_WORD;
    var N_LIMB_WORDS = (N_LIMBS + LIMBS_PER_WORD - 1) \ LIMBS_PER_WORD;
    var N_WORDS = N_BIT_WORDS + N_LIMB_WORDS;

    // The words as linear combinations (no constraints: var accumulators of signals).
    var words[N_WORDS];
    for (var i = 0; i < N_WORDS; i++) words[i] = 0;
    var t = 0;
    for (var i = 0; i < N_HIDDEN; i++) {
        for (var j = 0; j < N_IN; j++) {
            words[t \ BITS_PER_WORD] += w1Bits[i][j] * packWeight(1, t % BITS_PER_WORD);
            t++;
        }
    }
    for (var k = 0; k < N_OUT; k++) {
        for (var i = 0; i < N_HIDDEN; i++) {
            words[t \ BITS_PER_WORD] += w2Bits[k][i] * packWeight(1, t % BITS_PER_WORD);
            t++;
        }
    }
    for (var l = 0; l < N_LIMBS; l++) {
        words[N_BIT_WORDS + l \ LIMBS_PER_WORD] += biasLimbs[l] * packWeight(16, l % LIMBS_PER_WORD);
    }

    // The Poseidon chain, 15 words per link (circomlib's Poseidon takes at most 16 inputs).
    var N_LINKS = (N_WORDS + 14) \ 15;
    signal chain[N_LINKS + 1];
    chain[0] <== 0x3430327a6b2e696e666572656e63652d76312e6d6f64656c; // MODEL_TAG
    component link[N_LINKS];
    for (var c = 0; c < N_LINKS; c++) {
        var n = N_WORDS - 15 * c;
        if (n > 15) n = 15;
        link[c] = Poseidon(n + 1);
        link[c].inputs[0] <== chain[c];
        for (var w = 0; w < n; w++) link[c].inputs[w + 1] <== words[15 * c + w];
        chain[c + 1] <== link[c].out;
    }
    commitment <== chain[N_LINKS];
}

// InputHash
// ---------
// inputHash = Poseidon(words[0..W-1], inputBlinding), where the pixels (each in [0, 2^8),
// range-checked by the caller) are packed 31 per word, little-endian: word m =
// sum_b pixels[31 m + b] * 256^b (196 pixels -> 7 words, the last holding 10). 31 bytes
// = 248 bits < 254, and each pixel has 8 bits, so the packing is injective. The blinding
// (a random field element of the payer's) hides the image on chain.
template InputHash(N_IN) {
    signal input pixels[N_IN];  // in [0, 2^8) (checked by the caller)
    signal input inputBlinding;
    signal output out;

    var PER_WORD = 31;
    var N_WORDS = (N_IN + PER_WORD - 1) \ PER_WORD;
    assert(N_WORDS + 1 <= 16);
    var words[N_WORDS];
    for (var m = 0; m < N_WORDS; m++) words[m] = 0;
    for (var j = 0; j < N_IN; j++) {
        words[j \ PER_WORD] += pixels[j] * packWeight(8, j % PER_WORD);
    }
    component h = Poseidon(N_WORDS + 1);
    for (var m = 0; m < N_WORDS; m++) h.inputs[m] <== words[m];
    h.inputs[N_WORDS] <== inputBlinding;
    out <== h.out;
}

template Inference(N_IN, N_HIDDEN, N_OUT) {
    // The packed result must fit a field element: 24 bits per logit.
    assert(24 * N_OUT <= 252);

    // ================================================================ public input
    signal input escrowId;          // the escrowed payment's nullifier hash

    // ================================================================ private inputs
    signal input pixels[N_IN];                 // the payer's image, 0..255 each
    signal input inputBlinding;                // the payer's random blinding
    signal input w1Bits[N_HIDDEN][N_IN];       // W1 = 2 * bit - 1
    signal input b1[N_HIDDEN];                 // in [-2^15, 2^15), negative = p - |b|
    signal input w2Bits[N_OUT][N_HIDDEN];      // W2 = 2 * bit - 1
    signal input b2[N_OUT];                    // in [-2^15, 2^15), negative = p - |b|

    // ================================================================ outputs
    signal output modelCommitment;
    signal output inputHash;
    signal output resultCiphertext;

    // 1. Range checks: what makes the commitment and the input hash injective and keeps
    //    every integer below the bounds in the header (so the bounded ReLU is sound).
    //    1a. Pixels: 8 bits each.
    for (var j = 0; j < N_IN; j++) {
        _ = Num2Bits(8)(pixels[j]); // pixel range: 0 <= pixel < 256
    }
    //    1b. Weight bits: boolean. A bit of 2 would make a weight of 3 (and a packing
    //        collision with the next bit).
    for (var i = 0; i < N_HIDDEN; i++) {
        for (var j = 0; j < N_IN; j++) {
            w1Bits[i][j] * (w1Bits[i][j] - 1) === 0; // w1 bit is boolean
        }
    }
    for (var k = 0; k < N_OUT; k++) {
        for (var i = 0; i < N_HIDDEN; i++) {
            w2Bits[k][i] * (w2Bits[k][i] - 1) === 0; // w2 bit is boolean
        }
    }
    //    1c. Biases: b + 2^15 in [0, 2^16), i.e. b in [-2^15, 2^15); the limbs are what
    //        the commitment packs.
    signal biasLimbs[N_HIDDEN + N_OUT];
    for (var i = 0; i < N_HIDDEN; i++) {
        biasLimbs[i] <== b1[i] + (1 << 15);
        _ = Num2Bits(16)(biasLimbs[i]); // b1 range: -2^15 <= b1 < 2^15
    }
    for (var k = 0; k < N_OUT; k++) {
        biasLimbs[N_HIDDEN + k] <== b2[k] + (1 << 15);
        _ = Num2Bits(16)(biasLimbs[N_HIDDEN + k]); // b2 range: -2^15 <= b2 < 2^15
    }

    // 2. The commitment of the model the proof uses; the escrow's statement pins it, so
    //    a proof with any other weight or bias is refused there.
    modelCommitment <== ModelCommitment(N_IN, N_HIDDEN, N_OUT)(w1Bits, w2Bits, biasLimbs);

    // 3. The payer's input.
    inputHash <== InputHash(N_IN)(pixels, inputBlinding);

    // 4. Layer 1: circomlib-ml's Dense takes weights[in][out]; each weight is the linear
    //    expression 2 * bit - 1, so each product pixel * weight is one constraint.
    component dense1 = Dense(N_IN, N_HIDDEN);
    for (var j = 0; j < N_IN; j++) {
        dense1.in[j] <== pixels[j];
        for (var i = 0; i < N_HIDDEN; i++) dense1.weights[j][i] <== 2 * w1Bits[i][j] - 1;
    }
    for (var i = 0; i < N_HIDDEN; i++) dense1.bias[i] <== b1[i];

    //    ReLU, bounded: |pre-activation| < 2^17 (header).
    signal hidden[N_HIDDEN];
    for (var i = 0; i < N_HIDDEN; i++) {
        hidden[i] <== BoundedReLU(17)(dense1.out[i]); // hidden ReLU
    }

    // 5. Layer 2 (no activation: the logits).
    component dense2 = Dense(N_HIDDEN, N_OUT);
    for (var i = 0; i < N_HIDDEN; i++) {
        dense2.in[i] <== hidden[i];
        for (var k = 0; k < N_OUT; k++) dense2.weights[i][k] <== 2 * w2Bits[k][i] - 1;
    }
    for (var k = 0; k < N_OUT; k++) dense2.bias[k] <== b2[k];

    // 6. The result, packed (each logit + 2^23 in [0, 2^24) by the header's bound, so the
    //    packing is injective and below 2^240 < p) and encrypted with a pad only the
    //    holder of inputBlinding can compute for this escrow.
    var packed = 0;
    for (var k = 0; k < N_OUT; k++) {
        packed += (dense2.out[k] + (1 << 23)) * packWeight(24, k);
    }
    signal pad <== Poseidon(2)([inputBlinding, escrowId]);
    resultCiphertext <== packed + pad;
}
