import { AsyncLocalStorage } from "node:async_hooks";

import type { ProtectedRequestHook, RouteConfig } from "@x402/core/server";
import type { x402ResourceServer } from "@x402/express";
import type { Request, RequestHandler, Response } from "express";
import { toHex, type Address } from "viem";

import { ZkPayError, isZkPayError } from "../core/errors.js";
import { ZK_SCHEME, ZkPaymentPayloadSchema } from "../core/wire.js";
import type { Admission } from "../server/admission.js";
import { requestContext } from "../session/context.js";
import type { SessionRouteConfig, SessionService } from "../session/service.js";
import {
  MAX_PRESENTATION_BYTES,
  RecoverRequestSchema,
  SESSION_BODY_FIELD,
  SESSION_HEADER,
  SESSION_REFUSAL_HEADER,
  SESSION_WELL_KNOWN,
  decodePresentationHeader,
  presentationFromWire,
  type Presentation,
  type SessionRefusal,
} from "../session/wire.js";
import { admissionOf } from "../server/paywall.js";
import { zkPaymentMiddleware } from "./index.js";

/** x402 routes, where a route may also accept session credentials. */
export type SessionRoutesConfig = Record<string, RouteConfig & { session?: SessionRouteConfig }>;

/** What a handler finds in `res.locals.zkSession` when a presentation paid for the request. */
export interface SessionLocals {
  requiredTier: number;
}

/** Largest JSON body the middleware reads itself (session routes and recovery). */
const MAX_BODY_BYTES = 1024 * 1024;

/** Reasons after which buying a new credential can help. */
const BUY_AGAIN = new Set(["credential_expired", "presentations_exhausted", "tier_too_low", "invalid_presentation"]);

/**
 * `zkPaymentMiddleware` for an API that also sells session credentials: pay once, then
 * redeem many requests with unlinkable presentations, verified locally in milliseconds.
 *
 * - A route with `session` accepts a presentation (the `zk-session` header, or a
 *   `zk_session` field of a JSON body, which the handler never sees) instead of a
 *   payment. Its 402 offers both: pay per request (zk-exact) or buy a credential (the
 *   terms are in `extra.session` of its zk-exact option). A refused presentation is
 *   answered 402 with a `zk-session-refused` header saying why and whether buying again
 *   helps; a malformed one 400.
 * - `POST /.well-known/402zk/sessions/buy/<offer>` sells a credential: a zk-exact payment
 *   settled before the credential is signed and returned as JSON.
 * - `POST /.well-known/402zk/sessions/recover` returns the credential of a purchase that
 *   was paid but whose answer was lost (a client crash), after checking the chain.
 * - `GET /.well-known/402zk/sessions` publishes the service's terms.
 *
 * Mount it before body parsers: it reads JSON bodies of session routes itself (and leaves
 * `req.body` parsed for the handler).
 *
 * @example
 * app.use(zkSessionMiddleware({ "GET /data": { accepts, session: { requiredTier: 1 } } }, resourceServer, sessions, { network, asset }));
 */
export function zkSessionMiddleware(
  routes: SessionRoutesConfig,
  resourceServer: x402ResourceServer,
  sessions: SessionService,
  opts: { network: string; asset: Address; schemes?: string[]; maxHeaderBytes?: number; admission?: Admission },
): RequestHandler[] {
  // Purchase routes first: x402 takes the first route that matches, so an operator's
  // catch-all ("/*") must not swallow them.
  const x402Routes: Record<string, RouteConfig & { [SESSION_ROUTE]?: Required<SessionRouteConfig> }> = {};
  const purchaseRoutes = new Map<string, string>();
  for (const offer of sessions.offers) {
    const key = `POST ${sessions.purchasePath(offer.id)}`;
    purchaseRoutes.set(sessions.purchasePath(offer.id).toLowerCase(), offer.id);
    x402Routes[key] = {
      accepts: {
        scheme: ZK_SCHEME,
        network: opts.network as `${string}:${string}`,
        payTo: sessions.payTo,
        price: { amount: offer.price.toString(), asset: opts.asset },
        // Settled before the credential is signed: a credential is a side effect.
        extra: { credential: { offerId: offer.id }, paymentFlow: "upfront" },
      },
      description: `session credential "${offer.id}": tier ${offer.tier}, ${offer.maxPresentations} requests, ${offer.durationSeconds} s`,
    };
  }
  for (const [key, { session, ...cfg }] of Object.entries(routes)) {
    if (!session) {
      x402Routes[key] = cfg;
      continue;
    }
    const routeCfg = { requiredTier: session.requiredTier ?? 0, bindRequest: session.bindRequest ?? false };
    const info = sessions.info(routeCfg);
    const accepts = (Array.isArray(cfg.accepts) ? cfg.accepts : [cfg.accepts]).map((o) =>
      o.scheme === ZK_SCHEME ? { ...o, extra: { ...o.extra, session: info } } : o,
    );
    // The route's session terms travel with its config, so the hook below reads them from
    // the route x402 itself matched (its order, case folding and path normalisation).
    x402Routes[key] = { ...cfg, accepts, [SESSION_ROUTE]: routeCfg };
  }
  const admission = opts.admission ?? admissionOf(resourceServer);
  const context = new AsyncLocalStorage<{ res: Response; found: Found }>();

  /** Grants access for a valid presentation on a session route (called by x402 after matching). */
  const onProtectedRequest: ProtectedRequestHook = async (_ctx, routeConfig) => {
    const route = (routeConfig as { [SESSION_ROUTE]?: Required<SessionRouteConfig> })[SESSION_ROUTE];
    const store = context.getStore();
    if (!route || !store) return;
    const { res, found } = store;
    try {
      // Verified in the admission queue (bounded, fair, the one payment proofs wait in),
      // under the client key and priority it was admitted with.
      const accepted = await sessions.accept(found.presentation, {
        requiredTier: route.requiredTier,
        context: route.bindRequest ? found.context : undefined,
        queue: admission && found.admitted ? { queue: admission.queue, ...found.admitted } : undefined,
      });
      res.locals.zkSession = { requiredTier: accepted.requiredTier } satisfies SessionLocals;
      if (admission && found.admitted) await admission.refund(found.admitted.key);
      return { grantAccess: true };
    } catch (err) {
      if (!isZkPayError(err)) throw err;
      // Refused: say why in a header, and let x402 answer the 402 with the offers. A
      // verification the queue had no room for (server_busy: this client's share was full,
      // or a client with a better record displaced it) says when to retry.
      if (err.reason === "server_busy") res.setHeader("Retry-After", String(err.details.retryAfterSeconds ?? 1));
      const refusal: SessionRefusal = {
        error: err.reason,
        message: err.message,
        buy: BUY_AGAIN.has(err.reason),
        ...(err.reason === "stale_presentation" ? { now: sessions.currentTime() } : {}),
      };
      res.setHeader(SESSION_REFUSAL_HEADER, btoa(JSON.stringify(refusal)));
      return;
    }
  };
  // Every handler of zkPaymentMiddleware, in its order (facilitator gate, header guard,
  // x402's paywall): picking them by position let routes through unpaid once it grew one.
  const payment = zkPaymentMiddleware(x402Routes, resourceServer, {
    schemes: opts.schemes,
    maxHeaderBytes: opts.maxHeaderBytes,
    admission,
    onProtectedRequest,
  });

  const refuse = (res: Response, status: number, err: ZkPayError) => {
    res.status(status).json(err.toJSON());
  };

  const gate: RequestHandler = async (req, res, next) => {
    try {
      const path = req.path.toLowerCase().replace(/\/+$/, "");
      if (path === SESSION_WELL_KNOWN && req.method === "GET") {
        res.json(sessions.info());
        return;
      }
      if (path === `${SESSION_WELL_KNOWN}/recover` && req.method === "POST") {
        await recover(req, res);
        return;
      }
      if (path.startsWith(SESSION_WELL_KNOWN)) return next();
      const found = await readPresentation(req);
      if (!found) return next();
      // Verifying costs the server ~5 ms: a client whose presentations keep being refused
      // is throttled like one whose payments are (429 too_many_failures), and a full
      // verification queue answers 503 server_busy, both before any pairing. An accepted
      // presentation is refunded.
      const admitted = await admit(req, res);
      if (admitted === false) return;
      // x402 matches the route and calls onProtectedRequest within this context.
      context.run({ res, found: { ...found, admitted } }, () => next());
    } catch (err) {
      if (isZkPayError(err)) {
        // The rest of an oversize body was not read and the socket is dropped after the
        // answer: without `Connection: close` a keep-alive client would send its next
        // request on it and get a reset instead of an answer.
        if (err.reason === "body_too_large") res.setHeader("Connection", "close");
        const status = err.reason === "header_too_large" ? 431 : err.reason === "body_too_large" ? 413 : 400;
        return refuse(res, status, err);
      }
      next(err);
    }
  };

  /**
   * Counts the request against its client before expensive work: false when refused
   * (429 too_many_failures or 503 server_busy answered, with Retry-After), else the
   * client key (to refund on success) and its queue priority; undefined without
   * admission control.
   */
  async function admit(req: Request, res: Response): Promise<{ key: string; priority: number } | undefined | false> {
    if (!admission) return undefined;
    try {
      return await admission.admit(admission.clientOf(req));
    } catch (err) {
      if (!isZkPayError(err)) throw err;
      res.setHeader("Retry-After", String(err.details.retryAfterSeconds ?? 1));
      refuse(res, err.reason === "server_busy" ? 503 : 429, err);
      return false;
    }
  }

  async function recover(req: Request, res: Response): Promise<void> {
    // Each recovery costs two RPC calls: it counts against the client like a refused
    // payment, and is refunded when it returns a credential.
    const admitted = await admit(req, res);
    if (admitted === false) return;
    const body = await readJsonBody(req);
    const r = RecoverRequestSchema.safeParse(body.json);
    if (!r.success) {
      const issue = r.error.issues[0];
      return refuse(res, 400, new ZkPayError("invalid_payload", `${issue?.path.join(".")}: ${issue?.message}`));
    }
    try {
      const credential = await sessions.issue({
        offerId: r.data.offerId,
        holderCommitment: BigInt(r.data.holderCommitment),
        receiptId: r.data.receiptId as `0x${string}`,
        challenge: r.data.challenge as never,
        network: opts.network,
        asset: opts.asset,
        recovering: true,
      });
      if (admission && admitted) await admission.refund(admitted.key);
      res.json(credential);
    } catch (err) {
      refuse(res, ...issuanceError(err));
    }
  }

  /** After x402 settled a purchase (upfront), sign and return its credential. */
  const sell: RequestHandler = async (req, res, next) => {
    const offerId = req.method === "POST" ? purchaseRoutes.get(req.path.toLowerCase().replace(/\/+$/, "")) : undefined;
    if (offerId === undefined) return next();
    try {
      const header = req.headers["payment-signature"];
      const decoded = JSON.parse(atob(String(header))) as {
        accepted: { network: string; extra: { challenge: never } };
        payload: unknown;
      };
      const payload = ZkPaymentPayloadSchema.parse(decoded.payload);
      if (!payload.credential) throw new ZkPayError("invalid_payload", "payload.credential is missing");
      const receiptId =
        payload.settlement === "server"
          ? toHex(BigInt(payload.proof.nullifierHash), { size: 32 })
          : (payload.receiptId as `0x${string}`);
      const credential = await sessions.issue({
        offerId,
        holderCommitment: BigInt(payload.credential.commitment),
        receiptId,
        challenge: decoded.accepted.extra.challenge,
        network: opts.network,
        asset: opts.asset,
      });
      res.json(credential);
    } catch (err) {
      // The payment settled: say so, so that the client recovers the credential later.
      const [, e] = issuanceError(err);
      res.status(502).json({ ...e.toJSON(), paid: true, recover: `${SESSION_WELL_KNOWN}/recover` });
    }
  };

  return [gate, ...payment, sell];
}

/** Marks a route config as a session route (its terms); read back in the x402 hook. */
const SESSION_ROUTE = Symbol("402zk.session-route");

/** A presentation read from a request, with its request context and admitted client. */
interface Found {
  presentation: Presentation;
  context: bigint;
  admitted?: { key: string; priority: number };
}

/**
 * Status and error for a failed issuance. The chain's answer stays in `details.receipt`
 * (`not_paid`, `mismatch`, `unconfirmed`), so a client drops a purchase only when the
 * chain has no such payment; an RPC failure is a 503 whose message names no endpoint.
 */
function issuanceError(err: unknown): [number, ZkPayError] {
  if (isZkPayError(err)) {
    if (err.reason === "issuance_refused") return [409, err];
    if (err.reason === "invalid_argument" || err.reason === "invalid_payload") return [400, err];
  }
  return [503, new ZkPayError("rpc_error", "the service could not read the chain; retry later")];
}

/** Reads the request body once (at most MAX_BODY_BYTES) and leaves it parsed for the handler. */
async function readJsonBody(req: Request): Promise<{ raw: Uint8Array; json: unknown }> {
  const r = req as Request & { _body?: boolean; zkRawBody?: Uint8Array };
  if (r.zkRawBody) return { raw: r.zkRawBody, json: req.body };
  if (r._body) {
    // Parsed before us (a body parser mounted first): the raw bytes are gone.
    let text = "";
    try {
      text = req.body === undefined ? "" : JSON.stringify(req.body);
    } catch {
      throw new ZkPayError("invalid_payload", "the request body is nested too deeply");
    }
    return { raw: new TextEncoder().encode(text), json: req.body };
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new ZkPayError("body_too_large", `the body exceeds ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  const raw = new Uint8Array(Buffer.concat(chunks));
  r.zkRawBody = raw;
  r._body = true; // body-parser skips a body that was read
  const isJson = /\bjson\b/i.test(String(req.headers["content-type"] ?? ""));
  if (!isJson) {
    req.body = raw.length ? Buffer.from(raw) : undefined;
    return { raw, json: undefined };
  }
  if (raw.length === 0) {
    req.body = undefined;
    return { raw, json: undefined };
  }
  try {
    req.body = JSON.parse(new TextDecoder().decode(raw));
  } catch {
    throw new ZkPayError("invalid_payload", "the request body is not valid JSON");
  }
  return { raw, json: req.body };
}

/** The request's presentation (header, or `zk_session` of a JSON body) and its context, if any. */
async function readPresentation(req: Request): Promise<{ presentation: Presentation; context: bigint } | undefined> {
  const header = req.headers[SESSION_HEADER];
  if (Array.isArray(header)) throw new ZkPayError("malformed_header", `${SESSION_HEADER} appears more than once`);
  const hasBody = req.headers["content-length"] !== undefined || req.headers["transfer-encoding"] !== undefined;
  const isJson = /\bjson\b/i.test(String(req.headers["content-type"] ?? ""));
  // A request with a presentation header has its body read (the context may cover it);
  // without one, only a JSON body is read, to look for `zk_session`.
  const body = hasBody && (isJson || header !== undefined) ? await readJsonBody(req) : undefined;
  const target = req.originalUrl;
  const inBody =
    body?.json !== null && typeof body?.json === "object" && !Array.isArray(body.json)
      ? (body.json as Record<string, unknown>)[SESSION_BODY_FIELD]
      : undefined;
  if (header !== undefined && inBody !== undefined) {
    throw new ZkPayError("malformed_header", `a presentation in both the ${SESSION_HEADER} header and the body`);
  }
  if (header !== undefined) {
    return {
      presentation: decodePresentationHeader(header),
      context: requestContext(req.method, target, body?.raw ?? new Uint8Array()),
    };
  }
  if (inBody === undefined) return undefined;
  let size: number;
  try {
    size = JSON.stringify(inBody).length;
  } catch {
    throw new ZkPayError("invalid_presentation", `${SESSION_BODY_FIELD} is nested too deeply`);
  }
  if (size > MAX_PRESENTATION_BYTES) {
    throw new ZkPayError("invalid_presentation", `${SESSION_BODY_FIELD} exceeds ${MAX_PRESENTATION_BYTES} bytes`);
  }
  const presentation = presentationFromWire(inBody);
  // The handler never sees the field; the context covers the rest of the body.
  const rest = { ...(body!.json as Record<string, unknown>) };
  delete rest[SESSION_BODY_FIELD];
  req.body = rest;
  let text: string;
  try {
    text = JSON.stringify(rest);
  } catch {
    throw new ZkPayError("invalid_payload", "the request body is nested too deeply");
  }
  return { presentation, context: requestContext(req.method, target, text) };
}
