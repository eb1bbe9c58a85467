import { paymentMiddleware, type x402ResourceServer } from "@x402/express";
import type { RouteConfig, RoutesConfig } from "@x402/core/server";
import type { NextFunction, Request, RequestHandler, Response } from "express";

import { ZkPayError } from "../core/errors.js";
import { MAX_PAYMENT_HEADER_BYTES, ZK_SCHEME, ZkPaymentPayloadSchema } from "../core/wire.js";

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Refuses malformed `PAYMENT-SIGNATURE` headers with 400 and a stable snake_case
 * reason (`malformed_header`, `header_too_large`, `unsupported_version`,
 * `unsupported_scheme`, `invalid_payload`) before x402's middleware sees them; without
 * it they would be answered as a bare "Payment required".
 *
 * @example
 * app.use(paymentHeaderGuard({ schemes: ["zk-exact", "exact"] }));
 */
export function paymentHeaderGuard(opts: { schemes?: string[]; maxBytes?: number } = {}): RequestHandler {
  const schemes = new Set(opts.schemes ?? [ZK_SCHEME]);
  const maxBytes = opts.maxBytes ?? MAX_PAYMENT_HEADER_BYTES;
  return (req: Request, res: Response, next: NextFunction) => {
    const header = req.headers["payment-signature"];
    if (header === undefined) return next();
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
    next();
  };
}

/**
 * `@x402/express`'s `paymentMiddleware` behind {@link paymentHeaderGuard}.
 *
 * @example
 * app.use(zkPaymentMiddleware({ "GET /weather": { accepts: { scheme: "zk-exact", network, payTo, price: "$0.01" } } }, resourceServer));
 */
export function zkPaymentMiddleware(
  routes: RoutesConfig,
  resourceServer: x402ResourceServer,
  opts: { schemes?: string[]; maxHeaderBytes?: number } = {},
): RequestHandler[] {
  return [
    paymentHeaderGuard({ schemes: opts.schemes, maxBytes: opts.maxHeaderBytes }),
    paymentMiddleware(withRouteBinding(routes), resourceServer),
  ];
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
