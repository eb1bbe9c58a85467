/**
 * Child process for the crash-recovery tests (the test runner loads every file under
 * test/, so it runs only when executed), with a file-backed wallet:
 *
 * - mode "pay" (test/server/x402.test.ts): proves a payment, sends `pay` on chain, prints
 *   "SENT <hash>" and then waits to be killed (SIGKILL) before it can sync or save
 *   anything about the change note.
 * - mode "withdraw" (test/client/shielded.test.ts): starts a chained withdrawal of
 *   `amount` to `payTo`; once its first transaction is mined it prints "SENT <hash>" and
 *   blocks, so the kill lands between two transactions of the chain.
 */
import path from "node:path";
import { pathToFileURL } from "node:url";

import { createPublicClient, createWalletClient, http, type Address, type Hex, type PublicClient } from "viem";

import { PrivateWallet } from "../../sdk/client/wallet.js";
import { facilitatorAbi } from "../../sdk/core/abi.js";
import { defaultArtifacts } from "../../sdk/node/artifacts.js";
import { FileNoteStore } from "../../sdk/node/file-store.js";
import { devAccount, localViemChain } from "../../scripts/lib/dev-env.js";

async function main(): Promise<void> {
  const cfg = JSON.parse(process.env.CRASH_CFG!) as {
    url: string;
    pool: { chainId: number; facilitator: Address; token: Address; deploymentBlock: number };
    seed: Hex;
    store: string;
    accountIndex: number;
    payTo: Address;
    amount: string;
    mode?: "pay" | "withdraw";
  };
  const chain = localViemChain(cfg.pool.chainId, cfg.url);
  const account = devAccount(cfg.accountIndex);
  const publicClient = createPublicClient({ chain, transport: http(cfg.url) }) as PublicClient;
  const walletClient = createWalletClient({ account, chain, transport: http(cfg.url) });
  const wallet = await PrivateWallet.open({
    seed: cfg.seed,
    pool: cfg.pool,
    publicClient,
    walletClient,
    store: new FileNoteStore(cfg.store),
    artifacts: defaultArtifacts(),
    // One short process: it syncs when it pays (no background schedule to wait for).
    sync: { auto: false },
  });
  if (cfg.mode === "withdraw") {
    await wallet.withdraw({
      to: cfg.payTo,
      amount: BigInt(cfg.amount),
      onTransaction: (t) => {
        process.stdout.write(`SENT ${t.hash}\n`);
        // Block the event loop (no next transaction, no save) until the parent kills us.
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 120_000);
      },
    });
    return;
  }
  const now = (await publicClient.getBlock()).timestamp;
  const p = await wallet.preparePayment({ payTo: cfg.payTo, amount: BigInt(cfg.amount), expiry: now + 600n });
  const hash = await walletClient.writeContract({
    address: cfg.pool.facilitator,
    abi: facilitatorAbi,
    functionName: "pay",
    args: [p.proof, p.terms, p.memo, p.payeeMemo],
  });
  process.stdout.write(`SENT ${hash}\n`);
  // Wait to be killed: never sync, never save the change note.
  setInterval(() => {}, 1_000);
}

// Run only as the test's child process (`node --import tsx <this file>`), not when the
// test runner loads it.
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) await main();
