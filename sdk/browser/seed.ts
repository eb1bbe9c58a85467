/**
 * A 402zk seed from a wallet signature, for pages: the page never sees a private key.
 *
 * The user's EIP-1193 wallet signs one fixed message with `personal_sign` (EIP-191). The
 * message is an EIP-4361 (Sign-In with Ethereum) message naming the page's origin, the
 * chain, the pool and the account, so:
 * - it is deterministic: the same account, page origin, chain and pool always sign the
 *   same bytes, and an RFC 6979 ECDSA signer (every mainstream EOA wallet) returns the
 *   same signature, hence the same seed, on every device: notes are recoverable from the
 *   account alone;
 * - it is domain-separated: another site, chain or pool gets another seed, and wallets
 *   that check SIWE domains warn the user when a page asks for a message naming another
 *   site (a phishing page asking for this site's seed);
 * - the seed is HKDF-SHA256 over the 65-byte signature, with its own salt and info, so
 *   the signature is used for nothing else.
 *
 * A wallet whose signatures are not deterministic (some smart-contract or MPC wallets)
 * would give a new seed per visit and lose the notes: {@link deriveSeed} signs twice on
 * the first visit and refuses such a wallet with `seed_not_deterministic`.
 */
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, getAddress, hexToBytes, keccak256, toHex, type Address, type Hex } from "viem";

import { ZkPayError } from "../core/errors.js";

/** The EIP-1193 provider a page is given (`window.ethereum`, or any injected wallet). */
export interface Eip1193Provider {
  /** Sends a JSON-RPC request to the wallet (`eth_requestAccounts`, `personal_sign`, ...); rejects when the person refuses. */
  request(args: { method: string; params?: unknown[] | Record<string, unknown> }): Promise<unknown>;
  /** Subscribes to the wallet's events (`accountsChanged`, `chainChanged`), where the wallet has them. */
  on?(event: string, listener: (...args: unknown[]) => void): void;
}

/** What a seed is bound to: the page's origin, the chain, the pool and the account. */
export interface SeedScope {
  /** The page's origin (`location.origin`), e.g. "https://api.example". */
  origin: string;
  chainId: number;
  /** The pool's Facilitator contract. */
  facilitator: Address;
  account: Address;
}

/** Version of the message below: a new text is a new seed, so it never changes silently. */
export const SEED_MESSAGE_VERSION = 1;

/**
 * The exact EIP-4361 message the wallet signs for `scope`. Its nonce is derived from the
 * scope (EIP-4361 wants one; a fixed one keeps the signature deterministic) and its issue
 * time is a constant for the same reason: this message is a key derivation, not a login.
 *
 * @example
 * seedMessage({ origin: location.origin, chainId: 84532, facilitator, account });
 */
export function seedMessage(scope: SeedScope): string {
  let url: URL;
  try {
    url = new URL(scope.origin);
  } catch (err) {
    throw new ZkPayError("invalid_argument", `seed scope origin ${scope.origin} is not a URL`, {}, { cause: err });
  }
  const account = getAddress(scope.account);
  const facilitator = getAddress(scope.facilitator);
  const nonce = keccak256(
    toHex(`402zk seed nonce v${SEED_MESSAGE_VERSION}|${url.origin}|${scope.chainId}|${facilitator}|${account}`),
  ).slice(2, 18);
  return [
    `${url.host} wants you to sign in with your Ethereum account:`,
    account,
    "",
    `Create your private 402zk wallet for ${url.host}. Signing derives its keys (version ${SEED_MESSAGE_VERSION}, pool ${facilitator}); ` +
      "it sends no transaction and costs nothing. Anyone holding this signature can spend that wallet's notes: sign it only on this site.",
    "",
    `URI: ${url.origin}`,
    "Version: 1",
    `Chain ID: ${scope.chainId}`,
    `Nonce: ${nonce}`,
    "Issued At: 2026-01-01T00:00:00.000Z",
  ].join("\n");
}

/**
 * The seed that a signature of {@link seedMessage} gives: HKDF-SHA256(signature, salt
 * "402zk/browser-seed", info = the message's hash), 32 bytes as hex.
 *
 * @example
 * const seed = seedFromSignature(signature, seedMessage(scope));
 */
export function seedFromSignature(signature: Hex, message: string): Hex {
  if (!/^0x[0-9a-fA-F]{130}$/.test(signature)) {
    throw new ZkPayError("invalid_argument", "the wallet's signature is not a 65-byte ECDSA signature");
  }
  const info = sha256(new TextEncoder().encode(message));
  return bytesToHex(hkdf(sha256, hexToBytes(signature), new TextEncoder().encode("402zk/browser-seed"), info, 32));
}

/** Whether an EIP-1193 error is the user's refusal (code 4001, EIP-1193's "User Rejected Request"). */
export function isUserRejection(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 4001 || code === "ACTION_REJECTED";
}

/**
 * Asks the wallet to sign the seed message and derives the seed. With `confirm` (the first
 * visit: nothing stored for this account yet) it asks twice and refuses a wallet that
 * signs differently (`seed_not_deterministic`). A refusal by the user is
 * `wallet_request_rejected`.
 *
 * @example
 * const seed = await deriveSeed(window.ethereum, { origin: location.origin, chainId, facilitator, account }, { confirm: true });
 */
export async function deriveSeed(
  provider: Eip1193Provider,
  scope: SeedScope,
  opts: { confirm?: boolean } = {},
): Promise<Hex> {
  const message = seedMessage(scope);
  const sign = async (): Promise<Hex> => {
    try {
      const sig = await provider.request({
        method: "personal_sign",
        params: [toHex(message), getAddress(scope.account)],
      });
      return String(sig) as Hex;
    } catch (err) {
      if (isUserRejection(err)) {
        throw new ZkPayError(
          "wallet_request_rejected",
          "the signature that creates your private wallet was rejected",
          {},
          { cause: err },
        );
      }
      throw new ZkPayError(
        "invalid_argument",
        `the wallet could not sign: ${(err as Error)?.message ?? String(err)}`,
        {},
        { cause: err },
      );
    }
  };
  const first = await sign();
  if (opts.confirm) {
    const second = await sign();
    if (second.toLowerCase() !== first.toLowerCase()) {
      throw new ZkPayError(
        "seed_not_deterministic",
        "this wallet signs the same message differently each time, so it cannot hold a 402zk wallet (its notes would be lost on the next visit); use an EOA wallet",
      );
    }
  }
  return seedFromSignature(first, message);
}
