/**
 * Builds everything that derives from the payment circuit, in order:
 *
 *   1. compile circuits/main/payment.circom with circom2 (--O2)      -> build/circuits
 *   2. Powers of Tau: the operator's ceremony file (--ptau FILE), or a development
 *      one generated once and cached in .cache/ptau (takes ~7 minutes on 2 cores)
 *   3. Groth16 phase 2: zkey, one contribution with fresh entropy, optional beacon
 *   4. verification key
 *   5. Solidity verifiers: snarkjs' single-proof one -> contracts/verifiers/PaymentVerifier.sol,
 *      and the batched one (scripts/lib/batch-verifier-source.ts) -> PaymentBatchVerifier.sol
 *   6. copy wasm, zkey and vkey to circuits/artifacts and write manifest.json
 *
 * Usage:
 *   npm run build:circuits                       development setup (NOT for production)
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

const PTAU_POWER = 13; // 2^13 = 8,192 rows: the depth-24 circuit has ~8.0k constraints + 7 public rows.
const CIRCUIT = "payment";

const { values: args } = parseArgs({
  options: {
    ptau: { type: "string" },
    beacon: { type: "string" },
    "skip-compile": { type: "boolean", default: false },
  },
});

const snarkjsCli = path.join(ROOT, "node_modules", "snarkjs", "build", "cli.cjs");
const circomBin = path.join(ROOT, "node_modules", ".bin", "circom2");

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

// 1. Compile. --O2 removes all linear constraints (without it the circuit has twice as
//    many constraints and no longer fits 2^14).
const r1cs = path.join(BUILD_DIR, `${CIRCUIT}.r1cs`);
const wasm = path.join(BUILD_DIR, `${CIRCUIT}_js`, `${CIRCUIT}.wasm`);
step(1, "compiling circuits/main/payment.circom");
if (!args["skip-compile"] || !existsSync(r1cs)) {
  run(circomBin, [
    path.join("circuits", "main", `${CIRCUIT}.circom`),
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
let ptau: string;
let ptauSource: string;
if (args.ptau) {
  ptau = path.resolve(args.ptau);
  if (!existsSync(ptau)) throw new Error(`--ptau file not found: ${ptau}`);
  ptauSource = `operator-supplied ${path.basename(ptau)}`;
  console.log(`using ${ptau}`);
} else {
  mkdirSync(PTAU_CACHE_DIR, { recursive: true });
  ptau = path.join(PTAU_CACHE_DIR, `pot${PTAU_POWER}_dev_final.ptau`);
  ptauSource = `DEVELOPMENT pot${PTAU_POWER} generated locally (single contributor)`;
  if (existsSync(ptau)) {
    console.log(`cached development ptau: ${ptau}`);
  } else {
    console.log("generating a DEVELOPMENT Powers of Tau (one-off, ~7 minutes on 2 cores)...");
    const p0 = path.join(PTAU_CACHE_DIR, "pot_0000.ptau");
    const p1 = path.join(PTAU_CACHE_DIR, "pot_0001.ptau");
    snarkjs("powersoftau", "new", "bn128", String(PTAU_POWER), p0);
    snarkjs("powersoftau", "contribute", p0, p1, "--name=402zk development", `-e=${randomBytes(32).toString("hex")}`);
    snarkjs("powersoftau", "prepare", "phase2", p1, `${ptau}.tmp`);
    renameSync(`${ptau}.tmp`, ptau);
  }
}

// 3. Phase 2 (circuit-specific): initial zkey, one contribution with fresh entropy, and
//    optionally a public random beacon as the final contribution.
step(3, "Groth16 setup and phase-2 contribution");
const zkey0 = path.join(BUILD_DIR, `${CIRCUIT}_0000.zkey`);
const zkey1 = path.join(BUILD_DIR, `${CIRCUIT}_0001.zkey`);
const zkeyFinal = path.join(BUILD_DIR, `${CIRCUIT}_final.zkey`);
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
const vkey = path.join(BUILD_DIR, `${CIRCUIT}.vkey.json`);
snarkjs("zkey", "export", "verificationkey", zkeyFinal, vkey);

// 5. Solidity verifier. Generated, never edited: only the contract name is changed.
step(5, "exporting the Solidity verifier");
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
  batchVerifierSource(JSON.parse(readFileSync(vkey, "utf8")), "PaymentBatchVerifier", "circuits/main/payment.circom"),
);

// 6. Committed artifacts and their manifest.
step(6, "copying artifacts to circuits/artifacts");
const out = {
  wasm: path.join(ARTIFACTS_DIR, `${CIRCUIT}.wasm`),
  zkey: path.join(ARTIFACTS_DIR, `${CIRCUIT}.zkey`),
  vkey: path.join(ARTIFACTS_DIR, `${CIRCUIT}.vkey.json`),
};
copyFileSync(wasm, out.wasm);
copyFileSync(zkeyFinal, out.zkey);
copyFileSync(vkey, out.vkey);
const info = execFileSync(process.execPath, [snarkjsCli, "r1cs", "info", r1cs], { cwd: ROOT }).toString();
const constraints = Number(/# of Constraints:\s*(\d+)/.exec(info)?.[1] ?? NaN);
const manifest = {
  circuit: "circuits/main/payment.circom",
  maxDepth: 24,
  valueBits: 128,
  constraints,
  publicSignals: ["nullifierHash", "changeCommitment", "root", "amount", "fee", "context"],
  ptau: ptauSource,
  beacon: args.beacon ?? null,
  developmentSetup: !args.ptau,
  sha256: {
    wasm: sha256(out.wasm),
    zkey: sha256(out.zkey),
    vkey: sha256(out.vkey),
    verifier: sha256(VERIFIER_SOL),
    batchVerifier: sha256(BATCH_VERIFIER_SOL),
    // What `snarkjs zkey verify <r1cs> <ptau> <zkey>` checks the zkey against.
    r1cs: sha256(r1cs),
    ptau: sha256(ptau),
  },
  compiler: "circom2 (circom 2.2.3, WASM) --O2 -l node_modules",
  builtAt: new Date().toISOString(),
};
writeFileSync(path.join(ARTIFACTS_DIR, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
console.log(
  `\ndone in ${((Date.now() - started) / 1000).toFixed(1)} s: ${constraints} constraints, zkey ${(statSync(out.zkey).size / 1e6).toFixed(1)} MB`,
);
if (!args.ptau) console.log("NOTE: development trusted setup. Do not use these keys to protect real funds.");
