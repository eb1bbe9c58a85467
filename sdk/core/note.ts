import { hash1, hash2 } from "./poseidon.js";

/**
 * A private note: `value` tokens that whoever knows `nullifier` and `secret` can spend.
 * Commitment layout (circuits/note_commitment.circom):
 *   precommitment = Poseidon(nullifier, secret)
 *   commitment    = Poseidon1(Poseidon(value, precommitment))
 * The outer 1-input hash makes leaves a different function from 2-input tree nodes.
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
  return hash1(hash2(value, precommitmentOf(s)));
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
