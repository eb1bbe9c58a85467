import type { x402Client, x402HTTPClient } from "@x402/core/client";
import { wrapFetchWithPayment } from "@x402/fetch";

import { ZkPayError } from "../core/errors.js";
import {
  ZK_ATTRIBUTE_EXTENSION,
  checkAttributeRequirement,
  parseAttributeRequirement,
} from "../core/identity/extension.js";

/** The origin of a fetch input. */
export function originOf(input: RequestInfo | URL): string {
  const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
  return new URL(url).origin;
}

/**
 * `wrapFetchWithPayment` of `@x402/fetch`, except that a payment the zk-exact scheme
 * refuses or cannot make reaches the caller as the SDK's `ZkPayError` (with its `reason`,
 * e.g. `insufficient_private_balance`, `fee_too_high`, `spend_cap_exceeded`), not as the
 * plain `Error("Failed to create payment payload: ...")` that `@x402/fetch` makes of
 * every error a scheme throws (it keeps only the message: neither the class nor a
 * `cause`). Everything else is `wrapFetchWithPayment` itself: same client, same hooks,
 * same retries, and its own errors (spend controls, parsing) pass through as it throws
 * them. Browser-safe.
 *
 * @example
 * const paidFetch = wrapFetchWithZkPayment(fetch, client);
 * try {
 *   await paidFetch("http://127.0.0.1:4021/weather");
 * } catch (err) {
 *   if (isZkPayError(err, "insufficient_private_balance")) await wallet.deposit(1_000_000n);
 * }
 */
export function wrapFetchWithZkPayment(
  fetchFn: typeof globalThis.fetch,
  client: x402Client | x402HTTPClient,
): typeof globalThis.fetch {
  return async (input, init) => {
    // The scheme's own error for this request: @x402/fetch replaces it with a message.
    let failure: unknown;
    const watched = new Proxy(client, {
      get(target, prop) {
        const value: unknown = Reflect.get(target, prop, target);
        if (typeof value !== "function") return value;
        if (prop !== "createPaymentPayload") return value.bind(target);
        return async (...args: unknown[]) => {
          try {
            // Verify & Pay: the pseudonym scope must be the origin this request goes to.
            const declared = (args[0] as { extensions?: Record<string, unknown> } | undefined)?.extensions?.[
              ZK_ATTRIBUTE_EXTENSION
            ];
            if (declared !== undefined) {
              checkAttributeRequirement(parseAttributeRequirement(declared), { origin: originOf(input) });
            }
            return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          } catch (err) {
            failure = err;
            throw err;
          }
        };
      },
    });
    try {
      return await wrapFetchWithPayment(fetchFn, watched)(input, init);
    } catch (err) {
      if (failure instanceof ZkPayError && err !== failure) throw failure;
      throw err;
    }
  };
}
