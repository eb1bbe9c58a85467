import type { ProtectedRequestHook, RoutesConfig } from "@x402/core/server";
import type { x402ResourceServer } from "@x402/express";
import type { RequestHandler } from "express";

import type { Admission } from "../server/admission.js";
import { createZkGate, guardPaymentHeader } from "../server/gate.js";
import type { ZkPaywallOptions } from "../server/paywall.js";
import { apply, gateMiddleware, gateRequestOf } from "./adapter.js";

/**
 * Refuses malformed `PAYMENT-SIGNATURE` headers with a stable snake_case reason
 * (`malformed_header`, `unsupported_version`, `unsupported_scheme`, `invalid_payload`:
 * 400; `header_too_large`: 431) before x402's middleware sees them; without it they would
 * be answered as a bare "Payment required".
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
  return (req, res, next) => {
    guardPaymentHeader(gateRequestOf(req, res), opts).then((r) => apply(r, req, res, next), next);
  };
}

/**
 * `@x402/express`'s payment middleware behind the 402zk gate (402zk/server): the
 * facilitator health gate (503 `facilitator_unavailable` while a remote facilitator does
 * not answer), {@link paymentHeaderGuard}, the admission control that
 * `createZkResourceServer` built for `resourceServer` (or `opts.admission`), and route
 * binding ({@link withRouteBinding}).
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
    /**
     * Serve the 402zk paywall page to browsers (a 402 asked for with `Accept: text/html`)
     * and the files it loads under `/.well-known/402zk/` (`paywall` of `createZkGate`).
     */
    paywall?: ZkPaywallOptions;
  } = {},
): RequestHandler[] {
  return gateMiddleware(createZkGate(routes, resourceServer, opts));
}

export { withRouteBinding } from "../server/gate.js";
export { zkSessionMiddleware, type SessionRoutesConfig, type SessionLocals } from "./session.js";
