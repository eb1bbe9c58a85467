/**
 * What the three deposit methods share: the note being deposited, the transaction that
 * sends it, and the EIP-712 domain and deadline of the two signed ones.
 */
import type { Account, Address, Hash, Hex, WalletClient } from "viem";

import { facilitatorAbi } from "../../core/abi.js";
import { mapDepositRevert } from "../../core/revert.js";
import type { WalletCore } from "../wallet/core.js";
import { tokenDomain } from "./token.js";

/** A new note, ready to deposit (see `deposit.ts`). */
export interface DepositNote {
  /** Base units, positive. */
  value: bigint;
  precommitment: bigint;
  memo: Hex;
  /** The depositing account (the wallet client's). */
  account: Account;
  walletClient: WalletClient;
}

/** The pool's three deposit entry points. */
export type DepositFunction = "deposit" | "depositWithPermit" | "depositWithAuthorization";

/** Sends a deposit transaction from the note's account with room in its gas limit; returns its hash. */
export async function sendDeposit(
  core: WalletCore,
  note: DepositNote,
  functionName: DepositFunction,
  args: readonly unknown[],
): Promise<Hash> {
  const call = {
    address: core.pool.facilitator,
    abi: facilitatorAbi,
    functionName,
    args: args as never,
    account: note.account,
  };
  // A deposit commits whatever is queued ahead of it, so its gas depends on what lands
  // first (another deposit in the same block moves its leaf and its hashes): estimate
  // against `pending` and leave room for several more Poseidon hashes (~20k each).
  // The estimate simulates the deposit: a refusal (sanctions list, short allowance, a bad
  // signature) surfaces here, typed, before anything is sent.
  let gas: bigint;
  try {
    gas = await core.publicClient.estimateContractGas({ ...call, blockTag: "pending" } as never);
  } catch (err) {
    throw mapDepositRevert(err);
  }
  const wc = note.walletClient;
  return wc.writeContract({ ...call, chain: wc.chain, gas: gas + gas / 2n } as never);
}

/** The token's EIP-712 domain and a deadline an hour past the latest block, for a signed deposit. */
export async function signingTerms(core: WalletCore): Promise<{
  domain: { name: string; version: string; chainId: number; verifyingContract: Address };
  deadline: bigint;
}> {
  const domain = { ...(await tokenDomain(core)), chainId: core.pool.chainId, verifyingContract: core.pool.token };
  const deadline = BigInt((await core.publicClient.getBlock({ blockTag: "latest" })).timestamp) + 3600n;
  return { domain, deadline };
}
