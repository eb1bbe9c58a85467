import { ZkPayError } from "./errors.js";

/** Options of {@link FairQueue}. */
export interface FairQueueOptions {
  /** Jobs running at once. Default 2. */
  concurrency?: number;
  /** Jobs waiting, all clients together; one more is refused with `server_busy`. Default 32. */
  maxQueued?: number;
  /** Jobs waiting for one client; one more is refused with `server_busy`. Default 4. */
  maxQueuedPerClient?: number;
  /** What a refusal suggests as `Retry-After`, seconds. Default 1. */
  retryAfterSeconds?: number;
}

interface Job {
  run: () => void;
  priority: number;
}

/**
 * A bounded work queue that serves clients in turn. Used for Groth16 verifications,
 * the one expensive thing an unauthenticated caller can make a server do: with
 * `maxQueued` the process never holds more than that many waiting proofs (the caller
 * gets `server_busy` and a `Retry-After`, never an unbounded backlog), and the
 * round-robin over client keys means a flooding client delays an honest one by at most
 * one job per other active client, however many requests it sends. A job's `priority`
 * (lower first; the server passes the client's recent refusals) lets a client with a
 * clean record go ahead of clients whose proofs keep failing.
 *
 * @example
 * const queue = new FairQueue({ concurrency: 2, maxQueued: 32 });
 * const ok = await queue.run(clientIp, () => verifyPaymentProof(vkey, proof, signals));
 */
export class FairQueue {
  readonly concurrency: number;
  readonly maxQueued: number;
  readonly maxQueuedPerClient: number;
  readonly retryAfterSeconds: number;
  /** Waiting jobs per client, in arrival order; Map order is the round-robin order. */
  readonly #waiting = new Map<string, Job[]>();
  #queued = 0;
  #running = 0;

  constructor(o: FairQueueOptions = {}) {
    this.concurrency = Math.max(1, o.concurrency ?? 2);
    this.maxQueued = Math.max(0, o.maxQueued ?? 32);
    this.maxQueuedPerClient = Math.max(0, o.maxQueuedPerClient ?? 4);
    this.retryAfterSeconds = Math.max(1, o.retryAfterSeconds ?? 1);
  }

  /** Jobs running and waiting now. */
  get stats(): { running: number; queued: number } {
    return { running: this.#running, queued: this.#queued };
  }

  /** Whether a job of `client` submitted now would be accepted (it may still wait). */
  wouldAccept(client: string): boolean {
    if (this.#running < this.concurrency && this.#queued === 0) return true;
    const mine = this.#waiting.get(client)?.length ?? 0;
    return this.#queued < this.maxQueued && mine < this.maxQueuedPerClient;
  }

  /**
   * Runs `fn` when a slot is free and it is `client`'s turn (lowest `priority` first,
   * then in turn). Throws `server_busy` at once, without running `fn`, when the queue
   * (or this client's share of it) is full.
   */
  run<T>(client: string, fn: () => Promise<T>, priority = 0): Promise<T> {
    if (!this.wouldAccept(client)) {
      return Promise.reject(
        new ZkPayError("server_busy", "too many payments are being verified; retry shortly", {
          retryAfterSeconds: this.retryAfterSeconds,
        }),
      );
    }
    return new Promise<T>((resolve, reject) => {
      const job: Job = {
        priority,
        run: () => {
          this.#running++;
          fn()
            .then(resolve, reject)
            .finally(() => {
              this.#running--;
              this.#dispatch();
            });
        },
      };
      const list = this.#waiting.get(client);
      if (list) list.push(job);
      else this.#waiting.set(client, [job]);
      this.#queued++;
      this.#dispatch();
    });
  }

  #dispatch(): void {
    while (this.#running < this.concurrency && this.#queued > 0) {
      // Lowest priority first; among equals, the first in Map order has waited longest
      // for its turn.
      let client = "";
      let list: Job[] = [];
      for (const [c, l] of this.#waiting) {
        if (list.length === 0 || l[0]!.priority < list[0]!.priority) [client, list] = [c, l];
      }
      const job = list.shift()!;
      this.#waiting.delete(client);
      // Back of the line if it has more waiting: one job per client per round.
      if (list.length > 0) this.#waiting.set(client, list);
      this.#queued--;
      job.run();
    }
  }
}
