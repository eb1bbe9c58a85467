/** Shared, browser-safe core of the 402zk SDK. */
export * from "./abi.js";
export * from "./context.js";
export * from "./deployment.js";
export * from "./eip712.js";
export * from "./errors.js";
export * from "./field.js";
export * from "./keys.js";
export * from "./memo.js";
export * from "./note.js";
export * from "./poseidon.js";
export * from "./prover.js";
export * from "./tree.js";
export * from "./wire.js";
export * from "./address.js";
export * from "./verifier.js";
export * from "./commit.js";
export * from "./eddsa.js";
