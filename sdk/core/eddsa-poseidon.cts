// @zk-kit/eddsa-poseidon 1.1's ES module build cannot load in Node: it imports named
// exports from `blakejs`, a CommonJS package whose exports Node cannot see statically
// ("does not provide an export named 'blake2bFinal'"). Its CommonJS build loads fine.
// This file is CommonJS on purpose (.cts compiles to .cjs), so `require` picks the
// package's CommonJS build and Node finds these three names statically when eddsa.ts
// imports them. esbuild (the browser bundle) converts either build itself.
export { derivePublicKey, deriveSecretScalar, signMessage, verifySignature } from "@zk-kit/eddsa-poseidon";
