import axios, { AxiosError } from "axios";
import { expect } from "chai";
import type { Address } from "viem";

import { withZkSessions } from "../../sdk/axios/index.js";
import { shutdownProver } from "../../sdk/core/prover.js";
import { MemorySessionStore } from "../../sdk/session/store.js";
import { OFFERS, sessionApi, sessionClient } from "../helpers/session-env.js";
import { account, startEnv, type Env } from "../helpers/x402-env.js";

describe("402zk/axios: a SessionClient behind an axios instance, against a real session API", function () {
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

  it("buys a credential on the first 402, then presents it for GET and for a bound POST with a JSON body", async function () {
    const { wallet } = await env.payer(6, { deposit: 500_000n });
    const sessions = await sessionClient(wallet, {
      store: new MemorySessionStore(),
      buy: (offers) => offers.find((o) => o.id === "basic"),
      payPerRequest: false,
      prepareAhead: false,
    });
    const http = withZkSessions(axios.create({ baseURL: api.url }), sessions);
    const before = await env.system.token.balanceOf(payee);

    const first = await http.get("/data");
    expect(first.status).to.equal(200);
    expect(first.data).to.deep.equal({ data: "ok", session: { requiredTier: 1 } });
    expect(sessions.lastRequest?.mode).to.equal("bought");
    expect(await env.system.token.balanceOf(payee)).to.equal(before + OFFERS[0]!.price);

    // axios serialises the object; the presentation is bound to the exact bytes sent.
    const order = await http.post("/order", { item: "tea", qty: 2 });
    expect(order.status).to.equal(200);
    expect(order.data).to.deep.equal({ ordered: { item: "tea", qty: 2 } });
    expect(sessions.lastRequest?.mode).to.equal("proved");
    expect(api.served).to.include({ data: 1, order: 1 });
    // Paid once.
    expect(await env.system.token.balanceOf(payee)).to.equal(before + OFFERS[0]!.price);
  });

  it("rejects with an AxiosError whose cause is the ZkPayError when the client may not pay", async function () {
    const { wallet } = await env.payer(7);
    const sessions = await sessionClient(wallet, { buy: "never", payPerRequest: false, prepareAhead: false });
    const http = withZkSessions(axios.create({ baseURL: api.url }), sessions);
    let err: unknown;
    try {
      await http.get("/data");
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(AxiosError);
    expect((err as AxiosError).cause).to.have.property("reason", "no_credential");
    expect(api.served.data).to.equal(1);
  });
});
