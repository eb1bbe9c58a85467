import { toEventSelector, toHex, type Address, type Hex, type PublicClient } from "viem";

import { ZkPayError } from "../../core/errors.js";

/**
 * What the wallet remembers between pages and syncs about its RPC's `eth_getLogs`
 * limits. Mutated by {@link syncState}.
 */
export interface LogRangeState {
  /** Largest block range known to be accepted (lowered when the RPC refuses a range). */
  maxBlocks: number;
  /** Block range of the last page (the next sync starts there; default 1, then doubling). */
  span?: number;
}

/**
 * Topics of the pool events a sync reads: new leaves, and the receipts of both payment
 * modes (each names the spent note's nullifier hash as its id).
 */
export const LEAF_TOPIC = toEventSelector(
  "event LeafInserted(uint256 indexed leafIndex, uint256 commitment, bytes memo)",
);
export const RECEIPT_TOPIC = toEventSelector(
  "event PaymentReceipt(bytes32 indexed id, uint256 amount, bytes32 indexed conditionHash, address indexed payTo, address relayer, uint256 fee)",
);
export const SHIELDED_RECEIPT_TOPIC = toEventSelector(
  "event ShieldedPaymentReceipt(bytes32 indexed id, uint256 payeeCommitment, address relayer, uint256 fee)",
);

/** An `eth_getLogs` entry as the RPC returns it (raw: decoding thousands through viem is slow). */
export interface RawLog {
  topics: Hex[];
  data: Hex;
  blockNumber: Hex;
  logIndex: Hex;
  /** The block's time, from nodes that include it in logs (geth 1.14+, recent Hardhat). */
  blockTimestamp?: Hex;
  removed?: boolean;
}

/**
 * Whether `err` is an RPC refusing an `eth_getLogs` range as too wide or too rich
 * (Alchemy, Infura, QuickNode, Base's public RPC and others word it differently).
 *
 * @example
 * if (isLogRangeError(err)) span = Math.floor(span / 2);
 */
export function isLogRangeError(err: unknown): boolean {
  const texts: string[] = [];
  const codes: number[] = [];
  for (let e = err as Record<string, unknown> | undefined, depth = 0; e && depth < 8; depth++) {
    // viem's HTTP transport refuses bodies over 10 MB: a smaller range fits.
    if (e.name === "ResponseBodyTooLargeError") return true;
    if (typeof e.code === "number") codes.push(e.code);
    for (const k of ["details", "shortMessage", "message"]) if (typeof e[k] === "string") texts.push(e[k]);
    e = e.cause as Record<string, unknown> | undefined;
  }
  const text = texts.join(" | ");
  const wording =
    /more than \d+ (results|logs)|block range|range (is )?too (wide|large|big)|exceed(s|ed)? (the )?max(imum)? (block )?range|range limit|too many (results|logs|blocks)|response size (exceed|is larger)|limited to a [\d,]+ (block )?range|query timeout|returned more than/i.test(
      text,
    );
  if (codes.includes(-32005) || codes.includes(-32614)) return true;
  if (codes.includes(-32602) || codes.includes(-32000) || codes.includes(-32600)) return wording;
  return wording && codes.length === 0;
}

/**
 * Fetches logs of the pool in `[from, to]`, halving the range while the RPC refuses it
 * as too wide (down to one block) and recording the range that worked in `limits`.
 */
export async function fetchLogs(
  publicClient: PublicClient,
  facilitator: Address,
  from: number,
  to: number,
  limits: LogRangeState,
): Promise<{ from: number; to: number; logs: RawLog[] }> {
  for (;;) {
    const params = [
      {
        address: facilitator,
        fromBlock: toHex(from),
        toBlock: toHex(to),
        topics: [[LEAF_TOPIC, RECEIPT_TOPIC, SHIELDED_RECEIPT_TOPIC]],
      },
    ];
    try {
      // No transport retries here: a refused range is answered by a smaller one, now.
      const logs = (await publicClient.request(
        { method: "eth_getLogs", params: params as never },
        { retryCount: 0 },
      )) as unknown as RawLog[];
      return { from, to, logs };
    } catch (err) {
      if (!isLogRangeError(err)) {
        // Anything else gets the transport's usual retries once.
        const logs = (await publicClient.request({
          method: "eth_getLogs",
          params: params as never,
        })) as unknown as RawLog[];
        return { from, to, logs };
      }
      if (to === from) {
        throw new ZkPayError(
          "rpc_error",
          `the RPC refuses eth_getLogs even for the single block ${from}: use an RPC without a result cap`,
          { block: from },
          { cause: err },
        );
      }
      to = from + Math.floor((to - from + 1) / 2) - 1;
      limits.maxBlocks = to - from + 1;
    }
  }
}

/** 32-byte big-endian hex (64 digits, no 0x) -> little-endian bytes at out[off..]. */
export function hexWordToLE(hex: string, start: number, out: Uint8Array, off: number): void {
  for (let i = 0; i < 32; i++) {
    const p = start + 62 - 2 * i;
    out[off + i] = (hexDigit(hex.charCodeAt(p)) << 4) | hexDigit(hex.charCodeAt(p + 1));
  }
}
function hexDigit(c: number): number {
  return c <= 57 ? c - 48 : (c | 0x20) - 87;
}
