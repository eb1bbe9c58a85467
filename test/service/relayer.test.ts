import type { PaymentPayload, PaymentRequirements } from "@x402/core/types";
import { expect } from "chai";
import { decodeFunctionData, parseGwei, zeroAddress, type Hex } from "viem";

import type { PrivateWallet } from "../../sdk/client/wallet.js";
import { facilitatorAbi } from "../../sdk/core/abi.js";
import { toBytes32 } from "../../sdk/core/field.js";
import { shutdownProver } from "../../sdk/core/prover.js";
import type { ZkPaymentPayload } from "../../sdk/core/wire.js";
import { paymentFingerprint, storedItemOf } from "../../sdk/service/service.js";
import { FINAL_REASONS, encodeItem, type StoredItem } from "../../sdk/service/settler.js";
import { ServiceStore, type PaymentRow, type TxRow } from "../../sdk/service/store.js";
import { inOrderConcurrently } from "../helpers/parallel.js";
import { preparedPayment, remoteApi, startService, tempDir, txsFrom } from "../helpers/service.js";
import { account, startEnv, type Env } from "../helpers/x402-env.js";

type Settle = {
  success: boolean;
  transaction: string;
  errorReason?: string;
  errorMessage?: string;
  extra?: { receiptId?: string; batchSize?: number };
};
type Payment = { paymentPayload: PaymentPayload; paymentRequirements: PaymentRequirements };
type ServerPayload = Extract<ZkPaymentPayload, { settlement: "server" }>;

const PRICE = 10_000n;

/** POST /settle that fails the test (instead of hanging it) when the service does not answer in `ms`. */
async function settleWithin(url: string, p: Payment, ms = 20_000): Promise<Settle> {
  const res = await fetch(`${url}/settle`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ x402Version: 2, ...p }),
    signal: AbortSignal.timeout(ms),
  }).catch((err: unknown) => {
    throw new Error(`/settle did not answer within ${ms} ms (${(err as Error).name})`);
  });
  return (await res.json()) as Settle;
}

/** The payment a zk-exact payload carries, as the service stores it. */
function itemOf(p: Payment): { id: Hex; sp: ServerPayload; item: StoredItem } {
  const sp = p.paymentPayload.payload as ServerPayload;
  const item = storedItemOf(sp);
  return { id: toBytes32(item.proof.nullifierHash), sp, item };
}

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const t0 = Date.now();
  while (!(await ok())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("402zk facilitator service: relayer bookkeeping and batches", function () {
  let env: Env;
  let wallet: PrivateWallet;
  const payee = account(3).address;

  before(async function () {
    env = await startEnv();
    const p = await env.payer(12);
    await env.mint(p.address, 9n * 100_000n);
    for (let i = 0; i < 9; i++) await p.wallet.deposit(100_000n);
    wallet = p.wallet;
  });

  after(async function () {
    await env?.chain.close();
    await shutdownProver();
  });

  const rpc = (method: string, params: unknown[] = []) =>
    env.chain.provider.request({ method: method as never, params: params as never });

  /**
   * The node's next block gets a base fee above the max fee the relayer signs with (it
   * prices from the latest block: 2 x base fee + tip), so Hardhat refuses the transaction
   * outright (automine: "too low for the next block"): a real node refusal after the
   * transaction was signed and recorded. Mining one block afterwards makes the high base
   * fee the latest one, and the relayer's next transaction is priced above it.
   */
  async function refuseNextSend(): Promise<void> {
    const block = await env.publicClient.getBlock({ blockTag: "latest" });
    const high = 4n * (2n * (block.baseFeePerGas ?? 0n) + parseGwei("0.01")) + parseGwei("1");
    expect(high < parseGwei("200"), "stays under the relayer's cap once it is the latest base fee").to.equal(true);
    await rpc("hardhat_setNextBlockBaseFeePerGas", [`0x${high.toString(16)}`]);
  }

  it("a database written before refusals had a state of their own is repaired on open: the reused nonce is watched again", function () {
    // As the previous version left it: a refusal at nonce 5 recorded as dropped, the next
    // transaction at nonce 5 pending (hidden from the monitor); a refusal at nonce 6 (the
    // recorded next nonce, given back); nonce 2 dropped because another sender used it.
    const db = `${tempDir()}/facilitator.sqlite`;
    const old = new ServiceStore(db);
    const relayer = account(9).address;
    const row = (hash: string, nonce: number, sentAt: number): TxRow => ({
      hash,
      nonce,
      kind: "pay",
      paymentIds: [],
      raw: "0x",
      gas: "1",
      maxFeePerGas: "1",
      maxPriorityFeePerGas: "1",
      state: "pending",
      sentAt,
      attempt: 0,
    });
    const rows: [string, number, TxRow["state"]][] = [
      ["0x02", 2, "dropped"],
      ["0x05a", 5, "dropped"],
      ["0x05b", 5, "pending"],
      ["0x06", 6, "dropped"],
    ];
    rows.forEach(([hash, nonce], i) => old.recordSent(relayer, 31337, row(hash, nonce, 1_000 + i)));
    for (const [hash, , state] of rows)
      old.db.prepare("UPDATE transactions SET state = ? WHERE hash = ?").run(state, hash);
    old.setNextNonce(relayer, 31337, 6);
    old.close();

    const store = new ServiceStore(db);
    try {
      expect(store.pendingNonces()).to.deep.equal([5]);
      expect(store.txsAt(5).map((t) => [t.hash, t.state])).to.deep.equal([["0x05b", "pending"]]);
      expect(store.getTx("0x05a")?.state).to.equal("refused");
      expect(store.getTx("0x06")?.state).to.equal("refused");
      expect(store.txsAt(6)).to.deep.equal([]);
      expect(store.getTx("0x02")?.state).to.equal("dropped");
      expect(store.txCounts()).to.include({ sent: 2, refused: 2, pending: 1 });
    } finally {
      store.close();
    }
  });

  it("refused by the node, then the reused nonce settles and answers; later nonces follow", async function () {
    const s = await startService(env, { relayerIndex: 6, batch: { maxSize: 1, windowMs: 0 } });
    const api = await remoteApi(env, { facilitatorUrl: s.url, payTo: payee, price: PRICE });
    try {
      const first = await preparedPayment(env, wallet, api.url);
      const second = await preparedPayment(env, wallet, api.url);
      const signer = account(6).address;
      const nonce0 = await env.publicClient.getTransactionCount({ address: signer, blockTag: "pending" });
      expect(s.service.relayer.nextNonce).to.equal(nonce0);

      await refuseNextSend();
      const refused = await settleWithin(s.url, first);
      expect(refused).to.include({ success: false, errorReason: "settlement_failed", transaction: "" });
      expect(refused.errorMessage).to.match(/node refused/);
      // Signed and recorded (write-ahead), refused: the nonce is given back.
      expect(s.service.relayer.nextNonce).to.equal(nonce0);
      expect(await env.publicClient.getTransactionCount({ address: signer, blockTag: "pending" })).to.equal(nonce0);
      await rpc("evm_mine");

      const payeeBefore = await env.system.token.balanceOf(payee);
      // The same payment again (a refusal by the node is not final): sent at the reused nonce.
      const again = await settleWithin(s.url, first);
      expect(again.success, JSON.stringify(again)).to.equal(true);
      const tx = await env.publicClient.getTransaction({ hash: again.transaction as Hex });
      expect(tx.nonce).to.equal(nonce0);
      // The next payment takes the next nonce and settles too (nothing blocks behind it).
      const next = await settleWithin(s.url, second);
      expect(next.success, JSON.stringify(next)).to.equal(true);
      expect((await env.publicClient.getTransaction({ hash: next.transaction as Hex })).nonce).to.equal(nonce0 + 1);
      expect(await env.system.token.balanceOf(payee)).to.equal(payeeBefore + 2n * PRICE);
      const health = (await (await fetch(`${s.url}/health`)).json()) as { payments: Record<string, number> };
      expect(health.payments).to.include({ settled: 2, submitted: 0, accepted: 0, failed: 0 });
    } finally {
      await api.close();
      await s.close();
    }
  });

  it("across a restart: a new service on the same database finds the transaction at the reused nonce and finishes it", async function () {
    const db = `${tempDir()}/facilitator.sqlite`;
    const signer = account(7).address;
    const s1 = await startService(env, { relayerIndex: 7, db, batch: { maxSize: 1, windowMs: 0 } });
    const api = await remoteApi(env, { facilitatorUrl: s1.url, payTo: payee, price: PRICE });
    const p = await preparedPayment(env, wallet, api.url);
    await api.close();
    const id = toBytes32(BigInt((p.paymentPayload.payload as ServerPayload).proof.nullifierHash));
    const nonce0 = await env.publicClient.getTransactionCount({ address: signer, blockTag: "pending" });
    const payeeBefore = await env.system.token.balanceOf(payee);

    await refuseNextSend();
    const refused = await settleWithin(s1.url, p);
    expect(refused).to.include({ success: false, errorReason: "settlement_failed", transaction: "" });
    await rpc("evm_mine");

    // Sent again at the reused nonce, but not mined before the service stops.
    await rpc("evm_setAutomine", [false]);
    let s2: Awaited<ReturnType<typeof startService>> | undefined;
    try {
      void settleWithin(s1.url, p).catch(() => undefined);
      await until("the payment's transaction is recorded and in the node's mempool", async () => {
        const row = s1.store.getPayment(id);
        if (row?.state !== "submitted" || !row.txHash) return false;
        return (
          (await env.publicClient.getTransaction({ hash: row.txHash as Hex }).catch(() => undefined)) !== undefined
        );
      });
      const sent = s1.store.getPayment(id)!;
      expect(sent.nonce).to.equal(nonce0);
      await s1.close(100);

      s2 = await startService(env, { relayerIndex: 7, db, batch: { maxSize: 1, windowMs: 0 } });
      await rpc("evm_setAutomine", [true]);
      await rpc("evm_mine");
      await until(
        `the restarted service settles the payment (state: ${s2.store.getPayment(id)?.state})`,
        () => s2!.store.getPayment(id)?.state === "settled",
      );
      const row = s2.store.getPayment(id)!;
      expect(row.txHash).to.equal(sent.txHash);
      const answer = await settleWithin(s2.url, p);
      expect(answer).to.include({ success: true, transaction: sent.txHash });
      expect(await env.system.token.balanceOf(payee)).to.equal(payeeBefore + PRICE);
      expect(s2.service.relayer.nextNonce).to.equal(nonce0 + 1);
    } finally {
      await rpc("evm_setAutomine", [true]);
      await s2?.close();
    }
  });

  it("a batch the contract would refuse as a whole drops only the payments it refuses; the rest settle in one payBatch", async function () {
    this.timeout(600_000);
    const s = await startService(env, { relayerIndex: 8, batch: { windowMs: 30_000, maxSize: 6 } });
    const api = await remoteApi(env, { facilitatorUrl: s.url, payTo: payee, price: PRICE });
    try {
      // Five independent payments (a note each), made two at a time (helpers/parallel).
      const prepared = await inOrderConcurrently(
        Array.from({ length: 5 }, () => () => preparedPayment(env, wallet, api.url)),
      );
      const honest: Payment[] = prepared.slice(0, 3);
      const [spentElsewhere, forZero] = [prepared[3]!, prepared[4]!];
      const signer = account(8).address;
      const block = await env.publicClient.getBlockNumber();
      const payeeBefore = await env.system.token.balanceOf(payee);

      // Four payments pass every check of the service and wait for the batch window.
      const answers = [...honest, spentElsewhere].map((p) => settleWithin(s.url, p, 120_000));
      await until("four payments accepted", () => s.store.paymentsIn("accepted").length === 4);
      // Between acceptance and the batch, another party settles one of them on chain itself.
      const other = itemOf(spentElsewhere);
      const byOther = await env.walletClientFor(13).writeContract({
        address: env.pool.facilitator,
        abi: facilitatorAbi,
        functionName: "pay",
        args: [other.item.proof, other.item.terms, other.item.memo, other.item.payeeMemo],
        chain: env.walletClientFor(13).chain,
        account: account(13),
      });
      await env.publicClient.waitForTransactionReceipt({ hash: byOther });

      // Two payments the contract refuses as a whole, stored as a service without today's
      // up-front checks accepted them (rows survive upgrades in the database): a zero payee
      // with a public amount (a shielded payment must pay 0 in public: FacilitatorShieldedAmount), and a proof of another nullifier than the one it names
      // (FacilitatorInvalidProof from the batched pairing check).
      const zero = itemOf(forZero);
      zero.item.terms.payTo = zeroAddress;
      const forBadProof = JSON.parse(JSON.stringify(forZero)) as Payment;
      (forBadProof.paymentPayload.payload as ServerPayload).proof.nullifierHash = (
        BigInt(zero.sp.proof.nullifierHash) ^ 1n
      ).toString();
      const bad = itemOf(forBadProof);
      for (const x of [zero, bad]) {
        s.store.insertPayment({
          id: x.id,
          fingerprint: paymentFingerprint(x.sp),
          source: "relay",
          state: "accepted",
          item: encodeItem(x.item),
          payTo: x.item.terms.payTo,
          amount: x.item.terms.amount.toString(),
          fee: x.item.terms.fee.toString(),
        });
      }
      const poisoned = [s.service.settler.submit(zero.id), s.service.settler.submit(bad.id)];

      const settled = await Promise.all(answers);
      const honestAnswers = settled.slice(0, 3);
      for (const r of honestAnswers) expect(r.success, JSON.stringify(r)).to.equal(true);
      const hashes = new Set(honestAnswers.map((r) => r.transaction));
      expect([...hashes], "the honest payments share one transaction").to.have.length(1);
      const sent = await txsFrom(env, signer, block);
      expect(sent.map((t) => t.hash)).to.deep.equal([...hashes]);
      const call = decodeFunctionData({ abi: facilitatorAbi, data: sent[0]!.input });
      expect(call.functionName).to.equal("payBatch");
      expect((call.args as readonly [readonly unknown[]])[0]).to.have.length(3);
      for (const r of honestAnswers) expect(r.extra?.batchSize).to.equal(3);
      // The one paid by another party: settled, by that party's transaction.
      expect(settled[3]).to.include({ success: true, transaction: byOther });

      const [zeroRow, badRow] = (await Promise.all(poisoned)) as [PaymentRow, PaymentRow];
      expect(zeroRow).to.include({ state: "failed", reason: "invalid_payload" });
      expect(zeroRow.message).to.match(/FacilitatorShieldedAmount/);
      expect(badRow).to.include({ state: "failed", reason: "invalid_proof" });
      // Final: the same bytes are answered from the store, never simulated or sent again.
      expect(FINAL_REASONS.has(zeroRow.reason!) && FINAL_REASONS.has(badRow.reason!)).to.equal(true);
      expect(zeroRow.txHash ?? "").to.equal("");
      expect(s.service.settler.stats).to.include({ batches: 1, fallbacks: 0, droppedFromBatch: 3 });
      expect(await env.system.token.balanceOf(payee)).to.equal(payeeBefore + 4n * PRICE);
    } finally {
      await api.close();
      await s.close();
    }
  });
});
