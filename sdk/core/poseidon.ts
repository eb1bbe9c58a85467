import { poseidon1 } from "poseidon-lite/poseidon1";
import { poseidon2 } from "poseidon-lite/poseidon2";
import { poseidon3 } from "poseidon-lite/poseidon3";
import { poseidon4 } from "poseidon-lite/poseidon4";

/**
 * Poseidon over BN254, circomlib-compatible (the circuit's `Poseidon(n)` and
 * poseidon-solidity's `PoseidonT3` give the same results).
 *
 * @example
 * const h = hash2(1n, 2n);
 */
export function hash1(a: bigint): bigint {
  return poseidon1([a]);
}

/** Poseidon(a, b). @example hash2(1n, 2n) */
export function hash2(a: bigint, b: bigint): bigint {
  return poseidon2([a, b]);
}

/** Poseidon(a, b, c). @example hash3(1n, 2n, 3n) */
export function hash3(a: bigint, b: bigint, c: bigint): bigint {
  return poseidon3([a, b, c]);
}

/** Poseidon(a, b, c, d). @example hash4(1n, 2n, 3n, 4n) */
export function hash4(a: bigint, b: bigint, c: bigint, d: bigint): bigint {
  return poseidon4([a, b, c, d]);
}
