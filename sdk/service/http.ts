import { timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

import { PaymentPayloadV2Schema, PaymentRequirementsV2Schema } from "@x402/core/schemas";
import type { PaymentPayload, PaymentRequirements } from "@x402/core/types";
import { z } from "zod";

import { ZkPayError, isZkPayError } from "../core/errors.js";
import { httpAnswerOf } from "../core/http.js";
import { ZkPaymentPayloadSchema } from "../core/wire.js";
import { TrustedProxies, clientAddress } from "../node/caller.js";
import { readJsonRequestBody } from "../node/http-body.js";
import { listDiscoveryResources, parseDiscoveryQuery } from "./discovery.js";
import { silentLogger, type Logger } from "./logger.js";
import { COST, CostLimiter, type CostLimiterOptions } from "./rate-limit.js";
import type { FacilitatorService, RelayRequest } from "./service.js";

/** Options of {@link startFacilitatorServer}. */
export interface FacilitatorServerOptions {
  host?: string;
  /** 0 picks a free port. Default 4022. */
  port?: number;
  /**
   * Keys resource servers send as `Authorization: Bearer <key>` on /verify and /settle
   * (x402's `createAuthHeaders`). Empty: those endpoints are open. /relay, /supported,
   * /health and /metrics never need one.
   */
  apiKeys?: string[];
  limits?: CostLimiterOptions & {
    /**
     * The reverse proxies in front of the service (addresses or CIDR blocks, IPv4 or IPv6:
     * `["127.0.0.1", "10.0.0.0/8"]`). The caller the cost limiter and the fair queue key on
     * is the right-most `X-Forwarded-For` entry that is not one of them, and the socket
     * peer itself when that is not one of them (see `TrustedProxies` in 402zk/node).
     * Default none: the socket peer, `X-Forwarded-For` ignored.
     */
    trustedProxies?: readonly string[];
    /**
     * @deprecated Refused when true (`invalid_argument`): it trusted the left-most
     * `X-Forwarded-For` entry, which the client writes. List the proxies in `trustedProxies`.
     */
    trustProxy?: boolean;
    maxBodyBytes?: number;
  };
  log?: Logger;
}

/** Why `trustProxy: true` is refused (option and config file alike). */
export const TRUST_PROXY_REMOVED =
  "trustProxy was removed: it keyed callers on the left-most X-Forwarded-For entry, which the client writes. " +
  'List your reverse proxies instead, as addresses or CIDR blocks: trustedProxies: ["127.0.0.1", "10.0.0.0/8"] ' +
  "(config limits.trustedProxies, --trusted-proxies, ZK402_TRUSTED_PROXIES); the caller is then the right-most " +
  "X-Forwarded-For entry that is not one of them";

/** The paths of the API (any other is 404; another method on one of these 405). */
const KNOWN_PATHS = ["/verify", "/settle", "/relay", "/supported", "/health", "/metrics", "/discovery/resources"];

const EnvelopeSchema = z.object({
  x402Version: z.number().int().positive(),
  paymentPayload: z.record(z.string(), z.unknown()),
  paymentRequirements: z.record(z.string(), z.unknown()),
});

const RelayRequestSchema = z.object({
  x402Version: z.number().int().positive().optional(),
  payload: z.record(z.string(), z.unknown()),
});

/**
 * An answer about the HTTP API itself (no such path or method), not about a payment:
 * everything else is a `ZkPayError`, answered with the reason table's status and headers
 * (core/http.ts), as the payment gate answers it.
 */
class HttpError extends Error {
  constructor(
    readonly status: 404 | 405,
    readonly reason: "not_found" | "method_not_allowed",
    message: string,
  ) {
    super(message);
  }
}

/**
 * The facilitator service's HTTP API on node:http:
 *
 * - `POST /verify`, `POST /settle`: x402's facilitator API, `{x402Version, paymentPayload,
 *   paymentRequirements}` -> `VerifyResponse` / `SettleResponse` (200; an invalid payment
 *   is `isValid: false` / `success: false` with a stable reason), as `HTTPFacilitatorClient`
 *   expects;
 * - `GET /supported`: `{kinds, extensions, signers}`;
 * - `POST /relay`: `{payload}` (a zk-exact proof) -> SettleResponse + `receiptId`;
 * - `GET /health` (200 ok / degraded, 503 draining), `GET /metrics` (Prometheus text);
 * - `GET /discovery/resources`: x402's bazaar `DiscoveryResourcesResponse`, the discoverable
 *   resources this service settled (`limit`, `offset`, filters `type`, `scheme`, `network`,
 *   `payTo`, `extensions`; a malformed parameter 400 `invalid_argument`; 404 when the
 *   service catalogues nothing). Public, like /supported, and charged to the caller's budget.
 *
 * A body that is not JSON, too large or not of the API's shape gets 400 with
 * `{error: reason, message}`; a caller over its cost budget 429 with Retry-After; a
 * missing API key 401. Unknown paths 404.
 *
 * @example
 * const server = await startFacilitatorServer(service, { port: 4022 });
 * // new HTTPFacilitatorClient({ url: server.url })
 * await server.close();
 */
export async function startFacilitatorServer(service: FacilitatorService, o: FacilitatorServerOptions = {}) {
  if (o.limits?.trustProxy === true) throw new ZkPayError("invalid_argument", TRUST_PROXY_REMOVED);
  const proxies = new TrustedProxies(o.limits?.trustedProxies ?? []);
  const log = o.log ?? silentLogger;
  const limiter = new CostLimiter(o.limits);
  const maxBody = o.limits?.maxBodyBytes ?? 64 * 1024;
  const keys = (o.apiKeys ?? []).map((k) => Buffer.from(k));
  const m = service.metrics;
  m.help("zk402_http_requests_total", "HTTP requests by path and status");

  const callerOf = (req: IncomingMessage): string => clientAddress(req, proxies);

  const authorize = (req: IncomingMessage): string | undefined => {
    if (keys.length === 0) return undefined;
    const h = req.headers.authorization ?? "";
    const given = Buffer.from(h.replace(/^Bearer\s+/i, ""));
    const ok = keys.some((k) => k.length === given.length && timingSafeEqual(k, given));
    if (!ok) throw new ZkPayError("unauthorized", "a valid API key is required (Authorization: Bearer <key>)");
    return `key:${h.slice(-8)}`;
  };

  const parse = <T>(schema: z.ZodType<T>, body: unknown): T => {
    const r = schema.safeParse(body);
    if (!r.success) {
      const i = r.error.issues[0];
      throw new ZkPayError("invalid_payload", `${i?.path.join(".") || "body"}: ${i?.message}`);
    }
    return r.data;
  };

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = JSON.stringify(body, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
    res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store", ...headers });
    res.end(text);
  };

  /** Takes one request's cost from `caller`'s budget; over it, 429 with Retry-After. */
  const chargeRequest = (caller: string, what: string) => {
    const wait = limiter.take(caller, COST.request);
    if (wait > 0) throw new ZkPayError("rate_limited", `${what}; slow down`, { retryAfterSeconds: wait });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<number> => {
    const url = new URL(req.url ?? "/", "http://x");
    const route = `${req.method} ${url.pathname}`;
    switch (route) {
      case "GET /supported":
        send(res, 200, service.supported());
        return 200;
      case "GET /health": {
        const h = service.health();
        const status = h.status === "draining" ? 503 : 200;
        send(res, status, h);
        return status;
      }
      case "GET /metrics":
        res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
        res.end(m.render());
        return 200;
      case "GET /discovery/resources": {
        if (!service.discovery) throw new HttpError(404, "not_found", "this service catalogues no resources");
        chargeRequest(callerOf(req), "too many requests");
        send(res, 200, await listDiscoveryResources(service.discovery, parseDiscoveryQuery(url.searchParams)));
        return 200;
      }
      case "POST /verify":
      case "POST /settle":
      case "POST /relay":
        break;
      default:
        if (KNOWN_PATHS.includes(url.pathname)) {
          throw new HttpError(405, "method_not_allowed", `${req.method} is not allowed on ${url.pathname}`);
        }
        throw new HttpError(404, "not_found", `no route ${url.pathname}`);
    }
    if (service.draining) {
      throw new ZkPayError("server_busy", "the service is shutting down", { retryAfterSeconds: 5 });
    }
    const caller = (url.pathname === "/relay" ? undefined : authorize(req)) ?? callerOf(req);
    chargeRequest(caller, "too many requests or refused payments");
    const body = await readJsonRequestBody(req, maxBody);
    if (url.pathname === "/relay") {
      const r = parse(RelayRequestSchema, body);
      const p = ZkPaymentPayloadSchema.safeParse(r.payload);
      if (!p.success || p.data.settlement !== "server") {
        const i = p.success ? undefined : p.error.issues[0];
        throw new ZkPayError(
          "invalid_payload",
          i ? `payload.${i.path.join(".")}: ${i.message}` : "relay takes a proof (payload.settlement: server)",
        );
      }
      const out = await service.callers.run(caller, () =>
        service.relay({ x402Version: r.x402Version, payload: p.data } as RelayRequest),
      );
      chargeSettle(limiter, caller, out);
      send(res, 200, out);
      return 200;
    }
    // The envelope here, its parts with x402's own schemas (@x402/core/schemas, its zod).
    const r = parse(EnvelopeSchema, body);
    const pp = PaymentPayloadV2Schema.safeParse(r.paymentPayload);
    if (!pp.success) {
      const i = pp.error.issues[0];
      throw new ZkPayError("invalid_payload", `paymentPayload.${i?.path.join(".")}: ${i?.message}`);
    }
    const pr = PaymentRequirementsV2Schema.safeParse(r.paymentRequirements);
    if (!pr.success) {
      const i = pr.error.issues[0];
      throw new ZkPayError("invalid_payload", `paymentRequirements.${i?.path.join(".")}: ${i?.message}`);
    }
    const payload = pp.data as PaymentPayload;
    const requirements = pr.data as PaymentRequirements;
    if (url.pathname === "/verify") {
      const out = await service.callers.run(caller, () => service.verify(payload, requirements));
      if (!out.isValid) limiter.charge(caller, COST.refused);
      send(res, 200, out);
      return 200;
    }
    const out = await service.callers.run(caller, () => service.settle(payload, requirements));
    chargeSettle(limiter, caller, out);
    send(res, 200, out);
    return 200;
  };

  const server: Server = createServer((req, res) => {
    const t0 = performance.now();
    handle(req, res)
      .catch((err: unknown) => {
        if (err instanceof HttpError) {
          send(res, err.status, { error: err.reason, message: err.message });
          return err.status;
        }
        if (isZkPayError(err)) {
          const answer = httpAnswerOf(err);
          send(res, answer.status, answer.body, answer.headers);
          return answer.status;
        }
        log.error("request failed", { path: req.url, error: err as Error });
        if (!res.headersSent) send(res, 500, { error: "internal_error", message: "internal error" });
        return 500;
      })
      .then((status) => {
        const path = new URL(req.url ?? "/", "http://x").pathname;
        const known = KNOWN_PATHS.includes(path);
        m.inc("zk402_http_requests_total", { path: known ? path : "other", status: String(status) });
        if (path !== "/health" && path !== "/metrics") {
          log.debug("request", { method: req.method, path, status, ms: Math.round(performance.now() - t0) });
        }
      });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port ?? 4022, o.host ?? "127.0.0.1", () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const url = `http://${addr.address.includes(":") ? `[${addr.address}]` : addr.address}:${addr.port}`;
  log.info("listening", { url });
  return {
    server,
    url,
    port: addr.port,
    /** Stops accepting connections, lets settlements finish (service.close), then closes idle sockets. */
    async close(timeoutMs = 30_000): Promise<boolean> {
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeIdleConnections();
      const drained = await service.close(timeoutMs);
      server.closeAllConnections();
      await closed;
      return drained;
    },
  };
}

/** A running HTTP server of the facilitator service, as `startFacilitatorServer` returns it. */
export type FacilitatorServer = Awaited<ReturnType<typeof startFacilitatorServer>>;

/** A refused settlement costs its caller more; one that made the relayer pay gas for nothing, the most. */
function chargeSettle(limiter: CostLimiter, caller: string, out: { success: boolean; transaction?: string }): void {
  if (out.success) return;
  limiter.charge(caller, out.transaction ? COST.wasted : COST.refused);
}
