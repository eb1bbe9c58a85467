/**
 * Contract-level benchmark of 402zk on Hardhat's in-process EVM (EDR): gas of deposits
 * and payments in a pool of >= 1,000 leaves, the x402 "exact" baseline (a plain EIP-3009
 * transferWithAuthorization), the Groth16 verifier alone, and client-side proving and
 * off-chain verification times. Every payment is proved for real with the SDK's prover.
 *
 * Gas breakdowns come from debug_traceTransaction + the compiler's source map (see
 * bench-trace.ts): exact per instruction, so the parts add up to the receipt's gasUsed.
 */
import { readFileSync } from "node:fs";
import path from "node:path";

import type { HardhatEthers } from "@nomicfoundation/hardhat-ethers/types";
import { AbiCoder, keccak256, toUtf8Bytes, type Signer, type TransactionReceipt } from "ethers";
import type { Address, Hex } from "viem";

import { paymentContext, type PaymentTerms } from "../../sdk/core/context.js";
import { SNARK_SCALAR_FIELD } from "../../sdk/core/field.js";
import { WalletKeys } from "../../sdk/core/keys.js";
import { precommitmentOf, type NoteSecrets } from "../../sdk/core/note.js";
import { provePayment, verifyPaymentProof, type PaymentProofResult } from "../../sdk/core/prover.js";
import { NoteTree } from "../../sdk/core/tree.js";
import { receiveWithAuthorizationTypes } from "../../sdk/core/eip712.js";
import { calldataGas, fmtInt, linearFit, max, median, min, popcount, round, table } from "./bench-util.js";
import { SourceRegions, refundCounter, stackTop, topSteps, type TxTrace } from "./bench-trace.js";
import { deploySystem } from "./deploy.js";
import { ARTIFACTS_DIR } from "./paths.js";

export interface ProtocolBenchOptions {
  /** Leaves in the tree before the measured transactions (>= 1,000). */
  fillTo?: number;
  /** Payments with fee = 0 (client-settled: one token transfer). */
  paysNoFee?: number;
  /** Payments with a relayer fee (two token transfers). */
  paysWithFee?: number;
  /** Plain `deposit` calls measured after the fill. */
  deposits?: number;
  /** `depositWithAuthorization` calls measured after the fill. */
  depositsWithAuthorization?: number;
  /** x402 "exact" transferWithAuthorization samples. */
  x402Transfers?: number;
  /** Off-chain verifyPaymentProof calls timed. */
  verifyRuns?: number;
  /** Progress output (defaults to console.log). */
  log?: (msg: string) => void;
}

const DEFAULTS: Required<Omit<ProtocolBenchOptions, "log">> = {
  fillTo: 1000,
  paysNoFee: 6,
  paysWithFee: 3,
  deposits: 5,
  depositsWithAuthorization: 3,
  x402Transfers: 5,
  verifyRuns: 25,
};

const ARTIFACTS = {
  wasm: path.join(ARTIFACTS_DIR, "payment.wasm"),
  zkey: path.join(ARTIFACTS_DIR, "payment.zkey"),
};

const USDC = (n: number) => BigInt(Math.round(n * 1e6));
const PAY_AMOUNT = USDC(1);
const PAY_FEE = USDC(0.01);
const NOTE_VALUE = USDC(10);

/** Functions whose code is the change-note (or deposit-note) insertion. */
const INSERT_REGIONS = new Set(["Facilitator._insert", "LeanIncrementalTree.insert"]);

/** Where the gas of one Facilitator transaction went. Parts sum to gasUsed. */
export interface GasBreakdown {
  gasUsed: number;
  /** 21,000 base cost of any transaction. */
  intrinsic: number;
  /** 16 gas per non-zero byte, 4 per zero byte of the transaction data. */
  calldata: number;
  /** STATICCALL to the Groth16 verifier, whole frame (precompiles included). */
  verifier: number;
  /** Facilitator._insert + LeanIncrementalTree.insert, PoseidonT3 calls included. */
  treeInsert: number;
  treeInsertDetail: { hashes: number; hashGas: number; storage: number; event: number; rest: number };
  /** SLOAD (double-spend check) + SSTORE of the nullifier's receipt slot. */
  nullifierReceipt: number;
  /** isKnownRoot: root-history lookup. */
  rootCheck: number;
  /** Calls into the token (transfers, balanceOf, receiveWithAuthorization), whole frames. */
  tokenCalls: number;
  /** Deposits only: the Poseidon commitment computed on chain. */
  commitmentHash: number;
  /** LOGs outside the insert (PaymentReceipt, Deposited). */
  events: number;
  /** Everything else: ABI decoding, checks, context keccak, reentrancy guard, memory. */
  other: number;
  /** Refund subtracted at the end (EIP-3529 capped). */
  refund: number;
}

interface Sample {
  kind: "pay" | "payWithFee" | "deposit" | "depositWithAuthorization";
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
  const { facilitator, token, verifier, poseidon } = await deploySystem(ethers, { prewarmRootHistory: true });
  const fac = (await facilitator.getAddress()) as Address;
  const tokenAddr = (await token.getAddress()) as Address;
  const verifierAddr = (await verifier.getAddress()) as Address;
  const poseidonAddr = (await poseidon.getAddress()) as Address;
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
  const ids = { verifier: lower(verifierAddr), token: lower(tokenAddr), poseidon: lower(poseidonAddr) };

  // Payee, relayer and payers already hold balances, as in steady-state x402 use: every
  // balance write in both the 402zk and the x402 measurements is non-zero -> non-zero.
  for (const s of [payee, relayer, x402Payer, authDepositor])
    await (await token.mint(await addr(s), USDC(1000))).wait();
  const nPays = o.paysNoFee + o.paysWithFee;
  const fillValue = 1n;
  const depositorBudget = NOTE_VALUE * BigInt(nPays + o.deposits) + fillValue * BigInt(o.fillTo);
  await (await token.mint(await addr(depositor), depositorBudget * 2n)).wait();
  // One large, finite approval: each deposit then decrements the allowance (non-zero -> non-zero).
  await (await token.connect(depositor).approve(fac, depositorBudget * 2n)).wait();

  const tree = new NoteTree();
  const leafTopic = facilitator.interface.getEvent("LeafInserted")!.topicHash;
  /** Mirrors the LeafInserted events of a receipt into the JS tree; returns the leaf index. */
  function mirror(rc: TransactionReceipt): number {
    let index = -1;
    for (const l of rc.logs) {
      if (l.topics[0] !== leafTopic || lower(l.address) !== lower(fac)) continue;
      const ev = facilitator.interface.parseLog(l)!;
      index = Number(ev.args.leafIndex);
      if (index !== tree.size) throw new Error(`leaf ${index} out of order (mirror has ${tree.size})`);
      tree.insert(ev.args.commitment as bigint);
    }
    if (index < 0) throw new Error("no LeafInserted in receipt");
    return index;
  }

  const keys = WalletKeys.fromSeed(`0x${"42".repeat(32)}`);
  const memo64 = (k: number, v: bigint) => keys.encodeMemo(k, v) as Hex;

  // Notes to spend later: the first leaves of the tree.
  const notes: (NoteSecrets & { value: bigint; leafIndex: number; k: number })[] = [];
  for (let k = 0; k < nPays; k++) {
    const s = keys.noteSecrets(k);
    const rc = (await (
      await facilitator.connect(depositor).deposit(precommitmentOf(s), NOTE_VALUE, memo64(k, NOTE_VALUE))
    ).wait())!;
    notes.push({ ...s, value: NOTE_VALUE, leafIndex: mirror(rc), k });
  }

  // ------------------------------------------------------------------ fill
  const tFill = performance.now();
  log(`filling the tree to ${o.fillTo} leaves...`);
  for (let i = tree.size; i < o.fillTo; i++) {
    // Any field element works as a precommitment: these notes are never spent.
    const pre = BigInt(keccak256(toUtf8Bytes(`filler ${i}`))) % SNARK_SCALAR_FIELD;
    const rc = (await (await facilitator.connect(depositor).deposit(pre, fillValue, "0x")).wait())!;
    mirror(rc);
    if ((i + 1) % 200 === 0) log(`  ${i + 1} leaves (${Math.round(performance.now() - tFill)} ms)`);
  }
  const fillMs = performance.now() - tFill;
  if ((await facilitator.currentRoot()) !== tree.root) throw new Error("JS tree mirror disagrees with the contract");

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
      treeInsert: 0,
      treeInsertDetail: { hashes: 0, hashGas: 0, storage: 0, event: 0, rest: 0 },
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
      const inInsert = INSERT_REGIONS.has(st.region);
      const op = st.log.op;
      if (st.callee === ids.poseidon) {
        if (inInsert) {
          b.treeInsert += st.cost;
          b.treeInsertDetail.hashes += 1;
          b.treeInsertDetail.hashGas += st.cost;
        } else {
          b.commitmentHash += st.cost;
        }
      } else if (st.callee === ids.verifier) {
        b.verifier += st.cost;
      } else if (st.callee === ids.token) {
        b.tokenCalls += st.cost;
      } else if (inInsert) {
        b.treeInsert += st.cost;
        if (op === "SSTORE" || op === "SLOAD") b.treeInsertDetail.storage += st.cost;
        else if (op.startsWith("LOG")) b.treeInsertDetail.event += st.cost;
        else b.treeInsertDetail.rest += st.cost;
      } else if ((op === "SLOAD" || op === "SSTORE") && receiptKey && stackTop(st) === receiptKey) {
        b.nullifierReceipt += st.cost;
      } else if (st.region === "Facilitator.isKnownRoot") {
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
  log(`proving and settling ${nPays} payments (${o.paysNoFee} without fee, ${o.paysWithFee} with fee)...`);
  const proveMs: number[] = [];
  const witnessMs: number[] = [];
  const groth16Ms: number[] = [];
  let firstProof: PaymentProofResult | undefined;
  const payData: string[] = [];
  for (let j = 0; j < nPays; j++) {
    const withFee = j >= o.paysNoFee;
    const note = notes[j]!;
    const change = { ...keys.noteSecrets(1000 + j), k: 1000 + j };
    const terms: PaymentTerms = {
      payTo: payeeAddr,
      amount: PAY_AMOUNT,
      relayer: withFee ? relayerAddr : ("0x0000000000000000000000000000000000000000" as Address),
      fee: withFee ? PAY_FEE : 0n,
      conditionHash: keccak256(toUtf8Bytes(`GET /weather#${j}`)) as Hex,
      expiry: (await now()) + 3600n,
    };
    const changeValue = note.value - terms.amount - terms.fee;
    const memo = memo64(change.k, changeValue);
    const context = paymentContext({ chainId, facilitator: fac, terms, memo });
    const tp = performance.now();
    const result = await provePayment(
      { note, path: tree.path(note.leafIndex), amount: terms.amount, fee: terms.fee, context, change },
      ARTIFACTS,
    );
    const wall = performance.now() - tp;
    proveMs.push(wall);
    witnessMs.push(result.timings.witnessMs);
    groth16Ms.push(result.timings.proveMs);
    firstProof ??= result;

    const proof = {
      pA: result.proof.pA,
      pB: result.proof.pB,
      pC: result.proof.pC,
      root: result.root,
      treeSize: BigInt(result.treeSize),
      nullifierHash: result.nullifierHash,
      changeCommitment: result.changeCommitment,
    };
    const sender = withFee ? relayer : paySender;
    const tx = await facilitator.connect(sender).pay(proof, terms, memo);
    const rc = (await tx.wait())!;
    payData.push(tx.data);
    const leafIndex = mirror(rc);
    receiptsSlot ??= await findReceiptsSlot(result.nullifierHash);
    const breakdown = attribute(rc, tx.data, await traceOf(rc.hash), mappingKey(result.nullifierHash, receiptsSlot));
    samples.push({
      kind: withFee ? "payWithFee" : "pay",
      leafIndex,
      hashes: popcount(leafIndex),
      gasUsed: breakdown.gasUsed,
      breakdown,
    });
    log(
      `  pay #${j + 1}${withFee ? " (fee)" : ""}: leaf ${leafIndex} (${popcount(leafIndex)} hashes) ` +
        `${fmtInt(breakdown.gasUsed)} gas, proof ${Math.round(wall)} ms`,
    );
  }

  // ------------------------------------------------------------------ deposits
  log(`measuring ${o.deposits} deposits and ${o.depositsWithAuthorization} depositWithAuthorization...`);
  for (let j = 0; j < o.deposits; j++) {
    const k = 2000 + j;
    const tx = await facilitator
      .connect(depositor)
      .deposit(precommitmentOf(keys.noteSecrets(k)), NOTE_VALUE, memo64(k, NOTE_VALUE));
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
    const pre = precommitmentOf(keys.noteSecrets(k));
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
  if ((await facilitator.currentRoot()) !== tree.root) throw new Error("JS tree mirror disagrees with the contract");
  for (const s of samples) {
    if (s.breakdown.treeInsertDetail.hashes !== s.hashes) {
      throw new Error(
        `leaf ${s.leafIndex}: ${s.breakdown.treeInsertDetail.hashes} hashes traced, ${s.hashes} expected`,
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

  // ------------------------------------------------------------------ off-chain verification
  const vkey = JSON.parse(readFileSync(path.join(ARTIFACTS_DIR, "payment.vkey.json"), "utf8")) as unknown;
  if (!(await verifyPaymentProof(vkey, p0.proof, p0.publicSignals))) throw new Error("off-chain verify failed");
  const verifyMs: number[] = [];
  for (let i = 0; i < o.verifyRuns; i++) {
    const tv = performance.now();
    const ok = await verifyPaymentProof(vkey, p0.proof, p0.publicSignals);
    verifyMs.push(performance.now() - tv);
    if (!ok) throw new Error("off-chain verify failed");
  }

  // ------------------------------------------------------------------ summary
  const of = (kind: Sample["kind"]) => samples.filter((s) => s.kind === kind);
  const pays = of("pay");
  const feePays = of("payWithFee");
  const deposits = of("deposit");
  const authDeposits = of("depositWithAuthorization");
  const gas = (xs: Sample[]) => xs.map((s) => s.gasUsed);
  const med = (xs: Sample[], f: (b: GasBreakdown) => number) => Math.round(median(xs.map((s) => f(s.breakdown))));
  const payGas = Math.round(median(gas(pays)));
  const x402ExactGas = Math.round(median(x402Gas));

  // Gas of an insert grows by one Poseidon hash (+ the side-node SLOAD) per 1 bit of the
  // leaf index: fit it over every measured insert, then restate the payments for other
  // numbers of hashes. At depth d the leaf index lies in [2^(d-1), 2^d): its top bit is
  // always set, so over all such indices the mean is (d + 1) / 2 hashes, from 1 to d.
  const fit = linearFit(
    samples.map((s) => s.hashes),
    samples.map((s) => s.breakdown.treeInsert),
  );
  const depth = Number(await facilitator.treeDepth());
  const meanHashes = (depth + 1) / 2;
  const payAt = (xs: Sample[], h: number) => Math.round(median(xs.map((s) => s.gasUsed - fit.slope * (s.hashes - h))));
  const hashCalls = samples.flatMap((s) =>
    s.breakdown.treeInsertDetail.hashes > 0
      ? [s.breakdown.treeInsertDetail.hashGas / s.breakdown.treeInsertDetail.hashes]
      : [],
  );

  const breakdownMedian = (xs: Sample[]) => ({
    intrinsic: 21000,
    calldata: med(xs, (b) => b.calldata),
    verifier: med(xs, (b) => b.verifier),
    treeInsert: med(xs, (b) => b.treeInsert),
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
      "An insert at leaf index i does popcount(i) Poseidon hashes; the leaf index of a payment's change note is the " +
      "tree size at settlement. payGas is the median of the fee-less payments at the indices listed.",
    payGasAtMeanHashes: payAt(pays, meanHashes),
    payGasWithFeeAtMeanHashes: payAt(feePays, meanHashes),
    payGasModel: {
      perHashGas: Math.round(fit.slope),
      treeInsertFixedGas: Math.round(fit.intercept),
      meanHashesAtDepth: meanHashes,
      payGasAtOneHash: payAt(pays, 1),
      payGasAtDepthHashes: payAt(pays, depth),
      note:
        `fee-less pay restated for h hashes: median(gasUsed - perHashGas * (hashes - h)); at depth ${depth} the ` +
        `change-note index is in [${2 ** (depth - 1)}, ${2 ** depth}) so h runs from 1 to ${depth}, mean ${meanHashes}`,
      poseidonCallGasMean: Math.round(hashCalls.reduce((a, b) => a + b, 0) / hashCalls.length),
    },
    payCalldataBytes: (payData[0]!.length - 2) / 2,
    payGasBreakdown: breakdownMedian(pays),
    payWithFeeGasBreakdown: breakdownMedian(feePays),
    depositGas: Math.round(median(gas(deposits))),
    depositGasRange: { min: min(gas(deposits)), max: max(gas(deposits)) },
    depositLeafIndices: deposits.map((s) => s.leafIndex),
    depositWithAuthorizationGas: Math.round(median(gas(authDeposits))),
    depositWithAuthorizationLeafIndices: authDeposits.map((s) => s.leafIndex),
    depositGasBreakdown: breakdownMedian(deposits),
    depositNote:
      "approve excluded; depositor had a large finite allowance (decremented, non-zero -> non-zero); 64-byte memo",
    x402ExactGas,
    x402ExactGasRange: { min: min(x402Gas), max: max(x402Gas) },
    x402ExactCalldataBytes: (x402Data.length - 2) / 2,
    x402ExactNote:
      "TestUSDC.transferWithAuthorization (v,r,s), same amount, payer and payee already hold balances, fresh nonce; " +
      "real USDC (FiatTokenV2_2 behind a proxy) costs somewhat more",
    payVsX402Ratio: round(payGas / x402ExactGas, 2),
    treeInsertGas: med(pays, (b) => b.treeInsert),
    treeInsertGasRange: {
      min: min(samples.map((s) => s.breakdown.treeInsert)),
      max: max(samples.map((s) => s.breakdown.treeInsert)),
    },
    treeInsertDetailMedian: {
      hashes: med(pays, (b) => b.treeInsertDetail.hashes),
      hashGas: med(pays, (b) => b.treeInsertDetail.hashGas),
      storage: med(pays, (b) => b.treeInsertDetail.storage),
      event: med(pays, (b) => b.treeInsertDetail.event),
      rest: med(pays, (b) => b.treeInsertDetail.rest),
    },
    treeInsertGasMethod:
      "debug_traceTransaction of each fee-less pay; every top-frame instruction whose solc source-map location lies in " +
      "Facilitator._insert or LeanIncrementalTree.insert is charged, CALL-type instructions with their whole frame " +
      "(the PoseidonT3 hashes); compiler-generated code inherits the function executing before it. Covers the hashes, " +
      "the side-node and size/depth SSTOREs, the root-history SSTORE and the LeafInserted event. Median over the pays.",
    verifyGas: vEstimate - 21000 - vCalldata,
    verifyGasEstimateRaw: vEstimate,
    verifyGasTxExecution: vTxExec,
    verifyGasInPay: med(pays, (b) => b.verifier),
    verifyGasMethod:
      "verifyGas = eth_estimateGas(PaymentVerifier.verifyProof) - 21000 - calldata (16/non-zero, 4/zero byte); " +
      "verifyGasTxExecution = same from a mined transaction's gasUsed; verifyGasInPay = traced STATICCALL frame in pay",
    proveMsMedian: round(median(proveMs.slice(1))),
    proveMsMin: round(min(proveMs.slice(1))),
    proveMsMax: round(max(proveMs.slice(1))),
    proveMsCold: round(proveMs[0]!),
    witnessMsMedian: round(median(witnessMs.slice(1))),
    groth16MsMedian: round(median(groth16Ms.slice(1))),
    proveSamples: proveMs.length - 1,
    proveNote:
      "provePayment wall time (witness + Groth16 prove), median over warm calls; the first call (curve setup) is proveMsCold",
    verifyMsMedian: round(median(verifyMs), 2),
    verifyMsMin: round(min(verifyMs), 2),
    verifyMsMax: round(max(verifyMs), 2),
    verifySamples: verifyMs.length,
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
  const db = r.depositGasBreakdown as Record<string, number>;
  const range = r.payGasRange as Record<string, number>;
  const model = r.payGasModel as Record<string, number>;
  const idx = (k: string) => (r[k] as number[]).join(",");
  const out: string[] = [];

  out.push(`Gas, Hardhat EDR in-process EVM, tree of ${n("leaves")}+ leaves (depth ${n("treeDepth")})`);
  out.push(
    table(
      ["operation", "gas", "vs x402 exact", "notes"],
      [
        ["x402 exact: transferWithAuthorization", g("x402ExactGas"), "1.00x", "EIP-3009 v,r,s, payee already funded"],
        [
          "402zk pay, fee = 0 (median)",
          g("payGas"),
          `${(n("payGas") / n("x402ExactGas")).toFixed(2)}x`,
          `leaves ${idx("payLeafIndices")}; ${fmtInt(range.min!)}-${fmtInt(range.max!)}`,
        ],
        [
          "402zk pay, relayer fee (median)",
          g("payGasWithFee"),
          `${(n("payGasWithFee") / n("x402ExactGas")).toFixed(2)}x`,
          `leaves ${idx("payWithFeeLeafIndices")}; two transfers`,
        ],
        [
          `402zk pay at mean ${model.meanHashesAtDepth} hashes (model)`,
          g("payGasAtMeanHashes"),
          `${(n("payGasAtMeanHashes") / n("x402ExactGas")).toFixed(2)}x`,
          `+${fmtInt(model.perHashGas!)} gas per 1 bit of the leaf index; ` +
            `${fmtInt(model.payGasAtOneHash!)} (1 hash) to ${fmtInt(model.payGasAtDepthHashes!)} (${n("treeDepth")} hashes)`,
        ],
        ["deposit (approve excluded)", g("depositGas"), "", `leaves ${idx("depositLeafIndices")}`],
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
        ["tree insert (change note, median)", g("treeInsertGas"), "", "trace + source map, median pay"],
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
    ["tree insert (Poseidon + SSTOREs + LeafInserted)", "treeInsert"],
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
      ["part", "pay", "%", "pay+fee", "deposit"],
      parts.map(([label, k]) => {
        // The refund is subtracted: show it negative (and 0 rather than -0).
        const v = (b: Record<string, number>) => fmtInt(k === "refund" && b[k] ? -b[k]! : b[k]!);
        return [label, v(pb), pct(pb[k]!, n("payGas")), v(fb), v(db)];
      }),
    ),
  );
  out.push("(medians per part need not add up exactly to the median total)");
  const det = r.treeInsertDetailMedian as Record<string, number>;
  out.push(
    `tree insert detail (median pay): ${det.hashes} hashes ${fmtInt(det.hashGas!)}, storage ${fmtInt(det.storage!)}, ` +
      `LeafInserted ${fmtInt(det.event!)}, rest ${fmtInt(det.rest!)}; one PoseidonT3 call ~${fmtInt(model.poseidonCallGasMean!)}`,
  );
  out.push("");
  out.push("Every measured transaction (leaf index = tree size before it = index of the note it inserts)");
  const samples = r.samples as {
    kind: string;
    leafIndex: number;
    hashes: number;
    gasUsed: number;
    breakdown: GasBreakdown;
  }[];
  out.push(
    table(
      ["transaction", "leaf", "hashes", "gasUsed", "tree insert", "verifier", "token calls"],
      samples.map((x) => [
        x.kind,
        String(x.leafIndex),
        String(x.hashes),
        fmtInt(x.gasUsed),
        fmtInt(x.breakdown.treeInsert),
        fmtInt(x.breakdown.verifier),
        fmtInt(x.breakdown.tokenCalls),
      ]),
    ),
  );
  out.push("");
  out.push("Client-side proving and verification");
  out.push(
    table(
      ["measure", "median ms", "min", "max", "samples"],
      [
        [
          "provePayment (witness + prove)",
          n("proveMsMedian").toFixed(0),
          n("proveMsMin").toFixed(0),
          n("proveMsMax").toFixed(0),
          String(n("proveSamples")),
        ],
        ["  witness", n("witnessMsMedian").toFixed(0), "", "", ""],
        ["  Groth16 prove", n("groth16MsMedian").toFixed(0), "", "", ""],
        ["first provePayment (cold)", n("proveMsCold").toFixed(0), "", "", "1"],
        [
          "verifyPaymentProof (off-chain)",
          n("verifyMsMedian").toFixed(1),
          n("verifyMsMin").toFixed(1),
          n("verifyMsMax").toFixed(1),
          String(n("verifySamples")),
        ],
      ],
    ),
  );
  return out.join("\n");
}
