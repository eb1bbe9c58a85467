import { expect } from "chai";
import type { Address } from "viem";

import { shutdownProver } from "../sdk/core/prover.js";
import { account, startEnv, type Env } from "./helpers/x402-env.js";
import { OFFERS, PER_REQUEST, sessionApi, sessionClient } from "./helpers/session-env.js";

describe("session credentials over real HTTP: buy once, redeem many times", function () {
  let env: Env;
  let payee: Address;
  let api: Awaited<ReturnType<typeof sessionApi>>;

  before(async function () {
    env = await startEnv();
    payee = account(4).address;
    api = await sessionApi(env, { payTo: payee });
  });

  after(async function () {
    await api?.close();
    await env?.chain.close();
    await shutdownProver();
  });

  it("buys a credential on the first 402 and redeems it for the next requests, without paying again", async function () {
    const { wallet } = await env.payer(12, { deposit: 1_000_000n });
    const before = await env.system.token.balanceOf(payee);
    const client = await sessionClient(wallet, { buy: (offers) => offers.find((o) => o.id === "basic") });
    const first = await client.fetch(`${api.url}/data`);
    expect(first.status).to.equal(200);
    expect(client.lastRequest?.mode).to.equal("bought");
    expect(await env.system.token.balanceOf(payee)).to.equal(before + OFFERS[0]!.price);
    for (let i = 0; i < 2; i++) {
      const res = await client.fetch(`${api.url}/data`);
      expect(res.status).to.equal(200);
      expect(await res.json()).to.deep.include({ data: "ok" });
    }
    // Paid once: the payee got the credential's price and nothing per request.
    expect(await env.system.token.balanceOf(payee)).to.equal(before + OFFERS[0]!.price);
    expect(api.served.data).to.equal(3);
    expect(client.remaining(api.url)).to.equal(0);
    void PER_REQUEST;
  });
});
