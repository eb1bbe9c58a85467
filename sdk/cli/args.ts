/**
 * Parsers of command arguments shared by several commands. Each throws a ZkPayError
 * "invalid_argument" naming the flag (exit code 1), with the same wording everywhere.
 */
import { isHex, type Address, type Hex } from "viem";

import { parseUserAddress } from "../core/address.js";
import { ZkPayError } from "../core/errors.js";
import { defaultConfirmations } from "../core/receipts.js";

/**
 * A user-given address (checksum verified when mixed-case), named `what` in errors.
 *
 * @example
 * address(o.to, "--to");
 */
export const address = (value: string, what: string): Address => parseUserAddress(value, what);

/** 32 bytes of hex, lowercased. @example bytes32(idText, "receipt id") */
export function bytes32(value: string, what: string): Hex {
  if (!isHex(value) || value.length !== 66)
    throw new ZkPayError("invalid_argument", `${what} must be 32 bytes of hex (0x + 64 digits)`);
  return value.toLowerCase() as Hex;
}

/** A non-negative integer (a port, a count). @example positiveInt(o.port, "--port") */
export function positiveInt(value: string, what: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new ZkPayError("invalid_argument", `${what} must be a non-negative integer`);
  return n;
}

/**
 * `--confirmations`, or the chain's default (`defaultConfirmations`: 2 on Base Sepolia and
 * Base), the one the SDK's servers use: a flag default of 1 made `serve` on a public chain
 * accept client-settled receipts one block deep, fewer than the SDK and the docs.
 *
 * @example
 * confirmationsOf(undefined, 8453); // 2
 */
export function confirmationsOf(value: string | undefined, chainId: number): number {
  if (value === undefined) return defaultConfirmations(chainId).minConfirmations;
  return Math.max(1, positiveInt(value, "--confirmations"));
}

/** Collects a repeatable option's values (commander's argParser). @example .option("-H <h>", "...", collect, []) */
export const collect = (v: string, prev: string[]): string[] => [...prev, v];
