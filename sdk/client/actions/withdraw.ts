import { zeroAddress, type Address, type Hash } from "viem";

import { parseUserAddress } from "../../core/address.js";
import { ZkPayError } from "../../core/errors.js";
import type { ProofProgress } from "../../core/prover.js";
import { checkPaymentCost } from "../cost.js";
import type { RelayClient } from "../relay.js";
import type { WalletCore } from "../wallet/core.js";
import { preparePayment } from "./prepare-payment.js";
import { recordSettlement, releaseUnlessUnconfirmed } from "./select-note.js";
import { submitPayment } from "./submit-payment.js";
import { tokenUnits } from "./token.js";

/** Parameters of a withdrawal (`PrivateWallet.withdraw`). */
export interface WithdrawParameters {
  /** The public address that receives the tokens. */
  to: Address;
  /** Base units to withdraw. */
  amount: bigint;
  /** Proving progress (witness, then prove), for a progress bar. */
  onProgress?: (p: ProofProgress) => void;
  /** Submit through a relayer (`RelayClient`, its fee on top of `amount`): no gas, no address of yours on chain. */
  relay?: RelayClient;
  /**
   * The largest relayer fee accepted, base units (default: at most 0.1 token, and at
   * most `amount`; see `defaultMaxFee`). A relayer asking more is refused with
   * `fee_too_high` before proving.
   */
  maxFee?: bigint;
}

/** What {@link withdraw} returns: the transaction hash. */
export type WithdrawReturnType = Hash;

/**
 * Withdraws `amount` from the private balance to a public address: a payment to `to`,
 * expiring in ten minutes, submitted from the wallet client's account or through a
 * relayer. The note is released only when the payment certainly did not settle.
 *
 * @example
 * await withdraw(core, { to: "0x...", amount: 5_000_000n });
 */
export async function withdraw(core: WalletCore, args: WithdrawParameters): Promise<WithdrawReturnType> {
  const now = BigInt((await core.publicClient.getBlock({ blockTag: "latest" })).timestamp);
  const to = parseUserAddress(args.to, "withdraw to");
  // The pool reverts a zero payee (FacilitatorZeroPayee): refuse before proving.
  if (to === zeroAddress) throw new ZkPayError("invalid_argument", "withdraw to the zero address: the pool refuses it");
  const relay = args.relay ? await args.relay.terms(core.pool.chainId) : undefined;
  // The relayer names its own fee: hold it to the payer's limit before proving.
  if (relay) {
    checkPaymentCost(
      { amount: args.amount, fee: relay.fee, relayer: relay.relayer },
      { maxFee: args.maxFee },
      await tokenUnits(core),
    );
  }
  const p = await preparePayment(core, {
    payTo: to,
    amount: args.amount,
    fee: relay?.fee,
    relayer: relay?.relayer,
    expiry: now + 600n,
    onProgress: args.onProgress,
  });
  let hash: Hash;
  try {
    if (!args.relay) return await submitPayment(core, p);
    hash = (await args.relay.submit(p)).transaction;
  } catch (err) {
    await releaseUnlessUnconfirmed(core, p, err);
    throw err;
  }
  // Mined by the relayer: the change is ours from now on (pending until a sync finds it).
  await recordSettlement(core, p).catch(() => {});
  return hash;
}
