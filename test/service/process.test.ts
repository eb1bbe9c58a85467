import path from "node:path";

import { expect } from "chai";
import type { Address, Hex } from "viem";

import type { PrivateWallet } from "../../sdk/client/wallet.js";
import { shutdownProver } from "../../sdk/core/prover.js";
import { devPrivateKey } from "../../scripts/lib/dev-env.js";
import { buildCli, withCompileCache } from "../helpers/cli-build.js";
import {
  post,
  preparedPayment,
  remoteApi,
  spawnFacilitator,
  startService,
  tempDir,
  txsFrom,
} from "../helpers/service.js";
import { account, startEnv, type Env } from "../helpers/x402-env.js";

type Settle = { success: boolean; transaction: string; errorReason?: string; extra?: Record<string, unknown> };

describe("402zk facilitator as a process: SIGKILL mid-settle, restart, graceful shutdown", function () {
  let env: Env;
  let wallet: PrivateWallet;
  const payee = account(3).address;
  const closers: (() => Promise<unknown>)[] = [];

  before(async function () {
    this.timeout(300_000);
    // The CLI runs from dist/: built from the current sources unless it is already (type errors
    // elsewhere do not stop the emit; `npm run lint` reports those).
    buildCli({ stdio: "ignore" });
    env = await startEnv();
    const p = await env.payer(12);
    await env.mint(p.address, 300_000n);
    for (let i = 0; i < 3; i++) await p.wallet.deposit(100_000n);
    wallet = p.wallet;
  });

  after(async function () {
    for (const c of closers.reverse()) await c().catch(() => {});
    await env?.chain.close();
    await shutdownProver();
  });

  const rpc = (method: string, params: unknown[] = []) =>
    env.chain.provider.request({ method: method as never, params: params as never });

  it("killed with SIGKILL while its transaction is pending, restarted: finishes that payment, nothing submitted twice", async function () {
    const db = path.join(tempDir(), "facilitator.sqlite");
    const relayer = account(9).address as Address;
    const first = await spawnFacilitator(env, { db, relayerIndex: 9, envVars: withCompileCache({}) });
    closers.push(async () => first.child.kill("SIGKILL"));
    const api = await remoteApi(env, { facilitatorUrl: first.url, payTo: payee });
    closers.push(api.close);
    const p = await preparedPayment(env, wallet, api.url);
    const body = { x402Version: 2, ...p };
    const block = await env.publicClient.getBlockNumber();
    const nonce0 = await env.publicClient.getTransactionCount({ address: relayer });
    await rpc("evm_setAutomine", [false]);
    let pendingHash: string | undefined;
    try {
      const lost = post<Settle>(`${first.url}/settle`, body).catch((e: unknown) => e);
      // Wait until the relayer's transaction is in the mempool, then kill the process mid-settle.
      const t0 = Date.now();
      while (Date.now() - t0 < 20_000) {
        const n = await env.publicClient.getTransactionCount({ address: relayer, blockTag: "pending" });
        if (n > nonce0) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(await env.publicClient.getTransactionCount({ address: relayer, blockTag: "pending" })).to.equal(
        nonce0 + 1,
      );
      first.child.kill("SIGKILL");
      expect(await first.exited).to.equal(null);
      expect(await lost).to.be.instanceOf(Error); // the resource server never got its answer
      pendingHash = first.lines.find((l) => l.msg === "transaction sent")?.tx as string | undefined;
      expect(pendingHash).to.match(/^0x[0-9a-f]{64}$/);

      // Restarted on the same database while the transaction is still unmined.
      const second = await spawnFacilitator(env, { db, relayerIndex: 9, envVars: withCompileCache({}) });
      closers.push(async () => second.child.kill("SIGKILL"));
      const resumed = second.lines.find((l) => l.msg === "resuming payments");
      expect(resumed).to.include({ submitted: 1, accepted: 0 });
      const retry = post<Settle>(`${second.url}/settle`, body);
      await new Promise((r) => setTimeout(r, 300));
      await rpc("evm_mine");
      const r = await retry;
      expect(r.body.success, JSON.stringify(r.body)).to.equal(true);
      expect(r.body.transaction).to.equal(pendingHash);
      // Exactly one transaction from the relayer, at the nonce it had.
      const sent = await txsFrom(env, relayer, block);
      expect(sent.map((t) => [t.hash, t.nonce])).to.deep.equal([[pendingHash, nonce0]]);
      const health = (await (await fetch(`${second.url}/health`)).json()) as { payments: Record<string, number> };
      expect(health.payments).to.include({ settled: 1, submitted: 0, accepted: 0 });
      // Its logs are JSON lines without the key.
      expect(JSON.stringify([...first.lines, ...second.lines])).to.not.include(devPrivateKey(9).slice(2));
      // SIGTERM: a graceful exit.
      second.child.kill("SIGTERM");
      expect(await second.exited).to.equal(0);
      expect(second.lines.some((l) => l.msg === "facilitator service stopped")).to.equal(true);
    } finally {
      await rpc("evm_setAutomine", [true]);
    }
  });

  it("graceful shutdown: new settlements are refused (server_busy), the one in flight finishes first", async function () {
    const s = await startService(env, { relayerIndex: 10 });
    const api = await remoteApi(env, { facilitatorUrl: s.url, payTo: payee });
    closers.push(api.close);
    const p = await preparedPayment(env, wallet, api.url);
    await rpc("evm_setAutomine", [false]);
    try {
      const inFlight = post<Settle>(`${s.url}/settle`, { x402Version: 2, ...p });
      const t0 = Date.now();
      while (s.service.settler.inFlight === 0 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 20));
      // Let the transaction reach the mempool before shutting down.
      await new Promise((r) => setTimeout(r, 300));
      const closing = s.close(20_000);
      await new Promise((r) => setTimeout(r, 100));
      expect(s.service.draining).to.equal(true);
      const refused = await s.service.settle(p.paymentPayload, p.paymentRequirements);
      expect(refused).to.include({ success: false, errorReason: "server_busy" });
      await rpc("evm_mine");
      const r = await inFlight;
      expect(r.body.success, JSON.stringify(r.body)).to.equal(true);
      expect(await closing).to.equal(true);
      expect(s.lines.some((l) => l.msg === "facilitator service stopped" && l.drained === true)).to.equal(true);
      await fetch(`${s.url}/health`).then(
        () => expect.fail("the server still answers after close"),
        () => {},
      );
      const rc = await env.publicClient.getTransactionReceipt({ hash: r.body.transaction as Hex });
      expect(rc.status).to.equal("success");
    } finally {
      await rpc("evm_setAutomine", [true]);
    }
  });
});
