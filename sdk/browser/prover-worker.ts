/**
 * The Web Worker that proves for a page (bundled on its own as `prover-worker.js`): it
 * fetches the circuit artifacts through the verified cache, computes the witness and the
 * Groth16 proof with snarkjs, and posts progress and the result back. The page's main
 * thread stays free to draw the progress bar. Messages are {@link WorkerRequest} in and
 * {@link WorkerMessage} out.
 */
import * as snarkjs from "snarkjs";

import { fetchArtifact } from "../core/circuits/artifacts.js";
import { proveProgressLogger } from "../core/prove-progress.js";
import { cachedArtifact } from "./artifact-cache.js";
import type { WorkerMessage, WorkerRequest } from "./worker-protocol.js";

const post = (m: WorkerMessage) => (self as unknown as { postMessage(m: WorkerMessage): void }).postMessage(m);

async function bytesOf(a: string | Uint8Array, sha256: string | undefined): Promise<Uint8Array> {
  if (typeof a !== "string") return a;
  return sha256 === undefined ? fetchArtifact(a) : cachedArtifact(a, sha256);
}

async function prove(req: WorkerRequest): Promise<void> {
  const progress = (stage: "witness" | "prove", fraction: number, message: string) =>
    post({ id: req.id, type: "progress", stage, fraction, message });
  progress("witness", 0.05, "loading circuit");
  const [wasm, zkey] = await Promise.all([bytesOf(req.wasm, req.sha256?.wasm), bytesOf(req.zkey, req.sha256?.zkey)]);
  progress("witness", 0.1, "computing witness");
  const t0 = performance.now();
  const wtns: { type: "mem"; data?: Uint8Array } = { type: "mem" };
  await snarkjs.wtns.calculate(req.input, wasm, wtns);
  const t1 = performance.now();
  progress("prove", 0.2, "proving");
  const logger = proveProgressLogger((fraction, label) => progress("prove", fraction, label));
  const { proof, publicSignals } = await snarkjs.groth16.prove(zkey, wtns, logger);
  const t2 = performance.now();
  post({
    id: req.id,
    type: "done",
    result: {
      proof: { pi_a: proof.pi_a.map(String), pi_b: proof.pi_b.map((r) => r.map(String)), pi_c: proof.pi_c.map(String) },
      publicSignals: publicSignals.map(String),
      timings: { witnessMs: t1 - t0, proveMs: t2 - t1 },
    },
  });
}

// One proof at a time: snarkjs already uses every core for one proof.
let queue: Promise<void> = Promise.resolve();
self.addEventListener("message", (ev: Event) => {
  const req = (ev as MessageEvent<WorkerRequest>).data;
  queue = queue.then(() =>
    prove(req).catch((err: unknown) => {
      const e = err as { reason?: string; message?: string };
      const msg = e?.message ?? String(err);
      // The cache's typed errors keep their reason (artifacts_missing / _mismatch); a
      // failed circuit assertion is a witness the circuit refuses.
      post({
        id: req.id,
        type: "error",
        reason: e?.reason ?? "proving_failed",
        message: /Assert Failed/i.test(msg)
          ? "the witness does not satisfy the circuit (wrong path, root, or values)"
          : msg,
      });
    }),
  );
});
