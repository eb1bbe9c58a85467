import { hash1, hash2, hash3 } from "./poseidon.js";

/**
 * Third input of the commitment hash (Facilitator.NOTE_DOMAIN, NoteCommitment's
 * NOTE_DOMAIN): leaves use a 3-input Poseidon, tree nodes a 2-input one, so no leaf can
 * pose as a node or the other way round.
 */
export const NOTE_DOMAIN = 1n;

/**
 * A private note: `value` tokens that whoever knows `nullifier` and `secret` can spend.
 * Commitment layout (circuits/note_commitment.circom):
 *   precommitment = Poseidon(nullifier, secret)
 *   commitment    = Poseidon(value, precommitment, NOTE_DOMAIN)   (3 inputs)
 *   nullifierHash = Poseidon(nullifier)       (published when spent)
 */
export interface NoteSecrets {
  nullifier: bigint;
  secret: bigint;
}

/**
 * Poseidon(nullifier, secret): what a depositor sends to the pool.
 *
 * @example
 * const pre = precommitmentOf({ nullifier: 1n, secret: 2n });
 */
export function precommitmentOf(s: NoteSecrets): bigint {
  return hash2(s.nullifier, s.secret);
}

/**
 * The tree leaf for a note of `value` with these secrets.
 *
 * @example
 * const leaf = commitmentOf(10_000n, secrets);
 */
export function commitmentOf(value: bigint, s: NoteSecrets): bigint {
  return hash3(value, precommitmentOf(s), NOTE_DOMAIN);
}

/**
 * The spend tag published when the note is spent; also the payment's receipt id.
 *
 * @example
 * const id = nullifierHashOf(secrets);
 */
export function nullifierHashOf(s: NoteSecrets): bigint {
  return hash1(s.nullifier);
}
