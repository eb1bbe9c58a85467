import type { RouteConfig } from "@x402/core/server";
import type { ResourceServerExtension, SettleResultContext } from "@x402/core/types";
import { toHex, type Address } from "viem";

import { ZkPayError, isZkPayError } from "../core/errors.js";
import { declareZkAttributeExtension, declaredRuleOf, ruleToWire, sameRule } from "../core/identity/extension.js";
import type { AttributeRule } from "../core/identity/rule.js";
import { isShieldedAddress } from "../core/shielded-address.js";
import { ZK_SCHEME, ZK_SHIELDED_SCHEME, ZkPaymentPayloadSchema, isZkScheme } from "../core/wire.js";
import { requestContext } from "../session/context.js";
import type { SessionRouteConfig, SessionService } from "../session/service.js";
import {
  MAX_PRESENTATION_BYTES,
  RecoverRequestSchema,
  SESSION_BODY_FIELD,
  SESSION_HEADER,
  decodePresentationHeader,
  presentationFromWire,
  type CredentialWire,
  type Presentation,
} from "../session/wire.js";
import {
  MAX_ZK_CREDENTIAL_ENVELOPE_BYTES,
  ZK_CREDENTIAL_ENVELOPE_FIELD,
  ZK_CREDENTIAL_EXTENSION,
  declareZkCredentialExtension,
  presentationFromEnvelope,
  zkCredentialOf,
  zkCredentialRequestOf,
  type ZkCredentialSettlement,
} from "../session/zk-credential.js";

/** x402 routes, where a route may also accept session credentials. */
export type SessionRoutesConfig = Record<string, RouteConfig & { session?: SessionRouteConfig }>;

/** What a handler is told (Express: `res.locals.zkSession`) when a presentation paid for the request. */
export interface SessionLocals {
  requiredTier: number;
}

/** Largest request body the gate reads itself (session routes and recovery), bytes. */
export const MAX_GATE_BODY_BYTES = 1024 * 1024;

/** Marks a route config as a session route (its terms); read back in x402's protected-request hook. */
export const SESSION_ROUTE = Symbol("402zk.session-route");

/** A route config as the gate hands it to x402, with its session terms when it is a session route. */
export type GateRouteConfig = RouteConfig & { [SESSION_ROUTE]?: Required<SessionRouteConfig> };

/** The body as the framework gave it: raw bytes, and its parsed value when a parser ran before the gate. */
export interface GateBody {
  raw: Uint8Array;
  /** Set when the framework parsed the body before the gate (the raw bytes are then its re-serialisation). */
  parsed?: { value: unknown };
}

/** The body the handler should see after the gate read it. */
export type HandlerBody = { kind: "json"; value: unknown } | { kind: "raw"; value: Uint8Array | undefined };

/** What {@link readPresentation} needs of a request. */
export interface PresentationSource {
  method: string;
  /** Path and query as sent. */
  target: string;
  header(name: string): string | undefined;
  readBody(maxBytes: number): Promise<GateBody>;
}

/** A presentation read from a request, and the request context it may be bound to. */
export interface FoundPresentation {
  presentation: Presentation;
  context: bigint;
  /**
   * Read from the zk-credential spec's `x402_zk_credential` envelope: the presentation's
   * `originId` and `context` were not sent, the session hook fills them in from the service
   * and the matched route.
   */
  envelope?: boolean;
}

/**
 * x402 routes for a session API: one purchase route per offer (first, so that an
 * operator's catch-all cannot swallow them), then the operator's routes, a session route's
 * zk-exact options carrying the session terms in `extra.session`.
 */
export function sessionRoutes(
  routes: SessionRoutesConfig,
  sessions: SessionService,
  o: { network: string; asset: Address; attributeRule?: AttributeRule },
): { routes: Record<string, GateRouteConfig>; purchases: Map<string, string> } {
  const purchaseRule = o.attributeRule === undefined ? undefined : ruleToWire(o.attributeRule);
  const out: Record<string, GateRouteConfig> = {};
  const purchases = new Map<string, string>();
  for (const offer of sessions.offers) {
    const path = sessions.purchasePath(offer.id);
    purchases.set(path.toLowerCase(), offer.id);
    out[`POST ${path}`] = {
      accepts: {
        // A service paid at its shielded address sells through zk-shielded.
        scheme: isShieldedAddress(sessions.payTo) ? ZK_SHIELDED_SCHEME : ZK_SCHEME,
        network: o.network as `${string}:${string}`,
        payTo: sessions.payTo,
        price: { amount: offer.price.toString(), asset: o.asset },
        // Settled before the credential is signed: a credential is a side effect.
        extra: { credential: { offerId: offer.id }, paymentFlow: "upfront" },
      },
      description: `session credential "${offer.id}": tier ${offer.tier}, ${offer.maxPresentations} requests, ${offer.durationSeconds} s`,
      // The zk-credential spec's issuance: a payment whose payload echoes this declaration
      // with `info.commitment` gets the credential in PAYMENT-RESPONSE too.
      extensions: {
        ...declareZkCredentialExtension(sessions.info(), offer.id),
        // Verify & Pay: a session is bought with an attribute proof of the service's rule,
        // so the routes it serves need no proof per request.
        ...(o.attributeRule !== undefined && declareZkAttributeExtension(o.attributeRule)),
      },
    };
  }
  for (const [key, { session, ...cfg }] of Object.entries(routes)) {
    if (!session) {
      out[key] = cfg;
      continue;
    }
    // A presentation is granted before the attribute hook runs: a session route with a
    // rule is only sound when every session credential was bought proving that rule.
    const routeRule = declaredRuleOf(cfg.extensions);
    if (routeRule && !(purchaseRule && sameRule(routeRule, purchaseRule))) {
      throw new ZkPayError(
        "invalid_argument",
        `route ${key} requires an attribute rule and accepts session credentials: sell them with the same rule (sessions.attributeRule ${JSON.stringify(routeRule)})`,
      );
    }
    const terms = { requiredTier: session.requiredTier ?? 0, bindRequest: session.bindRequest ?? false };
    const info = sessions.info(terms);
    const accepts = (Array.isArray(cfg.accepts) ? cfg.accepts : [cfg.accepts]).map((o) =>
      isZkScheme(o.scheme) ? { ...o, extra: { ...o.extra, session: info } } : o,
    );
    // The route's session terms travel with its config, so the hook reads them from the
    // route x402 itself matched (its order, case folding and path normalisation).
    out[key] = { ...cfg, accepts, [SESSION_ROUTE]: terms };
  }
  return { routes: out, purchases };
}

/**
 * Reads the body once (the framework enforces `MAX_GATE_BODY_BYTES`, throwing
 * `body_too_large`) and parses it when it is JSON. Throws `invalid_payload` for a JSON
 * body that does not parse.
 */
export async function readJsonBody(
  src: PresentationSource,
): Promise<{ raw: Uint8Array; json: unknown; isJson: boolean }> {
  const body = await src.readBody(MAX_GATE_BODY_BYTES);
  if (body.parsed) return { raw: body.raw, json: body.parsed.value, isJson: true };
  const isJson = /\bjson\b/i.test(src.header("content-type") ?? "");
  if (!isJson || body.raw.length === 0) return { raw: body.raw, json: undefined, isJson };
  try {
    return { raw: body.raw, json: JSON.parse(new TextDecoder().decode(body.raw)), isJson };
  } catch {
    throw new ZkPayError("invalid_payload", "the request body is not valid JSON");
  }
}

/**
 * The request's presentation (the `zk-session` header, or `zk_session` of a JSON body) and
 * its context, if any, and the body the handler sees when the gate read it (without
 * `zk_session`). Throws `ZkPayError` for a malformed presentation or body.
 */
export async function readPresentation(
  src: PresentationSource,
): Promise<{ found?: FoundPresentation; body?: HandlerBody }> {
  const header = src.header(SESSION_HEADER);
  const hasBody = src.header("content-length") !== undefined || src.header("transfer-encoding") !== undefined;
  const isJson = /\bjson\b/i.test(src.header("content-type") ?? "");
  // A request with a presentation header has its body read (the context may cover it);
  // without one, only a JSON body is read, to look for `zk_session`.
  const read = hasBody && (isJson || header !== undefined) ? await readJsonBody(src) : undefined;
  const body: HandlerBody | undefined = read
    ? read.isJson
      ? { kind: "json", value: read.json }
      : { kind: "raw", value: read.raw.length ? read.raw : undefined }
    : undefined;
  const json = read?.json;
  const inBody =
    json !== null && typeof json === "object" && !Array.isArray(json)
      ? (json as Record<string, unknown>)[SESSION_BODY_FIELD]
      : undefined;
  const envelope =
    json !== null && typeof json === "object" && !Array.isArray(json)
      ? (json as Record<string, unknown>)[ZK_CREDENTIAL_ENVELOPE_FIELD]
      : undefined;
  if ([header, inBody, envelope].filter((x) => x !== undefined).length > 1) {
    throw new ZkPayError(
      "malformed_header",
      `more than one presentation (${SESSION_HEADER} header, ${SESSION_BODY_FIELD}, ${ZK_CREDENTIAL_ENVELOPE_FIELD})`,
    );
  }
  if (envelope !== undefined) return readEnvelope(src, json as Record<string, unknown>, envelope);
  if (header !== undefined) {
    const context = requestContext(src.method, src.target, read?.raw ?? new Uint8Array());
    return { found: { presentation: decodePresentationHeader(header), context }, body };
  }
  if (inBody === undefined) return { body };
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
  const rest = { ...(json as Record<string, unknown>) };
  delete rest[SESSION_BODY_FIELD];
  let text: string;
  try {
    text = JSON.stringify(rest);
  } catch {
    throw new ZkPayError("invalid_payload", "the request body is nested too deeply");
  }
  return {
    found: { presentation, context: requestContext(src.method, src.target, text) },
    body: { kind: "json", value: rest },
  };
}

/**
 * A presentation in the zk-credential spec's body envelope, `{ x402_zk_credential, payload }`:
 * the handler sees `payload` (none when it is null or absent), and a route that binds
 * presentations to requests covers `JSON.stringify(payload)` ("" when there is none).
 */
function readEnvelope(
  src: PresentationSource,
  json: Record<string, unknown>,
  envelope: unknown,
): { found: FoundPresentation; body: HandlerBody } {
  let size: number;
  try {
    size = JSON.stringify(envelope).length;
  } catch {
    throw new ZkPayError("invalid_presentation", `${ZK_CREDENTIAL_ENVELOPE_FIELD} is nested too deeply`);
  }
  if (size > MAX_ZK_CREDENTIAL_ENVELOPE_BYTES) {
    throw new ZkPayError(
      "invalid_presentation",
      `${ZK_CREDENTIAL_ENVELOPE_FIELD} is ${size} bytes, at most ${MAX_ZK_CREDENTIAL_ENVELOPE_BYTES}`,
      { maxBytes: MAX_ZK_CREDENTIAL_ENVELOPE_BYTES },
    );
  }
  const presentation = presentationFromEnvelope(envelope);
  const payload = json.payload ?? null;
  let text = "";
  if (payload !== null) {
    try {
      text = JSON.stringify(payload);
    } catch {
      throw new ZkPayError("invalid_payload", "the envelope's payload is nested too deeply");
    }
  }
  return {
    found: { presentation, context: requestContext(src.method, src.target, text), envelope: true },
    body: payload === null ? { kind: "raw", value: undefined } : { kind: "json", value: payload },
  };
}

/**
 * The error of a failed issuance. The chain's answer stays in `details.receipt`
 * (`not_paid`, `mismatch`, `unconfirmed`), so a client drops a purchase only when the chain
 * has no such payment; anything else is an `rpc_error` whose message names no endpoint.
 */
export function issuanceError(err: unknown): ZkPayError {
  if (isZkPayError(err) && ["issuance_refused", "invalid_argument", "invalid_payload"].includes(err.reason)) {
    return err;
  }
  return new ZkPayError("rpc_error", "the service could not read the chain; retry later");
}

/** Re-issues the credential of a paid purchase whose answer was lost (`POST .../recover`). */
export async function recoverCredential(
  sessions: SessionService,
  json: unknown,
  o: { network: string; asset: Address },
): Promise<unknown> {
  const r = RecoverRequestSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new ZkPayError("invalid_payload", `${issue?.path.join(".")}: ${issue?.message}`);
  }
  try {
    return await sessions.issue({
      offerId: r.data.offerId,
      holderCommitment: BigInt(r.data.holderCommitment),
      receiptId: r.data.receiptId as `0x${string}`,
      challenge: r.data.challenge as never,
      payeeMemo: r.data.payeeMemo,
      payeeCommitment: r.data.payeeCommitment === undefined ? undefined : BigInt(r.data.payeeCommitment),
      network: o.network,
      asset: o.asset,
      recovering: true,
    });
  } catch (err) {
    throw issuanceError(err);
  }
}

/** A settled payment as the session code reads it: the 402 option it accepted and its payload. */
interface PaidPurchase {
  accepted: { network: string; extra: { challenge: never } };
  payload: unknown;
}

/** Issues the credential a settled purchase of `offerId` bought (throws what `SessionService.issue` throws). */
async function issuePurchase(
  sessions: SessionService,
  offerId: string,
  paid: PaidPurchase,
  o: { network: string; asset: Address },
): Promise<CredentialWire> {
  const payload = ZkPaymentPayloadSchema.parse(paid.payload);
  if (!payload.credential) throw new ZkPayError("invalid_payload", "payload.credential is missing");
  const receiptId = receiptIdOf(payload);
  // One issuance per purchase: the zk-credential extension's settlement hook signs it
  // first when the payment asked through the extension, and the purchase's handler
  // answers with the same credential (issuance is deterministic) without reading the chain again.
  const key = `${sessions.serviceId}|${receiptId.toLowerCase()}`;
  const issued = recentlyIssued.get(key);
  if (issued) {
    recentlyIssued.delete(key);
    return issued;
  }
  // A shielded purchase names its payee note (x402 opened it before settling; issuance
  // opens it again, as a recovery must).
  const payeeCommitment = payload.settlement === "server" ? payload.proof.payeeCommitment : payload.payeeCommitment;
  const credential = sessions.issue({
    offerId,
    holderCommitment: BigInt(payload.credential.commitment),
    receiptId,
    payeeMemo: payload.payeeMemo,
    payeeCommitment:
      payload.payeeMemo === undefined || payeeCommitment === undefined ? undefined : BigInt(payeeCommitment),
    challenge: paid.accepted.extra.challenge,
    network: o.network,
    asset: o.asset,
  });
  return credential;
}

/** A purchase's receipt id: the payment's nullifier hash (what a recovery names). */
function receiptIdOf(payload: ReturnType<typeof ZkPaymentPayloadSchema.parse>): `0x${string}` {
  return payload.settlement === "server"
    ? toHex(BigInt(payload.proof.nullifierHash), { size: 32 })
    : (payload.receiptId as `0x${string}`);
}

/**
 * Credentials the extension's settlement hook issued, by service and receipt id, until the
 * purchase's handler takes them (moments later, in the same request). Bounded: a handler
 * that never runs (a dropped connection) leaves its entry to be pushed out.
 */
const recentlyIssued = new Map<string, CredentialWire>();
const MAX_RECENTLY_ISSUED = 256;

/** Signs the credential of a purchase x402 settled (upfront), from its `PAYMENT-SIGNATURE`. */
export async function sellCredential(
  sessions: SessionService,
  offerId: string,
  paymentHeader: string | undefined,
  o: { network: string; asset: Address },
): Promise<unknown> {
  try {
    return await issuePurchase(sessions, offerId, JSON.parse(atob(String(paymentHeader))) as PaidPurchase, o);
  } catch (err) {
    throw issuanceError(err);
  }
}

/**
 * Why a payment's `zk-credential` extension data is refused before anything is verified or
 * settled (so no payment is taken), or undefined when it may go on: malformed data
 * (`invalid_payload`, `unsupported_version`, `unsupported_scheme` for a suite), a commitment
 * on a route that sells no credential, another offer than the route's, or a commitment
 * that is not the one the payment's proof binds (`payload.credential.commitment`, which
 * its `conditionHash` covers: the credential can only be issued to that one).
 *
 * @example
 * const err = zkCredentialPaymentError(req.headers["payment-signature"], "day", sessions);
 */
export function zkCredentialPaymentError(
  header: string | undefined,
  purchase: string | undefined,
  sessions: SessionService,
): ZkPayError | undefined {
  if (header === undefined) return undefined;
  let decoded: { extensions?: unknown; payload?: { credential?: { commitment?: string } } };
  try {
    decoded = JSON.parse(atob(header)) as typeof decoded;
  } catch {
    return undefined; // the payment header guard answers that
  }
  try {
    const asked = zkCredentialRequestOf(decoded.extensions);
    if (!asked) return undefined;
    if (purchase === undefined) {
      const offers = sessions.offers.map((x) => `${x.id} at POST ${sessions.purchasePath(x.id)}`).join(", ");
      return new ZkPayError(
        "invalid_payload",
        `extensions["${ZK_CREDENTIAL_EXTENSION}"].info.commitment: this route does not sell credentials; buy one of: ${offers}`,
      );
    }
    if (asked.offerId !== undefined && asked.offerId !== purchase) {
      return new ZkPayError(
        "invalid_payload",
        `extensions["${ZK_CREDENTIAL_EXTENSION}"].info.offer_id: this route sells offer ${purchase}, not ${asked.offerId}`,
      );
    }
    const bound = decoded.payload?.credential?.commitment;
    if (bound === undefined || BigInt(bound) !== asked.commitment) {
      return new ZkPayError(
        "invalid_payload",
        `extensions["${ZK_CREDENTIAL_EXTENSION}"].info.commitment must be the holder commitment the payment's ` +
          "proof binds (payload.credential.commitment)",
      );
    }
    return undefined;
  } catch (err) {
    if (isZkPayError(err)) return err;
    throw err;
  }
}

/**
 * x402's resource-server extension `zk-credential` for a session service: after a purchase
 * route settled a payment whose payload asked through the extension
 * (`extensions["zk-credential"].info.commitment`), it signs the credential and x402 puts
 * it in `SettleResponse.extensions["zk-credential"].credential` (PAYMENT-RESPONSE). When
 * issuance fails after settlement, the entry says so (`error`, `receipt_id`,
 * `recover_path`): the payment is on chain, and the recover endpoint re-issues it.
 * The gate registers it on its resource server when it sells sessions.
 *
 * @example
 * resourceServer.registerExtension(zkCredentialServerExtension(sessions, { network, asset }));
 */
export function zkCredentialServerExtension(
  sessions: SessionService,
  o: { network: string; asset: Address },
): ResourceServerExtension {
  return {
    key: ZK_CREDENTIAL_EXTENSION,
    enrichSettlementResponse: async (_declaration: unknown, ctx: SettleResultContext) => {
      const paid = ctx.paymentPayload as unknown as PaidPurchase & { extensions?: unknown };
      // Validated by the gate before settlement; read again here, never trusted blindly.
      let asked;
      try {
        asked = zkCredentialRequestOf(paid.extensions);
      } catch {
        return undefined;
      }
      const offerId = (ctx.requirements.extra as { credential?: { offerId?: unknown } }).credential?.offerId;
      if (!asked || typeof offerId !== "string") return undefined;
      let receiptId: string | undefined;
      try {
        receiptId = receiptIdOf(ZkPaymentPayloadSchema.parse(paid.payload));
        const credential = await issuePurchase(sessions, offerId, paid, o);
        const key = `${sessions.serviceId}|${receiptId.toLowerCase()}`;
        recentlyIssued.set(key, credential);
        if (recentlyIssued.size > MAX_RECENTLY_ISSUED) recentlyIssued.delete(recentlyIssued.keys().next().value!);
        return { credential: zkCredentialOf(credential) } satisfies ZkCredentialSettlement;
      } catch (err) {
        const e = issuanceError(err);
        return {
          error: e.reason,
          message: `${e.message}; the payment settled: recover the credential with its receipt id`,
          ...(receiptId ? { receipt_id: receiptId } : {}),
          recover_path: sessions.info().recoverPath,
        } satisfies ZkCredentialSettlement;
      }
    },
  };
}
