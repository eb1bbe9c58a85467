import { expect } from "chai";
import { ZeroHash, keccak256, toUtf8Bytes } from "ethers";
import { network } from "hardhat";
import type { Address, Hex } from "viem";

import { ALLOW_DEVELOPMENT_SETUP_VALUE } from "../../sdk/cli/doctor.js";
import { permitTypes, receiveWithAuthorizationTypes } from "../../sdk/core/eip712.js";
import { isZkPayError } from "../../sdk/core/errors.js";
import { SNARK_SCALAR_FIELD } from "../../sdk/core/field.js";
import { commitmentOf, notePosition, nullifierHashOf, precommitmentOf } from "../../sdk/core/note.js";
import { shutdownProver } from "../../sdk/core/prover.js";
import { NoteTree } from "../../sdk/core/tree.js";
import { USDC, deployPool, type Pool } from "../helpers/pool.js";
import { inOrderConcurrently } from "../helpers/parallel.js";

const { ethers, networkHelpers } = await network.create();

const condition = (s: string) => keccak256(toUtf8Bytes(s)) as Hex;

describe("Facilitator: deposits, payments, receipts (real proofs)", function () {
  let pool: Pool;
  let payee: Address;
  let relayer: Address;

  async function fixture() {
    return deployPool(ethers);
  }

  beforeEach(async function () {
    pool = await networkHelpers.loadFixture(fixture);
    payee = (await pool.signers[5]!.getAddress()) as Address;
    relayer = (await pool.signers[6]!.getAddress()) as Address;
  });

  after(async function () {
    await shutdownProver();
  });

  it("deposit -> pay -> receipt readable in one call", async function () {
    const note = await pool.deposit(USDC(5));
    expect(await pool.token.balanceOf(pool.facilitatorAddress)).to.equal(USDC(5));
    // The chain computed the leaf from the deposited value: it must be the note's commitment.
    expect((await pool.tree()).leaf(note.leafIndex)).to.equal(commitmentOf(note));

    const terms = await pool.terms({
      payTo: payee,
      amount: USDC(1),
      relayer,
      fee: USDC(0.01),
      conditionHash: condition("GET /weather#1"),
    });
    const p = await pool.prove(note, terms);
    const id = ethers.toBeHex(p.result.nullifierHash, 32);
    await expect(pool.facilitator.pay(pool.proofStruct(p.result), terms, p.memo, p.payeeMemo))
      .to.emit(pool.facilitator, "PaymentReceipt")
      .withArgs(id, USDC(1), terms.conditionHash, payee, relayer, USDC(0.01));

    expect(await pool.token.balanceOf(payee)).to.equal(USDC(1));
    expect(await pool.token.balanceOf(relayer)).to.equal(USDC(0.01));
    expect(await pool.token.balanceOf(pool.facilitatorAddress)).to.equal(USDC(5) - USDC(1.01));

    const [status, paidAt, current] = await pool.facilitator.checkReceipt(id, payee, USDC(1), terms.conditionHash);
    expect(status).to.equal(1n); // Paid
    expect(paidAt).to.equal(BigInt(await ethers.provider.getBlockNumber()));
    expect(current >= paidAt).to.equal(true);
    // Same id, other terms: the server sees a mismatch, not a payment.
    expect((await pool.facilitator.checkReceipt(id, payee, USDC(2), terms.conditionHash))[0]).to.equal(2n);
    expect((await pool.facilitator.checkReceipt(id, relayer, USDC(1), terms.conditionHash))[0]).to.equal(2n);
    expect((await pool.facilitator.checkReceipt(id, payee, USDC(1), condition("other")))[0]).to.equal(2n);
    // Unknown id: none.
    expect(
      (await pool.facilitator.checkReceipt(ethers.toBeHex(123n, 32), payee, USDC(1), terms.conditionHash))[0],
    ).to.equal(0n);
    expect(await pool.facilitator.isSpent(p.result.nullifierHash)).to.equal(true);
  });

  it("refuses a double spend, with the same proof or a fresh one", async function () {
    const note = await pool.deposit(USDC(3));
    const t1 = await pool.terms({ payTo: payee, amount: USDC(1) });
    const p1 = await pool.prove(note, t1);
    await (await pool.facilitator.pay(pool.proofStruct(p1.result), t1, p1.memo, p1.payeeMemo)).wait();
    await expect(pool.facilitator.pay(pool.proofStruct(p1.result), t1, p1.memo, p1.payeeMemo))
      .to.be.revertedWithCustomError(pool.facilitator, "FacilitatorNullifierSpent")
      .withArgs(ethers.toBeHex(p1.result.nullifierHash, 32));
    // A new, valid proof over the same note (against the newer root) is refused too.
    const t2 = await pool.terms({ payTo: payee, amount: USDC(1), conditionHash: condition("second") });
    const p2 = await pool.prove(note, t2);
    await expect(
      pool.facilitator.pay(pool.proofStruct(p2.result), t2, p2.memo, p2.payeeMemo),
    ).to.be.revertedWithCustomError(pool.facilitator, "FacilitatorNullifierSpent");
    expect(await pool.token.balanceOf(payee)).to.equal(USDC(1));
  });

  it("refuses a valid proof replayed with any other term", async function () {
    const note = await pool.deposit(USDC(3));
    const terms = await pool.terms({
      payTo: payee,
      amount: USDC(1),
      relayer,
      fee: USDC(0.1),
      conditionHash: condition("c"),
    });
    const p = await pool.prove(note, terms);
    const proof = pool.proofStruct(p.result);
    const attacker = (await pool.signers[9]!.getAddress()) as Address;
    const variants = {
      payTo: { ...terms, payTo: attacker },
      amount: { ...terms, amount: USDC(0.5) },
      relayer: { ...terms, relayer: attacker },
      fee: { ...terms, fee: USDC(0.2) },
      conditionHash: { ...terms, conditionHash: condition("other request") },
      expiry: { ...terms, expiry: terms.expiry + 1n },
    };
    for (const [field, t] of Object.entries(variants)) {
      await expect(pool.facilitator.pay(proof, t, p.memo, p.payeeMemo), field).to.be.revertedWithCustomError(
        pool.facilitator,
        "FacilitatorInvalidProof",
      );
    }
    // Another memo (e.g. a front-runner making the change note unrecoverable).
    await expect(pool.facilitator.pay(proof, terms, "0x1234", "0x")).to.be.revertedWithCustomError(
      pool.facilitator,
      "FacilitatorInvalidProof",
    );
    // Another contract: a second pool on this chain with the same tree state.
    const other = await deployPool(ethers);
    await other.deposit(USDC(3), undefined, note);
    expect(await other.facilitator.currentRoot()).to.equal(await pool.facilitator.currentRoot());
    await expect(other.facilitator.pay(proof, terms, p.memo, p.payeeMemo)).to.be.revertedWithCustomError(
      other.facilitator,
      "FacilitatorInvalidProof",
    );
    // The original still settles: nothing above consumed the note.
    await (await pool.facilitator.pay(proof, terms, p.memo, p.payeeMemo)).wait();
    expect(await pool.token.balanceOf(payee)).to.equal(USDC(1));
  });

  it("refuses another split of the same public value (amount + fee) in pay, payAndCommit and payBatch", async function () {
    // payment-v2 has one public value, amount + fee: the split is bound only by the context
    // (a hash of the terms). A relayer that re-splits a (3, 1) proof as (2, 2) takes the
    // payee's money; as (4, 0) or (0, 4) it moves it between payee and relayer. All refused.
    const note = await pool.deposit(USDC(5));
    const terms = await pool.terms({ payTo: payee, amount: USDC(3), relayer, fee: USDC(1) });
    const p = await pool.prove(note, terms);
    const proof = pool.proofStruct(p.result);
    for (const [amount, fee] of [
      [USDC(2), USDC(2)],
      [USDC(4), 0n],
      [0n, USDC(4)],
    ] as const) {
      const t = { ...terms, amount, fee };
      const label = `(${amount}, ${fee})`;
      await expect(pool.facilitator.pay(proof, t, p.memo, p.payeeMemo), `pay ${label}`).to.be.revertedWithCustomError(
        pool.facilitator,
        "FacilitatorInvalidProof",
      );
      await expect(
        pool.facilitator.payAndCommit(proof, t, p.memo, p.payeeMemo),
        `payAndCommit ${label}`,
      ).to.be.revertedWithCustomError(pool.facilitator, "FacilitatorInvalidProof");
      const b = pool.batched(p);
      await expect(
        pool.facilitator.payBatch([{ ...b, terms: { ...b.terms, amount, fee } }]),
        `payBatch ${label}`,
      ).to.be.revertedWithCustomError(pool.facilitator, "FacilitatorInvalidProof");
    }
    // The honest split still settles.
    await (await pool.facilitator.pay(proof, terms, p.memo, p.payeeMemo)).wait();
    expect(await pool.token.balanceOf(payee)).to.equal(USDC(3));
    expect(await pool.token.balanceOf(relayer)).to.equal(USDC(1));
  });

  it("refuses the proof on another chain", async function () {
    const note = await pool.deposit(USDC(2));
    const p = await pool.prove(note, await pool.terms({ payTo: payee, amount: USDC(1) }));
    // Same deployer, same nonces: the pool lands at the same address on the other chain.
    const otherChain = await network.create({ override: { chainId: 8453 } });
    // Chain id 8453 on a local node: the deploy guard sees a real network, so the test
    // names the development-setup risk as an operator would have to.
    const other = await deployPool(otherChain.ethers, { allowDevelopmentSetup: ALLOW_DEVELOPMENT_SETUP_VALUE });
    expect(other.facilitatorAddress).to.equal(pool.facilitatorAddress);
    expect(other.chainId).to.equal(8453);
    await other.deposit(USDC(2), undefined, note);
    expect(await other.facilitator.currentRoot()).to.equal(p.result.root);
    await expect(
      other.facilitator.pay(pool.proofStruct(p.result), p.terms, p.memo, p.payeeMemo),
    ).to.be.revertedWithCustomError(other.facilitator, "FacilitatorInvalidProof");
    await otherChain.close?.();
  });

  it("refuses unknown and too-old roots; accepts a slightly old one", async function () {
    const small = await deployPool(ethers, { rootHistorySize: 4 });
    const note = await small.deposit(USDC(2));
    const terms = await small.terms({ payTo: payee, amount: USDC(1) });
    const p = await small.prove(note, terms);
    const proof = small.proofStruct(p.result);
    // A root that never existed.
    await expect(small.facilitator.pay({ ...proof, root: proof.root + 1n }, terms, p.memo, p.payeeMemo))
      .to.be.revertedWithCustomError(small.facilitator, "FacilitatorUnknownRoot")
      .withArgs(proof.root + 1n, proof.treeSize);
    // The right root at the wrong position, and a position in the future.
    await expect(
      small.facilitator.pay({ ...proof, treeSize: proof.treeSize + 1n }, terms, p.memo, p.payeeMemo),
    ).to.be.revertedWithCustomError(small.facilitator, "FacilitatorUnknownRoot");
    // Three more inserts: the root is 3 behind, still in a history of 4.
    for (let i = 0; i < 3; i++) await small.deposit(USDC(1), small.signers[1]);
    expect(await small.facilitator.isKnownRoot(proof.root, proof.treeSize)).to.equal(true);
    // One more: it has left the history.
    await small.deposit(USDC(1), small.signers[1]);
    expect(await small.facilitator.isKnownRoot(proof.root, proof.treeSize)).to.equal(false);
    await expect(small.facilitator.pay(proof, terms, p.memo, p.payeeMemo)).to.be.revertedWithCustomError(
      small.facilitator,
      "FacilitatorUnknownRoot",
    );
    // Re-proving against the current root works.
    const fresh = await small.prove(note, terms);
    await (await small.facilitator.pay(small.proofStruct(fresh.result), terms, fresh.memo, fresh.payeeMemo)).wait();
    expect(await small.token.balanceOf(payee)).to.equal(USDC(1));
  });

  it("prewarms the root history without creating a root or touching real ones", async function () {
    const cold = await deployPool(ethers, { rootHistorySize: 8 });
    const warm = await deployPool(ethers, { rootHistorySize: 8 });
    await (await warm.facilitator.prewarmRootHistory(0, 100)).wait(); // count is clamped to the ring
    const PLACEHOLDER = (1n << 256n) - 1n;
    expect(await warm.facilitator.currentRoot()).to.equal(0n); // empty tree: no root
    for (let size = 0; size < 8; size++) {
      expect(await warm.facilitator.isKnownRoot(PLACEHOLDER, size)).to.equal(false);
    }
    // A first insert into prewarmed slots costs ~17.1k gas less per slot than into fresh
    // ones: the history keeps two per root (the root and the size it was recorded at).
    const gasOf = async (p: Pool) => {
      const note = p.freshSecrets();
      await (await p.token.mint(await p.signers[0]!.getAddress(), 10n)).wait();
      await (await p.token.approve(p.facilitatorAddress, 10n)).wait();
      const rc = await (await p.facilitator.deposit(precommitmentOf(note.owner, note.blinding), 10n, "0x")).wait();
      return rc!.gasUsed;
    };
    const saved = (await gasOf(cold)) - (await gasOf(warm));
    expect(saved > 2n * 15_000n && saved < 2n * 20_000n, `saved ${saved}`).to.equal(true);
    // Real roots are never overwritten by a later prewarm, and payments still settle.
    const root = await warm.facilitator.currentRoot();
    await (await warm.facilitator.prewarmRootHistory(0, 8)).wait();
    expect(await warm.facilitator.isKnownRoot(root, 1)).to.equal(true);
    const note = await warm.deposit(USDC(1));
    const terms = await warm.terms({ payTo: payee, amount: USDC(0.5) });
    const p = await warm.prove(note, terms);
    await (await warm.facilitator.pay(warm.proofStruct(p.result), terms, p.memo, p.payeeMemo)).wait();
    expect(await warm.token.balanceOf(payee)).to.equal(USDC(0.5));
  });

  it("settles two payers who proved against the same root", async function () {
    const a = await pool.deposit(USDC(2), pool.signers[1]);
    const b = await pool.deposit(USDC(3), pool.signers[2]);
    const snapshot = await pool.tree();
    const ta = await pool.terms({ payTo: payee, amount: USDC(1), conditionHash: condition("a") });
    const tb = await pool.terms({ payTo: payee, amount: USDC(2), conditionHash: condition("b") });
    const [pa, pb] = await inOrderConcurrently([
      () => pool.prove(a, ta, { atTree: snapshot }),
      () => pool.prove(b, tb, { atTree: snapshot }),
    ]);
    expect(pa.result.root).to.equal(pb.result.root);
    await (await pool.facilitator.pay(pool.proofStruct(pa.result), ta, pa.memo, pa.payeeMemo)).wait();
    // b's root is now one insert old; it still settles.
    await (await pool.facilitator.pay(pool.proofStruct(pb.result), tb, pb.memo, pb.payeeMemo)).wait();
    expect(await pool.token.balanceOf(payee)).to.equal(USDC(3));
  });

  it("refuses out-of-field and out-of-range inputs", async function () {
    const note = await pool.deposit(USDC(2));
    const terms = await pool.terms({ payTo: payee, amount: USDC(1) });
    const p = await pool.prove(note, terms);
    const proof = pool.proofStruct(p.result);
    // nullifierHash + p would be the same field element under another storage key.
    await expect(
      pool.facilitator.pay({ ...proof, nullifierHash: proof.nullifierHash + SNARK_SCALAR_FIELD }, terms, p.memo, "0x"),
    )
      .to.be.revertedWithCustomError(pool.facilitator, "FacilitatorInputOutOfField")
      .withArgs(proof.nullifierHash + SNARK_SCALAR_FIELD);
    await expect(
      pool.facilitator.pay(
        { ...proof, changeCommitment: proof.changeCommitment + SNARK_SCALAR_FIELD },
        terms,
        p.memo,
        "0x",
      ),
    ).to.be.revertedWithCustomError(pool.facilitator, "FacilitatorInputOutOfField");
    // The payee commitment too, in both modes (a shielded payment appends it as a leaf).
    await expect(
      pool.facilitator.pay(
        { ...proof, payeeCommitment: proof.payeeCommitment + SNARK_SCALAR_FIELD },
        terms,
        p.memo,
        "0x",
      ),
    )
      .to.be.revertedWithCustomError(pool.facilitator, "FacilitatorInputOutOfField")
      .withArgs(proof.payeeCommitment + SNARK_SCALAR_FIELD);
    await expect(
      pool.facilitator.pay({ ...proof, root: proof.root + SNARK_SCALAR_FIELD }, terms, p.memo, "0x"),
    ).to.be.revertedWithCustomError(pool.facilitator, "FacilitatorInputOutOfField");
    await expect(pool.facilitator.pay(proof, { ...terms, amount: 1n << 128n }, p.memo, p.payeeMemo))
      .to.be.revertedWithCustomError(pool.facilitator, "FacilitatorValueTooLarge")
      .withArgs(1n << 128n);
    await expect(
      pool.facilitator.pay(proof, { ...terms, fee: SNARK_SCALAR_FIELD - 1n, relayer }, p.memo, p.payeeMemo),
    ).to.be.revertedWithCustomError(pool.facilitator, "FacilitatorValueTooLarge");
    // Deposits: a precommitment outside the field.
    await (await pool.token.mint(await pool.signers[0]!.getAddress(), 10n)).wait();
    await (await pool.token.approve(pool.facilitatorAddress, 10n)).wait();
    await expect(pool.facilitator.deposit(SNARK_SCALAR_FIELD, 10n, "0x")).to.be.revertedWithCustomError(
      pool.facilitator,
      "FacilitatorInputOutOfField",
    );
    // Other guards.
    await expect(pool.facilitator.deposit(1n, 0n, "0x")).to.be.revertedWithCustomError(
      pool.facilitator,
      "FacilitatorZeroDeposit",
    );
    // payTo = 0 makes a payment shielded: a public amount is refused by name (it would burn),
    // and so is a shielded payment without its 187-byte payee memo.
    await expect(pool.facilitator.pay(proof, { ...terms, payTo: ethers.ZeroAddress }, p.memo, p.payeeMemo))
      .to.be.revertedWithCustomError(pool.facilitator, "FacilitatorShieldedAmount")
      .withArgs(USDC(1));
    await expect(pool.facilitator.pay(proof, { ...terms, payTo: ethers.ZeroAddress, amount: 0n }, p.memo, "0x"))
      .to.be.revertedWithCustomError(pool.facilitator, "FacilitatorPayeeMemo")
      .withArgs(0n);
    // A transparent payment carries no payee memo.
    await expect(pool.facilitator.pay(proof, terms, p.memo, "0x" + "ab".repeat(187)))
      .to.be.revertedWithCustomError(pool.facilitator, "FacilitatorPayeeMemo")
      .withArgs(187n);
    await expect(pool.facilitator.pay(proof, { ...terms, fee: 1n }, p.memo, p.payeeMemo))
      .to.be.revertedWithCustomError(pool.facilitator, "FacilitatorFeeWithoutRelayer")
      .withArgs(1n);
    await expect(pool.facilitator.pay(proof, terms, "0x" + "00".repeat(513), "0x")).to.be.revertedWithCustomError(
      pool.facilitator,
      "FacilitatorMemoTooLong",
    );
    // A garbage proof of the right shape.
    await expect(pool.facilitator.pay({ ...proof, pA: [1n, 2n] }, terms, p.memo, "0x")).to.be.revertedWithCustomError(
      pool.facilitator,
      "FacilitatorInvalidProof",
    );
    // None of it spent the note.
    await (await pool.facilitator.pay(proof, terms, p.memo, p.payeeMemo)).wait();
  });

  it("refuses an expired payment", async function () {
    const note = await pool.deposit(USDC(2));
    const terms = await pool.terms({ payTo: payee, amount: USDC(1) });
    const p = await pool.prove(note, terms);
    await networkHelpers.time.increaseTo(terms.expiry + 1n);
    await expect(
      pool.facilitator.pay(pool.proofStruct(p.result), terms, p.memo, p.payeeMemo),
    ).to.be.revertedWithCustomError(pool.facilitator, "FacilitatorPaymentExpired");
  });

  it("withdraws a whole note, then spends change notes", async function () {
    const me = (await pool.signers[3]!.getAddress()) as Address;
    const note = await pool.deposit(USDC(10), pool.signers[3]);
    // Pay 4, keep 6 as change.
    const t1 = await pool.terms({ payTo: payee, amount: USDC(4), conditionHash: condition("first") });
    const p1 = await pool.prove(note, t1);
    await (await pool.facilitator.pay(pool.proofStruct(p1.result), t1, p1.memo, p1.payeeMemo)).wait();
    const change = await pool.changeNote(p1);
    expect(change.value).to.equal(USDC(6));
    // `pay` queues the change note; it is spendable once committed (anyone may commit).
    expect(await pool.facilitator.pendingLeafCount()).to.equal(1n);
    await pool.commit();
    expect(await pool.facilitator.pendingLeafCount()).to.equal(0n);
    // The change note's memo lets the seed's owner read its value back from the event.
    const ev = (await pool.facilitator.queryFilter(pool.facilitator.filters.LeafInserted(change.leafIndex)))[0]!;
    expect(pool.keys.decodeMemoValue(change.k, ev.args.memo as Hex)).to.equal(USDC(6));
    // Spend the change: withdraw all of it to myself (no condition, no fee).
    const t2 = await pool.terms({ payTo: me, amount: USDC(6) });
    const p2 = await pool.prove(change, t2);
    expect(p2.result.changeValue).to.equal(0n);
    await expect(pool.facilitator.pay(pool.proofStruct(p2.result), t2, p2.memo, p2.payeeMemo)).to.emit(
      pool.facilitator,
      "PaymentReceipt",
    );
    expect(await pool.token.balanceOf(me)).to.equal(USDC(6));
    expect(await pool.token.balanceOf(pool.facilitatorAddress)).to.equal(0n);
    // The zero-value change note exists but pays nothing more.
    await pool.commit();
    const zero = await pool.changeNote(p2);
    expect(zero.value).to.equal(0n);
    const err = await pool.prove(zero, await pool.terms({ payTo: me, amount: 1n })).catch((e: unknown) => e);
    expect(isZkPayError(err, "insufficient_private_balance")).to.equal(true);
  });

  it("mirrors the contract's tree exactly (roots and depth match the JS LeanIMT)", async function () {
    const js = new NoteTree();
    const [alice] = pool.signers;
    const total = 37; // crosses several power-of-two boundaries
    const value = 1000n;
    await (await pool.token.mint(await alice!.getAddress(), value * BigInt(total))).wait();
    await (await pool.token.approve(pool.facilitatorAddress, value * BigInt(total))).wait();
    for (let i = 0; i < total; i++) {
      const pre = precommitmentOf(BigInt(i + 1), 7n);
      await (await pool.facilitator.deposit(pre, value, "0x")).wait();
      js.insert(commitmentOf({ value, owner: BigInt(i + 1), blinding: 7n }));
      expect(await pool.facilitator.currentRoot(), `root after ${i + 1}`).to.equal(js.root);
      expect(await pool.facilitator.treeDepth()).to.equal(BigInt(js.depth));
    }
    expect(await pool.facilitator.treeSize()).to.equal(BigInt(total));
  });

  it("deposits in one transaction with EIP-2612 permit and EIP-3009 authorization", async function () {
    const [, alice, relayerSigner] = pool.signers;
    const aliceAddr = await alice!.getAddress();
    const { chainId } = pool;
    const tokenAddr = await pool.token.getAddress();
    const domain = { name: "USD Coin", version: "1", chainId, verifyingContract: tokenAddr };
    await (await pool.token.mint(aliceAddr, USDC(10))).wait();

    // Permit: signed off-chain, submitted with the deposit by alice.
    const s1 = pool.freshSecrets();
    const deadline = BigInt((await ethers.provider.getBlock("latest"))!.timestamp) + 600n;
    const permitSig = ethers.Signature.from(
      await alice!.signTypedData(
        domain,
        { Permit: [...permitTypes.Permit] },
        { owner: aliceAddr, spender: pool.facilitatorAddress, value: USDC(4), nonce: 0n, deadline },
      ),
    );
    await expect(
      pool.facilitator
        .connect(alice)
        .depositWithPermit(
          precommitmentOf(s1.owner, s1.blinding),
          USDC(4),
          "0x",
          deadline,
          permitSig.v,
          permitSig.r,
          permitSig.s,
        ),
    ).to.emit(pool.facilitator, "Deposited");

    // EIP-3009: alice signs, anyone relays. The nonce binds the note.
    const s2 = pool.freshSecrets();
    const pre2 = precommitmentOf(s2.owner, s2.blinding);
    const nonce = await pool.facilitator.depositNonce(pre2, "0x");
    const validBefore = deadline;
    const authSig = ethers.Signature.from(
      await alice!.signTypedData(
        domain,
        { ReceiveWithAuthorization: [...receiveWithAuthorizationTypes.ReceiveWithAuthorization] },
        { from: aliceAddr, to: pool.facilitatorAddress, value: USDC(6), validAfter: 0n, validBefore, nonce },
      ),
    );
    // A relayer swapping in its own note gets a signature failure: the nonce differs.
    const thiefNote = pool.freshSecrets();
    const thief = precommitmentOf(thiefNote.owner, thiefNote.blinding);
    await expect(
      pool.facilitator
        .connect(relayerSigner)
        .depositWithAuthorization(aliceAddr, thief, USDC(6), "0x", 0n, validBefore, authSig.v, authSig.r, authSig.s),
    ).to.be.revertedWithCustomError(pool.token, "AuthorizationInvalidSignature");
    await expect(
      pool.facilitator
        .connect(relayerSigner)
        .depositWithAuthorization(aliceAddr, pre2, USDC(6), "0x", 0n, validBefore, authSig.v, authSig.r, authSig.s),
    )
      .to.emit(pool.facilitator, "Deposited")
      .withArgs(aliceAddr, commitmentOf({ ...s2, value: USDC(6) }), USDC(6));
    expect(await pool.token.balanceOf(aliceAddr)).to.equal(0n);
    expect(await pool.token.balanceOf(pool.facilitatorAddress)).to.equal(USDC(10));
  });

  it("withstands misbehaving tokens: fee-on-transfer, false returns, reentrancy", async function () {
    const [deployer] = pool.signers;
    const me = await deployer!.getAddress();
    const fresh = pool.freshSecrets();
    const pre = precommitmentOf(fresh.owner, fresh.blinding);

    const fot = await ethers.deployContract("FeeOnTransferToken");
    const fotPool = await deployPool(ethers, { token: await fot.getAddress(), requireTokenDomain: false });
    await (await fot.mint(me, 1000n)).wait();
    await (await fot.approve(fotPool.facilitatorAddress, 1000n)).wait();
    await expect(fotPool.facilitator.deposit(pre, 1000n, "0x"))
      .to.be.revertedWithCustomError(fotPool.facilitator, "FacilitatorTransferAmountMismatch")
      .withArgs(1000n, 990n);

    const falsy = await ethers.deployContract("FalseReturningToken");
    const falsyPool = await deployPool(ethers, { token: await falsy.getAddress(), requireTokenDomain: false });
    await (await falsy.mint(me, 1000n)).wait();
    await (await falsy.approve(falsyPool.facilitatorAddress, 1000n)).wait();
    await (await falsy.setFail(true)).wait();
    await expect(falsyPool.facilitator.deposit(pre, 1000n, "0x")).to.be.revertedWithCustomError(
      falsyPool.facilitator,
      "SafeERC20FailedOperation",
    );

    // Reentrancy: the token calls back into pay() while the pool pays out.
    const reent = await ethers.deployContract("ReentrantToken");
    const rPool = await deployPool(ethers, { token: await reent.getAddress(), requireTokenDomain: false });
    await (await reent.mint(me, USDC(4))).wait();
    await (await reent.approve(rPool.facilitatorAddress, USDC(4))).wait();
    const rKeys = rPool.freshSecrets();
    await (await rPool.facilitator.deposit(precommitmentOf(rKeys.owner, rKeys.blinding), USDC(4), "0x")).wait();
    const note = { ...rKeys, value: USDC(4), leafIndex: 0 };
    const terms = await rPool.terms({ payTo: payee, amount: USDC(1) });
    const p = await rPool.prove(note, terms);
    const proofStruct = rPool.proofStruct(p.result);
    const payData = rPool.facilitator.interface.encodeFunctionData("pay", [proofStruct, terms, p.memo, p.payeeMemo]);
    await (await reent.arm(rPool.facilitatorAddress, payData)).wait();
    await (await rPool.facilitator.pay(proofStruct, terms, p.memo, p.payeeMemo)).wait();
    expect(await reent.reentered()).to.equal(false);
    const err = await reent.reentryError();
    expect(err.slice(0, 10)).to.equal(rPool.facilitator.interface.getError("ReentrancyGuardReentrantCall")!.selector);
    expect(await reent.balanceOf(payee)).to.equal(USDC(1));
  });

  it("deposits emit everything a wallet needs to recover its notes", async function () {
    const note = await pool.deposit(USDC(7));
    const events = await pool.facilitator.queryFilter(pool.facilitator.filters.LeafInserted());
    const ev = events.find((e) => Number(e.args.leafIndex) === note.leafIndex)!;
    expect(pool.keys.decodeMemoValue(note.k, ev.args.memo as Hex)).to.equal(USDC(7));
    expect(ev.args.commitment).to.equal(commitmentOf(note));
    // The nullifier hash needs the owner's nullifying key: nothing in the event gives it.
    const nullifier = nullifierHashOf(
      pool.keys.nullifyingKey,
      commitmentOf(note),
      notePosition(note.leafIndex, pool.treeLevels),
    );
    expect(nullifier).to.not.equal(ev.args.commitment);
    expect(ev.args.memo).to.not.include(nullifier.toString(16));
    expect(ZeroHash).to.be.a("string");
  });
});
