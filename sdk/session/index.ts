/**
 * Session credentials: pay once, redeem many requests with unlinkable presentations.
 * Shared (credential hashes, wire format, proving), client ({@link SessionClient}) and
 * server ({@link SessionService}; the Express adapter is `zkSessionMiddleware` in
 * 402zk/express). Browser-safe except for the Node stores in 402zk/node.
 */
export * from "./credential.js";
export * from "./context.js";
export * from "./wire.js";
export * from "./prove.js";
export * from "./store.js";
export * from "./client.js";
export * from "./service.js";
export * from "./zk-credential.js";
