import type { Hex } from "viem";

import { ZkPayError } from "../../core/errors.js";
import type { WalletKeys } from "../../core/keys.js";
import { decodeMemoValue, MEMO_LENGTH, parseMemo } from "../../core/memo.js";
import { commitmentOf, nullifierHashOf, type NoteSecrets } from "../../core/note.js";
import type { NoteOrigin, StoredNote, WalletState } from "../store.js";

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
