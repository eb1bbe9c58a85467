import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { expect } from "chai";
import type * as MclModule from "mcl-wasm";

import { isZkPayError } from "../../sdk/core/errors.js";
import { commitmentOf, notePosition, ownerKeyOf, type NoteOpening } from "../../sdk/core/note.js";
import { hash1, hash2 } from "../../sdk/core/poseidon.js";
import { CIRCUITS, PAYMENT_SIGNALS } from "../../sdk/core/circuits/registry.js";
import { fromSolidityProof, type Groth16Proof, type SolidityProof } from "../../sdk/core/circuits/proof.js";
import { preloadArtifacts } from "../../sdk/core/circuits/artifacts.js";
import {
  provePayment,
  verifyPaymentProof,
  verifyPaymentProofSnarkjs,
  type PaymentProofResult,
  type PaymentWitness,
} from "../../sdk/core/circuits/payment.js";
import { shutdownProver } from "../../sdk/core/prover.js";
import { NoteTree } from "../../sdk/core/tree.js";
import { Groth16Verifier, type Groth16BatchItem } from "../../sdk/core/verifier.js";
import { WorkerVerifier } from "../../sdk/node/worker-verifier.js";
import { inOrderConcurrently } from "../helpers/parallel.js";

// The fast verifier (mcl-wasm) against snarkjs as the reference, on real payment proofs
// generated off-chain (no contract involved) and on every kind of malformed input.

const DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "circuits", "artifacts");
const ARTIFACTS = { wasm: path.join(DIR, "payment.wasm"), zkey: path.join(DIR, "payment.zkey") };
const vkey: unknown = JSON.parse(readFileSync(path.join(DIR, "payment.vkey.json"), "utf8"));

/** BN254 scalar field r and base field q. */
const R = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;
const Q = 21888242871839275222246405745257275088696311157297823662689037894645226208583n;
const NAMES: readonly string[] = CIRCUITS.payment.publicSignals;
const N = NAMES.length; // 8 (payment-v2)

const SK = hash1(0x5eedn);
const OWNER = ownerKeyOf(SK);
const note = (i: number, value: bigint): NoteOpening => ({ value, owner: OWNER, blinding: hash1(5000n + BigInt(i)) });
const NOTES = [0, 1, 2, 3, 4].map((i) => note(i, 50_000n + BigInt(i)));
const TREE = NoteTree.from(NOTES.map((n) => commitmentOf(n)));
const PAYEE_OWNER = ownerKeyOf(hash1(0xbeefn));

/** Payment `i` from note `i`: transparent for even i, shielded (a payee note, amount 0) for odd i. */
async function prove(i: number): Promise<PaymentProofResult> {
  const shielded = i % 2 === 1;
  const price = 1_000n + BigInt(i);
  return provePayment(
    {
      note: NOTES[i]!,
      spendingKey: SK,
      position: notePosition(i, TREE.levels),
      path: TREE.path(i),
      amount: shielded ? 0n : price,
      fee: BigInt(i),
      context: hash2(0x402n, BigInt(i)),
      payee: shielded
        ? { value: price, owner: PAYEE_OWNER, blinding: hash1(9000n + BigInt(i)) }
        : { value: 0n, owner: 0n, blinding: 0n },
      changeBlinding: hash1(7000n + BigInt(i)),
    },
    ARTIFACTS,
  );
}

/** A 1-unit payment from note `i`, for the proving tests (change blinding from `seed`). */
function smallPayment(i: number, context: bigint, seed: bigint): PaymentWitness {
  return {
    note: NOTES[i]!,
    spendingKey: SK,
    position: notePosition(i, TREE.levels),
    path: TREE.path(i),
    amount: 1n,
    fee: 0n,
    context,
    payee: { value: 0n, owner: 0n, blinding: 0n },
    changeBlinding: hash1(seed),
  };
}

/** The points of the G2 twist y^2 = x^3 + 3/(9+u), found by trying x = 1, 2, ... without cofactor clearing. */
function outOfSubgroupG2(mcl: typeof MclModule): [[bigint, bigint], [bigint, bigint]] {
  const fp2 = (a: bigint, b: bigint) => {
    const f = new mcl.Fp2();
    f.setStr(`${a} ${b}`, 10);
    return f;
  };
  const twistB = mcl.div(fp2(3n, 0n), fp2(9n, 1n));
  const parts = (f: MclModule.Fp2): [bigint, bigint] => [BigInt(f.get_a().getStr(10)), BigInt(f.get_b().getStr(10))];
  for (let i = 1n; i < 100n; i++) {
    const x = fp2(i, 0n);
    const [isSquare, y] = mcl.squareRoot(mcl.add(mcl.mul(mcl.sqr(x), x), twistB));
    if (!isSquare) continue;
    const [x0, x1] = parts(x);
    const [y0, y1] = parts(y);
    mcl.verifyOrderG2(false);
    try {
      const p = new mcl.G2();
      p.setStr(`1 ${x0} ${x1} ${y0} ${y1}`, 10);
      expect(p.isValid(), "on the twist").to.equal(true);
      if (p.isValidOrder()) continue; // (never: the cofactor is ~2^254)
      // r * P != 0, computed as (r - 1) * P + P.
      const rMinus1 = new mcl.Fr();
      rMinus1.setStr((R - 1n).toString(10), 10);
      expect(mcl.add(mcl.mul(p, rMinus1), p).isZero(), "r * P must not be 0").to.equal(false);
      return [
        [x0, x1],
        [y0, y1],
      ];
    } finally {
      mcl.verifyOrderG2(true);
    }
  }
  throw new Error("no twist point found");
}

describe("Groth16Verifier (mcl-wasm) vs snarkjs", function () {
  this.timeout(180_000);
  let proofs: PaymentProofResult[];
  let verifier: Groth16Verifier;
  let mcl: typeof MclModule;

  before(async function () {
    // Distinct real proofs, generated off-chain once, two at a time (helpers/parallel).
    proofs = await inOrderConcurrently([0, 1, 2, 3].map((i) => () => prove(i)));
    verifier = await Groth16Verifier.fromVkey(vkey);
    const mod = (await import("mcl-wasm")) as typeof MclModule & { default?: typeof MclModule };
    mcl = mod.default ?? mod;
  });

  after(async function () {
    await shutdownProver();
  });

  /** Asserts the fast verifier (all entry points) gives `expected`, and snarkjs gives `reference` (default: the same). */
  async function agree(
    name: string,
    proof: SolidityProof,
    signals: readonly bigint[],
    expected: boolean,
    reference = expected,
  ) {
    expect(await verifyPaymentProofSnarkjs(vkey, proof, signals), `${name}: snarkjs`).to.equal(reference);
    expect(verifier.verify(proof, signals), `${name}: fast`).to.equal(expected);
    expect(await verifyPaymentProof(vkey, proof, signals), `${name}: verifyPaymentProof`).to.equal(expected);
  }

  it("accepts valid proofs, in the Solidity and the snarkjs layout", async function () {
    for (const p of proofs) {
      await agree("valid", p.proof, p.publicSignals, true);
      expect(verifier.verify(fromSolidityProof(p.proof), p.publicSignals)).to.equal(true);
      expect(verifier.verify(p.proof, p.publicSignals.map(String)), "decimal strings").to.equal(true);
    }
    expect(verifier.nPublic).to.equal(N);
  });

  it("rejects every tampered public signal, and signals >= r", async function () {
    const p = proofs[0]!;
    for (let i = 0; i < N; i++) {
      const s = [...p.publicSignals];
      s[i] = (s[i]! + 1n) % R;
      await agree(`${NAMES[i]} + 1`, p.proof, s, false);
      const big = [...p.publicSignals];
      big[i] = big[i]! + R; // the same value mod r: snarkjs and the contract refuse it
      await agree(`${NAMES[i]} + r`, p.proof, big, false);
    }
    const neg = [...p.publicSignals];
    neg[3] = -1n;
    await agree("negative signal", p.proof, neg, false);
    // Another valid proof's signals.
    await agree("signals of another proof", p.proof, proofs[1]!.publicSignals, false);
  });

  it("rejects a wrong number of public signals", async function () {
    const p = proofs[0]!;
    await agree(`${N - 1} signals`, p.proof, p.publicSignals.slice(0, N - 1), false);
    await agree(`${N + 1} signals`, p.proof, [...p.publicSignals, 0n], false);
    await agree("no signals", p.proof, [], false);
  });

  it("rejects coordinates >= q (snarkjs reduces them mod q and accepts; EIP-197 refuses)", async function () {
    const p = proofs[0]!;
    const coords: [string, (x: SolidityProof, d: bigint) => SolidityProof][] = [
      ["pA.x", (x, d) => ({ ...x, pA: [x.pA[0] + d, x.pA[1]] })],
      ["pA.y", (x, d) => ({ ...x, pA: [x.pA[0], x.pA[1] + d] })],
      ["pC.x", (x, d) => ({ ...x, pC: [x.pC[0] + d, x.pC[1]] })],
      ["pC.y", (x, d) => ({ ...x, pC: [x.pC[0], x.pC[1] + d] })],
      ["pB.x1", (x, d) => ({ ...x, pB: [[x.pB[0][0] + d, x.pB[0][1]], x.pB[1]] })],
      ["pB.x0", (x, d) => ({ ...x, pB: [[x.pB[0][0], x.pB[0][1] + d], x.pB[1]] })],
      ["pB.y1", (x, d) => ({ ...x, pB: [x.pB[0], [x.pB[1][0] + d, x.pB[1][1]]] })],
      ["pB.y0", (x, d) => ({ ...x, pB: [x.pB[0], [x.pB[1][0], x.pB[1][1] + d]] })],
    ];
    const coordOf = (name: string, x: SolidityProof): bigint =>
      ({
        "pA.x": x.pA[0],
        "pA.y": x.pA[1],
        "pC.x": x.pC[0],
        "pC.y": x.pC[1],
        "pB.x1": x.pB[0][0],
        "pB.x0": x.pB[0][1],
        "pB.y1": x.pB[1][0],
        "pB.y0": x.pB[1][1],
      })[name]!;
    for (const [name, f] of coords) {
      // The same point with the coordinate written as c + q: a malleated valid proof.
      await agree(`${name} + q`, f(p.proof, Q), p.publicSignals, false, true);
      expect(
        verifier.verify(fromSolidityProof(f(p.proof, Q)), p.publicSignals),
        `${name} + q (snarkjs layout)`,
      ).to.equal(false);
      // snarkjs also truncates to 256 bits: c + 2^256 is c to it.
      await agree(`${name} + 2^256`, f(p.proof, 1n << 256n), p.publicSignals, false, true);
      // Exactly q (0 mod q): another point, refused by both.
      const c = f(p.proof, 0n);
      const atQ = f(c, Q - coordOf(name, c));
      await agree(`${name} = q`, atQ, p.publicSignals, false);
    }
  });

  it("rejects points off the curve, G2 points outside the subgroup and points at infinity", async function () {
    const p = proofs[0]!;
    const s = p.publicSignals;
    await agree("A off the curve", { ...p.proof, pA: [p.proof.pA[0], p.proof.pA[1] + 1n] }, s, false);
    await agree("C off the curve", { ...p.proof, pC: [p.proof.pC[0], p.proof.pC[1] + 1n] }, s, false);
    await agree(
      "B off the twist",
      { ...p.proof, pB: [p.proof.pB[0], [p.proof.pB[1][0] + 1n, p.proof.pB[1][1]]] },
      s,
      false,
    );

    // On the twist but not in the order-r subgroup: snarkjs does not check the subgroup
    // (its pairing check then fails); mcl refuses the point outright.
    const [[x0, x1], [y0, y1]] = outOfSubgroupG2(mcl);
    const bad: SolidityProof = {
      ...p.proof,
      pB: [
        [x1, x0],
        [y1, y0],
      ],
    };
    await agree("B outside the subgroup", bad, s, false);

    // Infinity: (0, 0) in the Solidity layout (snarkjs reads it as an affine point off the curve).
    await agree("A = (0, 0)", { ...p.proof, pA: [0n, 0n] }, s, false);
    await agree("C = (0, 0)", { ...p.proof, pC: [0n, 0n] }, s, false);
    await agree(
      "B = 0",
      {
        ...p.proof,
        pB: [
          [0n, 0n],
          [0n, 0n],
        ],
      },
      s,
      false,
    );
    // Infinity in snarkjs' projective layout (z = 0): snarkjs takes it and its pairing check fails.
    const sp = fromSolidityProof(p.proof);
    for (const [name, proof] of [
      ["pi_a z = 0", { ...sp, pi_a: ["0", "1", "0"] }],
      ["pi_c z = 0", { ...sp, pi_c: ["0", "1", "0"] }],
      [
        "pi_b z = 0",
        {
          ...sp,
          pi_b: [
            ["0", "0"],
            ["1", "0"],
            ["0", "0"],
          ],
        },
      ],
    ] as [string, Groth16Proof][]) {
      expect(await verifyPaymentProofSnarkjs(vkey, proof, s), `${name}: snarkjs`).to.equal(false);
      expect(verifier.verify(proof, s), `${name}: fast`).to.equal(false);
    }
    // Points of the vkey instead of the proof's.
    const vk = vkey as { vk_alpha_1: string[] };
    const alpha: [bigint, bigint] = [BigInt(vk.vk_alpha_1[0]!), BigInt(vk.vk_alpha_1[1]!)];
    await agree("points from the vkey", { ...p.proof, pA: alpha, pC: alpha }, s, false);
    // A and C of one proof, B of another.
    await agree("mixed proofs", { ...p.proof, pB: proofs[1]!.proof.pB }, s, false);
  });

  it("never throws on garbage", async function () {
    const p = proofs[0]!;
    const garbage: unknown[] = [
      null,
      undefined,
      42,
      "proof",
      {},
      { pA: [1n], pB: [], pC: [] },
      { pA: ["x", "y"], pB: p.proof.pB, pC: p.proof.pC },
      { pA: [1.5, 2], pB: p.proof.pB, pC: p.proof.pC },
      { pi_a: null, pi_b: null, pi_c: null },
      { ...fromSolidityProof(p.proof), pi_a: ["1", "2", "3"] },
    ];
    for (const g of garbage) {
      expect(
        verifier.verify(g as SolidityProof, p.publicSignals),
        String(JSON.stringify(g, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v))),
      ).to.equal(false);
      expect(verifier.verifyBatch([{ proof: g as SolidityProof, publicSignals: p.publicSignals }])).to.equal(false);
    }
    expect(verifier.verify(p.proof, null as unknown as bigint[])).to.equal(false);
    expect(verifier.verify(p.proof, ["1e3", ...Array.from({ length: N - 1 }, (_, i) => String(i + 2))])).to.equal(
      false,
    );
    expect(await verifyPaymentProof({ not: "a vkey" }, p.proof, p.publicSignals)).to.equal(false);
    expect(await verifyPaymentProof(null, p.proof, p.publicSignals)).to.equal(false);
  });

  it("batches: 1, 2, 16 and 32 valid proofs are true; one bad proof in 16 is false and identified", function () {
    const valid: Groth16BatchItem[] = Array.from({ length: 32 }, (_, i) => ({
      proof: proofs[i % proofs.length]!.proof,
      publicSignals: proofs[i % proofs.length]!.publicSignals,
    }));
    for (const k of [1, 2, 16, 32]) {
      expect(verifier.verifyBatch(valid.slice(0, k)), `batch of ${k}`).to.equal(true);
      expect(verifier.verifyBatchDetailed(valid.slice(0, k)), `detailed batch of ${k}`).to.deep.equal(
        new Array(k).fill(true),
      );
    }
    expect(verifier.verifyBatch([])).to.equal(true);
    expect(verifier.verifyBatchDetailed([])).to.deep.equal([]);

    const p = proofs[2]!;
    const alpha = (vkey as { vk_alpha_1: string[] }).vk_alpha_1.slice(0, 2).map(BigInt) as [bigint, bigint];
    const bad: [string, Groth16BatchItem][] = [
      ["tampered signal", { proof: p.proof, publicSignals: p.publicSignals.map((x, i) => (i === 3 ? x + 1n : x)) }],
      [
        "forged proof (mixed points)",
        { proof: { ...p.proof, pC: proofs[0]!.proof.pC }, publicSignals: p.publicSignals },
      ],
      ["forged proof (vkey points)", { proof: { ...p.proof, pA: alpha, pC: alpha }, publicSignals: p.publicSignals }],
      [
        "off-curve A",
        { proof: { ...p.proof, pA: [p.proof.pA[0], p.proof.pA[1] + 1n] }, publicSignals: p.publicSignals },
      ],
      [
        "coordinate + q",
        { proof: { ...p.proof, pA: [p.proof.pA[0] + Q, p.proof.pA[1]] }, publicSignals: p.publicSignals },
      ],
      ["signal >= r", { proof: p.proof, publicSignals: p.publicSignals.map((x, i) => (i === 0 ? x + R : x)) }],
      [`${N - 1} signals`, { proof: p.proof, publicSignals: p.publicSignals.slice(0, N - 1) }],
    ];
    for (const [name, item] of bad) {
      for (const at of [0, 7, 15]) {
        const batch = valid.slice(0, 16);
        batch[at] = item;
        expect(verifier.verifyBatch(batch), `${name} at ${at}`).to.equal(false);
        const detailed = verifier.verifyBatchDetailed(batch);
        expect(detailed, `${name} at ${at}: detailed`).to.deep.equal(batch.map((_, i) => i !== at));
      }
    }
    // Two proofs whose errors would cancel in a sum without random coefficients: A of
    // proof 0 with C of proof 1 and vice versa.
    const swapped = valid.slice(0, 16);
    swapped[0] = { proof: { ...proofs[0]!.proof, pC: proofs[1]!.proof.pC }, publicSignals: proofs[0]!.publicSignals };
    swapped[1] = { proof: { ...proofs[1]!.proof, pC: proofs[0]!.proof.pC }, publicSignals: proofs[1]!.publicSignals };
    expect(verifier.verifyBatch(swapped), "swapped C").to.equal(false);
  });

  it("prepares a key once: the same object gives the same verifier; concurrent calls share it", async function () {
    const copy: unknown = JSON.parse(JSON.stringify(vkey));
    const [a, b] = await Promise.all([Groth16Verifier.fromVkey(copy), Groth16Verifier.fromVkey(copy)]);
    expect(a).to.equal(b);
    expect(await Groth16Verifier.fromVkey(vkey)).to.equal(verifier);
    expect(a.verify(proofs[0]!.proof, proofs[0]!.publicSignals)).to.equal(true);
    let error: unknown;
    await Groth16Verifier.fromVkey({ ...(vkey as object), IC: [] }).catch((e: unknown) => (error = e));
    expect(String(error)).to.match(/IC/);
  });

  it("worker processes verify with the fast verifier and agree with snarkjs", async function () {
    const p = proofs[0]!;
    const cases: [string, SolidityProof, bigint[], boolean][] = [
      ["valid", p.proof, p.publicSignals, true],
      [
        "public value + 1",
        p.proof,
        p.publicSignals.map((x, i) => (i === PAYMENT_SIGNALS.publicValue ? x + 1n : x)),
        false,
      ],
      ["pA.x + q", { ...p.proof, pA: [p.proof.pA[0] + Q, p.proof.pA[1]] }, p.publicSignals, false],
      ["off-curve", { ...p.proof, pA: [p.proof.pA[0], p.proof.pA[1] + 1n] }, p.publicSignals, false],
    ];
    const worker = new WorkerVerifier({ threads: 1 });
    try {
      for (const [name, proof, signals, expected] of cases) {
        expect(await worker.verify(vkey, proof, signals), name).to.equal(expected);
      }
      // Many at once (each answered by id).
      const answers = await Promise.all(proofs.map((x) => worker.verify(vkey, x.proof, x.publicSignals)));
      expect(answers).to.deep.equal(proofs.map(() => true));
    } finally {
      await worker.close();
    }
  });
});

describe("provePayment from memory", function () {
  this.timeout(180_000);

  after(async function () {
    await shutdownProver();
  });

  it("proves from cached bytes; the cache is not altered by snarkjs; bytes work as artifacts", async function () {
    await preloadArtifacts(ARTIFACTS);
    const zkey = readFileSync(ARTIFACTS.zkey);
    const wasm = readFileSync(ARTIFACTS.wasm);
    const digest = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
    const before = [digest(zkey), digest(wasm)];
    const a = await prove(0);
    const b = await prove(1);
    expect(await verifyPaymentProof(vkey, a.proof, a.publicSignals)).to.equal(true);
    expect(await verifyPaymentProof(vkey, b.proof, b.publicSignals)).to.equal(true);
    // Given bytes (a Node Buffer, possibly a view into a larger pool) prove as well, twice.
    const padded = new Uint8Array(zkey.length + 8);
    padded.set(zkey, 8);
    const bytes = { wasm: new Uint8Array(wasm), zkey: padded.subarray(8) };
    for (let i = 0; i < 2; i++) {
      const r = await provePayment(smallPayment(2, 7n, 1n), bytes);
      expect(await verifyPaymentProof(vkey, r.proof, r.publicSignals)).to.equal(true);
      expect(r.timings.witnessMs).to.be.greaterThan(0);
      expect(r.timings.proveMs).to.be.greaterThan(0);
    }
    expect([digest(bytes.zkey), digest(bytes.wasm)]).to.deep.equal(before);
  });

  it("reports progress through to done", async function () {
    const stages: string[] = [];
    await provePayment(smallPayment(3, 8n, 3n), ARTIFACTS, { onProgress: (p) => stages.push(p.stage) });
    expect(stages[0]).to.equal("witness");
    expect(stages).to.include("prove");
    expect(stages.at(-1)).to.equal("done");
  });

  it("a missing artifact is artifacts_missing, from preload and from a proof, and is not cached", async function () {
    const missing = { wasm: path.join(DIR, "nope.wasm"), zkey: ARTIFACTS.zkey };
    const e1 = await preloadArtifacts(missing).catch((e: unknown) => e);
    expect(isZkPayError(e1, "artifacts_missing"), String(e1)).to.equal(true);
    const e2 = await provePayment(smallPayment(0, 9n, 5n), missing).catch((e: unknown) => e);
    expect(isZkPayError(e2, "artifacts_missing"), String(e2)).to.equal(true);
    const e3 = await preloadArtifacts({ wasm: ARTIFACTS.wasm, zkey: path.join(DIR, "nope.zkey") }).catch(
      (e: unknown) => e,
    );
    expect(isZkPayError(e3, "artifacts_missing"), String(e3)).to.equal(true);
  });
});
