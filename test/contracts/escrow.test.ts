import { expect } from "chai";
import { keccak256, toUtf8Bytes, ZeroAddress } from "ethers";
import { network } from "hardhat";
import type { Address, Hex } from "viem";

import { proofStructOf, provePayment } from "../../sdk/core/circuits/payment.js";
import { proveInference, type InferenceProofResult } from "../../sdk/core/circuits/inference.js";
import {
  escrowedPaymentContext,
  escrowReceiptCondition,
  escrowStatementHash,
  ESCROW_STATUS,
  refundCommitment,
  type EscrowStatement,
} from "../../sdk/core/escrow.js";
import { decryptResult, inputHashOf } from "../../sdk/core/inference/io.js";
import { infer, modelCommitmentOf, type InferenceModel } from "../../sdk/core/inference/model.js";
import { commitmentOf, notePosition, precommitmentOf } from "../../sdk/core/note.js";
import type { PaymentTerms } from "../../sdk/core/context.js";
import { shutdownProver } from "../../sdk/core/prover.js";
import { artifactsOf, loadInferenceModel, loadInferenceSamples } from "../../sdk/node/artifacts.js";
import { ARTIFACTS, USDC, deployPool, randomBlinding, type OwnedNote, type Pool } from "../helpers/pool.js";

const { ethers, networkHelpers } = await network.create();

const INFERENCE = artifactsOf("inference");
const model: InferenceModel = loadInferenceModel();
const samples = loadInferenceSamples();
const condition = keccak256(toUtf8Bytes("POST /infer")) as Hex;
const idOf = (n: bigint) => ethers.toBeHex(n, 32) as Hex;

/**
 * FacilitatorEscrow (contracts/extensions): proof before pay on Hardhat's EVM with real
 * payment proofs and real inference proofs (the committed `inference` circuit and the
 * generated InferenceVerifier). Each escrow is one payment proof (~2 s); the service proofs
 * (~1.5 s each) are shared across the cases that only need one.
 */
describe("FacilitatorEscrow: proof before pay (real payment and inference proofs)", function () {
  let pool: Pool;
  let escrow: Awaited<ReturnType<typeof escrowOf>>;
  let verifier: Address;
  let payee: Address;
  let relayer: Address;

  async function escrowOf(p: Pool) {
    return ethers.getContractAt("FacilitatorEscrow", p.facilitatorAddress);
  }

  before(async function () {
    pool = await deployPool(ethers, { escrow: true });
    escrow = await escrowOf(pool);
    verifier = pool.escrow!.serviceVerifiers.inference!;
    payee = (await pool.signers[5]!.getAddress()) as Address;
    relayer = (await pool.signers[6]!.getAddress()) as Address;
  });

  after(async function () {
    await shutdownProver();
  });

  /** A payer's escrowed payment, as the wallet builds it: statement, refund note, input blinding. */
  interface Escrowed {
    note: OwnedNote;
    terms: PaymentTerms;
    memo: Hex;
    statement: EscrowStatement;
    refundMemo: Hex;
    refundBlinding: bigint;
    inputBlinding: bigint;
    pixels: number[];
    id: Hex;
    proof: ReturnType<typeof proofStructOf>;
  }

  /** Deposits a note and proves an escrowed payment of `amount` to `payee` for `pixels`. */
  async function proveEscrowed(amount: bigint, pixels: number[], over: Partial<EscrowStatement> = {}) {
    const note = await pool.deposit(USDC(5));
    const terms = await pool.terms({ payTo: payee, amount, conditionHash: condition, relayer, fee: 1n });
    const inputBlinding = randomBlinding();
    const refundBlinding = randomBlinding();
    const refundMemo = pool.keys.encodeMemo(900 + note.k, amount);
    const statement: EscrowStatement = {
      verifier,
      modelCommitment: model.modelCommitment,
      inputHash: inputHashOf(pixels, inputBlinding),
      deadline: terms.expiry + 600n,
      refundPrecommitment: precommitmentOf(pool.keys.ownerKey, refundBlinding),
      refundMemoHash: ethers.keccak256(refundMemo) as Hex,
      ...over,
    };
    const change = pool.freshSecrets();
    const memo = pool.keys.encodeMemo(change.k, note.value - amount - terms.fee);
    const tree = await pool.tree();
    const result = await provePayment(
      {
        note: { value: note.value, owner: note.owner, blinding: note.blinding },
        spendingKey: pool.keys.spendingKey(),
        position: notePosition(note.leafIndex, pool.treeLevels),
        path: tree.path(note.leafIndex),
        amount: terms.amount,
        fee: terms.fee,
        context: escrowedPaymentContext({
          chainId: pool.chainId,
          facilitator: pool.facilitatorAddress,
          terms,
          memo,
          statement,
        }),
        payee: { value: 0n, owner: 0n, blinding: 0n },
        changeBlinding: change.blinding,
      },
      ARTIFACTS,
    );
    const e: Escrowed = {
      note,
      terms,
      memo,
      statement,
      refundMemo,
      refundBlinding,
      inputBlinding,
      pixels,
      id: idOf(result.nullifierHash),
      proof: proofStructOf(result),
    };
    return e;
  }

  const payEscrowed = (e: Escrowed, statement = e.statement, refundMemo = e.refundMemo) =>
    escrow.payEscrowed(e.proof, e.terms, e.memo, "0x", statement, refundMemo);

  const release = (e: Escrowed, s: InferenceProofResult, over: { payTo?: Address; amount?: bigint } = {}) =>
    escrow.release(e.id, over.payTo ?? e.terms.payTo, over.amount ?? e.terms.amount, e.statement, {
      ...s.proof,
      resultCiphertext: s.publicSignals.resultCiphertext,
    });

  const refund = (e: Escrowed, memo = e.refundMemo) =>
    escrow.refund(e.id, e.terms.payTo, e.terms.amount, e.statement, memo);

  const serviceProof = (e: Escrowed, m: InferenceModel = model, pixels = e.pixels, id = e.id) =>
    proveInference(INFERENCE, m, pixels, e.inputBlinding, BigInt(id));

  it("the SDK computes the statement hash and the escrowed context as the contract does", async function () {
    const e = await proveEscrowed(USDC(0.5), samples[0]!.pixels);
    expect(await escrow.escrowStatementHash(e.statement)).to.equal(escrowStatementHash(e.statement));
    expect(await escrow.escrowedPaymentContext(e.terms, e.memo, "0x", e.statement)).to.equal(
      escrowedPaymentContext({
        chainId: pool.chainId,
        facilitator: pool.facilitatorAddress,
        terms: e.terms,
        memo: e.memo,
        statement: e.statement,
      }),
    );
    // ...and a plain payment's context is not an escrowed one's (the extension hash is appended).
    expect(await escrow.paymentContext(e.terms, e.memo, "0x")).to.not.equal(
      await escrow.escrowedPaymentContext(e.terms, e.memo, "0x", e.statement),
    );
  });

  describe("an escrow released against a valid inference proof", function () {
    let e: Escrowed;
    let good: InferenceProofResult;

    before(async function () {
      e = await proveEscrowed(USDC(0.25), samples[3]!.pixels);
    });

    it("cannot be settled as a plain payment, nor under another statement (the proof binds it)", async function () {
      // The API (or anyone holding the payment) tries to take the money without proving.
      await expect(escrow.pay(e.proof, e.terms, e.memo, "0x")).to.be.revertedWithCustomError(
        escrow,
        "FacilitatorInvalidProof",
      );
      await expect(
        escrow.payBatch([{ proof: e.proof, terms: e.terms, memo: e.memo, payeeMemo: "0x" }]),
      ).to.be.revertedWithCustomError(escrow, "FacilitatorInvalidProof");
      // A later deadline, another model, input or refund note: another context.
      for (const over of [
        { deadline: e.statement.deadline + 1n },
        { modelCommitment: e.statement.modelCommitment + 1n },
        { inputHash: e.statement.inputHash + 1n },
        { refundPrecommitment: e.statement.refundPrecommitment + 1n },
      ]) {
        await expect(payEscrowed(e, { ...e.statement, ...over })).to.be.revertedWithCustomError(
          escrow,
          "FacilitatorInvalidProof",
        );
      }
    });

    it("payEscrowed holds the amount in the pool, pays the relayer's fee, and records the receipt", async function () {
      const poolBefore = await pool.token.balanceOf(pool.facilitatorAddress);
      const payeeBefore = await pool.token.balanceOf(payee);
      const rc = await (await payEscrowed(e)).wait();
      const names = rc!.logs
        .filter((l) => l.address.toLowerCase() === pool.facilitatorAddress.toLowerCase())
        .map((l) => escrow.interface.parseLog(l)!.name);
      // The change note, the payment's receipt, then the escrow: no Transfer to the payee.
      expect(names).to.deep.equal(["LeafInserted", "PaymentReceipt", "EscrowHeld"]);
      expect(await pool.token.balanceOf(payee)).to.equal(payeeBefore);
      // Only the fee left the pool; the payee's amount is held.
      expect(await pool.token.balanceOf(pool.facilitatorAddress)).to.equal(poolBefore - e.terms.fee);
      expect(await escrow.escrowStatus(e.id)).to.equal(ESCROW_STATUS.Held);
      // A plain receipt check refuses it (Mismatch = 2): the payee is not paid yet, and the
      // payer could refund it to itself later (#20 audit, C1). The escrowed check sees it
      // paid into escrow, and held.
      const [plain] = await escrow.checkReceipt(e.id, e.terms.payTo, e.terms.amount, e.terms.conditionHash);
      expect(plain).to.equal(2n);
      const [receipt, held] = await escrow.checkEscrowedReceipt(
        e.id,
        e.terms.payTo,
        e.terms.amount,
        e.terms.conditionHash,
        escrowStatementHash(e.statement),
      );
      expect([receipt, held]).to.deep.equal([1n, BigInt(ESCROW_STATUS.Held)]);
      // The event carries the escrowed condition, and everything a keeper needs to refund.
      const parsed = rc!.logs.map((l) => escrow.interface.parseLog(l));
      const receiptEv = parsed.find((l) => l?.name === "PaymentReceipt")!;
      expect(receiptEv.args.conditionHash).to.equal(escrowReceiptCondition(e.terms.conditionHash, e.statement));
      const heldEv = parsed.find((l) => l?.name === "EscrowHeld")!;
      expect(heldEv.args.refundMemo).to.equal(e.refundMemo);
      expect(heldEv.args.statement.inputHash).to.equal(e.statement.inputHash);
    });

    it("refuses a proof for another input, model, output or escrow (EscrowInvalidServiceProof)", async function () {
      good = await serviceProof(e);
      // Another input (the payer's is bound by inputHash in the statement).
      const otherInput = await serviceProof(e, model, samples[4]!.pixels);
      await expect(release(e, otherInput)).to.be.revertedWithCustomError(escrow, "EscrowInvalidServiceProof");
      // Another model: one weight flipped; the circuit proves it, under its own commitment.
      const w1Bits = model.w1Bits.map((row) => [...row]);
      w1Bits[0]![0] = w1Bits[0]![0] === 1 ? 0 : 1;
      const tampered = { ...model, w1Bits, modelCommitment: 0n };
      const other: InferenceModel = { ...tampered, modelCommitment: modelCommitmentOf(tampered) };
      const otherModel = await serviceProof(e, other);
      expect(otherModel.publicSignals.modelCommitment).to.not.equal(model.modelCommitment);
      await expect(release(e, otherModel)).to.be.revertedWithCustomError(escrow, "EscrowInvalidServiceProof");
      // Another output: the valid proof with another result ciphertext.
      await expect(
        release(e, {
          ...good,
          publicSignals: { ...good.publicSignals, resultCiphertext: good.publicSignals.resultCiphertext + 1n },
        }),
      ).to.be.revertedWithCustomError(escrow, "EscrowInvalidServiceProof");
      // Another escrow: a valid proof of the same input and model, made for another id.
      const forOther = await serviceProof(e, model, e.pixels, idOf(BigInt(e.id) + 1n));
      await expect(release(e, forOther)).to.be.revertedWithCustomError(escrow, "EscrowInvalidServiceProof");
      // A non-canonical ciphertext is named as such.
      await expect(
        release(e, { ...good, publicSignals: { ...good.publicSignals, resultCiphertext: 1n << 255n } }),
      ).to.be.revertedWithCustomError(escrow, "FacilitatorInputOutOfField");
      expect(await escrow.escrowStatus(e.id)).to.equal(ESCROW_STATUS.Held);
    });

    it("refuses another payee, amount or statement (the API cannot redirect the escrow)", async function () {
      const attacker = (await pool.signers[9]!.getAddress()) as Address;
      await expect(release(e, good, { payTo: attacker })).to.be.revertedWithCustomError(
        escrow,
        "EscrowStatementMismatch",
      );
      await expect(release(e, good, { amount: e.terms.amount + 1n })).to.be.revertedWithCustomError(
        escrow,
        "EscrowStatementMismatch",
      );
      await expect(
        escrow.release(
          e.id,
          e.terms.payTo,
          e.terms.amount,
          { ...e.statement, deadline: e.statement.deadline + 3600n },
          {
            ...good.proof,
            resultCiphertext: good.publicSignals.resultCiphertext,
          },
        ),
      ).to.be.revertedWithCustomError(escrow, "EscrowStatementMismatch");
      await expect(refund(e)).to.be.revertedWithCustomError(escrow, "EscrowRefundTooEarly");
    });

    it("releases to the payee, publishes the result encrypted to the payer, and only once", async function () {
      const before = await pool.token.balanceOf(payee);
      // Anyone may submit the proof (here a third account): the money goes to payTo.
      const rc = await (
        await escrow.connect(pool.signers[8]!).release(e.id, e.terms.payTo, e.terms.amount, e.statement, {
          ...good.proof,
          resultCiphertext: good.publicSignals.resultCiphertext,
        })
      ).wait();
      expect(await pool.token.balanceOf(payee)).to.equal(before + e.terms.amount);
      expect(await escrow.escrowStatus(e.id)).to.equal(ESCROW_STATUS.Released);
      const ev = rc!.logs.map((l) => escrow.interface.parseLog(l)).find((l) => l?.name === "EscrowReleased")!;
      // The payer decrypts the result from the chain alone, with its input blinding.
      const logits = decryptResult(ev.args.resultCiphertext as bigint, e.inputBlinding, BigInt(e.id));
      expect(logits).to.deep.equal(infer(model, e.pixels).logits);
      await expect(release(e, good)).to.be.revertedWithCustomError(escrow, "EscrowAlreadyReleased");
      await networkHelpers.time.increaseTo(e.statement.deadline + 1n);
      await expect(refund(e)).to.be.revertedWithCustomError(escrow, "EscrowAlreadyReleased");
    });
  });

  describe("an escrow the payee never releases", function () {
    let e: Escrowed;
    let good: InferenceProofResult;

    before(async function () {
      e = await proveEscrowed(USDC(0.75), samples[7]!.pixels);
      await (await payEscrowed(e)).wait();
      good = await serviceProof(e);
    });

    it("cannot be refunded before its deadline, not even at it (EscrowRefundTooEarly)", async function () {
      await expect(refund(e)).to.be.revertedWithCustomError(escrow, "EscrowRefundTooEarly");
      await networkHelpers.time.setNextBlockTimestamp(e.statement.deadline);
      await expect(refund(e)).to.be.revertedWithCustomError(escrow, "EscrowRefundTooEarly");
    });

    it("cannot be released after its deadline (EscrowExpired)", async function () {
      await networkHelpers.time.increaseTo(e.statement.deadline + 1n);
      await expect(release(e, good)).to.be.revertedWithCustomError(escrow, "EscrowExpired");
    });

    it("refunds into the payer's note, with the payer's memo only, and once", async function () {
      await expect(refund(e, "0x1234")).to.be.revertedWithCustomError(escrow, "EscrowRefundMemoMismatch");
      const poolBefore = await pool.token.balanceOf(pool.facilitatorAddress);
      // Anyone may refund (a keeper, the payee): the note is the payer's either way.
      const rc = await (
        await escrow.connect(pool.signers[9]!).refund(e.id, e.terms.payTo, e.terms.amount, e.statement, e.refundMemo)
      ).wait();
      const parsed = rc!.logs.map((l) => escrow.interface.parseLog(l));
      const refunded = parsed.find((l) => l?.name === "EscrowRefunded")!;
      const inserted = parsed.find((l) => l?.name === "LeafInserted")!;
      const expected = refundCommitment(e.terms.amount, e.statement.refundPrecommitment);
      expect(refunded.args.commitment).to.equal(expected);
      expect(inserted.args.commitment).to.equal(expected);
      expect(inserted.args.memo).to.equal(e.refundMemo);
      // Nothing left the pool: the held tokens now back the refund note.
      expect(await pool.token.balanceOf(pool.facilitatorAddress)).to.equal(poolBefore);
      expect(await escrow.escrowStatus(e.id)).to.equal(ESCROW_STATUS.Refunded);
      await expect(refund(e)).to.be.revertedWithCustomError(escrow, "EscrowAlreadyRefunded");
      await expect(release(e, good)).to.be.revertedWithCustomError(escrow, "EscrowAlreadyRefunded");

      // The payer spends the refund note like any other (it was committed by the refund).
      const opening = { value: e.terms.amount, owner: pool.keys.ownerKey, blinding: e.refundBlinding };
      expect(commitmentOf(opening)).to.equal(expected);
      const note: OwnedNote = { ...opening, k: -1, leafIndex: Number(inserted.args.leafIndex) };
      const t = await pool.terms({ payTo: payee, amount: e.terms.amount, conditionHash: condition });
      const spent = await pool.prove(note, t);
      const payeeBefore = await pool.token.balanceOf(payee);
      await (await pool.pay(spent)).wait();
      expect(await pool.token.balanceOf(payee)).to.equal(payeeBefore + e.terms.amount);
    });
  });

  describe("what payEscrowed refuses before proving anything", function () {
    let e: Escrowed;
    before(async function () {
      e = await proveEscrowed(USDC(0.1), samples[1]!.pixels);
    });

    it("an unregistered verifier, a deadline not after the expiry, a shielded or zero payment", async function () {
      await expect(payEscrowed(e, { ...e.statement, verifier: payee })).to.be.revertedWithCustomError(
        escrow,
        "EscrowUnknownVerifier",
      );
      await expect(payEscrowed(e, { ...e.statement, deadline: e.terms.expiry })).to.be.revertedWithCustomError(
        escrow,
        "EscrowDeadlineTooSoon",
      );
      await expect(
        escrow.payEscrowed(
          e.proof,
          { ...e.terms, payTo: ZeroAddress as Address, amount: 0n },
          e.memo,
          "0x",
          e.statement,
          e.refundMemo,
        ),
      ).to.be.revertedWithCustomError(escrow, "EscrowUnsupportedPayment");
      await expect(payEscrowed(e, { ...e.statement, inputHash: 1n << 255n })).to.be.revertedWithCustomError(
        escrow,
        "FacilitatorInputOutOfField",
      );
      // The refund memo published must be the one the statement binds.
      await expect(payEscrowed(e, e.statement, "0x1234")).to.be.revertedWithCustomError(
        escrow,
        "EscrowRefundMemoMismatch",
      );
    });

    it("only the operator registers verifiers, and only contracts", async function () {
      await expect(escrow.connect(pool.signers[3]!).registerServiceVerifier(verifier)).to.be.revertedWithCustomError(
        escrow,
        "EscrowNotOperator",
      );
      await expect(escrow.registerServiceVerifier(payee)).to.be.revertedWithCustomError(
        escrow,
        "FacilitatorInvalidConfig",
      );
      expect(await escrow.isServiceVerifier(verifier)).to.equal(true);
    });

    it("plain payments on the escrow pool are paid out at once, as on the plain Facilitator", async function () {
      const note = await pool.deposit(USDC(1));
      const t = await pool.terms({ payTo: payee, amount: USDC(0.3), conditionHash: condition });
      const p = await pool.prove(note, t);
      const before = await pool.token.balanceOf(payee);
      await (await pool.pay(p)).wait();
      expect(await pool.token.balanceOf(payee)).to.equal(before + USDC(0.3));
      expect(await escrow.escrowStatus(idOf(p.result.nullifierHash))).to.equal(ESCROW_STATUS.None);
    });
  });
});
