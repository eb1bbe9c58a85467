/**
 * Circuit artifacts as the prover takes them, and their per-process byte cache. Where the
 * bytes come from is the caller's choice: `artifactsOf` in 402zk/node reads files with
 * node:fs, `artifactsOf` in 402zk/core (artifacts.browser.ts) fetches URLs, and bytes can be
 * given as they are.
 */
import { ZkPayError } from "../errors.js";

/** Reads the bytes at a location (a file path, a URL): the loader a {@link CircuitArtifacts} carries. */
export type ArtifactReader = (location: string) => Promise<Uint8Array>;

/**
 * Where the circuit artifacts are: file paths (Node), URLs, or the bytes themselves. A
 * location is read once per process and kept in memory (see {@link preloadArtifacts}) by
 * `read` when given: `artifactsOf(name)` sets it (node:fs in Node, fetch in a browser).
 * Without `read`, URLs are fetched, and a plain path is read by Node's fs where the code
 * runs in Node (for artifacts written as `{ wasm: "…/payment.wasm", zkey: … }`).
 *
 * @example
 * const artifacts: CircuitArtifacts = { wasm: wasmBytes, zkey: zkeyBytes };
 */
export interface CircuitArtifacts {
  wasm: string | Uint8Array;
  zkey: string | Uint8Array;
  /** The loader of `wasm` and `zkey` when they are locations. */
  read?: ArtifactReader;
  /**
   * Proves somewhere else than in this thread: a browser page hands the work to a Web
   * Worker (`createWorkerProver` in 402zk/browser) so the page stays responsive. Given,
   * `proveGroth16` calls it instead of snarkjs here; the caller still checks the public
   * signals against its reference implementation, as for a local proof.
   */
  prove?: Groth16Backend;
}

/** A proof as a {@link Groth16Backend} returns it: decimal strings, snarkjs' own layout. */
export interface Groth16BackendResult {
  proof: { pi_a: string[]; pi_b: string[][]; pi_c: string[] };
  publicSignals: string[];
  timings: { witnessMs: number; proveMs: number };
}

/**
 * Computes witness and Groth16 proof of `input` over the artifacts' wasm and zkey,
 * reporting progress fractions in [0, 1] with a short label.
 */
export type Groth16Backend = (
  input: Record<string, string | string[]>,
  artifacts: { wasm: string | Uint8Array; zkey: string | Uint8Array },
  onProgress: (stage: "witness" | "prove", fraction: number, message: string) => void,
) => Promise<Groth16BackendResult>;

/**
 * Fetches a URL's bytes (the browser loader, and the default for http(s), blob and data
 * URLs). Throws `artifacts_missing` on an HTTP error.
 *
 * @example
 * const zkey = await fetchArtifact("https://cdn.example/402zk/payment.zkey");
 */
export const fetchArtifact: ArtifactReader = async (location) => {
  const res = await fetch(location);
  if (!res.ok) throw new ZkPayError("artifacts_missing", `fetch ${location}: HTTP ${res.status}`, { location });
  return new Uint8Array(await res.arrayBuffer());
};

/** Artifact bytes by location, one read per process; concurrent first calls share it. */
const artifactCache = new Map<string, Promise<Uint8Array>>();

/**
 * The bytes of one artifact: given bytes as they are, a location read once and cached.
 * The cached array is never handed to snarkjs' writers (it only reads it), so it stays
 * valid across proofs. A failed read is `artifacts_missing` and is not cached.
 *
 * @example
 * const wasm = await artifactBytes(artifacts.wasm, artifacts.read);
 */
export function artifactBytes(a: string | Uint8Array, read?: ArtifactReader): Promise<Uint8Array> {
  if (a instanceof Uint8Array) {
    // fastfile's readString ignores byteOffset: hand it an array that starts its buffer.
    return Promise.resolve(a.byteOffset === 0 ? a : a.slice());
  }
  let p = artifactCache.get(a);
  if (!p) {
    p = readLocation(a, read ?? defaultReader(a)).catch((err: unknown) => {
      throw asMissing(err, a);
    });
    artifactCache.set(a, p);
    // A failed read (missing file, server down) is retried by the next proof.
    p.catch(() => artifactCache.delete(a));
  }
  return p;
}

/**
 * Reads the circuit artifacts into memory now, so that the first proof does not pay for
 * it (a wallet or CLI calls it at start). Throws `artifacts_missing` when one cannot be
 * read. Proving from memory is ~2x faster than from a path, which snarkjs re-reads and
 * re-parses on every proof.
 *
 * @example
 * await preloadArtifacts(artifactsOf("payment"));
 */
export async function preloadArtifacts(artifacts: CircuitArtifacts): Promise<void> {
  const [w, z] = await Promise.allSettled([
    artifactBytes(artifacts.wasm, artifacts.read),
    artifactBytes(artifacts.zkey, artifacts.read),
  ]);
  if (w.status === "rejected") throw w.reason;
  if (z.status === "rejected") throw z.reason;
}

async function readLocation(location: string, read: ArtifactReader): Promise<Uint8Array> {
  const bytes = await read(location);
  // A copy that starts its own ArrayBuffer (a Node Buffer may be a view into a pool).
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
}

/** URLs are fetched; a plain path (no scheme) is a file only where Node's fs exists. */
function defaultReader(location: string): ArtifactReader {
  if (/^[a-z][a-z0-9+.-]*:/i.test(location) && !/^file:/i.test(location) && !/^[a-z]:[\\/]/i.test(location)) {
    return fetchArtifact;
  }
  return nodeFileReader() ?? fetchArtifact; // a browser resolves a relative path against the page
}

/**
 * Node's file reader through `process.getBuiltinModule` (Node >= 22.3): no import, so
 * browser bundlers see no `node:fs` and browsers never take this branch. Only for
 * artifacts given as bare paths without a `read`; `artifactsOf` in 402zk/node reads with
 * its own node:fs import.
 */
function nodeFileReader(): ArtifactReader | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const fs = proc?.getBuiltinModule?.("node:fs/promises") as
    { readFile(path: string | URL): Promise<Uint8Array> } | undefined;
  if (!fs) return undefined;
  return (location) => fs.readFile(/^file:/i.test(location) ? new URL(location) : location);
}

function asMissing(err: unknown, location: string): ZkPayError {
  if (err instanceof ZkPayError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new ZkPayError(
    "artifacts_missing",
    `circuit artifacts could not be loaded: ${msg}`,
    { location },
    { cause: err },
  );
}
