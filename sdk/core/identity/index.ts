/**
 * Verify & Pay identity primitives (issue #21): attribute credentials, holder keys,
 * revocation trees, trusted-issuer sets and rules. Browser-safe.
 */
export * from "./constants.js";
export * from "./credential.js";
export * from "./revocation.js";
export * from "./issuers.js";
export * from "./rule.js";
