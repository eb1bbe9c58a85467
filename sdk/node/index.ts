/** Node-only helpers: crash-safe file store, committed artifacts, deployment records. */
export * from "./artifacts.js";
export * from "./deployments.js";
export * from "./file-store.js";
export * from "./dir-lock.js";
export * from "./worker-verifier.js";
export * from "./sync-progress.js";
export * from "./session-store.js";
export * from "./caller.js";
export * from "./x25519.js";
export * from "./identity-store.js";
