import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";

import { MemoryNoteStore } from "../sdk/client/store.js";
import { PrivateWallet } from "../sdk/client/wallet.js";
import { isZkPayError } from "../sdk/core/errors.js";
import { shutdownProver } from "../sdk/core/prover.js";
import { FileNoteStore } from "../sdk/node/file-store.js";
import { account, startEnv, type Env } from "./helpers/x402-env.js";

describe("PrivateWallet", function () {
  let env: Env;
  let dir: string;

  before(async function () {
    env = await startEnv();
    dir = mkdtempSync(path.join(os.tmpdir(), "402zk-wallet-"));
  });

  after(async function () {
    await env?.chain.close();
    rmSync(dir, { recursive: true, force: true });
    await shutdownProver();
  });

  it("proves two payments at once from two different notes", async function () {
    const { wallet } = await env.payer(4, { deposit: 50_000n });
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
    const { wallet, address } = await env.payer(7);
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
    const { wallet } = await env.payer(5, { deposit: 10_000n });
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
    const { defaultArtifacts } = await import("../sdk/node/artifacts.js");
    let loaderError: unknown;
    try {
      defaultArtifacts(path.join(dir, "nowhere"));
    } catch (e) {
      loaderError = e;
    }
    expect(isZkPayError(loaderError, "artifacts_missing")).to.equal(true);
    const funded = await env.payer(8, { deposit: 5_000n });
    const broken = await PrivateWallet.open({
      seed: funded.seed,
      pool: env.pool,
      publicClient: env.publicClient,
      store: new MemoryNoteStore(),
      artifacts: { wasm: path.join(dir, "missing.wasm"), zkey: path.join(dir, "missing.zkey") },
    });
    const missing = await broken
      .preparePayment({ payTo: account(3).address, amount: 1n, expiry: now })
      .catch((e: unknown) => e);
    expect(isZkPayError(missing, "artifacts_missing"), String(missing)).to.equal(true);

    const file = path.join(dir, "corrupt.json");
    writeFileSync(file, "{ not json");
    const corrupt = await new FileNoteStore(file).load().catch((e: unknown) => e);
    expect(isZkPayError(corrupt, "note_store_corrupt")).to.equal(true);
    writeFileSync(file, JSON.stringify({ version: 1 }));
    const invalid = await new FileNoteStore(file).load().catch((e: unknown) => e);
    expect(isZkPayError(invalid, "note_store_corrupt")).to.equal(true);
  });

  it("persists atomically and reopens with the same notes", async function () {
    const file = path.join(dir, "notes.json");
    const { wallet, seed } = await env.payer(6, { deposit: 30_000n, store: new FileNoteStore(file) });
    const reopened = await env.payer(6, { seed, store: new FileNoteStore(file) });
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
  });
});
