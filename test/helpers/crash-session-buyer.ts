/**
 * Child process for the crash-recovery test in test/session/session.test.ts (the test runner
 * loads every file under test/, so it runs only when executed): buys a session credential with a
 * file-backed wallet and session store; once the service has settled the purchase and
 * answered, prints "PAID <status>" and waits to be killed (SIGKILL) before the answer
 * reaches the session client, so the credential is never stored.
 */
import path from "node:path";
import { pathToFileURL } from "node:url";

import { createPublicClient, createWalletClient, http, type Address, type Hex, type PublicClient } from "viem";

import { PrivateWallet } from "../../sdk/client/wallet.js";
import { defaultArtifacts, presentationArtifacts } from "../../sdk/node/artifacts.js";
import { FileNoteStore } from "../../sdk/node/file-store.js";
import { FileSessionStore } from "../../sdk/node/session-store.js";
import { SessionClient } from "../../sdk/session/client.js";
import { devAccount, localViemChain } from "../../scripts/lib/dev-env.js";

async function main(): Promise<void> {
  const cfg = JSON.parse(process.env.CRASH_CFG!) as {
    url: string;
    pool: { chainId: number; facilitator: Address; token: Address; deploymentBlock: number };
    seed: Hex;
    notes: string;
    sessions: string;
    accountIndex: number;
    api: string;
  };
  const chain = localViemChain(cfg.pool.chainId, cfg.url);
  const publicClient = createPublicClient({ chain, transport: http(cfg.url) }) as PublicClient;
  const walletClient = createWalletClient({ account: devAccount(cfg.accountIndex), chain, transport: http(cfg.url) });
  const wallet = await PrivateWallet.open({
    seed: cfg.seed,
    pool: cfg.pool,
    publicClient,
    walletClient,
    store: new FileNoteStore(cfg.notes),
    artifacts: defaultArtifacts(),
    sync: { auto: false },
  });
  await wallet.sync();
  const dying: typeof fetch = async (input, init) => {
    const req = new Request(input as RequestInfo, init);
    const res = await fetch(req);
    if (req.headers.get("PAYMENT-SIGNATURE") && new URL(req.url).pathname.includes("/buy/")) {
      process.stdout.write(`PAID ${res.status}\n`);
      // Never hand the answer back: the process is killed here.
      await new Promise(() => {});
    }
    return res;
  };
  const sessions = await SessionClient.open({
    wallet,
    artifacts: presentationArtifacts(),
    store: new FileSessionStore(cfg.sessions),
    fetch: dying,
    buy: (offers) => offers.find((o) => o.id === "basic"),
  });
  await sessions.fetch(`${cfg.api}/data`);
}

// Run only as the test's child process (`node --import tsx <this file>`), not when the
// test runner loads it.
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) await main();
