/**
 * IndexedDB stores for a page: the wallet's notes and tree (`NoteStore`) and its session
 * credentials (`SessionStore`), with the crash-safety of the Node file stores.
 *
 * Each `save` is one IndexedDB read-write transaction with `durability: "strict"`: it
 * either commits as a whole or not at all, and it resolves only once the browser reports
 * the commit as flushed, so a tab closed (or a browser killed) right after a save keeps
 * it. The wallet's write-ahead rules (a deposit index and a spend reservation are saved
 * before the transaction or proof that uses them) then hold in the page as in Node.
 */
import { parseWalletState, type NoteStore, type WalletState } from "../client/store.js";
import { ZkPayError } from "../core/errors.js";
import { parseSessionState, type SessionState, type SessionStore } from "../session/store.js";

const OBJECTS = "kv";

/** Opens (and creates on first use) database `name` with the one key-value object store the stores use. */
function openDb(name: string): Promise<IDBDatabase> {
  if (typeof indexedDB === "undefined") {
    return Promise.reject(new ZkPayError("invalid_argument", "IndexedDB is not available in this runtime"));
  }
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(name, 1);
    req.onupgradeneeded = () => {
      if (!req.result.objectStoreNames.contains(OBJECTS)) req.result.createObjectStore(OBJECTS);
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(storeError(`open IndexedDB database ${name}`, req.error));
    // Another tab holds an older version open: nothing to upgrade from (version 1 only).
    req.onblocked = () => reject(storeError(`IndexedDB database ${name} is blocked by another tab`, null));
  });
}

function storeError(what: string, cause: DOMException | null): ZkPayError {
  // QuotaExceededError is the one a user can act on (free space, allow storage).
  const quota = cause?.name === "QuotaExceededError";
  return new ZkPayError(
    "note_store_io",
    `${what}: ${quota ? "the browser's storage quota is exhausted (free space or allow persistent storage)" : (cause?.message ?? "failed")}`,
    {},
    { cause },
  );
}

/**
 * One key-value database; every operation is its own transaction. Values are structured
 * clones (strings and Uint8Arrays here).
 */
class KvDb {
  readonly #name: string;
  #db: Promise<IDBDatabase> | undefined;

  constructor(name: string) {
    this.#name = name;
  }

  #open(): Promise<IDBDatabase> {
    this.#db ??= openDb(this.#name).catch((err: unknown) => {
      this.#db = undefined; // a failed open is retried by the next call
      throw err;
    });
    return this.#db;
  }

  async get<T>(key: string): Promise<T | undefined> {
    const db = await this.#open();
    return new Promise((resolve, reject) => {
      const tx = db.transaction(OBJECTS, "readonly");
      const req = tx.objectStore(OBJECTS).get(key);
      req.onsuccess = () => resolve(req.result as T | undefined);
      tx.onerror = () => reject(storeError(`read ${key} from ${this.#name}`, tx.error));
    });
  }

  /** The JSON text at `key`, parsed and validated by `parse`; `note_store_corrupt` when it is not JSON. */
  async getJson<T>(key: string, parse: (raw: unknown) => T, what: string): Promise<T | undefined> {
    const text = await this.get<string>(key);
    if (text === undefined) return undefined;
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new ZkPayError("note_store_corrupt", `${what} in IndexedDB is not JSON`, {}, { cause: err });
    }
    return parse(raw);
  }

  /** Writes all of `entries` in one transaction, resolved once durable ("strict"). */
  async put(entries: Record<string, unknown>): Promise<void> {
    const db = await this.#open();
    return new Promise((resolve, reject) => {
      const tx = db.transaction(OBJECTS, "readwrite", { durability: "strict" });
      const os = tx.objectStore(OBJECTS);
      for (const [k, v] of Object.entries(entries)) os.put(v, k);
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(storeError(`write ${this.#name}`, tx.error));
      tx.onabort = () => reject(storeError(`write ${this.#name} (aborted)`, tx.error));
    });
  }

  async close(): Promise<void> {
    const db = this.#db;
    this.#db = undefined;
    if (db) (await db).close();
  }
}

/**
 * A wallet's notes, pending spends and tree in IndexedDB database `name` (one database
 * per seed and pool: the paywall page names it by the chain, the pool and a hash of the
 * seed, never the seed itself). Everything in it can be rebuilt from the seed and the
 * chain; it is the cache that makes a revisit fast and the write-ahead log that keeps a
 * spend reserved across a closed tab.
 *
 * @example
 * const store = new IndexedDbNoteStore(`402zk-${chainId}-${facilitator}-${seedHash}`);
 */
export class IndexedDbNoteStore implements NoteStore {
  readonly #db: KvDb;

  constructor(name: string) {
    this.#db = new KvDb(name);
  }

  load(): Promise<WalletState | undefined> {
    return this.#db.getJson("state", parseWalletState, "wallet state");
  }

  save(state: WalletState): Promise<void> {
    return this.#db.put({ state: JSON.stringify(state) });
  }

  async loadTree(): Promise<Uint8Array | undefined> {
    return this.#db.get<Uint8Array>("tree");
  }

  saveTree(parts: readonly Uint8Array[]): Promise<void> {
    // The parts are views of the live tree: copied into one array before resolving.
    const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
    let off = 0;
    for (const p of parts) {
      out.set(p, off);
      off += p.length;
    }
    return this.#db.put({ tree: out });
  }

  /** Closes the database connection (a later call reopens it). */
  close(): Promise<void> {
    return this.#db.close();
  }
}

/**
 * Session credentials in IndexedDB database `name`, saved the same way (one durable
 * transaction per save): a purchase recorded before it is paid survives a closed tab,
 * and `SessionClient.open` recovers its credential on the next visit.
 *
 * @example
 * const sessions = await SessionClient.open({ wallet, artifacts, store: new IndexedDbSessionStore(`${db}-sessions`) });
 */
export class IndexedDbSessionStore implements SessionStore {
  readonly #db: KvDb;

  constructor(name: string) {
    this.#db = new KvDb(name);
  }

  load(): Promise<SessionState | undefined> {
    return this.#db.getJson("sessions", parseSessionState, "session state");
  }

  save(state: SessionState): Promise<void> {
    return this.#db.put({ sessions: JSON.stringify(state) });
  }

  /** Closes the database connection (a later call reopens it). */
  close(): Promise<void> {
    return this.#db.close();
  }
}
