/**
 * Fast off-chain Groth16 verification on BN254 (alt_bn128, the curve of snarkjs and of
 * the EIP-196/197 precompiles), built on mcl-wasm's `BN_SNARK1`.
 *
 * This module has no runtime import of the rest of the SDK (only `mcl-wasm`, loaded
 * lazily) and uses only erasable TypeScript syntax, so a child process can import it
 * directly (see sdk/node/worker-verifier.ts).
 */
import type * as MclModule from "mcl-wasm";

import type { Groth16Proof, SolidityProof } from "./circuits/proof.js";

type Mcl = typeof MclModule;
type G1 = MclModule.G1;
type G2 = MclModule.G2;
type GT = MclModule.GT;
type Fr = MclModule.Fr;
type PrecomputedG2 = MclModule.PrecomputedG2;

/** BN254 scalar field order r: public signals must be below it. */
const R = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;
/** BN254 base field modulus q: point coordinates must be below it. */
const Q = 21888242871839275222246405745257275088696311157297823662689037894645226208583n;

/** A proof in either layout: the Solidity verifier's ({@link SolidityProof}) or snarkjs' ({@link Groth16Proof}). */
export type Groth16ProofInput = SolidityProof | Groth16Proof;

/** One proof of a batch, with its public signals in circuit order. */
export interface Groth16BatchItem {
  proof: Groth16ProofInput;
  publicSignals: readonly (bigint | string)[];
}

let mclReady: Promise<Mcl> | undefined;

/**
 * Loads and initialises mcl-wasm for BN_SNARK1 once per process (~90 ms the first time);
 * concurrent first calls share one initialisation. The G2 subgroup check is switched on.
 */
function loadMcl(): Promise<Mcl> {
  if (!mclReady) {
    const p = (async () => {
      const mod = (await import("mcl-wasm")) as Mcl & { default?: Mcl };
      const mcl = mod.default && typeof mod.default.init === "function" ? mod.default : mod;
      await mcl.init(mcl.BN_SNARK1);
      // G1 of BN254 has cofactor 1: every point on the curve is in the order-r group, so
      // mcl's G1 order check (a scalar multiplication by r, ~0.27 ms) proves nothing.
      mcl.verifyOrderG1(false);
      // G2 (on the twist) has a large cofactor: mcl must check the order of every point
      // it parses. Re-asserted before each parse (see g2Of) in case other code flips it.
      mcl.verifyOrderG2(true);
      return mcl;
    })();
    mclReady = p;
    // A failed load (e.g. no WebAssembly) is retried by the next call.
    p.catch(() => {
      if (mclReady === p) mclReady = undefined;
    });
  }
  return mclReady;
}

const verifiers = new WeakMap<object, Promise<Groth16Verifier>>();

/** Affine coordinates as bigints: G1 (x, y); G2 ([x.c0, x.c1], [y.c0, y.c1]) with c0 the real part. */
interface RawProof {
  a: [bigint, bigint];
  b: [[bigint, bigint], [bigint, bigint]];
  c: [bigint, bigint];
}

interface ParsedProof {
  a: G1;
  b: G2;
  c: G1;
}

/**
 * A Groth16 verifier for one verification key, on mcl-wasm (BN254). The key is prepared
 * once (gamma and delta precomputed for the Miller loop, e(alpha, beta) computed), so a
 * verification costs ~4.6 ms, against ~14-20 ms for `snarkjs.groth16.verify`; a batch
 * costs ~3 ms per proof (k + 3 Miller loops, one final exponentiation).
 *
 * Generic over circuits: any snarkjs Groth16 vkey on bn128. Accepts what the on-chain
 * verifier (EIP-197) accepts and nothing else: `verify` never throws; a malformed proof,
 * a public signal >= r, a coordinate >= q, a point off the curve, a G2 point outside the
 * prime-order subgroup, a point at infinity or a wrong number of signals all return false.
 *
 * @example
 * const verifier = await Groth16Verifier.fromVkey(JSON.parse(readFileSync("payment.vkey.json", "utf8")));
 * verifier.verify(result.proof, result.publicSignals); // true
 * verifier.verifyBatch(payments.map((p) => ({ proof: p.proof, publicSignals: p.publicSignals })));
 */
export class Groth16Verifier {
  /** Number of public signals the circuit has. */
  readonly nPublic: number;
  readonly #mcl: Mcl;
  readonly #ic: G1[];
  readonly #alpha: G1;
  readonly #betaPre: PrecomputedG2;
  readonly #gammaPre: PrecomputedG2;
  readonly #deltaPre: PrecomputedG2;
  /** e(alpha, beta)^-1, so that a single check needs three Miller loops. */
  readonly #alphaBetaInv: GT;

  private constructor(mcl: Mcl, vkey: Record<string, unknown>) {
    this.#mcl = mcl;
    const ic = vkey.IC;
    if (!Array.isArray(ic) || ic.length < 1) throw new Error("vkey: IC missing");
    const icPoints = ic.map((p, i) => g1FromSnarkjs(mcl, p, `IC[${i}]`));
    this.#ic = icPoints;
    this.nPublic = ic.length - 1;
    if (vkey.nPublic !== undefined && Number(vkey.nPublic) !== this.nPublic) {
      throw new Error(`vkey: nPublic ${String(vkey.nPublic)} but ${ic.length} IC points`);
    }
    this.#alpha = g1FromSnarkjs(mcl, vkey.vk_alpha_1, "vk_alpha_1");
    const beta = g2FromSnarkjs(mcl, vkey.vk_beta_2, "vk_beta_2");
    const gamma = g2FromSnarkjs(mcl, vkey.vk_gamma_2, "vk_gamma_2");
    const delta = g2FromSnarkjs(mcl, vkey.vk_delta_2, "vk_delta_2");
    this.#betaPre = new mcl.PrecomputedG2(beta);
    this.#gammaPre = new mcl.PrecomputedG2(gamma);
    this.#deltaPre = new mcl.PrecomputedG2(delta);
    this.#alphaBetaInv = mcl.inv(mcl.pairing(this.#alpha, beta));
  }

  /**
   * Prepares a verifier for a snarkjs verification key (the JSON of
   * `snarkjs zkey export verificationkey`). Throws for a key that is not a Groth16 bn128
   * key. Cached per key object: calling it again with the same object is free.
   *
   * @example
   * const verifier = await Groth16Verifier.fromVkey(vkey);
   */
  static fromVkey(vkey: unknown): Promise<Groth16Verifier> {
    if (typeof vkey !== "object" || vkey === null) return Promise.reject(new Error("vkey must be an object"));
    let v = verifiers.get(vkey);
    if (!v) {
      const p = (async () => {
        const k = vkey as Record<string, unknown>;
        if (k.protocol !== undefined && k.protocol !== "groth16")
          throw new Error(`vkey: protocol ${String(k.protocol)}`);
        if (k.curve !== undefined && !/^(bn128|bn254|alt_bn128)$/i.test(String(k.curve))) {
          throw new Error(`vkey: curve ${String(k.curve)} is not BN254`);
        }
        return new Groth16Verifier(await loadMcl(), k);
      })();
      verifiers.set(vkey, p);
      p.catch(() => verifiers.delete(vkey));
      v = p;
    }
    return v;
  }

  /**
   * Checks one proof against its public signals (circuit order). Never throws: anything
   * malformed is simply not a valid proof.
   *
   * @example
   * if (!verifier.verify(proof, publicSignals)) throw new Error("invalid proof");
   */
  verify(proof: Groth16ProofInput, publicSignals: readonly (bigint | string)[]): boolean {
    try {
      const signals = this.#signals(publicSignals);
      const p = signals && this.#parse(proof);
      if (!signals || !p) return false;
      const mcl = this.#mcl;
      const l = this.#commitment(signals.map((s) => frOf(mcl, s)));
      const ml = mcl.mul(
        mcl.millerLoop(mcl.neg(p.a), p.b),
        mcl.precomputedMillerLoop2(l, this.#gammaPre, p.c, this.#deltaPre),
      );
      return mcl.finalExp(ml).isEqual(this.#alphaBetaInv);
    } catch {
      return false;
    }
  }

  /**
   * Checks several proofs at once with one random linear combination (coefficients of
   * 128 bits from the platform's CSPRNG): k + 3 Miller loops and one final
   * exponentiation instead of 3k and k. True only if every proof is valid (a false batch
   * does not say which one failed: see {@link verifyBatchDetailed}). An empty batch is
   * true. Never throws.
   *
   * @example
   * const allValid = verifier.verifyBatch(items.map(({ proof, publicSignals }) => ({ proof, publicSignals })));
   */
  verifyBatch(items: readonly Groth16BatchItem[]): boolean {
    try {
      if (items.length === 1) return this.verify(items[0]!.proof, items[0]!.publicSignals);
      const parsed: { proof: ParsedProof; signals: bigint[] }[] = [];
      for (const it of items) {
        const signals = this.#signals(it.publicSignals);
        const proof = signals && this.#parse(it.proof);
        if (!signals || !proof) return false;
        parsed.push({ proof, signals });
      }
      return this.#batch(parsed);
    } catch {
      return false;
    }
  }

  /**
   * Like {@link verifyBatch}, but says which proofs are valid: one batch check, and when
   * it fails, each proof on its own. Malformed items are false without entering the batch.
   *
   * @example
   * const valid = verifier.verifyBatchDetailed(items); // [true, false, true, ...]
   */
  verifyBatchDetailed(items: readonly Groth16BatchItem[]): boolean[] {
    const out = items.map(() => false);
    const parsed: { proof: ParsedProof; signals: bigint[]; index: number }[] = [];
    items.forEach((it, index) => {
      try {
        const signals = this.#signals(it.publicSignals);
        const proof = signals && this.#parse(it.proof);
        if (signals && proof) parsed.push({ proof, signals, index });
      } catch {
        // malformed: stays false
      }
    });
    let batchOk = false;
    try {
      batchOk = parsed.length > 1 && this.#batch(parsed);
    } catch {
      batchOk = false;
    }
    for (const p of parsed) out[p.index] = batchOk || this.verify(items[p.index]!.proof, items[p.index]!.publicSignals);
    return out;
  }

  /** Signals as bigints, or null when their count or range is wrong. */
  #signals(publicSignals: readonly (bigint | string)[]): bigint[] | null {
    if (!Array.isArray(publicSignals) || publicSignals.length !== this.nPublic) return null;
    const out: bigint[] = [];
    for (const s of publicSignals as readonly unknown[]) {
      const v = toBigint(s);
      if (v === null || v < 0n || v >= R) return null;
      out.push(v);
    }
    return out;
  }

  /** IC[0] + sum(s_i * IC[i]), or with the first scalar given for IC[0] when `ic0Scalar` is set. */
  #commitment(scalars: Fr[], ic0Scalar?: Fr): G1 {
    const mcl = this.#mcl;
    if (ic0Scalar) return mcl.mulVec(this.#ic, [ic0Scalar, ...scalars]);
    if (scalars.length === 0) return this.#ic[0]!;
    return mcl.add(this.#ic[0]!, mcl.mulVec(this.#ic.slice(1), scalars));
  }

  #batch(items: readonly { proof: ParsedProof; signals: bigint[] }[]): boolean {
    if (items.length === 0) return true;
    const mcl = this.#mcl;
    const rs = items.map(() => randomCoefficient());
    let rSum = 0n;
    const combined: bigint[] = new Array<bigint>(this.nPublic).fill(0n);
    items.forEach((it, j) => {
      const r = rs[j]!;
      rSum += r;
      for (let i = 0; i < this.nPublic; i++) combined[i] = (combined[i]! + r * it.signals[i]!) % R;
    });
    const rFr = rs.map((r) => frOf(mcl, r));
    // prod e(-r_j A_j, B_j) * e(sum r_j L_j, gamma) * e(sum r_j C_j, delta) * e((sum r_j) alpha, beta) == 1
    const l = this.#commitment(
      combined.map((s) => frOf(mcl, s)),
      frOf(mcl, rSum % R),
    );
    const c = mcl.mulVec(
      items.map((it) => it.proof.c),
      rFr,
    );
    let ml = mcl.mul(
      mcl.precomputedMillerLoop2(l, this.#gammaPre, c, this.#deltaPre),
      mcl.precomputedMillerLoop(mcl.mul(this.#alpha, frOf(mcl, rSum % R)), this.#betaPre),
    );
    items.forEach((it, j) => {
      ml = mcl.mul(ml, mcl.millerLoop(mcl.neg(mcl.mul(it.proof.a, rFr[j]!)), it.proof.b));
    });
    return mcl.finalExp(ml).isOne();
  }

  /** mcl points of a proof, or null when any point is malformed, off the curve, outside the subgroup or at infinity. */
  #parse(proof: unknown): ParsedProof | null {
    const raw = rawProof(proof);
    if (!raw) return null;
    const mcl = this.#mcl;
    const a = g1Of(mcl, raw.a);
    const c = a && g1Of(mcl, raw.c);
    const b = c && g2Of(mcl, raw.b);
    return a && b && c ? { a, b, c } : null;
  }
}

// ------------------------------------------------------------------ parsing

/** A bigint from a bigint, a safe integer or a decimal/0x-hex string; null otherwise. */
function toBigint(v: unknown): bigint | null {
  if (typeof v === "bigint") return v;
  if (typeof v === "number") return Number.isSafeInteger(v) ? BigInt(v) : null;
  if (typeof v === "string" && /^(0|[1-9][0-9]*|0[xX][0-9a-fA-F]+)$/.test(v) && v.length <= 80) return BigInt(v);
  return null;
}

function pair(v: unknown): [bigint, bigint] | null {
  if (!Array.isArray(v) || v.length !== 2) return null;
  const x = toBigint(v[0]);
  const y = toBigint(v[1]);
  return x === null || y === null ? null : [x, y];
}

/** snarkjs G1 [x, y] or [x, y, "1"]: affine only (snarkjs always emits affine points). */
function snarkjsG1(v: unknown): [bigint, bigint] | null {
  if (!Array.isArray(v) || (v.length !== 2 && v.length !== 3)) return null;
  if (v.length === 3 && toBigint(v[2]) !== 1n) return null; // infinity (z = 0) or projective
  return pair(v.slice(0, 2));
}

/** snarkjs G2 [[x0, x1], [y0, y1]] or with ["1", "0"]. */
function snarkjsG2(v: unknown): [[bigint, bigint], [bigint, bigint]] | null {
  if (!Array.isArray(v) || (v.length !== 2 && v.length !== 3)) return null;
  if (v.length === 3) {
    const z = pair(v[2]);
    if (!z || z[0] !== 1n || z[1] !== 0n) return null;
  }
  const x = pair(v[0]);
  const y = pair(v[1]);
  return x && y ? [x, y] : null;
}

function rawProof(proof: unknown): RawProof | null {
  if (typeof proof !== "object" || proof === null) return null;
  const p = proof as Record<string, unknown>;
  if ("pA" in p) {
    // Solidity layout: G2 coordinates as [c1, c0].
    const a = pair(p.pA);
    const c = pair(p.pC);
    if (!Array.isArray(p.pB) || p.pB.length !== 2) return null;
    const bx = pair(p.pB[0]);
    const by = pair(p.pB[1]);
    if (!a || !c || !bx || !by) return null;
    return {
      a,
      b: [
        [bx[1], bx[0]],
        [by[1], by[0]],
      ],
      c,
    };
  }
  const a = snarkjsG1(p.pi_a);
  const b = snarkjsG2(p.pi_b);
  const c = snarkjsG1(p.pi_c);
  return a && b && c ? { a, b, c } : null;
}

const inBaseField = (v: bigint) => v >= 0n && v < Q;

/** A G1 point on the curve, not at infinity; null otherwise. */
function g1Of(mcl: Mcl, [x, y]: [bigint, bigint]): G1 | null {
  if (!inBaseField(x) || !inBaseField(y) || (x === 0n && y === 0n)) return null;
  try {
    const p = new mcl.G1();
    p.setStr(`1 ${x} ${y}`, 10);
    return p.isValid() && !p.isZero() ? p : null;
  } catch {
    return null; // mcl refuses a point off the curve
  }
}

/** A G2 point on the twist, in the order-r subgroup, not at infinity; null otherwise. */
function g2Of(mcl: Mcl, [[x0, x1], [y0, y1]]: [[bigint, bigint], [bigint, bigint]]): G2 | null {
  if (![x0, x1, y0, y1].every(inBaseField) || (x0 === 0n && x1 === 0n && y0 === 0n && y1 === 0n)) return null;
  try {
    // With the order check on, mcl's parser refuses a point outside the order-r subgroup
    // (psi-based check, ~0.8 ms; calling isValidOrder() again would pay it twice).
    mcl.verifyOrderG2(true);
    const p = new mcl.G2();
    p.setStr(`1 ${x0} ${x1} ${y0} ${y1}`, 10);
    return p.isValid() && !p.isZero() ? p : null;
  } catch {
    return null; // off the twist or outside the subgroup
  }
}

function g1FromSnarkjs(mcl: Mcl, v: unknown, name: string): G1 {
  const raw = snarkjsG1(v);
  const p = raw && g1Of(mcl, raw);
  if (!p) throw new Error(`vkey: ${name} is not a valid G1 point`);
  return p;
}

function g2FromSnarkjs(mcl: Mcl, v: unknown, name: string): G2 {
  const raw = snarkjsG2(v);
  const p = raw && g2Of(mcl, raw);
  if (!p) throw new Error(`vkey: ${name} is not a valid G2 point`);
  return p;
}

function frOf(mcl: Mcl, v: bigint): Fr {
  const f = new mcl.Fr();
  f.setStr(v.toString(16), 16);
  return f;
}

/** A uniformly random nonzero 128-bit coefficient from the platform's CSPRNG. */
function randomCoefficient(): bigint {
  const bytes = new Uint8Array(16);
  for (;;) {
    globalThis.crypto.getRandomValues(bytes);
    let v = 0n;
    for (const b of bytes) v = (v << 8n) | BigInt(b);
    if (v !== 0n) return v;
  }
}
