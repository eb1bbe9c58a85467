/**
 * Reading a JSON request body from `node:http`, bounded: what the facilitator service and
 * an identity issuer's HTTP endpoint both take.
 */
import type { IncomingMessage } from "node:http";

import { ZkPayError } from "../core/errors.js";

/**
 * The request body parsed as JSON. Throws `body_too_large` when its Content-Length or the
 * bytes read pass `maxBytes` (the rest is not read), `invalid_payload` when it is not JSON.
 *
 * @example
 * const body = await readJsonRequestBody(req, 64 * 1024);
 */
export function readJsonRequestBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? "0");
    if (declared > maxBytes) {
      reject(new ZkPayError("body_too_large", `body over ${maxBytes} bytes`));
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > maxBytes) {
        reject(new ZkPayError("body_too_large", `body over ${maxBytes} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new ZkPayError("invalid_payload", "the body is not JSON"));
      }
    });
    req.on("error", reject);
  });
}
