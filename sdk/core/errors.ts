/**
 * Stable, snake_case reason codes. They travel over the wire (x402 `invalidReason`,
 * `errorReason`, HTTP error bodies) and are part of the public API: never rename one.
 */
export const ZkReason = {
  // client side
  insufficient_private_balance: "insufficient_private_balance",
  stale_tree: "stale_tree",
  artifacts_missing: "artifacts_missing",
  artifacts_mismatch: "artifacts_mismatch",
  chain_mismatch: "chain_mismatch",
  proving_failed: "proving_failed",
  note_store_corrupt: "note_store_corrupt",
  /** Warning: two of the wallet's notes carry the same memo tag (e.g. two deposits got the same index). */
  duplicate_note_tag: "duplicate_note_tag",
  /** Warning: two leaves open as notes with the same nullifier (only one of them can ever be spent). */
  duplicate_note_nullifier: "duplicate_note_nullifier",
  deployment_not_found: "deployment_not_found",
  invalid_argument: "invalid_argument",
  /** Another process holds the wallet folder's lock (CLI / Node file stores). */
  wallet_locked: "wallet_locked",
  /** An optional peer dependency a feature needs is not installed (e.g. the MCP SDK for `402zk mcp`). */
  dependency_missing: "dependency_missing",
  /** A wallet store could not be read or written (a browser's IndexedDB: quota, blocked, unavailable). */
  note_store_io: "note_store_io",
  /** The user's wallet (EIP-1193) refused a request: a rejected signature, connection or transaction. */
  wallet_request_rejected: "wallet_request_rejected",
  /** The wallet signed the seed message twice with different signatures: it cannot derive a 402zk seed. */
  seed_not_deterministic: "seed_not_deterministic",
  /** The stored wallet state belongs to another history of the chain (reset or reorg). */
  chain_reset: "chain_reset",
  /** A payment was sent but its outcome is unknown (the response was lost). */
  payment_unconfirmed: "payment_unconfirmed",
  /**
   * A relayer fee above the payer's fee limit (its `maxFee`, or by default: at most the
   * payment's amount and at most 0.1 token), or the fee that pushes amount + fee over the
   * payer's spend cap. Refused before proving: nothing was paid.
   */
  fee_too_high: "fee_too_high",
  /** A payment's amount alone is above the payer's spend cap. Refused before proving: nothing was paid. */
  spend_cap_exceeded: "spend_cap_exceeded",
  // session credentials (402zk/session)
  /** The credential's validity ended before the presentation's time (buy a new one). */
  credential_expired: "credential_expired",
  /** The credential has no presentations left (buy a new one). */
  presentations_exhausted: "presentations_exhausted",
  /** The credential's tier is below what the route requires (buy a higher tier). */
  tier_too_low: "tier_too_low",
  /** This presentation's one-time token was already accepted. */
  origin_token_replayed: "origin_token_replayed",
  /** The presentation is malformed or its proof does not verify. */
  invalid_presentation: "invalid_presentation",
  /** The presentation is for another service or origin. */
  wrong_service: "wrong_service",
  /** The presentation's coarse time is not the server's current time step. */
  stale_presentation: "stale_presentation",
  /** A session service presents another key or time step than the one pinned on first use. */
  service_key_changed: "service_key_changed",
  /** No stored credential can serve this request. */
  no_credential: "no_credential",
  /**
   * The service could not issue a session credential for a payment (not paid, wrong
   * terms), or an identity issuer refused, or did not answer, a credential request.
   */
  issuance_refused: "issuance_refused",
  // wire / server side
  malformed_header: "malformed_header",
  /** An HTTP 402 that is not an x402 v2 payment request. */
  not_x402: "not_x402",
  header_too_large: "header_too_large",
  /** A request body larger than the middleware reads (HTTP 413). */
  body_too_large: "body_too_large",
  unsupported_version: "unsupported_version",
  unsupported_scheme: "unsupported_scheme",
  /** A zk-credential (x402 extension) proof suite this server does not verify; the error names those it does. */
  unsupported_suite: "unsupported_suite",
  invalid_payload: "invalid_payload",
  requirements_mismatch: "requirements_mismatch",
  invalid_challenge: "invalid_challenge",
  challenge_expired: "challenge_expired",
  payment_replayed: "payment_replayed",
  invalid_proof: "invalid_proof",
  unknown_root: "unknown_root",
  nullifier_spent: "nullifier_spent",
  context_mismatch: "context_mismatch",
  receipt_not_found: "receipt_not_found",
  receipt_mismatch: "receipt_mismatch",
  receipt_unconfirmed: "receipt_unconfirmed",
  settlement_failed: "settlement_failed",
  rpc_error: "rpc_error",
  // admission control (answered before any expensive work)
  /** Another payment spending the same note is being verified or settled. */
  nullifier_pending: "nullifier_pending",
  /** This challenge was tried too often with proofs that did not verify. */
  too_many_attempts: "too_many_attempts",
  /** This client sent too many refused payments recently (HTTP 429). */
  too_many_failures: "too_many_failures",
  /** The verification queue is full (HTTP 503 with Retry-After). */
  server_busy: "server_busy",
  /** The API's remote payment facilitator does not answer (HTTP 503 with Retry-After). */
  facilitator_unavailable: "facilitator_unavailable",
  // facilitator service (402zk facilitator)
  /** The relayer's balance cannot pay the gas of this settlement (fund the relayer). */
  relayer_unfunded: "relayer_unfunded",
  /** The network's gas price is above the service's cap: nothing was sent. */
  gas_price_too_high: "gas_price_too_high",
  /** This caller spent its budget of requests (or of failed ones) for now (HTTP 429). */
  rate_limited: "rate_limited",
  /** A missing or wrong API key (HTTP 401). */
  unauthorized: "unauthorized",
  /** The same payment (same note) was already submitted with other terms or another proof. */
  payment_conflict: "payment_conflict",
  // shielded payees (zk-shielded)
  /** The payee note's memo does not decrypt, or decrypts to another owner: not a payment to this API. */
  payee_note_not_ours: "payee_note_not_ours",
  /** The payee note is malformed, is not the proof's payee output, answers another challenge, or was received already. */
  payee_note_invalid: "payee_note_invalid",
  /** The payee note is worth less than the price. */
  payee_note_underpaid: "payee_note_underpaid",
  /** A shielded address (or viewing key) that does not parse: prefix, checksum, length, version or owner key. */
  invalid_shielded_address: "invalid_shielded_address",
  // proof before pay (escrowed payments, issue #20)
  /**
   * A service proof does not verify for the escrow's statement (model, input, escrow id),
   * or the result an API answered is not the one its proof encrypts: the client refuses the
   * result, the pool refuses the release, and the escrow is refunded after its deadline.
   */
  service_proof_invalid: "service_proof_invalid",
  /** The escrow's deadline passed: it can no longer be released, only refunded to the payer. */
  escrow_expired: "escrow_expired",
  /** The escrow was released already (to the payee), or refunded already (to the payer). */
  escrow_already_released: "escrow_already_released",
  /** The escrow cannot be refunded before its deadline: the payee may still release it. */
  refund_too_early: "refund_too_early",
  /** No escrow has this id, or the statement, payee or amount given is not the escrow's. */
  escrow_not_found: "escrow_not_found",
  // Verify & Pay: attribute proofs bound to a payment (issue #21)
  /** The route requires an attribute proof (its 402 names the rule) and the payment carries none. */
  attribute_proof_required: "attribute_proof_required",
  /**
   * The attribute proof is malformed, does not verify, is bound to another payment or
   * request, names a stale date or issuer set, or the credential is not the holder's.
   */
  attribute_proof_invalid: "attribute_proof_invalid",
  /** The credential's serial is in its issuer's revocation list. */
  credential_revoked: "credential_revoked",
  /** The identity credential's expiry date is before the date the rule is checked at. */
  attribute_credential_expired: "attribute_credential_expired",
  /** The credential's issuer is not one the route trusts (or the proof names another issuer set). */
  issuer_not_trusted: "issuer_not_trusted",
  /** The credential does not satisfy the route's rule (age, country, flags), or the proof proves another rule. */
  rule_not_met: "rule_not_met",
  /** The credential's holder made the most payments a service allows one holder per epoch (its pseudonym counts them). */
  attribute_limit_reached: "attribute_limit_reached",
  /** The depositing address is on the pool's sanctions list: the deposit is refused, no funds moved. */
  depositor_sanctioned: "depositor_sanctioned",
} as const;

/** One of {@link ZkReason}. */
export type ZkReasonCode = (typeof ZkReason)[keyof typeof ZkReason];

/**
 * The one error class of the 402zk SDK. `reason` is a stable snake_case code that is
 * safe to send to the other party; `message` is for humans; `details` carries
 * structured context (never secrets).
 *
 * @example
 * try {
 *   await wallet.preparePayment({ ... });
 * } catch (err) {
 *   if (err instanceof ZkPayError && err.reason === "insufficient_private_balance") {
 *     console.log("deposit more first", err.details);
 *   }
 * }
 */
export class ZkPayError extends Error {
  readonly reason: ZkReasonCode;
  readonly details: Record<string, unknown>;

  constructor(reason: ZkReasonCode, message: string, details: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = "ZkPayError";
    this.reason = reason;
    this.details = details;
  }

  /** JSON form for HTTP bodies and logs. */
  toJSON(): { error: ZkReasonCode; message: string; details: Record<string, unknown> } {
    return { error: this.reason, message: this.message, details: this.details };
  }
}

/**
 * Type guard for {@link ZkPayError}, optionally of a given reason.
 *
 * @example
 * if (isZkPayError(err, "stale_tree")) await wallet.sync();
 */
export function isZkPayError(err: unknown, reason?: ZkReasonCode): err is ZkPayError {
  return err instanceof ZkPayError && (reason === undefined || err.reason === reason);
}
