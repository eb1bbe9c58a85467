import { readFileSync } from "node:fs";
import path from "node:path";

import { expect } from "chai";
import * as snarkjs from "snarkjs";

import { ROOT } from "../../scripts/lib/paths.js";
import { MAX_TREE_DEPTH, MAX_VALUE, SNARK_SCALAR_FIELD } from "../../sdk/core/field.js";
import {
  commitmentOf,
  nullifierHashOf,
  nullifyingKeyOf,
  ownerKeyOf,
  precommitmentOf,
  type NoteOpening,
} from "../../sdk/core/note.js";
import { hash1, hash2 } from "../../sdk/core/poseidon.js";
import { provePayment, verifyPaymentProof, type PaymentWitness } from "../../sdk/core/circuits/payment.js";
import { CIRCUITS } from "../../sdk/core/circuits/registry.js";
import { shutdownProver } from "../../sdk/core/prover.js";
import { NoteTree } from "../../sdk/core/tree.js";
import { ARTIFACTS } from "../helpers/pool.js";

// The payment circuit (v2: key-owned notes, one input, payee + change outputs), tested
// directly on its committed artifacts (circuits/artifacts) against the SDK's reference
// implementation (note.ts, tree.ts). Most cases only compute a witness (~100 ms):
// circom's witness calculator evaluates every `===` and throws "Assert Failed" on the
// first violated one, naming the template and source line, so a must-fail case can
// also say *which* check rejected it. A few full Groth16 proofs (~2 s each) check the
// proving key and verification key end to end.

const P = SNARK_SCALAR_FIELD;
const TWO_128 = 1n << 128n;
const vkey: unknown = JSON.parse(readFileSync(path.join(ROOT, "circuits", "artifacts", "payment.vkey.json"), "utf8"));

// ------------------------------------------------------------------ circuit input

/**
 * The circuit's inputs, as bigints (converted to decimal strings for snarkjs). `amount` and
 * `fee` are the terms' (the contract passes their sum as the public input `publicValue`);
 * `publicValue`, when set, overrides that sum (to test values the contract never passes).
 */
interface CircuitInput {
  publicValue?: bigint;
  root: bigint;
  treeIndex: bigint;
  amount: bigint;
  fee: bigint;
  context: bigint;
  value: bigint;
  blinding: bigint;
  spendingKey: bigint;
  leafIndex: bigint;
  hasSibling: bigint[];
  siblings: bigint[];
  payeeValue: bigint;
  payeeOwner: bigint;
  payeeBlinding: bigint;
  changeBlinding: bigint;
}

/** Keys of two owners: the payer (ALICE) and someone else (BOB). */
const ALICE_SK = hash1(0xa11cen);
const BOB_SK = hash1(0xb0bn);
const ALICE = ownerKeyOf(ALICE_SK);
const BOB = ownerKeyOf(BOB_SK);
const API_OWNER = ownerKeyOf(hash1(0xa91n)); // a shielded payee's owner key

const note = (i: number, value: bigint, owner = ALICE): NoteOpening => ({
  value,
  owner,
  blinding: hash1(1000n + BigInt(i)),
});
const CHANGE_BLINDING = hash1(7001n);
const PAYEE_BLINDING = hash1(7002n);
const CONTEXT = hash2(0x402n, 0x2c4n); // any field element: the contract derives it from the call's terms
const TREE_INDEX = 3n; // any tree of the pool: the contract derives it from the root's tree size

/** The default scenario: a 5-leaf tree, spending the note at index 3. */
const NOTES = [0, 1, 2, 3, 4].map((i) => note(i, 10_000n + BigInt(i)));
const TREE = NoteTree.from(NOTES.map(commitmentOf));
const SPENT = NOTES[3]!;
const SPENT_INDEX = 3;

/**
 * The uncompressed path of leaf `index` (what the circuit takes), derived independently
 * of the SDK from the LeanIMT rules: level sizes n_0 = size, n_(l+1) = ceil(n_l / 2);
 * the node i_l = index >> l has a sibling iff it is a right child or i_l + 1 < n_l; the
 * compressed proof's siblings are those of the levels that have one, in order.
 */
function uncompressed(tree: NoteTree, index: number): { hasSibling: bigint[]; siblings: bigint[] } {
  const p = tree.path(index);
  const hasSibling: bigint[] = [];
  const siblings: bigint[] = [];
  let n = tree.size;
  let k = 0;
  for (let l = 0; l < MAX_TREE_DEPTH; l++) {
    const i = Math.floor(index / 2 ** l);
    const has = n > 1 && (i % 2 === 1 || i + 1 < n);
    hasSibling.push(has ? 1n : 0n);
    siblings.push(has ? p.compressedSiblings[k++]! : 0n);
    n = Math.ceil(n / 2);
  }
  expect(k, "test bug: sibling count").to.equal(p.depth);
  return { hasSibling, siblings };
}

/** A valid (transparent) input spending `n` (leaf `index` of `tree`) with Alice's key. */
function inputFor(
  tree: NoteTree,
  index: number,
  n: NoteOpening,
  over: Partial<CircuitInput> = {},
  sk: bigint = ALICE_SK,
): CircuitInput {
  return {
    root: tree.root,
    treeIndex: TREE_INDEX,
    amount: 1_234n,
    fee: 56n,
    context: CONTEXT,
    value: n.value,
    blinding: n.blinding,
    spendingKey: sk,
    leafIndex: BigInt(index),
    ...uncompressed(tree, index),
    payeeValue: 0n,
    payeeOwner: 0n,
    payeeBlinding: 0n,
    changeBlinding: CHANGE_BLINDING,
    ...over,
  };
}

/** A shielded payment of `price` to the API's owner key (amount 0). */
const shielded = (price: bigint, fee = 56n): Partial<CircuitInput> => ({
  amount: 0n,
  fee,
  payeeValue: price,
  payeeOwner: API_OWNER,
  payeeBlinding: PAYEE_BLINDING,
});

/** A valid input for the default scenario, with any field overridden. */
function witnessInput(over: Partial<CircuitInput> = {}): CircuitInput {
  return inputFor(TREE, SPENT_INDEX, SPENT, over);
}

/** amount + fee as the contract computes it, unless the test sets publicValue itself. */
const publicValueOf = (i: CircuitInput) => i.publicValue ?? i.amount + i.fee;

function toSnark(i: CircuitInput): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const { amount: _a, fee: _f, ...rest } = { ...i, publicValue: publicValueOf(i) };
  for (const [k, v] of Object.entries(rest)) out[k] = Array.isArray(v) ? v.map(String) : String(v);
  return out;
}

/** Computes the witness (throws on a violated constraint). */
async function witness(i: CircuitInput): Promise<bigint[]> {
  const w: { type: "mem"; data?: Uint8Array } = { type: "mem" };
  await snarkjs.wtns.calculate(toSnark(i), ARTIFACTS.wasm, w);
  return snarkjs.wtns.exportJson(w);
}

/** Witness layout: [1, nullifierHash, payeeCommitment, changeCommitment, root, treeIndex, publicValue, context, ...]. */
async function outputsOf(i: CircuitInput) {
  const w = await witness(i);
  return {
    nullifierHash: w[1],
    payeeCommitment: w[2],
    changeCommitment: w[3],
    publicInputs: w.slice(4, 8),
  };
}

/** The reference nullifier hash of the note `i` spends (its owner's keys, its position). */
function referenceNullifier(i: CircuitInput): bigint {
  const owner = ownerKeyOf(i.spendingKey);
  const cm = commitmentOf({ value: i.value, owner, blinding: i.blinding });
  return nullifierHashOf(nullifyingKeyOf(i.spendingKey), cm, {
    treeIndex: Number(i.treeIndex),
    leafIndex: Number(i.leafIndex),
  });
}

/** Asserts the circuit accepts `i` and its outputs equal the reference implementation. */
async function expectAccepts(i: CircuitInput) {
  const out = await outputsOf(i);
  const changeValue = i.value - publicValueOf(i) - i.payeeValue;
  expect(changeValue >= 0n, "test bug: negative change").to.equal(true);
  expect(out.nullifierHash).to.equal(referenceNullifier(i));
  expect(out.payeeCommitment).to.equal(
    commitmentOf({ value: i.payeeValue, owner: i.payeeOwner, blinding: i.payeeBlinding }),
  );
  expect(out.changeCommitment).to.equal(
    commitmentOf({ value: changeValue, owner: ownerKeyOf(i.spendingKey), blinding: i.changeBlinding }),
  );
  expect(out.publicInputs).to.deep.equal([i.root, i.treeIndex, publicValueOf(i), i.context]);
  return out;
}

// ------------------------------------------------------------------ which check fails

// circom reports a failed assertion as "Error in template <Name>_<id> line: <n>", from
// the innermost template outwards. The lines are looked up in the sources by their
// text, so comment edits do not break the tests (but the artifacts must be rebuilt
// after any edit of the sources, or the reported lines no longer match).
function lineOf(file: string, needle: string): number {
  const lines = readFileSync(path.join(ROOT, "circuits", file), "utf8").split("\n");
  const hits = lines.flatMap((l, idx) => (l.includes(needle) ? [idx + 1] : []));
  if (hits.length !== 1) throw new Error(`expected exactly one line with "${needle}" in ${file}, found ${hits.length}`);
  return hits[0]!;
}

interface Check {
  name: string;
  template: string;
  line: number;
}
const check = (name: string, template: string, file: string, needle: string): Check => ({
  name,
  template,
  line: lineOf(file, needle),
});

const CHECKS = {
  valueRange: check("value range", "Payment", "payment.circom", "Num2Bits(VALUE_BITS)(value)"),
  publicRange: check("public value range", "Payment", "payment.circom", "Num2Bits(VALUE_BITS + 1)(publicValue)"),
  payeeRange: check("payee value range", "Payment", "payment.circom", "Num2Bits(VALUE_BITS)(payeeValue)"),
  changeRange: check("change range (balance)", "Payment", "payment.circom", "Num2Bits(VALUE_BITS)(change)"),
  root: check("computed root == root", "Payment", "payment.circom", "computedRoot === root"),
  leafIndexBits: check(
    "leaf index bit length",
    "LeanMerklePath",
    "lean_merkle_path.circom",
    "Num2Bits(MAX_DEPTH)(leafIndex)",
  ),
  siblingFlag: check(
    "hasSibling is a bit",
    "LeanMerklePath",
    "lean_merkle_path.circom",
    "hasSibling[l] * (hasSibling[l] - 1) === 0",
  ),
  rightHasSibling: check(
    "a right child has a sibling",
    "LeanMerklePath",
    "lean_merkle_path.circom",
    "isRight[l] * (1 - hasSibling[l]) === 0",
  ),
};

/** Asserts the witness calculation rejects `i`, at the check `by`. */
async function expectFails(i: CircuitInput, by: Check) {
  let message: string | undefined;
  // The witness calculator console.error()s every failure before throwing: keep the
  // test output readable.
  const consoleError = console.error;
  console.error = () => {};
  try {
    await witness(i);
  } catch (err) {
    message = err instanceof Error ? err.message : String(err);
  } finally {
    console.error = consoleError;
  }
  if (message === undefined) {
    throw new Error(
      `SOUNDNESS: the circuit accepted an input it must reject (expected "${by.name}"):\n${JSON.stringify(toSnark(i))}`,
    );
  }
  expect(message).to.match(/Assert Failed/);
  const at = new RegExp(`Error in template ${by.template}_\\d+ line: ${by.line}\\b`);
  expect(
    message,
    `expected the "${by.name}" check (${by.template} line ${by.line}) to reject; got: ${message}`,
  ).to.match(at);
}

/** A tree holding `leaves`, with `n` appended last; returns it and n's index. */
function treeWith(n: NoteOpening, leaves: bigint[] = NOTES.slice(0, 2).map(commitmentOf)) {
  const tree = NoteTree.from([...leaves, commitmentOf(n)]);
  return { tree, index: tree.size - 1 };
}

// ------------------------------------------------------------------ tests

describe("Payment circuit v2 (committed artifacts vs the SDK reference)", function () {
  before(function () {
    // The artifacts are the v2 statement the tests assume.
    expect(CIRCUITS.payment.version).to.equal("payment-v2");
    expect(CIRCUITS.payment.publicSignals).to.deep.equal([
      "nullifierHash",
      "payeeCommitment",
      "changeCommitment",
      "root",
      "treeIndex",
      "publicValue",
      "context",
    ]);
    // The default scenario: leaf 3 of 5 is a right child at level 0, a right child at
    // level 1, and a left child with a sibling (leaf 4, carried) at level 2.
    expect(uncompressed(TREE, SPENT_INDEX).hasSibling.slice(0, 4)).to.deep.equal([1n, 1n, 1n, 0n]);
  });

  describe("accepts valid payments, outputs equal the reference", function () {
    it("transparent payment with fee: change = value - amount - fee, payee note worthless", async function () {
      await expectAccepts(witnessInput({ amount: 1_234n, fee: 56n }));
    });

    it("shielded payment: amount 0, payee note = price owned by the API, change = value - price - fee", async function () {
      const out = await expectAccepts(witnessInput(shielded(2_000n)));
      expect(out.payeeCommitment).to.equal(commitmentOf({ value: 2_000n, owner: API_OWNER, blinding: PAYEE_BLINDING }));
    });

    it("shielded payment of the whole note (change 0), and with no fee", async function () {
      await expectAccepts(witnessInput(shielded(SPENT.value - 56n)));
      await expectAccepts(witnessInput(shielded(SPENT.value, 0n)));
    });

    it("amount + fee == value exactly (change 0); zero amount and fee (change = value)", async function () {
      await expectAccepts(witnessInput({ amount: SPENT.value - 99n, fee: 99n }));
      await expectAccepts(witnessInput({ amount: 0n, fee: 0n }));
    });

    it("maximum value: value = amount = 2^128 - 1; and a 2^128 - 1 shielded payee note", async function () {
      const big = note(50, MAX_VALUE);
      const { tree, index } = treeWith(big);
      await expectAccepts(inputFor(tree, index, big, { amount: MAX_VALUE, fee: 0n }));
      await expectAccepts(inputFor(tree, index, big, shielded(MAX_VALUE, 0n)));
    });

    it("maximum value split between amount and fee (2^127 + 2^127 - 1); the public value's top bit", async function () {
      const big = note(51, MAX_VALUE);
      const { tree, index } = treeWith(big);
      await expectAccepts(inputFor(tree, index, big, { amount: 1n << 127n, fee: (1n << 127n) - 1n }));
      // publicValue has 129 bits (amount + fee, each < 2^128): 2^128 - 1 + 1 = 2^128 fits
      // the range check; the balance then refuses it for a note of 2^128 - 1.
      await expectFails(inputFor(tree, index, big, { publicValue: TWO_128 }), CHECKS.changeRange);
    });

    it("single-leaf tree (root == leaf, every level carried)", async function () {
      const n = note(60, 500n);
      const tree = NoteTree.from([commitmentOf(n)]);
      expect(tree.root).to.equal(commitmentOf(n));
      expect(uncompressed(tree, 0).hasSibling.every((h) => h === 0n)).to.equal(true);
      await expectAccepts(inputFor(tree, 0, n, { amount: 100n, fee: 1n }));
    });

    it("last leaf of a 2^3 + 1 leaf tree (carried up three levels, then hashed)", async function () {
      const notes = Array.from({ length: 9 }, (_, i) => note(70 + i, 100n * BigInt(i + 1)));
      const tree = NoteTree.from(notes.map(commitmentOf));
      expect(uncompressed(tree, 8).hasSibling.slice(0, 5)).to.deep.equal([0n, 0n, 0n, 1n, 0n]);
      await expectAccepts(inputFor(tree, 8, notes[8]!, { amount: 300n, fee: 7n }));
    });

    it("every leaf of the 5-leaf tree, each with its own nullifier", async function () {
      const seen = new Set<bigint>();
      for (let i = 0; i < NOTES.length; i++) {
        const out = await expectAccepts(inputFor(TREE, i, NOTES[i]!));
        seen.add(out.nullifierHash!);
      }
      expect(seen.size).to.equal(NOTES.length);
    });

    it("a note keeps its nullifier as the tree grows (position, not the compressed path)", async function () {
      // Leaf 4 of 5 is carried at levels 0 and 1; once leaves 5..7 exist it is hashed
      // at every level. A LeanIMT proof's compressed index changes (0b0 -> 0b100), the
      // position does not, so neither does the spend tag.
      const before = await expectAccepts(inputFor(TREE, 4, NOTES[4]!));
      const more = [...NOTES, note(5, 1n), note(6, 2n), note(7, 3n)];
      const grown = NoteTree.from(more.map(commitmentOf));
      expect(TREE.path(4).indices).to.not.equal(grown.path(4).indices);
      const after = await expectAccepts(inputFor(grown, 4, NOTES[4]!));
      expect(after.nullifierHash).to.equal(before.nullifierHash);
    });

    it("two equal commitments at two positions have two nullifiers (and another tree index a third)", async function () {
      const twin = NOTES[0]!;
      const tree = NoteTree.from([commitmentOf(twin), commitmentOf(NOTES[1]!), commitmentOf(twin)]);
      const a = await expectAccepts(inputFor(tree, 0, twin));
      const b = await expectAccepts(inputFor(tree, 2, twin));
      const c = await expectAccepts(inputFor(tree, 2, twin, { treeIndex: TREE_INDEX + 1n }));
      expect(new Set([a.nullifierHash, b.nullifierHash, c.nullifierHash]).size).to.equal(3);
    });

    it("siblings above the tree's depth are ignored where a level carries (same outputs)", async function () {
      // A carried level never reads its sibling: private-input malleability only, with
      // the same public signals (no second spend). Documented so that it stays known.
      const base = witnessInput();
      const siblings = [...base.siblings];
      siblings[5] = 12345n;
      siblings[MAX_TREE_DEPTH - 1] = 678n;
      const tweaked = { ...base, siblings };
      expect(await outputsOf(tweaked)).to.deep.equal(await outputsOf(base));
    });
  });

  describe("ownership: only the spending key of the note's owner spends it", function () {
    it('a spender with another spending key -> fails at "computed root == root"', async function () {
      // Bob's key gives another owner key, hence another commitment, not in the tree.
      await expectFails(inputFor(TREE, SPENT_INDEX, SPENT, {}, BOB_SK), CHECKS.root);
    });

    it("the creator of a note for someone else (knows value and blinding) cannot spend it", async function () {
      // Alice pays Bob a note; she knows its full opening but not Bob's spending key.
      const forBob = note(40, 777n, BOB);
      const { tree, index } = treeWith(forBob);
      await expectFails(inputFor(tree, index, forBob, { amount: 1n, fee: 0n }, ALICE_SK), CHECKS.root);
      // Bob himself can.
      await expectAccepts(inputFor(tree, index, forBob, { amount: 1n, fee: 0n }, BOB_SK));
    });

    it('the owner key or the nullifying key used as a spending key -> fails at "computed root == root"', async function () {
      await expectFails(inputFor(TREE, SPENT_INDEX, SPENT, {}, ALICE), CHECKS.root);
      await expectFails(inputFor(TREE, SPENT_INDEX, SPENT, {}, nullifyingKeyOf(ALICE_SK)), CHECKS.root);
    });

    it("the change note always belongs to the spender (its owner is not an input)", async function () {
      const out = await expectAccepts(witnessInput(shielded(100n)));
      expect(out.changeCommitment).to.equal(
        commitmentOf({ value: SPENT.value - 156n, owner: ALICE, blinding: CHANGE_BLINDING }),
      );
    });
  });

  describe("rejects invalid membership proofs", function () {
    const base = witnessInput();
    const withAt = (arr: bigint[], level: number, v: bigint) => {
      const out = [...arr];
      out[level] = v;
      return out;
    };
    const cases: [string, Partial<CircuitInput>, Check][] = [
      // Any change to a hashed sibling changes the computed root.
      ["wrong sibling at level 0 (another leaf)", { siblings: withAt(base.siblings, 0, TREE.leaf(1)) }, CHECKS.root],
      ["wrong sibling at level 1 (+1)", { siblings: withAt(base.siblings, 1, base.siblings[1]! + 1n) }, CHECKS.root],
      ["wrong sibling at the top level", { siblings: withAt(base.siblings, 2, 0n) }, CHECKS.root],
      // Another position: the other leaf of the pair, a leaf of the other subtree.
      ["leaf index 2 (left child where it is the right one)", { leafIndex: 2n }, CHECKS.root],
      ["leaf index 1", { leafIndex: 1n }, CHECKS.root],
      // A carry where the tree hashes, and a hash where it carries.
      ["level 2 claimed carried (hasSibling 0)", { hasSibling: withAt(base.hasSibling, 2, 0n) }, CHECKS.root],
      [
        "level 3 claimed hashed (a sibling above the root)",
        { hasSibling: withAt(base.hasSibling, 3, 1n) },
        CHECKS.root,
      ],
      // A right child with no sibling: the bit of a carried level must be 0, else one
      // note would have a position (and a nullifier) per value of the free bits.
      ["leaf index bit 5 set on a carried level", { leafIndex: base.leafIndex + 32n }, CHECKS.rightHasSibling],
      ["leaf index bit 23 set on a carried level", { leafIndex: base.leafIndex + (1n << 23n) }, CHECKS.rightHasSibling],
      // leafIndex must fit in MAX_DEPTH bits (Num2Bits): its bits are the position.
      [
        "leaf index >= 2^MAX_DEPTH",
        { leafIndex: base.leafIndex + (1n << BigInt(MAX_TREE_DEPTH)) },
        CHECKS.leafIndexBits,
      ],
      ["leaf index = p - 1", { leafIndex: P - 1n }, CHECKS.leafIndexBits],
      // hasSibling must be a bit: 2 would mix the hash and the carried node.
      ["hasSibling = 2 at a hashed level", { hasSibling: withAt(base.hasSibling, 0, 2n) }, CHECKS.siblingFlag],
      ["hasSibling = p - 1 (-1)", { hasSibling: withAt(base.hasSibling, 4, P - 1n) }, CHECKS.siblingFlag],
      ["wrong root (+1)", { root: base.root + 1n }, CHECKS.root],
      ["root of another tree", { root: NoteTree.from([TREE.leaf(0), TREE.leaf(1)]).root }, CHECKS.root],
      // (A leaf with every level carried is its own root: that is a one-leaf tree, and
      // only the contract's root history decides which roots are real.)
    ];
    for (const [label, over, by] of cases) {
      it(`${label} -> fails at "${by.name}"`, async function () {
        await expectFails({ ...base, ...over }, by);
      });
    }
  });

  describe("rejects a wrong note opening", function () {
    const cases: [string, Partial<CircuitInput>][] = [
      ["wrong blinding", { blinding: SPENT.blinding + 1n }],
      ["another note's blinding", { blinding: NOTES[2]!.blinding }],
      ["wrong value (+1, i.e. more money than deposited)", { value: SPENT.value + 1n }],
      ["wrong value (-1)", { value: SPENT.value - 1n }],
    ];
    for (const [label, over] of cases) {
      it(`${label} -> fails at "computed root == root"`, async function () {
        await expectFails(witnessInput(over), CHECKS.root);
      });
    }
  });

  describe("rejects unbalanced or out-of-range values", function () {
    const v = SPENT.value;
    const cases: [string, Partial<CircuitInput>, Check, string][] = [
      ["amount > value", { amount: v + 1n, fee: 0n }, CHECKS.changeRange, "change = -1 wraps to p - 1"],
      ["amount + fee = value + 1 (fee overflow)", { amount: v - 10n, fee: 11n }, CHECKS.changeRange, "change = -1"],
      ["payee note worth value + 1 (shielded overpay)", shielded(v + 1n, 0n), CHECKS.changeRange, "change = -1"],
      ["payee value + fee = value + 1", shielded(v - 55n), CHECKS.changeRange, "change = -1"],
      [
        "public value = p - 1 (wrap-around: a public value of -1)",
        { publicValue: P - 1n },
        CHECKS.publicRange,
        "change = value + 1 - payee would be in range: only the public value's range check stops the payer minting 1",
      ],
      [
        "payee value = p - 1 (a payee note of -1 mints into the change)",
        { ...shielded(0n, 0n), payeeValue: P - 1n },
        CHECKS.payeeRange,
        "change = value + 1 would be in range: only the payee value's range check stops it",
      ],
      [
        "public value = 2^129 (above any amount + fee the contract lets through)",
        { publicValue: 2n * TWO_128 },
        CHECKS.publicRange,
        "amount and fee are below 2^128 each",
      ],
      [
        "payee value = 2^128",
        { ...shielded(0n, 0n), payeeValue: TWO_128 },
        CHECKS.payeeRange,
        "note values are uint128",
      ],
      [
        "payee value = p - 2^128 with public value 2^128 (sum wraps to 0)",
        { ...shielded(0n, 0n), payeeValue: P - TWO_128, publicValue: TWO_128 },
        CHECKS.payeeRange,
        "public + payee = 0 mod p, so change = value would balance",
      ],
      [
        "public value = 2^128 + value: more than the note (a fee above the note)",
        { publicValue: TWO_128 + v },
        CHECKS.changeRange,
        "change = value - (2^128 + value) wraps",
      ],
    ];
    for (const [label, over, by, why] of cases) {
      it(`${label} -> fails at "${by.name}" (${why})`, async function () {
        await expectFails(witnessInput(over), by);
      });
    }

    it('value = 2^128 (note really in the tree) -> fails at "value range"', async function () {
      const n = note(80, TWO_128);
      const { tree, index } = treeWith(n);
      await expectFails(inputFor(tree, index, n, { amount: 1n, fee: 0n }), CHECKS.valueRange);
    });

    it('value = p - 1 (note really in the tree) -> fails at "value range"', async function () {
      const n = note(81, P - 1n);
      const { tree, index } = treeWith(n);
      await expectFails(inputFor(tree, index, n, { amount: 1n, fee: 0n }), CHECKS.valueRange);
    });
  });

  describe("forged leaves (leaves and tree nodes are different hash functions)", function () {
    // Found in an earlier review: with a 2-input commitment Poseidon(value,
    // precommitment), the same function as a tree node, a depositor could choose its
    // opaque precommitment as P = Poseidon(X, Poseidon(owner, blinding)): the chain's
    // leaf Poseidon(1, P) would be the parent of a "note" worth X one level below it
    // (sibling 1, right child), so a 1-unit deposit could be spent as X. The outer
    // 1-input hash makes leaves and nodes different functions; kept for v2's notes.
    it("a 1-unit deposit whose precommitment is another note's commitment cannot be spent as that note", async function () {
      const X = MAX_VALUE;
      const fake: NoteOpening = { value: X, owner: ALICE, blinding: 4343n };
      const P1 = commitmentOf(fake); // chosen as the deposit's precommitment
      const depositLeaf = hash1(hash2(1n, P1)); // what the chain computes for a 1-unit deposit
      const tree = NoteTree.from([...NOTES.slice(0, 2).map(commitmentOf), depositLeaf]);
      const real = uncompressed(tree, 2);
      // Spend "note" P1 one level below the deposit leaf: sibling 1 on the left, then
      // the deposit leaf's real path one level up.
      const input = inputFor(tree, 2, fake, {
        amount: X,
        fee: 0n,
        leafIndex: (2n << 1n) | 1n,
        hasSibling: [1n, ...real.hasSibling.slice(0, MAX_TREE_DEPTH - 1)],
        siblings: [1n, ...real.siblings.slice(0, MAX_TREE_DEPTH - 1)],
      });
      expect(hash2(1n, P1)).to.not.equal(depositLeaf);
      await expectFails(input, CHECKS.root);
    });

    it("opening internal node Poseidon(leaf0, leaf1) as a note fails (value range, then membership)", async function () {
      const notes = [0, 1, 2, 3].map((i) => note(90 + i, 1_000_000n * BigInt(i + 1)));
      const leaves = notes.map(commitmentOf);
      const tree = NoteTree.from(leaves);
      const L = hash2(leaves[0]!, leaves[1]!);
      const sibling = hash2(leaves[2]!, leaves[3]!);
      expect(hash2(L, sibling)).to.equal(tree.root);
      // "note" of value leaf0 whose precommitment is leaf1 would hash to the node L if
      // leaves and nodes were the same function; leaf0 (a hash) is far above 2^128.
      const input = inputFor(tree, 0, notes[0]!, {
        value: leaves[0]!,
        blinding: precommitmentOf(ALICE, notes[1]!.blinding),
        amount: 0n,
        fee: 0n,
        leafIndex: 0n,
        hasSibling: [1n, ...Array<bigint>(MAX_TREE_DEPTH - 1).fill(0n)],
        siblings: [sibling, ...Array<bigint>(MAX_TREE_DEPTH - 1).fill(0n)],
      });
      await expectFails(input, CHECKS.valueRange);
    });

    it('a leaf committing to a hash-sized value in the tree -> fails at "value range"', async function () {
      const n = note(95, hash2(12n, 34n));
      expect(n.value > MAX_VALUE).to.equal(true);
      const { tree, index } = treeWith(n);
      await expectFails(inputFor(tree, index, n, { amount: MAX_VALUE, fee: MAX_VALUE }), CHECKS.valueRange);
    });
  });

  describe("full Groth16 proofs (proving key + verification key)", function () {
    // NoteTree.from builds tree 0 of a pool; provePayment checks the position is the path's.
    const pos = (index: number) => ({ treeIndex: 0, leafIndex: index });
    const paymentOf = (
      tree: NoteTree,
      index: number,
      n: NoteOpening,
      amount: bigint,
      fee: bigint,
      context: bigint,
      payee: NoteOpening = { value: 0n, owner: 0n, blinding: 0n },
    ): PaymentWitness => ({
      note: n,
      spendingKey: ALICE_SK,
      position: pos(index),
      path: tree.path(index),
      amount,
      fee,
      context,
      payee,
      changeBlinding: CHANGE_BLINDING,
    });

    it("a shielded proof verifies, and fails with any public signal tampered", async function () {
      const payee = { value: 2_000n, owner: API_OWNER, blinding: PAYEE_BLINDING };
      const w = paymentOf(TREE, SPENT_INDEX, SPENT, 0n, 56n, CONTEXT, payee);
      const r = await provePayment(w, ARTIFACTS);
      const cm = commitmentOf(SPENT);
      expect(r.publicSignals).to.deep.equal([
        nullifierHashOf(nullifyingKeyOf(ALICE_SK), cm, pos(SPENT_INDEX)),
        commitmentOf(payee),
        commitmentOf({ value: SPENT.value - 2_056n, owner: ALICE, blinding: CHANGE_BLINDING }),
        TREE.root,
        0n, // tree 0
        56n, // publicValue = amount 0 + fee 56
        CONTEXT,
      ]);
      expect(await verifyPaymentProof(vkey, r.proof, r.publicSignals)).to.equal(true);
      const names = CIRCUITS.payment.publicSignals;
      for (let i = 0; i < names.length; i++) {
        const tampered = [...r.publicSignals];
        tampered[i] = (tampered[i]! + 1n) % P;
        expect(await verifyPaymentProof(vkey, r.proof, tampered), `${names[i]} + 1 must not verify`).to.equal(false);
      }
      // Another payee note (the same proof redirected to another commitment) fails.
      const redirected = [...r.publicSignals];
      redirected[1] = commitmentOf({ ...payee, owner: BOB });
      expect(await verifyPaymentProof(vkey, r.proof, redirected)).to.equal(false);
    });

    it("a maximum-value transparent payment (2^128 - 1, change 0) proves and verifies", async function () {
      const big = note(52, MAX_VALUE);
      const { tree, index } = treeWith(big);
      const w = paymentOf(tree, index, big, MAX_VALUE - 1n, 1n, P - 1n);
      const r = await provePayment(w, ARTIFACTS);
      expect(await verifyPaymentProof(vkey, r.proof, r.publicSignals)).to.equal(true);
      const tampered = [...r.publicSignals];
      tampered[5] = MAX_VALUE + 1n; // publicValue + 1
      expect(await verifyPaymentProof(vkey, r.proof, tampered)).to.equal(false);
    });
  });
});

after(async function () {
  await shutdownProver();
});
