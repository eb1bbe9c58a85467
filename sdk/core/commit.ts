import type { Address, PublicClient } from "viem";

import { facilitatorAbi } from "./abi.js";

/**
 * The `maxLeaves` argument for a `commitPendingLeaves` call now: the pool's per-call bound
 * when leaves are queued, 0 when nothing is (no transaction worth sending).
 *
 * @example
 * const max = await leavesToCommit(publicClient, pool.facilitator);
 * if (max > 0n) await walletClient.writeContract({ ..., functionName: "commitPendingLeaves", args: [max] });
 */
export async function leavesToCommit(publicClient: PublicClient, facilitator: Address): Promise<bigint> {
  const read = (functionName: "pendingLeafCount" | "MAX_COMMIT_PER_CALL") =>
    publicClient.readContract({ address: facilitator, abi: facilitatorAbi, functionName });
  const [pending, max] = await Promise.all([read("pendingLeafCount"), read("MAX_COMMIT_PER_CALL")]);
  return pending === 0n ? 0n : max;
}
