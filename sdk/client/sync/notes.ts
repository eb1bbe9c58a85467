import type { Hex } from "viem";

import { ZkPayError } from "../../core/errors.js";
import type { WalletKeys } from "../../core/keys.js";
import { decodeMemoValue, MEMO_LENGTH, parseMemo } from "../../core/memo.js";
import { decryptNote, PAYEE_MEMO_LENGTH, type X25519Fn } from "../../core/note-encryption.js";
import { commitmentOf, notePosition, nullifierHashOf, type NoteOpening } from "../../core/note.js";
import type { NoteOrigin, StoredNote, WalletState } from "../store.js";

/**
 * The wallet's keys as the chain scan uses them: memo tags (memoised: a sync of a
 * long-lived wallet would otherwise redo thousands of hashes), nullifier hashes at a
 * leaf's position, and the check that a stored note belongs to this seed.
 */
export class NoteDeriver {
  readonly keys: WalletKeys;
  /** Levels per tree of the pool (a leaf's position, and so its nullifier, depends on it). */
  readonly treeLevels: number;
  /** The viewing key's X25519 (node:crypto on Node, noble elsewhere): trial decryption. */
  readonly x25519: X25519Fn | undefined;
  readonly #viewingKey: Uint8Array;
  readonly #ownerKey: string;
  readonly #changeTags = new Map<string, bigint>();
  readonly #refundTags = new Map<string, bigint>();
  readonly #depositTags = new Map<number, bigint>();

  constructor(keys: WalletKeys, treeLevels: number, x25519?: X25519Fn) {
    this.keys = keys;
    this.treeLevels = treeLevels;
    this.x25519 = x25519;
    this.#viewingKey = keys.viewingKey();
    this.#ownerKey = keys.ownerKey.toString();
  }

  /** The nullifier hash of our note with `commitment` at global leaf `leafIndex`. */
  nullifierHashAt(commitment: bigint, leafIndex: number): bigint {
    return nullifierHashOf(this.keys.nullifyingKey, commitment, notePosition(leafIndex, this.treeLevels));
  }

  /** The opening of a stored note (its value, owner and blinding). */
  openingOf(note: StoredNote): NoteOpening {
    return { value: BigInt(note.value), owner: BigInt(note.owner), blinding: BigInt(note.blinding) };
  }

  /**
   * Throws `note_store_corrupt` unless `note` is owned by this seed's owner key, opens to
   * its commitment and carries this seed's nullifier hash at its position: a store written
   * for another seed (or damaged) is refused before any payment uses it.
   */
  check(note: StoredNote): void {
    let ok = note.owner === this.#ownerKey;
    if (ok) {
      const c = commitmentOf(this.openingOf(note));
      ok =
        c.toString() === note.commitment && this.nullifierHashAt(c, note.leafIndex).toString() === note.nullifierHash;
    }
    if (!ok) {
      throw new ZkPayError(
        "note_store_corrupt",
        `note at leaf ${note.leafIndex} is not owned by this seed (a store of another wallet?)`,
        { leafIndex: note.leafIndex },
      );
    }
  }

  /** Memo tag of deposit number `k`. */
  depositTag(k: number): bigint {
    let t = this.#depositTags.get(k);
    if (t === undefined) this.#depositTags.set(k, (t = this.keys.depositTag(k)));
    return t;
  }

  /** Memo tag of the change note that spending the note with this nullifier hash creates. */
  changeTag(nullifierHash: string): bigint {
    let t = this.#changeTags.get(nullifierHash);
    if (t === undefined) {
      t = this.keys.changeTag(BigInt(nullifierHash));
      this.#changeTags.set(nullifierHash, t);
    }
    return t;
  }

  /** Memo tag of the refund note of an escrowed payment that spends the note with this nullifier hash. */
  refundTag(nullifierHash: string): bigint {
    let t = this.#refundTags.get(nullifierHash);
    if (t === undefined) {
      t = this.keys.refundTag(BigInt(nullifierHash));
      this.#refundTags.set(nullifierHash, t);
    }
    return t;
  }

  /** The memo tag `note` was published with (undefined for a received note: its memo is encrypted). */
  tagOf(note: StoredNote): bigint | undefined {
    const o = note.origin;
    if (o.kind === "deposit") return this.depositTag(o.deposit);
    if (o.kind === "change") return this.changeTag(o.parent);
    if (o.kind === "refund") return this.refundTag(o.parent);
    return undefined;
  }

  /**
   * Trial decryption of a payee memo with the viewing key: the opening when the memo is
   * for this wallet and names its owner key, else undefined (never throws).
   */
  decrypt(memo: Hex): (NoteOpening & { conditionHash: Hex }) | undefined {
    const p = decryptNote(this.#viewingKey, memo, this.x25519);
    if (!p || p.owner !== this.keys.ownerKey) return undefined;
    return p;
  }
}

/**
 * What a memo tag points to: deposit number k, or the change note of a known note, or the
 * refund note of an escrowed payment that spent a known note.
 */
type TagHint = { deposit: number } | { parent: string; refund?: true };

/**
 * Recognises the wallet's notes among new leaves, in leaf order, in one forward pass.
 *
 * Notes the wallet made itself carry a 64-byte memo whose tag the seed computes: the tag
 * map starts with the tags of deposits k < nextDepositIndex + depositGapLimit and the
 * change tags of every note already owned, and each note found adds its own change tag,
 * so the change note it gets when it is spent is recognised when it appears later (a
 * change note is always inserted after its parent). Change notes need no look-ahead:
 * however many payments were abandoned, a note has at most one change note on chain.
 *
 * Notes paid to the wallet carry a 187-byte payee memo encrypted to its encryption key:
 * each one is trial-decrypted with the viewing key (a 2-byte view tag skips the AEAD for
 * all but 1 in 65,536 memos not ours). A memo is only a hint either way: a note is ours
 * only if its opening, with our owner key, recomputes the leaf's commitment.
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
  /** Received notes found by this scan (their block time is filled in by the sync). */
  readonly received: StoredNote[] = [];
  /** Anomalies found while scanning, to report once the sync is saved. */
  readonly warnings: ZkPayError[] = [];

  constructor(state: WalletState, deriver: NoteDeriver, depositGapLimit: number) {
    this.#state = state;
    this.#d = deriver;
    this.#gap = depositGapLimit;
    this.owned = new Map(state.notes.map((n) => [n.nullifierHash, n]));
    this.#extendDeposits();
    for (const n of state.notes) {
      this.#tags.set(this.#d.changeTag(n.nullifierHash), { parent: n.nullifierHash });
      this.#tags.set(this.#d.refundTag(n.nullifierHash), { parent: n.nullifierHash, refund: true });
      const tag = this.#d.tagOf(n);
      if (tag !== undefined && !this.#seenTags.has(tag)) this.#seenTags.set(tag, n.leafIndex);
    }
  }

  /** Checks leaf `index` (already appended to the tree), mined in `blockNumber`, and records it if it is ours. */
  scan(index: number, commitment: bigint, memo: Hex, blockNumber: number): void {
    if (memo.length === 2 + PAYEE_MEMO_LENGTH * 2) {
      this.#scanPayeeMemo(index, commitment, memo, blockNumber);
      return;
    }
    // Most leaves are someone else's: look the tag up before parsing the rest.
    if (memo.length !== 2 + MEMO_LENGTH * 2) return;
    const hint = this.#tags.get(BigInt(`0x${memo.slice(2, 66)}`));
    if (!hint) return;
    const parts = parseMemo(memo)!;
    const keys = this.#d.keys;
    const isDeposit = "deposit" in hint;
    // A deposit's salt travels as its memo nonce; a change or refund note derives from its parent.
    const blinding = isDeposit
      ? keys.depositBlinding(hint.deposit, parts.nonce)
      : hint.refund
        ? keys.refundBlinding(BigInt(hint.parent))
        : keys.changeBlinding(BigInt(hint.parent));
    const value = decodeMemoValue(parts, blinding);
    // The memo is only a hint (anyone can copy a tag): the note is ours only if it opens.
    if (commitmentOf({ value, owner: keys.ownerKey, blinding }) !== commitment) return;

    const origin: NoteOrigin = isDeposit
      ? { kind: "deposit", deposit: hint.deposit, salt: parts.nonce.toString() }
      : { kind: hint.refund ? "refund" : "change", parent: hint.parent };
    const note = this.#add(index, commitment, { value, owner: keys.ownerKey, blinding }, origin);
    if (!note) return;
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
    if (isDeposit && hint.deposit >= this.#state.nextDepositIndex) {
      this.#state.nextDepositIndex = hint.deposit + 1;
      this.#extendDeposits();
    }
  }

  /** A payee memo: ours if it decrypts with the viewing key, names our owner key and opens the leaf. */
  #scanPayeeMemo(index: number, commitment: bigint, memo: Hex, blockNumber: number): void {
    const p = this.#d.decrypt(memo);
    if (!p) return;
    const opening = { value: p.value, owner: p.owner, blinding: p.blinding };
    // A payer can encrypt any opening: only one that recomputes this leaf is a note.
    if (commitmentOf(opening) !== commitment) return;
    // The block's time is filled in by the sync (one block read per block with a received note).
    const note = this.#add(index, commitment, opening, {
      kind: "received",
      conditionHash: p.conditionHash,
      blockNumber,
      time: 0,
    });
    if (note) this.received.push(note);
  }

  /** Records a note of ours (undefined, with a warning, if its nullifier is already owned). */
  #add(index: number, commitment: bigint, opening: NoteOpening, origin: NoteOrigin): StoredNote | undefined {
    const nullifierHash = this.#d.nullifierHashAt(commitment, index).toString();
    const first = this.owned.get(nullifierHash);
    if (first) {
      // The nullifier binds the leaf's position, so two leaves never share one: this
      // takes a state that saw leaf `index` twice. Only one can be spent; keep the first.
      this.#state.warnings.duplicateNullifiers++;
      this.warnings.push(
        new ZkPayError(
          "duplicate_note_nullifier",
          `leaf ${index} opens as a note with the nullifier of leaf ${first.leafIndex}: only one of them can be spent, the second is ignored`,
          { leafIndex: index, firstLeafIndex: first.leafIndex, nullifierHash },
        ),
      );
      return undefined;
    }
    const note: StoredNote = {
      origin,
      value: opening.value.toString(),
      owner: opening.owner.toString(),
      blinding: opening.blinding.toString(),
      leafIndex: index,
      commitment: commitment.toString(),
      nullifierHash,
      spent: false,
    };
    this.#state.notes.push(note);
    this.owned.set(nullifierHash, note);
    this.#tags.set(this.#d.changeTag(nullifierHash), { parent: nullifierHash });
    this.#tags.set(this.#d.refundTag(nullifierHash), { parent: nullifierHash, refund: true });
    return note;
  }

  #extendDeposits(): void {
    const upTo = this.#state.nextDepositIndex + this.#gap;
    for (let k = this.#depositTagsUpTo; k < upTo; k++) {
      const tag = this.#d.depositTag(k);
      // A deposit tag never equals a change tag (different purposes): no hint is overwritten.
      this.#tags.set(tag, { deposit: k });
    }
    this.#depositTagsUpTo = Math.max(this.#depositTagsUpTo, upTo);
  }
}
