/**
 * Large pools in seconds, for sync tests and benchmarks: a FacilitatorHarness on a local
 * chain, filled with `LeafInserted` events in batches (harnessAppendLeaves) and given
 * the committed tree state computed off-chain (harnessSetTree / harnessSetFinalRoot).
 */
import { randomBytes } from "node:crypto";

import {
  createPublicClient,
  createWalletClient,
  http,
  parseAbi,
  type Address,
  type Hex,
  type PublicClient,
  type WalletClient,
} from "viem";

import type { PoolInfo } from "../../sdk/client/wallet.js";
import { SNARK_SCALAR_FIELD } from "../../sdk/core/field.js";
import type { WalletKeys } from "../../sdk/core/keys.js";
import { encodeMemo, randomNonce128 } from "../../sdk/core/memo.js";
import { commitmentOf } from "../../sdk/core/note.js";
import { NoteTree } from "../../sdk/core/tree.js";
import { devAccount, localViemChain } from "../../scripts/lib/dev-env.js";
import { deployWithRecord, type DeployOptions } from "../../scripts/lib/deploy.js";
import { startLocalChain } from "../../scripts/lib/local-chain.js";

export const harnessAbi = parseAbi([
  "function harnessAppendLeaves(uint256[] leaves, bytes memo)",
  "function harnessSetTree(uint256 committedSize, uint256 depth, uint256[] sideNodes, uint256 root)",
  "function harnessSetFinalRoot(uint256 t, uint256 root)",
  "function treeSize() view returns (uint256)",
  "function leafCount() view returns (uint256)",
  "function currentRoot() view returns (uint256)",
  "function finalRoot(uint256 t) view returns (uint256)",
  "function isKnownRoot(uint256 root, uint256 size) view returns (bool)",
  "function commitPendingLeaves(uint256 maxLeaves) returns (uint256 committed)",
]);

/** Leaves per harnessAppendLeaves transaction (one block each): ~3.3k gas a leaf; 1,000 keeps a block near a busy real one (~3.3M gas of LeafInserted). */
export const APPEND_BATCH = 1000;

/** Random field elements standing for other users' commitments. */
export function randomLeaves(n: number): bigint[] {
  const buf = randomBytes(n * 32);
  const out: bigint[] = new Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = BigInt(`0x${buf.subarray(i * 32, i * 32 + 32).toString("hex")}`) % SNARK_SCALAR_FIELD;
  }
  return out;
}

/** A 64-byte memo that opens as nobody's note (realistic log size). */
export function randomMemo(): Hex {
  return `0x${randomBytes(64).toString("hex")}`;
}

/**
 * The LeanIncrementalTree side nodes of the current tree of `tree` (what the contract
 * stores): for each height l where bit l of the local size is set, the complete subtree
 * root at local index (size >> l) - 1.
 */
export function sideNodesOf(tree: NoteTree): { local: number; depth: number; sideNodes: bigint[] } {
  const cap = 2 ** tree.levels;
  const committed = tree.committedSize;
  const local = committed % cap;
  const base = committed - local;
  let depth = 0;
  while (2 ** depth < local) depth++;
  const sideNodes: bigint[] = [];
  for (let l = 0; l <= depth; l++) {
    const bit = Math.floor(local / 2 ** l) % 2 === 1;
    sideNodes.push(bit ? tree.node(l, base / 2 ** l + Math.floor(local / 2 ** l) - 1) : 0n);
  }
  return { local, depth: local === 0 ? 0 : depth, sideNodes: local === 0 ? [] : sideNodes };
}

/** A harness pool on its own local chain, with an off-chain mirror of its forest. */
export async function startBigPool(opts: { treeLevels?: number; deploy?: DeployOptions } = {}) {
  const chain = await startLocalChain();
  const { record } = await deployWithRecord(chain.ethers, "hardhat", {
    ...opts.deploy,
    contract: "FacilitatorHarness",
    treeLevels: opts.treeLevels,
  });
  const viemChain = localViemChain(record.chainId, chain.url);
  const publicClient = createPublicClient({ chain: viemChain, transport: http(chain.url) }) as PublicClient;
  const walletClient: WalletClient = createWalletClient({
    account: devAccount(0),
    chain: viemChain,
    transport: http(chain.url),
  });
  const address = record.facilitator as Address;
  const pool: PoolInfo = {
    chainId: record.chainId,
    facilitator: address,
    token: record.token as Address,
    deploymentBlock: record.deploymentBlock,
  };
  const mirror = new NoteTree(record.treeLevels);

  async function send(functionName: "harnessAppendLeaves" | "harnessSetTree" | "harnessSetFinalRoot", args: unknown[]) {
    const hash = await walletClient
      .writeContract({
        address,
        abi: harnessAbi,
        functionName,
        args: args as never,
        account: devAccount(0),
        chain: viemChain,
        // Under the per-transaction gas cap of recent forks (2^24).
        gas: 16_000_000n,
      })
      .catch((err: unknown) => {
        throw new Error(
          `${functionName}: ${(err as { shortMessage?: string }).shortMessage ?? String(err).slice(0, 300)}`,
        );
      });
    const r = await publicClient.waitForTransactionReceipt({ hash, pollingInterval: 20 });
    if (r.status !== "success") throw new Error(`${functionName} reverted`);
  }

  /** Emits `LeafInserted` for `leaves` (queued on the mirror), in batches. */
  async function append(leaves: readonly bigint[], memo: Hex = randomMemo()): Promise<void> {
    for (let i = 0; i < leaves.length; i += APPEND_BATCH) {
      await send("harnessAppendLeaves", [leaves.slice(i, i + APPEND_BATCH), memo]);
    }
    mirror.append(leaves);
  }

  /** Commits every appended leaf: writes the mirror's state into the harness. */
  async function commitAll(): Promise<void> {
    const before = mirror.treeCount;
    mirror.commit(mirror.leafCount);
    const cap = 2 ** mirror.levels;
    const full = Math.floor(mirror.committedSize / cap);
    const { local, depth, sideNodes } = sideNodesOf(mirror);
    // Full trees other than the one harnessSetTree finishes need their final root.
    for (let t = Math.max(0, before - 1); t < (local === 0 ? full - 1 : full); t++) {
      await send("harnessSetFinalRoot", [t, mirror.finalRoot(t)]);
    }
    await send("harnessSetTree", [mirror.committedSize, depth, sideNodes, mirror.root]);
  }

  /** A deposit note of `keys` (deposit number k) as a leaf and its memo, as the wallet makes it. */
  function depositNote(keys: WalletKeys, k: number, value: bigint): { leaf: bigint; memo: Hex } {
    const salt = randomNonce128();
    const blinding = keys.depositBlinding(k, salt);
    return {
      leaf: commitmentOf({ value, owner: keys.ownerKey, blinding }),
      memo: encodeMemo({ tag: keys.depositTag(k), blinding, value, nonce: salt }),
    };
  }

  /**
   * Fills the pool with `n` leaves, `own` of them (spread out) deposit notes of `keys`
   * worth `value` each, and commits them all.
   */
  async function fill(n: number, own: { keys: WalletKeys; count: number; value: bigint } | undefined) {
    const ownAt = new Map<number, { leaf: bigint; memo: Hex }>();
    const start = mirror.leafCount;
    for (let j = 0; j < (own?.count ?? 0); j++) {
      ownAt.set(start + Math.floor(((j + 0.5) * n) / own!.count), depositNote(own!.keys, j, own!.value));
    }
    let run: bigint[] = [];
    const flush = async () => {
      if (run.length) await append(run);
      run = [];
    };
    const others = randomLeaves(n);
    for (let i = 0; i < n; i++) {
      const mine = ownAt.get(start + i);
      if (mine) {
        await flush();
        await append([mine.leaf], mine.memo);
      } else {
        run.push(others[i]!);
        if (run.length === APPEND_BATCH) await flush();
      }
    }
    await flush();
    await commitAll();
  }

  return { chain, record, pool, publicClient, walletClient, mirror, append, commitAll, fill, depositNote, send };
}

export type BigPool = Awaited<ReturnType<typeof startBigPool>>;
