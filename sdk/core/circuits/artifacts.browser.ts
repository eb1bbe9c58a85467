/**
 * The circuit artifacts for browsers (and any runtime with `fetch`): URLs under a base
 * URL where the files of circuits/artifacts are served, fetched once per page. No Node
 * imports. The Node variant, reading the committed files, is `artifactsOf` in 402zk/node.
 */
import { ZkPayError } from "../errors.js";
import { fetchArtifact, type ArtifactReader, type CircuitArtifacts } from "./artifacts.js";
import { artifactFileNames, isCircuitName, type CircuitName } from "./registry.js";

/** A circuit's artifacts as URLs: what the prover takes, plus the verification key and manifest URLs. */
export interface CircuitUrls extends CircuitArtifacts {
  wasm: string;
  zkey: string;
  read: ArtifactReader;
  vkey: string;
  manifest: string;
}

/**
 * URLs of circuit `name`'s artifacts under `baseUrl` (a directory: a missing trailing
 * slash is added), with the fetch loader. Nothing is fetched until the first proof or
 * {@link preloadArtifacts}.
 *
 * @example
 * const artifacts = artifactsOf("payment", "https://cdn.example/402zk/");
 * await preloadArtifacts(artifacts);
 */
export function artifactsOf(name: CircuitName, baseUrl: string | URL): CircuitUrls {
  if (!isCircuitName(name)) throw new ZkPayError("invalid_argument", `unknown circuit ${String(name)}`);
  let base: URL;
  try {
    // Relative to the page in a browser; elsewhere the base must be absolute.
    base = new URL(String(baseUrl), globalThis.location?.href);
  } catch (err) {
    throw new ZkPayError("invalid_argument", `artifact base URL ${String(baseUrl)} is not a URL`, {}, { cause: err });
  }
  if (!base.pathname.endsWith("/")) base.pathname += "/";
  const files = artifactFileNames(name);
  const at = (f: string) => new URL(f, base).href;
  return {
    wasm: at(files.wasm),
    zkey: at(files.zkey),
    vkey: at(files.vkey),
    manifest: at(files.manifest),
    read: fetchArtifact,
  };
}

/**
 * Fetches circuit `name`'s verification key under `baseUrl`, with its sha256 (to compare
 * with what a server advertises). Throws `artifacts_missing` when it cannot be fetched.
 *
 * @example
 * const { vkey, vkeySha256 } = await fetchVerificationKey("payment", "/402zk/");
 */
export async function fetchVerificationKey(
  name: CircuitName,
  baseUrl: string | URL,
): Promise<{ vkey: unknown; vkeySha256: string }> {
  const url = artifactsOf(name, baseUrl).vkey;
  let bytes: Uint8Array;
  try {
    bytes = await fetchArtifact(url);
  } catch (err) {
    if (err instanceof ZkPayError) throw err;
    throw new ZkPayError("artifacts_missing", `verification key not fetched: ${url}`, { url }, { cause: err });
  }
  const digest = new Uint8Array(await globalThis.crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  const vkeySha256 = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
  return { vkey: JSON.parse(new TextDecoder().decode(bytes)) as unknown, vkeySha256 };
}
