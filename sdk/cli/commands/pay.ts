/**
 * `402zk pay <url>`: fetches a URL as curl would (-X, -d, -H), paying its HTTP 402
 * privately (payWithZk in ../pay.ts), or with a session credential (--session, ../sessions.ts).
 * The body goes to stdout, the payment to stderr; --json prints one object either way.
 */
import type { Command } from "commander";
import type { Hex } from "viem";

import { ZkPayError, isZkPayError } from "../../core/errors.js";
import { isShieldedTerms } from "../../core/wire.js";
import { attributeArtifacts } from "../../node/artifacts.js";
import { FileAttributeCredentialStore } from "../../node/identity-store.js";
import { formatAmount, parseAmount } from "../amount.js";
import { collect } from "../args.js";
import type { CommandEnv } from "../command.js";
import { CliError, EXIT } from "../errors.js";
import { clock, inTokens, info, ms, out } from "../output.js";
import { payWithZk, type PaymentQuote } from "../pay.js";
import { progressBar } from "../progress.js";
import { requestInit } from "../request.js";
import { paySession } from "../sessions.js";
import { abortOnSignals } from "../signals.js";

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

/** Registers `pay` on the program. */
export function register(program: Command, env: CommandEnv): void {
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
      const ctx = env.ctxOf(cmd);
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
      let quote: PaymentQuote | undefined;
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
            quote = q;
            if (q.fee > 0n)
              info(
                `paying ${tokens(q.amount)} to ${q.payTo} + relayer fee ${tokens(q.fee)} to ${q.relayer} = ${tokens(q.amount + q.fee)} (--max ${tokens(maxAmount)})`,
              );
          },
          timeoutMs: timeoutS * 1000,
          signal: interrupt.signal,
          transactions: { sent: ctx.sentTransactions, stop: ctx.stopSending },
          relay: o.relay,
          // Verify & Pay: the identity credentials `402zk identity add` stored beside the
          // wallet's notes; used only when a 402 names an attribute rule.
          identity: {
            credentials: new FileAttributeCredentialStore(ctx.walletDir),
            artifacts: attributeArtifacts(),
            onProgress: bar.update,
          },
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
      // zk-shielded: the terms pay nothing in public; the price is the payee note's value
      // and the payee the requirement's shielded address.
      const shielded = terms !== undefined && isShieldedTerms(terms);
      const paidAmount = shielded ? r.prepared?.payee.value : terms?.amount;
      const payee = shielded ? (quote?.payTo ?? "a shielded address") : terms?.payTo;
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
            scheme: terms ? (shielded ? "zk-shielded" : "zk-exact") : undefined,
            payTo: payee,
            amount: paidAmount?.toString(),
            payeeCommitment: shielded ? r.prepared?.proof.payeeCommitment.toString() : undefined,
            // What `402zk receipt --payee-memo` checks: the receipt binds the memo that went on chain.
            payeeMemo: shielded ? r.prepared?.payeeMemo : undefined,
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
            `amount ${formatAmount(paidAmount ?? 0n, d)} ${ctx.symbol} to ${payee}${terms.fee > 0n ? ` + fee ${formatAmount(terms.fee, d)} to ${terms.relayer}` : ""}` +
              (shielded ? " (zk-shielded: a private note for the payee; payee and amount hidden on chain)" : ""),
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
            shielded
              ? `check: 402zk --network ${ctx.network} receipt ${r.receiptId} --payee-commitment ${r.prepared!.proof.payeeCommitment} --condition ${terms.conditionHash} --payee-memo ${r.prepared!.payeeMemo}`
              : `check: 402zk --network ${ctx.network} receipt ${r.receiptId} --pay-to ${terms.payTo} --amount ${formatAmount(terms.amount, d, 0)} --condition ${terms.conditionHash}`,
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
}
