import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import type * as NodeSqlite from "node:sqlite";
import type { DatabaseSync as DatabaseSyncType, SQLInputValue } from "node:sqlite";

/**
 * node:sqlite, loaded on first use. Node 22 marks it experimental and prints an
 * ExperimentalWarning when it loads: that one warning (and only while loading it) is
 * dropped, every other warning goes through as usual.
 */
function sqlite(): typeof NodeSqlite {
  const emit = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const text = typeof warning === "string" ? warning : warning.message;
    const type = typeof rest[0] === "string" ? rest[0] : (rest[0] as { type?: string } | undefined)?.type;
    if ((type === "ExperimentalWarning" || (warning as Error).name === "ExperimentalWarning") && /SQLite/i.test(text)) {
      return;
    }
    return (emit as (...a: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    return createRequire(import.meta.url)("node:sqlite") as typeof NodeSqlite;
  } finally {
    process.emitWarning = emit;
  }
}

/**
 * Where one payment stands in the service:
 *
 * ```
 * accepted ──send──▶ submitted ──mined, paid──▶ settled
 *    │                   │
 *    └──refused─────────▶└──reverted / skipped / spent by another──▶ failed
 * ```
 *
 * `accepted`: checked and recorded, no transaction yet (a crash here resubmits it on
 * restart, after the chain says it is still unspent). `submitted`: its transaction is
 * signed and recorded (write-ahead, before it is broadcast), so a restart rebroadcasts the
 * same bytes and never signs a second payment of the same note. A `failed` payment whose
 * reason is not final (`relayer_unfunded`, `gas_price_too_high`, `rpc_error`, ...) may be
 * accepted again by a later request.
 */
export type PaymentState = "accepted" | "submitted" | "settled" | "failed";

/**
 * Where one relayer transaction stands: all transactions of one nonce are its attempts.
 * `refused`: the node refused it when it was first broadcast, so the nonce was given back
 * and the next transaction reuses it; kept for the record, it is no attempt at that nonce
 * (never watched, replaced or rebroadcast, and never hides the attempts that follow it).
 */
export type TxState = "pending" | "mined" | "replaced" | "dropped" | "refused";

/** A payment the service accepted (one per note: `id` is the nullifier hash, the receipt id). */
export interface PaymentRow {
  /** The receipt id: the spent note's nullifier hash as bytes32 hex. */
  id: string;
  /** sha256 of the payment as proven (proof, terms, memo): a retry matches, another payment of the note does not. */
  fingerprint: string;
  /** `settle` (a resource server forwarded it) or `relay` (the payer sent it). */
  source: "settle" | "relay";
  state: PaymentState;
  /** The payment to submit, JSON (proof, terms, memo, commitChange: decimal strings). */
  item: string;
  payTo: string;
  amount: string;
  fee: string;
  nonce?: number;
  txHash?: string;
  blockNumber?: number;
  batchSize?: number;
  reason?: string;
  message?: string;
  createdAt: number;
  updatedAt: number;
}

/** One signed relayer transaction (one attempt at one nonce). */
export interface TxRow {
  hash: string;
  nonce: number;
  kind: "pay" | "payAndCommit" | "payBatch" | "commitPendingLeaves";
  /** Payment ids this transaction settles, JSON array. */
  paymentIds: string[];
  /** The signed transaction, hex: a restart rebroadcasts exactly these bytes. */
  raw: string;
  gas: string;
  maxFeePerGas: string;
  maxPriorityFeePerGas: string;
  state: TxState;
  sentAt: number;
  /** 0 for the first attempt at this nonce, n for the n-th replacement. */
  attempt: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS payments (
  id TEXT PRIMARY KEY,
  fingerprint TEXT NOT NULL,
  source TEXT NOT NULL,
  state TEXT NOT NULL,
  item TEXT NOT NULL,
  pay_to TEXT NOT NULL,
  amount TEXT NOT NULL,
  fee TEXT NOT NULL,
  nonce INTEGER,
  tx_hash TEXT,
  block_number INTEGER,
  batch_size INTEGER,
  reason TEXT,
  message TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS payments_state ON payments(state);
CREATE TABLE IF NOT EXISTS transactions (
  hash TEXT PRIMARY KEY,
  nonce INTEGER NOT NULL,
  kind TEXT NOT NULL,
  payment_ids TEXT NOT NULL,
  raw TEXT NOT NULL,
  gas TEXT NOT NULL,
  max_fee_per_gas TEXT NOT NULL,
  max_priority_fee_per_gas TEXT NOT NULL,
  state TEXT NOT NULL,
  sent_at INTEGER NOT NULL,
  attempt INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS transactions_nonce ON transactions(nonce);
CREATE INDEX IF NOT EXISTS transactions_state ON transactions(state);
CREATE TABLE IF NOT EXISTS discovery_resources (
  resource TEXT PRIMARY KEY,
  item TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS discovery_resources_updated ON discovery_resources(updated_at);
CREATE TABLE IF NOT EXISTS relayer (
  address TEXT PRIMARY KEY,
  chain_id INTEGER NOT NULL,
  next_nonce INTEGER NOT NULL
);
`;

type Row = Record<string, SQLInputValue>;

function toPayment(r: Row): PaymentRow {
  return {
    id: r.id as string,
    fingerprint: r.fingerprint as string,
    source: r.source as PaymentRow["source"],
    state: r.state as PaymentState,
    item: r.item as string,
    payTo: r.pay_to as string,
    amount: r.amount as string,
    fee: r.fee as string,
    nonce: r.nonce === null ? undefined : Number(r.nonce),
    txHash: (r.tx_hash as string | null) ?? undefined,
    blockNumber: r.block_number === null ? undefined : Number(r.block_number),
    batchSize: r.batch_size === null ? undefined : Number(r.batch_size),
    reason: (r.reason as string | null) ?? undefined,
    message: (r.message as string | null) ?? undefined,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

function toTx(r: Row): TxRow {
  return {
    hash: r.hash as string,
    nonce: Number(r.nonce),
    kind: r.kind as TxRow["kind"],
    paymentIds: JSON.parse(r.payment_ids as string) as string[],
    raw: r.raw as string,
    gas: r.gas as string,
    maxFeePerGas: r.max_fee_per_gas as string,
    maxPriorityFeePerGas: r.max_priority_fee_per_gas as string,
    state: r.state as TxState,
    sentAt: Number(r.sent_at),
    attempt: Number(r.attempt),
  };
}

/**
 * The service's durable state in one SQLite file (Node's built-in `node:sqlite`: part of
 * Node core since 22.13, nothing to compile): payments, every signed relayer transaction,
 * the relayer's next nonce, and the bazaar catalogue of discoverable resources
 * (`discovery_resources`, see `SqliteDiscoveryCatalog`). WAL with `synchronous=FULL`: a committed write survives a
 * crash or a power cut. The file is opened in exclusive locking mode, so a second service
 * process on the same database (which would share the relayer's nonces) fails at start.
 *
 * @example
 * const store = new ServiceStore("./facilitator.sqlite");
 * store.insertPayment(row); // returns the existing row if this note was seen before
 */
export class ServiceStore {
  readonly db: DatabaseSyncType;

  constructor(file: string) {
    if (file !== ":memory:") mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    this.db = new (sqlite().DatabaseSync)(file);
    this.db.exec("PRAGMA journal_mode = WAL");
    this.db.exec("PRAGMA synchronous = FULL");
    this.db.exec("PRAGMA busy_timeout = 2000");
    this.db.exec("PRAGMA locking_mode = EXCLUSIVE");
    // Taking the write lock now: a second process on this file fails here, not mid-settle.
    this.db.exec("BEGIN IMMEDIATE");
    this.db.exec(SCHEMA);
    // Databases written before the `refused` state recorded a refusal as `dropped`, which
    // hid the next transaction at the same nonce from the monitor. Such a row is a refusal
    // when its nonce has a live attempt (the monitor drops every attempt of a nonce at once,
    // and sends nothing at it afterwards) or is not below the recorded next nonce (given back).
    this.db.exec(`UPDATE transactions SET state = 'refused' WHERE state = 'dropped' AND (
      nonce IN (SELECT nonce FROM transactions WHERE state IN ('pending', 'replaced', 'mined'))
      OR nonce >= (SELECT MIN(next_nonce) FROM relayer))`);
    this.db.exec("COMMIT");
  }

  /** Closes the database. */
  close(): void {
    if (this.db.isOpen) this.db.close();
  }

  /** Runs `fn` in one transaction (all of its writes, or none). */
  tx<T>(fn: () => T): T {
    this.db.exec("BEGIN IMMEDIATE");
    try {
      const out = fn();
      this.db.exec("COMMIT");
      return out;
    } catch (err) {
      this.db.exec("ROLLBACK");
      throw err;
    }
  }

  // ---------------------------------------------------------------- payments

  /** Records a new payment; if its note is known already, returns the stored row instead. */
  insertPayment(p: Omit<PaymentRow, "createdAt" | "updatedAt">): { row: PaymentRow; inserted: boolean } {
    const now = Date.now();
    const r = this.db
      .prepare(
        `INSERT INTO payments (id, fingerprint, source, state, item, pay_to, amount, fee, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING`,
      )
      .run(p.id, p.fingerprint, p.source, p.state, p.item, p.payTo, p.amount, p.fee, now, now);
    return { row: this.getPayment(p.id)!, inserted: Number(r.changes) === 1 };
  }

  /** The payment row of receipt id `id`, if any. */
  getPayment(id: string): PaymentRow | undefined {
    const r = this.db.prepare("SELECT * FROM payments WHERE id = ?").get(id) as Row | undefined;
    return r ? toPayment(r) : undefined;
  }

  /** Another request for a payment that failed for a reason that may pass: back to accepted. */
  reaccept(id: string, fingerprint: string, item: string, source: PaymentRow["source"]): void {
    this.db
      .prepare(
        `UPDATE payments SET state = 'accepted', fingerprint = ?, item = ?, source = ?, reason = NULL, message = NULL,
         tx_hash = NULL, nonce = NULL, updated_at = ? WHERE id = ? AND state = 'failed'`,
      )
      .run(fingerprint, item, source, Date.now(), id);
  }

  /** Marks the payments `ids` settled by the mined transaction `o.txHash`. */
  settle(ids: string[], o: { txHash: string; blockNumber: number; batchSize: number }): void {
    const st = this.db.prepare(
      `UPDATE payments SET state = 'settled', tx_hash = ?, block_number = ?, batch_size = ?, reason = NULL,
       message = NULL, updated_at = ? WHERE id = ?`,
    );
    this.tx(() => {
      for (const id of ids) st.run(o.txHash, o.blockNumber, o.batchSize, Date.now(), id);
    });
  }

  /** Marks the payment `id` failed with a reason code (and the transaction, if one was sent). */
  fail(id: string, reason: string, message: string, txHash?: string): void {
    this.db
      .prepare(
        `UPDATE payments SET state = 'failed', reason = ?, message = ?, tx_hash = COALESCE(?, tx_hash), updated_at = ?
         WHERE id = ?`,
      )
      .run(reason, message.slice(0, 1000), txHash ?? null, Date.now(), id);
  }

  /** The payments in `state` (e.g. those still `submitted` after a restart). */
  paymentsIn(state: PaymentState): PaymentRow[] {
    return (this.db.prepare("SELECT * FROM payments WHERE state = ? ORDER BY created_at").all(state) as Row[]).map(
      toPayment,
    );
  }

  /** How many payments are in each state (for `/metrics`). */
  countByState(): Record<PaymentState, number> {
    const out: Record<PaymentState, number> = { accepted: 0, submitted: 0, settled: 0, failed: 0 };
    for (const r of this.db.prepare("SELECT state, COUNT(*) AS n FROM payments GROUP BY state").all() as Row[]) {
      out[r.state as PaymentState] = Number(r.n);
    }
    return out;
  }

  // ------------------------------------------------------------ transactions

  /** The relayer's next nonce as recorded (undefined on a fresh database). */
  nextNonce(address: string, chainId: number): number | undefined {
    const r = this.db
      .prepare("SELECT next_nonce FROM relayer WHERE address = ? AND chain_id = ?")
      .get(address.toLowerCase(), chainId) as Row | undefined;
    return r ? Number(r.next_nonce) : undefined;
  }

  /** Records the next nonce of the relayer `address` on `chainId`. */
  setNextNonce(address: string, chainId: number, next: number): void {
    this.db
      .prepare(
        `INSERT INTO relayer (address, chain_id, next_nonce) VALUES (?, ?, ?)
         ON CONFLICT(address) DO UPDATE SET next_nonce = excluded.next_nonce, chain_id = excluded.chain_id`,
      )
      .run(address.toLowerCase(), chainId, next);
  }

  /**
   * Write-ahead record of a signed transaction, in one SQLite transaction: the transaction,
   * the relayer's next nonce, and its payments marked submitted. Called before broadcasting.
   */
  recordSent(address: string, chainId: number, t: TxRow): void {
    const mark = this.db.prepare(
      "UPDATE payments SET state = 'submitted', nonce = ?, tx_hash = ?, updated_at = ? WHERE id = ?",
    );
    this.tx(() => {
      if (t.attempt > 0) {
        this.db
          .prepare("UPDATE transactions SET state = 'replaced' WHERE nonce = ? AND state = 'pending'")
          .run(t.nonce);
      }
      this.db
        .prepare(
          `INSERT INTO transactions (hash, nonce, kind, payment_ids, raw, gas, max_fee_per_gas, max_priority_fee_per_gas,
           state, sent_at, attempt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          t.hash,
          t.nonce,
          t.kind,
          JSON.stringify(t.paymentIds),
          t.raw,
          t.gas,
          t.maxFeePerGas,
          t.maxPriorityFeePerGas,
          t.state,
          t.sentAt,
          t.attempt,
        );
      const next = Math.max(this.nextNonce(address, chainId) ?? 0, t.nonce + 1);
      this.setNextNonce(address, chainId, next);
      for (const id of t.paymentIds) mark.run(t.nonce, t.hash, Date.now(), id);
    });
  }

  /** Every attempt at `nonce`, oldest first (refused transactions are none: see {@link TxState}). */
  txsAt(nonce: number): TxRow[] {
    return (
      this.db
        .prepare("SELECT * FROM transactions WHERE nonce = ? AND state != 'refused' ORDER BY attempt, sent_at, rowid")
        .all(nonce) as Row[]
    ).map(toTx);
  }

  /**
   * Nonces with an attempt still pending (pending or replaced, none mined), ascending.
   * Dropped attempts do not hide a nonce: the monitor drops every attempt of a nonce at
   * once, so a nonce that still has a live attempt was never dropped as a whole.
   */
  pendingNonces(): number[] {
    return (
      this.db
        .prepare(
          `SELECT DISTINCT nonce FROM transactions t WHERE state IN ('pending', 'replaced')
           AND NOT EXISTS (SELECT 1 FROM transactions m WHERE m.nonce = t.nonce AND m.state = 'mined') ORDER BY nonce`,
        )
        .all() as Row[]
    ).map((r) => Number(r.nonce));
  }

  /**
   * The node refused transaction `hash` at its first broadcast: in one SQLite transaction,
   * the attempt is marked refused, its payments go back to accepted (no transaction, no
   * nonce: none was sent), and the relayer's next nonce is `hash`'s nonce again.
   */
  markRefused(address: string, chainId: number, hash: string): void {
    this.tx(() => {
      const t = this.getTx(hash);
      if (!t) return;
      this.db.prepare("UPDATE transactions SET state = 'refused' WHERE hash = ?").run(hash);
      this.db
        .prepare(
          `UPDATE payments SET state = 'accepted', nonce = NULL, tx_hash = NULL, updated_at = ?
           WHERE tx_hash = ? AND state = 'submitted'`,
        )
        .run(Date.now(), hash);
      this.setNextNonce(address, chainId, t.nonce);
    });
  }

  /** The attempt `hash` was mined: it is the nonce's transaction; the others are replaced. */
  markMined(nonce: number, hash: string): void {
    this.tx(() => {
      this.db
        .prepare("UPDATE transactions SET state = 'replaced' WHERE nonce = ? AND hash != ? AND state != 'refused'")
        .run(nonce, hash);
      this.db.prepare("UPDATE transactions SET state = 'mined' WHERE hash = ?").run(hash);
    });
  }

  /** Back to pending (a mined attempt whose receipt must be read again by the monitor). */
  reopen(nonce: number): void {
    this.db.prepare("UPDATE transactions SET state = 'pending' WHERE nonce = ? AND state = 'mined'").run(nonce);
  }

  /** No attempt at `nonce` was mined and the chain moved past it (another sender used the nonce). */
  markDropped(nonce: number): void {
    this.db.prepare("UPDATE transactions SET state = 'dropped' WHERE nonce = ? AND state != 'refused'").run(nonce);
  }

  /** The recorded transaction `hash`, if any. */
  getTx(hash: string): TxRow | undefined {
    const r = this.db.prepare("SELECT * FROM transactions WHERE hash = ?").get(hash) as Row | undefined;
    return r ? toTx(r) : undefined;
  }

  /** Transactions by state, for metrics and tests (`sent` counts every attempt a node took, not the refused). */
  txCounts(): { sent: number; replaced: number; mined: number; pending: number; refused: number } {
    const rows = this.db.prepare("SELECT state, COUNT(*) AS n FROM transactions GROUP BY state").all() as Row[];
    const by = Object.fromEntries(rows.map((r) => [r.state as string, Number(r.n)]));
    const total = rows.reduce((s, r) => s + Number(r.n), 0);
    const refused = by.refused ?? 0;
    return {
      sent: total - refused,
      replaced: by.replaced ?? 0,
      mined: by.mined ?? 0,
      pending: by.pending ?? 0,
      refused,
    };
  }
}
