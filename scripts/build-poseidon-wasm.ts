/**
 * Generates sdk/core/poseidon-wasm-code.ts: a small WebAssembly module that hashes many
 * Poseidon(a, b) pairs (circomlib's T3 parameters, the same as poseidon-lite and the
 * contract's PoseidonT3) in one call, for the note tree. Field arithmetic is wasmcurves'
 * Montgomery multiplication (the code snarkjs proves with); the 65 rounds are unrolled.
 *
 * Run: npx tsx scripts/build-poseidon-wasm.ts (only when this file changes; the output
 * is committed so that the SDK needs neither wasmcurves nor wasmbuilder at run time).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { poseidon2 } from "poseidon-lite";

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

type Code = number[];
interface CodeBuilder {
  call(fn: string, ...args: Code[]): Code;
  i32_const(n: number): Code;
  getLocal(name: string): Code;
  setLocal(name: string, v: Code): Code;
  i32_add(a: Code, b: Code): Code;
  i32_eq(a: Code, b: Code): Code;
  block(c: Code): Code;
  loop(...c: Code[]): Code;
  br_if(n: number, c: Code): Code;
  br(n: number): Code;
}
interface FunctionBuilder {
  addParam(name: string, type: string): void;
  addLocal(name: string, type: string): void;
  getCodeBuilder(): CodeBuilder;
  addCode(...c: Code[]): void;
}
interface ModuleBuilderT {
  setMemory(pages: number): void;
  alloc(size: number | Uint8Array, bytes?: Uint8Array): number;
  addFunction(name: string): FunctionBuilder;
  exportFunction(name: string, exportName?: string): void;
  build(): Uint8Array;
  free: number;
}

const { ModuleBuilder } = require(path.join(root, "node_modules/wasmbuilder/build/main.cjs")) as {
  ModuleBuilder: new () => ModuleBuilderT;
};
const { buildF1m } = require(path.join(root, "node_modules/wasmcurves/index.js")) as {
  buildF1m: (m: ModuleBuilderT, q: bigint, prefix: string) => string;
};

const P = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;
const R = (1n << 256n) % P;

// circomlib's optimised constants (poseidon_constants.circom): the same permutation as
// the reference one with sparse matrices in the partial rounds (~600 multiplications
// instead of ~830 per hash). The result is checked against poseidon-lite below.
const constantsFile = readFileSync(
  path.join(root, "node_modules/circomlib/circuits/poseidon_constants.circom"),
  "utf8",
);
function constantsOf(fn: string): bigint[] {
  const body = constantsFile.slice(constantsFile.indexOf(`function ${fn}(t)`));
  const at = body.indexOf("} else if (t==3) {");
  const block = body.slice(at, body.indexOf("} else if (t==4) {", at));
  return [...block.matchAll(/0x[0-9a-fA-F]+/g)].map((x) => BigInt(x[0]));
}
const C = constantsOf("POSEIDON_C");
const S = constantsOf("POSEIDON_S");
const Mf = constantsOf("POSEIDON_M");
const Pf = constantsOf("POSEIDON_P");
const T = 3;
const ROUNDS_F = 8;
const ROUNDS_P = 57;
const M = [0, 1, 2].map((i) => Mf.slice(i * T, i * T + T));
const Pm = [0, 1, 2].map((i) => Pf.slice(i * T, i * T + T));
if (C.length !== T * ROUNDS_F + ROUNDS_P || S.length !== ROUNDS_P * (2 * T - 1) || Mf.length !== 9 || Pf.length !== 9) {
  throw new Error("unexpected Poseidon constants");
}

/**
 * The permutation as a list of field operations on named cells, following circomlib's
 * PoseidonEx template step by step. Run once on bigints (checked against poseidon-lite)
 * and once to emit WebAssembly.
 */
type Op =
  | { op: "add"; a: number; b: number | bigint; r: number }
  | { op: "mul"; a: number; b: number | bigint; r: number }
  | { op: "sq"; a: number; r: number }
  | { op: "copy"; a: number; r: number };
// cells: 0..2 state A, 3..5 state B, 6 X, 7 X2
const ops: Op[] = [];
let cur = [0, 1, 2];
let nxt = [3, 4, 5];
const X = 6;
const X2 = 7;
const sigma = (s: number) => {
  ops.push({ op: "sq", a: s, r: X2 }, { op: "sq", a: X2, r: X2 }, { op: "mul", a: X2, b: s, r: s });
};
const ark = (off: number) => {
  for (let i = 0; i < T; i++) ops.push({ op: "add", a: cur[i]!, b: C[off + i]!, r: cur[i]! });
};
const mix = (m: bigint[][]) => {
  // out[i] = sum_j m[j][i] * in[j]
  for (let i = 0; i < T; i++) {
    ops.push({ op: "mul", a: cur[0]!, b: m[0]![i]!, r: nxt[i]! });
    for (let j = 1; j < T; j++) {
      ops.push({ op: "mul", a: cur[j]!, b: m[j]![i]!, r: X }, { op: "add", a: nxt[i]!, b: X, r: nxt[i]! });
    }
  }
  [cur, nxt] = [nxt, cur];
};
const half = ROUNDS_F / 2;
ark(0);
for (let r = 0; r < half - 1; r++) {
  for (let j = 0; j < T; j++) sigma(cur[j]!);
  ark((r + 1) * T);
  mix(M);
}
for (let j = 0; j < T; j++) sigma(cur[j]!);
ark(half * T);
mix(Pm);
for (let r = 0; r < ROUNDS_P; r++) {
  sigma(cur[0]!);
  ops.push({ op: "add", a: cur[0]!, b: C[(half + 1) * T + r]!, r: cur[0]! });
  const s = (2 * T - 1) * r;
  // out[0] = sum_i S[s+i] in[i]; out[i] = in[i] + in[0] * S[s+T+i-1]
  ops.push({ op: "mul", a: cur[0]!, b: S[s]!, r: nxt[0]! });
  for (let i = 1; i < T; i++) {
    ops.push({ op: "mul", a: cur[i]!, b: S[s + i]!, r: X }, { op: "add", a: nxt[0]!, b: X, r: nxt[0]! });
  }
  for (let i = 1; i < T; i++) {
    ops.push({ op: "mul", a: cur[0]!, b: S[s + T + i - 1]!, r: X }, { op: "add", a: cur[i]!, b: X, r: nxt[i]! });
  }
  [cur, nxt] = [nxt, cur];
}
for (let r = 0; r < half - 1; r++) {
  for (let j = 0; j < T; j++) sigma(cur[j]!);
  ark((half + 1) * T + ROUNDS_P + r * T);
  mix(M);
}
for (let j = 0; j < T; j++) sigma(cur[j]!);
// MixLast(t, M, 0): out = sum_j M[j][0] in[j], into cell 7 (X2) then the output
ops.push({ op: "mul", a: cur[0]!, b: M[0]![0]!, r: nxt[0]! });
for (let j = 1; j < T; j++) {
  ops.push({ op: "mul", a: cur[j]!, b: M[j]![0]!, r: X }, { op: "add", a: nxt[0]!, b: X, r: nxt[0]! });
}
const OUT_CELL = nxt[0]!;

function reference(a: bigint, b: bigint): bigint {
  const cells: bigint[] = [0n, a, b, 0n, 0n, 0n, 0n, 0n];
  const val = (x: number | bigint) => (typeof x === "bigint" ? x : cells[x]!);
  for (const o of ops) {
    if (o.op === "add") cells[o.r] = (cells[o.a]! + val(o.b)) % P;
    else if (o.op === "mul") cells[o.r] = (cells[o.a]! * val(o.b)) % P;
    else if (o.op === "sq") cells[o.r] = (cells[o.a]! * cells[o.a]!) % P;
    else cells[o.r] = cells[o.a]!;
  }
  return cells[OUT_CELL]!;
}
for (const [a, b] of [
  [1n, 2n],
  [0n, 0n],
  [P - 1n, 12345n],
] as const) {
  if (reference(a, b) !== poseidon2([a, b])) throw new Error("optimised Poseidon differs from poseidon-lite");
}

function le(v: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}
const mont = (v: bigint) => le((v * R) % P);

const m = new ModuleBuilder();
m.setMemory(2);
buildF1m(m, P, "frm");

const cell = Array.from({ length: 8 }, () => m.alloc(32));
const constAt = new Map<bigint, number>();
const constPtr = (v: bigint) => {
  let p = constAt.get(v);
  if (p === undefined) constAt.set(v, (p = m.alloc(mont(v))));
  return p;
};

const f = m.addFunction("poseidon2_batch");
f.addParam("pIn", "i32");
f.addParam("pOut", "i32");
f.addParam("n", "i32");
f.addLocal("i", "i32");
const c = f.getCodeBuilder();
const k = (p: number) => c.i32_const(p);
const operand = (x: number | bigint) => k(typeof x === "bigint" ? constPtr(x) : cell[x]!);
const rounds: Code[] = ops.map((o) => {
  if (o.op === "add") return c.call("frm_add", k(cell[o.a]!), operand(o.b), k(cell[o.r]!));
  if (o.op === "mul") return c.call("frm_mul", k(cell[o.a]!), operand(o.b), k(cell[o.r]!));
  if (o.op === "sq") return c.call("frm_square", k(cell[o.a]!), k(cell[o.r]!));
  return c.call("frm_copy", k(cell[o.a]!), k(cell[o.r]!));
});

f.addCode(
  c.setLocal("i", c.i32_const(0)),
  c.block(
    c.loop(
      c.br_if(1, c.i32_eq(c.getLocal("i"), c.getLocal("n"))),
      c.call("frm_zero", k(cell[0]!)),
      c.call("frm_toMontgomery", c.getLocal("pIn"), k(cell[1]!)),
      c.call("frm_toMontgomery", c.i32_add(c.getLocal("pIn"), c.i32_const(32)), k(cell[2]!)),
      ...rounds,
      c.call("frm_fromMontgomery", k(cell[OUT_CELL]!), c.getLocal("pOut")),
      c.setLocal("pIn", c.i32_add(c.getLocal("pIn"), c.i32_const(64))),
      c.setLocal("pOut", c.i32_add(c.getLocal("pOut"), c.i32_const(32))),
      c.setLocal("i", c.i32_add(c.getLocal("i"), c.i32_const(1))),
      c.br(0),
    ),
  ),
);
m.exportFunction("poseidon2_batch");

const bytes = m.build();
const heapStart = (m.free + 63) & ~63;
const out = path.join(root, "sdk/core/poseidon-wasm-code.ts");
writeFileSync(
  out,
  `// Generated by scripts/build-poseidon-wasm.ts: do not edit.\n` +
    `/** Base64 of the module (imports env.memory; exports poseidon2_batch(pIn, pOut, n)). */\n` +
    `export const POSEIDON_WASM_BASE64 =\n  "${Buffer.from(bytes).toString("base64")}";\n` +
    `/** First byte of memory that the module's own data does not use. */\n` +
    `export const POSEIDON_WASM_HEAP_START = ${heapStart};\n`,
);
console.log(`wrote ${out}: ${bytes.length} bytes of wasm, heap from ${heapStart}`);
