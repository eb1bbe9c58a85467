import { once } from "node:events";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";

import { x402Client } from "@x402/core/client";
import { wrapFetchWithPayment } from "@x402/fetch";
import express from "express";
import {
  createPublicClient,
  createWalletClient,
  http,
  type Address,
  type Hex,
  type PublicClient,
  type WalletClient,
} from "viem";

import { ZkExactClientScheme, ZkShieldedClientScheme, type ZkClientOptions } from "../../sdk/client/scheme.js";
import { MemoryNoteStore, type NoteStore } from "../../sdk/client/store.js";
import { PrivateWallet, type PreparedPayment, type PrivateWalletOptions } from "../../sdk/client/wallet.js";
import { WalletKeys } from "../../sdk/core/keys.js";
import type { SettlementMode } from "../../sdk/core/wire.js";
import { zkPaymentMiddleware } from "../../sdk/express/index.js";
import { defaultArtifacts, loadVerificationKey } from "../../sdk/node/artifacts.js";
import { createZkResourceServer, type ZkResourceServerOptions } from "../../sdk/server/resource-server.js";
import type { ReplayStore } from "../../sdk/core/replay.js";
import { deployWithRecord } from "../../scripts/lib/deploy.js";
import { devAccount, localViemChain } from "../../scripts/lib/dev-env.js";
import { startLocalChain } from "../../scripts/lib/local-chain.js";

/** Hardhat's funded dev account `i`. */
export const account = devAccount;

/** A local chain on 127.0.0.1 with the pool deployed, and viem clients for it. */
export async function startEnv(opts: { rootHistorySize?: number; escrow?: boolean } = {}) {
  const localChain = await startLocalChain();
  const wallets: PrivateWallet[] = [];
  const chain = {
    ...localChain,
    /** Closes every wallet opened through `payer`, then the chain. */
    close: async () => {
      await Promise.all(wallets.map((w) => w.close()));
      await localChain.close();
    },
  };
  const { record, system } = await deployWithRecord(chain.ethers, "hardhat", {
    rootHistorySize: opts.rootHistorySize,
    escrow: opts.escrow,
  });
  const viemChain = localViemChain(record.chainId, chain.url);
  const publicClient = createPublicClient({
    chain: viemChain,
    transport: http(chain.url),
    pollingInterval: 50,
  }) as PublicClient;
  const walletClientFor = (i: number): WalletClient =>
    createWalletClient({ account: account(i), chain: viemChain, transport: http(chain.url), pollingInterval: 50 });
  const pool = {
    chainId: record.chainId,
    facilitator: record.facilitator as Address,
    token: record.token as Address,
    deploymentBlock: record.deploymentBlock,
  };
  const { vkey, vkeySha256 } = loadVerificationKey();
  const artifacts = defaultArtifacts();

  async function mint(to: Address, amount: bigint) {
    await (await system.token.mint(to, amount)).wait();
  }

  /**
   * A funded payer wallet (EOA index `i`) with one deposit of `deposit`. Scheduled syncing
   * is off unless `sync` says otherwise (tests sync when they mean to); every wallet is
   * closed when the chain is.
   */
  async function payer(
    i: number,
    opts: { deposit?: bigint; seed?: Hex; store?: NoteStore; sync?: PrivateWalletOptions["sync"] } = {},
  ) {
    const walletClient = walletClientFor(i);
    const seed = opts.seed ?? WalletKeys.randomSeed();
    const wallet = await PrivateWallet.open({
      seed,
      pool,
      publicClient,
      walletClient,
      store: opts.store ?? new MemoryNoteStore(),
      artifacts,
      sync: opts.sync ?? { auto: false },
    });
    wallets.push(wallet);
    if (opts.deposit) {
      await mint(account(i).address, opts.deposit);
      await wallet.deposit(opts.deposit);
    }
    return { wallet, walletClient, seed, address: account(i).address };
  }

  /**
   * A paid API on 127.0.0.1: GET /weather costs `price` base units, paid in zk-exact, or in
   * zk-shielded when `payTo` is a shielded address (`zk402...`, with the API's `payee`).
   * `transparentPayTo` adds GET /transparent, always zk-exact (a server taking both).
   */
  async function api(opts: {
    payTo: Address | string;
    payee?: ZkResourceServerOptions["payee"];
    transparentPayTo?: Address;
    price?: bigint;
    relayerIndex?: number;
    challengeSecret?: string;
    replay?: ReplayStore;
    minConfirmations?: number;
    fee?: bigint;
    instances?: number;
    challengeTtlSeconds?: number;
    limits?: ZkResourceServerOptions["limits"];
    batch?: ZkResourceServerOptions["batch"];
    /**
     * Follow X-Forwarded-For for the client key: the test client (on loopback) is the
     * trusted reverse proxy, and the header's right-most entry is the client.
     */
    trustProxy?: boolean;
  }) {
    const zk = createZkResourceServer({
      pool: { ...pool, decimals: 6 },
      publicClient,
      walletClient: walletClientFor(opts.relayerIndex ?? 1),
      vkey,
      vkeySha256,
      challengeSecret: opts.challengeSecret ?? "test-secret-0123456789abcdef",
      replay: opts.replay,
      minConfirmations: opts.minConfirmations,
      fee: opts.fee,
      instances: opts.instances,
      challengeTtlSeconds: opts.challengeTtlSeconds,
      limits: opts.trustProxy ? { ...opts.limits, trustedProxies: ["127.0.0.1", "::1"] } : opts.limits,
      batch: opts.batch,
      payee: opts.payee,
    });
    const price = (opts.price ?? 10_000n).toString();
    const scheme = opts.payTo.startsWith("0x") ? "zk-exact" : "zk-shielded";
    const app = express();
    let served = 0;
    /** Side effects of POST /order (settles before its handler) and POST /sms (after). */
    const sideEffects = { order: 0, sms: 0 };
    app.use(
      zkPaymentMiddleware(
        {
          "GET /weather": {
            accepts: {
              scheme,
              network: zk.network,
              payTo: opts.payTo,
              price: { amount: price, asset: pool.token },
            },
          },
          "GET /forecast": {
            accepts: {
              scheme,
              network: zk.network,
              payTo: opts.payTo,
              price: { amount: price, asset: pool.token },
            },
          },
          "GET /premium": {
            accepts: {
              scheme,
              network: zk.network,
              payTo: opts.payTo,
              price: { amount: (BigInt(price) * 5n).toString(), asset: pool.token },
            },
          },
          // A route whose handler fails on its first call.
          "GET /flaky": {
            accepts: {
              scheme,
              network: zk.network,
              payTo: opts.payTo,
              price: { amount: price, asset: pool.token },
            },
          },
          // A route with side effects that settles before its handler runs.
          "POST /order": {
            accepts: {
              scheme,
              network: zk.network,
              payTo: opts.payTo,
              price: { amount: price, asset: pool.token },
              extra: { paymentFlow: "upfront" },
            },
          },
          // The same side effect on the default flow (verify, handler, settle).
          "POST /sms": {
            accepts: {
              scheme,
              network: zk.network,
              payTo: opts.payTo,
              price: { amount: price, asset: pool.token },
            },
          },
          ...(opts.transparentPayTo
            ? {
                "GET /transparent": {
                  accepts: {
                    scheme: "zk-exact",
                    network: zk.network,
                    payTo: opts.transparentPayTo,
                    price: { amount: price, asset: pool.token },
                  },
                },
              }
            : {}),
        },
        zk.resourceServer,
      ),
    );
    app.get("/transparent", (_req, res) => {
      served++;
      res.json({ weather: "sunny", served });
    });
    app.get("/weather", (_req, res) => {
      served++;
      res.json({ weather: "sunny", served });
    });
    app.get("/forecast", (_req, res) => {
      served++;
      res.json({ forecast: "sunny all week", served });
    });
    app.get("/premium", (_req, res) => {
      served++;
      res.json({ weather: "sunny, 21.5C", served });
    });
    let flakyCalls = 0;
    app.get("/flaky", (_req, res) => {
      if (flakyCalls++ === 0) res.status(500).json({ error: "upstream failed" });
      else res.json({ ok: true });
    });
    app.post("/order", (_req, res) => {
      sideEffects.order++;
      res.json({ ordered: true });
    });
    app.post("/sms", (_req, res) => {
      sideEffects.sms++;
      res.json({ sent: true });
    });
    const server: Server = app.listen(0, "127.0.0.1");
    await once(server, "listening");
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return {
      ...zk,
      url,
      served: () => served,
      sideEffects,
      close: () => new Promise<void>((r) => server.close(() => r())),
    };
  }

  /** An x402 fetch that pays with `wallet`, recording the headers it sent. */
  function payingFetch(
    wallet: PrivateWallet,
    settlement: SettlementMode = "server",
    opts: { confirmationTimeoutMs?: number } = {},
  ) {
    const sent: { url: string; paymentSignature: string | null }[] = [];
    const prepared: PreparedPayment[] = [];
    const recordingFetch: typeof fetch = async (input, init) => {
      const req = new Request(input as RequestInfo, init);
      sent.push({ url: req.url, paymentSignature: req.headers.get("PAYMENT-SIGNATURE") });
      return fetch(req);
    };
    const client = zkClient({ wallet, settlement, onPrepared: (p) => prepared.push(p), ...opts });
    return { fetch: wrapFetchWithPayment(recordingFetch, client), sent, prepared };
  }

  /**
   * The PAYMENT-SIGNATURE a client paying `url` with `wallet` would send, captured without
   * sending it: the 402 is fetched for real, the paid request is answered with a 599 here.
   */
  async function preparedHeader(
    wallet: PrivateWallet,
    url: string,
    settlement: SettlementMode = "server",
    init?: RequestInit,
  ): Promise<string> {
    const intercepted: string[] = [];
    const grab: typeof fetch = async (input, init) => {
      const req = new Request(input as RequestInfo, init);
      const sig = req.headers.get("PAYMENT-SIGNATURE");
      if (sig) {
        intercepted.push(sig);
        return new Response("{}", { status: 599 });
      }
      return fetch(req);
    };
    await wrapFetchWithPayment(grab, zkClient({ wallet, settlement }))(url, init);
    const header = intercepted[0];
    if (!header) throw new Error(`no PAYMENT-SIGNATURE was prepared for ${url}`);
    return header;
  }

  return {
    chain,
    record,
    system,
    publicClient,
    walletClientFor,
    pool,
    vkey,
    vkeySha256,
    artifacts,
    mint,
    payer,
    api,
    payingFetch,
    preparedHeader,
  };
}

export type Env = Awaited<ReturnType<typeof startEnv>>;

/** An x402 client paying zk-exact and zk-shielded requirements with the same options (spend controls off). */
export function zkClient(o: ZkClientOptions): x402Client {
  const client = new x402Client()
    .register("eip155:*", new ZkExactClientScheme(o))
    .register("eip155:*", new ZkShieldedClientScheme(o));
  client.setSpendControls(false);
  return client;
}

/** Decodes a base64 JSON header. */
export function decodeHeader<T = Record<string, unknown>>(h: string | null): T | undefined {
  return h ? (JSON.parse(Buffer.from(h, "base64").toString("utf8")) as T) : undefined;
}
