import { type ZkPayError, ZkReason, type ZkReasonCode } from "./errors.js";

/**
 * How one {@link ZkReason} is answered over HTTP, wherever 402zk answers it: the payment
 * gate (402zk/server and its framework adapters) and the facilitator service's HTTP API.
 */
export interface ReasonHttp {
  /** HTTP status (always 4xx or 5xx). */
  status: number;
  /** Answer with `Retry-After` (seconds: `details.retryAfterSeconds`, at least 1). */
  retryAfter?: true;
  /**
   * A session presentation refused for this reason; `buyAgain` says whether buying a new
   * credential can help (carried in the `zk-session-refused` header).
   */
  session?: { buyAgain: boolean };
  /**
   * The request body was not read to its end: the answer closes the connection, so that a
   * keep-alive client does not send its next request on a socket about to be dropped.
   */
  closeConnection?: true;
}

/** The header naming why a session presentation was refused (base64 JSON `{error, message, buy, now?}`). */
export const SESSION_REFUSED_HEADER = "zk-session-refused";

/**
 * Every reason's HTTP answer, in one table. Statuses follow what a client can do next:
 * 400 fix the request, 402 pay (again, or with a fresh 402 challenge), 409 a conflict with
 * state, 429 / 503 wait `Retry-After`, 5xx a failure on the server's side. Client-side
 * reasons (a wallet's own errors) are listed too, so that a server that relays one answers
 * it consistently.
 *
 * Session refusals inside x402's flow (a presentation on a session route) are answered 402
 * by x402 with its offers and a `zk-session-refused` header; their status here applies where
 * the gate answers the reason itself.
 *
 * @example
 * REASON_HTTP.server_busy; // { status: 503, retryAfter: true }
 */
export const REASON_HTTP: { readonly [R in ZkReasonCode]: ReasonHttp } = {
  // client side
  insufficient_private_balance: { status: 402 },
  stale_tree: { status: 409 },
  artifacts_missing: { status: 500 },
  artifacts_mismatch: { status: 500 },
  chain_mismatch: { status: 400 },
  proving_failed: { status: 500 },
  note_store_corrupt: { status: 500 },
  duplicate_note_tag: { status: 500 },
  duplicate_note_nullifier: { status: 500 },
  deployment_not_found: { status: 500 },
  invalid_argument: { status: 400 },
  wallet_locked: { status: 423 },
  // A feature whose optional peer is not installed: the operator's setup, never the caller's input.
  dependency_missing: { status: 500 },
  note_store_io: { status: 500 },
  wallet_request_rejected: { status: 400 },
  seed_not_deterministic: { status: 400 },
  chain_reset: { status: 409 },
  // The payment may have settled: the answer was lost on the way (a gateway's timeout).
  payment_unconfirmed: { status: 504 },
  fee_too_high: { status: 400 },
  spend_cap_exceeded: { status: 400 },
  // session credentials
  credential_expired: { status: 402, session: { buyAgain: true } },
  presentations_exhausted: { status: 402, session: { buyAgain: true } },
  tier_too_low: { status: 402, session: { buyAgain: true } },
  origin_token_replayed: { status: 402, session: { buyAgain: false } },
  // A presentation that cannot be read is a malformed request; one whose proof fails is
  // refused inside x402's flow (402), where buying a new credential may help.
  invalid_presentation: { status: 400, session: { buyAgain: true } },
  wrong_service: { status: 400, session: { buyAgain: false } },
  stale_presentation: { status: 400, session: { buyAgain: false } },
  service_key_changed: { status: 409 },
  no_credential: { status: 402 },
  issuance_refused: { status: 409 },
  // wire / server side
  malformed_header: { status: 400 },
  not_x402: { status: 502 },
  header_too_large: { status: 431 },
  body_too_large: { status: 413, closeConnection: true },
  unsupported_version: { status: 400 },
  unsupported_scheme: { status: 400 },
  unsupported_suite: { status: 400 },
  invalid_payload: { status: 400 },
  requirements_mismatch: { status: 402 },
  invalid_challenge: { status: 402 },
  challenge_expired: { status: 402 },
  payment_replayed: { status: 402 },
  invalid_proof: { status: 402 },
  unknown_root: { status: 402 },
  nullifier_spent: { status: 402 },
  context_mismatch: { status: 402 },
  receipt_not_found: { status: 402 },
  receipt_mismatch: { status: 402 },
  receipt_unconfirmed: { status: 402 },
  settlement_failed: { status: 402 },
  rpc_error: { status: 503 },
  // admission control
  nullifier_pending: { status: 409 },
  too_many_attempts: { status: 402 },
  too_many_failures: { status: 429, retryAfter: true },
  server_busy: { status: 503, retryAfter: true },
  facilitator_unavailable: { status: 503, retryAfter: true },
  // facilitator service
  relayer_unfunded: { status: 503 },
  gas_price_too_high: { status: 503 },
  rate_limited: { status: 429, retryAfter: true },
  unauthorized: { status: 401 },
  payment_conflict: { status: 409 },
  // shielded payees: payment refusals (pay again, correctly), like invalid_proof
  payee_note_not_ours: { status: 402 },
  payee_note_invalid: { status: 402 },
  payee_note_underpaid: { status: 402 },
  invalid_shielded_address: { status: 400 },
  // proof before pay: the service proof or the escrow's state refuses the operation
  service_proof_invalid: { status: 502 },
  escrow_expired: { status: 409 },
  escrow_already_released: { status: 409 },
  refund_too_early: { status: 409 },
  escrow_not_found: { status: 404 },
  // Verify & Pay: a missing proof is a 402 (pay again, with the proof); a proof that does not
  // verify, or a credential that does not meet the rule, is 403 (paying again will not help)
  attribute_proof_required: { status: 402 },
  attribute_proof_invalid: { status: 403 },
  credential_revoked: { status: 403 },
  attribute_credential_expired: { status: 403 },
  issuer_not_trusted: { status: 403 },
  rule_not_met: { status: 403 },
  attribute_limit_reached: { status: 429 },
  depositor_sanctioned: { status: 403 },
};

/**
 * The HTTP answer of a reason: its status and the headers the table names
 * (`Retry-After`, `Connection: close`). Unknown reasons (a newer peer's) are 400.
 *
 * @example
 * httpStatusOf("header_too_large"); // 431
 */
export function httpStatusOf(reason: ZkReasonCode): number {
  return (REASON_HTTP as Record<string, ReasonHttp | undefined>)[reason]?.status ?? 400;
}

/** An HTTP answer to write: status, headers (lower-case names) and a JSON body. */
export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/**
 * The HTTP answer of a {@link ZkPayError}: the table's status and headers, and
 * `err.toJSON()` (merged with `extraBody`) as the body.
 *
 * @example
 * const a = httpAnswerOf(new ZkPayError("server_busy", "full", { retryAfterSeconds: 3 }));
 * // { status: 503, headers: { "retry-after": "3" }, body: { error: "server_busy", ... } }
 */
export function httpAnswerOf(err: ZkPayError, extraBody: Record<string, unknown> = {}): HttpAnswer {
  const entry = (REASON_HTTP as Record<string, ReasonHttp | undefined>)[err.reason];
  return {
    status: entry?.status ?? 400,
    headers: reasonHeaders(err),
    body: { ...err.toJSON(), ...extraBody },
  };
}

/** The headers the table names for an error (lower-case names): `retry-after`, `connection`. */
export function reasonHeaders(err: ZkPayError): Record<string, string> {
  const entry = (REASON_HTTP as Record<string, ReasonHttp | undefined>)[err.reason];
  const headers: Record<string, string> = {};
  if (entry?.retryAfter) headers["retry-after"] = String(retryAfterOf(err));
  if (entry?.closeConnection) headers["connection"] = "close";
  return headers;
}

/** Seconds to wait before retrying after `err` (`details.retryAfterSeconds`, whole, at least 1). */
export function retryAfterOf(err: ZkPayError): number {
  const s = Number(err.details.retryAfterSeconds);
  return Number.isFinite(s) && s >= 1 ? Math.ceil(s) : 1;
}

/**
 * The `zk-session-refused` header value for a refused presentation: base64 of
 * `{error, message, buy, ...extra}` (`buy` from the table: whether buying a new
 * credential can help; `extra` e.g. `{ now }` with `stale_presentation`).
 *
 * @example
 * res.setHeader(SESSION_REFUSED_HEADER, sessionRefusedHeader(err));
 */
export function sessionRefusedHeader(err: ZkPayError, extra: Record<string, unknown> = {}): string {
  const entry = (REASON_HTTP as Record<string, ReasonHttp | undefined>)[err.reason];
  const refusal = { error: err.reason, message: err.message, buy: entry?.session?.buyAgain ?? false, ...extra };
  return btoa(JSON.stringify(refusal));
}

/** Every reason code, in the order of {@link ZkReason}. */
export const ZK_REASONS = Object.values(ZkReason) as readonly ZkReasonCode[];
