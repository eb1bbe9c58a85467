import { x402Facilitator } from "@x402/core/facilitator";
import { x402ResourceServer, type FacilitatorClient } from "@x402/core/server";
import type { Network, SupportedResponse } from "@x402/core/types";
import type { Address, PublicClient, WalletClient } from "viem";

import { caip2 } from "../core/deployment.js";
import { ZkExactFacilitatorScheme } from "../facilitator/scheme.js";
import { ChallengeIssuer } from "./challenge.js";
import type { ReplayStore } from "./replay.js";
import { ZkExactServerScheme } from "./scheme.js";

/** Options of {@link createZkResourceServer}. */
export interface ZkResourceServerOptions {
  pool: { chainId: number; facilitator: Address; token: Address; decimals: number };
  publicClient: PublicClient;
  /** Account that submits server-settled payments. Omit for client-settled only. */
  walletClient?: WalletClient;
  vkey: unknown;
  vkeySha256: string;
  /** HMAC key for challenges; share it between instances of the same API. */
  challengeSecret: string;
  replay?: ReplayStore;
  fee?: bigint;
  minConfirmations?: number;
  challengeTtlSeconds?: number;
}

/**
 * Wires `@x402/core`'s resource server to an in-process x402 facilitator that speaks
 * zk-exact. The facilitator trusts nothing but the chain: proofs are checked against
 * the pool's verification key and settled by the Facilitator contract, so running it
 * inside the API process needs no custodian.
 *
 * @example
 * const { resourceServer, network } = createZkResourceServer({ pool, publicClient, walletClient, vkey, vkeySha256, challengeSecret });
 * app.use(zkPaymentMiddleware({ "GET /weather": { accepts: { scheme: "zk-exact", network, payTo, price: "$0.01" } } }, resourceServer));
 */
export function createZkResourceServer(o: ZkResourceServerOptions) {
  const network = caip2(o.pool.chainId) as Network;
  const challenges = new ChallengeIssuer({ secret: o.challengeSecret });
  const facilitatorScheme = new ZkExactFacilitatorScheme({
    pool: o.pool,
    publicClient: o.publicClient,
    walletClient: o.walletClient,
    vkey: o.vkey,
    vkeySha256: o.vkeySha256,
    challenges,
    replay: o.replay,
    fee: o.fee,
    minConfirmations: o.minConfirmations,
  });
  const facilitator = new x402Facilitator().register(network, facilitatorScheme);
  const facilitatorClient: FacilitatorClient = {
    verify: (p, r) => facilitator.verify(p, r),
    settle: (p, r) => facilitator.settle(p, r),
    getSupported: async () => facilitator.getSupported() as SupportedResponse,
  };
  const resourceServer = new x402ResourceServer(facilitatorClient).register(
    network,
    new ZkExactServerScheme({
      challenges,
      pools: [{ network, facilitator: o.pool.facilitator, token: o.pool.token, decimals: o.pool.decimals }],
      challengeTtlSeconds: o.challengeTtlSeconds,
    }),
  );
  return { resourceServer, facilitator, facilitatorClient, facilitatorScheme, challenges, network };
}
