import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import {
  createPublicClient,
  createWalletClient,
  defineChain,
  http,
  keccak256,
  type Account,
  type Chain,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { chainConfig as opStackChainConfig } from "viem/op-stack";

import { PrivateWallet } from "../client/wallet.js";
import { explorerTxUrl, type Deployment } from "../core/deployment.js";
import { ZkPayError, isZkPayError } from "../core/errors.js";
import { WalletKeys } from "../core/keys.js";
import { defaultArtifacts } from "../node/artifacts.js";
import { DEPLOYMENTS_DIR, loadDeployment } from "../node/deployments.js";
import { lockDirectory, type DirLock } from "../node/dir-lock.js";
import { FileNoteStore } from "../node/file-store.js";
import { syncProgressLine } from "../node/sync-progress.js";
import { CliError, EXIT } from "./errors.js";
import type { EnvVars } from "../service/config.js";

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
/** Hardhat's (and anvil's) chain id: a local development chain whatever its record is called. */
const LOCAL_CHAIN_ID = 31337;

/**
 * Default RPC of a network: 127.0.0.1:8545 for local ones (by name, or a record on chain
 * 31337), an env variable for Base; none for other records (pass --rpc).
 */
export function defaultRpc(network: string, env: EnvVars = process.env, chainId?: number): string | undefined {
  if (LOCAL.has(network) || chainId === LOCAL_CHAIN_ID) return "http://127.0.0.1:8545";
  const v = RPC_ENV[network];
  return v ? env[v] : undefined;
}

/**
 * A transaction hash for the terminal: the hash, and its explorer page on a public chain
 * (none on a local chain).
 *
 * @example
 * formatTx(84532, "0xab…"); // "0xab… https://sepolia.basescan.org/tx/0xab…"
 * formatTx(31337, "0xab…"); // "0xab…"
 */
export function formatTx(chainId: number, hash: string): string {
  const url = explorerTxUrl(chainId, hash);
  return url ? `${hash} ${url}` : hash;
}

/**
 * The deployment record `<dir>/<network>.json`. Any record in the directory is a network
 * the CLI can use (not only the four names it knows defaults for); a missing one is
 * `deployment_not_found` naming the records that are there.
 */
export function loadNetwork(network: string, dir: string | undefined): Deployment {
  try {
    return loadDeployment(network, dir);
  } catch (err) {
    if (!isZkPayError(err, "deployment_not_found") && !isZkPayError(err, "invalid_argument")) throw err;
    const where = dir ?? DEPLOYMENTS_DIR;
    if (existsSync(path.join(where, `${network}.json`))) throw err; // there, but invalid: say why
    let found: string[] = [];
    try {
      found = readdirSync(where)
        .filter((f) => f.endsWith(".json") && /^[a-z0-9-]+\.json$/.test(f))
        .map((f) => f.slice(0, -".json".length))
        .sort();
    } catch {
      found = [];
    }
    throw new ZkPayError(
      "deployment_not_found",
      `${err.message}; ${found.length > 0 ? `records in ${where}: ${found.join(", ")}` : `${where} holds no deployment records`} ` +
        `(--deployments DIR or ZK402_DEPLOYMENTS_DIR names another directory)`,
      { network, dir: where, found },
      { cause: err },
    );
  }
}

/**
 * An RPC transport that tells `onSend` the hash of every raw transaction before it goes
 * out (the hash of a signed transaction is the keccak of its bytes): whatever fails after
 * a payment or a withdrawal was sent, the CLI can name it.
 */
function observeSends(inner: Transport, onSend: (hash: Hex) => void, stopped: () => boolean): Transport {
  return ((args: Parameters<Transport>[0]) => {
    const t = inner(args);
    return {
      ...t,
      request: (async (req: { method: string; params?: unknown }) => {
        if (req.method === "eth_sendRawTransaction" || req.method === "eth_sendTransaction") {
          // After a timeout or a signal the command reports what it sent: nothing new may leave.
          if (stopped())
            throw new ZkPayError("invalid_argument", "402zk stopped sending transactions (timed out or interrupted)");
          if (Array.isArray(req.params) && typeof req.params[0] === "string") onSend(keccak256(req.params[0] as Hex));
        }
        return t.request(req as never);
      }) as typeof t.request,
    };
  }) as Transport;
}

/** Default wallet directory: ~/.402zk/<network>. */
export function defaultWalletDir(network: string): string {
  return path.join(os.homedir(), ".402zk", network);
}

/**
 * A 32-byte secret: env `envName` if set, else `<dir>/<name>`, created (mode 0600) on
 * first use from the platform CSPRNG. The wallet seed and `serve --sessions`' issuer key.
 */
export function loadOrCreateSecret(
  dir: string,
  name: string,
  envName: string,
  env: EnvVars = process.env,
): { secret: Hex; created: boolean; source: string } {
  const fromEnv = env[envName]?.trim();
  if (fromEnv) {
    if (!/^0x[0-9a-fA-F]{64}$/.test(fromEnv))
      throw new ZkPayError("invalid_argument", `${envName} must be 0x + 64 hex digits`);
    return { secret: fromEnv as Hex, created: false, source: `env ${envName}` };
  }
  const file = path.join(dir, name);
  if (existsSync(file)) {
    const secret = readFileSync(file, "utf8").trim();
    if (!/^0x[0-9a-fA-F]{64}$/.test(secret))
      throw new ZkPayError("invalid_argument", `${file} does not hold a 32-byte hex ${name}`);
    if (process.platform !== "win32" && (statSync(file).mode & 0o077) !== 0) {
      process.stderr.write(`warning: ${file} is readable by other users; run: chmod 600 ${file}\n`);
    }
    return { secret: secret as Hex, created: false, source: file };
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const secret = WalletKeys.randomSeed();
  // "wx": never overwrite a secret another process just created.
  writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: "wx" });
  chmodSync(file, 0o600);
  return { secret, created: true, source: file };
}

/**
 * The wallet seed: env ZK402_SEED if set, else `<dir>/seed`, created (mode 0600) on
 * first use from the platform CSPRNG.
 */
export function loadOrCreateSeed(
  dir: string,
  env: EnvVars = process.env,
): { seed: Hex; created: boolean; source: string } {
  const s = loadOrCreateSecret(dir, "seed", "ZK402_SEED", env);
  return { seed: s.secret, created: s.created, source: s.source };
}

/** The EOA from --private-key or env ZK402_PRIVATE_KEY, if any. */
export function loadAccount(opts: GlobalOptions, env: EnvVars = process.env): Account | undefined {
  const key = (opts.privateKey ?? env.ZK402_PRIVATE_KEY)?.trim();
  if (!key) return undefined;
  const hex = key.startsWith("0x") ? key : `0x${key}`;
  if (!/^0x[0-9a-fA-F]{64}$/.test(hex))
    throw new ZkPayError("invalid_argument", "the private key must be 32 bytes of hex");
  return privateKeyToAccount(hex as Hex);
}

/**
 * Base and Base Sepolia as viem's `viem/chains` defines them where a transaction is
 * concerned (the OP-stack formatters, serializers and fee rules, id, name, currency,
 * explorer), built from `viem/op-stack`: importing `viem/chains` loads every chain viem
 * knows and cost ~0.5 s on each start of the CLI. test/cli/commands.test.ts checks these
 * against viem's own definitions.
 */
export const OP_STACK_CHAINS: Record<number, Chain> = {
  8453: defineChain({
    ...opStackChainConfig,
    id: 8453,
    name: "Base",
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: ["https://mainnet.base.org"] } },
    blockExplorers: {
      default: { name: "Basescan", url: "https://basescan.org", apiUrl: "https://api.basescan.org/api" },
    },
    sourceId: 1,
  }),
  84532: defineChain({
    ...opStackChainConfig,
    id: 84532,
    name: "Base Sepolia",
    nativeCurrency: { name: "Sepolia Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: ["https://sepolia.base.org"] } },
    blockExplorers: {
      default: {
        name: "Basescan",
        url: "https://sepolia.basescan.org",
        apiUrl: "https://api-sepolia.basescan.org/api",
      },
    },
    testnet: true,
    sourceId: 11_155_111,
  }),
};

function chainFor(d: Deployment, network: string, rpc: string): Chain {
  const known = OP_STACK_CHAINS[d.chainId];
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
  /** Transactions this process sent (hash, and when: performance.now() ms), oldest first. */
  sentTransactions(): readonly { hash: Hex; at: number }[];
  /** Refuses every later transaction of this process (after a timeout or a signal, what was sent is final). */
  stopSending(): void;
  /** A transaction hash with its explorer link on public chains ({@link formatTx}). */
  tx(hash: string): string;
}

/** Resolves the global options into a {@link CliContext}. Throws ZkPayError on bad configuration. */
export function createContext(opts: GlobalOptions, env: EnvVars = process.env): CliContext {
  const network = opts.network;
  const deploymentsDir = opts.deployments ?? env.ZK402_DEPLOYMENTS_DIR;
  const deployment = loadNetwork(network, deploymentsDir ? path.resolve(deploymentsDir) : undefined);
  const rpc = opts.rpc ?? defaultRpc(network, env, deployment.chainId);
  if (!rpc) {
    throw new ZkPayError(
      "invalid_argument",
      `no RPC URL for ${network}: pass --rpc <url>${RPC_ENV[network] ? ` or set ${RPC_ENV[network]}` : ""}`,
    );
  }
  const chain = chainFor(deployment, network, rpc);
  const local = LOCAL.has(network) || deployment.chainId === LOCAL_CHAIN_ID;
  const sent: { hash: Hex; at: number }[] = [];
  let stopped = false;
  const transport = observeSends(
    http(rpc, { retryCount: local ? 0 : 3, timeout: 30_000 }),
    (hash) => sent.push({ hash, at: performance.now() }),
    () => stopped,
  );
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
    sentTransactions: () => sent,
    stopSending: () => {
      stopped = true;
    },
    tx: (hash: string) => formatTx(deployment.chainId, hash),
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
