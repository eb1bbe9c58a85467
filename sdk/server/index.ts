/** 402zk for API owners: challenges, receipts, replay stores and the zk-exact server scheme (Node). */
export * from "./challenge.js";
export * from "./paywall.js";
export * from "./receipts.js";
export * from "./replay.js";
export * from "./scheme.js";
export { ZkPayError, isZkPayError, ZkReason } from "../core/errors.js";
