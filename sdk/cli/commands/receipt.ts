/**
 * `402zk receipt <id>`: a payment receipt on chain, by id alone (what the chain holds) or
 * against expected terms (what a server checks): payee, amount and condition for zk-exact,
 * payee-note commitment, condition and payee memo for zk-shielded; exit 2 unless paid and
 * confirmed.
 */
import type { Command } from "commander";
import { zeroAddress, type Address, type Hex } from "viem";

import { facilitatorAbi } from "../../core/abi.js";
import { ZkPayError } from "../../core/errors.js";
import { PAYEE_MEMO_LENGTH } from "../../core/note-encryption.js";
import { ReceiptChecker } from "../../core/receipts.js";
import { formatAmount, parseAmount } from "../amount.js";
import { address, bytes32, confirmationsOf } from "../args.js";
import type { CommandEnv } from "../command.js";
import { CliError, EXIT } from "../errors.js";
import { out } from "../output.js";

/** Registers `receipt` on the program. */
export function register(program: Command, env: CommandEnv): void {
  program
    .command("receipt")
    .description(
      "check a payment receipt on chain: by id alone (what the chain holds: payee, amount, tx), or against expected terms (what a server does)",
    )
    .argument("<id>", "receipt id (the payment's nullifier hash, bytes32)")
    .option("--pay-to <address>", "expected payee (with --amount and --condition)")
    .option("--amount <amount>", 'expected amount in tokens, e.g. "0.01"')
    .option("--condition <hash>", "expected condition hash (bytes32)")
    .option(
      "--payee-commitment <n>",
      "zk-shielded: expected payee-note commitment (decimal), with --condition and --payee-memo instead of --pay-to and --amount",
    )
    .option(
      "--payee-memo <hex>",
      "zk-shielded: the payee memo (hex, 187 bytes) the payment showed; paid only if this very memo went on chain",
    )
    .option("--confirmations <n>", "confirmations required (default: the chain's, see defaultConfirmations)")
    .option("--json", "print JSON")
    .action(
      async (
        idText: string,
        o: {
          payTo?: string;
          amount?: string;
          condition?: string;
          payeeCommitment?: string;
          payeeMemo?: string;
          confirmations?: string;
          json?: boolean;
        },
        cmd: Command,
      ) => {
        const ctx = env.ctxOf(cmd);
        const id = bytes32(idText, "receipt id");
        const shielded = o.payeeCommitment !== undefined || o.payeeMemo !== undefined;
        const given = [o.payTo, o.amount, o.condition].filter((x) => x !== undefined).length;
        if (shielded) {
          // The receipt binds the payee memo that went on chain (the payee's wallet finds the
          // note only by it): a check without it could call "paid" a payment whose note the
          // payee never finds.
          if (
            o.payTo !== undefined ||
            o.amount !== undefined ||
            o.condition === undefined ||
            o.payeeCommitment === undefined ||
            o.payeeMemo === undefined
          )
            throw new ZkPayError(
              "invalid_argument",
              "a shielded receipt is checked with --payee-commitment, --condition and --payee-memo (no --pay-to, no --amount)",
            );
          if (!/^\d{1,78}$/.test(o.payeeCommitment))
            throw new ZkPayError("invalid_argument", "--payee-commitment must be a decimal field element");
          if (!new RegExp(`^0x[0-9a-fA-F]{${2 * PAYEE_MEMO_LENGTH}}$`).test(o.payeeMemo))
            throw new ZkPayError(
              "invalid_argument",
              `--payee-memo must be ${PAYEE_MEMO_LENGTH} bytes of 0x-prefixed hex`,
            );
        } else if (given !== 0 && given !== 3)
          throw new ZkPayError("invalid_argument", "give --pay-to, --amount and --condition together, or none of them");
        const minConfirmations = confirmationsOf(o.confirmations, ctx.deployment.chainId);
        const checker = new ReceiptChecker({
          publicClient: ctx.publicClient,
          facilitator: ctx.deployment.facilitator as Address,
        });
        const d = ctx.decimals;
        const tokens = (v: bigint) => `${formatAmount(v, d)} ${ctx.symbol}`;
        let r: Awaited<ReturnType<ReceiptChecker["check"]>>;
        let onChain: {
          transaction?: Hex;
          payTo?: Address;
          amount?: bigint;
          fee?: bigint;
          conditionHash?: Hex;
          payeeCommitment?: bigint;
        } = {};
        if (shielded) {
          const payeeCommitment = BigInt(o.payeeCommitment!);
          const conditionHash = bytes32(o.condition!, "--condition");
          const payeeMemo = o.payeeMemo as Hex;
          r = await checker.check({ id, payeeCommitment, conditionHash, payeeMemo, minConfirmations });
          if (r.state === "paid") onChain = { payeeCommitment, conditionHash };
        } else if (given === 3) {
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
          else {
            // A shielded payment: its event names the payee note's commitment and the fee only.
            const [sl] = await ctx.publicClient
              .getContractEvents({
                address: ctx.deployment.facilitator as Address,
                abi: facilitatorAbi,
                eventName: "ShieldedPaymentReceipt",
                args: { id },
                fromBlock: BigInt(r.paidAtBlock),
                toBlock: BigInt(r.paidAtBlock),
                strict: true,
              })
              .catch(() => []);
            if (sl)
              onChain = {
                ...onChain,
                transaction: sl.transactionHash ?? undefined,
                payeeCommitment: sl.args.payeeCommitment,
                fee: sl.args.fee,
              };
          }
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
              shielded: onChain.payeeCommitment !== undefined || undefined,
              payeeCommitment: onChain.payeeCommitment?.toString(),
            }),
          );
        } else {
          const paid =
            onChain.amount !== undefined && onChain.payTo
              ? `${tokens(onChain.amount)} to ${onChain.payTo}${onChain.fee ? ` (+ fee ${tokens(onChain.fee)})` : ""}`
              : onChain.payeeCommitment !== undefined
                ? `zk-shielded (payee and amount hidden), payee note ${onChain.payeeCommitment}${onChain.fee ? `, fee ${tokens(onChain.fee)}` : ""}`
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
            mismatch: [
              "receipt_mismatch",
              shielded
                ? "does not match the expected payee note, condition or payee memo"
                : "does not match the expected payee, amount or condition",
            ],
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
}
