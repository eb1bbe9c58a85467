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
  /** Refuses the job without running it (it was displaced by a better one). */
  drop: (err: ZkPayError) => void;
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

  /**
   * Whether a job of `client` with `priority` submitted now would be accepted (it may
   * still wait): there is room, or the queue is full but holds a waiting job with a worse
   * (higher) priority, which the new job would displace.
   */
  wouldAccept(client: string, priority = 0): boolean {
    if (this.#running < this.concurrency && this.#queued === 0) return true;
    const mine = this.#waiting.get(client)?.length ?? 0;
    if (mine >= this.maxQueuedPerClient) return false;
    return this.#queued < this.maxQueued || this.#worst(priority) !== undefined;
  }

  /**
   * Runs `fn` when a slot is free and it is `client`'s turn (lowest `priority` first,
   * then in turn). Throws `server_busy` at once, without running `fn`, when the queue
   * (or this client's share of it) is full; a full queue makes room for a job with a
   * better priority by refusing its worst waiting job, so a flood of failing clients
   * cannot shut a client with a clean record out.
   */
  run<T>(client: string, fn: () => Promise<T>, priority = 0): Promise<T> {
    if (!this.wouldAccept(client, priority)) return Promise.reject(this.#busy());
    if (this.#queued >= this.maxQueued) {
      const [victimClient, victim] = this.#worst(priority)!;
      const list = this.#waiting.get(victimClient)!;
      list.splice(list.indexOf(victim), 1);
      if (list.length === 0) this.#waiting.delete(victimClient);
      this.#queued--;
      victim.drop(this.#busy());
    }
    return new Promise<T>((resolve, reject) => {
      const job: Job = {
        priority,
        drop: reject,
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

  #busy(): ZkPayError {
    return new ZkPayError("server_busy", "too many payments are being verified; retry shortly", {
      retryAfterSeconds: this.retryAfterSeconds,
    });
  }

  /** The waiting job with the worst priority, if it is worse than `than` (latest among equals). */
  #worst(than: number): [string, Job] | undefined {
    let found: [string, Job] | undefined;
    for (const [c, list] of this.#waiting) {
      for (const j of list) if (j.priority > than && (!found || j.priority >= found[1].priority)) found = [c, j];
    }
    return found;
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
