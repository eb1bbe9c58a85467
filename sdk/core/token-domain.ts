import { findDefaultAsset } from "@x402/evm";
import { decodeFunctionResult, domainSeparator, encodeFunctionData, parseAbi, type Address, type Hex } from "viem";

import { ZkPayError } from "./errors.js";

/** The name and version of a token's EIP-712 domain (what permit and EIP-3009 signatures bind). */
export interface TokenDomain {
  name: string;
  version: string;
}

/** Where a resolved domain came from. */
export type TokenDomainSource = "override" | "eip5267" | "name-version" | "x402-default-assets";

const tokenDomainAbi = parseAbi([
  "function eip712Domain() view returns (bytes1 fields, string name, string version, uint256 chainId, address verifyingContract, bytes32 salt, uint256[] extensions)",
  "function name() view returns (string)",
  "function version() view returns (string)",
  "function DOMAIN_SEPARATOR() view returns (bytes32)",
]);

export interface ResolveTokenDomainOptions {
  token: Address;
  chainId: number;
  /** `eth_call` to `token` with `data`; resolves to the return data, rejects on a revert. */
  call: (data: Hex) => Promise<Hex | undefined>;
  /** A domain the caller knows (deployment record, `pool.tokenDomain`): wins over everything. */
  override?: TokenDomain;
}

async function read<T>(opts: ResolveTokenDomainOptions, functionName: string): Promise<T | undefined> {
  try {
    const data = await opts.call(encodeFunctionData({ abi: tokenDomainAbi, functionName } as never));
    if (!data || data === "0x") return undefined;
    return decodeFunctionResult({ abi: tokenDomainAbi, functionName, data } as never) as T;
  } catch {
    return undefined;
  }
}

/**
 * Resolves the EIP-712 domain of `token` for signed deposits, in this order:
 *
 * 1. `override` (the deployment record's `token_info`, or `pool.tokenDomain`);
 * 2. EIP-5267 `eip712Domain()` on the token;
 * 3. `name()` and `version()` on the token (Circle's FiatToken, i.e. real USDC, has these
 *    and may lack `eip712Domain()`);
 * 4. `@x402/evm`'s default assets for `eip155:<chainId>` (USDC on Base Sepolia is
 *    `{ name: "USDC", version: "2" }`, on Base `{ name: "USD Coin", version: "2" }`).
 *
 * When the token exposes `DOMAIN_SEPARATOR()`, candidates 2-4 must reproduce it (a token
 * whose `name()` differs from its domain name is not trusted blindly); the first that does
 * wins. Throws `invalid_argument` when nothing resolves.
 */
export async function resolveTokenDomain(
  opts: ResolveTokenDomainOptions,
): Promise<TokenDomain & { source: TokenDomainSource }> {
  if (opts.override) return { ...opts.override, source: "override" };
  const candidates: (TokenDomain & { source: TokenDomainSource })[] = [];
  const eip5267 = await read<readonly unknown[]>(opts, "eip712Domain");
  if (eip5267) candidates.push({ name: eip5267[1] as string, version: eip5267[2] as string, source: "eip5267" });
  const name = await read<string>(opts, "name");
  const version = await read<string>(opts, "version");
  if (name !== undefined && version !== undefined) candidates.push({ name, version, source: "name-version" });
  const known = findDefaultAsset(opts.token, `eip155:${opts.chainId}` as `${string}:${string}`);
  if (known) candidates.push({ name: known.name, version: known.version, source: "x402-default-assets" });

  const separator = await read<Hex>(opts, "DOMAIN_SEPARATOR");
  const matches = (c: TokenDomain) =>
    separator === undefined ||
    domainSeparator({
      domain: { name: c.name, version: c.version, chainId: opts.chainId, verifyingContract: opts.token },
    }).toLowerCase() === separator.toLowerCase();
  const found = candidates.find(matches);
  if (found) return found;
  throw new ZkPayError(
    "invalid_argument",
    candidates.length === 0
      ? `cannot read the EIP-712 domain of token ${opts.token} (no eip712Domain(), no name()/version(), not in @x402/evm's default assets for chain ${opts.chainId}); pass pool.tokenDomain (or set token_info in the deployment record) to sign deposits`
      : `the EIP-712 domain of token ${opts.token} does not match its DOMAIN_SEPARATOR() (tried ${candidates.map((c) => `${c.name}/${c.version}`).join(", ")}); pass pool.tokenDomain to sign deposits`,
    { token: opts.token, chainId: opts.chainId },
  );
}
