/** 402zk for payers: a private wallet and the zk-exact x402 client scheme (browser-safe). */
export * from "./fetch.js";
export * from "./relay.js";
export * from "./scheme.js";
export * from "./store.js";
export * from "./wallet.js";
export { ZkPayError, isZkPayError, ZkReason } from "../core/errors.js";
