import type { SettleResponse, SupportedResponse } from "@x402/core/types";
import { getAddress, type Address, type Hash, type Hex } from "viem";

import { ZkPayError, type ZkReasonCode } from "../core/errors.js";
import { ZK_SCHEME, serverPayloadToWire, type ZkPaymentPayload } from "../core/wire.js";
import type { PreparedPayment } from "./types.js";

/** What a relayer publishes: who submits, for what fee, on which pool. */
export interface RelayTerms {
  relayer: Address;
  fee: bigint;
  facilitator: Address;
  network: string;
}

/**
 * A client of the 402zk facilitator service's relay endpoint (`POST /relay`): the payer
 * proves a payment whose fee goes to the service's relayer, and the service submits it,
 * so the payer's own address never appears on chain and it needs no gas. Browser-safe
 * (fetch only).
 *
 * @example
 * const relay = new RelayClient({ url: "http://127.0.0.1:4022" });
 * const { relayer, fee } = await relay.terms(wallet.pool.chainId);
 * const p = await wallet.preparePayment({ payTo, amount, fee, relayer, expiry });
 * const { transaction, receiptId } = await relay.submit(p);
 */
export class RelayClient {
  readonly url: string;
  readonly #fetch: typeof fetch;
  readonly #headers: Record<string, string>;
  readonly #maxFee: bigint | undefined;
  #terms: Promise<RelayTerms> | undefined;

  constructor(o: {
    url: string;
    fetch?: typeof fetch;
    headers?: Record<string, string>;
    /**
     * The largest fee accepted from this relayer, base units: {@link terms} refuses a
     * published fee above it with `fee_too_high`, so nothing is proven for it. Payments
     * (`ZkExactClientScheme`, `wallet.withdraw`) also hold every fee to the payer's fee
     * limit (by default at most the amount and at most 0.1 token).
     */
    maxFee?: bigint;
  }) {
    this.url = o.url.replace(/\/+$/, "");
    this.#fetch = o.fetch ?? globalThis.fetch.bind(globalThis);
    this.#headers = o.headers ?? {};
    this.#maxFee = o.maxFee;
  }

  /** The relayer and fee from `GET /supported` for `chainId` (cached); `fee_too_high` above `maxFee`. */
  terms(chainId: number): Promise<RelayTerms> {
    this.#terms ??= (async () => {
      const res = await this.#fetch(`${this.url}/supported`, { headers: this.#headers });
      if (!res.ok) throw new ZkPayError("rpc_error", `relay ${this.url}/supported answered ${res.status}`);
      const s = (await res.json()) as SupportedResponse;
      const kind = s.kinds.find((k) => k.scheme === ZK_SCHEME && k.network === `eip155:${chainId}`);
      const x = kind?.extra as
        { relayer?: string; fee?: string; facilitator?: string; settlement?: string[] } | undefined;
      if (!kind || !x?.relayer || x.fee === undefined || !x.facilitator || !x.settlement?.includes("server")) {
        throw new ZkPayError(
          "unsupported_scheme",
          `relay ${this.url} does not submit zk-exact payments on eip155:${chainId}`,
        );
      }
      const fee = BigInt(x.fee);
      if (this.#maxFee !== undefined && fee > this.#maxFee) {
        throw new ZkPayError(
          "fee_too_high",
          `relay ${this.url} asks a fee of ${fee} base units, above this client's maxFee of ${this.#maxFee}: nothing was paid`,
          { fee: fee.toString(), maxFee: this.#maxFee.toString(), relayer: x.relayer },
        );
      }
      return {
        relayer: getAddress(x.relayer),
        fee,
        facilitator: getAddress(x.facilitator),
        network: kind.network,
      };
    })();
    this.#terms.catch(() => (this.#terms = undefined));
    return this.#terms;
  }

  /**
   * Sends a prepared payment (fee and relayer from {@link terms}) and waits until the
   * service's transaction is mined. Throws `ZkPayError` with the service's reason.
   */
  async submit(p: PreparedPayment): Promise<{ transaction: Hash; receiptId: Hex }> {
    const payload: ZkPaymentPayload = serverPayloadToWire(p);
    let res: Response;
    try {
      res = await this.#fetch(`${this.url}/relay`, {
        method: "POST",
        headers: { "content-type": "application/json", ...this.#headers },
        body: JSON.stringify({ x402Version: 2, payload }),
      });
    } catch (err) {
      throw new ZkPayError(
        "payment_unconfirmed",
        `the relay did not answer: ${(err as Error).message}`,
        {},
        { cause: err },
      );
    }
    const body = (await res.json().catch(() => ({}))) as SettleResponse & { error?: string; message?: string };
    if (!res.ok) {
      // A gateway or server failure without a typed answer says nothing of the payment:
      // the relay may have sent it, so its outcome is unknown (the note stays reserved).
      if (body.error === undefined && res.status >= 500) {
        throw new ZkPayError("payment_unconfirmed", `the relay answered ${res.status} without a verdict`, {
          status: res.status,
          receiptId: p.receiptId,
        });
      }
      throw new ZkPayError(
        (body.error as ZkReasonCode) ?? "settlement_failed",
        body.message ?? `relay answered ${res.status}`,
      );
    }
    if (!body.success) {
      throw new ZkPayError(
        (body.errorReason as ZkReasonCode) ?? "settlement_failed",
        body.errorMessage ?? "relay refused",
        {
          transaction: body.transaction,
        },
      );
    }
    return { transaction: body.transaction as Hash, receiptId: p.receiptId };
  }
}
