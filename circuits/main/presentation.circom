pragma circom 2.2.0;

include "../presentation.circom";

// Production instance of the session-credential presentation circuit.
//
// TIER_BITS = 16 (tiers 0..65535), TIME_BITS = 40 (unix seconds up to the year 36812),
// COUNT_BITS = 32 (up to 2^32 - 1 presentations per credential).
//
// Public signals, in the order snarkjs lays them out (outputs first):
//   [originToken, serviceId, requiredTier, now, originId, context]
component main {public [serviceId, requiredTier, now, originId, context]} = Presentation(16, 40, 32);
