/**
 * Identity credentials for Verify & Pay (`402zk/identity`): the primitives (credential
 * signing and JSON, revocation trees, trusted-issuer sets, rules; also in 402zk/core),
 * the issuer ({@link AttributeIssuer}, Node: keeps its key and books in a directory),
 * the holder's request and check of a credential ({@link credentialRequest},
 * {@link acceptCredential}) and where a holder keeps its credentials
 * ({@link MemoryAttributeCredentialStore}, {@link FileAttributeCredentialStore}).
 * Node only as a whole (the issuer and the file store use node:fs); holder.ts and store.ts
 * alone are browser-safe.
 */
export * from "../core/identity/index.js";
export * from "./holder.js";
export * from "./store.js";
export * from "./issuer.js";
export * from "../node/identity-store.js";
