import { parseAbi, type Address, type PublicClient } from "viem";

import { MAX_TREE_DEPTH } from "../../core/field.js";
import { NoteTree } from "../../core/tree.js";
import type { NoteStore, WalletState } from "../store.js";

const treeLevelsAbi = parseAbi(["function treeLevels() view returns (uint256)"]);

/** `treeLevels()` of the pool (each tree holds 2^L leaves); MAX_TREE_DEPTH for a pool without it. */
export async function readTreeLevels(publicClient: PublicClient, facilitator: Address): Promise<number> {
  try {
    const l = await publicClient.readContract({ address: facilitator, abi: treeLevelsAbi, functionName: "treeLevels" });
    return Number(l);
  } catch (err) {
    const name = (err as { name?: string }).name;
    // A pool of one tree (before the forest): no such function.
    if (name === "ContractFunctionExecutionError" || name === "ContractFunctionRevertedError") return MAX_TREE_DEPTH;
    throw err;
  }
}

/**
 * The wallet's tree for `state`: the persisted tree when the store has one that covers
 * the state's (rolled back to it if the tree was saved ahead of the state), else the
 * leaves of a version-2 state, else (no tree, or one that does not match) an empty tree
 * with `state` reset to rescan from `deploymentBlock` (notes are rebuilt from the seed).
 * Removes the legacy `leaves` array from `state`.
 */
export async function openTree(
  state: WalletState,
  store: NoteStore,
  levels: number,
  deploymentBlock: number,
): Promise<NoteTree> {
  const legacy = state.leaves;
  delete state.leaves;
  if (legacy && !state.tree) {
    const tree = NoteTree.from(legacy.map(BigInt), levels);
    state.tree = tree.summary();
    return tree;
  }
  const want = state.tree;
  const fresh = state.syncedBlock < deploymentBlock && state.notes.length === 0;
  if ((!want && fresh) || (want && want.levels === levels && want.leafCount === 0)) return new NoteTree(levels);
  let tree: NoteTree | undefined;
  try {
    const bytes = await store.loadTree?.();
    if (bytes && want) {
      const t = NoteTree.deserialize(bytes);
      if (
        want.levels === levels &&
        t.levels === levels &&
        t.committedSize >= want.committed &&
        t.leafCount >= want.leafCount
      ) {
        t.truncate(want.committed, want.leafCount);
        if (t.root.toString() === want.root) tree = t;
      }
    }
  } catch {
    // A damaged tree file is a cache miss: rebuild from the chain.
  }
  if (tree) return tree;
  state.syncedBlock = deploymentBlock - 1;
  state.syncedBlockHash = undefined;
  state.notes = [];
  state.pending = [];
  state.tree = undefined;
  return new NoteTree(levels);
}

/** Saves `tree` where the store keeps trees (before the state that names it is saved). */
export async function saveTree(store: NoteStore, tree: NoteTree): Promise<void> {
  await store.saveTree?.(tree.serializeParts());
}
