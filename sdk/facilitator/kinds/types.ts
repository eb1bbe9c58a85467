import type { SettleResponse } from "@x402/core/types";
import type { Hex } from "viem";

import type { PaymentTerms } from "../../core/context.js";
import type { ProofStruct, SettlementMode, ZkPaymentPayload } from "../../core/wire.js";

/** The payload of one settlement mode (the discriminator of `ZkPaymentPayload`). */
export type PayloadOf<M extends SettlementMode> = Extract<ZkPaymentPayload, { settlement: M }>;

/**
 * A payment that passed the shared requirement checks of the scheme
 * (`ZkExactFacilitatorScheme.checkRequirements`), narrowed to one payload kind.
 */
export interface Admitted<P extends ZkPaymentPayload = ZkPaymentPayload> {
  payload: P;
  terms: PaymentTerms;
  conditionHash: Hex;
  /** Seconds the replay claims of this payment live. */
  claimTtl: number;
  /**
   * zk-shielded: the payee note's commitment (the proof's payee output; the receipt binds
   * it). Checked against the note's opening when this facilitator holds the payee's
   * viewing key; taken from the payload in a facilitator that cannot decrypt (the
   * resource server opened it first).
   */
  payeeCommitment?: bigint;
}

/** A payment its kind verified: what `settle` needs, so that it does not verify twice. */
export interface Verified<P extends ZkPaymentPayload = ZkPaymentPayload> extends Admitted<P> {
  /** Server-settled: the proof parsed once while verifying, reused by `settle`. */
  proof?: ProofStruct;
  /** Client-settled: the block the receipt was written in. */
  paidAtBlock?: number;
  /** The replay-store key of the payee commitment this payment claimed (a payee that opens notes dedupes them). */
  payeeKey?: string;
}

/**
 * One payload kind of zk-exact (as x402's exact facilitator has EIP-3009 and Permit2):
 * what is checked after the scheme's shared requirement checks, and how it settles.
 * The scheme dispatches on `payload.settlement`; a new kind (a shielded or escrowed
 * payload) is one more file implementing this and one more entry in the scheme's table.
 */
export interface PaymentKind<M extends SettlementMode> {
  /** The kind-specific checks (chain state, proof or receipt). Throws `ZkPayError`; changes no claim. */
  verify(a: Admitted<PayloadOf<M>>): Promise<Verified<PayloadOf<M>>>;
  /**
   * Settles a verified payment. `release` gives up the payment's replay claims: a kind
   * calls it only when the payment certainly did not settle (the payer may pay again).
   */
  settle(v: Verified<PayloadOf<M>>, release: () => Promise<void>): Promise<SettleResponse>;
}
