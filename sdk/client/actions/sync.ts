/**
 * Syncing the wallet with the chain: one sync at a time under the wallet's lock, one more
 * queued behind it for callers that arrive meanwhile, a rebuild from the seed when the
 * chain's history changed, and the in-memory tree rolled back whenever a sync fails.
 * When syncs happen on their own is `schedule.ts`'s business.
 */
import { ZkPayError, isZkPayError } from "../../core/errors.js";
import { NoteTree } from "../../core/tree.js";
import type { WalletState } from "../store.js";
import { syncState } from "../sync.js";
import { saveTree } from "../sync/tree.js";
import type { WalletCore } from "../wallet/core.js";

/**
 * Pulls new `LeafInserted` and receipt events since the last sync, extends the tree,
 * finds this seed's notes (its own by their memo tags, those paid to it by decrypting
 * payee memos with its viewing key), marks spent ones, settles payments in flight, and
 * saves. A call made while a sync is running gets one more sync after it
 * (shared by every caller that arrives meanwhile), so it always sees the chain as of a
 * moment after the call, e.g. a transaction the caller just mined.
 *
 * @example
 * await sync(core); // then core.state is as fresh as the chain
 */
export function sync(core: WalletCore): Promise<void> {
  const run = core.sync;
  if (run.running === undefined) return startSync(core);
  run.queued ??= run.running
    .catch(() => {})
    .then(() => {
      run.queued = undefined;
      return startSync(core);
    });
  return run.queued;
}

/**
 * Discards the cached tree, notes and reservations and rebuilds them from the seed and
 * the chain (a full rescan from the deployment block). {@link sync} does this by itself
 * when it sees a reset chain or a reorg below its last synced block.
 */
export async function resync(core: WalletCore): Promise<void> {
  await core.sync.running?.catch(() => {});
  return core
    .mutate((state) => rescan(core, state))
    .then(
      (warnings) => {
        core.sync.done = true;
        reportWarnings(core, warnings);
      },
      (err: unknown) => {
        restoreTree(core);
        throw err;
      },
    );
}

/** Resolves after the next sync ends, successful or not (or after `ms`). */
export function waitForNextSync(core: WalletCore, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(wake, ms);
    function wake() {
      clearTimeout(timer);
      resolve();
    }
    core.sync.waiters.push(wake);
  });
}

function startSync(core: WalletCore): Promise<void> {
  const run: Promise<void> = core
    .mutate(async (state) => {
      try {
        return await syncAndSaveTree(core, state);
      } catch (err) {
        // Another history of the chain (reset node, reorg) or leaves that no longer add
        // up: the state is a cache, rebuild it from the seed.
        if (isZkPayError(err, "chain_reset") || isZkPayError(err, "stale_tree")) return rescan(core, state, err);
        throw err;
      }
    })
    .then((warnings) => {
      core.sync.done = true;
      reportWarnings(core, warnings);
    })
    .catch((err: unknown) => {
      // Whatever went wrong, the in-memory tree must match the persisted state again.
      restoreTree(core);
      throw err;
    })
    .finally(() => {
      if (core.sync.running === run) core.sync.running = undefined;
      for (const wake of core.sync.waiters.splice(0)) wake();
    });
  core.sync.running = run;
  return run;
}

/** Each scan warning once per tag or nullifier (with the default console output). */
function reportWarnings(core: WalletCore, warnings: ZkPayError[]): void {
  for (const w of warnings) core.warn(w, `${w.reason}:${String(w.details.tag ?? w.details.nullifierHash)}`);
}

/** Syncs `state` and saves the tree (before `mutate` saves the state that names it). */
async function syncAndSaveTree(core: WalletCore, state: WalletState): Promise<ZkPayError[]> {
  const before = JSON.stringify(state.tree);
  const { config, pool } = core;
  const warnings = await syncState(state, core.tree, {
    publicClient: core.publicClient,
    facilitator: pool.facilitator,
    deriver: core.deriver,
    chunk: config.logChunkSize,
    depositGapLimit: config.depositGapLimit,
    deploymentBlock: pool.deploymentBlock,
    logRange: core.logRange,
    onProgress: config.onSyncProgress,
  });
  if (JSON.stringify(state.tree) !== before) await saveTree(core.store, core.tree);
  return warnings;
}

/** Rolls the in-memory tree back to the persisted state's (after a failed sync). */
function restoreTree(core: WalletCore): void {
  const s = core.state.tree;
  if (!s) core.tree = new NoteTree(core.tree.levels);
  else if (core.tree.committedSize !== s.committed || core.tree.leafCount !== s.leafCount) {
    core.tree.truncate(s.committed, s.leafCount);
  }
}

/** A full rescan from the deployment block, with a clear error if even that does not match the chain. */
async function rescan(core: WalletCore, state: WalletState, why?: ZkPayError): Promise<ZkPayError[]> {
  const previous = core.tree;
  // Forget the cached tree, notes and reservations (in place): seed + chain rebuild them.
  // nextDepositIndex stays: the rescan finds deposits up to it + depositGapLimit.
  state.syncedBlock = core.pool.deploymentBlock - 1;
  state.syncedBlockHash = undefined;
  state.tree = undefined;
  state.notes = [];
  state.pending = [];
  core.tree = new NoteTree(core.tree.levels);
  try {
    const warnings = await syncAndSaveTree(core, state);
    if (why) {
      warnings.unshift(
        new ZkPayError(
          "chain_reset",
          `${why.message}: discarded the cached tree and notes and resynced from the seed (block ${core.pool.deploymentBlock})`,
          why.details,
        ),
      );
    }
    return warnings;
  } catch (err) {
    core.tree = previous; // the persisted state still names it
    if (isZkPayError(err, "stale_tree") || isZkPayError(err, "chain_reset")) {
      throw new ZkPayError(
        "stale_tree",
        `${err.message}, even after a full rescan from block ${core.pool.deploymentBlock}: check that the RPC ` +
          "serves complete logs (lower --log-chunk) and that the deployment record matches this chain, then run " +
          "`402zk resync` (SDK: wallet.resync())",
        err.details,
        { cause: err },
      );
    }
    throw err;
  }
}
