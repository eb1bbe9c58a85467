import type {
  AssetAmount,
  Network,
  PaymentRequirements,
  Price,
  SchemeNetworkServer,
  SupportedKind,
} from "@x402/core/types";
import { getAddress, type Address } from "viem";

import { ZkPayError } from "../core/errors.js";
import { ZK_SCHEME } from "../core/wire.js";
import type { ChallengeIssuer } from "./challenge.js";

/** The token a network's pool holds. */
export interface PoolToken {
  network: Network;
  facilitator: Address;
  token: Address;
  decimals: number;
}

/**
 * The resource-server side of zk-exact for `@x402/core`'s `x402ResourceServer`: turns
 * a route's price into token units and attaches to every 402 a fresh challenge (the
 * per-request `conditionHash`), plus what the client needs to prove: pool address,
 * relayer, fee and settlement modes (from the facilitator's `getExtra`).
 *
 * @example
 * resourceServer.register("eip155:84532", new ZkExactServerScheme({ challenges, pools: [pool] }));
 */
export class ZkExactServerScheme implements SchemeNetworkServer {
  readonly scheme = ZK_SCHEME;
  readonly defaultAssetTransferMethod = "default";
  readonly paymentFlows = { default: { supported: ["authorization"], default: "authorization" } } as const;
  /** The challenge is new in every 402, so matching a payment to a route ignores it. */
  readonly dynamicExtraFields = ["challenge"];
  readonly #challenges: ChallengeIssuer;
  readonly #pools: Map<string, PoolToken>;
  readonly #ttl: number;

  constructor(o: { challenges: ChallengeIssuer; pools: PoolToken[]; challengeTtlSeconds?: number }) {
    this.#challenges = o.challenges;
    this.#pools = new Map(o.pools.map((p) => [p.network, p]));
    this.#ttl = o.challengeTtlSeconds ?? 300;
  }

  async parsePrice(price: Price, network: Network): Promise<AssetAmount> {
    const pool = this.#pool(network);
    if (typeof price === "object" && price !== null && "amount" in price) {
      if (price.asset && getAddress(price.asset) !== getAddress(pool.token)) {
        throw new ZkPayError("invalid_argument", `the ${network} pool holds ${pool.token}, not ${price.asset}`);
      }
      return { amount: String(BigInt(price.amount)), asset: pool.token, extra: price.extra ?? {} };
    }
    return { amount: toBaseUnits(price, pool.decimals).toString(), asset: pool.token, extra: {} };
  }

  getAssetDecimals(_asset: string, network: Network): number | undefined {
    return this.#pools.get(network)?.decimals;
  }

  async enhancePaymentRequirements(req: PaymentRequirements, kind: SupportedKind): Promise<PaymentRequirements> {
    const pool = this.#pool(req.network);
    const ttl = req.maxTimeoutSeconds || this.#ttl;
    const challenge = this.#challenges.issue(
      {
        network: req.network,
        facilitator: pool.facilitator,
        asset: req.asset,
        payTo: req.payTo,
        amount: req.amount,
        route: routeOf(req),
      },
      ttl,
    );
    return { ...req, extra: { ...req.extra, ...kind.extra, challenge } };
  }

  #pool(network: string): PoolToken {
    const pool = this.#pools.get(network);
    if (!pool) throw new ZkPayError("chain_mismatch", `no 402zk pool configured for ${network}`);
    return pool;
  }
}

/**
 * The route a requirement belongs to: `extra.route`, set per route by
 * `zkPaymentMiddleware` (or by hand in a route's `extra`), "" if absent.
 *
 * @example
 * routeOf(requirements); // "GET /weather"
 */
export function routeOf(req: { extra?: Record<string, unknown> }): string {
  const r = req.extra?.route;
  return typeof r === "string" ? r : "";
}

/**
 * "$0.01", "0.01", 0.01 -> base units of a token with `decimals`, exactly (no floats).
 *
 * @example
 * toBaseUnits("$0.01", 6); // 10000n
 */
export function toBaseUnits(money: string | number, decimals: number): bigint {
  const s = String(money)
    .trim()
    .replace(/^\$/, "")
    .replace(/\s*(USDC|USD)$/i, "");
  const m = /^(\d+)(?:\.(\d+))?$/.exec(s);
  if (!m) throw new ZkPayError("invalid_argument", `not a price: ${String(money)}`);
  const frac = m[2] ?? "";
  if (frac.length > decimals) throw new ZkPayError("invalid_argument", `price ${s} has more than ${decimals} decimals`);
  return BigInt(m[1]!) * 10n ** BigInt(decimals) + BigInt(frac.padEnd(decimals, "0") || "0");
}
