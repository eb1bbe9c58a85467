pragma circom 2.2.0;

include "circomlib/circuits/bitify.circom";
include "circomlib/circuits/comparators.circom";
include "circomlib/circuits/babyjub.circom";
include "circomlib/circuits/eddsaposeidon.circom";
include "./credential.circom";

// Presentation
// ============
// Proves, without revealing which credential it is, that the prover holds a session
// credential (see credential.circom) that
//   - was signed by the issuer key that `serviceId` names;
//   - has a tier of at least `requiredTier`;
//   - was issued no later than `now` and expires after it;
// and publishes `originToken`, the one-time tag of presentation number `index` at
// `originId`, with index < maxPresentations. The server refuses a token it has already
// seen, so a credential yields at most maxPresentations accepted presentations per
// origin.
//
// What the public signals reveal: the service, the route's tier bound, the coarse time
// the client chose (the server accepts only its current time step), the origin, the
// client's context, and a pseudo-random token. The credential's own tier, issue and
// expiry times, presentation limit, holder commitment and signature stay private, so
// two presentations of one credential share nothing the issuer saw at issuance and
// nothing with each other beyond those public values.
//
// TIER_BITS, TIME_BITS, COUNT_BITS: bit widths of tiers, unix times in seconds and
// presentation counts. Every comparison below is done on range-checked values: a
// circomlib comparator over n bits is only sound for inputs below 2^n.
template Presentation(TIER_BITS, TIME_BITS, COUNT_BITS) {
    assert(TIER_BITS <= 64 && TIME_BITS <= 64 && COUNT_BITS <= 64);

    // ================================================================ public inputs
    signal input serviceId;       // Poseidon3(SERVICE_DOMAIN, Ax, Ay)
    signal input requiredTier;    // the route's minimum tier
    signal input now;             // coarse unix time chosen by the client, checked by the server
    signal input originId;        // the origin whose replay store sees originToken
    signal input context;         // client-chosen binding (a request hash, or 0)

    // ================================================================ private inputs
    // The issuer's key and its signature over the credential message.
    signal input Ax;
    signal input Ay;
    signal input R8x;
    signal input R8y;
    signal input S;
    // The credential's terms, as signed.
    signal input tier;
    signal input issuedAt;
    signal input expiresAt;
    signal input maxPresentations;
    // The holder's secrets, as committed in the signed message.
    signal input nullifierSeed;
    signal input blinding;
    // Which presentation this is, 0-based.
    signal input index;

    // ================================================================ outputs
    signal output originToken;

    // 1. The service id names this issuer key. The server compares serviceId with its
    //    own; since the key is bound here, a signature by any other key cannot pass.
    signal computedServiceId <== ServiceId()(Ax, Ay);
    computedServiceId === serviceId;

    // 2. Rebuild the signed message from the holder's secrets and the private terms.
    signal holder <== HolderCommitment()(nullifierSeed, blinding);
    signal message <== CredentialMessage()(serviceId, tier, issuedAt, expiresAt, maxPresentations, holder);

    // 3. The issuer's signature on it. circomlib's verifier checks S < the subgroup
    //    order, computes h = Poseidon5(R8, A, message) in full (Num2Bits_strict) and
    //    enforces S*B8 == R8 + 8*h*A. It does not check that R8 is a curve point; the
    //    explicit check keeps every signal of the signature on the curve (a point off
    //    the curve gives no forgery, since R8 is hashed before h is known, but the
    //    proof should not accept inputs outside the scheme at all).
    BabyCheck()(R8x, R8y);
    EdDSAPoseidonVerifier()(1, Ax, Ay, S, R8x, R8y, message);

    // 4. Range checks. The terms are signed by the issuer, but the circuit must not rely
    //    on an honest issuer for the soundness of the comparisons below, and the public
    //    inputs are chosen by the prover.
    _ = Num2Bits(TIER_BITS)(tier);
    _ = Num2Bits(TIER_BITS)(requiredTier);
    _ = Num2Bits(TIME_BITS)(issuedAt);
    _ = Num2Bits(TIME_BITS)(expiresAt);
    _ = Num2Bits(TIME_BITS)(now);
    _ = Num2Bits(COUNT_BITS)(maxPresentations);
    _ = Num2Bits(COUNT_BITS)(index);

    // 5. Tier: tier >= requiredTier.
    signal tierOk <== GreaterEqThan(TIER_BITS)([tier, requiredTier]);
    tierOk === 1;

    // 6. Validity window: issuedAt <= now < expiresAt.
    signal started <== LessEqThan(TIME_BITS)([issuedAt, now]);
    started === 1;
    signal notExpired <== LessThan(TIME_BITS)([now, expiresAt]);
    notExpired === 1;

    // 7. Presentation count: index < maxPresentations. The token below is a function of
    //    the index, so a credential has exactly maxPresentations distinct tokens per
    //    origin (index is range-checked, so no index >= 2^COUNT_BITS aliases a small one).
    signal indexOk <== LessThan(COUNT_BITS)([index, maxPresentations]);
    indexOk === 1;

    // 8. The one-time token.
    originToken <== OriginToken()(nullifierSeed, originId, index);

    // 9. Bind the context: a public input in no constraint could be dropped by an
    //    optimiser; this quadratic constraint keeps it in the system, so a proof verifies
    //    for exactly one context.
    signal contextSquare <== context * context;
}
