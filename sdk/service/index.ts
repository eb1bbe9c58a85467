/** 402zk facilitator and relayer service: x402 /verify, /settle, /supported over HTTP, durable in SQLite (Node). */
export * from "./config.js";
export * from "./discovery.js";
export * from "./fees.js";
export * from "./http.js";
export * from "./keys.js";
export * from "./logger.js";
export * from "./metrics.js";
export * from "./rate-limit.js";
export * from "./relayer.js";
export * from "./run.js";
export * from "./service.js";
export * from "./settler.js";
export * from "./shared.js";
export * from "./store.js";
export { ZkPayError, isZkPayError, ZkReason } from "../core/errors.js";
