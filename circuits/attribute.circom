pragma circom 2.2.0;

include "circomlib/circuits/poseidon.circom";
include "circomlib/circuits/bitify.circom";
include "circomlib/circuits/comparators.circom";
include "circomlib/circuits/compconstant.circom";
include "circomlib/circuits/escalarmulfix.circom";
include "circomlib/circuits/eddsaposeidon.circom";
include "circomlib/circuits/multiplexer.circom";
include "circomlib/circuits/smt/smtverifier.circom";
include "./credential.circom";
include "./note_commitment.circom";
include "./lean_merkle_path.circom";

// Attribute proof (Verify & Pay, issue #21)
// =========================================
// Proves, without revealing the credential, its holder, its issuer or any claim:
//   - the prover holds an identity credential (circuits/credential.circom, "Attribute
//     credentials") signed by an issuer of the API's trusted set (public `issuersRoot`),
//     issued to a holder key H = hk*Base8 whose secret hk the prover knows;
//   - the credential is not revoked: its serial is absent from the issuer's revocation
//     tree, whose root is the one the trusted set binds for that issuer;
//   - its claims satisfy the public rule at the public date `today`: age >= minAge,
//     country allowed (allow-list) or not blocked (block-list), every required flag set,
//     not expired;
//   - the prover also knows the spending key of the note whose nullifier is the public
//     `nullifierHash` (the payment this proof comes with), and the proof is bound to the
//     payment's terms (`context`), so it cannot be attached to another payment;
//   - `pseudonym` = Poseidon4(ATTR_PSEUDONYM_DOMAIN, hk, serviceId, epoch): the same
//     holder gets the same pseudonym at one service in one epoch (sharing deterrent).
//
// Encodings (sdk/core/identity): dates YYYYMMDD integers, country ISO 3166-1 numeric
// 1..999, countryMask 1024 bits in 8 words of 128 (bit c mod 128 of word c div 128),
// countryMode 0 = no rule, 1 = allow-list, 2 = block-list, flags < 2^64.
//
// REV_DEPTH:    serials are below 2^REV_DEPTH. The revocation tree is a circomlib SMT of
//               REV_DEPTH + 1 levels: circomlib's SMTVerifier(n) needs the last of its n
//               siblings to be 0, so a leaf sits at most at level n - 1 and two keys can
//               only be told apart by their low n - 1 bits; n = REV_DEPTH + 1 lets every
//               set of REV_DEPTH-bit serials be stored (iden3's tree with maxLevels = n
//               refuses deeper leaves the same way).
// ISSUER_DEPTH: the trusted set holds at most 2^ISSUER_DEPTH issuers.
template Attribute(REV_DEPTH, ISSUER_DEPTH) {
    var SMT_LEVELS = REV_DEPTH + 1;

    // ================================================================ public inputs
    signal input context;          // BigInt(terms.conditionHash) mod p
    signal input nullifierHash;    // the payment proof's nullifier hash (receipt id)
    signal input issuersRoot;      // LeanIMT root of the trusted issuers' leaves
    signal input today;            // YYYYMMDD, chosen by the verifier
    signal input minAge;           // years, 0 = no age rule
    signal input countryMode;      // 0 none, 1 allow-list, 2 block-list
    signal input countryMask[8];   // 1024-bit country set, 128 bits per word
    signal input requiredFlags;    // every bit set here must be set in the credential
    signal input serviceId;        // the verifier's service (pseudonym scope)
    signal input epoch;            // the verifier's epoch (pseudonym scope)

    // ================================================================ private inputs
    // The issuer's key and its signature over the credential.
    signal input Ax;
    signal input Ay;
    signal input R8x;
    signal input R8y;
    signal input S;
    // The holder's secret scalar (H = hk*Base8 is in the signed message).
    signal input hk;
    // The claims and the serial.
    signal input birthDate;
    signal input country;
    signal input expiresAt;
    signal input flags;
    signal input serial;
    // Non-revocation: the issuer's revocation root and an SMT exclusion path of serial.
    signal input revocationRoot;
    signal input revSiblings[SMT_LEVELS];
    signal input revOldKey;
    signal input revOldValue;
    signal input revIsOld0;
    // Membership of the issuer's leaf in the trusted set (see lean_merkle_path.circom).
    signal input issuerIndex;
    signal input issuerHasSibling[ISSUER_DEPTH];
    signal input issuerSiblings[ISSUER_DEPTH];
    // The paying note (as in payment.circom), to recompute its nullifier.
    signal input spendingKey;
    signal input noteValue;
    signal input noteBlinding;
    signal input treeIndex;
    signal input leafIndex;

    // ================================================================ outputs
    signal output pseudonym;

    // 1. The holder key: H = hk*Base8 (circomlib's BabyPbk, inlined to reuse its bits),
    //    with hk canonical (hk < subgroup order l). BabyPbk alone takes any hk < 2^253,
    //    and hk and hk + k*l give the same H, so without the bound one holder would have
    //    up to 6 secrets, hence up to 6 pseudonyms per service and epoch.
    var BASE8[2] = [
        5299619240641551281634865583518297030282874472190772894086521144482721001553,
        16950150798460657717958625567821834550301663161624707787222815936182638968203
    ];
    signal hkBits[253] <== Num2Bits(253)(hk);
    component hkMul = EscalarMulFix(253, BASE8);
    hkMul.e <== hkBits;
    component hkBound = CompConstant(2736030358979909402780800718157159386076813972158567259200215660948447373040);
    for (var i = 0; i < 253; i++) hkBound.in[i] <== hkBits[i];
    hkBound.in[253] <== 0;
    hkBound.out === 0;             // hk <= l - 1
    signal Hx <== hkMul.out[0];
    signal Hy <== hkMul.out[1];

    //    The signed message, and the issuer's signature on it (circomlib's verifier also
    //    checks S < l and that A is not of small order).
    signal message <== AttributeCredentialMessage()(Hx, Hy, birthDate, country, expiresAt, flags, serial);
    EdDSAPoseidonVerifier()(1, Ax, Ay, S, R8x, R8y, message);

    // 2. The issuer is trusted: its leaf (key and current revocation root) is in the
    //    trusted set at issuerIndex (< 2^ISSUER_DEPTH, enforced inside). The key, the
    //    index and the root stay private, so the verifier does not learn which issuer.
    signal leaf <== IssuerLeaf()(Ax, Ay, revocationRoot);
    signal computedIssuersRoot <== LeanMerklePath(ISSUER_DEPTH)(leaf, issuerIndex, issuerHasSibling, issuerSiblings);
    computedIssuersRoot === issuersRoot;

    // 3. Not revoked: serial is absent from the issuer's revocation tree (SMT exclusion,
    //    fnc = 1; leaf Poseidon(key, value, 1), node Poseidon(l, r), as @iden3/js-merkletree).
    //    serial < 2^REV_DEPTH: the serial of the signed message is the key proven absent
    //    (SMTVerifier decomposes it strictly, so no other field element aliases it), and
    //    the bound keeps every serial storable in the tree (see SMT_LEVELS).
    _ = Num2Bits(REV_DEPTH)(serial);
    //    isOld0 selects between "empty slot" and "another leaf" and must be a bit.
    revIsOld0 * (revIsOld0 - 1) === 0;
    SMTVerifier(SMT_LEVELS)(1, revocationRoot, revSiblings, revOldKey, revOldValue, revIsOld0, serial, 0, 1);

    // 4. Range checks, so the comparisons below are sound (LessThan(n) needs inputs below
    //    2^n) and each public rule value has one encoding.
    _ = Num2Bits(32)(birthDate);
    _ = Num2Bits(32)(today);
    _ = Num2Bits(32)(expiresAt);
    _ = Num2Bits(8)(minAge);
    signal countryBits[10] <== Num2Bits(10)(country);
    signal flagBits[64] <== Num2Bits(64)(flags);
    signal requiredBits[64] <== Num2Bits(64)(requiredFlags);
    //    The countryMask words are public inputs the verifier computes itself; the one
    //    word the rule reads is decomposed into 128 bits in step 6 (which fails for a
    //    word >= 2^128), so range-checking the other seven (~900 constraints) would only
    //    guard the verifier against its own input and would push the circuit past 2^14.
    //    countryMode is 0, 1 or 2.
    signal modeTimesMinusOne <== countryMode * (countryMode - 1);
    modeTimesMinusOne * (countryMode - 2) === 0;

    // 5. Age: birthDate + minAge*10000 <= today, i.e. the holder's minAge-th birthday (in
    //    YYYYMMDD arithmetic) is today or earlier. The left side is below 2^32 + 2^22, so
    //    the comparison takes 33 bits. Expiry: today <= expiresAt.
    signal ageOk <== LessEqThan(33)([birthDate + minAge * 10000, today]);
    ageOk === 1;
    signal notExpired <== LessEqThan(32)([today, expiresAt]);
    notExpired === 1;

    // 6. Country: the mask's bit at the country code. Select the word (code div 128, the
    //    top 3 bits) with a one-hot decoder, decompose it, and select bit (code mod 128,
    //    the low 7 bits) with a second decoder.
    signal wordIndex <== countryBits[7] + 2 * countryBits[8] + 4 * countryBits[9];
    component wordSel = Decoder(8);
    wordSel.inp <== wordIndex;
    wordSel.success === 1;         // exactly one word selected
    signal wordTerms[8];
    var word = 0;
    for (var w = 0; w < 8; w++) {
        wordTerms[w] <== wordSel.out[w] * countryMask[w];
        word += wordTerms[w];
    }
    signal wordBits[128] <== Num2Bits(128)(word);
    var bitIndex = 0;
    for (var b = 0; b < 7; b++) bitIndex += countryBits[b] * (1 << b);
    component bitSel = Decoder(128);
    bitSel.inp <== bitIndex;
    bitSel.success === 1;          // exactly one bit selected
    signal bitTerms[128];
    var countryBit = 0;
    for (var b = 0; b < 128; b++) {
        bitTerms[b] <== bitSel.out[b] * wordBits[b];
        countryBit += bitTerms[b];
    }
    //    Mode indicators (countryMode in {0,1,2}): isAllow = m(2-m) is 1 only at m = 1,
    //    isBlock = m(m-1)/2 is 1 only at m = 2. Allow-list: the bit must be 1; block-list:
    //    the bit must be 0; mode 0: no constraint.
    signal isAllow <== countryMode * (2 - countryMode);
    signal isBlock <== modeTimesMinusOne / 2;
    isAllow * (1 - countryBit) === 0;
    isBlock * countryBit === 0;

    // 7. Flags: every required bit is set, (flags & requiredFlags) == requiredFlags.
    for (var f = 0; f < 64; f++) {
        requiredBits[f] * (1 - flagBits[f]) === 0;
    }

    // 8. Binding to the payment: recompute the paying note's nullifier exactly as
    //    payment.circom does (its step 6), from the note's opening, its owner's spending key
    //    and its position. Only the payer (who knows the spending key) can produce the
    //    public nullifierHash, so the proof cannot ride on somebody else's payment.
    component keys = OwnerKeys();
    keys.spendingKey <== spendingKey;
    signal noteCommitment <== NoteCommitment()(noteValue, keys.ownerKey, noteBlinding);
    signal computedNullifier <== Poseidon(4)([keys.nullifyingKey, noteCommitment, treeIndex, leafIndex]);
    computedNullifier === nullifierHash;

    //    The sharing deterrent: one pseudonym per (holder, service, epoch).
    pseudonym <== Pseudonym()(hk, serviceId, epoch);

    //    Keep context in the constraint system (see payment.circom step 9): a proof
    //    verifies for exactly one context, so a copied proof cannot serve other terms.
    signal contextSquare <== context * context;
}
