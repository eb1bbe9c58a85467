import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import { fileURLToPath, pathToFileURL } from "node:url";

import { fromSolidityProof, type SolidityProof } from "../core/circuits/proof.js";

/**
 * The worker's code: Groth16 verification, one message at a time, with the SDK's fast
 * verifier (sdk/core/verifier, mcl-wasm: ~5 ms a proof) and snarkjs as the fallback
 * when that module cannot be loaded (a Node without TypeScript type stripping running
 * the sources). A child process, not a worker thread: snarkjs' threading layer
 * (web-worker) takes any worker thread that loads it for one of its own workers. Kept
 * inline (`node -e`) so that it runs the same from the TypeScript sources and from
 * dist/; modules are imported by the absolute URLs the parent resolved, so they are found
 * whatever the current directory. The child exits when its parent goes (the IPC channel
 * closes). Verifiers are prepared once per verification key (by its JSON).
 */
const WORKER_SOURCE = `
const fast = import(process.env.ZK402_VERIFIER_URL).then((m) => m.Groth16Verifier, () => null);
let snarkjs;
const verifiers = new Map();
process.on("disconnect", () => process.exit(0));
process.on("message", async ({ id, vkey, signals, proof }) => {
  let ok = false;
  try {
    const Groth16Verifier = await fast;
    if (Groth16Verifier) {
      const key = JSON.stringify(vkey);
      let v = verifiers.get(key);
      if (!v) {
        v = Groth16Verifier.fromVkey(vkey);
        verifiers.set(key, v);
        v.catch(() => verifiers.delete(key));
      }
      ok = (await v).verify(proof, signals);
    } else {
      snarkjs ??= import(process.env.ZK402_SNARKJS_URL);
      ok = await (await snarkjs).groth16.verify(vkey, signals, proof);
    }
  } catch {
    ok = false; // a malformed key or proof: simply not a valid proof
  }
  process.send({ id, ok: ok === true });
});
`;

/** URL of the fast verifier module: dist/core/verifier.js, or the TypeScript source next to this one. */
function verifierModuleUrl(): string {
  for (const ext of [".js", ".ts"]) {
    const url = new URL(`../core/verifier${ext}`, import.meta.url);
    if (existsSync(fileURLToPath(url))) return url.href;
  }
  return new URL("../core/verifier.js", import.meta.url).href;
}

interface Pending {
  worker: ChildProcess;
  resolve: (ok: boolean) => void;
  reject: (err: Error) => void;
}

/**
 * Groth16 verification in worker processes, off the event loop. A pairing check takes
 * ~5 ms of CPU (mcl-wasm; ~15-20 ms in snarkjs); on the main thread every one of them stalls every other
 * request of the process (HTTP parsing, settlement, chain reads). With `threads`
 * workers (default: one less than the cores, at least one) the server keeps answering
 * while proofs are checked, and the fair queue in front decides whose proof goes next.
 * Workers are `unref()`-ed: they never keep a process alive.
 *
 * @example
 * const verifier = new WorkerVerifier({ threads: 1 });
 * const ok = await verifier.verify(vkey, proof, publicSignals);
 * await verifier.close();
 */
export class WorkerVerifier {
  readonly threads: number;
  readonly #workers: ChildProcess[] = [];
  readonly #pending = new Map<number, Pending>();
  #next = 0;
  #turn = 0;

  constructor(o: { threads?: number } = {}) {
    this.threads = Math.max(1, o.threads ?? os.availableParallelism() - 1);
  }

  /** Same contract as `verifyPaymentProof`: true only for a valid proof, never throws for a bad one. */
  verify(vkey: unknown, proof: SolidityProof, publicSignals: readonly bigint[]): Promise<boolean> {
    const worker = this.#worker();
    const id = this.#next++;
    return new Promise<boolean>((resolve, reject) => {
      this.#pending.set(id, { worker, resolve, reject });
      // A verification in flight keeps the process alive until its answer; idle workers do not.
      worker.channel?.ref();
      worker.send({ id, vkey, signals: publicSignals.map(String), proof: fromSolidityProof(proof) });
    });
  }

  /** Stops the workers; verifications in flight fail. */
  async close(): Promise<void> {
    for (const w of this.#workers.splice(0)) w.kill();
  }

  #worker(): ChildProcess {
    if (this.#workers.length < this.threads) {
      const snarkjs = pathToFileURL(createRequire(import.meta.url).resolve("snarkjs")).href;
      // From the sources the verifier is a .ts file, which Node >= 22.18 loads by type
      // stripping; its experimental warning would only be noise on the parent's stderr.
      const w = spawn(process.execPath, ["--disable-warning=ExperimentalWarning", "-e", WORKER_SOURCE], {
        stdio: ["ignore", "inherit", "inherit", "ipc"],
        env: { ...process.env, ZK402_SNARKJS_URL: snarkjs, ZK402_VERIFIER_URL: verifierModuleUrl() },
      });
      // Neither the process nor its channel keeps the parent alive.
      w.unref();
      w.channel?.unref();
      w.on("message", ({ id, ok }: { id: number; ok: boolean }) => {
        const p = this.#pending.get(id);
        this.#pending.delete(id);
        p?.resolve(ok);
        if (![...this.#pending.values()].some((x) => x.worker === w)) w.channel?.unref();
      });
      w.on("error", (err) => this.#fail(w, err));
      w.on("exit", (code) => this.#fail(w, new Error(`verification worker exited with code ${code}`)));
      this.#workers.push(w);
      return w;
    }
    return this.#workers[this.#turn++ % this.#workers.length]!;
  }

  /** A worker died: its verifications fail (as errors, not as "invalid"); a later call starts a new one. */
  #fail(w: ChildProcess, err: Error): void {
    const i = this.#workers.indexOf(w);
    if (i >= 0) this.#workers.splice(i, 1);
    for (const [id, p] of this.#pending) {
      if (p.worker !== w) continue;
      this.#pending.delete(id);
      p.reject(err);
    }
  }
}
