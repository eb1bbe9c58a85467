/** 402zk for API owners: challenges, receipts, replay stores, shielded payees and the zk-exact / zk-shielded server schemes (Node). */
export * from "./admission.js";
export * from "./challenge.js";
export * from "./resource-server.js";
export * from "./remote.js";
export * from "../core/receipts.js";
export * from "../core/replay.js";
export * from "../core/shielded-payee.js";
export * from "./scheme.js";
export * from "../core/work-queue.js";
export { ZkPayError, isZkPayError, ZkReason } from "../core/errors.js";
export * from "./gate.js";
export * from "./paywall.js";
export * from "./proof-before-pay.js";
export * from "./attributes.js";
export {
  declareZkAttributeExtension,
  ZK_ATTRIBUTE_EXTENSION,
  type AttributeRuleWire,
  type ZkAttributeInfo,
} from "../core/identity/extension.js";
