import { ZkPayError } from "./errors.js";

/** Order of the BN254 scalar field: every circuit signal is below it. */
export const SNARK_SCALAR_FIELD = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;

/** Largest note value, amount or fee the circuit accepts (VALUE_BITS = 128). */
export const MAX_VALUE = (1n << 128n) - 1n;

/** Deepest tree the circuit can prove membership in. */
export const MAX_TREE_DEPTH = 24;

/**
 * Checks that `value` is an integer in [0, MAX_VALUE] and returns it as bigint.
 *
 * @example
 * const amount = toValue(10_000n, "amount");
 */
export function toValue(value: bigint | number | string, name: string): bigint {
  let v: bigint;
  try {
    v = BigInt(value);
  } catch {
    throw new ZkPayError("invalid_argument", `${name} is not an integer: ${String(value)}`, { name });
  }
  if (v < 0n || v > MAX_VALUE) {
    throw new ZkPayError("invalid_argument", `${name} must be between 0 and 2^128-1, got ${v}`, { name });
  }
  return v;
}

/**
 * Checks that `value` is a canonical field element (0 <= value < p).
 *
 * @example
 * isFieldElement(123n); // true
 */
export function isFieldElement(value: bigint): boolean {
  return value >= 0n && value < SNARK_SCALAR_FIELD;
}

/** bigint -> 0x-prefixed 32-byte hex. @example toBytes32(1n) // "0x00..01" */
export function toBytes32(value: bigint): `0x${string}` {
  return `0x${value.toString(16).padStart(64, "0")}`;
}
