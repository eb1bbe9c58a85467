/**
 * The committed circuit artifacts, for Node: file paths next to the package, read with
 * node:fs. The browser variant is `artifactsOf(name, baseUrl)` in 402zk/core
 * (sdk/core/circuits/artifacts.browser.ts). Names and files come from the registry.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

import type { ArtifactReader, CircuitArtifacts } from "../core/circuits/artifacts.js";
import { artifactFileNames, isCircuitName, type CircuitName } from "../core/circuits/registry.js";
import { ZkPayError } from "../core/errors.js";
import { checkPixels, parseInferenceModel, type InferenceModel } from "../core/inference/model.js";

/** Directory of the committed circuit artifacts. */
export const ARTIFACTS_DIR = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "..",
  "..",
  "circuits",
  "artifacts",
);

/** Reads an artifact file (a path or a file: URL) with node:fs: the Node loader of {@link artifactsOf}. */
export const readArtifactFile: ArtifactReader = async (location) =>
  new Uint8Array(await readFile(/^file:/i.test(location) ? new URL(location) : location));

/** A circuit's artifacts in Node: what the prover takes, plus the verification key and manifest paths. */
export interface CircuitFiles extends CircuitArtifacts {
  wasm: string;
  zkey: string;
  read: ArtifactReader;
  /** The verification key (JSON). */
  vkey: string;
  /** The build manifest: hashes, parameters, setup (JSON). */
  manifest: string;
}

/**
 * Paths of circuit `name`'s artifacts in `dir` (by default the committed ones), the wasm
 * and zkey checked to exist (`artifacts_missing` otherwise), with the node:fs loader.
 *
 * @example
 * await provePayment(witness, artifactsOf("payment"));
 * const sessions = await SessionClient.open({ wallet, artifacts: artifactsOf("presentation") });
 */
export function artifactsOf(name: CircuitName, dir = ARTIFACTS_DIR): CircuitFiles {
  if (!isCircuitName(name)) throw new ZkPayError("invalid_argument", `unknown circuit ${String(name)}`);
  const files = artifactFileNames(name);
  const out: CircuitFiles = {
    wasm: path.join(dir, files.wasm),
    zkey: path.join(dir, files.zkey),
    vkey: path.join(dir, files.vkey),
    manifest: path.join(dir, files.manifest),
    read: readArtifactFile,
  };
  for (const f of [out.wasm, out.zkey]) {
    if (!existsSync(f))
      throw new ZkPayError("artifacts_missing", `circuit artifact not found: ${f} (run npm run build:circuits)`);
  }
  return out;
}

/**
 * Circuit `name`'s verification key and its sha256 (which servers advertise and clients
 * compare). Throws `artifacts_missing` when the file is not there.
 *
 * @example
 * const { vkey } = verificationKeyOf("presentation");
 */
export function verificationKeyOf(name: CircuitName, dir = ARTIFACTS_DIR): { vkey: unknown; vkeySha256: string } {
  if (!isCircuitName(name)) throw new ZkPayError("invalid_argument", `unknown circuit ${String(name)}`);
  const file = path.join(dir, artifactFileNames(name).vkey);
  if (!existsSync(file)) throw new ZkPayError("artifacts_missing", `verification key not found: ${file}`);
  const bytes = readFileSync(file);
  return { vkey: JSON.parse(bytes.toString("utf8")), vkeySha256: createHash("sha256").update(bytes).digest("hex") };
}

/**
 * Paths of the committed payment-circuit artifacts, checked to exist:
 * `artifactsOf("payment")` as wasm and zkey paths.
 *
 * @example
 * const wallet = await PrivateWallet.open({ ..., artifacts: defaultArtifacts() });
 */
export function defaultArtifacts(dir = ARTIFACTS_DIR): CircuitArtifacts {
  return proverArtifacts(artifactsOf("payment", dir));
}

/**
 * Paths of the committed presentation-circuit artifacts (session credentials), checked to
 * exist: `artifactsOf("presentation")` as wasm and zkey paths.
 *
 * @example
 * const sessions = await SessionClient.open({ wallet, artifacts: presentationArtifacts() });
 */
export function presentationArtifacts(dir = ARTIFACTS_DIR): CircuitArtifacts {
  return proverArtifacts(artifactsOf("presentation", dir));
}

/**
 * Paths of the committed inference-circuit artifacts (proof before pay: the service proof
 * an API makes for an escrowed payment), checked to exist.
 *
 * @example
 * const r = await proveInference(inferenceArtifacts(), model, pixels, blinding, escrowId);
 */
export function inferenceArtifacts(dir = ARTIFACTS_DIR): CircuitArtifacts {
  return proverArtifacts(artifactsOf("inference", dir));
}

/** The inference circuit's verification key (what a payer checks a service proof with). */
export function loadInferenceVerificationKey(dir = ARTIFACTS_DIR): unknown {
  return verificationKeyOf("inference", dir).vkey;
}

/**
 * Paths of the committed attribute-circuit artifacts (Verify & Pay: the payer's proof that
 * its identity credential meets a route's rule), checked to exist.
 *
 * @example
 * const r = await proveAttribute(attributeArtifacts(), input);
 */
export function attributeArtifacts(dir = ARTIFACTS_DIR): CircuitArtifacts {
  return proverArtifacts(artifactsOf("attribute", dir));
}

/**
 * The attribute circuit's verification key (what a paid API checks an attribute proof with).
 *
 * @example
 * const ok = await verifyAttributeProof(loadAttributeVerificationKey(), proof, signals);
 */
export function loadAttributeVerificationKey(dir = ARTIFACTS_DIR): unknown {
  return verificationKeyOf("attribute", dir).vkey;
}

/** The committed model of the `inference` circuit: circuits/models/digits-mlp.json (see scripts/train-inference-model.ts). */
export const INFERENCE_MODEL_FILE = path.resolve(ARTIFACTS_DIR, "..", "models", "digits-mlp.json");

/**
 * Reads and checks an inference model file (default: the committed digits MLP).
 * Throws `invalid_argument` naming what is wrong with it.
 *
 * @example
 * const model = loadInferenceModel();
 */
export function loadInferenceModel(file = INFERENCE_MODEL_FILE): InferenceModel {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new ZkPayError("invalid_argument", `cannot read the inference model ${file}: ${(err as Error).message}`);
  }
  return parseInferenceModel(json);
}

/** Sample images of the committed model: circuits/models/digits-samples.json. */
export const INFERENCE_SAMPLES_FILE = path.resolve(ARTIFACTS_DIR, "..", "models", "digits-samples.json");

/** One sample image: its label, and 196 pixels 0..255 (14x14, row-major). */
export interface InferenceSample {
  label: number;
  pixels: number[];
}

/**
 * The committed sample images (the first test image of each digit), for demos and tests;
 * each one's pixels are checked. Throws `invalid_argument` naming what is wrong.
 *
 * @example
 * const [zero] = loadInferenceSamples();
 */
export function loadInferenceSamples(file = INFERENCE_SAMPLES_FILE): InferenceSample[] {
  let json: { samples?: unknown };
  try {
    json = JSON.parse(readFileSync(file, "utf8")) as { samples?: unknown };
  } catch (err) {
    throw new ZkPayError("invalid_argument", `cannot read the inference samples ${file}: ${(err as Error).message}`);
  }
  if (!Array.isArray(json.samples)) throw new ZkPayError("invalid_argument", `${file}: no samples array`);
  return json.samples.map((s: { label?: unknown; pixels?: unknown }, i) => {
    if (typeof s.label !== "number" || !Array.isArray(s.pixels)) {
      throw new ZkPayError("invalid_argument", `${file}: sample ${i} needs a label and pixels`);
    }
    checkPixels(s.pixels as number[]);
    return { label: s.label, pixels: s.pixels as number[] };
  });
}

/**
 * The payment verification key and its sha256: `verificationKeyOf("payment")`.
 *
 * @example
 * const { vkey, vkeySha256 } = loadVerificationKey();
 */
export function loadVerificationKey(dir = ARTIFACTS_DIR): { vkey: unknown; vkeySha256: string } {
  return verificationKeyOf("payment", dir);
}

/**
 * The presentation circuit's verification key (what a session service verifies with):
 * `verificationKeyOf("presentation").vkey`.
 *
 * @example
 * const sessions = await SessionService.create({ vkey: loadPresentationVerificationKey(), ... });
 */
export function loadPresentationVerificationKey(dir = ARTIFACTS_DIR): unknown {
  return verificationKeyOf("presentation", dir).vkey;
}

/**
 * The prover's part of the files (wasm, zkey, loader): what the wrappers returned before
 * the registry, so that code spreading or serialising their result sees the same keys.
 */
function proverArtifacts(f: CircuitFiles): CircuitArtifacts {
  return { wasm: f.wasm, zkey: f.zkey, read: f.read };
}
