/**
 * Gas attribution from `debug_traceTransaction` struct logs and solc source maps.
 *
 * Why: the pool's queue append (NotePool._append) and tree commit (NotePool._commit,
 * LeanIncrementalTree.insertMany) are internal functions, so no call frame separates
 * their gas from the rest of `pay`/`deposit`/`commitPendingLeaves`, and no extra harness
 * contract may be deployed to isolate them. The compiler's source map, however, says for every
 * instruction of the deployed bytecode which Solidity source range it was generated
 * from. Walking the trace of a real transaction, each top-frame instruction is charged
 * to the innermost Solidity function containing its source range, and each CALL-type
 * instruction carries the full gas of the frame it opens (read as the drop of the
 * remaining gas between it and the next top-frame instruction). This is exact per
 * instruction; the only approximation is at function boundaries (the internal JUMP
 * into a function and its argument shuffling are charged to the caller), and for
 * compiler-generated helper code (ABI coders, source index outside the sources), which
 * is charged to the function executing just before it.
 */
import { readFileSync } from "node:fs";
import path from "node:path";

import { ROOT } from "../scripts/lib/paths.js";

/** One step of a geth-style struct log (what EDR returns). */
export interface StructLog {
  pc: number;
  op: string;
  gas: number;
  gasCost: number;
  depth: number;
  stack?: string[];
  refund?: number;
}

export interface TxTrace {
  failed: boolean;
  gas: number;
  structLogs: StructLog[];
}

/** A top-frame (depth 1) step with the gas it consumed, sub-call included. */
export interface TopStep {
  log: StructLog;
  /** Gas consumed by this instruction, including the whole frame of a CALL-type op. */
  cost: number;
  /** Innermost Solidity function of its source location, e.g. "LeanIncrementalTree.insertMany". */
  region: string;
  /** For CALL, STATICCALL, DELEGATECALL, CALLCODE: the callee (lower-case hex). */
  callee?: string;
}

const CALL_OPS = new Set(["CALL", "STATICCALL", "DELEGATECALL", "CALLCODE"]);

interface FunctionRange {
  file: number;
  start: number;
  end: number;
  name: string;
}

interface AstNode {
  nodeType?: string;
  name?: string;
  kind?: string;
  src?: string;
  nodes?: AstNode[];
  [key: string]: unknown;
}

/**
 * Maps program counters of one contract's deployed bytecode to the Solidity function
 * they were compiled from, using the Hardhat artifact's build info (source map + AST).
 */
export class SourceRegions {
  readonly #regionByPc = new Map<number, string | undefined>();
  readonly contractName: string;
  readonly codeSize: number;

  private constructor(contractName: string, codeSize: number) {
    this.contractName = contractName;
    this.codeSize = codeSize;
  }

  /** @param artifact path under artifacts/, e.g. "contracts/Facilitator.sol/Facilitator.json". */
  static load(artifact: string): SourceRegions {
    const art = JSON.parse(readFileSync(path.join(ROOT, "artifacts", artifact), "utf8")) as {
      contractName: string;
      inputSourceName: string;
      buildInfoId: string;
      deployedBytecode: string;
    };
    const out = JSON.parse(
      readFileSync(path.join(ROOT, "artifacts", "build-info", `${art.buildInfoId}.output.json`), "utf8"),
    ) as {
      output: {
        contracts: Record<string, Record<string, { evm: { deployedBytecode: { object: string; sourceMap: string } } }>>;
        sources: Record<string, { id: number; ast: AstNode }>;
      };
    };
    const compiled = out.output.contracts[art.inputSourceName]?.[art.contractName]?.evm.deployedBytecode;
    if (!compiled) throw new Error(`no deployed bytecode for ${art.contractName} in build ${art.buildInfoId}`);
    const code = compiled.object.startsWith("0x") ? compiled.object.slice(2) : compiled.object;
    const self = new SourceRegions(art.contractName, code.length / 2);

    // Function ranges of every source of the build, named Contract.function.
    const ranges: FunctionRange[] = [];
    const known = new Set<number>();
    for (const { id, ast } of Object.values(out.output.sources)) {
      known.add(id);
      const walk = (node: AstNode, contract: string) => {
        let c = contract;
        if (node.nodeType === "ContractDefinition") c = node.name ?? contract;
        if ((node.nodeType === "FunctionDefinition" || node.nodeType === "ModifierDefinition") && node.src) {
          const [s, l, f] = node.src.split(":").map(Number) as [number, number, number];
          const fname = node.name || node.kind || "function";
          ranges.push({ file: f, start: s, end: s + l, name: `${c}.${fname}` });
        }
        for (const v of Object.values(node)) {
          if (Array.isArray(v)) {
            for (const x of v) if (x && typeof x === "object") walk(x as AstNode, c);
          } else if (v && typeof v === "object" && (v as AstNode).nodeType) {
            walk(v as AstNode, c);
          }
        }
      };
      walk(ast, "");
    }
    // Innermost first: the shortest range that contains a location wins.
    ranges.sort((a, b) => a.end - a.start - (b.end - b.start));

    // Instruction index -> pc (PUSH data is skipped; link placeholders sit inside PUSH20 data).
    const pcs: number[] = [];
    for (let i = 0; i < code.length / 2;) {
      pcs.push(i);
      const op = parseInt(code.slice(2 * i, 2 * i + 2), 16);
      i += op >= 0x60 && op <= 0x7f ? op - 0x5f + 1 : 1;
    }
    // Decompress the source map "s:l:f:j:m;..." (empty fields repeat the previous entry).
    let s = 0;
    let l = 0;
    let f = -1;
    const entries = compiled.sourceMap.split(";");
    const cache = new Map<string, string | undefined>();
    for (let i = 0; i < entries.length && i < pcs.length; i++) {
      const parts = entries[i]!.split(":");
      if (parts[0]) s = Number(parts[0]);
      if (parts[1]) l = Number(parts[1]);
      if (parts[2]) f = Number(parts[2]);
      const key = `${s}:${l}:${f}`;
      if (!cache.has(key)) {
        let region: string | undefined;
        if (f >= 0 && known.has(f)) {
          const r = ranges.find((x) => x.file === f && x.start <= s && s + l <= x.end);
          // Inside the contract but in no function: dispatcher / ABI decoding.
          region = r ? r.name : `${art.contractName}.<dispatch>`;
        }
        cache.set(key, region);
      }
      self.#regionByPc.set(pcs[i]!, cache.get(key));
    }
    return self;
  }

  /** Function of this pc, or undefined for compiler-generated code. */
  regionAt(pc: number): string | undefined {
    return this.#regionByPc.get(pc);
  }
}

/**
 * Top-frame steps of a trace with their gas (sub-calls included) and source region.
 * Steps in generated code inherit the region of the step before them.
 */
export function topSteps(trace: TxTrace, regions: SourceRegions): TopStep[] {
  const logs = trace.structLogs;
  const steps: TopStep[] = [];
  let region = `${regions.contractName}.<dispatch>`;
  let prev: TopStep | undefined;
  for (const log of logs) {
    if (log.depth !== 1) continue;
    if (prev) prev.cost = prev.log.gas - log.gas;
    region = regions.regionAt(log.pc) ?? region;
    const step: TopStep = { log, cost: log.gasCost, region };
    if (CALL_OPS.has(log.op) && log.stack && log.stack.length >= 2) {
      step.callee = `0x${BigInt(log.stack[log.stack.length - 2]!)
        .toString(16)
        .padStart(40, "0")}`;
    }
    steps.push(step);
    prev = step;
  }
  return steps;
}

/** Refund counter at the end of the transaction (before the EIP-3529 cap). */
export function refundCounter(trace: TxTrace): number {
  const last = trace.structLogs[trace.structLogs.length - 1];
  return last?.refund ?? 0;
}

/** Stack top (first argument) of a step as a 0x-prefixed 32-byte word. */
export function stackTop(step: TopStep): string | undefined {
  const st = step.log.stack;
  if (!st || st.length === 0) return undefined;
  return `0x${BigInt(st[st.length - 1]!)
    .toString(16)
    .padStart(64, "0")}`;
}
