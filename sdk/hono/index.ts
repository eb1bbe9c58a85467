/**
 * 402zk for Hono: the payment gate of 402zk/server in front of `@x402/hono`'s middleware.
 * Every decision is the gate's; this file only translates a Hono context into a
 * {@link GateRequest} and a {@link GateResult} into a Hono answer.
 */
import { HonoAdapter, paymentMiddlewareFromHTTPServer } from "@x402/hono";
import type { ProtectedRequestHook, RoutesConfig, x402ResourceServer } from "@x402/core/server";
import type { Context, MiddlewareHandler, Next } from "hono";
import { basePath } from "hono/route";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { Address } from "viem";

import { ZkPayError } from "../core/errors.js";
import {
  clientFromForwardedFor,
  requireForwardedClients,
  type Admission,
  type ClientRequest,
} from "../server/admission.js";
import {
  createZkGate,
  type GateBody,
  type GateRequest,
  type GateRespond,
  type SessionLocals,
  type SessionRoutesConfig,
  type SessionService,
  type ZkGate,
  type ZkGateOptions,
} from "../server/gate.js";
import type { ZkPaywallOptions } from "../server/paywall.js";

export type { SessionLocals, SessionRoutesConfig } from "../server/gate.js";
export { withRouteBinding } from "../server/gate.js";

/**
 * Hono variables the middleware sets: `c.get("zkSession")` is set when a session
 * presentation paid for the request.
 *
 * @example
 * const app = new Hono<{ Variables: ZkVariables }>();
 * app.get("/data", (c) => c.json({ tier: c.get("zkSession")?.requiredTier }));
 */
export type ZkVariables = { zkSession?: SessionLocals };

/** Options of {@link zkPaymentMiddleware}. */
export interface ZkHonoOptions {
  /** Schemes a `PAYMENT-SIGNATURE` may name (default zk-exact only). */
  schemes?: string[];
  /** Largest `PAYMENT-SIGNATURE`, characters. */
  maxHeaderBytes?: number;
  /** Admission control (default: the one `createZkResourceServer` built for the resource server). */
  admission?: Admission;
  /** x402's protected-request hook (after x402 matched the route; may grant access without a payment). */
  onProtectedRequest?: ProtectedRequestHook;
  /**
   * Serve the 402zk paywall page to browsers (a 402 asked for with `Accept: text/html`)
   * and the files it loads under `/.well-known/402zk/` (`paywall` of `createZkGate`):
   * mount the middleware where those paths reach it (`app.use(...)` without a path does).
   */
  paywall?: ZkPaywallOptions;
}

/**
 * `@x402/hono`'s payment middleware behind the 402zk gate: the `PAYMENT-SIGNATURE` guard
 * (400 / 431 with a stable reason), admission control (429 `too_many_failures`, 503
 * `server_busy`), the facilitator health gate (503 `facilitator_unavailable`) and route
 * binding. Give a route with side effects `extra: { paymentFlow: "upfront" }`.
 *
 * Served with `@hono/node-server`, admission control keys clients by the socket peer and
 * `limits.trustedProxies`; on other runtimes (no socket) it needs `limits.behindProxy: true`
 * (the platform in front appends the address it saw to `X-Forwarded-For`; its right-most
 * entry stands for the peer) or a `limits.clientKey`, and refuses requests with
 * `invalid_argument` otherwise.
 *
 * @example
 * app.use(zkPaymentMiddleware({ "GET /weather": { accepts: { scheme: "zk-exact", network, payTo, price: "$0.01" } } }, resourceServer));
 */
export function zkPaymentMiddleware(
  routes: RoutesConfig,
  resourceServer: x402ResourceServer,
  opts: ZkHonoOptions = {},
): MiddlewareHandler {
  return gateMiddleware(createZkGate(routes, resourceServer, opts));
}

/**
 * {@link zkPaymentMiddleware} for an API that also sells session credentials (see
 * `zkSessionMiddleware` of 402zk/express for the protocol): a route with `session`
 * accepts a presentation (the `zk-session` header or a `zk_session` JSON body field,
 * which the handler never sees: `c.req.json()` returns the body without it), and the
 * middleware answers `GET /.well-known/402zk/sessions`, the purchases under
 * `POST /.well-known/402zk/sessions/buy/<offer>` and `POST .../recover`. The handler
 * finds `c.get("zkSession")` ({@link ZkVariables}).
 *
 * @example
 * app.use(zkSessionMiddleware({ "GET /data": { accepts, session: { requiredTier: 1 } } }, resourceServer, sessions, { network, asset }));
 */
export function zkSessionMiddleware(
  routes: SessionRoutesConfig,
  resourceServer: x402ResourceServer,
  sessions: SessionService,
  opts: ZkHonoOptions & {
    network: string;
    asset: Address;
    /** Verify & Pay: credentials are sold only with an attribute proof of this rule (`sessions.attributeRule` of `createZkGate`). */
    attributeRule?: NonNullable<ZkGateOptions["sessions"]>["attributeRule"];
  },
): MiddlewareHandler {
  const { network, asset, attributeRule, ...rest } = opts;
  return gateMiddleware(
    createZkGate(routes, resourceServer, { ...rest, sessions: { service: sessions, network, asset, attributeRule } }),
  );
}

/** One Hono middleware: the gate, then x402's Hono middleware over the gate's HTTP server. */
function gateMiddleware(gate: ZkGate): MiddlewareHandler {
  // Initialised by the gate (it answers 503 while a remote facilitator is down), not by x402.
  const x402 = paymentMiddlewareFromHTTPServer(gate.httpServer, undefined, undefined, false);
  return async (c, next) => {
    const r = await gate.handle(gateRequestOf(c, gate.admission));
    if (r.type === "respond") return answer(c, r);
    // The gate read the body: the handler reads what it should see (no `zk_session`).
    if (r.body) {
      const b = r.body;
      if (b.kind === "json") cacheBody(c, "json", b.value);
      else cacheBody(c, "arrayBuffer", toArrayBuffer(b.value ?? new Uint8Array()));
    }
    const handler = r.handler;
    // A credential purchase is answered by the gate once x402 let it through (settled).
    const inner: Next = handler
      ? async () => {
          c.res = answer(c, await handler());
        }
      : next;
    // x402 returns its own answers (the 402) and leaves the handler's in c.res.
    const out = await r.run(() => x402(c, inner));
    r.finish?.((out ?? c.res).status);
    return out;
  };
}

/** A Hono context as the gate sees a request. */
function gateRequestOf(c: Context, admission: Admission | undefined): GateRequest {
  const url = new URL(c.req.url);
  return {
    adapter: new HonoAdapter(c),
    method: c.req.method,
    path: c.req.path,
    decodedPath: decodedRoutePath(c),
    target: url.pathname + url.search,
    client: clientOf(c, admission),
    readBody: (max) => readBody(c, max),
    setHeader: (name, value) => c.header(name, value, { append: true }),
    setSession: (session) => c.set("zkSession", session),
  };
}

/** A gate answer as a Hono response. */
function answer(c: Context, a: GateRespond): Response {
  if (a.raw) return c.body(a.raw as Uint8Array<ArrayBuffer>, a.status as ContentfulStatusCode, a.headers);
  return c.json(a.body, a.status as ContentfulStatusCode, a.headers);
}

/**
 * Who sent the request: `@hono/node-server` binds the node:http request (`c.env.incoming`,
 * its socket peer and headers); elsewhere the right-most `X-Forwarded-For` entry (the
 * hop that reached this server, as the platform set it) stands for the peer
 * ({@link clientFromForwardedFor}).
 */
function clientOf(c: Context, admission: Admission | undefined): ClientRequest {
  const incoming = (c.env as { incoming?: ClientRequest } | undefined)?.incoming;
  if (incoming?.socket && incoming.headers) return incoming;
  requireForwardedClients(admission, "402zk/hono off @hono/node-server");
  return clientFromForwardedFor(c.req.raw.headers);
}

/** The path x402 matches routes against: decoded, relative to the app's base path (as `@x402/hono` does). */
function decodedRoutePath(c: Context): string {
  let path = c.req.path;
  try {
    path = decodeURIComponent(path);
  } catch {
    // x402 matches the raw path then
  }
  let root = "";
  try {
    root = basePath(c);
  } catch {
    return path;
  }
  if (!root || root === "/" || !path.startsWith(root)) return path;
  if (path === root) return "";
  return path[root.length] === "/" ? path.slice(root.length) : path;
}

/** Reads the body once, at most `max` bytes; later reads (`c.req.json()`, ...) get the same bytes. */
async function readBody(c: Context, max: number): Promise<GateBody> {
  const cached = c.req.bodyCache.arrayBuffer as Promise<ArrayBuffer> | undefined;
  if (cached) return { raw: new Uint8Array(await cached) };
  const length = Number(c.req.header("content-length") ?? 0);
  if (length > max) throw new ZkPayError("body_too_large", `the body exceeds ${max} bytes`);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = c.req.raw.body?.getReader();
  for (;;) {
    const chunk = reader ? await reader.read() : { done: true as const, value: undefined };
    if (chunk.done) break;
    size += chunk.value.length;
    if (size > max) {
      await reader?.cancel();
      throw new ZkPayError("body_too_large", `the body exceeds ${max} bytes`);
    }
    chunks.push(chunk.value);
  }
  const raw = new Uint8Array(Buffer.concat(chunks));
  cacheBody(c, "arrayBuffer", toArrayBuffer(raw));
  return { raw };
}

/**
 * Makes `value` the request's body for every later `c.req.json()` / `text()` /
 * `arrayBuffer()`: Hono answers those from `bodyCache`, deriving the other forms from
 * whichever entry is there. Its entries are promises at run time (typed as values).
 */
function cacheBody<K extends "json" | "arrayBuffer">(
  c: Context,
  key: K,
  value: K extends "json" ? unknown : ArrayBuffer,
) {
  c.req.bodyCache = { [key]: Promise.resolve(value) } as unknown as typeof c.req.bodyCache;
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}
