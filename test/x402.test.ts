import { expect } from "chai";
import type { Address, Hex } from "viem";

import { shutdownProver } from "../sdk/core/prover.js";
import { account, decodeHeader, startEnv, type Env } from "./helpers/x402-env.js";

type Settle = { success: boolean; transaction: string; network: string; errorReason?: string; extra?: { receiptId?: string } };
type Required = { error?: string; accepts: { scheme: string; extra: Record<string, unknown> }[] };

describe("x402 integration: official @x402 packages + zk-exact over real HTTP", function () {
  let env: Env;
  let payee: Address;
  let api: Awaited<ReturnType<Env["api"]>>;

  before(async function () {
    env = await startEnv();
    payee = account(3).address;
    api = await env.api({ payTo: payee });
  });

  after(async function () {
    await api?.close();
    await env?.chain.close();
    await shutdownProver();
  });

  it("answers an unpaid request with a zk-exact 402 challenge", async function () {
    const res = await fetch(`${api.url}/weather`);
    expect(res.status).to.equal(402);
    const required = decodeHeader<Required>(res.headers.get("PAYMENT-REQUIRED"))!;
    expect(required.accepts[0]!.scheme).to.equal("zk-exact");
    const extra = required.accepts[0]!.extra;
    expect(extra.facilitator).to.equal(env.pool.facilitator);
    expect(extra).to.have.nested.property("challenge.mac");
    // Every 402 carries a fresh challenge.
    const again = decodeHeader<Required>((await fetch(`${api.url}/weather`)).headers.get("PAYMENT-REQUIRED"))!;
    expect((again.accepts[0]!.extra.challenge as { id: string }).id).to.not.equal((extra.challenge as { id: string }).id);
  });

  it("server-settled: proof in PAYMENT-SIGNATURE, facilitator submits pay, PAYMENT-RESPONSE carries the tx", async function () {
    const { wallet } = await env.payer(10, { deposit: 1_000_000n });
    const before = await env.system.token.balanceOf(payee);
    const { fetch: paidFetch } = env.payingFetch(wallet, "server");
    const res = await paidFetch(`${api.url}/weather`);
    expect(res.status).to.equal(200);
    expect(await res.json()).to.have.property("weather", "sunny");
    const settle = decodeHeader<Settle>(res.headers.get("PAYMENT-RESPONSE"))!;
    expect(settle.success).to.equal(true);
    expect(settle.transaction).to.match(/^0x[0-9a-f]{64}$/);
    expect(settle.network).to.equal("eip155:31337");
    expect(await env.system.token.balanceOf(payee)).to.equal(before + 10_000n);
    // The wallet sees its spend and its change note after a sync.
    await wallet.sync();
    expect(wallet.balance()).to.equal(1_000_000n - 10_000n);
    // Pay again from the change note.
    const res2 = await paidFetch(`${api.url}/weather`);
    expect(res2.status).to.equal(200);
    await wallet.sync();
    expect(wallet.balance()).to.equal(1_000_000n - 20_000n);
  });

  it("client-settled: the payer submits pay itself and sends the receipt; the server checks it with one call", async function () {
    const { wallet } = await env.payer(11, { deposit: 500_000n });
    const before = await env.system.token.balanceOf(payee);
    const { fetch: paidFetch, sent } = env.payingFetch(wallet, "client");
    const res = await paidFetch(`${api.url}/weather`);
    expect(res.status).to.equal(200);
    const settle = decodeHeader<Settle>(res.headers.get("PAYMENT-RESPONSE"))!;
    expect(settle.success).to.equal(true);
    const sig = decodeHeader<{ payload: { settlement: string; receiptId: Hex } }>(sent.at(-1)!.paymentSignature)!;
    expect(sig.payload.settlement).to.equal("client");
    expect(settle.extra?.receiptId).to.equal(sig.payload.receiptId);
    expect(await env.system.token.balanceOf(payee)).to.equal(before + 10_000n);
    expect(wallet.balance()).to.equal(490_000n);
  });
});
