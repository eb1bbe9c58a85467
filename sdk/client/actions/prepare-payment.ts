import { bytesToHex, keccak256, zeroAddress, type Address, type Hex } from "viem";

import { parseUserAddress } from "../../core/address.js";
import { paymentContext, type PaymentTerms } from "../../core/context.js";
import { ZkPayError } from "../../core/errors.js";
import {
  checkEscrowStatement,
  escrowedPaymentContext,
  escrowInputBlindingFor,
  statementToWire,
  type EscrowStatement,
} from "../../core/escrow.js";
import { SNARK_SCALAR_FIELD, toBytes32, toValue } from "../../core/field.js";
import { encodeMemo, randomNonce128 } from "../../core/memo.js";
import { encryptNote } from "../../core/note-encryption.js";
import { notePosition, precommitmentOf, type NoteOpening } from "../../core/note.js";
import { parseShieldedAddress, type ShieldedAddress } from "../../core/shielded-address.js";
import { proofStructOf, provePayment } from "../../core/circuits/payment.js";
import { formatTokens } from "../cost.js";
import type { StoredNote } from "../store.js";
import type { PaymentParams, PreparedPayment, ShieldedPayTo } from "../types.js";
import type { WalletCore } from "../wallet/core.js";
import { balances } from "./balances.js";
import { commitPendingLeaves } from "./commit-leaves.js";
import { changeMayCover, holdNote, pickNote, queuedMayCover, spendableNotes, withNoteBusy } from "./select-note.js";
import { sync, waitForNextSync } from "./sync.js";
import { tokenUnits } from "./token.js";

/** What {@link preparePayment} returns. */
export type PreparePaymentReturnType = PreparedPayment;

/**
 * Selects the smallest spendable note that covers `amount + fee`, proves a payment bound
 * to `params`, and reserves the note until the payment settles or expires.
 *
 * It proves against the local tree as it is, without asking the chain first: the tree
 * is kept fresh by scheduled syncs, and the pool accepts any root of its recent history.
 * It syncs first only if this wallet instance has never synced (just opened), or when
 * `params.sync` is set (a retry after a stale root).
 *
 * When no spendable note covers the payment but the change note of a payment in flight
 * would, it waits for scheduled syncs to bring that change note, at most
 * `sync.waitForChangeMs`, then fails with `insufficient_private_balance` if it still has
 * none. With scheduled syncing off it syncs once instead: that sync comes right before
 * the payment, so the RPC provider can tell when this payment was made.
 *
 * Nothing needs saving before proving: the change note's blinding derives from the note it
 * spends, so a crash at any point loses nothing, and the seed and the chain find the
 * change note again. Proving the same note again (a retry) derives the same change
 * blinding (only one of the proofs can settle) but a memo with a fresh nonce.
 *
 * @example
 * const p = await preparePayment(core, { payTo, amount: 10_000n, expiry });
 */
export async function preparePayment(
  core: WalletCore,
  params: PaymentParams,
  internal: { note?: StoredNote } = {},
): Promise<PreparePaymentReturnType> {
  const amount = toValue(params.amount, "amount");
  const fee = toValue(params.fee ?? 0n, "fee");
  const payee = resolvePayee(params.payTo);
  const relayer = params.relayer === undefined ? zeroAddress : parseUserAddress(params.relayer, "relayer");
  if (fee > 0n && relayer === zeroAddress) {
    throw new ZkPayError("invalid_argument", "a fee needs a relayer address");
  }
  const needed = amount + fee;
  if (params.escrow && !("address" in payee)) {
    // The pool can check a refund note's value only against a public amount.
    throw new ZkPayError("invalid_argument", "an escrowed payment needs a public payTo address (not a shielded payee)");
  }
  if (params.escrow && params.escrow.deadline <= params.expiry) {
    throw new ZkPayError(
      "invalid_argument",
      `the escrow deadline (${params.escrow.deadline}) must be after the payment's expiry (${params.expiry})`,
    );
  }
  const t0 = performance.now();
  if (params.sync) await sync(core);
  else if (!core.sync.done) await (core.sync.running ?? sync(core));
  if (!pickNote(core, needed) && changeMayCover(core, needed)) {
    if (core.schedule.on) {
      // Wait for the schedule rather than sync now: a sync right before the payment
      // would time it for the RPC provider.
      const deadline = performance.now() + core.config.waitForChangeMs;
      while (!pickNote(core, needed) && changeMayCover(core, needed) && core.schedule.on) {
        const left = deadline - performance.now();
        if (left <= 0) break;
        await waitForNextSync(core, left);
      }
    } else {
      await sync(core);
    }
  }
  // Still short, but a queued note of ours covers it: the pool has not committed it
  // yet. Commit it ourselves when we can send transactions (one block), then sync.
  if (!pickNote(core, needed) && queuedMayCover(core, needed) && core.walletClient?.account) {
    await commitPendingLeaves(core);
  }
  const syncMs = performance.now() - t0;

  // Pick and reserve in one synchronous step: a concurrent payment must not pick the
  // same note while this one is being proven. (A chained withdrawal names its note.)
  const note = internal.note ? pinned(core, internal.note, needed) : pickNote(core, needed);
  if (!note) throw await insufficientBalance(core, amount, fee);
  return withNoteBusy(core, note, () => proveWith(core, note, params, payee, { amount, fee, relayer, syncMs }));
}

/** The payee of `payTo`: a public address (transparent) or a shielded payee's keys. */
function resolvePayee(payTo: Address | ShieldedPayTo): { address: Address } | { shielded: ShieldedAddress } {
  if (typeof payTo === "object" && payTo !== null) {
    // Keys given directly: the same checks as the address string's (owner key in the field, 32-byte key).
    const { ownerKey, encryptionKey } = payTo;
    if (typeof ownerKey !== "bigint" || ownerKey < 0n || ownerKey >= SNARK_SCALAR_FIELD) {
      throw new ZkPayError("invalid_shielded_address", "the payee's owner key is not a field element");
    }
    if (!(encryptionKey instanceof Uint8Array) || encryptionKey.length !== 32) {
      throw new ZkPayError("invalid_shielded_address", "the payee's encryption key must be 32 bytes");
    }
    return { shielded: { ownerKey, encryptionKey } };
  }
  if (typeof payTo === "string" && !payTo.trim().startsWith("0x")) {
    // Anything not an 0x address is read as a shielded address (a typo gets its reason).
    return { shielded: parseShieldedAddress(payTo.trim()) };
  }
  const address = parseUserAddress(payTo, "payTo");
  // On chain payTo = 0 marks a shielded payment (its payee in the payee note): a
  // transparent payment to it would be refused by the pool, so refuse it before proving.
  if (address === zeroAddress) {
    throw new ZkPayError("invalid_argument", "payTo is the zero address: pay a shielded payee by its zk402 address");
  }
  return { address };
}

/** `note` if a payment may spend it now and it covers `needed` (a chained withdrawal's pick). */
function pinned(core: WalletCore, note: StoredNote, needed: bigint): StoredNote | undefined {
  const n = spendableNotes(core).find((x) => x.nullifierHash === note.nullifierHash);
  return n && BigInt(n.value) >= needed ? n : undefined;
}

/**
 * A uniformly random field element (a payee note's blinding): 48 random bytes reduced
 * mod p, so the bias of the reduction is below 2^-128.
 */
function randomFieldElement(): bigint {
  const bytes = new Uint8Array(48);
  globalThis.crypto.getRandomValues(bytes);
  return BigInt(bytesToHex(bytes)) % SNARK_SCALAR_FIELD;
}

/** The `insufficient_private_balance` error, amounts in tokens. */
async function insufficientBalance(core: WalletCore, amount: bigint, fee: bigint): Promise<ZkPayError> {
  const needed = amount + fee;
  const largest = spendableNotes(core).reduce((m, n) => (BigInt(n.value) > m ? BigInt(n.value) : m), 0n);
  const pendingChange = core.state.pending.reduce((s, p) => s + BigInt(p.changeValue), 0n);
  const units = await tokenUnits(core);
  const t = (v: bigint) => formatTokens(v, units);
  const balance = balances(core).total;
  return new ZkPayError(
    "insufficient_private_balance",
    `no single private note covers ${t(needed)}` +
      (fee > 0n ? ` (${t(amount)} + a fee of ${t(fee)})` : "") +
      ` (largest spendable note ${t(largest)}, private balance ${t(balance)}` +
      (pendingChange > 0n ? `, change of payments in flight not yet seen: ${t(pendingChange)}` : "") +
      "): a payment spends exactly one note (the payment circuit has one input, so it cannot merge notes)" +
      (balance >= needed ? "; withdraw can still move the whole balance, one note per transaction" : "; deposit more"),
    {
      needed: needed.toString(),
      largestNote: largest.toString(),
      balance: balance.toString(),
      pendingChange: pendingChange.toString(),
    },
  );
}

/** Proves the payment with `note` and persists its reservation. */
async function proveWith(
  core: WalletCore,
  note: StoredNote,
  params: PaymentParams,
  to: { address: Address } | { shielded: ShieldedAddress },
  cost: { amount: bigint; fee: bigint; relayer: Address; syncMs: number },
): Promise<PreparedPayment> {
  const { amount, fee, relayer, syncMs } = cost;
  const { keys } = core;
  const opening = core.openingOf(note);
  const conditionHash = params.conditionHash ?? toBytes32(0n);
  // The change note derives from the nullifier hash of the note it spends (see
  // WalletKeys): no counter, so a restored wallet or a second process can never give
  // another note the same blinding, and the seed alone finds the change again.
  const parent = BigInt(note.nullifierHash);
  const changeBlinding = keys.changeBlinding(parent);
  const changeValue = opening.value - amount - fee;
  // The agent pays again right away with its change when it has nothing else committed.
  const commitChange =
    params.commitChange ??
    (changeValue > 0n && !spendableNotes(core).some((n) => n.nullifierHash !== note.nullifierHash));
  // Fresh nonce: a retry of this note reuses the change blinding, never the memo's pad.
  const memo = encodeMemo({
    tag: keys.changeTag(parent),
    blinding: changeBlinding,
    value: changeValue,
    nonce: randomNonce128(),
  });

  // Shielded: nothing public names the payee or the price. The payee note (value = the
  // price, owned by the payee's key, a fresh random blinding) is the payment; its opening
  // travels encrypted to the payee's key, and the proof's context binds that ciphertext.
  // Transparent: the price goes to `payTo` in public and the payee note is worthless.
  const shielded = "shielded" in to;
  const payee: NoteOpening = shielded
    ? { value: amount, owner: to.shielded.ownerKey, blinding: randomFieldElement() }
    : { value: 0n, owner: 0n, blinding: 0n };
  const payeeMemo: Hex = shielded ? encryptNote(to.shielded.encryptionKey, { ...payee, conditionHash }) : "0x";
  const terms: PaymentTerms = {
    payTo: shielded ? zeroAddress : to.address,
    amount: shielded ? 0n : amount,
    relayer,
    fee,
    conditionHash,
    expiry: params.expiry,
  };
  // Escrowed (proof before pay): the refund note (value = the amount, owned by this
  // wallet, its blinding and memo tag derived from the spent note, so the seed alone finds
  // it) and the input blinding, all derived from `parent`; the statement is bound by the
  // proof's context, so the API can change none of it.
  let escrow: PreparedPayment["escrow"];
  if (params.escrow) {
    const refundBlinding = keys.refundBlinding(parent);
    const refundMemo = encodeMemo({
      tag: keys.refundTag(parent),
      blinding: refundBlinding,
      value: amount,
      nonce: keys.refundMemoNonce(parent),
    });
    const inputBlinding = escrowInputBlindingFor(
      keys.escrowInputBlinding(parent),
      terms.payTo,
      params.escrow.modelCommitment,
    );
    const statement: EscrowStatement = {
      verifier: parseUserAddress(params.escrow.verifier, "escrow verifier"),
      modelCommitment: params.escrow.modelCommitment,
      inputHash: params.escrow.inputHash(inputBlinding),
      deadline: params.escrow.deadline,
      refundPrecommitment: precommitmentOf(keys.ownerKey, refundBlinding),
      refundMemoHash: keccak256(refundMemo),
    };
    checkEscrowStatement(statement, params.expiry);
    escrow = { statement, refundMemo, inputBlinding };
  }
  const context = escrow
    ? escrowedPaymentContext({
        chainId: core.pool.chainId,
        facilitator: core.pool.facilitator,
        terms,
        memo,
        statement: escrow.statement,
      })
    : paymentContext({
        chainId: core.pool.chainId,
        facilitator: core.pool.facilitator,
        terms,
        memo,
        payeeMemo,
      });
  // Verify & Pay: the attribute proof binds this note's nullifier, known before the
  // payment proof exists, so both proofs are made at once (snarkjs spreads each over the
  // cores); it runs before the note is held: if it cannot be made, nothing was spent or
  // reserved.
  let attributePromise: Promise<unknown> | undefined;
  if (params.attribute) {
    const request = params.attribute;
    const position = notePosition(note.leafIndex, core.tree.levels);
    // Loaded on first use (a browser bundle without attribute routes never loads it).
    attributePromise = import("./attribute.js").then(({ proveAttributeForPayment }) =>
      proveAttributeForPayment(request, conditionHash, {
        spendingKey: keys.spendingKey(),
        value: opening.value,
        blinding: opening.blinding,
        treeIndex: BigInt(position.treeIndex),
        leafIndex: BigInt(position.leafIndex),
        nullifierHash: BigInt(note.nullifierHash),
      }),
    );
    attributePromise.catch(() => {}); // awaited below, after the payment proof
  }
  const result = await provePayment(
    {
      note: opening,
      spendingKey: keys.spendingKey(),
      position: notePosition(note.leafIndex, core.tree.levels),
      path: core.tree.path(note.leafIndex),
      amount: terms.amount,
      fee,
      context,
      payee,
      changeBlinding,
    },
    core.artifacts,
    { onProgress: params.onProgress },
  );
  if (result.nullifierHash.toString() !== note.nullifierHash) {
    // The stored nullifier hash is what the sync marks spent: they must agree.
    throw new ZkPayError(
      "proving_failed",
      `the proof's nullifier differs from the stored note's (leaf ${note.leafIndex})`,
    );
  }
  const attribute = attributePromise && (await attributePromise);

  await holdNote(
    core,
    {
      nullifierHash: note.nullifierHash,
      changeValue: changeValue.toString(),
      expiry: Number(params.expiry),
      createdAt: Math.floor(Date.now() / 1000),
    },
    // Write-ahead: the escrow is recorded before the payment can leave this process, so a
    // crash after sending still lets the wallet refund it after the deadline.
    escrow && {
      id: toBytes32(result.nullifierHash),
      parent: note.nullifierHash,
      payTo: terms.payTo,
      amount: amount.toString(),
      statement: statementToWire(escrow.statement),
      refundMemo: escrow.refundMemo,
      expiry: Number(params.expiry),
      status: "pending",
    },
  );

  return {
    proof: proofStructOf(result),
    terms,
    memo,
    payeeMemo,
    ...(escrow && { escrow }),
    payee,
    receiptId: toBytes32(result.nullifierHash),
    changeValue,
    commitChange,
    ...(attribute !== undefined && { attribute }),
    timings: { ...result.timings, syncMs },
  };
}
