import type { x402ResourceServer } from "@x402/express";
import type { RequestHandler } from "express";
import type { Address } from "viem";

import type { Admission } from "../server/admission.js";
import { createZkGate, type SessionRoutesConfig, type ZkGateOptions } from "../server/gate.js";
import type { ZkPaywallOptions } from "../server/paywall.js";
import { gateMiddleware } from "./adapter.js";

export type { SessionLocals, SessionRoutesConfig } from "../server/gate.js";

/** The session service (402zk/session's `SessionService`), named through the gate: adapters import only the gate. */
type SessionService = NonNullable<ZkGateOptions["sessions"]>["service"];

/**
 * `zkPaymentMiddleware` for an API that also sells session credentials: pay once, then
 * redeem many requests with unlinkable presentations, verified locally in milliseconds.
 *
 * - A route with `session` accepts a presentation (the `zk-session` header, or a
 *   `zk_session` field of a JSON body, which the handler never sees) instead of a
 *   payment. Its 402 offers both: pay per request (zk-exact) or buy a credential (the
 *   terms are in `extra.session` of its zk-exact option). A refused presentation is
 *   answered 402 with a `zk-session-refused` header saying why and whether buying again
 *   helps; a malformed one 400. The handler finds `res.locals.zkSession` ({@link SessionLocals}).
 * - `POST /.well-known/402zk/sessions/buy/<offer>` sells a credential: a zk-exact payment
 *   settled before the credential is signed and returned as JSON.
 * - `POST /.well-known/402zk/sessions/recover` returns the credential of a purchase that
 *   was paid but whose answer was lost (a client crash), after checking the chain.
 * - `GET /.well-known/402zk/sessions` publishes the service's terms.
 *
 * Mount it before body parsers: it reads JSON bodies of session routes itself (and leaves
 * `req.body` parsed for the handler). The work is the gate's (`createZkGate` in 402zk/server).
 *
 * @example
 * app.use(zkSessionMiddleware({ "GET /data": { accepts, session: { requiredTier: 1 } } }, resourceServer, sessions, { network, asset }));
 */
export function zkSessionMiddleware(
  routes: SessionRoutesConfig,
  resourceServer: x402ResourceServer,
  sessions: SessionService,
  opts: {
    network: string;
    asset: Address;
    schemes?: string[];
    maxHeaderBytes?: number;
    admission?: Admission;
    /** Serve the 402zk paywall page to browsers and the files it loads (`paywall` of `createZkGate`). */
    paywall?: ZkPaywallOptions;
    /** Verify & Pay: credentials are sold only with an attribute proof of this rule (`sessions.attributeRule` of `createZkGate`). */
    attributeRule?: NonNullable<ZkGateOptions["sessions"]>["attributeRule"];
  },
): RequestHandler[] {
  const { network, asset, attributeRule, ...rest } = opts;
  return gateMiddleware(
    createZkGate(routes, resourceServer, { ...rest, sessions: { service: sessions, network, asset, attributeRule } }),
  );
}
