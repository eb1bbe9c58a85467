import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import {
  createPublicClient,
  createWalletClient,
  defineChain,
  http,
  type Account,
  type Chain,
  type Hex,
  type PublicClient,
  type WalletClient,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { base, baseSepolia } from "viem/chains";

import { PrivateWallet } from "../client/wallet.js";
import { NETWORKS, type Deployment } from "../core/deployment.js";
import { ZkPayError, isZkPayError } from "../core/errors.js";
import { WalletKeys } from "../core/keys.js";
import { defaultArtifacts } from "../node/artifacts.js";
import { loadDeployment } from "../node/deployments.js";
import { lockDirectory, type DirLock } from "../node/dir-lock.js";
import { FileNoteStore } from "../node/file-store.js";
import { syncProgressLine } from "../node/sync-progress.js";
import { CliError, EXIT } from "./errors.js";

/** Global options of the CLI (after commander parsed them). */
export interface GlobalOptions {
  network: string;
  rpc?: string;
  wallet?: string;
  privateKey?: string;
  mode: "server" | "client";
  verbose?: boolean;
  logChunk?: string;
  /** Directory of deployment records (default: $ZK402_DEPLOYMENTS_DIR, else the package's). */
  deployments?: string;
  /** Seconds to wait for another 402zk process holding the wallet folder. */
  lockTimeout?: string;
}

/** Environment variables holding each network's default RPC URL. */
export const RPC_ENV: Record<string, string> = { "base-sepolia": "BASE_SEPOLIA_RPC_URL", base: "BASE_RPC_URL" };

const LOCAL = new Set(["hardhat", "localhost"]);

/** Default RPC of a network: 127.0.0.1:8545 for local ones, an env variable for Base. */
export function defaultRpc(network: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (LOCAL.has(network)) return "http://127.0.0.1:8545";
  const v = RPC_ENV[network];
  return v ? env[v] : undefined;
}

/** Default wallet directory: ~/.402zk/<network>. */
export function defaultWalletDir(network: string): string {
  return path.join(os.homedir(), ".402zk", network);
}

/**
 * The wallet seed: env ZK402_SEED if set, else `<dir>/seed`, created (mode 0600) on
 * first use from the platform CSPRNG.
 */
export function loadOrCreateSeed(
  dir: string,
  env: NodeJS.ProcessEnv = process.env,
): { seed: Hex; created: boolean; source: string } {
  const fromEnv = env.ZK402_SEED?.trim();
  if (fromEnv) {
    if (!/^0x[0-9a-fA-F]{64}$/.test(fromEnv))
      throw new ZkPayError("invalid_argument", "ZK402_SEED must be 0x + 64 hex digits");
    return { seed: fromEnv as Hex, created: false, source: "env ZK402_SEED" };
  }
  const file = path.join(dir, "seed");
  if (existsSync(file)) {
    const seed = readFileSync(file, "utf8").trim();
    if (!/^0x[0-9a-fA-F]{64}$/.test(seed))
      throw new ZkPayError("invalid_argument", `${file} does not hold a 32-byte hex seed`);
    if (process.platform !== "win32" && (statSync(file).mode & 0o077) !== 0) {
      process.stderr.write(`warning: ${file} is readable by other users; run: chmod 600 ${file}\n`);
    }
    return { seed: seed as Hex, created: false, source: file };
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const seed = WalletKeys.randomSeed();
  // "wx": never overwrite a seed another process just created.
  writeFileSync(file, `${seed}\n`, { mode: 0o600, flag: "wx" });
  chmodSync(file, 0o600);
  return { seed, created: true, source: file };
}

/** The EOA from --private-key or env ZK402_PRIVATE_KEY, if any. */
export function loadAccount(opts: GlobalOptions, env: NodeJS.ProcessEnv = process.env): Account | undefined {
  const key = (opts.privateKey ?? env.ZK402_PRIVATE_KEY)?.trim();
  if (!key) return undefined;
  const hex = key.startsWith("0x") ? key : `0x${key}`;
  if (!/^0x[0-9a-fA-F]{64}$/.test(hex))
    throw new ZkPayError("invalid_argument", "the private key must be 32 bytes of hex");
  return privateKeyToAccount(hex as Hex);
}

function chainFor(d: Deployment, network: string, rpc: string): Chain {
  const known = d.chainId === base.id ? base : d.chainId === baseSepolia.id ? baseSepolia : undefined;
  if (known) return { ...known, rpcUrls: { default: { http: [rpc] } } };
  return defineChain({
    id: d.chainId,
    name: network,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [rpc] } },
  });
}

/** Everything a command needs: deployment, RPC clients, and lazily the EOA and the wallet. */
export interface CliContext {
  opts: GlobalOptions;
  network: string;
  deployment: Deployment;
  decimals: number;
  symbol: string;
  rpc: string;
  chain: Chain;
  publicClient: PublicClient;
  account: Account | undefined;
  walletClient: WalletClient | undefined;
  walletDir: string;
  /** Requires the EOA (deposits, withdrawals, client-settled payments, relaying). */
  requireAccount(why: string): { account: Account; walletClient: WalletClient };
  /** Opens the private wallet (seed + notes.json in the wallet dir), locking the folder. */
  openWallet(): Promise<PrivateWallet>;
  /** Releases the wallet folder's lock (also released when the process exits). */
  releaseWallet(): void;
}

/** Resolves the global options into a {@link CliContext}. Throws ZkPayError on bad configuration. */
export function createContext(opts: GlobalOptions, env: NodeJS.ProcessEnv = process.env): CliContext {
  const network = opts.network;
  if (!(network in NETWORKS)) {
    throw new ZkPayError(
      "invalid_argument",
      `unknown network "${network}" (known: ${Object.keys(NETWORKS).join(", ")})`,
    );
  }
  const deploymentsDir = opts.deployments ?? env.ZK402_DEPLOYMENTS_DIR;
  const deployment = loadDeployment(network, deploymentsDir ? path.resolve(deploymentsDir) : undefined);
  const rpc = opts.rpc ?? defaultRpc(network, env);
  if (!rpc) {
    throw new ZkPayError(
      "invalid_argument",
      `no RPC URL for ${network}: pass --rpc <url> or set ${RPC_ENV[network] ?? "--rpc"}`,
    );
  }
  const chain = chainFor(deployment, network, rpc);
  const local = LOCAL.has(network);
  const transport = http(rpc, { retryCount: local ? 0 : 3, timeout: 30_000 });
  const pollingInterval = local ? 50 : 1_000;
  const publicClient = createPublicClient({ chain, transport, pollingInterval }) as PublicClient;
  const account = loadAccount(opts, env);
  const walletClient = account ? createWalletClient({ account, chain, transport, pollingInterval }) : undefined;
  const walletDir = path.resolve(opts.wallet ?? defaultWalletDir(network));
  const logChunkSize = opts.logChunk ? Number(opts.logChunk) : undefined;
  if (logChunkSize !== undefined && !(Number.isInteger(logChunkSize) && logChunkSize > 0)) {
    throw new ZkPayError("invalid_argument", "--log-chunk must be a positive integer");
  }
  const lockTimeoutS = Number(opts.lockTimeout ?? env.ZK402_LOCK_TIMEOUT ?? 120);
  if (!(Number.isFinite(lockTimeoutS) && lockTimeoutS >= 0)) {
    throw new ZkPayError("invalid_argument", "--lock-timeout must be a non-negative number of seconds");
  }
  let wallet: Promise<PrivateWallet> | undefined;
  let lock: DirLock | undefined;
  return {
    opts,
    network,
    deployment,
    decimals: deployment.token_info.decimals,
    symbol: deployment.token_info.symbol,
    rpc,
    chain,
    publicClient,
    account,
    walletClient,
    walletDir,
    releaseWallet() {
      lock?.release();
    },
    requireAccount(why: string) {
      if (!account || !walletClient) {
        throw new ZkPayError("invalid_argument", `${why} needs an EOA: pass --private-key or set ZK402_PRIVATE_KEY`);
      }
      return { account, walletClient };
    },
    openWallet() {
      wallet ??= (async () => {
        // One command at a time per wallet folder: two processes would otherwise pick the
        // same note (one payment fails as nullifier_spent) or race on notes.json.
        lock = await lockDirectory(walletDir, {
          timeoutMs: lockTimeoutS * 1000,
          onWait: (owner) =>
            process.stderr.write(
              `waiting for another 402zk command using ${walletDir}${owner ? ` (pid ${owner.pid})` : ""}...\n`,
            ),
        });
        const s = loadOrCreateSeed(walletDir, env);
        if (s.created) {
          process.stderr.write(
            `created a new wallet seed in ${s.source} (mode 0600): back it up, it holds your private notes\n`,
          );
        }
        const progress = syncProgressLine();
        const w = PrivateWallet.open({
          seed: s.seed,
          pool: {
            chainId: deployment.chainId,
            facilitator: deployment.facilitator as Hex,
            token: deployment.token as Hex,
            deploymentBlock: deployment.deploymentBlock,
            tokenDomain: {
              name: deployment.token_info.eip712Name ?? deployment.token_info.name,
              version: deployment.token_info.eip712Version,
            },
          },
          publicClient,
          walletClient,
          store: new FileNoteStore(path.join(walletDir, "notes.json")),
          artifacts: defaultArtifacts(),
          logChunkSize,
          // A command runs for seconds: no schedule. Its first payment syncs (the wallet has
          // never synced in this process), so a CLI payment is timed by its log queries;
          // a long-running agent with scheduled syncing is not (see the README).
          sync: { auto: false },
          // A first sync of a big pool takes seconds: show how far it got (stderr).
          onSyncProgress: (p) => {
            progress.update(p);
            if (p.toBlock >= p.latestBlock) progress.end();
          },
        });
        // A wallet on the wrong chain is a configuration error, not a refused payment.
        return w.catch((err: unknown) => {
          if (isZkPayError(err, "chain_mismatch"))
            throw new CliError(
              EXIT.usage,
              "chain_mismatch",
              `${err.message} (check --rpc, --network and --deployments` +
                (err.details.storeFacilitator
                  ? `; if the pool was redeployed, move ${path.join(walletDir, "notes.json")} away: it is only a cache, and the next command rescans from the seed)`
                  : ")"),
            );
          throw err;
        });
      })();
      return wallet;
    },
  };
}
