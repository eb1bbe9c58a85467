import { ZkPayError } from "./errors.js";
import { MAX_TREE_DEPTH } from "./field.js";
import { hash2Wasm, hashPairsLE, readLE, writeLE } from "./poseidon-wasm.js";

/**
 * Inclusion path of a committed leaf, in two forms: the uncompressed one the payment
 * circuit takes (`leafIndex`, `hasSibling`, `siblings`: one entry per level, so that the
 * leaf's position, which the nullifier binds, never changes as the tree grows), and
 * zk-kit's compressed LeanIMT proof (`depth`, `indices`, `compressedSiblings`).
 */
export interface MerklePath {
  root: bigint;
  /**
   * Global number of committed leaves when `root` was current (locates it in the
   * contract's history): the pool's committed size for the current tree, or
   * (t + 1) * 2^levels for a full tree t proven against its final root.
   */
  treeSize: number;
  /** The tree holding the leaf: global index >> levels (= (treeSize - 1) >> levels). */
  treeIndex: number;
  /** The leaf's position inside its tree: global index & (2^levels - 1). */
  leafIndex: number;
  /**
   * Exactly MAX_TREE_DEPTH entries: whether the leaf's ancestor at level l has a sibling
   * (hashed with it) or not (carried up unchanged: the last node of a level with an odd
   * number of nodes, and every level above the tree's depth). A right child always has one.
   */
  hasSibling: boolean[];
  /** Exactly MAX_TREE_DEPTH entries: the sibling at level l, 0 where `hasSibling[l]` is false. */
  siblings: bigint[];
  /** Number of levels with a sibling (the compressed proof's length). */
  depth: number;
  /** zk-kit's compressed index: bit k says whether the k-th hashed level is a right child. */
  indices: bigint;
  /** The siblings of the hashed levels only, in order, zero-padded to MAX_TREE_DEPTH (zk-kit's proof). */
  compressedSiblings: bigint[];
}

/** What a wallet state records about its tree (to check a persisted tree against). */
export interface TreeSummary {
  levels: number;
  /** Leaves committed into the forest (the pool's `treeSize()`). */
  committed: number;
  /** Leaves seen, committed or queued (the pool's `leafCount()`). */
  leafCount: number;
  /** Decimal root of the tree holding the last committed leaf ("0" when empty). */
  root: string;
}

const MAGIC = [0x34, 0x30, 0x32, 0x7a, 0x6b, 0x4e, 0x54, 0x31]; // "402zkNT1"
const HEADER = 8 + 4 + 4 + 8 + 8 + 32;

/** A growable array of 32-byte little-endian field elements. */
class NodeArray {
  bytes: Uint8Array;
  length = 0;
  constructor(capacity = 0) {
    this.bytes = new Uint8Array(capacity * 32);
  }
  reserve(n: number): void {
    if (n * 32 <= this.bytes.length) return;
    const next = new Uint8Array(Math.max(n, Math.ceil((this.bytes.length / 32) * 1.5), 16) * 32);
    next.set(this.bytes.subarray(0, this.length * 32));
    this.bytes = next;
  }
  get(i: number): bigint {
    return readLE(this.bytes, i * 32);
  }
}

/**
 * Client-side mirror of the pool's note forest, rebuilt from `LeafInserted` events.
 *
 * The pool holds a sequence of LeanIMTs (the contract's LeanIncrementalTree: a node
 * without a right sibling is carried up unchanged, identical to @zk-kit/lean-imt) of
 * 2^levels leaves each: global leaf g lives in tree g >> levels. Leaves are first
 * appended to a queue ({@link NoteTree.append}) and proven only once committed
 * ({@link NoteTree.commit}), as the pool commits them in batches.
 *
 * Storage: the complete nodes of every level, 32 bytes each (little-endian), in one
 * growable buffer per level; a complete node never changes, so appending hashes only
 * the new nodes (in WebAssembly, a level at a time) and the last, partial node of each
 * level of the current tree is recomputed from them (at most `levels` hashes).
 * {@link NoteTree.serialize} writes exactly these bytes; {@link NoteTree.deserialize}
 * reads them back without hashing the leaves again.
 *
 * @example
 * const tree = new NoteTree();       // 2^24 leaves per tree
 * tree.insert(commitment);           // append and commit
 * const path = tree.path(0);
 */
export class NoteTree {
  /** Levels per tree (the pool's `treeLevels()`): each tree holds 2^levels leaves. */
  readonly levels: number;
  /** nodes[l]: complete nodes of height l, global index (floor(committed / 2^l) of them). */
  readonly #nodes: NodeArray[];
  readonly #queue = new NodeArray();
  #committed = 0;
  /** edge[l]: the last node of height l of the current partial tree (undefined when none). */
  #edge: (bigint | undefined)[] = [];
  /** Leaves hashed since construction (restores hash none). */
  #hashes = 0;

  constructor(levels: number = MAX_TREE_DEPTH) {
    if (!Number.isInteger(levels) || levels < 0 || levels > MAX_TREE_DEPTH) {
      throw new ZkPayError(
        "invalid_argument",
        `tree levels must be an integer in [0, ${MAX_TREE_DEPTH}], got ${levels}`,
      );
    }
    this.levels = levels;
    this.#nodes = Array.from({ length: levels + 1 }, () => new NodeArray());
  }

  /** Builds a forest from leaves in index order, all committed. */
  static from(leaves: readonly bigint[], levels: number = MAX_TREE_DEPTH): NoteTree {
    const t = new NoteTree(levels);
    t.insertMany(leaves);
    return t;
  }

  /** Leaves committed (compatibility name for {@link NoteTree.committedSize}). */
  get size(): number {
    return this.#committed;
  }

  /** Leaves committed into the forest: only these can be proven. */
  get committedSize(): number {
    return this.#committed;
  }

  /** Leaves seen: committed plus queued. */
  get leafCount(): number {
    return this.#committed + this.#queue.length;
  }

  /** Leaves appended but not committed yet (not spendable). */
  get queuedCount(): number {
    return this.#queue.length;
  }

  /** Two-to-one hashes computed by this instance (a restored tree computes none for its leaves). */
  get hashCount(): number {
    return this.#hashes;
  }

  /** Number of trees holding at least one committed leaf. */
  get treeCount(): number {
    return this.#committed === 0 ? 0 : ((this.#committed - 1) >> this.levels) + 1;
  }

  /** Root of the tree holding the last committed leaf (the pool's `currentRoot()`); 0 when empty. */
  get root(): bigint {
    if (this.#committed === 0) return 0n;
    const t = this.treeCount - 1;
    const local = this.#committed - t * 2 ** this.levels;
    if (local === 2 ** this.levels) return this.#nodes[this.levels]!.get(t);
    return this.#edge[depthOf(local)]!;
  }

  /** Depth of the tree holding the last committed leaf. */
  get depth(): number {
    if (this.#committed === 0) return 0;
    const t = this.treeCount - 1;
    return depthOf(this.#committed - t * 2 ** this.levels);
  }

  /** Final root of full tree `t` (the pool's `finalRoot(t)`). */
  finalRoot(t: number): bigint {
    if (!Number.isInteger(t) || t < 0 || t >= this.#nodes[this.levels]!.length) {
      throw new ZkPayError("invalid_argument", `tree ${t} is not full`);
    }
    return this.#nodes[this.levels]!.get(t);
  }

  /**
   * Complete node of height `level` at global position `index` (covering leaves
   * index * 2^level .. (index + 1) * 2^level - 1, all committed).
   */
  node(level: number, index: number): bigint {
    const nodes = this.#nodes[level];
    if (!nodes || !Number.isInteger(index) || index < 0 || index >= nodes.length) {
      throw new ZkPayError("invalid_argument", `no complete node ${index} at height ${level}`);
    }
    return nodes.get(index);
  }

  /** What a wallet state records about this tree. */
  summary(): TreeSummary {
    return { levels: this.levels, committed: this.#committed, leafCount: this.leafCount, root: this.root.toString() };
  }

  /** Allocates room for `leaves` leaves in all (avoids growing the buffers while syncing). */
  reserve(leaves: number): void {
    for (let l = 0; l <= this.levels; l++) this.#nodes[l]!.reserve(Math.floor(leaves / 2 ** l));
  }

  /** Appends one leaf and commits it. */
  insert(leaf: bigint): void {
    this.insertMany([leaf]);
  }

  /** Appends leaves in order and commits them. */
  insertMany(leaves: readonly bigint[]): void {
    this.append(leaves);
    this.commit(this.leafCount);
  }

  /** Appends leaves to the queue (seen, not committed). */
  append(leaves: readonly bigint[]): void {
    const q = this.#queue;
    q.reserve(q.length + leaves.length);
    for (const leaf of leaves) writeLE(q.bytes, q.length++ * 32, leaf);
  }

  /** Appends leaves given as 32-byte little-endian words (`bytes.length / 32` of them). */
  appendBytes(bytes: Uint8Array): void {
    const q = this.#queue;
    const n = bytes.length >> 5;
    q.reserve(q.length + n);
    q.bytes.set(bytes.subarray(0, n * 32), q.length * 32);
    q.length += n;
  }

  /** Commits queued leaves until `committedSize` is `upTo` (the pool's `treeSize()`). */
  commit(upTo: number): void {
    const from = this.#committed;
    if (upTo === from) return;
    if (!Number.isInteger(upTo) || upTo < from || upTo > this.leafCount) {
      throw new ZkPayError(
        "stale_tree",
        `cannot commit up to ${upTo} leaves: ${from} committed, ${this.leafCount} seen`,
        { committed: from, leafCount: this.leafCount, upTo },
      );
    }
    const n = upTo - from;
    const q = this.#queue;
    const l0 = this.#nodes[0]!;
    l0.reserve(upTo);
    l0.bytes.set(q.bytes.subarray(0, n * 32), from * 32);
    l0.length = upTo;
    q.bytes.copyWithin(0, n * 32, q.length * 32);
    q.length -= n;
    for (let l = 0; l < this.levels; l++) {
      const below = this.#nodes[l]!;
      const above = this.#nodes[l + 1]!;
      const want = Math.floor(upTo / 2 ** (l + 1));
      const have = above.length;
      if (want === have) {
        // No new complete node here, so none above either.
        break;
      }
      above.reserve(want);
      hashPairsLE(below.bytes, above.bytes, want - have, have * 64, have * 32);
      this.#hashes += want - have;
      above.length = want;
    }
    this.#committed = upTo;
    this.#updateEdge();
  }

  /**
   * Rolls back to an earlier state: `committed` leaves committed and `leafCount` seen
   * (leaves committed since move back to the queue). Used to drop a failed sync.
   */
  truncate(committed: number, leafCount: number): void {
    if (committed > this.#committed || leafCount > this.leafCount || committed > leafCount) {
      throw new ZkPayError("invalid_argument", `cannot roll the tree forward to ${committed}/${leafCount}`);
    }
    const keptQueue = leafCount - committed;
    const fresh = new Uint8Array(keptQueue * 32);
    const fromLevel0 = Math.min(keptQueue, this.#committed - committed);
    fresh.set(this.#nodes[0]!.bytes.subarray(committed * 32, (committed + fromLevel0) * 32));
    fresh.set(this.#queue.bytes.subarray(0, (keptQueue - fromLevel0) * 32), fromLevel0 * 32);
    this.#queue.length = 0;
    this.appendBytes(fresh);
    for (let l = 0; l <= this.levels; l++) {
      const nodes = this.#nodes[l]!;
      nodes.length = Math.min(nodes.length, Math.floor(committed / 2 ** l));
    }
    this.#committed = committed;
    this.#updateEdge();
  }

  /** Leaf at global `index` (committed or queued). */
  leaf(index: number): bigint {
    if (!Number.isInteger(index) || index < 0 || index >= this.leafCount) {
      throw new ZkPayError("invalid_argument", `leaf ${index} is not in the tree (${this.leafCount} leaves)`);
    }
    return index < this.#committed ? this.#nodes[0]!.get(index) : this.#queue.get(index - this.#committed);
  }

  /**
   * Inclusion path of committed leaf `index`: against its tree's final root when that
   * tree is full, else against the current root.
   */
  path(index: number): MerklePath {
    if (!Number.isInteger(index) || index < 0 || index >= this.#committed) {
      throw new ZkPayError(
        "invalid_argument",
        index >= this.#committed && index < this.leafCount
          ? `leaf ${index} is queued, not committed yet (${this.#committed} committed)`
          : `leaf ${index} is not in the tree (${this.#committed} committed)`,
        { leafIndex: index, committed: this.#committed },
      );
    }
    const L = this.levels;
    const t = Math.floor(index / 2 ** L);
    const base = t * 2 ** L;
    const full = this.#committed >= base + 2 ** L;
    const size = full ? 2 ** L : this.#committed - base;
    const depth = depthOf(size);
    if (depth > MAX_TREE_DEPTH) throw new ZkPayError("invalid_argument", `tree deeper than ${MAX_TREE_DEPTH}`);
    const compressed: bigint[] = [];
    const hasSibling: boolean[] = new Array<boolean>(MAX_TREE_DEPTH).fill(false);
    const siblings: bigint[] = new Array<bigint>(MAX_TREE_DEPTH).fill(0n);
    let indices = 0n;
    const leafIndex = index - base;
    let local = leafIndex;
    for (let l = 0; l < depth; l++) {
      // LeanIMT: level l has ceil(size / 2^l) nodes; our node has a sibling unless it is
      // the last node of an odd-sized level (then it is a left child, carried up as is).
      const count = Math.ceil(size / 2 ** l);
      const sib = local ^ 1;
      if (sib < count) {
        const complete = Math.floor(size / 2 ** l);
        const v = sib < complete ? this.#nodes[l]!.get(base / 2 ** l + sib) : this.#edge[l]!;
        if (local & 1) indices |= 1n << BigInt(compressed.length);
        compressed.push(v);
        hasSibling[l] = true;
        siblings[l] = v;
      }
      local = Math.floor(local / 2);
    }
    const pathDepth = compressed.length;
    while (compressed.length < MAX_TREE_DEPTH) compressed.push(0n);
    return {
      root: full ? this.#nodes[L]!.get(t) : this.#edge[depth]!,
      treeSize: full ? base + 2 ** L : this.#committed,
      treeIndex: t,
      leafIndex,
      hasSibling,
      siblings,
      depth: pathDepth,
      indices,
      compressedSiblings: compressed,
    };
  }

  /**
   * Compact binary form: header (magic "402zkNT1", version, levels, committed, queued,
   * root), then the complete nodes of each level and the queued leaves, 32 bytes each.
   */
  serialize(): Uint8Array {
    const parts = this.serializeParts();
    const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
    let off = 0;
    for (const p of parts) {
      out.set(p, off);
      off += p.length;
    }
    return out;
  }

  /**
   * {@link NoteTree.serialize}'s bytes as a list of parts, without copying the nodes
   * (views of the live buffers: write them out before the tree changes again).
   */
  serializeParts(): Uint8Array[] {
    const header = new Uint8Array(HEADER);
    const dv = new DataView(header.buffer);
    header.set(MAGIC, 0);
    dv.setUint32(8, 1, true);
    dv.setUint32(12, this.levels, true);
    dv.setBigUint64(16, BigInt(this.#committed), true);
    dv.setBigUint64(24, BigInt(this.#queue.length), true);
    writeLE(header, 32, this.root);
    return [header, ...[...this.#nodes, this.#queue].map((n) => n.bytes.subarray(0, n.length * 32))];
  }

  /** Reads {@link NoteTree.serialize}'s bytes (no leaf is hashed again). */
  static deserialize(bytes: Uint8Array): NoteTree {
    const bad = (why: string) => new ZkPayError("note_store_corrupt", `tree file is invalid: ${why}`);
    if (bytes.length < HEADER || MAGIC.some((b, i) => bytes[i] !== b)) throw bad("not a 402zk tree");
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (dv.getUint32(8, true) !== 1) throw bad("unknown version");
    const levels = dv.getUint32(12, true);
    if (levels > MAX_TREE_DEPTH) throw bad(`levels ${levels}`);
    const committed = Number(dv.getBigUint64(16, true));
    const queued = Number(dv.getBigUint64(24, true));
    const t = new NoteTree(levels);
    let off = HEADER;
    for (let l = 0; l <= levels; l++) {
      const n = Math.floor(committed / 2 ** l);
      const nodes = t.#nodes[l]!;
      if (off + n * 32 > bytes.length) throw bad("truncated");
      nodes.bytes = bytes.slice(off, off + n * 32);
      nodes.length = n;
      off += n * 32;
    }
    if (off + queued * 32 !== bytes.length) throw bad("wrong length");
    t.#queue.bytes = bytes.slice(off);
    t.#queue.length = queued;
    t.#committed = committed;
    t.#updateEdge();
    if (t.root !== readLE(bytes, 32)) throw bad("root does not match its nodes");
    return t;
  }

  /** Recomputes the partial right edge of the current tree (at most `levels` hashes). */
  #updateEdge(): void {
    const L = this.levels;
    const edge: (bigint | undefined)[] = [];
    const local = this.#committed % 2 ** L;
    if (local !== 0) {
      const t = Math.floor(this.#committed / 2 ** L);
      const base = t * 2 ** L;
      const depth = depthOf(local);
      edge[0] = this.#nodes[0]!.get(this.#committed - 1);
      for (let l = 0; l < depth; l++) {
        const last = Math.ceil(local / 2 ** l) - 1; // index of the last node of height l
        if (last & 1) {
          if (last < Math.floor(local / 2 ** l)) {
            // Both children complete: the parent is complete too and already stored.
            edge[l + 1] = this.#nodes[l + 1]!.get(base / 2 ** (l + 1) + (last >> 1));
          } else {
            edge[l + 1] = hash2Wasm(this.#nodes[l]!.get(base / 2 ** l + last - 1), edge[l]!);
            this.#hashes++;
          }
        } else {
          edge[l + 1] = edge[l];
        }
      }
    }
    this.#edge = edge;
  }
}

/** Depth of a LeanIMT of `size` leaves: ceil(log2(size)), 0 for one leaf. */
function depthOf(size: number): number {
  let d = 0;
  while (2 ** d < size) d++;
  return d;
}
