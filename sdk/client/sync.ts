import type { Address, Hex, PublicClient } from "viem";

import { facilitatorAbi } from "../core/abi.js";
import { ZkPayError } from "../core/errors.js";
import type { NoteTree } from "../core/tree.js";
import type { StoredNote, WalletState } from "./store.js";
import {
  fetchLogs,
  hexWordToLE,
  LEAF_TOPIC,
  RECEIPT_TOPIC,
  SHIELDED_RECEIPT_TOPIC,
  type LogRangeState,
} from "./sync/logs.js";
import { NoteScanner, type NoteDeriver } from "./sync/notes.js";

// The chain scan in parts: sync/notes.ts recognises this seed's notes, sync/logs.ts reads
// the pool's logs within the RPC's limits, sync/tree.ts opens and saves the local tree.
// The wallet's sync action (actions/sync.ts) runs syncState under the wallet's lock.
export { NoteDeriver, NoteScanner } from "./sync/notes.js";
export { isLogRangeError, type LogRangeState } from "./sync/logs.js";
export { openTree, readTreeLevels, saveTree } from "./sync/tree.js";

/** Progress of a sync, reported after each page of logs. */
export interface SyncProgress {
  phase: "sync";
  /** The page just processed. */
  fromBlock: number;
  toBlock: number;
  /** The block the sync runs up to. */
  latestBlock: number;
  /** Leaves seen so far (committed and queued). */
  leaves: number;
  /** Leaves the pool had committed at `latestBlock` (what the sync commits up to). */
  targetCommitted: number;
}

/** What {@link syncState} needs from its wallet. */
export interface SyncDeps {
  publicClient: PublicClient;
  facilitator: Address;
  deriver: NoteDeriver;
  /** Blocks per eth_getLogs request, at most. */
  chunk: number;
  depositGapLimit: number;
  /** The pool's deployment block (a state synced below it has nothing to check). */
  deploymentBlock?: number;
  /** Called after each page of logs. */
  onProgress?: (p: SyncProgress) => void;
  /** Range limits learnt from the RPC, kept by the caller across syncs. */
  logRange?: LogRangeState;
  /** Logs per page aimed at: ranges shrink where blocks are dense (default 2,000, ~1.6 MB). */
  targetLogsPerPage?: number;
}

/**
 * Pulls `LeafInserted` and receipt events (`PaymentReceipt`, `ShieldedPaymentReceipt`: each
 * names a spent nullifier) since `state.syncedBlock` in pages of
 * at most `chunk` blocks (fewer where blocks are dense, and fewer again if the RPC caps
 * ranges: see {@link isLogRangeError}), appends the leaves to `tree`, commits them up to
 * the pool's `treeSize()` at the last block, keeps the rest queued, finds this seed's
 * notes, marks spent ones, and checks the local root against the pool's `currentRoot()`.
 * Returns the warnings to report once the state is saved. On error, `state` and `tree`
 * are half-updated: the caller discards `state` and rolls `tree` back
 * (`tree.truncate(...)` to the saved state's `tree` summary).
 */
export async function syncState(state: WalletState, tree: NoteTree, deps: SyncDeps): Promise<ZkPayError[]> {
  const { publicClient, facilitator } = deps;
  const latest = Number(await publicClient.getBlockNumber({ cacheTime: 0 }));
  // The stored state must still be a prefix of this chain: a restarted local node (a new
  // chain) or a reorg below the last synced block makes it describe another history.
  if (state.syncedBlock >= (deps.deploymentBlock ?? 0) && tree.leafCount + state.notes.length > 0) {
    if (state.syncedBlock > latest) {
      throw new ZkPayError(
        "chain_reset",
        `the wallet was synced to block ${state.syncedBlock} but the chain is at block ${latest} (a reset chain?)`,
        { syncedBlock: state.syncedBlock, latest },
      );
    }
    if (state.syncedBlockHash) {
      const b = await publicClient.getBlock({ blockNumber: BigInt(state.syncedBlock) }).catch((err: unknown) => {
        if ((err as { name?: string }).name === "BlockNotFoundError") return undefined;
        throw err;
      });
      if (!b || b.hash !== state.syncedBlockHash) {
        throw new ZkPayError(
          "chain_reset",
          `block ${state.syncedBlock} is no longer the block the wallet synced to (a reorg or a reset chain)`,
          { syncedBlock: state.syncedBlock, stored: state.syncedBlockHash, now: b?.hash },
        );
      }
    }
  }
  // What the pool had committed at the last block: the sync commits exactly that much.
  const at = { address: facilitator, abi: facilitatorAbi, blockNumber: BigInt(latest) } as const;
  const committedAt = Promise.all([
    publicClient.readContract({ ...at, functionName: "treeSize" }),
    publicClient.readContract({ ...at, functionName: "currentRoot" }),
  ]);
  committedAt.catch(() => {}); // awaited below; an early page error must not leave it unhandled
  const scanner = new NoteScanner(state, deps.deriver, deps.depositGapLimit);
  const pendingByNullifier = new Map(state.pending.map((p) => [p.nullifierHash, p]));
  const spentIds = new Set<string>();
  /** Block times the logs carried (not every node includes them). */
  const blockTimes = new Map<number, number>();
  const limits = deps.logRange ?? { maxBlocks: deps.chunk };
  const targetLogs = deps.targetLogsPerPage ?? 2_000;
  // Slow start: pages begin small and double while they hold few logs, so a dense range
  // never costs the node a huge answer that the transport would refuse anyway.
  let span = Math.max(1, Math.min(deps.chunk, limits.maxBlocks, limits.span ?? 1));
  const [size, onchainRoot] = await committedAt;
  const target = Number(size);
  tree.reserve(target);
  if (target < tree.committedSize) {
    throw new ZkPayError(
      "stale_tree",
      `the pool has ${target} committed leaves, fewer than the ${tree.committedSize} of the local tree`,
    );
  }

  // One page in flight while the previous one is hashed: the node prepares the next
  // page while this process commits the last.
  const request = (from: number) =>
    fetchLogs(publicClient, facilitator, from, Math.min(latest, from + span - 1), limits);
  let next = state.syncedBlock + 1 <= latest ? request(state.syncedBlock + 1) : undefined;
  while (next) {
    const page = await next;
    const got = page.to - page.from + 1;
    // Aim at `targetLogs` per page: shrink where blocks are dense, grow back where not.
    if (page.logs.length > targetLogs) span = Math.max(1, Math.floor((got * targetLogs) / page.logs.length));
    else if (page.logs.length < targetLogs / 2) span = Math.min(deps.chunk, limits.maxBlocks, Math.max(span, got) * 2);
    span = Math.max(1, Math.min(span, limits.maxBlocks));
    limits.span = span;
    next = page.to < latest ? request(page.to + 1) : undefined;
    next?.catch(() => {}); // awaited on the next turn

    const logs = page.logs.filter((l) => !l.removed);
    logs.sort(
      (a, b) => Number(BigInt(a.blockNumber) - BigInt(b.blockNumber)) || Number(a.logIndex) - Number(b.logIndex),
    );
    const fresh = new Uint8Array(logs.length * 32);
    let n = 0;
    for (const log of logs) {
      if (log.topics[0] === RECEIPT_TOPIC || log.topics[0] === SHIELDED_RECEIPT_TOPIC) {
        // The receipt id (either mode) is the spent note's nullifier hash.
        spentIds.add(BigInt(log.topics[1]!).toString());
        continue;
      }
      if (log.topics[0] !== LEAF_TOPIC) continue;
      const index = Number(BigInt(log.topics[1]!));
      const seen = tree.leafCount + n;
      if (index < seen) continue; // already have it (overlapping range)
      if (index !== seen) throw new ZkPayError("stale_tree", `missing leaves: expected index ${seen}, got ${index}`);
      const d = log.data;
      // data = commitment, offset of memo (0x40), memo length, memo bytes
      if (d.length < 2 + 192 || Number(`0x${d.slice(66, 130)}`) !== 64) {
        throw new ZkPayError("stale_tree", `LeafInserted ${index} is not encoded as expected`);
      }
      const memoLength = Number(`0x${d.slice(130, 194)}`);
      const memo = `0x${d.slice(194, 194 + 2 * memoLength)}` as Hex;
      hexWordToLE(d, 2, fresh, n * 32);
      n++;
      const blockNumber = Number(BigInt(log.blockNumber));
      scanner.scan(index, BigInt(d.slice(0, 66)), memo, blockNumber);
      if (log.blockTimestamp !== undefined) blockTimes.set(blockNumber, Number(BigInt(log.blockTimestamp)));
    }
    tree.appendBytes(fresh.subarray(0, n * 32));
    tree.commit(Math.min(target, tree.leafCount));
    state.syncedBlock = page.to;
    deps.onProgress?.({
      phase: "sync",
      fromBlock: page.from,
      toBlock: page.to,
      latestBlock: latest,
      leaves: tree.leafCount,
      targetCommitted: target,
    });
  }
  if (tree.committedSize < target) {
    throw new ZkPayError(
      "stale_tree",
      `missing leaves: the pool committed ${target}, the logs gave ${tree.leafCount} (an RPC serving incomplete logs?)`,
      { committed: target, leafCount: tree.leafCount },
    );
  }

  // Received notes keep their block's time (the auditor's and the API's revenue listing).
  await fillBlockTimes(publicClient, scanner.received, blockTimes);

  for (const id of spentIds) {
    const note = scanner.owned.get(id);
    if (note) note.spent = true;
    pendingByNullifier.delete(id);
  }
  // A payment in flight whose nullifier was not spent by its expiry never will be.
  const head = await publicClient.getBlock({ blockNumber: BigInt(latest) });
  const now = Number(head.timestamp);
  if (state.syncedBlock === latest) state.syncedBlockHash = head.hash ?? undefined;
  state.pending = [...pendingByNullifier.values()].filter((p) => p.expiry >= now);

  // The local root must be the pool's root, or proofs would be refused on chain.
  if (onchainRoot !== tree.root) {
    throw new ZkPayError("stale_tree", "local tree root differs from the pool's root (missed events or a reorg)", {
      local: tree.root.toString(),
      onchain: onchainRoot.toString(),
    });
  }
  state.tree = tree.summary();
  return scanner.warnings;
}

/**
 * Sets `origin.time` of received notes to their block's timestamp: from the logs when the
 * node included it, else one `eth_getBlockByNumber` per block that holds a received note
 * (few: only notes paid to this wallet).
 */
export async function fillBlockTimes(
  publicClient: PublicClient,
  notes: readonly StoredNote[],
  known: Map<number, number> = new Map(),
): Promise<void> {
  for (const n of notes) {
    const o = n.origin;
    if (o.kind !== "received") continue;
    let t = known.get(o.blockNumber);
    if (t === undefined) {
      t = Number((await publicClient.getBlock({ blockNumber: BigInt(o.blockNumber) })).timestamp);
      known.set(o.blockNumber, t);
    }
    o.time = t;
  }
}
