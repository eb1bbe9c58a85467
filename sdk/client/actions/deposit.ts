import { BaseError, parseEventLogs, type Hash, type TransactionReceipt } from "viem";

import { facilitatorAbi } from "../../core/abi.js";
import { ZkPayError, isZkPayError } from "../../core/errors.js";
import { toValue } from "../../core/field.js";
import { encodeMemo, randomNonce128 } from "../../core/memo.js";
import { commitmentOf, precommitmentOf } from "../../core/note.js";
import type { DepositMethod, DepositResult } from "../types.js";
import type { WalletCore } from "../wallet/core.js";
import { depositWithAuthorization } from "./deposit-3009.js";
import { depositWithApprove } from "./deposit-approve.js";
import { depositWithPermit } from "./deposit-permit.js";
import type { DepositNote } from "./deposit-tx.js";
import { sync } from "./sync.js";

/** Parameters of {@link deposit}. */
export interface DepositParameters {
  /** Base units, positive. */
  value: bigint;
  /** How the tokens move (default "approve"). */
  method?: DepositMethod;
}

/** What {@link deposit} returns. */
export type DepositReturnType = DepositResult;

/** One file per way of moving the tokens; each sends the deposit transaction. */
const METHODS: Record<DepositMethod, (core: WalletCore, note: DepositNote) => Promise<Hash>> = {
  approve: depositWithApprove,
  permit: depositWithPermit,
  authorization: depositWithAuthorization,
};

/**
 * Deposits `value` tokens from the wallet client's account into a new private note and
 * syncs once the transaction is mined (the deposit itself is public). A deposit that
 * landed is never a failure: if the sync after it fails, `synced` is false with a warning.
 * Throws `invalid_argument` (no value, no account), `rpc_error` with the hash when the
 * transaction was sent but its outcome is unknown, `settlement_failed` when it reverted,
 * `depositor_sanctioned` when the pool's sanctions list names the account (nothing sent).
 *
 * @example
 * const { hash, leafIndex } = await deposit(core, { value: 5_000_000n, method: "authorization" });
 */
export async function deposit(core: WalletCore, params: DepositParameters): Promise<DepositReturnType> {
  const wc = core.requireWalletClient();
  const v = toValue(params.value, "deposit value");
  if (v === 0n) throw new ZkPayError("invalid_argument", "deposit value must be positive");
  const method = params.method ?? "approve";
  if (!Object.hasOwn(METHODS, method)) {
    throw new ZkPayError(
      "invalid_argument",
      `unknown deposit method ${String(method)}: approve, permit or authorization`,
    );
  }
  // The index is saved before it is used, so one store never hands it out twice. Two
  // processes sharing a seed (or a restore while a signed deposit is still in flight)
  // can still pick the same k: the random salt keeps their notes distinct, and sync
  // reports the shared tag (duplicate_note_tag).
  const k = await core.mutate((state) => state.nextDepositIndex++);
  const salt = randomNonce128();
  // The note is owned by this wallet's owner key: only its spending key can spend it.
  const owner = core.keys.ownerKey;
  const blinding = core.keys.depositBlinding(k, salt);
  const commitment = commitmentOf({ value: v, owner, blinding });
  // The salt doubles as the memo nonce: one memo per (k, salt), so its pad is never reused.
  const memo = encodeMemo({ tag: core.keys.depositTag(k), blinding, value: v, nonce: salt });
  const note: DepositNote = {
    value: v,
    // What the chain sees: Poseidon(owner, blinding), opaque (the pool adds the value).
    precommitment: precommitmentOf(owner, blinding),
    memo,
    account: wc.account,
    walletClient: wc,
  };
  const hash = await METHODS[method](core, note);

  // From here on the tokens may have moved: whatever fails, say so with the hash.
  let receipt: TransactionReceipt;
  try {
    receipt = await core.publicClient.waitForTransactionReceipt({ hash });
  } catch (err) {
    throw new ZkPayError(
      "rpc_error",
      `deposit transaction ${hash} was sent but its outcome is unknown (${err instanceof BaseError ? err.shortMessage : String(err)}): check it on chain before depositing again`,
      { hash },
      { cause: err },
    );
  }
  if (receipt.status !== "success") {
    throw new ZkPayError("settlement_failed", `deposit transaction ${hash} reverted (no tokens moved)`, { hash });
  }
  const [inserted] = parseEventLogs({ abi: facilitatorAbi, eventName: "LeafInserted", logs: receipt.logs });
  const leafIndex = inserted ? Number(inserted.args.leafIndex) : -1;
  try {
    await sync(core);
  } catch (err) {
    const why = err instanceof BaseError ? err.shortMessage : err instanceof Error ? err.message : String(err);
    return {
      hash,
      leafIndex,
      synced: false,
      warning: new ZkPayError(
        isZkPayError(err) ? err.reason : "rpc_error",
        `the deposit landed (tx ${hash}, leaf ${leafIndex}) but syncing after it failed: ${why}`,
        { hash, leafIndex },
        { cause: err },
      ),
    };
  }
  const found = core.state.notes.find((n) => n.commitment === commitment.toString());
  return { hash, leafIndex: found?.leafIndex ?? leafIndex, synced: true };
}
