import { parseSessionState, type SessionState, type SessionStore } from "../session/store.js";
import { readJsonState, writeFileAtomic } from "./file-store.js";

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

  load(): Promise<SessionState | undefined> {
    return readJsonState(this.file, parseSessionState);
  }

  save(state: SessionState): Promise<void> {
    const next = this.#queue.then(() => writeFileAtomic(this.file, [JSON.stringify(state)]));
    this.#queue = next.catch(() => {});
    return next;
  }
}
