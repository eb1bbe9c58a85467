import { createHash, randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import path from "node:path";

import { ZkPayError } from "../core/errors.js";
import { parseWalletState, type NoteStore, type WalletState } from "../client/store.js";

/** Trailer of a tree file: SHA-256 of everything before it. */
const DIGEST = 32;

/**
 * Crash-safe file store (Node). Each save writes a temporary file in the same
 * directory, fsyncs it, renames it over the old file (atomic on POSIX) and fsyncs the
 * directory, so a crash at any point leaves either the old or the new state.
 *
 * The tree is kept beside the state in binary (`notes.json` -> `notes.tree`: 32 bytes
 * per node, about 64 bytes per leaf, plus a SHA-256 trailer), written the same way, so
 * that opening a wallet does not hash the pool's leaves again.
 *
 * @example
 * const store = new FileNoteStore("./wallet/notes.json");
 */
export class FileNoteStore implements NoteStore {
  readonly file: string;
  /** Where the binary tree lives. */
  readonly treeFile: string;
  #queue: Promise<void> = Promise.resolve();

  constructor(file: string) {
    this.file = path.resolve(file);
    this.treeFile = this.file.endsWith(".json") ? `${this.file.slice(0, -5)}.tree` : `${this.file}.tree`;
  }

  async loadTree(): Promise<Uint8Array | undefined> {
    let buf: Buffer;
    try {
      buf = await readFile(this.treeFile);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    if (buf.length < DIGEST) return undefined;
    const body = buf.subarray(0, buf.length - DIGEST);
    const digest = createHash("sha256").update(body).digest();
    // A torn or damaged file is a cache miss (the wallet rebuilds the tree from the chain).
    if (!digest.equals(buf.subarray(buf.length - DIGEST))) return undefined;
    return new Uint8Array(body.buffer, body.byteOffset, body.length);
  }

  saveTree(parts: readonly Uint8Array[]): Promise<void> {
    const h = createHash("sha256");
    for (const p of parts) h.update(p);
    const digest = h.digest();
    const next = this.#queue.then(() => this.#writeFile(this.treeFile, [...parts, digest]));
    this.#queue = next.catch(() => {});
    return next;
  }

  load(): Promise<WalletState | undefined> {
    return readJsonState(this.file, parseWalletState);
  }

  save(state: WalletState): Promise<void> {
    // Serialise saves: two interleaved renames could otherwise land out of order.
    const next = this.#queue.then(() => this.#writeFile(this.file, [JSON.stringify(state)]));
    this.#queue = next.catch(() => {});
    return next;
  }

  #writeFile(file: string, parts: (string | Uint8Array)[]): Promise<void> {
    return writeFileAtomic(file, parts);
  }
}

/**
 * Writes `parts` to `file` crash-safely: a temporary file in the same directory (mode
 * 0600), fsync, rename over `file` (atomic on POSIX), fsync of the directory. A crash at
 * any point leaves the old or the new content, never a mix.
 *
 * @example
 * await writeFileAtomic("./wallet/sessions.json", [JSON.stringify(state)]);
 */
export async function writeFileAtomic(file: string, parts: (string | Uint8Array)[]): Promise<void> {
  const dir = path.dirname(file);
  await mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString("hex")}.tmp`);
  const fh = await open(tmp, "w", 0o600);
  try {
    // writeFile writes all of it, from the current position.
    for (const p of parts) await fh.writeFile(p);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  const dh = await open(dir, "r");
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

/**
 * Reads a JSON state file through `parse`: undefined when the file does not exist, a
 * `note_store_corrupt` (or `parse`'s own) ZkPayError naming the file otherwise.
 *
 * @example
 * const state = await readJsonState("./wallet/notes.json", parseWalletState);
 */
export async function readJsonState<T>(file: string, parse: (raw: unknown) => T): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  try {
    return parse(JSON.parse(text));
  } catch (err) {
    if (err instanceof ZkPayError) {
      throw new ZkPayError(err.reason, `${file}: ${err.message}`, { ...err.details, file }, { cause: err });
    }
    throw new ZkPayError("note_store_corrupt", `${file} is not valid JSON`, { file }, { cause: err });
  }
}
