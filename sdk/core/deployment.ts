import { z } from "zod";

/** A 20-byte hex address, typed as viem's `0x${string}` so records plug into viem calls as they are. */
const address = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, "must be a 20-byte hex address")
  .transform((s) => s as `0x${string}`);

/**
 * A deployment record, as written to `deployments/<network>.json` by
 * `scripts/deploy.ts`. The SDK reads these so that users name a network, not addresses.
 */
export const DeploymentSchema = z.object({
  network: z.string(),
  chainId: z.number().int().positive(),
  facilitator: address,
  token: address,
  verifier: address,
  /** Batched verifier used by payBatch (same verifying key as `verifier`). */
  batchVerifier: address,
  poseidonT3: address,
  poseidonT2: address,
  deploymentBlock: z.number().int().nonnegative(),
  rootHistorySize: z.number().int().positive(),
  /** Each tree of the pool holds 2^treeLevels leaves. */
  treeLevels: z.number().int().min(0).max(24),
  token_info: z.object({
    name: z.string(),
    symbol: z.string(),
    decimals: z.number().int(),
    /** EIP-712 domain version for signed deposits ("2" for Circle's USDC). */
    eip712Version: z.string(),
    /** EIP-712 domain name when it differs from `name` (absent in older records: then `name`). */
    eip712Name: z.string().optional(),
  }),
  circuit: z.object({
    /**
     * The payment circuit version the pool was deployed for ("payment-v2": key-owned notes,
     * shielded payments). Absent in records written before versions were recorded.
     */
    version: z.string().optional(),
    zkeySha256: z.string(),
    vkeySha256: z.string(),
    developmentSetup: z.boolean(),
  }),
  /**
   * Present when the pool is a `FacilitatorEscrow` (proof before pay): its operator and the
   * service verifiers it registered, by circuit name (`inference`: `InferenceVerifier`).
   */
  escrow: z
    .object({
      operator: address,
      serviceVerifiers: z.record(z.string(), address),
      /** Each service circuit's verification key hash and whether its setup is a development one. */
      serviceCircuits: z
        .record(z.string(), z.object({ vkeySha256: z.string(), developmentSetup: z.boolean() }))
        .optional(),
    })
    .optional(),
  /** The sanctions-list oracle the pool screens deposits against (absent: no screening). */
  sanctionsList: address.optional(),
  deployedAt: z.string(),
});

/** A parsed deployment record. */
export type Deployment = z.infer<typeof DeploymentSchema>;

/** Known networks: name -> chain id. */
export const NETWORKS = {
  hardhat: 31337,
  localhost: 31337,
  "base-sepolia": 84532,
  base: 8453,
} as const;

/** CAIP-2 id of an EVM chain. @example caip2(84532) // "eip155:84532" */
export function caip2(chainId: number): `eip155:${number}` {
  return `eip155:${chainId}`;
}

/** Chain id from a CAIP-2 id, or undefined. @example chainIdOf("eip155:8453") // 8453 */
export function chainIdOf(network: string): number | undefined {
  const m = /^eip155:(\d+)$/.exec(network);
  return m ? Number(m[1]) : undefined;
}

/**
 * Block explorers of public chains, by chain id (local chains have none): where a
 * transaction hash can be looked at by anyone.
 */
export const EXPLORERS: Readonly<Record<number, { name: string; url: string }>> = {
  84532: { name: "BaseScan (Base Sepolia)", url: "https://sepolia.basescan.org" },
  8453: { name: "BaseScan", url: "https://basescan.org" },
};

/**
 * The explorer page of transaction `hash` on `chainId`, or undefined for a chain without
 * a public explorer (a local chain).
 *
 * @example
 * explorerTxUrl(84532, "0xab…"); // "https://sepolia.basescan.org/tx/0xab…"
 * explorerTxUrl(31337, "0xab…"); // undefined
 */
export function explorerTxUrl(chainId: number, hash: string): string | undefined {
  const e = EXPLORERS[chainId];
  return e ? `${e.url}/tx/${hash}` : undefined;
}
