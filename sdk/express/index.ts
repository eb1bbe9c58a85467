import {
  ExpressAdapter,
  paymentMiddlewareFromHTTPServer,
  x402HTTPResourceServer,
  type x402ResourceServer,
} from "@x402/express";
import {
  attachBackgroundInitHandler,
  isFatalStartupInitError,
  type ProtectedRequestHook,
  type RouteConfig,
  type RoutesConfig,
} from "@x402/core/server";
import type { NextFunction, Request, RequestHandler, Response } from "express";

import { ZkPayError, isZkPayError } from "../core/errors.js";
import { MAX_PAYMENT_HEADER_BYTES, ZK_SCHEME, ZkPaymentPayloadSchema } from "../core/wire.js";
import type { Admission } from "../server/admission.js";
import { admissionOf } from "../server/paywall.js";
import { facilitatorHealthOf } from "../server/remote.js";

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Refuses malformed `PAYMENT-SIGNATURE` headers with 400 and a stable snake_case
 * reason (`malformed_header`, `header_too_large`, `unsupported_version`,
 * `unsupported_scheme`, `invalid_payload`) before x402's middleware sees them; without
 * it they would be answered as a bare "Payment required".
 *
 * With an {@link Admission}, a request carrying a payment is also admitted before any
 * expensive work: 429 `too_many_failures` for a client that sent too many refused
 * payments in the window, 503 `server_busy` when the verification queue has no room,
 * both with `Retry-After`. Every refused payment (400 here, 402 from x402) counts
 * against its client.
 *
 * @example
 * app.use(paymentHeaderGuard({ schemes: ["zk-exact", "exact"] }));
 */
export function paymentHeaderGuard(
  opts: { schemes?: string[]; maxBytes?: number; admission?: Admission } = {},
): RequestHandler {
  const schemes = new Set(opts.schemes ?? [ZK_SCHEME]);
  const maxBytes = opts.maxBytes ?? MAX_PAYMENT_HEADER_BYTES;
  const admission = opts.admission;
  return async (req: Request, res: Response, next: NextFunction) => {
    const header = req.headers["payment-signature"];
    if (header === undefined) return next();
    const client = admission?.clientOf(req);
    let admitted: { key: string; priority: number } | undefined;
    if (admission && client !== undefined) {
      try {
        admitted = await admission.admit(client);
      } catch (err) {
        if (!isZkPayError(err)) throw err;
        const status = err.reason === "server_busy" ? 503 : 429;
        res.setHeader("Retry-After", String(err.details.retryAfterSeconds ?? 1));
        res.status(status).json(err.toJSON());
        return;
      }
      // The admitted request counts against its client unless it turns out fine: a
      // payment refused here (400) or by x402 (402), or a connection dropped before an
      // answer, keeps counting; success, 503 and a failing handler are refunded.
      res.once("finish", () => {
        if (res.statusCode !== 400 && res.statusCode !== 402) admission.refund(client).catch(() => {});
      });
    }
    const refuse = (e: ZkPayError) => {
      res.status(400).json(e.toJSON());
    };
    if (Array.isArray(header))
      return refuse(new ZkPayError("malformed_header", "PAYMENT-SIGNATURE appears more than once"));
    if (header.length > maxBytes) {
      return refuse(
        new ZkPayError("header_too_large", `PAYMENT-SIGNATURE is ${header.length} bytes, the limit is ${maxBytes}`),
      );
    }
    if (header.length === 0 || header.length % 4 !== 0 || !BASE64.test(header)) {
      return refuse(new ZkPayError("malformed_header", "PAYMENT-SIGNATURE is not base64"));
    }
    let decoded: unknown;
    try {
      decoded = JSON.parse(Buffer.from(header, "base64").toString("utf8"));
    } catch {
      return refuse(new ZkPayError("malformed_header", "PAYMENT-SIGNATURE is not base64-encoded JSON"));
    }
    if (typeof decoded !== "object" || decoded === null || Array.isArray(decoded)) {
      return refuse(new ZkPayError("malformed_header", "PAYMENT-SIGNATURE must encode a JSON object"));
    }
    const p = decoded as { x402Version?: unknown; accepted?: { scheme?: unknown }; payload?: unknown };
    if (p.x402Version !== 2) {
      return refuse(
        new ZkPayError("unsupported_version", `x402Version ${String(p.x402Version)} is not supported (expected 2)`),
      );
    }
    const scheme = p.accepted?.scheme;
    if (typeof scheme !== "string" || !schemes.has(scheme)) {
      return refuse(new ZkPayError("unsupported_scheme", `scheme ${String(scheme)} is not accepted here`));
    }
    if (scheme === ZK_SCHEME) {
      const r = ZkPaymentPayloadSchema.safeParse(p.payload);
      if (!r.success) {
        const issue = r.error.issues[0];
        return refuse(new ZkPayError("invalid_payload", `payload.${issue?.path.join(".")}: ${issue?.message}`));
      }
    }
    // The facilitator scheme queues this request's proof under its client key.
    if (admission && admitted) return admission.within(admitted, () => next());
    next();
  };
}

/**
 * `@x402/express`'s `paymentMiddleware` behind {@link paymentHeaderGuard}, with the
 * admission control that `createZkResourceServer` built for `resourceServer` (or
 * `opts.admission`).
 *
 * A route whose handler has side effects (an LLM call, an SMS, an order) should settle
 * before it runs: give its zk-exact option `extra: { paymentFlow: "upfront" }`. By
 * default x402 verifies, runs the handler, then settles, and withholds the response if
 * settlement fails: right for content, wrong for side effects.
 *
 * @example
 * app.use(zkPaymentMiddleware({ "GET /weather": { accepts: { scheme: "zk-exact", network, payTo, price: "$0.01" } } }, resourceServer));
 */
export function zkPaymentMiddleware(
  routes: RoutesConfig,
  resourceServer: x402ResourceServer,
  opts: {
    schemes?: string[];
    maxHeaderBytes?: number;
    admission?: Admission;
    /**
     * x402's protected-request hook: runs after x402 matched the request to a route (its
     * own matching: order, case, path normalisation) and may grant access without a
     * payment. `zkSessionMiddleware` accepts presentations through it.
     */
    onProtectedRequest?: ProtectedRequestHook;
  } = {},
): RequestHandler[] {
  const httpServer = new x402HTTPResourceServer(resourceServer, withRouteBinding(routes));
  if (opts.onProtectedRequest) httpServer.onProtectedRequest(opts.onProtectedRequest);
  return [
    facilitatorGate(httpServer, resourceServer),
    paymentHeaderGuard({
      schemes: opts.schemes,
      maxBytes: opts.maxHeaderBytes,
      admission: opts.admission ?? admissionOf(resourceServer),
    }),
    // Initialised by facilitatorGate, not by x402's middleware: x402 would answer 500 to
    // every request while a remote facilitator is unreachable, and keep the failure.
    paymentMiddlewareFromHTTPServer(httpServer, undefined, undefined, false),
  ];
}

/**
 * Initialises `httpServer` (its facilitators' `/supported`) before the first paid request,
 * and retries until it succeeds. With a remote facilitator ({@link facilitatorHealthOf}):
 * while it is unreachable, at start-up or later, a paid route answers 503
 * `facilitator_unavailable` with `Retry-After` (free routes are served), and the first
 * request after it answers again is served as usual.
 */
function facilitatorGate(httpServer: x402HTTPResourceServer, resourceServer: x402ResourceServer): RequestHandler {
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
  const unavailable = (res: Response) => {
    const retryAfter = health?.retryAfterSeconds ?? 2;
    res.setHeader("Retry-After", String(retryAfter));
    res
      .status(503)
      .json(
        new ZkPayError(
          "facilitator_unavailable",
          `the payment facilitator does not answer${health?.lastError ? ` (${health.lastError})` : ""}; retry in ${retryAfter} s`,
          { retryAfterSeconds: retryAfter },
        ).toJSON(),
      );
  };
  return async (req: Request, res: Response, next: NextFunction) => {
    if (initialized && health?.up !== false) return next();
    let path = req.path;
    try {
      path = decodeURIComponent(req.path);
    } catch {
      // x402 matches the raw path then
    }
    const context = { adapter: new ExpressAdapter(req), path: req.path, decodedPath: path, method: req.method };
    if (!httpServer.requiresPayment(context)) return next();
    if (health && !(await health.probe())) return unavailable(res);
    if (!initialized) {
      try {
        await (init ??= start());
      } catch (err) {
        if (isFatalStartupInitError(err) || !health) return next(err);
        return unavailable(res);
      }
    }
    next();
  };
}

/**
 * Puts each route's key into `extra.route` of its zk-exact options. The challenge MAC
 * covers it, and x402 only matches a payment to a route whose requirement it echoes, so a
 * challenge issued for one route cannot pay for another with the same price and payee.
 *
 * @example
 * withRouteBinding({ "GET /a": { accepts: { scheme: "zk-exact", network, payTo, price: "$0.01" } } });
 */
export function withRouteBinding(routes: RoutesConfig): RoutesConfig {
  const bind = (key: string, cfg: RouteConfig): RouteConfig => ({
    ...cfg,
    accepts: (Array.isArray(cfg.accepts) ? cfg.accepts : [cfg.accepts]).map((o) =>
      o.scheme === ZK_SCHEME ? { ...o, extra: { ...o.extra, route: key } } : o,
    ),
  });
  // A bare RouteConfig (no keys) applies to every path.
  if ("accepts" in routes) return bind("*", routes as RouteConfig);
  return Object.fromEntries(
    Object.entries(routes as Record<string, RouteConfig>).map(([key, cfg]) => [key, bind(key, cfg)]),
  );
}
export { zkSessionMiddleware, type SessionRoutesConfig, type SessionLocals } from "./session.js";
