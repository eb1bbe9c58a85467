import type { Hash } from "viem";

import { facilitatorAbi } from "../../core/abi.js";
import { mapPayRevert } from "../../core/revert.js";
import type { PreparedPayment } from "../types.js";
import type { WalletCore } from "../wallet/core.js";
import { recordSettlement } from "./select-note.js";
import { sync } from "./sync.js";

/** What {@link submitPayment} returns: the transaction hash. */
export type SubmitPaymentReturnType = Hash;

/**
 * Submits a prepared payment on chain from the wallet client's account (client-settled
 * mode, or a withdrawal) and waits for it, then records the settlement and syncs to pick
 * up the change note: this sync follows a transaction this client sent itself through the
 * same RPC, so it tells the provider nothing new.
 *
 * With `p.commitChange` it settles through `payAndCommit`, which also commits the change
 * note, so it is spendable in the next block; otherwise `pay` (cheaper, the change note
 * queued until the next batch or commit). A revert before sending is mapped to the pool's
 * reason; a failed wait is `payment_unconfirmed` (the note stays reserved).
 *
 * @example
 * const hash = await submitPayment(core, await preparePayment(core, params));
 */
export async function submitPayment(core: WalletCore, p: PreparedPayment): Promise<SubmitPaymentReturnType> {
  const wc = core.requireWalletClient();
  let hash: Hash;
  try {
    hash = await wc.writeContract({
      address: core.pool.facilitator,
      abi: facilitatorAbi,
      account: wc.account,
      chain: wc.chain,
      functionName: p.commitChange ? "payAndCommit" : "pay",
      args: [p.proof, p.terms, p.memo, p.payeeMemo],
    });
  } catch (err) {
    throw mapPayRevert(err);
  }
  await core.waitSent(hash, p);
  // The change counts from now on, even if the sync below fails (a failed save only
  // delays it to the next sync).
  await recordSettlement(core, p).catch(() => {});
  await sync(core);
  return hash;
}
