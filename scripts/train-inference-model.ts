/**
 * Trains the proof-before-pay demo model (circuits/models/digits-mlp.json): the 196-25-10
 * binary-weight MLP that the `inference` circuit proves (circuits/inference.circom).
 *
 * No MNIST here (nothing can be downloaded), so the data are synthetic digits: the ten
 * digits of a 5x7 bitmap font (below), drawn as strokes onto a 14x14 grey image with a
 * random scale, aspect, slant, shift, stroke width, ink level and noise, from a seeded
 * PRNG. Deterministic: the same seed gives the same images and (on the same Node major
 * version, whose Math.exp/log are fixed) the same model, bit for bit.
 *
 * Training is BinaryConnect (Courbariaux et al., 2015): float "shadow" weights clipped to
 * [-1, 1], the forward pass uses their sign, the backward pass is straight-through (the
 * gradient of the sign is taken as 1 inside [-1, 1]); biases are floats. There is NO
 * per-layer scale: with inputs x = pixel / 255, the float model's hidden and output values
 * are exactly 1/255 of the integer model's on the same pixels once the biases are
 * 255 * b rounded to integers (ReLU commutes with the positive factor), so the integer
 * model the circuit proves is the float one up to bias rounding. A softmax temperature is
 * used in the training loss only (it does not change the argmax).
 *
 * The accuracies reported (and written to the model file) are the INTEGER model's, computed
 * with the SDK's exact reference inference (sdk/core/inference/model.ts `infer`).
 *
 * Usage: npx tsx scripts/train-inference-model.ts [--seed N] [--epochs N] [--lr X] [--temperature X] [--out DIR]
 * Writes circuits/models/digits-mlp.json and circuits/models/digits-samples.json (the first
 * test image of each digit, which the demo and the circuit tests use).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";

import * as prettier from "prettier";

import { argmax } from "../sdk/core/inference/io.js";
import {
  BIAS_BOUND,
  infer,
  INFERENCE_SHAPE,
  INFERENCE_VERSION,
  modelCommitmentOf,
  parseInferenceModel,
  type InferenceModel,
  type InferenceModelFile,
  type WeightBit,
} from "../sdk/core/inference/model.js";
import { ROOT } from "./lib/paths.js";

const { values: args } = parseArgs({
  options: {
    seed: { type: "string", default: "402" },
    epochs: { type: "string", default: "40" },
    lr: { type: "string", default: "0.003" },
    temperature: { type: "string", default: "0.125" },
    out: { type: "string" },
  },
});
const SEED = Number(args.seed);
const EPOCHS = Number(args.epochs);
const N_TRAIN = 8000;
const N_TEST = 2000;
const BATCH = 32;
const LR = Number(args.lr); // Adam step size (weights; biases take 10x)
const TEMPERATURE = Number(args.temperature); // the loss's softmax runs on logits * TEMPERATURE
const { inputs: N_IN, hidden: N_HID, outputs: N_OUT } = INFERENCE_SHAPE;
const SIDE = 14;

// ------------------------------------------------------------------ seeded PRNG

/** sfc32 (small fast counter), seeded through splitmix32: uniform floats in [0, 1). */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  const split = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = split();
  let b = split();
  let c = split();
  let d = split();
  return () => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t / 4294967296;
  };
}

const rand = prng(SEED);
const uniform = (lo: number, hi: number) => lo + (hi - lo) * rand();
/** Standard normal (Box-Muller). */
const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());

// ------------------------------------------------------------------ synthetic digits

/** A 5x7 bitmap font of the ten digits ('#' = ink). */
const FONT: readonly string[][] = [
  [".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."],
  ["..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."],
  [".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"],
  ["#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."],
  ["...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."],
  ["#####", "#....", "####.", "....#", "....#", "#...#", ".###."],
  ["..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."],
  ["#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."],
  [".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."],
  [".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."],
];

/** A glyph as stroke segments between 8-neighbouring ink cells (and dots for lone cells). */
type Segment = [number, number, number, number];
const GLYPHS: Segment[][] = FONT.map((rows) => {
  const on = (c: number, r: number) => rows[r]?.[c] === "#";
  const segs: Segment[] = [];
  for (let r = 0; r < 7; r++) {
    for (let c = 0; c < 5; c++) {
      if (!on(c, r)) continue;
      let linked = false;
      for (const [dc, dr] of [
        [1, 0],
        [0, 1],
        [1, 1],
        [-1, 1],
      ] as const) {
        // Diagonals only where no orthogonal path joins the two cells (no blobs at corners).
        const diagonal = dc !== 0 && dr !== 0;
        if (on(c + dc, r + dr) && !(diagonal && (on(c + dc, r) || on(c, r + dr)))) {
          segs.push([c, r, c + dc, r + dr]);
          linked = true;
        }
      }
      if (!linked) segs.push([c, r, c, r]);
    }
  }
  return segs;
});

function distanceToSegment(u: number, v: number, [x0, y0, x1, y1]: Segment): number {
  const dx = x1 - x0;
  const dy = y1 - y0;
  const len2 = dx * dx + dy * dy;
  const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((u - x0) * dx + (v - y0) * dy) / len2));
  return Math.hypot(u - x0 - t * dx, v - y0 - t * dy);
}

/** One 14x14 image of `digit`: 196 integers in [0, 255], row-major. */
function drawDigit(digit: number): number[] {
  const segs = GLYPHS[digit]!;
  const scale = uniform(1.35, 1.85); // image pixels per font cell (glyph 9.5-13 px tall)
  const sx = scale * uniform(0.8, 1.15);
  const sy = scale;
  const slant = uniform(-0.25, 0.25);
  const cx = 7 + uniform(-1.5, 1.5);
  const cy = 7 + uniform(-1.2, 1.2);
  const stroke = uniform(0.38, 0.75); // stroke half-width, in font cells
  const ink = uniform(0.7, 1);
  const noise = uniform(0, 0.12);
  const SUB = 3; // 3x3 samples per pixel
  const img: number[] = [];
  for (let y = 0; y < SIDE; y++) {
    for (let x = 0; x < SIDE; x++) {
      let covered = 0;
      for (let i = 0; i < SUB; i++) {
        for (let j = 0; j < SUB; j++) {
          const py = y + (i + 0.5) / SUB - cy;
          const px = x + (j + 0.5) / SUB - cx;
          const v = py / sy + 3;
          const u = px / sx + slant * (v - 3) + 2;
          if (segs.some((s) => distanceToSegment(u, v, s) < stroke)) covered++;
        }
      }
      const value = (covered / (SUB * SUB)) * ink + noise * gauss();
      img.push(Math.round(255 * Math.max(0, Math.min(1, value))));
    }
  }
  return img;
}

interface Example {
  pixels: number[];
  label: number;
}
const dataset = (n: number): Example[] =>
  Array.from({ length: n }, (_, i) => {
    const label = i % 10;
    return { pixels: drawDigit(label), label };
  });

// ------------------------------------------------------------------ BinaryConnect

const sign = (w: number) => (w >= 0 ? 1 : -1);

class Adam {
  readonly m: Float64Array;
  readonly v: Float64Array;
  t = 0;
  constructor(readonly n: number) {
    this.m = new Float64Array(n);
    this.v = new Float64Array(n);
  }
  step(params: Float64Array, grad: Float64Array, lr: number, clip: boolean): void {
    this.t++;
    const b1 = 0.9;
    const b2 = 0.999;
    const c1 = 1 - b1 ** this.t;
    const c2 = 1 - b2 ** this.t;
    for (let i = 0; i < this.n; i++) {
      this.m[i] = b1 * this.m[i]! + (1 - b1) * grad[i]!;
      this.v[i] = b2 * this.v[i]! + (1 - b2) * grad[i]! ** 2;
      let p = params[i]! - (lr * (this.m[i]! / c1)) / (Math.sqrt(this.v[i]! / c2) + 1e-8);
      if (clip) p = Math.max(-1, Math.min(1, p));
      params[i] = p;
    }
  }
}

function train(data: Example[]): { W1: Float64Array; b1: Float64Array; W2: Float64Array; b2: Float64Array } {
  // Shadow weights (row-major [out][in]) and float biases.
  const W1 = Float64Array.from({ length: N_HID * N_IN }, () => uniform(-0.1, 0.1));
  const W2 = Float64Array.from({ length: N_OUT * N_HID }, () => uniform(-0.1, 0.1));
  const b1 = new Float64Array(N_HID);
  const b2 = new Float64Array(N_OUT);
  const opt = { W1: new Adam(W1.length), W2: new Adam(W2.length), b1: new Adam(N_HID), b2: new Adam(N_OUT) };
  const g = {
    W1: new Float64Array(W1.length),
    W2: new Float64Array(W2.length),
    b1: new Float64Array(N_HID),
    b2: new Float64Array(N_OUT),
  };
  const x = new Float64Array(N_IN);
  const h = new Float64Array(N_HID);
  const z = new Float64Array(N_OUT);
  const dz = new Float64Array(N_OUT);
  const dh = new Float64Array(N_HID);
  const order = data.map((_, i) => i);

  for (let epoch = 0; epoch < EPOCHS; epoch++) {
    // Fisher-Yates with the seeded PRNG.
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const lr = LR * (epoch < EPOCHS / 2 ? 1 : epoch < (3 * EPOCHS) / 4 ? 0.3 : 0.1);
    let loss = 0;
    for (let start = 0; start < order.length; start += BATCH) {
      g.W1.fill(0);
      g.W2.fill(0);
      g.b1.fill(0);
      g.b2.fill(0);
      const batch = order.slice(start, start + BATCH);
      for (const idx of batch) {
        const ex = data[idx]!;
        for (let j = 0; j < N_IN; j++) x[j] = ex.pixels[j]! / 255;
        for (let i = 0; i < N_HID; i++) {
          let s = b1[i]!;
          for (let j = 0; j < N_IN; j++) s += sign(W1[i * N_IN + j]!) * x[j]!;
          h[i] = s > 0 ? s : 0;
        }
        let max = -Infinity;
        for (let k = 0; k < N_OUT; k++) {
          let s = b2[k]!;
          for (let i = 0; i < N_HID; i++) s += sign(W2[k * N_HID + i]!) * h[i]!;
          z[k] = s * TEMPERATURE;
          max = Math.max(max, z[k]!);
        }
        let sum = 0;
        for (let k = 0; k < N_OUT; k++) sum += Math.exp(z[k]! - max);
        loss += Math.log(sum) + max - z[ex.label]!;
        // d loss / d logit (before the temperature): (softmax - onehot) * T.
        for (let k = 0; k < N_OUT; k++) dz[k] = (Math.exp(z[k]! - max) / sum - (k === ex.label ? 1 : 0)) * TEMPERATURE;
        dh.fill(0);
        for (let k = 0; k < N_OUT; k++) {
          g.b2[k] = g.b2[k]! + dz[k]!;
          for (let i = 0; i < N_HID; i++) {
            // Straight-through: d sign(w) / dw = 1 where |w| <= 1 (always, weights are clipped).
            g.W2[k * N_HID + i] = g.W2[k * N_HID + i]! + dz[k]! * h[i]!;
            dh[i] = dh[i]! + dz[k]! * sign(W2[k * N_HID + i]!);
          }
        }
        for (let i = 0; i < N_HID; i++) {
          if (h[i]! <= 0) continue; // ReLU
          g.b1[i] = g.b1[i]! + dh[i]!;
          for (let j = 0; j < N_IN; j++) g.W1[i * N_IN + j] = g.W1[i * N_IN + j]! + dh[i]! * x[j]!;
        }
      }
      for (const a of [g.W1, g.W2, g.b1, g.b2]) for (let i = 0; i < a.length; i++) a[i] = a[i]! / batch.length;
      opt.W1.step(W1, g.W1, lr, true);
      opt.W2.step(W2, g.W2, lr, true);
      opt.b1.step(b1, g.b1, lr * 10, false);
      opt.b2.step(b2, g.b2, lr * 10, false);
    }
    if (epoch % 5 === 4 || epoch === EPOCHS - 1) {
      console.log(`epoch ${epoch + 1}/${EPOCHS}: mean loss ${(loss / order.length).toFixed(4)}`);
    }
  }
  return { W1, b1, W2, b2 };
}

// ------------------------------------------------------------------ integer model

/** 255 * b rounded, clamped to the circuit's bias range [-2^15, 2^15). */
const intBias = (b: number) => Math.max(-BIAS_BOUND, Math.min(BIAS_BOUND - 1, Math.round(255 * b)));

function integerModel(
  f: ReturnType<typeof train>,
): Omit<InferenceModel, "modelCommitment"> & { modelCommitment: bigint } {
  const bits = (W: Float64Array, rows: number, cols: number): WeightBit[][] =>
    Array.from({ length: rows }, (_, r) =>
      Array.from({ length: cols }, (_, c) => (W[r * cols + c]! >= 0 ? 1 : 0) as WeightBit),
    );
  const params = {
    w1Bits: bits(f.W1, N_HID, N_IN),
    w2Bits: bits(f.W2, N_OUT, N_HID),
    b1: [...f.b1].map(intBias),
    b2: [...f.b2].map(intBias),
  };
  return { name: "digits-mlp", version: INFERENCE_VERSION, ...params, modelCommitment: modelCommitmentOf(params) };
}

function accuracy(model: InferenceModel, data: Example[]): number {
  let right = 0;
  for (const ex of data) if (argmax(infer(model, ex.pixels).logits) === ex.label) right++;
  return right / data.length;
}

// ------------------------------------------------------------------ main

const t0 = performance.now();
const trainSet = dataset(N_TRAIN);
const testSet = dataset(N_TEST);
console.log(`generated ${N_TRAIN} + ${N_TEST} synthetic digits (seed ${SEED})`);
const floats = train(trainSet);
const model = integerModel(floats);
const acc = { train: accuracy(model, trainSet), test: accuracy(model, testSet) };
console.log(
  `integer model: train accuracy ${(100 * acc.train).toFixed(2)}%, test accuracy ${(100 * acc.test).toFixed(2)}%`,
);

const file: InferenceModelFile = {
  name: model.name,
  version: model.version,
  shape: [N_IN, N_HID, N_OUT],
  weights: {
    w1: model.w1Bits.map((row) => row.join("")),
    w2: model.w2Bits.map((row) => row.join("")),
  },
  biases: { b1: [...model.b1], b2: [...model.b2] },
  modelCommitment: `0x${model.modelCommitment.toString(16)}`,
  accuracy: { train: acc.train, test: acc.test },
  training: {
    script: "scripts/train-inference-model.ts",
    data: `synthetic 14x14 digits from a 5x7 bitmap font (${N_TRAIN} train, ${N_TEST} test)`,
    method: "BinaryConnect (sign forward, straight-through backward), float biases rounded to 255 * b",
    seed: SEED,
    epochs: EPOCHS,
    batch: BATCH,
    learningRate: LR,
    lossTemperature: TEMPERATURE,
    node: process.version,
  },
};
// The file must parse back to the same model (shape, ranges, commitment).
parseInferenceModel(JSON.parse(JSON.stringify(file)));

// Samples: the first test image of each digit, with the integer model's prediction.
const samples = Array.from({ length: 10 }, (_, d) => {
  const ex = testSet.find((e) => e.label === d)!;
  return { label: d, predicted: argmax(infer(model, ex.pixels).logits), pixels: ex.pixels };
});

const dir = args.out ? path.resolve(args.out) : path.join(ROOT, "circuits", "models");
mkdirSync(dir, { recursive: true });
/** Writes `value` as JSON formatted as the repository's prettier config formats it. */
async function writeJson(file: string, value: unknown): Promise<void> {
  const options = (await prettier.resolveConfig(file)) ?? {};
  writeFileSync(file, await prettier.format(JSON.stringify(value), { ...options, filepath: file }));
}
await writeJson(path.join(dir, "digits-mlp.json"), file);
await writeJson(path.join(dir, "digits-samples.json"), {
  description:
    "The first test image of each digit (14x14, row-major, 0..255) with its label and the model's prediction",
  model: file.modelCommitment,
  samples,
});
console.log(`samples: ${samples.filter((s) => s.predicted === s.label).length}/10 classified correctly`);
console.log(
  `wrote circuits/models/digits-mlp.json and digits-samples.json in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
);
