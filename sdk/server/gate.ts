/**
 * The framework-neutral payment gate: everything 402zk does around x402's own HTTP
 * processing, without a framework. An adapter (402zk/express, 402zk/hono, 402zk/next)
 * only translates:
 *
 * 1. It describes the request as a {@link GateRequest}: x402's own `HTTPAdapter`, the
 *    method, path and target, who sent it (for admission control), a body reader (for
 *    `zk_session` bodies and recovery), and a sink for headers and the session grant that
 *    are decided later, inside x402's processing.
 * 2. It calls {@link ZkGate.handle} and gets a {@link GateResult}:
 *    - `respond`: answer now with `status`, `headers` and the JSON `body` (a refusal, 503
 *      while the facilitator is down, 429 / 503 from admission control, a session endpoint);
 *    - `proceed`: run the rest of the request (x402's framework middleware over
 *      {@link ZkGate.httpServer}, then the handler) inside `run(...)`, so that the
 *      facilitator scheme and the session hook see this request's admitted client; give the
 *      handler `body` if set (the gate consumed the body); call `finish(status)` once the
 *      answer was sent (refund bookkeeping: not called when the connection dropped); and
 *      when x402 let the request through and `handler` is set (a credential purchase, settled
 *      upfront), answer with `await handler()` instead of the app's handler.
 * 3. x402's own middleware for that framework (`paymentMiddlewareFromHTTPServer` of
 *    `@x402/express`, `@x402/hono`, `@x402/next`, with `syncFacilitatorOnStart: false`: the
 *    gate initialises the server) does the x402 part: route matching, the 402, verify,
 *    settle. Sessions are accepted through x402's `onProtectedRequest` hook, so a
 *    presentation is matched to routes by x402's own rules (order, case, normalisation).
 *
 * Every refusal's status and headers come from the one reason table ({@link REASON_HTTP}
 * in 402zk/core).
 *
 * @example
 * const gate = createZkGate(routes, resourceServer);
 * const r = await gate.handle({ adapter, method, path, target, client: req, readBody, setHeader });
 * if (r.type === "respond") return send(r.status, r.headers, r.body);
 * r.finish && onFinish((status) => r.finish(status));
 * r.run(() => x402Middleware(req, res, next));
 */
import { AsyncLocalStorage } from "node:async_hooks";

import {
  attachBackgroundInitHandler,
  isFatalStartupInitError,
  x402HTTPResourceServer,
  type HTTPAdapter,
  type HTTPRequestContext,
  type ProtectedRequestHook,
  type RouteConfig,
  type RoutesConfig,
  type x402ResourceServer,
} from "@x402/core/server";
import type { Address } from "viem";

import { ZkPayError, isZkPayError } from "../core/errors.js";
import { SESSION_REFUSED_HEADER, httpAnswerOf, reasonHeaders, sessionRefusedHeader } from "../core/http.js";
import { isShieldedAddress } from "../core/shielded-address.js";
import {
  MAX_PAYMENT_HEADER_BYTES,
  ZK_SCHEMES,
  ZK_SHIELDED_SCHEME,
  ZkPaymentPayloadSchema,
  isZkScheme,
} from "../core/wire.js";
import type { SessionService } from "../session/service.js";
import { SESSION_WELL_KNOWN } from "../session/wire.js";
import { paywallAsset, paywallHtml, type ZkPaywallOptions } from "./paywall.js";
import type { Admission, ClientRequest } from "./admission.js";
import { ZK_ATTRIBUTE_EXTENSION } from "../core/identity/extension.js";
import type { AttributeRule } from "../core/identity/rule.js";
import { admissionOf } from "./resource-server.js";
import { attributeGateHook, attributeVerifierOf } from "./attributes.js";
import { facilitatorHealthOf } from "./remote.js";
import {
  SESSION_ROUTE,
  readJsonBody,
  readPresentation,
  recoverCredential,
  sellCredential,
  sessionRoutes,
  zkCredentialPaymentError,
  zkCredentialServerExtension,
  type FoundPresentation,
  type GateBody,
  type GateRouteConfig,
  type HandlerBody,
  type SessionLocals,
  type SessionRoutesConfig,
} from "./session-gate.js";

export type { GateBody, HandlerBody, SessionLocals, SessionRoutesConfig } from "./session-gate.js";
/** The session service (402zk/session's `SessionService`), as the gate and its adapters take it. */
export type { SessionService };
export { MAX_GATE_BODY_BYTES } from "./session-gate.js";

/** One request, as an adapter describes it to the gate. */
export interface GateRequest {
  /** x402's adapter over the framework's request (headers, method, path, URL). */
  adapter: HTTPAdapter;
  /** HTTP method, upper case. */
  method: string;
  /** The path as the framework routes it, without the query (raw, not decoded). */
  path: string;
  /** The path x402 matches routes against (default: `decodeURIComponent(path)`, or `path` when that fails). */
  decodedPath?: string;
  /** The request target as sent, path and query (`/orders?id=7`): what a bound presentation covers. */
  target: string;
  /**
   * Who sent the request, for admission control ({@link Admission.clientOf}): the
   * node:http request (its socket peer and `X-Forwarded-For`), or an object of that shape.
   */
  client: ClientRequest;
  /**
   * Reads the request body once, at most `maxBytes` (throw `ZkPayError("body_too_large")`
   * beyond). Give `parsed` when a body parser consumed it before the gate.
   */
  readBody(maxBytes: number): Promise<GateBody>;
  /**
   * Adds a header to the answer this request gets later (x402's 402 or the handler's): a
   * refused presentation's `zk-session-refused` and `Retry-After`.
   */
  setHeader(name: string, value: string): void;
  /** Tells the handler that a session presentation paid for this request (called before the handler runs). */
  setSession?(session: SessionLocals): void;
}

/** Answer now: status, headers (lower-case names) and a JSON body. */
export interface GateRespond {
  type: "respond";
  status: number;
  headers: Record<string, string>;
  body: unknown;
  /** Send these bytes as they are (with `headers`' content-type) instead of `body` as JSON: the paywall's files. */
  raw?: Uint8Array;
}

/** Go on with x402's processing and the handler. */
export interface GateProceed {
  type: "proceed";
  /** Runs the rest of the request (x402's middleware and the handler) as this request. */
  run<T>(fn: () => T): T;
  /**
   * Call once the answer was sent, with its status: an admitted request is refunded unless
   * its payment was refused (400 / 402). Not called for a dropped connection (it keeps counting).
   */
  finish?(status: number): void;
  /** The gate read the body: what the handler should see (the JSON value without `zk_session`, or the raw bytes). */
  body?: HandlerBody;
  /** When x402 lets the request through, answer with this instead of the app's handler (a credential purchase). */
  handler?(): Promise<GateRespond>;
}

/** What {@link ZkGate.handle} decided for a request. */
export type GateResult = GateRespond | GateProceed;

/** Options of {@link createZkGate}. */
export interface ZkGateOptions {
  /** Schemes a `PAYMENT-SIGNATURE` may name (default zk-exact and zk-shielded). */
  schemes?: string[];
  /** Largest `PAYMENT-SIGNATURE`, characters (default `MAX_PAYMENT_HEADER_BYTES`). */
  maxHeaderBytes?: number;
  /** Admission control (default: the one `createZkResourceServer` built for the resource server). */
  admission?: Admission;
  /** An extra x402 protected-request hook (runs after the session hook). */
  onProtectedRequest?: ProtectedRequestHook;
  /**
   * Sell and accept session credentials: the service, and the network and token purchases
   * are paid in. With `attributeRule` (Verify & Pay), a purchase must carry an attribute
   * proof of that rule, and session routes declaring the same rule accept presentations
   * without one.
   */
  sessions?: { service: SessionService; network: string; asset: Address; attributeRule?: AttributeRule };
  /**
   * Serve the 402zk paywall to browsers (a 402 asked for with `Accept: text/html`): a page
   * that pays privately from the person's wallet (see `paywallHtml`), and the files it
   * loads under `/.well-known/402zk/`.
   */
  paywall?: ZkPaywallOptions;
}

/** The gate {@link createZkGate} builds. */
export interface ZkGate {
  /** The x402 HTTP server to hand to x402's framework middleware (initialised by the gate). */
  readonly httpServer: x402HTTPResourceServer;
  /** The admission control the gate applies (undefined without one). */
  readonly admission?: Admission;
  /** Decides what happens to a request. Throws only what the adapter should pass to the framework's error handling. */
  handle(req: GateRequest): Promise<GateResult>;
}

/**
 * Builds the gate for `routes` on `resourceServer`: route binding ({@link withRouteBinding}),
 * the facilitator health gate, the `PAYMENT-SIGNATURE` guard, admission control and, with
 * `sessions`, the session endpoints and presentations.
 *
 * @example
 * const gate = createZkGate({ "GET /weather": { accepts: { scheme: "zk-exact", network, payTo, price: "$0.01" } } }, resourceServer);
 */
export function createZkGate(
  routes: RoutesConfig | SessionRoutesConfig,
  resourceServer: x402ResourceServer,
  opts: ZkGateOptions = {},
): ZkGate {
  const admission = opts.admission ?? admissionOf(resourceServer);
  const sessions = opts.sessions;
  const built = sessions ? sessionRoutes(routes as SessionRoutesConfig, sessions.service, sessions) : undefined;
  const httpServer = new x402HTTPResourceServer(resourceServer, withRouteBinding(built?.routes ?? routes));
  const scope = new AsyncLocalStorage<{ req: GateRequest; found: FoundPresentation; admitted?: Admitted }>();
  if (sessions) {
    httpServer.onProtectedRequest(sessionHook(sessions.service, admission, () => scope.getStore()));
    // Purchase routes declare `zk-credential`: this signs the credential into PAYMENT-RESPONSE.
    resourceServer.registerExtension(zkCredentialServerExtension(sessions.service, sessions));
  }
  // Attribute routes (Verify & Pay): a payment whose attribute proof does not hold is
  // refused with 403 and a message before x402 verifies or settles it. After the session
  // hook: a valid presentation is granted first (a session bought with a proof needs none).
  const attributes = attributeVerifierOf(resourceServer);
  // Fail closed: a route that names a rule on a server that cannot check it would be served
  // to anyone (x402 runs the hooks of registered extensions only).
  if (!attributes) {
    const all = (built?.routes ?? routes) as Record<string, RouteConfig> | RouteConfig;
    const entries = "accepts" in all ? [["*", all] as const] : Object.entries(all as Record<string, RouteConfig>);
    for (const [key, cfg] of entries) {
      if (cfg.extensions && ZK_ATTRIBUTE_EXTENSION in cfg.extensions) {
        throw new ZkPayError(
          "invalid_argument",
          `route ${key} declares a zk-attribute rule, but the resource server has no attribute verifier: ` +
            "give createZkResourceServer (or createZkRemoteResourceServer) `attributes`",
        );
      }
    }
  }
  const current = new AsyncLocalStorage<GateRequest>();
  if (attributes) {
    httpServer.onProtectedRequest(
      attributeGateHook(attributes, () => current.getStore()?.setHeader.bind(current.getStore())),
    );
  }
  if (opts.onProtectedRequest) httpServer.onProtectedRequest(opts.onProtectedRequest);
  const paywall = opts.paywall;
  if (paywall) httpServer.registerPaywallProvider({ generateHtml: (pr) => paywallHtml(pr, paywall) });
  const facilitator = facilitatorGate(httpServer, resourceServer);
  const guard = { schemes: opts.schemes, maxBytes: opts.maxHeaderBytes, admission };

  const handle = async (req: GateRequest): Promise<GateResult> => {
    try {
      if (paywall && req.method === "GET") {
        const asset = paywallAsset(req.path);
        if (asset) {
          const headers = { "content-type": asset.contentType, "cache-control": asset.cacheControl };
          return { type: "respond", status: 200, headers, body: undefined, raw: asset.bytes };
        }
      }
      let found: FoundPresentation | undefined;
      let body: HandlerBody | undefined;
      let admitted: Admitted | undefined;
      if (sessions) {
        const path = req.path.toLowerCase().replace(/\/+$/, "");
        if (path === SESSION_WELL_KNOWN && req.method === "GET") {
          return { type: "respond", status: 200, headers: {}, body: sessions.service.info() };
        }
        if (path === `${SESSION_WELL_KNOWN}/recover` && req.method === "POST") {
          // Each recovery costs two RPC calls: it counts against the client like a refused
          // payment, and is refunded only when it returns a credential.
          const a = await admit(admission, req);
          if (a && !("key" in a)) return a;
          const { json } = await readJsonBody(sourceOf(req));
          const credential = await recoverCredential(sessions.service, json, sessions);
          if (admission && a) await admission.refund(a.key);
          return { type: "respond", status: 200, headers: {}, body: credential };
        }
        if (!path.startsWith(SESSION_WELL_KNOWN)) {
          ({ found, body } = await readPresentation(sourceOf(req)));
          if (found) {
            // Verifying costs the server ~5 ms: a client whose presentations keep being
            // refused is throttled like one whose payments are (429 too_many_failures), and
            // a full verification queue answers 503 server_busy, both before any pairing.
            const a = await admit(admission, req);
            if (a && !("key" in a)) return a;
            admitted = a;
          }
        }
      }
      const down = await facilitator(req);
      if (down) {
        // Not the client's fault: a presentation admitted above is refunded.
        if (admission && admitted) await admission.refund(admitted.key);
        return down;
      }
      const paid = await guardPaymentHeader(req, guard, admitted);
      if (paid.type === "respond") return paid;
      const purchase = purchaseOf(req, built?.purchases);
      // Malformed zk-credential extension data is refused here, before x402 verifies or
      // settles anything: no payment is taken for a credential that could not be issued.
      const badExtension =
        sessions && zkCredentialPaymentError(req.adapter.getHeader("payment-signature"), purchase, sessions.service);
      if (badExtension) {
        const answer = refusal(badExtension);
        paid.finish?.(answer.status);
        return answer;
      }
      const { admitted: client, ...proceed } = paid;
      const inScope = found
        ? <T>(fn: () => T) => paid.run(() => scope.run({ req, found, admitted: client }, fn))
        : paid.run;
      return {
        ...proceed,
        run: attributes ? (fn) => current.run(req, () => inScope(fn)) : inScope,
        body,
        handler:
          sessions && purchase !== undefined
            ? () =>
                sellCredential(sessions.service, purchase, req.adapter.getHeader("payment-signature"), sessions).then(
                  (credential) => ({ type: "respond", status: 200, headers: {}, body: credential }),
                  // The payment settled: say so, so that the client recovers the credential
                  // later. 502 whatever the reason: the purchase, not the request, failed.
                  (err: ZkPayError) => ({
                    ...refusal(err, { paid: true, recover: `${SESSION_WELL_KNOWN}/recover` }),
                    status: 502,
                  }),
                )
            : undefined,
      };
    } catch (err) {
      if (isZkPayError(err)) return refusal(err);
      throw err;
    }
  };
  return { httpServer, admission, handle };
}

/** A request admission control let through: its client key and queue priority. */
interface Admitted {
  key: string;
  priority: number;
}

/** The answer of a refusal: the reason table's status and headers, the error as JSON. */
function refusal(err: ZkPayError, extraBody?: Record<string, unknown>): GateRespond {
  return { type: "respond", ...httpAnswerOf(err, extraBody) };
}

/**
 * Counts the request against its client before expensive work: the refusal (429
 * too_many_failures or 503 server_busy) when refused, else the client key (to refund) and
 * its queue priority; undefined without admission control.
 */
async function admit(admission: Admission | undefined, req: GateRequest): Promise<Admitted | GateRespond | undefined> {
  if (!admission) return undefined;
  try {
    return await admission.admit(admission.clientOf(req.client));
  } catch (err) {
    if (!isZkPayError(err)) throw err;
    return refusal(err);
  }
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Statuses of a refused payment or presentation (malformed, oversized, refused by x402, or
 * by its attribute proof: 403): they keep counting.
 */
const REFUSED = new Set([400, 402, 403, 413, 431]);

/**
 * Why a `PAYMENT-SIGNATURE` header is refused before x402 sees it (`malformed_header`,
 * `header_too_large`, `unsupported_version`, `unsupported_scheme`, `invalid_payload`),
 * or undefined when it may go on. Without this check x402 would answer a bare 402.
 *
 * @example
 * const err = paymentHeaderError(req.headers["payment-signature"], { schemes: ["zk-exact"] });
 */
export function paymentHeaderError(
  header: string | string[],
  o: { schemes?: readonly string[]; maxBytes?: number } = {},
): ZkPayError | undefined {
  const schemes = new Set<string>(o.schemes ?? ZK_SCHEMES);
  const maxBytes = o.maxBytes ?? MAX_PAYMENT_HEADER_BYTES;
  if (Array.isArray(header)) return new ZkPayError("malformed_header", "PAYMENT-SIGNATURE appears more than once");
  if (header.length > maxBytes) {
    return new ZkPayError("header_too_large", `PAYMENT-SIGNATURE is ${header.length} bytes, the limit is ${maxBytes}`);
  }
  if (header.length === 0 || header.length % 4 !== 0 || !BASE64.test(header)) {
    return new ZkPayError("malformed_header", "PAYMENT-SIGNATURE is not base64");
  }
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(header, "base64").toString("utf8"));
  } catch {
    return new ZkPayError("malformed_header", "PAYMENT-SIGNATURE is not base64-encoded JSON");
  }
  if (typeof decoded !== "object" || decoded === null || Array.isArray(decoded)) {
    return new ZkPayError("malformed_header", "PAYMENT-SIGNATURE must encode a JSON object");
  }
  const p = decoded as { x402Version?: unknown; accepted?: { scheme?: unknown }; payload?: unknown };
  if (p.x402Version !== 2) {
    return new ZkPayError("unsupported_version", `x402Version ${String(p.x402Version)} is not supported (expected 2)`);
  }
  const scheme = p.accepted?.scheme;
  if (typeof scheme !== "string" || !schemes.has(scheme)) {
    return new ZkPayError("unsupported_scheme", `scheme ${String(scheme)} is not accepted here`);
  }
  if (isZkScheme(scheme)) {
    const r = ZkPaymentPayloadSchema.safeParse(p.payload);
    if (!r.success) {
      const issue = r.error.issues[0];
      return new ZkPayError("invalid_payload", `payload.${issue?.path.join(".")}: ${issue?.message}`);
    }
  }
  return undefined;
}

/**
 * The `PAYMENT-SIGNATURE` guard with admission control: a request carrying a payment is
 * admitted before any expensive work (429 `too_many_failures`, 503 `server_busy`, with
 * `Retry-After`), then its header is checked ({@link paymentHeaderError}: 400 / 431).
 * Every refused payment (400 here, 402 from x402) counts against its client; `finish`
 * refunds the rest. A request already admitted (`admitted`, for its presentation) is
 * not counted twice. `run` puts the admitted client in scope for the facilitator scheme.
 *
 * @example
 * const r = await guardPaymentHeader(req, { admission });
 */
export async function guardPaymentHeader(
  req: GateRequest,
  o: { schemes?: readonly string[]; maxBytes?: number; admission?: Admission },
  admitted?: Admitted,
): Promise<GateRespond | (GateProceed & { admitted?: Admitted })> {
  const header = req.adapter.getHeader("payment-signature");
  const admission = o.admission;
  let client = admitted;
  if (header !== undefined && !client) {
    const a = await admit(admission, req);
    if (a && !("key" in a)) return a;
    client = a;
  }
  const finish =
    admission && client
      ? (status: number) => {
          // The admitted request counts against its client unless it turns out fine: a
          // payment (or presentation) refused here (400, 431) or by x402 (402), or a connection
          // dropped before an answer, keeps counting; success, 503 and a failing handler
          // are refunded.
          if (!REFUSED.has(status)) admission.refund(client.key).catch(() => {});
        }
      : undefined;
  if (header !== undefined) {
    const err = paymentHeaderError(header, o);
    if (err) {
      const answer = refusal(err);
      finish?.(answer.status);
      return answer;
    }
  }
  return {
    type: "proceed",
    // The facilitator scheme queues this request's proof under its client key.
    run: admission && client ? (fn) => admission.within(client, fn) : (fn) => fn(),
    finish,
    admitted: client,
  };
}

/**
 * Initialises `httpServer` (its facilitators' `/supported`) before the first paid request,
 * and retries until it succeeds. With a remote facilitator ({@link facilitatorHealthOf}):
 * while it is unreachable, at start-up or later, a paid route answers 503
 * `facilitator_unavailable` with `Retry-After` (free routes are served), and the first
 * request after it answers again is served as usual. x402's own middleware would answer
 * 500 to every request while a remote facilitator is unreachable, and keep the failure.
 */
function facilitatorGate(
  httpServer: x402HTTPResourceServer,
  resourceServer: x402ResourceServer,
): (req: GateRequest) => Promise<GateRespond | undefined> {
  const health = facilitatorHealthOf(resourceServer);
  let initialized = false;
  let init: Promise<void> | undefined;
  const start = () => {
    const p = httpServer.initialize();
    // A route no facilitator supports is a configuration error: x402 exits, so do we.
    attachBackgroundInitHandler(p);
    p.then(
      () => (initialized = true),
      () => (init = undefined),
    );
    return p;
  };
  init = start();
  const unavailable = (): GateRespond => {
    const retryAfter = health?.retryAfterSeconds ?? 2;
    const why = health?.lastError ? ` (${health.lastError})` : "";
    return refusal(
      new ZkPayError(
        "facilitator_unavailable",
        `the payment facilitator does not answer${why}; retry in ${retryAfter} s`,
        { retryAfterSeconds: retryAfter },
      ),
    );
  };
  return async (req) => {
    if (initialized && health?.up !== false) return undefined;
    if (!httpServer.requiresPayment(contextOf(req))) return undefined;
    if (health && !(await health.probe())) return unavailable();
    if (!initialized) {
      try {
        await (init ??= start());
      } catch (err) {
        if (isFatalStartupInitError(err) || !health) throw err;
        return unavailable();
      }
    }
    return undefined;
  };
}

/** x402's request context of a gate request. */
function contextOf(req: GateRequest): HTTPRequestContext {
  let decodedPath = req.decodedPath;
  if (decodedPath === undefined) {
    try {
      decodedPath = decodeURIComponent(req.path);
    } catch {
      decodedPath = req.path; // x402 matches the raw path then
    }
  }
  return { adapter: req.adapter, path: req.path, decodedPath, method: req.method };
}

/** The offer a credential purchase request buys, if it is one. */
function purchaseOf(req: GateRequest, purchases: Map<string, string> | undefined): string | undefined {
  if (!purchases || req.method !== "POST") return undefined;
  return purchases.get(req.path.toLowerCase().replace(/\/+$/, ""));
}

/** What the session helpers need of a gate request. */
function sourceOf(req: GateRequest) {
  return {
    method: req.method,
    target: req.target,
    header: (name: string) => req.adapter.getHeader(name),
    readBody: (max: number) => req.readBody(max),
  };
}

/**
 * Grants access for a valid presentation on a session route. x402 calls it after it
 * matched the request to a route; the presentation and the admitted client come from the
 * request's scope.
 */
function sessionHook(
  sessions: SessionService,
  admission: Admission | undefined,
  current: () => { req: GateRequest; found: FoundPresentation; admitted?: Admitted } | undefined,
): ProtectedRequestHook {
  return async (_ctx, routeConfig) => {
    const route = (routeConfig as GateRouteConfig)[SESSION_ROUTE];
    const store = current();
    if (!route || !store) return;
    const { req, found, admitted } = store;
    try {
      // Verified in the admission queue (bounded, fair, the one payment proofs wait in),
      // under the client key and priority it was admitted with.
      // An envelope presentation (zk-credential spec) carries neither origin nor context:
      // they are the service's and the route's (0 on a route that binds no request).
      const presentation = found.envelope
        ? { ...found.presentation, originId: sessions.originId, context: route.bindRequest ? found.context : 0n }
        : found.presentation;
      const accepted = await sessions.accept(presentation, {
        requiredTier: route.requiredTier,
        context: route.bindRequest ? found.context : undefined,
        queue: admission && admitted ? { queue: admission.queue, ...admitted } : undefined,
      });
      req.setSession?.({ requiredTier: accepted.requiredTier });
      return { grantAccess: true };
    } catch (err) {
      if (!isZkPayError(err)) throw err;
      // Refused: say why in a header, and let x402 answer the 402 with the offers. A
      // verification the queue had no room for (server_busy: this client's share was
      // full, or a client with a better record displaced it) says when to retry.
      for (const [name, value] of Object.entries(reasonHeaders(err))) req.setHeader(name, value);
      const now = err.reason === "stale_presentation" ? { now: sessions.currentTime() } : {};
      req.setHeader(SESSION_REFUSED_HEADER, sessionRefusedHeader(err, now));
      return;
    }
  };
}

/**
 * Puts each route's key into `extra.route` of its zk-exact and zk-shielded options. The challenge MAC
 * covers it, and x402 only matches a payment to a route whose requirement it echoes, so a
 * challenge issued for one route cannot pay for another with the same price and payee.
 *
 * @example
 * withRouteBinding({ "GET /a": { accepts: { scheme: "zk-exact", network, payTo, price: "$0.01" } } });
 */
export function withRouteBinding<R extends RoutesConfig>(routes: R): R {
  const bind = (key: string, cfg: RouteConfig): RouteConfig => ({
    ...cfg,
    accepts: (Array.isArray(cfg.accepts) ? cfg.accepts : [cfg.accepts]).map((o) => {
      // A zk-shielded route must name a shielded address: refused when the routes are
      // built, not at the first paying request.
      if (o.scheme === ZK_SHIELDED_SCHEME && typeof o.payTo === "string" && !isShieldedAddress(o.payTo)) {
        throw new ZkPayError(
          "invalid_shielded_address",
          `route ${key}: a ${ZK_SHIELDED_SCHEME} route pays a shielded address (zk402...), not ${o.payTo}`,
        );
      }
      return isZkScheme(o.scheme) ? { ...o, extra: { ...o.extra, route: key } } : o;
    }),
  });
  // A bare RouteConfig (no keys) applies to every path.
  if ("accepts" in routes) return bind("*", routes as RouteConfig) as R;
  return Object.fromEntries(
    Object.entries(routes as Record<string, RouteConfig>).map(([key, cfg]) => [key, bind(key, cfg)]),
  ) as R;
}
