import { x402Client } from "@x402/core/client";
import { wrapFetchWithPayment } from "@x402/fetch";
import { expect } from "chai";
import { createServer, type Server } from "node:http";
import type { Address } from "viem";

import { wrapFetchWithZkPayment } from "../../sdk/client/fetch.js";
import { RelayClient } from "../../sdk/client/relay.js";
import { ZkExactClientScheme, checkPaymentCost, defaultMaxFee, type ZkClientOptions } from "../../sdk/client/scheme.js";
import type { PrivateWallet } from "../../sdk/client/wallet.js";
import { ZkPayError, isZkPayError } from "../../sdk/core/errors.js";
import { shutdownProver } from "../../sdk/core/prover.js";
import { startService } from "../helpers/service.js";
import { sessionApi, sessionClient } from "../helpers/session-env.js";
import { account, startEnv, type Env } from "../helpers/x402-env.js";

const USDC = { decimals: 6, symbol: "USDC" };

/** What a thrown call threw (or undefined when it did not throw). */
async function caught(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run();
  } catch (err) {
    return err;
  }
  return undefined;
}

describe("payer caps bound amount + fee (#16 finding 2) and typed errors reach the agent (#17)", function () {
  let env: Env;
  const payTo = account(3).address;
  const opened: { close: () => Promise<unknown> }[] = [];

  before(async function () {
    env = await startEnv();
  });

  after(async function () {
    for (const o of opened.reverse()) await o.close().catch(() => {});
    await env?.chain.close();
    await shutdownProver();
  });

  const tokenBalance = async (a: Address) => BigInt(await env.system.token.balanceOf(a));

  /**
   * An x402 client paying with `wallet` (README: `x402Client` + `ZkExactClientScheme`),
   * counting proofs started: a refusal "before proving" leaves the count at 0.
   */
  function client(wallet: PrivateWallet, o: Partial<ZkClientOptions> & { cap?: string } = {}) {
    const proofs = { started: 0 };
    const scheme = new ZkExactClientScheme({ wallet, onProgress: () => proofs.started++, ...o });
    const c = new x402Client().register("eip155:*", scheme);
    if (o.cap === undefined) c.setSpendControls(false);
    // The README's spend cap: an atomic per-payment cap on the pool's token.
    else
      c.setSpendControls({
        allowedAssets: [{ network: `eip155:${env.pool.chainId}`, asset: env.pool.token, maxAmountPerPayment: o.cap }],
      });
    return { client: c, proofs };
  }

  /** The wallet's state, for "the note is intact". */
  const notesOf = (w: PrivateWallet) => JSON.stringify({ notes: w.snapshot().notes, pending: w.snapshot().pending });

  it("checkPaymentCost: the cap covers amount + fee; the default fee limit is min(amount, 0.1 token); exact bounds pass", async function () {
    const reasonOf = (f: () => void) => {
      try {
        f();
      } catch (err) {
        return isZkPayError(err) ? err.reason : String(err);
      }
      return "ok";
    };
    // The README's scenario: a price inside the cap, a fee of the rest of the note.
    expect(
      reasonOf(() => checkPaymentCost({ amount: 100_000n, fee: 900_000n }, { maxAmount: 100_000n }, USDC)),
    ).to.equal("fee_too_high");
    // Raised fee limit, but amount + fee is over the cap: still the fee that breaks it.
    expect(
      reasonOf(() => checkPaymentCost({ amount: 100_000n, fee: 1n }, { maxAmount: 100_000n, maxFee: 10n }, USDC)),
    ).to.equal("fee_too_high");
    expect(
      reasonOf(() => checkPaymentCost({ amount: 99_999n, fee: 1n }, { maxAmount: 100_000n, maxFee: 1n }, USDC)),
    ).to.equal("ok");
    expect(reasonOf(() => checkPaymentCost({ amount: 100_001n, fee: 0n }, { maxAmount: 100_000n }, USDC))).to.equal(
      "spend_cap_exceeded",
    );
    // Default limit: the amount for small payments, 0.1 token for large ones.
    expect(defaultMaxFee(10_000n, USDC)).to.equal(10_000n);
    expect(defaultMaxFee(5_000_000n, USDC)).to.equal(100_000n);
    expect(reasonOf(() => checkPaymentCost({ amount: 10_000n, fee: 10_000n }, {}, USDC))).to.equal("ok");
    expect(reasonOf(() => checkPaymentCost({ amount: 10_000n, fee: 10_001n }, {}, USDC))).to.equal("fee_too_high");
    expect(reasonOf(() => checkPaymentCost({ amount: 5_000_000n, fee: 100_001n }, {}, USDC))).to.equal("fee_too_high");
    expect(
      reasonOf(() => checkPaymentCost({ amount: 5_000_000n, fee: 100_001n }, { maxFee: 200_000n }, USDC)),
    ).to.equal("ok");
    // Amounts in tokens, with the relayer named.
    const err = await caught(async () =>
      checkPaymentCost({ amount: 100_000n, fee: 900_000n, relayer: account(1).address }, { maxAmount: 100_000n }, USDC),
    );
    expect((err as Error).message)
      .to.include("the fee of 0.9 USDC to relayer")
      .and.include("0.1 USDC");
  });

  it("README scenario: cap 0.1 USDC, a 402 asking 0.1 plus a 0.9 fee to the API's own relayer: fee_too_high before proving, nothing paid, the note intact", async function () {
    const { wallet } = await env.payer(4, { deposit: 1_000_000n });
    const relayer = account(1).address; // the API's own relayer account
    const api = await env.api({ payTo, price: 100_000n, fee: 900_000n, relayerIndex: 1 });
    opened.push(api);
    const before = { payee: await tokenBalance(payTo), relayer: await tokenBalance(relayer), notes: notesOf(wallet) };

    // Through the SDK's wrapper: the ZkPayError itself.
    const { client: c, proofs } = client(wallet, { cap: "100000" });
    const err = await caught(() => wrapFetchWithZkPayment(fetch, c)(`${api.url}/weather`));
    expect(err, String(err)).to.be.instanceOf(ZkPayError);
    expect((err as ZkPayError).reason).to.equal("fee_too_high");
    expect((err as ZkPayError).message).to.match(
      /the fee of 0\.9 USDC to relayer 0x[0-9a-fA-F]{40} is above your fee limit of 0\.1 USDC/,
    );
    // Through @x402/fetch's own wrapper: refused just the same (its Error keeps the message).
    const plain = await caught(() => wrapFetchWithPayment(fetch, c)(`${api.url}/weather`));
    expect(String(plain)).to.match(/fee of 0\.9 USDC/);
    // Without any cap, the default fee limit refuses it as well.
    const uncapped = client(wallet);
    const err2 = await caught(() => wrapFetchWithZkPayment(fetch, uncapped.client)(`${api.url}/weather`));
    expect(isZkPayError(err2, "fee_too_high"), String(err2)).to.equal(true);

    expect(proofs.started + uncapped.proofs.started, "proofs started").to.equal(0);
    expect(api.served()).to.equal(0);
    expect(await tokenBalance(payTo)).to.equal(before.payee);
    expect(await tokenBalance(relayer)).to.equal(before.relayer);
    expect(notesOf(wallet)).to.equal(before.notes);
    expect(wallet.balance()).to.equal(1_000_000n);
  });

  it("a fee above the amount pays only when the payer raised maxFee and the cap covers amount + fee; the scheme's maxAmount below the price is spend_cap_exceeded", async function () {
    const { wallet } = await env.payer(6, { deposit: 100_000n });
    const api = await env.api({ payTo, price: 10_000n, fee: 20_000n, relayerIndex: 7 });
    opened.push(api);
    const url = `${api.url}/weather`;
    const reason = async (o: Parameters<typeof client>[1]) => {
      const err = await caught(() => wrapFetchWithZkPayment(fetch, client(wallet, o).client)(url));
      return isZkPayError(err) ? err.reason : String(err);
    };
    expect(await reason({})).to.equal("fee_too_high"); // default limit: the fee may not exceed the amount
    expect(await reason({ maxFee: 20_000n, cap: "29999" })).to.equal("fee_too_high"); // amount + fee over the cap
    expect(await reason({ maxFee: 20_000n, maxAmount: 29_999n })).to.equal("fee_too_high");
    expect(await reason({ maxFee: 20_000n, maxAmount: 9_999n })).to.equal("spend_cap_exceeded");
    expect(wallet.balance()).to.equal(100_000n);

    const payee = await tokenBalance(payTo);
    const relayer = await tokenBalance(account(7).address);
    const res = await wrapFetchWithZkPayment(fetch, client(wallet, { maxFee: 20_000n, cap: "30000" }).client)(url);
    expect(res.status, await res.text()).to.equal(200);
    expect(await tokenBalance(payTo)).to.equal(payee + 10_000n);
    expect(await tokenBalance(account(7).address)).to.equal(relayer + 20_000n);
    expect(wallet.balance()).to.equal(70_000n);
  });

  it("a session purchase whose 402 asks a fee above the payer's limit: fee_too_high before proving, nothing paid, no purchase left pending", async function () {
    const { wallet } = await env.payer(8, { deposit: 2_000_000n });
    const api = await sessionApi(env, { payTo, fee: 900_000n, relayerIndex: 9 });
    opened.push(api);
    let proofs = 0;
    const sessions = await sessionClient(wallet, { onProgress: () => proofs++ });
    const payee = await tokenBalance(payTo);
    const relayerBefore = await tokenBalance(account(9).address);
    const err = await caught(() => sessions.fetch(`${api.url}/data`));
    expect(isZkPayError(err, "fee_too_high"), String(err)).to.equal(true);
    expect((err as ZkPayError).message).to.include("0.9 USDC");
    expect(proofs).to.equal(0);
    expect(api.served.data).to.equal(0);
    expect(await tokenBalance(payTo)).to.equal(payee);
    expect(await tokenBalance(account(9).address)).to.equal(relayerBefore);
    expect(wallet.balance()).to.equal(2_000_000n);
    expect(wallet.snapshot().pending).to.deep.equal([]);
    expect(sessions.pendingPurchases()).to.deep.equal([]);
  });

  it("a relayer asking a fee above the payer's limit: withdraw({ relay }), a relayed payment and RelayClient({ maxFee }) refuse it before proving", async function () {
    const { wallet } = await env.payer(10, { deposit: 1_000_000n });
    const svc = await startService(env, { relayerIndex: 11, fees: { minFee: 900_000n } });
    opened.push(svc);
    const to = account(12).address;
    const before = {
      to: await tokenBalance(to),
      relayerNonce: await env.publicClient.getTransactionCount({ address: account(11).address }),
    };
    let proofs = 0;
    const relay = new RelayClient({ url: svc.url });

    const w = await caught(() => wallet.withdraw({ to, amount: 100_000n, relay, onProgress: () => proofs++ }));
    expect(isZkPayError(w, "fee_too_high"), String(w)).to.equal(true);
    expect((w as ZkPayError).message).to.include("the fee of 0.9 USDC to relayer");
    // The limit can be raised per call; a cap of its own on the relay client refuses at terms().
    const capped = await caught(() => new RelayClient({ url: svc.url, maxFee: 1_000n }).terms(env.pool.chainId));
    expect(isZkPayError(capped, "fee_too_high"), String(capped)).to.equal(true);

    const api = await env.api({ payTo, price: 10_000n, relayerIndex: 13 });
    opened.push(api);
    const relayed = client(wallet, { settlement: "client", relay });
    const r = await caught(() => wrapFetchWithZkPayment(fetch, relayed.client)(`${api.url}/weather`));
    expect(isZkPayError(r, "fee_too_high"), String(r)).to.equal(true);

    expect(proofs + relayed.proofs.started).to.equal(0);
    expect(await tokenBalance(to)).to.equal(before.to);
    expect(await env.publicClient.getTransactionCount({ address: account(11).address })).to.equal(before.relayerNonce);
    expect(api.served()).to.equal(0);
    expect(wallet.balance()).to.equal(1_000_000n);
    expect(wallet.snapshot().pending).to.deep.equal([]);
  });

  it("through wrapFetchWithZkPayment a wallet short of funds is a ZkPayError insufficient_private_balance, amounts in tokens", async function () {
    const api = await env.api({ payTo, price: 10_000n, relayerIndex: 14 });
    opened.push(api);
    const url = `${api.url}/weather`;
    const empty = await env.payer(15);
    const e1 = await caught(() => wrapFetchWithZkPayment(fetch, client(empty.wallet).client)(url));
    expect(isZkPayError(e1, "insufficient_private_balance"), String(e1)).to.equal(true);
    expect((e1 as ZkPayError).message).to.match(
      /^no single private note covers 0\.01 USDC \(largest spendable note 0 USDC/,
    );

    const small = await env.payer(16, { deposit: 5_000n });
    const e2 = await caught(() => wrapFetchWithZkPayment(fetch, client(small.wallet).client)(url));
    expect(e2).to.be.instanceOf(ZkPayError);
    expect((e2 as ZkPayError).reason).to.equal("insufficient_private_balance");
    expect((e2 as ZkPayError).message).to.match(
      /^no single private note covers 0\.01 USDC \(largest spendable note 0\.005 USDC, private balance 0\.005 USDC\)/,
    );
    expect((e2 as ZkPayError).details).to.include({ needed: "10000", largestNote: "5000" });
    // @x402/fetch's own wrapper keeps only the message, which is in tokens too.
    const plain = await caught(() => wrapFetchWithPayment(fetch, client(small.wallet).client)(url));
    expect(String(plain)).to.include("no single private note covers 0.01 USDC");
    expect(api.served()).to.equal(0);
  });
  describe("a payment that may have left keeps its note reserved (#17: never reported as not made)", function () {
    /**
     * A gateway in front of the relay that forwards the request for real (the payment
     * settles) and then loses the answer: 502 without a verdict, as nginx answers when
     * the upstream connection drops.
     */
    async function lossyGateway(upstream: string): Promise<{ url: string; server: Server }> {
      const server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", async () => {
          const r = await fetch(`${upstream}${req.url}`, {
            method: req.method,
            headers: { "content-type": "application/json" },
            body: req.method === "POST" ? Buffer.concat(chunks) : undefined,
          });
          const body = await r.text();
          if (req.method === "POST") {
            res.writeHead(502, { "content-type": "text/plain" }).end("Bad Gateway");
          } else {
            res.writeHead(r.status, { "content-type": "application/json" }).end(body);
          }
        });
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
      return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server };
    }

    it("a relayed withdrawal whose answer is lost is payment_unconfirmed with its receipt id; the note stays reserved (it was spent)", async function () {
      const { wallet } = await env.payer(17, { deposit: 1_000_000n });
      const svc = await startService(env, { relayerIndex: 18, fees: { minFee: 1_000n } });
      opened.push(svc);
      const gw = await lossyGateway(svc.url);
      opened.push({ close: () => new Promise<void>((r) => gw.server.close(() => r())) });
      const to = account(19).address;
      const before = await tokenBalance(to);

      const err = await caught(() =>
        wallet.withdraw({ to, amount: 100_000n, relay: new RelayClient({ url: gw.url }) }),
      );
      expect(isZkPayError(err, "payment_unconfirmed"), String(err)).to.equal(true);
      expect((err as ZkPayError).details).to.have.property("receiptId");
      // It did settle: the recipient was paid, so the wallet must not offer the note again.
      expect(await tokenBalance(to)).to.equal(before + 100_000n);
      expect(wallet.snapshot().pending).to.have.length(1);
      expect(wallet.balances().spendable).to.equal(0n);
      // A sync finds the spend and the change: the balance is right without a release.
      await wallet.sync();
      expect(wallet.snapshot().pending).to.deep.equal([]);
      expect(wallet.balance()).to.equal(1_000_000n - 100_000n - 1_000n);
    });
  });
});
