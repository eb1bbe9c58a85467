import { randomBytes } from "node:crypto";
import path from "node:path";

import type { HardhatEthers } from "@nomicfoundation/hardhat-ethers/types";
import { ZeroAddress, ZeroHash, type BaseContract, type Signer } from "ethers";
import type { Address, Hex } from "viem";

import { deploySystem, type DeployOptions } from "../../scripts/lib/deploy.js";
import { ROOT } from "../../scripts/lib/paths.js";
import { paymentContext, type PaymentTerms } from "../../sdk/core/context.js";
import { WalletKeys } from "../../sdk/core/keys.js";
import { encryptNote } from "../../sdk/core/note-encryption.js";
import { commitmentOf, notePosition, ownerKeyOf, precommitmentOf, type NoteOpening } from "../../sdk/core/note.js";
import { proofStructOf, provePayment, type PaymentProofResult } from "../../sdk/core/circuits/payment.js";
import { NoteTree, type MerklePath } from "../../sdk/core/tree.js";

export const ARTIFACTS = {
  wasm: path.join(ROOT, "circuits", "artifacts", "payment.wasm"),
  zkey: path.join(ROOT, "circuits", "artifacts", "payment.zkey"),
};

export const USDC = (n: number) => BigInt(Math.round(n * 1e6));

/**
 * A note's owner and blinding, chosen before its value is known (a deposit's or a change
 * note's), with the index `k` its memo is derived from ({@link WalletKeys.indexBlinding}).
 */
export interface NoteKeys {
  owner: bigint;
  blinding: bigint;
  k: number;
}

/** A note the test can spend: its opening, global leaf index, and the key that owns it. */
export interface OwnedNote extends NoteOpening {
  leafIndex: number;
  k: number;
  /** The owner's spending key; the pool's own wallet key when absent. */
  spendingKey?: bigint;
}

/** A shielded payee: the wallet whose address receives the payee note. */
export interface ShieldedPayee {
  keys: WalletKeys;
  /** The payee note's value (the price). */
  value: bigint;
  /** The payee note's blinding; fresh random when absent. */
  blinding?: bigint;
}

/** A proven payment: the proof, its terms and both memos, and the notes it creates. */
export interface Proven {
  result: PaymentProofResult;
  terms: PaymentTerms;
  /** The change note's memo. */
  memo: Hex;
  /** The payee note's memo: 187 bytes for a shielded payment, "0x" for a transparent one. */
  payeeMemo: Hex;
  /** Owner and blinding of the change note. */
  change: NoteKeys;
  /** Opening of the payee note (all zero for a transparent payment). */
  payee: NoteOpening;
  /** Spending key of the spent note (the change note's owner's). */
  spendingKey: bigint;
}

/** A random field element (31 random bytes): a fresh blinding. */
export const randomBlinding = (): bigint => BigInt(`0x${randomBytes(31).toString("hex")}`);

/** The zero opening of a transparent payment's (worthless, never appended) payee note. */
export const NO_PAYEE: NoteOpening = { value: 0n, owner: 0n, blinding: 0n };

/**
 * Test harness over a deployed pool: mirrors the tree from events, deposits, proves and
 * pays with the real circuit and the SDK's reference implementation. Notes are owned by
 * the harness's wallet key (`keys`) unless a test gives another spending key.
 */
export async function deployPool(ethers: HardhatEthers, options: DeployOptions = {}) {
  const system = await deploySystem(ethers, options);
  const { facilitator, token } = system;
  const facilitatorAddress = (await facilitator.getAddress()) as Address;
  const chainId = Number((await ethers.provider.getNetwork()).chainId);
  const signers = await ethers.getSigners();
  const treeLevels = Number(await facilitator.treeLevels());

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

  /** A fresh owner and blinding for a note of the harness's wallet (index derivation). */
  function freshSecrets(): NoteKeys {
    const k = nextK++;
    return { owner: keys.ownerKey, blinding: keys.indexBlinding(k), k };
  }

  /** Mints, approves and deposits `value` from `from` into a fresh note (or the note `secrets`). */
  async function deposit(
    value: bigint,
    from: Signer = signers[0]!,
    secrets: NoteKeys = freshSecrets(),
  ): Promise<OwnedNote> {
    const s = secrets;
    await (await token.mint(await from.getAddress(), value)).wait();
    await (await token.connect(from).approve(facilitatorAddress, value)).wait();
    const tx = await facilitator
      .connect(from)
      .deposit(precommitmentOf(s.owner, s.blinding), value, keys.encodeMemo(s.k, value));
    const rc = await tx.wait();
    const ev = rc!.logs.map((l) => facilitator.interface.parseLog(l)).find((l) => l?.name === "LeafInserted")!;
    return { value, owner: s.owner, blinding: s.blinding, k: s.k, leafIndex: Number(ev.args.leafIndex) };
  }

  /** Default terms for a payment of `amount` to `payTo` (shielded: `payTo` zero, `amount` 0). */
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

  /** Terms of a shielded payment: no payee, no public amount. */
  async function shieldedTerms(over: Partial<PaymentTerms> = {}): Promise<PaymentTerms> {
    return terms({ ...over, payTo: ZeroAddress as Address, amount: 0n });
  }

  /**
   * Proves a payment of `t` from `note` against the current tree (or `atTree`). With
   * `payee`, a shielded payment: the payee note (owned by the payee's key, worth
   * `payee.value`) and its memo encrypted to the payee's encryption key for
   * `t.conditionHash`; `t` should then be shielded terms ({@link shieldedTerms}).
   */
  async function prove(
    note: OwnedNote,
    t: PaymentTerms,
    opts: {
      memo?: Hex;
      atTree?: NoteTree;
      change?: NoteKeys;
      payee?: ShieldedPayee;
      payeeMemo?: Hex;
    } = {},
  ): Promise<Proven> {
    const tr = opts.atTree ?? (await tree());
    return proveAt(note, t, tr.path(note.leafIndex), opts);
  }

  /** {@link prove} along a given path (any tree's, e.g. a big harness pool's). */
  async function proveAt(
    note: OwnedNote,
    t: PaymentTerms,
    path: MerklePath,
    opts: { memo?: Hex; change?: NoteKeys; payee?: ShieldedPayee; payeeMemo?: Hex } = {},
  ): Promise<Proven> {
    const spendingKey = note.spendingKey ?? keys.spendingKey();
    // The circuit returns the change to the spender: its owner is the spending key's.
    const change = opts.change ?? { ...freshSecrets(), owner: ownerKeyOf(spendingKey) };
    let payee = NO_PAYEE;
    let payeeMemo: Hex = opts.payeeMemo ?? "0x";
    if (opts.payee) {
      payee = {
        value: opts.payee.value,
        owner: opts.payee.keys.ownerKey,
        blinding: opts.payee.blinding ?? randomBlinding(),
      };
      payeeMemo =
        opts.payeeMemo ??
        encryptNote(opts.payee.keys.encryptionKey, {
          value: payee.value,
          blinding: payee.blinding,
          owner: payee.owner,
          conditionHash: t.conditionHash,
        });
    }
    const changeValue = note.value - t.amount - t.fee - payee.value;
    const memo = opts.memo ?? (changeValue >= 0n ? keys.encodeMemo(change.k, changeValue) : "0x");
    const context = paymentContext({ chainId, facilitator: facilitatorAddress, terms: t, memo, payeeMemo });
    const result = await provePayment(
      {
        note: { value: note.value, owner: note.owner, blinding: note.blinding },
        spendingKey,
        position: notePosition(note.leafIndex, treeLevels),
        path,
        amount: t.amount,
        fee: t.fee,
        context,
        payee,
        changeBlinding: change.blinding,
      },
      ARTIFACTS,
    );
    return { result, terms: t, memo, payeeMemo, change, payee, spendingKey };
  }

  /** The `PaymentProof` struct for the contract. */
  function proofStruct(r: PaymentProofResult) {
    return proofStructOf(r);
  }

  /** The `BatchedPayment` struct of a proven payment. */
  function batched(p: Proven) {
    return { proof: proofStruct(p.result), terms: p.terms, memo: p.memo, payeeMemo: p.payeeMemo };
  }

  /** Settles `p` with `pay` (both memos). */
  function pay(p: Proven) {
    return facilitator.pay(proofStruct(p.result), p.terms, p.memo, p.payeeMemo);
  }

  /** The global leaf index of the last leaf equal to `commitment`, from the pool's events. */
  async function leafIndexOf(commitment: bigint): Promise<number> {
    const all = await leaves();
    for (let i = all.length - 1; i >= 0; i--) if (all[i] === commitment) return i;
    throw new Error("note not found among the pool's leaves");
  }

  /** The change note a settled proof created, as an OwnedNote (spendable by the same key). */
  async function changeNote(p: Proven): Promise<OwnedNote> {
    const opening = { value: p.result.changeValue, owner: p.change.owner, blinding: p.change.blinding };
    const leafIndex = await leafIndexOf(commitmentOf(opening));
    return { ...opening, k: p.change.k, leafIndex, spendingKey: p.spendingKey };
  }

  /** The payee note a settled shielded proof created, spendable by `payeeKeys`. */
  async function payeeNote(p: Proven, payeeKeys: WalletKeys): Promise<OwnedNote> {
    const leafIndex = await leafIndexOf(commitmentOf(p.payee));
    return { ...p.payee, k: -1, leafIndex, spendingKey: payeeKeys.spendingKey() };
  }

  return {
    ...system,
    facilitatorAddress,
    chainId,
    signers,
    keys,
    treeLevels,
    leaves,
    tree,
    commit,
    deposit,
    terms,
    shieldedTerms,
    prove,
    proveAt,
    proofStruct,
    batched,
    pay,
    changeNote,
    payeeNote,
    freshSecrets,
  };
}
export type Pool = Awaited<ReturnType<typeof deployPool>>;
export type AnyContract = BaseContract;
