import { parseSignature, type Hash } from "viem";

import { facilitatorAbi } from "../../core/abi.js";
import { receiveWithAuthorizationTypes } from "../../core/eip712.js";
import type { WalletCore } from "../wallet/core.js";
import { sendDeposit, signingTerms, type DepositNote } from "./deposit-tx.js";

/**
 * Deposits with an EIP-3009 `ReceiveWithAuthorization` signed off-chain, then
 * `depositWithAuthorization`: one transaction, which anyone may submit (USDC).
 */
export async function depositWithAuthorization(core: WalletCore, note: DepositNote): Promise<Hash> {
  const { account, walletClient: wc, value, precommitment, memo } = note;
  const { domain, deadline } = await signingTerms(core);
  // The nonce commits the signature to this note: whoever submits it cannot deposit the
  // tokens into a note of their own.
  const nonce = await core.publicClient.readContract({
    address: core.pool.facilitator,
    abi: facilitatorAbi,
    functionName: "depositNonce",
    args: [precommitment, memo],
  });
  const sig = parseSignature(
    await wc.signTypedData({
      account,
      domain,
      types: receiveWithAuthorizationTypes,
      primaryType: "ReceiveWithAuthorization",
      message: {
        from: account.address,
        to: core.pool.facilitator,
        value,
        validAfter: 0n,
        validBefore: deadline,
        nonce,
      },
    }),
  );
  return sendDeposit(core, note, "depositWithAuthorization", [
    account.address,
    precommitment,
    value,
    memo,
    0n,
    deadline,
    Number(sig.v ?? 27n),
    sig.r,
    sig.s,
  ]);
}
