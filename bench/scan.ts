/**
 * Benchmark section "scan": how long an API's wallet takes to find the payee notes sent
 * to it among 2^18 leaves (issue #19, `payeeScanMs`, target <= 30 s on the 2 cores of the
 * bench machine).
 *
 * The pool is built in memory as the LeafInserted records a wallet reads (global index,
 * commitment, memo): no chain and no JSON-RPC, so the figure is the wallet's scan alone.
 * It is the worst case for the payee: a pool made only of shielded payments, each of which
 * appends a payee leaf (a 187-byte payee memo) and a change leaf (a 64-byte change memo),
 * so half of all leaves carry a payee memo to trial-decrypt (deposits would add 64-byte
 * memos, which the payee's trial decryption skips by their length).
 *
 *  - Payee memos to other wallets are real encryptions (spec: X25519 + HKDF-SHA256 +
 *    XChaCha20-Poly1305) to 16 other wallets' encryption keys, made in worker threads with
 *    node:crypto's X25519 (the SDK's `encryptNote` uses @noble/curves, ~2 ms a memo: 2^17
 *    of them would take minutes); a sample is opened with the other wallets' viewing keys
 *    by the SDK's `decryptNote`, so they are the spec's format byte for byte.
 *  - Change memos: 64 random bytes (a change memo's tag is a keyed hash that only its
 *    owner computes; to anyone else it is indistinguishable from random bytes).
 *  - Ours: `PAYEE_NOTES` memos made with the SDK's `encryptNote` to our encryption key, at
 *    random payee positions, each with its real commitment; plus decoys encrypted to our
 *    key that the wallet must NOT keep: a note owned by another owner key, and a note whose
 *    leaf is not the commitment of its opening.
 *
 * Timed: the wallet's own receive scan (sdk/client/actions/receive.ts) over every record,
 * with node:crypto's X25519 (`nodeX25519`, what the wallet uses on Node); it must find
 * exactly our notes. `payeeScanMsNoble`: the same scan with @noble/curves' X25519 (the
 * browser-safe default) over the first 2^12 leaves, scaled to 2^18, to show why Node uses
 * node:crypto.
 *
 * Run alone: npx tsx bench/scan.ts [log2 leaves, default 18]
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";

import { bytesToHex, type Hex } from "viem";

import { WalletKeys } from "../sdk/core/keys.js";
import { commitmentOf } from "../sdk/core/note.js";
import { NoteDeriver, NoteScanner } from "../sdk/client/sync.js";
import type { WalletState } from "../sdk/client/store.js";
import { decryptNote, encryptNote, PAYEE_MEMO_LENGTH, type X25519Fn } from "../sdk/core/note-encryption.js";
import { SNARK_SCALAR_FIELD } from "../sdk/core/field.js";
import { nodeX25519 } from "../sdk/node/index.js";
import { fmtInt, round, table } from "./util.js";
import { ROOT } from "../scripts/lib/paths.js";

/** A LeafInserted event as the wallet reads it. */
export interface LeafRecord {
  index: number;
  commitment: bigint;
  memo: Hex;
}

/**
 * The wallet's receive scan over `records`: a fresh wallet state (as `PrivateWallet.open`
 * makes for an empty store) and the wallet's own NoteScanner, whose `scan` the sync calls
 * for every leaf (payee memos are trial-decrypted with the viewing key, 64-byte memos
 * looked up by tag). Returns the commitments of the received notes it kept.
 */
function scanPayeeNotes(keys: WalletKeys, records: readonly LeafRecord[], x25519?: X25519Fn): bigint[] {
  const state: WalletState = {
    version: 3,
    chainId: 31337,
    facilitator: "0x0000000000000000000000000000000000000001",
    syncedBlock: 0,
    nextDepositIndex: 0,
    notes: [],
    pending: [],
    warnings: { duplicateTags: 0, duplicateNullifiers: 0 },
  };
  const scanner = new NoteScanner(state, new NoteDeriver(keys, TREE_LEVELS, x25519), DEFAULT_DEPOSIT_GAP_LIMIT);
  for (const r of records) scanner.scan(r.index, r.commitment, r.memo, 1 + (r.index >> 7));
  if (scanner.warnings.length > 0) throw new Error(`scan bench: ${scanner.warnings[0]!.message}`);
  return scanner.received.map((n) => BigInt(n.commitment));
}

/** Payee notes for our key hidden among the leaves. */
const PAYEE_NOTES = 64;
/** Other wallets the other payee memos are encrypted to. */
const OTHER_WALLETS = 16;
/** Levels per tree of the pool (the deployed pool's): every leaf here is in tree 0. */
const TREE_LEVELS = 24;
/** PrivateWallet's default look-ahead of deposit tags (sdk/client/wallet.ts). */
const DEFAULT_DEPOSIT_GAP_LIMIT = 32;
/** Leaves of the noble (pure-JS X25519) run, scaled up to the full count. */
const NOBLE_LOG2 = 12;

export interface ScanBenchResult {
  /** Wall time of the wallet's receive scan over all leaves, nodeX25519 (ms). */
  payeeScanMs: number;
  /** Same scan with @noble/curves' X25519 over 2^12 leaves, times 2^(log2 - 12) (ms). */
  payeeScanMsNoble: number;
  /** The measured noble scan before scaling (ms) and its leaves. */
  payeeScanMsNobleMeasured: number;
  payeeScanNobleLeaves: number;
  /** Leaves scanned and how many of them carried a 187-byte payee memo (trial decryptions). */
  payeeScanLeaves: number;
  payeeScanTrials: number;
  /** Per trial decryption (ms / payee memos * 1000), nodeX25519. */
  payeeScanUsPerTrial: number;
  /** Notes found (= PAYEE_NOTES: the decoys were refused). */
  payeeScanFound: number;
  payeeScanDecoys: number;
  /** Time to build the records (not part of the figure). */
  payeeScanBuildMs: number;
  payeeScanNote: string;
}

/**
 * A worker that encrypts `count` payee notes to the given recipients, following the spec
 * (sdk/core/note-encryption.ts) with node:crypto's X25519 for speed; returns the memos
 * back to back (187 bytes each). Written into the repository (.cache) so that the worker
 * resolves @noble/* from node_modules.
 */
const WORKER_SOURCE = `
import { parentPort, workerData } from "node:worker_threads";
import { createPublicKey, diffieHellman, generateKeyPairSync, randomBytes } from "node:crypto";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
const { count, recipients } = workerData;
const SPKI = Buffer.from("302a300506032b656e032100", "hex");
const INFO = new TextEncoder().encode("402zk/note/v1");
const keys = recipients.map((ek) => ({
  raw: Buffer.from(ek),
  key: createPublicKey({ key: Buffer.concat([SPKI, Buffer.from(ek)]), format: "der", type: "spki" }),
}));
const out = new Uint8Array(count * 187);
for (let i = 0; i < count; i++) {
  const to = keys[i % keys.length];
  const { privateKey, publicKey } = generateKeyPairSync("x25519");
  const epk = publicKey.export({ format: "der", type: "spki" }).subarray(12);
  const s = diffieHellman({ privateKey, publicKey: to.key });
  const okm = hkdf(sha256, s, Buffer.concat([epk, to.raw]), INFO, 34);
  // value (16 BE, below 2^32) | blinding (32) | owner (32) | conditionHash (32); field
  // elements kept below 2^248 so that the opening is a valid one.
  const pt = randomBytes(112);
  pt.fill(0, 0, 12);
  pt[16] = 0;
  pt[48] = 0;
  const nonce = randomBytes(24);
  const aad = new Uint8Array(33);
  aad[0] = 1;
  aad.set(epk, 1);
  const ct = xchacha20poly1305(okm.subarray(2, 34), nonce, aad).encrypt(pt);
  const o = i * 187;
  out[o] = 1;
  out.set(okm.subarray(0, 2), o + 1);
  out.set(epk, o + 3);
  out.set(nonce, o + 35);
  out.set(ct, o + 59);
}
parentPort.postMessage(out, [out.buffer]);
`;

async function otherPayeeMemos(count: number, recipients: Uint8Array[], workers = 2): Promise<Hex[]> {
  const dir = path.join(ROOT, ".cache", "bench-scan");
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, "encrypt-worker.mjs");
  writeFileSync(file, WORKER_SOURCE);
  const per = Math.ceil(count / workers);
  const parts = await Promise.all(
    Array.from({ length: workers }, (_, w) => {
      const n = Math.max(0, Math.min(per, count - w * per));
      return new Promise<Uint8Array>((resolve, reject) => {
        const worker = new Worker(file, { workerData: { count: n, recipients } });
        worker.once("message", (m: Uint8Array) => resolve(m));
        worker.once("error", reject);
        worker.once("exit", (code) => code !== 0 && reject(new Error(`encrypt worker exited with ${code}`)));
      });
    }),
  );
  const out: Hex[] = [];
  for (const p of parts) {
    for (let o = 0; o < p.length; o += PAYEE_MEMO_LENGTH) out.push(bytesToHex(p.subarray(o, o + PAYEE_MEMO_LENGTH)));
  }
  return out;
}

/** A random field element (a leaf nobody here can open). */
function randomField(): bigint {
  const b = new Uint8Array(32);
  globalThis.crypto.getRandomValues(b);
  return BigInt(bytesToHex(b)) % SNARK_SCALAR_FIELD;
}

function randomHex(bytes: number): Hex {
  const b = new Uint8Array(bytes);
  globalThis.crypto.getRandomValues(b);
  return bytesToHex(b);
}

/**
 * Builds the records and times the wallet's receive scan over them (see the file doc).
 *
 * @example
 * const r = await benchScan({ log2Leaves: 14 });
 */
export async function benchScan(
  o: { log2Leaves?: number; log?: (msg: string) => void } = {},
): Promise<ScanBenchResult> {
  const log = o.log ?? ((m: string) => console.error(m));
  const log2 = o.log2Leaves ?? 18;
  const leaves = 2 ** log2;
  const payments = leaves / 2;
  const tBuild = performance.now();

  const keys = WalletKeys.fromSeed(`0x${"5c".repeat(32)}`);
  const others = Array.from({ length: OTHER_WALLETS }, (_, i) =>
    WalletKeys.fromSeed(`0x${(0xa0 + i).toString(16).repeat(32)}`),
  );
  const memos = await otherPayeeMemos(
    payments,
    others.map((w) => w.encryptionKey),
  );
  // The generator is the spec's format: the SDK opens a sample with the right viewing keys.
  for (let i = 0; i < 32; i++) {
    const j = Math.floor((i * payments) / 32);
    if (!decryptNote(others[j % OTHER_WALLETS]!.viewingKey(), memos[j]!)) {
      throw new Error(`scan bench: generated memo ${j} does not open with its recipient's viewing key`);
    }
  }

  // Our notes and the decoys at distinct random payment slots.
  const slots = new Set<number>();
  while (slots.size < PAYEE_NOTES + 2) slots.add(Math.floor(Math.random() * payments));
  const [decoyOwner, decoyLeaf, ...ourSlots] = [...slots];
  const expected = new Set<bigint>();
  const condition = (i: number) => `0x${i.toString(16).padStart(64, "0")}` as Hex;
  const commitments: bigint[] = Array.from({ length: payments }, randomField);
  for (const [n, slot] of ourSlots.entries()) {
    const note = { value: 1_000n + BigInt(n), owner: keys.ownerKey, blinding: randomField() };
    memos[slot] = encryptNote(keys.encryptionKey, { ...note, conditionHash: condition(n) });
    commitments[slot] = commitmentOf(note);
    expected.add(commitments[slot]);
  }
  {
    // Encrypted to our key, owned by someone else: not ours to spend.
    const note = { value: 5n, owner: others[0]!.ownerKey, blinding: randomField() };
    memos[decoyOwner!] = encryptNote(keys.encryptionKey, { ...note, conditionHash: condition(9000) });
    commitments[decoyOwner!] = commitmentOf(note);
    // Encrypted to our key and owned by us, but the leaf is not its commitment.
    const fake = { value: 7n, owner: keys.ownerKey, blinding: randomField() };
    memos[decoyLeaf!] = encryptNote(keys.encryptionKey, { ...fake, conditionHash: condition(9001) });
  }

  const records: LeafRecord[] = new Array<LeafRecord>(leaves);
  for (let p = 0; p < payments; p++) {
    records[2 * p] = { index: 2 * p, commitment: commitments[p]!, memo: memos[p]! };
    records[2 * p + 1] = { index: 2 * p + 1, commitment: randomField(), memo: randomHex(64) };
  }
  const payeeScanBuildMs = performance.now() - tBuild;
  log(
    `   ${fmtInt(leaves)} leaf records (${fmtInt(payments)} payee memos) built in ${Math.round(payeeScanBuildMs)} ms`,
  );

  const check = (found: readonly bigint[], within: number, what: string) => {
    const want = [...expected].filter((c) => records.slice(0, within).some((r) => r.commitment === c));
    const got = new Set(found);
    if (got.size !== found.length || got.size !== want.length || want.some((c) => !got.has(c))) {
      throw new Error(`scan bench (${what}): found ${found.length} notes, expected exactly ${want.length} of ours`);
    }
  };

  // A short warm-up on other records (JIT, the cached private key object).
  scanPayeeNotes(keys, records.slice(0, 2048), nodeX25519);
  const t0 = performance.now();
  const found = scanPayeeNotes(keys, records, nodeX25519);
  const payeeScanMs = performance.now() - t0;
  check(found, leaves, "nodeX25519");
  log(`   scan with nodeX25519: ${fmtInt(payeeScanMs)} ms, ${found.length} notes found`);

  const nobleLeaves = Math.min(leaves, 2 ** NOBLE_LOG2);
  const subset = records.slice(0, nobleLeaves);
  const t1 = performance.now();
  const foundNoble = scanPayeeNotes(keys, subset);
  const nobleMs = performance.now() - t1;
  check(foundNoble, nobleLeaves, "noble");
  log(`   scan with @noble/curves: ${fmtInt(nobleMs)} ms over ${fmtInt(nobleLeaves)} leaves`);

  return {
    payeeScanMs: Math.round(payeeScanMs),
    payeeScanMsNoble: Math.round((nobleMs * leaves) / nobleLeaves),
    payeeScanMsNobleMeasured: Math.round(nobleMs),
    payeeScanNobleLeaves: nobleLeaves,
    payeeScanLeaves: leaves,
    payeeScanTrials: payments,
    payeeScanUsPerTrial: round((payeeScanMs / payments) * 1000, 1),
    payeeScanFound: found.length,
    payeeScanDecoys: 2,
    payeeScanBuildMs: Math.round(payeeScanBuildMs),
    payeeScanNote:
      `the wallet's receive scan over ${leaves} in-memory LeafInserted records (no RPC): a pool of shielded ` +
      `payments only (payee leaf with a 187-byte payee memo + change leaf with a 64-byte memo), so ${payments} ` +
      `trial decryptions; ${PAYEE_NOTES} payee notes for our key at random positions plus 2 decoys encrypted to ` +
      `our key (another owner key; a leaf that is not the opening's commitment), which it must not keep. ` +
      `payeeScanMs: node:crypto X25519 (nodeX25519); payeeScanMsNoble: @noble/curves X25519 over the first ` +
      `${nobleLeaves} leaves, scaled linearly. One thread.`,
  };
}

export function reportScan(r: Record<string, unknown>): string {
  const n = (k: string) => (typeof r[k] === "number" ? fmtInt(r[k]) : "-");
  return [
    `Payee scan (bench/scan.ts): ${n("payeeScanLeaves")} leaves, ${n("payeeScanTrials")} payee memos, ` +
      `${n("payeeScanFound")} ours found (+${n("payeeScanDecoys")} decoys refused)`,
    table(
      ["X25519", "ms", "notes"],
      [
        ["node:crypto (nodeX25519), all leaves", n("payeeScanMs"), `${String(r.payeeScanUsPerTrial)} us per trial`],
        [
          "@noble/curves, scaled to all leaves",
          n("payeeScanMsNoble"),
          `measured ${n("payeeScanMsNobleMeasured")} ms over ${n("payeeScanNobleLeaves")} leaves`,
        ],
      ],
      ["l", "r", "l"],
    ),
  ].join("\n");
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const log2 = process.argv[2] ? Number(process.argv[2]) : 18;
  benchScan({ log2Leaves: log2 }).then(
    (r) => {
      console.log(`${reportScan(r as unknown as Record<string, unknown>)}\n${JSON.stringify(r, null, 2)}`);
      process.exit(0);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
