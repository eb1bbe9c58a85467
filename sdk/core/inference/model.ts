/**
 * The proof-before-pay inference model (circuit `inference-v1`, circuits/inference.circom):
 * a 196-25-10 MLP with binary weights (w = 2 * bit - 1) and integer biases, its JSON file
 * format, its Poseidon commitment and the exact integer reference inference the circuit
 * reproduces.
 *
 * Browser-safe: no Node imports.
 */
import { poseidon10 } from "poseidon-lite/poseidon10";
import { poseidon16 } from "poseidon-lite/poseidon16";

import { ZkPayError } from "../errors.js";

/** Layer sizes of the `inference-v1` circuit: 14x14 pixels, 25 hidden units, 10 logits. */
export const INFERENCE_SHAPE = Object.freeze({ inputs: 196, hidden: 25, outputs: 10 } as const);

/** Statement version of the circuit and of the model files it takes. */
export const INFERENCE_VERSION = "inference-v1";

/** Biases are integers in [-BIAS_BOUND, BIAS_BOUND) (16-bit limbs once offset by 2^15). */
export const BIAS_BOUND = 1 << 15;

/**
 * Domain tag the model commitment's Poseidon chain starts from: the ASCII bytes of
 * "402zk.inference-v1.model" read as a big-endian integer (the circuit's `MODEL_TAG`).
 */
export const MODEL_TAG = 0x3430327a6b2e696e666572656e63652d76312e6d6f64656cn;

/** Weight bits per commitment word (little-endian). */
const BITS_PER_WORD = 250;
/** 16-bit bias limbs per commitment word (little-endian). */
const LIMBS_PER_WORD = 15;
/** Words per link of the commitment's Poseidon chain (circomlib's Poseidon takes <= 16 inputs). */
const WORDS_PER_LINK = 15;

/** A weight bit: the weight is `2 * bit - 1`, so 0 is -1 and 1 is +1. */
export type WeightBit = 0 | 1;

/**
 * A parsed, validated inference model. Weights are bits (`w = 2 * bit - 1`), rows by
 * output unit: `w1Bits[i][j]` is the weight from pixel j to hidden unit i, `w2Bits[k][i]`
 * from hidden unit i to logit k. Biases are integers in [-2^15, 2^15).
 */
export interface InferenceModel {
  readonly name: string;
  readonly version: string;
  readonly w1Bits: readonly (readonly WeightBit[])[];
  readonly b1: readonly number[];
  readonly w2Bits: readonly (readonly WeightBit[])[];
  readonly b2: readonly number[];
  /** {@link modelCommitmentOf} the weights and biases (checked against the file's). */
  readonly modelCommitment: bigint;
  /** Accuracy of the integer model, as the training script measured it. */
  readonly accuracy?: { readonly train: number; readonly test: number };
}

/**
 * The model's JSON file (circuits/models/digits-mlp.json, written by
 * scripts/train-inference-model.ts). Weight rows are strings of '0'/'1', character j of
 * row i being `w1Bits[i][j]`; `modelCommitment` is a 0x-prefixed hex string.
 */
export interface InferenceModelFile {
  name: string;
  version: string;
  shape: [number, number, number];
  weights: { w1: string[]; w2: string[] };
  biases: { b1: number[]; b2: number[] };
  modelCommitment: string;
  accuracy?: { train: number; test: number };
  training?: Record<string, unknown>;
}

const bad = (message: string, details: Record<string, unknown> = {}) =>
  new ZkPayError("invalid_argument", `inference model: ${message}`, details);

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function bitRows(x: unknown, rows: number, cols: number, name: string): WeightBit[][] {
  if (!Array.isArray(x) || x.length !== rows) throw bad(`${name} must be ${rows} rows of ${cols} bits`);
  return x.map((row: unknown, r) => {
    if (typeof row !== "string" || row.length !== cols || !/^[01]*$/.test(row)) {
      throw bad(`${name}[${r}] must be a string of ${cols} '0'/'1' characters`, { row: r });
    }
    return [...row].map((c) => (c === "1" ? 1 : 0));
  });
}

function biasList(x: unknown, n: number, name: string): number[] {
  if (!Array.isArray(x) || x.length !== n) throw bad(`${name} must be ${n} integers`);
  return x.map((b: unknown, i) => {
    if (typeof b !== "number" || !Number.isInteger(b) || b < -BIAS_BOUND || b >= BIAS_BOUND) {
      throw bad(`${name}[${i}] must be an integer in [-2^15, 2^15), got ${String(b)}`, { index: i });
    }
    return b;
  });
}

/** Checks the shape and ranges of a model's weights and biases (throws `invalid_argument`). */
function checkParameters(m: Omit<InferenceModel, "modelCommitment" | "name" | "version">): void {
  const { inputs, hidden, outputs } = INFERENCE_SHAPE;
  const rows = (x: readonly (readonly number[])[], r: number, c: number, name: string) => {
    if (x.length !== r || x.some((row) => row.length !== c || row.some((b) => b !== 0 && b !== 1))) {
      throw bad(`${name} must be ${r} rows of ${c} bits (0 or 1)`);
    }
  };
  rows(m.w1Bits, hidden, inputs, "w1Bits");
  rows(m.w2Bits, outputs, hidden, "w2Bits");
  biasList(m.b1, hidden, "b1");
  biasList(m.b2, outputs, "b2");
}

/**
 * Parses and validates a model file (shape 196-25-10, '0'/'1' weight rows, biases in
 * [-2^15, 2^15)) and checks that its `modelCommitment` is the commitment of its weights.
 * Throws `invalid_argument` naming the first problem.
 *
 * @example
 * const model = parseInferenceModel(JSON.parse(readFileSync("circuits/models/digits-mlp.json", "utf8")));
 */
export function parseInferenceModel(json: unknown): InferenceModel {
  if (!isRecord(json)) throw bad("expected a JSON object");
  const { inputs, hidden, outputs } = INFERENCE_SHAPE;
  if (typeof json.name !== "string" || json.name === "") throw bad("name must be a non-empty string");
  if (json.version !== INFERENCE_VERSION) {
    throw bad(`version must be ${INFERENCE_VERSION}, got ${String(json.version)}`);
  }
  const shape = json.shape;
  if (
    !Array.isArray(shape) ||
    shape.length !== 3 ||
    shape[0] !== inputs ||
    shape[1] !== hidden ||
    shape[2] !== outputs
  ) {
    throw bad(`shape must be [${inputs}, ${hidden}, ${outputs}], got ${JSON.stringify(shape)}`);
  }
  const weights = json.weights;
  const biases = json.biases;
  if (!isRecord(weights) || !isRecord(biases)) throw bad("weights {w1, w2} and biases {b1, b2} are required");
  const params = {
    w1Bits: bitRows(weights.w1, hidden, inputs, "w1"),
    w2Bits: bitRows(weights.w2, outputs, hidden, "w2"),
    b1: biasList(biases.b1, hidden, "b1"),
    b2: biasList(biases.b2, outputs, "b2"),
  };
  if (typeof json.modelCommitment !== "string" || !/^0x[0-9a-fA-F]{1,64}$/.test(json.modelCommitment)) {
    throw bad("modelCommitment must be a 0x-prefixed hex string");
  }
  const claimed = BigInt(json.modelCommitment);
  const modelCommitment = modelCommitmentOf(params);
  if (claimed !== modelCommitment) {
    throw bad("modelCommitment is not the commitment of the file's weights and biases", {
      claimed: json.modelCommitment,
      computed: `0x${modelCommitment.toString(16)}`,
    });
  }
  let accuracy: InferenceModel["accuracy"];
  if (json.accuracy !== undefined) {
    const a = json.accuracy;
    if (!isRecord(a) || typeof a.train !== "number" || typeof a.test !== "number") {
      throw bad("accuracy must be {train: number, test: number}");
    }
    accuracy = { train: a.train, test: a.test };
  }
  return { name: json.name, version: json.version, ...params, modelCommitment, ...(accuracy ? { accuracy } : {}) };
}

/**
 * The words the model commitment hashes, in order (the circuit's `ModelCommitment`):
 *
 * - weight words: the bits of W1 row-major (`w1Bits[0][0], w1Bits[0][1], ...`), then of
 *   W2 row-major, as one bit string packed little-endian, 250 bits per word (bit t of the
 *   string is bit t mod 250 of word t div 250): 5,150 bits -> 21 words;
 * - bias words: b1 then b2, each as the 16-bit limb `b + 2^15`, packed 15 limbs per word
 *   little-endian (limb l at bits 16 (l mod 15) of word l div 15): 35 limbs -> 3 words.
 *
 * Injective for valid models (bits are bits, limbs are 16 bits).
 *
 * @example
 * modelWords(model).length; // 24
 */
export function modelWords(m: Pick<InferenceModel, "w1Bits" | "b1" | "w2Bits" | "b2">): bigint[] {
  const bits = [...m.w1Bits.flat(), ...m.w2Bits.flat()];
  const words: bigint[] = [];
  for (let t = 0; t < bits.length; t += BITS_PER_WORD) {
    let w = 0n;
    const chunk = bits.slice(t, t + BITS_PER_WORD);
    for (let b = chunk.length - 1; b >= 0; b--) w = (w << 1n) | BigInt(chunk[b]!);
    words.push(w);
  }
  const limbs = [...m.b1, ...m.b2].map((b) => BigInt(b + BIAS_BOUND));
  for (let l = 0; l < limbs.length; l += LIMBS_PER_WORD) {
    let w = 0n;
    const chunk = limbs.slice(l, l + LIMBS_PER_WORD);
    for (let k = chunk.length - 1; k >= 0; k--) w = (w << 16n) | chunk[k]!;
    words.push(w);
  }
  return words;
}

/**
 * The model's commitment, as the circuit computes it: a Poseidon chain over
 * {@link modelWords}, 15 words per link, from {@link MODEL_TAG}:
 * `h_0 = MODEL_TAG, h_(c+1) = Poseidon(h_c, words[15c .. 15c + 14])` (for 24 words:
 * Poseidon16 then Poseidon10). The API publishes it; an escrow's statement names it.
 * Throws `invalid_argument` for a model of another shape or out-of-range values.
 *
 * @example
 * const commitment = modelCommitmentOf(model);
 */
export function modelCommitmentOf(m: Pick<InferenceModel, "w1Bits" | "b1" | "w2Bits" | "b2">): bigint {
  checkParameters(m);
  const words = modelWords(m);
  // The shape is fixed, so the chain is always Poseidon16 (tag + 15 words) then
  // Poseidon10 (link + 9 words).
  if (words.length !== 2 * WORDS_PER_LINK - 6) throw bad(`expected 24 commitment words, got ${words.length}`);
  const h1 = poseidon16([MODEL_TAG, ...words.slice(0, WORDS_PER_LINK)]);
  return poseidon10([h1, ...words.slice(WORDS_PER_LINK)]);
}

/** Checks an image: 196 integers in [0, 255]. Throws `invalid_argument`. */
export function checkPixels(pixels: ArrayLike<number>): void {
  if (pixels.length !== INFERENCE_SHAPE.inputs) {
    throw new ZkPayError(
      "invalid_argument",
      `an input image has ${INFERENCE_SHAPE.inputs} pixels (14x14), got ${pixels.length}`,
    );
  }
  for (let j = 0; j < pixels.length; j++) {
    const p = pixels[j]!;
    if (!Number.isInteger(p) || p < 0 || p > 255) {
      throw new ZkPayError("invalid_argument", `pixel ${j} must be an integer in [0, 255], got ${p}`, { index: j });
    }
  }
}

/** The exact integers of one inference. */
export interface InferenceTrace {
  /** ReLU outputs of the hidden layer (each in [0, 2^17)). */
  readonly hidden: number[];
  /** The 10 logits (each |logit| < 2^22); the class is their `argmax` (io.ts). */
  readonly logits: number[];
}

/**
 * The exact integer inference the circuit proves: `hidden = ReLU(W1 x + b1)`,
 * `logits = W2 hidden + b2`, with `W = 2 * bit - 1`. Every intermediate is a safe
 * integer (|x| < 2^22). Throws `invalid_argument` for a bad image.
 *
 * @example
 * const { logits } = infer(model, pixels);
 */
export function infer(m: InferenceModel, pixels: ArrayLike<number>): InferenceTrace {
  checkPixels(pixels);
  const hidden = m.w1Bits.map((row, i) => {
    let s = m.b1[i]!;
    for (let j = 0; j < row.length; j++) s += row[j] ? pixels[j]! : -pixels[j]!;
    return s > 0 ? s : 0;
  });
  const logits = m.w2Bits.map((row, k) => {
    let s = m.b2[k]!;
    for (let i = 0; i < row.length; i++) s += row[i] ? hidden[i]! : -hidden[i]!;
    return s;
  });
  return { hidden, logits };
}
