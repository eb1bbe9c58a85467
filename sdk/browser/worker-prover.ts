/**
 * Proving in a Web Worker, as a `Groth16Backend` the SDK's provers call: the wallet's
 * payment proofs and the session client's presentations run off the page's main thread,
 * with progress reported back.
 */
import { ZkPayError, type ZkReasonCode } from "../core/errors.js";
import type { CircuitArtifacts, Groth16Backend, Groth16BackendResult } from "../core/circuits/artifacts.js";
import type { CircuitName } from "../core/circuits/registry.js";
import { verifiedArtifactUrls } from "./artifact-cache.js";
import type { WorkerMessage, WorkerRequest } from "./worker-protocol.js";

/** A prover worker: the backend and a way to stop it. */
export interface WorkerProver {
  /**
   * Pass as `prove` of {@link CircuitArtifacts} (or use {@link workerArtifacts}). With
   * `sha256`, the worker loads `wasm` and `zkey` through the verified cache and refuses
   * other bytes.
   */
  prove(
    input: Parameters<Groth16Backend>[0],
    artifacts: Parameters<Groth16Backend>[1],
    onProgress: Parameters<Groth16Backend>[2],
    sha256?: WorkerRequest["sha256"],
  ): ReturnType<Groth16Backend>;
  /** Stops the worker; proofs in flight fail with `proving_failed`. */
  terminate(): void;
}

/**
 * Starts the prover worker at `workerUrl` (the `prover-worker.js` bundle, served by the
 * gate at `/.well-known/402zk/paywall/prover-worker.js`).
 *
 * @example
 * const prover = createWorkerProver("/.well-known/402zk/paywall/prover-worker.js");
 */
export function createWorkerProver(workerUrl: string | URL): WorkerProver {
  const worker = new Worker(workerUrl, { type: "module" });
  let nextId = 1;
  const waiting = new Map<
    number,
    {
      resolve: (r: Groth16BackendResult) => void;
      reject: (e: unknown) => void;
      onProgress: Parameters<Groth16Backend>[2];
    }
  >();
  const failAll = (message: string) => {
    for (const w of waiting.values()) w.reject(new ZkPayError("proving_failed", message));
    waiting.clear();
  };
  worker.addEventListener("message", (ev: MessageEvent<WorkerMessage>) => {
    const m = ev.data;
    const w = waiting.get(m.id);
    if (!w) return;
    if (m.type === "progress") w.onProgress(m.stage, m.fraction, m.message);
    else if (m.type === "done") {
      waiting.delete(m.id);
      w.resolve(m.result);
    } else {
      waiting.delete(m.id);
      w.reject(new ZkPayError(m.reason as ZkReasonCode, m.message));
    }
  });
  worker.addEventListener("error", (ev: ErrorEvent) =>
    failAll(`the prover worker failed: ${ev.message || "could not load"}`),
  );
  const prove: WorkerProver["prove"] = (input, artifacts, onProgress, sha256) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, { resolve, reject, onProgress });
      const req: WorkerRequest = {
        id,
        input,
        wasm: artifacts.wasm,
        zkey: artifacts.zkey,
        ...(sha256 ? { sha256 } : {}),
      };
      worker.postMessage(req);
    });
  return {
    prove,
    terminate() {
      worker.terminate();
      failAll("the prover worker was stopped");
    },
  };
}

/**
 * Circuit `name`'s artifacts under `baseUrl`, checked against the route's `vkeySha256`
 * (see `verifiedArtifactUrls`), proved by `prover`'s worker, which fetches them once and
 * keeps them in the Cache API.
 *
 * @example
 * const artifacts = await workerArtifacts("payment", "/.well-known/402zk/artifacts/", prover, extra.vkeySha256);
 * const wallet = await PrivateWallet.open({ ..., artifacts });
 */
export async function workerArtifacts(
  name: CircuitName,
  baseUrl: string | URL,
  prover: WorkerProver,
  vkeySha256?: string,
): Promise<CircuitArtifacts> {
  const urls = await verifiedArtifactUrls(name, baseUrl, vkeySha256);
  const sha256 = urls.sha256;
  return {
    wasm: urls.wasm,
    zkey: urls.zkey,
    // The worker checks each artifact against these hashes.
    prove: (input, a, onProgress) => prover.prove(input, a, onProgress, sha256),
  };
}
