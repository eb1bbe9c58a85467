import { fileURLToPath } from "node:url";
import path from "node:path";

/** Repository root (this file lives in scripts/lib/). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Committed circuit artifacts the tests and the SDK use. */
export const ARTIFACTS_DIR = path.join(ROOT, "circuits", "artifacts");

/** Scratch output of the circuit build (ignored by git). */
export const BUILD_DIR = path.join(ROOT, "build", "circuits");

/** Cache for the development Powers of Tau (ignored by git, survives rebuilds). */
export const PTAU_CACHE_DIR = path.join(ROOT, ".cache", "ptau");

// The generated verifier contracts are named per circuit in sdk/core/circuits/registry.ts.
