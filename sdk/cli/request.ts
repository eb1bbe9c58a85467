/**
 * The HTTP request `402zk pay` sends, built from curl's flags (-X, -d, -H).
 */
import { readFileSync } from "node:fs";

import { ZkPayError } from "../core/errors.js";

/**
 * The request `pay` sends, from curl's flags: `-X` method, `-d` body (`@file` reads a
 * file; implies POST and, without a Content-Type, `application/x-www-form-urlencoded`,
 * as curl does), `-H "Name: value"` headers. The paid retry repeats all of it.
 */
export function requestInit(o: { request?: string; data?: string; header?: string[] }): RequestInit {
  const headers = new Headers();
  for (const h of o.header ?? []) {
    const i = h.indexOf(":");
    const name = i > 0 ? h.slice(0, i).trim() : "";
    if (!name) throw new ZkPayError("invalid_argument", `-H "${h}" is not "Name: value"`);
    // The payment headers are the CLI's to write: a stale one would be sent as this payment.
    if (/^(payment-signature|x-payment)$/i.test(name))
      throw new ZkPayError("invalid_argument", `-H ${name}: the payment header is written by 402zk`);
    try {
      headers.append(name, h.slice(i + 1).trim());
    } catch {
      throw new ZkPayError("invalid_argument", `-H "${h}" is not a valid HTTP header`);
    }
  }
  let body: Uint8Array<ArrayBuffer> | string | undefined;
  if (o.data !== undefined) {
    if (o.data.startsWith("@")) {
      try {
        body = new Uint8Array(readFileSync(o.data.slice(1)));
      } catch (err) {
        throw new ZkPayError(
          "invalid_argument",
          `-d ${o.data}: cannot read ${o.data.slice(1)} (${(err as Error).message})`,
        );
      }
    } else body = o.data;
  }
  const method = (o.request ?? (body !== undefined ? "POST" : "GET")).toUpperCase();
  if (!/^[A-Z]+$/.test(method)) throw new ZkPayError("invalid_argument", `-X ${o.request}: not an HTTP method`);
  if (body !== undefined && (method === "GET" || method === "HEAD"))
    throw new ZkPayError("invalid_argument", `-d with -X ${method}: a ${method} request has no body`);
  if (body !== undefined && !headers.has("content-type"))
    headers.set("content-type", "application/x-www-form-urlencoded");
  return { method, headers, ...(body !== undefined ? { body } : {}) };
}
