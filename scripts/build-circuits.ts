/**
 * Builds everything that derives from a circuit of the registry (sdk/core/circuits/
 * registry.ts: payment, and the session-credential presentation), in order:
 *
 *   1. compile the circuit's main file (circuits/main/<name>.circom) with circom2 (--O2)
 *                                                                   -> build/circuits
 *   2. Powers of Tau of the circuit's power: the operator's ceremony file (--ptau FILE), or
 *      a development one generated once per power and cached in .cache/ptau (takes ~7
 *      minutes for 2^13 on 2 cores)
 *   3. Groth16 phase 2: zkey, one contribution with fresh entropy, optional beacon
 *   4. verification key
 *   5. the registry's verifier contracts, if any (payment: snarkjs' single-proof one ->
 *      contracts/verifiers/PaymentVerifier.sol, and the batched one
 *      (scripts/lib/batch-verifier-source.ts) -> PaymentBatchVerifier.sol). Presentations
 *      are verified by the service itself (sdk/session), never on chain.
 *   6. copy <name>.wasm, <name>.zkey and <name>.vkey.json to circuits/artifacts and write
 *      <name>.manifest.json
 *
 * Usage:
 *   npm run build:circuits                       every circuit, development setup (NOT for production)
 *   npm run build:circuits -- --circuit presentation   one of them
 *   npm run build:circuits -- --circuit payment --ptau pot.ptau \
 *        --beacon <64 hex chars>                 production path, see README (the ceremony
 *                                                file must cover the circuit's power)
 */
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync, copyFileSync, statSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";

import {
  artifactFileNames,
  CIRCUIT_NAMES,
  CIRCUITS,
  isCircuitName,
  type CircuitName,
  type CircuitSpec,
} from "../sdk/core/circuits/registry.js";
import { batchVerifierSource } from "./lib/batch-verifier-source.js";
import { ARTIFACTS_DIR, BUILD_DIR, PTAU_CACHE_DIR, ROOT } from "./lib/paths.js";

const { values: args } = parseArgs({
  options: {
    circuit: { type: "string", default: "all" },
    ptau: { type: "string" },
    beacon: { type: "string" },
    "skip-compile": { type: "boolean", default: false },
  },
});

const snarkjsCli = path.join(ROOT, "node_modules", "snarkjs", "build", "cli.cjs");
const circomBin = path.join(ROOT, "node_modules", ".bin", "circom2");

if (args.circuit !== "all" && !isCircuitName(args.circuit!)) {
  throw new Error(`--circuit must be one of ${CIRCUIT_NAMES.join(", ")} or all, got ${args.circuit}`);
}

function step(n: number, text: string): void {
  console.log(`\n[${n}/6] ${text}`);
}

function run(cmd: string, argv: string[]): void {
  execFileSync(cmd, argv, { stdio: "inherit", cwd: ROOT });
}

function snarkjs(...argv: string[]): void {
  run(process.execPath, [snarkjsCli, ...argv]);
}

function sha256(file: string): string {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

const started = Date.now();
mkdirSync(BUILD_DIR, { recursive: true });
mkdirSync(ARTIFACTS_DIR, { recursive: true });

/**
 * The Powers of Tau file for a circuit of 2^`power` rows and how the manifest describes
 * it: the operator's ceremony file when given (snarkjs refuses one that is too small), or
 * the development one of that power, cached per power (circuits of one power share it).
 */
function ptauFor(power: number): { file: string; source: string; cached: boolean } {
  if (args.ptau) {
    const file = path.resolve(args.ptau);
    if (!existsSync(file)) throw new Error(`--ptau file not found: ${file}`);
    return { file, source: `operator-supplied ${path.basename(file)}`, cached: true };
  }
  mkdirSync(PTAU_CACHE_DIR, { recursive: true });
  const file = path.join(PTAU_CACHE_DIR, `pot${power}_dev_final.ptau`);
  return {
    file,
    source: `DEVELOPMENT pot${power} generated locally (single contributor)`,
    cached: existsSync(file),
  };
}

/** Generates and caches the development Powers of Tau of `power` (never for production). */
function generateDevelopmentPtau(power: number, ptau: string): void {
  console.log(`generating a DEVELOPMENT Powers of Tau 2^${power} (one-off, ~4 minutes for 2^13 on 2 cores)...`);
  const p0 = path.join(PTAU_CACHE_DIR, `pot${power}_0000.ptau`);
  const p1 = path.join(PTAU_CACHE_DIR, `pot${power}_0001.ptau`);
  snarkjs("powersoftau", "new", "bn128", String(power), p0);
  snarkjs("powersoftau", "contribute", p0, p1, "--name=402zk development", `-e=${randomBytes(32).toString("hex")}`);
  snarkjs("powersoftau", "prepare", "phase2", p1, `${ptau}.tmp`);
  renameSync(`${ptau}.tmp`, ptau);
}

function buildCircuit(name: CircuitName): void {
  const spec: CircuitSpec = CIRCUITS[name];
  const files = artifactFileNames(name);
  console.log(`\n=== ${name} ===`);
  // 1. Compile. --O2 removes all linear constraints (without it the payment circuit has
  //    twice as many constraints and no longer fits 2^13).
  //    circom names its outputs after the main file.
  const compiled = path.basename(spec.main, ".circom");
  const r1cs = path.join(BUILD_DIR, `${compiled}.r1cs`);
  const wasm = path.join(BUILD_DIR, `${compiled}_js`, `${compiled}.wasm`);
  step(1, `compiling ${spec.main}`);
  if (!args["skip-compile"] || !existsSync(r1cs)) {
    run(circomBin, [
      spec.main,
      "--O2",
      "--r1cs",
      "--wasm",
      "--sym",
      "-l",
      "node_modules",
      "-o",
      path.relative(ROOT, BUILD_DIR),
    ]);
  }

  // 2. Powers of Tau.
  step(2, `Powers of Tau (2^${spec.ptauPower})`);
  const { file: ptau, source: ptauSource, cached } = ptauFor(spec.ptauPower);
  if (args.ptau) {
    console.log(`using ${ptau}`);
  } else if (cached) {
    console.log(`cached development ptau: ${ptau}`);
  } else {
    generateDevelopmentPtau(spec.ptauPower, ptau);
  }

  // 3. Phase 2 (circuit-specific): initial zkey, one contribution with fresh entropy, and
  //    optionally a public random beacon as the final contribution.
  step(3, "Groth16 setup and phase-2 contribution");
  const zkey0 = path.join(BUILD_DIR, `${name}_0000.zkey`);
  const zkey1 = path.join(BUILD_DIR, `${name}_0001.zkey`);
  const zkeyFinal = path.join(BUILD_DIR, `${name}_final.zkey`);
  snarkjs("groth16", "setup", r1cs, ptau, zkey0);
  snarkjs("zkey", "contribute", zkey0, zkey1, "--name=402zk development", `-e=${randomBytes(32).toString("hex")}`);
  if (args.beacon) {
    snarkjs("zkey", "beacon", zkey1, zkeyFinal, args.beacon, "10", "--name=final beacon");
  } else {
    copyFileSync(zkey1, zkeyFinal);
  }
  snarkjs("zkey", "verify", r1cs, ptau, zkeyFinal);

  // 4. Verification key.
  step(4, "exporting the verification key");
  const vkey = path.join(BUILD_DIR, `${name}.vkey.json`);
  snarkjs("zkey", "export", "verificationkey", zkeyFinal, vkey);

  // 5. The registry's verifier contracts. Generated, never edited: snarkjs' single-proof
  //    verifier only gets its contract name; the batched one embeds the same key as
  //    constants over Groth16Batch.sol (payBatch).
  const verifierHashes: Record<string, string> = {};
  if (spec.verifiers.length > 0) {
    step(5, `exporting the Solidity verifiers (${spec.verifiers.map((v) => v.contract).join(", ")})`);
    for (const v of spec.verifiers) {
      const out = path.join(ROOT, v.source);
      mkdirSync(path.dirname(out), { recursive: true });
      if (v.kind === "single") {
        const rawVerifier = path.join(BUILD_DIR, "Groth16Verifier.sol");
        snarkjs("zkey", "export", "solidityverifier", zkeyFinal, rawVerifier);
        const verifierSource = readFileSync(rawVerifier, "utf8").replace(
          "contract Groth16Verifier",
          [
            `// GENERATED by scripts/build-circuits.ts from ${spec.main} with`,
            "// `snarkjs zkey export solidityverifier`. Do not edit: rebuild instead.",
            `contract ${v.contract}`,
          ].join("\n"),
        );
        writeFileSync(out, verifierSource);
      } else {
        writeFileSync(out, batchVerifierSource(JSON.parse(readFileSync(vkey, "utf8")), v.contract, spec.main));
      }
      verifierHashes[v.manifestKey] = sha256(out);
    }
  } else {
    step(5, "no on-chain verifier for this circuit (verified off chain by the service)");
  }

  // 6. Committed artifacts and their manifest.
  step(6, "copying artifacts to circuits/artifacts");
  const out = {
    wasm: path.join(ARTIFACTS_DIR, files.wasm),
    zkey: path.join(ARTIFACTS_DIR, files.zkey),
    vkey: path.join(ARTIFACTS_DIR, files.vkey),
  };
  copyFileSync(wasm, out.wasm);
  copyFileSync(zkeyFinal, out.zkey);
  copyFileSync(vkey, out.vkey);
  const info = execFileSync(process.execPath, [snarkjsCli, "r1cs", "info", r1cs], { cwd: ROOT }).toString();
  const constraints = Number(/# of Constraints:\s*(\d+)/.exec(info)?.[1] ?? NaN);
  const manifest = {
    version: spec.version,
    circuit: spec.main,
    ...spec.params,
    constraints,
    publicSignals: spec.publicSignals,
    ptau: ptauSource,
    beacon: args.beacon ?? null,
    developmentSetup: !args.ptau,
    sha256: {
      wasm: sha256(out.wasm),
      zkey: sha256(out.zkey),
      vkey: sha256(out.vkey),
      ...verifierHashes,
      // What `snarkjs zkey verify <r1cs> <ptau> <zkey>` checks the zkey against.
      r1cs: sha256(r1cs),
      ptau: sha256(ptau),
    },
    compiler: "circom2 (circom 2.2.3, WASM) --O2 -l node_modules",
    builtAt: new Date().toISOString(),
  };
  writeFileSync(path.join(ARTIFACTS_DIR, files.manifest), JSON.stringify(manifest, null, 2) + "\n");
  console.log(`${name}: ${constraints} constraints, zkey ${(statSync(out.zkey).size / 1e6).toFixed(1)} MB`);
}

const names = args.circuit === "all" ? CIRCUIT_NAMES : [args.circuit as CircuitName];
for (const name of names) buildCircuit(name);
console.log(`\ndone in ${((Date.now() - started) / 1000).toFixed(1)} s`);
if (!args.ptau) console.log("NOTE: development trusted setup. Do not use these keys to protect real funds.");
