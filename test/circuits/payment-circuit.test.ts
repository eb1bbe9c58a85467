import { readFileSync } from "node:fs";
import path from "node:path";

import { expect } from "chai";
import * as snarkjs from "snarkjs";

import { ROOT } from "../../scripts/lib/paths.js";
import { MAX_TREE_DEPTH, MAX_VALUE, SNARK_SCALAR_FIELD } from "../../sdk/core/field.js";
import { commitmentOf, nullifierHashOf, precommitmentOf, type NoteSecrets } from "../../sdk/core/note.js";
import { hash1, hash2 } from "../../sdk/core/poseidon.js";
import { provePayment, verifyPaymentProof, type PaymentWitness } from "../../sdk/core/circuits/payment.js";
import { shutdownProver } from "../../sdk/core/prover.js";
import { NoteTree, type MerklePath } from "../../sdk/core/tree.js";
import { ARTIFACTS } from "../helpers/pool.js";

// The payment circuit, tested directly on its committed artifacts (circuits/artifacts)
// against the SDK's reference implementation (note.ts, tree.ts). Most cases only
// compute a witness (~100 ms): circom's witness calculator evaluates every `===` and
// throws "Assert Failed" on the first violated one, naming the template and source
// line, so a must-fail case can also say *which* check rejected it. A couple of full
// Groth16 proofs (~2 s each) check the proving key and verification key end to end.

const P = SNARK_SCALAR_FIELD;
const TWO_128 = 1n << 128n;
const vkey: unknown = JSON.parse(readFileSync(path.join(ROOT, "circuits", "artifacts", "payment.vkey.json"), "utf8"));

// ------------------------------------------------------------------ circuit input

/** The circuit's inputs, as bigints (converted to decimal strings for snarkjs). */
interface CircuitInput {
  root: bigint;
  amount: bigint;
  fee: bigint;
  context: bigint;
  value: bigint;
  nullifier: bigint;
  secret: bigint;
  depth: bigint;
  indices: bigint;
  siblings: bigint[];
  changeNullifier: bigint;
  changeSecret: bigint;
}

type Note = { value: bigint } & NoteSecrets;

const note = (i: number, value: bigint): Note => ({
  value,
  nullifier: hash1(1000n + BigInt(i)),
  secret: hash1(2000n + BigInt(i)),
});
const CHANGE: NoteSecrets = { nullifier: hash1(7001n), secret: hash1(7002n) };
const CONTEXT = hash2(0x402n, 0x2c4n); // any field element: the contract derives it from the call's terms

/** The default scenario: a 5-leaf tree, spending the note at index 3 (depth 3, indices 0b011). */
const NOTES = [0, 1, 2, 3, 4].map((i) => note(i, 10_000n + BigInt(i)));
const TREE = NoteTree.from(NOTES.map((n) => commitmentOf(n.value, n)));
const SPENT = NOTES[3]!;
const SPENT_INDEX = 3;

/** A valid input spending `n` (leaf `index` of `tree`), with `pay` and any field overridden. */
function inputFor(tree: NoteTree, index: number, n: Note, over: Partial<CircuitInput> = {}): CircuitInput {
  const p: MerklePath = tree.path(index);
  return {
    root: p.root,
    amount: 1_234n,
    fee: 56n,
    context: CONTEXT,
    value: n.value,
    nullifier: n.nullifier,
    secret: n.secret,
    depth: BigInt(p.depth),
    indices: p.indices,
    siblings: p.siblings,
    changeNullifier: CHANGE.nullifier,
    changeSecret: CHANGE.secret,
    ...over,
  };
}

/** A valid input for the default scenario, with any field overridden. */
function witnessInput(over: Partial<CircuitInput> = {}): CircuitInput {
  return inputFor(TREE, SPENT_INDEX, SPENT, over);
}

function toSnark(i: CircuitInput): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(i)) out[k] = Array.isArray(v) ? v.map(String) : String(v);
  return out;
}

/** Computes the witness (throws on a violated constraint). */
async function witness(i: CircuitInput): Promise<bigint[]> {
  const w: { type: "mem"; data?: Uint8Array } = { type: "mem" };
  await snarkjs.wtns.calculate(toSnark(i), ARTIFACTS.wasm, w);
  return snarkjs.wtns.exportJson(w);
}

/** Witness layout: [1, nullifierHash, changeCommitment, root, amount, fee, context, ...private]. */
async function outputsOf(i: CircuitInput) {
  const w = await witness(i);
  return {
    nullifierHash: w[1],
    changeCommitment: w[2],
    publicInputs: w.slice(3, 7),
  };
}

/** Asserts the circuit accepts `i` and its outputs equal the reference implementation. */
async function expectAccepts(i: CircuitInput) {
  const out = await outputsOf(i);
  const changeValue = i.value - i.amount - i.fee;
  expect(changeValue >= 0n, "test bug: negative change").to.equal(true);
  expect(out.nullifierHash).to.equal(nullifierHashOf(i));
  expect(out.changeCommitment).to.equal(
    commitmentOf(changeValue, {
      nullifier: i.changeNullifier,
      secret: i.changeSecret,
    }),
  );
  expect(out.publicInputs).to.deep.equal([i.root, i.amount, i.fee, i.context]);
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
  amountRange: check("amount range", "Payment", "payment.circom", "Num2Bits(VALUE_BITS)(amount)"),
  feeRange: check("fee range", "Payment", "payment.circom", "Num2Bits(VALUE_BITS)(fee)"),
  changeRange: check("change range (balance)", "Payment", "payment.circom", "Num2Bits(VALUE_BITS)(change)"),
  root: check("computed root == root", "Payment", "payment.circom", "computedRoot === root"),
  freshNullifier: check("fresh change nullifier", "Payment", "payment.circom", "sameNullifier === 0"),
  depthBits: check("depth bit length", "LeanMerkleRoot", "lean_merkle_root.circom", "Num2Bits(DEPTH_BITS)(depth)"),
  depthMax: check("depth <= MAX_DEPTH", "LeanMerkleRoot", "lean_merkle_root.circom", "depthOk === 1"),
  pathBits: check("path bit length", "LeanMerkleRoot", "lean_merkle_root.circom", "Num2Bits(MAX_DEPTH)(indices)"),
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
function treeWith(n: Note, leaves: bigint[] = NOTES.slice(0, 2).map((x) => commitmentOf(x.value, x))) {
  const tree = NoteTree.from([...leaves, commitmentOf(n.value, n)]);
  return { tree, index: tree.size - 1 };
}

// ------------------------------------------------------------------ tests

describe("Payment circuit (committed artifacts vs the SDK reference)", function () {
  before(function () {
    // The default scenario is what the tests assume it is.
    expect(TREE.path(SPENT_INDEX).depth).to.equal(3);
    expect(TREE.path(SPENT_INDEX).indices).to.equal(0b011n);
    expect(TREE.path(SPENT_INDEX).siblings).to.have.length(MAX_TREE_DEPTH);
  });

  describe("accepts valid payments, outputs equal the reference", function () {
    it("ordinary payment with fee: change = value - amount - fee", async function () {
      await expectAccepts(witnessInput({ amount: 1_234n, fee: 56n }));
    });

    it("amount + fee == value exactly (change 0)", async function () {
      await expectAccepts(witnessInput({ amount: SPENT.value - 99n, fee: 99n }));
    });

    it("zero amount and zero fee (change = value)", async function () {
      await expectAccepts(witnessInput({ amount: 0n, fee: 0n }));
    });

    it("maximum value: value = amount = 2^128 - 1, fee 0", async function () {
      const big = note(50, MAX_VALUE);
      const { tree, index } = treeWith(big);
      await expectAccepts(inputFor(tree, index, big, { amount: MAX_VALUE, fee: 0n }));
    });

    it("maximum value split between amount and fee (2^127 + 2^127 - 1)", async function () {
      const big = note(51, MAX_VALUE);
      const { tree, index } = treeWith(big);
      await expectAccepts(
        inputFor(tree, index, big, {
          amount: 1n << 127n,
          fee: (1n << 127n) - 1n,
        }),
      );
    });

    it("single-leaf tree (depth 0: root == leaf)", async function () {
      const n = note(60, 500n);
      const tree = NoteTree.from([commitmentOf(n.value, n)]);
      const p = tree.path(0);
      expect(p.depth).to.equal(0);
      expect(p.root).to.equal(commitmentOf(n.value, n));
      await expectAccepts(inputFor(tree, 0, n, { amount: 100n, fee: 1n }));
    });

    it("last leaf of a 2^3 + 1 leaf tree (carried up two levels)", async function () {
      const notes = Array.from({ length: 9 }, (_, i) => note(70 + i, 100n * BigInt(i + 1)));
      const tree = NoteTree.from(notes.map((n) => commitmentOf(n.value, n)));
      const p = tree.path(8);
      // Levels 0-2 have no sibling (carried), level 3 hashes with the first 8 leaves' root.
      expect(p.depth).to.equal(1);
      expect(p.indices).to.equal(1n);
      await expectAccepts(inputFor(tree, 8, notes[8]!, { amount: 300n, fee: 7n }));
    });

    it("every leaf of the 5-leaf tree", async function () {
      for (let i = 0; i < NOTES.length; i++) await expectAccepts(inputFor(TREE, i, NOTES[i]!));
    });

    it("ignores path bits and siblings above depth (private-input malleability only: same outputs)", async function () {
      // Only levels < depth are hashed, so bits of `indices` and `siblings` above depth
      // are free. Harmless: the public signals (nullifierHash above all) are unchanged,
      // so this gives no second spend; it is documented here so that it stays a known
      // property rather than a surprise.
      const base = witnessInput();
      const siblings = [...base.siblings];
      siblings[5] = 12345n;
      const tweaked = {
        ...base,
        indices: base.indices | (1n << 5n) | (1n << BigInt(MAX_TREE_DEPTH - 1)),
        siblings,
      };
      await expectAccepts(tweaked);
      expect(await outputsOf(tweaked)).to.deep.equal(await outputsOf(base));
    });
  });

  describe("rejects invalid membership proofs", function () {
    const base = witnessInput();
    const withSibling = (level: number, v: bigint) => {
      const siblings = [...base.siblings];
      siblings[level] = v;
      return siblings;
    };
    const cases: [string, Partial<CircuitInput>, Check][] = [
      // Any change to a sibling below depth changes the computed root.
      ["wrong sibling at level 0 (another leaf)", { siblings: withSibling(0, TREE.leaf(1)) }, CHECKS.root],
      ["wrong sibling at level 1 (+1)", { siblings: withSibling(1, base.siblings[1]! + 1n) }, CHECKS.root],
      ["wrong sibling at the top level (depth - 1)", { siblings: withSibling(2, 0n) }, CHECKS.root],
      // Flipping a used path bit swaps left and right at that level.
      ["wrong path bit 0 (indices 0b010)", { indices: 0b010n }, CHECKS.root],
      ["wrong path bit 1 (indices 0b001)", { indices: 0b001n }, CHECKS.root],
      ["wrong path bit 2 (indices 0b111)", { indices: 0b111n }, CHECKS.root],
      // indices must fit in MAX_DEPTH bits (Num2Bits), otherwise it is not a path.
      ["indices >= 2^MAX_DEPTH", { indices: base.indices + (1n << BigInt(MAX_TREE_DEPTH)) }, CHECKS.pathBits],
      ["indices = p - 1", { indices: P - 1n }, CHECKS.pathBits],
      ["wrong root (+1)", { root: base.root + 1n }, CHECKS.root],
      ["root of another tree", { root: NoteTree.from([TREE.leaf(0), TREE.leaf(1)]).root }, CHECKS.root],
      // The root is the node after exactly `depth` hashes: one fewer or one more is
      // another node (an internal node / the hash of the root with a zero sibling).
      ["depth - 1", { depth: base.depth - 1n }, CHECKS.root],
      ["depth + 1", { depth: base.depth + 1n }, CHECKS.root],
      ["depth 0 (leaf presented as root)", { depth: 0n }, CHECKS.root],
      // depth must lie in [0, MAX_DEPTH = 24]: 25 fits in the 5 depth bits but exceeds
      // 24, 32 does not even fit in 5 bits; with no isAtDepth selected the root would be 0.
      ["depth = 25 (> MAX_DEPTH)", { depth: 25n }, CHECKS.depthMax],
      ["depth = 31", { depth: 31n }, CHECKS.depthMax],
      ["depth = 32", { depth: 32n }, CHECKS.depthBits],
      ["depth = p - 1 (-1)", { depth: P - 1n }, CHECKS.depthBits],
      ["depth = 25 with root 0 (what an unselected root would be)", { depth: 25n, root: 0n }, CHECKS.depthMax],
    ];
    for (const [label, over, by] of cases) {
      it(`${label} -> fails at "${by.name}"`, async function () {
        await expectFails({ ...base, ...over }, by);
      });
    }
  });

  describe("rejects a wrong note opening", function () {
    // The commitment is Poseidon(value, Poseidon(nullifier, secret)): any other opening
    // gives another leaf, which is not in the tree, so the root check fails.
    const cases: [string, Partial<CircuitInput>][] = [
      ["wrong secret", { secret: SPENT.secret + 1n }],
      ["wrong nullifier", { nullifier: SPENT.nullifier + 1n }],
      ["another note's nullifier and secret", { nullifier: NOTES[2]!.nullifier, secret: NOTES[2]!.secret }],
      ["nullifier and secret swapped", { nullifier: SPENT.secret, secret: SPENT.nullifier }],
      ["wrong value (+1, i.e. more money than deposited)", { value: SPENT.value + 1n }],
      ["wrong value (-1)", { value: SPENT.value - 1n }],
    ];
    for (const [label, over] of cases) {
      it(`${label} -> fails at "computed root == root"`, async function () {
        await expectFails(witnessInput(over), CHECKS.root);
      });
    }

    it('change nullifier equal to the spent nullifier ("reused nullifier secret") -> fails at "fresh change nullifier"', async function () {
      // The change note would carry an already-spent tag and be locked for ever.
      await expectFails(witnessInput({ changeNullifier: SPENT.nullifier }), CHECKS.freshNullifier);
      // Also with a different change secret (the tag depends on the nullifier only).
      await expectFails(
        witnessInput({
          changeNullifier: SPENT.nullifier,
          changeSecret: SPENT.secret,
        }),
        CHECKS.freshNullifier,
      );
      // The same field element written as nullifier + p (the witness calculator reduces mod p).
      await expectFails(witnessInput({ changeNullifier: SPENT.nullifier + P }), CHECKS.freshNullifier);
    });
  });

  describe("rejects unbalanced or out-of-range values", function () {
    const v = SPENT.value;
    const cases: [string, Partial<CircuitInput>, Check, string][] = [
      ["amount > value", { amount: v + 1n, fee: 0n }, CHECKS.changeRange, "change = -1 wraps to p - 1"],
      ["amount + fee = value + 1 (fee overflow)", { amount: v - 10n, fee: 11n }, CHECKS.changeRange, "change = -1"],
      ["amount = value, fee = 1", { amount: v, fee: 1n }, CHECKS.changeRange, "change = -1"],
      [
        "fee = p - 1 (wrap-around: fee of -1)",
        { amount: 100n, fee: P - 1n },
        CHECKS.feeRange,
        "change = value - 100 + 1 would be in range: only the fee's own range check stops the payer minting 1",
      ],
      [
        "amount = p - 1 (wrap-around: amount of -1)",
        { amount: P - 1n, fee: 0n },
        CHECKS.amountRange,
        "change = value + 1 would be in range: only the amount's range check stops it",
      ],
      ["amount = 2^128", { amount: TWO_128, fee: 0n }, CHECKS.amountRange, "amounts are uint128"],
      ["fee = 2^128", { amount: 0n, fee: TWO_128 }, CHECKS.feeRange, "fees are uint128"],
      [
        "amount = p - 2^128, fee = 2^128 (sum wraps to 0 mod p)",
        { amount: P - TWO_128, fee: TWO_128 },
        CHECKS.amountRange,
        "amount + fee = 0 mod p, so change = value would balance",
      ],
    ];
    for (const [label, over, by, why] of cases) {
      it(`${label} -> fails at "${by.name}" (${why})`, async function () {
        await expectFails(witnessInput(over), by);
      });
    }

    it('value = 2^128 (note really in the tree) -> fails at "value range"', async function () {
      // Membership holds and change = 2^128 - 1 is in range: only the value's own range
      // check rejects. (The contract never creates such a note, but the circuit must
      // not rely on that.)
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
    // Found in review: with a 2-input commitment Poseidon(value, precommitment), the
    // same function as a tree node, a depositor could choose its opaque precommitment
    // as P = Poseidon(X, Poseidon(n2, s2)): the chain's leaf Poseidon(1, P) is then the
    // parent of a "note" worth X sitting one level below it (sibling 1, path bit 1), so
    // a 1-unit deposit could be spent as X < 2^128, past every range check. The
    // commitment's outer 1-input hash makes leaves and nodes different functions.
    it("a 1-unit deposit whose precommitment is another note's commitment cannot be spent as that note", async function () {
      const X = MAX_VALUE;
      const fakeSecrets = { nullifier: 4242n, secret: 4343n };
      const P = commitmentOf(X, fakeSecrets); // chosen as the deposit's precommitment
      const depositLeaf = hash1(hash2(1n, P)); // what the chain computes for a 1-unit deposit
      const leaves = [NOTES[0]!, NOTES[1]!].map((n) => commitmentOf(n.value, n));
      const tree = NoteTree.from([...leaves, depositLeaf]);
      const real = tree.path(2);
      // Spend "note" P one level below the deposit leaf: sibling 1 on the left.
      const input: CircuitInput = {
        root: tree.root,
        amount: X,
        fee: 0n,
        context: CONTEXT,
        value: X,
        nullifier: fakeSecrets.nullifier,
        secret: fakeSecrets.secret,
        depth: BigInt(real.depth + 1),
        indices: (real.indices << 1n) | 1n,
        siblings: [1n, ...real.siblings.slice(0, MAX_TREE_DEPTH - 1)],
        changeNullifier: CHANGE.nullifier,
        changeSecret: CHANGE.secret,
      };
      // The node Poseidon(1, P) is not the leaf Poseidon1(Poseidon(1, P)): the path misses the root.
      expect(hash2(1n, P)).to.not.equal(depositLeaf);
      await expectFails(input, CHECKS.root);
    });

    it("opening internal node Poseidon(leaf0, leaf1) as a note fails (value range, then membership)", async function () {
      // An internal node L = Poseidon(leaf0, leaf1) would be a "note" of value leaf0 if
      // leaves and nodes were the same function. They are not, and leaf0 (a hash) is far
      // above 2^128 anyway: the value range check fires first.
      const notes = [0, 1, 2, 3].map((i) => note(90 + i, 1_000_000n * BigInt(i + 1)));
      const leaves = notes.map((n) => commitmentOf(n.value, n));
      const tree = NoteTree.from(leaves);
      const L = hash2(leaves[0]!, leaves[1]!);
      const fake: Note = { value: leaves[0]!, nullifier: notes[1]!.value, secret: precommitmentOf(notes[1]!) };
      expect(commitmentOf(fake.value, fake)).to.not.equal(L);
      const sibling = hash2(leaves[2]!, leaves[3]!);
      expect(hash2(L, sibling)).to.equal(tree.root);
      const siblings = [sibling, ...Array<bigint>(MAX_TREE_DEPTH - 1).fill(0n)];
      const input: CircuitInput = {
        root: tree.root,
        amount: 0n,
        fee: 0n,
        context: CONTEXT,
        value: fake.value,
        nullifier: fake.nullifier,
        secret: fake.secret,
        depth: 1n,
        indices: 0n,
        siblings,
        changeNullifier: CHANGE.nullifier,
        changeSecret: CHANGE.secret,
      };
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
    const paymentOf = (
      tree: NoteTree,
      index: number,
      n: Note,
      amount: bigint,
      fee: bigint,
      context: bigint,
    ): PaymentWitness => ({
      note: n,
      path: tree.path(index),
      amount,
      fee,
      context,
      change: CHANGE,
    });
    const expectedSignals = (w: PaymentWitness) => [
      nullifierHashOf(w.note),
      commitmentOf(w.note.value - w.amount - w.fee, w.change),
      w.path.root,
      w.amount,
      w.fee,
      w.context,
    ];

    it("a proof verifies, and fails with any public signal tampered (context+1, amount+1, ...)", async function () {
      const w = paymentOf(TREE, SPENT_INDEX, SPENT, 1_234n, 56n, CONTEXT);
      const r = await provePayment(w, ARTIFACTS);
      expect(r.publicSignals).to.deep.equal(expectedSignals(w));
      expect(await verifyPaymentProof(vkey, r.proof, r.publicSignals)).to.equal(true);

      const names = ["nullifierHash", "changeCommitment", "root", "amount", "fee", "context"];
      for (let i = 0; i < names.length; i++) {
        const tampered = [...r.publicSignals];
        tampered[i] = (tampered[i]! + 1n) % P;
        expect(await verifyPaymentProof(vkey, r.proof, tampered), `${names[i]} + 1 must not verify`).to.equal(false);
      }
      // Context C + 1 is another payment (another payee, relayer, fee, memo...): the
      // proof for C must not transfer to it; nor to an unrelated context.
      const c1 = [...r.publicSignals];
      c1[5] = CONTEXT + 1n;
      expect(await verifyPaymentProof(vkey, r.proof, c1)).to.equal(false);
      const c0 = [...r.publicSignals];
      c0[5] = 0n;
      expect(await verifyPaymentProof(vkey, r.proof, c0)).to.equal(false);
      // The fee is bound too: a relayer cannot raise its own fee.
      const feeUp = [...r.publicSignals];
      feeUp[4] = 1_000n;
      expect(await verifyPaymentProof(vkey, r.proof, feeUp)).to.equal(false);
    });

    it("a maximum-value payment (2^128 - 1, change 0) proves and verifies", async function () {
      const big = note(52, MAX_VALUE);
      const { tree, index } = treeWith(big);
      const w = paymentOf(tree, index, big, MAX_VALUE - 1n, 1n, P - 1n);
      const r = await provePayment(w, ARTIFACTS);
      expect(r.publicSignals).to.deep.equal(expectedSignals(w));
      expect(await verifyPaymentProof(vkey, r.proof, r.publicSignals)).to.equal(true);
      const tampered = [...r.publicSignals];
      tampered[3] = MAX_VALUE; // amount + 1
      expect(await verifyPaymentProof(vkey, r.proof, tampered)).to.equal(false);
    });
  });
});

after(async function () {
  await shutdownProver();
});
