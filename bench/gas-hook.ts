/**
 * Gas of `pay` and `payBatch` before and after a contract change, measured in ONE run on
 * ONE in-process Hardhat chain (issue #18: the `_payout` hook must keep gas within 0.5%).
 *
 *   npx tsx bench/gas-hook.ts [--base=9cd33bc] [--k=16,32] [--limit=0.5]
 *
 * Both versions of the Facilitator are compiled here with solc-js from the same standard
 * JSON input that Hardhat last used for the working tree's Facilitator (its build-info:
 * compiler 0.8.28, settings, remappings, npm sources); only the project's contracts
 * differ: `git show <base>:contracts/...` for BEFORE, the working tree for AFTER. (Run
 * `npx hardhat build` first: the libraries, verifiers and token come from its artifacts.)
 * As a check of the settings, the AFTER bytecode must equal Hardhat's artifact.
 *
 * Each version is deployed from the same chain snapshot by the same account at the same
 * nonce, so at the same address; the same deposits give the same tree, so the very same
 * proofs and calldata settle on both (the proof's context binds chain and address). What
 * is measured, with fresh payee and relayer addresses (balance 0 before, as in
 * bench/protocol.ts' payGas):
 *   pay          one `pay`, no fee
 *   payWithFee   one `pay` with a fee to a relayer
 *   payBatch k   one `payBatch` of k payments to ONE payee with a 0.01 fee each to ONE
 *                relayer (bench/scale.ts' batchPayGas), and to k distinct payees
 * receipt.gasUsed of each; delta% = (after - before) / before. Exits 1 when a delta is
 * above --limit percent. The pool here is small (2 + 2k deposits, trees of 24 levels,
 * root history and queue prewarmed): the tree hashing a batch commits is cheaper than in
 * bench/scale.ts' 2^20-leaf pool, so totals are lower and a delta is a larger share.
 *
 * Since #19 (payment v2) the payments are proven with the v2 witness and sent with the
 * v2 ABI (`payeeCommitment` in the proof, `payeeMemo` after the memo): both versions
 * compared must have that ABI, so --base must be a commit at or after #19's contracts.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

import type { HardhatEthers } from "@nomicfoundation/hardhat-ethers/types";
import { keccak256, toUtf8Bytes, type Contract, type TransactionReceipt } from "ethers";
import hre from "hardhat";
import type { Address, Hex } from "viem";

import { paymentContext, type PaymentTerms } from "../sdk/core/context.js";
import { WalletKeys } from "../sdk/core/keys.js";
import { commitmentOf, notePosition, precommitmentOf, type NoteOpening } from "../sdk/core/note.js";
import { proofStructOf, provePayment, type PaymentProofResult } from "../sdk/core/circuits/payment.js";
import { shutdownProver } from "../sdk/core/prover.js";
import { NoteTree } from "../sdk/core/tree.js";

// The npm solc package (solc-js, the compiler build Hardhat is configured with) ships no types.
const solc = createRequire(import.meta.url)("solc") as { version(): string; compile(input: string): string };

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const CIRCUIT = {
  wasm: path.join(ROOT, "circuits", "artifacts", "payment.wasm"),
  zkey: path.join(ROOT, "circuits", "artifacts", "payment.zkey"),
};
/** Hardhat's source unit name of the Facilitator and the prefix of every project file. */
const PROJECT = "project/";
const FACILITATOR_SOURCE = `${PROJECT}contracts/Facilitator.sol`;
/** Same constructor arguments as scripts/lib/deploy.ts' defaults. */
const ROOT_HISTORY = 4096;
const TREE_LEVELS = 24;
/** As scripts/lib/deploy.ts: two rings per root-history slot, under the per-transaction gas cap. */
const PREWARM_BATCH = 256;
const USDC = (n: number) => BigInt(Math.round(n * 1e6));
const NOTE_VALUE = USDC(5);

interface Options {
  base: string;
  ks: number[];
  limitPercent: number;
}

function parseOptions(argv: string[]): Options {
  const get = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const ks = (get("k") ?? "16").split(",").map((s) => Number(s));
  if (ks.some((k) => !Number.isInteger(k) || k < 1 || k > 64)) throw new Error("--k: batch sizes 1 .. 64");
  const limitPercent = Number(get("limit") ?? "0.5");
  if (!(limitPercent >= 0)) throw new Error("--limit: a percentage");
  return { base: get("base") ?? "9cd33bc", ks, limitPercent };
}

// ------------------------------------------------------------------ compiling

const ZERO_ADDRESS = "0x0000000000000000000000000000000000000000";

/** How many arguments the build's constructor takes (the compared versions may differ). */
function constructorArity(build: Build): number {
  const ctor = (build.abi as { type: string; inputs?: unknown[] }[]).find((i) => i.type === "constructor");
  return ctor?.inputs?.length ?? 0;
}

interface Build {
  abi: unknown[];
  bytecode: string;
  linkReferences: Record<string, Record<string, { start: number; length: number }[]>>;
  deployedSize: number;
}

/** Hardhat's last solc input for the Facilitator (settings, remappings, npm sources). */
function hardhatInput(): { input: SolcInput; artifactBytecode: string } {
  const artifact = JSON.parse(
    readFileSync(path.join(ROOT, "artifacts", "contracts", "Facilitator.sol", "Facilitator.json"), "utf8"),
  ) as { buildInfoId: string; bytecode: string };
  const info = JSON.parse(
    readFileSync(path.join(ROOT, "artifacts", "build-info", `${artifact.buildInfoId}.json`), "utf8"),
  ) as { solcVersion: string; input: SolcInput };
  if (info.solcVersion !== solc.version().split("+")[0]) {
    throw new Error(`Hardhat built with solc ${info.solcVersion}, the npm solc package is ${solc.version()}`);
  }
  return { input: info.input, artifactBytecode: artifact.bytecode };
}

interface SolcInput {
  language: string;
  sources: Record<string, { content: string }>;
  settings: Record<string, unknown> & { outputSelection?: unknown };
}

/** The project's Solidity files (contracts/**, test-only contracts left out) at `commit`, or in the working tree. */
function projectSources(commit: string | undefined): Record<string, { content: string }> {
  const files = commit
    ? execFileSync("git", ["ls-tree", "-r", "--name-only", commit, "contracts"], { cwd: ROOT, encoding: "utf8" })
        .split("\n")
        .filter(Boolean)
    : (readdirSync(path.join(ROOT, "contracts"), { recursive: true }) as string[]).map((f) =>
        path.posix.join("contracts", f.split(path.sep).join("/")),
      );
  const sources: Record<string, { content: string }> = {};
  for (const f of files) {
    if (!f.endsWith(".sol") || f.startsWith("contracts/test/")) continue;
    const content = commit
      ? execFileSync("git", ["show", `${commit}:${f}`], { cwd: ROOT, encoding: "utf8", maxBuffer: 64 << 20 })
      : readFileSync(path.join(ROOT, f), "utf8");
    sources[PROJECT + f] = { content };
  }
  return sources;
}

/** Compiles the Facilitator from `project` plus the npm sources of `template`, with its settings. */
function compileFacilitator(template: SolcInput, project: Record<string, { content: string }>): Build {
  const npm = Object.fromEntries(Object.entries(template.sources).filter(([name]) => !name.startsWith(PROJECT)));
  const input: SolcInput = {
    ...template,
    sources: { ...npm, ...project },
    settings: {
      ...template.settings,
      outputSelection: {
        [FACILITATOR_SOURCE]: {
          Facilitator: ["abi", "evm.bytecode.object", "evm.bytecode.linkReferences", "evm.deployedBytecode.object"],
        },
      },
    },
  };
  const out = JSON.parse(solc.compile(JSON.stringify(input))) as {
    errors?: { severity: string; formattedMessage: string }[];
    contracts: Record<string, Record<string, { abi: unknown[]; evm: Record<string, Record<string, unknown>> }>>;
  };
  const errors = (out.errors ?? []).filter((e) => e.severity === "error");
  if (errors.length) throw new Error(errors.map((e) => e.formattedMessage).join("\n"));
  const c = out.contracts[FACILITATOR_SOURCE]!.Facilitator!;
  return {
    abi: c.abi,
    bytecode: c.evm.bytecode!.object as string,
    linkReferences: c.evm.bytecode!.linkReferences as Build["linkReferences"],
    deployedSize: (c.evm.deployedBytecode!.object as string).length / 2,
  };
}

/** Writes library addresses into the placeholders of `bytecode` (offsets from solc). */
function link(build: Build, libraries: Record<string, string>): string {
  let code = build.bytecode;
  for (const [file, names] of Object.entries(build.linkReferences)) {
    for (const [name, refs] of Object.entries(names)) {
      const address = libraries[name];
      if (!address) throw new Error(`no address for library ${file}:${name}`);
      for (const { start, length } of refs) {
        code = code.slice(0, 2 * start) + address.slice(2).toLowerCase() + code.slice(2 * (start + length));
      }
    }
  }
  return `0x${code}`;
}

// ------------------------------------------------------------------ measuring

interface Payment {
  proof: ReturnType<typeof proofStruct>;
  terms: PaymentTerms;
  memo: Hex;
  /** Transparent payments only here: empty. */
  payeeMemo: Hex;
}

function proofStruct(r: PaymentProofResult) {
  return proofStructOf(r);
}

/** A deterministic address that holds nothing: same in both runs, fresh in each. */
const freshAddress = (label: string) => `0x${keccak256(toUtf8Bytes(label)).slice(26)}` as Address;

interface Run {
  address: string;
  gas: Record<string, number>;
  /** State after the run, which must be the same for both versions. */
  fingerprint: string;
}

async function main() {
  const options = parseOptions(process.argv.slice(2));
  const log = (s: string) => console.log(s);

  log(`compiling the Facilitator at ${options.base} and in the working tree (solc-js ${solc.version()})...`);
  const { input, artifactBytecode } = hardhatInput();
  const before = compileFacilitator(input, projectSources(options.base));
  const after = compileFacilitator(input, projectSources(undefined));
  const settingsMatch = `0x${after.bytecode}` === artifactBytecode;
  log(
    `  settings check: the working tree's build ${settingsMatch ? "equals" : "DIFFERS FROM"} Hardhat's artifact` +
      (settingsMatch ? "" : " (run `npx hardhat build` for the working tree first)"),
  );

  const conn = await hre.network.create();
  const ethers = conn.ethers as HardhatEthers;
  const signers = await ethers.getSigners();
  const [deployer, depositor, sender] = [signers[0]!, signers[1]!, signers[2]!];
  const poolDeployer = signers[9]!;
  const poseidonT3 = await ethers.deployContract("poseidon-solidity/PoseidonT3.sol:PoseidonT3", deployer);
  const poseidonT2 = await ethers.deployContract("poseidon-solidity/PoseidonT2.sol:PoseidonT2", deployer);
  const verifier = await ethers.deployContract("PaymentVerifier", deployer);
  const batchVerifier = await ethers.deployContract("PaymentBatchVerifier", deployer);
  const token = await ethers.deployContract("TestUSDC", deployer);
  const libraries = { PoseidonT3: await poseidonT3.getAddress(), PoseidonT2: await poseidonT2.getAddress() };
  const chainId = Number((await ethers.provider.getNetwork()).chainId);
  const expiry = BigInt((await ethers.provider.getBlock("latest"))!.timestamp) + 86_400n;

  const keys = WalletKeys.fromSeed(`0x${"6b".repeat(32)}`);
  const maxK = Math.max(...options.ks);
  const noteCount = 2 + 2 * options.ks.reduce((a, b) => a + b, 0);
  await (await token.connect(deployer).getFunction("mint")(depositor.address, NOTE_VALUE * BigInt(noteCount))).wait();
  // Both versions start from this state. evm_revert consumes a snapshot: each run takes a new one.
  let snapshot = (await ethers.provider.send("evm_snapshot", [])) as string;

  // Proven once, against the first version's tree, and replayed on the second.
  let proven: Map<string, Payment[]> | undefined;

  async function runVersion(name: string, build: Build): Promise<Run> {
    await ethers.provider.send("evm_revert", [snapshot]);
    snapshot = (await ethers.provider.send("evm_snapshot", [])) as string;
    const factory = await ethers.getContractFactory(build.abi as never[], link(build, libraries), poolDeployer);
    const deployed = await factory.deploy(
      await token.getAddress(),
      await verifier.getAddress(),
      await batchVerifier.getAddress(),
      ROOT_HISTORY,
      TREE_LEVELS,
      // No sanctions list, for a version whose constructor takes one (#21); none before it.
      ...(constructorArity(build) > 5 ? [ZERO_ADDRESS] : []),
    );
    await deployed.waitForDeployment();
    const pool = deployed as unknown as Contract;
    const address = (await pool.getAddress()) as Address;
    for (let from = 0; from < ROOT_HISTORY; from += PREWARM_BATCH) {
      await (await pool.getFunction("prewarmRootHistory")(from, PREWARM_BATCH)).wait();
    }
    for (let from = 0; from < 1024; from += PREWARM_BATCH) {
      await (await pool.getFunction("prewarmLeafQueue")(from, PREWARM_BATCH)).wait();
    }
    await (await token.connect(depositor).getFunction("approve")(address, NOTE_VALUE * BigInt(noteCount))).wait();
    const notes: (NoteOpening & { leafIndex: number })[] = [];
    for (let i = 0; i < noteCount; i++) {
      const n = keys.indexNote(i, NOTE_VALUE);
      // An empty memo: the deposits are not measured, and their calldata stays the same.
      await (
        await pool.connect(depositor).getFunction("deposit")(precommitmentOf(n.owner, n.blinding), NOTE_VALUE, "0x")
      ).wait();
      notes.push({ ...n, leafIndex: i });
    }

    if (!proven) {
      log(`  proving ${noteCount} payments (reused for both versions)...`);
      const tree = NoteTree.from(notes.map((n) => commitmentOf(n)));
      let next = 0;
      const prove = async (payTo: Address, amount: bigint, relayer: Address, fee: bigint, label: string) => {
        const note = notes[next]!;
        const changeIndex = 10_000 + next++;
        const terms: PaymentTerms = {
          payTo,
          amount,
          relayer,
          fee,
          conditionHash: keccak256(toUtf8Bytes(label)) as Hex,
          expiry,
        };
        const memo = keys.encodeMemo(changeIndex, note.value - amount - fee);
        const context = paymentContext({ chainId, facilitator: address, terms, memo });
        const result = await provePayment(
          {
            note,
            spendingKey: keys.spendingKey(),
            position: notePosition(note.leafIndex, TREE_LEVELS),
            path: tree.path(note.leafIndex),
            amount,
            fee,
            context,
            payee: { value: 0n, owner: 0n, blinding: 0n },
            changeBlinding: keys.indexBlinding(changeIndex),
          },
          CIRCUIT,
        );
        return { proof: proofStruct(result), terms, memo, payeeMemo: "0x" as Hex };
      };
      const none = "0x0000000000000000000000000000000000000000" as Address;
      proven = new Map();
      proven.set("pay", [await prove(freshAddress("pay payee"), USDC(1), none, 0n, "pay")]);
      proven.set("payWithFee", [
        await prove(freshAddress("fee payee"), USDC(1), freshAddress("fee relayer"), USDC(0.01), "fee"),
      ]);
      for (const k of options.ks) {
        const same: Payment[] = [];
        const distinct: Payment[] = [];
        const relayer = freshAddress(`batch ${k} relayer`);
        for (let i = 0; i < k; i++) {
          same.push(await prove(freshAddress(`batch ${k} payee`), USDC(1), relayer, USDC(0.01), `same ${k} ${i}`));
        }
        for (let i = 0; i < k; i++) {
          const payee = freshAddress(`batch ${k} payee ${i}`);
          distinct.push(await prove(payee, USDC(1), relayer, USDC(0.01), `distinct ${k} ${i}`));
        }
        proven.set(`payBatch ${k}, one payee`, same);
        proven.set(`payBatch ${k}, distinct payees`, distinct);
      }
      log(`  proved (batches up to k = ${maxK})`);
    }

    const gas: Record<string, number> = {};
    const watched = new Set<string>();
    for (const [what, ps] of proven) {
      const tx =
        ps.length === 1 && !what.startsWith("payBatch")
          ? await pool.connect(sender).getFunction("pay")(ps[0]!.proof, ps[0]!.terms, ps[0]!.memo, ps[0]!.payeeMemo)
          : await pool.connect(sender).getFunction("payBatch")(ps);
      const rc = (await tx.wait()) as TransactionReceipt;
      const names = rc.logs.filter((l) => l.address === address).map((l) => pool.interface.parseLog(l)?.name);
      const receipts = names.filter((n) => n === "PaymentReceipt").length;
      if (receipts !== ps.length || names.includes("PaymentSkipped")) {
        throw new Error(`${name} ${what}: ${receipts} of ${ps.length} payments settled`);
      }
      gas[what] = Number(rc.gasUsed);
      for (const p of ps) watched.add(p.terms.payTo).add(p.terms.relayer);
    }
    const balances = await Promise.all([address, ...watched].map((a) => token.getFunction("balanceOf")(a)));
    const fingerprint = JSON.stringify([
      String(await pool.getFunction("currentRoot")()),
      String(await pool.getFunction("leafCount")()),
      balances.map(String),
    ]);
    return { address, gas, fingerprint };
  }

  const b = await runVersion("before", before);
  const a = await runVersion("after", after);
  if (a.address !== b.address) throw new Error(`deployed at ${b.address} and ${a.address}: not the same proofs`);
  if (a.fingerprint !== b.fingerprint) throw new Error("the two versions left different states");

  const rows = Object.keys(b.gas).map((what) => {
    const delta = a.gas[what]! - b.gas[what]!;
    const percent = (100 * delta) / b.gas[what]!;
    return { what, before: b.gas[what]!, after: a.gas[what]!, delta, percent };
  });
  const fmt = (n: number) => n.toLocaleString("en-US");
  log("");
  log(`gas (receipt.gasUsed), ${options.base} -> working tree, same chain, same proofs, pool at ${a.address}`);
  log(`${"".padEnd(32)}${"before".padStart(12)}${"after".padStart(12)}${"delta".padStart(9)}${"delta %".padStart(10)}`);
  for (const r of rows) {
    log(
      `${r.what.padEnd(32)}${fmt(r.before).padStart(12)}${fmt(r.after).padStart(12)}` +
        `${(r.delta > 0 ? "+" : "") + fmt(r.delta)}`.padStart(9) +
        `${r.percent.toFixed(3)}%`.padStart(10),
    );
  }
  log(
    `${"deployed code size (bytes)".padEnd(32)}${fmt(before.deployedSize).padStart(12)}${fmt(after.deployedSize).padStart(12)}`,
  );
  log("");
  log(JSON.stringify({ base: options.base, settingsMatch, rows, codeSize: [before.deployedSize, after.deployedSize] }));
  const over = rows.filter((r) => Math.abs(r.percent) > options.limitPercent);
  await shutdownProver();
  if (over.length) {
    console.error(`over the ${options.limitPercent}% limit: ${over.map((r) => r.what).join(", ")}`);
    process.exitCode = 1;
  } else {
    log(`every delta within ${options.limitPercent}%`);
  }
}

await main();
