pragma circom 2.2.0;

include "circomlib/circuits/poseidon.circom";

// Session credentials: the hashes every credential circuit shares
// ================================================================
// A session credential is a service's EdDSA-Poseidon signature (BabyJubJub) over
//
//     message = Poseidon7(CREDENTIAL_DOMAIN, serviceId, tier, issuedAt, expiresAt,
//                         maxPresentations, holderCommitment)
//
// where holderCommitment = Poseidon3(HOLDER_DOMAIN, nullifierSeed, blinding) hides the
// holder's secrets from the issuer (it sees only this hash at issuance), and
// serviceId = Poseidon3(SERVICE_DOMAIN, Ax, Ay) names the service by its issuer key, so
// a public service id pins exactly one key.
//
// Domain separation from payment notes: every hash here starts with its own domain
// constant (the ASCII bytes of "402zk.service.v1", "402zk.credential.v1",
// "402zk.credential-secret.v1", "402zk.origin-token.v1" read as big-endian integers) and
// has an arity no note hash uses (notes use Poseidon1 and Poseidon2 only), so no note
// commitment, nullifier hash or tree node can equal any of these values. A note can
// never be presented as a credential (a presentation needs the issuer's signature, not
// tree membership) and a credential can never be spent as a note (it is in no tree).
// The same constants are in sdk/session/credential.ts; a test checks they agree.

function SERVICE_DOMAIN() { return 69370109849512358023038587125954934321; }
function CREDENTIAL_DOMAIN() { return 1163837316888995061578755140753311849417438769; }
function HOLDER_DOMAIN() { return 83863316906578496484624460757690083338868769017479642873755185; }
function ORIGIN_TOKEN_DOMAIN() { return 76273242399637242663505445261821465317561556956721; }

// serviceId = Poseidon3(SERVICE_DOMAIN, Ax, Ay).
template ServiceId() {
    signal input Ax;
    signal input Ay;
    signal output out;
    out <== Poseidon(3)([SERVICE_DOMAIN(), Ax, Ay]);
}

// holderCommitment = Poseidon3(HOLDER_DOMAIN, nullifierSeed, blinding). Without the
// blinding, an issuer who guessed a low-entropy seed could recognise it; both are
// 254-bit values derived from the wallet seed in practice.
template HolderCommitment() {
    signal input nullifierSeed;
    signal input blinding;
    signal output out;
    out <== Poseidon(3)([HOLDER_DOMAIN(), nullifierSeed, blinding]);
}

// The message the issuer signs (see the banner).
template CredentialMessage() {
    signal input serviceId;
    signal input tier;
    signal input issuedAt;
    signal input expiresAt;
    signal input maxPresentations;
    signal input holderCommitment;
    signal output out;
    out <== Poseidon(7)([CREDENTIAL_DOMAIN(), serviceId, tier, issuedAt, expiresAt, maxPresentations, holderCommitment]);
}

// originToken = Poseidon4(ORIGIN_TOKEN_DOMAIN, nullifierSeed, originId, index): one
// value per (credential, origin, presentation index). The server refuses a token it has
// seen, so index < maxPresentations (proven by the caller) bounds how often one
// credential can be presented at one origin. Without nullifierSeed the tokens of two
// presentations are unrelated pseudo-random values.
template OriginToken() {
    signal input nullifierSeed;
    signal input originId;
    signal input index;
    signal output out;
    out <== Poseidon(4)([ORIGIN_TOKEN_DOMAIN(), nullifierSeed, originId, index]);
}
