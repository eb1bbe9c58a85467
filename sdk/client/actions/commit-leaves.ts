import type { Hash } from "viem";

import { facilitatorAbi } from "../../core/abi.js";
import { leavesToCommit } from "../../core/commit.js";
import { mapPayRevert } from "../../core/revert.js";
import type { WalletCore } from "../wallet/core.js";
import { sync } from "./sync.js";

/** What {@link commitPendingLeaves} returns: the commit's hash, undefined when nothing was queued. */
export type CommitPendingLeavesReturnType = Hash | undefined;

/**
 * Commits the pool's queued leaves (this wallet's queued notes among them) from the
 * wallet client's account, waits for it, and syncs. Anyone may commit; it costs about
 * what inserting the leaves one by one used to (a few Poseidon hashes each).
 *
 * @example
 * if (queuedNotes(core).length > 0) await commitPendingLeaves(core);
 */
export async function commitPendingLeaves(core: WalletCore): Promise<CommitPendingLeavesReturnType> {
  const wc = core.requireWalletClient();
  const max = await leavesToCommit(core.publicClient, core.pool.facilitator);
  let hash: Hash | undefined;
  if (max > 0n) {
    try {
      hash = await wc.writeContract({
        address: core.pool.facilitator,
        abi: facilitatorAbi,
        functionName: "commitPendingLeaves",
        args: [max],
        account: wc.account,
        chain: wc.chain,
      });
    } catch (err) {
      throw mapPayRevert(err);
    }
    await core.waitSent(hash);
  }
  await sync(core);
  return hash;
}
