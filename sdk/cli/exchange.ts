/**
 * The HTTP side of an x402 exchange as the CLI sees it: a fetch that records when the
 * unpaid and the paid request went out and came back (and whether the proof may have
 * reached the server), and which errors mean "could not reach the other side".
 */
import { decodePaymentSignatureHeader } from "@x402/core/http";
import type { PaymentPayload } from "@x402/core/types";

import { isZkPayError } from "../core/errors.js";

/** The HTTP server of a paid resource could not be reached. */
export class HttpUnreachableError extends Error {
  readonly url: string;

  constructor(url: string, cause: unknown) {
    const code = (cause as { cause?: { code?: string } })?.cause?.code;
    const timedOut = (cause as { name?: string })?.name === "TimeoutError";
    super(timedOut ? `${url} did not answer in time (timed out)` : `cannot reach ${url}${code ? ` (${code})` : ""}`, {
      cause,
    });
    this.name = "HttpUnreachableError";
    this.url = url;
  }
}

/** Timestamps of the two HTTP requests of an x402 exchange (performance.now() ms). */
export interface ExchangeMarks {
  start: number;
  /** First (unpaid) response received. */
  challengeDone?: number;
  /** Paid request (with PAYMENT-SIGNATURE) sent. */
  paidSent?: number;
  /** Paid response received. */
  paidDone?: number;
  /** The PAYMENT-SIGNATURE payload that was sent. */
  payload?: PaymentPayload;
  /** The paid request failed after its connection was made: the server may have the proof. */
  paidMaybeDelivered?: boolean;
  /** The paid request's connection was refused: the proof never left this machine. */
  paidNotDelivered?: boolean;
  /** The unpaid response's 402, if any: whether it carried a PAYMENT-REQUIRED header, and its body's x402Version. */
  challenge?: { header: boolean; bodyVersion?: unknown };
}

/**
 * A fetch that records when the unpaid and the paid request of an x402 exchange went
 * out and came back, and what payment was sent, to split an end-to-end time into
 * its parts.
 *
 * @example
 * const rec = recordingFetch();
 * const paid = wrapFetchWithPayment(rec.fetch, client);
 * await paid(url); console.log(rec.marks);
 */
export function recordingFetch(
  base: typeof fetch = fetch,
  signal?: AbortSignal,
): { fetch: typeof fetch; marks: ExchangeMarks } {
  const marks: ExchangeMarks = { start: performance.now() };
  const f: typeof fetch = async (input, init) => {
    const req = new Request(input as RequestInfo, init);
    const header = req.headers.get("PAYMENT-SIGNATURE");
    if (signal?.aborted) throw new HttpUnreachableError(req.url, signal.reason);
    if (header) {
      marks.paidSent = performance.now();
      try {
        marks.payload = decodePaymentSignatureHeader(header);
      } catch {
        // not ours to judge: the server will refuse it
      }
    }
    let res: Response;
    try {
      res = await base(signal ? new Request(req, { signal: AbortSignal.any([req.signal, signal]) }) : req);
    } catch (err) {
      // A refused connection never carried the proof; anything later may have.
      if (header) {
        if ((err as { cause?: { code?: string } })?.cause?.code === "ECONNREFUSED") marks.paidNotDelivered = true;
        else marks.paidMaybeDelivered = true;
      }
      throw new HttpUnreachableError(req.url, err);
    }
    if (header) marks.paidDone = performance.now();
    else {
      marks.challengeDone ??= performance.now();
      if (res.status === 402) {
        let bodyVersion: unknown;
        try {
          bodyVersion = ((await res.clone().json()) as { x402Version?: unknown } | null)?.x402Version;
        } catch {
          bodyVersion = undefined;
        }
        marks.challenge = { header: res.headers.has("PAYMENT-REQUIRED"), bodyVersion };
      }
    }
    return res;
  };
  return { fetch: f, marks };
}

/** True for errors that mean "could not reach the other side" (RPC node or HTTP server). */
export function isNetworkError(err: unknown): boolean {
  if (isZkPayError(err, "rpc_error")) return true;
  for (let e: unknown = err, depth = 0; e && depth < 8; depth++) {
    const x = e as { name?: string; code?: string; message?: string; cause?: unknown };
    if (
      x.name === "HttpRequestError" ||
      x.name === "HttpUnreachableError" ||
      x.name === "TimeoutError" ||
      x.name === "WebSocketRequestError"
    )
      return true;
    if (x.code && /^(ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|UND_ERR_\w+)$/.test(x.code))
      return true;
    if (x.name === "TypeError" && x.message === "fetch failed") return true;
    e = x.cause;
  }
  return false;
}
