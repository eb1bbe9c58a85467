import { execFileSync } from "node:child_process";
import { accessSync, constants, mkdirSync, readdirSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { ROOT } from "../../scripts/lib/paths.js";

const SDK = path.join(ROOT, "sdk");
const DIST = path.join(ROOT, "dist");
/** What tsc -p tsconfig.sdk.json reads besides sdk/. */
const CONFIGS = ["tsconfig.json", "tsconfig.sdk.json"].map((f) => path.join(ROOT, f));

/**
 * Node's on-disk compile cache (NODE_COMPILE_CACHE, Node >= 22.1) for the processes the tests
 * spawn: every `402zk` child otherwise compiles the same JavaScript again (viem, snarkjs,
 * the SDK). Node checks each entry against its source's hash, so an edited file is compiled
 * afresh: the cache changes how fast a child starts, never what it runs.
 */
export const COMPILE_CACHE_DIR = path.join(os.tmpdir(), "402zk-test-node-compile-cache");

let cacheUsable: boolean | undefined;
/**
 * Whether the cache folder exists and is writable. Node 22 hangs at start-up when
 * NODE_COMPILE_CACHE names a folder it cannot create (seen with a path under /proc), so the
 * variable is only set for a folder known to work.
 */
function compileCacheUsable(): boolean {
  if (cacheUsable === undefined) {
    try {
      mkdirSync(COMPILE_CACHE_DIR, { recursive: true });
      accessSync(COMPILE_CACHE_DIR, constants.W_OK);
      cacheUsable = true;
    } catch {
      cacheUsable = false;
    }
  }
  return cacheUsable;
}

/** `env` plus NODE_COMPILE_CACHE (when its folder is usable), for a spawned `402zk` or other Node child. */
export function withCompileCache<T extends Record<string, string | undefined>>(env: T): T {
  return compileCacheUsable() ? { ...env, NODE_COMPILE_CACHE: COMPILE_CACHE_DIR } : env;
}

/** Every sdk/**\/*.ts that tsc emits (declaration files emit nothing), relative to sdk/. */
function sdkSources(dir = SDK, rel = ""): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const r = path.join(rel, e.name);
    if (e.isDirectory()) out.push(...sdkSources(path.join(dir, e.name), r));
    else if (e.name.endsWith(".ts") && !e.name.endsWith(".d.ts")) out.push(r);
  }
  return out;
}

const mtime = (f: string): number | undefined => {
  try {
    return statSync(f).mtimeMs;
  } catch {
    return undefined;
  }
};

/**
 * Why dist/ is older than the sources (the first stale file found), or undefined when every
 * sdk/X.ts has its dist/X.js written after it and after the tsconfig files. tsc rewrites
 * every output on each build, so an edit after the last build always shows here.
 */
export function distStaleness(): string | undefined {
  const configs = Math.max(...CONFIGS.map((f) => mtime(f) ?? Infinity));
  for (const src of sdkSources()) {
    const js = path.join(DIST, src.replace(/\.ts$/, ".js"));
    const built = mtime(js);
    if (built === undefined) return `${path.relative(ROOT, js)} is missing`;
    if (built < mtime(path.join(SDK, src))!) return `sdk/${src} is newer than its build`;
    if (built < configs) return "a tsconfig file is newer than the build";
  }
  return undefined;
}

/** The newest modification time among sdk/**\/*.ts (declaration files included), or 0. */
function newestSdkSource(): number {
  let newest = 0;
  const visit = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const f = path.join(dir, e.name);
      if (e.isDirectory()) visit(f);
      else if (e.name.endsWith(".ts")) newest = Math.max(newest, mtime(f) ?? 0);
    }
  };
  visit(SDK);
  return newest;
}

/** The paywall bundles scripts/build-browser.mjs writes (what `prepare` builds after tsc). */
const BUNDLES = ["paywall.js", "prover-worker.js", "sizes.json"].map((f) => path.join(DIST, "paywall", f));

/**
 * Why dist/paywall/ is older than what it is bundled from (the first reason found), or
 * undefined when every bundle was written after every sdk/ source, the build script and
 * the tsconfig files. Conservative: an edit anywhere in sdk/ makes the bundles stale.
 */
export function browserBundleStaleness(): string | undefined {
  const built = Math.min(...BUNDLES.map((f) => mtime(f) ?? -Infinity));
  if (built === -Infinity) return "dist/paywall/ is missing a bundle";
  const inputs = [...CONFIGS, path.join(ROOT, "scripts", "build-browser.mjs")];
  if (built < Math.max(...inputs.map((f) => mtime(f) ?? Infinity))) return "a build input is newer than the bundles";
  if (built < newestSdkSource()) return "an sdk/ source is newer than the bundles";
  return undefined;
}

/**
 * Whether dist/ holds what `prepare` (tsc, then the paywall bundles) would build from the
 * current sources: CI's `npm ci` just ran it, so a test may pack or serve dist/ as it is.
 */
export function distFresh(): boolean {
  return distStaleness() === undefined && browserBundleStaleness() === undefined;
}

let build: { ran: boolean; error?: unknown } | undefined;

/**
 * Makes dist/ (what bin/402zk.js runs) match sdk/: runs `tsc -p tsconfig.sdk.json` only
 * when a source is newer than its build, once per test run. CI's `npm ci` builds dist/
 * (`prepare`), so there the tests spawn the CLI without compiling it again; locally an edit
 * to sdk/ is rebuilt before the first spawn, as before.
 *
 * tsc exits non-zero on a type error anywhere but still emits dist/; `strict` callers fail
 * on that error (as their inline build did), the others go on with the emitted dist/.
 */
export function buildCli(o: { strict?: boolean; stdio?: "inherit" | "ignore" } = {}): void {
  if (!build) {
    const stale = distStaleness();
    build = { ran: stale !== undefined };
    if (stale !== undefined) {
      try {
        execFileSync("npx", ["tsc", "-p", "tsconfig.sdk.json"], {
          cwd: ROOT,
          stdio: o.stdio ?? "inherit",
          env: withCompileCache(process.env),
        });
      } catch (err) {
        build.error = err;
      }
    }
  }
  if (o.strict && build.error) throw build.error;
}
