import { BaseError, ContractFunctionRevertedError } from "viem";

import { ZkPayError } from "./errors.js";

/** Maps a reverted `pay` to a typed error. @example throw mapPayRevert(err) */
export function mapPayRevert(err: unknown): ZkPayError {
  if (err instanceof BaseError) {
    const revert = err.walk((e) => e instanceof ContractFunctionRevertedError);
    if (revert instanceof ContractFunctionRevertedError) {
      const name = revert.data?.errorName;
      const args = (revert.data?.args ?? []).map(String);
      const details = { error: name, args };
      switch (name) {
        case "FacilitatorNullifierSpent":
          return new ZkPayError("nullifier_spent", "this note was already spent", details, { cause: err });
        case "FacilitatorUnknownRoot":
          return new ZkPayError("stale_tree", "the proof's root is unknown or too old: sync and prove again", details, {
            cause: err,
          });
        case "FacilitatorInvalidProof":
          return new ZkPayError("invalid_proof", "the proof does not verify for these terms", details, { cause: err });
        default:
          return new ZkPayError("settlement_failed", `pay reverted: ${name ?? revert.shortMessage}`, details, {
            cause: err,
          });
      }
    }
    return new ZkPayError("rpc_error", err.shortMessage, {}, { cause: err });
  }
  return new ZkPayError("settlement_failed", String(err), {}, { cause: err });
}
