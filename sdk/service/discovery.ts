/**
 * x402's bazaar discovery on the facilitator service: like x402's own facilitators, the
 * service catalogues the discoverable resources it settles and lists them at
 * `GET /discovery/resources`, in `@x402/extensions/bazaar`'s wire shapes
 * (`DiscoveryResourcesResponse`). The discovery info is read from a settled payment with
 * x402's own `extractDiscoveryInfo` (the bazaar extension the resource server declared in
 * its 402 and the payer echoed); a route without the declaration is not catalogued.
 */
import type { PaymentPayload, PaymentRequirements } from "@x402/core/types";
import { extractDiscoveryInfo, type DiscoveryResource, type DiscoveryResourcesResponse } from "@x402/extensions/bazaar";

import { ZkPayError } from "../core/errors.js";
import type { ServiceStore } from "./store.js";

export type { DiscoveryResource, DiscoveryResourcesResponse };

/** Most resources a catalogue keeps by default (the least recently updated go first). */
export const DEFAULT_DISCOVERY_MAX_RESOURCES = 1000;
/** Largest catalogued entry, bytes of JSON: a bigger declaration is not catalogued. */
export const MAX_DISCOVERY_ENTRY_BYTES = 16 * 1024;
/** Default and largest `limit` of `GET /discovery/resources`. */
export const DISCOVERY_PAGE = { defaultLimit: 20, maxLimit: 100 } as const;

/**
 * Where the service keeps its catalogue of discoverable resources: one entry per resource
 * URL (a second payment updates it), at most a bounded number of entries. The SQLite store
 * ({@link SqliteDiscoveryCatalog}) serves one instance; several instances behind one URL
 * share one {@link RedisDiscoveryCatalog}.
 */
export interface DiscoveryCatalog {
  /** The entry of `resource`, if catalogued. */
  get(resource: string): Promise<DiscoveryResource | undefined>;
  /** Inserts or replaces the entry of `entry.resource`, then drops the least recently updated beyond the bound. */
  put(entry: DiscoveryResource, updatedAt: number): Promise<void>;
  /** Every entry, most recently updated first. */
  all(): Promise<DiscoveryResource[]>;
}

/**
 * The catalogue in the service's SQLite file (table `discovery_resources`, created by
 * {@link ServiceStore}).
 *
 * @example
 * const catalog = new SqliteDiscoveryCatalog(store, { maxResources: 500 });
 */
export class SqliteDiscoveryCatalog implements DiscoveryCatalog {
  readonly #store: ServiceStore;
  readonly #max: number;

  constructor(store: ServiceStore, o: { maxResources?: number } = {}) {
    this.#store = store;
    this.#max = boundOf(o.maxResources);
  }

  get(resource: string): Promise<DiscoveryResource | undefined> {
    const r = this.#store.db.prepare("SELECT item FROM discovery_resources WHERE resource = ?").get(resource) as
      { item: string } | undefined;
    return Promise.resolve(r ? (JSON.parse(r.item) as DiscoveryResource) : undefined);
  }

  put(entry: DiscoveryResource, updatedAt: number): Promise<void> {
    const db = this.#store.db;
    this.#store.tx(() => {
      db.prepare(
        `INSERT INTO discovery_resources (resource, item, updated_at) VALUES (?, ?, ?)
         ON CONFLICT(resource) DO UPDATE SET item = excluded.item, updated_at = excluded.updated_at`,
      ).run(entry.resource, JSON.stringify(entry), updatedAt);
      db.prepare(
        `DELETE FROM discovery_resources WHERE resource NOT IN
         (SELECT resource FROM discovery_resources ORDER BY updated_at DESC, resource LIMIT ?)`,
      ).run(this.#max);
    });
    return Promise.resolve();
  }

  all(): Promise<DiscoveryResource[]> {
    const rows = this.#store.db
      .prepare("SELECT item FROM discovery_resources ORDER BY updated_at DESC, resource")
      .all() as { item: string }[];
    return Promise.resolve(rows.map((r) => JSON.parse(r.item) as DiscoveryResource));
  }
}

/** The part of an ioredis client {@link RedisDiscoveryCatalog} uses (scripts only). */
export interface DiscoveryRedisLike {
  /** `EVAL script numKeys ...keysAndArgs`. */
  eval(script: string, numKeys: number, ...keysAndArgs: (string | number)[]): Promise<unknown>;
}

// KEYS: items (hash resource -> JSON), order (sorted set resource by update time).
const PUT = `redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
local extra = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4])
if extra > 0 then
  for _, r in ipairs(redis.call('ZRANGE', KEYS[2], 0, extra - 1)) do redis.call('HDEL', KEYS[1], r) end
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, extra - 1)
end
return 1`;
const ALL = `local out = {}
for i, r in ipairs(redis.call('ZREVRANGE', KEYS[2], 0, -1)) do out[i] = redis.call('HGET', KEYS[1], r) or '' end
return out`;
const GET = `return redis.call('HGET', KEYS[1], ARGV[1])`;

/**
 * The catalogue in Redis, shared by every instance of the service: a hash of entries and a
 * sorted set of their update times, each write one script (upsert and trim at once).
 *
 * @example
 * const catalog = new RedisDiscoveryCatalog(new Redis(process.env.ZK402_REDIS_URL!));
 */
export class RedisDiscoveryCatalog implements DiscoveryCatalog {
  readonly #redis: DiscoveryRedisLike;
  readonly #keys: [string, string];
  readonly #max: number;

  /** `redis`: an ioredis client; `prefix` as {@link RedisSettlementRegistry}'s (default `402zk:facilitator:`). */
  constructor(redis: DiscoveryRedisLike, o: { prefix?: string; maxResources?: number } = {}) {
    this.#redis = redis;
    const prefix = o.prefix ?? "402zk:facilitator:";
    this.#keys = [`${prefix}discovery:items`, `${prefix}discovery:updated`];
    this.#max = boundOf(o.maxResources);
  }

  async get(resource: string): Promise<DiscoveryResource | undefined> {
    const v = await this.#redis.eval(GET, 2, ...this.#keys, resource);
    return typeof v === "string" && v ? (JSON.parse(v) as DiscoveryResource) : undefined;
  }

  async put(entry: DiscoveryResource, updatedAt: number): Promise<void> {
    await this.#redis.eval(PUT, 2, ...this.#keys, entry.resource, JSON.stringify(entry), updatedAt, this.#max);
  }

  async all(): Promise<DiscoveryResource[]> {
    const v = (await this.#redis.eval(ALL, 2, ...this.#keys)) as string[];
    return v.filter((s) => s !== "").map((s) => JSON.parse(s) as DiscoveryResource);
  }
}

function boundOf(max: number | undefined): number {
  const n = max ?? DEFAULT_DISCOVERY_MAX_RESOURCES;
  if (!Number.isInteger(n) || n < 1) {
    throw new ZkPayError("invalid_argument", `maxResources must be a positive integer, got ${n}`);
  }
  return n;
}

/**
 * A payment requirement as the catalogue lists it: the route's terms (scheme, network,
 * amount, asset, payTo, timeout and `extra`: pool, relayer, fee, settlement modes, the
 * session terms of a route that sells credentials) without the per-request challenge.
 */
function catalogued(req: PaymentRequirements): PaymentRequirements {
  const { challenge: _challenge, ...extra } = req.extra ?? {};
  return { ...req, extra };
}

/** Same option of a resource: one entry per scheme, network, asset and payee. */
const sameOption = (a: PaymentRequirements, b: PaymentRequirements) =>
  a.scheme === b.scheme && a.network === b.network && a.asset === b.asset && a.payTo === b.payTo;

/**
 * The catalogue entry a settled payment makes: x402's `extractDiscoveryInfo` reads the
 * bazaar extension the payment echoed (validated against its schema) and names the
 * resource (origin and path, or the route template); the entry lists the requirement paid
 * (without its challenge). Undefined when the route declared no discovery (or an invalid
 * declaration, or one over {@link MAX_DISCOVERY_ENTRY_BYTES}).
 *
 * @example
 * const entry = discoveryEntryOf(payload, requirements, Date.now());
 */
export function discoveryEntryOf(
  payload: PaymentPayload,
  requirements: PaymentRequirements,
  now: number,
): DiscoveryResource | undefined {
  const found = extractDiscoveryInfo(payload, requirements);
  if (!found) return undefined;
  const bazaar = found.extensions?.bazaar;
  const entry: DiscoveryResource = {
    resource: found.resourceUrl,
    type: found.discoveryInfo.input.type,
    x402Version: found.x402Version,
    accepts: [catalogued(requirements)],
    lastUpdated: new Date(now).toISOString(),
    ...(found.description ? { description: found.description } : {}),
    ...(found.mimeType ? { mimeType: found.mimeType } : {}),
    ...(found.serviceName ? { serviceName: found.serviceName } : {}),
    ...(found.tags ? { tags: found.tags } : {}),
    ...(found.iconUrl ? { iconUrl: found.iconUrl } : {}),
    // Only the bazaar declaration: other echoed extensions are the payer's, not the route's.
    ...(bazaar ? { extensions: { bazaar } } : {}),
  };
  if (Buffer.byteLength(JSON.stringify(entry)) > MAX_DISCOVERY_ENTRY_BYTES) return undefined;
  return entry;
}

/**
 * `entry` (a new payment's) over the resource's current entry: the requirement paid
 * replaces the current option of the same scheme, network, asset and payee; the other
 * options stay (a route sold in zk-exact and zk-shielded lists both).
 *
 * @example
 * await catalog.put(mergeDiscoveryEntry(entry, await catalog.get(entry.resource)), Date.now());
 */
export function mergeDiscoveryEntry(
  entry: DiscoveryResource,
  current: DiscoveryResource | undefined,
): DiscoveryResource {
  if (!current) return entry;
  const kept = current.accepts.filter((a) => !entry.accepts.some((b) => sameOption(a, b)));
  return { ...entry, accepts: [...entry.accepts, ...kept] };
}

/** A query of `GET /discovery/resources`, parsed. */
export interface DiscoveryQuery {
  limit: number;
  offset: number;
  /** Protocol type (`http`, `mcp`). */
  type?: string;
  scheme?: string;
  network?: string;
  payTo?: string;
  /** An extension key the resource declares (`bazaar`). */
  extensions?: string;
}

const FILTERS = ["type", "scheme", "network", "payTo", "extensions"] as const;

/**
 * Parses the query of `GET /discovery/resources` (`withBazaar`'s `listResources`
 * parameters): `limit` 1..{@link DISCOVERY_PAGE}.maxLimit (default 20), `offset` >= 0
 * (default 0), and the filters `type`, `scheme`, `network`, `payTo`, `extensions`. A
 * malformed or repeated parameter throws `ZkPayError("invalid_argument")` naming it (a
 * 400); unknown parameters are ignored.
 *
 * @example
 * const q = parseDiscoveryQuery(new URL(req.url, "http://x").searchParams);
 */
export function parseDiscoveryQuery(params: URLSearchParams): DiscoveryQuery {
  const one = (name: string): string | undefined => {
    const all = params.getAll(name);
    if (all.length > 1) throw new ZkPayError("invalid_argument", `${name} is given ${all.length} times`);
    return all[0];
  };
  const int = (name: string, dflt: number, min: number, max: number): number => {
    const v = one(name);
    if (v === undefined) return dflt;
    if (!/^\d{1,9}$/.test(v) || Number(v) < min || Number(v) > max) {
      throw new ZkPayError(
        "invalid_argument",
        `${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`,
      );
    }
    return Number(v);
  };
  const q: DiscoveryQuery = {
    limit: int("limit", DISCOVERY_PAGE.defaultLimit, 1, DISCOVERY_PAGE.maxLimit),
    offset: int("offset", 0, 0, 1e9),
  };
  for (const name of FILTERS) {
    const v = one(name);
    if (v === undefined) continue;
    if (v.length === 0 || v.length > 200) {
      throw new ZkPayError("invalid_argument", `${name} must be 1 to 200 characters`);
    }
    q[name] = v;
  }
  return q;
}

/**
 * One page of the catalogue as x402's `DiscoveryResourcesResponse`: the entries matching
 * `q`'s filters (a resource matches `scheme`, `network` or `payTo` when one of its
 * options does; `payTo` compared case-insensitively), most recently updated first.
 *
 * @example
 * const page = await listDiscoveryResources(catalog, { limit: 20, offset: 0, type: "http" });
 */
export async function listDiscoveryResources(
  catalog: DiscoveryCatalog,
  q: DiscoveryQuery,
): Promise<DiscoveryResourcesResponse> {
  const matches = (await catalog.all()).filter(
    (e) =>
      (q.type === undefined || e.type === q.type) &&
      (q.extensions === undefined || Object.hasOwn(e.extensions ?? {}, q.extensions)) &&
      e.accepts.some(
        (a) =>
          (q.scheme === undefined || a.scheme === q.scheme) &&
          (q.network === undefined || a.network === q.network) &&
          (q.payTo === undefined || a.payTo.toLowerCase() === q.payTo.toLowerCase()),
      ),
  );
  return {
    x402Version: 2,
    items: matches.slice(q.offset, q.offset + q.limit),
    pagination: { limit: q.limit, offset: q.offset, total: matches.length },
  };
}
