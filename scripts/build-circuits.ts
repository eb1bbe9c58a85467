/**
 * Builds everything that derives from a circuit (payment, or the session-credential
 * presentation), in order:
 *
 *   1. compile circuits/main/<circuit>.circom with circom2 (--O2)    -> build/circuits
 *   2. Powers of Tau: the operator's ceremony file (--ptau FILE), or a development
 *      one generated once and cached in .cache/ptau (takes ~7 minutes on 2 cores)
 *   3. Groth16 phase 2: zkey, one contribution with fresh entropy, optional beacon
 *   4. verification key
 *   5. payment only: Solidity verifiers: snarkjs' single-proof one ->
 *      contracts/verifiers/PaymentVerifier.sol, and the batched one
 *      (scripts/lib/batch-verifier-source.ts) -> PaymentBatchVerifier.sol. Presentations
 *      are verified by the service itself (sdk/session), never on chain.
 *   6. copy wasm, zkey and vkey to circuits/artifacts and write the manifest
 *      (manifest.json for payment, presentation.manifest.json for presentation)
 *
 * Usage:
 *   npm run build:circuits                       both circuits, development setup (NOT for production)
 *   npm run build:circuits -- --circuit presentation   one of them
 *   npm run build:circuits -- --ptau pot.ptau \
 *        --beacon <64 hex chars>                 production path, see README
 */
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync, copyFileSync, statSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";

import { batchVerifierSource } from "./lib/batch-verifier-source.js";
import { ARTIFACTS_DIR, BATCH_VERIFIER_SOL, BUILD_DIR, PTAU_CACHE_DIR, ROOT, VERIFIER_SOL } from "./lib/paths.js";

// 2^13 = 8,192 rows: the depth-24 payment circuit has ~8.0k constraints + 7 public rows,
// the presentation circuit ~5.7k + 6.
const PTAU_POWER = 13;

/** What differs between the circuits. */
const CIRCUITS = {
  payment: {
    manifestFile: "manifest.json",
    params: { maxDepth: 24, valueBits: 128 },
    publicSignals: ["nullifierHash", "changeCommitment", "root", "amount", "fee", "context"],
    solidity: true,
  },
  presentation: {
    manifestFile: "presentation.manifest.json",
    params: { tierBits: 16, timeBits: 40, countBits: 32 },
    publicSignals: ["originToken", "serviceId", "requiredTier", "now", "originId", "context"],
    solidity: false,
  },
} as const;
type CircuitName = keyof typeof CIRCUITS;

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

if (args.circuit !== "all" && !(args.circuit! in CIRCUITS)) {
  throw new Error(`--circuit must be one of ${Object.keys(CIRCUITS).join(", ")} or all, got ${args.circuit}`);
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

// Powers of Tau, shared by both circuits (both fit 2^13).
let ptau: string;
let ptauSource: string;
if (args.ptau) {
  ptau = path.resolve(args.ptau);
  if (!existsSync(ptau)) throw new Error(`--ptau file not found: ${ptau}`);
  ptauSource = `operator-supplied ${path.basename(ptau)}`;
} else {
  mkdirSync(PTAU_CACHE_DIR, { recursive: true });
  ptau = path.join(PTAU_CACHE_DIR, `pot${PTAU_POWER}_dev_final.ptau`);
  ptauSource = `DEVELOPMENT pot${PTAU_POWER} generated locally (single contributor)`;
}

function buildCircuit(name: CircuitName): void {
  const spec = CIRCUITS[name];
  console.log(`\n=== ${name} ===`);
  // 1. Compile. --O2 removes all linear constraints (without it the payment circuit has
  //    twice as many constraints and no longer fits 2^13).
  const r1cs = path.join(BUILD_DIR, `${name}.r1cs`);
  const wasm = path.join(BUILD_DIR, `${name}_js`, `${name}.wasm`);
  step(1, `compiling circuits/main/${name}.circom`);
  if (!args["skip-compile"] || !existsSync(r1cs)) {
    run(circomBin, [
      path.join("circuits", "main", `${name}.circom`),
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
  step(2, "Powers of Tau");
  if (args.ptau) {
    console.log(`using ${ptau}`);
  } else if (existsSync(ptau)) {
    console.log(`cached development ptau: ${ptau}`);
  } else {
    console.log("generating a DEVELOPMENT Powers of Tau (one-off, ~4 minutes on 2 cores)...");
    const p0 = path.join(PTAU_CACHE_DIR, "pot_0000.ptau");
    const p1 = path.join(PTAU_CACHE_DIR, "pot_0001.ptau");
    snarkjs("powersoftau", "new", "bn128", String(PTAU_POWER), p0);
    snarkjs("powersoftau", "contribute", p0, p1, "--name=402zk development", `-e=${randomBytes(32).toString("hex")}`);
    snarkjs("powersoftau", "prepare", "phase2", p1, `${ptau}.tmp`);
    renameSync(`${ptau}.tmp`, ptau);
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

  // 5. Solidity verifiers (payment only). Generated, never edited: only the contract name
  //    is changed.
  const verifierHashes: Record<string, string> = {};
  if (spec.solidity) {
    step(5, "exporting the Solidity verifiers");
    const rawVerifier = path.join(BUILD_DIR, "Groth16Verifier.sol");
    snarkjs("zkey", "export", "solidityverifier", zkeyFinal, rawVerifier);
    const verifierSource = readFileSync(rawVerifier, "utf8").replace(
      "contract Groth16Verifier",
      [
        "// GENERATED by scripts/build-circuits.ts from circuits/main/payment.circom with",
        "// `snarkjs zkey export solidityverifier`. Do not edit: rebuild instead.",
        "contract PaymentVerifier",
      ].join("\n"),
    );
    mkdirSync(path.dirname(VERIFIER_SOL), { recursive: true });
    writeFileSync(VERIFIER_SOL, verifierSource);
    // The batched verifier (payBatch): the same key as constants over Groth16Batch.sol.
    writeFileSync(
      BATCH_VERIFIER_SOL,
      batchVerifierSource(
        JSON.parse(readFileSync(vkey, "utf8")),
        "PaymentBatchVerifier",
        "circuits/main/payment.circom",
      ),
    );
    verifierHashes.verifier = sha256(VERIFIER_SOL);
    verifierHashes.batchVerifier = sha256(BATCH_VERIFIER_SOL);
  } else {
    step(5, "no on-chain verifier for this circuit (verified off chain by the service)");
  }

  // 6. Committed artifacts and their manifest.
  step(6, "copying artifacts to circuits/artifacts");
  const out = {
    wasm: path.join(ARTIFACTS_DIR, `${name}.wasm`),
    zkey: path.join(ARTIFACTS_DIR, `${name}.zkey`),
    vkey: path.join(ARTIFACTS_DIR, `${name}.vkey.json`),
  };
  copyFileSync(wasm, out.wasm);
  copyFileSync(zkeyFinal, out.zkey);
  copyFileSync(vkey, out.vkey);
  const info = execFileSync(process.execPath, [snarkjsCli, "r1cs", "info", r1cs], { cwd: ROOT }).toString();
  const constraints = Number(/# of Constraints:\s*(\d+)/.exec(info)?.[1] ?? NaN);
  const manifest = {
    circuit: `circuits/main/${name}.circom`,
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
  writeFileSync(path.join(ARTIFACTS_DIR, spec.manifestFile), JSON.stringify(manifest, null, 2) + "\n");
  console.log(`${name}: ${constraints} constraints, zkey ${(statSync(out.zkey).size / 1e6).toFixed(1)} MB`);
}

const names = args.circuit === "all" ? (Object.keys(CIRCUITS) as CircuitName[]) : [args.circuit as CircuitName];
for (const name of names) buildCircuit(name);
console.log(`\ndone in ${((Date.now() - started) / 1000).toFixed(1)} s`);
if (!args.ptau) console.log("NOTE: development trusted setup. Do not use these keys to protect real funds.");
