import { readFile } from "node:fs/promises";

import { ZkPayError } from "../core/errors.js";
import { parseSessionState, type SessionState, type SessionStore } from "../session/store.js";
import { writeFileAtomic } from "./file-store.js";

/**
 * Crash-safe file store for session credentials (Node): every save is an atomic
 * replace (see `writeFileAtomic`), saves are serialised, so a crash leaves the old or
 * the new state. Keep it beside the wallet's notes (the CLI uses `<wallet>/sessions.json`).
 *
 * @example
 * const store = new FileSessionStore("./wallet/sessions.json");
 */
export class FileSessionStore implements SessionStore {
  readonly file: string;
  #queue: Promise<void> = Promise.resolve();

  constructor(file: string) {
    this.file = file;
  }

  async load(): Promise<SessionState | undefined> {
    let text: string;
    try {
      text = await readFile(this.file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      throw new ZkPayError("note_store_corrupt", `${this.file} is not JSON`);
    }
    return parseSessionState(raw);
  }

  save(state: SessionState): Promise<void> {
    const next = this.#queue.then(() => writeFileAtomic(this.file, [JSON.stringify(state)]));
    this.#queue = next.catch(() => {});
    return next;
  }
}
