/**
 * The paywall a 402zk route serves to browsers, as `@x402/paywall` does for x402's public
 * schemes: when a request that must pay says `Accept: text/html` (a person following a
 * link), x402's HTTP server answers the 402 with this page instead of JSON. The page
 * (its script is 402zk/browser's `paywall-app.ts`, bundled) connects the person's
 * wallet, derives the private wallet from a signature, deposits, proves in a Web Worker
 * and retries the request with the payment.
 *
 * The gate serves what the page loads, under {@link PAYWALL_PREFIX}: the two bundles
 * (`paywall.js`, `prover-worker.js` and their shared chunks, built by `npm run build:sdk`
 * into dist/paywall/)
 * and the circuit artifacts the worker proves with (circuits/artifacts/), so one
 * origin serves everything and the page needs no CDN. Elements of the page (ids, for
 * styling and for tests): `zk-connect`, `zk-status`, `zk-progress` (+ `-row`, `-label`),
 * `zk-account`, `zk-balance`, `zk-deposit-amount`, `zk-deposit-method`, `zk-deposit`, `zk-last-tx`, `zk-pay`,
 * `zk-buy-session`, `zk-session-status`, `zk-resource` (+ `-box`), `zk-error`
 * (`data-reason` holds the error's reason code).
 */
import type { PaymentRequired } from "@x402/core/types";

import { ZkPayError } from "../core/errors.js";
import { CIRCUITS, artifactFileNames, type CircuitName } from "../core/circuits/registry.js";
import { PAYWALL_PREFIX, type PaywallPageConfig } from "../core/paywall.js";

export { PAYWALL_PREFIX } from "../core/paywall.js";

/** Options of the paywall (`paywall` of `createZkGate`). */
export interface ZkPaywallOptions {
  /** First block of the pool's events (the deployment record's `deploymentBlock`): where the page's sync starts. */
  deploymentBlock: number;
  /** Name shown as the page's title. */
  appName?: string;
  /** Where the circuit artifacts are fetched from (default: this gate, under {@link PAYWALL_PREFIX}/artifacts/). */
  artifactsBaseUrl?: string;
  /** Deposit suggested in the page's field, in tokens ("1.5"); default ten times the price. */
  suggestedDeposit?: string;
}

/** A file the gate serves for the page. */
export interface PaywallAsset {
  contentType: string;
  bytes: Uint8Array;
  /** Bundles change with the package version; artifacts are checked by hash in the page. */
  cacheControl: string;
}

type Fs = { readFileSync(p: URL): Uint8Array };

function fsOf(): Fs {
  const fs = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule?.("node:fs") as
    Fs | undefined;
  if (!fs) throw new ZkPayError("dependency_missing", "the paywall serves its files from disk and needs Node >= 22.3");
  return fs;
}

/** The first of `candidates` that exists, read (the same code runs from sdk/ under tsx and from dist/). */
function readFirst(candidates: URL[]): Uint8Array | undefined {
  const fs = fsOf();
  for (const u of candidates) {
    try {
      return fs.readFileSync(u);
    } catch {
      /* try the next location */
    }
  }
  return undefined;
}

const assetCache = new Map<string, PaywallAsset | null>();

/**
 * The asset at request path `path`, if it is one of the paywall's: a bundle under
 * `…/paywall/` or an artifact of a registered circuit under `…/artifacts/` (only the
 * files the registry names: nothing else on disk can be reached). Undefined otherwise.
 * Throws `dependency_missing` when the bundles were not built.
 *
 * @example
 * const asset = paywallAsset("/.well-known/402zk/paywall/paywall.js");
 */
export function paywallAsset(path: string): PaywallAsset | undefined {
  if (!path.startsWith(`${PAYWALL_PREFIX}/`)) return undefined;
  const rest = path.slice(PAYWALL_PREFIX.length + 1);
  const cached = assetCache.get(rest);
  if (cached !== undefined) return cached ?? undefined;
  let asset: PaywallAsset | undefined;
  // The two entries and the chunks esbuild split them into (plain names only: no path can leave the folder).
  if (/^paywall\/(paywall|prover-worker|chunk-[A-Za-z0-9]+)\.js$/.test(rest)) {
    const file = rest.slice("paywall/".length);
    const bytes = readFirst([
      new URL(`../paywall/${file}`, import.meta.url),
      new URL(`../../dist/paywall/${file}`, import.meta.url),
    ]);
    if (!bytes) {
      throw new ZkPayError(
        "dependency_missing",
        `the paywall bundle ${file} is missing: run npm run build:sdk (it bundles dist/paywall/ with esbuild)`,
      );
    }
    asset = { contentType: "text/javascript; charset=utf-8", bytes, cacheControl: "public, max-age=300" };
  } else if (rest.startsWith("artifacts/")) {
    const file = rest.slice("artifacts/".length);
    for (const name of Object.keys(CIRCUITS) as CircuitName[]) {
      const files = artifactFileNames(name);
      if (![files.wasm, files.zkey, files.vkey, files.manifest].includes(file)) continue;
      const bytes = readFirst([new URL(`../../circuits/artifacts/${file}`, import.meta.url)]);
      if (bytes) {
        const contentType = file.endsWith(".json")
          ? "application/json"
          : file.endsWith(".wasm")
            ? "application/wasm"
            : "application/octet-stream";
        // The page checks every artifact against the hashes the route names: a cached
        // stale copy is refused there, so long caching is safe.
        asset = { contentType, bytes, cacheControl: "public, max-age=3600" };
      }
    }
  }
  assetCache.set(rest, asset ?? null);
  return asset;
}

const escapeJson = (v: unknown) =>
  JSON.stringify(v).replace(/</g, "\\u003c").replace(/>/g, "\\u003e").replace(/&/g, "\\u0026");
const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

/**
 * The paywall page for one 402 (x402's `PaywallProvider.generateHtml`).
 *
 * @example
 * httpServer.registerPaywallProvider({ generateHtml: (pr) => paywallHtml(pr, { deploymentBlock }) });
 */
export function paywallHtml(paymentRequired: PaymentRequired, opts: ZkPaywallOptions): string {
  const cfg: PaywallPageConfig = {
    paymentRequired,
    workerUrl: `${PAYWALL_PREFIX}/paywall/prover-worker.js`,
    artifactsBaseUrl: opts.artifactsBaseUrl ?? `${PAYWALL_PREFIX}/artifacts/`,
    deploymentBlock: opts.deploymentBlock,
    ...(opts.appName ? { appName: opts.appName } : {}),
    ...(opts.suggestedDeposit ? { suggestedDeposit: opts.suggestedDeposit } : {}),
  };
  const title = escapeHtml(opts.appName ?? "Payment required");
  const what = escapeHtml(paymentRequired.resource?.description || paymentRequired.resource?.url || "this resource");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}
h1{font-size:1.4rem}button{font:inherit;padding:.45rem 1rem;margin:.25rem .25rem .25rem 0;border-radius:.4rem;border:1px solid #1f6feb;background:#1f6feb;color:#fff;cursor:pointer}
button:disabled{opacity:.5;cursor:default}input,select{font:inherit;padding:.35rem}input{width:8rem}
.card{border:1px solid #d0d7de;border-radius:.6rem;padding:1rem;margin:1rem 0}
#zk-error{color:#b42318;background:#fef3f2;border:1px solid #fecdca;border-radius:.4rem;padding:.6rem}
progress{width:100%}pre{background:#f6f8fa;padding:.8rem;border-radius:.4rem;overflow:auto}
.muted{color:#57606a;font-size:.9rem}
</style></head>
<body>
<h1>${title}</h1>
<p>Pay privately for <b>${what}</b> with 402zk: your payment is a zero-knowledge proof from a shielded pool, so the API and the chain do not learn your account.</p>
<div class="card">
<p id="zk-status">Connect your wallet to pay.</p>
<div id="zk-progress-row" hidden><progress id="zk-progress" max="1" value="0"></progress><div id="zk-progress-label" class="muted"></div></div>
<button id="zk-connect">Connect wallet</button>
<div id="zk-connected" hidden>
<p class="muted">Account <span id="zk-account"></span></p>
<p>Private balance: <b id="zk-balance">…</b> <span id="zk-session-status" class="muted"></span></p>
<p><input id="zk-deposit-amount" inputmode="decimal" aria-label="deposit amount"> <select id="zk-deposit-method" aria-label="deposit method"><option value="authorization">one signature (EIP-3009)</option><option value="approve">approve + deposit</option></select> <button id="zk-deposit">Deposit</button> <span id="zk-last-tx" class="muted"></span></p>
<p><button id="zk-pay">Pay and open</button> <button id="zk-buy-session" hidden>Buy a session</button></p>
</div>
<div id="zk-error" role="alert" hidden></div>
</div>
<div id="zk-resource-box" class="card" hidden><p class="muted">The resource</p><pre id="zk-resource"></pre></div>
<script type="application/json" id="zk402-config">${escapeJson(cfg)}</script>
<script type="module" src="${PAYWALL_PREFIX}/paywall/paywall.js"></script>
</body></html>`;
}
