/** Messages between a page and its prover worker (`prover-worker.ts`). */
import type { Groth16BackendResult } from "../core/circuits/artifacts.js";

/** A proof to make: the circuit input, its artifacts (URLs with expected sha256, or bytes). */
export interface WorkerRequest {
  id: number;
  input: Record<string, string | string[]>;
  wasm: string | Uint8Array;
  zkey: string | Uint8Array;
  sha256?: { wasm: string; zkey: string };
}

/** Progress, the result, or the failure of request `id`. */
export type WorkerMessage =
  | { id: number; type: "progress"; stage: "witness" | "prove"; fraction: number; message: string }
  | { id: number; type: "done"; result: Groth16BackendResult }
  | { id: number; type: "error"; reason: string; message: string };
