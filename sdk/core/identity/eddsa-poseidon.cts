// @zk-kit/eddsa-poseidon 1.1's ES module build cannot load in Node: it imports named
// exports from `blakejs`, a CommonJS package whose exports Node cannot see statically.
// This file is CommonJS on purpose (.cts compiles to .cjs), so `require` picks the
// package's CommonJS build (as sdk/core/eddsa-poseidon.cts does for eddsa.ts);
// esbuild (the browser bundle) converts either build itself.
export { derivePublicKey, deriveSecretScalar, signMessage } from "@zk-kit/eddsa-poseidon";
