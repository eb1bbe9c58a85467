import {
  keccak256,
  parseTransaction,
  type Address,
  type Hash,
  type Hex,
  type LocalAccount,
  type PublicClient,
  type TransactionReceipt,
} from "viem";

import { ZkPayError } from "../core/errors.js";
import { silentLogger, type Logger } from "./logger.js";
import type { ServiceStore, TxRow } from "./store.js";

/** How the relayer prices its transactions (EIP-1559), all in wei. */
export interface GasPolicy {
  /**
   * The cap: no transaction is ever signed with a higher `maxFeePerGas`. When the network's
   * base fee plus the tip exceeds it, settlements are refused with `gas_price_too_high`
   * (nothing sent) rather than sent to wait unmined.
   */
  maxFeePerGas: bigint;
  /** Tip per gas (capped by `maxFeePerGas`). Default 0.01 gwei (Base's usual tip is lower). */
  maxPriorityFeePerGas?: bigint;
  /** `maxFeePerGas = baseFee * baseFeeMultiplier + tip`, capped. Default 2 (room for two full blocks). */
  baseFeeMultiplier?: number;
  /** A transaction not mined after this long is replaced with higher fees. Default 20,000 ms. */
  replaceAfterMs?: number;
  /** Fee increase of a replacement, percent of the last attempt (nodes require >= 10). Default 25. */
  bumpPercent?: number;
  /** Replacements per nonce before the service stops bumping (and logs an error). Default 6. */
  maxReplacements?: number;
}

/** A transaction to send: the relayer adds nonce, fees and signature. */
export interface TxRequest {
  to: Address;
  data: Hex;
  gas: bigint;
  kind: TxRow["kind"];
  paymentIds: string[];
}

/** What happened to the transaction of one nonce. */
export type NonceOutcome =
  | { status: "mined"; hash: Hash; receipt: TransactionReceipt }
  /** The chain used this nonce for a transaction this service did not record (the key is shared). */
  | { status: "dropped" };

/** Options of {@link Relayer}. */
export interface RelayerOptions {
  publicClient: PublicClient;
  account: LocalAccount;
  chainId: number;
  store: ServiceStore;
  gas: GasPolicy;
  log?: Logger;
  /** How often pending transactions are checked, ms. Default 250. */
  pollMs?: number;
  /** Below this balance (wei) the relayer logs a warning and /health says degraded. Default 0.01 ETH. */
  warnBalance?: bigint;
}

/**
 * The relayer account: the only code that signs. One nonce sequence for every
 * transaction of the service, however many settlements run at once: nonces are taken in
 * one serial queue, each signed transaction is recorded in SQLite (with the next nonce)
 * before it is broadcast, so a restart rebroadcasts the same bytes rather than signing
 * anew; no gap (a nonce is consumed only by a recorded transaction, and a transaction the
 * node refuses gives its nonce back), no duplicate.
 *
 * A monitor checks pending nonces every `pollMs`: mined ones resolve their waiters; one
 * pending longer than `replaceAfterMs` is replaced by the same call at the same nonce with
 * fees raised by `bumpPercent` (never above the cap); one the node forgot is rebroadcast.
 * It also keeps the relayer's balance, and `send` refuses a transaction the balance
 * cannot pay (`relayer_unfunded`, nothing sent).
 *
 * @example
 * const relayer = new Relayer({ publicClient, account, chainId, store, gas: { maxFeePerGas: 10n ** 10n } });
 * await relayer.start();
 * const tx = await relayer.send({ to, data, gas, kind: "pay", paymentIds: [id] });
 * const outcome = await relayer.waitFor(tx.nonce);
 */
export class Relayer {
  readonly address: Address;
  readonly #o: RelayerOptions;
  readonly #log: Logger;
  readonly #gas: Required<GasPolicy>;
  #next = 0;
  #queue: Promise<unknown> = Promise.resolve();
  readonly #waiters = new Map<number, ((o: NonceOutcome) => void)[]>();
  readonly #outcomes = new Map<number, NonceOutcome>();
  /**
   * Transactions whose first broadcast (in `send`) has not returned yet: the monitor leaves
   * them alone, or it could rebroadcast one the node is refusing, whose nonce `send` then
   * gives back (the node would hold a transaction the records call refused).
   */
  readonly #broadcasting = new Set<string>();
  /** Attempts already reported as stuck at the cap (logged once each). */
  readonly #stuckLogged = new Set<string>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #ticking = false;
  #lastBalanceAt = 0;
  /** Last known balance, wei (undefined before the first read). */
  balance: bigint | undefined;
  readonly stats = { sent: 0, replaced: 0, rebroadcast: 0, refusedUnfunded: 0, refusedGasCap: 0, refusedByNode: 0 };

  constructor(o: RelayerOptions) {
    this.#o = o;
    this.address = o.account.address;
    this.#log = o.log ?? silentLogger;
    this.#gas = {
      maxFeePerGas: o.gas.maxFeePerGas,
      maxPriorityFeePerGas: o.gas.maxPriorityFeePerGas ?? 10_000_000n,
      baseFeeMultiplier: o.gas.baseFeeMultiplier ?? 2,
      replaceAfterMs: o.gas.replaceAfterMs ?? 20_000,
      bumpPercent: Math.max(10, o.gas.bumpPercent ?? 25),
      maxReplacements: o.gas.maxReplacements ?? 6,
    };
  }

  /** The nonce the next transaction will get. */
  get nextNonce(): number {
    return this.#next;
  }

  /** Whether the balance is below the warning threshold. */
  get lowBalance(): boolean {
    return this.balance !== undefined && this.balance < (this.#o.warnBalance ?? 10n ** 16n);
  }

  /**
   * Reconciles the recorded nonce with the chain and starts the monitor. A recorded nonce
   * ahead of the chain's with no pending transaction behind it (cannot happen with one
   * process per key, but a hand-edited database must not stall the account) falls back.
   */
  async start(): Promise<void> {
    const pc = this.#o.publicClient;
    const [chainPending, chainLatest] = await Promise.all([
      pc.getTransactionCount({ address: this.address, blockTag: "pending" }),
      pc.getTransactionCount({ address: this.address, blockTag: "latest" }),
    ]);
    const recorded = this.#o.store.nextNonce(this.address, this.#o.chainId);
    const pending = this.#o.store.pendingNonces();
    const highestPending = pending.length > 0 ? pending[pending.length - 1]! + 1 : 0;
    this.#next = Math.max(chainPending, Math.min(recorded ?? 0, Math.max(highestPending, chainLatest)));
    this.#o.store.setNextNonce(this.address, this.#o.chainId, this.#next);
    await this.refreshBalance().catch(() => {});
    this.#log.info("relayer ready", {
      relayer: this.address,
      nextNonce: this.#next,
      chainNonce: chainLatest,
      pendingNonces: pending,
      balanceWei: this.balance,
    });
    this.#timer = setInterval(() => void this.#tick(), this.#o.pollMs ?? 250);
    this.#timer.unref?.();
    void this.#tick();
  }

  /** Stops the monitor (waiters of pending nonces stay unresolved). */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Reads the relayer's ETH balance from the chain (for `/health` and `/metrics`) and returns it. */
  async refreshBalance(): Promise<bigint> {
    this.balance = await this.#o.publicClient.getBalance({ address: this.address });
    this.#lastBalanceAt = Date.now();
    if (this.lowBalance) this.#log.warn("relayer balance low", { relayer: this.address, balanceWei: this.balance });
    return this.balance;
  }

  /** Fees a transaction sent now would carry; throws `gas_price_too_high` above the cap. */
  async feesNow(): Promise<{ maxFeePerGas: bigint; maxPriorityFeePerGas: bigint; baseFee: bigint }> {
    const block = await this.#o.publicClient.getBlock({ blockTag: "latest" });
    const baseFee = block.baseFeePerGas ?? 0n;
    const cap = this.#gas.maxFeePerGas;
    const tip = this.#gas.maxPriorityFeePerGas < cap ? this.#gas.maxPriorityFeePerGas : cap;
    if (baseFee + tip > cap) {
      this.stats.refusedGasCap++;
      throw new ZkPayError(
        "gas_price_too_high",
        `the network's base fee (${baseFee} wei) plus tip exceeds the relayer's cap of ${cap} wei per gas`,
        { baseFee: baseFee.toString(), cap: cap.toString() },
      );
    }
    const wanted = (baseFee * BigInt(Math.round(this.#gas.baseFeeMultiplier * 100))) / 100n + tip;
    return { maxFeePerGas: wanted < cap ? wanted : cap, maxPriorityFeePerGas: tip, baseFee };
  }

  /**
   * Signs and broadcasts one transaction at the next nonce (serially: concurrent callers
   * get consecutive nonces). Throws `relayer_unfunded` / `gas_price_too_high` with
   * nothing sent; a node that refuses the transaction gives the nonce back.
   */
  send(req: TxRequest): Promise<TxRow> {
    const run = this.#queue.then(() => this.#sendNow(req));
    this.#queue = run.catch(() => {});
    return run;
  }

  async #sendNow(req: TxRequest): Promise<TxRow> {
    const fees = await this.feesNow();
    const cost = req.gas * fees.maxFeePerGas;
    if (this.balance === undefined || Date.now() - this.#lastBalanceAt > 2_000 || this.balance < cost) {
      await this.refreshBalance();
    }
    if (this.balance! < cost) {
      this.stats.refusedUnfunded++;
      throw new ZkPayError(
        "relayer_unfunded",
        `the relayer ${this.address} holds ${this.balance} wei, less than the ${cost} wei this settlement may cost`,
        { balance: this.balance!.toString(), needed: cost.toString(), relayer: this.address },
      );
    }
    const nonce = this.#next;
    const tx = await this.#sign(req, nonce, fees.maxFeePerGas, fees.maxPriorityFeePerGas, 0);
    // Write-ahead: recorded (with the next nonce) before any node sees it.
    this.#o.store.recordSent(this.address, this.#o.chainId, tx);
    this.#next = nonce + 1;
    this.balance! -= cost;
    this.#broadcasting.add(tx.hash);
    try {
      await this.#o.publicClient.sendRawTransaction({ serializedTransaction: tx.raw as Hex });
    } catch (err) {
      if (knownToNode(err)) return tx;
      if (isNodeRefusal(err) && this.#next === nonce + 1) {
        // Refused for good (not a network error): the nonce was not used, give it back. The
        // attempt is marked refused, not dropped: the next transaction reuses this nonce and
        // must be watched like any other (a dropped attempt would make the monitor skip it).
        this.#o.store.markRefused(this.address, this.#o.chainId, tx.hash);
        this.#next = nonce;
        this.stats.refusedByNode++;
        this.#log.warn("the node refused a transaction; its nonce is reused", {
          nonce,
          tx: tx.hash,
          kind: req.kind,
          error: shortMessage(err),
        });
        throw new ZkPayError(
          "settlement_failed",
          `the node refused the transaction: ${shortMessage(err)}`,
          {},
          {
            cause: err,
          },
        );
      }
      // A network error: the transaction is recorded; the monitor rebroadcasts it.
      this.#log.warn("broadcast failed, will retry", { nonce, tx: tx.hash, error: shortMessage(err) });
    } finally {
      this.#broadcasting.delete(tx.hash);
    }
    this.stats.sent++;
    this.#log.info("transaction sent", {
      nonce,
      tx: tx.hash,
      kind: req.kind,
      payments: req.paymentIds.length,
      maxFeePerGas: fees.maxFeePerGas,
    });
    return tx;
  }

  async #sign(
    req: Pick<TxRequest, "to" | "data" | "gas" | "kind" | "paymentIds">,
    nonce: number,
    maxFeePerGas: bigint,
    maxPriorityFeePerGas: bigint,
    attempt: number,
  ): Promise<TxRow> {
    const raw = await this.#o.account.signTransaction({
      type: "eip1559",
      chainId: this.#o.chainId,
      nonce,
      to: req.to,
      data: req.data,
      gas: req.gas,
      value: 0n,
      maxFeePerGas,
      maxPriorityFeePerGas,
    });
    return {
      hash: keccak256(raw),
      nonce,
      kind: req.kind,
      paymentIds: req.paymentIds,
      raw,
      gas: req.gas.toString(),
      maxFeePerGas: maxFeePerGas.toString(),
      maxPriorityFeePerGas: maxPriorityFeePerGas.toString(),
      state: "pending",
      sentAt: Date.now(),
      attempt,
    };
  }

  /**
   * Resolves when a transaction of `nonce` is mined (whichever attempt), or the nonce was
   * used by another. A nonce the monitor (or a previous process) already concluded
   * resolves at once: the monitor may see a transaction mined before its sender asks.
   */
  waitFor(nonce: number): Promise<NonceOutcome> {
    const done = this.#outcomes.get(nonce);
    if (done) return Promise.resolve(done);
    const attempts = this.#o.store.txsAt(nonce);
    const mined = attempts.find((t) => t.state === "mined");
    const wait = () =>
      new Promise<NonceOutcome>((resolve) => {
        const list = this.#waiters.get(nonce) ?? [];
        list.push(resolve);
        this.#waiters.set(nonce, list);
      });
    if (mined) {
      return this.#o.publicClient
        .getTransactionReceipt({ hash: mined.hash as Hash })
        .then((receipt): NonceOutcome => ({ status: "mined", hash: mined.hash as Hash, receipt }))
        .catch(() => {
          // The receipt cannot be read now: let the monitor look again.
          this.#o.store.reopen(nonce);
          return wait();
        });
    }
    if (attempts.length > 0 && attempts.every((t) => t.state === "dropped"))
      return Promise.resolve({ status: "dropped" });
    return wait();
  }

  /** One monitor round; never overlaps itself. */
  async #tick(): Promise<void> {
    if (this.#ticking) return;
    this.#ticking = true;
    try {
      const nonces = this.#o.store.pendingNonces();
      if (Date.now() - this.#lastBalanceAt > 10_000) await this.refreshBalance().catch(() => {});
      if (nonces.length === 0) return;
      const pc = this.#o.publicClient;
      const chainNonce = await pc.getTransactionCount({ address: this.address, blockTag: "latest" });
      for (const nonce of nonces) {
        const attempts = this.#o.store.txsAt(nonce);
        // Its only attempt was refused while this round was reading (the nonce is given back).
        if (attempts.length === 0) continue;
        if (nonce < chainNonce) {
          // Mined: find which attempt.
          let found = false;
          for (const t of attempts) {
            const rc = await pc.getTransactionReceipt({ hash: t.hash as Hash }).catch(() => undefined);
            if (rc) {
              this.#o.store.markMined(nonce, t.hash);
              this.#resolve(nonce, { status: "mined", hash: t.hash as Hash, receipt: rc });
              found = true;
              break;
            }
          }
          if (!found && Date.now() - attempts[attempts.length - 1]!.sentAt > 60_000) {
            this.#log.error("nonce used by a transaction this service did not sign", { nonce });
            this.#o.store.markDropped(nonce);
            this.#resolve(nonce, { status: "dropped" });
          }
          continue;
        }
        await this.#nurse(attempts);
      }
    } catch (err) {
      this.#log.warn("monitor round failed", { error: shortMessage(err) });
    } finally {
      this.#ticking = false;
    }
  }

  /** A pending nonce: rebroadcast what the node forgot, replace what waited too long. */
  async #nurse(attempts: TxRow[]): Promise<void> {
    const last = attempts[attempts.length - 1]!;
    // Checked again after every wait below: `send` may have had it refused in the meantime.
    const live = () => !this.#broadcasting.has(last.hash) && this.#o.store.getTx(last.hash)?.state === "pending";
    if (!live()) return;
    const pc = this.#o.publicClient;
    const age = Date.now() - last.sentAt;
    if (age > this.#gas.replaceAfterMs && last.attempt < this.#gas.maxReplacements) {
      const bump = (x: bigint) => x + (x * BigInt(this.#gas.bumpPercent) + 99n) / 100n;
      let now: { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint } | undefined;
      try {
        now = await this.feesNow();
      } catch {
        now = undefined;
      }
      const cap = this.#gas.maxFeePerGas;
      let maxFee = bump(BigInt(last.maxFeePerGas));
      let tip = bump(BigInt(last.maxPriorityFeePerGas));
      if (now && now.maxFeePerGas > maxFee) maxFee = now.maxFeePerGas;
      if (maxFee > cap) maxFee = cap;
      if (tip > maxFee) tip = maxFee;
      // A replacement must raise both fees by >= 10%, or nodes drop it as underpriced.
      const enough =
        maxFee * 100n >= BigInt(last.maxFeePerGas) * 110n && tip * 100n >= BigInt(last.maxPriorityFeePerGas) * 110n;
      if (!enough) {
        if (age > this.#gas.replaceAfterMs * 2 && !this.#stuckLogged.has(last.hash)) {
          this.#stuckLogged.add(last.hash);
          this.#log.error("transaction stuck at the gas cap", { nonce: last.nonce, tx: last.hash, cap });
        }
      } else {
        // The same call (decoded from the recorded signed bytes), same nonce, higher fees.
        const replacement = await this.#resign(last, maxFee, tip).catch(() => undefined);
        if (replacement && live()) {
          this.#o.store.recordSent(this.address, this.#o.chainId, replacement);
          this.stats.replaced++;
          this.#log.warn("replacing a stuck transaction", {
            nonce: last.nonce,
            old: last.hash,
            tx: replacement.hash,
            maxFeePerGas: maxFee,
          });
          await pc.sendRawTransaction({ serializedTransaction: replacement.raw as Hex }).catch((err: unknown) => {
            this.#log.warn("replacement broadcast failed", { nonce: last.nonce, error: shortMessage(err) });
          });
          return;
        }
      }
    }
    // The node should know the latest attempt; after a restart or a dropped mempool it may not.
    const known = await pc.getTransaction({ hash: last.hash as Hash }).catch(() => undefined);
    if (!known && live()) {
      await pc
        .sendRawTransaction({ serializedTransaction: last.raw as Hex })
        .then(() => {
          this.stats.rebroadcast++;
          this.#log.info("rebroadcast", { nonce: last.nonce, tx: last.hash });
        })
        .catch((err: unknown) => {
          if (!knownToNode(err)) this.#log.warn("rebroadcast failed", { nonce: last.nonce, error: shortMessage(err) });
        });
    }
  }

  /** The same call as `last` (to, data, gas from its signed bytes) at higher fees. */
  async #resign(last: TxRow, maxFeePerGas: bigint, maxPriorityFeePerGas: bigint): Promise<TxRow> {
    const parsed = parseTransaction(last.raw as Hex);
    return this.#sign(
      { to: parsed.to!, data: parsed.data ?? "0x", gas: parsed.gas!, kind: last.kind, paymentIds: last.paymentIds },
      last.nonce,
      maxFeePerGas,
      maxPriorityFeePerGas,
      last.attempt + 1,
    );
  }

  #resolve(nonce: number, o: NonceOutcome): void {
    // Kept for a sender that asks after the fact (bounded: the database has the rest).
    this.#outcomes.set(nonce, o);
    if (this.#outcomes.size > 10_000) this.#outcomes.delete(this.#outcomes.keys().next().value!);
    const list = this.#waiters.get(nonce);
    this.#waiters.delete(nonce);
    for (const r of list ?? []) r(o);
  }
}

function shortMessage(err: unknown): string {
  const e = err as { shortMessage?: string; details?: string; message?: string };
  return (e.details ?? e.shortMessage ?? e.message ?? String(err)).slice(0, 300);
}

/** The node has this transaction already (a rebroadcast, or a replay of the same bytes). */
function knownToNode(err: unknown): boolean {
  return /already known|known transaction|nonce too low|already imported|AlreadyKnown/i.test(
    `${shortMessage(err)} ${String((err as Error)?.message ?? "")}`,
  );
}

/** A JSON-RPC refusal (the node answered and said no), as opposed to a network failure. */
function isNodeRefusal(err: unknown): boolean {
  let e: unknown = err;
  for (let i = 0; i < 6 && e; i++) {
    const name = (e as { name?: string }).name ?? "";
    if (/HttpRequestError|TimeoutError|SocketClosedError/.test(name)) return false;
    e = (e as { cause?: unknown }).cause;
  }
  return true;
}
