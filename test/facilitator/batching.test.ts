import { expect } from "chai";
import { decodeEventLog, decodeFunctionData, type Address } from "viem";

import { facilitatorAbi } from "../../sdk/core/abi.js";
import { shutdownProver } from "../../sdk/core/prover.js";
import { inOrderConcurrently } from "../helpers/parallel.js";
import { account, decodeHeader, startEnv, type Env } from "../helpers/x402-env.js";

type Settle = { success: boolean; transaction: string; extra?: { receiptId?: string; batchSize?: number } };

/**
 * The SDK facilitator's batched settlement over real HTTP: concurrent server-settled
 * payments share one payBatch, a lone one goes through pay and its change note is
 * committed one window later, and a payer whose change is its only note gets it
 * committed in the settling transaction (payAndCommit).
 */
describe("x402 integration: batched settlement (SettlementBatcher)", function () {
  let env: Env;
  let payee: Address;
  let api: Awaited<ReturnType<Env["api"]>>;

  before(async function () {
    env = await startEnv();
    payee = account(3).address;
    // A wide window so that requests sent together certainly fall into one batch.
    api = await env.api({ payTo: payee, batch: { windowMs: 400, maxSize: 16 } });
  });

  after(async function () {
    await api?.close();
    await env?.chain.close();
    await shutdownProver();
  });

  const read = (functionName: "pendingLeafCount" | "treeSize" | "leafCount") =>
    env.publicClient.readContract({ address: env.pool.facilitator, abi: facilitatorAbi, functionName });

  it("four payments sent together settle in one payBatch, each with its own receipt, change committed", async function () {
    const payers = [];
    for (let i = 0; i < 4; i++) {
      const p = await env.payer(10 + i, { deposit: 100_000n });
      // A second note each, so that no payer asks for payAndCommit: batching alone commits.
      await env.mint(p.address, 50_000n);
      await p.wallet.deposit(50_000n);
      payers.push(p);
    }
    // Four independent proofs (four wallets), made two at a time (helpers/parallel).
    const headers = await inOrderConcurrently(
      payers.map((p) => () => env.preparedHeader(p.wallet, `${api.url}/weather`)),
    );
    const before = await env.system.token.balanceOf(payee);
    const stats0 = { ...api.facilitatorScheme.batcher!.stats };

    const responses = await Promise.all(
      headers.map((h) => fetch(`${api.url}/weather`, { headers: { "PAYMENT-SIGNATURE": h } })),
    );
    expect(responses.map((r) => r.status)).to.deep.equal([200, 200, 200, 200]);
    const settles = responses.map((r) => decodeHeader<Settle>(r.headers.get("PAYMENT-RESPONSE"))!);
    expect(new Set(settles.map((s) => s.transaction)).size, "one transaction for all four").to.equal(1);
    expect(settles.every((s) => s.success && s.extra?.batchSize === 4)).to.equal(true);
    const stats = api.facilitatorScheme.batcher!.stats;
    expect(stats.batches - stats0.batches).to.equal(1);
    expect(stats.singles - stats0.singles).to.equal(0);

    const rc = await env.publicClient.getTransactionReceipt({ hash: settles[0]!.transaction as `0x${string}` });
    // Four receipts (PaymentReceipt), one transfer to the payee for all of them.
    const transfers = rc.logs.filter((l) => l.address.toLowerCase() === env.pool.token.toLowerCase());
    expect(transfers).to.have.length(1);
    expect(await env.system.token.balanceOf(payee)).to.equal(before + 40_000n);
    const receipts = rc.logs
      .filter((l) => l.address.toLowerCase() === env.pool.facilitator.toLowerCase())
      .map((l) => {
        try {
          return decodeEventLog({ abi: facilitatorAbi, data: l.data, topics: l.topics });
        } catch {
          return undefined;
        }
      })
      .filter((e) => e?.eventName === "PaymentReceipt");
    expect(receipts).to.have.length(4);
    for (const s of settles) {
      const ev = receipts.find((e) => e!.eventName === "PaymentReceipt" && e!.args.id === s.extra!.receiptId)!;
      expect(ev, `a PaymentReceipt for ${s.extra!.receiptId}`).to.not.equal(undefined);
      if (ev.eventName !== "PaymentReceipt") throw new Error("unreachable");
      // Each payment's own receipt, readable with one eth_call.
      const [status] = await env.publicClient.readContract({
        address: env.pool.facilitator,
        abi: facilitatorAbi,
        functionName: "checkReceipt",
        args: [ev.args.id, payee, 10_000n, ev.args.conditionHash],
      });
      expect(status).to.equal(1); // Paid
    }
    // The batch committed its change notes: every payer can spend its change at once.
    expect(await read("pendingLeafCount")).to.equal(0n);
    for (const p of payers) {
      await p.wallet.sync();
      expect(p.wallet.balance()).to.equal(140_000n);
      expect(p.wallet.queuedNotes()).to.have.length(0);
    }
  });

  it("a lone payment goes through pay; its change note is committed commitAfterMs later", async function () {
    const p = await env.payer(14, { deposit: 100_000n });
    await env.mint(p.address, 50_000n);
    await p.wallet.deposit(50_000n);
    const stats0 = { ...api.facilitatorScheme.batcher!.stats };
    const { fetch: paidFetch } = env.payingFetch(p.wallet, "server");
    const res = await paidFetch(`${api.url}/weather`);
    expect(res.status).to.equal(200);
    const settle = decodeHeader<Settle>(res.headers.get("PAYMENT-RESPONSE"))!;
    expect(settle.extra?.batchSize).to.equal(1);
    const stats = api.facilitatorScheme.batcher!.stats;
    expect(stats.singles - stats0.singles).to.equal(1);
    // The change note is queued until the batcher's commit, about one window later.
    const t0 = Date.now();
    while ((await read("pendingLeafCount")) > 0n) {
      if (Date.now() - t0 > 10_000) throw new Error("the queued change note was never committed");
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(api.facilitatorScheme.batcher!.stats.commits - stats0.commits).to.equal(1);
    await p.wallet.sync();
    expect(p.wallet.balance()).to.equal(140_000n);
    expect(p.wallet.queuedNotes()).to.have.length(0);
  });

  it("a payer whose change is its only note asks for payAndCommit: spendable in the next block", async function () {
    const p = await env.payer(15, { deposit: 100_000n });
    const { fetch: paidFetch, prepared } = env.payingFetch(p.wallet, "server");
    const res = await paidFetch(`${api.url}/weather`);
    expect(res.status).to.equal(200);
    expect(prepared[0]!.commitChange).to.equal(true);
    const settle = decodeHeader<Settle>(res.headers.get("PAYMENT-RESPONSE"))!;
    const tx = await env.publicClient.getTransaction({ hash: settle.transaction as `0x${string}` });
    expect(decodeFunctionData({ abi: facilitatorAbi, data: tx.input }).functionName).to.equal("payAndCommit");
    expect(await read("pendingLeafCount")).to.equal(0n);
    // And it pays again at once with that change note.
    await p.wallet.sync();
    const again = await paidFetch(`${api.url}/weather`);
    expect(again.status).to.equal(200);
  });
});
