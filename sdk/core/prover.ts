/**
 * Generic Groth16 proving with snarkjs for any circuit of the registry: witness and proof
 * with progress reports over the artifact cache (circuits/artifacts.ts), snarkjs' curve lifecycle.
 * What a proof means lives next to its circuit: payment inputs in circuits/payment.ts,
 * presentation inputs in session/prove.ts.
 */
import type * as Snarkjs from "snarkjs";

import { ZkPayError } from "./errors.js";
import { proveProgressLogger } from "./prove-progress.js";
import { artifactBytes, type CircuitArtifacts, type Groth16Backend } from "./circuits/artifacts.js";
import { fromSolidityProof, toSolidityProof, type Groth16Proof, type SolidityProof } from "./circuits/proof.js";

let snarkjsModule: Promise<typeof Snarkjs> | undefined;
/**
 * snarkjs, loaded on first use: it is large (~30 MiB of heap with its curve code), and a
 * process that only syncs or verifies with mcl-wasm never needs it.
 */
function loadSnarkjs(): Promise<typeof Snarkjs> {
  return (snarkjsModule ??= import("snarkjs"));
}

/** Proving stages reported to `onProgress`. */
export type ProofStage = "witness" | "prove" | "done";

/** Progress report: a stage and an overall fraction in [0, 1]. */
export interface ProofProgress {
  stage: ProofStage;
  fraction: number;
  message: string;
}

/**
 * Witness and Groth16 proof for any of the SDK's circuits (payment, presentation), with
 * progress reports and the artifact cache of {@link preloadArtifacts}. The caller lays
 * out `input` and checks the public signals against its reference implementation.
 *
 * @example
 * const { proof, publicSignals } = await proveGroth16(input, artifactsOf("presentation"));
 */
export async function proveGroth16(
  input: Record<string, string | string[]>,
  artifacts: CircuitArtifacts,
  options: { onProgress?: (p: ProofProgress) => void } = {},
): Promise<{ proof: SolidityProof; publicSignals: bigint[]; timings: { witnessMs: number; proveMs: number } }> {
  const proving = proveNow(input, artifacts, options);
  const settled = proving.then(
    () => {},
    () => {},
  );
  proofsInFlight.add(settled);
  void settled.then(() => proofsInFlight.delete(settled));
  return proving;
}

/**
 * Proofs started and not finished. {@link shutdownProver} waits for them: a proof still
 * computing its witness when the curve is terminated would build a new curve, and new
 * worker threads that keep the process alive, when it reaches the Groth16 step (a
 * `SessionClient` proves its next presentation in the background after each request).
 */
const proofsInFlight = new Set<Promise<void>>();

async function proveNow(
  input: Record<string, string | string[]>,
  artifacts: CircuitArtifacts,
  options: { onProgress?: (p: ProofProgress) => void },
): Promise<{ proof: SolidityProof; publicSignals: bigint[]; timings: { witnessMs: number; proveMs: number } }> {
  const report = options.onProgress ?? (() => {});
  report({ stage: "witness", fraction: 0.02, message: "computing witness" });
  if (artifacts.prove) {
    // Another thread proves (a browser's Web Worker); its errors are mapped as ours are.
    let r: Awaited<ReturnType<Groth16Backend>>;
    try {
      r = await artifacts.prove(input, { wasm: artifacts.wasm, zkey: artifacts.zkey }, (stage, fraction, message) =>
        report({ stage, fraction, message }),
      );
    } catch (err) {
      throw asArtifactOrProvingError(err, "prove");
    }
    report({ stage: "done", fraction: 1, message: "proof ready" });
    return {
      proof: toSolidityProof({ ...r.proof, protocol: "groth16", curve: "bn128" }),
      publicSignals: r.publicSignals.map((x) => BigInt(x)),
      timings: r.timings,
    };
  }
  const t0 = performance.now();
  // Both artifacts load in parallel the first time; later proofs find them in memory.
  const zkeyBytes = artifactBytes(artifacts.zkey, artifacts.read);
  zkeyBytes.catch(() => {}); // awaited (and reported) below, after the witness
  const wtns: { type: "mem"; data?: Uint8Array } = { type: "mem" };
  try {
    const snarkjs = await loadSnarkjs();
    await snarkjs.wtns.calculate(input, await artifactBytes(artifacts.wasm, artifacts.read), wtns);
  } catch (err) {
    throw asArtifactOrProvingError(err, "witness");
  }
  const t1 = performance.now();
  report({ stage: "prove", fraction: 0.2, message: "proving" });
  const snarkjs = await loadSnarkjs();
  let proved: Awaited<ReturnType<typeof Snarkjs.groth16.prove>>;
  const logger = proveProgressLogger((fraction, message) => report({ stage: "prove", fraction, message }));
  try {
    const zkey = await zkeyBytes;
    proved = await withCurve(() => snarkjs.groth16.prove(zkey, wtns, logger));
  } catch (err) {
    throw asArtifactOrProvingError(err, "prove");
  }
  const t2 = performance.now();
  report({ stage: "done", fraction: 1, message: "proof ready" });
  return {
    proof: toSolidityProof(proved.proof),
    publicSignals: proved.publicSignals.map((x) => BigInt(x)),
    timings: { witnessMs: t1 - t0, proveMs: t2 - t1 },
  };
}

function asArtifactOrProvingError(err: unknown, phase: string): ZkPayError {
  // The artifact loader's own error (artifacts_missing) says it best.
  if (err instanceof ZkPayError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  if (/Assert Failed/i.test(msg)) {
    return new ZkPayError(
      "proving_failed",
      "the witness does not satisfy the circuit (wrong path, root, or values)",
      { phase },
      { cause: err },
    );
  }
  return new ZkPayError("proving_failed", `${phase} failed: ${msg}`, { phase }, { cause: err });
}

/**
 * `snarkjs.groth16.verify` for any circuit (~15-50 ms): the reference the fast verifier
 * (`Groth16Verifier` in core/verifier.ts) is tested against. Never throws: a malformed proof is false.
 *
 * @example
 * const ok = await verifyGroth16Snarkjs(vkey, proof, publicSignals);
 */
export async function verifyGroth16Snarkjs(
  vkey: unknown,
  proof: SolidityProof | Groth16Proof,
  publicSignals: readonly (bigint | string)[],
): Promise<boolean> {
  try {
    const p = "pA" in proof ? fromSolidityProof(proof) : proof;
    const snarkjs = await loadSnarkjs();
    return await withCurve(() => snarkjs.groth16.verify(vkey, publicSignals.map(String), p));
  } catch {
    // Malformed points make snarkjs throw: that is simply an invalid proof.
    return false;
  }
}

let curveBuilt: Promise<void> | undefined;

/**
 * Runs a snarkjs operation that needs the BN254 curve. The first one builds the curve
 * (and its worker threads) alone: ffjavascript caches the curve in a global only once it
 * is built, so concurrent first calls would each build one and leak all but the last.
 */
async function withCurve<T>(fn: () => Promise<T>): Promise<T> {
  if (curveBuilt) {
    await curveBuilt;
    return fn();
  }
  let done!: () => void;
  curveBuilt = new Promise<void>((resolve) => (done = resolve));
  try {
    return await fn();
  } finally {
    done();
  }
}

/**
 * Stops snarkjs' worker threads so that a process that proved can exit. Call once when
 * done proving (CLIs, tests); long-running servers need not. Proofs in flight (a
 * presentation prepared in the background) finish first.
 *
 * @example
 * await shutdownProver();
 */
export async function shutdownProver(): Promise<void> {
  const g = globalThis as { curve_bn128?: { terminate: () => Promise<void> } };
  while (proofsInFlight.size > 0) await Promise.all([...proofsInFlight]);
  if (curveBuilt) await curveBuilt;
  curveBuilt = undefined;
  if (g.curve_bn128) {
    await g.curve_bn128.terminate();
    delete g.curve_bn128;
  }
}
