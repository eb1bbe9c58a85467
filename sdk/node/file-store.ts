import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import path from "node:path";

import { ZkPayError } from "../core/errors.js";
import { parseWalletState, type NoteStore, type WalletState } from "../client/store.js";

/**
 * Crash-safe file store (Node). Each save writes a temporary file in the same
 * directory, fsyncs it, renames it over the old file (atomic on POSIX) and fsyncs the
 * directory, so a crash at any point leaves either the old or the new state.
 *
 * @example
 * const store = new FileNoteStore("./wallet/notes.json");
 */
export class FileNoteStore implements NoteStore {
  readonly file: string;
  #queue: Promise<void> = Promise.resolve();

  constructor(file: string) {
    this.file = path.resolve(file);
  }

  async load(): Promise<WalletState | undefined> {
    let text: string;
    try {
      text = await readFile(this.file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    try {
      return parseWalletState(JSON.parse(text));
    } catch (err) {
      if (err instanceof ZkPayError) {
        throw new ZkPayError(
          err.reason,
          `${this.file}: ${err.message}`,
          { ...err.details, file: this.file },
          { cause: err },
        );
      }
      throw new ZkPayError("note_store_corrupt", `${this.file} is not valid JSON`, { file: this.file }, { cause: err });
    }
  }

  save(state: WalletState): Promise<void> {
    // Serialise saves: two interleaved renames could otherwise land out of order.
    const next = this.#queue.then(() => this.#write(state));
    this.#queue = next.catch(() => {});
    return next;
  }

  async #write(state: WalletState): Promise<void> {
    const dir = path.dirname(this.file);
    await mkdir(dir, { recursive: true });
    const tmp = path.join(dir, `.${path.basename(this.file)}.${randomBytes(6).toString("hex")}.tmp`);
    const fh = await open(tmp, "w", 0o600);
    try {
      await fh.writeFile(JSON.stringify(state));
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await rename(tmp, this.file);
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
}
