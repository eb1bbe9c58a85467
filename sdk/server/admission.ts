import { AsyncLocalStorage } from "node:async_hooks";
import type { IncomingHttpHeaders } from "node:http";

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
 * What this trusts: the hop that reached this server wrote that entry (Next sets it to the
 * socket peer when the request has none; a platform in front appends the address it saw),
 * never the client, who can only write entries to its left. Those remaining entries stay
 * in `X-Forwarded-For`, judged by `limits.trustedProxies` as for a node:http request; a
 * request without the header has no peer address.
 *
 * @example
 * const client = clientFromForwardedFor(request.headers);
 * admission.clientOf(client); // "203.0.113.7" for "X-Forwarded-For: 203.0.113.7"
 */
export function clientFromForwardedFor(fetchHeaders: Headers): ClientRequest {
  const headers: IncomingHttpHeaders = {};
  fetchHeaders.forEach((value, name) => void (headers[name] = value));
  const hops = String(headers["x-forwarded-for"] ?? "").split(",");
  const peer = hops.pop()?.trim() || undefined;
  if (hops.some((h) => h.trim())) headers["x-forwarded-for"] = hops.join(",");
  else delete headers["x-forwarded-for"];
  return { headers, socket: { remoteAddress: peer } };
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
