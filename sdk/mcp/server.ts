/**
 * `createPayerMcpServer`: an MCP server whose tools let an agent pay 402zk APIs from the
 * CLI's wallet (`fetch_paid`, `balance`, `credentials`, `deposit`), within spend limits
 * fixed when it starts. It reuses the CLI's engines: `payWithZk` (cli/pay.ts), the
 * `SessionClient` that `pay --session` uses, `balanceReport`, `credentialsReport` and
 * `depositFromEoa` (cli/commands/). Keys stay in the CLI's configuration: no tool takes or
 * returns a seed, a private key, a spending or a viewing key.
 */
import path from "node:path";

import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";

import type { PrivateWallet } from "../client/wallet.js";
import { isZkPayError, ZkPayError } from "../core/errors.js";
import { isShieldedTerms } from "../core/wire.js";
import { attributeArtifacts, presentationArtifacts } from "../node/artifacts.js";
import { FileAttributeCredentialStore } from "../node/identity-store.js";
import { FileSessionStore } from "../node/session-store.js";
import { SessionClient } from "../session/client.js";
import { formatAmount, parseAmount } from "../cli/amount.js";
import { balanceReport } from "../cli/commands/balance.js";
import { credentialsReport } from "../cli/commands/credentials.js";
import { depositFromEoa } from "../cli/commands/deposit.js";
import type { CliContext } from "../cli/context.js";
import { classify } from "../cli/errors.js";
import { inTokens } from "../cli/output.js";
import { payWithZk, type PaymentQuote } from "../cli/pay.js";
import { progressBar } from "../cli/progress.js";
import { requestInit } from "../cli/request.js";
import { sessionStoreFile } from "../cli/sessions.js";
import { DailySpend, SPEND_FILE, utcDay } from "./spend.js";

/** Characters of a response body `fetch_paid` returns by default; the rest is cut (`bodyTruncated`). */
export const DEFAULT_MAX_BODY_CHARS = 65_536;

/** HTTP methods `fetch_paid` sends. */
export const FETCH_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] as const;

/** What the agent may spend, in base units of the pool's token: fixed when the server starts. */
export interface SpendLimits {
  /** The most one payment may cost, price + relayer fee together. */
  maxPerCall: bigint;
  /** The most the payments of one UTC day may cost together (kept across restarts). */
  maxPerDay: bigint;
}

/** Options of {@link createPayerMcpServer}. */
export interface PayerMcpOptions {
  /**
   * A fresh CLI context (network, RPC, wallet folder, EOA from the environment) for one tool
   * call; its wallet lock is released when the call ends, so `402zk` commands can use the
   * same wallet between calls.
   */
  context: () => CliContext;
  /** Spend limits (base units). The tools can read them, never change them. */
  limits: SpendLimits;
  /** Deposits: off unless `allowed`; `max` caps one deposit (base units). */
  deposit?: { allowed: boolean; max?: bigint };
  /** Gives up one paid exchange (402, proving, settling, paid request) after this many ms. Default 120 000. */
  timeoutMs?: number;
  /** Characters of a body returned by `fetch_paid`. Default {@link DEFAULT_MAX_BODY_CHARS}. */
  maxBodyChars?: number;
  /** The clock of the day's spend (tests). */
  now?: () => Date;
}

/** A tool's JSON answer. */
const ok = (value: unknown): CallToolResult => ({
  content: [{ type: "text", text: JSON.stringify(value, null, 2) }],
});

/** A tool error the model reads (`isError`), never a crash of the server. */
const toolError = (reason: string, message: string): CallToolResult => ({
  content: [{ type: "text", text: `${reason}: ${message}` }],
  isError: true,
});

/** A payment refused by a limit of the server, before anything was proven or sent. */
class LimitError extends Error {
  readonly reason = "spend_limit";
}

/**
 * Builds the MCP server of `402zk mcp` (connect it to a transport: stdio in the CLI).
 * Tool calls run one at a time (they share the wallet folder).
 *
 * @example
 * const server = createPayerMcpServer({ context: () => createContext(opts), limits: { maxPerCall: 50_000n, maxPerDay: 1_000_000n } });
 * await server.connect(new StdioServerTransport());
 */
export function createPayerMcpServer(o: PayerMcpOptions): McpServer {
  const server = new McpServer({ name: "402zk", version: "0.1.0" });
  const now = o.now ?? (() => new Date());
  const maxBody = o.maxBodyChars ?? DEFAULT_MAX_BODY_CHARS;
  const timeoutMs = o.timeoutMs ?? 120_000;

  // One tool call at a time: they share the wallet folder and the day's spend.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(f: () => Promise<T>): Promise<T> => {
    const run = queue.then(f, f);
    queue = run.catch(() => undefined);
    return run;
  };

  /** Runs `f` with a fresh context, turning any error into a tool error; releases the wallet after. */
  const withContext = (f: (ctx: CliContext) => Promise<CallToolResult>): Promise<CallToolResult> =>
    serial(async () => {
      let ctx: CliContext | undefined;
      let opened: Promise<PrivateWallet> | undefined;
      try {
        const base = o.context();
        ctx = { ...base, openWallet: () => (opened ??= base.openWallet()) };
        return await f(ctx);
      } catch (err) {
        if (err instanceof LimitError) return toolError(err.reason, err.message);
        const c = classify(err);
        const message = ctx && isZkPayError(err) ? inTokens(err, ctx) : c.message;
        return toolError(c.reason, message);
      } finally {
        await opened?.then((w) => w.close()).catch(() => {});
        ctx?.releaseWallet();
      }
    });

  const limitsIn = (ctx: CliContext, spent: bigint) => {
    const t = (v: bigint) => `${formatAmount(v, ctx.decimals)} ${ctx.symbol}`;
    return {
      maxPerCall: t(o.limits.maxPerCall),
      maxPerDay: t(o.limits.maxPerDay),
      spentToday: t(spent),
      leftToday: t(spent >= o.limits.maxPerDay ? 0n : o.limits.maxPerDay - spent),
      day: utcDay(now()),
    };
  };
  const ledgerOf = (ctx: CliContext) => new DailySpend(path.join(ctx.walletDir, SPEND_FILE));
  /** The limits and today's spend, or why the spend is unknown (the balance is still worth showing). */
  const spentTodayOr = (ctx: CliContext) => {
    try {
      return limitsIn(ctx, ledgerOf(ctx).spentOn(utcDay(now())));
    } catch (err) {
      return { error: (err as Error).message };
    }
  };

  server.registerTool(
    "fetch_paid",
    {
      title: "Fetch a URL, paying its HTTP 402 privately",
      description:
        "Requests an http(s) URL. If it answers HTTP 402 with a 402zk offer (zk-exact or zk-shielded), pays it " +
        "from the private 402zk wallet and returns the paid response; if the wallet holds a session credential " +
        "for that API, presents it instead (no new payment). Returns the status, content type and body (text, " +
        `cut at ${maxBody} characters: bodyTruncated says so), and what was paid (amount, fee, token, scheme, ` +
        "receipt id, transaction). A URL that asks no payment is returned as is. Payments above the server's " +
        "per-call limit, or above what is left of its per-day limit, are refused before anything is paid; " +
        "the limits are set by the user when the server starts and cannot be changed here.",
      inputSchema: {
        url: z.string().describe("the http:// or https:// URL to fetch"),
        method: z.enum(FETCH_METHODS).optional().describe("HTTP method, default GET; the paid retry repeats it"),
        headers: z
          .record(z.string(), z.string())
          .optional()
          .describe('request headers, e.g. {"content-type": "application/json"}; the paid retry repeats them'),
        body: z
          .string()
          .optional()
          .describe(
            "request body (not with GET or HEAD); without a content-type header it is sent as application/json if it parses as JSON, else text/plain",
          ),
      },
    },
    async ({ url, method, headers, body }) => {
      // Bad input is refused before any context, wallet or network.
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        return toolError("invalid_argument", `not a URL: ${JSON.stringify(url)}`);
      }
      if (parsed.protocol !== "http:" && parsed.protocol !== "https:")
        return toolError("invalid_argument", `only http:// and https:// URLs are fetched, not ${parsed.protocol}`);
      let init: RequestInit;
      try {
        init = requestInit({
          request: method ?? (body !== undefined ? "POST" : "GET"),
          header: Object.entries(headers ?? {}).map(([k, v]) => `${k}: ${v}`),
        });
      } catch (err) {
        return toolError("invalid_argument", (err as Error).message);
      }
      if (body !== undefined) {
        if (init.method === "GET" || init.method === "HEAD")
          return toolError("invalid_argument", `a ${init.method} request has no body`);
        const h = new Headers(init.headers);
        if (!h.has("content-type"))
          h.set("content-type", isJson(body) ? "application/json" : "text/plain; charset=utf-8");
        init = { ...init, headers: h, body };
      }
      return withContext((ctx) => fetchPaid(ctx, parsed.href, init));
    },
  );

  async function fetchPaid(ctx: CliContext, url: string, init: RequestInit): Promise<CallToolResult> {
    const d = ctx.decimals;
    const t = (v: bigint) => formatAmount(v, d);
    const wallet = await ctx.openWallet(); // the wallet folder's lock: the day's spend is ours until the call ends
    const ledger = ledgerOf(ctx);
    const day = utcDay(now());
    const spent = ledger.spentOn(day);
    const answer = async (res: { status: number; contentType: string | null; body: string }, payment: unknown) => {
      const total = ledger.spentOn(day);
      return ok({
        status: res.status,
        contentType: res.contentType,
        body: res.body.length > maxBody ? res.body.slice(0, maxBody) : res.body,
        bodyChars: res.body.length,
        bodyTruncated: res.body.length > maxBody,
        payment,
        limits: limitsIn(ctx, total),
      });
    };

    // A session credential this wallet holds for the API: present it (nothing new is paid).
    const origin = new URL(url).origin;
    const held = (await credentialsReport(ctx.walletDir)).credentials.filter(
      (c) => c.origin === origin && !c.expired && c.remaining > 0,
    );
    if (held.length > 0) {
      const bar = progressBar({ label: "proving presentation" });
      try {
        const client = await SessionClient.open({
          wallet,
          artifacts: presentationArtifacts(),
          store: new FileSessionStore(sessionStoreFile(ctx.walletDir)),
          settlement: ctx.opts.mode,
          // Present only: buying a credential and per-request payments go through the limits below.
          buy: "never",
          payPerRequest: false,
          prepareAhead: false,
          onProgress: bar.update,
          fetch: (input, i) => fetch(input, { ...i, signal: AbortSignal.timeout(timeoutMs) }),
        });
        const res = await client.fetch(url, init);
        if (res.status !== 402) {
          // "paid" is SessionClient's word for a request that went out without a presentation (free here).
          const presented = client.lastRequest !== undefined && client.lastRequest.mode !== "paid";
          return await answer(
            { status: res.status, contentType: res.headers.get("content-type"), body: await res.text() },
            presented ? { paid: false, via: "session", presentationsLeft: client.remaining(origin) } : { paid: false },
          );
        }
        // Refused presentation: pay the request itself, within the limits.
      } catch (err) {
        if (!isZkPayError(err, "no_credential")) throw err;
        // No credential serves this route: pay the request itself, within the limits.
      } finally {
        bar.end();
      }
    }

    // One cap for the scheme: the per-call limit or what is left of the day, whichever is lower.
    const left = spent >= o.limits.maxPerDay ? 0n : o.limits.maxPerDay - spent;
    const cap = left < o.limits.maxPerCall ? left : o.limits.maxPerCall;
    const bar = progressBar({ label: "proving" });
    let quote: PaymentQuote | undefined;
    let r;
    try {
      r = await payWithZk(url, {
        wallet,
        settlement: ctx.opts.mode,
        maxAmount: cap,
        token: { decimals: d, symbol: ctx.symbol },
        init,
        onProgress: bar.update,
        onQuote: (q) => (quote = q),
        timeoutMs,
        transactions: { sent: ctx.sentTransactions, stop: ctx.stopSending },
        // Verify & Pay: the identity credentials stored beside the wallet (`402zk identity add`);
        // the holder key never passes through the model, like the spending key.
        identity: { credentials: new FileAttributeCredentialStore(ctx.walletDir), artifacts: attributeArtifacts() },
      });
    } catch (err) {
      if (isZkPayError(err, "spend_cap_exceeded") || isZkPayError(err, "fee_too_high")) {
        const x = err.details as { amount?: string; fee?: string };
        const asked = BigInt(x.amount ?? "0") + BigInt(x.fee ?? "0");
        const what = `${url} asks ${t(asked)} ${ctx.symbol} (price ${t(BigInt(x.amount ?? "0"))} + fee ${t(BigInt(x.fee ?? "0"))})`;
        if (asked > o.limits.maxPerCall)
          throw new LimitError(
            `${what}, above the per-call limit of ${t(o.limits.maxPerCall)} ${ctx.symbol} (--max-per-call): nothing was paid`,
          );
        if (asked > left)
          throw new LimitError(
            `${what}, but only ${t(left)} ${ctx.symbol} is left of the per-day limit of ${t(o.limits.maxPerDay)} ${ctx.symbol} ` +
              `(--max-per-day; ${t(spent)} spent on ${day} UTC): nothing was paid`,
          );
      }
      if (isZkPayError(err, "payment_unconfirmed")) {
        // It left and may settle: counted, so that the day's limit holds whatever happens to it.
        const x = err.details as { amount?: string; fee?: string; receiptId?: string; transaction?: string };
        const cost = quote ? quote.amount + quote.fee : BigInt(x.amount ?? "0") + BigInt(x.fee ?? "0");
        ledger.add(day, cost);
        throw new ZkPayError(
          "payment_unconfirmed",
          `${err.message}; receipt ${x.receiptId ?? "?"}${x.transaction ? `, tx ${x.transaction}` : ""}; ` +
            `counted as ${t(cost)} ${ctx.symbol} of today's spend. Do not pay again before checking it: 402zk receipt ${x.receiptId ?? ""}`,
          err.details,
          { cause: err },
        );
      }
      throw err;
    } finally {
      bar.end();
    }
    if (!r.paid) return answer(r, { paid: false });
    const terms = r.prepared?.terms;
    const shielded = terms !== undefined && isShieldedTerms(terms);
    const amount = quote?.amount ?? (shielded ? r.prepared?.payee.value : terms?.amount) ?? 0n;
    const fee = quote?.fee ?? terms?.fee ?? 0n;
    const accepted = r.status !== 402;
    // A payment the server accepted counts, and so does a client-settled one whose own `pay`
    // transaction was mined before the server refused it (the money left whatever the server
    // says); a refused server-settled one was never submitted: its note stays ours.
    const spentOnChain = r.mode === "client" && r.transaction !== undefined;
    if (accepted || spentOnChain) ledger.add(day, amount + fee);
    const payment = {
      paid: accepted,
      ...(spentOnChain && !accepted ? { spentOnChain: true } : {}),
      via: shielded ? "zk-shielded" : "zk-exact",
      amount: t(amount),
      fee: t(fee),
      total: t(amount + fee),
      token: ctx.symbol,
      payTo: quote?.payTo ?? terms?.payTo,
      mode: r.mode,
      settled: r.settled,
      receiptId: r.receiptId,
      transaction: r.transaction,
      refusedReason: r.refusedReason,
    };
    const result = await answer(r, payment);
    return accepted ? result : { ...result, isError: true };
  }

  server.registerTool(
    "balance",
    {
      title: "Private wallet balance",
      description:
        "Syncs the private 402zk wallet with the chain and returns its balance in token units: spendable (what " +
        "payments can use now), pending (change and queued notes, spendable after the next sync), reserved " +
        "(held by payments in flight), received (shielded payments to this wallet), the funding account's public " +
        "balance, and the spend limits with what is left today.",
      inputSchema: {},
    },
    () =>
      withContext(async (ctx) => {
        const wallet = await ctx.openWallet();
        await wallet.sync();
        const r = await balanceReport(ctx, wallet);
        const t = (v: string | undefined) => (v === undefined ? undefined : formatAmount(BigInt(v), ctx.decimals));
        return ok({
          token: ctx.symbol,
          network: ctx.network,
          private: t(r.private),
          spendable: t(r.spendable),
          pending: t(r.pendingValue),
          reserved: t(r.reserved),
          received: t(r.received.total),
          receivedPayments: r.received.payments,
          notes: r.notes,
          public: t(r.public),
          limits: spentTodayOr(ctx),
        });
      }),
  );

  server.registerTool(
    "credentials",
    {
      title: "Session credentials held",
      description:
        "Lists the session credentials the wallet holds (origin, offer, tier, expiry, presentations left) and " +
        "purchases not yet issued. fetch_paid presents a credential automatically when one serves the URL.",
      inputSchema: {},
    },
    () =>
      withContext(async (ctx) => {
        const r = await credentialsReport(ctx.walletDir);
        return ok({ credentials: r.credentials, pending: r.pending });
      }),
  );

  server.registerTool(
    "deposit",
    {
      title: "Deposit into the private wallet",
      description:
        "Moves tokens from the configured funding account (public) into a new private note of the wallet. " +
        (o.deposit?.allowed
          ? `Enabled${o.deposit.max !== undefined ? ", up to a per-deposit limit set when the server started" : ""}.`
          : "Disabled on this server (start it with --allow-deposit to enable it).") +
        " Deposits are public on chain (depositor, amount).",
      inputSchema: {
        amount: z.string().describe('amount in token units, e.g. "0.5" or "2"'),
      },
    },
    ({ amount }) =>
      withContext(async (ctx) => {
        if (!o.deposit?.allowed)
          return toolError(
            "deposit_disabled",
            "deposits are disabled on this MCP server; the user can start it with --allow-deposit",
          );
        const value = parseAmount(amount, ctx.decimals, "amount");
        if (value === 0n) return toolError("invalid_argument", "amount must be positive");
        if (o.deposit.max !== undefined && value > o.deposit.max)
          throw new LimitError(
            `a deposit of ${formatAmount(value, ctx.decimals)} ${ctx.symbol} is above the limit of ${formatAmount(o.deposit.max, ctx.decimals)} ${ctx.symbol} per deposit (--max-deposit): nothing was deposited`,
          );
        const { result, wallet } = await depositFromEoa(ctx, value, "approve");
        return ok({
          deposited: formatAmount(value, ctx.decimals),
          token: ctx.symbol,
          transaction: result.hash,
          note: result.leafIndex,
          privateBalance: result.synced ? formatAmount(wallet.balance(), ctx.decimals) : undefined,
          warning: result.synced
            ? undefined
            : `${result.warning?.reason ?? "sync_failed"}: the deposit is on chain, do not repeat it`,
        });
      }),
  );

  return server;
}

function isJson(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}
