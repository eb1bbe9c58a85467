// Bundles the browser payer for the paywall page with esbuild: dist/paywall/paywall.js (the
// page's script) and dist/paywall/prover-worker.js (its Web Worker), both ES modules,
// minified, for browsers only (a Node module in their graph fails the build). Writes
// dist/paywall/sizes.json (bytes and gzip bytes each entry loads) for the bench and the README.
// Run by `npm run build:sdk` and `prepare`; the browser test runs it too (it is ~1 s).
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

import { build } from "esbuild";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const outdir = path.join(root, "dist", "paywall");

export async function buildBrowser({ quiet = false } = {}) {
  rmSync(outdir, { recursive: true, force: true }); // no stale chunks from an earlier build
  mkdirSync(outdir, { recursive: true });
  const result = await build({
    entryPoints: {
      paywall: path.join(root, "sdk/browser/paywall-entry.ts"),
      "prover-worker": path.join(root, "sdk/browser/prover-worker.ts"),
    },
    outdir,
    bundle: true,
    format: "esm",
    // snarkjs, which the page only needs in its worker (the wallet proves there), is a
    // dynamic import in core/prover.ts: a chunk of its own that the page never loads.
    splitting: true,
    chunkNames: "chunk-[hash]",
    platform: "browser",
    target: "es2022",
    minify: true,
    sourcemap: false,
    legalComments: "none",
    metafile: true,
    logLevel: quiet ? "error" : "warning",
  });
  // What each entry makes the browser load before it runs: its file and the chunks it
  // imports statically, transitively (dynamic imports, loaded only if used, not counted).
  const outputs = result.metafile.outputs;
  const loaded = (file) => {
    const seen = new Set();
    const visit = (f) => {
      if (seen.has(f)) return;
      seen.add(f);
      for (const imp of outputs[f]?.imports ?? []) if (imp.kind === "import-statement") visit(imp.path);
    };
    visit(file);
    return [...seen];
  };
  const rel = (f) => path.relative(root, path.join(outdir, f));
  const sizes = {};
  for (const f of ["paywall.js", "prover-worker.js"]) {
    const files = loaded(rel(f));
    const all = Buffer.concat(files.map((x) => readFileSync(path.join(root, x))));
    sizes[f] = { bytes: all.length, gzipBytes: gzipSync(all).length, files: files.length };
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
