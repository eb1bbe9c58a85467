/** 402zk facilitator: verifies and settles zk-exact payments for `x402Facilitator`. */
export * from "./scheme.js";
