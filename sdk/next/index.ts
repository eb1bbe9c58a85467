/**
 * 402zk for Next.js route handlers (App Router): the payment gate of 402zk/server, then
 * x402's HTTP processing as `@x402/next`'s `withX402` does it (402, verify, handler,
 * settle). Every decision is the gate's or x402's; this file only translates a
 * `NextRequest` into a {@link GateRequest} and their answers into a `Response`.
 *
 * It drives `@x402/core` itself rather than importing `@x402/next`: that package's ESM
 * build imports `next/server` without an extension (it loads only inside Next's bundler,
 * not in plain Node) and pins an older `@x402/core` than the resource server's.
 */
import {
  SETTLEMENT_OVERRIDES_HEADER,
  withPrivateCacheControl,
  type HTTPAdapter,
  type HTTPRequestContext,
  type ProtectedRequestHook,
  type RoutesConfig,
  type x402HTTPResourceServer,
  type x402ResourceServer,
} from "@x402/core/server";
import { NextRequest, NextResponse } from "next/server.js";
import type { Address } from "viem";

import { ZkPayError } from "../core/errors.js";
import { clientFromForwardedFor, requireForwardedClients, type Admission } from "../server/admission.js";
import {
  createZkGate,
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

/** A Next.js route handler (its second argument, the route's params, is passed through). */
export type ZkRouteHandler<C = unknown> = (request: NextRequest, context: C) => Response | Promise<Response>;

/** Options of {@link withZkPayment} and {@link zkSessionRoutes}. */
export interface ZkNextOptions {
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
   * and the files it loads under `/.well-known/402zk/` (`paywall` of `createZkGate`). A
   * wrapped handler answers only the paths Next routes to it: export the same wrapped
   * `GET` from `app/.well-known/402zk/[...path]/route.ts` too (or from a catch-all route).
   */
  paywall?: ZkPaywallOptions;
}

/**
 * Wraps a route handler with the 402zk gate and x402's `withX402`: the `PAYMENT-SIGNATURE`
 * guard (400 / 431 with a stable reason), admission control (429 `too_many_failures`, 503
 * `server_busy`), the facilitator health gate and route binding, then x402's 402, verify,
 * handler, settle. `routes` are matched against the request's path, as in x402.
 *
 * Next does not show a route handler the socket peer, and keeps an `X-Forwarded-For` the
 * client sent: admission control needs `limits.behindProxy: true` (a proxy or platform in
 * front appends the address it saw; its right-most entry stands for the peer, the proxies
 * before it go in `limits.trustedProxies`) or a `limits.clientKey`; without either this
 * throws `invalid_argument` when the route is built.
 *
 * @example
 * // app/weather/route.ts
 * export const GET = withZkPayment(async () => NextResponse.json({ weather: "sunny" }), routes, resourceServer);
 */
export function withZkPayment<C>(
  handler: ZkRouteHandler<C>,
  routes: RoutesConfig,
  resourceServer: x402ResourceServer,
  opts: ZkNextOptions = {},
): (request: NextRequest, context: C) => Promise<Response> {
  return wrap(socketless(createZkGate(routes, resourceServer, opts)), handler);
}

/**
 * The session gate for a Next app (see `zkSessionMiddleware` of 402zk/express for the
 * protocol). `wrap(handler)` guards a route handler: a session route accepts a
 * presentation (the `zk-session` header or a `zk_session` JSON body field, which the
 * handler never sees) and the handler finds it with {@link zkSessionOf}. `endpoints`
 * answers the purchases and terms: export it as `GET` and `POST` of
 * `app/.well-known/402zk/sessions/[[...path]]/route.ts` (or let a wrapped catch-all
 * route receive those paths).
 *
 * @example
 * const zk = zkSessionRoutes({ "GET /data": { accepts, session: { requiredTier: 1 } } }, resourceServer, sessions, { network, asset });
 * export const GET = zk.wrap(async (req) => NextResponse.json({ tier: zkSessionOf(req)?.requiredTier }));
 */
export function zkSessionRoutes(
  routes: SessionRoutesConfig,
  resourceServer: x402ResourceServer,
  sessions: SessionService,
  opts: ZkNextOptions & {
    network: string;
    asset: Address;
    /** Verify & Pay: credentials are sold only with an attribute proof of this rule (`sessions.attributeRule` of `createZkGate`). */
    attributeRule?: NonNullable<ZkGateOptions["sessions"]>["attributeRule"];
  },
): {
  wrap<C>(handler: ZkRouteHandler<C>): (request: NextRequest, context: C) => Promise<Response>;
  endpoints: (request: NextRequest, context?: unknown) => Promise<Response>;
} {
  const { network, asset, attributeRule, ...rest } = opts;
  const gate = socketless(
    createZkGate(routes, resourceServer, { ...rest, sessions: { service: sessions, network, asset, attributeRule } }),
  );
  const notFound = () => NextResponse.json({ error: "not_found" }, { status: 404 });
  return { wrap: (handler) => wrap(gate, handler), endpoints: wrap<unknown>(gate, notFound) };
}

/**
 * The session presentation that paid for this request, when one did: call it in a
 * handler wrapped by {@link zkSessionRoutes} with the request it was given.
 *
 * @example
 * const tier = zkSessionOf(request)?.requiredTier;
 */
export function zkSessionOf(request: Request): SessionLocals | undefined {
  return sessionsOf.get(request)?.session;
}

const sessionsOf = new WeakMap<Request, { session?: SessionLocals }>();

/** `gate`, once its admission control can tell socketless requests apart ({@link requireForwardedClients}). */
function socketless(gate: ZkGate): ZkGate {
  requireForwardedClients(gate.admission, "402zk/next");
  return gate;
}

/** A route handler behind `gate`, then x402's processing over the gate's HTTP server. */
function wrap<C>(gate: ZkGate, handler: ZkRouteHandler<C>): (request: NextRequest, context: C) => Promise<Response> {
  return async (request, context) => {
    const late: [string, string][] = [];
    const state: { session?: SessionLocals } = {};
    let read: Uint8Array | undefined;
    const r = await gate.handle({
      ...describe(request),
      readBody: async (max) => ({ raw: (read ??= await readBody(request, max)) }),
      setHeader: (name, value) => void late.push([name, value]),
      setSession: (session) => void (state.session = session),
    });
    if (r.type === "respond") return answer(r);
    // The gate read the body: the handler gets a request with what it should see.
    let forHandler = request;
    if (r.body || read) {
      const b = r.body;
      const body = b?.kind === "json" ? JSON.stringify(b.value) : (b?.value ?? read);
      const headers = new Headers(request.headers);
      headers.delete("content-length");
      const init = { headers, body: body?.length ? body : undefined, duplex: "half" };
      forHandler = new NextRequest(request, init as ConstructorParameters<typeof NextRequest>[1]);
    }
    sessionsOf.set(forHandler, state);
    const own = r.handler;
    // A credential purchase is answered by the gate once x402 let it through (settled).
    const run = own ? async () => answer(await own()) : async () => handler(forHandler, context);
    let res: Response;
    try {
      res = await r.run(() => x402Flow(gate.httpServer, forHandler, run));
    } catch (err) {
      // Next answers 500 for a throwing handler: count it as Express and Hono do (refunded).
      r.finish?.(500);
      throw err;
    }
    if (late.length) {
      // A handler may return a Response with immutable headers (a fetched one).
      res = new Response(res.body, res);
      for (const [name, value] of late) res.headers.append(name, value);
    }
    r.finish?.(res.status);
    return res;
  };
}

/**
 * x402's part, as `@x402/next`'s `withX402` does it: the 402 (or a route that needs no
 * payment), verify, the handler, then settlement of a successful answer; a failed or
 * throwing handler cancels a pending settlement.
 */
async function x402Flow(
  httpServer: x402HTTPResourceServer,
  request: NextRequest,
  handler: () => Promise<Response>,
): Promise<Response> {
  const context: HTTPRequestContext = {
    adapter: new RequestAdapter(request),
    path: request.nextUrl.pathname,
    method: request.method,
    paymentHeader: request.headers.get("payment-signature") ?? request.headers.get("x-payment") ?? undefined,
  };
  const result = await httpServer.processHTTPRequest(context);
  if (result.type === "no-payment-required") return handler();
  if (result.type === "payment-error") {
    const { status, headers, body, isHtml } = result.response;
    if (!isHtml) return Response.json(body ?? {}, { status, headers });
    // Set over x402's own "Content-Type": a second key in the record would be appended
    // ("text/html, text/html"), a type no browser has to render.
    const html = new Headers(headers);
    html.set("content-type", "text/html; charset=utf-8");
    return new Response(String(body ?? ""), { status, headers: html });
  }
  const { paymentPayload, paymentRequirements, declaredExtensions, cancellationDispatcher } = result;
  const before = result.beforeHandlerSettlement;
  const failed = (res: Response, cancelled: Awaited<ReturnType<typeof cancellationDispatcher.cancel>>) => {
    const headers = httpServer.createFailurePathSettlementHeaders(
      cancelled,
      before,
      paymentPayload,
      res.headers.get("Cache-Control"),
    );
    for (const [name, value] of Object.entries(headers ?? {})) res.headers.set(name, value);
    return res;
  };
  let answer: Response;
  try {
    const out = await handler();
    answer = new Response(out.body, out);
  } catch (error) {
    const cancelled = await cancellationDispatcher.cancel({ reason: "handler_threw", error });
    if (!before && !cancelled) throw error;
    return failed(Response.json({ error: "Internal Server Error" }, { status: 500 }), cancelled);
  }
  if (answer.status >= 400) {
    const cancelled = await cancellationDispatcher.cancel({ reason: "handler_failed", responseStatus: answer.status });
    answer.headers.delete(SETTLEMENT_OVERRIDES_HEADER);
    return failed(answer, cancelled);
  }
  const responseBody = Buffer.from(await answer.clone().arrayBuffer());
  const settled = await httpServer.processSettlement(
    paymentPayload,
    paymentRequirements,
    declaredExtensions,
    { request: context, responseBody, responseHeaders: headersOf(answer) },
    undefined,
    before,
  );
  if (!settled.success) {
    const { status, headers, body, isHtml } = settled.response;
    return new Response(isHtml ? String(body ?? "") : JSON.stringify(body ?? {}), { status, headers });
  }
  for (const [name, value] of Object.entries(settled.headers)) answer.headers.set(name, value);
  answer.headers.set("Cache-Control", withPrivateCacheControl(answer.headers.get("Cache-Control")));
  answer.headers.delete(SETTLEMENT_OVERRIDES_HEADER);
  return answer;
}

/** A response's headers as a plain record. */
function headersOf(res: Response): Record<string, string> {
  const out: Record<string, string> = {};
  res.headers.forEach((value, name) => void (out[name] = value));
  return out;
}

/** x402's view of a fetch `Request`. */
class RequestAdapter implements HTTPAdapter {
  readonly #url: URL;
  constructor(private readonly request: Request) {
    this.#url = new URL(request.url);
  }
  getHeader(name: string): string | undefined {
    return this.request.headers.get(name) ?? undefined;
  }
  getMethod(): string {
    return this.request.method;
  }
  getPath(): string {
    return this.#url.pathname;
  }
  getUrl(): string {
    return this.request.url;
  }
  getAcceptHeader(): string {
    return this.request.headers.get("accept") ?? "";
  }
  getUserAgent(): string {
    return this.request.headers.get("user-agent") ?? "";
  }
  getQueryParams(): Record<string, string | string[]> {
    const out: Record<string, string | string[]> = {};
    for (const key of new Set(this.#url.searchParams.keys())) out[key] = this.getQueryParam(key)!;
    return out;
  }
  getQueryParam(name: string): string | string[] | undefined {
    const values = this.#url.searchParams.getAll(name);
    return values.length > 1 ? values : values[0];
  }
}

/** What the gate needs of a Next request, besides the body and the late headers. */
function describe(request: NextRequest): Pick<GateRequest, "adapter" | "method" | "path" | "target" | "client"> {
  const url = request.nextUrl;
  return {
    adapter: new RequestAdapter(request),
    method: request.method,
    path: url.pathname,
    target: url.pathname + url.search,
    // Next shows no socket: Next sets X-Forwarded-For to the peer when the request has none.
    client: clientFromForwardedFor(request.headers),
  };
}

/** A gate answer as a Response. */
function answer(a: GateRespond): Response {
  if (a.raw) return new Response(a.raw as Uint8Array<ArrayBuffer>, { status: a.status, headers: a.headers });
  return NextResponse.json(a.body, { status: a.status, headers: a.headers });
}

/** Reads the body once, at most `max` bytes. */
async function readBody(request: Request, max: number): Promise<Uint8Array> {
  if (Number(request.headers.get("content-length") ?? 0) > max) {
    throw new ZkPayError("body_too_large", `the body exceeds ${max} bytes`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body?.getReader();
  if (!reader) return new Uint8Array();
  for (;;) {
    const chunk = await reader.read();
    if (chunk.done) break;
    size += chunk.value.length;
    if (size > max) {
      await reader.cancel();
      throw new ZkPayError("body_too_large", `the body exceeds ${max} bytes`);
    }
    chunks.push(chunk.value);
  }
  return new Uint8Array(Buffer.concat(chunks));
}
