import { erc20Abi } from "../../core/abi.js";
import { resolveTokenDomain } from "../../core/token-domain.js";
import type { TokenUnits } from "../cost.js";
import type { WalletCore } from "../wallet/core.js";

/** What {@link tokenUnits} returns: undefined when the token does not answer. */
export type TokenUnitsReturnType = TokenUnits | undefined;

/**
 * The pool token's decimals and symbol: from `PoolInfo` when given, else read from the
 * token once (undefined if the token does not answer: amounts are then written in base
 * units, and the next call asks again).
 *
 * @example
 * formatTokens(10_000n, await tokenUnits(core)); // "0.01 USDC"
 */
export function tokenUnits(core: WalletCore): Promise<TokenUnitsReturnType> {
  const { decimals, symbol, token } = core.pool;
  if (decimals !== undefined && symbol !== undefined) return Promise.resolve({ decimals, symbol });
  core.tokenUnits ??= (async () => {
    const read = <T>(functionName: "decimals" | "symbol") =>
      core.publicClient.readContract({ address: token, abi: erc20Abi, functionName }) as Promise<T>;
    const [d, sym] = await Promise.all([
      decimals ?? read<number | bigint>("decimals"),
      symbol ?? read<string>("symbol"),
    ]);
    return { decimals: Number(d), symbol: sym };
  })().catch(() => {
    core.tokenUnits = undefined; // try again next time
    return undefined;
  });
  return core.tokenUnits;
}

/** The token's EIP-712 domain name and version, for the signed deposits. */
export async function tokenDomain(core: WalletCore): Promise<{ name: string; version: string }> {
  // pool.tokenDomain, else EIP-5267, else name()/version(), else @x402/evm's default assets.
  const { name, version } = await resolveTokenDomain({
    token: core.pool.token,
    chainId: core.pool.chainId,
    override: core.pool.tokenDomain,
    call: async (data) => (await core.publicClient.call({ to: core.pool.token, data })).data,
  });
  return { name, version };
}
