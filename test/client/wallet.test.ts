import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { x402Client } from "@x402/core/client";
import { wrapFetchWithPayment } from "@x402/fetch";
import { expect } from "chai";
import { createPublicClient, http, toFunctionSelector, type Hex, type PublicClient } from "viem";

import { RelayClient } from "../../sdk/client/relay.js";
import { ZkExactClientScheme } from "../../sdk/client/scheme.js";
import { MemoryNoteStore } from "../../sdk/client/store.js";
import { PrivateWallet, type PrivateWalletOptions } from "../../sdk/client/wallet.js";
import { facilitatorAbi } from "../../sdk/core/abi.js";
import { isZkPayError, type ZkPayError } from "../../sdk/core/errors.js";
import { WalletKeys } from "../../sdk/core/keys.js";
import { memoTagOf } from "../../sdk/core/memo.js";
import { shutdownProver } from "../../sdk/core/prover.js";
import { FileNoteStore } from "../../sdk/node/file-store.js";
import { startService } from "../helpers/service.js";
import { account, startEnv, type Env } from "../helpers/x402-env.js";

describe("PrivateWallet", function () {
  let env: Env;
  let dir: string;
  /** Every wallet a test opened: closed at the end so no scheduled sync outlives the chain. */
  const opened: PrivateWallet[] = [];

  before(async function () {
    env = await startEnv();
    dir = mkdtempSync(path.join(os.tmpdir(), "402zk-wallet-"));
  });

  after(async function () {
    await Promise.all(opened.map((w) => w.close()));
    await env?.chain.close();
    rmSync(dir, { recursive: true, force: true });
    await shutdownProver();
  });

  /** env.payer, remembering the wallet to close it. */
  async function payer(...args: Parameters<Env["payer"]>) {
    const r = await env.payer(...args);
    opened.push(r.wallet);
    return r;
  }

  /** A wallet of `seed` paying gas from dev account `i`, with a fresh memory store unless given. */
  async function openWallet(i: number, seed: Hex, opts: Partial<PrivateWalletOptions> = {}) {
    const wallet = await PrivateWallet.open({
      seed,
      pool: env.pool,
      publicClient: env.publicClient,
      walletClient: env.walletClientFor(i),
      store: new MemoryNoteStore(),
      artifacts: env.artifacts,
      ...opts,
    });
    opened.push(wallet);
    return wallet;
  }

  const expiry = () => BigInt(Math.floor(Date.now() / 1000)) + 600n;

  /** The memo published with leaf `leafIndex`. */
  async function memoOfLeaf(leafIndex: number): Promise<Hex> {
    const events = await env.publicClient.getContractEvents({
      address: env.pool.facilitator,
      abi: facilitatorAbi,
      eventName: "LeafInserted",
      fromBlock: BigInt(env.pool.deploymentBlock),
      strict: true,
    });
    return events.find((e) => Number(e.args.leafIndex) === leafIndex)!.args.memo;
  }

  it("a queued change note: counted in the balance, not spent until committed; the wallet commits it when it needs it", async function () {
    const { wallet } = await payer(16, { deposit: 100_000n });
    await env.mint(account(16).address, 10_000n);
    await wallet.deposit(10_000n);
    const read = (functionName: "pendingLeafCount" | "treeSize") =>
      env.publicClient.readContract({ address: env.pool.facilitator, abi: facilitatorAbi, functionName });
    // Another committed note stays after this payment: plain `pay`, the change is queued.
    const p1 = await wallet.preparePayment({ payTo: account(3).address, amount: 50_000n, expiry: expiry() });
    expect(p1.commitChange).to.equal(false);
    await wallet.submitPayment(p1);
    expect(await read("pendingLeafCount")).to.equal(1n);
    expect(wallet.balance()).to.equal(60_000n);
    expect(wallet.queuedNotes().map((n) => BigInt(n.value))).to.deep.equal([50_000n]);
    expect(wallet.spendableNotes().map((n) => BigInt(n.value))).to.deep.equal([10_000n]);
    // 40k: only the queued 50k note covers it, so the wallet commits the queue itself
    // (commitPendingLeaves from its account) and proves against the new root.
    const p2 = await wallet.preparePayment({ payTo: account(3).address, amount: 40_000n, expiry: expiry() });
    expect(await read("pendingLeafCount")).to.equal(0n);
    expect(p2.proof.treeSize).to.equal(await read("treeSize"));
    // Its change (10k) would be its only note besides the other 10k: it has one, so no commit asked.
    expect(p2.commitChange).to.equal(false);
    await wallet.submitPayment(p2);
    expect(wallet.balance()).to.equal(20_000n);
    // p2's 10k change is queued: the other 10k note is the only committed one, so this
    // payment asks for payAndCommit, which commits both changes in the same transaction.
    const p3 = await wallet.preparePayment({ payTo: account(3).address, amount: 5_000n, expiry: expiry() });
    expect(p3.commitChange).to.equal(true);
    const hash = await wallet.submitPayment(p3);
    const tx = await env.publicClient.getTransaction({ hash });
    expect(tx.input.slice(0, 10)).to.equal(
      toFunctionSelector(facilitatorAbi.find((x) => x.type === "function" && x.name === "payAndCommit")!),
    );
    expect(await read("pendingLeafCount")).to.equal(0n);
    expect(wallet.queuedNotes()).to.have.length(0);
    expect(wallet.spendableNotes().map((n) => BigInt(n.value))).to.have.members([5_000n, 10_000n]);
  });

  it("proves two payments at once from two different notes", async function () {
    const { wallet } = await payer(4, { deposit: 50_000n });
    await env.mint(account(4).address, 70_000n);
    await wallet.deposit(70_000n);
    expect(wallet.balance()).to.equal(120_000n);
    const now = BigInt(Math.floor(Date.now() / 1000)) + 600n;
    const [a, b] = await Promise.all([
      wallet.preparePayment({ payTo: account(3).address, amount: 40_000n, expiry: now }),
      wallet.preparePayment({ payTo: account(3).address, amount: 40_000n, expiry: now }),
    ]);
    expect(a.proof.nullifierHash).to.not.equal(b.proof.nullifierHash);
    // Both notes are reserved while the payments are in flight.
    expect(wallet.balance()).to.equal(0n);
    await wallet.submitPayment(a);
    await wallet.submitPayment(b);
    expect(wallet.balance()).to.equal(120_000n - 80_000n);
  });

  it("deposits in one transaction with an EIP-2612 permit or an EIP-3009 authorization", async function () {
    const { wallet, address } = await payer(7);
    await env.mint(address, 9_000n);
    for (const [method, value] of [
      ["permit", 4_000n],
      ["authorization", 5_000n],
    ] as const) {
      const txsBefore = await env.publicClient.getTransactionCount({ address });
      const { hash } = await wallet.deposit(value, { method });
      // One transaction from the payer, no approve.
      expect(await env.publicClient.getTransactionCount({ address }), method).to.equal(txsBefore + 1);
      const rc = await env.publicClient.getTransactionReceipt({ hash });
      expect(rc.to?.toLowerCase(), method).to.equal(env.pool.facilitator.toLowerCase());
    }
    expect(wallet.balance()).to.equal(9_000n);
    expect(await env.system.token.allowance(address, env.pool.facilitator)).to.equal(0n);
  });

  it("fails with typed errors: insufficient balance, wrong chain, corrupt store", async function () {
    const { wallet } = await payer(5, { deposit: 10_000n });
    const now = BigInt(Math.floor(Date.now() / 1000)) + 600n;
    const err = await wallet
      .preparePayment({ payTo: account(3).address, amount: 10_001n, expiry: now })
      .catch((e: unknown) => e);
    expect(isZkPayError(err, "insufficient_private_balance")).to.equal(true);

    const wrongChain = await PrivateWallet.open({
      seed: `0x${"11".repeat(32)}`,
      pool: { ...env.pool, chainId: 8453 },
      publicClient: env.publicClient,
      store: new MemoryNoteStore(),
      artifacts: env.artifacts,
    }).catch((e: unknown) => e);
    expect(isZkPayError(wrongChain, "chain_mismatch")).to.equal(true);

    // Missing circuit artifacts: a clear error, from the loader and from the prover.
    const { defaultArtifacts } = await import("../../sdk/node/artifacts.js");
    let loaderError: unknown;
    try {
      defaultArtifacts(path.join(dir, "nowhere"));
    } catch (e) {
      loaderError = e;
    }
    expect(isZkPayError(loaderError, "artifacts_missing")).to.equal(true);
    const funded = await payer(8, { deposit: 5_000n });
    const broken = await PrivateWallet.open({
      seed: funded.seed,
      pool: env.pool,
      publicClient: env.publicClient,
      store: new MemoryNoteStore(),
      artifacts: { wasm: path.join(dir, "missing.wasm"), zkey: path.join(dir, "missing.zkey") },
    });
    opened.push(broken);
    const missing = await broken
      .preparePayment({ payTo: account(3).address, amount: 1n, expiry: now })
      .catch((e: unknown) => e);
    expect(isZkPayError(missing, "artifacts_missing"), String(missing)).to.equal(true);

    const file = path.join(dir, "corrupt.json");
    writeFileSync(file, "{ not json");
    const corrupt = await new FileNoteStore(file).load().catch((e: unknown) => e);
    expect(isZkPayError(corrupt, "note_store_corrupt")).to.equal(true);
    writeFileSync(file, JSON.stringify({ version: 2 }));
    const invalid = await new FileNoteStore(file).load().catch((e: unknown) => e);
    expect(isZkPayError(invalid, "note_store_corrupt")).to.equal(true);
    // A store of the counter derivation (v1) is refused with an explanation, not misread.
    writeFileSync(file, JSON.stringify({ version: 1, nextNoteIndex: 3, notes: [] }));
    const v1 = await new FileNoteStore(file).load().catch((e: unknown) => e);
    expect(isZkPayError(v1, "note_store_corrupt")).to.equal(true);
    expect((v1 as Error).message).to.match(/older 402zk/);
  });

  it("persists atomically and reopens with the same notes", async function () {
    const file = path.join(dir, "notes.json");
    const { wallet, seed } = await payer(6, { deposit: 30_000n, store: new FileNoteStore(file) });
    const reopened = await payer(6, { seed, store: new FileNoteStore(file) });
    expect(reopened.wallet.balance()).to.equal(30_000n);
    expect(reopened.wallet.snapshot()).to.deep.equal(wallet.snapshot());
    // A store for another pool is refused rather than mixed up.
    const other = await PrivateWallet.open({
      seed,
      pool: { ...env.pool, facilitator: env.pool.token },
      publicClient: env.publicClient,
      store: new FileNoteStore(file),
      artifacts: env.artifacts,
    }).catch((e: unknown) => e);
    expect(isZkPayError(other, "chain_mismatch")).to.equal(true);
    // So is a store written for another seed (its notes do not derive from this one).
    const otherSeed = await PrivateWallet.open({
      seed: WalletKeys.randomSeed(),
      pool: env.pool,
      publicClient: env.publicClient,
      store: new FileNoteStore(file),
      artifacts: env.artifacts,
      sync: { auto: false },
    }).catch((e: unknown) => e);
    expect(isZkPayError(otherSeed, "note_store_corrupt"), String(otherSeed)).to.equal(true);
    // No key is written to the store (only note openings, which spend nothing without
    // the spending key): it is a cache that seed + chain rebuild.
    const text = JSON.stringify(reopened.wallet.snapshot());
    const keys = WalletKeys.fromSeed(seed);
    for (const k of [keys.spendingKey(), keys.nullifyingKey]) expect(text).to.not.include(k.toString());
    expect(text).to.not.include(Buffer.from(keys.viewingKey()).toString("hex"));
    expect(reopened.wallet.snapshot().version).to.equal(3);
    // Every note is owned by this seed's owner key.
    expect(reopened.wallet.snapshot().notes.map((n) => n.owner)).to.deep.equal([keys.ownerKey.toString()]);
  });

  it("a restore while a server holds a proof: both change notes are distinct and spendable", async function () {
    const payTo = account(3).address;
    const seed = WalletKeys.randomSeed();
    const a = await openWallet(9, seed);
    await env.mint(account(9).address, 300_000n);
    await a.deposit(100_000n);
    await a.deposit(200_000n);
    const api = await env.api({ payTo, price: 60_000n, fee: 0n });
    try {
      // A proves a server-settled payment from its 100k note; the header is captured, not sent.
      const held = await env.preparedHeader(a, `${api.url}/weather`);

      // The payer "crashes": B restores the seed into an empty store and pays with the 200k note.
      const b = await openWallet(10, seed);
      await b.sync();
      expect(b.balance()).to.equal(300_000n);
      const pb = await b.preparePayment({ payTo, amount: 150_000n, expiry: expiry() });
      await b.submitPayment(pb);

      // Now the server submits the proof it held.
      const res = await fetch(`${api.url}/weather`, { headers: { "PAYMENT-SIGNATURE": held } });
      expect(res.status, await res.text()).to.equal(200);

      await b.sync();
      const change = b.snapshot().notes.filter((n) => !n.spent);
      expect(change.map((n) => n.value).sort()).to.deep.equal(["40000", "50000"]);
      expect(new Set(change.map((n) => n.nullifierHash)).size, "distinct nullifiers").to.equal(2);
      expect(change.every((n) => n.origin.kind === "change")).to.equal(true);
      expect(b.balance()).to.equal(90_000n);
      const tags = await Promise.all(change.map(async (n) => memoTagOf(await memoOfLeaf(n.leafIndex))));
      expect(tags[0]).to.not.equal(tags[1]);

      // B spends both change notes.
      await b.submitPayment(await b.preparePayment({ payTo, amount: 50_000n, expiry: expiry() }));
      await b.submitPayment(await b.preparePayment({ payTo, amount: 40_000n, expiry: expiry() }));
      expect(b.balance()).to.equal(0n);
      expect(b.snapshot().notes.filter((n) => n.spent)).to.have.length(4);
    } finally {
      await api.close();
    }
  });

  it("a restore after more abandoned payments than the deposit gap limit still finds the change of the one that settled", async function () {
    const payTo = account(3).address;
    const seed = WalletKeys.randomSeed();
    // A gap limit of 2 and 3 abandoned payments (one more than the limit; each further one
    // spends the same note along the same path): change notes consume no index (they
    // derive from the note they spend), so no look-ahead is needed to find them.
    const w = await openWallet(11, seed, { depositGapLimit: 2 });
    await env.mint(account(11).address, 100_000n);
    await w.deposit(100_000n);
    for (let i = 0; i < 3; i++) {
      const p = await w.preparePayment({ payTo, amount: 1_000n + BigInt(i), expiry: expiry() });
      await w.releasePayment(p);
    }
    await w.submitPayment(await w.preparePayment({ payTo, amount: 10_000n, expiry: expiry() }));
    expect(w.balance()).to.equal(90_000n);

    const restored = await openWallet(11, seed, { depositGapLimit: 2 });
    await restored.sync();
    expect(restored.balance()).to.equal(90_000n);
  });

  it("two wallets sharing a seed deposit with the same index: both notes spendable, duplicate tag reported", async function () {
    const payTo = account(3).address;
    const seed = WalletKeys.randomSeed();
    const warnings: ZkPayError[] = [];
    const a = await openWallet(12, seed, { onWarning: (w) => warnings.push(w) });
    const b = await openWallet(13, seed, { onWarning: () => {} });
    await env.mint(account(12).address, 30_000n);
    await env.mint(account(13).address, 40_000n);
    // Both start from nextDepositIndex 0 and deposit at the same time.
    await Promise.all([a.deposit(30_000n), b.deposit(40_000n)]);
    await a.sync();
    expect(a.balance()).to.equal(70_000n);
    const notes = a.snapshot().notes;
    expect(new Set(notes.map((n) => n.nullifierHash)).size).to.equal(2);
    expect(notes.map((n) => (n.origin.kind === "deposit" ? n.origin.deposit : -1))).to.deep.equal([0, 0]);
    expect(warnings.map((w) => w.reason)).to.deep.equal(["duplicate_note_tag"]);
    expect(a.snapshot().warnings.duplicateTags).to.equal(1);

    // Both notes are spendable.
    await a.submitPayment(await a.preparePayment({ payTo, amount: 35_000n, expiry: expiry() }));
    await a.submitPayment(await a.preparePayment({ payTo, amount: 25_000n, expiry: expiry() }));
    expect(a.balance()).to.equal(10_000n);
  });

  it("proving the same note again derives the same change note with a fresh memo nonce", async function () {
    const payTo = account(3).address;
    const { wallet } = await payer(14, { deposit: 50_000n });
    const p1 = await wallet.preparePayment({ payTo, amount: 10_000n, expiry: expiry() });
    await wallet.releasePayment(p1);
    const p2 = await wallet.preparePayment({ payTo, amount: 10_000n, expiry: expiry() });
    expect(p2.proof.nullifierHash).to.equal(p1.proof.nullifierHash);
    // Same change secrets and value: the same change commitment.
    expect(p2.proof.changeCommitment).to.equal(p1.proof.changeCommitment);
    const bytes = (m: Hex, from: number, to: number) => m.slice(2 + 2 * from, 2 + 2 * to);
    expect(bytes(p2.memo, 0, 32), "same tag").to.equal(bytes(p1.memo, 0, 32));
    expect(bytes(p2.memo, 32, 48), "fresh nonce").to.not.equal(bytes(p1.memo, 32, 48));
    expect(bytes(p2.memo, 48, 64), "different pad").to.not.equal(bytes(p1.memo, 48, 64));
    await wallet.submitPayment(p2);
    expect(wallet.balance()).to.equal(40_000n);
  });

  it("syncs on its own schedule: no log query while preparing a payment; scheduled syncs find new notes", async function () {
    const payTo = account(3).address;
    let getLogs = 0;
    let requests = 0;
    const counting = createPublicClient({
      chain: env.publicClient.chain,
      pollingInterval: 50,
      transport: http(env.chain.url, {
        onFetchRequest: (_req, init) => {
          const body = JSON.parse(String(init.body)) as { method: string } | { method: string }[];
          requests += [body].flat().length;
          getLogs += [body].flat().filter((m) => m.method === "eth_getLogs").length;
        },
      }),
    }) as PublicClient;
    const seed = WalletKeys.randomSeed();
    const a = await openWallet(15, seed, {
      publicClient: counting,
      sync: { auto: false, intervalMs: 300, jitterMs: 100, waitForChangeMs: 10_000 },
    });
    await env.mint(account(15).address, 50_000n);
    await a.deposit(50_000n);
    expect(getLogs).to.be.greaterThan(0);

    // Already synced: preparePayment proves against the local tree without asking the chain,
    // even though the chain has moved on since.
    await env.chain.provider.request({ method: "hardhat_mine" as never, params: ["0x1"] as never });
    const before = getLogs;
    const requestsBefore = requests;
    const p = await a.preparePayment({ payTo, amount: 10_000n, expiry: expiry() });
    expect(getLogs, "eth_getLogs during preparePayment").to.equal(before);
    expect(requests, "RPC requests during preparePayment").to.equal(requestsBefore);
    expect(p.timings.syncMs).to.be.lessThan(50);
    await a.releasePayment(p);

    // Scheduled syncing finds a deposit another wallet of the seed made, without a sync() call.
    a.startAutoSync();
    const b = await openWallet(16, seed, { sync: { auto: false } });
    await b.sync(); // so that its deposit takes the next index, not A's
    await env.mint(account(16).address, 20_000n);
    await b.deposit(20_000n);
    const t0 = Date.now();
    while (a.balance() !== 70_000n && Date.now() - t0 < 5_000) await new Promise((r) => setTimeout(r, 50));
    expect(a.balance()).to.equal(70_000n);
    expect(getLogs).to.be.greaterThan(before);

    // Paying again before the change of a payment in flight was seen: preparePayment waits
    // for a scheduled sync to bring it instead of syncing right before the payment. (No
    // scheduled sync until then, so that the change note is still unseen.)
    await a.close();
    const first = await a.preparePayment({ payTo, amount: 15_000n, expiry: expiry() }); // the 20k note
    const relayer = env.walletClientFor(17);
    const relayed = await relayer.writeContract({
      account: relayer.account!,
      chain: relayer.chain,
      address: env.pool.facilitator,
      abi: facilitatorAbi,
      functionName: "pay",
      args: [first.proof, first.terms, first.memo, first.payeeMemo],
    });
    await env.publicClient.waitForTransactionReceipt({ hash: relayed });
    // Reserve the 50k note too: now only the unseen 5k change note could pay 4k.
    const second = await a.preparePayment({ payTo, amount: 49_000n, expiry: expiry() });
    expect(second.changeValue).to.equal(1_000n);
    expect(a.balance()).to.equal(0n);
    a.startAutoSync();
    const third = await a.preparePayment({ payTo, amount: 4_000n, expiry: expiry() }); // the 5k change note
    expect(third.changeValue).to.equal(1_000n);
    expect(third.timings.syncMs).to.be.greaterThan(0);
    await a.close();
    expect(a.autoSync).to.equal(false);
  });
  /** A wallet restored from `seed` into an empty store and synced: what a fresh sync finds. */
  async function freshBalance(i: number, seed: Hex): Promise<bigint> {
    const restored = await openWallet(i, seed, { sync: { auto: false } });
    await restored.sync();
    await restored.close();
    return restored.balance();
  }

  it("a server-settled payment through wrapFetchWithPayment: the balance right after counts its change (pending) and equals a fresh sync of the same seed", async function () {
    const seed = WalletKeys.randomSeed();
    const a = await openWallet(18, seed, { sync: { auto: false } });
    await env.mint(account(18).address, 250_000n);
    await a.deposit(200_000n);
    await a.deposit(50_000n);
    const api = await env.api({ payTo: account(3).address, price: 10_000n });
    try {
      const res = await env.payingFetch(a).fetch(`${api.url}/weather`);
      expect(res.status, await res.text()).to.equal(200);
      // The 50k note paid 10k: its 40k change is ours from the settlement on, before any sync.
      expect(a.balances()).to.deep.include({ reserved: 0n, total: 240_000n });
      expect(a.balances().pending).to.be.greaterThanOrEqual(40_000n);
      expect(a.balance()).to.equal(240_000n);
      expect(await freshBalance(19, seed)).to.equal(240_000n);
      // The sync that finds the change note replaces the pending entry: nothing counted twice.
      await a.sync();
      expect(a.snapshot().pending).to.deep.equal([]);
      expect(a.balance()).to.equal(240_000n);
    } finally {
      await api.close();
    }
  });

  it("client-settled (own account, and through a relayer) and a relayed withdrawal: the balance right after each equals a fresh sync of the same seed", async function () {
    const seed = WalletKeys.randomSeed();
    const a = await openWallet(18, seed, { sync: { auto: false } });
    await env.mint(account(18).address, 400_000n);
    await a.deposit(300_000n);
    await a.deposit(100_000n);
    const api = await env.api({ payTo: account(3).address, price: 10_000n });
    const svc = await startService(env, { relayerIndex: 2, fees: { minFee: 1_000n } });
    const relay = new RelayClient({ url: svc.url });
    try {
      const own = await env.payingFetch(a, "client").fetch(`${api.url}/weather`);
      expect(own.status, await own.text()).to.equal(200);
      expect(a.balance()).to.equal(390_000n);
      expect(await freshBalance(19, seed)).to.equal(390_000n);

      const client = new x402Client().register(
        "eip155:*",
        new ZkExactClientScheme({ wallet: a, settlement: "client", relay }),
      );
      client.setSpendControls(false);
      const relayed = await wrapFetchWithPayment(fetch, client)(`${api.url}/weather`);
      expect(relayed.status, await relayed.text()).to.equal(200);
      expect(a.balance()).to.equal(379_000n); // 10k + the relayer's 1k fee
      expect(await freshBalance(19, seed)).to.equal(379_000n);

      await a.withdraw({ to: account(19).address, amount: 20_000n, relay });
      expect(a.balance()).to.equal(358_000n);
      expect(await freshBalance(19, seed)).to.equal(358_000n);
      await a.sync();
      expect(a.balance()).to.equal(358_000n);
    } finally {
      await svc.close();
      await api.close();
    }
  });
});
