/**
 * 402zk for pages: a private payer that runs in a browser tab.
 *
 * - `seed.ts`: the 402zk seed from an EIP-1193 wallet's signature (no private key in the page);
 * - `idb.ts`: notes, tree and session credentials in IndexedDB, saved as durably as the Node stores;
 * - `worker-prover.ts` / `prover-worker.ts`: proofs in a Web Worker; `artifact-cache.ts`:
 *   circuit artifacts fetched once, cached, and checked against the route's `vkeySha256`;
 * - `paywall-app.ts`: the paywall page that a 402zk route serves to browsers
 *   (`paywall` of `createZkGate` in 402zk/server), built on all of the above.
 *
 * Nothing here imports a Node module: the packaging test checks it, and `npm run build:sdk`
 * bundles `paywall.js` and `prover-worker.js` with esbuild for the gate to serve.
 */
export * from "./artifact-cache.js";
export * from "./idb.js";
export * from "./seed.js";
export * from "./worker-prover.js";
export { mountPaywall } from "./paywall-app.js";
export type { PaywallPageConfig } from "../core/paywall.js";
export type { WorkerMessage, WorkerRequest } from "./worker-protocol.js";
