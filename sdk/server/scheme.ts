import type {
  AssetAmount,
  Network,
  PaymentRequirements,
  Price,
  SchemeNetworkServer,
  SupportedKind,
} from "@x402/core/types";
import type { x402ResourceServer } from "@x402/core/server";
import { bazaarResourceServerExtension } from "@x402/extensions/bazaar";
import { getAddress, type Address } from "viem";

import { ZkPayError } from "../core/errors.js";
import { isShieldedAddress } from "../core/shielded-address.js";
import type { ShieldedPayee } from "../core/shielded-payee.js";
import { ZK_SCHEME, ZK_SHIELDED_SCHEME, routeOf, type ZkSchemeName } from "../core/wire.js";

export { routeOf };
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
  readonly scheme: ZkSchemeName = ZK_SCHEME;
  readonly defaultAssetTransferMethod = "default";
  /**
   * "authorization" (default): verify, run the handler, settle after it; a content route
   * pays nothing when settlement fails, since its response is withheld. "upfront": settle
   * before the handler runs; for routes with side effects (an LLM call, an SMS, an order),
   * so that the handler runs only for a payment that is on chain. A route picks it with
   * `extra: { paymentFlow: "upfront" }`.
   */
  readonly paymentFlows = {
    default: { supported: ["authorization", "upfront"], default: "authorization" },
  } as const;
  /** The challenge is new in every 402, so matching a payment to a route ignores it. */
  readonly dynamicExtraFields = ["challenge"];
  readonly #challenges: ChallengeIssuer;
  readonly #pools: Map<string, PoolToken>;
  readonly #ttl: number;

  constructor(o: { challenges: ChallengeIssuer; pools: PoolToken[]; challengeTtlSeconds?: number }) {
    this.#challenges = o.challenges;
    this.#pools = new Map(o.pools.map((p) => [p.network, p]));
    this.#ttl = o.challengeTtlSeconds ?? 300;
    if (!Number.isInteger(this.#ttl) || this.#ttl < 1) {
      throw new ZkPayError("invalid_argument", `challengeTtlSeconds must be a positive integer, got ${this.#ttl}`);
    }
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
    this.checkPayTo(req.payTo);
    // x402 fills maxTimeoutSeconds with 300 when a route sets none, so it cannot tell an
    // operator's choice from the default: the shorter of the two wins, and the
    // requirement says what the challenge really allows.
    const ttl = Math.min(this.#ttl, req.maxTimeoutSeconds || this.#ttl);
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
    return { ...req, maxTimeoutSeconds: ttl, extra: { ...req.extra, ...kind.extra, challenge } };
  }

  /** A zk-exact route pays a public address. Throws `invalid_argument` otherwise. */
  protected checkPayTo(payTo: string): void {
    if (!/^0x[0-9a-fA-F]{40}$/.test(payTo)) {
      throw new ZkPayError("invalid_argument", `a ${ZK_SCHEME} route pays a 20-byte address, not ${payTo}`);
    }
  }

  #pool(network: string): PoolToken {
    const pool = this.#pools.get(network);
    if (!pool) throw new ZkPayError("chain_mismatch", `no 402zk pool configured for ${network}`);
    return pool;
  }
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

/**
 * The resource-server side of zk-shielded: as {@link ZkExactServerScheme} (price, pool,
 * challenge, relayer, fee, settlement modes in `extra`), for a route whose `payTo` is the
 * API's shielded address (`zk402...`). The requirement stays valid x402 v2: `payTo` is a
 * string, `amount` the price; the payment creates a note of at least `amount` owned by that
 * address instead of a public transfer.
 *
 * @example
 * resourceServer.register(network, new ZkShieldedServerScheme({ challenges, pools: [pool], payee }));
 */
export class ZkShieldedServerScheme extends ZkExactServerScheme {
  override readonly scheme: ZkSchemeName = ZK_SHIELDED_SCHEME;
  readonly #payee: ShieldedPayee;

  constructor(o: {
    challenges: ChallengeIssuer;
    pools: PoolToken[];
    challengeTtlSeconds?: number;
    /** The API's shielded payee: a route must pay its address (its notes are opened with its viewing key). */
    payee: ShieldedPayee;
  }) {
    super(o);
    this.#payee = o.payee;
  }

  /** A zk-shielded route pays this API's own shielded address (any other could not be opened). */
  protected override checkPayTo(payTo: string): void {
    if (!isShieldedAddress(payTo)) {
      throw new ZkPayError(
        "invalid_shielded_address",
        `a ${ZK_SHIELDED_SCHEME} route pays a shielded address (zk402...)`,
      );
    }
    if (!this.#payee.isAddress(payTo)) {
      throw new ZkPayError(
        "invalid_argument",
        `this ${ZK_SHIELDED_SCHEME} route pays ${payTo}, but the server's shielded payee is ${this.#payee.address}`,
      );
    }
  }
}

/**
 * Registers 402zk's server schemes on `server` for `network`: zk-exact always, zk-shielded
 * when the API has a shielded payee; and x402's bazaar discovery extension, so that a route
 * declaring `extensions: declareDiscoveryExtension(...)` (`@x402/extensions/bazaar`) is
 * discoverable. `createZkResourceServer` and
 * `createZkRemoteResourceServer` both register through it.
 *
 * @example
 * registerZkServerSchemes(new x402ResourceServer(facilitatorClient), { network, pool, challenges, payee });
 */
export function registerZkServerSchemes(
  server: x402ResourceServer,
  o: {
    network: Network;
    pool: { facilitator: Address; token: Address; decimals: number };
    challenges: ChallengeIssuer;
    challengeTtlSeconds?: number;
    payee?: ShieldedPayee;
  },
): x402ResourceServer {
  const pools: PoolToken[] = [
    { network: o.network, facilitator: o.pool.facilitator, token: o.pool.token, decimals: o.pool.decimals },
  ];
  const common = { challenges: o.challenges, pools, challengeTtlSeconds: o.challengeTtlSeconds };
  server.register(o.network, new ZkExactServerScheme(common));
  if (o.payee) server.register(o.network, new ZkShieldedServerScheme({ ...common, payee: o.payee }));
  // x402's bazaar discovery: a route whose config declares `extensions: declareDiscoveryExtension(...)`
  // answers its 402 with the declaration completed (method, path parameters), which payers echo
  // and a cataloguing facilitator (the 402zk service's GET /discovery/resources) lists.
  server.registerExtension(bazaarResourceServerExtension);
  return server;
}
