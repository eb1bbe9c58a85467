/**
 * Benchmark section: proving from memory vs from a path, and off-chain verification
 * (mcl-wasm single and batch vs snarkjs). Proofs are generated off-chain only (no chain,
 * no contract). Runs alone too:
 *
 *   npx tsx bench/verify.ts
 *
 * (or `npx tsx -e 'import("./bench/verify.ts").then((m) => m.benchVerify()).then(console.log)'`,
 * which then waits for snarkjs' worker threads: call shutdownProver() when done).
 */
import path from "node:path";
import { pathToFileURL } from "node:url";

import * as snarkjs from "snarkjs";

import { preloadArtifacts } from "../sdk/core/circuits/artifacts.js";
import {
  paymentCircuitInput,
  provePayment,
  verifyPaymentProofSnarkjs,
  type PaymentProofResult,
  type PaymentWitness,
} from "../sdk/core/circuits/payment.js";
import { fromSolidityProof } from "../sdk/core/circuits/proof.js";
import { artifactFileNames } from "../sdk/core/circuits/registry.js";
import { WalletKeys } from "../sdk/core/keys.js";
import { commitmentOf, notePosition, type NoteOpening } from "../sdk/core/note.js";
import { hash1, hash2 } from "../sdk/core/poseidon.js";
import { shutdownProver } from "../sdk/core/prover.js";
import { NoteTree } from "../sdk/core/tree.js";
import { Groth16Verifier, type Groth16BatchItem } from "../sdk/core/verifier.js";
import { artifactsOf, verificationKeyOf } from "../sdk/node/artifacts.js";
import { median, round } from "./util.js";
import { ARTIFACTS_DIR } from "../scripts/lib/paths.js";

export interface BenchVerifyResult {
  /** Median witness + Groth16 prove time of a transparent (zk-exact) payment, artifacts in memory. */
  proveMsMedian: number;
  /**
   * Median witness + prove time of a shielded (zk-shielded) payment: the same circuit with
   * a payee note of value > 0 and amount = 0, proved interleaved with the transparent ones
   * (same number of runs, same process, same artifacts).
   */
  shieldedProveMsMedian: number;
  /** Median witness time of the shielded proofs (part of shieldedProveMsMedian). */
  shieldedWitnessMsMedian: number;
  /** The first proof of the process: artifact read (a fresh cache entry) and curve setup included. */
  proveColdMs: number;
  /** Median witness time (part of proveMsMedian). */
  witnessMsMedian: number;
  /** Median single verification (mcl-wasm, vkey prepared once). */
  verifyMsMedian: number;
  /** Batch verification cost per proof (median of several batches). */
  verifyBatchMsPerProof: { "16": number; "32": number };
  /** Median `snarkjs.groth16.verify`. */
  snarkjsVerifyMsMedian: number;
  /** Median witness + prove when snarkjs is given file paths (it re-reads the files each time). */
  proveMsMedianFromPath?: number;
}

/**
 * The payments this benchmark proves: payment i spends note i % 8 of an 8-leaf tree, all
 * owned by one wallet's key (payment v2). Transparent (zk-exact): `amount` in public, a zero
 * payee note. Shielded (zk-shielded): amount 0, the price in a payee note owned by another
 * key. Deterministic, so other sections (bench/browser.ts) prove the very same inputs.
 *
 * @example
 * const witnessOf = benchPaymentWitnesses();
 * const r = await provePayment(witnessOf(1), artifacts);
 */
export function benchPaymentWitnesses(): (i: number, shielded?: boolean) => PaymentWitness {
  const keys = WalletKeys.fromSeed(`0x${"be".repeat(32)}`);
  const payeeKeys = WalletKeys.fromSeed(`0x${"ef".repeat(32)}`);
  const notes: NoteOpening[] = Array.from({ length: 8 }, (_, i) => ({
    value: 1_000_000n + BigInt(i),
    owner: keys.ownerKey,
    blinding: hash1(91_000n + BigInt(i)),
  }));
  const tree = NoteTree.from(notes.map((n) => commitmentOf(n)));
  const zero: NoteOpening = { value: 0n, owner: 0n, blinding: 0n };
  return (i, shielded = false) => {
    const k = i % notes.length;
    const price = 1_000n + BigInt(i);
    return {
      note: notes[k]!,
      spendingKey: keys.spendingKey(),
      position: notePosition(k, tree.levels),
      path: tree.path(k),
      amount: shielded ? 0n : price,
      fee: BigInt(i % 7),
      context: hash2(0xbe7cn, BigInt(i)),
      payee: shielded ? { value: price, owner: payeeKeys.ownerKey, blinding: hash1(95_000n + BigInt(i)) } : zero,
      changeBlinding: hash1(94_000n + BigInt(i)),
    };
  };
}

/**
 * Measures proving and off-chain verification of the payment circuit.
 *
 * @example
 * const r = await benchVerify({ proves: 15, verifies: 40 });
 */
export async function benchVerify(
  o: { proves?: number; verifies?: number; provesFromPath?: number; log?: (msg: string) => void } = {},
): Promise<BenchVerifyResult> {
  const proves = o.proves ?? 15;
  const verifies = o.verifies ?? 40;
  const provesFromPath = o.provesFromPath ?? 5;
  const log = o.log ?? (() => {});
  const { vkey } = verificationKeyOf("payment", ARTIFACTS_DIR);
  const artifacts = artifactsOf("payment", ARTIFACTS_DIR);
  const files = artifactFileNames("payment");

  const witnessOf = benchPaymentWitnesses();

  // Cold: the same files under another spelling, so that the artifact cache misses even
  // when this runs after other sections of the benchmark.
  const cold = await provePayment(witnessOf(0), {
    ...artifacts,
    wasm: `${ARTIFACTS_DIR}${path.sep}.${path.sep}${files.wasm}`,
    zkey: `${ARTIFACTS_DIR}${path.sep}.${path.sep}${files.zkey}`,
  });
  const proveColdMs = cold.timings.witnessMs + cold.timings.proveMs;
  log(`cold proof ${round(proveColdMs)} ms`);

  await preloadArtifacts(artifacts);
  const results: PaymentProofResult[] = [];
  const shieldedResults: PaymentProofResult[] = [];
  // Interleaved, one of each mode per round: load and JIT drift hit both modes alike.
  for (let i = 1; i <= proves; i++) {
    results.push(await provePayment(witnessOf(i), artifacts));
    shieldedResults.push(await provePayment(witnessOf(i, true), artifacts));
  }
  const total = (r: PaymentProofResult) => r.timings.witnessMs + r.timings.proveMs;
  const proveMsMedian = median(results.map(total));
  const witnessMsMedian = median(results.map((r) => r.timings.witnessMs));
  const shieldedProveMsMedian = median(shieldedResults.map(total));
  const shieldedWitnessMsMedian = median(shieldedResults.map((r) => r.timings.witnessMs));
  log(
    `prove (memory) median ${round(proveMsMedian)} ms transparent, ${round(shieldedProveMsMedian)} ms shielded, ` +
      `over ${proves} each`,
  );

  let proveMsMedianFromPath: number | undefined;
  if (provesFromPath > 0) {
    const times: number[] = [];
    for (let i = 0; i < provesFromPath; i++) {
      const w = witnessOf(i + 1);
      const t0 = performance.now();
      const wtns: { type: "mem"; data?: Uint8Array } = { type: "mem" };
      await snarkjs.wtns.calculate(paymentCircuitInput(w), artifacts.wasm, wtns);
      await snarkjs.groth16.prove(artifacts.zkey, wtns);
      times.push(performance.now() - t0);
    }
    proveMsMedianFromPath = median(times);
    log(`prove (path) median ${round(proveMsMedianFromPath)} ms over ${provesFromPath}`);
  }

  const verifier = await Groth16Verifier.fromVkey(vkey);
  for (const r of shieldedResults) {
    if (!verifier.verify(r.proof, r.publicSignals)) throw new Error("bench: a valid shielded proof did not verify");
  }
  const one = results[0]!;
  for (let i = 0; i < 5; i++) verifier.verify(one.proof, one.publicSignals); // JIT warm-up
  const single: number[] = [];
  for (let i = 0; i < verifies; i++) {
    const r = results[i % results.length]!;
    const t0 = performance.now();
    const ok = verifier.verify(r.proof, r.publicSignals);
    single.push(performance.now() - t0);
    if (!ok) throw new Error("bench: a valid proof did not verify");
  }

  const batchOf = (k: number): Groth16BatchItem[] =>
    Array.from({ length: k }, (_, i) => ({
      proof: results[i % results.length]!.proof,
      publicSignals: results[i % results.length]!.publicSignals,
    }));
  const perProof = (k: number): number => {
    const items = batchOf(k);
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const ok = verifier.verifyBatch(items);
      times.push((performance.now() - t0) / k);
      if (!ok) throw new Error("bench: a valid batch did not verify");
    }
    return median(times);
  };
  const verifyBatchMsPerProof = { "16": round(perProof(16), 2), "32": round(perProof(32), 2) };

  const ref: number[] = [];
  const snarkjsProof = fromSolidityProof(one.proof);
  await verifyPaymentProofSnarkjs(vkey, snarkjsProof, one.publicSignals); // curve and JIT warm-up
  for (let i = 0; i < verifies; i++) {
    const r = results[i % results.length]!;
    const t0 = performance.now();
    const ok = await verifyPaymentProofSnarkjs(vkey, r.proof, r.publicSignals);
    ref.push(performance.now() - t0);
    if (!ok) throw new Error("bench: snarkjs refused a valid proof");
  }

  return {
    proveMsMedian: round(proveMsMedian),
    shieldedProveMsMedian: round(shieldedProveMsMedian),
    shieldedWitnessMsMedian: round(shieldedWitnessMsMedian),
    proveColdMs: round(proveColdMs),
    witnessMsMedian: round(witnessMsMedian),
    verifyMsMedian: round(median(single), 2),
    verifyBatchMsPerProof,
    snarkjsVerifyMsMedian: round(median(ref), 2),
    ...(proveMsMedianFromPath === undefined ? {} : { proveMsMedianFromPath: round(proveMsMedianFromPath) }),
  };
}

// Run alone: print the figures and let the process exit.
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  benchVerify({ log: (m) => console.error(m) })
    .then((r) => console.log(JSON.stringify(r, null, 2)))
    .finally(() => shutdownProver());
}
