import { parseAbi, toEventSelector, toHex, type Address, type Hex, type PublicClient } from "viem";

import { facilitatorAbi } from "../core/abi.js";
import { ZkPayError } from "../core/errors.js";
import type { WalletKeys } from "../core/keys.js";
import { decodeMemoValue, MEMO_LENGTH, parseMemo } from "../core/memo.js";
import { commitmentOf, nullifierHashOf, type NoteSecrets } from "../core/note.js";
import { MAX_TREE_DEPTH } from "../core/field.js";
import { NoteTree } from "../core/tree.js";
import type { NoteOrigin, NoteStore, StoredNote, WalletState } from "./store.js";

/**
 * Secrets of the wallet's notes, recomputed from the seed and each note's origin (never
 * stored: the note store is a cache that seed + chain rebuild). Memoised by nullifier
 * hash, which the secrets determine, so the cache stays valid whatever state it is
 * asked about.
 */
export class NoteDeriver {
  readonly keys: WalletKeys;
  readonly #cache = new Map<string, NoteSecrets>();
  /** Tags are hashes too: memoised so a sync of a long-lived wallet does not redo them all. */
  readonly #childTags = new Map<string, bigint>();
  readonly #depositTags = new Map<number, bigint>();

  constructor(keys: WalletKeys) {
    this.keys = keys;
  }

  /**
   * Secrets of `note`, walking change notes up to their deposit (iteratively: a chain of
   * thousands of payments is one loop, not a deep recursion). Every step is checked
   * against the stored nullifier hash, so a store written for another seed is refused.
   */
  secretsOf(note: StoredNote, byNullifier: ReadonlyMap<string, StoredNote>): NoteSecrets {
    const below: StoredNote[] = []; // notes still to derive, child last
    let cur: StoredNote = note;
    let s = this.#cache.get(cur.nullifierHash);
    while (!s) {
      const origin: NoteOrigin = cur.origin;
      if ("deposit" in origin) {
        s = this.#checked(cur, this.keys.depositSecrets(origin.deposit, BigInt(origin.salt)));
        break;
      }
      below.push(cur);
      const parent = byNullifier.get(origin.parent);
      if (!parent) {
        throw new ZkPayError(
          "note_store_corrupt",
          `note at leaf ${cur.leafIndex} names a parent note the store lacks`,
          {
            leafIndex: cur.leafIndex,
          },
        );
      }
      cur = parent;
      s = this.#cache.get(cur.nullifierHash);
    }
    for (let i = below.length - 1; i >= 0; i--) s = this.#checked(below[i]!, this.keys.changeSecrets(s));
    return s;
  }

  /** Remembers secrets found while scanning (already checked against their commitment). */
  remember(nullifierHash: string, s: NoteSecrets): void {
    this.#cache.set(nullifierHash, s);
  }

  /** Memo tag of deposit number `k`. */
  depositTag(k: number): bigint {
    let t = this.#depositTags.get(k);
    if (t === undefined) this.#depositTags.set(k, (t = this.keys.depositTag(k)));
    return t;
  }

  /** Memo tag of the change note that spending `note` creates. */
  childTagOf(note: StoredNote, byNullifier: ReadonlyMap<string, StoredNote>): bigint {
    let t = this.#childTags.get(note.nullifierHash);
    if (t === undefined) {
      t = this.keys.childTag(this.secretsOf(note, byNullifier));
      this.#childTags.set(note.nullifierHash, t);
    }
    return t;
  }

  /** The memo tag that `note` was published with. */
  tagOf(note: StoredNote, byNullifier: ReadonlyMap<string, StoredNote>): bigint {
    const o = note.origin;
    if ("deposit" in o) return this.depositTag(o.deposit);
    return this.childTagOf(byNullifier.get(o.parent)!, byNullifier);
  }

  #checked(note: StoredNote, s: NoteSecrets): NoteSecrets {
    if (nullifierHashOf(s).toString() !== note.nullifierHash) {
      throw new ZkPayError(
        "note_store_corrupt",
        `note at leaf ${note.leafIndex} does not derive from this seed (a store of another wallet?)`,
        { leafIndex: note.leafIndex },
      );
    }
    this.#cache.set(note.nullifierHash, s);
    return s;
  }
}

/** What a memo tag points to: deposit number k, or the change note of a known note. */
type TagHint = { deposit: number } | { parent: string; parentSecrets: NoteSecrets };

/**
 * Recognises the wallet's notes among new leaves, in leaf order, in one forward pass.
 *
 * The tag map starts with the tags of deposits k < nextDepositIndex + depositGapLimit
 * and the child tags of every note already owned. Each note found adds its own child
 * tag, so the change note it gets when it is spent is recognised when it appears later
 * (a change note is always inserted after its parent). Change notes need no look-ahead:
 * however many payments were abandoned, a note has at most one change note on chain.
 */
export class NoteScanner {
  readonly #state: WalletState;
  readonly #d: NoteDeriver;
  readonly #gap: number;
  readonly #tags = new Map<bigint, TagHint>();
  /** Tags of owned notes -> leaf index of the first note that carried it. */
  readonly #seenTags = new Map<bigint, number>();
  #depositTagsUpTo = 0;
  /** Owned notes by nullifier hash (kept up to date while scanning). */
  readonly owned: Map<string, StoredNote>;
  /** Anomalies found while scanning, to report once the sync is saved. */
  readonly warnings: ZkPayError[] = [];

  constructor(state: WalletState, deriver: NoteDeriver, depositGapLimit: number) {
    this.#state = state;
    this.#d = deriver;
    this.#gap = depositGapLimit;
    this.owned = new Map(state.notes.map((n) => [n.nullifierHash, n]));
    this.#extendDeposits();
    for (const n of state.notes) {
      const s = this.#d.secretsOf(n, this.owned);
      this.#tags.set(this.#d.childTagOf(n, this.owned), { parent: n.nullifierHash, parentSecrets: s });
      const tag = this.#d.tagOf(n, this.owned);
      if (!this.#seenTags.has(tag)) this.#seenTags.set(tag, n.leafIndex);
    }
  }

  /** Checks leaf `index` (already appended to the tree) and records it if it is ours. */
  scan(index: number, commitment: bigint, memo: Hex): void {
    // Most leaves are someone else's: look the tag up before parsing the rest.
    if (memo.length !== 2 + MEMO_LENGTH * 2) return;
    const hint = this.#tags.get(BigInt(`0x${memo.slice(2, 66)}`));
    if (!hint) return;
    const parts = parseMemo(memo)!;
    const keys = this.#d.keys;
    const isDeposit = "deposit" in hint;
    // A deposit's salt travels as its memo nonce; a change note derives from its parent.
    const secrets = isDeposit ? keys.depositSecrets(hint.deposit, parts.nonce) : keys.changeSecrets(hint.parentSecrets);
    const value = decodeMemoValue(parts, secrets);
    // The memo is only a hint (anyone can copy a tag): the note is ours only if it opens.
    if (commitmentOf(value, secrets) !== commitment) return;
    const nullifierHash = nullifierHashOf(secrets).toString();

    const first = this.owned.get(nullifierHash);
    if (first) {
      // Cannot happen with salted deposits and parent-derived change; it takes the same
      // note deposited twice (e.g. someone re-depositing a public precommitment). Only one
      // of the two can ever be spent, so the second is not added to the balance.
      this.#state.warnings.duplicateNullifiers++;
      this.warnings.push(
        new ZkPayError(
          "duplicate_note_nullifier",
          `leaf ${index} opens as a note with the nullifier of leaf ${first.leafIndex}: only one of them can be spent, the second is ignored`,
          { leafIndex: index, firstLeafIndex: first.leafIndex, nullifierHash },
        ),
      );
      return;
    }
    const firstWithTag = this.#seenTags.get(parts.tag);
    if (firstWithTag !== undefined) {
      // Two of our notes with one tag: two deposits that got the same index (two
      // processes sharing the seed, or a restore while a signed deposit was in flight).
      // Their salts keep them distinct notes, both spendable; the shared tag links them.
      this.#state.warnings.duplicateTags++;
      this.warnings.push(
        new ZkPayError(
          "duplicate_note_tag",
          `leaf ${index} carries the memo tag of leaf ${firstWithTag}` +
            (isDeposit ? ` (two deposits with index ${hint.deposit}: do two processes share this seed?)` : "") +
            "; both notes are kept, but an observer with the tag can link them",
          { leafIndex: index, firstLeafIndex: firstWithTag, tag: `0x${parts.tag.toString(16).padStart(64, "0")}` },
        ),
      );
    } else this.#seenTags.set(parts.tag, index);

    const origin: NoteOrigin = isDeposit
      ? { deposit: hint.deposit, salt: parts.nonce.toString() }
      : { parent: hint.parent };
    const note: StoredNote = {
      origin,
      value: value.toString(),
      leafIndex: index,
      commitment: commitment.toString(),
      nullifierHash,
      spent: false,
    };
    this.#state.notes.push(note);
    this.owned.set(nullifierHash, note);
    this.#d.remember(nullifierHash, secrets);
    this.#tags.set(keys.childTag(secrets), { parent: nullifierHash, parentSecrets: secrets });
    if (isDeposit && hint.deposit >= this.#state.nextDepositIndex) {
      this.#state.nextDepositIndex = hint.deposit + 1;
      this.#extendDeposits();
    }
  }

  #extendDeposits(): void {
    const upTo = this.#state.nextDepositIndex + this.#gap;
    for (let k = this.#depositTagsUpTo; k < upTo; k++) {
      const tag = this.#d.depositTag(k);
      // A deposit tag never equals a child tag (different purposes): no hint is overwritten.
      this.#tags.set(tag, { deposit: k });
    }
    this.#depositTagsUpTo = Math.max(this.#depositTagsUpTo, upTo);
  }
}

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

/**
 * What the wallet remembers between pages and syncs about its RPC's `eth_getLogs`
 * limits. Mutated by {@link syncState}.
 */
export interface LogRangeState {
  /** Largest block range known to be accepted (lowered when the RPC refuses a range). */
  maxBlocks: number;
  /** Block range of the last page (the next sync starts there; default 1, then doubling). */
  span?: number;
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

const LEAF_TOPIC = toEventSelector("event LeafInserted(uint256 indexed leafIndex, uint256 commitment, bytes memo)");
const RECEIPT_TOPIC = toEventSelector(
  "event PaymentReceipt(bytes32 indexed id, uint256 amount, bytes32 indexed conditionHash, address indexed payTo, address relayer, uint256 fee)",
);
const treeLevelsAbi = parseAbi(["function treeLevels() view returns (uint256)"]);

interface RawLog {
  topics: Hex[];
  data: Hex;
  blockNumber: Hex;
  logIndex: Hex;
  removed?: boolean;
}

/**
 * Whether `err` is an RPC refusing an `eth_getLogs` range as too wide or too rich
 * (Alchemy, Infura, QuickNode, Base's public RPC and others word it differently).
 *
 * @example
 * if (isLogRangeError(err)) span = Math.floor(span / 2);
 */
export function isLogRangeError(err: unknown): boolean {
  const texts: string[] = [];
  const codes: number[] = [];
  for (let e = err as Record<string, unknown> | undefined, depth = 0; e && depth < 8; depth++) {
    // viem's HTTP transport refuses bodies over 10 MB: a smaller range fits.
    if (e.name === "ResponseBodyTooLargeError") return true;
    if (typeof e.code === "number") codes.push(e.code);
    for (const k of ["details", "shortMessage", "message"]) if (typeof e[k] === "string") texts.push(e[k]);
    e = e.cause as Record<string, unknown> | undefined;
  }
  const text = texts.join(" | ");
  const wording =
    /more than \d+ (results|logs)|block range|range (is )?too (wide|large|big)|exceed(s|ed)? (the )?max(imum)? (block )?range|range limit|too many (results|logs|blocks)|response size (exceed|is larger)|limited to a [\d,]+ (block )?range|query timeout|returned more than/i.test(
      text,
    );
  if (codes.includes(-32005) || codes.includes(-32614)) return true;
  if (codes.includes(-32602) || codes.includes(-32000) || codes.includes(-32600)) return wording;
  return wording && codes.length === 0;
}

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

/**
 * Fetches logs of the pool in `[from, to]`, halving the range while the RPC refuses it
 * as too wide (down to one block) and recording the range that worked in `limits`.
 */
async function fetchLogs(
  publicClient: PublicClient,
  facilitator: Address,
  from: number,
  to: number,
  limits: LogRangeState,
): Promise<{ from: number; to: number; logs: RawLog[] }> {
  for (;;) {
    const params = [
      { address: facilitator, fromBlock: toHex(from), toBlock: toHex(to), topics: [[LEAF_TOPIC, RECEIPT_TOPIC]] },
    ];
    try {
      // No transport retries here: a refused range is answered by a smaller one, now.
      const logs = (await publicClient.request(
        { method: "eth_getLogs", params: params as never },
        { retryCount: 0 },
      )) as unknown as RawLog[];
      return { from, to, logs };
    } catch (err) {
      if (!isLogRangeError(err)) {
        // Anything else gets the transport's usual retries once.
        const logs = (await publicClient.request({
          method: "eth_getLogs",
          params: params as never,
        })) as unknown as RawLog[];
        return { from, to, logs };
      }
      if (to === from) {
        throw new ZkPayError(
          "rpc_error",
          `the RPC refuses eth_getLogs even for the single block ${from}: use an RPC without a result cap`,
          { block: from },
          { cause: err },
        );
      }
      to = from + Math.floor((to - from + 1) / 2) - 1;
      limits.maxBlocks = to - from + 1;
    }
  }
}

/** 32-byte big-endian hex (64 digits, no 0x) -> little-endian bytes at out[off..]. */
function hexWordToLE(hex: string, start: number, out: Uint8Array, off: number): void {
  for (let i = 0; i < 32; i++) {
    const p = start + 62 - 2 * i;
    out[off + i] = (hexDigit(hex.charCodeAt(p)) << 4) | hexDigit(hex.charCodeAt(p + 1));
  }
}
function hexDigit(c: number): number {
  return c <= 57 ? c - 48 : (c | 0x20) - 87;
}

/**
 * Pulls `LeafInserted` and `PaymentReceipt` events since `state.syncedBlock` in pages of
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
      if (log.topics[0] === RECEIPT_TOPIC) {
        // The receipt id is the spent note's nullifier hash.
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
      scanner.scan(index, BigInt(d.slice(0, 66)), memo);
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

/** Saves `tree` where the store keeps trees (before the state that names it is saved). */
export async function saveTree(store: NoteStore, tree: NoteTree): Promise<void> {
  await store.saveTree?.(tree.serializeParts());
}
