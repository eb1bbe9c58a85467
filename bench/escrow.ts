/**
 * Benchmark section `escrow` (issue #20, proof before pay), all figures from one run on
 * the benchmark's chain (Hardhat's in-process EVM, automine):
 *
 * - Gas, on one `FacilitatorEscrow` pool of ~1,000 leaves deployed as scripts/deploy.ts
 *   does (root-history ring prewarmed): `payEscrowed` without and with a relayer fee
 *   (`escrowPayGas`, `escrowPayGasWithFee`) next to a plain transparent `pay` on the same
 *   pool in the same run (`escrowBaselinePayGas`, `escrowBaselinePayGasWithFee`);
 *   `release` with a real inference proof (`releaseGas`); `refund` after the deadline,
 *   which appends AND commits the refund note in the same call (`refundGas`, measured with
 *   an empty leaf queue, so it commits its own note only); the InferenceVerifier's
 *   `verifyProof` alone (`serviceVerifyProofGas`, estimateGas: 21k base and calldata included).
 * - The service circuit: `serviceConstraints` (its manifest), `serviceProveMs` (median
 *   witness + Groth16 prove of the inference proofs, artifacts in memory) and its witness
 *   part, next to the published anchor (a 196-25-10 MLP in circom: 18,075 constraints,
 *   1.17 s) and to the payment proofs' median of this same section (`servicePaymentProveMs`).
 * - The end-to-end latency of a proof-before-pay request next to a plain zk-exact payment,
 *   COMPOSED from the SDK and contract calls directly (no HTTP server: the proof-before-pay
 *   HTTP module was not committed when this section was written): client proves the
 *   escrowed payment -> payEscrowed mined -> the server sees the escrow held (one
 *   eth_call) -> the server proves the inference -> release mined -> the client verifies the
 *   service proof off chain and decrypts the result published by the release; against:
 *   client proves the payment -> pay mined -> the server checks the receipt.
 *
 * Every proof is real and every outcome is checked (statuses, balances, decrypted result
 * equal to the model's reference inference, refund note commitment), so a broken flow
 * fails the section instead of timing it.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";

import type { HardhatEthers } from "@nomicfoundation/hardhat-ethers/types";
import { keccak256, toUtf8Bytes, ZeroAddress, type Signer, type TransactionReceipt } from "ethers";
import type { Address, Hex } from "viem";

import { preloadArtifacts } from "../sdk/core/circuits/artifacts.js";
import { proveInference, verifyInferenceProof, type InferenceProofResult } from "../sdk/core/circuits/inference.js";
import { proofStructOf, provePayment, type PaymentProofResult } from "../sdk/core/circuits/payment.js";
import { paymentContext, type PaymentTerms } from "../sdk/core/context.js";
import { escrowedPaymentContext, ESCROW_STATUS, refundCommitment, type EscrowStatement } from "../sdk/core/escrow.js";
import { SNARK_SCALAR_FIELD } from "../sdk/core/field.js";
import { decryptResult, inputHashOf } from "../sdk/core/inference/io.js";
import { infer, type InferenceModel } from "../sdk/core/inference/model.js";
import { WalletKeys } from "../sdk/core/keys.js";
import { notePosition, precommitmentOf, type NoteOpening } from "../sdk/core/note.js";
import { NoteTree } from "../sdk/core/tree.js";
import { artifactsOf, loadInferenceModel, loadInferenceSamples, verificationKeyOf } from "../sdk/node/artifacts.js";
import { deploySystem } from "../scripts/lib/deploy.js";
import { ARTIFACTS_DIR } from "../scripts/lib/paths.js";
import { fmtInt, median, round, table } from "./util.js";
import { benchPaymentWitnesses } from "./verify.js";

/** The published anchor the issue names: a 196-25-10 MLP in circom proved with snarkjs. */
export const SERVICE_ANCHOR = { circuit: "196-25-10 MLP in circom", constraints: 18_075, proveMs: 1_170 } as const;

export interface EscrowBenchOptions {
  /** Proof-before-pay requests (each: escrowed payment + release) and plain payments, fee 0 (>= 5). */
  rounds?: number;
  /** Escrowed payments with a relayer fee (refunded after the deadline) and plain payments with a fee. */
  feeRounds?: number;
  /** Leaves in the tree before the measured transactions. */
  fillTo?: number;
  log?: (msg: string) => void;
}

const DEFAULTS: Required<Omit<EscrowBenchOptions, "log">> = { rounds: 5, feeRounds: 3, fillTo: 1000 };

const USDC = (n: number) => BigInt(Math.round(n * 1e6));
const NOTE_VALUE = USDC(10);
const PRICE = USDC(1);
const FEE = USDC(0.01);
/** Seconds between the payment's expiry and the escrow's deadline. */
const DEADLINE_AFTER_EXPIRY = 600n;

/** A random field element (31 random bytes). */
const randomField = (): bigint => BigInt(`0x${randomBytes(31).toString("hex")}`);

/** Milliseconds since `t0`. */
const since = (t0: number) => performance.now() - t0;

/** A note of the bench wallet, committed in the tree snapshot the payments prove against. */
interface BenchNote extends NoteOpening {
  leafIndex: number;
}

/** One proof-before-pay request's step times (ms), in order. */
interface EscrowSteps {
  provePayment: number;
  payEscrowed: number;
  serverCheck: number;
  proveService: number;
  release: number;
  clientVerify: number;
}

/** One plain zk-exact payment's step times (ms), in order. */
interface PlainSteps {
  provePayment: number;
  pay: number;
  serverCheck: number;
}

/**
 * Measures proof before pay (see the module's notes).
 *
 * @example
 * const r = await benchEscrow(ethers, { log: console.log });
 */
export async function benchEscrow(ethers: HardhatEthers, options: EscrowBenchOptions = {}) {
  const o = { ...DEFAULTS, ...options };
  const log = options.log ?? (() => {});
  if (o.rounds < 5) throw new Error("bench escrow: at least 5 rounds (serviceProveMs is a median of 5)");
  if (o.feeRounds < 1) throw new Error("bench escrow: at least 1 fee round");

  // ------------------------------------------------------------------ circuits
  const manifest = JSON.parse(readFileSync(path.join(ARTIFACTS_DIR, "inference.manifest.json"), "utf8")) as {
    version: string;
    constraints: number;
    developmentSetup: boolean;
  };
  const model: InferenceModel = loadInferenceModel();
  const samples = loadInferenceSamples();
  const paymentArtifacts = artifactsOf("payment");
  const inferenceArtifacts = artifactsOf("inference");
  const { vkey: inferenceVkey } = verificationKeyOf("inference");

  // The first inference proof of the process reads its artifacts (curve setup too when no
  // other section proved before): the cold figure. Then both circuits in memory, and one
  // untimed payment proof so that the first timed one pays no setup either.
  const cold = await proveInference(inferenceArtifacts, model, samples[0]!.pixels, randomField(), 1n);
  const serviceProveColdMs = cold.timings.witnessMs + cold.timings.proveMs;
  log(`cold inference proof ${round(serviceProveColdMs)} ms`);
  await preloadArtifacts(inferenceArtifacts);
  await preloadArtifacts(paymentArtifacts);
  await provePayment(benchPaymentWitnesses()(0), paymentArtifacts);

  // ------------------------------------------------------------------ chain
  const system = await deploySystem(ethers, { escrow: true, prewarmRootHistory: true });
  const fac = (await system.facilitator.getAddress()) as Address;
  const escrow = await ethers.getContractAt("FacilitatorEscrow", fac);
  const verifierAddr = system.escrow!.serviceVerifiers.inference!;
  const inferenceVerifier = await ethers.getContractAt("InferenceVerifier", verifierAddr);
  const token = system.token;
  const chainId = Number((await ethers.provider.getNetwork()).chainId);
  const signers = await ethers.getSigners();
  if (signers.length < 4) throw new Error("bench escrow: needs 4 funded accounts");
  const [depositor, payee, relayer, paySender] = signers.slice(0, 4) as Signer[] as [Signer, Signer, Signer, Signer];
  const addr = async (s: Signer) => (await s.getAddress()) as Address;
  const payeeAddr = await addr(payee);
  const relayerAddr = await addr(relayer);
  const condition = keccak256(toUtf8Bytes("POST /infer")) as Hex;

  // Payee and relayer already hold balances (steady state: non-zero -> non-zero writes, as
  // in the protocol section's figures).
  for (const s of [payee, relayer]) await (await token.mint(await addr(s), USDC(1000))).wait();
  const nNotes = 2 * o.rounds + 2 * o.feeRounds;
  const fillValue = 1n;
  const budget = NOTE_VALUE * BigInt(nNotes) + fillValue * BigInt(o.fillTo);
  await (await token.mint(await addr(depositor), budget)).wait();
  await (await token.connect(depositor).approve(fac, budget)).wait();

  const keys = WalletKeys.fromSeed(`0x${"e5".repeat(32)}`);
  let nextK = 0;
  const leafOf = (rc: TransactionReceipt | null): number => {
    for (const l of rc?.logs ?? []) {
      if (l.address.toLowerCase() !== fac.toLowerCase()) continue;
      const ev = escrow.interface.parseLog(l);
      if (ev?.name === "LeafInserted") return Number(ev.args.leafIndex);
    }
    throw new Error("bench escrow: no LeafInserted in the receipt");
  };
  const notes: BenchNote[] = [];
  for (let i = 0; i < nNotes; i++) {
    const k = nextK++;
    const note = keys.indexNote(k, NOTE_VALUE);
    const rc = await (
      await escrow
        .connect(depositor)
        .deposit(precommitmentOf(note.owner, note.blinding), NOTE_VALUE, keys.encodeMemo(k, NOTE_VALUE))
    ).wait();
    notes.push({ ...note, leafIndex: leafOf(rc) });
  }
  log(`filling the tree to ${o.fillTo} leaves...`);
  for (let i = Number(await escrow.leafCount()); i < o.fillTo; i++) {
    const pre = BigInt(keccak256(toUtf8Bytes(`escrow filler ${i}`))) % SNARK_SCALAR_FIELD;
    await (await escrow.connect(depositor).deposit(pre, fillValue, "0x")).wait();
  }
  // The wallet's view: every leaf is committed (a deposit commits the queue). All payments
  // prove against this one root, which stays in the root history for the whole section.
  const leafEvents = await escrow.queryFilter(escrow.filters.LeafInserted(), system.deploymentBlock);
  const leaves = leafEvents
    .map((e) => ({ i: Number(e.args.leafIndex), c: e.args.commitment as bigint }))
    .sort((a, b) => a.i - b.i)
    .map((l) => l.c);
  const tree = NoteTree.from(leaves);
  if (tree.root !== (await escrow.currentRoot())) throw new Error("bench escrow: tree mirror differs from the pool");
  const treeLevels = Number(await escrow.treeLevels());
  const leavesAtStart = leaves.length;

  const nowTs = async () => BigInt((await ethers.provider.getBlock("latest"))!.timestamp);
  const termsOf = async (withFee: boolean): Promise<PaymentTerms> => ({
    payTo: payeeAddr,
    amount: PRICE,
    relayer: withFee ? relayerAddr : (ZeroAddress as Address),
    fee: withFee ? FEE : 0n,
    conditionHash: condition,
    expiry: (await nowTs()) + 3600n,
  });

  /** The client's payment proof for `terms` from `note`, with the context `contextOf` gives. */
  async function provePay(note: BenchNote, terms: PaymentTerms, contextOf: (memo: Hex) => bigint) {
    const changeK = nextK++;
    const memo = keys.encodeMemo(changeK, note.value - terms.amount - terms.fee) as Hex;
    const result = await provePayment(
      {
        note: { value: note.value, owner: note.owner, blinding: note.blinding },
        spendingKey: keys.spendingKey(),
        position: notePosition(note.leafIndex, treeLevels),
        path: tree.path(note.leafIndex),
        amount: terms.amount,
        fee: terms.fee,
        context: contextOf(memo),
        payee: { value: 0n, owner: 0n, blinding: 0n },
        changeBlinding: keys.indexBlinding(changeK),
      },
      paymentArtifacts,
    );
    return { result, memo };
  }

  const paymentProofs: PaymentProofResult[] = [];
  const serviceProofs: InferenceProofResult[] = [];
  const gas = {
    pay: [] as number[],
    payWithFee: [] as number[],
    escrowPay: [] as number[],
    escrowPayWithFee: [] as number[],
    release: [] as number[],
    refund: [] as number[],
  };
  const plainSteps: PlainSteps[] = [];
  const escrowSteps: EscrowSteps[] = [];
  const plainMs: number[] = [];
  const escrowMs: number[] = [];
  let payeeGot = 0n;

  /** A plain zk-exact payment: prove, pay, the server's receipt check. Returns its gasUsed. */
  async function plainPayment(note: BenchNote, withFee: boolean): Promise<number> {
    const terms = await termsOf(withFee);
    const t0 = performance.now();
    const { result, memo } = await provePay(note, terms, (m) =>
      paymentContext({ chainId, facilitator: fac, terms, memo: m, payeeMemo: "0x" }),
    );
    const tProved = performance.now();
    const sender = withFee ? relayer : paySender;
    const rc = await (await escrow.connect(sender).pay(proofStructOf(result), terms, memo, "0x")).wait();
    const tPaid = performance.now();
    const id = ethers.toBeHex(result.nullifierHash, 32);
    const [status] = await escrow.checkReceipt(id, terms.payTo, terms.amount, terms.conditionHash);
    const total = since(t0);
    if (status !== 1n) throw new Error(`bench escrow: plain payment's receipt status ${status}, not Paid`);
    paymentProofs.push(result);
    payeeGot += terms.amount;
    if (!withFee) {
      plainSteps.push({ provePayment: tProved - t0, pay: tPaid - tProved, serverCheck: performance.now() - tPaid });
      plainMs.push(total);
    }
    return Number(rc!.gasUsed);
  }

  /** An escrowed payment of `pixels`' inference: the statement, its refund note, the proof. */
  async function escrowedPayment(note: BenchNote, pixels: number[], withFee: boolean) {
    const terms = await termsOf(withFee);
    const inputBlinding = randomField();
    const refundK = nextK++;
    const refundMemo = keys.encodeMemo(refundK, terms.amount) as Hex;
    const statement: EscrowStatement = {
      verifier: verifierAddr,
      modelCommitment: model.modelCommitment,
      inputHash: inputHashOf(pixels, inputBlinding),
      deadline: terms.expiry + DEADLINE_AFTER_EXPIRY,
      refundPrecommitment: precommitmentOf(keys.ownerKey, keys.indexBlinding(refundK)),
      refundMemoHash: keccak256(refundMemo) as Hex,
    };
    const t0 = performance.now();
    const { result, memo } = await provePay(note, terms, (m) =>
      escrowedPaymentContext({ chainId, facilitator: fac, terms, memo: m, statement }),
    );
    const provedMs = since(t0);
    paymentProofs.push(result);
    const id = ethers.toBeHex(result.nullifierHash, 32) as Hex;
    return { terms, statement, inputBlinding, refundMemo, refundK, result, memo, id, pixels, t0, provedMs };
  }
  type Escrowed = Awaited<ReturnType<typeof escrowedPayment>>;

  const payEscrowed = async (e: Escrowed) =>
    (await (
      await escrow
        .connect(e.terms.fee > 0n ? relayer : paySender)
        .payEscrowed(proofStructOf(e.result), e.terms, e.memo, "0x", e.statement, e.refundMemo)
    ).wait())!;

  /** A whole proof-before-pay request, timed from the client's proof to its accepted result. */
  async function proofBeforePay(note: BenchNote, pixels: number[]): Promise<void> {
    const e = await escrowedPayment(note, pixels, false);
    const tProved = performance.now();
    const paid = await payEscrowed(e);
    const tPaid = performance.now();
    // The server sees the payment held for its statement before it runs the handler.
    // One call: the receipt for its escrowed condition and the escrow's state.
    const [receipt, held] = await escrow.checkEscrowedReceipt(
      e.id,
      e.terms.payTo,
      e.terms.amount,
      e.terms.conditionHash,
      await escrow.escrowStatementHash(e.statement),
    );
    const tChecked = performance.now();
    if (receipt !== 1n || Number(held) !== ESCROW_STATUS.Held) {
      throw new Error(`bench escrow: escrow ${e.id} not held after payEscrowed (receipt ${receipt}, status ${held})`);
    }
    const s = await proveInference(inferenceArtifacts, model, pixels, e.inputBlinding, BigInt(e.id));
    const tServiceProved = performance.now();
    const released = (await (
      await escrow.connect(relayer).release(e.id, e.terms.payTo, e.terms.amount, e.statement, {
        ...s.proof,
        resultCiphertext: s.publicSignals.resultCiphertext,
      })
    ).wait())!;
    const tReleased = performance.now();
    // The client: the service proof against ITS statement (published model, its own input
    // hash, its escrow id) and the ciphertext the release published, then the result.
    const ev = released.logs
      .filter((l) => l.address.toLowerCase() === fac.toLowerCase())
      .map((l) => escrow.interface.parseLog(l))
      .find((l) => l?.name === "EscrowReleased");
    if (!ev) throw new Error("bench escrow: no EscrowReleased in the release receipt");
    const ciphertext = ev.args.resultCiphertext as bigint;
    const ok = await verifyInferenceProof(inferenceVkey, s.proof, {
      modelCommitment: e.statement.modelCommitment,
      inputHash: e.statement.inputHash,
      resultCiphertext: ciphertext,
      escrowId: BigInt(e.id),
    });
    const logits = decryptResult(ciphertext, e.inputBlinding, BigInt(e.id));
    const tVerified = performance.now();
    if (!ok) throw new Error("bench escrow: the client refused a valid service proof");
    const expected = infer(model, pixels).logits;
    if (logits.join() !== expected.join()) throw new Error("bench escrow: decrypted result differs from the model's");
    if (Number(await escrow.escrowStatus(e.id)) !== ESCROW_STATUS.Released) {
      throw new Error("bench escrow: escrow not Released after release");
    }
    serviceProofs.push(s);
    payeeGot += e.terms.amount;
    gas.escrowPay.push(Number(paid.gasUsed));
    gas.release.push(Number(released.gasUsed));
    escrowSteps.push({
      provePayment: tProved - e.t0,
      payEscrowed: tPaid - tProved,
      serverCheck: tChecked - tPaid,
      proveService: tServiceProved - tChecked,
      release: tReleased - tServiceProved,
      clientVerify: tVerified - tReleased,
    });
    escrowMs.push(tVerified - e.t0);
  }

  // ------------------------------------------------------------------ measure
  const payeeBefore = (await token.balanceOf(payeeAddr)) as bigint;
  let n = 0;
  log(`${o.rounds} rounds: a plain zk-exact payment, then a proof-before-pay request (fee 0)...`);
  for (let i = 0; i < o.rounds; i++) {
    gas.pay.push(await plainPayment(notes[n++]!, false));
    await proofBeforePay(notes[n++]!, samples[(i + 1) % samples.length]!.pixels);
    log(
      `  round ${i + 1}: plain ${fmtInt(plainMs[i]!)} ms (pay ${fmtInt(gas.pay[i]!)} gas), proof before pay ` +
        `${fmtInt(escrowMs[i]!)} ms (payEscrowed ${fmtInt(gas.escrowPay[i]!)}, release ${fmtInt(gas.release[i]!)} gas; ` +
        `service proof ${fmtInt(serviceProofs[i]!.timings.witnessMs + serviceProofs[i]!.timings.proveMs)} ms)`,
    );
  }

  log(`${o.feeRounds} rounds with a relayer fee: a plain payment, an escrowed payment left to expire...`);
  const toRefund: Escrowed[] = [];
  for (let j = 0; j < o.feeRounds; j++) {
    gas.payWithFee.push(await plainPayment(notes[n++]!, true));
    const e = await escrowedPayment(notes[n++]!, samples[j % samples.length]!.pixels, true);
    gas.escrowPayWithFee.push(Number((await payEscrowed(e)).gasUsed));
    toRefund.push(e);
  }
  const payeeAfter = (await token.balanceOf(payeeAddr)) as bigint;
  if (payeeAfter - payeeBefore !== payeeGot) {
    throw new Error(`bench escrow: the payee got ${payeeAfter - payeeBefore}, expected ${payeeGot}`);
  }

  // Refunds: past every deadline, the queue emptied first (a refund commits whatever is
  // queued with its own note; measured here committing its note alone).
  const lastDeadline = toRefund.reduce((m, e) => (e.statement.deadline > m ? e.statement.deadline : m), 0n);
  await ethers.provider.send("evm_setNextBlockTimestamp", [Number(lastDeadline + 1n)]);
  await (await escrow.commitPendingLeaves(1024)).wait();
  if ((await escrow.treeSize()) !== (await escrow.leafCount())) throw new Error("bench escrow: queue not empty");
  const refundLeafIndices: number[] = [];
  for (const e of toRefund) {
    const rc = (await (
      await escrow.connect(payee).refund(e.id, e.terms.payTo, e.terms.amount, e.statement, e.refundMemo)
    ).wait())!;
    const ev = rc.logs
      .filter((l) => l.address.toLowerCase() === fac.toLowerCase())
      .map((l) => escrow.interface.parseLog(l))
      .find((l) => l?.name === "EscrowRefunded");
    if (!ev || ev.args.commitment !== refundCommitment(e.terms.amount, e.statement.refundPrecommitment)) {
      throw new Error("bench escrow: the refund note is not the payer's");
    }
    if (Number(await escrow.escrowStatus(e.id)) !== ESCROW_STATUS.Refunded) {
      throw new Error("bench escrow: escrow not Refunded after refund");
    }
    gas.refund.push(Number(rc.gasUsed));
    refundLeafIndices.push(Number(ev.args.leafIndex));
  }
  log(`refunds: ${gas.refund.map(fmtInt).join(", ")} gas at leaves ${refundLeafIndices.join(", ")}`);

  // The verifier alone, as a transaction would call it (21k base and calldata included).
  const s0 = serviceProofs[0]!;
  const serviceVerifyProofGas = Number(
    await inferenceVerifier.verifyProof.estimateGas(s0.proof.pA, s0.proof.pB, s0.proof.pC, [...s0.publicSignalList] as [
      bigint,
      bigint,
      bigint,
      bigint,
    ]),
  );

  // ------------------------------------------------------------------ figures
  const total = (r: { timings: { witnessMs: number; proveMs: number } }) => r.timings.witnessMs + r.timings.proveMs;
  const serviceProveMs = median(serviceProofs.map(total));
  const serviceWitnessMs = median(serviceProofs.map((r) => r.timings.witnessMs));
  const servicePaymentProveMs = median(paymentProofs.map(total));
  const stepMedians = <T extends object>(rows: T[]): Record<keyof T, number> =>
    Object.fromEntries(
      Object.keys(rows[0]!).map((k) => [k, round(median(rows.map((r) => r[k as keyof T] as number)))]),
    ) as Record<keyof T, number>;
  const escrowPayGas = Math.round(median(gas.escrowPay));
  const escrowBaselinePayGas = Math.round(median(gas.pay));
  const proofBeforePayComposedMs = median(escrowMs);
  const plainPayComposedMs = median(plainMs);
  return {
    escrowPayGas,
    escrowPayGasWithFee: Math.round(median(gas.escrowPayWithFee)),
    escrowBaselinePayGas,
    escrowBaselinePayGasWithFee: Math.round(median(gas.payWithFee)),
    escrowPayOverheadGas: escrowPayGas - escrowBaselinePayGas,
    releaseGas: Math.round(median(gas.release)),
    refundGas: Math.round(median(gas.refund)),
    refundLeafIndices,
    serviceVerifyProofGas,
    escrowGasSamples: gas,
    escrowLeavesAtStart: leavesAtStart,
    serviceConstraints: manifest.constraints,
    serviceCircuitVersion: manifest.version,
    serviceDevelopmentSetup: manifest.developmentSetup,
    serviceProveMs: round(serviceProveMs),
    serviceWitnessMs: round(serviceWitnessMs),
    serviceProveColdMs: round(serviceProveColdMs),
    serviceProveRuns: serviceProofs.length,
    servicePaymentProveMs: round(servicePaymentProveMs),
    servicePaymentProveRuns: paymentProofs.length,
    serviceVsPaymentProveRatio: round(serviceProveMs / servicePaymentProveMs, 2),
    serviceAnchor: SERVICE_ANCHOR,
    serviceVsAnchorConstraintsRatio: round(manifest.constraints / SERVICE_ANCHOR.constraints, 2),
    serviceVsAnchorProveRatio: round(serviceProveMs / SERVICE_ANCHOR.proveMs, 2),
    proofBeforePayComposedMs: round(proofBeforePayComposedMs),
    proofBeforePayComposedStepsMs: stepMedians(escrowSteps),
    plainPayComposedMs: round(plainPayComposedMs),
    plainPayComposedStepsMs: stepMedians(plainSteps),
    proofBeforePayVsPlainRatio: round(proofBeforePayComposedMs / plainPayComposedMs, 2),
    proofBeforePayMethod:
      "composed: SDK + contract calls on Hardhat's in-process EVM (automine), no HTTP; client prove payment -> " +
      "payEscrowed -> server checkEscrowedReceipt -> proveInference -> release -> client " +
      "verifyInferenceProof + decryptResult; plain: prove payment -> pay -> checkReceipt. Medians of " +
      `${escrowMs.length} requests each, interleaved`,
  };
}

/** The section's figures as returned by {@link benchEscrow}. */
export type EscrowBenchResult = Awaited<ReturnType<typeof benchEscrow>>;

/** The section's tables. */
export function reportEscrow(r: Record<string, unknown>): string {
  const x = r as Partial<EscrowBenchResult>;
  const g = (v: number | undefined) => (v === undefined ? "-" : fmtInt(v));
  const ms = (v: number | undefined) => (v === undefined ? "-" : v.toFixed(1));
  const steps = x.proofBeforePayComposedStepsMs;
  const plain = x.plainPayComposedStepsMs;
  return [
    `Proof before pay (bench/escrow.ts, #20): FacilitatorEscrow pool of ${g(x.escrowLeavesAtStart)} leaves, gasUsed medians`,
    table(
      ["transaction", "gas"],
      [
        ["pay (transparent, fee 0), same pool: baseline", g(x.escrowBaselinePayGas)],
        ["payEscrowed (fee 0)", g(x.escrowPayGas)],
        ["  - baseline pay", g(x.escrowPayOverheadGas)],
        ["pay with relayer fee, same pool", g(x.escrowBaselinePayGasWithFee)],
        ["payEscrowed with relayer fee", g(x.escrowPayGasWithFee)],
        ["release (inference proof verified, transfer to payee)", g(x.releaseGas)],
        ["  InferenceVerifier.verifyProof alone (estimateGas, 21k + calldata incl.)", g(x.serviceVerifyProofGas)],
        [
          `refund (refund note appended and committed; leaves ${(x.refundLeafIndices ?? []).join(", ")})`,
          g(x.refundGas),
        ],
      ],
    ),
    "",
    "Service circuit (inference-v1) vs the published anchor and the payment proof of this run",
    table(
      ["figure", "this run", "anchor / payment"],
      [
        ["constraints", g(x.serviceConstraints), `${g(SERVICE_ANCHOR.constraints)} (${SERVICE_ANCHOR.circuit})`],
        [
          `service prove ms, witness + Groth16 (median of ${x.serviceProveRuns ?? "-"})`,
          ms(x.serviceProveMs),
          `${g(SERVICE_ANCHOR.proveMs)} (x${x.serviceVsAnchorProveRatio ?? "-"})`,
        ],
        ["  witness ms (median)", ms(x.serviceWitnessMs), ""],
        ["  first proof of the section (cold)", ms(x.serviceProveColdMs), ""],
        [
          `payment prove ms, same run (median of ${x.servicePaymentProveRuns ?? "-"})`,
          ms(x.servicePaymentProveMs),
          `service / payment x${x.serviceVsPaymentProveRatio ?? "-"}`,
        ],
      ],
    ),
    "",
    "End to end, composed (no HTTP): proof-before-pay request vs plain zk-exact payment, medians (ms)",
    table(
      ["step", "proof before pay", "plain payment"],
      [
        ["client proves the payment", ms(steps?.provePayment), ms(plain?.provePayment)],
        ["payEscrowed / pay mined", ms(steps?.payEscrowed), ms(plain?.pay)],
        ["server checks the receipt (escrow held)", ms(steps?.serverCheck), ms(plain?.serverCheck)],
        ["server proves the inference", ms(steps?.proveService), "-"],
        ["release mined", ms(steps?.release), "-"],
        ["client verifies the service proof, decrypts", ms(steps?.clientVerify), "-"],
        [
          "total (median of whole requests)",
          ms(x.proofBeforePayComposedMs),
          `${ms(x.plainPayComposedMs)} (x${x.proofBeforePayVsPlainRatio ?? "-"})`,
        ],
      ],
    ),
  ].join("\n");
}
