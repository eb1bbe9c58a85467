/**
 * payWithZk: one paid x402 exchange with a private note, the engine of `402zk pay`
 * (commands/pay.ts), also used by the demo and the benchmarks.
 */
import { x402Client } from "@x402/core/client";
import { decodePaymentRequiredHeader, decodePaymentResponseHeader } from "@x402/core/http";
import type { SchemeNetworkClient, SettleResponse } from "@x402/core/types";
import { wrapFetchWithPayment } from "@x402/fetch";
import { getAddress, zeroAddress, type Address, type Hex } from "viem";

import {
  checkPaymentCost,
  ZkExactClientScheme,
  ZkShieldedClientScheme,
  type TokenUnits,
  type ZkClientOptions,
} from "../client/scheme.js";
import { RelayClient } from "../client/relay.js";
import type { PreparedPayment, PrivateWallet } from "../client/wallet.js";
import type { ZkIdentityOptions } from "../client/actions/attribute.js";
import { isZkPayError, ZkPayError } from "../core/errors.js";
import type { ProofProgress } from "../core/prover.js";
import {
  ZK_ATTRIBUTE_EXTENSION,
  checkAttributeRequirement,
  parseAttributeRequirement,
} from "../core/identity/extension.js";
import { ReceiptChecker } from "../core/receipts.js";
import {
  ZK_SCHEME,
  ZK_SHIELDED_SCHEME,
  ZkRequirementExtraSchema,
  isShieldedTerms,
  type SettlementMode,
} from "../core/wire.js";
import { HttpUnreachableError, recordingFetch } from "./exchange.js";

// The recording fetch and the network-error test moved to exchange.ts (errors.ts needs the
// latter without loading x402's client); still exported here for existing importers.
export { HttpUnreachableError, isNetworkError, recordingFetch, type ExchangeMarks } from "./exchange.js";

/** What a payment will cost, known before it is proven ({@link PayOptions.onQuote}). */
export interface PaymentQuote {
  mode: SettlementMode;
  /** zk-exact (payee and amount public on chain) or zk-shielded (a private note for the payee). */
  scheme: string;
  amount: bigint;
  fee: bigint;
  relayer: Address;
  /** A 0x address (zk-exact) or a shielded address `zk402...` (zk-shielded). */
  payTo: string;
}

/**
 * The transactions this process sends (the CLI observes its RPC transport): how a
 * client-settled payment that was submitted is named whatever fails after it.
 */
export interface SentTransactions {
  /** Transactions sent so far, oldest first (`at`: performance.now() ms when it went out). */
  sent(): readonly { hash: Hex; at: number }[];
  /** Refuses every later send: after a timeout or a signal, nothing new may leave. */
  stop(): void;
}

/** Options of {@link payWithZk}. */
export interface PayOptions {
  wallet: PrivateWallet;
  /** Preferred settlement mode (the server may only offer the other). Default "server". */
  settlement?: SettlementMode;
  /** Refuse to pay more than this many base units: amount + fee (see checkPaymentCost). */
  maxAmount?: bigint;
  /** The largest relayer fee accepted, base units. Default: the scheme's defaultMaxFee. */
  maxFee?: bigint;
  /** The token's decimals and symbol, for amounts in refusals. */
  token?: TokenUnits;
  onProgress?: (p: ProofProgress) => void;
  /** Told what the payment will cost (amount, fee, payee) once it is within the limits, before proving. */
  onQuote?: (q: PaymentQuote) => void;
  /** Request init (method, headers, body) of the paid request. Default GET. */
  init?: RequestInit;
  fetch?: typeof fetch;
  /** Pay in the server's other settlement mode when the wanted one is not offered. Default false. */
  allowModeFallback?: boolean;
  /**
   * Gives up the whole exchange after this many ms: both requests, proving, submitting
   * and waiting for confirmations. A payment that left by then is `payment_unconfirmed`.
   * Default: none.
   */
  timeoutMs?: number;
  /**
   * Gives up the exchange when aborted (the CLI aborts on SIGINT/SIGTERM): a payment that
   * left is `payment_unconfirmed` (details.interrupted), otherwise the signal's reason is thrown.
   */
  signal?: AbortSignal;
  /** Client-settled payments are submitted by this relayer (402zk facilitator's /relay, or its URL), not your EOA. */
  relay?: RelayClient | string;
  /** The wallet's sent transactions, to name a client-settled payment that was submitted. */
  transactions?: SentTransactions;
  /** Verify & Pay: identity credentials and the attribute circuit, for routes whose 402 names an attribute rule. */
  identity?: ZkIdentityOptions;
}

/** Outcome of {@link payWithZk}. */
export interface PayResult {
  url: string;
  status: number;
  body: string;
  contentType: string | null;
  /** Whether a payment was sent (false if the resource answered without a 402). */
  paid: boolean;
  /** Whether the server reported the payment settled (PAYMENT-RESPONSE success). */
  settled: boolean;
  mode?: SettlementMode;
  /** On a 402 after paying: the server's reason (PAYMENT-REQUIRED error). */
  refusedReason?: string;
  receiptId?: Hex;
  transaction?: Hex;
  settleResponse?: SettleResponse;
  prepared?: PreparedPayment;
  /** Milliseconds: total and its parts (submit: client-settled only). */
  timings: {
    totalMs: number;
    challengeMs: number;
    syncMs: number;
    witnessMs: number;
    proveMs: number;
    submitMs: number;
    serverMs: number;
  };
}

/**
 * Fetches `url`, paying a 402 with a private 402zk note through `@x402/fetch` and the
 * zk-exact client scheme. Never returns a half-known outcome: client-side refusals
 * (insufficient balance, proving errors, no zk-exact offer...) throw a ZkPayError;
 * anything the server answered comes back as a {@link PayResult}.
 *
 * @example
 * const r = await payWithZk("http://127.0.0.1:4021/weather", { wallet });
 * console.log(r.status, r.receiptId, r.transaction);
 */
export async function payWithZk(url: string, o: PayOptions): Promise<PayResult> {
  const startedAt = performance.now();
  const timeout = o.timeoutMs ? AbortSignal.timeout(o.timeoutMs) : undefined;
  const stops = [timeout, o.signal].filter((x): x is AbortSignal => x !== undefined);
  const signal = stops.length > 0 ? AbortSignal.any(stops) : undefined;
  const rec = recordingFetch(o.fetch, signal);
  let prepared: PreparedPayment | undefined;
  let preparedAt: number | undefined;
  let creationError: unknown;
  let mode: SettlementMode | undefined;
  // A relayed payment is sent by POSTing it to the relay: record when that happens.
  let relayPosted = false;
  const relay =
    typeof o.relay === "string"
      ? new RelayClient({
          url: o.relay,
          fetch: async (input, init) => {
            const req = new Request(input as RequestInfo, init);
            if (signal?.aborted) throw new HttpUnreachableError(req.url, signal.reason);
            if (req.method === "POST") relayPosted = true;
            return fetch(signal ? new Request(req, { signal: AbortSignal.any([req.signal, signal]) }) : req);
          },
        })
      : o.relay;
  const wanted: SettlementMode = o.settlement ?? "server";
  const options: ZkClientOptions = {
    wallet: o.wallet,
    settlement: wanted,
    maxAmount: o.maxAmount,
    maxFee: o.maxFee,
    onProgress: o.onProgress,
    relay,
    identity: o.identity,
    // The scheme's own wait for confirmations ends with the exchange (it is raced below).
    confirmationTimeoutMs: o.timeoutMs,
    onPrepared: (p) => {
      prepared = p;
      preparedAt = performance.now();
    },
  };
  // @x402/fetch rethrows payload-creation errors as plain Errors: keep the typed one.
  // Both 402zk schemes, with the same wallet and limits: a zk-exact 402 and a zk-shielded
  // 402 (a shielded payee) are both paid.
  const schemeNamed = (inner: ZkExactClientScheme): SchemeNetworkClient => ({
    scheme: inner.scheme,
    schemeHooks: inner.schemeHooks,
    createPaymentPayload: async (version, requirements, context) => {
      try {
        // The scheme silently switches to the server's first mode when the wanted one is not
        // offered; a switch to client-settled would reveal the payer's EOA, so refuse instead.
        const offered = (requirements.extra as { settlement?: unknown } | undefined)?.settlement;
        if (!o.allowModeFallback && Array.isArray(offered) && !offered.includes(wanted)) {
          throw new ZkPayError(
            "unsupported_scheme",
            `the server accepts only ${offered.join("/")}-settled payments, not ${wanted}-settled` +
              (wanted === "server"
                ? " (paying anyway reveals your EOA as the submitter: choose client mode explicitly)"
                : ""),
            { offered },
          );
        }
        // What the payment costs, before anything is proven: refused here if it breaks
        // --max (amount + fee) or the fee limit, else told to the caller (the CLI prints a fee).
        const x = ZkRequirementExtraSchema.safeParse(requirements.extra);
        if (x.success) {
          const m: SettlementMode = x.data.settlement.includes(wanted) ? wanted : x.data.settlement[0]!;
          const terms = m === "client" && relay ? await relay.terms(o.wallet.pool.chainId) : undefined;
          const quote: PaymentQuote = {
            mode: m,
            amount: BigInt(requirements.amount),
            fee: m === "server" ? BigInt(x.data.fee) : (terms?.fee ?? 0n),
            relayer: m === "server" ? getAddress(x.data.relayer) : (terms?.relayer ?? zeroAddress),
            scheme: requirements.scheme,
            payTo: requirements.scheme === ZK_SHIELDED_SCHEME ? requirements.payTo : getAddress(requirements.payTo),
          };
          checkPaymentCost(quote, { maxAmount: o.maxAmount, maxFee: o.maxFee }, o.token);
          mode = m;
          o.onQuote?.(quote);
        }
        // `context` carries the 402's extensions (a zk-attribute rule among them, whose
        // pseudonym scope must be this URL's origin).
        const declared = context?.extensions?.[ZK_ATTRIBUTE_EXTENSION];
        if (declared !== undefined) {
          checkAttributeRequirement(parseAttributeRequirement(declared), { origin: new URL(url).origin });
        }
        return await inner.createPaymentPayload(version, requirements, context);
      } catch (err) {
        creationError = err;
        throw err;
      }
    },
  });
  const client = new x402Client()
    .register("eip155:*", schemeNamed(new ZkExactClientScheme(options)))
    .register("eip155:*", schemeNamed(new ZkShieldedClientScheme(options)));
  // The scheme enforces maxAmount itself; x402's default spend controls only know public USDC.
  client.setSpendControls(false);
  const paidFetch = wrapFetchWithPayment(rec.fetch, client);

  let res: Response;
  try {
    res = await untilAborted(paidFetch(url, o.init), signal);
  } catch (err) {
    const aborted = signal?.aborted === true;
    // After a timeout or a signal nothing new may leave: the outcome below stays true.
    if (aborted) o.transactions?.stop();
    const m = rec.marks;
    // Client-settled: the payment's transaction, if the scheme submitted one.
    const tx =
      mode === "client" && prepared && preparedAt !== undefined
        ? o.transactions
            ?.sent()
            .filter((t) => t.at >= preparedAt!)
            .at(-1)?.hash
        : undefined;
    const paidInFlight =
      m.payload !== undefined &&
      (m.paidMaybeDelivered === true || (m.paidSent !== undefined && m.paidDone === undefined && !m.paidNotDelivered));
    // A submitted transaction that reverted is final: not paid (the scheme freed the note).
    if (!aborted && tx && isZkPayError(creationError, "settlement_failed")) throw creationError;
    const maybeSent =
      prepared !== undefined &&
      (tx !== undefined ||
        relayPosted ||
        paidInFlight ||
        // Client-settled without a view of the transport: the submission may have gone out.
        (mode === "client" && aborted && !o.transactions && !relay));
    if (maybeSent && prepared) {
      // The payment left this machine: it may settle, or have settled. Never report that
      // as "nothing happened"; the note stays reserved (the wallet's pending entry) until
      // the payment's expiry or until its receipt appears on chain.
      const interrupted = aborted && o.signal?.aborted ? o.signal.reason : undefined;
      const why = aborted
        ? interrupted !== undefined
          ? "interrupted"
          : `timed out after ${Math.round((performance.now() - startedAt) / 1000)} s (--timeout)`
        : err instanceof Error
          ? err.message
          : String(err);
      const onChain = await minedReceipt(o.wallet, prepared);
      const what =
        mode === "client"
          ? tx
            ? `payment submitted (tx ${tx})`
            : relay
              ? "payment sent to the relay"
              : "payment proved and being submitted"
          : "payment sent";
      throw new ZkPayError(
        "payment_unconfirmed",
        onChain
          ? `${what} and mined in block ${onChain.block} (${onChain.confirmations} confirmation(s)), but the server's answer was not received (${why}): it is paid, do not pay again`
          : `${what}, but no response came back (${why}); it may still settle`,
        {
          receiptId: prepared.receiptId,
          transaction: tx ?? onChain?.transaction,
          minedAtBlock: onChain?.block,
          expiry: Number(prepared.terms.expiry),
          amount: prepared.terms.amount.toString(),
          fee: prepared.terms.fee.toString(),
          payTo: prepared.terms.payTo,
          conditionHash: prepared.terms.conditionHash,
          mode: mode ?? (m.payload?.payload as { settlement?: SettlementMode } | undefined)?.settlement,
          interrupted,
        },
        { cause: err },
      );
    }
    if (aborted) {
      // Nothing left this machine (and nothing can now): free a note proved for nothing.
      if (prepared) await o.wallet.releasePayment(prepared).catch(() => {});
      if (o.signal?.aborted) throw o.signal.reason;
      const stage =
        m.challengeDone === undefined ? "waiting for the server's 402" : prepared ? "submitting" : "proving";
      throw new PayTimeoutError(
        `${url}: timed out after ${Math.round((performance.now() - startedAt) / 1000)} s (--timeout, ${stage}); nothing was paid`,
        { cause: err },
      );
    }
    if (creationError !== undefined) throw creationError;
    const msg = err instanceof Error ? err.message : String(err);
    const ch = rec.marks.challenge;
    if (/^Failed to parse payment requirements/.test(msg) && ch) {
      throw ch.header
        ? new ZkPayError(
            "malformed_header",
            `the server's 402 carries a PAYMENT-REQUIRED header that is not valid x402 v2: ${msg}`,
            {},
            { cause: err },
          )
        : new ZkPayError(
            "not_x402",
            `the server answered HTTP 402 but not with an x402 v2 payment request (no PAYMENT-REQUIRED header)`,
            {},
            { cause: err },
          );
    }
    if (ch && !ch.header && ch.bodyVersion !== undefined && ch.bodyVersion !== 2) {
      throw new ZkPayError(
        "not_x402",
        `the server asks for an x402 version ${String(ch.bodyVersion)} payment; this wallet speaks x402 v2 (zk-exact)`,
        { x402Version: ch.bodyVersion },
        { cause: err },
      );
    }
    if (/^Failed to create payment payload|^Failed to parse payment requirements/.test(msg)) {
      throw new ZkPayError(
        "unsupported_scheme",
        `the server asks for no payment this wallet can make (${ZK_SCHEME}, ${ZK_SHIELDED_SCHEME}): ${msg}`,
        {},
        { cause: err },
      );
    }
    throw err;
  }
  const body = await res.text();
  const end = performance.now();
  const m = rec.marks;
  const payload = m.payload;
  const paid = payload !== undefined;
  const zkPayload = payload?.payload as { settlement?: SettlementMode; receiptId?: Hex; transaction?: Hex } | undefined;
  let settleResponse: SettleResponse | undefined;
  const resHeader = res.headers.get("PAYMENT-RESPONSE");
  if (resHeader) {
    try {
      settleResponse = decodePaymentResponseHeader(resHeader);
    } catch {
      settleResponse = undefined;
    }
  }
  let refusedReason: string | undefined;
  if (paid && res.status === 402) {
    const reqHeader = res.headers.get("PAYMENT-REQUIRED");
    try {
      refusedReason = reqHeader ? decodePaymentRequiredHeader(reqHeader).error : undefined;
    } catch {
      refusedReason = undefined;
    }
    refusedReason ??= settleResponse?.errorReason ?? "payment_refused";
  }
  const extra = (settleResponse?.extra ?? {}) as { receiptId?: Hex };
  mode = zkPayload?.settlement;
  const t = prepared?.timings;
  const challengeMs = (m.challengeDone ?? end) - m.start;
  return {
    url,
    status: res.status,
    body,
    contentType: res.headers.get("content-type"),
    paid,
    settled: settleResponse?.success === true,
    mode,
    refusedReason,
    receiptId: extra.receiptId ?? zkPayload?.receiptId ?? prepared?.receiptId,
    transaction: (settleResponse?.transaction || zkPayload?.transaction || undefined) as Hex | undefined,
    settleResponse,
    prepared,
    timings: {
      totalMs: end - m.start,
      challengeMs,
      syncMs: t?.syncMs ?? 0,
      witnessMs: t?.witnessMs ?? 0,
      proveMs: t?.proveMs ?? 0,
      submitMs: mode === "client" && preparedAt !== undefined && m.paidSent !== undefined ? m.paidSent - preparedAt : 0,
      serverMs: m.paidSent !== undefined && m.paidDone !== undefined ? m.paidDone - m.paidSent : 0,
    },
  };
}

/** `pay --timeout` ran out before anything was paid (a network-class error: exit 3). */
export class PayTimeoutError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TimeoutError";
  }
}

/** `p`, or the signal's reason as soon as it aborts (`p` goes on, its outcome ignored). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/**
 * Whether `p`'s receipt is on chain (with its block, confirmations and transaction), read
 * in at most 3 s; undefined when it is not, or when the chain could not say in time.
 */
async function minedReceipt(
  wallet: PrivateWallet,
  p: PreparedPayment,
): Promise<{ block: number; confirmations: number; transaction?: Hex } | undefined> {
  const checker = new ReceiptChecker({ publicClient: wallet.publicClient, facilitator: wallet.pool.facilitator });
  const look = (async () => {
    // A shielded payment's receipt binds its payee note and payee memo, not a payee and an amount.
    const r = await checker.check(
      isShieldedTerms(p.terms)
        ? {
            id: p.receiptId,
            payeeCommitment: p.proof.payeeCommitment,
            conditionHash: p.terms.conditionHash,
            payeeMemo: p.payeeMemo,
            minConfirmations: 1,
          }
        : {
            id: p.receiptId,
            payTo: p.terms.payTo,
            amount: p.terms.amount,
            conditionHash: p.terms.conditionHash,
            minConfirmations: 1,
          },
    );
    if (r.state !== "paid") return undefined;
    const transaction = await checker.transactionOf(p.receiptId, r.paidAtBlock).catch(() => undefined);
    return { block: r.paidAtBlock, confirmations: r.confirmations, transaction };
  })().catch(() => undefined);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), 3_000)));
  try {
    return await Promise.race([look, late]);
  } finally {
    clearTimeout(timer);
  }
}
