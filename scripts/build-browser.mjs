// Bundles the browser payer for the paywall page with esbuild: dist/paywall/paywall.js (the
// page's script) and dist/paywall/prover-worker.js (its Web Worker), both ES modules,
// minified, for browsers only (a Node module in their graph fails the build). Writes
// dist/paywall/sizes.json (bytes and gzip bytes of each) for the bench and the README.
// Run by `npm run build:sdk` and `prepare`; the browser test runs it too (it is ~1 s).
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

import { build } from "esbuild";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const outdir = path.join(root, "dist", "paywall");

export async function buildBrowser({ quiet = false } = {}) {
  mkdirSync(outdir, { recursive: true });
  await build({
    entryPoints: {
      paywall: path.join(root, "sdk/browser/paywall-entry.ts"),
      "prover-worker": path.join(root, "sdk/browser/prover-worker.ts"),
    },
    outdir,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    sourcemap: false,
    legalComments: "none",
    logLevel: quiet ? "error" : "warning",
  });
  const sizes = {};
  for (const f of ["paywall.js", "prover-worker.js"]) {
    const bytes = readFileSync(path.join(outdir, f));
    sizes[f] = { bytes: bytes.length, gzipBytes: gzipSync(bytes).length };
  }
  writeFileSync(path.join(outdir, "sizes.json"), JSON.stringify(sizes, null, 2) + "\n");
  if (!quiet) {
    for (const [f, s] of Object.entries(sizes)) {
      console.log(
        `dist/paywall/${f}: ${(s.bytes / 1024).toFixed(0)} KiB (${(s.gzipBytes / 1024).toFixed(0)} KiB gzip)`,
      );
    }
  }
  return sizes;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildBrowser();
