import { expect } from "chai";
import { keccak256, toUtf8Bytes, type TransactionReceipt } from "ethers";
import { network } from "hardhat";
import type { Address, Hex } from "viem";

import { shutdownProver } from "../../sdk/core/prover.js";
import { type PaymentProofResult } from "../../sdk/core/circuits/payment.js";
import { WalletKeys } from "../../sdk/core/keys.js";
import { USDC, deployPool, type Pool, type Proven } from "../helpers/pool.js";
import { inOrderConcurrently } from "../helpers/parallel.js";

const { ethers, networkHelpers } = await network.create();

const condition = (s: string) => keccak256(toUtf8Bytes(s)) as Hex;
const idOf = (r: PaymentProofResult) => ethers.toBeHex(r.nullifierHash, 32);

/**
 * Every settled transparent payment goes through Facilitator._payout, whichever entry
 * point settled it; a shielded payment never does (nothing leaves the pool for its payee). PayoutHookFacilitator (contracts/test) overrides the hook like an escrow: it holds a
 * share of each payee amount, credited to the payment id, and returns the rest for the
 * pool to transfer. A path that bypassed the hook would pay the payee in full and credit
 * nothing, which every check below would see.
 */
describe("Facilitator._payout: the one payout path of pay, payAndCommit and payBatch (real proofs)", function () {
  let pool: Pool;
  let hooked: Awaited<ReturnType<typeof hookOf>>;
  let payee: Address;
  let payee2: Address;
  let relayer: Address;

  async function hookOf(p: Pool) {
    return ethers.getContractAt("PayoutHookFacilitator", p.facilitatorAddress);
  }

  async function fixture() {
    return deployPool(ethers, { contract: "PayoutHookFacilitator" });
  }

  beforeEach(async function () {
    pool = await networkHelpers.loadFixture(fixture);
    hooked = await hookOf(pool);
    payee = (await pool.signers[5]!.getAddress()) as Address;
    payee2 = (await pool.signers[7]!.getAddress()) as Address;
    relayer = (await pool.signers[6]!.getAddress()) as Address;
  });

  after(async function () {
    await shutdownProver();
  });

  /** Names of the pool's and the token's events in a receipt, in log order. */
  function logNames(rc: TransactionReceipt): string[] {
    const tokenAddress = pool.token.target.toString().toLowerCase();
    return rc.logs.map((l) => {
      if (l.address.toLowerCase() === tokenAddress) return pool.token.interface.parseLog(l)!.name;
      return hooked.interface.parseLog(l)!.name;
    });
  }

  /** The hook's PayoutHooked events of a receipt: [id, payTo, amount, held]. */
  function hookEvents(rc: TransactionReceipt) {
    return rc.logs
      .filter((l) => l.address.toLowerCase() === pool.facilitatorAddress.toLowerCase())
      .map((l) => hooked.interface.parseLog(l)!)
      .filter((e) => e.name === "PayoutHooked")
      .map((e) => [e.args.id, e.args.payTo, e.args.amount, e.args.held]);
  }

  const batched = (p: Proven) => pool.batched(p);

  it("pay: the hook holds the payee's amount, the relayer's fee is transferred", async function () {
    await (await hooked.setHeldPercent(100)).wait();
    const note = await pool.deposit(USDC(5));
    const terms = await pool.terms({
      payTo: payee,
      amount: USDC(2),
      relayer,
      fee: USDC(0.1),
      conditionHash: condition("a"),
    });
    const p = await pool.prove(note, terms);
    const rc = (await (await pool.facilitator.pay(pool.proofStruct(p.result), terms, p.memo, p.payeeMemo)).wait())!;

    expect(hookEvents(rc)).to.deep.equal([[idOf(p.result), payee, USDC(2), USDC(2)]]);
    expect(await hooked.payouts()).to.equal(1n);
    expect(await hooked.held(idOf(p.result))).to.equal(USDC(2));
    expect(await pool.token.balanceOf(payee)).to.equal(0n);
    expect(await pool.token.balanceOf(relayer)).to.equal(USDC(0.1));
    // The held amount stays in the pool, beside the change note's backing.
    expect(await pool.token.balanceOf(pool.facilitatorAddress)).to.equal(USDC(5) - USDC(0.1));
    // The receipt is unchanged by the hook: a server still sees the payment as made.
    expect((await pool.facilitator.checkReceipt(idOf(p.result), payee, USDC(2), terms.conditionHash))[0]).to.equal(1n);
    // The hook's event follows the payment's receipt, and precedes the fee's transfer.
    expect(logNames(rc)).to.deep.equal(["LeafInserted", "PaymentReceipt", "PayoutHooked", "Transfer"]);
  });

  it("payAndCommit: the hook's share is held, the rest transferred to the payee", async function () {
    await (await hooked.setHeldPercent(25)).wait();
    const note = await pool.deposit(USDC(5));
    const terms = await pool.terms({ payTo: payee, amount: USDC(4), conditionHash: condition("b") });
    const p = await pool.prove(note, terms);
    const rc = (await (
      await pool.facilitator.payAndCommit(pool.proofStruct(p.result), terms, p.memo, p.payeeMemo)
    ).wait())!;

    expect(hookEvents(rc)).to.deep.equal([[idOf(p.result), payee, USDC(4), USDC(1)]]);
    expect(await hooked.held(idOf(p.result))).to.equal(USDC(1));
    expect(await pool.token.balanceOf(payee)).to.equal(USDC(3));
    expect(await pool.token.balanceOf(pool.facilitatorAddress)).to.equal(USDC(2));
  });

  it("payBatch: the hook runs once per settled payment, never for a skipped one, and its returns are summed per recipient", async function () {
    await (await hooked.setHeldPercent(40)).wait();
    const notes = [await pool.deposit(USDC(5)), await pool.deposit(USDC(5)), await pool.deposit(USDC(5))];
    const tree = await pool.tree();
    const terms = [
      await pool.terms({ payTo: payee, amount: USDC(1), relayer, fee: USDC(0.01), conditionHash: condition("c1") }),
      await pool.terms({ payTo: payee, amount: USDC(2), relayer, fee: USDC(0.01), conditionHash: condition("c2") }),
      await pool.terms({ payTo: payee2, amount: USDC(0.5), conditionHash: condition("c3") }),
    ];
    // Proofs against one tree snapshot are independent: made two at a time (helpers/parallel).
    const ps = await inOrderConcurrently(terms.map((t, i) => () => pool.prove(notes[i]!, t, { atTree: tree })));
    // The first payment again: its nullifier is spent by then, so it is skipped.
    const batch = [...ps.map(batched), batched(ps[0]!)];
    const rc = (await (await pool.facilitator.payBatch(batch)).wait())!;

    const skipped = rc.logs
      .map((l) =>
        l.address.toLowerCase() === pool.facilitatorAddress.toLowerCase() ? hooked.interface.parseLog(l) : null,
      )
      .filter((e) => e?.name === "PaymentSkipped");
    expect(skipped.length).to.equal(1);
    expect(hookEvents(rc)).to.deep.equal(
      ps.map((p) => [idOf(p.result), p.terms.payTo, p.terms.amount, (p.terms.amount * 40n) / 100n]),
    );
    expect(await hooked.payouts()).to.equal(3n);
    for (const p of ps) expect(await hooked.held(idOf(p.result))).to.equal((p.terms.amount * 40n) / 100n);
    expect(await hooked.heldTotal()).to.equal(USDC(3.5 * 0.4));

    // What the hook returned is transferred, summed per recipient: one transfer each.
    expect(await pool.token.balanceOf(payee)).to.equal(USDC(3 * 0.6));
    expect(await pool.token.balanceOf(payee2)).to.equal(USDC(0.5 * 0.6));
    expect(await pool.token.balanceOf(relayer)).to.equal(USDC(0.02));
    expect(await pool.token.balanceOf(pool.facilitatorAddress)).to.equal(USDC(15) - USDC(1.8 + 0.3 + 0.02));

    // Each hook event right after its payment's receipt; every transfer after every hook.
    const names = logNames(rc).filter((n) => n === "PaymentReceipt" || n === "PayoutHooked" || n === "Transfer");
    expect(names).to.deep.equal([
      "PaymentReceipt",
      "PayoutHooked",
      "PaymentReceipt",
      "PayoutHooked",
      "PaymentReceipt",
      "PayoutHooked",
      "Transfer",
      "Transfer",
      "Transfer",
    ]);
  });

  it("shielded payments never call the hook, in pay or in a batch beside transparent ones", async function () {
    await (await hooked.setHeldPercent(50)).wait();
    const api = WalletKeys.fromSeed(`0x${"a1".repeat(32)}`);
    const notes = [await pool.deposit(USDC(5)), await pool.deposit(USDC(5)), await pool.deposit(USDC(5))];
    const tree = await pool.tree();
    const shielded = await pool.prove(
      notes[0]!,
      await pool.shieldedTerms({ relayer, fee: USDC(0.01), conditionHash: condition("s") }),
      { atTree: tree, payee: { keys: api, value: USDC(2) } },
    );
    const rc1 = (await (await pool.pay(shielded)).wait())!;
    expect(hookEvents(rc1)).to.deep.equal([]);
    expect(await hooked.payouts()).to.equal(0n);
    expect(logNames(rc1)).to.deep.equal(["LeafInserted", "LeafInserted", "ShieldedPaymentReceipt", "Transfer"]);
    expect(await pool.token.balanceOf(relayer)).to.equal(USDC(0.01));

    const [ts, tt] = [
      await pool.shieldedTerms({ relayer, fee: USDC(0.01), conditionHash: condition("s2") }),
      await pool.terms({ payTo: payee, amount: USDC(2), conditionHash: condition("t") }),
    ];
    const ps = await inOrderConcurrently([
      () => pool.prove(notes[1]!, ts, { atTree: tree, payee: { keys: api, value: USDC(1) } }),
      () => pool.prove(notes[2]!, tt, { atTree: tree }),
    ]);
    const rc2 = (await (await pool.facilitator.payBatch(ps.map(batched))).wait())!;
    // The hook ran once: for the transparent payment only.
    expect(hookEvents(rc2)).to.deep.equal([[idOf(ps[1]!.result), payee, USDC(2), USDC(1)]]);
    expect(await hooked.payouts()).to.equal(1n);
    expect(await hooked.held(idOf(ps[0]!.result))).to.equal(0n);
    expect(await pool.token.balanceOf(payee)).to.equal(USDC(1));
    expect(await pool.token.balanceOf(relayer)).to.equal(USDC(0.02));
  });
});
