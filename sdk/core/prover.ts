import type * as Snarkjs from "snarkjs";

import { ZkPayError } from "./errors.js";
import { MAX_TREE_DEPTH, toValue } from "./field.js";
import type { MerklePath } from "./tree.js";
import { commitmentOf, nullifierHashOf, type NoteSecrets } from "./note.js";
import { Groth16Verifier } from "./verifier.js";

let snarkjsModule: Promise<typeof Snarkjs> | undefined;
/**
 * snarkjs, loaded on first use: it is large (~30 MiB of heap with its curve code), and a
 * process that only syncs or verifies with mcl-wasm never needs it.
 */
function loadSnarkjs(): Promise<typeof Snarkjs> {
  return (snarkjsModule ??= import("snarkjs"));
}

/**
 * Where the circuit artifacts are. In Node, file paths (or http(s)/file URLs); in a
 * browser, URLs; or the bytes themselves. Paths and URLs are read once per process and
 * kept in memory (see {@link preloadArtifacts}).
 */
export interface CircuitArtifacts {
  wasm: string | Uint8Array;
  zkey: string | Uint8Array;
}

/** Proving stages reported to `onProgress`. */
export type ProofStage = "witness" | "prove" | "done";

/** Progress report: a stage and an overall fraction in [0, 1]. */
export interface ProofProgress {
  stage: ProofStage;
  fraction: number;
  message: string;
}

/** A Groth16 proof in the layout the Solidity verifier takes. */
export interface SolidityProof {
  pA: [bigint, bigint];
  pB: [[bigint, bigint], [bigint, bigint]];
  pC: [bigint, bigint];
}

/** Everything the payment circuit needs. */
export interface PaymentWitness {
  /** The note being spent. */
  note: { value: bigint } & NoteSecrets;
  /** Its inclusion path (from {@link NoteTree.path}). */
  path: MerklePath;
  amount: bigint;
  fee: bigint;
  /** From {@link paymentContext}. */
  context: bigint;
  /** Secrets of the change note. */
  change: NoteSecrets;
}

/** A payment proof with its public signals by name. */
export interface PaymentProofResult {
  proof: SolidityProof;
  nullifierHash: bigint;
  changeCommitment: bigint;
  changeValue: bigint;
  root: bigint;
  treeSize: number;
  /** Public signals in circuit order [nullifierHash, changeCommitment, root, amount, fee, context]. */
  publicSignals: bigint[];
  timings: { witnessMs: number; proveMs: number };
}

// Messages snarkjs logs while proving, in order, mapped to progress fractions.
const PROVE_MILESTONES: [RegExp, number, string][] = [
  [/Reading Wtns/i, 0.25, "reading witness"],
  [/Reading Coeffs/i, 0.3, "reading coefficients"],
  [/Building ABC/i, 0.35, "building ABC"],
  [/QAP AB/i, 0.45, "FFT"],
  [/QAP C/i, 0.55, "FFT"],
  [/Joining ABC/i, 0.65, "joining"],
  [/Multiexp A/i, 0.7, "multiexp A"],
  [/Multiexp B1/i, 0.77, "multiexp B1"],
  [/Multiexp B2/i, 0.84, "multiexp B2"],
  [/Multiexp C/i, 0.9, "multiexp C"],
  [/Multiexp H/i, 0.95, "multiexp H"],
];

/**
 * The payment circuit's input signals for `w`, as snarkjs takes them (decimal strings).
 * `provePayment` checks `w` first; this only lays it out.
 *
 * @example
 * await snarkjs.wtns.calculate(paymentCircuitInput(w), wasm, wtns);
 */
export function paymentCircuitInput(w: PaymentWitness): Record<string, string | string[]> {
  return {
    root: w.path.root.toString(),
    amount: w.amount.toString(),
    fee: w.fee.toString(),
    context: w.context.toString(),
    value: w.note.value.toString(),
    nullifier: w.note.nullifier.toString(),
    secret: w.note.secret.toString(),
    depth: w.path.depth.toString(),
    indices: w.path.indices.toString(),
    siblings: w.path.siblings.map((s) => s.toString()),
    changeNullifier: w.change.nullifier.toString(),
    changeSecret: w.change.secret.toString(),
  };
}

/**
 * Builds the witness and a Groth16 proof of a payment, client-side.
 *
 * @example
 * const result = await provePayment(witness, artifacts, {
 *   onProgress: (p) => console.log(p.stage, Math.round(p.fraction * 100) + "%"),
 * });
 */
export async function provePayment(
  w: PaymentWitness,
  artifacts: CircuitArtifacts,
  options: { onProgress?: (p: ProofProgress) => void } = {},
): Promise<PaymentProofResult> {
  const value = toValue(w.note.value, "note value");
  const amount = toValue(w.amount, "amount");
  const fee = toValue(w.fee, "fee");
  if (amount + fee > value) {
    throw new ZkPayError("insufficient_private_balance", `note holds ${value}, payment needs ${amount + fee}`, {
      value: value.toString(),
      needed: (amount + fee).toString(),
    });
  }
  if (w.path.siblings.length !== MAX_TREE_DEPTH) {
    throw new ZkPayError("invalid_argument", `path must have ${MAX_TREE_DEPTH} siblings`);
  }
  if (w.change.nullifier === w.note.nullifier) {
    throw new ZkPayError("invalid_argument", "change note must not reuse the spent note's nullifier");
  }
  const changeValue = value - amount - fee;
  const input = paymentCircuitInput(w);

  const { proof, publicSignals, timings } = await proveGroth16(input, artifacts, options);
  const expectedNullifierHash = nullifierHashOf(w.note);
  const expectedChange = commitmentOf(changeValue, w.change);
  // The prover computed these; the reference implementation must agree.
  if (publicSignals[0] !== expectedNullifierHash || publicSignals[1] !== expectedChange) {
    throw new ZkPayError("proving_failed", "circuit outputs differ from the reference implementation");
  }
  return {
    proof,
    nullifierHash: expectedNullifierHash,
    changeCommitment: expectedChange,
    changeValue,
    root: w.path.root,
    treeSize: w.path.treeSize,
    publicSignals,
    timings,
  };
}

/**
 * Witness and Groth16 proof for any of the SDK's circuits (payment, presentation), with
 * progress reports and the artifact cache of {@link preloadArtifacts}. The caller lays
 * out `input` and checks the public signals against its reference implementation.
 *
 * @example
 * const { proof, publicSignals } = await proveGroth16(input, presentationArtifacts);
 */
export async function proveGroth16(
  input: Record<string, string | string[]>,
  artifacts: CircuitArtifacts,
  options: { onProgress?: (p: ProofProgress) => void } = {},
): Promise<{ proof: SolidityProof; publicSignals: bigint[]; timings: { witnessMs: number; proveMs: number } }> {
  const proving = proveNow(input, artifacts, options);
  const settled = proving.then(
    () => {},
    () => {},
  );
  proofsInFlight.add(settled);
  void settled.then(() => proofsInFlight.delete(settled));
  return proving;
}

/**
 * Proofs started and not finished. {@link shutdownProver} waits for them: a proof still
 * computing its witness when the curve is terminated would build a new curve, and new
 * worker threads that keep the process alive, when it reaches the Groth16 step (a
 * `SessionClient` proves its next presentation in the background after each request).
 */
const proofsInFlight = new Set<Promise<void>>();

async function proveNow(
  input: Record<string, string | string[]>,
  artifacts: CircuitArtifacts,
  options: { onProgress?: (p: ProofProgress) => void },
): Promise<{ proof: SolidityProof; publicSignals: bigint[]; timings: { witnessMs: number; proveMs: number } }> {
  const report = options.onProgress ?? (() => {});
  report({ stage: "witness", fraction: 0.02, message: "computing witness" });
  const t0 = performance.now();
  // Both artifacts load in parallel the first time; later proofs find them in memory.
  const zkeyBytes = artifactBytes(artifacts.zkey);
  zkeyBytes.catch(() => {}); // awaited (and reported) below, after the witness
  const wtns: { type: "mem"; data?: Uint8Array } = { type: "mem" };
  try {
    const snarkjs = await loadSnarkjs();
    await snarkjs.wtns.calculate(input, await artifactBytes(artifacts.wasm), wtns);
  } catch (err) {
    throw asArtifactOrProvingError(err, "witness");
  }
  const t1 = performance.now();
  report({ stage: "prove", fraction: 0.2, message: "proving" });
  const snarkjs = await loadSnarkjs();
  let proved: Awaited<ReturnType<typeof Snarkjs.groth16.prove>>;
  let next = 0;
  const logger = {
    debug: (msg: string) => {
      for (let i = next; i < PROVE_MILESTONES.length; i++) {
        const [re, fraction, label] = PROVE_MILESTONES[i]!;
        if (re.test(msg)) {
          next = i + 1;
          report({ stage: "prove", fraction, message: label });
          break;
        }
      }
    },
    info: () => {},
    warn: () => {},
    error: () => {},
  };
  try {
    const zkey = await zkeyBytes;
    proved = await withCurve(() => snarkjs.groth16.prove(zkey, wtns, logger));
  } catch (err) {
    throw asArtifactOrProvingError(err, "prove");
  }
  const t2 = performance.now();
  report({ stage: "done", fraction: 1, message: "proof ready" });
  return {
    proof: toSolidityProof(proved.proof),
    publicSignals: proved.publicSignals.map((x) => BigInt(x)),
    timings: { witnessMs: t1 - t0, proveMs: t2 - t1 },
  };
}

/** Artifact bytes by path or URL, one read per process; concurrent first calls share it. */
const artifactCache = new Map<string, Promise<Uint8Array>>();

/**
 * The bytes of an artifact: given bytes as they are, a path or URL read once and cached.
 * The cached array is never handed to snarkjs' writers (it only reads it), so it stays
 * valid across proofs.
 */
function artifactBytes(a: string | Uint8Array): Promise<Uint8Array> {
  if (a instanceof Uint8Array) {
    // fastfile's readString ignores byteOffset: hand it an array that starts its buffer.
    return Promise.resolve(a.byteOffset === 0 ? a : a.slice());
  }
  let p = artifactCache.get(a);
  if (!p) {
    p = readArtifact(a);
    artifactCache.set(a, p);
    // A failed read (missing file, server down) is retried by the next proof.
    p.catch(() => artifactCache.delete(a));
  }
  return p;
}

async function readArtifact(location: string): Promise<Uint8Array> {
  const isNode = typeof process !== "undefined" && typeof process.versions?.node === "string";
  if (!isNode || /^(https?|blob|data):/i.test(location)) {
    const res = await fetch(location);
    if (!res.ok) throw new Error(`fetch ${location}: HTTP ${res.status}`);
    return new Uint8Array(await res.arrayBuffer());
  }
  // node:fs only in Node, and behind a variable so that browser bundlers leave it alone.
  const fsModule = "node:fs/promises";
  const fs = (await import(/* @vite-ignore */ /* webpackIgnore: true */ fsModule)) as {
    readFile(path: string | URL): Promise<Uint8Array>;
  };
  const buf = await fs.readFile(/^file:/i.test(location) ? new URL(location) : location);
  // A copy that starts its own ArrayBuffer (a Node Buffer may be a view into a pool).
  return new Uint8Array(buf);
}

/**
 * Reads the circuit artifacts into memory now, so that the first proof does not pay for
 * it (a wallet or CLI calls it at start). Throws `artifacts_missing` when one cannot be
 * read. Proving from memory is ~2x faster than from a path, which snarkjs re-reads and
 * re-parses on every proof.
 *
 * @example
 * await preloadArtifacts(defaultArtifacts());
 */
export async function preloadArtifacts(artifacts: CircuitArtifacts): Promise<void> {
  const [w, z] = await Promise.allSettled([artifactBytes(artifacts.wasm), artifactBytes(artifacts.zkey)]);
  if (w.status === "rejected") throw asArtifactOrProvingError(w.reason, "witness");
  if (z.status === "rejected") throw asArtifactOrProvingError(z.reason, "prove");
}

function asArtifactOrProvingError(err: unknown, phase: string): ZkPayError {
  const msg = err instanceof Error ? err.message : String(err);
  if (/ENOENT|no such file|fetch|404/i.test(msg)) {
    return new ZkPayError(
      "artifacts_missing",
      `circuit artifacts could not be loaded: ${msg}`,
      { phase },
      { cause: err },
    );
  }
  if (/Assert Failed/i.test(msg)) {
    return new ZkPayError(
      "proving_failed",
      "the witness does not satisfy the circuit (wrong path, root, or values)",
      { phase },
      { cause: err },
    );
  }
  return new ZkPayError("proving_failed", `${phase} failed: ${msg}`, { phase }, { cause: err });
}

/**
 * A Groth16 proof in snarkjs' JSON layout (decimal strings, projective coordinates).
 * Declared here so the SDK's published types do not depend on snarkjs, which ships none.
 */
export interface Groth16Proof {
  pi_a: string[];
  pi_b: string[][];
  pi_c: string[];
  protocol: string;
  curve: string;
}

/** snarkjs proof -> Solidity verifier layout (G2 coordinates swapped). @example toSolidityProof(proof) */
export function toSolidityProof(p: Groth16Proof): SolidityProof {
  return {
    pA: [BigInt(p.pi_a[0]!), BigInt(p.pi_a[1]!)],
    pB: [
      [BigInt(p.pi_b[0]![1]!), BigInt(p.pi_b[0]![0]!)],
      [BigInt(p.pi_b[1]![1]!), BigInt(p.pi_b[1]![0]!)],
    ],
    pC: [BigInt(p.pi_c[0]!), BigInt(p.pi_c[1]!)],
  };
}

/** Solidity layout -> snarkjs proof, for off-chain verification. @example fromSolidityProof(proof) */
export function fromSolidityProof(p: SolidityProof): Groth16Proof {
  return {
    pi_a: [p.pA[0].toString(), p.pA[1].toString(), "1"],
    pi_b: [
      [p.pB[0][1].toString(), p.pB[0][0].toString()],
      [p.pB[1][1].toString(), p.pB[1][0].toString()],
      ["1", "0"],
    ],
    pi_c: [p.pC[0].toString(), p.pC[1].toString(), "1"],
    protocol: "groth16",
    curve: "bn128",
  };
}

/**
 * Verifies a payment proof off-chain (~5 ms, mcl-wasm; see {@link Groth16Verifier}), e.g.
 * before paying gas to settle it. Never throws: a malformed proof or key is simply false.
 * The verifier is prepared once per vkey object.
 *
 * @example
 * const ok = await verifyPaymentProof(vkey, proof, publicSignals);
 */
export async function verifyPaymentProof(
  vkey: unknown,
  proof: SolidityProof,
  publicSignals: readonly bigint[],
): Promise<boolean> {
  let verifier: Groth16Verifier;
  try {
    verifier = await Groth16Verifier.fromVkey(vkey);
  } catch {
    return false;
  }
  return verifier.verify(proof, publicSignals);
}

/**
 * The same check with `snarkjs.groth16.verify` (~15-50 ms): the reference the fast
 * verifier is tested against. One difference: snarkjs reduces point coordinates modulo
 * the base field, so it accepts a valid proof with a coordinate written as x + q, which
 * the on-chain verifier (EIP-197) and {@link verifyPaymentProof} refuse.
 *
 * @example
 * const ok = await verifyPaymentProofSnarkjs(vkey, proof, publicSignals);
 */
export async function verifyPaymentProofSnarkjs(
  vkey: unknown,
  proof: SolidityProof | Groth16Proof,
  publicSignals: readonly bigint[],
): Promise<boolean> {
  try {
    const p = "pA" in proof ? fromSolidityProof(proof) : proof;
    const snarkjs = await loadSnarkjs();
    return await withCurve(() => snarkjs.groth16.verify(vkey, publicSignals.map(String), p));
  } catch {
    // Malformed points make snarkjs throw: that is simply an invalid proof.
    return false;
  }
}

let curveBuilt: Promise<void> | undefined;

/**
 * Runs a snarkjs operation that needs the BN254 curve. The first one builds the curve
 * (and its worker threads) alone: ffjavascript caches the curve in a global only once it
 * is built, so concurrent first calls would each build one and leak all but the last.
 */
async function withCurve<T>(fn: () => Promise<T>): Promise<T> {
  if (curveBuilt) {
    await curveBuilt;
    return fn();
  }
  let done!: () => void;
  curveBuilt = new Promise<void>((resolve) => (done = resolve));
  try {
    return await fn();
  } finally {
    done();
  }
}

/**
 * Stops snarkjs' worker threads so that a process that proved can exit. Call once when
 * done proving (CLIs, tests); long-running servers need not. Proofs in flight (a
 * presentation prepared in the background) finish first.
 *
 * @example
 * await shutdownProver();
 */
export async function shutdownProver(): Promise<void> {
  const g = globalThis as { curve_bn128?: { terminate: () => Promise<void> } };
  while (proofsInFlight.size > 0) await Promise.all([...proofsInFlight]);
  if (curveBuilt) await curveBuilt;
  curveBuilt = undefined;
  if (g.curve_bn128) {
    await g.curve_bn128.terminate();
    delete g.curve_bn128;
  }
}
