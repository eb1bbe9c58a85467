/**
 * What the SDK's Redis-backed stores use of a Redis client: an `ioredis` `Redis` (or
 * `Cluster`) fits it as it is. Declared here, instead of importing ioredis' types, so that
 * the published types compile in an app that does not install ioredis (an optional peer).
 *
 * @example
 * import { Redis } from "ioredis";
 * const client: RedisClientLike = new Redis(process.env.REDIS_URL!);
 */
export interface RedisClientLike {
  /** `SET key value EX seconds NX`: "OK" when set, null when the key existed. */
  set(key: string, value: string, ex: "EX", seconds: number, nx: "NX"): Promise<string | null>;
  /** `SET key value EX seconds`. */
  set(key: string, value: string, ex: "EX", seconds: number): Promise<unknown>;
  /** `GET key`. */
  get(key: string): Promise<string | null>;
  /** `DEL key`. */
  del(key: string): Promise<number>;
  /** `EVAL script numKeys ...keysAndArgs`. */
  eval(script: string, numKeys: number, ...keysAndArgs: (string | number)[]): Promise<unknown>;
  /** `MULTI`: the queued commands run atomically on `exec()`. */
  multi(): RedisTransactionLike;
}

/** The part of an ioredis `multi()` pipeline that {@link RedisReplayStore} uses. */
export interface RedisTransactionLike {
  /** Queues `GET key`. */
  get(key: string): RedisTransactionLike;
  /** Queues `TTL key`. */
  ttl(key: string): RedisTransactionLike;
  /** Runs the queue: one `[error, result]` per command, or null when the transaction was aborted. */
  exec(): Promise<[Error | null, unknown][] | null>;
}

/**
 * Shared state of the servers that accept payments for one API: single-use claims
 * (a challenge, a nullifier being settled) and windowed counters (verification attempts
 * per challenge, failed payments per client). Every operation must be atomic across all
 * server instances that share the store, or the limits only hold per instance.
 *
 * @example
 * if (!(await store.claim(conditionHash, 300))) throw new Error("replayed");
 * if ((await store.increment(`attempts:${conditionHash}`, 300)) > 3) throw new Error("too many attempts");
 */
export interface ReplayStore {
  /** Marks `key` used for `ttlSeconds`. Returns false if it was already used. */
  claim(key: string, ttlSeconds: number): Promise<boolean>;
  /** Forgets `key` (a payment that failed to settle may be retried). */
  release(key: string): Promise<void>;
  /**
   * Adds `by` (default 1; negative to refund) to the counter `key` and returns the new
   * count. The first increment starts a window of `ttlSeconds`; the counter disappears
   * when it ends (a fixed window).
   */
  increment(key: string, ttlSeconds: number, by?: number): Promise<number>;
  /** The current count of `key` (0 if absent or expired) and the seconds its window has left. */
  count(key: string): Promise<{ count: number; ttlSeconds: number }>;
  /**
   * True for stores that are shared between processes (Redis). A server that declares
   * several instances refuses to start with a store that is not.
   */
  readonly shared: boolean;
}

/**
 * Single-process store (the default): claims and counters live in this process only, so
 * with several server instances each would accept the same payment once. Expired keys
 * are swept lazily.
 *
 * @example
 * const replay = new MemoryReplayStore();
 */
export class MemoryReplayStore implements ReplayStore {
  readonly shared = false;
  readonly #used = new Map<string, number>();
  readonly #counters = new Map<string, { n: number; until: number }>();
  #lastSweep = 0;

  async claim(key: string, ttlSeconds: number): Promise<boolean> {
    const now = this.#sweep();
    const until = this.#used.get(key);
    if (until !== undefined && until > now) return false;
    this.#used.set(key, now + Math.max(1, ttlSeconds) * 1000);
    return true;
  }

  async release(key: string): Promise<void> {
    this.#used.delete(key);
  }

  async increment(key: string, ttlSeconds: number, by = 1): Promise<number> {
    const now = this.#sweep();
    const c = this.#counters.get(key);
    if (c && c.until > now) return (c.n += by);
    this.#counters.set(key, { n: by, until: now + Math.max(1, ttlSeconds) * 1000 });
    return by;
  }

  async count(key: string): Promise<{ count: number; ttlSeconds: number }> {
    const now = Date.now();
    const c = this.#counters.get(key);
    if (!c || c.until <= now) return { count: 0, ttlSeconds: 0 };
    return { count: c.n, ttlSeconds: Math.ceil((c.until - now) / 1000) };
  }

  #sweep(): number {
    const now = Date.now();
    if (now - this.#lastSweep > 10_000) {
      for (const [k, until] of this.#used) if (until <= now) this.#used.delete(k);
      for (const [k, c] of this.#counters) if (c.until <= now) this.#counters.delete(k);
      this.#lastSweep = now;
    }
    return now;
  }
}

/** INCRBY, and start the window when the key is new, in one atomic step. */
const INCREMENT_SCRIPT = `local n = redis.call('INCRBY', KEYS[1], ARGV[2])
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n`;

/**
 * Redis store for servers that run several instances: `SET key 1 NX EX ttl` is atomic,
 * so exactly one instance wins a claim; counters are one Lua script (INCR + EXPIRE).
 *
 * @example
 * import { Redis } from "ioredis";
 * const replay = new RedisReplayStore(new Redis("redis://127.0.0.1:6379"));
 */
export class RedisReplayStore implements ReplayStore {
  readonly shared = true;
  readonly #redis: RedisClientLike;
  readonly #prefix: string;

  constructor(redis: RedisClientLike, opts: { prefix?: string } = {}) {
    this.#redis = redis;
    this.#prefix = opts.prefix ?? "402zk:replay:";
  }

  async claim(key: string, ttlSeconds: number): Promise<boolean> {
    const r = await this.#redis.set(this.#prefix + key, "1", "EX", Math.max(1, Math.ceil(ttlSeconds)), "NX");
    return r === "OK";
  }

  async release(key: string): Promise<void> {
    await this.#redis.del(this.#prefix + key);
  }

  async increment(key: string, ttlSeconds: number, by = 1): Promise<number> {
    const ttl = Math.max(1, Math.ceil(ttlSeconds));
    const n = await this.#redis.eval(INCREMENT_SCRIPT, 1, this.#prefix + key, ttl, Math.trunc(by));
    return Number(n);
  }

  async count(key: string): Promise<{ count: number; ttlSeconds: number }> {
    const k = this.#prefix + key;
    const [[, n], [, ttl]] = (await this.#redis.multi().get(k).ttl(k).exec()) as [
      [unknown, string | null],
      [unknown, number],
    ];
    return n === null ? { count: 0, ttlSeconds: 0 } : { count: Number(n), ttlSeconds: Math.max(0, ttl) };
  }
}
