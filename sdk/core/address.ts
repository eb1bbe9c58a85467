import { getAddress, isAddress, type Address } from "viem";

import { ZkPayError } from "./errors.js";

/**
 * An address a user typed (CLI flag, SDK argument, config), checked and normalised to
 * its EIP-55 checksum form. All-lowercase and all-uppercase hex carry no checksum and are
 * accepted; mixed case must pass the EIP-55 checksum, so a one-character typo in a
 * checksummed address is refused instead of sending funds to the wrong account.
 *
 * @example
 * parseUserAddress("0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266", "--to"); // "0xf39F...2266"
 */
export function parseUserAddress(input: string, what = "address"): Address {
  const s = typeof input === "string" ? input.trim() : String(input);
  if (!/^0x[0-9a-fA-F]{40}$/.test(s)) {
    throw new ZkPayError("invalid_argument", `${what} is not an address (0x + 40 hex digits): ${s}`, { what });
  }
  const hex = s.slice(2);
  const unchecked = hex === hex.toLowerCase() || hex === hex.toUpperCase();
  if (!unchecked && !isAddress(s, { strict: true })) {
    throw new ZkPayError(
      "invalid_argument",
      `${what} ${s} has a wrong EIP-55 checksum (mixed case that does not match ${getAddress(s.toLowerCase())}): ` +
        "check for a typo, or pass it all in lower case",
      { what, expected: getAddress(s.toLowerCase()) },
    );
  }
  return getAddress(s.toLowerCase());
}
