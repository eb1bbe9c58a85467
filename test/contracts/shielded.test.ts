import { expect } from "chai";

import { ZeroAddress, id as topicOf, keccak256, toUtf8Bytes, type TransactionReceipt } from "ethers";
import { network } from "hardhat";
import type { Address, Hex } from "viem";

import { isZkPayError } from "../../sdk/core/errors.js";
import { WalletKeys } from "../../sdk/core/keys.js";
import { decryptNote, encryptNote, PAYEE_MEMO_LENGTH } from "../../sdk/core/note-encryption.js";
import { paymentContext } from "../../sdk/core/context.js";
import { commitmentOf, notePosition, nullifierHashOf } from "../../sdk/core/note.js";
import { hash1, hash2 } from "../../sdk/core/poseidon.js";
import { proveGroth16, shutdownProver } from "../../sdk/core/prover.js";
import { paymentCircuitInput, ZERO_PAYEE, type PaymentWitness } from "../../sdk/core/circuits/payment.js";
import { MAX_TREE_DEPTH, MAX_VALUE } from "../../sdk/core/field.js";
import { PAYMENT_SIGNALS } from "../../sdk/core/circuits/registry.js";
import type { MerklePath } from "../../sdk/core/tree.js";
import {
  ARTIFACTS,
  USDC,
  deployPool,
  randomBlinding,
  type OwnedNote,
  type Pool,
  type Proven,
} from "../helpers/pool.js";
import { inOrderConcurrently } from "../helpers/parallel.js";

const { ethers, networkHelpers } = await network.create();

const condition = (s: string) => keccak256(toUtf8Bytes(s)) as Hex;
const idOf = (p: Proven) => ethers.toBeHex(p.result.nullifierHash, 32);
/** What `checkShieldedReceipt` takes for a payee memo: its keccak256. */
const memoHash = (memo: Hex) => keccak256(memo) as Hex;
const TRANSFER = topicOf("Transfer(address,address,uint256)");
const STATUS = { None: 0n, Paid: 1n, Mismatch: 2n };

/** The API's wallet: its shielded address receives the payee notes. */
const API = WalletKeys.fromSeed(`0x${"a1".repeat(32)}`);
/** Another shielded payee. */
const OTHER_API = WalletKeys.fromSeed(`0x${"b2".repeat(32)}`);

describe("Facilitator: shielded payments (payTo = 0, real proofs)", function () {
  let pool: Pool;
  let relayer: Address;
  let payee: Address;
  let attacker: Address;

  async function fixture() {
    return deployPool(ethers);
  }

  beforeEach(async function () {
    pool = await networkHelpers.loadFixture(fixture);
    payee = (await pool.signers[5]!.getAddress()) as Address;
    relayer = (await pool.signers[6]!.getAddress()) as Address;
    attacker = (await pool.signers[9]!.getAddress()) as Address;
  });

  after(async function () {
    await shutdownProver();
  });

  /** The pool's events in a receipt, parsed, in log order. */
  function poolEvents(rc: TransactionReceipt) {
    return rc.logs
      .filter((l) => l.address.toLowerCase() === pool.facilitatorAddress.toLowerCase())
      .map((l) => pool.facilitator.interface.parseLog(l)!);
  }

  /** The token transfers of a receipt: [to, value]. */
  function transfers(rc: TransactionReceipt): [string, bigint][] {
    const tokenAddress = pool.token.target.toString().toLowerCase();
    return rc.logs
      .filter((l) => l.address.toLowerCase() === tokenAddress && l.topics[0] === TRANSFER)
      .map((l) => pool.token.interface.parseLog(l)!)
      .map((e) => [e.args.to as string, e.args.value as bigint]);
  }

  /**
   * Runs the payment circuit itself on `w` (no SDK pre-checks): resolves with the proof
   * only if every constraint holds.
   */
  async function circuitProves(w: PaymentWitness): Promise<boolean> {
    return proveGroth16(paymentCircuitInput(w), ARTIFACTS).then(
      () => true,
      () => false,
    );
  }

  /** The witness of a transparent withdrawal of `note` (all of it) to `to`, along `path`. */
  async function withdrawalWitness(note: OwnedNote, spendingKey: bigint, path: MerklePath, to: Address) {
    const terms = await pool.terms({ payTo: to, amount: note.value });
    const context = paymentContext({ chainId: pool.chainId, facilitator: pool.facilitatorAddress, terms, memo: "0x" });
    const w: PaymentWitness = {
      note: { value: note.value, owner: note.owner, blinding: note.blinding },
      spendingKey,
      position: { treeIndex: path.treeIndex, leafIndex: path.leafIndex },
      path,
      amount: note.value,
      fee: 0n,
      context,
      payee: ZERO_PAYEE,
      changeBlinding: 1n,
    };
    return w;
  }

  /** A shielded payment of `price` to the API from a fresh deposit of `deposit`. */
  async function shieldedPayment(o: { deposit: bigint; price: bigint; fee?: bigint; cond?: string }) {
    const note = await pool.deposit(o.deposit);
    const terms = await pool.shieldedTerms({
      relayer: o.fee ? relayer : (ZeroAddress as Address),
      fee: o.fee ?? 0n,
      conditionHash: condition(o.cond ?? "GET /weather#shielded"),
    });
    const p = await pool.prove(note, terms, { payee: { keys: API, value: o.price } });
    return { note, terms, p };
  }

  it("appends the payee note then the change note, names neither payee nor amount nor condition, pays only the fee", async function () {
    const { p } = await shieldedPayment({ deposit: USDC(5), price: USDC(1), fee: USDC(0.01) });
    expect((p.payeeMemo.length - 2) / 2).to.equal(PAYEE_MEMO_LENGTH);
    const before = await pool.facilitator.leafCount();
    const rc = (await (await pool.pay(p)).wait())!;

    // Leaves: payee (with the payee memo), then change (with the change memo).
    const events = poolEvents(rc);
    expect(events.map((e) => e.name)).to.deep.equal(["LeafInserted", "LeafInserted", "ShieldedPaymentReceipt"]);
    expect(events[0]!.args.toArray()).to.deep.equal([before, p.result.payeeCommitment, p.payeeMemo]);
    expect(events[1]!.args.toArray()).to.deep.equal([before + 1n, p.result.changeCommitment, p.memo]);
    expect(p.result.payeeCommitment).to.equal(commitmentOf(p.payee));
    expect(p.payee.owner).to.equal(API.ownerKey);
    expect(events[2]!.args.toArray()).to.deep.equal([idOf(p), p.result.payeeCommitment, relayer, USDC(0.01)]);

    // Only the fee leaves the pool; the payee note's value stays in it as backing.
    expect(transfers(rc)).to.deep.equal([[relayer, USDC(0.01)]]);
    expect(await pool.token.balanceOf(pool.facilitatorAddress)).to.equal(USDC(5) - USDC(0.01));

    // Nothing the pool logged carries the amount or the condition hash.
    const logged = rc.logs
      .filter((l) => l.address.toLowerCase() === pool.facilitatorAddress.toLowerCase())
      .flatMap((l) => [...l.topics, l.data])
      .join("")
      .toLowerCase();
    expect(logged).to.not.include(p.terms.conditionHash.slice(2).toLowerCase());
    expect(logged).to.not.include(ethers.toBeHex(USDC(1), 32).slice(2));

    // The memo on chain is what the API decrypts: the note's opening and the condition.
    const opened = decryptNote(API.viewingKey(), events[0]!.args.memo as Hex);
    expect(opened).to.deep.equal({
      value: USDC(1),
      blinding: p.payee.blinding,
      owner: API.ownerKey,
      conditionHash: p.terms.conditionHash,
    });
    expect(decryptNote(OTHER_API.viewingKey(), events[0]!.args.memo as Hex)).to.equal(undefined);
  });

  it("the receipt checks with checkShieldedReceipt, and is a Mismatch for another note, condition or payee memo", async function () {
    const { p } = await shieldedPayment({ deposit: USDC(3), price: USDC(1) });
    const id = idOf(p);
    const cond = p.terms.conditionHash;
    const mh = memoHash(p.payeeMemo);
    expect((await pool.facilitator.checkShieldedReceipt(id, p.result.payeeCommitment, cond, mh))[0]).to.equal(
      STATUS.None,
    );
    await (await pool.pay(p)).wait();

    const [status, paidAt, current] = await pool.facilitator.checkShieldedReceipt(
      id,
      p.result.payeeCommitment,
      cond,
      mh,
    );
    expect(status).to.equal(STATUS.Paid);
    expect(paidAt).to.equal(BigInt(await ethers.provider.getBlockNumber()));
    expect(current >= paidAt).to.equal(true);
    // Another payee note (same value and owner, another blinding), another condition.
    const otherNote = commitmentOf({ ...p.payee, blinding: p.payee.blinding + 1n });
    expect((await pool.facilitator.checkShieldedReceipt(id, otherNote, cond, mh))[0]).to.equal(STATUS.Mismatch);
    expect(
      (await pool.facilitator.checkShieldedReceipt(id, p.result.payeeCommitment, condition("other"), mh))[0],
    ).to.equal(STATUS.Mismatch);
    // Another payee memo (the same opening encrypted again): not the memo that went on chain.
    const reencrypted = encryptNote(API.encryptionKey, { ...p.payee, conditionHash: cond });
    expect(
      (await pool.facilitator.checkShieldedReceipt(id, p.result.payeeCommitment, cond, memoHash(reencrypted)))[0],
    ).to.equal(STATUS.Mismatch);
    // The transparent reader never sees a shielded payment as a payment, whatever it asks.
    for (const [to, amount] of [
      [ZeroAddress, 0n],
      [ZeroAddress, USDC(1)],
      [payee, USDC(1)],
    ] as const) {
      expect((await pool.facilitator.checkReceipt(id, to, amount, cond))[0]).to.equal(STATUS.Mismatch);
    }
    // Unknown id.
    expect(
      (await pool.facilitator.checkShieldedReceipt(ethers.toBeHex(123n, 32), p.result.payeeCommitment, cond, mh))[0],
    ).to.equal(STATUS.None);
    // And a transparent receipt is a Mismatch for the shielded reader.
    const note = await pool.deposit(USDC(2));
    const t = await pool.terms({ payTo: payee, amount: USDC(1), conditionHash: cond });
    const tp = await pool.prove(note, t);
    await (await pool.pay(tp)).wait();
    expect((await pool.facilitator.checkReceipt(idOf(tp), payee, USDC(1), cond))[0]).to.equal(STATUS.Paid);
    for (const m of ["0x", p.payeeMemo] as const) {
      expect(
        (await pool.facilitator.checkShieldedReceipt(idOf(tp), tp.result.payeeCommitment, cond, memoHash(m)))[0],
      ).to.equal(STATUS.Mismatch);
    }
  });

  for (const via of ["pay", "payBatch"] as const) {
    it(`audit F2: the same note settled (${via}) with another payee memo than the one shown is a Mismatch for the shown memo`, async function () {
      // The payer shows the server memo A (a valid opening of the payee note), then proves
      // the same note again with another 187-byte memo B (another context) and settles that.
      // The proofs share nullifier and payee commitment; only the memo differs, and the API's
      // wallet (which finds notes by decrypting memos on chain) would never see A on chain.
      const note = await pool.deposit(USDC(3));
      const terms = await pool.shieldedTerms({
        relayer: ZeroAddress as Address,
        fee: 0n,
        conditionHash: condition(`GET /weather#memo-swap-${via}`),
      });
      const shown = await pool.prove(note, terms, { payee: { keys: API, value: USDC(1) } });
      const memoB = `0x${"5a".repeat(PAYEE_MEMO_LENGTH)}` as Hex;
      const settled = await pool.prove(note, terms, {
        payee: { keys: API, value: USDC(1), blinding: shown.payee.blinding },
        payeeMemo: memoB,
      });
      expect(settled.result.nullifierHash).to.equal(shown.result.nullifierHash);
      expect(settled.result.payeeCommitment).to.equal(shown.result.payeeCommitment);
      // Memo A opens to the note, for this condition: what a server checks before the receipt.
      expect(decryptNote(API.viewingKey(), shown.payeeMemo)).to.deep.equal({
        value: USDC(1),
        blinding: shown.payee.blinding,
        owner: API.ownerKey,
        conditionHash: terms.conditionHash,
      });
      if (via === "pay") await (await pool.pay(settled)).wait();
      else await (await pool.facilitator.payBatch([pool.batched(settled)])).wait();

      const id = idOf(shown);
      const check = async (m: Hex) =>
        (
          await pool.facilitator.checkShieldedReceipt(
            id,
            shown.result.payeeCommitment,
            terms.conditionHash,
            memoHash(m),
          )
        )[0];
      expect(await check(shown.payeeMemo), "the memo shown to the server").to.equal(STATUS.Mismatch);
      expect(await check(memoB), "the memo on chain").to.equal(STATUS.Paid);
      // The shown proof cannot be settled any more (same nullifier).
      await expect(pool.pay(shown)).to.be.revertedWithCustomError(pool.facilitator, "FacilitatorNullifierSpent");
    });
  }

  it("the API spends the payee note it received; the payer cannot", async function () {
    const { p } = await shieldedPayment({ deposit: USDC(4), price: USDC(1.5) });
    await (await pool.facilitator.payAndCommit(pool.proofStruct(p.result), p.terms, p.memo, p.payeeMemo)).wait();
    const received = await pool.payeeNote(p, API);
    expect(received.value).to.equal(USDC(1.5));
    // The payer knows the whole opening, but not the API's spending key: the circuit
    // refuses its own key (the note's owner is not ownerKeyOf(payer's key)), and accepts
    // the API's with everything else equal.
    const path = (await pool.tree()).path(received.leafIndex);
    expect(await circuitProves(await withdrawalWitness(received, pool.keys.spendingKey(), path, attacker))).to.equal(
      false,
    );
    expect(await circuitProves(await withdrawalWitness(received, API.spendingKey(), path, attacker))).to.equal(true);
    const stolen: OwnedNote = { ...received, spendingKey: pool.keys.spendingKey() };
    const err = await pool.prove(stolen, await pool.terms({ payTo: attacker, amount: USDC(1.5) })).catch((e) => e);
    expect(isZkPayError(err, "invalid_argument"), String(err)).to.equal(true);
    expect(await pool.token.balanceOf(attacker)).to.equal(0n);
    // The API withdraws it to a public address.
    const w = await pool.prove(received, await pool.terms({ payTo: payee, amount: USDC(1.5) }));
    await (await pool.pay(w)).wait();
    expect(await pool.token.balanceOf(payee)).to.equal(USDC(1.5));
    // The payer's change (2.5) is still the payer's.
    const change = await pool.changeNote(p);
    expect(change.value).to.equal(USDC(2.5));
  });

  it("refuses a replayed shielded proof (its nullifier is spent)", async function () {
    const { p } = await shieldedPayment({ deposit: USDC(3), price: USDC(1) });
    await (await pool.pay(p)).wait();
    const leaves = await pool.facilitator.leafCount();
    await expect(pool.pay(p))
      .to.be.revertedWithCustomError(pool.facilitator, "FacilitatorNullifierSpent")
      .withArgs(idOf(p));
    // In a batch it is skipped, and appends nothing.
    const rc = (await (await pool.facilitator.payBatch([pool.batched(p)])).wait())!;
    expect(poolEvents(rc).map((e) => e.name)).to.deep.equal(["PaymentSkipped"]);
    expect(await pool.facilitator.leafCount()).to.equal(leaves);
  });

  it("refuses a redirected shielded proof: payee, amount, payee memo, change memo, note or any term changed", async function () {
    const { p } = await shieldedPayment({ deposit: USDC(3), price: USDC(1), fee: USDC(0.05), cond: "redirect" });
    const proof = pool.proofStruct(p.result);
    const t = p.terms;
    // Another 187-byte memo for the same note (fresh randomness), and one to another API.
    const reencrypted = encryptNote(API.encryptionKey, { ...p.payee, conditionHash: t.conditionHash });
    const toOther = encryptNote(OTHER_API.encryptionKey, { ...p.payee, conditionHash: t.conditionHash });
    expect(reencrypted).to.not.equal(p.payeeMemo);
    const variants: [string, typeof proof, typeof t, Hex, Hex][] = [
      // Made transparent, to the attacker: the amount in public, or nothing.
      // (refused before the proof: a transparent payment's payee note must be the empty note)
      ["payTo", proof, { ...t, payTo: attacker, amount: USDC(1) }, p.memo, "0x"],
      ["payTo, amount 0", proof, { ...t, payTo: attacker }, p.memo, "0x"],
      ["payeeMemo re-encrypted", proof, t, p.memo, reencrypted],
      ["payeeMemo to another API", proof, t, p.memo, toOther],
      ["change memo", proof, t, `0x${"00".repeat(64)}`, p.payeeMemo],
      ["payeeCommitment", { ...proof, payeeCommitment: proof.payeeCommitment + 1n }, t, p.memo, p.payeeMemo],
      ["relayer", proof, { ...t, relayer: attacker }, p.memo, p.payeeMemo],
      ["fee", proof, { ...t, fee: USDC(0.06) }, p.memo, p.payeeMemo],
      ["conditionHash", proof, { ...t, conditionHash: condition("another request") }, p.memo, p.payeeMemo],
      ["expiry", proof, { ...t, expiry: t.expiry + 1n }, p.memo, p.payeeMemo],
    ];
    for (const [name, pr, terms, memo, payeeMemo] of variants) {
      const error = name.startsWith("payTo") ? "FacilitatorTransparentPayeeNote" : "FacilitatorInvalidProof";
      await expect(pool.facilitator.pay(pr, terms, memo, payeeMemo), name).to.be.revertedWithCustomError(
        pool.facilitator,
        error,
      );
    }
    // Made transparent with the empty payee note, the proof itself fails.
    const emptied = { ...proof, payeeCommitment: await pool.facilitator.EMPTY_NOTE_COMMITMENT() };
    await expect(pool.facilitator.pay(emptied, { ...t, payTo: attacker }, p.memo, "0x")).to.be.revertedWithCustomError(
      pool.facilitator,
      "FacilitatorInvalidProof",
    );
    // The same in a batch.
    await expect(
      pool.facilitator.payBatch([{ ...pool.batched(p), payeeMemo: reencrypted }]),
    ).to.be.revertedWithCustomError(pool.facilitator, "FacilitatorInvalidProof");
    // None of it spent the note: the original settles.
    await (await pool.pay(p)).wait();
    expect(await pool.token.balanceOf(attacker)).to.equal(0n);
    expect(await pool.token.balanceOf(relayer)).to.equal(USDC(0.05));
  });

  it("refuses by name a shielded payment with a public amount or a payee memo of the wrong length, and a transparent one with a payee memo", async function () {
    const { p } = await shieldedPayment({ deposit: USDC(3), price: USDC(1) });
    const proof = pool.proofStruct(p.result);
    await expect(pool.facilitator.pay(proof, { ...p.terms, amount: 1n }, p.memo, p.payeeMemo))
      .to.be.revertedWithCustomError(pool.facilitator, "FacilitatorShieldedAmount")
      .withArgs(1n);
    for (const len of [0, 186, 188, 512]) {
      await expect(pool.facilitator.pay(proof, p.terms, p.memo, `0x${"ab".repeat(len)}`), `${len} bytes`)
        .to.be.revertedWithCustomError(pool.facilitator, "FacilitatorPayeeMemo")
        .withArgs(BigInt(len));
    }
    // payBatch applies the same checks (malformed input reverts the batch).
    await expect(pool.facilitator.payBatch([{ ...pool.batched(p), terms: { ...p.terms, amount: 5n } }]))
      .to.be.revertedWithCustomError(pool.facilitator, "FacilitatorShieldedAmount")
      .withArgs(5n);
    // Transparent: the payee memo must be empty.
    const note = await pool.deposit(USDC(2));
    const tp = await pool.prove(note, await pool.terms({ payTo: payee, amount: USDC(1) }));
    await expect(pool.facilitator.pay(pool.proofStruct(tp.result), tp.terms, tp.memo, p.payeeMemo))
      .to.be.revertedWithCustomError(pool.facilitator, "FacilitatorPayeeMemo")
      .withArgs(BigInt(PAYEE_MEMO_LENGTH));
    await expect(pool.facilitator.payBatch([{ ...pool.batched(tp), payeeMemo: "0x01" }]))
      .to.be.revertedWithCustomError(pool.facilitator, "FacilitatorPayeeMemo")
      .withArgs(1n);
    // Neither note was spent.
    await (await pool.pay(p)).wait();
    await (await pool.pay(tp)).wait();
  });

  it("refuses a transparent payment whose payee note is not the empty note (value burnt, free data) (audit F4)", async function () {
    // The circuit forces payeeValue = 0 only when amount > 0: with amount 0 a transparent
    // proof can put value (or any 254 bits) into a payee note the contract never appends.
    expect(await pool.facilitator.EMPTY_NOTE_COMMITMENT()).to.equal(
      commitmentOf({ value: 0n, owner: 0n, blinding: 0n }),
    );
    const note = await pool.deposit(USDC(2));
    const terms = await pool.terms({ payTo: payee, amount: 0n });
    const burnt = await pool.prove(note, terms, { payee: { keys: API, value: USDC(1) }, payeeMemo: "0x" });
    expect(burnt.result.payeeCommitment).to.not.equal(await pool.facilitator.EMPTY_NOTE_COMMITMENT());
    await expect(pool.facilitator.pay(pool.proofStruct(burnt.result), burnt.terms, burnt.memo, "0x"))
      .to.be.revertedWithCustomError(pool.facilitator, "FacilitatorTransparentPayeeNote")
      .withArgs(burnt.result.payeeCommitment);
    await expect(pool.facilitator.payBatch([pool.batched(burnt)])).to.be.revertedWithCustomError(
      pool.facilitator,
      "FacilitatorTransparentPayeeNote",
    );
    // The same note pays with the empty payee note.
    const ok = await pool.prove(note, terms);
    expect(ok.result.payeeCommitment).to.equal(await pool.facilitator.EMPTY_NOTE_COMMITMENT());
    await (await pool.pay(ok)).wait();
  });

  it("the on-chain context equals the SDK's, payee memo included", async function () {
    const { p } = await shieldedPayment({ deposit: USDC(2), price: USDC(1) });
    const onChain = await pool.facilitator.paymentContext(p.terms, p.memo, p.payeeMemo);
    expect(onChain).to.equal(p.result.publicSignals[PAYMENT_SIGNALS.context]);
    // Another payee memo is another context.
    const other = encryptNote(API.encryptionKey, { ...p.payee, conditionHash: p.terms.conditionHash });
    expect(await pool.facilitator.paymentContext(p.terms, p.memo, other)).to.not.equal(onChain);
  });

  it("payBatch settles shielded and transparent payments together: leaves, events, transfers, receipts", async function () {
    const notes = [
      await pool.deposit(USDC(5)),
      await pool.deposit(USDC(5)),
      await pool.deposit(USDC(5)),
      await pool.deposit(USDC(5)),
    ];
    const tree = await pool.tree();
    const terms = [
      // Transparent, to `payee`, with a fee.
      await pool.terms({ payTo: payee, amount: USDC(1), relayer, fee: USDC(0.01), conditionHash: condition("t1") }),
      // Shielded to the API, with a fee.
      await pool.shieldedTerms({ relayer, fee: USDC(0.02), conditionHash: condition("s1") }),
      // Shielded to another API, no fee.
      await pool.shieldedTerms({ conditionHash: condition("s2") }),
      // Transparent, to `payee` again.
      await pool.terms({ payTo: payee, amount: USDC(2), conditionHash: condition("t2") }),
    ];
    // Proofs against one tree snapshot are independent: made two at a time (helpers/parallel).
    const ps = await inOrderConcurrently([
      () => pool.prove(notes[0]!, terms[0]!, { atTree: tree }),
      () => pool.prove(notes[1]!, terms[1]!, { atTree: tree, payee: { keys: API, value: USDC(2) } }),
      () => pool.prove(notes[2]!, terms[2]!, { atTree: tree, payee: { keys: OTHER_API, value: USDC(0.5) } }),
      () => pool.prove(notes[3]!, terms[3]!, { atTree: tree }),
    ]);
    const first = await pool.facilitator.leafCount();
    const rc = (await (await pool.facilitator.payBatch(ps.map((p) => pool.batched(p)))).wait())!;

    // Leaves in payment order: change | payee, change | payee, change | change.
    const inserted = poolEvents(rc)
      .filter((e) => e.name === "LeafInserted")
      .map((e) => [e.args.leafIndex, e.args.commitment, e.args.memo]);
    const expected = [
      [ps[0]!.result.changeCommitment, ps[0]!.memo],
      [ps[1]!.result.payeeCommitment, ps[1]!.payeeMemo],
      [ps[1]!.result.changeCommitment, ps[1]!.memo],
      [ps[2]!.result.payeeCommitment, ps[2]!.payeeMemo],
      [ps[2]!.result.changeCommitment, ps[2]!.memo],
      [ps[3]!.result.changeCommitment, ps[3]!.memo],
    ].map(([c, m], i) => [first + BigInt(i), c, m]);
    expect(inserted).to.deep.equal(expected);
    // Committed in the same call: the pool's root covers all six.
    expect(await pool.facilitator.pendingLeafCount()).to.equal(0n);
    expect(await pool.facilitator.currentRoot()).to.equal((await pool.tree()).root);
    expect((await pool.tree()).size).to.equal(Number(first) + 6);

    // One receipt event per payment, of its kind.
    const receipts = poolEvents(rc)
      .filter((e) => e.name === "PaymentReceipt" || e.name === "ShieldedPaymentReceipt")
      .map((e) => [e.name, e.args.id]);
    expect(receipts).to.deep.equal([
      ["PaymentReceipt", idOf(ps[0]!)],
      ["ShieldedPaymentReceipt", idOf(ps[1]!)],
      ["ShieldedPaymentReceipt", idOf(ps[2]!)],
      ["PaymentReceipt", idOf(ps[3]!)],
    ]);
    // Transfers: the transparent payee once (1 + 2), the relayer once (0.01 + 0.02).
    expect(transfers(rc)).to.deep.equal([
      [payee, USDC(3)],
      [relayer, USDC(0.03)],
    ]);
    expect(await pool.token.balanceOf(pool.facilitatorAddress)).to.equal(USDC(20) - USDC(3.03));

    for (const i of [0, 3]) {
      const p = ps[i]!;
      expect((await pool.facilitator.checkReceipt(idOf(p), payee, p.terms.amount, p.terms.conditionHash))[0]).to.equal(
        STATUS.Paid,
      );
    }
    for (const i of [1, 2]) {
      const p = ps[i]!;
      expect(
        (
          await pool.facilitator.checkShieldedReceipt(
            idOf(p),
            p.result.payeeCommitment,
            p.terms.conditionHash,
            memoHash(p.payeeMemo),
          )
        )[0],
      ).to.equal(STATUS.Paid);
    }
    // Both APIs can spend what they received (payee notes are real, committed leaves).
    const got = await pool.payeeNote(ps[2]!, OTHER_API);
    const w = await pool.prove(got, await pool.terms({ payTo: attacker, amount: USDC(0.5) }));
    await (await pool.pay(w)).wait();
    expect(await pool.token.balanceOf(attacker)).to.equal(USDC(0.5));
  });

  it("two notes with equal commitments at two positions have two nullifiers; both are spent", async function () {
    // The same owner, blinding and value deposited twice: the same leaf, twice.
    const keys = pool.freshSecrets();
    const a = await pool.deposit(USDC(1), pool.signers[0], keys);
    const b = await pool.deposit(USDC(1), pool.signers[0], keys);
    expect(commitmentOf(a)).to.equal(commitmentOf(b));
    const leaves = await pool.leaves();
    expect(leaves[a.leafIndex]).to.equal(leaves[b.leafIndex]);
    expect(a.leafIndex).to.not.equal(b.leafIndex);

    const tree = await pool.tree();
    const [ta, tb] = [
      await pool.terms({ payTo: payee, amount: USDC(1) }),
      await pool.terms({ payTo: payee, amount: USDC(1) }),
    ];
    const [pa, pb] = await inOrderConcurrently([
      () => pool.prove(a, ta, { atTree: tree }),
      () => pool.prove(b, tb, { atTree: tree }),
    ]);
    expect(pa.result.nullifierHash).to.not.equal(pb.result.nullifierHash);
    // The nullifier is the key-owned one of each position.
    for (const [n, p] of [
      [a, pa],
      [b, pb],
    ] as const) {
      expect(p.result.nullifierHash).to.equal(
        nullifierHashOf(pool.keys.nullifyingKey, commitmentOf(n), notePosition(n.leafIndex, pool.treeLevels)),
      );
    }
    await (await pool.pay(pa)).wait();
    await (await pool.pay(pb)).wait();
    expect(await pool.token.balanceOf(payee)).to.equal(USDC(2));
  });

  it("a 1-unit deposit whose precommitment is another note's commitment cannot be spent as that note (leaf/node forgery)", async function () {
    // With a 2-input commitment, the same function as a tree node, a depositor could
    // choose its opaque precommitment as P = commitment of a note worth X: the chain's leaf
    // Poseidon(1, P) would then be the parent of that "note" one level below (sibling 1),
    // and a 1-unit deposit could be spent as X. The leaf's outer 1-input hash makes leaves
    // and nodes different functions: the chain's leaf is not Poseidon(1, P).
    const X = MAX_VALUE;
    const fake = { value: X, owner: pool.keys.ownerKey, blinding: randomBlinding() };
    const P = commitmentOf(fake);
    const [alice] = pool.signers;
    await (await pool.token.mint(await alice!.getAddress(), 1n)).wait();
    await (await pool.token.approve(pool.facilitatorAddress, 1n)).wait();
    await (await pool.facilitator.deposit(P, 1n, "0x")).wait();
    const leaves = await pool.leaves();
    const depositIndex = leaves.length - 1;
    const depositLeaf = leaves[depositIndex]!;
    expect(depositLeaf).to.equal(hash1(hash2(1n, P)));
    expect(depositLeaf).to.not.equal(hash2(1n, P));
    await pool.deposit(USDC(3)); // backing the attacker would drain

    // "Note" P one level below the deposit leaf: its path has sibling 1 first, then the
    // deposit leaf's own path. The circuit computes the node Poseidon(1, P), not the leaf
    // Poseidon1(Poseidon(1, P)): the path misses the root.
    const tree = await pool.tree();
    const real = tree.path(depositIndex);
    const forged = forgedPathBelow(real, 1n);
    const forgedNote: OwnedNote = { ...fake, k: -1, leafIndex: forged.leafIndex };
    expect(
      await circuitProves(await withdrawalWitness(forgedNote, pool.keys.spendingKey(), forged, attacker)),
    ).to.equal(false);
    // What the circuit computes along the forged path (the node Poseidon(1, P) carried up
    // the deposit leaf's path) is not the root.
    let node = hash2(1n, P);
    for (let l = 1; l < MAX_TREE_DEPTH; l++) {
      if (!forged.hasSibling[l]) continue;
      const right = Math.floor(forged.leafIndex / 2 ** l) % 2 === 1;
      node = right ? hash2(forged.siblings[l]!, node) : hash2(node, forged.siblings[l]!);
    }
    expect(node).to.not.equal(real.root);
    // The deposit is worth 1 unit only, as the honest path shows: the real leaf is the outer hash.
    let honest = depositLeaf;
    for (let l = 0; l < MAX_TREE_DEPTH; l++) {
      if (!real.hasSibling[l]) continue;
      const right = Math.floor(real.leafIndex / 2 ** l) % 2 === 1;
      honest = right ? hash2(real.siblings[l]!, honest) : hash2(honest, real.siblings[l]!);
    }
    expect(honest).to.equal(real.root);
    expect(await pool.token.balanceOf(attacker)).to.equal(0n);
  });
});

/**
 * The path of a leaf one level below `real`'s leaf: `sibling` on its left at level 0, then
 * `real`'s levels shifted up by one (the deposit leaf acting as the node above).
 */
function forgedPathBelow(real: MerklePath, sibling: bigint): MerklePath {
  return {
    ...real,
    leafIndex: 2 * real.leafIndex + 1,
    hasSibling: [true, ...real.hasSibling.slice(0, MAX_TREE_DEPTH - 1)],
    siblings: [sibling, ...real.siblings.slice(0, MAX_TREE_DEPTH - 1)],
  };
}
