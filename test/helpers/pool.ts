import path from "node:path";

import type { HardhatEthers } from "@nomicfoundation/hardhat-ethers/types";
import { ZeroAddress, ZeroHash, type BaseContract, type Signer } from "ethers";
import type { Address, Hex } from "viem";

import { deploySystem, type DeployOptions } from "../../scripts/lib/deploy.js";
import { ROOT } from "../../scripts/lib/paths.js";
import { paymentContext, type PaymentTerms } from "../../sdk/core/context.js";
import { WalletKeys } from "../../sdk/core/keys.js";
import { commitmentOf, precommitmentOf, type NoteSecrets } from "../../sdk/core/note.js";
import { provePayment, type PaymentProofResult } from "../../sdk/core/circuits/payment.js";
import { NoteTree } from "../../sdk/core/tree.js";

export const ARTIFACTS = {
  wasm: path.join(ROOT, "circuits", "artifacts", "payment.wasm"),
  zkey: path.join(ROOT, "circuits", "artifacts", "payment.zkey"),
};

export const USDC = (n: number) => BigInt(Math.round(n * 1e6));

/** A note the test owns. */
export interface OwnedNote extends NoteSecrets {
  value: bigint;
  leafIndex: number;
  k: number;
}

/**
 * Test harness over a deployed pool: mirrors the tree from events, deposits, proves and
 * pays with the real circuit and the SDK's reference implementation.
 */
export async function deployPool(ethers: HardhatEthers, options: DeployOptions = {}) {
  const system = await deploySystem(ethers, options);
  const { facilitator, token } = system;
  const facilitatorAddress = (await facilitator.getAddress()) as Address;
  const chainId = Number((await ethers.provider.getNetwork()).chainId);
  const signers = await ethers.getSigners();

  /** Every appended leaf (committed or queued), in index order, from LeafInserted events. */
  async function leaves(): Promise<bigint[]> {
    const events = await facilitator.queryFilter(facilitator.filters.LeafInserted(), system.deploymentBlock);
    return events
      .map((e) => ({ index: Number(e.args.leafIndex), leaf: e.args.commitment as bigint }))
      .sort((a, b) => a.index - b.index)
      .map((l) => l.leaf);
  }

  /**
   * Rebuilds the committed tree from LeafInserted events (what a wallet does): only the
   * first treeSize() leaves, since queued leaves are not in any root yet. Single-tree
   * pools (fewer than 2^treeLevels leaves).
   */
  async function tree(): Promise<NoteTree> {
    const committed = Number(await facilitator.treeSize());
    return NoteTree.from((await leaves()).slice(0, committed));
  }

  /** Commits every queued leaf (as anyone may). */
  async function commit(): Promise<void> {
    await (await facilitator.commitPendingLeaves(1024)).wait();
  }

  let nextK = 0;
  const keys = WalletKeys.fromSeed(`0x${"42".repeat(32)}`);

  /** Fresh note secrets (derived, like a wallet would). */
  function freshSecrets(): NoteSecrets & { k: number } {
    const k = nextK++;
    return { ...keys.noteSecrets(k), k };
  }

  /** Mints, approves and deposits `value` from `from` into a fresh note. */
  async function deposit(
    value: bigint,
    from: Signer = signers[0]!,
    secrets: NoteSecrets & { k: number } = freshSecrets(),
  ): Promise<OwnedNote> {
    const s = secrets;
    await (await token.mint(await from.getAddress(), value)).wait();
    await (await token.connect(from).approve(facilitatorAddress, value)).wait();
    const tx = await facilitator.connect(from).deposit(precommitmentOf(s), value, keys.encodeMemo(s.k, value));
    const rc = await tx.wait();
    const ev = rc!.logs.map((l) => facilitator.interface.parseLog(l)).find((l) => l?.name === "LeafInserted")!;
    return { ...s, value, leafIndex: Number(ev.args.leafIndex) };
  }

  /** Default terms for a payment of `amount` to `payTo`. */
  async function terms(over: Partial<PaymentTerms> & { payTo: Address; amount: bigint }): Promise<PaymentTerms> {
    const now = BigInt((await ethers.provider.getBlock("latest"))!.timestamp);
    return {
      relayer: ZeroAddress as Address,
      fee: 0n,
      conditionHash: ZeroHash as Hex,
      expiry: now + 3600n,
      ...over,
    };
  }

  /** Proves a payment of `t` from `note` against the current tree (or `atTree`). */
  async function prove(
    note: OwnedNote,
    t: PaymentTerms,
    opts: { memo?: Hex; atTree?: NoteTree; change?: NoteSecrets & { k: number } } = {},
  ): Promise<{ result: PaymentProofResult; terms: PaymentTerms; memo: Hex; change: NoteSecrets & { k: number } }> {
    const tr = opts.atTree ?? (await tree());
    const change = opts.change ?? freshSecrets();
    const changeValue = note.value - t.amount - t.fee;
    const memo = opts.memo ?? (changeValue >= 0n ? keys.encodeMemo(change.k, changeValue) : "0x");
    const context = paymentContext({ chainId, facilitator: facilitatorAddress, terms: t, memo });
    const result = await provePayment(
      { note, path: tr.path(note.leafIndex), amount: t.amount, fee: t.fee, context, change },
      ARTIFACTS,
    );
    return { result, terms: t, memo, change };
  }

  /** The `PaymentProof` struct for the contract. */
  function proofStruct(r: PaymentProofResult) {
    return {
      pA: r.proof.pA,
      pB: r.proof.pB,
      pC: r.proof.pC,
      root: r.root,
      treeSize: BigInt(r.treeSize),
      nullifierHash: r.nullifierHash,
      changeCommitment: r.changeCommitment,
    };
  }

  /** The change note a settled proof created, as an OwnedNote. */
  async function changeNote(p: {
    result: PaymentProofResult;
    change: NoteSecrets & { k: number };
  }): Promise<OwnedNote> {
    const all = await leaves();
    const commitment = commitmentOf(p.result.changeValue, p.change);
    for (let i = all.length - 1; i >= 0; i--) {
      if (all[i] === commitment) return { ...p.change, value: p.result.changeValue, leafIndex: i };
    }
    throw new Error("change note not found among the pool's leaves");
  }

  return {
    ...system,
    facilitatorAddress,
    chainId,
    signers,
    keys,
    leaves,
    tree,
    commit,
    deposit,
    terms,
    prove,
    proofStruct,
    changeNote,
    freshSecrets,
  };
}

export type Pool = Awaited<ReturnType<typeof deployPool>>;
export type AnyContract = BaseContract;
