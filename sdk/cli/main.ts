/**
 * `402zk`: a command-line private wallet and example paid API for 402zk.
 *
 *   402zk --network localhost deposit 2
 *   402zk balance
 *   402zk pay http://127.0.0.1:4021/weather
 *   402zk withdraw 0.5 --to 0x...
 *   402zk receipt <id> --pay-to 0x... --amount 0.01 --condition 0x...
 *   402zk serve --port 4021 --price 0.01
 *
 * Run `402zk --help` for the options and the exit codes.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

import { Command, CommanderError, Option } from "commander";
import { isHex, zeroAddress, type Address, type Hex } from "viem";

import { erc20Abi, facilitatorAbi } from "../core/abi.js";
import { parseUserAddress } from "../core/address.js";
import { caip2 } from "../core/deployment.js";
import { ZkPayError, isZkPayError } from "../core/errors.js";
import { shutdownProver } from "../core/prover.js";
import type { DepositMethod } from "../client/wallet.js";
import { ReceiptChecker, defaultConfirmations } from "../core/receipts.js";
import type { SessionOfferConfig } from "../session/service.js";
import { formatAmount, parseAmount } from "./amount.js";
import {
  createContext,
  defaultWalletDir,
  loadAccount,
  loadOrCreateSecret,
  type CliContext,
  type GlobalOptions,
} from "./context.js";
import { CliError, EXIT, EXIT_CODES_HELP, classify } from "./errors.js";
import { registerFacilitatorCommand } from "./facilitator.js";
import { RelayClient } from "../client/relay.js";
import { startPaidApi } from "./paid-api.js";
import { payWithZk } from "./pay.js";
import { paySession, registerCredentialsCommand } from "./sessions.js";
import { progressBar } from "./progress.js";

const out = (s = "") => process.stdout.write(`${s}\n`);
const info = (s = "") => process.stderr.write(`${s}\n`);
const ms = (x: number) => `${Math.round(x)} ms`;
/** Unix seconds -> "HH:MM:SS UTC" (today) or an ISO date-time. */
const clock = (unix: number) => {
  const iso = new Date(unix * 1000).toISOString();
  return iso.slice(0, 10) === new Date().toISOString().slice(0, 10) ? `${iso.slice(11, 19)} UTC` : iso;
};

function packageVersion(): string {
  try {
    return (createRequire(import.meta.url)("../../package.json") as { version: string }).version;
  } catch {
    return "unknown";
  }
}

const address = (value: string, what: string): Address => parseUserAddress(value, what);

function bytes32(value: string, what: string): Hex {
  if (!isHex(value) || value.length !== 66)
    throw new ZkPayError("invalid_argument", `${what} must be 32 bytes of hex (0x + 64 digits)`);
  return value.toLowerCase() as Hex;
}

function positiveInt(value: string, what: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new ZkPayError("invalid_argument", `${what} must be a non-negative integer`);
  return n;
}

/**
 * `--confirmations`, or the chain's default (`defaultConfirmations`: 2 on Base Sepolia and
 * Base), the one the SDK's servers use: a flag default of 1 made `serve` on a public chain
 * accept client-settled receipts one block deep, fewer than the SDK and the docs.
 */
function confirmationsOf(value: string | undefined, chainId: number): number {
  if (value === undefined) return defaultConfirmations(chainId).minConfirmations;
  return Math.max(1, positiveInt(value, "--confirmations"));
}

/** Flags of `pay`. */
interface PayFlags {
  max: string;
  maxFee?: string;
  timeout: string;
  json?: boolean;
  relay?: string;
  session?: boolean;
  offer?: string;
  request?: string;
  data?: string;
  header: string[];
}

/**
 * The request `pay` sends, from curl's flags: `-X` method, `-d` body (`@file` reads a
 * file; implies POST and, without a Content-Type, `application/x-www-form-urlencoded`,
 * as curl does), `-H "Name: value"` headers. The paid retry repeats all of it.
 */
export function requestInit(o: { request?: string; data?: string; header?: string[] }): RequestInit {
  const headers = new Headers();
  for (const h of o.header ?? []) {
    const i = h.indexOf(":");
    const name = i > 0 ? h.slice(0, i).trim() : "";
    if (!name) throw new ZkPayError("invalid_argument", `-H "${h}" is not "Name: value"`);
    // The payment headers are the CLI's to write: a stale one would be sent as this payment.
    if (/^(payment-signature|x-payment)$/i.test(name))
      throw new ZkPayError("invalid_argument", `-H ${name}: the payment header is written by 402zk`);
    try {
      headers.append(name, h.slice(i + 1).trim());
    } catch {
      throw new ZkPayError("invalid_argument", `-H "${h}" is not a valid HTTP header`);
    }
  }
  let body: Uint8Array<ArrayBuffer> | string | undefined;
  if (o.data !== undefined) {
    if (o.data.startsWith("@")) {
      try {
        body = new Uint8Array(readFileSync(o.data.slice(1)));
      } catch (err) {
        throw new ZkPayError(
          "invalid_argument",
          `-d ${o.data}: cannot read ${o.data.slice(1)} (${(err as Error).message})`,
        );
      }
    } else body = o.data;
  }
  const method = (o.request ?? (body !== undefined ? "POST" : "GET")).toUpperCase();
  if (!/^[A-Z]+$/.test(method)) throw new ZkPayError("invalid_argument", `-X ${o.request}: not an HTTP method`);
  if (body !== undefined && (method === "GET" || method === "HEAD"))
    throw new ZkPayError("invalid_argument", `-d with -X ${method}: a ${method} request has no body`);
  if (body !== undefined && !headers.has("content-type"))
    headers.set("content-type", "application/x-www-form-urlencoded");
  return { method, headers, ...(body !== undefined ? { body } : {}) };
}

/** Exit code of a process ended by `signal` (128 + its number), as a shell reports it. */
const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

/**
 * Turns SIGINT/SIGTERM into an abort of `signal` while a payment is under way, so that
 * what was sent is printed before the process ends; a second signal ends it at once.
 */
function abortOnSignals(): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  const on = (sig: NodeJS.Signals) => {
    if (ac.signal.aborted) process.exit(SIGNAL_EXIT[sig] ?? 130);
    ac.abort(
      new CliError(
        SIGNAL_EXIT[sig] ?? 130,
        "interrupted",
        `interrupted (${sig}) before any payment left: nothing was paid`,
      ),
    );
  };
  process.on("SIGINT", on);
  process.on("SIGTERM", on);
  return {
    signal: ac.signal,
    dispose: () => {
      process.off("SIGINT", on);
      process.off("SIGTERM", on);
    },
  };
}

/**
 * A `serve --session-offer` spec, "id:requests:price:hours" (price in tokens), as a tier-1
 * offer: "basic:10:0.05:1" sells 10 requests within one hour for 0.05.
 */
export function sessionOffer(spec: string, decimals: number): SessionOfferConfig {
  const [id, requests, price, hours, ...rest] = spec.split(":");
  const bad = (why: string) =>
    new ZkPayError(
      "invalid_argument",
      `--session-offer ${spec}: ${why} (expected id:requests:price:hours, e.g. basic:10:0.05:1)`,
    );
  if (rest.length > 0 || hours === undefined) throw bad("four fields");
  if (!/^[a-z0-9][a-z0-9-]{0,31}$/.test(id!)) throw bad("the id is a short lowercase slug");
  const n = Number(requests);
  if (!Number.isInteger(n) || n < 1) throw bad("requests is a positive integer");
  const h = Number(hours);
  if (!(Number.isFinite(h) && h > 0) || !Number.isInteger(h * 3600)) throw bad("hours is a positive number of hours");
  const value = parseAmount(price!, decimals, "price");
  if (value === 0n) throw bad("the price is positive");
  return { id: id!, tier: 1, durationSeconds: h * 3600, maxPresentations: n, price: value };
}

/** Collects a repeatable option's values. */
const collect = (v: string, prev: string[]) => [...prev, v];

/** Builds the commander program; `ctxOf` resolves the global options of a command. */
export function buildProgram(
  onServe: (close: () => Promise<void>) => Promise<void> = waitForSignal,
  contexts: CliContext[] = [],
): Command {
  const program = new Command("402zk");
  program
    .version(packageVersion(), "-V, --version")
    .description("Private x402 payments: a shielded-pool wallet (deposit, pay, withdraw) and an example paid API.")
    .option(
      "--network <name>",
      "network: any record <name>.json in the deployments directory (localhost, hardhat, base-sepolia, base, or your own)",
      process.env.ZK402_NETWORK ?? "localhost",
    )
    .option(
      "--rpc <url>",
      "JSON-RPC URL (default: http://127.0.0.1:8545 locally, $BASE_SEPOLIA_RPC_URL / $BASE_RPC_URL on Base)",
    )
    .option("--wallet <dir>", "wallet directory holding seed and notes.json (default: ~/.402zk/<network>)")
    .option(
      "--private-key <hex>",
      "EOA for gas and deposits (default: $ZK402_PRIVATE_KEY; prefer the env: argv is visible to other users)",
    )
    .addOption(
      new Option(
        "--mode <mode>",
        "settlement of payments: server (the API's relayer submits) or client (your EOA submits)",
      )
        .choices(["server", "client"])
        .default("server"),
    )
    .option("--log-chunk <blocks>", "blocks per eth_getLogs request while syncing (lower it for capped public RPCs)")
    .option(
      "--deployments <dir>",
      "directory of deployment records <network>.json (default: $ZK402_DEPLOYMENTS_DIR, else the package's deployments/)",
    )
    .option(
      "--lock-timeout <seconds>",
      "how long to wait for another 402zk command using the same wallet folder",
      process.env.ZK402_LOCK_TIMEOUT ?? "120",
    )
    .option("-v, --verbose", "print stack traces on errors")
    .addHelpText(
      "after",
      `
Environment:
  ZK402_SEED           wallet seed (0x + 64 hex digits); else <wallet>/seed, created with mode 0600
  ZK402_PRIVATE_KEY    EOA private key (same as --private-key)
  ZK402_NETWORK        default --network
  ZK402_DEPLOYMENTS_DIR  default --deployments
  ZK402_LOCK_TIMEOUT   default --lock-timeout (seconds)
  ZK402_CHALLENGE_SECRET  challenge HMAC key of "serve" (share it between instances)

${EXIT_CODES_HELP}`,
    )
    .showHelpAfterError("(run 402zk --help for usage)")
    .exitOverride();

  const ctxOf = (cmd: Command): CliContext => {
    const ctx = createContext(cmd.optsWithGlobals() as GlobalOptions);
    contexts.push(ctx);
    return ctx;
  };

  // ---------------------------------------------------------------- deposit
  program
    .command("deposit")
    .description("move tokens from your EOA into a new private note")
    .argument("<amount>", 'amount in tokens, e.g. "2" or "0.5"')
    .option(
      "--method <method>",
      "approve (approve + deposit, 2 txs), permit (EIP-2612, 1 tx) or authorization (EIP-3009, 1 tx)",
      "approve",
    )
    .action(async (amountText: string, o: { method: string }, cmd: Command) => {
      if (!["approve", "permit", "authorization"].includes(o.method)) {
        throw new ZkPayError("invalid_argument", `--method must be approve, permit or authorization, not ${o.method}`);
      }
      const ctx = ctxOf(cmd);
      const { account } = ctx.requireAccount("deposit");
      const value = parseAmount(amountText, ctx.decimals);
      if (value === 0n) throw new ZkPayError("invalid_argument", "amount must be positive");
      const publicBalance = await ctx.publicClient.readContract({
        address: ctx.deployment.token as Address,
        abi: erc20Abi,
        functionName: "balanceOf",
        args: [account.address],
      });
      if (publicBalance < value) {
        throw new CliError(
          EXIT.refused,
          "insufficient_public_balance",
          `${account.address} holds ${formatAmount(publicBalance, ctx.decimals)} ${ctx.symbol}, cannot deposit ${formatAmount(value, ctx.decimals)}`,
        );
      }
      const wallet = await ctx.openWallet();
      const t0 = performance.now();
      const r = await wallet.deposit(value, { method: o.method as DepositMethod });
      out(
        `deposited ${formatAmount(value, ctx.decimals)} ${ctx.symbol} from ${account.address} into private note #${r.leafIndex}`,
      );
      out(`tx ${ctx.tx(r.hash)} (${ms(performance.now() - t0)})`);
      if (r.synced) out(`private balance ${formatAmount(wallet.balance(), ctx.decimals)} ${ctx.symbol}`);
      else
        info(
          `warning: ${r.warning?.reason ?? "sync_failed"}: ${r.warning?.message ?? "sync failed"}; the deposit is on chain, do not repeat it: run 402zk balance (or 402zk resync) to see it`,
        );
      info("note: deposits are public (depositor, amount); what stays private is which later payment spends them.");
    });

  // ---------------------------------------------------------------- balance
  program
    .command("balance")
    .description("sync the wallet with the chain and show the private (and public) balance")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const wallet = await ctx.openWallet();
      await wallet.sync();
      const snap = wallet.snapshot();
      const unspent = snap.notes.filter((n) => !n.spent && BigInt(n.value) > 0n);
      const pendingValue = snap.pending.reduce(
        (s, p) => s + BigInt(snap.notes.find((n) => n.nullifierHash === p.nullifierHash)?.value ?? "0"),
        0n,
      );
      const publicBalance = ctx.account
        ? await ctx.publicClient.readContract({
            address: ctx.deployment.token as Address,
            abi: erc20Abi,
            functionName: "balanceOf",
            args: [ctx.account.address],
          })
        : undefined;
      const d = ctx.decimals;
      if (o.json) {
        out(
          JSON.stringify({
            network: ctx.network,
            pool: ctx.deployment.facilitator,
            token: ctx.deployment.token,
            decimals: d,
            private: wallet.balance().toString(),
            reserved: pendingValue.toString(),
            reservations: snap.pending.map((p) => ({
              receiptId: `0x${BigInt(p.nullifierHash).toString(16).padStart(64, "0")}`,
              value: snap.notes.find((n) => n.nullifierHash === p.nullifierHash)?.value ?? "0",
              until: p.expiry,
              untilIso: new Date(p.expiry * 1000).toISOString(),
            })),
            notes: unspent.length,
            // Notes the pool has appended but not yet committed to a tree: part of
            // `private`, spendable once a batch or a commit includes them.
            queued: wallet
              .queuedNotes()
              .reduce((s, n) => s + BigInt(n.value), 0n)
              .toString(),
            pending: snap.pending.length,
            treeSize: wallet.treeSize,
            syncedBlock: snap.syncedBlock,
            eoa: ctx.account?.address,
            public: publicBalance?.toString(),
          }),
        );
        return;
      }
      out(
        `private balance  ${formatAmount(wallet.balance(), d)} ${ctx.symbol}  (${unspent.length} unspent note${unspent.length === 1 ? "" : "s"})`,
      );
      const queued = wallet.queuedNotes();
      if (queued.length > 0) {
        const v = queued.reduce((s, n) => s + BigInt(n.value), 0n);
        out(
          `queued           ${formatAmount(v, d)} ${ctx.symbol}  (${queued.length} note(s) appended but not yet committed to the tree: spendable after the pool's next batch or commit)`,
        );
      }
      if (snap.pending.length > 0) {
        const until = Math.max(...snap.pending.map((p) => p.expiry));
        out(
          `reserved         ${formatAmount(pendingValue, d)} ${ctx.symbol}  (${snap.pending.length} payment(s) in flight, released at ${clock(until)} unless their receipt appears on chain first)`,
        );
      }
      if (ctx.account && publicBalance !== undefined) {
        out(`public balance   ${formatAmount(publicBalance, d)} ${ctx.symbol}  (EOA ${ctx.account.address})`);
      }
      out(
        `pool             ${ctx.deployment.facilitator} on ${ctx.network} (${caip2(ctx.deployment.chainId)}), ${wallet.treeSize} notes in the tree`,
      );
      out(`wallet           ${ctx.walletDir} (synced to block ${snap.syncedBlock})`);
    });

  // ---------------------------------------------------------------- resync
  program
    .command("resync")
    .description(
      "discard the cached tree and notes (notes.json) and rebuild them from the seed and the chain (after a chain reset or a reorg)",
    )
    .action(async (_o: unknown, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const wallet = await ctx.openWallet();
      const t0 = performance.now();
      await wallet.resync();
      const snap = wallet.snapshot();
      out(
        `resynced from block ${ctx.deployment.deploymentBlock} to ${snap.syncedBlock} (${ms(performance.now() - t0)}): ${wallet.treeSize} notes in the tree, ${snap.notes.filter((n) => !n.spent).length} unspent of yours`,
      );
      out(`private balance ${formatAmount(wallet.balance(), ctx.decimals)} ${ctx.symbol}`);
    });

  // ---------------------------------------------------------------- pay
  program
    .command("pay")
    .description(
      "fetch a URL (GET, or -X/-d/-H as curl), paying its HTTP 402 privately; prints the body on stdout, the payment on stderr",
    )
    .argument("<url>", "the paid resource")
    .option("-X, --request <method>", "HTTP method (default GET, POST with -d); the paid retry repeats it")
    .option("-d, --data <body>", "request body, @file to read a file (implies POST); the paid retry repeats it")
    .option(
      "-H, --header <header>",
      'request header "Name: value", repeatable; the paid retry repeats them',
      collect,
      [],
    )
    .option("--max <amount>", "refuse to pay more than this in all: amount + relayer fee", "1")
    .option("--max-fee <amount>", "largest relayer fee accepted (default: at most the price, and at most 0.1 token)")
    .option(
      "--timeout <seconds>",
      "give up the whole exchange (402, proving, submitting, confirmations, paid request) after this long",
      "60",
    )
    .option("--json", "print one JSON object (ok, exitCode, status, body, receipt, tx, timings) on stdout")
    .option("--relay <url>", "client-settled: a 402zk facilitator submits the payment for its fee, not your EOA")
    .option("--session", "use a session credential (<wallet>/sessions.json); on a 402, buy one within --max")
    .option("--offer <id>", "with --session: the credential offer to buy (default: the cheapest per request)")
    .action(async (url: string, o: PayFlags, cmd: Command) => {
      const ctx = ctxOf(cmd);
      try {
        new URL(url);
      } catch {
        throw new ZkPayError("invalid_argument", `not a URL: ${url}`);
      }
      const timeoutS = Number(o.timeout);
      if (!(Number.isFinite(timeoutS) && timeoutS > 0))
        throw new ZkPayError("invalid_argument", "--timeout must be a positive number of seconds");
      const mode = ctx.opts.mode;
      if (mode === "client" && !o.relay) {
        const { account } = ctx.requireAccount("client-settled mode");
        info(
          `note: client-settled mode submits the payment from your EOA ${account.address}, which reveals the submitter on chain; use --mode server (a relayer) to stay unlinkable.`,
        );
      }
      const maxAmount = parseAmount(o.max, ctx.decimals, "--max");
      const maxFee = o.maxFee === undefined ? undefined : parseAmount(o.maxFee, ctx.decimals, "--max-fee");
      const init = requestInit(o);
      if (o.session) return paySession(ctx, url, { ...o, maxAmount, timeoutMs: timeoutS * 1000, init });
      const wallet = await ctx.openWallet();
      const bar = progressBar({ label: "proving" });
      const d = ctx.decimals;
      const tokens = (v: bigint) => `${formatAmount(v, d)} ${ctx.symbol}`;
      // From here a payment may leave: a signal is reported with what was sent.
      const interrupt = abortOnSignals();
      let r;
      try {
        r = await payWithZk(url, {
          wallet,
          settlement: mode,
          maxAmount,
          maxFee,
          token: { decimals: d, symbol: ctx.symbol },
          init,
          onProgress: bar.update,
          // The fee leaves the same note as the price: say so before proving.
          onQuote: (q) => {
            if (q.fee > 0n)
              info(
                `paying ${tokens(q.amount)} to ${q.payTo} + relayer fee ${tokens(q.fee)} to ${q.relayer} = ${tokens(q.amount + q.fee)} (--max ${tokens(maxAmount)})`,
              );
          },
          timeoutMs: timeoutS * 1000,
          signal: interrupt.signal,
          transactions: { sent: ctx.sentTransactions, stop: ctx.stopSending },
          relay: o.relay,
        });
      } catch (err) {
        if (isZkPayError(err, "payment_unconfirmed")) {
          const x = err.details as {
            receiptId?: Hex;
            transaction?: Hex;
            minedAtBlock?: number;
            expiry?: number;
            interrupted?: unknown;
          };
          const code = x.interrupted instanceof CliError ? x.interrupted.exitCode : EXIT.network;
          // A relay that dropped the connection (RelayClient) names no receipt: say what is known.
          if (x.receiptId === undefined || x.expiry === undefined)
            throw new CliError(code, "payment_unconfirmed", err.message, { cause: err });
          throw new CliError(
            code,
            "payment_unconfirmed",
            `${err.message}. Receipt ${x.receiptId}${x.transaction ? `, tx ${ctx.tx(x.transaction)}` : ""}. ` +
              (x.minedAtBlock !== undefined
                ? `Your note is reserved until ${clock(x.expiry)} and the receipt is already on chain: the payment is made, do not pay again. `
                : `Your note is reserved until ${clock(x.expiry)} (or until receipt ${x.receiptId} appears on chain); ` +
                  `after that, a sync (402zk balance) releases it if the payment never settled. Do not pay again before then. `) +
              `Check it with: 402zk --network ${ctx.network} receipt ${x.receiptId}`,
            { cause: err },
          );
        }
        if (err instanceof CliError) throw err; // interrupted before anything left
        // Whatever kept the client from paying (balance, price cap, proving, offer): "refused".
        if (isZkPayError(err) && err.reason !== "rpc_error") {
          if (err.reason === "spend_cap_exceeded") {
            const x = err.details as { amount?: string };
            throw new CliError(
              EXIT.refused,
              "price_above_max",
              `the price ${x.amount ? tokens(BigInt(x.amount)) : ""} exceeds --max ${tokens(maxAmount)}: raise --max to pay it (nothing was paid)`,
              { cause: err },
            );
          }
          if (err.reason === "fee_too_high") {
            throw new CliError(
              EXIT.refused,
              err.reason,
              `${err.message} (--max covers the price and the fee together; --max-fee raises the fee limit)`,
              { cause: err },
            );
          }
          throw new CliError(EXIT.refused, err.reason, inTokens(err, ctx), { cause: err });
        }
        throw err;
      } finally {
        interrupt.dispose();
        bar.end();
      }
      const terms = r.prepared?.terms;
      const t = r.timings;
      // The outcome first, so that --json and the exit code always say the same thing.
      let failure: CliError | undefined;
      if (r.paid && r.status === 402) {
        failure = new CliError(
          EXIT.refused,
          r.refusedReason ?? "payment_refused",
          `the server refused the payment (HTTP 402${r.refusedReason ? `: ${r.refusedReason}` : ""})`,
        );
      } else if (r.status < 200 || r.status >= 300) {
        failure = new CliError(
          EXIT.server,
          "server_error",
          `the server answered HTTP ${r.status}${r.paid ? " after payment" : ""}`,
        );
      }
      if (o.json) {
        out(
          JSON.stringify({
            ok: failure === undefined,
            exitCode: failure?.exitCode ?? EXIT.ok,
            error: failure ? { reason: failure.reason, message: failure.message } : undefined,
            status: r.status,
            // "paid": the payment was accepted; "paymentSent": a proof was sent at all.
            paid: r.paid && failure === undefined,
            paymentSent: r.paid,
            settled: r.settled,
            mode: r.mode,
            refusedReason: r.refusedReason,
            receiptId: r.receiptId,
            transaction: r.transaction,
            payTo: terms?.payTo,
            amount: terms?.amount.toString(),
            fee: terms?.fee.toString(),
            conditionHash: terms?.conditionHash,
            timingsMs: Object.fromEntries(Object.entries(t).map(([k, v]) => [k, Math.round(v)])),
            contentType: r.contentType,
            body: r.body,
          }),
        );
        if (failure) failure.reported = true;
      } else {
        out(r.body);
        info(
          `status ${r.status}${r.paid ? `, paid ${r.mode}-settled` : ", no payment asked"}${r.settled ? "" : r.paid ? " (not settled)" : ""}`,
        );
        if (terms) {
          info(
            `amount ${formatAmount(terms.amount, d)} ${ctx.symbol} to ${terms.payTo}${terms.fee > 0n ? ` + fee ${formatAmount(terms.fee, d)} to ${terms.relayer}` : ""}`,
          );
        }
        if (r.receiptId) info(`receipt ${r.receiptId}`);
        if (r.transaction) info(`tx ${ctx.tx(r.transaction)}`);
        if (terms) info(`condition ${terms.conditionHash}`);
        if (r.paid) {
          info(
            `time ${ms(t.totalMs)}: 402 ${ms(t.challengeMs)}, sync ${ms(t.syncMs)}, witness ${ms(t.witnessMs)}, prove ${ms(t.proveMs)}` +
              (r.mode === "client" ? `, submit ${ms(t.submitMs)}` : "") +
              `, server verify+settle ${ms(t.serverMs)}`,
          );
        }
        if (r.settled && terms && r.receiptId) {
          info(
            `check: 402zk --network ${ctx.network} receipt ${r.receiptId} --pay-to ${terms.payTo} --amount ${formatAmount(terms.amount, d, 0)} --condition ${terms.conditionHash}`,
          );
        }
        if (failure && r.paid && r.mode === "client" && r.transaction) {
          info(
            `note: your payment is on chain (tx ${ctx.tx(r.transaction)}) but the server did not accept its receipt: do not pay again; check it with 402zk --network ${ctx.network} receipt ${r.receiptId ?? ""}`.trimEnd(),
          );
        }
      }
      if (failure) throw failure;
    });

  // ---------------------------------------------------------------- withdraw
  program
    .command("withdraw")
    .description("send private funds to a public address (proved like a payment, submitted from your EOA)")
    .argument("<amount>", 'amount in tokens, e.g. "0.5"')
    .requiredOption("--to <address>", "recipient")
    .option("--relay <url>", "a 402zk facilitator submits the withdrawal for its fee: no gas, no EOA of yours on chain")
    .option(
      "--max-fee <amount>",
      "with --relay: largest fee accepted (default: at most the amount, and at most 0.1 token)",
    )
    .action(async (amountText: string, o: { to: string; relay?: string; maxFee?: string }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const to = address(o.to, "--to");
      // The pool reverts a zero payee: refuse before proving (and before spending gas on it).
      if (to === zeroAddress)
        throw new ZkPayError(
          "invalid_argument",
          "--to is the zero address: the pool refuses it (tokens sent there are lost)",
        );
      const amount = parseAmount(amountText, ctx.decimals);
      if (amount === 0n) throw new ZkPayError("invalid_argument", "amount must be positive");
      const maxFee = o.maxFee === undefined ? undefined : parseAmount(o.maxFee, ctx.decimals, "--max-fee");
      const relay = o.relay ? new RelayClient({ url: o.relay }) : undefined;
      const submitter = relay ? `the relay ${o.relay}` : ctx.requireAccount("withdraw").account.address;
      const wallet = await ctx.openWallet();
      const bar = progressBar({ label: "proving" });
      const t0 = performance.now();
      let hash: Hex;
      try {
        hash = await wallet.withdraw({ to, amount, onProgress: bar.update, relay, maxFee });
      } catch (err) {
        if (isZkPayError(err, "insufficient_private_balance"))
          throw new CliError(EXIT.refused, err.reason, inTokens(err, ctx), { cause: err });
        // Sent, then failed (reverted, or its receipt never came): name the transaction.
        const sent = ctx.sentTransactions().at(-1);
        if (sent && !relay && sent.at >= t0) {
          const c = classify(err);
          throw new CliError(c.code, c.reason, `${c.message} (withdrawal tx ${ctx.tx(sent.hash)})`, { cause: err });
        }
        throw err;
      } finally {
        bar.end();
      }
      out(`withdrew ${formatAmount(amount, ctx.decimals)} ${ctx.symbol} to ${to}`);
      out(`tx ${ctx.tx(hash)} (${ms(performance.now() - t0)}), submitted by ${submitter}`);
      out(`private balance ${formatAmount(wallet.balance(), ctx.decimals)} ${ctx.symbol}`);
      info(
        relay
          ? "note: a withdrawal is public (recipient, amount); the relay sent it, so no address of yours is on chain."
          : "note: a withdrawal is public (recipient, amount) and its sender is your EOA; the note it spent stays unlinked.",
      );
    });

  // ---------------------------------------------------------------- receipt
  program
    .command("receipt")
    .description(
      "check a payment receipt on chain: by id alone (what the chain holds: payee, amount, tx), or against expected terms (what a server does)",
    )
    .argument("<id>", "receipt id (the payment's nullifier hash, bytes32)")
    .option("--pay-to <address>", "expected payee (with --amount and --condition)")
    .option("--amount <amount>", 'expected amount in tokens, e.g. "0.01"')
    .option("--condition <hash>", "expected condition hash (bytes32)")
    .option("--confirmations <n>", "confirmations required (default: the chain's, see defaultConfirmations)")
    .option("--json", "print JSON")
    .action(
      async (
        idText: string,
        o: { payTo?: string; amount?: string; condition?: string; confirmations?: string; json?: boolean },
        cmd: Command,
      ) => {
        const ctx = ctxOf(cmd);
        const id = bytes32(idText, "receipt id");
        const given = [o.payTo, o.amount, o.condition].filter((x) => x !== undefined).length;
        if (given !== 0 && given !== 3)
          throw new ZkPayError("invalid_argument", "give --pay-to, --amount and --condition together, or none of them");
        const minConfirmations = confirmationsOf(o.confirmations, ctx.deployment.chainId);
        const checker = new ReceiptChecker({
          publicClient: ctx.publicClient,
          facilitator: ctx.deployment.facilitator as Address,
        });
        const d = ctx.decimals;
        const tokens = (v: bigint) => `${formatAmount(v, d)} ${ctx.symbol}`;
        let r: Awaited<ReturnType<ReceiptChecker["check"]>>;
        let onChain: { transaction?: Hex; payTo?: Address; amount?: bigint; fee?: bigint; conditionHash?: Hex } = {};
        if (given === 3) {
          const payTo = address(o.payTo!, "--pay-to");
          const amount = parseAmount(o.amount!, d, "--amount");
          const conditionHash = bytes32(o.condition!, "--condition");
          r = await checker.check({ id, payTo, amount, conditionHash, minConfirmations });
          if (r.state === "paid") onChain = { payTo, amount, conditionHash };
        } else {
          // By id alone: terms no payment has (payee 0) answer "mismatch" when a payment with
          // this id exists, with its block; its event there says what it paid.
          r = await checker.check({
            id,
            payTo: zeroAddress,
            amount: 0n,
            conditionHash: `0x${"0".repeat(64)}`,
            minConfirmations,
          });
          if (r.state === "mismatch") r = { ...r, state: r.confirmations < minConfirmations ? "unconfirmed" : "paid" };
        }
        if (r.state !== "not_paid") {
          const [log] = await ctx.publicClient
            .getContractEvents({
              address: ctx.deployment.facilitator as Address,
              abi: facilitatorAbi,
              eventName: "PaymentReceipt",
              args: { id },
              fromBlock: BigInt(r.paidAtBlock),
              toBlock: BigInt(r.paidAtBlock),
              strict: true,
            })
            .catch(() => []);
          if (log)
            onChain = {
              transaction: log.transactionHash ?? undefined,
              payTo: log.args.payTo,
              amount: log.args.amount,
              fee: log.args.fee,
              conditionHash: log.args.conditionHash,
            };
        }
        if (o.json) {
          out(
            JSON.stringify({
              id,
              ...r,
              required: minConfirmations,
              transaction: onChain.transaction,
              payTo: onChain.payTo,
              amount: onChain.amount?.toString(),
              fee: onChain.fee?.toString(),
              conditionHash: onChain.conditionHash,
            }),
          );
        } else {
          const paid =
            onChain.amount !== undefined && onChain.payTo
              ? `${tokens(onChain.amount)} to ${onChain.payTo}${onChain.fee ? ` (+ fee ${tokens(onChain.fee)})` : ""}`
              : "";
          const explain: Record<string, string> = {
            paid: `paid: ${paid}, block ${r.paidAtBlock}, ${r.confirmations} confirmation(s)`,
            not_paid: "not paid: no payment with this id on chain",
            mismatch: `mismatch: a payment with this id exists (block ${r.paidAtBlock}) but for another payee, amount or condition`,
            unconfirmed: `unconfirmed: ${r.confirmations} of ${minConfirmations} confirmations (block ${r.paidAtBlock})${paid ? `: ${paid}` : ""}`,
          };
          out(explain[r.state] ?? r.state);
          if (onChain.transaction) out(`tx ${ctx.tx(onChain.transaction)}`);
        }
        if (r.state !== "paid") {
          const failures: Record<"not_paid" | "mismatch" | "unconfirmed", [string, string]> = {
            not_paid: ["receipt_not_found", "is not on chain"],
            mismatch: ["receipt_mismatch", "does not match the expected payee, amount or condition"],
            unconfirmed: ["receipt_unconfirmed", `has ${r.confirmations} of ${minConfirmations} confirmations`],
          };
          const [reason, what] = failures[r.state];
          const failure = new CliError(EXIT.refused, reason, `receipt ${id} ${what}`);
          // --json already printed the outcome (state says it): one JSON object per command.
          failure.reported = o.json === true;
          throw failure;
        }
      },
    );

  // ---------------------------------------------------------------- serve
  program
    .command("serve")
    .description(
      "run an example paid API: GET /weather and POST /order, paid with zk-exact (your EOA relays server-settled payments)",
    )
    .option("--port <port>", "port (0 = random)", "4021")
    .option("--host <host>", "interface to listen on", "127.0.0.1")
    .option("--price <amount>", "price of GET /weather and POST /order in tokens", "0.01")
    .option("--sessions", "also sell session credentials (pay once, then present it: 402zk pay --session)")
    .option(
      "--session-offer <id:requests:price:hours>",
      'with --sessions: an offer, repeatable (default "basic:10:<5 x price>:1")',
      collect,
      [],
    )
    .option(
      "--state <dir>",
      "with --sessions: folder of the issuer key (issuer-key, created 0600; or $ZK402_ISSUER_KEY); default ~/.402zk/<network>/serve",
    )
    .option("--pay-to <address>", "who gets paid (default: your EOA)")
    .option("--fee <amount>", "relayer fee for server-settled payments, in tokens", "0")
    .option(
      "--confirmations <n>",
      "confirmations required for client-settled receipts (default: the chain's: 1 local, 2 on Base and Base Sepolia, 3 elsewhere)",
    )
    .option("--drain-timeout <seconds>", "on Ctrl-C/SIGTERM, how long requests in flight may take to finish", "30")
    .action(
      async (
        o: {
          port: string;
          host: string;
          price: string;
          payTo?: string;
          fee: string;
          confirmations?: string;
          drainTimeout: string;
          sessions?: boolean;
          sessionOffer: string[];
          state?: string;
        },
        cmd: Command,
      ) => {
        const ctx = ctxOf(cmd);
        if (o.sessionOffer.length > 0 && !o.sessions)
          throw new ZkPayError("invalid_argument", "--session-offer needs --sessions");
        const payTo = o.payTo ? address(o.payTo, "--pay-to") : ctx.account?.address;
        if (!payTo)
          throw new ZkPayError(
            "invalid_argument",
            "serve needs --pay-to, or an EOA (--private-key / ZK402_PRIVATE_KEY) to be paid",
          );
        const price = parseAmount(o.price, ctx.decimals, "--price");
        if (price === 0n) throw new ZkPayError("invalid_argument", "--price must be positive");
        if (!(Number(o.drainTimeout) >= 0))
          throw new ZkPayError("invalid_argument", "--drain-timeout must be a non-negative number of seconds");
        const fee = parseAmount(o.fee, ctx.decimals, "--fee");
        if (fee > 0n && !ctx.walletClient)
          throw new ZkPayError("invalid_argument", "--fee needs a relayer EOA (--private-key)");
        const chainId = await ctx.publicClient.getChainId();
        if (chainId !== ctx.deployment.chainId) {
          throw new CliError(
            EXIT.usage,
            "chain_mismatch",
            `RPC ${ctx.rpc} is on chain ${chainId}, the ${ctx.network} pool on ${ctx.deployment.chainId}`,
          );
        }
        const secret = process.env.ZK402_CHALLENGE_SECRET;
        const d = ctx.decimals;
        const minConfirmations = confirmationsOf(o.confirmations, ctx.deployment.chainId);
        let sessions: { issuerKey: Hex; offers: SessionOfferConfig[] } | undefined;
        if (o.sessions) {
          const offers =
            o.sessionOffer.length > 0
              ? o.sessionOffer.map((spec) => sessionOffer(spec, d))
              : [{ id: "basic", tier: 1, durationSeconds: 3600, maxPresentations: 10, price: price * 5n }];
          const dir = path.resolve(o.state ?? path.join(defaultWalletDir(ctx.network), "serve"));
          const key = loadOrCreateSecret(dir, "issuer-key", "ZK402_ISSUER_KEY");
          if (key.created)
            info(
              `created a session issuer key in ${key.source} (mode 0600): keep it, credentials sold are signed with it`,
            );
          sessions = { issuerKey: key.secret, offers };
        }
        const api = await startPaidApi({
          pool: {
            chainId: ctx.deployment.chainId,
            facilitator: ctx.deployment.facilitator as Address,
            token: ctx.deployment.token as Address,
            decimals: d,
          },
          publicClient: ctx.publicClient,
          relayer: ctx.walletClient,
          payTo,
          price: `${formatAmount(price, d, 0)}`,
          challengeSecret: secret,
          fee,
          minConfirmations,
          sessions,
          host: o.host,
          port: positiveInt(o.port, "--port"),
          onSettled: (e) =>
            info(
              `${new Date().toISOString()} paid ${e.path || "/weather"}: ${formatAmount(BigInt(e.amount), d)} ${ctx.symbol}, ${e.mode}-settled, receipt ${e.receiptId ?? "?"}, tx ${e.result.transaction ? ctx.tx(e.result.transaction) : "(already settled)"}`,
            ),
        });
        out(`402zk example API on ${api.url}`);
        out(
          `  GET ${api.url}/weather  ${formatAmount(price, d)} ${ctx.symbol} (zk-exact, ${caip2(ctx.deployment.chainId)}) -> ${payTo}`,
        );
        out(
          `  POST ${api.url}/order   ${formatAmount(price, d)} ${ctx.symbol} (settled before the order is placed; echoes the body)`,
        );
        for (const x of api.sessions?.offers ?? []) {
          out(
            `  session "${x.id}": ${x.maxPresentations} requests within ${x.durationSeconds / 3600} h for ${formatAmount(x.price, d)} ${ctx.symbol} (POST ${api.url}${api.sessions!.purchasePath(x.id)}; 402zk pay --session --offer ${x.id})`,
          );
        }
        out(
          ctx.account
            ? `  settlement: server (relayer ${ctx.account.address}${fee > 0n ? `, fee ${formatAmount(fee, d)}` : ""}) or client`
            : "  settlement: client only (no --private-key: nobody relays)",
        );
        if (!secret)
          info("challenge secret: random (set ZK402_CHALLENGE_SECRET to share it between instances or restarts)");
        info("Ctrl-C to stop (requests in flight finish first, at most --drain-timeout)");
        const drainMs = Number(o.drainTimeout) * 1000;
        await onServe(async () => {
          const running = api.inFlight();
          if (running > 0) info(`finishing ${running} request(s) in flight (at most ${o.drainTimeout} s)`);
          await api.drain(drainMs);
        });
      },
    );

  // ---------------------------------------------------------------- facilitator
  registerFacilitatorCommand(program, onServe);

  // ---------------------------------------------------------------- credentials
  registerCredentialsCommand(program, ctxOf);

  // ---------------------------------------------------------------- doctor
  program
    .command("doctor")
    .description(
      "check the network's deployment from here: RPC, chain id, trusted setup, contract code, verification key, token domain, relayer or EOA ETH, Redis",
    )
    .option("--relayer <address>", "relayer whose ETH balance to check (default: your EOA's, if any, as a payer)")
    .option("--redis <url>", "Redis URL to PING (default: $REDIS_URL)")
    .option("--strict", "exit 1 on warnings too (a development setup on a non-local chain)")
    .option("--json", "print the checks as JSON")
    .action(async (o: { relayer?: string; redis?: string; strict?: boolean; json?: boolean }, cmd: Command) => {
      const { doctorVerdict, formatDoctor, runDoctor } = await import("./doctor.js");
      const g = cmd.optsWithGlobals() as GlobalOptions;
      const checks = await runDoctor({
        network: g.network,
        rpc: g.rpc,
        deployments: g.deployments,
        relayer: o.relayer ? address(o.relayer, "--relayer") : undefined,
        eoa: o.relayer ? undefined : loadAccount(g)?.address,
        redis: o.redis ?? process.env.REDIS_URL,
      });
      const { ok, failed } = doctorVerdict(checks, o.strict);
      out(o.json ? JSON.stringify({ ok, exitCode: ok ? EXIT.ok : EXIT.usage, checks }) : formatDoctor(checks));
      if (!ok) {
        const err = new CliError(EXIT.usage, "doctor_failed", `${failed.length} check(s) failed: ${failed.join(", ")}`);
        err.reported = true;
        throw err;
      }
    });

  return program;
}

/** Waits for SIGINT/SIGTERM/SIGHUP (a closed terminal), then closes the server. */
async function waitForSignal(close: () => Promise<void>): Promise<void> {
  await new Promise<void>((resolve) => {
    const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
    const stop = () => {
      for (const s of signals) process.off(s, stop);
      resolve();
    };
    for (const s of signals) process.on(s, stop);
  });
  info("stopping");
  await close();
}

/**
 * Runs the CLI and returns its exit code (never throws, never exits the process).
 *
 * @example
 * process.exit(await run(process.argv));
 */
export async function run(argv: string[] = process.argv): Promise<number> {
  const contexts: CliContext[] = [];
  const program = buildProgram(waitForSignal, contexts);
  const verbose = argv.includes("--verbose") || argv.includes("-v");
  try {
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; usage errors were already printed by commander.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    const c = classify(err);
    process.stderr.write(`error: ${c.reason}: ${c.message}\n`);
    if (argv.includes("--json") && !(err instanceof CliError && err.reported)) {
      process.stdout.write(
        `${JSON.stringify({ ok: false, exitCode: c.code, error: { reason: c.reason, message: c.message } })}\n`,
      );
    }
    if (verbose && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    return c.code;
  } finally {
    for (const ctx of contexts) ctx.releaseWallet();
    await shutdownProver().catch(() => {});
  }
}

/**
 * A ZkPayError's message in tokens where it carries base-unit amounts, with what to do.
 *
 * @example
 * inTokens(err, ctx); // "no single private note covers 6.00 USDC (largest note 5.00 USDC, balance 8.47 USDC); ..."
 */
function inTokens(err: ZkPayError, ctx: CliContext): string {
  if (err.reason !== "insufficient_private_balance") return err.message;
  const x = err.details as { needed?: string; largestNote?: string; balance?: string; pendingChange?: string };
  if (x.needed === undefined) return err.message;
  const t = (v: string | undefined) => `${formatAmount(BigInt(v ?? "0"), ctx.decimals)} ${ctx.symbol}`;
  const pending = BigInt(x.pendingChange ?? "0") > 0n ? `, change of payments in flight ${t(x.pendingChange)}` : "";
  const need = formatAmount(BigInt(x.needed), ctx.decimals, 0);
  const hint = `a payment spends one note: deposit ${need} or more into a new note (402zk deposit ${need})`;
  return `no single private note covers ${t(x.needed)} (largest note ${t(x.largestNote)}, balance ${t(x.balance)}${pending}): ${hint}`;
}
