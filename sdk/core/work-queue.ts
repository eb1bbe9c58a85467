import { ZkPayError } from "./errors.js";

/** After the I/O callbacks of this turn of the event loop (browsers: a zero timeout). */
const nextTurn: (fn: () => void) => void =
  typeof setImmediate === "function" ? (fn) => setImmediate(fn) : (fn) => setTimeout(fn, 0);

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

/**
 * Jobs of one kind that may share a slot of a {@link FairQueue} ({@link FairQueue.runBatched}):
 * checking several together costs less than one by one (Groth16 proofs: one pairing check).
 */
export interface QueueBatch<I, R> {
  /** Most items run together in one slot. */
  maxSize: number;
  /** Runs the items together: one result per item, in order. */
  run: (items: I[]) => Promise<R[]>;
}

interface Job {
  run: () => void;
  /** Refuses the job without running it (it was displaced by a better one). */
  drop: (err: ZkPayError) => void;
  priority: number;
  /** A job of a batch: its group, item and settlement (run by the slot that takes it). */
  batch?: {
    group: QueueBatch<unknown, unknown>;
    item: unknown;
    resolve: (r: unknown) => void;
    reject: (err: unknown) => void;
  };
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
    return this.#submit(client, priority, (resolve, reject) => ({
      priority,
      drop: reject,
      run: () => {
        this.#running++;
        fn()
          .then(resolve, reject)
          .finally(() => this.#release());
      },
    }));
  }

  /**
   * As {@link FairQueue.run}, for an item of `batch`: the same bound, turn and priority
   * per client, but when its turn comes, the slot also takes the jobs that would run
   * right after it, as long as they are items of the same batch (at most
   * `batch.maxSize`), and runs them together. Nobody is overtaken: a batch only takes
   * jobs whose turn it is anyway. The slot starts on the next turn of the event loop,
   * so items that arrive together are batched together.
   *
   * @example
   * const verify: QueueBatch<Proof, boolean> = { maxSize: 16, run: async (ps) => verifier.verifyBatchDetailed(ps) };
   * const ok = await queue.runBatched(verify, clientIp, proof, priority);
   */
  runBatched<I, R>(batch: QueueBatch<I, R>, client: string, item: I, priority = 0): Promise<R> {
    return this.#submit<R>(client, priority, (resolve, reject) => {
      const job: Job = {
        priority,
        drop: reject,
        batch: {
          group: batch as QueueBatch<unknown, unknown>,
          item,
          resolve: resolve as (r: unknown) => void,
          reject,
        },
        run: () => this.#runBatch(job),
      };
      return job;
    });
  }

  #submit<T>(
    client: string,
    priority: number,
    make: (resolve: (v: T) => void, reject: (err: unknown) => void) => Job,
  ): Promise<T> {
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
      const job = make(resolve, reject);
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

  #release(): void {
    this.#running--;
    this.#dispatch();
  }

  #dispatch(): void {
    while (this.#running < this.concurrency && this.#queued > 0) this.#next()!.run();
  }

  /**
   * Takes the job whose turn it is (only if it is an item of `group`, when given).
   * Lowest priority first; among equals, the first in Map order has waited longest for
   * its turn.
   */
  #next(group?: QueueBatch<unknown, unknown>): Job | undefined {
    let client = "";
    let list: Job[] = [];
    for (const [c, l] of this.#waiting) {
      if (list.length === 0 || l[0]!.priority < list[0]!.priority) [client, list] = [c, l];
    }
    if (list.length === 0 || (group !== undefined && list[0]!.batch?.group !== group)) return undefined;
    const job = list.shift()!;
    this.#waiting.delete(client);
    // Back of the line if it has more waiting: one job per client per round.
    if (list.length > 0) this.#waiting.set(client, list);
    this.#queued--;
    return job;
  }

  /** Runs `first` and the items of its batch whose turn follows, in one slot. */
  #runBatch(first: Job): void {
    this.#running++;
    const group = first.batch!.group;
    nextTurn(() => {
      const jobs = [first];
      for (let j: Job | undefined; jobs.length < group.maxSize && (j = this.#next(group));) jobs.push(j);
      let results: Promise<unknown[]>;
      try {
        results = group.run(jobs.map((j) => j.batch!.item));
      } catch (err) {
        results = Promise.reject(err);
      }
      results
        .then(
          (r) => jobs.forEach((j, i) => j.batch!.resolve(r[i])),
          (err: unknown) => jobs.forEach((j) => j.batch!.reject(err)),
        )
        .finally(() => this.#release());
    });
  }
}
