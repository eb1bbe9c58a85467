import type { Hex } from "viem";

import { ZkPayError } from "./errors.js";
import type { WalletKeys } from "./keys.js";
import { PAYEE_MEMO_LENGTH, PAYEE_MEMO_VERSION, decryptNote, type X25519Fn } from "./note-encryption.js";
import { commitmentOf } from "./note.js";
import { parseShieldedAddress, parseViewingKey } from "./shielded-address.js";

/**
 * How an API names its shielded payee: the wallet keys of its seed (only the viewing key,
 * the owner key and the address are kept, never the spending key), or a viewing-key string
 * (`zk402view...`, `402zk address --viewing-key`) with the shielded address it belongs to.
 */
export type ShieldedPayeeConfig = { keys: WalletKeys } | { viewingKey: string; address: string };

/** A payee note the API opened and accepted (see {@link ShieldedPayee.open}). */
export interface OpenedPayeeNote {
  /** Tokens in the note (at least the price). */
  value: bigint;
  blinding: bigint;
  /** The note's commitment: the proof's payee output, the receipt's `payeeCommitment`. */
  commitment: bigint;
}

/**
 * The API's side of a shielded payee: what a resource server needs to accept `zk-shielded`
 * payments without ever holding the spending key. It decrypts the payee memo of a payment
 * with its viewing key and checks, before any proof is verified (spec §6 of #19):
 *
 * - `payee_note_not_ours`: the memo does not decrypt with this viewing key (encrypted to
 *   another key, or damaged so that its view tag or AEAD tag fails: the two look alike to
 *   anyone but the sender), or it decrypts to a note owned by another owner key;
 * - `payee_note_invalid`: the memo is malformed (length, version), its opening is not the
 *   proof's payee output (`commitment(value, owner, blinding) != payeeCommitment`), or it
 *   names another condition than this request's challenge;
 * - `payee_note_underpaid`: the note is worth less than the price.
 *
 * The commitment, once checked, and the memo opened are what the on-chain receipt binds
 * (`checkShieldedReceipt(id, payeeCommitment, conditionHash, keccak256(payeeMemo))`: the
 * memo too, since the API's wallet finds the note only by that memo). Pure: the server's replay
 * store dedupes commitments already received.
 *
 * @example
 * const payee = ShieldedPayee.from({ keys: WalletKeys.fromSeed(seed) }, { x25519: nodeX25519 });
 * const note = payee.open({ payeeMemo, payeeCommitment, price: 10_000n, conditionHash });
 */
export class ShieldedPayee {
  /** The shielded address payments must name (`zk402...`). */
  readonly address: string;
  /** Owner key every accepted note must be owned by. */
  readonly ownerKey: bigint;
  readonly #vk: Uint8Array;
  readonly #x25519: X25519Fn | undefined;

  private constructor(address: string, ownerKey: bigint, vk: Uint8Array, x25519: X25519Fn | undefined) {
    this.address = address;
    this.ownerKey = ownerKey;
    this.#vk = vk;
    this.#x25519 = x25519;
  }

  /**
   * The payee of `config`. A viewing-key string must belong to `address` (same owner key):
   * a mismatch is refused with `invalid_argument`, since every payment would then be
   * refused as not ours. `x25519`: pass `nodeX25519` (402zk/node) on Node.
   *
   * @example
   * const payee = ShieldedPayee.from({ viewingKey: process.env.VIEWING_KEY!, address: process.env.PAY_TO! });
   */
  static from(config: ShieldedPayeeConfig, o: { x25519?: X25519Fn } = {}): ShieldedPayee {
    if (config === null || typeof config !== "object") {
      throw new ZkPayError("invalid_argument", "a shielded payee is { keys } or { viewingKey, address }");
    }
    if ("keys" in config) {
      const k = config.keys;
      return new ShieldedPayee(k.address(), k.ownerKey, k.viewingKey(), o.x25519);
    }
    if (typeof config.viewingKey !== "string" || typeof config.address !== "string") {
      throw new ZkPayError("invalid_argument", "a shielded payee is { keys } or { viewingKey, address }");
    }
    const view = parseViewingKey(config.viewingKey);
    const address = parseShieldedAddress(config.address);
    if (address.ownerKey !== view.ownerKey) {
      throw new ZkPayError("invalid_argument", "the viewing key belongs to another shielded address than payTo");
    }
    return new ShieldedPayee(config.address.toLowerCase(), view.ownerKey, view.viewingKey, o.x25519);
  }

  /** Whether `payTo` (a requirement's) is this payee's address. */
  isAddress(payTo: string): boolean {
    return typeof payTo === "string" && payTo.toLowerCase() === this.address.toLowerCase();
  }

  /**
   * Opens a payment's payee note and checks it is a note for this payee, worth at least
   * `price`, for `conditionHash`, and the proof's (or receipt's) `payeeCommitment`. Throws
   * `ZkPayError` (`payee_note_not_ours`, `payee_note_invalid`, `payee_note_underpaid`).
   */
  open(p: { payeeMemo: string; payeeCommitment: bigint; price: bigint; conditionHash: Hex }): OpenedPayeeNote {
    const memo = p.payeeMemo;
    // Malformed before any key is involved: no valid sender writes this.
    if (
      typeof memo !== "string" ||
      memo.length !== 2 + 2 * PAYEE_MEMO_LENGTH ||
      !/^0x[0-9a-fA-F]*$/.test(memo) ||
      Number.parseInt(memo.slice(2, 4), 16) !== PAYEE_MEMO_VERSION
    ) {
      throw new ZkPayError(
        "payee_note_invalid",
        `the payee memo is malformed (a ${PAYEE_MEMO_LENGTH}-byte memo of version ${PAYEE_MEMO_VERSION} is expected)`,
      );
    }
    const note = decryptNote(this.#vk, memo as Hex, this.#x25519);
    if (!note) {
      throw new ZkPayError("payee_note_not_ours", "the payee memo does not decrypt with this API's viewing key");
    }
    if (note.owner !== this.ownerKey) {
      throw new ZkPayError("payee_note_not_ours", "the payee note is owned by another key than this API's");
    }
    const commitment = commitmentOf({ value: note.value, owner: note.owner, blinding: note.blinding });
    if (commitment !== p.payeeCommitment) {
      throw new ZkPayError("payee_note_invalid", "the payee memo's opening is not the payment's payee note");
    }
    if (note.conditionHash.toLowerCase() !== p.conditionHash.toLowerCase()) {
      throw new ZkPayError("payee_note_invalid", "the payee note answers another challenge");
    }
    if (note.value < p.price) {
      throw new ZkPayError("payee_note_underpaid", `the payee note holds ${note.value}, the price is ${p.price}`, {
        value: note.value.toString(),
        price: p.price.toString(),
      });
    }
    return { value: note.value, blinding: note.blinding, commitment };
  }
}
