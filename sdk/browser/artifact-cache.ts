/**
 * Circuit artifacts for a page: fetched once, kept in the Cache API across visits, and
 * accepted only when their sha256 is the one expected.
 *
 * The chain of trust: the route's 402 names the verification key's sha256
 * (`extra.vkeySha256`, the key the server verifies with). The circuit's manifest must name
 * that same vkey hash, and the vkey file must hash to it; the manifest then names the
 * hashes of the wasm and the zkey, which every fetched or cached copy must match. A stale
 * cache (a new circuit version), a half-written entry or a wrong file on a CDN is
 * refetched or refused with `artifacts_mismatch`, never proved with.
 */
import { ZkPayError } from "../core/errors.js";
import { fetchArtifact } from "../core/circuits/artifacts.js";
import { artifactFileNames, type CircuitName } from "../core/circuits/registry.js";

/** Name of the Cache API bucket (bumped if the entry layout ever changes). */
export const ARTIFACT_CACHE = "402zk-artifacts-v1";

/** sha256 of bytes, lowercase hex (WebCrypto: in pages and workers). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The URLs of one circuit's artifacts and the sha256 each must have. */
export interface VerifiedArtifactUrls {
  wasm: string;
  zkey: string;
  sha256: { wasm: string; zkey: string };
}

/**
 * Checks circuit `name`'s manifest and verification key under `baseUrl` against the
 * route's `vkeySha256` and returns the wasm and zkey URLs with the hashes they must have.
 * Throws `artifacts_missing` (cannot fetch) or `artifacts_mismatch` (another key).
 *
 * @example
 * const urls = await verifiedArtifactUrls("payment", "/.well-known/402zk/artifacts/", requirement.extra.vkeySha256);
 */
export async function verifiedArtifactUrls(
  name: CircuitName,
  baseUrl: string | URL,
  vkeySha256?: string,
): Promise<VerifiedArtifactUrls> {
  const base = new URL(String(baseUrl), globalThis.location?.href);
  if (!base.pathname.endsWith("/")) base.pathname += "/";
  const files = artifactFileNames(name);
  const at = (f: string) => new URL(f, base).href;
  const [manifestBytes, vkeyBytes] = await Promise.all([fetchBytes(at(files.manifest)), fetchBytes(at(files.vkey))]);
  let manifest: { sha256?: { wasm?: unknown; zkey?: unknown; vkey?: unknown } };
  try {
    manifest = JSON.parse(new TextDecoder().decode(manifestBytes)) as typeof manifest;
  } catch (err) {
    throw new ZkPayError("artifacts_mismatch", `${at(files.manifest)} is not JSON`, {}, { cause: err });
  }
  const vkeyHash = await sha256Hex(vkeyBytes);
  if (vkeySha256 !== undefined && vkeyHash !== vkeySha256.toLowerCase()) {
    throw new ZkPayError(
      "artifacts_mismatch",
      `the ${name} verification key served at ${at(files.vkey)} (sha256 ${vkeyHash.slice(0, 16)}…) is not the one the route verifies with (${vkeySha256.slice(0, 16)}…)`,
      { expected: vkeySha256, actual: vkeyHash },
    );
  }
  const s = manifest.sha256;
  if (s?.vkey !== vkeyHash || typeof s.wasm !== "string" || typeof s.zkey !== "string") {
    throw new ZkPayError(
      "artifacts_mismatch",
      `${at(files.manifest)} does not describe the ${name} key it is served with`,
    );
  }
  return { wasm: at(files.wasm), zkey: at(files.zkey), sha256: { wasm: s.wasm, zkey: s.zkey } };
}

/** `fetchArtifact`, with a failed request (network, CORS) reported as `artifacts_missing` too. */
async function fetchBytes(url: string): Promise<Uint8Array> {
  try {
    return await fetchArtifact(url);
  } catch (err) {
    if (err instanceof ZkPayError) throw err;
    throw new ZkPayError(
      "artifacts_missing",
      `fetch ${url}: ${(err as Error).message}`,
      { location: url },
      { cause: err },
    );
  }
}

/**
 * The bytes at `url`, which must hash to `sha256`: from the Cache API when a good copy is
 * there, else fetched, checked and cached. A cached copy with another hash is dropped and
 * refetched; a fetched copy with another hash is `artifacts_mismatch`.
 *
 * @example
 * const zkey = await cachedArtifact(urls.zkey, urls.sha256.zkey);
 */
export async function cachedArtifact(url: string, sha256: string): Promise<Uint8Array> {
  const cache = typeof caches === "undefined" ? undefined : await caches.open(ARTIFACT_CACHE).catch(() => undefined);
  // The hash is part of the key: a new circuit version never reads an old entry.
  const key = `${url}#sha256=${sha256}`;
  if (cache) {
    const hit = await cache.match(key);
    if (hit) {
      const bytes = new Uint8Array(await hit.arrayBuffer());
      if ((await sha256Hex(bytes)) === sha256) return bytes;
      await cache.delete(key); // damaged entry: fetch again
    }
  }
  const bytes = await fetchBytes(url);
  const actual = await sha256Hex(bytes);
  if (actual !== sha256) {
    throw new ZkPayError(
      "artifacts_mismatch",
      `${url} has sha256 ${actual.slice(0, 16)}…, its manifest says ${sha256.slice(0, 16)}…`,
      {
        expected: sha256,
        actual,
      },
    );
  }
  // Caching is best effort (private windows may refuse): the proof goes on either way.
  await cache?.put(key, new Response(bytes as Uint8Array<ArrayBuffer>)).catch(() => {});
  return bytes;
}
