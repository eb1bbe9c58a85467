import { readFileSync } from "node:fs";

import { parseEther, parseGwei } from "viem";
import { z } from "zod";

import { ZkPayError } from "../core/errors.js";
import { TrustedProxies } from "../node/caller.js";
import { TRUST_PROXY_REMOVED } from "./http.js";

const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, "must be a 20-byte hex address");
/** Token base units: a JSON number, digits, or digits with the CLI's base-unit suffix ("1000u"). */
const uint = z
  .union([z.string().regex(/^\d{1,78}u?$/, "must be a whole number of base units"), z.number().int().nonnegative()])
  .transform((x) => BigInt(typeof x === "string" ? x.replace(/u$/, "") : x));

/**
 * The service's configuration file (JSON). Every field has an environment variable
 * (read after the file, so it wins) and most have a CLI flag (which wins over both).
 */
export const ServiceConfigSchema = z.object({
  /** JSON-RPC endpoint of the chain. Env ZK402_RPC_URL. */
  rpcUrl: z.string().min(1),
  /** Pool (Facilitator contract) address. Env ZK402_POOL. Or `deployment`. */
  pool: address.optional(),
  /** Network name of a deployment record (deployments/<name>.json) naming the pool. Env ZK402_NETWORK. */
  network: z.string().optional(),
  /** Directory of deployment records. Env ZK402_DEPLOYMENTS_DIR. */
  deploymentsDir: z.string().optional(),
  /** Interface and port to listen on. Env ZK402_HOST, ZK402_PORT. */
  host: z.string().default("127.0.0.1"),
  port: z.number().int().min(0).max(65535).default(4022),
  /** SQLite file. Env ZK402_DB. */
  database: z.string().default("./402zk-facilitator.sqlite"),
  relayer: z
    .object({
      /** Fee recipient published as `relayer` (default: the signing address). Share it between instances. */
      feeRecipient: address.optional(),
      /** Environment variable holding the relayer's private key. */
      privateKeyEnv: z.string().default("ZK402_RELAYER_KEY"),
      /** A Hardhat 3 keystore (`npx hardhat keystore set <key>`): file and key name. */
      keystore: z
        .object({
          path: z.string().optional(),
          key: z.string(),
          /** Environment variable holding the keystore password. */
          passwordEnv: z.string().default("ZK402_KEYSTORE_PASSWORD"),
        })
        .optional(),
    })
    .default({ privateKeyEnv: "ZK402_RELAYER_KEY" }),
  fee: z
    .object({
      /** Smallest fee, token base units. Env ZK402_FEE. */
      min: uint.default(0n),
      /** Price of 1 ETH in token base units (enables gas coverage). Env ZK402_NATIVE_PRICE. */
      nativePrice: uint.optional(),
      gasPerPayment: uint.optional(),
      marginBps: z.number().int().nonnegative().optional(),
    })
    .default({ min: 0n }),
  gas: z
    .object({
      /** Cap on maxFeePerGas, gwei. Env ZK402_MAX_FEE_GWEI. */
      maxFeePerGasGwei: z.number().positive().default(50),
      priorityFeeGwei: z.number().nonnegative().default(0.01),
      baseFeeMultiplier: z.number().positive().default(2),
      replaceAfterMs: z.number().int().positive().default(20_000),
      bumpPercent: z.number().int().min(10).default(25),
      maxReplacements: z.number().int().nonnegative().default(6),
      /** Warn (and /health says degraded) below this relayer balance, ETH. */
      warnBalanceEth: z.number().nonnegative().default(0.01),
    })
    .default({
      maxFeePerGasGwei: 50,
      priorityFeeGwei: 0.01,
      baseFeeMultiplier: 2,
      replaceAfterMs: 20_000,
      bumpPercent: 25,
      maxReplacements: 6,
      warnBalanceEth: 0.01,
    }),
  batch: z
    .object({
      windowMs: z.number().int().nonnegative().optional(),
      maxSize: z.number().int().min(1).max(64).optional(),
      commitAfterMs: z.number().int().optional(),
    })
    .default({}),
  limits: z
    .object({
      burst: z.number().positive().optional(),
      perSecond: z.number().positive().optional(),
      /**
       * The reverse proxies in front of the service, addresses or CIDR blocks
       * (`["127.0.0.1", "10.0.0.0/8"]`): the caller is the right-most X-Forwarded-For entry
       * that is not one of them; a request from any other peer is keyed on that peer.
       * Env ZK402_TRUSTED_PROXIES (comma-separated), flag --trusted-proxies.
       */
      trustedProxies: z
        .array(z.string())
        .default([])
        .superRefine((list, ctx) => {
          try {
            new TrustedProxies(list);
          } catch (err) {
            ctx.addIssue({ code: "custom", message: (err as Error).message });
          }
        }),
      /** Removed: `true` is refused with a message naming `trustedProxies` (it trusted a client-written entry). */
      trustProxy: z
        .boolean()
        .optional()
        .refine((v) => v !== true, { message: TRUST_PROXY_REMOVED }),
      /** Largest request body, bytes. */
      maxBodyBytes: z
        .number()
        .int()
        .positive()
        .default(64 * 1024),
    })
    .default({ trustedProxies: [], maxBodyBytes: 64 * 1024 }),
  /** API keys resource servers must send (Authorization: Bearer <key>) on /verify and /settle. Env ZK402_API_KEYS (comma-separated). Empty: open. */
  apiKeys: z.array(z.string().min(16)).default([]),
  /** Redis shared by several instances (settlement claims). Env ZK402_REDIS_URL. */
  redisUrl: z.string().optional(),
  /** Confirmations a client-settled receipt needs. */
  minConfirmations: z.number().int().nonnegative().optional(),
  /** Monitor period of pending transactions, ms. */
  pollMs: z.number().int().positive().default(250),
  /** On SIGTERM/SIGINT, how long settlements in flight may take to finish, ms. */
  shutdownTimeoutMs: z.number().int().nonnegative().default(30_000),
  logLevel: z.enum(["debug", "info", "warn", "error"]).default("info"),
  /** This instance's name in shared state and logs; keep it across restarts. Default host:relayer address. */
  instanceId: z.string().optional(),
});

/**
 * Environment variables as the SDK reads them: `process.env` or any plain object. Not
 * `NodeJS.ProcessEnv`, which frameworks augment (Next.js makes `NODE_ENV` required), so
 * that a plain `{ ZK402_RPC_URL: "..." }` type-checks in every project.
 */
export type EnvVars = Readonly<Record<string, string | undefined>>;

/** The facilitator service's configuration (`ServiceConfigSchema`: file, then environment, then flags). */
export type ServiceConfig = z.infer<typeof ServiceConfigSchema>;

/** Environment variable -> config path. */
const ENV: [string, (c: Record<string, unknown>, v: string) => void][] = [
  ["ZK402_RPC_URL", (c, v) => (c.rpcUrl = v)],
  ["ZK402_POOL", (c, v) => (c.pool = v)],
  ["ZK402_NETWORK", (c, v) => (c.network = v)],
  ["ZK402_DEPLOYMENTS_DIR", (c, v) => (c.deploymentsDir = v)],
  ["ZK402_HOST", (c, v) => (c.host = v)],
  ["ZK402_PORT", (c, v) => (c.port = Number(v))],
  ["ZK402_DB", (c, v) => (c.database = v)],
  ["ZK402_FEE", (c, v) => (c.fee = { ...(c.fee as object), min: v })],
  ["ZK402_NATIVE_PRICE", (c, v) => (c.fee = { ...(c.fee as object), nativePrice: v })],
  ["ZK402_MAX_FEE_GWEI", (c, v) => (c.gas = { ...(c.gas as object), maxFeePerGasGwei: Number(v) })],
  [
    "ZK402_API_KEYS",
    (c, v) =>
      (c.apiKeys = v
        .split(",")
        .map((x) => x.trim())
        .filter(Boolean)),
  ],
  [
    "ZK402_TRUSTED_PROXIES",
    (c, v) =>
      (c.limits = {
        ...(c.limits as object),
        trustedProxies: v
          .split(",")
          .map((x) => x.trim())
          .filter(Boolean),
      }),
  ],
  ["ZK402_REDIS_URL", (c, v) => (c.redisUrl = v)],
  ["ZK402_LOG_LEVEL", (c, v) => (c.logLevel = v)],
];

/**
 * Configuration from (lowest first) defaults, the JSON file, the environment and
 * `overrides` (CLI flags). Throws `invalid_argument` naming the first bad field.
 *
 * @example
 * const config = loadServiceConfig({ file: "facilitator.json", env: process.env, overrides: { port: 4022 } });
 */
export function loadServiceConfig(
  o: {
    file?: string;
    env?: EnvVars;
    overrides?: Record<string, unknown>;
    /**
     * Fills what file, environment and overrides left unset (lowest precedence), seeing
     * what they set: e.g. the CLI's default RPC of the network they name.
     */
    fillDefaults?: (merged: Record<string, unknown>) => void;
  } = {},
): ServiceConfig {
  const env = o.env ?? process.env;
  let c: Record<string, unknown> = {};
  const file = o.file ?? env.ZK402_FACILITATOR_CONFIG;
  if (file) {
    try {
      c = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
    } catch (err) {
      throw new ZkPayError("invalid_argument", `cannot read the config file ${file}: ${(err as Error).message}`);
    }
  }
  for (const [name, set] of ENV) {
    const v = env[name];
    if (v !== undefined && v !== "") set(c, v);
  }
  for (const [k, v] of Object.entries(o.overrides ?? {})) {
    if (v === undefined) continue;
    if (v !== null && typeof v === "object" && !Array.isArray(v) && typeof c[k] === "object") {
      c[k] = { ...(c[k] as object), ...(v as object) };
    } else c[k] = v;
  }
  o.fillDefaults?.(c);
  const r = ServiceConfigSchema.safeParse(c);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new ZkPayError("invalid_argument", `config ${i.path.join(".") || "(root)"}: ${i.message}`);
  }
  return r.data;
}

/** The gas policy of a config, in wei. */
export function gasPolicyOf(c: ServiceConfig) {
  return {
    maxFeePerGas: parseGwei(String(c.gas.maxFeePerGasGwei)),
    maxPriorityFeePerGas: parseGwei(String(c.gas.priorityFeeGwei)),
    baseFeeMultiplier: c.gas.baseFeeMultiplier,
    replaceAfterMs: c.gas.replaceAfterMs,
    bumpPercent: c.gas.bumpPercent,
    maxReplacements: c.gas.maxReplacements,
    warnBalance: parseEther(String(c.gas.warnBalanceEth)),
  };
}
