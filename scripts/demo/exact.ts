/**
 * The plain x402 "exact" (EIP-3009) baseline of the demo: a route paid by a signed
 * transferWithAuthorization, settled by an in-process @x402/evm facilitator, and the
 * matching client. Adapted from the working setup in REFERENCE.md section 6.5.
 */
import { x402Client } from "@x402/core/client";
import { x402Facilitator } from "@x402/core/facilitator";
import { x402ResourceServer, type FacilitatorClient } from "@x402/core/server";
import type { Network, SettleResponse, SupportedResponse } from "@x402/core/types";
import { decodePaymentResponseHeader } from "@x402/core/http";
import { toFacilitatorEvmSigner } from "@x402/evm";
import { ExactEvmScheme as ExactClientScheme } from "@x402/evm/exact/client";
import { ExactEvmScheme as ExactFacilitatorScheme } from "@x402/evm/exact/facilitator";
import { ExactEvmScheme as ExactServerScheme } from "@x402/evm/exact/server";
import { paymentMiddleware } from "@x402/express";
import { wrapFetchWithPayment } from "@x402/fetch";
import type { Express } from "express";
import type { Abi, Address, Hex, LocalAccount } from "viem";

import { recordingFetch } from "../../sdk/cli/pay.js";
import { startPaidApi } from "../../sdk/cli/paid-api.js";
import { WalletKeys } from "../../sdk/core/keys.js";
import { devAccount, type DemoChain } from "../lib/dev-env.js";

/** Price of the demo's paid routes: $0.01 in 6-decimal base units. */
export const DEMO_PRICE = 10_000n;

/** Dev accounts of the demo API (indices of demo-env's mnemonic). */
export const DEMO_ACCOUNTS = { relayer: 1, payer: 2, apiOwner: 3, exactFacilitator: 4 } as const;

/**
 * The x402 "exact" facilitator scheme whose EVM signer is dev account `index`
 * (the facilitator of {@link mountExactRoute}; the benchmark times its `verify` alone).
 */
export function exactFacilitatorScheme(env: DemoChain, index: number): ExactFacilitatorScheme {
  const w = env.fullClientFor(index);
  const signer = toFacilitatorEvmSigner(
    {
      address: w.account.address,
      getCode: (a) => w.getCode(a),
      readContract: (a) => w.readContract({ ...a, abi: a.abi as Abi, args: a.args ?? [] }),
      verifyTypedData: (a) => w.verifyTypedData(a as never),
      writeContract: (a) => w.writeContract({ ...a, abi: a.abi as Abi, args: a.args ?? [] } as never),
      sendTransaction: (a) => w.sendTransaction(a),
      waitForTransactionReceipt: (a) => w.waitForTransactionReceipt(a),
    },
    { confirmationTimeoutMs: 30_000 },
  );
  return new ExactFacilitatorScheme(signer);
}

/**
 * Mounts `GET <path>` paid with x402 "exact": `amount` base units of `token`, signed by
 * the payer, submitted by the facilitator account `facilitatorIndex`.
 */
export function mountExactRoute(
  app: Express,
  env: DemoChain,
  o: {
    path: string;
    payTo: Address;
    amount: bigint;
    facilitatorIndex: number;
    tokenName: string;
    tokenVersion: string;
  },
) {
  const network = `eip155:${env.pool.chainId}` as Network;
  const scheme = exactFacilitatorScheme(env, o.facilitatorIndex);
  const facilitator = new x402Facilitator().register(network, scheme);
  const facilitatorClient: FacilitatorClient = {
    verify: (p, r) => facilitator.verify(p, r),
    settle: (p, r) => facilitator.settle(p, r),
    getSupported: async () => facilitator.getSupported() as SupportedResponse,
  };
  const resourceServer = new x402ResourceServer(facilitatorClient).register(network, new ExactServerScheme());
  app.use(
    paymentMiddleware(
      {
        [`GET ${o.path}`]: {
          accepts: {
            scheme: "exact",
            network,
            payTo: o.payTo,
            maxTimeoutSeconds: 300,
            // No default asset is known on chain 31337: price as an AssetAmount whose extra
            // is the token's EIP-712 domain (TestUSDC: "USD Coin", version "1").
            price: {
              amount: o.amount.toString(),
              asset: env.pool.token,
              extra: { name: o.tokenName, version: o.tokenVersion },
            },
          },
          description: "Today's weather, paid with plain x402 exact",
          mimeType: "application/json",
        },
      },
      resourceServer,
    ),
  );
  app.get(o.path, (_req, res) => {
    res.json({ city: "Lisbon", forecast: "sunny", tempC: 21.5, paidWith: "exact", servedAt: new Date().toISOString() });
  });
  return { network, facilitatorAddress: devAccount(o.facilitatorIndex).address as Address };
}

/**
 * The demo's paid API on 127.0.0.1 (startPaidApi): GET /weather in zk-exact ($0.01, settled
 * by the relayer) and GET /weather-exact in plain x402 exact, both paid to the API owner
 * ({@link DEMO_ACCOUNTS}).
 */
export async function startDemoApi(env: DemoChain) {
  const { pool, deployment } = env;
  const apiOwner = devAccount(DEMO_ACCOUNTS.apiOwner);
  let exact: ReturnType<typeof mountExactRoute> | undefined;
  const api = await startPaidApi({
    pool: { chainId: pool.chainId, facilitator: pool.facilitator, token: pool.token, decimals: pool.decimals },
    publicClient: env.publicClient,
    relayer: env.walletClientFor(DEMO_ACCOUNTS.relayer),
    payTo: apiOwner.address,
    price: "$0.01",
    challengeSecret: WalletKeys.randomSeed(),
    before: (app) => {
      exact = mountExactRoute(app, env, {
        path: "/weather-exact",
        payTo: apiOwner.address,
        amount: DEMO_PRICE,
        facilitatorIndex: DEMO_ACCOUNTS.exactFacilitator,
        tokenName: deployment.token_info.name,
        tokenVersion: deployment.token_info.eip712Version,
      });
    },
  });
  if (!exact) throw new Error("exact route not mounted");
  return { api, exactNetwork: exact.network };
}

/** Result of one exact payment with its timing split. */
export interface ExactPayResult {
  status: number;
  body: string;
  transaction?: Hex;
  settle?: SettleResponse;
  timings: { totalMs: number; challengeMs: number; signMs: number; serverMs: number };
}

/** Pays `url` with plain x402 "exact" from `payer` (signs an EIP-3009 authorization). */
export async function payExact(url: string, payer: LocalAccount, network: Network): Promise<ExactPayResult> {
  const rec = recordingFetch();
  const client = new x402Client().register(network, new ExactClientScheme(payer));
  client.setSpendControls(false);
  const res = await wrapFetchWithPayment(rec.fetch, client)(url);
  const body = await res.text();
  const end = performance.now();
  const header = res.headers.get("PAYMENT-RESPONSE");
  const settle = header ? decodePaymentResponseHeader(header) : undefined;
  const m = rec.marks;
  return {
    status: res.status,
    body,
    settle,
    transaction: settle?.transaction as Hex | undefined,
    timings: {
      totalMs: end - m.start,
      challengeMs: (m.challengeDone ?? end) - m.start,
      signMs: m.paidSent !== undefined && m.challengeDone !== undefined ? m.paidSent - m.challengeDone : 0,
      serverMs: m.paidSent !== undefined && m.paidDone !== undefined ? m.paidDone - m.paidSent : 0,
    },
  };
}
