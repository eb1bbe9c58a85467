/**
 * "What a chain observer sees": decodes a payment transaction from its real receipt
 * and logs, exactly as anyone with an RPC endpoint could.
 */
import {
  decodeFunctionData,
  getAddress,
  parseAbi,
  parseEventLogs,
  type Address,
  type Hash,
  type Hex,
  type PublicClient,
} from "viem";

import { erc20Abi, facilitatorAbi } from "../../sdk/core/abi.js";

const eip3009Events = parseAbi(["event AuthorizationUsed(address indexed authorizer, bytes32 indexed nonce)"]);
const OBSERVED_ABI = [...facilitatorAbi, ...erc20Abi, ...eip3009Events];

/** One decoded event of a transaction. */
export interface ObservedEvent {
  name: string;
  address: Address;
  args: Record<string, unknown>;
}

/** A transaction as a chain observer sees it. */
export interface ObservedTx {
  hash: Hash;
  from: Address;
  to: Address | null;
  blockNumber: bigint;
  timestamp: bigint;
  gasUsed: bigint;
  calldataBytes: number;
  /** The transaction's calldata (what it called, with which arguments: public too). */
  input: Hex;
  events: ObservedEvent[];
}

/** One payment as its transaction's calldata shows it (`pay`, `payAndCommit` or one entry of `payBatch`). */
export interface ObservedPayment {
  /** The entry point called. */
  call: "pay" | "payAndCommit" | "payBatch";
  terms: { payTo: Address; amount: bigint; relayer: Address; fee: bigint; conditionHash: Hex; expiry: bigint };
  nullifierHash: bigint;
  payeeCommitment: bigint;
  changeCommitment: bigint;
  /** Bytes of the change note's memo and of the payee note's memo (0 for a transparent payment). */
  memoBytes: number;
  payeeMemoBytes: number;
}

/** Fetches and decodes `hash` (transaction, receipt, block timestamp, events). */
export async function observeTx(publicClient: PublicClient, hash: Hash): Promise<ObservedTx> {
  const [tx, rc] = await Promise.all([
    publicClient.getTransaction({ hash }),
    publicClient.getTransactionReceipt({ hash }),
  ]);
  const block = await publicClient.getBlock({ blockNumber: rc.blockNumber });
  const logs = parseEventLogs({ abi: OBSERVED_ABI, logs: rc.logs, strict: false });
  return {
    hash,
    from: getAddress(tx.from),
    to: tx.to ? getAddress(tx.to) : null,
    blockNumber: rc.blockNumber,
    timestamp: block.timestamp,
    gasUsed: rc.gasUsed,
    calldataBytes: (tx.input.length - 2) / 2,
    input: tx.input,
    events: logs.map((l) => ({
      name: l.eventName,
      address: l.address,
      args: (l.args ?? {}) as Record<string, unknown>,
    })),
  };
}

/** `0x1234…abcd` */
export function short(h: string | undefined, n = 4): string {
  if (!h) return "-";
  return h.length <= 2 + 2 * n + 1 ? h : `${h.slice(0, 2 + n)}…${h.slice(-n)}`;
}

/**
 * Human lines describing a transaction's sender and events, with known addresses named.
 *
 * @example
 * for (const l of describeTx(obs, names, fmt)) console.log(l);
 */
export function describeTx(obs: ObservedTx, names: Map<string, string>, fmt: (v: bigint) => string): string[] {
  const name = (a: unknown) => {
    const s = String(a);
    const n = names.get(s.toLowerCase());
    return n ? `${s} (${n})` : s;
  };
  const lines = [
    `tx ${obs.hash}`,
    `  block ${obs.blockNumber} at ${new Date(Number(obs.timestamp) * 1000).toISOString()}, gas used ${obs.gasUsed}, calldata ${obs.calldataBytes} bytes`,
    `  sender (pays gas)  ${name(obs.from)}`,
  ];
  for (const e of obs.events) {
    const a = e.args;
    switch (e.name) {
      case "Transfer":
        lines.push(`  Transfer           from ${name(a.from)}`);
        lines.push(`                     to   ${name(a.to)}   value ${a.value} (${fmt(a.value as bigint)})`);
        break;
      case "AuthorizationUsed":
        lines.push(`  AuthorizationUsed  authorizer ${name(a.authorizer)}, nonce ${short(a.nonce as Hex, 6)}`);
        break;
      case "PaymentReceipt":
        lines.push(`  PaymentReceipt     id ${a.id} (= nullifier hash: unlinkable to a deposit)`);
        lines.push(`                     amount ${a.amount} (${fmt(a.amount as bigint)}), payTo ${name(a.payTo)}`);
        lines.push(
          `                     conditionHash ${short(a.conditionHash as Hex, 8)}, relayer ${name(a.relayer)}, fee ${a.fee}`,
        );
        break;
      case "ShieldedPaymentReceipt":
        lines.push(`  ShieldedPaymentReceipt id ${a.id} (= nullifier hash: unlinkable to a deposit)`);
        lines.push(
          `                     payeeCommitment ${short(String(a.payeeCommitment), 6)} (no payee, no amount, no condition), relayer ${name(a.relayer)}, fee ${a.fee}`,
        );
        break;
      case "LeafInserted": {
        const bytes = (String(a.memo).length - 2) / 2;
        lines.push(
          bytes === 187
            ? `  LeafInserted       leaf #${a.leafIndex}: payee-note commitment ${short(String(a.commitment), 6)}, memo 187 bytes (the note's opening encrypted to the payee: only its viewing key opens it)`
            : `  LeafInserted       leaf #${a.leafIndex}: change-note commitment ${short(String(a.commitment), 6)}, memo ${bytes} bytes (tag + value hidden by a one-time pad)`,
        );
        break;
      }
      case "Deposited":
        lines.push(`  Deposited          depositor ${name(a.depositor)}, value ${a.value}`);
        break;
      default:
        lines.push(
          `  ${e.name.padEnd(18)} ${JSON.stringify(a, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v))}`,
        );
    }
  }
  return lines;
}

/**
 * The payment with receipt id `id` (its nullifier hash) in `obs`'s calldata: what anyone
 * reading the chain sees of its terms and proof outputs. Undefined when the transaction
 * is not a payment of the pool or does not hold that one.
 */
export function paymentOf(obs: ObservedTx, id: Hex | bigint): ObservedPayment | undefined {
  let call;
  try {
    call = decodeFunctionData({ abi: facilitatorAbi, data: obs.input });
  } catch {
    return undefined;
  }
  type Entry = {
    proof: { nullifierHash: bigint; payeeCommitment: bigint; changeCommitment: bigint };
    terms: ObservedPayment["terms"];
    memo: Hex;
    payeeMemo: Hex;
  };
  let entries: Entry[];
  if (call.functionName === "pay" || call.functionName === "payAndCommit") {
    const [proof, terms, memo, payeeMemo] = call.args as unknown as [Entry["proof"], Entry["terms"], Hex, Hex];
    entries = [{ proof, terms, memo, payeeMemo }];
  } else if (call.functionName === "payBatch") {
    entries = [...(call.args[0] as unknown as Entry[])];
  } else return undefined;
  const want = BigInt(id);
  const e = entries.find((x) => x.proof.nullifierHash === want);
  if (!e) return undefined;
  return {
    call: call.functionName,
    terms: e.terms,
    nullifierHash: e.proof.nullifierHash,
    payeeCommitment: e.proof.payeeCommitment,
    changeCommitment: e.proof.changeCommitment,
    memoBytes: (e.memo.length - 2) / 2,
    payeeMemoBytes: (e.payeeMemo.length - 2) / 2,
  };
}

/** The events called `name` whose `id` argument is `id` (all of them when `id` is undefined). */
export function eventsOf(obs: ObservedTx, name: string, id?: Hex): ObservedEvent[] {
  return obs.events.filter(
    (e) => e.name === name && (id === undefined || String(e.args.id).toLowerCase() === id.toLowerCase()),
  );
}

/** The first event called `name`, if any. */
export function eventOf(obs: ObservedTx, name: string): ObservedEvent | undefined {
  return obs.events.find((e) => e.name === name);
}
