import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { ZkPayError } from "../core/errors.js";
import type { CircuitArtifacts } from "../core/prover.js";

/** Directory of the committed circuit artifacts. */
export const ARTIFACTS_DIR = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "..",
  "..",
  "circuits",
  "artifacts",
);

/**
 * Paths of the committed payment-circuit artifacts, checked to exist.
 *
 * @example
 * const wallet = await PrivateWallet.open({ ..., artifacts: defaultArtifacts() });
 */
export function defaultArtifacts(dir = ARTIFACTS_DIR): CircuitArtifacts {
  return circuitArtifacts("payment", dir);
}

/** The wasm and zkey of circuit `name` in `dir`, checked to exist. */
function circuitArtifacts(name: "payment" | "presentation", dir: string): CircuitArtifacts {
  const a = { wasm: path.join(dir, `${name}.wasm`), zkey: path.join(dir, `${name}.zkey`) };
  for (const f of Object.values(a)) {
    if (!existsSync(f))
      throw new ZkPayError("artifacts_missing", `circuit artifact not found: ${f} (run npm run build:circuits)`);
  }
  return a;
}

/**
 * The verification key and its sha256 (which servers advertise and clients compare).
 *
 * @example
 * const { vkey, vkeySha256 } = loadVerificationKey();
 */
export function loadVerificationKey(dir = ARTIFACTS_DIR): { vkey: unknown; vkeySha256: string } {
  const file = path.join(dir, "payment.vkey.json");
  if (!existsSync(file)) throw new ZkPayError("artifacts_missing", `verification key not found: ${file}`);
  const bytes = readFileSync(file);
  return { vkey: JSON.parse(bytes.toString("utf8")), vkeySha256: createHash("sha256").update(bytes).digest("hex") };
}

/**
 * Paths of the committed presentation-circuit artifacts (session credentials), checked to exist.
 *
 * @example
 * const sessions = await SessionClient.open({ wallet, artifacts: presentationArtifacts() });
 */
export function presentationArtifacts(dir = ARTIFACTS_DIR): CircuitArtifacts {
  return circuitArtifacts("presentation", dir);
}

/**
 * The presentation circuit's verification key (what a session service verifies with).
 *
 * @example
 * const sessions = await SessionService.create({ vkey: loadPresentationVerificationKey(), ... });
 */
export function loadPresentationVerificationKey(dir = ARTIFACTS_DIR): unknown {
  const file = path.join(dir, "presentation.vkey.json");
  if (!existsSync(file)) throw new ZkPayError("artifacts_missing", `verification key not found: ${file}`);
  return JSON.parse(readFileSync(file, "utf8"));
}
