import { isZkPayError, type ZkReasonCode } from "../core/errors.js";
import { isNetworkError } from "./exchange.js";

/** Exit codes of the `402zk` CLI. Scripts rely on them: never renumber one. */
export const EXIT = {
  ok: 0,
  /** Bad arguments or configuration (unknown network, missing deployment or key, bad amount). */
  usage: 1,
  /** The payment could not be made or was refused: insufficient balance, proving error, server refused it. */
  refused: 2,
  /** The RPC node or the HTTP server could not be reached. */
  network: 3,
  /** The server answered an error status (non-2xx other than a refused payment). */
  server: 4,
} as const;

/** Reasons that mean "the command was given wrong arguments or configuration". */
const USAGE_REASONS = new Set<ZkReasonCode>([
  "invalid_argument",
  "chain_mismatch",
  "deployment_not_found",
  "artifacts_missing",
  "artifacts_mismatch",
  "note_store_corrupt",
  // A malformed shielded address or viewing key given on the command line.
  "invalid_shielded_address",
]);

/** An error of the CLI itself, with its exit code and a snake_case reason. */
export class CliError extends Error {
  readonly exitCode: number;
  readonly reason: string;
  /** Already reported on stdout (a --json outcome): run() prints only the stderr line. */
  reported = false;

  constructor(exitCode: number, reason: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CliError";
    this.exitCode = exitCode;
    this.reason = reason;
  }
}

/** Exit code and `reason` for any error a command threw. */
export function classify(err: unknown): { code: number; reason: string; message: string } {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof CliError) return { code: err.exitCode, reason: err.reason, message };
  if (isZkPayError(err)) {
    if (err.reason === "rpc_error") return { code: EXIT.network, reason: err.reason, message };
    if (USAGE_REASONS.has(err.reason)) return { code: EXIT.usage, reason: err.reason, message };
    return { code: EXIT.refused, reason: err.reason, message };
  }
  const code = (err as { code?: unknown } | null)?.code;
  if (code === "EADDRINUSE" || code === "EACCES" || code === "EADDRNOTAVAIL") {
    return { code: EXIT.usage, reason: "port_unavailable", message };
  }
  if (isNetworkError(err)) return { code: EXIT.network, reason: "network_error", message: describeNetworkError(err) };
  return { code: EXIT.refused, reason: "unexpected_error", message: message.split("\n")[0] ?? message };
}

function describeNetworkError(err: unknown): string {
  let code: string | undefined;
  let url: string | undefined;
  let first: string | undefined;
  for (let e: unknown = err, depth = 0; e && depth < 8; depth++) {
    const x = e as {
      name?: string;
      code?: unknown;
      url?: unknown;
      message?: string;
      shortMessage?: string;
      cause?: unknown;
    };
    if (x.name === "HttpUnreachableError" && x.message) return x.message;
    if (!code && typeof x.code === "string" && /^[A-Z_]+$/.test(x.code)) code = x.code;
    if (!url && typeof x.url === "string") url = x.url;
    first ??= (x.shortMessage ?? x.message)?.split("\n")[0]?.replace(/\.$/, "");
    e = x.cause;
  }
  if (url)
    return `RPC ${url} unreachable${code ? ` (${code})` : ""}${first && !/HTTP request failed/.test(first) ? `: ${first}` : ""}`;
  return `${first ?? "network error"}${code ? ` (${code})` : ""}`;
}

/** Text of the `402zk --help` epilogue that documents the exit codes. */
export const EXIT_CODES_HELP = `Exit codes:
  0  ok (for "receipt": the receipt is paid with enough confirmations)
  1  usage or configuration error (bad arguments, bad address checksum, unknown network,
     no deployment record, no private key where one is needed, RPC on the wrong chain,
     "serve" port already in use)
  2  payment not made or refused: insufficient private balance, proving failed, the server
     refused the payment (402 after paying), no zk-exact offer, not an x402 v2 402
     (not_x402, malformed_header), price above --max (price_above_max), price + fee
     above --max or fee above --max-fee (fee_too_high), wallet folder locked by another
     402zk process past --lock-timeout (wallet_locked);
     for "receipt": not paid, mismatch or not yet confirmed
  3  network error: the RPC node or the HTTP server could not be reached, or "pay" timed
     out; for "pay" after the proof was sent (payment_unconfirmed): the payment may still
     settle, the note stays reserved until the time printed
  4  the server answered an error status (non-2xx, other than 402) for the request
  130, 143  "pay" interrupted by SIGINT, SIGTERM: "interrupted" (nothing was paid), or
     payment_unconfirmed with the receipt to check (402zk receipt <id>) if it had left

A transaction that was sent is always reported with its hash, whatever fails after it
(a deposit that landed exits 0 with a warning if syncing after it failed).

Errors are printed to stderr as "error: <reason>: <message>", where reason is a stable
snake_case code: the SDK's ZkPayError.reason (e.g. insufficient_private_balance,
receipt_not_found), the server's refusal reason, or one of the CLI's own: network_error,
server_error, price_above_max, insufficient_public_balance, payment_refused,
port_unavailable, interrupted, unexpected_error. With --json, a failed command still prints one JSON
object on stdout with "ok": false and the same "exitCode". Add --verbose for the stack trace.`;
