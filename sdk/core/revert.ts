import { BaseError, ContractFunctionRevertedError } from "viem";

import { ZkPayError } from "./errors.js";

/** The contract error a viem error wraps, if any: its name, its arguments as strings, and the revert. */
function revertOf(err: BaseError):
  | {
      name: string | undefined;
      args: string[];
      details: { error?: string; args: string[] };
      revert: ContractFunctionRevertedError;
    }
  | undefined {
  const revert = err.walk((e) => e instanceof ContractFunctionRevertedError);
  if (!(revert instanceof ContractFunctionRevertedError)) return undefined;
  const name = revert.data?.errorName;
  const args = (revert.data?.args ?? []).map(String);
  return { name, args, details: { error: name, args }, revert };
}

/** Maps a reverted `pay` to a typed error. @example throw mapPayRevert(err) */
export function mapPayRevert(err: unknown): ZkPayError {
  if (err instanceof BaseError) {
    const r = revertOf(err);
    if (r) {
      const { name, args, details } = r;
      switch (name) {
        case "FacilitatorNullifierSpent":
          return new ZkPayError("nullifier_spent", "this note was already spent", details, { cause: err });
        case "FacilitatorUnknownRoot":
          return new ZkPayError("stale_tree", "the proof's root is unknown or too old: sync and prove again", details, {
            cause: err,
          });
        case "FacilitatorInvalidProof":
          return new ZkPayError("invalid_proof", "the proof does not verify for these terms", details, { cause: err });
        // Escrow (FacilitatorEscrow): release, refund, payEscrowed.
        case "EscrowInvalidServiceProof":
          return new ZkPayError("service_proof_invalid", "the service proof does not verify for this escrow", details, {
            cause: err,
          });
        case "EscrowExpired":
          return new ZkPayError(
            "escrow_expired",
            `the escrow's deadline (${args[1]}) has passed: it can only be refunded to the payer`,
            details,
            { cause: err },
          );
        case "EscrowAlreadyReleased":
        case "EscrowAlreadyRefunded":
          return new ZkPayError(
            "escrow_already_released",
            name === "EscrowAlreadyReleased" ? "the escrow was released already" : "the escrow was refunded already",
            details,
            { cause: err },
          );
        case "EscrowRefundTooEarly":
          return new ZkPayError(
            "refund_too_early",
            `the escrow can be refunded only after its deadline (${args[1]}); the payee may still release it`,
            details,
            { cause: err },
          );
        case "EscrowNotFound":
        case "EscrowStatementMismatch":
          return new ZkPayError("escrow_not_found", `no escrow matches (${name})`, details, { cause: err });
        default:
          return new ZkPayError("settlement_failed", `pay reverted: ${name ?? r.revert.shortMessage}`, details, {
            cause: err,
          });
      }
    }
    return new ZkPayError("rpc_error", err.shortMessage, {}, { cause: err });
  }
  return new ZkPayError("settlement_failed", String(err), {}, { cause: err });
}

/**
 * Maps a reverted deposit (its gas estimate or simulation, before anything is sent) to a
 * typed error: `depositor_sanctioned` when the pool's sanctions list names the depositing
 * address (or the submitter), `settlement_failed` for any other revert, `rpc_error` when
 * the node did not answer. No tokens moved in any of these cases. Already-typed errors
 * pass through unchanged.
 *
 * @example
 * try { await estimateDeposit() } catch (err) { throw mapDepositRevert(err) }
 */
export function mapDepositRevert(err: unknown): ZkPayError {
  if (err instanceof ZkPayError) return err;
  if (err instanceof BaseError) {
    const r = revertOf(err);
    if (r) {
      const { name, args, details, revert } = r;
      if (name === "FacilitatorSanctionedDepositor") {
        return new ZkPayError(
          "depositor_sanctioned",
          `the pool's sanctions list names ${args[0]}: it refuses this deposit (no tokens moved)`,
          details,
          { cause: err },
        );
      }
      return new ZkPayError(
        "settlement_failed",
        `deposit reverted: ${name ?? revert.shortMessage} (no tokens moved)`,
        details,
        { cause: err },
      );
    }
    return new ZkPayError("rpc_error", err.shortMessage, {}, { cause: err });
  }
  return new ZkPayError("settlement_failed", String(err), {}, { cause: err });
}
