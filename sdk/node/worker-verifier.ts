import { spawn, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import os from "node:os";
import { pathToFileURL } from "node:url";

import { fromSolidityProof, type SolidityProof } from "../core/prover.js";

/**
 * The worker's code: snarkjs' Groth16 verification, one message at a time. A child
 * process, not a worker thread: snarkjs' threading layer (web-worker) takes any worker
 * thread that loads it for one of its own workers. Kept inline (`node -e`) so that it
 * runs the same from the TypeScript sources and from dist/; snarkjs is imported by the
 * absolute URL the parent resolved, so it is found whatever the current directory. The
 * child exits when its parent goes (the IPC channel closes).
 */
const WORKER_SOURCE = `
const ready = import(process.env.ZK402_SNARKJS_URL);
process.on("disconnect", () => process.exit(0));
process.on("message", async ({ id, vkey, signals, proof }) => {
  let ok = false;
  try {
    const snarkjs = await ready;
    ok = await snarkjs.groth16.verify(vkey, signals, proof);
  } catch {
    ok = false; // malformed points make snarkjs throw: simply an invalid proof
  }
  process.send({ id, ok: ok === true });
});
`;

interface Pending {
  worker: ChildProcess;
  resolve: (ok: boolean) => void;
  reject: (err: Error) => void;
}

/**
 * Groth16 verification in worker processes, off the event loop. A pairing check takes
 * ~15-20 ms of CPU in snarkjs; on the main thread every one of them stalls every other
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
      const w = spawn(process.execPath, ["-e", WORKER_SOURCE], {
        stdio: ["ignore", "inherit", "inherit", "ipc"],
        env: { ...process.env, ZK402_SNARKJS_URL: snarkjs },
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
