import type { Network, SettleResponse, VerifyResponse } from "@x402/core/types";
import type { Hash } from "viem";

import type { SKIP_REASON } from "../core/abi.js";
import { ZkPayError, type ZkReasonCode } from "../core/errors.js";
import type { ReceiptCheck } from "../core/receipts.js";

/*
 * How the facilitator's findings become x402 answers and stable reasons: the one place
 * that maps chain states (a receipt's state, a payment a batch skipped) to a
 * `ZkReasonCode`, and a `ZkPayError` to a `VerifyResponse` or `SettleResponse`.
 */

/** x402 `verify` answer for a refused payment. */
export function invalid(reason: ZkReasonCode, message: string): VerifyResponse {
  return { isValid: false, invalidReason: reason, invalidMessage: message };
}

/** x402 `settle` answer for a payment that did not settle (or whose fate is unknown: `transaction` names it). */
export function settleFailed(
  network: Network,
  reason: ZkReasonCode,
  message: string,
  transaction = "",
): SettleResponse {
  return { success: false, errorReason: reason, errorMessage: message, transaction, network };
}

/**
 * The refusal of a client-settled payment whose on-chain receipt is not (yet) what the
 * request asks for; undefined when the receipt is paid with enough confirmations.
 */
export function receiptError(r: ReceiptCheck, minConfirmations: number): ZkPayError | undefined {
  const reasons: Record<string, [ZkReasonCode, string]> = {
    not_paid: ["receipt_not_found", "no payment with this receipt id on chain"],
    mismatch: ["receipt_mismatch", "the receipt is for another payee, amount or condition"],
    unconfirmed: ["receipt_unconfirmed", `the payment has ${r.confirmations} of ${minConfirmations} confirmations`],
  };
  const fail = reasons[r.state];
  return fail ? new ZkPayError(fail[0], fail[1], { confirmations: r.confirmations }) : undefined;
}

/** Why a `payBatch` skipped one payment (the pool's `PaymentSkipped` reason), as a stable reason. */
export function skippedError(reason: keyof typeof SKIP_REASON, transaction: Hash): ZkPayError {
  return reason === "NullifierSpent"
    ? new ZkPayError("nullifier_spent", "this note was already spent", { transaction })
    : reason === "Expired"
      ? new ZkPayError("challenge_expired", "the payment expired before its batch was mined", { transaction })
      : new ZkPayError("stale_tree", "the proof's root left the pool's history before its batch was mined", {
          transaction,
        });
}
