import { AsyncLocalStorage } from "node:async_hooks";
import type { IncomingHttpHeaders } from "node:http";
import { isIP } from "node:net";

import { ZkPayError } from "../core/errors.js";
import type { ReplayStore } from "../core/replay.js";
import { FairQueue, type FairQueueOptions } from "../core/work-queue.js";
import { TrustedProxies, clientAddress } from "../node/caller.js";

/**
 * What admission control reads of a request to name its client: a node:http (or Express)
 * request has all of it; an adapter whose framework has no such request (a fetch
 * `Request`) builds one from the headers and the peer address it knows.
 */
export interface ClientRequest {
  headers: IncomingHttpHeaders;
  /** The socket peer (`remoteAddress` undefined when the framework does not expose it). */
  socket: { remoteAddress?: string };
  /** Express's `req.ip` (not consulted by the default rule). */
  ip?: string;
  method?: string;
  url?: string;
}

/**
 * The {@link ClientRequest} of a fetch `Request` (Hono off Node, Next route handlers): the
 * framework shows no socket, so the right-most `X-Forwarded-For` entry stands for the peer.
 * That entry is only as good as what wrote it: a proxy or platform in front that appends the
 * address it saw (nginx's `$proxy_add_x_forwarded_for`, Vercel, Cloudflare) writes it, but a
 * server reached directly keeps whatever the client sent (Next fills the header in only when
 * it is absent). So adapters use this only under `limits.behindProxy: true` or a
 * `limits.clientKey` ({@link requireForwardedClients}). A right-most entry that is not an IP
 * address names no peer. The entries to its left stay in `X-Forwarded-For`, judged by
 * `limits.trustedProxies` as for a node:http request.
 *
 * @example
 * const client = clientFromForwardedFor(request.headers);
 * admission.clientOf(client); // "203.0.113.7" for "X-Forwarded-For: 203.0.113.7"
 */
export function clientFromForwardedFor(fetchHeaders: Headers): ClientRequest {
  const headers: IncomingHttpHeaders = {};
  fetchHeaders.forEach((value, name) => void (headers[name] = value));
  const hops = String(headers["x-forwarded-for"] ?? "").split(",");
  const last = hops.pop()?.trim();
  const peer = last && isIP(last) ? last : undefined;
  if (hops.some((h) => h.trim())) headers["x-forwarded-for"] = hops.join(",");
  else delete headers["x-forwarded-for"];
  return { headers, socket: { remoteAddress: peer } };
}

/**
 * Refuses admission control that cannot tell the clients of socketless requests apart
 * (see {@link clientFromForwardedFor}): without `limits.behindProxy` or `limits.clientKey`,
 * any client could name itself in `X-Forwarded-For` and get a fresh failure budget on every
 * request. Adapters call it where they know a request has no socket peer.
 *
 * @example
 * requireForwardedClients(admission, "402zk/next"); // throws invalid_argument when unset
 */
export function requireForwardedClients(admission: Admission | undefined, adapter: string): void {
  if (!admission || admission.identifiesForwardedClients) return;
  throw new ZkPayError(
    "invalid_argument",
    `${adapter} cannot see the client's address (no socket): set limits.behindProxy: true when a proxy or ` +
      "platform in front appends the address it saw to X-Forwarded-For, or limits.clientKey to name clients " +
      "yourself (an API key, an account)",
  );
}

/** Options of {@link Admission}. */
export interface AdmissionOptions {
  /** Where failures are counted; share it (Redis) between instances so the limit holds for all. */
  store: ReplayStore;
  /**
   * Paid requests a client may have refused or in flight per window before it gets 429.
   * A request is counted when it is admitted and refunded when it succeeds, so the bound
   * holds even for a burst sent before the first refusal. Default 32.
   */
  maxFailuresPerClient?: number;
  /** Length of the failure window, seconds. Default 60. */
  failureWindowSeconds?: number;
  /**
   * The reverse proxies in front of this server, addresses or CIDR blocks
   * (`["127.0.0.1", "10.0.0.0/8"]`). The client of a request is the right-most
   * `X-Forwarded-For` entry that is not one of them, and the socket peer when that is not
   * one of them (`X-Forwarded-For` ignored). Express's `trust proxy` setting is not
   * consulted (`true` would trust the left-most entry, which the client writes). Default
   * none: the socket peer.
   */
  trustedProxies?: readonly string[];
  /**
   * A proxy or platform in front of this server appends the address it saw to
   * `X-Forwarded-For` (nginx, Vercel, Cloudflare). Adapters whose framework shows no socket
   * peer (402zk/next, 402zk/hono off Node) need it, or a `clientKey`, to tell clients apart:
   * the right-most entry then stands for the peer. Default false.
   */
  behindProxy?: boolean;
  /**
   * Who a request is from, instead of the address rule of `trustedProxies` (an API key,
   * an account). Default: {@link clientAddress} under `trustedProxies`.
   */
  clientKey?(req: ClientRequest): string;
  /** The bounded, fair queue every Groth16 verification goes through. */
  queue?: FairQueue | FairQueueOptions;
}

/**
 * What an unauthenticated caller may make the server do, in one place: a bounded, fair
 * verification queue (503 + Retry-After when full), and a limit on refused payments per
 * client (429 + Retry-After), counted in the replay store so that it holds across
 * instances. {@link createZkResourceServer} builds one and `zkPaymentMiddleware` applies
 * it in front of x402's middleware; the facilitator scheme runs its pairings through
 * {@link Admission.queue} under the client key that the middleware put in scope.
 *
 * @example
 * const admission = new Admission({ store: replay, maxFailuresPerClient: 10 });
 * app.use(zkPaymentMiddleware(routes, resourceServer, { admission }));
 */
export class Admission {
  readonly queue: FairQueue;
  readonly maxFailures: number;
  readonly windowSeconds: number;
  /** Whether socketless requests can be told apart: `behindProxy` or a `clientKey`. */
  readonly identifiesForwardedClients: boolean;
  readonly #store: ReplayStore;
  readonly #clientKey: (req: ClientRequest) => string;
  readonly #scope = new AsyncLocalStorage<{ key: string; priority: number }>();

  constructor(o: AdmissionOptions) {
    this.#store = o.store;
    this.queue = o.queue instanceof FairQueue ? o.queue : new FairQueue(o.queue);
    this.maxFailures = Math.max(1, o.maxFailuresPerClient ?? 32);
    this.windowSeconds = Math.max(1, o.failureWindowSeconds ?? 60);
    const proxies = new TrustedProxies(o.trustedProxies ?? []);
    const key = o.clientKey;
    this.identifiesForwardedClients = o.behindProxy === true || key !== undefined;
    this.#clientKey = key ? (req) => key.call(o, req) : (req) => clientAddress(req, proxies);
  }

  /** The client key of a request. */
  clientOf(req: ClientRequest): string {
    return this.#clientKey(req);
  }

  /**
   * Admits a paid request from `client`, counting it against the client's budget until
   * {@link Admission.refund} (call it when the payment succeeded, or failed through no
   * fault of the client). Throws `too_many_failures` (with `retryAfterSeconds`) when the
   * budget is spent, `server_busy` when the verification queue has no room for it.
   */
  async admit(client: string): Promise<{ key: string; priority: number }> {
    const n = await this.#store.increment(failureKey(client), this.windowSeconds);
    if (n > this.maxFailures) {
      await this.refund(client);
      const { ttlSeconds } = await this.#store.count(failureKey(client));
      throw new ZkPayError("too_many_failures", "too many refused payments from this client; retry later", {
        retryAfterSeconds: Math.max(1, ttlSeconds),
      });
    }
    // What the client had counted before this request: 0 for a clean record.
    const priority = n - 1;
    if (!this.queue.wouldAccept(client, priority)) {
      await this.refund(client);
      throw new ZkPayError("server_busy", "too many payments are being verified; retry shortly", {
        retryAfterSeconds: this.queue.retryAfterSeconds,
      });
    }
    return { key: client, priority };
  }

  /** Gives back what {@link Admission.admit} counted. */
  async refund(client: string): Promise<void> {
    await this.#store.increment(failureKey(client), this.windowSeconds, -1);
  }

  /** Runs `fn` (the rest of the request) as the admitted `client`. */
  within<T>(client: { key: string; priority: number }, fn: () => T): T {
    return this.#scope.run(client, fn);
  }

  /** The admitted client of the request being handled, or undefined outside one. */
  currentClient(): { key: string; priority: number } | undefined {
    return this.#scope.getStore();
  }
}

function failureKey(client: string): string {
  return `failures:${client}`;
}
