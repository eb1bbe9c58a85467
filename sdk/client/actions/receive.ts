/**
 * Receiving: notes paid to this wallet by others (`zk-shielded` payments), and the
 * auditor's listing of them.
 *
 * A shielded payment appends a note owned by the payee's owner key, and publishes its
 * opening (value, blinding, owner, the payment's condition hash) as the leaf's memo,
 * encrypted to the payee's encryption key (187 bytes, `core/note-encryption.ts`). The
 * wallet's sync trial-decrypts every such memo with the viewing key (`../sync/notes.ts`)
 * and keeps the notes whose opening, with its owner key, recomputes the leaf: stored like
 * any other note (kind "received"), crash-safely, counted in the balance and spent like
 * any other. Everything comes from the seed and the chain, so a wallet deleted and
 * restored finds every note it received, also those paid while it was offline.
 *
 * The viewing key (`zk402view...`: the X25519 secret and the owner key, no spending key)
 * lets an auditor list the same payments with {@link scanIncoming} / {@link fetchIncoming}:
 * time, amount, condition hash. It cannot spend (that takes the spending key, which the
 * circuit checks against the note's owner) and cannot tell which notes were spent (that
 * takes the nullifying key).
 */
import type { Hex, PublicClient } from "viem";

import { ZkPayError } from "../../core/errors.js";
import { decryptNote, PAYEE_MEMO_LENGTH, type X25519Fn } from "../../core/note-encryption.js";
import { commitmentOf } from "../../core/note.js";
import { parseViewingKey } from "../../core/shielded-address.js";
import type { PoolInfo } from "../types.js";
import { fetchLogs, LEAF_TOPIC, type LogRangeState, type RawLog } from "../sync/logs.js";
import type { WalletCore } from "../wallet/core.js";

/** A payment received: one payee note paid to the wallet's shielded address. */
export interface IncomingPayment {
  /** Block of the payment. */
  blockNumber: number;
  /** Its block's timestamp, unix seconds (undefined when the log source gave none). */
  time: number | undefined;
  /** Base units paid (the note's value). */
  amount: bigint;
  /** The x402 challenge's condition hash the payer answered (what was bought). */
  conditionHash: Hex;
  /** The payee note's commitment (the receipt's `payeeCommitment`). */
  commitment: bigint;
  /** Global leaf index of the note. */
  leafIndex: number;
}

/** A received note of this wallet: the payment, and whether the wallet has spent the note since. */
export interface ReceivedPayment extends IncomingPayment {
  time: number;
  spent: boolean;
}

/** A `LeafInserted` event as {@link scanIncoming} reads it. */
export interface LeafLog {
  leafIndex: number;
  commitment: bigint;
  memo: Hex;
  blockNumber: number;
  /** The block's timestamp, unix seconds, if known. */
  time?: number;
}

/**
 * The notes this wallet received, oldest first: what was paid, when, for which condition,
 * and whether it is spent. From the local state (as fresh as the last sync).
 *
 * @example
 * const revenue = receivedPayments(core).filter((p) => !p.spent).reduce((s, p) => s + p.amount, 0n);
 */
export function receivedPayments(core: WalletCore): ReceivedPayment[] {
  const out: ReceivedPayment[] = [];
  for (const n of core.state.notes) {
    const o = n.origin;
    if (o.kind !== "received") continue;
    out.push({
      blockNumber: o.blockNumber,
      time: o.time,
      amount: BigInt(n.value),
      conditionHash: o.conditionHash as Hex,
      commitment: BigInt(n.commitment),
      leafIndex: n.leafIndex,
      spent: n.spent,
    });
  }
  return out.sort((a, b) => a.leafIndex - b.leafIndex);
}

/**
 * Lists the payments made to the owner of `viewingKey` (a `zk402view...` string) among
 * `logs`: each 187-byte memo is trial-decrypted with the viewing key, and a note counts
 * only if its plaintext names the key's owner and its opening recomputes the leaf (a
 * payer cannot make an auditor list a payment that is not on chain). Needs no spending
 * key and gives none: nothing here can spend or tell spent notes. Throws
 * `invalid_argument` for a malformed viewing key.
 *
 * @example
 * const payments = scanIncoming("zk402view1...", logs, { x25519: nodeX25519 });
 */
export function scanIncoming(
  viewingKey: string,
  logs: Iterable<LeafLog>,
  opts: { x25519?: X25519Fn } = {},
): IncomingPayment[] {
  const { viewingKey: vk, ownerKey } = parseViewingKey(viewingKey);
  const out: IncomingPayment[] = [];
  for (const log of logs) {
    if (log.memo.length !== 2 + PAYEE_MEMO_LENGTH * 2) continue;
    const p = decryptNote(vk, log.memo, opts.x25519);
    if (!p || p.owner !== ownerKey) continue;
    if (commitmentOf({ value: p.value, owner: p.owner, blinding: p.blinding }) !== log.commitment) continue;
    out.push({
      blockNumber: log.blockNumber,
      time: log.time,
      amount: p.value,
      conditionHash: p.conditionHash,
      commitment: log.commitment,
      leafIndex: log.leafIndex,
    });
  }
  return out;
}

/** Options of {@link fetchIncoming}. */
export interface FetchIncomingOptions {
  publicClient: PublicClient;
  /** The pool: its facilitator and deployment block (where the scan starts). */
  pool: Pick<PoolInfo, "facilitator" | "deploymentBlock">;
  /** Scan from this block (default the deployment block) ... */
  fromBlock?: number;
  /** ... up to this one (default the latest). */
  toBlock?: number;
  /** Blocks per eth_getLogs request, at most (default 50,000; halved while the RPC refuses a range). */
  chunk?: number;
  /** X25519 for trial decryption (`nodeX25519` from 402zk/node on Node; default @noble/curves). */
  x25519?: X25519Fn;
}

/**
 * {@link scanIncoming} over the pool's `LeafInserted` logs read from the chain, with each
 * payment's block time: what `402zk audit --viewing-key` prints.
 *
 * @example
 * const payments = await fetchIncoming(viewingKey, { publicClient, pool });
 */
export async function fetchIncoming(viewingKey: string, o: FetchIncomingOptions): Promise<IncomingPayment[]> {
  parseViewingKey(viewingKey); // a malformed key fails before any request
  const latest = o.toBlock ?? Number(await o.publicClient.getBlockNumber({ cacheTime: 0 }));
  const limits: LogRangeState = { maxBlocks: o.chunk ?? 50_000 };
  const out: IncomingPayment[] = [];
  for (let from = o.fromBlock ?? o.pool.deploymentBlock; from <= latest;) {
    const page = await fetchLogs(
      o.publicClient,
      o.pool.facilitator,
      from,
      Math.min(latest, from + limits.maxBlocks - 1),
      limits,
    );
    const leaves: LeafLog[] = [];
    for (const raw of page.logs) {
      const leaf = raw.removed ? undefined : leafLogOf(raw);
      if (leaf) leaves.push(leaf);
    }
    out.push(...scanIncoming(viewingKey, leaves, o));
    from = page.to + 1;
  }
  const times = new Map<number, number>();
  for (const p of out) {
    if (p.time !== undefined) continue;
    let t = times.get(p.blockNumber);
    if (t === undefined) {
      t = Number((await o.publicClient.getBlock({ blockNumber: BigInt(p.blockNumber) })).timestamp);
      times.set(p.blockNumber, t);
    }
    p.time = t;
  }
  return out.sort((a, b) => a.leafIndex - b.leafIndex);
}

/** A raw `LeafInserted` log as a {@link LeafLog} (undefined for another event). */
function leafLogOf(log: RawLog): LeafLog | undefined {
  if (log.topics[0] !== LEAF_TOPIC || !log.topics[1]) return undefined;
  const d = log.data;
  // data = commitment, offset of memo (0x40), memo length, memo bytes
  if (d.length < 2 + 192 || Number(`0x${d.slice(66, 130)}`) !== 64) {
    throw new ZkPayError("rpc_error", "a LeafInserted log is not encoded as expected", { data: d.slice(0, 200) });
  }
  const memoLength = Number(`0x${d.slice(130, 194)}`);
  return {
    leafIndex: Number(BigInt(log.topics[1])),
    commitment: BigInt(d.slice(0, 66)),
    memo: `0x${d.slice(194, 194 + 2 * memoLength)}`,
    blockNumber: Number(BigInt(log.blockNumber)),
    time: log.blockTimestamp === undefined ? undefined : Number(BigInt(log.blockTimestamp)),
  };
}
