/**
 * Proof before pay, the payer's side: settling an escrowed payment itself, following its
 * escrows to their end, refunding the ones the payee did not release by the deadline, and
 * reading a released result from the chain.
 */
import { parseEventLogs, type Address, type Hash, type Hex } from "viem";

import { facilitatorAbi } from "../../core/abi.js";
import { ZkPayError } from "../../core/errors.js";
import {
  escrowAbi,
  escrowStatusName,
  statementFromWire,
  statementToWire,
  type EscrowStatement,
  type EscrowStatusName,
} from "../../core/escrow.js";
import { toBytes32 } from "../../core/field.js";
import { precommitmentOf } from "../../core/note.js";
import { mapPayRevert } from "../../core/revert.js";
import type { EscrowRecord } from "../store.js";
import type { PreparedPayment } from "../types.js";
import type { WalletCore } from "../wallet/core.js";
import { recordSettlement } from "./select-note.js";
import { sync } from "./sync.js";

/** The escrow entry points' ABI with the pool's own errors (a `payEscrowed` revert names either). */
export const facilitatorEscrowAbi = [...facilitatorAbi, ...escrowAbi] as const;

/** A stored escrow's statement as the contract takes it. */
export function statementOf(r: EscrowRecord): EscrowStatement {
  return statementFromWire(r.statement);
}

/**
 * Settles an escrowed payment from the wallet client's account (client-settled mode):
 * `payEscrowed`, then records the settlement and syncs (the change note). The escrow is
 * then `held` until the payee releases it or the deadline passes.
 *
 * @example
 * const hash = await submitEscrowedPayment(core, await preparePayment(core, { ...params, escrow }));
 */
export async function submitEscrowedPayment(core: WalletCore, p: PreparedPayment): Promise<Hash> {
  if (!p.escrow) throw new ZkPayError("invalid_argument", "not an escrowed payment (prepare it with `escrow`)");
  const hash = await sendEscrowTx(core, "payEscrowed", [
    p.proof,
    p.terms,
    p.memo,
    p.payeeMemo,
    p.escrow.statement,
    p.escrow.refundMemo,
  ]);
  await core.waitSent(hash, p);
  await markEscrow(core, p.receiptId, { status: "held" });
  await recordSettlement(core, p).catch(() => {});
  await sync(core);
  return hash;
}

/** One escrow's outcome, as `followEscrows` reports it. */
export interface EscrowOutcome {
  id: Hex;
  /** The state on chain now (`None`: the payment never settled, and can no longer). */
  status: EscrowStatusName;
  amount: bigint;
  payTo: Address;
  deadline: bigint;
  /** Set when this call refunded it: the refund transaction. */
  refundTx?: Hash;
  /** Set when a refund was due but failed (the escrow stays held; a later call retries). */
  error?: ZkPayError;
}

/**
 * Follows every escrow the wallet made to its end: reads each one's state on chain, and
 * refunds (into the wallet's own refund note, found by the sync that follows) every escrow
 * still held after its deadline, when the wallet can send transactions. Call it after a
 * deadline passes, or periodically: the wallet refunds by itself what a payee never
 * released (a server that crashed or could not prove in time). Finished escrows stay in
 * the store with their outcome.
 *
 * Deadlines are compared with the latest block's timestamp, as the pool does.
 *
 * @example
 * for (const e of await followEscrows(core)) console.log(e.id, e.status, e.refundTx);
 */
export async function followEscrows(core: WalletCore): Promise<EscrowOutcome[]> {
  await recoverEscrows(core);
  const open = (core.state.escrows ?? []).filter((e) => e.status === "pending" || e.status === "held");
  if (open.length === 0) return [];
  const block = await core.publicClient.getBlock({ blockTag: "latest" });
  const out: EscrowOutcome[] = [];
  let refunded = false;
  for (const r of open) {
    const status = escrowStatusName(
      Number(
        await core.publicClient.readContract({
          address: core.pool.facilitator,
          abi: escrowAbi,
          functionName: "escrowStatus",
          args: [r.id as Hex],
        }),
      ),
    );
    const base = {
      id: r.id as Hex,
      status,
      amount: BigInt(r.amount),
      payTo: r.payTo as Address,
      deadline: BigInt(r.statement.deadline),
    };
    if (status === "Held" && block.timestamp > base.deadline && core.walletClient?.account) {
      try {
        const refundTx = await refundEscrow(core, r);
        refunded = true;
        out.push({ ...base, status: "Refunded", refundTx });
      } catch (err) {
        // Released or refunded by someone else in between: read again next time.
        out.push({ ...base, error: err instanceof ZkPayError ? err : mapPayRevert(err) });
      }
      continue;
    }
    if (status === "Released") await markEscrow(core, r.id, { status: "released" });
    else if (status === "Refunded") await markEscrow(core, r.id, { status: "refunded" });
    else if (status === "Held") await markEscrow(core, r.id, { status: "held" });
    else if (block.timestamp > BigInt(r.expiry)) await markEscrow(core, r.id, { status: "unsettled" });
    out.push(base);
  }
  if (refunded) await sync(core);
  return out;
}

/**
 * Refunds one held escrow after its deadline (anyone may; the note is the payer's either
 * way). Maps the pool's refusals to `refund_too_early`, `escrow_already_released` and
 * `escrow_not_found`. The refund note is committed in the same transaction; a sync finds it.
 */
export async function refundEscrow(core: WalletCore, r: EscrowRecord): Promise<Hash> {
  const hash = await sendEscrowTx(core, "refund", [
    r.id as Hex,
    r.payTo as Address,
    BigInt(r.amount),
    statementOf(r),
    r.refundMemo as Hex,
  ]);
  await core.waitSent(hash);
  await markEscrow(core, r.id, { status: "refunded", tx: hash });
  return hash;
}

/**
 * The result ciphertext a release published for escrow `id` (from its `EscrowReleased`
 * event), or undefined while it is not released. Decrypt it with the input blinding
 * (`keys.escrowInputBlinding(parent)`): the payer gets its result even if the API never
 * answered after releasing.
 */
export async function releasedCiphertext(
  core: WalletCore,
  id: Hex,
  fromBlock = BigInt(core.pool.deploymentBlock),
): Promise<{ resultCiphertext: bigint; tx: Hash } | undefined> {
  const logs = await core.publicClient.getLogs({
    address: core.pool.facilitator,
    event: escrowAbi.find((x) => x.type === "event" && x.name === "EscrowReleased")!,
    args: { id },
    fromBlock,
  });
  const parsed = parseEventLogs({ abi: escrowAbi, eventName: "EscrowReleased", logs });
  const last = parsed.at(-1);
  return last && { resultCiphertext: last.args.resultCiphertext, tx: last.transactionHash };
}

/**
 * Rebuilds the records of escrows this wallet made but does not know (a wallet restored
 * from its seed, a lost store): every `EscrowHeld` whose id is the nullifier hash of one of
 * its notes. The event carries everything `refund` needs (statement, payee, amount, memo).
 */
export async function recoverEscrows(core: WalletCore): Promise<number> {
  const known = new Set((core.state.escrows ?? []).map((e) => e.id.toLowerCase()));
  const owned = new Map(core.state.notes.map((n) => [toBytes32(BigInt(n.nullifierHash)).toLowerCase(), n]));
  const logs = await core.publicClient.getLogs({
    address: core.pool.facilitator,
    event: escrowAbi.find((x) => x.type === "event" && x.name === "EscrowHeld")!,
    fromBlock: BigInt(core.pool.deploymentBlock),
  });
  const found: EscrowRecord[] = [];
  for (const log of parseEventLogs({ abi: escrowAbi, eventName: "EscrowHeld", logs })) {
    const id = log.args.id.toLowerCase();
    const note = owned.get(id);
    if (!note || known.has(id)) continue;
    const s = log.args.statement;
    // Ours only if the refund note is ours: its precommitment is this seed's for that note.
    const refundPre = precommitmentOf(core.keys.ownerKey, core.keys.refundBlinding(BigInt(note.nullifierHash)));
    if (s.refundPrecommitment !== refundPre) continue;
    found.push({
      id: log.args.id,
      parent: note.nullifierHash,
      payTo: log.args.payTo,
      amount: log.args.amount.toString(),
      statement: statementToWire(s),
      refundMemo: log.args.refundMemo,
      expiry: 0,
      status: "held",
    });
  }
  if (found.length > 0) {
    await core.mutate((state) => {
      state.escrows = [...(state.escrows ?? []), ...found];
    });
  }
  return found.length;
}

/** Sends one escrow entry point from the wallet client's account; a revert before sending is mapped to its reason. */
async function sendEscrowTx(
  core: WalletCore,
  functionName: "payEscrowed" | "refund",
  args: readonly unknown[],
): Promise<Hash> {
  const wc = core.requireWalletClient();
  try {
    return await wc.writeContract({
      address: core.pool.facilitator,
      abi: facilitatorEscrowAbi,
      account: wc.account,
      chain: wc.chain,
      functionName,
      args: args as never,
    });
  } catch (err) {
    throw mapPayRevert(err);
  }
}

async function markEscrow(core: WalletCore, id: string, patch: Partial<EscrowRecord>): Promise<void> {
  await core.mutate((state) => {
    state.escrows = (state.escrows ?? []).map((e) => (e.id === id ? { ...e, ...patch } : e));
  });
}
