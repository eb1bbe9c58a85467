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
import type { DemoChain } from "./demo-env.js";

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
  const w = env.fullClientFor(o.facilitatorIndex);
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
  const facilitator = new x402Facilitator().register(network, new ExactFacilitatorScheme(signer));
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
  return { network, facilitatorAddress: w.account.address as Address };
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
