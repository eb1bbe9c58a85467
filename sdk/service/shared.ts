import type { SettleResponse } from "@x402/core/types";

import type { RedisClientLike } from "../core/replay.js";

/** A settlement result as shared between instances: the payment it is for, and the answer. */
export interface SharedResult {
  fingerprint: string;
  response: SettleResponse;
}

/**
 * The one piece of state several service instances must share: who settles each note.
 * Each instance has its own relayer key, nonce sequence and SQLite file (nothing else
 * is shared: a relayer key shared between processes would need one nonce sequence across
 * them, so don't). Two instances given the same payment (two resource servers, a client
 * retry landing elsewhere) must not both submit it: the first claims the note's id, the
 * other waits for the result the first publishes.
 */
export interface SettlementRegistry {
  /** Claims `id` for `owner`; null when claimed now (or already ours), else the current owner. */
  claim(id: string, owner: string, ttlSeconds: number): Promise<string | null>;
  /** Gives the claim up (a failure that may pass on retry), if `owner` holds it. */
  release(id: string, owner: string): Promise<void>;
  /** Publishes the settlement result of `id` to the other instances for `ttlSeconds`. */
  publish(id: string, result: SharedResult, ttlSeconds: number): Promise<void>;
  /** The result another instance published for `id`, if any. */
  result(id: string): Promise<SharedResult | undefined>;
}

const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/**
 * {@link SettlementRegistry} in Redis: `SET NX EX` claims (atomic: exactly one instance
 * wins), results as JSON with a TTL, release only by the owner (a Lua compare-and-delete).
 *
 * @example
 * const registry = new RedisSettlementRegistry(new Redis(process.env.ZK402_REDIS_URL!));
 */
export class RedisSettlementRegistry implements SettlementRegistry {
  readonly #redis: RedisClientLike;
  readonly #prefix: string;

  /** `redis`: an ioredis client (or anything of {@link RedisClientLike}'s shape). */
  constructor(redis: RedisClientLike, opts: { prefix?: string } = {}) {
    this.#redis = redis;
    this.#prefix = opts.prefix ?? "402zk:facilitator:";
  }

  async claim(id: string, owner: string, ttlSeconds: number): Promise<string | null> {
    const k = `${this.#prefix}claim:${id}`;
    const ok = await this.#redis.set(k, owner, "EX", Math.max(1, Math.ceil(ttlSeconds)), "NX");
    if (ok === "OK") return null;
    const current = await this.#redis.get(k);
    return current === owner ? null : (current ?? null);
  }

  async release(id: string, owner: string): Promise<void> {
    await this.#redis.eval(RELEASE, 1, `${this.#prefix}claim:${id}`, owner);
  }

  async publish(id: string, result: SharedResult, ttlSeconds: number): Promise<void> {
    await this.#redis.set(`${this.#prefix}result:${id}`, JSON.stringify(result), "EX", Math.max(1, ttlSeconds));
  }

  async result(id: string): Promise<SharedResult | undefined> {
    const v = await this.#redis.get(`${this.#prefix}result:${id}`);
    return v ? (JSON.parse(v) as SharedResult) : undefined;
  }
}
