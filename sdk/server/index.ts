/** 402zk for API owners: challenges, receipts, replay stores and the zk-exact server scheme (Node). */
export * from "./admission.js";
export * from "./challenge.js";
export * from "./resource-server.js";
export * from "./remote.js";
export * from "../core/receipts.js";
export * from "../core/replay.js";
export * from "./scheme.js";
export * from "../core/work-queue.js";
export { ZkPayError, isZkPayError, ZkReason } from "../core/errors.js";
export * from "./gate.js";
