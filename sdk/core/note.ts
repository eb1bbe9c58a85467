import { ZkPayError } from "./errors.js";
import { MAX_TREE_DEPTH } from "./field.js";
import { hash1, hash2, hash4 } from "./poseidon.js";

/**
 * Key-owned notes (issue #19). A note is `value` tokens owned by a key: only the holder of
 * the spending key `sk` whose owner key is `owner` can spend it, whoever else knows the
 * opening (the payer who created a payee note knows all of it and still cannot spend it).
 *
 * Keys (circomlib Poseidon, the same functions as circuits/payment.circom):
 *   nk       = Poseidon(sk, 1)    nullifying key: computes nullifiers, cannot spend
 *   ownerKey = Poseidon(sk, 2)    public owner key (in the shielded address)
 * Ownership is a hash preimage, as Tornado Nova's `publicKey = Poseidon(privateKey)`: it
 * keeps curve arithmetic out of the circuit (~240 constraints instead of thousands for an
 * in-circuit scalar multiplication) and is all an owner needs, since notes are delivered
 * by separate encryption (note-encryption.ts), not by the owner key itself.
 *
 * Commitment layout:
 *   precommitment = Poseidon(owner, blinding)
 *   commitment    = Poseidon1(Poseidon(value, precommitment))
 * The outer 1-input hash makes leaves a different function from 2-input tree nodes, so no
 * inner node of the tree can be passed off as a leaf (the leaf/node forgery).
 *
 *   nullifierHash = Poseidon(nk, commitment, treeIndex, leafIndex)
 * The nullifier binds the leaf's position: two notes with equal openings (equal
 * commitments) at two positions have two nullifiers, so spending one never blocks the other.
 */
export interface NoteOpening {
  /** Tokens in the note, below 2^128. */
  value: bigint;
  /** Owner key of the note's owner ({@link ownerKeyOf} of its spending key). */
  owner: bigint;
  /** A random (or seed-derived) field element that hides the opening. */
  blinding: bigint;
}

/** Purposes of the two keys derived from a spending key (the circuit uses the same constants). */
const NULLIFYING_KEY = 1n;
const OWNER_KEY = 2n;

/**
 * Poseidon(owner, blinding): what a depositor sends to the pool (opaque to the chain).
 *
 * @example
 * const pre = precommitmentOf(keys.ownerKey, blinding);
 */
export function precommitmentOf(owner: bigint, blinding: bigint): bigint {
  return hash2(owner, blinding);
}

/**
 * The tree leaf of a note.
 *
 * @example
 * const leaf = commitmentOf({ value: 10_000n, owner: keys.ownerKey, blinding });
 */
export function commitmentOf(n: NoteOpening): bigint {
  return hash1(hash2(n.value, precommitmentOf(n.owner, n.blinding)));
}

/**
 * Commitment of the empty note (value, owner and blinding 0): the payee note of every
 * transparent (zk-exact) payment. The contract refuses a transparent payment with any other
 * payee commitment (`FacilitatorTransparentPayeeNote`, `EMPTY_NOTE_COMMITMENT` on chain).
 *
 * @example
 * if (!shielded && proof.payeeCommitment !== EMPTY_NOTE_COMMITMENT) throw ...;
 */
export const EMPTY_NOTE_COMMITMENT: bigint = commitmentOf({ value: 0n, owner: 0n, blinding: 0n });

/**
 * The nullifying key of a spending key: computes nullifiers (so it can tell spent notes),
 * cannot spend.
 *
 * @example
 * const nk = nullifyingKeyOf(sk);
 */
export function nullifyingKeyOf(sk: bigint): bigint {
  return hash2(sk, NULLIFYING_KEY);
}

/**
 * The public owner key of a spending key: notes owned by it are spendable with `sk` only.
 *
 * @example
 * const owner = ownerKeyOf(sk);
 */
export function ownerKeyOf(sk: bigint): bigint {
  return hash2(sk, OWNER_KEY);
}

/**
 * Where global leaf `globalIndex` lives: tree `globalIndex >> treeLevels`, position
 * `globalIndex & (2^treeLevels - 1)` inside it.
 *
 * @example
 * notePosition(5, 2); // { treeIndex: 1, leafIndex: 1 }
 */
export function notePosition(globalIndex: number, treeLevels: number): { treeIndex: number; leafIndex: number } {
  if (!Number.isSafeInteger(globalIndex) || globalIndex < 0) {
    throw new ZkPayError("invalid_argument", `leaf index must be a non-negative integer, got ${globalIndex}`);
  }
  if (!Number.isInteger(treeLevels) || treeLevels < 0 || treeLevels > MAX_TREE_DEPTH) {
    throw new ZkPayError("invalid_argument", `tree levels must be an integer in [0, ${MAX_TREE_DEPTH}]`);
  }
  // Division, not `>>`: global indices may exceed 2^31 over many trees.
  const size = 2 ** treeLevels;
  return { treeIndex: Math.floor(globalIndex / size), leafIndex: globalIndex % size };
}

/**
 * The spend tag published when the note at `pos` is spent; also the payment's receipt id.
 *
 * @example
 * const id = nullifierHashOf(keys.nullifyingKey, commitmentOf(note), notePosition(g, 24));
 */
export function nullifierHashOf(nk: bigint, commitment: bigint, pos: { treeIndex: number; leafIndex: number }): bigint {
  return hash4(nk, commitment, BigInt(pos.treeIndex), BigInt(pos.leafIndex));
}
