pragma circom 2.2.0;

include "../attribute.circom";

// Attribute v1 ("attribute-v1"): an identity credential's rule proof bound to a payment
// (Verify & Pay). REV_DEPTH = 20 (serials below 2^20, a 21-level revocation SMT),
// ISSUER_DEPTH = 4 (up to 16 trusted issuers).
// Public signals (snarkjs order: outputs, then public inputs):
// [pseudonym, context, nullifierHash, issuersRoot, today, minAge, countryMode,
//  countryMask[0..7], requiredFlags, serviceId, epoch]
component main {public [context, nullifierHash, issuersRoot, today, minAge, countryMode, countryMask, requiredFlags, serviceId, epoch]} = Attribute(20, 4);
