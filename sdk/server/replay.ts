import type { Redis } from "ioredis";

/**
 * Remembers which payments (by condition hash) were already accepted, so that a
 * replayed payment header is refused. `claim` must be atomic across every server
 * instance that shares the store.
 *
 * @example
 * if (!(await store.claim(conditionHash, 300))) throw new Error("replayed");
 */
export interface ReplayStore {
  /** Marks `key` used for `ttlSeconds`. Returns false if it was already used. */
  claim(key: string, ttlSeconds: number): Promise<boolean>;
  /** Forgets `key` (a payment that failed to settle may be retried). */
  release(key: string): Promise<void>;
}

/**
 * Single-process replay store (the default). Expired keys are swept lazily.
 *
 * @example
 * const replay = new MemoryReplayStore();
 */
export class MemoryReplayStore implements ReplayStore {
  readonly #used = new Map<string, number>();
  #lastSweep = 0;

  async claim(key: string, ttlSeconds: number): Promise<boolean> {
    const now = Date.now();
    if (now - this.#lastSweep > 10_000) {
      for (const [k, until] of this.#used) if (until <= now) this.#used.delete(k);
      this.#lastSweep = now;
    }
    const until = this.#used.get(key);
    if (until !== undefined && until > now) return false;
    this.#used.set(key, now + Math.max(1, ttlSeconds) * 1000);
    return true;
  }

  async release(key: string): Promise<void> {
    this.#used.delete(key);
  }
}

/**
 * Redis replay store for servers that run several instances: `SET key 1 NX EX ttl`
 * is atomic, so exactly one instance wins a claim.
 *
 * @example
 * import { Redis } from "ioredis";
 * const replay = new RedisReplayStore(new Redis("redis://127.0.0.1:6379"));
 */
export class RedisReplayStore implements ReplayStore {
  readonly #redis: Redis;
  readonly #prefix: string;

  constructor(redis: Redis, opts: { prefix?: string } = {}) {
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
}
