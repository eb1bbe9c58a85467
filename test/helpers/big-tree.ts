/**
 * Big pools for gas measurements: a LeanIMT of up to 2^24 leaves in which every leaf
 * but the last few is one filler commitment, computed in O(depth * tail) hashes, and the
 * code that writes such a pool's state into a FacilitatorHarness (then swaps in the
 * production Facilitator's runtime code so that measured calls run real bytecode).
 *
 * Not a test file: mocha loads nothing from test/helpers by itself. Used by
 * test/contracts/scale.test.ts and bench/scale.ts.
 */
import type { HardhatEthers } from "@nomicfoundation/hardhat-ethers/types";
import { AbiCoder, keccak256, toBeHex } from "ethers";
import type { Hex } from "viem";

import type { PaymentTerms } from "../../sdk/core/context.js";
import { MAX_TREE_DEPTH } from "../../sdk/core/field.js";
import { commitmentOf } from "../../sdk/core/note.js";
import { hash2Wasm } from "../../sdk/core/poseidon-wasm.js";
import type { MerklePath } from "../../sdk/core/tree.js";
import { POSEIDON_LINK_KEY, POSEIDON_T2_LINK_KEY } from "../../scripts/lib/deploy.js";
import { deployPool, type NoteKeys, type OwnedNote, type Pool, type Proven, type ShieldedPayee } from "./pool.js";

/** Depth of a LeanIMT of `size` leaves: ceil(log2(size)), 0 for one leaf. */
export function depthOf(size: number): number {
  let d = 0;
  while (2 ** d < size) d++;
  return d;
}

/**
 * A LeanIMT (zk-kit's shape: a node without a right sibling is carried up unchanged)
 * whose first `fillerCount` leaves all equal `filler` and whose last leaves are `tail`.
 * A complete subtree of filler leaves at height h has root F_h (F_0 = filler,
 * F_{h+1} = H(F_h, F_h)), computed once; only nodes that cover a tail leaf are hashed
 * (and memoised), so a tree of 2^24 leaves costs about depth * (tail + 2) hashes.
 */
export class SparseLeanTree {
  readonly size: number;
  readonly depth: number;
  readonly #fillers: bigint[];
  readonly #memo: Map<number, bigint>[];

  constructor(
    readonly fillerCount: number,
    readonly filler: bigint,
    readonly tail: readonly bigint[],
    readonly hash: (a: bigint, b: bigint) => bigint = hash2Wasm,
  ) {
    this.size = fillerCount + tail.length;
    if (this.size === 0) throw new Error("SparseLeanTree: empty tree");
    this.depth = depthOf(this.size);
    this.#fillers = [filler];
    for (let h = 0; h < this.depth; h++) this.#fillers.push(hash(this.#fillers[h]!, this.#fillers[h]!));
    this.#memo = Array.from({ length: this.depth + 1 }, () => new Map<number, bigint>());
  }

  /** Number of nodes at height `level` (ceil(size / 2^level)). */
  count(level: number): number {
    return Math.ceil(this.size / 2 ** level);
  }

  /** Node `index` at height `level` (0 = leaves). */
  node(level: number, index: number): bigint {
    if (index < 0 || index >= this.count(level)) throw new Error(`no node ${index} at level ${level}`);
    // A complete subtree of filler leaves only.
    if ((index + 1) * 2 ** level <= this.fillerCount) return this.#fillers[level]!;
    if (level === 0) return this.tail[index - this.fillerCount]!;
    const memo = this.#memo[level]!;
    const hit = memo.get(index);
    if (hit !== undefined) return hit;
    const left = this.node(level - 1, 2 * index);
    const v = 2 * index + 1 < this.count(level - 1) ? this.hash(left, this.node(level - 1, 2 * index + 1)) : left;
    memo.set(index, v);
    return v;
  }

  get root(): bigint {
    return this.node(this.depth, 0);
  }

  /**
   * LeanIncrementalTree.sol's side nodes for this size: for each level l with bit l of
   * size set, the root of the complete subtree at level l with index (size >> l) - 1;
   * zero elsewhere (stale in the contract, never read). depth + 1 entries.
   */
  sideNodes(): bigint[] {
    const out: bigint[] = [];
    for (let l = 0; l <= this.depth; l++) {
      const e = Math.floor(this.size / 2 ** l);
      out.push(e % 2 === 1 ? this.node(l, e - 1) : 0n);
    }
    return out;
  }

  /**
   * Inclusion path of local leaf `index` in both forms of {@link MerklePath}: the
   * circuit's uncompressed one (hasSibling and siblings per level, MAX_TREE_DEPTH each)
   * and zk-kit's compressed one. `treeSize` is the global committed size the root is
   * recorded at: base + size for the current tree, (t + 1) * 2^levels for a full tree t,
   * which is tree `treeIndex`.
   */
  path(index: number, treeSize: number = this.size, treeIndex = 0): MerklePath {
    const hasSibling = new Array<boolean>(MAX_TREE_DEPTH).fill(false);
    const siblings = new Array<bigint>(MAX_TREE_DEPTH).fill(0n);
    const compressed: bigint[] = [];
    let indices = 0n;
    let local = index;
    for (let l = 0; l < this.depth; l++) {
      const sib = local ^ 1;
      if (sib < this.count(l)) {
        if (local & 1) indices |= 1n << BigInt(compressed.length);
        const v = this.node(l, sib);
        compressed.push(v);
        hasSibling[l] = true;
        siblings[l] = v;
      }
      local = Math.floor(local / 2);
    }
    const depth = compressed.length;
    while (compressed.length < MAX_TREE_DEPTH) compressed.push(0n);
    return {
      root: this.root,
      treeSize,
      treeIndex,
      leafIndex: index,
      hasSibling,
      siblings,
      depth,
      indices,
      compressedSiblings: compressed,
    };
  }
}

/** Filler leaf of big pools: a real commitment shape, owned by nobody the tests know. */
export const FILLER = commitmentOf({ value: 1n, owner: 0xf111e7n, blinding: 0x5ec7e7n });

/** A harness pool's tree: `filler` filler leaves, then `notes` (real notes) at its end. */
export interface BigTreeSpec {
  filler: number;
  /** Real notes appended after the filler leaves (their LeafInserted events exist). */
  notes: { value: bigint; secrets: NoteKeys }[];
}

/** What {@link writeBigPool} built. */
export interface BigPool {
  trees: SparseLeanTree[];
  /** Every real note, with its global leaf index. */
  notes: OwnedNote[];
  /** Global committed size. */
  committed: number;
  /** Path of a real note: against its tree's final root when the tree is full. */
  pathOf(note: OwnedNote): MerklePath;
}

/**
 * Writes trees 0..n-1 (every one but the last exactly 2^treeLevels leaves) into a
 * FacilitatorHarness: filler leaves are counted without events (harnessSkipLeaves),
 * real notes emit LeafInserted (harnessAppendLeaves), then the committed state is
 * written (harnessSetFinalRoot for earlier full trees, harnessSetTree for the last).
 * Mints the notes' total value to the pool so it can pay them out.
 */
export async function writeBigPool(pool: Pool, specs: BigTreeSpec[]): Promise<BigPool> {
  const harness = harnessOf(pool);
  const levels = Number(await harness.treeLevels());
  const capacity = 2 ** levels;
  const start = Number(await harness.leafCount());
  if (start !== 0 || Number(await harness.treeSize()) !== 0) throw new Error("writeBigPool: the pool must be empty");
  const trees: SparseLeanTree[] = [];
  const notes: OwnedNote[] = [];
  let base = 0;
  let total = 0n;
  for (const [t, spec] of specs.entries()) {
    const leaves = spec.notes.map((n) =>
      commitmentOf({ value: n.value, owner: n.secrets.owner, blinding: n.secrets.blinding }),
    );
    const size = spec.filler + leaves.length;
    if (size > capacity || (t < specs.length - 1 && size !== capacity)) {
      throw new Error(`writeBigPool: tree ${t} has ${size} leaves (capacity ${capacity}, earlier trees must be full)`);
    }
    if (spec.filler > 0) await (await harness.harnessSkipLeaves(spec.filler)).wait();
    for (let i = 0; i < leaves.length; i += 64) {
      await (await harness.harnessAppendLeaves(leaves.slice(i, i + 64), "0x")).wait();
    }
    spec.notes.forEach((n, i) => {
      notes.push({
        value: n.value,
        owner: n.secrets.owner,
        blinding: n.secrets.blinding,
        k: n.secrets.k,
        leafIndex: base + spec.filler + i,
      });
      total += n.value;
    });
    trees.push(new SparseLeanTree(spec.filler, FILLER, leaves));
    base += size;
  }
  for (let t = 0; t < trees.length - 1; t++) await (await harness.harnessSetFinalRoot(t, trees[t]!.root)).wait();
  const last = trees[trees.length - 1]!;
  await (await harness.harnessSetTree(base, last.depth, last.sideNodes(), last.root)).wait();
  if (total > 0n) await (await pool.token.mint(pool.facilitatorAddress, total)).wait();
  return {
    trees,
    notes,
    committed: base,
    pathOf(note: OwnedNote): MerklePath {
      const t = Math.floor(note.leafIndex / capacity);
      const tree = trees[t]!;
      const full = tree.size === capacity;
      return tree.path(note.leafIndex - t * capacity, full ? (t + 1) * capacity : base, t);
    },
  };
}

/** The pool's contract as a FacilitatorHarness (its harness functions). */
export function harnessOf(pool: Pool): HarnessContract {
  return pool.facilitator as unknown as HarnessContract;
}

/** The harness functions, typed loosely (the pool's contract type is the Facilitator's). */
export interface HarnessContract {
  treeLevels(): Promise<bigint>;
  leafCount(): Promise<bigint>;
  treeSize(): Promise<bigint>;
  harnessSkipLeaves(count: number | bigint): Promise<{ wait(): Promise<unknown> }>;
  harnessAppendLeaves(leaves: bigint[], memo: Hex): Promise<{ wait(): Promise<unknown> }>;
  harnessSetFinalRoot(t: number | bigint, root: bigint): Promise<{ wait(): Promise<unknown> }>;
  harnessSetTree(
    committedSize: number | bigint,
    depth: number,
    sideNodes: bigint[],
    root: bigint,
  ): Promise<{ wait(): Promise<unknown> }>;
}

/**
 * Replaces the harness's code with the production Facilitator's runtime code, deployed
 * with the same constructor arguments (so the immutables match) and the same libraries.
 * The storage layouts are identical (the harness adds no storage).
 */
export async function swapToProduction(ethers: HardhatEthers, pool: Pool): Promise<void> {
  const f = pool.facilitator;
  const real = await ethers.deployContract(
    "Facilitator",
    [
      await f.token(),
      await f.verifier(),
      await f.batchVerifier(),
      await f.rootHistorySize(),
      await f.treeLevels(),
      await f.sanctionsList(),
    ],
    {
      libraries: {
        [POSEIDON_LINK_KEY]: await pool.poseidon.getAddress(),
        [POSEIDON_T2_LINK_KEY]: await pool.poseidonT2.getAddress(),
      },
    },
  );
  await real.waitForDeployment();
  const code = await ethers.provider.getCode(await real.getAddress());
  await ethers.provider.send("hardhat_setCode", [pool.facilitatorAddress, code]);
  if ((await ethers.provider.getCode(pool.facilitatorAddress)) !== code) throw new Error("hardhat_setCode failed");
}

/**
 * A proof of paying `t` from `note` along `path` (any tree, e.g. a {@link SparseLeanTree}'s);
 * shielded with `opts.payee` (see {@link Pool.proveAt}).
 */
export async function proveWithPath(
  pool: Pool,
  note: OwnedNote,
  t: PaymentTerms,
  path: MerklePath,
  opts: { memo?: Hex; change?: NoteKeys; payee?: ShieldedPayee; payeeMemo?: Hex } = {},
): Promise<Proven> {
  return pool.proveAt(note, t, path, opts);
}

/** Storage slot of NotePool's `_queue` mapping (checked against a real pay in scale.test.ts). */
export const QUEUE_MAPPING_SLOT = 30n;

/** Storage key of queue slot `index % LEAF_QUEUE_CAPACITY`. */
export function queueStorageKey(index: number, capacity = 1024): Hex {
  const coder = AbiCoder.defaultAbiCoder();
  return keccak256(coder.encode(["uint256", "uint256"], [BigInt(index % capacity), QUEUE_MAPPING_SLOT])) as Hex;
}

/**
 * Appends `leaves` to a harness pool's QUEUE exactly as `pay` would leave them (not
 * committed): LeafInserted events and the leaf count through harnessAppendLeaves, the
 * queue slots written with hardhat_setStorageAt. A later commit hashes them for real.
 */
export async function queueLeaves(ethers: HardhatEthers, pool: Pool, leaves: bigint[]): Promise<void> {
  const harness = harnessOf(pool);
  const first = Number(await harness.leafCount());
  for (let i = 0; i < leaves.length; i += 128) {
    await (await harness.harnessAppendLeaves(leaves.slice(i, i + 128), "0x")).wait();
  }
  for (const [i, leaf] of leaves.entries()) {
    await ethers.provider.send("hardhat_setStorageAt", [
      pool.facilitatorAddress,
      queueStorageKey(first + i),
      toBeHex(leaf, 32),
    ]);
  }
}

/** A harness pool of one or more trees with real notes at the end of each, in production code. */
export interface BigPayPool {
  pool: Pool;
  big: BigPool;
}

/**
 * Deploys a FacilitatorHarness (root history and queue prewarmed) and writes trees of
 * `treeSizes[t]` leaves (all but the last = 2^treeLevels), the last `notesPerTree[t]` of
 * each being real notes of `noteValue`; optionally queues `queued` extra leaves; then
 * swaps in the production Facilitator's code.
 */
export async function bigPayPool(
  ethers: HardhatEthers,
  opts: {
    treeSizes: number[];
    notesPerTree: number[];
    noteValue: bigint;
    treeLevels?: number;
    queued?: bigint[];
    production?: boolean;
  },
): Promise<BigPayPool> {
  const pool = await deployPool(ethers, {
    contract: "FacilitatorHarness",
    prewarmRootHistory: true,
    treeLevels: opts.treeLevels,
  });
  const specs: BigTreeSpec[] = opts.treeSizes.map((size, t) => {
    const m = opts.notesPerTree[t] ?? 0;
    return {
      filler: size - m,
      notes: Array.from({ length: m }, () => ({ value: opts.noteValue, secrets: pool.freshSecrets() })),
    };
  });
  const big = await writeBigPool(pool, specs);
  if (opts.queued?.length) await queueLeaves(ethers, pool, opts.queued);
  if (opts.production !== false) await swapToProduction(ethers, pool);
  return { pool, big };
}
