/**
 * Benchmark section: the browser payer (issue #22). Proves payments in headless Chromium
 * with the real prover worker (dist/paywall/prover-worker.js, a module Web Worker, snarkjs
 * in the page's thread pool) and measures the bundles the paywall page loads. Runs in
 * `npm run bench` right after the verify section, so `browserProveMs` and Node's
 * `proveMsMedian` come from the same run; alone:
 *
 *   npm run bench -- --only=browser --no-build     (or: npx tsx bench/browser.ts)
 *
 * What is measured, and how it compares with Node's figure:
 * - The inputs are the verify section's (`benchPaymentWitnesses`): the warm-up proves
 *   payment 0 (Node's cold proof), the timed runs payments 1..N (Node's first N).
 * - `browserProveMs` is the median of witness + Groth16 prove as the worker times them
 *   (`timings` of its "done" message), the same span as Node's `proveMsMedian`
 *   (`proveGroth16`: wtns.calculate + groth16.prove on bytes already loaded).
 * - Artifacts come through the worker's own path, `cachedArtifact` (Cache API, sha256
 *   checked): the warm-up fetches them over HTTP from a static server on 127.0.0.1 and
 *   caches them; the timed runs read them back from the Cache API (the server counts the
 *   requests: none may reach it after the warm-up) and hash them again, which the
 *   round-trip figure includes and `browserProveMs` does not.
 * - Every proof goes through `provePayment` with the worker as its `prove` backend, so the
 *   SDK checks the circuit's outputs against its reference implementation; each proof is
 *   then verified in Node (Groth16Verifier) against the public signals computed here, the
 *   last one with snarkjs too. A wrong proof fails the section.
 */
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { pathToFileURL } from "node:url";

import type { Browser, Page } from "puppeteer-core";

import { preloadArtifacts, type Groth16Backend, type Groth16BackendResult } from "../sdk/core/circuits/artifacts.js";
import { provePayment, verifyPaymentProofSnarkjs, type PaymentProofResult } from "../sdk/core/circuits/payment.js";
import { artifactFileNames } from "../sdk/core/circuits/registry.js";
import { shutdownProver } from "../sdk/core/prover.js";
import { Groth16Verifier } from "../sdk/core/verifier.js";
import { artifactsOf, verificationKeyOf } from "../sdk/node/artifacts.js";
import type { WorkerRequest } from "../sdk/browser/worker-protocol.js";
import { buildBrowser } from "../scripts/build-browser.mjs";
import { ARTIFACTS_DIR, ROOT } from "../scripts/lib/paths.js";
import { launchChromium } from "../test/helpers/browser.js";
import { median, round, table } from "./util.js";
import { benchPaymentWitnesses } from "./verify.js";

/** Bytes and gzip bytes a bundle makes the browser load (its file and its static chunks). */
export interface BundleBytes {
  bytes: number;
  gzipBytes: number;
}

/** Node's proving figures the browser's are compared with. */
export interface NodeReference {
  ms: number;
  witnessMs: number;
  coldMs?: number;
  source: string;
}

export interface BenchBrowserResult {
  /** Median witness + Groth16 prove ms in the browser's prover worker (timed runs). */
  browserProveMs: number;
  /** Median witness ms of those runs (part of browserProveMs). */
  browserWitnessMsMedian: number;
  /** Median Groth16 prove ms of those runs (the rest of browserProveMs). */
  browserGroth16MsMedian: number;
  /**
   * Median page round trip of a timed run: postMessage to "done", with the artifacts read
   * back from the Cache API and hashed (~8.5 MB) on top of witness + prove.
   */
  browserRoundTripMsMedian: number;
  /** The warm-up proof's round trip: artifacts fetched over HTTP, hashed, cached; curve setup. */
  browserFirstProofMs: number;
  /** Timed runs (after 1 warm-up). */
  browserProveRuns: number;
  /** Artifact requests the static server answered: after the warm-up and during the timed runs. */
  browserArtifactRequests: { warmUp: number; timed: number };
  /** browserProveMs / Node's figure (`browserNodeReference` says which). */
  browserVsNodeProveRatio: number;
  /**
   * Node's figures compared with (witness + prove median, its witness part, its first proof
   * when known), and where they come from.
   */
  browserNodeReference: NodeReference;
  /** Chromium's version string. */
  browserVersion: string;
  /** The esbuild bundles of the paywall page (`buildBrowser()`), what each entry loads. */
  browserBundleBytes: { "paywall.js": BundleBytes; "prover-worker.js": BundleBytes };
}

/** The page: starts the prover worker and proves what Node hands it, one request at a time. */
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>402zk browser prover bench</title>
<script type="module">
  const worker = new Worker("/paywall/prover-worker.js", { type: "module" });
  const waiting = new Map();
  let nextId = 1;
  let failed;
  worker.addEventListener("error", (ev) => {
    failed = "the prover worker failed: " + (ev.message || "could not load");
    for (const w of waiting.values()) w.reject(new Error(failed));
    waiting.clear();
  });
  worker.addEventListener("message", (ev) => {
    const m = ev.data;
    const w = waiting.get(m.id);
    if (!w || m.type === "progress") return;
    waiting.delete(m.id);
    if (m.type === "done") w.resolve({ result: m.result, roundTripMs: performance.now() - w.t0 });
    else w.reject(new Error(m.reason + ": " + m.message));
  });
  window.__benchProve = (req) =>
    new Promise((resolve, reject) => {
      if (failed) return reject(new Error(failed));
      const id = nextId++;
      waiting.set(id, { resolve, reject, t0: performance.now() });
      worker.postMessage({ ...req, id });
    });
  window.__benchReady = true;
</script>
`;

/** What the page's `__benchProve` resolves with. */
interface PageProof {
  result: Groth16BackendResult;
  roundTripMs: number;
}

const CONTENT_TYPES: Record<string, string> = {
  ".js": "text/javascript", // a module worker refuses any other type
  ".wasm": "application/wasm",
  ".json": "application/json",
};

/**
 * A static server on 127.0.0.1: the page at /, the bundles at /paywall/<file> and the
 * circuit artifacts at /artifacts/<file>, plain file names only. Counts artifact requests.
 */
async function startStaticServer(
  paywallDir: string,
): Promise<{ url: string; artifactRequests: () => number; close: () => Promise<void> }> {
  let artifactRequests = 0;
  const dirs: Record<string, string> = { paywall: paywallDir, artifacts: ARTIFACTS_DIR };
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (url.pathname === "/") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(PAGE);
      return;
    }
    // One folder and one file name, no dots up front: nothing outside the two folders.
    const m = /^\/(paywall|artifacts)\/([A-Za-z0-9_-][A-Za-z0-9_.-]*)$/.exec(url.pathname);
    if (!m) {
      res.writeHead(404).end();
      return;
    }
    if (m[1] === "artifacts") artifactRequests++;
    let body: Buffer;
    try {
      body = readFileSync(path.join(dirs[m[1]!]!, m[2]!));
    } catch {
      res.writeHead(404).end();
      return;
    }
    res
      .writeHead(200, {
        "content-type": CONTENT_TYPES[path.extname(m[2]!)] ?? "application/octet-stream",
        "content-length": body.length,
        "cache-control": "no-store", // the worker's Cache API is the only cache measured
      })
      .end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    artifactRequests: () => artifactRequests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Measures the browser payer: bundle sizes and proving in headless Chromium's prover worker.
 * `node` holds Node's figures of the same run (the verify section's `proveMsMedian`,
 * `witnessMsMedian`, `proveColdMs`); without them, Node proves the same inputs here first.
 *
 * @example
 * const r = await benchBrowser({ runs: 5, node: { ms: 1_800, witnessMs: 120 } });
 */
export async function benchBrowser(
  o: { runs?: number; node?: Omit<NodeReference, "source">; log?: (msg: string) => void } = {},
): Promise<BenchBrowserResult> {
  const runs = o.runs ?? 5;
  if (!Number.isInteger(runs) || runs < 1)
    throw new Error(`bench browser: runs must be a positive integer, not ${runs}`);
  const log = o.log ?? (() => {});
  const witnessOf = benchPaymentWitnesses();

  // Built from the current sources: the sizes and the worker measured are this commit's.
  const sizes = await buildBrowser({ quiet: true });
  const browserBundleBytes = {
    "paywall.js": { bytes: sizes["paywall.js"].bytes, gzipBytes: sizes["paywall.js"].gzipBytes },
    "prover-worker.js": { bytes: sizes["prover-worker.js"].bytes, gzipBytes: sizes["prover-worker.js"].gzipBytes },
  };
  log(
    `bundles: paywall.js ${sizes["paywall.js"].bytes} B (${sizes["paywall.js"].gzipBytes} gzip), ` +
      `prover-worker.js ${sizes["prover-worker.js"].bytes} B (${sizes["prover-worker.js"].gzipBytes} gzip)`,
  );

  let nodeReference: NodeReference;
  if (o.node !== undefined) {
    nodeReference = { ...o.node, source: "proveMsMedian, witnessMsMedian, proveColdMs (verify section, this run)" };
  } else {
    // Run without the verify section: the same inputs, proved in Node the same way.
    const artifacts = artifactsOf("payment", ARTIFACTS_DIR);
    await preloadArtifacts(artifacts);
    await provePayment(witnessOf(0), artifacts);
    const rs: PaymentProofResult[] = [];
    for (let i = 1; i <= runs; i++) rs.push(await provePayment(witnessOf(i), artifacts));
    nodeReference = {
      ms: round(median(rs.map((r) => r.timings.witnessMs + r.timings.proveMs))),
      witnessMs: round(median(rs.map((r) => r.timings.witnessMs))),
      source: `Node, same inputs and runs, measured in this section (the verify section did not run)`,
    };
    log(`node reference (verify section not run): ${nodeReference.ms} ms`);
  }

  const files = artifactFileNames("payment");
  const manifest = JSON.parse(readFileSync(path.join(ARTIFACTS_DIR, files.manifest), "utf8")) as {
    sha256: { wasm: string; zkey: string };
  };
  const { vkey } = verificationKeyOf("payment", ARTIFACTS_DIR);
  const verifier = await Groth16Verifier.fromVkey(vkey);

  const server = await startStaticServer(path.join(ROOT, "dist", "paywall"));
  let browser: Browser | undefined;
  try {
    browser = await launchChromium();
    const browserVersion = await browser.version();
    const page: Page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on("pageerror", (err) => pageErrors.push(String(err)));
    await page.goto(`${server.url}/`, { waitUntil: "load" });
    await page.waitForFunction(() => (globalThis as { __benchReady?: boolean }).__benchReady === true, {
      timeout: 30_000,
    });

    let last: PageProof | undefined;
    // The worker as provePayment's backend: the SDK lays out the input and checks the
    // circuit's outputs against its reference implementation, as in a real page.
    const backend: Groth16Backend = async (input, a) => {
      const req: Omit<WorkerRequest, "id"> = { input, wasm: a.wasm, zkey: a.zkey, sha256: manifest.sha256 };
      last = await page.evaluate(
        (r) => (globalThis as unknown as { __benchProve: (r: unknown) => Promise<PageProof> }).__benchProve(r),
        req,
      );
      return last.result;
    };
    const proveInBrowser = async (i: number): Promise<{ r: PaymentProofResult; roundTripMs: number }> => {
      const w = witnessOf(i);
      const r = await provePayment(w, {
        wasm: `${server.url}/artifacts/${files.wasm}`,
        zkey: `${server.url}/artifacts/${files.zkey}`,
        prove: backend,
      });
      // The public signals the proof must hold, computed here: the reference outputs
      // provePayment checked, then the public inputs of this witness.
      const expected = [
        r.nullifierHash,
        r.payeeCommitment,
        r.changeCommitment,
        w.path.root,
        BigInt(w.position.treeIndex),
        w.amount + w.fee,
        w.context,
      ];
      if (!verifier.verify(r.proof, expected)) {
        throw new Error(`bench browser: the browser's proof of payment ${i} does not verify in Node`);
      }
      return { r, roundTripMs: last!.roundTripMs };
    };

    const warm = await proveInBrowser(0);
    const warmUpRequests = server.artifactRequests();
    log(
      `warm-up (artifacts fetched, ${warmUpRequests} requests): round trip ${round(warm.roundTripMs)} ms, ` +
        `witness + prove ${round(warm.r.timings.witnessMs + warm.r.timings.proveMs)} ms`,
    );
    const timed: { r: PaymentProofResult; roundTripMs: number }[] = [];
    for (let i = 1; i <= runs; i++) {
      const t = await proveInBrowser(i);
      timed.push(t);
      log(
        `run ${i}: witness ${round(t.r.timings.witnessMs)} ms + prove ${round(t.r.timings.proveMs)} ms, ` +
          `round trip ${round(t.roundTripMs)} ms`,
      );
    }
    const timedRequests = server.artifactRequests() - warmUpRequests;
    // The timed runs must read the Cache API: a request here means the cache path did not hold.
    if (timedRequests !== 0) {
      throw new Error(`bench browser: ${timedRequests} artifact requests during the timed runs (cache missed)`);
    }
    const lastProof = timed[timed.length - 1]!.r;
    if (!(await verifyPaymentProofSnarkjs(vkey, lastProof.proof, lastProof.publicSignals))) {
      throw new Error("bench browser: snarkjs refused the browser's last proof");
    }
    if (pageErrors.length > 0) throw new Error(`bench browser: page errors: ${pageErrors.join("; ")}`);

    const browserProveMs = round(median(timed.map((t) => t.r.timings.witnessMs + t.r.timings.proveMs)));
    return {
      browserProveMs,
      browserWitnessMsMedian: round(median(timed.map((t) => t.r.timings.witnessMs))),
      browserGroth16MsMedian: round(median(timed.map((t) => t.r.timings.proveMs))),
      browserRoundTripMsMedian: round(median(timed.map((t) => t.roundTripMs))),
      browserFirstProofMs: round(warm.roundTripMs),
      browserProveRuns: runs,
      browserArtifactRequests: { warmUp: warmUpRequests, timed: timedRequests },
      browserVsNodeProveRatio: round(browserProveMs / nodeReference.ms, 2),
      browserNodeReference: nodeReference,
      browserVersion,
      browserBundleBytes,
    };
  } finally {
    await browser?.close();
    await server.close();
  }
}

const kib = (b: number) => `${(b / 1024).toFixed(0)} KiB`;

/** The section's table: browser vs Node side by side, then the bundles. */
export function reportBrowser(r: Record<string, unknown>): string {
  const n = (k: string) => (typeof r[k] === "number" ? (r[k] as number).toFixed(1) : "-");
  const ref = r.browserNodeReference as NodeReference | undefined;
  const ratio = typeof r.browserVsNodeProveRatio === "number" ? r.browserVsNodeProveRatio.toFixed(2) : "-";
  const bundles = r.browserBundleBytes as BenchBrowserResult["browserBundleBytes"] | undefined;
  const req = r.browserArtifactRequests as { warmUp: number; timed: number } | undefined;
  return [
    `Browser payer (bench/browser.ts): ${String(r.browserVersion ?? "chromium")}, prover worker, ` +
      `median of ${String(r.browserProveRuns ?? "-")} runs after 1 warm-up`,
    table(
      ["measure", "browser ms", "Node ms", "browser / Node"],
      [
        [
          "witness + prove, same inputs (browserProveMs; Node: proveMsMedian)",
          n("browserProveMs"),
          ref ? ref.ms.toFixed(1) : "-",
          ratio,
        ],
        ["  witness (median)", n("browserWitnessMsMedian"), ref ? ref.witnessMs.toFixed(1) : "-", ""],
        ["  Groth16 prove (median)", n("browserGroth16MsMedian"), "", ""],
        [
          `page round trip, artifacts from the Cache API (${req ? req.timed : "-"} HTTP requests)`,
          n("browserRoundTripMsMedian"),
          "",
          "",
        ],
        [
          `first proof, artifacts fetched over HTTP (${req ? req.warmUp : "-"} requests)`,
          n("browserFirstProofMs"),
          ref?.coldMs === undefined ? "-" : ref.coldMs.toFixed(1),
          "",
        ],
      ],
    ),
    `Node figure: ${ref?.source ?? "-"}`,
    table(
      ["bundle (what the entry loads)", "bytes", "gzip bytes"],
      (["paywall.js", "prover-worker.js"] as const).map((f) => [
        f,
        bundles ? `${bundles[f].bytes} (${kib(bundles[f].bytes)})` : "-",
        bundles ? `${bundles[f].gzipBytes} (${kib(bundles[f].gzipBytes)})` : "-",
      ]),
    ),
  ].join("\n");
}

// Run alone: print the table and the figures, then let the process exit.
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  benchBrowser({ log: (m) => console.error(m) })
    .then((r) => {
      console.log(reportBrowser(r as unknown as Record<string, unknown>));
      console.log(JSON.stringify(r, null, 2));
    })
    .catch((err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    })
    .finally(() => shutdownProver());
}
