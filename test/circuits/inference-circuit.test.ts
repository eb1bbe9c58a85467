import { readFileSync } from "node:fs";
import path from "node:path";

import { expect } from "chai";
import * as snarkjs from "snarkjs";

import { ROOT } from "../../scripts/lib/paths.js";
import { isZkPayError } from "../../sdk/core/errors.js";
import { SNARK_SCALAR_FIELD } from "../../sdk/core/field.js";
import { hash1, hash2 } from "../../sdk/core/poseidon.js";
import { argmax, decryptResult, encryptResult, inputHashOf } from "../../sdk/core/inference/io.js";
import {
  BIAS_BOUND,
  infer,
  modelCommitmentOf,
  parseInferenceModel,
  type InferenceModel,
  type WeightBit,
} from "../../sdk/core/inference/model.js";
import {
  inferenceWitness,
  proveInference,
  verifyInferenceProof,
  verifyInferenceProofSnarkjs,
} from "../../sdk/core/circuits/inference.js";
import { toSolidityProof } from "../../sdk/core/circuits/proof.js";
import { CIRCUITS, INFERENCE_SIGNALS } from "../../sdk/core/circuits/registry.js";
import { shutdownProver } from "../../sdk/core/prover.js";
import { artifactsOf } from "../../sdk/node/artifacts.js";

// The inference circuit (proof-before-pay's service: a 196-25-10 binary-weight MLP),
// tested on its committed artifacts against the SDK's reference (core/inference). As in
// payment-circuit.test.ts, most cases only compute a witness (~0.5 s): circom's witness
// calculator evaluates every `===` and throws "Assert Failed" naming the template and
// line of the first violated one, so a must-fail case says WHICH check refused it.
// Outputs the prover computes (commitment, input hash, ciphertext) cannot "fail": for
// them the test shows the wrong value differs from the one the escrow's statement pins.
// Three Groth16 proofs in all: one valid, two from tampered witnesses.

const P = SNARK_SCALAR_FIELD;
const ARTIFACTS = artifactsOf("inference");
const WASM = readFileSync(ARTIFACTS.wasm as string);
const vkey: unknown = JSON.parse(readFileSync(path.join(ROOT, "circuits", "artifacts", "inference.vkey.json"), "utf8"));
const MODEL = parseInferenceModel(
  JSON.parse(readFileSync(path.join(ROOT, "circuits", "models", "digits-mlp.json"), "utf8")),
);
interface Sample {
  label: number;
  predicted: number;
  pixels: number[];
}
const SAMPLES: Sample[] = JSON.parse(
  readFileSync(path.join(ROOT, "circuits", "models", "digits-samples.json"), "utf8"),
).samples;
const PIXELS = SAMPLES[3]!.pixels;
const BLINDING = hash1(0xb11dn);
const ESCROW = hash2(0xe5c0n, 1n); // any field element: the escrowed payment's nullifier hash

type Input = Record<string, string | string[]>;

/** The witness (throws on a violated constraint), as bigints. */
async function witness(input: Input): Promise<bigint[]> {
  const w: { type: "mem"; data?: Uint8Array } = { type: "mem" };
  await snarkjs.wtns.calculate(input, WASM, w);
  return snarkjs.wtns.exportJson(w);
}

/** Witness layout: [1, modelCommitment, inputHash, resultCiphertext, escrowId, ...]. */
async function outputsOf(input: Input) {
  const w = await witness(input);
  return { modelCommitment: w[1]!, inputHash: w[2]!, resultCiphertext: w[3]!, escrowId: w[4]! };
}

/** Asserts the circuit's outputs are the reference's for this model, image, blinding and escrow. */
async function expectAccepts(model: InferenceModel, pixels: number[], blinding = BLINDING, escrow = ESCROW) {
  const out = await outputsOf(inferenceWitness(model, pixels, blinding, escrow));
  const { logits } = infer(model, pixels);
  expect(out.modelCommitment, "modelCommitment").to.equal(modelCommitmentOf(model));
  expect(out.inputHash, "inputHash").to.equal(inputHashOf(pixels, blinding));
  expect(out.resultCiphertext, "resultCiphertext").to.equal(encryptResult(logits, blinding, escrow));
  expect(out.escrowId).to.equal(escrow);
  expect(decryptResult(out.resultCiphertext, blinding, escrow)).to.deep.equal(logits);
  return { out, logits };
}

// ------------------------------------------------------------------ which check fails

/** The line of the one source line of circuits/inference.circom that contains `needle`. */
function lineOf(needle: string): number {
  const lines = readFileSync(path.join(ROOT, "circuits", "inference.circom"), "utf8").split("\n");
  const hits = lines.flatMap((l, idx) => (l.includes(needle) ? [idx + 1] : []));
  if (hits.length !== 1) throw new Error(`expected one line with "${needle}", found ${hits.length}`);
  return hits[0]!;
}
interface Check {
  name: string;
  line: number;
}
const check = (name: string, needle: string): Check => ({ name, line: lineOf(needle) });
const CHECKS = {
  pixelRange: check("pixel range", "// pixel range: 0 <= pixel < 256"),
  w1Bit: check("w1 bit is boolean", "// w1 bit is boolean"),
  w2Bit: check("w2 bit is boolean", "// w2 bit is boolean"),
  b1Range: check("b1 range", "// b1 range: -2^15 <= b1 < 2^15"),
  b2Range: check("b2 range", "// b2 range: -2^15 <= b2 < 2^15"),
};

/** Asserts the witness calculator refuses `input` at the `by` check of the Inference template. */
async function expectFails(input: Input, by: Check) {
  let message: string | undefined;
  const consoleError = console.error; // the witness calculator logs every failure
  console.error = () => {};
  try {
    await witness(input);
  } catch (err) {
    message = err instanceof Error ? err.message : String(err);
  } finally {
    console.error = consoleError;
  }
  if (message === undefined) throw new Error(`SOUNDNESS: the circuit accepted an input it must reject (${by.name})`);
  expect(message).to.match(/Assert Failed/);
  expect(message, `expected "${by.name}" (Inference line ${by.line}); got: ${message}`).to.match(
    new RegExp(`Error in template Inference_\\d+ line: ${by.line}\\b`),
  );
}

/** The valid input with one signal (array element `index`) replaced by `value`. */
function withSignal(name: string, index: number, value: bigint): Input {
  const input = inferenceWitness(MODEL, PIXELS, BLINDING, ESCROW);
  const arr = [...(input[name] as string[])];
  arr[index] = value.toString();
  return { ...input, [name]: arr };
}

/** A model with every bit and bias given (for the bound cases). */
function uniformModel(w1: WeightBit, b1: number, w2: WeightBit, b2: number): InferenceModel {
  const params = {
    w1Bits: Array.from({ length: 25 }, () => Array<WeightBit>(196).fill(w1)),
    b1: Array<number>(25).fill(b1),
    w2Bits: Array.from({ length: 10 }, () => Array<WeightBit>(25).fill(w2)),
    b2: Array<number>(10).fill(b2),
  };
  return { name: "bounds", version: "inference-v1", ...params, modelCommitment: modelCommitmentOf(params) };
}

const flipW1 = (m: InferenceModel, i: number, j: number): InferenceModel => {
  const w1Bits = m.w1Bits.map((row, r) => (r === i ? row.map((b, c) => (c === j ? ((1 - b) as WeightBit) : b)) : row));
  return { ...m, w1Bits, modelCommitment: modelCommitmentOf({ ...m, w1Bits }) };
};

// ------------------------------------------------------------------ witness files

/** Offset of the witness values in a .wtns file (section 2), and their byte width. */
function wtnsValues(data: Uint8Array): { offset: number; n8: number } {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let pos = 12; // "wtns", version, number of sections
  let n8 = 0;
  for (let s = 0; s < view.getUint32(8, true); s++) {
    const type = view.getUint32(pos, true);
    const size = Number(view.getBigUint64(pos + 4, true));
    if (type === 1) n8 = view.getUint32(pos + 12, true);
    if (type === 2) return { offset: pos + 12, n8 };
    pos += 12 + size;
  }
  throw new Error("no witness section");
}

/** A copy of the witness file with value `index` replaced by `value` (little-endian). */
function tamperWtns(data: Uint8Array, index: number, value: bigint): Uint8Array {
  const out = Uint8Array.from(data);
  const { offset, n8 } = wtnsValues(out);
  let v = value;
  for (let b = 0; b < n8; b++) {
    out[offset + index * n8 + b] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

describe("Inference circuit v1 (committed artifacts vs the SDK reference)", function () {
  this.timeout(120_000);
  after(() => shutdownProver());

  it("is the registry's: 4 public signals, in the documented order", function () {
    expect(CIRCUITS.inference.publicSignals).to.deep.equal([
      "modelCommitment",
      "inputHash",
      "resultCiphertext",
      "escrowId",
    ]);
    expect(INFERENCE_SIGNALS.escrowId).to.equal(3);
  });

  describe("the committed model", function () {
    it("classifies its samples as recorded (the first test image of each digit; >= 9 of 10 right)", function () {
      let right = 0;
      for (const s of SAMPLES) {
        const predicted = argmax(infer(MODEL, s.pixels).logits);
        expect(predicted, `sample ${s.label}`).to.equal(s.predicted);
        if (predicted === s.label) right++;
      }
      expect(right).to.be.at.least(9);
      expect(MODEL.accuracy!.test).to.be.above(0.95);
    });

    it("refuses a file whose commitment is not its weights', or with a bias out of range", function () {
      const file = JSON.parse(readFileSync(path.join(ROOT, "circuits", "models", "digits-mlp.json"), "utf8"));
      const flipped = structuredClone(file);
      flipped.weights.w1[0] = (file.weights.w1[0][0] === "1" ? "0" : "1") + file.weights.w1[0].slice(1);
      const outOfRange = structuredClone(file);
      outOfRange.biases.b2[0] = BIAS_BOUND;
      for (const bad of [flipped, outOfRange, { ...file, shape: [196, 26, 10] }]) {
        let err: unknown;
        try {
          parseInferenceModel(bad);
        } catch (e) {
          err = e;
        }
        expect(isZkPayError(err, "invalid_argument"), String(err)).to.equal(true);
      }
    });
  });

  describe("accepts valid inferences; outputs equal the reference", function () {
    it("every sample: commitment, input hash and the ciphertext that decrypts to the reference logits", async function () {
      for (const s of SAMPLES) await expectAccepts(MODEL, s.pixels);
    });

    it("the bounds: largest hidden values and extreme logits (|logit| = 2,101,443 > 2^21) with extreme biases", async function () {
      const white = Array<number>(196).fill(255);
      // All weights +1, biases 2^15 - 1: hidden = 196 * 255 + 32,767 = 82,747 (the largest
      // pre-activation, < 2^17), logit = 25 * 82,747 + 32,767.
      const top = await expectAccepts(uniformModel(1, BIAS_BOUND - 1, 1, BIAS_BOUND - 1), white);
      expect(top.logits[0]).to.equal(25 * 82_747 + 32_767);
      // W2 all -1, b2 = -2^15: the most negative logit.
      const bottom = await expectAccepts(uniformModel(1, BIAS_BOUND - 1, 0, -BIAS_BOUND), white);
      expect(bottom.logits[0]).to.equal(-(25 * 82_747) - 32_768);
      // W1 all -1, b1 = -2^15: the most negative pre-activation (-82,748), ReLU 0.
      const zero = await expectAccepts(uniformModel(0, -BIAS_BOUND, 1, 0), white);
      expect(zero.logits).to.deep.equal(Array<number>(10).fill(0));
      // Black image and zero biases: every value 0.
      await expectAccepts(uniformModel(1, 0, 1, 0), Array<number>(196).fill(0));
    });

    it("the same inference for any blinding and escrow id (field elements, p - 1 included)", async function () {
      await expectAccepts(MODEL, PIXELS, P - 1n, P - 1n);
      await expectAccepts(MODEL, PIXELS, 0n, 0n);
    });
  });

  describe("refuses at the named check", function () {
    it(`a weight bit that is not boolean -> "${CHECKS.w1Bit.name}" / "${CHECKS.w2Bit.name}"`, async function () {
      await expectFails(withSignal("w1Bits", 7, 2n), CHECKS.w1Bit);
      await expectFails(withSignal("w1Bits", 0, P - 1n), CHECKS.w1Bit); // weight -3
      await expectFails(withSignal("w2Bits", 249, 2n), CHECKS.w2Bit);
    });

    it(`a pixel of 256 or -1 -> "${CHECKS.pixelRange.name}"`, async function () {
      await expectFails(withSignal("pixels", 100, 256n), CHECKS.pixelRange);
      await expectFails(withSignal("pixels", 0, P - 1n), CHECKS.pixelRange);
    });

    it(`a bias out of [-2^15, 2^15) -> "${CHECKS.b1Range.name}" / "${CHECKS.b2Range.name}"`, async function () {
      await expectFails(withSignal("b1", 3, 1n << 15n), CHECKS.b1Range);
      await expectFails(withSignal("b1", 3, P - (1n << 15n) - 1n), CHECKS.b1Range); // -2^15 - 1
      await expectFails(withSignal("b2", 9, 1n << 15n), CHECKS.b2Range);
      // The edges are accepted: -2^15 and 2^15 - 1.
      await witness(withSignal("b1", 3, P - (1n << 15n)));
      await witness(withSignal("b2", 9, (1n << 15n) - 1n));
    });
  });

  describe("binds what the escrow's statement pins (outputs the prover computes)", function () {
    it("a flipped weight bit or another bias gives another modelCommitment (the published one refuses it)", async function () {
      const base = await outputsOf(inferenceWitness(MODEL, PIXELS, BLINDING, ESCROW));
      expect(base.modelCommitment).to.equal(MODEL.modelCommitment);
      const w1 = await outputsOf(withSignal("w1Bits", 25 * 196 - 1, 1n - BigInt(MODEL.w1Bits[24]![195]!)));
      const w2 = await outputsOf(withSignal("w2Bits", 0, 1n - BigInt(MODEL.w2Bits[0]![0]!)));
      const b2 = await outputsOf(withSignal("b2", 0, (BigInt(MODEL.b2[0]!) + 1n + P) % P));
      for (const o of [w1, w2, b2]) expect(o.modelCommitment).to.not.equal(MODEL.modelCommitment);
      expect(new Set([w1, w2, b2].map((o) => o.modelCommitment)).size).to.equal(3);
      // The reference agrees with the circuit on the flipped model.
      expect(w1.modelCommitment).to.equal(flipW1(MODEL, 24, 195).modelCommitment);
    });

    it("another image or blinding gives another inputHash", async function () {
      const base = await outputsOf(inferenceWitness(MODEL, PIXELS, BLINDING, ESCROW));
      const pixel = await outputsOf(withSignal("pixels", 195, BigInt((PIXELS[195]! + 1) % 256)));
      const other = await outputsOf(inferenceWitness(MODEL, SAMPLES[4]!.pixels, BLINDING, ESCROW));
      const blinding = await outputsOf(inferenceWitness(MODEL, PIXELS, BLINDING + 1n, ESCROW));
      for (const o of [pixel, other, blinding]) expect(o.inputHash).to.not.equal(base.inputHash);
    });

    it("another escrowId gives another ciphertext, which the first escrow's pad does not decrypt", async function () {
      const base = await outputsOf(inferenceWitness(MODEL, PIXELS, BLINDING, ESCROW));
      const other = await outputsOf(inferenceWitness(MODEL, PIXELS, BLINDING, ESCROW + 1n));
      expect(other.resultCiphertext).to.not.equal(base.resultCiphertext);
      expect(other.modelCommitment).to.equal(base.modelCommitment);
      expect(other.inputHash).to.equal(base.inputHash);
      let err: unknown;
      try {
        decryptResult(other.resultCiphertext, BLINDING, ESCROW);
      } catch (e) {
        err = e;
      }
      expect(isZkPayError(err, "invalid_argument"), String(err)).to.equal(true);
    });
  });

  describe("Groth16 proofs (committed zkey and vkey)", function () {
    it("proves a sample; the proof verifies, decrypts to the reference logits, and fails with any signal tampered", async function () {
      const stages = new Set<string>();
      const r = await proveInference(ARTIFACTS, MODEL, PIXELS, BLINDING, ESCROW, (p) => stages.add(p.stage));
      expect([...stages]).to.include.members(["witness", "prove", "done"]);
      expect(r.publicSignals).to.deep.equal({
        modelCommitment: MODEL.modelCommitment,
        inputHash: inputHashOf(PIXELS, BLINDING),
        resultCiphertext: encryptResult(infer(MODEL, PIXELS).logits, BLINDING, ESCROW),
        escrowId: ESCROW,
      });
      expect(argmax(decryptResult(r.publicSignals.resultCiphertext, BLINDING, ESCROW))).to.equal(SAMPLES[3]!.label);
      expect(await verifyInferenceProof(vkey, r.proof, r.publicSignals)).to.equal(true);
      expect(await verifyInferenceProof(vkey, r.proof, r.publicSignalList)).to.equal(true);
      expect(await verifyInferenceProofSnarkjs(vkey, r.snarkjsProof, r.publicSignalList)).to.equal(true);
      const names = CIRCUITS.inference.publicSignals;
      for (let i = 0; i < names.length; i++) {
        const tampered = [...r.publicSignalList];
        tampered[i] = (tampered[i]! + 1n) % P;
        expect(await verifyInferenceProof(vkey, r.proof, tampered), `${names[i]} + 1`).to.equal(false);
      }
      // A plausible wrong output: the same result with logit 0 one higher.
      const wrong = [...r.publicSignalList];
      wrong[INFERENCE_SIGNALS.resultCiphertext] = (r.publicSignals.resultCiphertext + 1n) % P;
      expect(await verifyInferenceProof(vkey, r.proof, wrong)).to.equal(false);
      expect(await verifyInferenceProof(vkey, r.proof, r.publicSignalList.slice(0, 3))).to.equal(false);
    });

    it("a tampered witness (wrong hidden ReLU output = wrong layer; wrong logit = wrong output) gives a proof that does not verify", async function () {
      const input = inferenceWitness(MODEL, PIXELS, BLINDING, ESCROW);
      const w: { type: "mem"; data?: Uint8Array } = { type: "mem" };
      await snarkjs.wtns.calculate(input, WASM, w);
      const values = await snarkjs.wtns.exportJson(w);
      const { hidden, logits } = infer(MODEL, PIXELS);
      // Witness layout: 1, the 3 outputs, escrowId, the 5,382 private inputs, then main's
      // intermediate signals in declaration order, of which --O2 keeps only hidden[25]
      // (biasLimbs are linear and eliminated): hidden[i] is value 5,387 + i. Checked here
      // against the reference, so a layout change fails this test instead of tampering
      // something else.
      const HIDDEN_AT = 1 + 4 + 5382;
      expect(values.slice(HIDDEN_AT, HIDDEN_AT + 25)).to.deep.equal(hidden.map(BigInt));
      const unit = hidden.findIndex((h) => h > 0);
      const hiddenIndex = HIDDEN_AT + unit;
      // Wrong layer: hidden + 1. Wrong output: the ciphertext of logit 0 + 1 (signal 3).
      const wrongLogits = [logits[0]! + 1, ...logits.slice(1)];
      const cases = [
        { name: "hidden ReLU output + 1", index: hiddenIndex, value: BigInt(hidden[unit]!) + 1n },
        { name: "logit 0 + 1", index: 3, value: encryptResult(wrongLogits, BLINDING, ESCROW) },
      ];
      expect(decryptResult(cases[1]!.value, BLINDING, ESCROW)).to.deep.equal(wrongLogits);
      for (const c of cases) {
        // The harness writes where it means to: the same value leaves the file as it was,
        // the new one changes that one value only.
        expect(tamperWtns(w.data!, c.index, values[c.index]!)).to.deep.equal(w.data);
        const data = tamperWtns(w.data!, c.index, c.value);
        const changed = await snarkjs.wtns.exportJson({ type: "mem", data });
        expect(changed.flatMap((v, i) => (v === values[i] ? [] : [i]))).to.deep.equal([c.index]);
        const { proof, publicSignals } = await snarkjs.groth16.prove(ARTIFACTS.zkey as string, { type: "mem", data });
        const signals = publicSignals.map((x) => BigInt(x));
        expect(await verifyInferenceProof(vkey, toSolidityProof(proof), signals), c.name).to.equal(false);
        expect(await verifyInferenceProofSnarkjs(vkey, proof, signals), c.name).to.equal(false);
      }
    });
  });
});
