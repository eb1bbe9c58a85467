import type { Network, SettleResponse } from "@x402/core/types";
import type { Hex } from "viem";

import type { ReceiptChecker } from "../../core/receipts.js";
import { receiptError } from "../errors.js";
import type { Admitted, PayloadOf, PaymentKind, Verified } from "./types.js";

/** What {@link ReceiptPayments} reads the chain with. */
export interface ReceiptKindOptions {
  network: Network;
  receipts: ReceiptChecker;
  /** Confirmations a receipt needs before it is accepted. */
  minConfirmations: number;
}

/**
 * Client-settled payments: the payer submitted `pay` itself and sends the receipt id it
 * got. Verifying is one `checkReceipt` call (this payee, amount and condition, enough
 * confirmations), or `checkShieldedReceipt` for a shielded payment (its payee note's
 * commitment, condition and the payee memo the payload showed: a payer that showed one
 * memo and put another on chain gets Mismatch); settling sends nothing and reports the
 * transaction the chain names.
 */
export class ReceiptPayments implements PaymentKind<"client"> {
  readonly #o: ReceiptKindOptions;

  constructor(o: ReceiptKindOptions) {
    this.#o = o;
  }

  async verify(a: Admitted<PayloadOf<"client">>): Promise<Verified<PayloadOf<"client">>> {
    // A shielded payment's receipt binds its payee note's commitment in place of payee and
    // amount, and the payee memo that went on chain: it must be the memo this payload
    // showed (checkTermsMatch made sure a shielded payload carries one), the one the API
    // opened and the only one its wallet can find the note by.
    const r = await this.#o.receipts.check(
      a.payeeCommitment !== undefined
        ? {
            id: a.payload.receiptId as Hex,
            payeeCommitment: a.payeeCommitment,
            conditionHash: a.conditionHash,
            payeeMemo: a.payload.payeeMemo as Hex,
            minConfirmations: this.#o.minConfirmations,
          }
        : {
            id: a.payload.receiptId as Hex,
            payTo: a.terms.payTo,
            amount: a.terms.amount,
            conditionHash: a.conditionHash,
            minConfirmations: this.#o.minConfirmations,
          },
    );
    const fail = receiptError(r, this.#o.minConfirmations);
    if (fail) throw fail;
    return { ...a, paidAtBlock: r.paidAtBlock };
  }

  /** The payment is on chain already: report the transaction the chain names (never releases: it is paid). */
  async settle(v: Verified<PayloadOf<"client">>): Promise<SettleResponse> {
    const receiptId = v.payload.receiptId as Hex;
    const transaction =
      v.paidAtBlock === undefined
        ? undefined
        : await this.#o.receipts
            .transactionOf(receiptId, v.paidAtBlock, { shielded: v.payeeCommitment !== undefined })
            .catch(() => undefined);
    return {
      success: true,
      transaction: transaction ?? "",
      network: this.#o.network,
      extra: { receiptId, paidAtBlock: v.paidAtBlock },
    };
  }
}
