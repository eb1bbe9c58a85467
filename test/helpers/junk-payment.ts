/**
 * The review's cheapest attack on a zk-exact server (issue 7, finding 3), shared by
 * test/server/security.test.ts and the security bench: a schema-valid server-settled payment
 * with the right terms for a fresh (free) challenge, the pool's current root, a random
 * nullifier, and curve points lifted from the verification key. It passes every cheap
 * check and costs the server a full Groth16 verification, which it fails.
 */
import { randomBytes } from "node:crypto";

import { EMPTY_NOTE_COMMITMENT } from "../../sdk/core/note.js";
import { conditionHashOf, type Challenge } from "../../sdk/core/wire.js";

/** The parts of a decoded PAYMENT-REQUIRED that a junk payment echoes. */
export interface JunkRequired {
  resource?: unknown;
  accepts: (Record<string, unknown> & {
    scheme: string;
    payTo: string;
    amount: string;
    extra: { relayer: string; fee: string; challenge: Challenge };
  })[];
}

/** Valid G1/G2 points for a junk proof: vk_alpha_1 and vk_beta_2, in the Solidity (wire) order. */
export interface JunkPoints {
  pA: [string, string];
  pB: [[string, string], [string, string]];
}

/** Points from a snarkjs verification key. @example junkPoints(vkey) */
export function junkPoints(vkey: unknown): JunkPoints {
  const vk = vkey as { vk_alpha_1: string[]; vk_beta_2: string[][] };
  return {
    pA: [vk.vk_alpha_1[0]!, vk.vk_alpha_1[1]!],
    pB: [
      [vk.vk_beta_2[0]![1]!, vk.vk_beta_2[0]![0]!],
      [vk.vk_beta_2[1]![1]!, vk.vk_beta_2[1]![0]!],
    ],
  };
}

/** 31 random bytes: a field element. */
const randomField = () => BigInt(`0x${randomBytes(31).toString("hex")}`).toString();

/**
 * A base64 PAYMENT-SIGNATURE for `required`'s zk-exact option: right terms, junk proof.
 *
 * @example
 * const header = junkPaymentHeader(required, junkPoints(vkey), root, treeSize);
 */
export function junkPaymentHeader(
  required: JunkRequired,
  points: JunkPoints,
  root: bigint | string,
  treeSize: bigint | string,
): string {
  const accepted = required.accepts.find((a) => a.scheme === "zk-exact");
  if (!accepted) throw new Error("no zk-exact requirement in the 402");
  const x = accepted.extra;
  const payload = {
    x402Version: 2,
    resource: required.resource,
    accepted,
    payload: {
      settlement: "server",
      proof: {
        pA: points.pA,
        pB: points.pB,
        pC: points.pA,
        root: String(root),
        treeSize: String(treeSize),
        nullifierHash: randomField(),
        // A transparent payment's payee note is the empty note (checked before the proof).
        payeeCommitment: EMPTY_NOTE_COMMITMENT.toString(),
        changeCommitment: randomField(),
      },
      terms: {
        payTo: accepted.payTo,
        amount: accepted.amount,
        relayer: x.relayer,
        fee: x.fee,
        conditionHash: conditionHashOf(x.challenge),
        expiry: String(x.challenge.exp),
      },
      memo: "0x",
    },
  };
  return Buffer.from(JSON.stringify(payload)).toString("base64");
}
