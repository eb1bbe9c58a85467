import { parseSignature, type Hash } from "viem";

import { erc20Abi } from "../../core/abi.js";
import { permitTypes } from "../../core/eip712.js";
import type { WalletCore } from "../wallet/core.js";
import { sendDeposit, signingTerms, type DepositNote } from "./deposit-tx.js";

/**
 * Deposits with an EIP-2612 permit signed off-chain, then `depositWithPermit`: one
 * transaction, for tokens that implement `permit`.
 */
export async function depositWithPermit(core: WalletCore, note: DepositNote): Promise<Hash> {
  const { account, walletClient: wc, value } = note;
  const { domain, deadline } = await signingTerms(core);
  const nonce = await core.publicClient.readContract({
    address: core.pool.token,
    abi: erc20Abi,
    functionName: "nonces",
    args: [account.address],
  });
  const sig = parseSignature(
    await wc.signTypedData({
      account,
      domain,
      types: permitTypes,
      primaryType: "Permit",
      message: { owner: account.address, spender: core.pool.facilitator, value, nonce, deadline },
    }),
  );
  return sendDeposit(core, note, "depositWithPermit", [
    note.precommitment,
    value,
    note.memo,
    deadline,
    Number(sig.v ?? 27n),
    sig.r,
    sig.s,
  ]);
}
