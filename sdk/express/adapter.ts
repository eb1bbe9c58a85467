import { ExpressAdapter, paymentMiddlewareFromHTTPServer } from "@x402/express";
import type { NextFunction, Request, RequestHandler, Response } from "express";

import { ZkPayError } from "../core/errors.js";
import type { GateBody, GateRequest, GateRespond, GateResult, ZkGate } from "../server/gate.js";

/**
 * The Express side of the gate (402zk/server): a request as a {@link GateRequest}, an
 * answer written. Everything else is the gate's.
 */
export function gateRequestOf(req: Request, res: Response): GateRequest {
  return {
    adapter: new ExpressAdapter(req),
    method: req.method,
    path: req.path,
    target: req.originalUrl,
    client: req,
    readBody: (max) => readBody(req, max),
    setHeader: (name, value) => void res.setHeader(name, value),
    setSession: (session) => void (res.locals.zkSession = session),
  };
}

/** Writes a gate answer. */
export function send(res: Response, a: GateRespond): void {
  for (const [name, value] of Object.entries(a.headers)) res.setHeader(name, value);
  if (a.raw) res.status(a.status).end(a.raw);
  else res.status(a.status).json(a.body);
}

/**
 * Applies a gate result: answers it, or goes on (`next`) as the gate says: refund
 * bookkeeping when the answer is sent, the body the handler sees, the admitted client in
 * scope. Returns the gate's own handler for the request, if any.
 */
export function apply(r: GateResult, req: Request, res: Response, next: NextFunction): GateRespond | void {
  if (r.type === "respond") return send(res, r);
  const finish = r.finish;
  if (finish) res.once("finish", () => finish(res.statusCode));
  if (r.body) req.body = r.body.kind === "json" ? r.body.value : r.body.value && Buffer.from(r.body.value);
  if (r.handler) handlers.set(res, r.handler);
  r.run(() => next());
}

/** The gate's own handler of a request (a credential purchase), answered after x402 let it through. */
const handlers = new WeakMap<Response, () => Promise<GateRespond>>();

/**
 * Express middleware over a gate: the gate, x402's own Express middleware over its
 * `httpServer` (initialised by the gate, not by x402: x402 would answer 500 to every
 * request while a remote facilitator is unreachable, and keep the failure), then the
 * gate's own handler where it has one.
 */
export function gateMiddleware(gate: ZkGate): RequestHandler[] {
  const front: RequestHandler = (req, res, next) => {
    gate.handle(gateRequestOf(req, res)).then((r) => apply(r, req, res, next), next);
  };
  const own: RequestHandler = (_req, res, next) => {
    const handler = handlers.get(res);
    if (!handler) return next();
    handler().then((a) => send(res, a), next);
  };
  return [front, paymentMiddlewareFromHTTPServer(gate.httpServer, undefined, undefined, false), own];
}

/**
 * Reads the request body once, at most `max` bytes, and marks it read for body-parser.
 * A body parsed before the gate is returned parsed (its raw bytes are gone: re-serialised).
 */
async function readBody(req: Request, max: number): Promise<GateBody> {
  const r = req as Request & { _body?: boolean; zkRawBody?: Uint8Array };
  if (r.zkRawBody) return { raw: r.zkRawBody, parsed: { value: req.body } };
  if (r._body) {
    let text = "";
    try {
      text = req.body === undefined ? "" : JSON.stringify(req.body);
    } catch {
      throw new ZkPayError("invalid_payload", "the request body is nested too deeply");
    }
    return { raw: new TextEncoder().encode(text), parsed: { value: req.body } };
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw new ZkPayError("body_too_large", `the body exceeds ${max} bytes`);
    chunks.push(chunk);
  }
  r.zkRawBody = new Uint8Array(Buffer.concat(chunks));
  r._body = true; // body-parser skips a body that was read
  return { raw: r.zkRawBody };
}
