import type { Hash } from "viem";

import { erc20Abi } from "../../core/abi.js";
import type { WalletCore } from "../wallet/core.js";
import { sendDeposit, type DepositNote } from "./deposit-tx.js";

/**
 * Deposits with an ERC-20 allowance: `approve` first when the allowance is short (waited
 * for), then `deposit`. Two transactions at most; works with any token.
 */
export async function depositWithApprove(core: WalletCore, note: DepositNote): Promise<Hash> {
  const { account, walletClient: wc, value } = note;
  const allowance = await core.publicClient.readContract({
    address: core.pool.token,
    abi: erc20Abi,
    functionName: "allowance",
    args: [account.address, core.pool.facilitator],
  });
  if (allowance < value) {
    const h = await wc.writeContract({
      address: core.pool.token,
      abi: erc20Abi,
      functionName: "approve",
      args: [core.pool.facilitator, value],
      account,
      chain: wc.chain,
    });
    await core.waitSent(h);
  }
  return sendDeposit(core, note, "deposit", [note.precommitment, value, note.memo]);
}
