import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";
import { bytesToHex, zeroAddress, type Hex } from "viem";

import { fetchIncoming, scanIncoming } from "../../sdk/client/actions/receive.js";
import { MemoryNoteStore } from "../../sdk/client/store.js";
import { PrivateWallet, type PrivateWalletOptions, type WithdrawTransaction } from "../../sdk/client/wallet.js";
import { facilitatorAbi } from "../../sdk/core/abi.js";
import { isZkPayError, type ZkPayError } from "../../sdk/core/errors.js";
import { SNARK_SCALAR_FIELD, toBytes32 } from "../../sdk/core/field.js";
import { WalletKeys } from "../../sdk/core/keys.js";
import { PAYEE_MEMO_LENGTH } from "../../sdk/core/note-encryption.js";
import { commitmentOf, notePosition, nullifierHashOf, type NoteOpening } from "../../sdk/core/note.js";
import { paymentContext } from "../../sdk/core/context.js";
import { provePayment } from "../../sdk/core/circuits/payment.js";
import { parseViewingKey } from "../../sdk/core/shielded-address.js";
import { shutdownProver } from "../../sdk/core/prover.js";
import { NoteTree } from "../../sdk/core/tree.js";
import { FileNoteStore } from "../../sdk/node/file-store.js";
import { nodeX25519 } from "../../sdk/node/x25519.js";
import { RelayClient } from "../../sdk/client/relay.js";
import { startService } from "../helpers/service.js";
import { account, startEnv, type Env } from "../helpers/x402-env.js";

describe("PrivateWallet: shielded payments received, spent and audited; withdrawals of any amount", function () {
  let env: Env;
  let dir: string;
  const opened: PrivateWallet[] = [];

  before(async function () {
    env = await startEnv();
    dir = mkdtempSync(path.join(os.tmpdir(), "402zk-shielded-"));
  });

  after(async function () {
    await Promise.all(opened.map((w) => w.close()));
    await env?.chain.close();
    rmSync(dir, { recursive: true, force: true });
    await shutdownProver();
  });

  /** A wallet of `seed` paying gas from dev account `i`, a fresh memory store unless given, no scheduled sync. */
  async function openWallet(i: number, seed: Hex, opts: Partial<PrivateWalletOptions> = {}) {
    const wallet = await PrivateWallet.open({
      seed,
      pool: env.pool,
      publicClient: env.publicClient,
      walletClient: env.walletClientFor(i),
      store: new MemoryNoteStore(),
      artifacts: env.artifacts,
      sync: { auto: false },
      ...opts,
    });
    opened.push(wallet);
    return wallet;
  }

  /** A wallet of `seed` with deposits of `values` from dev account `i`. */
  async function funded(i: number, seed: Hex, values: bigint[], opts: Partial<PrivateWalletOptions> = {}) {
    const w = await openWallet(i, seed, opts);
    await env.mint(
      account(i).address,
      values.reduce((s, v) => s + v, 0n),
    );
    for (const v of values) await w.deposit(v);
    return w;
  }

  /** A wallet restored from `seed` into an empty store and synced: what seed + chain find. */
  async function restored(i: number, seed: Hex, opts: Partial<PrivateWalletOptions> = {}) {
    const w = await openWallet(i, seed, opts);
    await w.sync();
    return w;
  }

  const expiry = () => BigInt(Math.floor(Date.now() / 1000)) + 600n;
  const condition = (n: number) => toBytes32(BigInt(n) * 0x1000001n);
  const balanceOf = (a: Hex) => env.system.token.balanceOf(a) as Promise<bigint>;

  /** The pool's forest as the chain has it (every queued leaf committed first). */
  async function chainTree(committer: PrivateWallet): Promise<NoteTree> {
    await committer.commitPendingLeaves();
    const read = (functionName: "treeLevels" | "treeSize") =>
      env.publicClient.readContract({ address: env.pool.facilitator, abi: facilitatorAbi, functionName });
    const events = await env.publicClient.getContractEvents({
      address: env.pool.facilitator,
      abi: facilitatorAbi,
      eventName: "LeafInserted",
      fromBlock: BigInt(env.pool.deploymentBlock),
      strict: true,
    });
    const leaves = events.sort((a, b) => Number(a.args.leafIndex - b.args.leafIndex)).map((e) => e.args.commitment);
    const tree = NoteTree.from(leaves, Number(await read("treeLevels")));
    expect(BigInt(tree.committedSize)).to.equal(await read("treeSize"));
    return tree;
  }

  /** Proves spending `note` (at global leaf `leafIndex`) with spending key `sk`: a transparent 1-unit payment. */
  async function proveSpend(tree: NoteTree, note: NoteOpening, leafIndex: number, sk: bigint) {
    const terms = {
      payTo: account(3).address,
      amount: 1n,
      relayer: zeroAddress,
      fee: 0n,
      conditionHash: toBytes32(0n),
      expiry: expiry(),
    };
    const context = paymentContext({
      chainId: env.pool.chainId,
      facilitator: env.pool.facilitator,
      terms,
      memo: "0x",
      payeeMemo: "0x",
    });
    return provePayment(
      {
        note,
        spendingKey: sk,
        position: notePosition(leafIndex, tree.levels),
        path: tree.path(leafIndex),
        amount: 1n,
        fee: 0n,
        context,
        payee: { value: 0n, owner: 0n, blinding: 0n },
        changeBlinding: 1234n,
      },
      env.artifacts,
    );
  }

  it("a payee wallet receives shielded payments (also while offline), keeps them crash-safely, spends one; a restore from the seed finds them all; the payer cannot spend them; the auditor lists them and cannot spend", async function () {
    const payerSeed = WalletKeys.randomSeed();
    const payer = await funded(4, payerSeed, [200_000n]);
    const apiSeed = WalletKeys.randomSeed();
    const apiFile = path.join(dir, "api-notes.json");
    const api = await openWallet(5, apiSeed, { store: new FileNoteStore(apiFile), x25519: nodeX25519 });
    await api.sync();
    const address = api.address();
    expect(address).to.match(/^zk4021/);

    // 1) Paid while the API's wallet is online: 30k for condition 1.
    const p1 = await payer.preparePayment({
      payTo: address as `zk402${string}`,
      amount: 30_000n,
      conditionHash: condition(1),
      expiry: expiry(),
    });
    // Nothing public names the payee or the amount; the opening travels encrypted.
    expect(p1.terms.payTo).to.equal(zeroAddress);
    expect(p1.terms.amount).to.equal(0n);
    expect((p1.payeeMemo.length - 2) / 2).to.equal(PAYEE_MEMO_LENGTH);
    expect(p1.payee.value).to.equal(30_000n);
    expect(p1.proof.payeeCommitment).to.equal(commitmentOf(p1.payee));
    const h1 = await payer.submitPayment(p1);
    const rc1 = await env.publicClient.getTransactionReceipt({ hash: h1 });
    const block1 = await env.publicClient.getBlock({ blockNumber: rc1.blockNumber });
    expect(payer.balance()).to.equal(170_000n);
    // The payer's own wallet does not count the note it created for the payee.
    expect(payer.receivedPayments()).to.deep.equal([]);

    await api.sync();
    expect(api.balance()).to.equal(30_000n);
    expect(api.balances().received).to.equal(30_000n);
    expect(api.receivedPayments()).to.deep.equal([
      {
        blockNumber: Number(rc1.blockNumber),
        time: Number(block1.timestamp),
        amount: 30_000n,
        conditionHash: condition(1),
        commitment: p1.proof.payeeCommitment,
        leafIndex: api.receivedPayments()[0]!.leafIndex,
        spent: false,
      },
    ]);

    // 2) Paid twice while the API's wallet is closed.
    await api.close();
    const p2 = await payer.preparePayment({
      payTo: address as `zk402${string}`,
      amount: 20_000n,
      conditionHash: condition(2),
      expiry: expiry(),
    });
    await payer.submitPayment(p2);
    // Keys instead of the address string work the same.
    const keys = WalletKeys.fromSeed(apiSeed);
    const p3 = await payer.preparePayment({
      payTo: { ownerKey: keys.ownerKey, encryptionKey: keys.encryptionKey },
      amount: 10_000n,
      conditionHash: condition(3),
      expiry: expiry(),
    });
    await payer.submitPayment(p3);
    expect(payer.balance()).to.equal(140_000n);

    // Reopened from its file: the note it had is there before any sync (persisted), the
    // two paid while it was offline after one.
    const reopened = await openWallet(5, apiSeed, { store: new FileNoteStore(apiFile), x25519: nodeX25519 });
    expect(reopened.receivedPayments().map((p) => p.amount)).to.deep.equal([30_000n]);
    await reopened.sync();
    expect(reopened.receivedPayments().map((p) => [p.amount, p.conditionHash])).to.deep.equal([
      [30_000n, condition(1)],
      [20_000n, condition(2)],
      [10_000n, condition(3)],
    ]);
    expect(reopened.balance()).to.equal(60_000n);

    // Deleted and restored from the seed (and noble's X25519 this time): every note received.
    const fromSeed = await restored(6, apiSeed);
    expect(fromSeed.receivedPayments()).to.deep.equal(reopened.receivedPayments());
    expect(fromSeed.balance()).to.equal(60_000n);

    // 3) The payer knows the whole opening of the note it made, and still cannot spend it:
    // its nullifier needs the payee's nullifying key, and proving needs the payee's
    // spending key (the circuit checks the note's owner against it).
    const received1 = fromSeed.snapshot().notes.find((n) => n.commitment === p1.proof.payeeCommitment.toString())!;
    const payerKeys = WalletKeys.fromSeed(payerSeed);
    const tree = await chainTree(payer);
    const pos = notePosition(received1.leafIndex, tree.levels);
    expect(nullifierHashOf(payerKeys.nullifyingKey, p1.proof.payeeCommitment, pos).toString()).to.not.equal(
      received1.nullifierHash,
    );
    const byPayer = await proveSpend(tree, p1.payee, received1.leafIndex, payerKeys.spendingKey()).catch(
      (e: unknown) => e,
    );
    expect(byPayer, "the payer proves a spend of the payee's note").to.be.instanceOf(Error);
    // The same witness with the payee's key proves (so the refusal above is the key's).
    const byPayee = await proveSpend(tree, p1.payee, received1.leafIndex, keys.spendingKey());
    expect(byPayee.nullifierHash.toString()).to.equal(received1.nullifierHash);

    // 4) The auditor's viewing key lists the three payments, and cannot spend.
    const viewingKey = reopened.viewingKey();
    expect(viewingKey).to.match(/^zk402view1/);
    const listed = await fetchIncoming(viewingKey, {
      publicClient: env.publicClient,
      pool: env.pool,
      x25519: nodeX25519,
    });
    expect(listed).to.deep.equal(reopened.receivedPayments().map(({ spent: _, ...p }) => p));
    expect(
      await fetchIncoming(WalletKeys.fromSeed(payerSeed).viewingKeyString(), {
        publicClient: env.publicClient,
        pool: env.pool,
      }),
    ).to.deep.equal([]);
    const bad = await fetchIncoming(`${viewingKey.slice(0, -1)}x`, {
      publicClient: env.publicClient,
      pool: env.pool,
    }).catch((e: unknown) => e);
    expect(isZkPayError(bad, "invalid_argument"), String(bad)).to.equal(true);
    // The viewing key holds the X25519 secret and the owner key, nothing else: neither, nor
    // anything derived from them, is the spending key the circuit wants.
    const { viewingKey: vk, ownerKey } = parseViewingKey(viewingKey);
    for (const guess of [BigInt(bytesToHex(vk)) % SNARK_SCALAR_FIELD, ownerKey]) {
      const byAuditor = await proveSpend(tree, p1.payee, received1.leafIndex, guess).catch((e: unknown) => e);
      expect(byAuditor, "the auditor proves a spend").to.be.instanceOf(Error);
    }
    expect(scanIncoming(viewingKey, [])).to.deep.equal([]);

    // 5) The API spends the 30k note it received (the smallest that covers 25k).
    const to = account(7).address;
    const before = await balanceOf(to);
    const spend = await reopened.preparePayment({ payTo: to, amount: 25_000n, expiry: expiry() });
    expect(spend.proof.nullifierHash.toString()).to.equal(received1.nullifierHash);
    await reopened.submitPayment(spend);
    expect(await balanceOf(to)).to.equal(before + 25_000n);
    expect(reopened.balance()).to.equal(35_000n);
    expect(reopened.receivedPayments().map((p) => p.spent)).to.deep.equal([true, false, false]);
    // A restore finds the change of a received note too (it derives from its nullifier hash).
    const again = await restored(8, apiSeed);
    expect(again.balance()).to.equal(35_000n);
    expect(
      again
        .snapshot()
        .notes.filter((n) => n.origin.kind === "change")
        .map((n) => n.value),
    ).to.deep.equal(["5000"]);
  });

  it("a payment above the largest note is refused, naming the largest note and the balance", async function () {
    const w = await funded(9, WalletKeys.randomSeed(), [1_000_000n, 1_470_000n]);
    const err = await w
      .preparePayment({ payTo: account(3).address, amount: 1_500_000n, expiry: expiry() })
      .catch((e: unknown) => e);
    expect(isZkPayError(err, "insufficient_private_balance"), String(err)).to.equal(true);
    const e = err as ZkPayError;
    expect(e.details).to.deep.include({ largestNote: "1470000", balance: "2470000", needed: "1500000" });
    expect(e.message)
      .to.match(/one note/)
      .and.to.match(/cannot merge/);
  });

  it("withdraws 2.5 from notes of 1 + 1 + 1.47 (three transactions, largest first), then withdrawAll empties the wallet", async function () {
    const seed = WalletKeys.randomSeed();
    const w = await funded(10, seed, [1_000_000n, 1_000_000n, 1_470_000n]);
    const to = account(11).address;
    const before = await balanceOf(to);
    const reported: WithdrawTransaction[] = [];
    const r = await w.withdraw({ to, amount: 2_500_000n, onTransaction: (t) => reported.push(t) });
    expect(r.transactions.map((t) => t.amount)).to.deep.equal([1_470_000n, 1_000_000n, 30_000n]);
    expect(reported).to.deep.equal(r.transactions);
    expect(r.amount).to.equal(2_500_000n);
    expect(r.hash).to.equal(r.transactions[2]!.hash);
    for (const t of r.transactions) {
      const rc = await env.publicClient.getTransactionReceipt({ hash: t.hash });
      expect(rc.status).to.equal("success");
    }
    expect(new Set(r.transactions.map((t) => t.hash)).size).to.equal(3);
    expect(await balanceOf(to)).to.equal(before + 2_500_000n);
    expect(w.balance()).to.equal(970_000n);
    expect((await restored(12, seed)).balance()).to.equal(970_000n);

    // More than the balance: refused before anything is proven or sent.
    const nonce = await env.publicClient.getTransactionCount({ address: account(10).address });
    const over = await w.withdraw({ to, amount: 970_001n }).catch((e: unknown) => e);
    expect(isZkPayError(over, "insufficient_private_balance"), String(over)).to.equal(true);
    expect(await env.publicClient.getTransactionCount({ address: account(10).address })).to.equal(nonce);

    // withdrawAll: one more deposit, then everything out, one transaction per note.
    await env.mint(account(10).address, 5_000n);
    await w.deposit(5_000n);
    const all = await w.withdrawAll({ to });
    expect(all.transactions.map((t) => t.amount)).to.deep.equal([970_000n, 5_000n]);
    expect(w.balance()).to.equal(0n);
    expect(await balanceOf(to)).to.equal(before + 3_475_000n);
    expect((await restored(12, seed)).balance()).to.equal(0n);
    const nothing = await w.withdrawAll({ to }).catch((e: unknown) => e);
    expect(isZkPayError(nothing, "insufficient_private_balance"), String(nothing)).to.equal(true);
  });

  it("a chained withdrawal through a relayer pays its fee on each transaction, from no address of the payer's", async function () {
    const seed = WalletKeys.randomSeed();
    const w = await funded(16, seed, [50_000n, 30_000n]);
    const svc = await startService(env, { relayerIndex: 2, fees: { minFee: 1_000n } });
    try {
      const relay = new RelayClient({ url: svc.url });
      const to = account(17).address;
      const before = await balanceOf(to);
      const r = await w.withdraw({ to, amount: 70_000n, relay });
      // 50k whole (49k + the 1k fee), then 21k of the 30k note (8k change).
      expect(r.transactions.map((t) => [t.amount, t.fee])).to.deep.equal([
        [49_000n, 1_000n],
        [21_000n, 1_000n],
      ]);
      expect(r.fees).to.equal(2_000n);
      expect(await balanceOf(to)).to.equal(before + 70_000n);
      for (const t of r.transactions) {
        const tx = await env.publicClient.getTransaction({ hash: t.hash });
        expect(tx.from.toLowerCase()).to.equal(account(2).address.toLowerCase());
      }
      expect(w.balance()).to.equal(8_000n);
      const all = await w.withdrawAll({ to, relay });
      expect(all.transactions.map((t) => t.amount)).to.deep.equal([7_000n]);
      expect(w.balance()).to.equal(0n);
      expect((await restored(18, seed)).balance()).to.equal(0n);
    } finally {
      await svc.close();
    }
  });

  it("a crash between two transactions of a chained withdrawal loses nothing", async function () {
    this.timeout(300_000);
    const seed = WalletKeys.randomSeed();
    await funded(13, seed, [40_000n, 30_000n, 20_000n]);
    const storeFile = path.join(dir, "crash-notes.json");
    const to = account(14).address;
    const before = await balanceOf(to);
    const child = spawn(process.execPath, ["--import", "tsx", "test/helpers/crash-payer.ts"], {
      env: {
        ...process.env,
        CRASH_CFG: JSON.stringify({
          url: env.chain.url,
          pool: env.pool,
          seed,
          store: storeFile,
          accountIndex: 13,
          payTo: to,
          amount: "80000",
          mode: "withdraw",
        }),
      },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const hash = await new Promise<Hex>((resolve, reject) => {
      let out = "";
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        const m = /SENT (0x[0-9a-f]{64})/.exec(out);
        if (m) resolve(m[1] as Hex);
      });
      child.on("exit", (code) => reject(new Error(`withdrawing process exited early (${code}): ${out}`)));
    });
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    // The first transaction (the largest note, whole) went through; the second never left.
    expect((await env.publicClient.getTransactionReceipt({ hash })).status).to.equal("success");
    expect(await balanceOf(to)).to.equal(before + 40_000n);

    // The store the killed process left behind, and the seed alone, both hold the rest.
    const reopened = await openWallet(13, seed, { store: new FileNoteStore(storeFile) });
    await reopened.sync();
    expect(reopened.balance()).to.equal(50_000n);
    expect((await restored(15, seed)).balance()).to.equal(50_000n);
    // Withdrawing the rest of the 80k finishes the job: nothing was lost.
    const rest = await reopened.withdraw({ to, amount: 40_000n });
    expect(rest.transactions.map((t) => t.amount)).to.deep.equal([30_000n, 10_000n]);
    expect(await balanceOf(to)).to.equal(before + 80_000n);
    expect(reopened.balance()).to.equal(10_000n);
    expect((await restored(15, seed)).balance()).to.equal(10_000n);
  });
});
