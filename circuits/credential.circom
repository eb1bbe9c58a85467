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

// Attribute credentials (Verify & Pay, issue #21): the hashes the attribute circuit shares
// =========================================================================================
// An attribute credential is an identity issuer's EdDSA-Poseidon signature (BabyJubJub)
// over
//
//     message = Poseidon8(ATTR_CREDENTIAL_DOMAIN, Hx, Hy, birthDate, country, expiresAt,
//                         flags, serial)
//
// where H = hk*Base8 is the holder's public key (the holder proves knowledge of hk), the
// claims are integers (dates YYYYMMDD, ISO 3166-1 numeric country, a 64-bit flag field)
// and serial is the issuer's credential number (the key of its revocation tree). Issuers
// are named by issuerHash = Poseidon3(ATTR_ISSUER_DOMAIN, Ax, Ay) off circuit, and by
// issuerLeaf = Poseidon4(ATTR_ISSUER_DOMAIN, Ax, Ay, revocationRoot) in the trusted-issuer
// tree, so a leaf pins one key AND its current revocation state.
//
// Domain separation: each hash starts with its own constant (the ASCII bytes of
// "402zk.attr-issuer.v1", "402zk.attr-credential.v1", "402zk.attr-pseudonym.v1" read as
// big-endian integers), distinct from the session-credential constants above, so no
// session-credential hash, note hash or tree node equals an attribute-credential hash of
// the same arity. The same constants are in sdk/core/identity/constants.ts (with
// "402zk.attr-pop.v1", used off circuit only); a test checks they agree.

// (Written over three lines each: test/circuits/presentation-circuit.test.ts reads the
// session domains above with a one-line pattern and expects exactly those four.)
function ATTR_ISSUER_DOMAIN() {
    return 297942353123582695362457369322004459631120643633;
}
function ATTR_CREDENTIAL_DOMAIN() {
    return 1279652662759071122933285266956507381944434662798342911537;
}
function ATTR_PSEUDONYM_DOMAIN() {
    return 4998643213902621573958145578073371327740415030001038897;
}

// issuerHash = Poseidon3(ATTR_ISSUER_DOMAIN, Ax, Ay): an issuer key as one field element.
template IssuerHash() {
    signal input Ax;
    signal input Ay;
    signal output out;
    out <== Poseidon(3)([ATTR_ISSUER_DOMAIN(), Ax, Ay]);
}

// The message an identity issuer signs (see the banner above).
template AttributeCredentialMessage() {
    signal input Hx;
    signal input Hy;
    signal input birthDate;
    signal input country;
    signal input expiresAt;
    signal input flags;
    signal input serial;
    signal output out;
    out <== Poseidon(8)([ATTR_CREDENTIAL_DOMAIN(), Hx, Hy, birthDate, country, expiresAt, flags, serial]);
}

// issuerLeaf = Poseidon4(ATTR_ISSUER_DOMAIN, Ax, Ay, revocationRoot): a trusted issuer's
// leaf. Binding the revocation root into the leaf lets a proof use the issuer's current
// revocation tree while keeping both the issuer and its root private.
template IssuerLeaf() {
    signal input Ax;
    signal input Ay;
    signal input revocationRoot;
    signal output out;
    out <== Poseidon(4)([ATTR_ISSUER_DOMAIN(), Ax, Ay, revocationRoot]);
}

// pseudonym = Poseidon4(ATTR_PSEUDONYM_DOMAIN, hk, serviceId, epoch): one value per
// (holder, service, epoch), unlinkable across services and epochs without hk.
template Pseudonym() {
    signal input hk;
    signal input serviceId;
    signal input epoch;
    signal output out;
    out <== Poseidon(4)([ATTR_PSEUDONYM_DOMAIN(), hk, serviceId, epoch]);
}
