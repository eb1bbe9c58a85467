/**
 * Contract-level benchmark of 402zk on Hardhat's in-process EVM (EDR): gas of deposits
 * and payments in a pool of >= 1,000 leaves, of committing a payment's queued change
 * note (commitPendingLeaves(1) right after the pay), the x402 "exact" baseline (a plain
 * EIP-3009 transferWithAuthorization) and the Groth16 verifier alone. Every payment is
 * proved for real with the SDK's prover. Both modes of the payment-v2 circuit (#19): a
 * transparent payment (zk-exact: `amount` to `payTo` in public, one change leaf queued) and
 * a shielded one (zk-shielded: payTo = 0, amount = 0, the payee note and the change note
 * queued, the 187-byte payee memo in calldata and in its LeafInserted). (Proving and off-chain verification times are
 * bench-verify.ts' figures.)
 *
 * The pool's model: a deposit appends its note and commits it (with anything queued)
 * in the same call; a `pay` only QUEUES its change note (one prewarmed ring slot, its
 * LeafInserted emitted with the global index), and the note is hashed into the tree
 * later by a commit (here: commitPendingLeaves(1) in the next transaction). The JS
 * mirror follows the same events: LeafInserted appends, LeavesCommitted commits.
 *
 * Gas breakdowns come from debug_traceTransaction + the compiler's source map (see
 * bench-trace.ts): exact per instruction, so the parts add up to the receipt's gasUsed.
 */
import path from "node:path";

import type { HardhatEthers } from "@nomicfoundation/hardhat-ethers/types";
import { AbiCoder, keccak256, toUtf8Bytes, type Signer, type TransactionReceipt } from "ethers";
import type { Address, Hex } from "viem";

import { paymentContext, type PaymentTerms } from "../sdk/core/context.js";
import { SNARK_SCALAR_FIELD } from "../sdk/core/field.js";
import { WalletKeys } from "../sdk/core/keys.js";
import { notePosition, precommitmentOf, type NoteOpening } from "../sdk/core/note.js";
import { encryptNote } from "../sdk/core/note-encryption.js";
import { hash2 } from "../sdk/core/poseidon.js";
import { preloadArtifacts } from "../sdk/core/circuits/artifacts.js";
import { proofStructOf, provePayment, type PaymentProofResult } from "../sdk/core/circuits/payment.js";
import { NoteTree } from "../sdk/core/tree.js";
import { receiveWithAuthorizationTypes } from "../sdk/core/eip712.js";
import { calldataGas, fmtInt, linearFit, max, median, min, popcount, round, table } from "./util.js";
import { SourceRegions, refundCounter, stackTop, topSteps, type TxTrace } from "./trace.js";
import { deploySystem } from "../scripts/lib/deploy.js";
import { ARTIFACTS_DIR } from "../scripts/lib/paths.js";

export interface ProtocolBenchOptions {
  /** Leaves in the tree before the measured transactions (>= 1,000). */
  fillTo?: number;
  /** Payments with fee = 0 (client-settled: one token transfer). */
  paysNoFee?: number;
  /** Payments with a relayer fee (two token transfers). */
  paysWithFee?: number;
  /** Shielded payments with fee = 0 (no token transfer at all). */
  shieldedPaysNoFee?: number;
  /** Shielded payments with a relayer fee (one transfer: the fee). */
  shieldedPaysWithFee?: number;
  /** Plain `deposit` calls measured after the fill. */
  deposits?: number;
  /** `depositWithAuthorization` calls measured after the fill. */
  depositsWithAuthorization?: number;
  /** x402 "exact" transferWithAuthorization samples. */
  x402Transfers?: number;
  /** Progress output (defaults to console.log). */
  log?: (msg: string) => void;
}

const DEFAULTS: Required<Omit<ProtocolBenchOptions, "log">> = {
  fillTo: 1000,
  paysNoFee: 6,
  paysWithFee: 3,
  shieldedPaysNoFee: 5,
  shieldedPaysWithFee: 3,
  deposits: 5,
  depositsWithAuthorization: 3,
  x402Transfers: 5,
};

const ARTIFACTS = {
  wasm: path.join(ARTIFACTS_DIR, "payment.wasm"),
  zkey: path.join(ARTIFACTS_DIR, "payment.zkey"),
};

const USDC = (n: number) => BigInt(Math.round(n * 1e6));
const PAY_AMOUNT = USDC(1);
const PAY_FEE = USDC(0.01);
const NOTE_VALUE = USDC(10);

/** Functions whose code appends one leaf to the queue (a payment's change note). */
const QUEUE_REGIONS = new Set(["NotePool._append", "NotePool._enqueue"]);
/** Functions whose code hashes leaves into the tree (deposits, commitPendingLeaves). */
const COMMIT_REGIONS = new Set([
  "NotePool._appendMany",
  "NotePool._commitQueued",
  "NotePool._commit",
  "NotePool.commitPendingLeaves",
  "LeanIncrementalTree.insertMany",
]);

/** Where the gas of one Facilitator transaction went. Parts sum to gasUsed. */
export interface GasBreakdown {
  gasUsed: number;
  /** 21,000 base cost of any transaction. */
  intrinsic: number;
  /** 16 gas per non-zero byte, 4 per zero byte of the transaction data. */
  calldata: number;
  /** STATICCALL to the Groth16 verifier, whole frame (precompiles included). */
  verifier: number;
  /** NotePool._append/_enqueue: the queue slot, the packed counters and the LeafInserted event (pays). */
  queueAppend: number;
  /** NotePool._appendMany/_commitQueued/_commit + LeanIncrementalTree.insertMany, PoseidonT3 calls included (deposits, commits). */
  treeCommit: number;
  treeCommitDetail: { hashes: number; hashGas: number; storage: number; event: number; rest: number };
  /** SLOAD (double-spend check) + SSTORE of the nullifier's receipt slot. */
  nullifierReceipt: number;
  /** isKnownRoot: root-history lookup. */
  rootCheck: number;
  /** Calls into the token (transfers, balanceOf, receiveWithAuthorization), whole frames. */
  tokenCalls: number;
  /** Deposits only: the Poseidon commitment computed on chain. */
  commitmentHash: number;
  /** LOGs outside the queue append and commit (PaymentReceipt, Deposited, a deposit's LeafInserted). */
  events: number;
  /** Everything else: ABI decoding, checks, context keccak, reentrancy guard, memory. */
  other: number;
  /** Refund subtracted at the end (EIP-3529 capped). */
  refund: number;
}

interface Sample {
  kind: "pay" | "payWithFee" | "shieldedPay" | "shieldedPayWithFee" | "commit" | "deposit" | "depositWithAuthorization";
  /** Index of the leaf the transaction appends (pay, deposit) or commits (commit). */
  leafIndex: number;
  hashes: number;
  gasUsed: number;
  breakdown: GasBreakdown;
}

export async function benchProtocol(
  ethers: HardhatEthers,
  options: ProtocolBenchOptions = {},
): Promise<Record<string, unknown>> {
  const o = { ...DEFAULTS, ...options };
  const log = options.log ?? ((m: string) => console.log(m));
  if (o.fillTo < 1000) throw new Error("fillTo must be >= 1000");
  if (o.paysNoFee < 5) throw new Error("at least 5 fee-less payments");
  const t0 = performance.now();

  // ------------------------------------------------------------------ setup
  // Deployed as scripts/deploy.ts does: root-history ring prewarmed.
  const { facilitator, token, verifier, poseidon, poseidonT2 } = await deploySystem(ethers, {
    prewarmRootHistory: true,
  });
  const fac = (await facilitator.getAddress()) as Address;
  const tokenAddr = (await token.getAddress()) as Address;
  const verifierAddr = (await verifier.getAddress()) as Address;
  const poseidonAddr = (await poseidon.getAddress()) as Address;
  const poseidonT2Addr = (await poseidonT2.getAddress()) as Address;
  const chainId = Number((await ethers.provider.getNetwork()).chainId);
  const signers = await ethers.getSigners();
  if (signers.length < 7) throw new Error("need 7 funded accounts");
  const [depositor, payee, relayer, x402Payer, x402Facilitator, authDepositor, paySender] = signers.slice(
    0,
    7,
  ) as Signer[] as [Signer, Signer, Signer, Signer, Signer, Signer, Signer];
  const addr = async (s: Signer) => (await s.getAddress()) as Address;
  const payeeAddr = await addr(payee);
  const relayerAddr = await addr(relayer);
  const regions = SourceRegions.load("contracts/Facilitator.sol/Facilitator.json");
  const lower = (a: string) => a.toLowerCase();
  const ids = {
    verifier: lower(verifierAddr),
    token: lower(tokenAddr),
    poseidon: lower(poseidonAddr),
    poseidonT2: lower(poseidonT2Addr),
  };

  // Payee, relayer and payers already hold balances, as in steady-state x402 use: every
  // balance write in both the 402zk and the x402 measurements is non-zero -> non-zero.
  for (const s of [payee, relayer, x402Payer, authDepositor])
    await (await token.mint(await addr(s), USDC(1000))).wait();
  const nTransparent = o.paysNoFee + o.paysWithFee;
  const nPays = nTransparent + o.shieldedPaysNoFee + o.shieldedPaysWithFee;
  const fillValue = 1n;
  const depositorBudget = NOTE_VALUE * BigInt(nPays + o.deposits) + fillValue * BigInt(o.fillTo);
  await (await token.mint(await addr(depositor), depositorBudget * 2n)).wait();
  // One large, finite approval: each deposit then decrements the allowance (non-zero -> non-zero).
  await (await token.connect(depositor).approve(fac, depositorBudget * 2n)).wait();

  const tree = new NoteTree(Number(await facilitator.treeLevels()));
  const leafTopic = facilitator.interface.getEvent("LeafInserted")!.topicHash;
  const commitTopic = facilitator.interface.getEvent("LeavesCommitted")!.topicHash;
  /**
   * Mirrors a receipt into the JS tree: its LeafInserted events append to the queue, its
   * LeavesCommitted events commit (only committed leaves are in the tree, as on chain; a
   * deposit emits LeavesCommitted before its own LeafInserted, so appends go first).
   * Returns the index of the last leaf appended, else of the last leaf committed.
   */
  function mirror(rc: TransactionReceipt): number {
    let appended = -1;
    let committedTo = -1;
    for (const l of rc.logs) {
      if (lower(l.address) !== lower(fac)) continue;
      if (l.topics[0] === leafTopic) {
        const ev = facilitator.interface.parseLog(l)!;
        appended = Number(ev.args.leafIndex);
        if (appended !== tree.leafCount)
          throw new Error(`leaf ${appended} out of order (mirror has ${tree.leafCount})`);
        tree.append([ev.args.commitment as bigint]);
      } else if (l.topics[0] === commitTopic) {
        committedTo = Math.max(committedTo, Number(facilitator.interface.parseLog(l)!.args.toIndex));
      }
    }
    if (committedTo >= 0) tree.commit(committedTo);
    if (appended < 0 && committedTo < 0) throw new Error("no LeafInserted or LeavesCommitted in receipt");
    return appended >= 0 ? appended : committedTo - 1;
  }
  const checkMirror = async (where: string) => {
    const [root, size, count] = await Promise.all([
      facilitator.currentRoot(),
      facilitator.treeSize(),
      facilitator.leafCount(),
    ]);
    if (Number(size) !== tree.committedSize || Number(count) !== tree.leafCount || root !== tree.root) {
      throw new Error(
        `JS tree mirror disagrees with the contract ${where}: ${tree.committedSize}/${tree.leafCount} vs ${size}/${count}`,
      );
    }
  };

  const keys = WalletKeys.fromSeed(`0x${"42".repeat(32)}`);
  // The API's wallet of the shielded payments: its owner key owns the payee notes.
  const payeeKeys = WalletKeys.fromSeed(`0x${"43".repeat(32)}`);
  const memo64 = (k: number, v: bigint) => keys.encodeMemo(k, v) as Hex;
  const precommitmentOfIndex = (k: number) => precommitmentOf(keys.ownerKey, keys.indexBlinding(k));

  // Notes to spend later: the first leaves of the tree, owned by `keys`.
  const notes: (NoteOpening & { leafIndex: number; k: number })[] = [];
  for (let k = 0; k < nPays; k++) {
    const rc = (await (
      await facilitator.connect(depositor).deposit(precommitmentOfIndex(k), NOTE_VALUE, memo64(k, NOTE_VALUE))
    ).wait())!;
    notes.push({ ...keys.indexNote(k, NOTE_VALUE), leafIndex: mirror(rc), k });
  }

  // ------------------------------------------------------------------ fill
  const tFill = performance.now();
  log(`filling the tree to ${o.fillTo} leaves...`);
  for (let i = tree.leafCount; i < o.fillTo; i++) {
    // Any field element works as a precommitment: these notes are never spent.
    const pre = BigInt(keccak256(toUtf8Bytes(`filler ${i}`))) % SNARK_SCALAR_FIELD;
    const rc = (await (await facilitator.connect(depositor).deposit(pre, fillValue, "0x")).wait())!;
    mirror(rc);
    if ((i + 1) % 200 === 0) log(`  ${i + 1} leaves (${Math.round(performance.now() - tFill)} ms)`);
  }
  const fillMs = performance.now() - tFill;
  await checkMirror("after the fill");

  // Storage slot of the `_receipts` mapping: found once, from the first payment.
  let receiptsSlot: bigint | undefined;
  const abi = AbiCoder.defaultAbiCoder();
  const mappingKey = (key: bigint, slot: bigint) => keccak256(abi.encode(["uint256", "uint256"], [key, slot]));
  async function findReceiptsSlot(nullifierHash: bigint): Promise<bigint> {
    for (let slot = 0n; slot < 256n; slot++) {
      const v = await ethers.provider.getStorage(fac, mappingKey(nullifierHash, slot));
      if (BigInt(v) !== 0n) return slot;
    }
    throw new Error("receipt slot not found");
  }

  async function traceOf(hash: string): Promise<TxTrace> {
    const tr = (await ethers.provider.send("debug_traceTransaction", [
      hash,
      { disableMemory: true, disableStorage: true },
    ])) as TxTrace;
    if (tr.failed) throw new Error(`traced transaction ${hash} failed`);
    return tr;
  }

  /** Splits a Facilitator transaction's gas by purpose (see GasBreakdown). */
  function attribute(rc: TransactionReceipt, data: string, trace: TxTrace, receiptKey?: string): GasBreakdown {
    const b: GasBreakdown = {
      gasUsed: Number(rc.gasUsed),
      intrinsic: 21000,
      calldata: calldataGas(data),
      verifier: 0,
      queueAppend: 0,
      treeCommit: 0,
      treeCommitDetail: { hashes: 0, hashGas: 0, storage: 0, event: 0, rest: 0 },
      nullifierReceipt: 0,
      rootCheck: 0,
      tokenCalls: 0,
      commitmentHash: 0,
      events: 0,
      other: 0,
      refund: 0,
    };
    let exec = 0;
    for (const st of topSteps(trace, regions)) {
      exec += st.cost;
      const inCommit = COMMIT_REGIONS.has(st.region);
      const op = st.log.op;
      if (st.callee === ids.poseidon || st.callee === ids.poseidonT2) {
        if (inCommit) {
          b.treeCommit += st.cost;
          b.treeCommitDetail.hashes += 1;
          b.treeCommitDetail.hashGas += st.cost;
        } else {
          b.commitmentHash += st.cost;
        }
      } else if (st.callee === ids.verifier) {
        b.verifier += st.cost;
      } else if (st.callee === ids.token) {
        b.tokenCalls += st.cost;
      } else if (inCommit) {
        b.treeCommit += st.cost;
        if (op === "SSTORE" || op === "SLOAD") b.treeCommitDetail.storage += st.cost;
        else if (op.startsWith("LOG")) b.treeCommitDetail.event += st.cost;
        else b.treeCommitDetail.rest += st.cost;
      } else if (QUEUE_REGIONS.has(st.region)) {
        b.queueAppend += st.cost;
      } else if ((op === "SLOAD" || op === "SSTORE") && receiptKey && stackTop(st) === receiptKey) {
        b.nullifierReceipt += st.cost;
      } else if (st.region === "NotePool.isKnownRoot") {
        b.rootCheck += st.cost;
      } else if (op.startsWith("LOG")) {
        b.events += st.cost;
      } else {
        b.other += st.cost;
      }
    }
    const beforeRefund = b.intrinsic + b.calldata + exec;
    b.refund = Math.min(refundCounter(trace), Math.floor(beforeRefund / 5));
    const unexplained = b.gasUsed - (beforeRefund - b.refund);
    if (unexplained !== 0) {
      log(`  note: ${unexplained} gas of tx ${rc.hash} not explained by the trace (put in "other")`);
      b.other += unexplained;
    }
    return b;
  }

  const samples: Sample[] = [];
  const now = async () => BigInt((await ethers.provider.getBlock("latest"))!.timestamp);

  // ------------------------------------------------------------------ payments
  log(
    `proving and settling ${nPays} payments (transparent: ${o.paysNoFee} without fee, ${o.paysWithFee} with fee; ` +
      `shielded: ${o.shieldedPaysNoFee} without fee, ${o.shieldedPaysWithFee} with fee)...`,
  );
  // Proving times are bench-verify.ts' figures; here proofs only feed the transactions.
  await preloadArtifacts(ARTIFACTS);
  let firstProof: PaymentProofResult | undefined;
  const payData: string[] = [];
  const shieldedPayData: string[] = [];
  /** gasUsed of the commitPendingLeaves(2) that followed each fee-less shielded pay (its payee + change leaves). */
  const shieldedCommitGas: { leafIndex: number; gasUsed: number }[] = [];
  const zeroAddress = "0x0000000000000000000000000000000000000000" as Address;
  const zeroNote: NoteOpening = { value: 0n, owner: 0n, blinding: 0n };
  for (let j = 0; j < nPays; j++) {
    const shielded = j >= nTransparent;
    const withFee = shielded ? j - nTransparent >= o.shieldedPaysNoFee : j >= o.paysNoFee;
    const note = notes[j]!;
    const changeK = 1000 + j;
    const conditionHash = keccak256(toUtf8Bytes(`GET /weather#${j}`)) as Hex;
    // Shielded: nothing public but the fee; the price goes into a payee note for payeeKeys.
    const terms: PaymentTerms = {
      payTo: shielded ? zeroAddress : payeeAddr,
      amount: shielded ? 0n : PAY_AMOUNT,
      relayer: withFee ? relayerAddr : zeroAddress,
      fee: withFee ? PAY_FEE : 0n,
      conditionHash,
      expiry: (await now()) + 3600n,
    };
    const payee: NoteOpening = shielded
      ? { value: PAY_AMOUNT, owner: payeeKeys.ownerKey, blinding: hash2(0x9a7eeen, BigInt(j)) }
      : zeroNote;
    const payeeMemo: Hex = shielded ? encryptNote(payeeKeys.encryptionKey, { ...payee, conditionHash }) : "0x";
    const changeValue = note.value - terms.amount - terms.fee - payee.value;
    const memo = memo64(changeK, changeValue);
    const context = paymentContext({ chainId, facilitator: fac, terms, memo, payeeMemo });
    const tp = performance.now();
    const result = await provePayment(
      {
        note,
        spendingKey: keys.spendingKey(),
        position: notePosition(note.leafIndex, tree.levels),
        path: tree.path(note.leafIndex),
        amount: terms.amount,
        fee: terms.fee,
        context,
        payee,
        changeBlinding: keys.indexBlinding(changeK),
      },
      ARTIFACTS,
    );
    const wall = performance.now() - tp;
    firstProof ??= result;

    const proof = proofStructOf(result);
    const sender = withFee ? relayer : paySender;
    const tx = await facilitator.connect(sender).pay(proof, terms, memo, payeeMemo);
    const rc = (await tx.wait())!;
    (shielded ? shieldedPayData : payData).push(tx.data);
    const leafIndex = mirror(rc);
    receiptsSlot ??= await findReceiptsSlot(result.nullifierHash);
    const breakdown = attribute(rc, tx.data, await traceOf(rc.hash), mappingKey(result.nullifierHash, receiptsSlot));
    if (breakdown.treeCommitDetail.hashes !== 0) throw new Error(`pay at leaf ${leafIndex} hashed into the tree`);
    // The change note is queued (after the payee note of a shielded payment), not in the tree yet.
    const queued = shielded ? 2 : 1;
    if (tree.queuedCount !== queued)
      throw new Error(`after a pay ${tree.queuedCount} leaves queued, expected ${queued}`);
    const kind = shielded ? (withFee ? "shieldedPayWithFee" : "shieldedPay") : withFee ? "payWithFee" : "pay";
    samples.push({ kind, leafIndex, hashes: 0, gasUsed: breakdown.gasUsed, breakdown });

    // What inserting the queued leaves costs now: anyone's commitPendingLeaves, next block.
    const ctx = await facilitator.connect(paySender).commitPendingLeaves(queued);
    const crc = (await ctx.wait())!;
    const committed = mirror(crc);
    if (committed !== leafIndex || (tree.queuedCount as number) !== 0)
      throw new Error(`commit after pay: leaf ${committed}`);
    let commitText: string;
    if (shielded) {
      // Two leaves (the number of hashes depends on both indices): not a commit(1) sample.
      if (!withFee) shieldedCommitGas.push({ leafIndex, gasUsed: Number(crc.gasUsed) });
      commitText = `commit(2) ${fmtInt(Number(crc.gasUsed))} gas`;
    } else {
      const cb = attribute(crc, ctx.data, await traceOf(crc.hash));
      samples.push({ kind: "commit", leafIndex, hashes: popcount(leafIndex), gasUsed: cb.gasUsed, breakdown: cb });
      commitText = `commit ${fmtInt(cb.gasUsed)} gas (${popcount(leafIndex)} hashes)`;
    }
    log(
      `  ${shielded ? "shielded " : ""}pay #${j + 1}${withFee ? " (fee)" : ""}: ${fmtInt(breakdown.gasUsed)} gas ` +
        `(change queued at leaf ${leafIndex}), ${commitText}, proof ${Math.round(wall)} ms`,
    );
  }
  await checkMirror("after the payments");

  // ------------------------------------------------------------------ deposits
  log(`measuring ${o.deposits} deposits and ${o.depositsWithAuthorization} depositWithAuthorization...`);
  for (let j = 0; j < o.deposits; j++) {
    const k = 2000 + j;
    const tx = await facilitator.connect(depositor).deposit(precommitmentOfIndex(k), NOTE_VALUE, memo64(k, NOTE_VALUE));
    const rc = (await tx.wait())!;
    const leafIndex = mirror(rc);
    const breakdown = attribute(rc, tx.data, await traceOf(rc.hash));
    samples.push({ kind: "deposit", leafIndex, hashes: popcount(leafIndex), gasUsed: breakdown.gasUsed, breakdown });
  }
  const authFrom = await addr(authDepositor);
  const domain = { name: "USD Coin", version: "1", chainId, verifyingContract: tokenAddr };
  // Same fields for both EIP-3009 primary types; only the name differs.
  const authTypes = (primary: string) => ({ [primary]: [...receiveWithAuthorizationTypes.ReceiveWithAuthorization] });
  for (let j = 0; j < o.depositsWithAuthorization; j++) {
    const k = 3000 + j;
    const pre = precommitmentOfIndex(k);
    const memo = memo64(k, NOTE_VALUE);
    const nonce = await facilitator.depositNonce(pre, memo);
    const validBefore = (await now()) + 3600n;
    const sig = ethers.Signature.from(
      await authDepositor.signTypedData(domain, authTypes("ReceiveWithAuthorization"), {
        from: authFrom,
        to: fac,
        value: NOTE_VALUE,
        validAfter: 0n,
        validBefore,
        nonce,
      }),
    );
    // Relayed by someone else (the relayer), as EIP-3009 allows.
    const tx = await facilitator
      .connect(relayer)
      .depositWithAuthorization(authFrom, pre, NOTE_VALUE, memo, 0n, validBefore, sig.v, sig.r, sig.s);
    const rc = (await tx.wait())!;
    const leafIndex = mirror(rc);
    const breakdown = attribute(rc, tx.data, await traceOf(rc.hash));
    samples.push({
      kind: "depositWithAuthorization",
      leafIndex,
      hashes: popcount(leafIndex),
      gasUsed: breakdown.gasUsed,
      breakdown,
    });
  }
  await checkMirror("after the deposits");
  for (const s of samples) {
    if (s.breakdown.treeCommitDetail.hashes !== s.hashes) {
      throw new Error(
        `${s.kind} leaf ${s.leafIndex}: ${s.breakdown.treeCommitDetail.hashes} hashes traced, ${s.hashes} expected`,
      );
    }
  }

  // ------------------------------------------------------------------ x402 exact baseline
  log(`measuring ${o.x402Transfers} x402 "exact" transferWithAuthorization...`);
  const twa = token
    .connect(x402Facilitator)
    .getFunction("transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)");
  const x402From = await addr(x402Payer);
  const x402Gas: number[] = [];
  let x402Data = "0x";
  for (let j = 0; j < o.x402Transfers; j++) {
    const nonce = keccak256(toUtf8Bytes(`x402 exact ${j}`));
    const validBefore = (await now()) + 3600n;
    const sig = ethers.Signature.from(
      await x402Payer.signTypedData(domain, authTypes("TransferWithAuthorization"), {
        from: x402From,
        to: payeeAddr,
        value: PAY_AMOUNT,
        validAfter: 0n,
        validBefore,
        nonce,
      }),
    );
    // Submitted by the x402 facilitator, as in "exact" settlement.
    const tx = await twa.send(x402From, payeeAddr, PAY_AMOUNT, 0n, validBefore, nonce, sig.v, sig.r, sig.s);
    const rc = (await tx.wait())!;
    x402Gas.push(Number(rc.gasUsed));
    x402Data = tx.data;
  }

  // ------------------------------------------------------------------ verifier alone
  const p0 = firstProof!;
  const vData = verifier.interface.encodeFunctionData("verifyProof", [
    p0.proof.pA,
    p0.proof.pB,
    p0.proof.pC,
    p0.publicSignals,
  ]);
  const vOk = verifier.interface.decodeFunctionResult(
    "verifyProof",
    await ethers.provider.call({ to: verifierAddr, data: vData }),
  )[0] as boolean;
  if (!vOk) throw new Error("PaymentVerifier rejected a proof that settled");
  const vEstimate = Number(await ethers.provider.estimateGas({ to: verifierAddr, data: vData }));
  const vCalldata = calldataGas(vData);
  // The same call sent as a transaction: exact gasUsed, no estimation margin.
  const vRc = (await (await paySender.sendTransaction({ to: verifierAddr, data: vData })).wait())!;
  const vTxExec = Number(vRc.gasUsed) - 21000 - vCalldata;

  // ------------------------------------------------------------------ summary
  const of = (kind: Sample["kind"]) => samples.filter((s) => s.kind === kind);
  const pays = of("pay");
  const feePays = of("payWithFee");
  const shieldedPays = of("shieldedPay");
  const shieldedFeePays = of("shieldedPayWithFee");
  const commits = of("commit");
  const deposits = of("deposit");
  const authDeposits = of("depositWithAuthorization");
  const gas = (xs: Sample[]) => xs.map((s) => s.gasUsed);
  const med = (xs: Sample[], f: (b: GasBreakdown) => number) => Math.round(median(xs.map((s) => f(s.breakdown))));
  const payGas = Math.round(median(gas(pays)));
  const x402ExactGas = Math.round(median(x402Gas));
  // The commits that followed the fee-less pays, in the same order (one per pay).
  const payCommits = commits.filter((c) => pays.some((p) => p.leafIndex === c.leafIndex));
  const commitOneGas = Math.round(median(gas(payCommits)));
  const payPlusCommit = pays.map((p) => p.gasUsed + payCommits.find((c) => c.leafIndex === p.leafIndex)!.gasUsed);

  // A commit of one leaf at index i does popcount(i) Poseidon hashes (+ a side-node SLOAD
  // each): fit the commit part of every commit and deposit over its hashes, then restate
  // commitPendingLeaves(1) for other numbers of hashes. At depth d the leaf index lies in
  // [2^(d-1), 2^d): its top bit is always set, so the mean is (d + 1) / 2, from 1 to d.
  const hashed = samples.filter((s) => s.kind === "commit" || s.kind.startsWith("deposit"));
  const fit = linearFit(
    hashed.map((s) => s.hashes),
    hashed.map((s) => s.breakdown.treeCommit),
  );
  const depth = Number(await facilitator.treeDepth());
  const meanHashes = (depth + 1) / 2;
  const commitAt = (h: number) => Math.round(median(payCommits.map((s) => s.gasUsed - fit.slope * (s.hashes - h))));
  const hashCalls = hashed.flatMap((s) =>
    s.breakdown.treeCommitDetail.hashes > 0
      ? [s.breakdown.treeCommitDetail.hashGas / s.breakdown.treeCommitDetail.hashes]
      : [],
  );

  const breakdownMedian = (xs: Sample[]) => ({
    intrinsic: 21000,
    calldata: med(xs, (b) => b.calldata),
    verifier: med(xs, (b) => b.verifier),
    queueAppend: med(xs, (b) => b.queueAppend),
    treeCommit: med(xs, (b) => b.treeCommit),
    nullifierReceipt: med(xs, (b) => b.nullifierReceipt),
    rootCheck: med(xs, (b) => b.rootCheck),
    tokenCalls: med(xs, (b) => b.tokenCalls),
    commitmentHash: med(xs, (b) => b.commitmentHash),
    events: med(xs, (b) => b.events),
    other: med(xs, (b) => b.other),
    refund: med(xs, (b) => b.refund),
  });

  return {
    leaves: o.fillTo,
    treeDepth: depth,
    treeLevels: tree.levels,
    payGas,
    payGasWithFee: Math.round(median(gas(feePays))),
    payGasRange: {
      min: min(gas(pays)),
      max: max(gas(pays)),
      withFeeMin: min(gas(feePays)),
      withFeeMax: max(gas(feePays)),
    },
    payLeafIndices: pays.map((s) => s.leafIndex),
    payWithFeeLeafIndices: feePays.map((s) => s.leafIndex),
    payGasNote:
      "pay QUEUES its change note (one prewarmed ring slot + LeafInserted at its global index) and hashes nothing, " +
      "so its gas does not depend on the leaf index or the tree size. payGas is the median of the fee-less pays " +
      "(change-note indices listed); the note is committed by a later commit (commitOneGas) or batch.",
    payCalldataBytes: (payData[0]!.length - 2) / 2,
    shieldedPayGas: Math.round(median(gas(shieldedPays))),
    shieldedPayGasWithFee: Math.round(median(gas(shieldedFeePays))),
    shieldedPayGasRange: {
      min: min(gas(shieldedPays)),
      max: max(gas(shieldedPays)),
      withFeeMin: min(gas(shieldedFeePays)),
      withFeeMax: max(gas(shieldedFeePays)),
    },
    shieldedPayLeafIndices: shieldedPays.map((s) => s.leafIndex),
    shieldedPayCalldataBytes: (shieldedPayData[0]!.length - 2) / 2,
    shieldedPayGasBreakdown: breakdownMedian(shieldedPays),
    shieldedPayWithFeeGasBreakdown: breakdownMedian(shieldedFeePays),
    shieldedPayPlusCommitGas: Math.round(
      median(shieldedPays.map((p) => p.gasUsed + shieldedCommitGas.find((c) => c.leafIndex === p.leafIndex)!.gasUsed)),
    ),
    shieldedPayVsPayRatio: round(median(gas(shieldedPays)) / payGas, 2),
    shieldedPayGasNote:
      "shielded pay (zk-shielded: payTo = 0, amount = 0, fee 0, sent by a third party): verifies the same proof, " +
      "queues TWO leaves (the payee note, whose LeafInserted carries the 187-byte payee memo, then the change " +
      "note) and moves no token; with a fee, one transfer to the relayer. Median of the fee-less shielded pays in " +
      "the same pool as payGas. shieldedPayPlusCommitGas: + the commitPendingLeaves(2) sent right after it.",
    payGasBreakdown: breakdownMedian(pays),
    payWithFeeGasBreakdown: breakdownMedian(feePays),
    commitOneGas,
    commitOneGasRange: { min: min(gas(payCommits)), max: max(gas(payCommits)) },
    commitOneGasBreakdown: breakdownMedian(payCommits),
    commitOneDetailMedian: {
      hashes: med(payCommits, (b) => b.treeCommitDetail.hashes),
      hashGas: med(payCommits, (b) => b.treeCommitDetail.hashGas),
      storage: med(payCommits, (b) => b.treeCommitDetail.storage),
      event: med(payCommits, (b) => b.treeCommitDetail.event),
      rest: med(payCommits, (b) => b.treeCommitDetail.rest),
    },
    commitGasModel: {
      perHashGas: Math.round(fit.slope),
      treeCommitFixedGas: Math.round(fit.intercept),
      meanHashesAtDepth: meanHashes,
      commitOneGasAtMeanHashes: commitAt(meanHashes),
      commitOneGasAtOneHash: commitAt(1),
      commitOneGasAtDepthHashes: commitAt(depth),
      poseidonCallGasMean: Math.round(hashCalls.reduce((a, b) => a + b, 0) / hashCalls.length),
      note:
        `commitPendingLeaves(1) restated for h hashes: median(gasUsed - perHashGas * (hashes - h)); at depth ${depth} ` +
        `the leaf index is in [${2 ** (depth - 1)}, ${2 ** depth}) so h runs from 1 to ${depth}, mean ${meanHashes}; ` +
        "fit over the tree-commit part of every commit and deposit",
    },
    payPlusCommitGas: Math.round(median(payPlusCommit)),
    payPlusCommitGasAtMeanHashes: payGas + commitAt(meanHashes),
    payPlusCommitNote:
      "median over the fee-less pays of pay gasUsed + the gasUsed of the commitPendingLeaves(1) sent right after it " +
      "(two transactions, two 21k bases): what one payment whose change is committed alone costs, to compare with " +
      "the previous pay that hashed its change note in directly (471,915 gas at ~1,000 leaves)",
    commitMethod:
      "debug_traceTransaction of each transaction; every top-frame instruction whose solc source-map location lies " +
      "in NotePool._appendMany/_commitQueued/_commit/commitPendingLeaves or LeanIncrementalTree.insertMany is " +
      "treeCommit (CALL-type instructions with their whole frame: the PoseidonT3 hashes), NotePool._append/_enqueue is " +
      "queueAppend (queue slot, counters, LeafInserted); compiler-generated code inherits the function executing " +
      "before it.",
    depositGas: Math.round(median(gas(deposits))),
    depositGasRange: { min: min(gas(deposits)), max: max(gas(deposits)) },
    depositLeafIndices: deposits.map((s) => s.leafIndex),
    depositWithAuthorizationGas: Math.round(median(gas(authDeposits))),
    depositWithAuthorizationLeafIndices: authDeposits.map((s) => s.leafIndex),
    depositGasBreakdown: breakdownMedian(deposits),
    depositNote:
      "approve excluded; depositor had a large finite allowance (decremented, non-zero -> non-zero); 64-byte memo; " +
      "a deposit commits its note (nothing else queued) in the same call",
    x402ExactGas,
    x402ExactGasRange: { min: min(x402Gas), max: max(x402Gas) },
    x402ExactCalldataBytes: (x402Data.length - 2) / 2,
    x402ExactNote:
      "TestUSDC.transferWithAuthorization (v,r,s), same amount, payer and payee already hold balances, fresh nonce; " +
      "real USDC (FiatTokenV2_2 behind a proxy) costs somewhat more",
    payVsX402Ratio: round(payGas / x402ExactGas, 2),
    verifyGas: vEstimate - 21000 - vCalldata,
    verifyGasEstimateRaw: vEstimate,
    verifyGasTxExecution: vTxExec,
    verifyGasInPay: med(pays, (b) => b.verifier),
    verifyGasMethod:
      "verifyGas = eth_estimateGas(PaymentVerifier.verifyProof) - 21000 - calldata (16/non-zero, 4/zero byte); " +
      "verifyGasTxExecution = same from a mined transaction's gasUsed; verifyGasInPay = traced STATICCALL frame in pay",
    fillMs: Math.round(fillMs),
    protocolBenchMs: Math.round(performance.now() - t0),
    samples: samples.map((s) => ({
      kind: s.kind,
      leafIndex: s.leafIndex,
      hashes: s.hashes,
      gasUsed: s.gasUsed,
      breakdown: s.breakdown,
    })),
  };
}

/** Human-readable tables for the record returned by {@link benchProtocol}. */
export function reportProtocol(r: Record<string, unknown>): string {
  const n = (k: string) => r[k] as number;
  const g = (k: string) => fmtInt(n(k));
  const pb = r.payGasBreakdown as Record<string, number>;
  const fb = r.payWithFeeGasBreakdown as Record<string, number>;
  const cb = r.commitOneGasBreakdown as Record<string, number>;
  const db = r.depositGasBreakdown as Record<string, number>;
  const range = r.payGasRange as Record<string, number>;
  const srange = r.shieldedPayGasRange as Record<string, number>;
  const sb = r.shieldedPayGasBreakdown as Record<string, number>;
  const crange = r.commitOneGasRange as Record<string, number>;
  const model = r.commitGasModel as Record<string, number>;
  const idx = (k: string) => (r[k] as number[]).join(",");
  const x = (k: string) => `${(n(k) / n("x402ExactGas")).toFixed(2)}x`;
  const out: string[] = [];

  out.push(
    `Gas, Hardhat EDR in-process EVM, tree of ${n("leaves")}+ leaves (depth ${n("treeDepth")}, ` +
      `trees of 2^${n("treeLevels")})`,
  );
  out.push(
    table(
      ["operation", "gas", "vs x402 exact", "notes"],
      [
        ["x402 exact: transferWithAuthorization", g("x402ExactGas"), "1.00x", "EIP-3009 v,r,s, payee already funded"],
        [
          "402zk pay, fee = 0 (median)",
          g("payGas"),
          x("payGas"),
          `change queued (leaves ${idx("payLeafIndices")}); ${fmtInt(range.min!)}-${fmtInt(range.max!)}`,
        ],
        [
          "402zk pay, relayer fee (median)",
          g("payGasWithFee"),
          x("payGasWithFee"),
          `leaves ${idx("payWithFeeLeafIndices")}; two transfers`,
        ],
        [
          "402zk shielded pay, fee = 0 (median)",
          g("shieldedPayGas"),
          x("shieldedPayGas"),
          `payee + change queued; no transfer; ${fmtInt(srange.min!)}-${fmtInt(srange.max!)}; ` +
            `${n("shieldedPayCalldataBytes")} calldata bytes (transparent ${n("payCalldataBytes")})`,
        ],
        [
          "402zk shielded pay, relayer fee (median)",
          g("shieldedPayGasWithFee"),
          x("shieldedPayGasWithFee"),
          "one transfer (the fee)",
        ],
        [
          "shielded pay + commit of its two leaves (median)",
          g("shieldedPayPlusCommitGas"),
          x("shieldedPayPlusCommitGas"),
          "two transactions",
        ],
        [
          "commitPendingLeaves(1) after a pay (median)",
          g("commitOneGas"),
          "",
          `the change note hashed in; ${fmtInt(crange.min!)}-${fmtInt(crange.max!)}`,
        ],
        [
          "pay + commit of its change (median)",
          g("payPlusCommitGas"),
          x("payPlusCommitGas"),
          `two transactions; previous pay (inserting directly) 471,915`,
        ],
        [
          `pay + commit at mean ${model.meanHashesAtDepth} hashes (model)`,
          g("payPlusCommitGasAtMeanHashes"),
          x("payPlusCommitGasAtMeanHashes"),
          `+${fmtInt(model.perHashGas!)} gas per 1 bit of the leaf index; commit ` +
            `${fmtInt(model.commitOneGasAtOneHash!)} (1 hash) to ${fmtInt(model.commitOneGasAtDepthHashes!)} ` +
            `(${n("treeDepth")} hashes)`,
        ],
        ["deposit (approve excluded)", g("depositGas"), "", `leaves ${idx("depositLeafIndices")}; commits its note`],
        [
          "depositWithAuthorization",
          g("depositWithAuthorizationGas"),
          "",
          `leaves ${idx("depositWithAuthorizationLeafIndices")}`,
        ],
        [
          "Groth16 verifyProof (execution only)",
          g("verifyGas"),
          "",
          `estimateGas ${g("verifyGasEstimateRaw")}; tx ${g("verifyGasTxExecution")}`,
        ],
      ],
      ["l", "r", "r", "l"],
    ),
  );
  out.push("");
  out.push("Where the gas goes (median per part, trace-attributed)");
  const parts: [string, string][] = [
    ["intrinsic (21,000)", "intrinsic"],
    ["calldata", "calldata"],
    ["Groth16 verifier (STATICCALL)", "verifier"],
    ["queue append (slot + counters + LeafInserted)", "queueAppend"],
    ["tree commit (Poseidon + SSTOREs + root)", "treeCommit"],
    ["nullifier check + receipt slot", "nullifierReceipt"],
    ["root-history check", "rootCheck"],
    ["token calls", "tokenCalls"],
    ["commitment hash (deposit)", "commitmentHash"],
    ["other events", "events"],
    ["other (ABI, checks, context hash, guard)", "other"],
    ["refund", "refund"],
  ];
  const pct = (v: number, total: number) => `${((100 * v) / total).toFixed(1)}%`;
  out.push(
    table(
      ["part", "pay", "%", "pay+fee", "shielded pay", "commit(1)", "deposit"],
      parts.map(([label, k]) => {
        // The refund is subtracted: show it negative (and 0 rather than -0).
        const v = (b: Record<string, number>) => fmtInt(k === "refund" && b[k] ? -b[k]! : b[k]!);
        return [label, v(pb), pct(pb[k]!, n("payGas")), v(fb), v(sb), v(cb), v(db)];
      }),
    ),
  );
  out.push("(medians per part need not add up exactly to the median total)");
  const det = r.commitOneDetailMedian as Record<string, number>;
  out.push(
    `commit(1) detail (median): ${det.hashes} hashes ${fmtInt(det.hashGas!)}, storage ${fmtInt(det.storage!)}, ` +
      `LeavesCommitted ${fmtInt(det.event!)}, rest ${fmtInt(det.rest!)}; one PoseidonT3 call ~${fmtInt(model.poseidonCallGasMean!)}`,
  );
  out.push("");
  out.push("Every measured transaction (leaf = index of the note it appends, or commits)");
  const samples = r.samples as {
    kind: string;
    leafIndex: number;
    hashes: number;
    gasUsed: number;
    breakdown: GasBreakdown;
  }[];
  out.push(
    table(
      ["transaction", "leaf", "hashes", "gasUsed", "queue", "tree commit", "verifier", "token calls"],
      samples.map((s) => [
        s.kind,
        String(s.leafIndex),
        String(s.hashes),
        fmtInt(s.gasUsed),
        fmtInt(s.breakdown.queueAppend),
        fmtInt(s.breakdown.treeCommit),
        fmtInt(s.breakdown.verifier),
        fmtInt(s.breakdown.tokenCalls),
      ]),
    ),
  );
  return out.join("\n");
}
