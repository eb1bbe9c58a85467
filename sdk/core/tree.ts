import { LeanIMT } from "@zk-kit/lean-imt";

import { ZkPayError } from "./errors.js";
import { MAX_TREE_DEPTH } from "./field.js";
import { hash2 } from "./poseidon.js";

/** Inclusion path in the form the payment circuit takes. */
export interface MerklePath {
  root: bigint;
  /** Number of leaves when `root` was current (locates it in the contract's history). */
  treeSize: number;
  depth: number;
  indices: bigint;
  /** Exactly MAX_TREE_DEPTH entries, zero-padded above `depth`. */
  siblings: bigint[];
}

/**
 * Client-side mirror of the pool's note tree (a LeanIMT, same shape as the contract's
 * LeanIncrementalTree), rebuilt from `LeafInserted` events.
 *
 * @example
 * const tree = new NoteTree();
 * tree.insert(commitment);
 * const path = tree.path(0);
 */
export class NoteTree {
  readonly #tree = new LeanIMT<bigint>((a, b) => hash2(a, b));

  /** Builds a tree from leaves in index order. */
  static from(leaves: readonly bigint[]): NoteTree {
    const t = new NoteTree();
    if (leaves.length > 0) t.#tree.insertMany([...leaves]);
    return t;
  }

  get size(): number {
    return this.#tree.size;
  }

  get root(): bigint {
    return this.#tree.size === 0 ? 0n : this.#tree.root;
  }

  get depth(): number {
    return this.#tree.depth;
  }

  /** Appends one leaf. */
  insert(leaf: bigint): void {
    this.#tree.insert(leaf);
  }

  /** Appends leaves in order. */
  insertMany(leaves: readonly bigint[]): void {
    if (leaves.length > 0) this.#tree.insertMany([...leaves]);
  }

  /** Leaf at `index`. */
  leaf(index: number): bigint {
    return this.#tree.leaves[index] as bigint;
  }

  /** Inclusion path of leaf `index` against the current root. */
  path(index: number): MerklePath {
    if (!Number.isInteger(index) || index < 0 || index >= this.#tree.size) {
      throw new ZkPayError("invalid_argument", `leaf ${index} is not in the tree (size ${this.#tree.size})`);
    }
    const p = this.#tree.generateProof(index);
    if (p.siblings.length > MAX_TREE_DEPTH) {
      throw new ZkPayError("invalid_argument", `tree deeper than ${MAX_TREE_DEPTH}`);
    }
    const siblings = [...p.siblings];
    while (siblings.length < MAX_TREE_DEPTH) siblings.push(0n);
    return { root: p.root, treeSize: this.#tree.size, depth: p.siblings.length, indices: BigInt(p.index), siblings };
  }
}
