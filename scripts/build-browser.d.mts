/** Sizes of the built bundles, bytes and gzip bytes (dist/paywall/sizes.json). */
export type BundleSizes = Record<
  "paywall.js" | "prover-worker.js",
  { bytes: number; gzipBytes: number; files: number }
>;
/** Bundles dist/paywall/{paywall,prover-worker}.js with esbuild and returns their sizes. */
export function buildBrowser(opts?: { quiet?: boolean }): Promise<BundleSizes>;
